"""The latent-grid range coder (saecodec.entropy, spec/rc1-entropy-coder.md).

Besides round trips and error handling, this file holds a second, plain-Python implementation of the coder
written from the spec alone (``ref_encode`` / ``ref_decode``); the Numba kernels must agree with it byte for
byte, and both must reproduce the spec's test vectors.

Decided behaviour on bad input: a truncated or extended stream is always a ``FormatError`` (the decoder
consumes exactly the encoder's bytes); corrupted or random bytes give a ``FormatError`` or, very rarely, a
grid of the requested shape whose encoding is exactly those bytes (accepted streams are canonical).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saecodec.entropy import MAX_MAGNITUDE, decode_grid, encode_grid
from saecodec.entropy.bench import laplacian_grid, zeroth_order_entropy_bits
from saecodec.errors import FormatError, InputError

# ------------------------------------------------------------------------ reference implementation (spec)


def _bitlen(x: int) -> int:
    return x.bit_length()


def _bucket(u: int) -> int:
    u = min(u, 63)
    return u if u < 4 else 2 * _bitlen(u) - 2 + ((u >> (_bitlen(u) - 2)) & 1)


def _neighbourhood_class(grid, p: int, b: int, u: int, units: int, w: int) -> int:
    s = wt = 0
    neighbours = []
    if b % w != 0:
        neighbours.append(b - 1)
    if b >= w:
        neighbours.append(b - w)
    for x in neighbours:
        for du, weight in ((-1, 1), (0, 2), (1, 1)):
            if 0 <= u + du < units:
                s += weight * abs(int(grid[p][x][u + du]))
                wt += weight
    for du in (1, 2):
        if u - du >= 0:
            s += 2 * abs(int(grid[p][b][u - du]))
            wt += 2
    return 0 if s == 0 else min(9, _bitlen((8 * s) // wt))


class _RefEncoder:
    def __init__(self) -> None:
        self.low, self.range, self.cache, self.cache_size = 0, 0xFFFFFFFF, 0, 1
        self.out = bytearray()
        self.probs: dict[tuple, int] = {}

    def _shift_low(self) -> None:
        if self.low < 0xFF000000 or self.low >= 2**32:
            carry = self.low >> 32
            self.out.append((self.cache + carry) & 0xFF)
            for _ in range(self.cache_size - 1):
                self.out.append((0xFF + carry) & 0xFF)
            self.cache = (self.low >> 24) & 0xFF
            self.cache_size = 0
        self.cache_size += 1
        self.low = (self.low & 0x00FFFFFF) << 8

    def bin(self, ctx, bit: int) -> None:
        prob = 1024 if ctx is None else self.probs.get(ctx, 1024)
        bound = (self.range >> 11) * prob
        if bit == 0:
            self.range = bound
            prob += (2048 - prob) >> 5
        else:
            self.low += bound
            self.range -= bound
            prob -= prob >> 5
        if ctx is not None:
            self.probs[ctx] = prob
        if self.range < 2**24:
            self.range <<= 8
            self._shift_low()

    def finish(self) -> bytes:
        for _ in range(5):
            self._shift_low()
        return bytes(self.out)


class _RefDecoder:
    def __init__(self, data: bytes) -> None:
        if len(data) < 5 or data[0] != 0:
            raise FormatError("bad start")
        self.data, self.pos, self.range = data, 5, 0xFFFFFFFF
        self.code = int.from_bytes(data[1:5], "big")
        if self.code == 0xFFFFFFFF:
            raise FormatError("bad initial code")
        self.probs: dict[tuple, int] = {}

    def bin(self, ctx) -> int:
        prob = 1024 if ctx is None else self.probs.get(ctx, 1024)
        bound = (self.range >> 11) * prob
        if self.code < bound:
            bit, self.range = 0, bound
            prob += (2048 - prob) >> 5
        else:
            bit = 1
            self.code -= bound
            self.range -= bound
            prob -= prob >> 5
        if ctx is not None:
            self.probs[ctx] = prob
        if self.range < 2**24:
            self.range <<= 8
            byte = self.data[self.pos] if self.pos < len(self.data) else 0
            self.pos += 1
            self.code = (self.code << 8) | byte
        return bit

    def finish(self) -> None:
        if self.pos > len(self.data):
            raise FormatError("truncated")
        if self.pos < len(self.data):
            raise FormatError("trailing bytes")
        if self.code != 0:
            raise FormatError("final code")


def _contexts(p: int, u: int, k: int):
    pc = 0 if p == 0 else 1
    return pc, min(u, 3), ("zero", pc, _bucket(u), min(k, 5)), ("sign", min(u, 63))


def ref_encode(grid: np.ndarray, w: int) -> bytes:
    planes, blocks, units = grid.shape
    enc = _RefEncoder()
    for p in range(planes):
        for b in range(blocks):
            for u in range(units):
                k = _neighbourhood_class(grid, p, b, u, units, w)
                pc, mu, zero_ctx, sign_ctx = _contexts(p, u, k)
                v = int(grid[p, b, u])
                m = abs(v)
                enc.bin(zero_ctx, 1 if m else 0)
                if m == 0:
                    continue
                enc.bin(sign_ctx, 1 if v < 0 else 0)
                n = _bitlen(m) - 1
                for j in range(min(n, 13) + 1):
                    enc.bin(("prefix", pc, mu, k, j), 1 if j < n else 0)
                for t in range(n):
                    enc.bin(("suffix", pc, mu, n, t) if t < 2 else None, (m >> (n - 1 - t)) & 1)
    return enc.finish()


def ref_decode(data: bytes, shape: tuple[int, int, int], w: int) -> np.ndarray:
    planes, blocks, units = shape
    grid = np.zeros(shape, dtype=np.int32)
    dec = _RefDecoder(data)
    for p in range(planes):
        for b in range(blocks):
            for u in range(units):
                k = _neighbourhood_class(grid, p, b, u, units, w)
                pc, mu, zero_ctx, sign_ctx = _contexts(p, u, k)
                if dec.bin(zero_ctx) == 0:
                    continue
                negative = dec.bin(sign_ctx)
                n = 0
                while n < 14 and dec.bin(("prefix", pc, mu, k, n)) == 1:
                    n += 1
                m = 1
                for t in range(n):
                    m = 2 * m + dec.bin(("suffix", pc, mu, n, t) if t < 2 else None)
                grid[p, b, u] = -m if negative else m
    dec.finish()
    return grid


# ------------------------------------------------------------------------------------------ test vectors

_V4_ROWS = [
    [0, -32767, 0, -5, -5], [0, 17, 0, -300, 0], [40, 0, 0, -1, 1],
    [-300, 7, -1, 32767, 7], [0, -32767, 0, -5, -5], [0, 17, 0, -300, 0],
    [40, 0, 0, -1, 1], [-300, 7, -1, 32767, 7], [0, -32767, 0, -5, -5],
    [0, 17, 0, -300, 0], [40, 0, 0, -1, 1], [-300, 7, -1, 32767, 7],
]
VECTORS = [
    (np.zeros((0, 4, 3), np.int32), 2, "0000000000"),
    (np.zeros((2, 0, 3), np.int32), 5, "0000000000"),
    (np.zeros((1, 1, 1), np.int32), 1, "0000000000"),
    (np.zeros((2, 4, 3), np.int32), 2, "00000000000000"),
    (np.array(_V4_ROWS, np.int32).reshape(2, 6, 5), 3,
     "007ffffbfef3e58b44f4767cfb18a7a8b45a7383cc5f897e74fabd2030c6cf96"
     "e3b1c725cf92356637efc7df77ff88e50c0cb19d6b698cca5f8701eb1045aeb3"
     "3b02"),
]


@pytest.mark.parametrize("grid,w,hexbytes", VECTORS)
def test_spec_vectors(grid, w, hexbytes):
    expected = bytes.fromhex(hexbytes)
    assert encode_grid(grid, w) == expected
    assert ref_encode(grid, w) == expected
    assert np.array_equal(decode_grid(expected, grid.shape, w), grid)
    assert np.array_equal(ref_decode(expected, grid.shape, w), grid)


def test_vector_truncations_and_extensions_are_rejected():
    grid, w, hexbytes = VECTORS[-1]
    data = bytes.fromhex(hexbytes)
    for n in range(len(data)):
        with pytest.raises(FormatError):
            decode_grid(data[:n], grid.shape, w)
        with pytest.raises(FormatError):
            ref_decode(data[:n], grid.shape, w)
    for extra in (b"\x00", b"\xff", b"\x00\x00\x00\x00\x00"):
        with pytest.raises(FormatError):
            decode_grid(data + extra, grid.shape, w)


# ------------------------------------------------------------------------------------------- strategies


@st.composite
def grids(draw, max_planes=3, max_rows=5, max_wide=6, max_units=70):
    """(grid, blocks_wide) with every dimension >= 1 (empty grids have their own test)."""
    planes = draw(st.integers(1, max_planes))
    rows = draw(st.integers(1, max_rows))
    wide = draw(st.integers(1, max_wide))
    units = draw(st.integers(1, max_units))
    shape = (planes, rows * wide, units)
    kind = draw(st.sampled_from(["small", "laplace", "extreme", "mixed", "zero"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "small":
        grid = rng.integers(-3, 4, shape)
    elif kind == "laplace":
        scale = draw(st.sampled_from([0.3, 2.0, 30.0, 3000.0])) * np.exp(-np.arange(units) / 8.0)
        grid = np.round(rng.laplace(0.0, 1.0, shape) * scale)
    elif kind == "extreme":
        grid = rng.choice(np.array([-MAX_MAGNITUDE, MAX_MAGNITUDE, 0, -1, 1, 16384, -16384]), shape)
    elif kind == "mixed":
        grid = rng.integers(-MAX_MAGNITUDE, MAX_MAGNITUDE + 1, shape) >> rng.integers(0, 16, shape)
    else:
        grid = np.zeros(shape)
    return np.clip(grid, -MAX_MAGNITUDE, MAX_MAGNITUDE).astype(np.int32), wide


# ---------------------------------------------------------------------------------------------- round trip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gw=grids())
def test_round_trip(gw):
    grid, w = gw
    data = encode_grid(grid, w)
    out = decode_grid(data, grid.shape, w)
    assert out.dtype == np.int32 and out.shape == grid.shape
    assert np.array_equal(out, grid)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gw=grids(max_planes=3, max_rows=4, max_wide=5, max_units=70))
def test_matches_reference_implementation(gw):
    grid, w = gw
    data = encode_grid(grid, w)
    assert ref_encode(grid, w) == data
    assert np.array_equal(ref_decode(data, grid.shape, w), grid)


def test_matches_reference_implementation_on_a_realistic_grid():
    grid = np.concatenate([laplacian_grid(21, 1, 6, 8), laplacian_grid(22, 2, 6, 8, scale0=300.0)])
    data = encode_grid(grid, 8)
    assert len(data) > 2000
    assert ref_encode(grid, 8) == data
    assert np.array_equal(ref_decode(data, grid.shape, 8), grid)


@pytest.mark.parametrize("shape,w", [((0, 0, 0), 1), ((3, 0, 64), 7), ((1, 12, 0), 4), ((0, 12, 64), 3)])
def test_empty_grids(shape, w):
    data = encode_grid(np.zeros(shape, np.int32), w)
    assert data == bytes(5)
    out = decode_grid(data, shape, w)
    assert out.shape == shape and out.dtype == np.int32


def test_all_zero_and_extreme_grids():
    zero = np.zeros((3, 64 * 64, 64), np.int32)
    data = encode_grid(zero, 64)
    assert len(data) < zero.size // 300  # ~0.022 bits a value at the probability floor
    assert np.array_equal(decode_grid(data, zero.shape, 64), zero)
    rng = np.random.default_rng(5)
    extreme = rng.choice(np.array([-MAX_MAGNITUDE, MAX_MAGNITUDE], np.int32), (2, 30, 17))
    data = encode_grid(extreme, 6)
    assert np.array_equal(decode_grid(data, extreme.shape, 6), extreme)
    full = np.full((1, 4, 3), MAX_MAGNITUDE, np.int32)
    assert np.array_equal(decode_grid(encode_grid(full, 2), full.shape, 2), full)
    assert np.array_equal(decode_grid(encode_grid(-full, 2), full.shape, 2), -full)


def test_deterministic_and_dtype_independent():
    grid = laplacian_grid(3, 2, 8, 8, units=16)
    a = encode_grid(grid, 8)
    assert encode_grid(grid.copy(), 8) == a
    assert encode_grid(grid.astype(np.int16), 8) == a
    assert encode_grid(grid.astype(np.int64), 8) == a
    assert encode_grid(np.asfortranarray(grid), 8) == a
    assert encode_grid(grid.tolist(), 8) == a
    assert np.array_equal(decode_grid(bytearray(a), grid.shape, 8), grid)
    assert np.array_equal(decode_grid(memoryview(a), grid.shape, 8), grid)
    assert np.array_equal(decode_grid(a, list(grid.shape), np.int64(8)), grid)


def test_blocks_wide_matters():
    grid = laplacian_grid(4, 1, 6, 4, units=8)
    a, b = encode_grid(grid, 4), encode_grid(grid, 6)
    assert a != b
    assert np.array_equal(decode_grid(a, grid.shape, 4), grid)
    assert np.array_equal(decode_grid(b, grid.shape, 6), grid)


# --------------------------------------------------------------------------------------------- bad input


def test_truncation_at_every_length_is_rejected():
    grid = laplacian_grid(7, 2, 6, 6, units=24)
    data = encode_grid(grid, 6)
    assert len(data) > 300
    for n in range(len(data)):
        with pytest.raises(FormatError):
            decode_grid(data[:n], grid.shape, 6)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=400), gw=grids(max_planes=2, max_rows=4, max_wide=5, max_units=40))
def test_random_bytes(data, gw):
    shape, w = gw[0].shape, gw[1]
    for blob in (data, b"\x00" + data):  # a leading zero gets past the first check
        try:
            out = decode_grid(blob, shape, w)
        except FormatError:
            continue
        assert out.shape == shape and out.dtype == np.int32
        assert encode_grid(out, w) == blob  # accepted streams are canonical


@settings(max_examples=100, deadline=None)
@given(gw=grids(max_planes=2, max_rows=4, max_wide=5, max_units=40), where=st.integers(0, 10**6),
       flip=st.integers(1, 255))
def test_corrupted_stream(gw, where, flip):
    grid, w = gw
    data = bytearray(encode_grid(grid, w))
    data[where % len(data)] ^= flip
    try:
        out = decode_grid(bytes(data), grid.shape, w)
    except FormatError:
        return
    assert encode_grid(out, w) == bytes(data)


def test_bounded_time_on_garbage_with_huge_shape():
    rng = np.random.default_rng(0)
    shape = (3, 4096, 64)
    for n in (5, 6, 50, 5000):
        blob = bytes([0]) + rng.integers(0, 256, n - 1, dtype=np.uint8).tobytes()
        t = time.perf_counter()
        with pytest.raises(FormatError):
            decode_grid(blob, shape, 64)
        assert time.perf_counter() - t < 0.5
    # all-zero bytes decode a long way before running out (zero flags at high probability), still linear
    t = time.perf_counter()
    with pytest.raises(FormatError):
        decode_grid(bytes(40), shape, 64)
    assert time.perf_counter() - t < 0.5


def test_decode_rejects_nonzero_first_byte_and_bad_initial_code():
    with pytest.raises(FormatError):
        decode_grid(b"\x01\x00\x00\x00\x00", (1, 1, 1), 1)
    with pytest.raises(FormatError):
        decode_grid(b"\x00\xff\xff\xff\xff", (0, 0, 0), 1)
    with pytest.raises(FormatError):
        decode_grid(b"\x00\x00\x00\x00\x01", (0, 0, 0), 1)  # final code not zero
    with pytest.raises(FormatError):
        decode_grid(b"", (0, 0, 0), 1)


@pytest.mark.parametrize("value", [MAX_MAGNITUDE + 1, -MAX_MAGNITUDE - 1, 2**31 - 1, -(2**31)])
def test_out_of_range_values(value):
    grid = np.zeros((1, 4, 4), np.int64)
    grid[0, 2, 3] = value
    with pytest.raises(InputError):
        encode_grid(grid, 2)


def test_out_of_range_values_that_would_wrap_in_int32():
    grid = np.zeros((1, 2, 2), np.int64)
    grid[0, 1, 1] = 2**32 + 5
    with pytest.raises(InputError):
        encode_grid(grid, 1)
    with pytest.raises(InputError):
        encode_grid(np.full((1, 1, 1), 40000, np.uint16), 1)


@pytest.mark.parametrize("bad", [
    np.zeros((2, 3), np.int32), np.zeros((1, 2, 3, 4), np.int32), np.zeros((1, 2, 2)),
    np.zeros((1, 2, 2), bool), "abc",
])
def test_bad_symbol_arrays(bad):
    with pytest.raises(InputError):
        encode_grid(bad, 1)


@pytest.mark.parametrize("w", [0, -1, 4, 1.0, True, None, "2"])
def test_bad_blocks_wide(w):
    grid = np.zeros((1, 6, 2), np.int32)
    with pytest.raises(InputError):
        encode_grid(grid, w)
    with pytest.raises(InputError):
        decode_grid(bytes(5), grid.shape, w)


@pytest.mark.parametrize("shape", [(1, 2), (1, 2, 3, 4), (1, -2, 3), (1, 2.0, 3), (True, 1, 1), "123", None])
def test_bad_shapes(shape):
    with pytest.raises(InputError):
        decode_grid(bytes(5), shape, 1)


def test_bad_data_type():
    with pytest.raises(InputError):
        decode_grid("00000", (0, 0, 0), 1)


# ------------------------------------------------------------------------------------------- compression


def test_compression_against_zeroth_order_entropy():
    # 256x256 at 4:2:0: a 32x32-block luma plane and two 16x16-block chroma planes, 64 units a block,
    # spatially correlated activity: context modelling must beat the per-unit histogram entropy.
    luma = laplacian_grid(11, 1, 32, 32)
    chroma = laplacian_grid(12, 2, 16, 16)
    coded = 8 * (len(encode_grid(luma, 32)) + len(encode_grid(chroma, 16)))
    entropy = zeroth_order_entropy_bits(luma) + zeroth_order_entropy_bits(chroma)
    assert coded <= 1.02 * entropy + 256
    assert coded <= entropy  # measured ratio ~0.98 at this size (0.97 at 512x512)


def test_compression_without_spatial_correlation():
    # i.i.d. blocks: nothing for the contexts to find, the shift-5 adaptation costs a few per cent
    grid = laplacian_grid(13, 1, 32, 32, sigma=0.0)
    coded = 8 * len(encode_grid(grid, 32))
    assert coded <= 1.07 * zeroth_order_entropy_bits(grid) + 256
