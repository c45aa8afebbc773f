"""SOAP, the optimiser the overfit trainer can use for its network (saecodec.model.soap)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from saecodec.model.soap import Soap


def _adam(p: np.ndarray, grads: list[np.ndarray], lr: float, betas: tuple[float, float], eps: float,
          weight_decay: float) -> np.ndarray:
    """Adam with decoupled weight decay, written out: what SOAP must be for a tensor without preconditioners."""
    p = p.astype(np.float64).copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        p -= lr * math.sqrt(1 - betas[1] ** t) / (1 - betas[0] ** t) * m / (np.sqrt(v) + eps)
        p *= 1 - lr * weight_decay
    return p


def test_a_vector_gets_adam_and_the_first_step_only_sets_up() -> None:
    rng = np.random.default_rng(1)
    start = rng.standard_normal(7).astype(np.float32)
    grads = [rng.standard_normal(7) for _ in range(6)]
    param = start.copy()
    soap = Soap([(7,)], betas=(0.9, 0.95), weight_decay=0.01)
    soap.step([param], [grads[0].astype(np.float32)], lr=0.1)
    assert np.array_equal(param, start)
    for g in grads[1:]:
        soap.step([param], [g.astype(np.float32)], lr=0.1)
    expected = _adam(start, [g.astype(np.float32).astype(np.float64) for g in grads[1:]], 0.1, (0.9, 0.95), 1e-8,
                     0.01)
    np.testing.assert_allclose(param, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(5, 4), (3, 3, 3, 3)])
def test_updates_turn_with_the_gradients(shape: tuple[int, ...]) -> None:
    """Rotate every gradient along the first axis by an orthogonal U, and the parameters' trajectory turns by
    U too: SOAP's preconditioners follow the rotation, where Adam's per-value scaling would not."""
    rng = np.random.default_rng(2)
    u = np.linalg.qr(rng.standard_normal((shape[0], shape[0])))[0]
    turn = lambda a: np.tensordot(u, a.reshape(shape), axes=([1], [0])).reshape(-1)  # noqa: E731
    start = rng.standard_normal(int(np.prod(shape)))
    plain, turned = start.copy(), turn(start)
    a, b = Soap([shape], precondition_every=3), Soap([shape], precondition_every=3)
    for _ in range(12):
        g = rng.standard_normal(plain.size)
        a.step([plain], [g], lr=0.05)
        b.step([turned], [turn(g)], lr=0.05)
    assert np.abs(plain - start).max() > 0.1  # it moved
    np.testing.assert_allclose(turned, turn(plain), atol=1e-9)
    # Adam (a per-value method) does not have this property: the test can tell them apart
    g = rng.standard_normal(plain.size)
    assert not np.allclose(_adam(turn(start), [turn(g)], 0.05, (0.95, 0.95), 1e-8, 0.0),
                           turn(_adam(start, [g], 0.05, (0.95, 0.95), 1e-8, 0.0)), atol=1e-6)


def test_solves_an_ill_conditioned_least_squares() -> None:
    """min ||X W - Y||^2 with strongly correlated inputs (condition number 900) comes down by 10^5."""
    rng = np.random.default_rng(3)
    mix = np.linalg.qr(rng.standard_normal((8, 8)))[0] @ np.diag(np.geomspace(1, 30, 8))
    x = rng.standard_normal((256, 8)) @ mix.T
    y = x @ rng.standard_normal((8, 4))

    def loss_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
        r = x @ w.reshape(8, 4) - y
        return float(np.mean(r * r)), (2.0 / r.size * x.T @ r).reshape(-1)

    soap, w = Soap([(8, 4)], weight_decay=0.0, precondition_every=5), np.zeros(32)
    first = loss_grad(w)[0]
    for _ in range(300):
        soap.step([w], [loss_grad(w)[1]], lr=0.03)
    assert loss_grad(w)[0] < 1e-5 * first


def test_rejects_a_wrong_tensor_count_and_refresh() -> None:
    with pytest.raises(ValueError):
        Soap([(2, 2)], precondition_every=0)
    with pytest.raises(ValueError):
        Soap([(2, 2)]).step([np.zeros(4), np.zeros(2)], [np.zeros(4), np.zeros(2)], lr=0.1)
