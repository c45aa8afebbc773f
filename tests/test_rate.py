"""The overfit profile's rate proxies (saecodec.kernels.rate): bits against a direct numpy Laplace, gradients
against finite differences, context classes against lc1's own context function, and thread independence."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from saecodec.entropy import latentcoder
from saecodec.kernels import rate as R
from saecodec.kernels import synthesis as S
from saecodec.profiles.overfit import grids_in_coding_order


def ref_bits(v: np.ndarray, log_b: float, max_bits: float) -> np.ndarray:
    """tools/overfit_probe.py's laplace_bits (its direct form) with the floor at 2^-max_bits."""
    b = np.exp(log_b)
    a = np.abs(v)
    lo, hi = a - 0.5, a + 0.5
    e_lo, e_hi = np.exp(-np.abs(lo) / b), np.exp(-hi / b)
    p = np.where(a >= 0.5, 0.5 * (e_lo - e_hi), 1.0 - 0.5 * e_lo - 0.5 * e_hi)
    return np.minimum(-np.log2(np.maximum(p, 1e-300)), max_bits)



def check_gradients(rate_of, lat: np.ndarray, log_scales: np.ndarray, gl: np.ndarray, gls: np.ndarray,
                    indices: list, scale: float, ls_rel: float, ls_abs: float | None = None) -> None:
    """gl and gls (the kernel's gradients times `scale`) against central differences of rate_of(lat, log_scales)
    at the latents `indices` and at every log-scale."""
    eps = 1e-6
    for i in indices:
        up, down = lat.copy(), lat.copy()
        up[i] = lat[i] + eps
        down[i] = lat[i] - eps
        num = scale * (rate_of(up, log_scales) - rate_of(down, log_scales)) / (2 * eps)
        assert gl[i] == pytest.approx(num, rel=1e-5, abs=1e-7)
    for k in range(log_scales.size):
        up, down = log_scales.copy(), log_scales.copy()
        up[k] = log_scales[k] + eps
        down[k] = log_scales[k] - eps
        num = scale * (rate_of(lat, up) - rate_of(lat, down)) / (2 * eps)
        assert gls[k] == pytest.approx(num, rel=ls_rel, abs=ls_abs)


def test_laplace_rate():
    shape = S.SynthesisShape(20, 30, 3, (1, 1, 1), (4,), 0)
    rng = np.random.default_rng(51)
    lat = rng.normal(0, 2.0, shape.latent_count)
    lat[:50] = 0.0
    lat[50:60] = 40.0  # far in the tail: above the floor
    noise = rng.uniform(-0.5, 0.5, lat.size)
    noise[:10] = 0.0  # exactly 0: the centre's gradient is 0
    log_scales = np.array([0.3, -0.8, 1.2])
    off = shape.offsets
    gl, gls = np.zeros_like(lat), np.zeros(3)
    bits = R.laplace_rate(lat, noise, off, log_scales, gl, gls, 0.25)
    want = sum(ref_bits(lat[a:b] + noise[a:b], ls, 16.0).sum() for a, b, ls in zip(off[:-1], off[1:], log_scales))
    assert bits == pytest.approx(want, rel=1e-9)
    assert np.all(gl[50:60] == 0)  # floored
    idx = list(rng.choice(lat.size, 40, replace=False)) + [0, 1, 55]
    check_gradients(lambda v, ls: R.laplace_rate(v, noise, off, ls), lat, log_scales, gl, gls, idx, 0.25, 1e-6)
    # extreme scales: the centre's exp underflows (b = e^-8), wide distributions (b = e^7)
    for ls in (-8.0, -3.0, 4.0, 7.0):
        one = np.array([ls])
        got = R.laplace_rate(lat, noise, np.array([0, lat.size]), one, np.zeros_like(lat), np.zeros(1))
        assert got == pytest.approx(ref_bits(lat + noise, ls, 16.0).sum(), rel=1e-9)
    # float32, no noise, no gradients; a low floor
    lat32 = lat.astype(np.float32)
    bits32 = R.laplace_rate(lat32, None, off, log_scales.astype(np.float32), max_bits=4.0)
    want32 = sum(ref_bits(lat32[a:b].astype(np.float64), np.float64(np.float32(ls)), 4.0).sum()
                 for a, b, ls in zip(off[:-1], off[1:], log_scales))
    assert bits32 == pytest.approx(want32, rel=1e-9)

# ------------------------------------------------------------------------------------------ context classes

LEVELS = (1, 2, 0, 1)  # two channels at one level, an empty level: lc1's coding order is not layout order


def _layout_grids(shape: S.SynthesisShape, flat: np.ndarray) -> list[np.ndarray]:
    off = shape.offsets
    return [flat[off[j]:off[j + 1]].reshape(hw) for j, hw in enumerate(shape.grid_shapes)]


def test_parents_are_the_grids_lc1_codes_just_before() -> None:
    shape = S.SynthesisShape(13, 10, 3, LEVELS, (4,), 0)
    marked = np.concatenate([np.full(h * w, j, np.float32) for j, (h, w) in enumerate(shape.grid_shapes)])
    order = [int(g.flat[0]) for g in grids_in_coding_order(marked, list(shape.grid_shapes), LEVELS)]
    parents = R.context_parents(LEVELS)
    assert parents[order[0]] == -1
    assert [int(parents[g]) for g in order[1:]] == order[:-1]


def _lc1_zero_context(grid: np.ndarray, parent: np.ndarray | None, y: int, x: int) -> int:
    """lc1's zero-flag context of grid[y, x] (spec section 4), by latentcoder's own context function, the
    neighbours gathered here as lc1's encoder gathers them."""
    h, w = grid.shape
    at = lambda yy, xx: int(grid[yy, xx]) if 0 <= yy < h and 0 <= xx < w else 0  # noqa: E731
    p = 0 if parent is None else int(parent[(y * parent.shape[0]) // h, (x * parent.shape[1]) // w])
    zc, _, _ = latentcoder._latent_contexts(at(y, x - 1), at(y - 1, x), at(y - 1, x - 1), at(y - 1, x + 1),
                                            at(y, x - 2), at(y - 2, x), p)
    return zc - latentcoder._L_ZERO


@pytest.mark.parametrize("height, width", [(13, 10), (8, 8), (1, 7), (5, 1)])
def test_context_classes_are_lc1s_zero_flag_contexts_of_the_rounded_latents(height: int, width: int) -> None:
    """Class = grid * 32 + min(A, 15) + 16 * (parent != 0), lc1's zero-flag context (2 min(A, 15) + flag)
    regrouped; values at .5 round half to even as np.rint (and as the encoder rounds what it writes)."""
    shape = S.SynthesisShape(height, width, 3, LEVELS, (4,), 0)
    rng = np.random.default_rng(height * 100 + width)
    lat = (rng.normal(0.0, 1.2, shape.latent_count) * rng.integers(0, 2, shape.latent_count)).astype(np.float32)
    lat[::7] = rng.choice([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 9.0], lat[::7].size)
    parents = R.context_parents(LEVELS)
    classes = np.full(lat.size, -1, np.int32)
    R.context_classes(shape.grid_shapes, parents, lat, classes)
    ints = _layout_grids(shape, np.rint(lat).astype(np.int64))
    got = _layout_grids(shape, classes)
    for j, grid in enumerate(ints):
        parent = ints[parents[j]] if parents[j] >= 0 else None
        for y in range(grid.shape[0]):
            for x in range(grid.shape[1]):
                zc = _lc1_zero_context(grid, parent, y, x)
                assert got[j][y, x] == j * R.CONTEXT_CLASSES + zc // 2 + 16 * (zc % 2), (j, y, x)


def test_context_classes_reject_mismatched_arrays() -> None:
    shape = S.SynthesisShape(6, 5, 3, (1, 1), (4,), 0)
    lat = np.zeros(shape.latent_count, np.float32)
    parents = R.context_parents((1, 1))
    with pytest.raises(ValueError):
        R.context_classes(shape.grid_shapes, parents, lat, np.empty(lat.size, np.int64))
    with pytest.raises(ValueError):
        R.context_classes(shape.grid_shapes, parents, lat[:-1], np.empty(lat.size - 1, np.int32))
    with pytest.raises(ValueError):
        R.context_classes(shape.grid_shapes, np.array([1, 1]), lat, np.empty(lat.size, np.int32))


# ------------------------------------------------------------------------------------ rate per class


def _classes_and_scales(seed: int, n: int = 3 * R.RATE_ITEM // 2 + 77) -> tuple[np.ndarray, ...]:
    """Latents (by default two work items, the second partial), noise, classes 0..8, 10 log-scales."""
    rng = np.random.default_rng(seed)
    lat = rng.normal(0, 2.0, n)
    lat[:40] = 0.0
    lat[40:50] = 40.0  # far in the tail: floored
    noise = rng.uniform(-0.5, 0.5, n)
    noise[:10] = 0.0
    classes = rng.integers(0, 9, n).astype(np.int32)
    log_scales = rng.uniform(-1.5, 1.5, 10)  # class 9 has no element: no bits, no gradient
    return lat, noise, classes, log_scales


def test_class_laplace_rate_bits_and_gradients() -> None:
    lat, noise, classes, log_scales = _classes_and_scales(6)
    bits = R.class_laplace_rate(lat, noise, classes, log_scales)
    assert bits == pytest.approx(ref_bits(lat + noise, log_scales[classes], 16.0).sum(), rel=1e-9)
    lat, noise, classes, log_scales = _classes_and_scales(7, 1500)  # finite differences need a small total
    gl, gls = np.zeros_like(lat), np.zeros_like(log_scales)
    bits = R.class_laplace_rate(lat, noise, classes, log_scales, gl, gls, 0.25)
    assert bits == pytest.approx(ref_bits(lat + noise, log_scales[classes], 16.0).sum(), rel=1e-9)
    assert np.all(gl[40:50] == 0) and gls[9] == 0
    rng = np.random.default_rng(8)
    idx = list(rng.choice(lat.size, 30, replace=False)) + [0, 1, 45]
    check_gradients(lambda v, ls: R.class_laplace_rate(v, noise, classes, ls), lat, log_scales, gl, gls, idx, 0.25,
                    1e-6, 1e-9)


def test_one_class_per_grid_is_the_per_grid_proxy() -> None:
    shape = S.SynthesisShape(200, 300, 3, (1, 1, 1), (4,), 0)
    rng = np.random.default_rng(9)
    lat = rng.normal(0, 1.5, shape.latent_count).astype(np.float32)
    noise = rng.uniform(-0.5, 0.5, lat.size).astype(np.float32)
    log_scales = np.array([0.4, -0.2, 1.1], np.float32)
    off = shape.offsets
    classes = np.repeat(np.arange(3, dtype=np.int32), np.diff(off))
    grads = [np.zeros_like(lat), np.zeros(3, np.float32)], [np.zeros_like(lat), np.zeros(3, np.float32)]
    a = R.laplace_rate(lat, noise, off, log_scales, *grads[0], 1e-3)
    b = R.class_laplace_rate(lat, noise, classes, log_scales, *grads[1], 1e-3)
    assert b == pytest.approx(a, rel=1e-12)
    assert np.array_equal(grads[0][0], grads[1][0])  # element-wise: the same arithmetic
    assert np.allclose(grads[0][1], grads[1][1], rtol=1e-5)  # float32 sums in another order


def test_class_rate_does_not_depend_on_the_thread_count() -> None:
    lat, noise, classes, log_scales = _classes_and_scales(10)
    results = []
    saved = numba.get_num_threads()
    try:
        for threads in sorted({1, saved}):
            numba.set_num_threads(threads)
            gl, gls = np.zeros_like(lat), np.zeros_like(log_scales)
            results.append((R.class_laplace_rate(lat, noise, classes, log_scales, gl, gls, 0.5), gl, gls))
    finally:
        numba.set_num_threads(saved)
    for bits, gl, gls in results[1:]:
        assert bits == results[0][0] and np.array_equal(gl, results[0][1]) and np.array_equal(gls, results[0][2])


def test_class_rate_rejects_classes_without_a_scale() -> None:
    lat, noise, classes, log_scales = _classes_and_scales(11)
    with pytest.raises(ValueError):
        R.class_laplace_rate(lat, noise, classes, log_scales[:5])
    with pytest.raises(ValueError):
        R.class_laplace_rate(lat, noise, classes.astype(np.int64), log_scales)
    with pytest.raises(ValueError):
        R.class_laplace_rate(lat, noise, -classes - 1, log_scales)
