"""The overfit profile's latent and weight coder lc1 (saecodec.entropy.latentcoder, spec/lc1-latent-coder.md).

Besides round trips and error handling, this file holds a second, plain-Python implementation of lc1 written
from the spec alone (``ref_encode_latents`` and friends; the range coder is rc1 section 3's, so it is
tests/test_entropy.py's plain-Python rc1 coder); the Numba kernels must agree with it byte for byte, and both
must reproduce the spec's test vectors.

Decided behaviour on bad input: a truncated or extended stream is always a ``FormatError`` (the decoder
consumes exactly the encoder's bytes, and a truncated one fails within a value of its end); corrupted or
random bytes give a ``FormatError`` or, very rarely, values whose encoding is exactly those bytes.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saecodec.entropy import MAX_MAGNITUDE, decode_latents, decode_weights, encode_latents, encode_weights
from saecodec.entropy.bench import smooth_field
from saecodec.errors import FormatError, InputError
from tests.test_entropy import _RefDecoder as Rc1RefDecoder
from tests.test_entropy import _RefEncoder as Rc1RefEncoder

# ------------------------------------------------------------------------ reference implementation (spec)


class _RefEncoder(Rc1RefEncoder):
    """rc1 section 3.1 (the rc1 reference, tests/test_entropy.py: lc1 uses that coder exactly), plus lc1's
    binarisation of one value. A context of None is a fixed bin."""

    def value(self, v: int, zero, sign, prefix, suffix) -> None:
        """lc1 section 3.2; prefix(j) and suffix(n, t) name the variables."""
        m = abs(v)
        self.bin(zero, 1 if m else 0)
        if m == 0:
            return
        self.bin(sign, 1 if v < 0 else 0)
        n = m.bit_length() - 1
        for j in range(min(n, 13) + 1):
            self.bin(prefix(j), 1 if j < n else 0)
        for t in range(n):
            self.bin(suffix(n, t) if t < 2 else None, (m >> (n - 1 - t)) & 1)


class _RefDecoder(Rc1RefDecoder):
    """rc1 section 3.2, rejecting as soon as pos > len(d) after a value (lc1 section 3.1)."""

    def value(self, zero, sign, prefix, suffix) -> int:
        if self.bin(zero) == 0:
            v = 0
        else:
            negative = self.bin(sign)
            n = 0
            while n < 14 and self.bin(prefix(n)) == 1:
                n += 1
            m = 1
            for t in range(n):
                m = 2 * m + self.bin(suffix(n, t) if t < 2 else None)
            v = -m if negative else m
        if self.pos > len(self.data):
            raise FormatError("truncated")
        return v


def _sgn(v: int) -> int:
    return 0 if v < 0 else (1 if v == 0 else 2)


def _latent_variables(grids: list, shapes: list, i: int, y: int, x: int):
    """lc1 section 4.2, 4.3: (Z, S, prefix(j), suffix(n, t)) for value (y, x) of grid i."""
    h, w = shapes[i]
    g = grids[i]

    def at(yy: int, xx: int) -> int:
        return int(g[yy][xx]) if 0 <= yy and 0 <= xx < w else 0

    a, b, c, d, e, f = at(y, x - 1), at(y - 1, x), at(y - 1, x - 1), at(y - 1, x + 1), at(y, x - 2), at(y - 2, x)
    p = 0
    if i >= 1 and shapes[i - 1][0] >= 1 and shapes[i - 1][1] >= 1:
        ph, pw = shapes[i - 1]
        p = int(grids[i - 1][y * ph // h][x * pw // w])
    act = 2 * abs(a) + 2 * abs(b) + abs(c) + abs(d) + abs(e) + abs(f)
    k = min(act.bit_length(), 6)
    return (("Z", min(act, 15), 1 if p != 0 else 0), ("S", _sgn(a), _sgn(b), _sgn(p), _sgn(c + d)),
            lambda j: ("P", k, j), lambda n, t: ("X", n, t))


def _block_contexts(flags: dict, r: int, s: int):
    """lc1 section 4.1: the variable of block flag z[r][s]."""
    return ("B", flags[r, s - 1] if s >= 1 else 1, flags[r - 1, s] if r >= 1 else 1)


def ref_encode_latents(grids: list) -> bytes:
    grids = [np.asarray(g) for g in grids]
    shapes = [g.shape for g in grids]
    enc = _RefEncoder()
    for i, (h, w) in enumerate(shapes):
        flags: dict = {}
        for y in range(h):
            if y % 8 == 0:
                for s in range((w + 7) // 8):
                    flags[y // 8, s] = int(bool(np.any(grids[i][y : y + 8, 8 * s : 8 * s + 8])))
                    enc.bin(_block_contexts(flags, y // 8, s), flags[y // 8, s])
            for x in range(w):
                if flags[y // 8, x // 8]:
                    enc.value(int(grids[i][y][x]), *_latent_variables(grids, shapes, i, y, x))
    return enc.finish()


def ref_decode_latents(data: bytes, shapes: list) -> list:
    grids = [np.zeros(s, dtype=np.int32) for s in shapes]
    dec = _RefDecoder(data)
    for i, (h, w) in enumerate(shapes):
        flags: dict = {}
        for y in range(h):
            if y % 8 == 0:
                for s in range((w + 7) // 8):
                    flags[y // 8, s] = dec.bin(_block_contexts(flags, y // 8, s))
                if dec.pos > len(dec.data):
                    raise FormatError("truncated")
            for x in range(w):
                if flags[y // 8, x // 8]:
                    grids[i][y][x] = dec.value(*_latent_variables(grids, shapes, i, y, x))
            if y % 8 == 7 or y == h - 1:
                for s in range((w + 7) // 8):
                    if flags[y // 8, s] and not np.any(grids[i][y - y % 8 : y + 1, 8 * s : 8 * s + 8]):
                        raise FormatError("a block flagged non-zero is all zero")
    dec.finish()
    return grids


_WEIGHT_VARIABLES = ("Z",), ("S",), lambda j: ("P", j), lambda n, t: ("X", n, t)


def ref_encode_weights(values) -> bytes:
    enc = _RefEncoder()
    for v in values:
        enc.value(int(v), *_WEIGHT_VARIABLES)
    return enc.finish()


def ref_decode_weights(data: bytes, count: int) -> np.ndarray:
    dec = _RefDecoder(data)
    out = np.array([dec.value(*_WEIGHT_VARIABLES) for _ in range(count)], dtype=np.int32)
    dec.finish()
    return out


# ------------------------------------------------------------------------------------------ test vectors

_V3 = [
    np.array([[3, -1], [0, 2]]),
    np.array([[1, 0, -2, 5], [0, -1, 0, 40], [-300, 0, 1, 1]]),
    np.array([[0, 0, 1, 0], [2, 0, 0, -1], [0, 32767, -32767, 0]]),
]
_V2 = [np.zeros((5, 10), np.int32), np.zeros((10, 19), np.int32)]
_V2[1][1, 2], _V2[1][8, 8], _V2[1][9, 17] = 1, 7, -2
LATENT_VECTORS = [
    ([], "0000000000"),
    ([np.zeros((0, 3), np.int32), np.zeros((2, 0), np.int32)], "0000000000"),
    ([np.zeros((4, 4), np.int32)], "0000000000"),
    (_V2, "00210423ebb56555005d545a00"),
    (_V3, "00d729ae134ce27c82b61a2bf602967fffffffffad120000"),
]
WEIGHT_VECTORS = [
    ([], [], "0000000000"),
    ([12, -7, 0, 127, -1, 0, 3, -32767, 5000], [4, 3, 0, 2], "00ba7aee140bbcd2cfff54827fd8c00000"),
]


@pytest.mark.parametrize("grids,hexbytes", LATENT_VECTORS)
def test_spec_latent_vectors(grids, hexbytes):
    expected = bytes.fromhex(hexbytes)
    shapes = [g.shape for g in grids]
    assert encode_latents(grids) == expected
    assert ref_encode_latents(grids) == expected
    for out in (decode_latents(expected, shapes), ref_decode_latents(expected, shapes)):
        assert len(out) == len(grids)
        assert all(np.array_equal(a, b) and a.shape == b.shape for a, b in zip(out, grids))


@pytest.mark.parametrize("values,groups,hexbytes", WEIGHT_VECTORS)
def test_spec_weight_vectors(values, groups, hexbytes):
    expected = bytes.fromhex(hexbytes)
    arr = np.array(values, dtype=np.int32)
    assert encode_weights(arr, groups) == expected
    assert ref_encode_weights(values) == expected
    assert np.array_equal(decode_weights(expected, groups), arr)
    assert np.array_equal(ref_decode_weights(expected, len(values)), arr)


def test_vector_truncations_and_extensions_are_rejected():
    values, groups, hexbytes = WEIGHT_VECTORS[-1]
    wts = bytes.fromhex(hexbytes)
    for grids, lathex in LATENT_VECTORS[-2:]:
        shapes = [g.shape for g in grids]
        lat = bytes.fromhex(lathex)
        for n in range(len(lat)):
            with pytest.raises(FormatError):
                decode_latents(lat[:n], shapes)
            with pytest.raises(FormatError):
                ref_decode_latents(lat[:n], shapes)
        for extra in (b"\x00", b"\xff", b"\x00\x00\x00\x00\x00"):
            with pytest.raises(FormatError):
                decode_latents(lat + extra, shapes)
    for n in range(len(wts)):
        with pytest.raises(FormatError):
            decode_weights(wts[:n], groups)
        with pytest.raises(FormatError):
            ref_decode_weights(wts[:n], len(values))
    for extra in (b"\x00", b"\xff", b"\x00\x00\x00\x00\x00"):
        with pytest.raises(FormatError):
            decode_weights(wts + extra, groups)


# ------------------------------------------------------------------------------------------ test data


def _upsample(g: np.ndarray, h: int, w: int) -> np.ndarray:
    return g[(np.arange(h) * g.shape[0]) // h][:, (np.arange(w) * g.shape[1]) // w]


def pyramid(seed: int, height: int, width: int, levels: int = 5, channels: int = 1, top: float = 2.0,
            decay: float = 0.8, inherit: float = 0.5) -> list[np.ndarray]:
    """Latent-like grids in coding order: level l is ceil(H/2^l) x ceil(W/2^l), coarsest first, ``channels``
    per level; each is a smooth Gaussian field plus Laplacian noise, plus ``inherit`` times the grid before
    it (parent or sibling), rounded: spatially and hierarchically correlated, larger at coarse levels."""
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    prev = None
    for i, level in enumerate(reversed(range(levels))):
        h, w = -(-height // 2**level), -(-width // 2**level)
        for _ in range(channels):
            s = top * decay**i
            f = smooth_field(rng, h, w, 1.5) * s + rng.laplace(0.0, 0.5 * s, (h, w))
            if prev is not None:
                f += inherit * _upsample(prev, h, w)
            prev = f
            out.append(np.clip(np.round(f), -MAX_MAGNITUDE, MAX_MAGNITUDE).astype(np.int32))
    return out


def entropy_bits(g: np.ndarray) -> float:
    """Zeroth-order entropy of one grid's histogram times its size."""
    _, counts = np.unique(g, return_counts=True)
    return float(-(counts * np.log2(counts / counts.sum())).sum())


def laplace_bits(g: np.ndarray) -> float:
    """Ideal code length of a grid under a zero-mean discretised Laplace of the best (ML) scale."""
    m = np.abs(np.asarray(g, dtype=np.float64).reshape(-1))
    best = np.inf
    for b in np.exp(np.linspace(-4.0, 8.0, 600)):
        p0 = -np.expm1(-0.5 / b)
        pk = 0.5 * np.exp(-(m - 0.5) / b) * -np.expm1(-1.0 / b)
        best = min(best, float(-np.log2(np.maximum(np.where(m == 0, p0, pk), 1e-300)).sum()))
    return best


# ------------------------------------------------------------------------------------------- strategies

_SHAPES = st.tuples(st.integers(0, 20), st.integers(0, 20)) | st.sampled_from([(1, 1), (1, 17), (17, 1), (0, 0)])


@st.composite
def grid_lists(draw, max_grids=5):
    shapes = draw(st.lists(_SHAPES, min_size=0, max_size=max_grids))
    if draw(st.booleans()):  # the profile's layout: a pyramid, coarsest first, maybe two channels a level
        h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
        levels, channels = draw(st.integers(1, 4)), draw(st.integers(1, 2))
        shapes = [(-(-h // 2**lv), -(-w // 2**lv)) for lv in reversed(range(levels)) for _ in range(channels)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["small", "laplace", "extreme", "mixed", "zero", "sparse"]))
    grids = []
    for shape in shapes:
        if kind == "sparse":  # zero blocks and non-zero ones
            g = rng.integers(-3, 4, shape) * (rng.random(shape) < draw(st.sampled_from([0.003, 0.02, 0.1])))
        elif kind == "small":
            g = rng.integers(-3, 4, shape)
        elif kind == "laplace":
            g = np.round(rng.laplace(0.0, draw(st.sampled_from([0.3, 2.0, 30.0, 3000.0])), shape))
        elif kind == "extreme":
            g = rng.choice(np.array([-MAX_MAGNITUDE, MAX_MAGNITUDE, 0, -1, 1, 16384, -16384]), shape)
        elif kind == "mixed":
            g = rng.integers(-MAX_MAGNITUDE, MAX_MAGNITUDE + 1, shape) >> rng.integers(0, 16, shape)
        else:
            g = np.zeros(shape)
        grids.append(np.clip(g, -MAX_MAGNITUDE, MAX_MAGNITUDE).astype(np.int32))
    return grids


@st.composite
def weight_lists(draw, max_groups=5, max_len=40):
    groups = draw(st.lists(st.integers(0, max_len), min_size=0, max_size=max_groups))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([0.5, 5.0, 60.0, 5000.0, 1e6]))
    values = np.clip(np.round(rng.laplace(0.0, scale, sum(groups))), -MAX_MAGNITUDE, MAX_MAGNITUDE)
    return values.astype(np.int32), groups


def _same(out: list, grids: list) -> bool:
    return len(out) == len(grids) and all(
        a.dtype == np.int32 and a.shape == b.shape and np.array_equal(a, b) for a, b in zip(out, grids))


# ---------------------------------------------------------------------------------------------- round trip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grids=grid_lists())
def test_latent_round_trip(grids):
    data = encode_latents(grids)
    assert _same(decode_latents(data, [g.shape for g in grids]), grids)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grids=grid_lists(max_grids=4))
def test_latents_match_reference_implementation(grids):
    data = encode_latents(grids)
    assert ref_encode_latents(grids) == data
    assert _same(ref_decode_latents(data, [g.shape for g in grids]), grids)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wg=weight_lists())
def test_weight_round_trip_and_reference(wg):
    values, groups = wg
    data = encode_weights(values, groups)
    out = decode_weights(data, groups)
    assert out.dtype == np.int32 and np.array_equal(out, values)
    assert ref_encode_weights(values) == data


def test_latents_match_reference_on_a_realistic_pyramid():
    grids = pyramid(3, 40, 56, levels=4, channels=2)  # 8 grids, 3.7 K values, parents and siblings
    data = encode_latents(grids)
    assert len(data) > 500
    assert ref_encode_latents(grids) == data
    assert _same(ref_decode_latents(data, [g.shape for g in grids]), grids)


def test_all_zero_sparse_and_extreme_grids():
    zero = [np.zeros((256, 256), np.int32), np.zeros((128, 128), np.int32)]
    data = encode_latents(zero)
    assert len(data) < 40  # 1280 zero-block flags, ~0.022 bits each at the probability floor
    assert _same(decode_latents(data, [g.shape for g in zero]), zero)
    sparse = [np.zeros((64, 96), np.int32), np.zeros((128, 192), np.int32)]
    sparse[1][[5, 77, 127], [190, 3, 64]] = [1, -1, 2]
    data = encode_latents(sparse)
    assert len(data) < 40
    assert _same(decode_latents(data, [g.shape for g in sparse]), sparse)
    full = [np.full((3, 5), MAX_MAGNITUDE, np.int32), np.full((1, 7), -MAX_MAGNITUDE, np.int32)]
    assert _same(decode_latents(encode_latents(full), [(3, 5), (1, 7)]), full)
    w = np.array([MAX_MAGNITUDE, -MAX_MAGNITUDE] * 5, np.int32)
    assert np.array_equal(decode_weights(encode_weights(w, [10]), [10]), w)


def test_deterministic_and_dtype_independent():
    grids = pyramid(4, 20, 30, levels=3)
    a = encode_latents(grids)
    assert encode_latents([g.copy() for g in grids]) == a
    assert encode_latents(tuple(g.astype(np.int16) for g in grids)) == a
    assert encode_latents([g.astype(np.int64) for g in grids]) == a
    assert encode_latents([np.asfortranarray(g) for g in grids]) == a
    assert encode_latents([g.tolist() for g in grids]) == a
    shapes = [g.shape for g in grids]
    for blob in (bytearray(a), memoryview(a)):
        assert _same(decode_latents(blob, shapes), grids)
    assert _same(decode_latents(a, [list(s) for s in shapes]), grids)
    assert _same(decode_latents(a, tuple((np.int64(h), np.int32(w)) for h, w in shapes)), grids)
    v = np.array([5, -3, 0, 0, 120], np.int16)
    b = encode_weights(v, [2, 3])
    assert encode_weights(v.astype(np.int64), (np.int64(2), 3)) == b == encode_weights(v.tolist(), [5])
    assert np.array_equal(decode_weights(bytearray(b), (5,)), v)


def test_parent_matters():
    # the same fine grid after a different previous grid codes differently (the parent enters the contexts)
    fine = pyramid(5, 16, 16, levels=2)[1]
    a = encode_latents([np.zeros((8, 8), np.int32), fine])
    b = encode_latents([np.ones((8, 8), np.int32), fine])
    assert a != b
    assert _same(decode_latents(b, [(8, 8), (16, 16)]), [np.ones((8, 8), np.int32), fine])


# --------------------------------------------------------------------------------------------- bad input


def test_non_zero_flag_on_an_all_zero_block_is_rejected():
    # a stream the encoder never writes (flag 1, then only zeros) would decode to the grid of another
    # stream: lc1 section 4.1 makes the decoder reject it, so accepted streams stay canonical
    for shape, nonzero_last in [((1, 1), False), ((9, 10), False), ((9, 10), True)]:
        grids = [np.zeros(shape, np.int32)]
        if nonzero_last:
            grids[0][-1, -1] = 3  # block row 1 is fine, block row 0 is not
        h, w = shape
        enc = _RefEncoder()
        flags = {}
        for y in range(h):
            if y % 8 == 0:
                for s in range((w + 7) // 8):
                    flags[y // 8, s] = 1  # every block flagged
                    enc.bin(_block_contexts(flags, y // 8, s), 1)
            for x in range(w):
                enc.value(int(grids[0][y][x]), *_latent_variables(grids, [shape], 0, y, x))
        blob = enc.finish()
        with pytest.raises(FormatError, match="all-zero block"):
            decode_latents(blob, [shape])
        with pytest.raises(FormatError):
            ref_decode_latents(blob, [shape])


def test_truncation_at_every_length_is_rejected():
    grids = pyramid(6, 24, 24, levels=3)
    data = encode_latents(grids)
    shapes = [g.shape for g in grids]
    assert len(data) > 100
    for n in range(len(data)):
        with pytest.raises(FormatError):
            decode_latents(data[:n], shapes)
    w = np.round(np.random.default_rng(0).laplace(0, 30, 300)).astype(np.int32)
    wdata = encode_weights(w, [300])
    for n in range(len(wdata)):
        with pytest.raises(FormatError):
            decode_weights(wdata[:n], [300])


def test_truncated_stream_fails_early():
    # a stream cut short fails within a value of its end, not after decoding every declared value
    grids = pyramid(7, 512, 512, levels=1)
    data = encode_latents(grids)
    with pytest.raises(FormatError):
        decode_latents(data[: len(data) // 100], [(512, 512)])
    t = time.perf_counter()
    with pytest.raises(FormatError):
        decode_latents(data[:50], [(4096, 4096)])  # 16 M values declared, about 400 decoded
    assert time.perf_counter() - t < 0.5


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300), grids=grid_lists(max_grids=3))
def test_random_bytes(data, grids):
    shapes = [g.shape for g in grids]
    for blob in (data, b"\x00" + data):  # a leading zero gets past the first check
        try:
            out = decode_latents(blob, shapes)
        except FormatError:
            pass
        else:
            assert encode_latents(out) == blob  # accepted streams are canonical
        try:
            w = decode_weights(blob, [len(shapes) * 7])
        except FormatError:
            pass
        else:
            assert encode_weights(w, [w.size]) == blob


@settings(max_examples=100, deadline=None)
@given(grids=grid_lists(max_grids=4), where=st.integers(0, 10**6), flip=st.integers(1, 255))
def test_corrupted_stream(grids, where, flip):
    shapes = [g.shape for g in grids]
    data = bytearray(encode_latents(grids))
    data[where % len(data)] ^= flip
    try:
        out = decode_latents(bytes(data), shapes)
    except FormatError:
        return
    assert encode_latents(out) == bytes(data)


def test_bounded_time_on_garbage():
    rng = np.random.default_rng(0)
    shapes = [(64, 64), (128, 128), (256, 256), (512, 512), (1024, 1024)]
    for n in (5, 6, 50, 5000):
        blob = bytes([0]) + rng.integers(0, 256, n - 1, dtype=np.uint8).tobytes()
        t = time.perf_counter()
        with pytest.raises(FormatError):
            decode_latents(blob, shapes)
        with pytest.raises(FormatError):
            decode_weights(blob, [1 << 20])
        assert time.perf_counter() - t < 0.5
    t = time.perf_counter()  # zero bytes decode many zeros before running out; still linear
    with pytest.raises(FormatError):
        decode_latents(bytes(40), shapes)
    assert time.perf_counter() - t < 0.5


def test_decode_rejects_bad_starts_and_ends():
    for blob in (b"", b"\x00\x00\x00\x00", b"\x01\x00\x00\x00\x00", b"\x00\xff\xff\xff\xff", b"\x00\x00\x00\x00\x01"):
        with pytest.raises(FormatError):
            decode_latents(blob, [])
        with pytest.raises(FormatError):
            decode_weights(blob, [])


@pytest.mark.parametrize("value", [MAX_MAGNITUDE + 1, -MAX_MAGNITUDE - 1, 2**31 - 1, -(2**31), 2**32 + 5])
def test_out_of_range_values(value):
    g = np.zeros((3, 4), np.int64)
    g[2, 3] = value
    with pytest.raises(InputError):
        encode_latents([np.zeros((2, 2), np.int32), g])
    with pytest.raises(InputError):
        encode_weights(g.reshape(-1), [12])
    with pytest.raises(InputError):
        encode_latents([np.full((1, 1), 40000, np.uint16)])


@pytest.mark.parametrize("bad", [
    np.zeros(3, np.int32), np.zeros((1, 2, 3), np.int32), np.zeros((2, 2)), np.zeros((2, 2), bool), "ab", None,
])
def test_bad_grids(bad):
    with pytest.raises(InputError):
        encode_latents([np.zeros((2, 2), np.int32), bad])


@pytest.mark.parametrize("bad", [np.zeros((2, 2), np.int32), "abc", None, 5, {1: 2}])
def test_grids_must_be_a_list(bad):
    with pytest.raises(InputError):
        encode_latents(bad)


@pytest.mark.parametrize("shapes", [
    [(1, 2, 3)], [(2,)], [(-1, 2)], [(2.0, 2)], [(True, 1)], [5], "12", None, np.zeros((1, 2), int), [(1, 2**31)],
])
def test_bad_shapes(shapes):
    with pytest.raises(InputError):
        decode_latents(bytes(5), shapes)


@pytest.mark.parametrize("values,groups", [
    (np.zeros((2, 3), np.int32), [6]), (np.zeros(3), [3]), (np.zeros(3, bool), [3]), ("abc", [3]),
    (np.zeros(3, np.int32), [2]), (np.zeros(3, np.int32), [2, 2]), (np.zeros(3, np.int32), [4, -1]),
    (np.zeros(3, np.int32), [3.0]), (np.zeros(3, np.int32), [True, 2]), (np.zeros(3, np.int32), 3),
    (np.zeros(3, np.int32), None),
])
def test_bad_weights(values, groups):
    with pytest.raises(InputError):
        encode_weights(values, groups)


@pytest.mark.parametrize("groups", [[-1], [2.0], None, 3, "3", [True]])
def test_bad_groups_on_decode(groups):
    with pytest.raises(InputError):
        decode_weights(bytes(5), groups)


def test_shapes_too_large_to_allocate():
    # more values than numpy can index: a MemoryError, like any allocation that fails (callers check limits)
    with pytest.raises(MemoryError):
        decode_latents(bytes(5), [(2**31 - 1, 2**31 - 1)] * 3)


def test_bad_data_type():
    with pytest.raises(InputError):
        decode_latents("00000", [])
    with pytest.raises(InputError):
        decode_weights(None, [])


# ------------------------------------------------------------------------------------------- compression


def test_compression_on_a_correlated_pyramid():
    # 128x128, 5 levels (21.8 K values), spatially and parent-correlated: the contexts must beat both the
    # per-grid histogram entropy and the ideal per-grid Laplace code, which see each value independently.
    grids = pyramid(11, 128, 128, levels=5)
    coded = 8 * len(encode_latents(grids))
    entropy = sum(entropy_bits(g) for g in grids)
    laplace = sum(laplace_bits(g) for g in grids)
    assert entropy < laplace
    assert coded < 0.85 * entropy  # measured ratio ~0.78
    assert coded < 0.8 * laplace


def test_compression_without_correlation():
    # i.i.d. Laplacian grids: nothing for the contexts to find; adaptation costs a few per cent
    rng = np.random.default_rng(12)
    grids = [np.round(rng.laplace(0.0, 2.0 * 0.7**i, (2**i * 8, 2**i * 8))).astype(np.int32) for i in range(5)]
    coded = 8 * len(encode_latents(grids))
    assert coded < 1.06 * sum(entropy_bits(g) for g in grids) + 256
