"""Tests for saecodec.metrics: known values, ideal constants, properties and input errors."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from saecodec import metrics as m
from saecodec.errors import InputError

FAST = settings(max_examples=40, deadline=None)


def _img_pair(dtype=np.uint8, channels: int | None = None, elements=None):
    """Strategy: two arrays of the same random (H,W[,C]) shape."""

    @st.composite
    def build(draw):
        h = draw(st.integers(1, 8))
        w = draw(st.integers(1, 8))
        c = channels if channels is not None else draw(st.sampled_from([0, 1, 3, 4]))
        shape = (h, w) if c == 0 else (h, w, c)
        a = draw(arrays(dtype, shape, elements=elements))
        b = draw(arrays(dtype, shape, elements=elements))
        return a, b

    return build()


# --------------------------------------------------------------------------- constants


def test_ideal_constants_exact():
    npcr_exact = (1 - Fraction(1, 256)) * 100
    # E|X-Y| for X, Y independent uniform on 0..255, by direct enumeration of the difference.
    e_abs = Fraction(sum(abs(i - j) for i in range(256) for j in range(256)), 256 * 256)
    assert e_abs == Fraction(2 * sum(d * (256 - d) for d in range(1, 256)), 65536)
    assert e_abs == Fraction(8533203125, 100000000)  # 85.33203125
    uaci_exact = 100 * e_abs / 255
    assert m.NPCR_IDEAL == pytest.approx(float(npcr_exact), abs=5e-5)
    assert m.UACI_IDEAL == pytest.approx(float(uaci_exact), abs=5e-5)


# --------------------------------------------------------------------------- MSE / PSNR


def test_mse_known_values():
    a = np.array([[0, 0], [0, 0]], dtype=np.uint8)
    b = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    assert m.mse(a, b) == pytest.approx((1 + 4 + 9 + 16) / 4)
    # uint8 must not wrap around: 0 - 255 is -255, not 1.
    assert m.mse(np.array([0], np.uint8), np.array([255], np.uint8)) == 255.0**2


def test_mse_per_channel_known_values():
    a = np.zeros((2, 2, 3), dtype=np.uint8)
    b = a.copy()
    b[..., 0] = 1
    b[..., 2] = 3
    assert m.mse_per_channel(a, b) == [1.0, 0.0, 9.0]
    assert m.mse_per_channel(a[..., 0], b[..., 0]) == [1.0]
    assert m.psnr_per_channel(a, b)[1] == math.inf


def test_psnr_identical_is_inf():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert m.psnr(img, img) == math.inf
    assert m.psnr_per_channel(img, img) == [math.inf] * 3


def test_psnr_of_mse_one():
    a = np.zeros((4, 4), dtype=np.uint8)
    b = np.ones((4, 4), dtype=np.uint8)
    assert m.mse(a, b) == 1.0
    assert m.psnr(a, b) == pytest.approx(48.1308036, abs=1e-6)
    assert m.psnr(a, b) == pytest.approx(20 * math.log10(255))
    assert m.psnr(a, b, max_value=1.0) == pytest.approx(0.0)


def test_psnr_accepts_float_reconstruction():
    a = np.full((3, 3), 100, dtype=np.uint8)
    b = np.full((3, 3), 102.0)
    assert m.mse(a, b) == pytest.approx(4.0)
    assert m.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 4))


@FAST
@given(_img_pair())
def test_mse_symmetric_nonnegative(pair):
    a, b = pair
    assert m.mse(a, b) >= 0.0
    assert m.mse(a, b) == m.mse(b, a)
    assert m.psnr(a, b) == m.psnr(b, a)
    assert m.mse(a, a) == 0.0


@FAST
@given(_img_pair())
def test_per_channel_mean_equals_overall(pair):
    a, b = pair
    per = m.mse_per_channel(a, b)
    assert len(per) == (1 if a.ndim == 2 else a.shape[2])
    assert float(np.mean(per)) == pytest.approx(m.mse(a, b), rel=1e-12, abs=1e-9)


@FAST
@given(_img_pair(dtype=np.float64, channels=3, elements=st.floats(-1e6, 1e6)))
def test_psnr_consistent_with_mse(pair):
    a, b = pair
    e = m.mse(a, b)
    p = m.psnr(a, b)
    if e == 0.0:
        assert p == math.inf
    else:
        assert p == pytest.approx(10 * math.log10(255.0**2 / e))


# --------------------------------------------------------------------------- grayscale


def test_to_grayscale():
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[..., 0] = 100
    rgb[..., 1] = 200
    rgb[..., 2] = 50
    g = m.to_grayscale(rgb)
    assert g.dtype == np.float64 and g.shape == (2, 3)
    assert np.allclose(g, 0.299 * 100 + 0.587 * 200 + 0.114 * 50)
    rgba = np.concatenate([rgb, np.full((2, 3, 1), 7, np.uint8)], axis=2)
    assert np.array_equal(m.to_grayscale(rgba), g)
    gray = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert np.array_equal(m.to_grayscale(gray), gray.astype(np.float64))
    assert np.array_equal(m.to_grayscale(gray[..., None]), gray.astype(np.float64))
    white = np.full((1, 1, 3), 255, np.uint8)
    assert m.to_grayscale(white)[0, 0] == pytest.approx(255.0)


# --------------------------------------------------------------------------- correlation


def test_correlation_smooth_gradient_near_one():
    y, x = np.mgrid[0:64, 0:64]
    img = ((x + y) * 2).astype(np.uint8)
    for d in m.DIRECTIONS:
        assert m.adjacent_correlation(img, d) > 0.99
    rgb = np.stack([img, img // 2, 255 - img], axis=2)
    for r in m.adjacent_correlations(rgb).values():
        assert r > 0.99 or r < -0.99  # mixed channels, still nearly linear


def test_correlation_random_bytes_near_zero():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (256, 256), dtype=np.uint8)
    res = m.adjacent_correlations(img)
    assert set(res) == {"horizontal", "vertical", "diagonal"}
    n = 255 * 255  # fewest pairs (diagonal); sd of r is about 1/sqrt(n)
    for r in res.values():
        assert abs(r) < 5 / math.sqrt(n)
    k = 3000
    sampled = m.adjacent_correlations(img, samples=k, seed=5)
    for r in sampled.values():
        assert abs(r) < 5 / math.sqrt(k)
    # sampling is deterministic for a seed
    assert sampled == m.adjacent_correlations(img, samples=k, seed=5)


def test_correlation_matches_eq11_literally():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (20, 30), dtype=np.uint8).astype(np.float64)
    img = np.cumsum(img, axis=1) % 256  # some structure
    x, y = img[:, :-1].ravel(), img[:, 1:].ravel()
    r = (np.mean(x * y) - x.mean() * y.mean()) / (math.sqrt(x.var()) * math.sqrt(y.var()))
    assert m.adjacent_correlation(img, "horizontal") == pytest.approx(r, rel=1e-9)
    assert m.adjacent_correlation(img, "horizontal") == pytest.approx(np.corrcoef(x, y)[0, 1])
    xd, yd = img[:-1, :-1].ravel(), img[1:, 1:].ravel()
    assert m.adjacent_correlation(img, "diagonal") == pytest.approx(np.corrcoef(xd, yd)[0, 1])
    xv, yv = img[:-1, :].ravel(), img[1:, :].ravel()
    assert m.adjacent_correlation(img, "vertical") == pytest.approx(np.corrcoef(xv, yv)[0, 1])


def test_correlation_constant_is_nan():
    img = np.full((8, 8), 42, dtype=np.uint8)
    assert math.isnan(m.adjacent_correlation(img, "horizontal"))
    assert all(math.isnan(v) for v in m.adjacent_correlations(img).values())


def test_correlation_samples_larger_than_pairs_uses_all():
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (10, 10), dtype=np.uint8)
    assert m.adjacent_correlation(img, "vertical", samples=10_000) == m.adjacent_correlation(
        img, "vertical"
    )


@FAST
@given(arrays(np.uint8, st.tuples(st.integers(2, 10), st.integers(2, 10))))
def test_correlation_in_range(img):
    for r in m.adjacent_correlations(img).values():
        assert math.isnan(r) or -1.0 <= r <= 1.0


def test_correlation_errors():
    img = np.zeros((4, 4), np.uint8)
    with pytest.raises(InputError):
        m.adjacent_correlation(img, "sideways")
    with pytest.raises(InputError):
        m.adjacent_correlation(np.zeros((1, 5), np.uint8), "vertical")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(InputError):
            m.adjacent_correlation(img, "horizontal", samples=bad)
    with pytest.raises(InputError):
        m.to_grayscale(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(InputError):
        m.to_grayscale(np.zeros((2, 2, 2, 2), np.uint8))


# --------------------------------------------------------------------------- entropy / NPCR / UACI


def test_entropy_known_values():
    rng = np.random.default_rng(6)
    assert m.entropy(rng.integers(0, 256, 1_000_000, dtype=np.uint8)) > 7.99
    assert m.entropy(np.full((32, 32), 9, np.uint8)) == 0.0
    assert m.entropy(np.arange(256, dtype=np.uint8)) == pytest.approx(8.0)
    assert m.entropy(np.array([0, 1, 0, 1], np.uint8)) == pytest.approx(1.0)


@FAST
@given(arrays(np.uint8, st.integers(1, 300)))
def test_entropy_bounds(data):
    h = m.entropy(data)
    assert 0.0 <= h <= min(8.0, math.log2(data.size)) + 1e-9


def test_npcr_uaci_random_near_ideal():
    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, 1_000_000, dtype=np.uint8)
    b = rng.integers(0, 256, 1_000_000, dtype=np.uint8)
    # sd of NPCR ~ 100*sqrt(p(1-p)/n) = 0.006; sd of UACI ~ 100*(60.2/255)/1000 = 0.024
    assert m.npcr(a, b) == pytest.approx(m.NPCR_IDEAL, abs=0.05)
    assert m.uaci(a, b) == pytest.approx(m.UACI_IDEAL, abs=0.15)


def test_npcr_uaci_known_values():
    a = np.array([[0, 0], [0, 0]], np.uint8)
    b = np.array([[0, 255], [0, 255]], np.uint8)
    assert m.npcr(a, b) == 50.0
    assert m.uaci(a, b) == pytest.approx(50.0)
    assert m.npcr(a, a) == 0.0 and m.uaci(a, a) == 0.0
    assert m.npcr(a, 255 - a) == 100.0 and m.uaci(a, 255 - a) == pytest.approx(100.0)


@FAST
@given(_img_pair())
def test_npcr_uaci_properties(pair):
    a, b = pair
    assert m.npcr(a, b) == m.npcr(b, a)
    assert m.uaci(a, b) == m.uaci(b, a)
    assert 0.0 <= m.uaci(a, b) <= m.npcr(a, b) <= 100.0


# --------------------------------------------------------------------------- input errors


@pytest.mark.parametrize("fn", [m.mse, m.mse_per_channel, m.psnr, m.psnr_per_channel, m.npcr, m.uaci])
def test_shape_mismatch_raises(fn):
    with pytest.raises(InputError):
        fn(np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8))
    with pytest.raises(InputError):
        fn(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8))


@pytest.mark.parametrize("fn", [m.mse, m.psnr, m.npcr, m.uaci])
def test_empty_raises(fn):
    with pytest.raises(InputError):
        fn(np.zeros((0, 4), np.uint8), np.zeros((0, 4), np.uint8))


def test_dtype_errors():
    f = np.zeros((4, 4), np.float64)
    u = np.zeros((4, 4), np.uint8)
    for fn in (m.npcr, m.uaci):
        with pytest.raises(InputError):
            fn(f, u)
    with pytest.raises(InputError):
        m.entropy(f)
    with pytest.raises(InputError):
        m.entropy(np.zeros(0, np.uint8))
    with pytest.raises(InputError):
        m.mse(np.array(["a", "b"]), np.array(["a", "b"]))
    with pytest.raises(InputError):
        m.mse(np.array([1.0, np.nan]), np.array([1.0, 2.0]))
    with pytest.raises(InputError):
        m.mse_per_channel(np.zeros((2, 2, 2, 2)), np.zeros((2, 2, 2, 2)))
    for bad in (0, -1, float("inf"), "x"):
        with pytest.raises(InputError):
            m.psnr(u, u, max_value=bad)
    assert issubclass(InputError, ValueError)
