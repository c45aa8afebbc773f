"""Adaptive binary range coder for quantised latent grids (spec/rc1-entropy-coder.md).

The arithmetic is the LZMA range coder's (Igor Pavlov, LZMA SDK ``LzmaEnc.c``/``LzmaDec.c``): 32-bit range,
11-bit probabilities of a 0 bit, shift-5 update, carry propagation through ``cache``/``cache_size``, a 5-byte
flush. Everything is integer arithmetic on values below 2**34 held in int64, so the bytes are the same on every
machine. The binarisation and the context indices are in the spec; the constants and formulas here are the
normative ones and must not change without a new format version.

Kernels are ``@numba.njit(cache=True, nogil=True)`` without fastmath. The public wrappers validate the
arguments (``InputError``) and map the decoder's status codes to ``FormatError``.
"""

from __future__ import annotations

import numba
import numpy as np

from ..errors import FormatError, InputError

__all__ = ["MAX_MAGNITUDE", "encode_grid", "decode_grid", "RowDecoder"]

MAX_MAGNITUDE = 2**15 - 1

# Range coder (LZMA).
_PROB_BITS = 11
_PROB_ONE = 1 << _PROB_BITS  # 2048
_PROB_INIT = _PROB_ONE // 2  # 1024: every context starts at probability 1/2
_MOVE_BITS = 5
_TOP = 1 << 24
_RANGE_INIT = 0xFFFFFFFF

# Binarisation and contexts.
_MAX_PREFIX = 14  # m <= 2**15 - 1 has at most 15 binary digits: n = bitlen(m) - 1 <= 14
_ADAPTIVE_SUFFIX_BITS = 2  # the first 2 suffix bits below the leading 1 are context-coded, the rest fixed 1/2
_ZERO_CLASSES = 6  # neighbourhood classes for the zero flag: min(k, 5)
_MAG_CLASSES = 10  # neighbourhood classes for the prefix: min(k, 9)
_UNIT_BUCKETS = 12  # unit buckets for the zero flag (_unit_bucket)
_MAG_UNITS = 4  # unit buckets for prefix and suffix: min(u, 3)
_SIGN_UNITS = 64  # sign context: min(u, 63)

# Context table layout (not normative; the spec's context tuples are): one array, these offsets.
_OFF_ZERO = 0
_N_ZERO = 2 * _UNIT_BUCKETS * _ZERO_CLASSES  # 144
_OFF_SIGN = _OFF_ZERO + _N_ZERO
_N_SIGN = _SIGN_UNITS  # 64
_OFF_PREFIX = _OFF_SIGN + _N_SIGN
_N_PREFIX = 2 * _MAG_UNITS * _MAG_CLASSES * _MAX_PREFIX  # 1120
_OFF_SUFFIX = _OFF_PREFIX + _N_PREFIX
_N_SUFFIX = 2 * _MAG_UNITS * _MAX_PREFIX * _ADAPTIVE_SUFFIX_BITS  # 224
_N_CONTEXTS = _OFF_SUFFIX + _N_SUFFIX  # 1552

# Decoder status codes.
_OK = 0
_ERR_SHORT = 1
_ERR_FIRST_BYTE = 2
_ERR_INIT_CODE = 3
_ERR_PAST_END = 4
_ERR_TRAILING = 5
_ERR_FINAL_CODE = 6

_MESSAGES = {
    _ERR_SHORT: "entropy-coded data shorter than the 5-byte minimum",
    _ERR_FIRST_BYTE: "entropy-coded data does not start with a zero byte",
    _ERR_INIT_CODE: "entropy-coded data has an impossible initial code value",
    _ERR_PAST_END: "entropy-coded data is truncated (the decoder needs bytes past its end)",
    _ERR_TRAILING: "entropy-coded data has trailing bytes after the coder's flush",
    _ERR_FINAL_CODE: "entropy-coded data does not end with the coder's flush (corrupt)",
}


# ---------------------------------------------------------------------------------------------- contexts


# Kernel structure: Numba increments and decrements an array's reference count (two atomic operations) at
# every call that passes an array, even an inlined one. So the per-bin and per-coefficient helpers take and
# return scalars only; arrays are touched in the kernels themselves or in per-block / per-byte helpers.


@numba.njit(cache=True, nogil=True, inline="always")
def _bitlen(x: int) -> int:
    """Number of binary digits of x >= 0 (0 for 0)."""
    n = 0
    while x > 0:
        n += 1
        x >>= 1
    return n


@numba.njit(cache=True, nogil=True, inline="always")
def _unit_bucket(u: int) -> int:
    """0..3 for u = 0..3, then half octaves: 4-5, 6-7, 8-11, 12-15, 16-23, 24-31, 32-47, 48-63 -> 4..11."""
    if u > 63:
        u = 63
    if u < 4:
        return u
    n = _bitlen(u)  # 3..6
    return 2 * n - 2 + ((u >> (n - 2)) & 1)


@numba.njit(cache=True, nogil=True)
def _unit_tables(units: int):
    """Per unit index: zero-flag unit bucket, sign context, magnitude unit bucket."""
    zb = np.empty(units, dtype=np.int64)
    sb = np.empty(units, dtype=np.int64)
    mb = np.empty(units, dtype=np.int64)
    for u in range(units):
        zb[u] = _unit_bucket(u)
        sb[u] = u if u < _SIGN_UNITS else _SIGN_UNITS - 1
        mb[u] = u if u < _MAG_UNITS else _MAG_UNITS - 1
    return zb, sb, mb


@numba.njit(cache=True, nogil=True)
def _block_template(grid, p, b, blocks_wide, ns, nw) -> None:
    """The neighbour-block part of the template for every unit of block b: weighted sum and weight.

    Units u-1, u, u+1 (weights 1, 2, 1; those that exist) of the left block (if b is not in the first
    column) and of the above block (if b is not in the first row).
    """
    units = grid.shape[2]
    has_left = (b % blocks_wide) != 0
    has_above = b >= blocks_wide
    for u in range(units):
        s = 0
        w = 0
        for nb in range(2):
            if nb == 0:
                if not has_left:
                    continue
                x = b - 1
            else:
                if not has_above:
                    continue
                x = b - blocks_wide
            s += 2 * abs(np.int64(grid[p, x, u]))
            w += 2
            if u >= 1:
                s += abs(np.int64(grid[p, x, u - 1]))
                w += 1
            if u + 1 < units:
                s += abs(np.int64(grid[p, x, u + 1]))
                w += 1
        ns[u] = s
        nw[u] = w


@numba.njit(cache=True, nogil=True, inline="always")
def _class(s: int, w: int) -> int:
    """min(9, bitlen(floor(8 * s / w))), 0 when s = 0; floor(8s/w) >= 2**j exactly when 8s >= w * 2**j."""
    k = 0
    if s == 0:
        return k
    s8 = 8 * s
    while k < _MAG_CLASSES - 1 and s8 >= w:
        k += 1
        w <<= 1
    return k


@numba.njit(cache=True, nogil=True, inline="always")
def _unit_class(s: int, w: int, u: int, m1: int, m2: int) -> int:
    """Neighbourhood class of unit u: the left/above template sums plus units u-1 and u-2 of this block,
    each of those weighted 2; encoder and decoder must compute it identically, so it lives here once."""
    if u >= 1:
        s += 2 * m1
        w += 2
    if u >= 2:
        s += 2 * m2
        w += 2
    return _class(s, w)


# ----------------------------------------------------------------------------------------------- encoder


@numba.njit(cache=True, nogil=True)
def _shift_low(out, pos, low, cache, csize):
    """LZMA RangeEnc_ShiftLow: emit the pending byte and 0xFF run once the carry is known."""
    if low < 0xFF000000 or low >= 0x100000000:
        carry = low >> 32
        temp = cache
        while True:
            out[pos] = (temp + carry) & 0xFF
            pos += 1
            temp = 0xFF
            csize -= 1
            if csize == 0:
                break
        cache = (low >> 24) & 0xFF
    csize += 1
    low = (low & 0x00FFFFFF) << 8
    return pos, low, cache, csize


@numba.njit(cache=True, nogil=True, inline="always")
def _enc_bin(p, bit, low, rng):
    """Code one bit with probability p/2048 of a 0; return the updated (p, low, range) before normalising."""
    bound = (rng >> _PROB_BITS) * p
    if bit == 0:
        return p + ((_PROB_ONE - p) >> _MOVE_BITS), low, bound
    return p - (p >> _MOVE_BITS), low + bound, rng - bound


@numba.njit(cache=True, nogil=True, inline="always")
def _enc_fixed(bit, low, rng):
    """A bit with the fixed probability 1024/2048 of a 0, no update."""
    bound = (rng >> _PROB_BITS) * _PROB_INIT
    if bit == 0:
        return low, bound
    return low + bound, rng - bound


@numba.njit(cache=True, nogil=True)
def _encode_kernel(grid: np.ndarray, blocks_wide: int):
    planes, blocks, units = grid.shape
    probs = np.full(_N_CONTEXTS, _PROB_INIT, dtype=np.int64)
    zb, sb, mb = _unit_tables(units)
    ns = np.zeros(units, dtype=np.int64)
    nw = np.zeros(units, dtype=np.int64)
    cap = 1024 + (planes * blocks * units) // 2
    out = np.empty(cap, dtype=np.uint8)
    pos = np.int64(0)  # not 0: a literal 0 reaching _shift_low while types are inferred compiles it twice
    low = np.int64(0)
    rng = np.int64(_RANGE_INIT)
    cache = np.int64(0)
    csize = np.int64(1)
    for p in range(planes):
        pc = 0 if p == 0 else 1
        for b in range(blocks):
            # Every bin adds at most one byte to written + pending (pos + csize), and a coefficient has at
            # most 30 bins: keep room for a whole block.
            need = pos + csize + 32 * units + 16
            if need > cap:
                while cap < need:
                    cap *= 2
                # A copy loop, not ``grown[:pos] = out[:pos]``: the slice assignment's error message (int to
                # str formatting) alone took 2-3 s of compile time.
                grown = np.empty(cap, dtype=np.uint8)
                for i in range(pos):
                    grown[i] = out[i]
                out = grown
            _block_template(grid, p, b, blocks_wide, ns, nw)
            m1 = np.int64(0)  # |value| of unit u-1 and u-2 of this block
            m2 = np.int64(0)
            for u in range(units):
                k = _unit_class(ns[u], nw[u], u, m1, m2)
                v = np.int64(grid[p, b, u])
                m = v if v >= 0 else -v
                m2 = m1
                m1 = m
                # zero flag
                zc = k if k < _ZERO_CLASSES - 1 else _ZERO_CLASSES - 1
                ctx = _OFF_ZERO + (pc * _UNIT_BUCKETS + zb[u]) * _ZERO_CLASSES + zc
                probs[ctx], low, rng = _enc_bin(probs[ctx], 1 if m != 0 else 0, low, rng)
                if rng < _TOP:
                    rng <<= 8
                    pos, low, cache, csize = _shift_low(out, pos, low, cache, csize)
                if m == 0:
                    continue
                # sign
                ctx = _OFF_SIGN + sb[u]
                probs[ctx], low, rng = _enc_bin(probs[ctx], 1 if v < 0 else 0, low, rng)
                if rng < _TOP:
                    rng <<= 8
                    pos, low, cache, csize = _shift_low(out, pos, low, cache, csize)
                # prefix: n ones then a zero (no zero after the 14th one)
                mu = mb[u]
                mc = k if k < _MAG_CLASSES - 1 else _MAG_CLASSES - 1
                n = _bitlen(m) - 1
                base = _OFF_PREFIX + ((pc * _MAG_UNITS + mu) * _MAG_CLASSES + mc) * _MAX_PREFIX
                for j in range(n + 1):
                    if j == _MAX_PREFIX:
                        break
                    ctx = base + j
                    probs[ctx], low, rng = _enc_bin(probs[ctx], 1 if j < n else 0, low, rng)
                    if rng < _TOP:
                        rng <<= 8
                        pos, low, cache, csize = _shift_low(out, pos, low, cache, csize)
                # suffix: the n bits below the leading 1, most significant first
                if n > 0:
                    sbase = _OFF_SUFFIX + ((pc * _MAG_UNITS + mu) * _MAX_PREFIX + (n - 1)) * _ADAPTIVE_SUFFIX_BITS
                    for t in range(n):
                        bit = (m >> (n - 1 - t)) & 1
                        if t < _ADAPTIVE_SUFFIX_BITS:
                            ctx = sbase + t
                            probs[ctx], low, rng = _enc_bin(probs[ctx], bit, low, rng)
                        else:
                            low, rng = _enc_fixed(bit, low, rng)
                        if rng < _TOP:
                            rng <<= 8
                            pos, low, cache, csize = _shift_low(out, pos, low, cache, csize)
    if pos + csize + 8 > cap:
        grown = np.empty(pos + csize + 8, dtype=np.uint8)
        for i in range(pos):
            grown[i] = out[i]
        out = grown
    for _ in range(5):
        pos, low, cache, csize = _shift_low(out, pos, low, cache, csize)
    return out[:pos]


# ----------------------------------------------------------------------------------------------- decoder


@numba.njit(cache=True, nogil=True, inline="always")
def _dec_bin(p, rng, code):
    """Decode one bit with probability p/2048 of a 0; return (bit, p, range, code) before normalising."""
    bound = (rng >> _PROB_BITS) * p
    if code < bound:
        return 0, p + ((_PROB_ONE - p) >> _MOVE_BITS), bound, code
    return 1, p - (p >> _MOVE_BITS), rng - bound, code - bound


@numba.njit(cache=True, nogil=True, inline="always")
def _dec_fixed(rng, code):
    bound = (rng >> _PROB_BITS) * _PROB_INIT
    if code < bound:
        return 0, bound, code
    return 1, rng - bound, code - bound


@numba.njit(cache=True, nogil=True)
def _decode_start(data: np.ndarray, state: np.ndarray) -> int:
    """Check the stream's first five bytes and set ``state`` = (range, code, pos); return a status code."""
    size = data.shape[0]
    if size < 5:
        return _ERR_SHORT
    if data[0] != 0:
        return _ERR_FIRST_BYTE
    code = np.int64(0)
    for i in range(1, 5):
        code = (code << 8) | np.int64(data[i])
    if code >= _RANGE_INIT:
        return _ERR_INIT_CODE
    state[0] = _RANGE_INIT
    state[1] = code
    state[2] = 5
    return _OK


@numba.njit(cache=True, nogil=True)
def _decode_blocks(data: np.ndarray, state: np.ndarray, probs: np.ndarray, grid: np.ndarray, p: int,
                   first: int, last: int, blocks_wide: int) -> int:
    """Decode blocks ``first .. last-1`` of plane p into grid (zero there), resuming from ``state``/``probs``.

    The coder's state is (range, code, pos) and the probabilities, nothing else, so a stream can be decoded a
    few block rows at a time: the caller keeps the block row above ``first`` in ``grid`` for the contexts.
    A read past the end of data takes the byte as 0 and is reported after the value that needed it (at most
    a few bins later), so a truncated or garbage stream fails within a value of its end, and the work is
    bounded by the grid size whatever the bytes are.
    The four-line normalisation after each bit is written out on purpose (here and in the encoder): as a
    helper returning (range, code, pos), even inlined, decoding took 55 ms instead of 35 ms (1024x1024 RGB).
    """
    units = grid.shape[2]
    size = data.shape[0]
    rng = state[0]
    code = state[1]
    pos = state[2]
    zb, sb, mb = _unit_tables(units)
    ns = np.zeros(units, dtype=np.int64)
    nw = np.zeros(units, dtype=np.int64)
    pc = 0 if p == 0 else 1
    status = _OK
    for b in range(first, last):
        _block_template(grid, p, b, blocks_wide, ns, nw)
        m1 = np.int64(0)
        m2 = np.int64(0)
        for u in range(units):
            k = _unit_class(ns[u], nw[u], u, m1, m2)
            m2 = m1
            m1 = 0
            # zero flag
            zc = k if k < _ZERO_CLASSES - 1 else _ZERO_CLASSES - 1
            ctx = _OFF_ZERO + (pc * _UNIT_BUCKETS + zb[u]) * _ZERO_CLASSES + zc
            nz, probs[ctx], rng, code = _dec_bin(probs[ctx], rng, code)
            if rng < _TOP:
                rng <<= 8
                code = (code << 8) | (np.int64(data[pos]) if pos < size else 0)
                pos += 1
            if nz == 0:
                if pos > size:
                    status = _ERR_PAST_END
                    break
                continue
            # sign
            ctx = _OFF_SIGN + sb[u]
            neg, probs[ctx], rng, code = _dec_bin(probs[ctx], rng, code)
            if rng < _TOP:
                rng <<= 8
                code = (code << 8) | (np.int64(data[pos]) if pos < size else 0)
                pos += 1
            # prefix
            mu = mb[u]
            mc = k if k < _MAG_CLASSES - 1 else _MAG_CLASSES - 1
            base = _OFF_PREFIX + ((pc * _MAG_UNITS + mu) * _MAG_CLASSES + mc) * _MAX_PREFIX
            n = 0
            while n < _MAX_PREFIX:
                ctx = base + n
                bit, probs[ctx], rng, code = _dec_bin(probs[ctx], rng, code)
                if rng < _TOP:
                    rng <<= 8
                    code = (code << 8) | (np.int64(data[pos]) if pos < size else 0)
                    pos += 1
                if bit == 0:
                    break
                n += 1
            # suffix
            m = np.int64(1)
            if n > 0:
                sbase = _OFF_SUFFIX + ((pc * _MAG_UNITS + mu) * _MAX_PREFIX + (n - 1)) * _ADAPTIVE_SUFFIX_BITS
                for t in range(n):
                    if t < _ADAPTIVE_SUFFIX_BITS:
                        ctx = sbase + t
                        bit, probs[ctx], rng, code = _dec_bin(probs[ctx], rng, code)
                    else:
                        bit, rng, code = _dec_fixed(rng, code)
                    if rng < _TOP:
                        rng <<= 8
                        code = (code << 8) | (np.int64(data[pos]) if pos < size else 0)
                        pos += 1
                    m = (m << 1) | bit
            m1 = m
            grid[p, b, u] = -m if neg else m
            if pos > size:
                status = _ERR_PAST_END
                break
        if status != _OK:
            break
    state[0] = rng
    state[1] = code
    state[2] = pos
    return status


@numba.njit(cache=True, nogil=True)
def _decode_end(data: np.ndarray, state: np.ndarray) -> int:
    """The checks after the last value (rc1 spec section 3.2): in this order, truncation, trailing bytes, flush."""
    size = data.shape[0]
    if state[2] > size:
        return _ERR_PAST_END
    if state[2] < size:
        return _ERR_TRAILING
    if state[1] != 0:
        return _ERR_FINAL_CODE
    return _OK


@numba.njit(cache=True, nogil=True)
def _decode_kernel(data: np.ndarray, grid: np.ndarray, blocks_wide: int) -> int:
    """Fill grid (zeroed, shape (planes, blocks, units)); return a status code (0 = success)."""
    planes, blocks, _ = grid.shape
    state = np.zeros(3, dtype=np.int64)
    status = _decode_start(data, state)
    if status != _OK:
        return status
    probs = np.full(_N_CONTEXTS, _PROB_INIT, dtype=np.int64)
    first = np.int64(0)  # not a literal 0: that would compile a second _decode_blocks beside RowDecoder's
    for p in range(planes):
        status = _decode_blocks(data, state, probs, grid, p, first, blocks, blocks_wide)
        if status != _OK:
            return status
    return _decode_end(data, state)


# ------------------------------------------------------------------------------------------- public API


def _check_blocks_wide(blocks: int, blocks_wide: object) -> int:
    if isinstance(blocks_wide, bool) or not isinstance(blocks_wide, (int, np.integer)):
        raise InputError(f"blocks_wide must be an int, got {type(blocks_wide).__name__}")
    bw = int(blocks_wide)
    if bw < 1:
        raise InputError(f"blocks_wide must be >= 1, got {bw}")
    if blocks % bw != 0:
        raise InputError(f"{blocks} blocks per plane is not a multiple of blocks_wide={bw}")
    return bw


def encode_grid(symbols: np.ndarray, blocks_wide: int) -> bytes:
    """Entropy-code a (planes, blocks, units) grid of signed integers with |value| <= 2**15 - 1.

    ``blocks_wide`` is the number of blocks per row of a plane (blocks = blocks_high * blocks_wide); it
    defines the "above" neighbour. The result always decodes with ``decode_grid(data, symbols.shape,
    blocks_wide)``. Raises ``InputError`` for a non-integer or non-3-D array, a value out of range or a bad
    ``blocks_wide``.
    """
    arr = np.asarray(symbols)
    if arr.dtype.kind not in "iu":
        raise InputError(f"symbols must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != 3:
        raise InputError(f"symbols must have shape (planes, blocks, units), got {arr.shape}")
    bw = _check_blocks_wide(arr.shape[1], blocks_wide)
    if arr.size and (int(arr.max()) > MAX_MAGNITUDE or int(arr.min()) < -MAX_MAGNITUDE):
        raise InputError(f"symbols must lie in [-{MAX_MAGNITUDE}, {MAX_MAGNITUDE}]")
    grid = np.ascontiguousarray(arr, dtype=np.int32)
    if not grid.flags.writeable:  # one compiled specialisation: writeable C-contiguous int32
        grid = grid.copy()
    return _encode_kernel(grid, bw).tobytes()


def decode_grid(data: bytes, shape: tuple[int, int, int], blocks_wide: int) -> np.ndarray:
    """Decode ``encode_grid`` output to an int32 array of ``shape`` = (planes, blocks, units).

    Accepts exactly the byte strings ``encode_grid`` produces (the spec's "accepted streams"): a truncated or
    extended stream always raises ``FormatError``; corrupted or random bytes raise ``FormatError`` except with
    probability about 2**-40, when they decode to the grid whose encoding they are. Allocates the output grid,
    a copy of ``data`` unless it is ``bytes``, 12 KiB of probabilities and 40 bytes per unit, nothing that
    depends on the contents; runs in time linear in the grid size. Raises ``InputError`` for a bad ``shape``
    or ``blocks_wide``.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError(f"data must be bytes, got {type(data).__name__}")
    if not isinstance(shape, (tuple, list)) or len(shape) != 3:
        raise InputError(f"shape must be (planes, blocks, units), got {shape!r}")
    dims = []
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or int(d) < 0:
            raise InputError(f"shape must hold three non-negative ints, got {shape!r}")
        dims.append(int(d))
    bw = _check_blocks_wide(dims[1], blocks_wide)
    buf = np.frombuffer(bytes(data), dtype=np.uint8)  # always read-only: one compiled specialisation
    grid = np.zeros(tuple(dims), dtype=np.int32)
    status = _decode_kernel(buf, grid, bw)
    if status != _OK:
        raise FormatError(_MESSAGES[status])
    return grid


class RowDecoder:
    """One plane's rc1 stream decoded a few block rows at a time, for decoders that work in stripes.

    Same bytes, same values and same rejections as ``decode_grid(data, (1, blocks_high * blocks_wide, units),
    blocks_wide)``, but it holds only the block row above the rows being decoded (the contexts' "above"
    neighbours) and the rows asked for: memory does not grow with the plane's height. A stream that runs past
    its end fails (``FormatError``) within a value of its last byte, not after the whole grid.
    """

    def __init__(self, data: bytes, blocks_high: int, blocks_wide: int, max_rows: int, units: int = 64) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InputError(f"data must be bytes, got {type(data).__name__}")
        if min(blocks_high, blocks_wide, max_rows, units) < 1:
            raise InputError("blocks_high, blocks_wide, max_rows and units must be >= 1")
        self._data = np.frombuffer(bytes(data), dtype=np.uint8)
        self._bh, self._bw = int(blocks_high), int(blocks_wide)
        self._max_rows = int(max_rows)
        self._grid = np.zeros((1, (self._max_rows + 1) * self._bw, int(units)), dtype=np.int32)
        self._state = np.zeros(3, dtype=np.int64)
        self._probs = np.full(_N_CONTEXTS, _PROB_INIT, dtype=np.int64)
        self._row = 0  # block rows decoded so far
        self._last_end = 0  # end (in blocks) of the rows the last call returned
        self._check(_decode_start(self._data, self._state))

    @staticmethod
    def _check(status: int) -> None:
        if status != _OK:
            raise FormatError(_MESSAGES[status])

    @property
    def rows_done(self) -> int:
        return self._row

    def next_rows(self, count: int) -> np.ndarray:
        """The next ``count`` (<= max_rows) block rows as a (count * blocks_wide, units) int32 view, valid until
        the next call. After the plane's last row, the end-of-stream checks run (truncation, trailing bytes,
        flush)."""
        count = min(int(count), self._max_rows, self._bh - self._row)
        if count < 1:
            raise InputError("no block rows left to decode")
        bw, grid = self._bw, self._grid
        if self._row == 0:
            first = 0
        else:  # keep the last decoded row as the "above" row of the new ones
            grid[0, :bw] = grid[0, self._last_end - bw : self._last_end]
            first = bw
        end = first + count * bw
        grid[0, first:end] = 0
        self._check(_decode_blocks(self._data, self._state, self._probs, grid, 0, first, end, bw))
        self._last_end = end
        self._row += count
        if self._row == self._bh:
            self._check(_decode_end(self._data, self._state))
        return grid[0, first:end]
