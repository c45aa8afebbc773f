"""The overfit profile's entropy coder "lc1": latent grids and network weights (spec/lc1-latent-coder.md).

Same arithmetic as rc1 (the LZMA binary range coder, spec/rc1-entropy-coder.md section 3; the primitives are
imported from ``rangecoder``, never rewritten), same binarisation of a value (zero flag, sign, truncated
Exp-Golomb prefix with adaptive bins, two adaptive suffix bits), different contexts:

* latents: several 2-D grids in coding order (coarsest level first), one stream, one set of 243 probability
  variables shared by every grid. Each 8x8 block of a grid has a flag saying whether it holds a non-zero
  value; the values of the non-zero blocks are coded in raster order, with contexts from six causal
  neighbours in their own grid and from their "parent", the co-located value of the previous grid;
* weights: one 1-D sequence (the concatenated tensors), one stream, 44 variables, no neighbour context.

Everything is integer arithmetic, so the bytes are the same on every machine. Kernels are
``@numba.njit(cache=True, nogil=True)`` without fastmath, compiled for one signature each; the public wrappers
validate arguments (``InputError``) and map the decoders' status codes to ``FormatError``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from ..errors import FormatError, InputError
from .rangecoder import (
    _ERR_PAST_END,
    _MAX_PREFIX,
    _MESSAGES,
    _OK,
    _PROB_INIT,
    _RANGE_INIT,
    _TOP,
    MAX_MAGNITUDE,
    _bitlen,
    _dec_bin,
    _dec_fixed,
    _decode_end,
    _decode_start,
    _enc_bin,
    _enc_fixed,
    _shift_low,
)

__all__ = ["MAX_MAGNITUDE", "encode_latents", "decode_latents", "encode_weights", "decode_weights"]

_MAX_DIM = 2**31 - 1  # grid sides and lengths: keeps every index product below 2**62

# Binarisation (as rc1): prefix of at most 14 bins, the first 2 suffix bits adaptive.
_ADAPTIVE_SUFFIX = 2

# Latent contexts (spec section 4). A = 2|a| + 2|b| + |c| + |d| + |e| + |f|.
_BLOCK = 8  # zero-block flags: one per 8x8 block of a grid, coded at the start of its block row
_ZERO_ACT = 16  # zero flag: min(A, 15), times 2 for parent != 0
_MAG_CLASSES = 7  # prefix: min(bitlen(A), 6)
_L_BLOCK = 0  # 4 block-flag contexts (left block non-zero, above block non-zero)
_L_ZERO = _L_BLOCK + 4  # 4: 32 zero-flag contexts
_L_SIGN = _L_ZERO + 2 * _ZERO_ACT  # 36: 81 sign contexts (signs of a, b, parent, c + d)
_L_PREFIX = _L_SIGN + 81  # 117: 7 classes x 14 bins
_L_SUFFIX = _L_PREFIX + _MAG_CLASSES * _MAX_PREFIX  # 215: 14 prefix lengths x 2 bins
_L_CONTEXTS = _L_SUFFIX + _MAX_PREFIX * _ADAPTIVE_SUFFIX  # 243

# Weight contexts (spec section 6): one zero flag, one sign, 14 prefix bins, 14 x 2 suffix bins.
_W_ZERO = 0
_W_SIGN = 1
_W_PREFIX = 2
_W_SUFFIX = _W_PREFIX + _MAX_PREFIX  # 16
_W_CONTEXTS = _W_SUFFIX + _MAX_PREFIX * _ADAPTIVE_SUFFIX  # 44

_MAX_BINS = 30  # bins of one value: 1 + 1 + 14 + 14; each adds at most one byte to the output

# Decoder status codes: rc1's, and one of lc1's own.
_ERR_EMPTY_BLOCK = 100
_LC1_MESSAGES = dict(_MESSAGES)
_LC1_MESSAGES[_ERR_EMPTY_BLOCK] = "entropy-coded data flags an all-zero block as non-zero (corrupt)"


# ---------------------------------------------------------------------------------------------- contexts
# Numba increments and decrements an array's reference count at every call that passes one, even inlined
# (rangecoder.py): the helpers here take and return scalars; arrays are read in the kernels.


@numba.njit(cache=True, nogil=True, inline="always")
def _sgn3(v):
    """0, 1, 2 for v < 0, v == 0, v > 0."""
    if v < 0:
        return 0
    if v == 0:
        return 1
    return 2


@numba.njit(cache=True, nogil=True, inline="always")
def _latent_contexts(a, b, c, d, e, f, p):
    """(zero-flag context, sign context, prefix base) of a value from its neighbours a..f and parent p."""
    act = 2 * abs(a) + 2 * abs(b) + abs(c) + abs(d) + abs(e) + abs(f)
    zc = _L_ZERO + 2 * (act if act < _ZERO_ACT - 1 else _ZERO_ACT - 1) + (0 if p == 0 else 1)
    sc = _L_SIGN + 27 * _sgn3(a) + 9 * _sgn3(b) + 3 * _sgn3(p) + _sgn3(c + d)
    k = _bitlen(act)
    if k > _MAG_CLASSES - 1:
        k = _MAG_CLASSES - 1
    return zc, sc, _L_PREFIX + k * _MAX_PREFIX


@numba.njit(cache=True, nogil=True)
def _parent_columns(w, pw):
    """Parent column of every column x: floor(x * pw / w)."""
    out = np.empty(w, dtype=np.int64)
    for x in range(w):
        out[x] = (x * pw) // w
    return out


# ----------------------------------------------------------------------------------------------- encoder


@numba.njit(cache=True, nogil=True)
def _grow(out, pos, need):
    """``out`` with room for ``need`` bytes, the first ``pos`` kept (a copy loop: see rangecoder)."""
    cap = out.shape[0]
    if need <= cap:
        return out
    while cap < need:
        cap *= 2
    grown = np.empty(cap, dtype=np.uint8)
    for i in range(pos):
        grown[i] = out[i]
    return grown


@numba.njit(cache=True, nogil=True)
def _encode_value(out, probs, pos, low, rng, cache, csize, v, zc, sc, pbase, xbase):
    """All bins of value v (spec section 3): zero flag at probs[zc], sign at probs[sc], prefix bin j at
    probs[pbase + j], adaptive suffix bin t of prefix length n at probs[xbase + 2 * (n - 1) + t]."""
    m = v if v >= 0 else -v
    probs[zc], low, rng = _enc_bin(probs[zc], 1 if m != 0 else 0, low, rng)
    if rng < _TOP:
        rng <<= 8
        pos, low, cache, csize = _shift_low(out, pos, low, cache, csize)
    if m == 0:
        return pos, low, rng, cache, csize
    probs[sc], low, rng = _enc_bin(probs[sc], 1 if v < 0 else 0, low, rng)
    if rng < _TOP:
        rng <<= 8
        pos, low, cache, csize = _shift_low(out, pos, low, cache, csize)
    n = _bitlen(m) - 1
    for j in range(n + 1):
        if j == _MAX_PREFIX:
            break
        ctx = pbase + j
        probs[ctx], low, rng = _enc_bin(probs[ctx], 1 if j < n else 0, low, rng)
        if rng < _TOP:
            rng <<= 8
            pos, low, cache, csize = _shift_low(out, pos, low, cache, csize)
    for t in range(n):
        bit = (m >> (n - 1 - t)) & 1
        if t < _ADAPTIVE_SUFFIX:
            ctx = xbase + _ADAPTIVE_SUFFIX * (n - 1) + t
            probs[ctx], low, rng = _enc_bin(probs[ctx], bit, low, rng)
        else:
            low, rng = _enc_fixed(bit, low, rng)
        if rng < _TOP:
            rng <<= 8
            pos, low, cache, csize = _shift_low(out, pos, low, cache, csize)
    return pos, low, rng, cache, csize


@numba.njit(cache=True, nogil=True)
def _flush(out, pos, low, cache, csize):
    out = _grow(out, pos, pos + csize + 8)
    for _ in range(5):
        pos, low, cache, csize = _shift_low(out, pos, low, cache, csize)
    return out[:pos]


@numba.njit(cache=True, nogil=True)
def _block_flags(flat, row, w, rows, flags) -> None:
    """flags[bx] = 1 if the block of ``rows`` rows from flat[row] on, columns 8 bx .. 8 bx + 7, has a
    non-zero value, else 0."""
    for bx in range(flags.shape[0]):
        flags[bx] = 0
    for r in range(rows):
        base = row + r * w
        for x in range(w):
            if flat[base + x] != 0:
                flags[x >> 3] = 1


@numba.njit(cache=True, nogil=True)
def _encode_latents_kernel(flat, shapes):
    """flat: every grid's values in raster order, grid after grid; shapes: (G, 2) rows and columns."""
    probs = np.full(_L_CONTEXTS, _PROB_INIT, dtype=np.int64)
    out = np.empty(1024 + flat.shape[0] // 2, dtype=np.uint8)
    pos = np.int64(0)
    low = np.int64(0)
    rng = np.int64(_RANGE_INIT)
    cache = np.int64(0)
    csize = np.int64(1)
    off = np.int64(0)  # first value of the grid
    poff = np.int64(0)  # first value of the parent grid
    ph = np.int64(0)
    pw = np.int64(0)
    for i in range(shapes.shape[0]):
        h = shapes[i, 0]
        w = shapes[i, 1]
        has_parent = ph > 0 and pw > 0
        pcol = _parent_columns(w, pw)
        blocks_wide = (w + _BLOCK - 1) // _BLOCK
        flags = np.ones(blocks_wide, dtype=np.int64)  # this block row's zero-block flags
        above = np.ones(blocks_wide, dtype=np.int64)  # the previous block row's (1 above the first)
        for y in range(h):
            row = off + y * w
            prow = poff + ((y * ph) // h) * pw
            out = _grow(out, pos, pos + csize + _MAX_BINS * w + blocks_wide + 16)
            if y % _BLOCK == 0:
                if y > 0:
                    for bx in range(blocks_wide):
                        above[bx] = flags[bx]
                _block_flags(flat, row, w, min(_BLOCK, h - y), flags)
                for bx in range(blocks_wide):
                    ctx = _L_BLOCK + 2 * (flags[bx - 1] if bx > 0 else 1) + above[bx]
                    probs[ctx], low, rng = _enc_bin(probs[ctx], flags[bx], low, rng)
                    if rng < _TOP:
                        rng <<= 8
                        pos, low, cache, csize = _shift_low(out, pos, low, cache, csize)
            for x in range(w):
                if flags[x >> 3] == 0:
                    continue
                a = np.int64(flat[row + x - 1]) if x >= 1 else 0
                e = np.int64(flat[row + x - 2]) if x >= 2 else 0
                b = c = d = f = np.int64(0)
                if y >= 1:
                    b = np.int64(flat[row - w + x])
                    if x >= 1:
                        c = np.int64(flat[row - w + x - 1])
                    if x + 1 < w:
                        d = np.int64(flat[row - w + x + 1])
                    if y >= 2:
                        f = np.int64(flat[row - 2 * w + x])
                p = np.int64(flat[prow + pcol[x]]) if has_parent else 0
                zc, sc, pbase = _latent_contexts(a, b, c, d, e, f, p)
                pos, low, rng, cache, csize = _encode_value(out, probs, pos, low, rng, cache, csize,
                                                            np.int64(flat[row + x]), zc, sc, pbase, _L_SUFFIX)
        poff = off
        off += h * w
        ph = h
        pw = w
    return _flush(out, pos, low, cache, csize)


@numba.njit(cache=True, nogil=True)
def _encode_weights_kernel(values):
    probs = np.full(_W_CONTEXTS, _PROB_INIT, dtype=np.int64)
    out = np.empty(1024 + values.shape[0], dtype=np.uint8)
    pos = np.int64(0)
    low = np.int64(0)
    rng = np.int64(_RANGE_INIT)
    cache = np.int64(0)
    csize = np.int64(1)
    for k in range(values.shape[0]):
        if pos + csize + _MAX_BINS > out.shape[0]:
            out = _grow(out, pos, pos + csize + _MAX_BINS)
        pos, low, rng, cache, csize = _encode_value(out, probs, pos, low, rng, cache, csize,
                                                    np.int64(values[k]), _W_ZERO, _W_SIGN, _W_PREFIX, _W_SUFFIX)
    return _flush(out, pos, low, cache, csize)


# ----------------------------------------------------------------------------------------------- decoder


@numba.njit(cache=True, nogil=True)
def _decode_value(data, probs, rng, code, pos, zc, sc, pbase, xbase):
    """Inverse of _encode_value: returns (value, range, code, pos). A byte past the end reads as 0."""
    size = data.shape[0]
    nz, probs[zc], rng, code = _dec_bin(probs[zc], rng, code)
    if rng < _TOP:
        rng <<= 8
        code = (code << 8) | (np.int64(data[pos]) if pos < size else 0)
        pos += 1
    if nz == 0:
        return np.int64(0), rng, code, pos
    neg, probs[sc], rng, code = _dec_bin(probs[sc], rng, code)
    if rng < _TOP:
        rng <<= 8
        code = (code << 8) | (np.int64(data[pos]) if pos < size else 0)
        pos += 1
    n = 0
    while n < _MAX_PREFIX:
        ctx = pbase + n
        bit, probs[ctx], rng, code = _dec_bin(probs[ctx], rng, code)
        if rng < _TOP:
            rng <<= 8
            code = (code << 8) | (np.int64(data[pos]) if pos < size else 0)
            pos += 1
        if bit == 0:
            break
        n += 1
    m = np.int64(1)
    for t in range(n):
        if t < _ADAPTIVE_SUFFIX:
            ctx = xbase + _ADAPTIVE_SUFFIX * (n - 1) + t
            bit, probs[ctx], rng, code = _dec_bin(probs[ctx], rng, code)
        else:
            bit, rng, code = _dec_fixed(rng, code)
        if rng < _TOP:
            rng <<= 8
            code = (code << 8) | (np.int64(data[pos]) if pos < size else 0)
            pos += 1
        m = (m << 1) | bit
    return (-m if neg else m), rng, code, pos


@numba.njit(cache=True, nogil=True)
def _decode_latents_kernel(data, flat, shapes):
    """Fill flat (zeroed, the grids' values grid after grid); return a status code (0 = success)."""
    state = np.zeros(3, dtype=np.int64)
    status = _decode_start(data, state)
    if status != _OK:
        return status
    size = data.shape[0]
    rng = state[0]
    code = state[1]
    pos = state[2]
    probs = np.full(_L_CONTEXTS, _PROB_INIT, dtype=np.int64)
    off = np.int64(0)
    poff = np.int64(0)
    ph = np.int64(0)
    pw = np.int64(0)
    for i in range(shapes.shape[0]):
        h = shapes[i, 0]
        w = shapes[i, 1]
        has_parent = ph > 0 and pw > 0
        pcol = _parent_columns(w, pw)
        blocks_wide = (w + _BLOCK - 1) // _BLOCK
        flags = np.ones(blocks_wide, dtype=np.int64)
        above = np.ones(blocks_wide, dtype=np.int64)
        seen = np.zeros(blocks_wide, dtype=np.int64)  # a non-zero value decoded in the block
        for y in range(h):
            row = off + y * w
            prow = poff + ((y * ph) // h) * pw
            if y % _BLOCK == 0:
                for bx in range(blocks_wide):
                    seen[bx] = 0
                    if y > 0:
                        above[bx] = flags[bx]
                for bx in range(blocks_wide):
                    ctx = _L_BLOCK + 2 * (flags[bx - 1] if bx > 0 else 1) + above[bx]
                    bit, probs[ctx], rng, code = _dec_bin(probs[ctx], rng, code)
                    if rng < _TOP:
                        rng <<= 8
                        code = (code << 8) | (np.int64(data[pos]) if pos < size else 0)
                        pos += 1
                    flags[bx] = bit
                if pos > size:
                    return _ERR_PAST_END
            for x in range(w):
                if flags[x >> 3] == 0:
                    continue
                a = np.int64(flat[row + x - 1]) if x >= 1 else 0
                e = np.int64(flat[row + x - 2]) if x >= 2 else 0
                b = c = d = f = np.int64(0)
                if y >= 1:
                    b = np.int64(flat[row - w + x])
                    if x >= 1:
                        c = np.int64(flat[row - w + x - 1])
                    if x + 1 < w:
                        d = np.int64(flat[row - w + x + 1])
                    if y >= 2:
                        f = np.int64(flat[row - 2 * w + x])
                p = np.int64(flat[prow + pcol[x]]) if has_parent else 0
                zc, sc, pbase = _latent_contexts(a, b, c, d, e, f, p)
                v, rng, code, pos = _decode_value(data, probs, rng, code, pos, zc, sc, pbase, _L_SUFFIX)
                flat[row + x] = v
                if v != 0:
                    seen[x >> 3] = 1
                if pos > size:  # truncated: stop within a value of the end (spec section 3.1)
                    return _ERR_PAST_END
            if y % _BLOCK == _BLOCK - 1 or y == h - 1:  # the encoder never flags an all-zero block
                for bx in range(blocks_wide):
                    if flags[bx] != seen[bx]:
                        return _ERR_EMPTY_BLOCK
        poff = off
        off += h * w
        ph = h
        pw = w
    state[0] = rng
    state[1] = code
    state[2] = pos
    return _decode_end(data, state)


@numba.njit(cache=True, nogil=True)
def _decode_weights_kernel(data, values):
    state = np.zeros(3, dtype=np.int64)
    status = _decode_start(data, state)
    if status != _OK:
        return status
    size = data.shape[0]
    rng = state[0]
    code = state[1]
    pos = state[2]
    probs = np.full(_W_CONTEXTS, _PROB_INIT, dtype=np.int64)
    for k in range(values.shape[0]):
        v, rng, code, pos = _decode_value(data, probs, rng, code, pos, _W_ZERO, _W_SIGN, _W_PREFIX, _W_SUFFIX)
        values[k] = v
        if pos > size:
            return _ERR_PAST_END
    state[0] = rng
    state[1] = code
    state[2] = pos
    return _decode_end(data, state)


# ------------------------------------------------------------------------------------------- public API


def _int_array(values: object, what: str, ndim: int) -> np.ndarray:
    """``values`` as an integer array of ``ndim`` dimensions with every value within +-MAX_MAGNITUDE."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu":
        raise InputError(f"{what} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise InputError(f"{what} must be {ndim}-D, got shape {arr.shape}")
    if arr.size and (int(arr.max()) > MAX_MAGNITUDE or int(arr.min()) < -MAX_MAGNITUDE):
        raise InputError(f"{what} values must lie in [-{MAX_MAGNITUDE}, {MAX_MAGNITUDE}]")
    return arr


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{what} must be an int, got {type(value).__name__}")
    n = int(value)
    if not 0 <= n <= _MAX_DIM:
        raise InputError(f"{what} must be in [0, {_MAX_DIM}], got {n}")
    return n


def _sequence(items: object, what: str) -> list:
    if isinstance(items, (str, bytes, bytearray, np.ndarray)) or not isinstance(items, Sequence):
        raise InputError(f"{what} must be a list or tuple, got {type(items).__name__}")
    return list(items)


def _buffer(data: object) -> np.ndarray:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError(f"data must be bytes, got {type(data).__name__}")
    return np.frombuffer(bytes(data), dtype=np.uint8)  # always read-only: one compiled specialisation


def _zeros(count: int) -> np.ndarray:
    """The output array; a count numpy cannot even represent is a ``MemoryError`` like any too-large one."""
    try:
        return np.zeros(count, dtype=np.int32)
    except ValueError:
        raise MemoryError(f"cannot allocate {count} values") from None


def _check(status: int) -> None:
    if status != _OK:
        raise FormatError(_LC1_MESSAGES[status])


def encode_latents(grids: Sequence[np.ndarray]) -> bytes:
    """Code latent grids, given in coding order (coarsest level first), as one lc1 latent stream.

    Each grid is a 2-D integer array (any integer dtype) with values in [-32767, 32767]; grids may be empty
    and of any shapes (the contexts assume that a grid's predecessor is its parent level or a sibling channel,
    but any order codes and decodes). ``decode_latents(data, [g.shape for g in grids])`` gives them back.
    Raises ``InputError`` for anything but a list or tuple of such arrays.
    """
    arrays = [_int_array(g, f"grid {i}", 2) for i, g in enumerate(_sequence(grids, "grids"))]
    shapes = np.array([[_count(s, "grid side") for s in g.shape] for g in arrays], dtype=np.int64).reshape(-1, 2)
    flat = np.zeros(0, np.int32) if not arrays else np.concatenate(
        [np.ascontiguousarray(g, dtype=np.int32).reshape(-1) for g in arrays])
    if not flat.flags.writeable or flat.dtype != np.int32:  # one compiled specialisation
        flat = flat.astype(np.int32)
    return _encode_latents_kernel(flat, shapes).tobytes()


def decode_latents(data: bytes, shapes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """Decode an lc1 latent stream into int32 grids of the given (rows, columns) shapes, in coding order.

    The grids are views into one array of ``sum(rows * columns)`` int32 values, the only allocation that
    grows with the shapes (the caller checks them against its limits first; a failed allocation is a
    ``MemoryError``) besides O(width) state per grid: an int64 per column and three per 8 columns. Accepts
    exactly the streams ``encode_latents`` produces: a truncated, extended or corrupted stream raises
    ``FormatError`` (a truncated one within a value of its last byte, not after decoding every declared
    value); corrupt bytes that happen to pass the end checks (probability about 2**-40) decode to the grids
    whose encoding they are. Raises ``InputError`` for bad arguments.
    """
    buf = _buffer(data)
    dims = []
    for s in _sequence(shapes, "shapes"):
        if not isinstance(s, (tuple, list)) or len(s) != 2:
            raise InputError(f"every shape must be (rows, columns), got {s!r}")
        dims.append((_count(s[0], "grid rows"), _count(s[1], "grid columns")))
    shape_arr = np.array(dims, dtype=np.int64).reshape(-1, 2)
    total = sum(h * w for h, w in dims)
    flat = _zeros(total)
    _check(_decode_latents_kernel(buf, flat, shape_arr))
    out, start = [], 0
    for h, w in dims:
        out.append(flat[start : start + h * w].reshape(h, w))
        start += h * w
    return out


def _groups(groups: object) -> list[int]:
    return [_count(g, "group length") for g in _sequence(groups, "groups")]


def encode_weights(values: np.ndarray, groups: Sequence[int]) -> bytes:
    """Code quantised network weights (1-D integers in [-32767, 32767], the tensors concatenated) as one lc1
    weights stream. ``groups`` lists the tensor lengths and must sum to ``len(values)``; the stream depends
    only on the values (spec section 5), the lengths are checked so that caller and container agree."""
    arr = _int_array(values, "values", 1)
    sizes = _groups(groups)
    if sum(sizes) != arr.shape[0]:
        raise InputError(f"groups sum to {sum(sizes)}, but there are {arr.shape[0]} values")
    flat = np.ascontiguousarray(arr, dtype=np.int32)
    if not flat.flags.writeable:
        flat = flat.copy()
    return _encode_weights_kernel(flat).tobytes()


def decode_weights(data: bytes, groups: Sequence[int]) -> np.ndarray:
    """Decode an lc1 weights stream of ``sum(groups)`` values into a 1-D int32 array (the only allocation
    that depends on ``groups``). Same rejections as ``decode_latents``."""
    buf = _buffer(data)
    values = _zeros(sum(_groups(groups)))
    _check(_decode_weights_kernel(buf, values))
    return values
