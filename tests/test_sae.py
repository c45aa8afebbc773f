"""The stacked auto-encoder: kernels (gradients, optimiser, Gauss-Newton helpers) and training."""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest

from saecodec.kernels import sae as K
from saecodec.model.decode import decode_latent, sigmoid
from saecodec.model.sae import TrainConfig, TrainedSAE, train_sae

#: A short training schedule: the tests check behaviour, not the last tenth of a dB.
FAST = TrainConfig(finetune_steps=200)

#: PSNR (dB, codec round trip) the smooth test image must reach at each level.
MIN_PSNR = {1: 45.0, 2: 37.0}


def smooth_blocks(size: int = 64, channels: int = 3, seed: int = 0) -> np.ndarray:
    """8x8 blocks (row-major, /255) of smooth synthetic planes: ramps and slow waves."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    out = []
    for c in range(channels):
        phase = rng.uniform(0, 6)
        plane = 70 + 90 * x / size + 40 * y / size + 40 * np.sin(x / (9 + 2 * c) + phase) * np.cos(y / 11)
        plane = np.clip(np.round(plane), 0, 255) / 255.0
        out.append(plane.reshape(size // 8, 8, size // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 64))
    return np.concatenate(out)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def codec_roundtrip(model: TrainedSAE, x: np.ndarray, level: int) -> np.ndarray:
    """What the codec does: 8-bit codes, float32 decoder, reference decoder, pixel rounding."""
    q = np.round(model.encode(x, level) * 255.0).astype(np.uint8)
    layers = [(w.astype(np.float32), b.astype(np.float32)) for w, b in model.decoder_for_level(level)]
    return np.clip(np.round(decode_latent(q / 255.0, layers) * 255.0), 0, 255) / 255.0


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return smooth_blocks(128)  # 3 x 256 blocks


@pytest.fixture(scope="module")
def model(data: np.ndarray) -> TrainedSAE:
    return train_sae(data, config=FAST)


# --------------------------------------------------------------------------- kernels


def _tiny_net(seed: int = 0):
    layers = np.array([6, 4, 2], np.int64)
    off, size = K.param_layout((6, 4, 2))
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 1.0, size)
    x = rng.random((150, 6))  # > 2 chunks, last one partial
    return layers, off, theta, x


def _loss_and_grad(x, theta, off, layers, lw, frozen=False, codes=None, coff=None, dtype=np.float64, wh=None,
                   mu=None):
    """Loss and gradient from the training kernel (arithmetic in dtype; wh, mu: whitened encoder input)."""
    xs = np.ascontiguousarray(x, dtype=dtype)
    c = np.ascontiguousarray(codes, dtype=dtype) if frozen else np.zeros((1, 1), dtype)
    co = coff if frozen else np.zeros(3, np.int64)
    wh = np.zeros((0, 0), dtype) if wh is None else np.asarray(wh, dtype)
    mu = np.zeros(0, dtype) if mu is None else np.asarray(mu, dtype)
    grad = np.empty_like(theta)
    losses = np.empty(3)
    idx = np.arange(x.shape[0], dtype=np.int64)
    K.batch_grad(xs, wh, mu, c, co, idx, frozen, theta, off, layers, lw, grad, losses)
    return float(np.dot(lw, losses)), grad


@pytest.mark.parametrize("lw", [(0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.0, 0.7, 1.3)])
def test_backward_matches_finite_differences(lw):
    layers, off, theta, x = _tiny_net()
    lw = np.array(lw)
    _, grad = _loss_and_grad(x, theta, off, layers, lw)
    eps = 1e-6
    num = np.empty_like(theta)
    for p in range(theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[p] += eps
        tm[p] -= eps
        num[p] = (_loss_and_grad(x, tp, off, layers, lw)[0] - _loss_and_grad(x, tm, off, layers, lw)[0]) / (2 * eps)
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-9)


def test_backward_with_fixed_codes_matches_finite_differences():
    layers, off, theta, x = _tiny_net(1)
    rng = np.random.default_rng(2)
    codes = rng.random((x.shape[0], 6))  # level-1 codes (4) then level-2 codes (2)
    coff = np.array([0, 0, 4], np.int64)
    lw = np.array([0.0, 1.0, 2.0])
    _, grad = _loss_and_grad(x, theta, off, layers, lw, True, codes, coff)
    n_enc = off[2, 0]  # first decoder parameter
    assert np.all(grad[:n_enc] == 0.0)
    eps = 1e-6
    for p in range(n_enc, theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[p] += eps
        tm[p] -= eps
        num = (_loss_and_grad(x, tp, off, layers, lw, True, codes, coff)[0]
               - _loss_and_grad(x, tm, off, layers, lw, True, codes, coff)[0]) / (2 * eps)
        assert grad[p] == pytest.approx(num, rel=1e-5, abs=1e-9)


def test_whitening_folded_into_the_first_layer_is_exact():
    """Training on x with (wh, mu) is training an encoder fed the whitened wh^T (x - mu): the loss is that
    network's, and the gradient is its exact derivative."""
    layers, off, theta, x = _tiny_net(16)
    rng = np.random.default_rng(17)
    wh = rng.normal(0, 1, (6, 6))
    mu = rng.random(6)
    xin = (x - mu) @ wh
    def layer(j, nout, nin):
        return theta[off[j, 0] : off[j, 1]].reshape(nout, nin), theta[off[j, 1] : off[j, 1] + nout]

    enc = [layer(j, layers[j + 1], layers[j]) for j in range(2)]
    dec = [layer(2 + j, layers[j], layers[j + 1]) for j in range(2)]
    h1 = sigmoid(xin @ enc[0][0].T + enc[0][1])
    h2 = sigmoid(h1 @ enc[1][0].T + enc[1][1])
    mse = [0.0, np.mean((decode_latent(h1, [dec[0]]) - x) ** 2)]
    mse.append(np.mean((decode_latent(h2, [dec[1], dec[0]]) - x) ** 2))
    lw = np.array([0.0, 0.6, 1.4])
    loss, grad = _loss_and_grad(x, theta, off, layers, lw, wh=wh, mu=mu)
    assert loss == pytest.approx(float(np.dot(lw, mse)), rel=1e-12)
    eps = 1e-6
    for p in range(theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[p] += eps
        tm[p] -= eps
        num = (_loss_and_grad(x, tp, off, layers, lw, wh=wh, mu=mu)[0]
               - _loss_and_grad(x, tm, off, layers, lw, wh=wh, mu=mu)[0]) / (2 * eps)
        assert grad[p] == pytest.approx(num, rel=1e-5, abs=1e-9)


def test_adam_epoch_lowers_loss_and_respects_mask():
    layers, off, theta, x = _tiny_net(3)
    lw = np.array([0.0, 1.0, 1.0])
    before, _ = _loss_and_grad(x, theta, off, layers, lw)
    mask = np.ones(theta.size)
    mask[: off[1, 0]] = 0.0  # freeze encoder layer 0
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    t0 = theta.copy()
    losses = np.empty(3)
    t = 0
    rng = np.random.default_rng(0)
    for _ in range(20):
        perm = rng.permutation(x.shape[0]).astype(np.int64)
        t = K.adam_epoch(x, np.zeros((0, 0)), np.zeros(0), np.zeros((1, 1)), np.zeros(3, np.int64), perm, 32, False,
                         theta, off, layers, lw, m, v, t, np.full(4, 1e-2), 0.9, 0.999, 1e-8, mask, losses)
    assert t == 20 * 4
    after, _ = _loss_and_grad(x, theta, off, layers, lw)
    assert after < 0.8 * before
    assert np.array_equal(theta[: off[1, 0]], t0[: off[1, 0]])
    assert not np.array_equal(theta[off[1, 0] :], t0[off[1, 0] :])


def test_float32_training_gradient_matches_float64():
    """The float32 kernels (polynomial sigmoid, vectorised sums) compute the float64 gradient to float32
    precision, on a net whose sizes are not multiples of the 4 x 4 register blocks."""
    layers, off, theta, x = _tiny_net(9)
    lw = np.array([0.0, 0.7, 1.3])
    loss64, g64 = _loss_and_grad(x, theta, off, layers, lw)
    loss32, g32 = _loss_and_grad(x, theta, off, layers, lw, dtype=np.float32)
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=0, atol=2e-5 * np.abs(g64).max())


def test_training_gradient_of_a_wide_layer_stack_matches_numpy():
    """The 64-16-4 sizes take the register-blocked paths that the tiny net does not."""
    layers = np.array([64, 16, 4], np.int64)
    off, size = K.param_layout((64, 16, 4))
    rng = np.random.default_rng(10)
    theta = rng.normal(0, 0.3, size)
    x = rng.random((300, 64))
    lw = np.array([0.0, 1.0, 2.0])
    loss, grad = _loss_and_grad(x, theta, off, layers, lw)

    def loss_np(th):
        enc, dec = [], []
        for j in range(4):
            nout, nin = (layers[j + 1], layers[j]) if j < 2 else (layers[j - 2], layers[j - 1])
            w, b = th[off[j, 0] : off[j, 1]].reshape(nout, nin), th[off[j, 1] : off[j, 1] + nout]
            (enc if j < 2 else dec).append((w, b))
        h1 = sigmoid(x @ enc[0][0].T + enc[0][1])
        h2 = sigmoid(h1 @ enc[1][0].T + enc[1][1])
        y1 = decode_latent(h1, [dec[0]])
        y2 = decode_latent(h2, [dec[1], dec[0]])
        return lw[1] * np.mean((y1 - x) ** 2) + lw[2] * np.mean((y2 - x) ** 2)

    assert loss == pytest.approx(loss_np(theta), rel=1e-12)
    eps = 1e-6
    for p in np.random.default_rng(11).choice(size, 40, replace=False):
        tp, tm = theta.copy(), theta.copy()
        tp[p] += eps
        tm[p] -= eps
        assert grad[p] == pytest.approx((loss_np(tp) - loss_np(tm)) / (2 * eps), rel=1e-5, abs=1e-10)


def test_encoder_side_sigmoid_is_accurate():
    @numba.njit
    def apply(z):
        out = np.empty_like(z)
        for i in range(z.shape[0]):
            out[i] = K.sigmoid(z[i])
        return out

    z = np.concatenate([np.linspace(-700, 700, 28001), np.random.default_rng(12).normal(0, 6, 10000)])
    np.testing.assert_allclose(apply(z), sigmoid(z), rtol=4 * np.finfo(np.float64).eps, atol=0)
    z32 = z[np.abs(z) < 90].astype(np.float32)
    np.testing.assert_allclose(apply(z32), sigmoid(z32.astype(np.float64)), rtol=0, atol=1e-7)
    z32 = z32[np.abs(z32) <= 16]
    np.testing.assert_allclose(apply(z32), sigmoid(z32.astype(np.float64)), rtol=1e-6, atol=0)
    for far in (np.array([-1e4, -800.0, 800.0, 1e4]), np.array([-1e4, -100.0, 100.0, 1e4], np.float32)):
        assert apply(far).tolist() == pytest.approx([0.0, 0.0, 1.0, 1.0], abs=1e-30)


def test_run_blocks_covers_every_row_once_whatever_the_thread_count():
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            seen = np.zeros(1000, np.int64)

            def kernel(out, first, last):
                out[first:last] += 1

            K.run_blocks(kernel, 1000, 64, (seen,))
            assert np.all(seen == 1)

            def failing(first, last):
                if first >= 512:
                    raise RuntimeError("boom")

            with pytest.raises(RuntimeError, match="boom"):
                K.run_blocks(failing, 1000, 64, ())
    finally:
        numba.set_num_threads(before)


def test_no_kernel_uses_numba_parallel_regions():
    """Robustness under CPU contention rests on this: a parallel=True kernel synchronises its threads at
    every call, and thousands of such calls per encode stall whenever another process holds a core."""
    for name in dir(K):
        obj = getattr(K, name)
        if isinstance(obj, numba.core.registry.CPUDispatcher):
            assert not obj.targetoptions.get("parallel"), name


def test_forward_and_decode_kernels_match_reference():
    layers, off, theta, x = _tiny_net(4)
    enc = [(theta[off[j, 0] : off[j, 1]].reshape(layers[j + 1], layers[j]), theta[off[j, 1] : off[j, 1] + layers[j + 1]])
           for j in range(2)]
    dec = [(theta[off[2 + j, 0] : off[2 + j, 1]].reshape(layers[j], layers[j + 1]), theta[off[2 + j, 1] : off[2 + j, 1] + layers[j]])
           for j in range(2)]
    h1 = sigmoid(x @ enc[0][0].T + enc[0][1])
    h2 = sigmoid(h1 @ enc[1][0].T + enc[1][1])
    np.testing.assert_allclose(K.forward_codes(x, theta, off, layers, 1), h1, rtol=1e-12)
    np.testing.assert_allclose(K.forward_codes(x, theta, off, layers, 2), h2, rtol=1e-12)
    np.testing.assert_allclose(K.decode_codes(h2, theta, off, layers, 2), decode_latent(h2, [dec[1], dec[0]]), rtol=1e-12)
    np.testing.assert_allclose(K.decode_codes(h1, theta, off, layers, 1), decode_latent(h1, [dec[0]]), rtol=1e-12)


def test_fit_sigmoid_layer_recovers_a_layer():
    rng = np.random.default_rng(5)
    h = rng.random((2000, 5))
    w_true = rng.normal(0, 2, (7, 5))
    b_true = rng.normal(0, 1, 7)
    y = sigmoid(h @ w_true.T + b_true)
    w, b = np.zeros((7, 5)), np.zeros(7)
    sse = K.fit_sigmoid_layer(h, y, np.full(2000, 1 / 2000), w, b, 30, 1e-3)
    assert sse.max() < 1e-12
    np.testing.assert_allclose(w, w_true, atol=1e-4)
    np.testing.assert_allclose(b, b_true, atol=1e-4)


def test_fit_sigmoid_layer_with_stacked_inputs_equals_the_repeated_targets():
    """Two input sets for the same targets (as the codec fits both levels' decodes) give the same fit as the
    targets written out twice."""
    rng = np.random.default_rng(15)
    h = rng.random((2 * 300, 5))
    y = sigmoid(h[:300] @ rng.normal(0, 2, (3, 5)).T + 0.3)
    sw = np.concatenate([np.full(300, 0.7 / 300), np.full(300, 0.3 / 300)])
    w1, b1 = np.zeros((3, 5)), np.zeros(3)
    w2, b2 = np.zeros((3, 5)), np.zeros(3)
    sse1 = K.fit_sigmoid_layer(h, y, sw, w1, b1, 4, 1e-3)
    sse2 = K.fit_sigmoid_layer(h, np.vstack([y, y]), sw, w2, b2, 4, 1e-3)
    np.testing.assert_allclose(w1, w2, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sse1, sse2, rtol=1e-9)
    with pytest.raises(ValueError):
        K.fit_sigmoid_layer(h[:450], y, sw[:450], w1, b1, 1, 1e-3)


def test_refine_codes_finds_the_codes_that_made_the_blocks():
    layers, off, theta, _ = _tiny_net(6)
    rng = np.random.default_rng(7)
    for level in (1, 2):
        truth = rng.uniform(0.1, 0.9, (300, layers[level]))
        x = K.decode_codes(truth, theta, off, layers, level)
        start = np.clip(truth + rng.normal(0, 0.05, truth.shape), 0, 1)
        before = np.sum((K.decode_codes(start, theta, off, layers, level) - x) ** 2, axis=1)
        codes, sse = K.refine_codes(x, start, theta, off, layers, level, 30, 1e-2)
        assert codes.min() >= 0.0 and codes.max() <= 1.0
        assert np.all(sse <= before)
        np.testing.assert_allclose(sse, np.sum((K.decode_codes(codes, theta, off, layers, level) - x) ** 2, axis=1),
                                   rtol=1e-9, atol=1e-15)
        assert np.median(sse) < 1e-10


def test_refined_codes_do_not_depend_on_the_grouping_of_blocks():
    """Blocks are refined in lock-step groups of K.LANES: a block's result must not depend on its group."""
    layers, off, theta, _ = _tiny_net(13)
    rng = np.random.default_rng(14)
    for level in (1, 2):
        x = K.decode_codes(rng.uniform(0.05, 0.95, (150, layers[level])), theta, off, layers, level)
        x = np.clip(x + rng.normal(0, 0.02, x.shape), 0, 1)
        start = K.forward_codes(x, theta, off, layers, level)
        codes, sse = K.refine_codes(x, start, theta, off, layers, level, 5, 1e-2)
        for lo, hi in ((0, 1), (7, 40), (37, 150)):
            part, psse = K.refine_codes(x[lo:hi], start[lo:hi], theta, off, layers, level, 5, 1e-2)
            assert np.array_equal(part, codes[lo:hi]) and np.array_equal(psse, sse[lo:hi])


def test_gram_and_linear_match_numpy():
    rng = np.random.default_rng(8)
    a, b = rng.random((333, 7)), rng.random((333, 5))
    np.testing.assert_allclose(K.gram(a, b), a.T @ b, rtol=1e-12)
    w, bias = rng.random((4, 7)), rng.random(4)
    np.testing.assert_allclose(K.linear(a, w, bias), a @ w.T + bias, rtol=1e-12)
    np.testing.assert_allclose(K.sigmoid_layer(a, w, bias), sigmoid(a @ w.T + bias), rtol=1e-12)


# --------------------------------------------------------------------------- model


def test_shapes_and_interface(model: TrainedSAE, data: np.ndarray):
    assert model.layers == (64, 16, 4)
    assert [w.shape for w, _ in model.encoder] == [(16, 64), (4, 16)]
    assert [b.shape for _, b in model.encoder] == [(16,), (4,)]
    assert [w.shape for w, _ in model.decoder] == [(64, 16), (16, 4)]
    assert [b.shape for _, b in model.decoder] == [(64,), (16,)]
    for w, b in model.decoder:  # stored as float32: must already be float32-exact
        assert np.array_equal(w, w.astype(np.float32)) and np.array_equal(b, b.astype(np.float32))
    assert [id(l) for l in model.decoder_for_level(1)] == [id(model.decoder[0])]
    assert [id(l) for l in model.decoder_for_level(2)] == [id(model.decoder[1]), id(model.decoder[0])]
    for level, units in ((1, 16), (2, 4)):
        codes = model.encode(data[:100], level)
        assert codes.shape == (100, units) and codes.dtype == np.float64
        assert codes.min() >= 0.0 and codes.max() <= 1.0
        out = model.decode(codes, level)
        assert out.shape == (100, 64) and np.all((out > 0) & (out < 1))
    with pytest.raises(ValueError):
        model.encode(data, 3)
    with pytest.raises(ValueError):
        model.decoder_for_level(0)


def test_both_levels_reconstruct_a_smooth_image(model: TrainedSAE, data: np.ndarray):
    for level in (1, 2):
        assert psnr(codec_roundtrip(model, data, level), data) > MIN_PSNR[level]


@pytest.mark.parametrize("level", [1, 2])
def test_single_level_training_serves_that_level(data: np.ndarray, level: int):
    single = train_sae(data, level=level, config=FAST)
    assert psnr(codec_roundtrip(single, data, level), data) > MIN_PSNR[level]


def test_code_refinement_beats_the_encoder_network(model: TrainedSAE, data: np.ndarray):
    plain = dataclasses.replace(model, refine_steps=0)
    for level in (1, 2):
        assert psnr(codec_roundtrip(model, data, level), data) > psnr(codec_roundtrip(plain, data, level), data)


def test_training_reduces_the_loss(model: TrainedSAE, data: np.ndarray):
    trace = model.history["finetune"]  # per epoch: (unused, mse level 1, mse level 2)
    per_epoch = data.shape[0] // min(FAST.batch, data.shape[0])
    assert trace.shape == (-(-FAST.finetune_steps // per_epoch), 3)
    # The levels are balanced in dB: on smooth data the PCA start is already good at level 1, so the gain
    # goes to level 2 while level 1 holds.
    assert trace[-1, 2] < 0.5 * trace[0, 2]
    assert trace[-1, 1] < 1.1 * trace[0, 1]
    assert np.sum(np.log(trace[-1, 1:])) < np.sum(np.log(trace[0, 1:])) - 1.0


def test_same_seed_same_model_other_seed_other_model(data: np.ndarray, model: TrainedSAE):
    again = train_sae(data, config=FAST)
    for (w1, b1), (w2, b2) in zip(model.encoder + model.decoder, again.encoder + again.decoder):
        assert np.array_equal(w1, w2) and np.array_equal(b1, b2)
    other = train_sae(data, config=dataclasses.replace(FAST, seed=1))
    assert not np.array_equal(other.decoder[0][0], model.decoder[0][0])


def test_thread_count_does_not_change_the_model(data: np.ndarray, model: TrainedSAE):
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = train_sae(data, config=FAST)
        codes = single.encode(data, 2)
    finally:
        numba.set_num_threads(before)
    for (w1, b1), (w2, b2) in zip(model.encoder + model.decoder, single.encoder + single.decoder):
        assert np.array_equal(w1, w2) and np.array_equal(b1, b2)
    assert np.array_equal(codes, model.encode(data, 2))


def test_progress_reports_fractions_up_to_one(data: np.ndarray):
    seen: list[float] = []
    train_sae(data[:200], config=dataclasses.replace(FAST, finetune_steps=3), progress=seen.append)
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in seen) and seen == sorted(seen)


def test_optional_stages_and_float64_kernels_work(data: np.ndarray):
    cfg = dataclasses.replace(FAST, dtype="float64", pretrain_steps=20, alt_rounds=1, level_emphasis=(1.0, 2.0))
    m = train_sae(data, config=cfg)
    assert {"pretrain1", "pretrain2", "finetune", "alternate1", "qat"} <= set(m.history)
    for level in (1, 2):
        assert psnr(codec_roundtrip(m, data, level), data) > MIN_PSNR[level]


@pytest.mark.parametrize("n", [1, 3])
def test_tiny_and_flat_inputs_train(n: int):
    x = np.full((n, 64), 0.25)
    m = train_sae(x, config=dataclasses.replace(FAST, finetune_steps=2))
    for level in (1, 2):
        assert np.all(np.isfinite(m.decode(m.encode(x, level), level)))
        assert np.abs(codec_roundtrip(m, x, level) - x).max() <= 1.0 / 255.0


def test_rejects_bad_arguments(data: np.ndarray):
    with pytest.raises(ValueError):
        train_sae(data[:, :32])
    with pytest.raises(ValueError):
        train_sae(data, level=3)
    with pytest.raises(ValueError):
        train_sae(np.full((4, 64), np.nan))
    with pytest.raises(ValueError):
        train_sae(np.empty((0, 64)))
