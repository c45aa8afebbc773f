"""The overfit profile's synthesis kernels (saecodec.kernels.synthesis) against plain numpy references.

* decoder: bit-exact against a float32 numpy evaluation in the spec's order (numpy never fuses a multiply
  and an add, so a fused or reordered kernel would differ in many pixels), at stripe boundaries and odd
  sizes, with 1 and 2 threads;
* training: its forward pass is the decoder's (bit for bit, float32, whole image); its gradients, computed in
  float64 by the same kernels, match central finite differences of the float64 reference for every
  parameter group, on the whole image and on a window; float32 gradients are close to float64 ones;
* rate proxy: bits against the probe's formula, gradients by finite differences, the floor;
* Adam: against the textbook update.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from saecodec.kernels import synthesis as S

# ------------------------------------------------------------------------------------------ references


def ref_taps(n_out: int, n_in: int, level: int, dtype):
    t = np.clip((np.arange(n_out) + 0.5) / 2**level - 0.5, 0.0, n_in - 1.0)
    i0 = np.floor(t).astype(np.int64)
    f = t - i0
    return i0, np.minimum(i0 + 1, n_in - 1), (1.0 - f).astype(dtype), f.astype(dtype)


def ref_split(shape: S.SynthesisShape, tensors: np.ndarray):
    """Flat file-order tensors -> [(A, b)], [(F, e)]."""
    sizes = shape.layer_sizes
    pos, mlp, res = 0, [], []
    for k in range(len(sizes) - 1):
        a = tensors[pos : pos + sizes[k + 1] * sizes[k]].reshape(sizes[k + 1], sizes[k])
        pos += a.size
        mlp.append((a, tensors[pos : pos + sizes[k + 1]]))
        pos += sizes[k + 1]
    c = shape.channels_out
    for _ in range(shape.residual):
        f = tensors[pos : pos + 9 * c * c].reshape(c, c, 3, 3)
        pos += f.size
        res.append((f, tensors[pos : pos + c]))
        pos += c
    assert pos == tensors.size
    return mlp, res


def ref_network(shape: S.SynthesisShape, lat: np.ndarray, tensors: np.ndarray, dtype) -> np.ndarray:
    """Up-sampling and 1x1 layers, (C, H, W), every operation in `dtype` in the spec's order."""
    lat = lat.astype(dtype)
    tensors = tensors.astype(dtype)
    hh, ww = shape.height, shape.width
    planes = []
    off = shape.offsets
    for j, (level, (h, w)) in enumerate(zip(shape.grid_levels, shape.grid_shapes)):
        g = lat[off[j] : off[j + 1]].reshape(h, w)
        if level == 0:
            planes.append(g)
            continue
        y0, y1, gy, fy = ref_taps(hh, h, level, dtype)
        x0, x1, gx, fx = ref_taps(ww, w, level, dtype)
        gy, fy = gy[:, None], fy[:, None]
        planes.append(gy * (gx * g[y0][:, x0] + fx * g[y0][:, x1]) + fy * (gx * g[y1][:, x0] + fx * g[y1][:, x1]))
    a = np.stack(planes)
    mlp, _ = ref_split(shape, tensors)
    for k, (w, b) in enumerate(mlp):
        new = np.empty((w.shape[0], hh, ww), dtype)
        for o in range(w.shape[0]):
            acc = np.full((hh, ww), b[o], dtype)
            for i in range(w.shape[1]):
                acc = acc + w[o, i] * a[i]
            new[o] = acc
        if k < len(mlp) - 1:
            new = np.where(new > 0, new, dtype(0)).astype(dtype)
        a = new
    return a


def ref_residual(shape: S.SynthesisShape, o: np.ndarray, tensors: np.ndarray, dtype) -> np.ndarray:
    """The residual 3x3 layers on o (C, h, w), edge-replicate padding at o's borders."""
    _, res = ref_split(shape, tensors.astype(dtype))
    c_out, h, w = o.shape
    for r, (f, e) in enumerate(res):
        p = np.pad(o, ((0, 0), (1, 1), (1, 1)), mode="edge")
        new = np.empty_like(o)
        for c in range(c_out):
            acc = np.full((h, w), e[c], dtype)
            for ci in range(c_out):
                for dy in range(3):
                    for dx in range(3):
                        acc = acc + f[c, ci, dy, dx] * p[ci, dy : dy + h, dx : dx + w]
            act = np.where(acc > 0, acc, dtype(0)).astype(dtype) if r < len(res) - 1 else acc
            new[c] = o[c] + act
        o = new
    return o


def ref_decode_float(shape, lat, tensors) -> np.ndarray:
    o = ref_residual(shape, ref_network(shape, lat, tensors, np.float32), tensors, np.float32)
    return np.ascontiguousarray(o.transpose(1, 2, 0))


def ref_samples(o: np.ndarray) -> np.ndarray:
    t = o * np.float32(255) + np.float32(0.5)
    with np.errstate(invalid="ignore"):
        s = np.where(t >= 0, np.where(t >= 255, 255, np.floor(np.nan_to_num(t))), 0)
    return s.astype(np.uint8)


def ref_sse(shape, lat, tensors, target, window) -> float:
    """float64 squared error over the window, residual padding clamped at the window's edges."""
    y0, y1, x0, x1 = window
    o = ref_network(shape, lat, tensors, np.float64)[:, y0:y1, x0:x1]
    o = ref_residual(shape, np.ascontiguousarray(o), tensors, np.float64)
    d = o - target[y0:y1, x0:x1].transpose(2, 0, 1).astype(np.float64)
    return float(np.sum(d * d))


# --------------------------------------------------------------------------------------------- helpers


def random_model(shape: S.SynthesisShape, seed: int, dtype=np.float32, latent_sd: float = 1.5):
    """Latents, tensors (file order) and a target: weights large enough that ReLUs and residuals matter."""
    rng = np.random.default_rng(seed)
    lat = rng.normal(0.0, latent_sd, shape.latent_count).astype(dtype)
    parts = []
    sizes = shape.layer_sizes
    for k in range(len(sizes) - 1):
        parts.append(rng.normal(0, 1.2 / np.sqrt(sizes[k]), sizes[k] * sizes[k + 1]))
        parts.append(rng.normal(0.1, 0.3, sizes[k + 1]))
    c = shape.channels_out
    for _ in range(shape.residual):
        parts.append(rng.normal(0, 0.25, 9 * c * c))
        parts.append(rng.normal(0, 0.2, c))
    tensors = np.concatenate(parts).astype(dtype)
    target = rng.uniform(0, 1, (shape.height, shape.width, c)).astype(np.float32)
    return lat, tensors, target


def groups(shape: S.SynthesisShape) -> list[tuple[str, str, slice]]:
    """(name, which array, slice) of every parameter group: each latent grid and each tensor."""
    out = []
    off = shape.offsets
    for j, level in enumerate(shape.grid_levels):
        out.append((f"grid{j} (level {level})", "lat", slice(off[j], off[j + 1])))
    names = [f"{n}{k}" for k in range(len(shape.layer_sizes) - 1) for n in ("A", "b")]
    names += [f"{n}{r}" for r in range(shape.residual) for n in ("F", "e")]
    pos = 0
    for name, size in zip(names, shape.tensor_sizes):
        out.append((name, "w", slice(pos, pos + size)))
        pos += size
    return out


def finite_difference_check(shape, window, seed, sample=None, eps=1e-5):
    """Max relative error per group of the float64 kernel gradient against central differences."""
    lat, w, target = random_model(shape, seed, np.float64)
    gl, gw = np.zeros_like(lat), np.zeros_like(w)
    sse = S.forward_backward(shape, lat, w, target, window, gl, gw)
    assert sse == pytest.approx(ref_sse(shape, lat, w, target, window), rel=1e-12)
    rng = np.random.default_rng(seed + 1)
    errors = {}
    for name, which, sl in groups(shape):
        arr, grad = (lat, gl) if which == "lat" else (w, gw)
        idx = np.arange(sl.start, sl.stop)
        if sample is not None and idx.size > sample:
            idx = rng.choice(idx, sample, replace=False)
        worst = 0.0
        for i in idx:
            old = arr[i]
            arr[i] = old + eps
            plus = ref_sse(shape, lat, w, target, window)
            arr[i] = old - eps
            minus = ref_sse(shape, lat, w, target, window)
            arr[i] = old
            num = (plus - minus) / (2 * eps)
            worst = max(worst, abs(num - grad[i]) / max(abs(num), abs(grad[i]), 1e-2))
        errors[name] = worst
    return errors


# -------------------------------------------------------------------------------------------- the shape


def test_shape_counts():
    shape = S.SynthesisShape(512, 768, 3, (1, 1, 1, 1, 1, 1), (16, 16), 2)
    assert shape.inputs == 6 and shape.layer_sizes == (6, 16, 16, 3)
    assert shape.macs_per_pixel == 6 * 16 + 16 * 16 + 16 * 3 + 2 * 81 + 4 * 5
    assert shape.latent_count == sum((-(-512 // 2**l)) * (-(-768 // 2**l)) for l in range(6))
    assert list(shape.offsets[:2]) == [0, 512 * 768] and shape.offsets[-1] == shape.latent_count
    assert shape.tensor_sizes == (96, 16, 256, 16, 48, 3, 81, 3, 81, 3)
    odd = S.SynthesisShape(9, 11, 1, (2, 0, 1), (5,), 1)
    assert odd.grid_levels == (0, 0, 2) and odd.grid_shapes == ((9, 11), (9, 11), (3, 3))
    with pytest.raises(ValueError):
        S.SynthesisShape(0, 4, 3, (1,), (4,), 0)


# ---------------------------------------------------------------------------------------------- decoder


DECODE_CASES = [
    (S.SynthesisShape(37, 29, 3, (1, 1, 1, 1), (8, 8), 2), 32),
    (S.SynthesisShape(70, 13, 3, (2, 1, 0, 1), (6,), 4), 32),  # 3 stripes, margin 4, a level without grids
    (S.SynthesisShape(70, 13, 1, (1, 2, 1), (5, 7), 3), 5),  # grey, stripes of 5 < 2 * margin
    (S.SynthesisShape(1, 1, 3, (1, 1, 1), (4,), 2), 32),
    (S.SynthesisShape(1, 150, 3, (1, 1, 1, 1, 1), (8,), 2), 1),  # one row, wider than a chunk
    (S.SynthesisShape(45, 1, 3, (1, 1, 1), (4, 4), 1), 4),  # one column
    (S.SynthesisShape(33, 260, 3, (1, 1, 1, 1, 1, 1, 1), (16, 16), 0), 32),  # 7 levels, no residual
    (S.SynthesisShape(9, 7, 3, (1, 1), (), 1), 4),  # no hidden layer
]


@pytest.mark.parametrize("shape, stripe", DECODE_CASES)
def test_decoder_bit_exact(shape, stripe):
    lat, w, _ = random_model(shape, seed=shape.height * 7 + shape.width)
    want = ref_decode_float(shape, lat, w)
    got = S.synthesize_float(shape, lat, w, stripe_rows=stripe)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    samples = S.synthesize(shape, lat, w, stripe_rows=stripe)
    assert np.array_equal(samples, ref_samples(want))
    assert 0 < samples.mean() < 255  # the case exercises the clamps without being all clamped


def test_decoder_integer_latents_and_threads():
    """As decoding sees it: integer latents, weights on a power-of-two grid; 1 thread = 2 threads."""
    shape = S.SynthesisShape(67, 45, 3, (1, 1, 1, 1, 1), (12, 12), 2)
    lat, w, _ = random_model(shape, 3)
    lat = np.rint(lat * 2).astype(np.float32)
    w = (np.rint(w * 256) / 256).astype(np.float32)
    want = ref_samples(ref_decode_float(shape, lat, w))
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = S.synthesize(shape, lat, w, stripe_rows=8)
    finally:
        numba.set_num_threads(threads)
    assert np.array_equal(one, want)
    assert np.array_equal(S.synthesize(shape, lat, w, stripe_rows=8), want)


def test_decoder_non_finite():
    """Overflowing activations: +inf -> 255, -inf -> 0, NaN -> 0 (spec 11.6)."""
    shape = S.SynthesisShape(3, 4, 3, (1,), (2,), 0)
    lat = np.array([1e30, -1e30, 0, 1] * 3, np.float32)
    # hidden = (1e30 * x, 1e30 * x); outputs: h0 + h1 (inf), -(h0 + h1) (-inf), h0 - h1 (inf - inf = NaN)
    w = np.array([1e30, 1e30, 0, 0, 1, 1, -1, -1, 1e30, -1e30, 0, 0, 0], np.float32)
    with np.errstate(all="ignore"):
        want = ref_decode_float(shape, lat, w)
    got = S.synthesize(shape, lat, w)
    assert np.array_equal(got, ref_samples(want))
    assert got[0, 0].tolist() == [255, 0, 0]


def test_tensor_lists():
    """The tensors as a list (views of one array, or separate arrays) give the same as the flat array."""
    shape = S.SynthesisShape(20, 17, 3, (1, 1, 1), (6,), 1)
    lat, w, target = random_model(shape, 5)
    bounds = np.cumsum((0,) + shape.tensor_sizes)
    views = [w[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    copies = [v.copy() for v in views]
    ref = S.synthesize(shape, lat, w)
    assert np.array_equal(S.synthesize(shape, lat, views), ref)
    assert np.array_equal(S.synthesize(shape, lat, copies), ref)
    g_flat = np.zeros_like(w)
    g_lat = np.zeros_like(lat)
    S.forward_backward(shape, lat, w, target, (0, 20, 0, 17), g_lat, g_flat)
    g_sep = [np.zeros_like(v) for v in views]
    S.forward_backward(shape, lat, copies, target, (0, 20, 0, 17), np.zeros_like(lat), g_sep)
    assert np.array_equal(np.concatenate(g_sep), g_flat)
    g_base = np.zeros(w.size + 5, np.float32)
    g_views = [g_base[5 + a : 5 + b] for a, b in zip(bounds[:-1], bounds[1:])]
    S.forward_backward(shape, lat, views, target, (0, 20, 0, 17), np.zeros_like(lat), g_views)
    assert np.array_equal(g_base[5:], g_flat)


# --------------------------------------------------------------------------------------------- training


@pytest.mark.parametrize("residual", [0, 1, 3])
def test_training_forward_is_the_decoder(residual):
    shape = S.SynthesisShape(35, 21, 3, (1, 1, 1, 1), (8, 8), residual)
    lat, w, target = random_model(shape, 11 + residual)
    out = np.empty((35, 21, 3), np.float32)
    sse = S.forward_backward(shape, lat, w, target, (0, 35, 0, 21), np.zeros_like(lat), np.zeros_like(w), out=out)
    dec = S.synthesize_float(shape, lat, w)
    assert np.array_equal(out.view(np.uint32), dec.view(np.uint32))
    d = dec.astype(np.float64) - target
    assert sse == pytest.approx(float(np.sum(d * d)), rel=1e-12)


def test_gradients_tiny_case():
    """Every value of every group: 9x11, 3 levels, 1x1 network 3 -> 5 -> 3, 2 residual layers (float64)."""
    shape = S.SynthesisShape(9, 11, 3, (1, 1, 1), (5,), 2)
    errors = finite_difference_check(shape, (0, 9, 0, 11), seed=21)
    assert max(errors.values()) < 1e-6, errors


def test_gradients_window():
    """A sub-rectangle: padding clamps at its edges; latents outside its footprint get no gradient."""
    shape = S.SynthesisShape(9, 11, 3, (1, 1, 1), (5,), 2)
    window = (2, 7, 3, 10)
    errors = finite_difference_check(shape, window, seed=22)
    assert max(errors.values()) < 1e-6, errors
    lat, w, target = random_model(shape, 22, np.float64)
    gl = np.zeros_like(lat)
    S.forward_backward(shape, lat, w, target, window, gl, np.zeros_like(w))
    grid0 = gl[: 9 * 11].reshape(9, 11)
    outside = np.ones((9, 11), bool)
    outside[2:7, 3:10] = False
    assert np.all(grid0[outside] == 0) and np.any(grid0[~outside] != 0)


@pytest.mark.parametrize("shape, window", [
    (S.SynthesisShape(70, 6, 1, (2, 0, 1), (4, 3), 3), (0, 70, 0, 6)),  # several stripes and latent blocks
    (S.SynthesisShape(70, 9, 3, (1, 1, 1, 1), (4,), 0), (3, 69, 1, 8)),  # no residual layer, window
    (S.SynthesisShape(1, 9, 3, (1, 1), (3,), 2), (0, 1, 0, 9)),  # one row
    (S.SynthesisShape(13, 1, 3, (1, 1), (3,), 1), (0, 13, 0, 1)),  # one column
    (S.SynthesisShape(8, 9, 3, (1, 1), (), 2), (1, 8, 0, 9)),  # no hidden layer
])
def test_gradients_stripes_and_edges(shape, window):
    errors = finite_difference_check(shape, window, seed=shape.height + shape.residual, sample=25)
    assert max(errors.values()) < 1e-6, errors


def test_gradients_full_chunks():
    """Rows wider than two chunks, where the reductions take four pixels a lane: without residual layers the
    pass is per pixel, so its gradients are the sums of those of column windows narrower than a chunk (which
    the finite-difference tests cover). Finite differences themselves are too rough here: with thousands of
    pixels some ReLU input lies within eps of its kink."""
    width = 2 * S.CHUNK + 5
    shape = S.SynthesisShape(5, width, 3, (1, 1, 1, 1), (8, 8), 0)
    lat, w, target = random_model(shape, 23, np.float64)
    whole = [np.zeros_like(lat), np.zeros_like(w)]
    sse = S.forward_backward(shape, lat, w, target, (0, 5, 0, width), *whole)
    parts = [np.zeros_like(lat), np.zeros_like(w)]
    sse_parts = 0.0
    for x0 in range(0, width, 60):
        sse_parts += S.forward_backward(shape, lat, w, target, (0, 5, x0, min(width, x0 + 60)), *parts)
    assert sse == pytest.approx(sse_parts, rel=1e-12)
    for a, b in zip(whole, parts):
        assert np.allclose(a, b, rtol=1e-10, atol=1e-12)
    assert np.count_nonzero(whole[1]) > 0.9 * whole[1].size


def test_float32_gradients_and_threads():
    """float32 gradients are within float32 rounding of the float64 ones, and do not depend on threads."""
    shape = S.SynthesisShape(40, 33, 3, (1, 1, 1, 1), (8, 8), 2)
    lat, w, target = random_model(shape, 31)
    window = (3, 40, 0, 30)
    g64 = [np.zeros(shape.latent_count), np.zeros(shape.weight_count)]
    sse64 = S.forward_backward(shape, lat.astype(np.float64), w.astype(np.float64), target, window, *g64)
    runs = []
    threads = numba.get_num_threads()
    for n in (1, threads):
        numba.set_num_threads(n)
        try:
            g32 = [np.zeros(shape.latent_count, np.float32), np.zeros(shape.weight_count, np.float32)]
            sse32 = S.forward_backward(shape, lat, w, target, window, *g32, grad_scale=0.5)
        finally:
            numba.set_num_threads(threads)
        runs.append((sse32, g32))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    sse32, g32 = runs[0]
    assert sse32 == pytest.approx(sse64, rel=1e-5)
    for name, which, sl in groups(shape):
        a, b = (g32[0], g64[0]) if which == "lat" else (g32[1], g64[1])
        err = np.linalg.norm(2 * a[sl] - b[sl]) / max(np.linalg.norm(b[sl]), 1e-12)  # grad_scale 0.5
        assert err < 1e-4, (name, err)


def test_gradients_accumulate():
    """forward_backward adds to the gradient arrays."""
    shape = S.SynthesisShape(10, 12, 3, (1, 1), (4,), 1)
    lat, w, target = random_model(shape, 41, np.float64)
    g1 = [np.zeros_like(lat), np.zeros_like(w)]
    S.forward_backward(shape, lat, w, target, (0, 10, 0, 12), *g1)
    g2 = [np.ones_like(lat), np.ones_like(w)]
    S.forward_backward(shape, lat, w, target, (0, 10, 0, 12), *g2)
    assert np.allclose(g2[0], g1[0] + 1, rtol=0, atol=1e-12) and np.allclose(g2[1], g1[1] + 1, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------ soft rounding, Adam


def _softround_reference(x: np.ndarray, t: float) -> np.ndarray:
    """softround as C3 and Cool-chic define it, in float64."""
    f = np.floor(x)
    return f + 0.5 + 0.5 * np.tanh((x - f - 0.5) / t) / np.tanh(0.5 / t)


def test_soft_round_noisy():
    """seen = softround(softround(y, t) + u, t) against a float64 reference; the slope against a central
    difference; rounding as t -> 0 and the identity (plus noise) as t grows."""
    rng = np.random.default_rng(71)
    lat = rng.normal(0, 3.0, 100_000).astype(np.float32)  # several work items
    noise = (rng.random(lat.size, dtype=np.float32) - np.float32(0.5))
    seen, slope = np.empty_like(lat), np.empty_like(lat)
    for t in (0.05, 0.3, 0.5):
        S.soft_round_noisy(lat, noise, t, seen, slope)
        want = _softround_reference(_softround_reference(lat.astype(np.float64), t) + noise, t)
        assert np.allclose(seen, want, rtol=0, atol=2e-6)
        h = 1e-4
        y = lat.astype(np.float64)
        num = (_softround_reference(_softround_reference(y + h, t) + noise, t)
               - _softround_reference(_softround_reference(y - h, t) + noise, t)) / (2 * h)
        assert np.allclose(slope, num, rtol=1e-3, atol=1e-3 / t)
        assert np.all(slope >= 0)
    away = np.abs(lat - np.floor(lat) - 0.5) > 0.05  # not at a rounding boundary
    S.soft_round_noisy(lat, np.zeros_like(lat), 0.005, seen, slope)
    assert np.array_equal(seen[away], np.rint(lat[away])) and np.all(slope[away] < 1e-6)
    S.soft_round_noisy(lat, noise, 100.0, seen, slope)
    assert np.allclose(seen, lat + noise, atol=1e-4) and np.allclose(slope, 1.0, atol=1e-4)
    with pytest.raises(ValueError):
        S.soft_round_noisy(lat, noise, 0.0, seen, slope)
    with pytest.raises(ValueError):
        S.soft_round_noisy(lat, noise[:-1], 0.3, seen, slope)


def test_adam_step():
    rng = np.random.default_rng(61)
    n = 200_000  # several work items
    p = rng.normal(size=n).astype(np.float32)
    m = rng.normal(size=n).astype(np.float32) * 0.1
    v = rng.uniform(0, 0.1, n).astype(np.float32)
    g = rng.normal(size=n).astype(np.float32)
    p0, m0, v0, g0 = p.copy(), m.copy(), v.copy(), g.copy()
    S.adam_step(p, g, m, v, 7, 0.01, 0.9, 0.999, 1e-8, zero_grad=True)
    m1 = 0.9 * m0.astype(np.float64) + 0.1 * g0
    v1 = 0.999 * v0.astype(np.float64) + 0.001 * g0.astype(np.float64) ** 2
    p1 = p0 - 0.01 * (m1 / (1 - 0.9**7)) / (np.sqrt(v1 / (1 - 0.999**7)) + 1e-8)
    assert np.allclose(m, m1, rtol=1e-5, atol=1e-7) and np.allclose(v, v1, rtol=1e-5, atol=1e-9)
    assert np.allclose(p, p1, rtol=1e-5, atol=1e-6)
    assert not g.any()


def test_buffers_reused_and_released():
    """Kept work buffers: windows of other sizes in between, concurrent calls and a release change nothing."""
    from concurrent.futures import ThreadPoolExecutor

    shape = S.SynthesisShape(50, 41, 3, (1, 1, 1), (6,), 2)
    lat, w, target = random_model(shape, 71)

    def run(window):
        g = [np.zeros_like(lat), np.zeros_like(w)]
        return S.forward_backward(shape, lat, w, target, window, *g), g

    big, small = (0, 50, 0, 41), (10, 20, 5, 9)
    first = run(big)
    run(small)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(run, [big, big, small, big]))
    S.release_buffers()
    for sse, g in [run(big), results[0], results[1], results[3]]:
        assert sse == first[0] and all(np.array_equal(a, b) for a, b in zip(g, first[1]))
