"""The rd profile's block transform: an orthonormal 8x8 DCT-II, quantiser, DC prediction and deblocking.

The rd profile's auto-encoder is linear: its decoder is ``x = W c`` with the stock weights ``W`` = the 2-D
DCT-II basis (spec/saec-v1.md section 10). The inverse transform, the DC predictor and the deblocking filter
are normative, so they are written here as plain loops with a fixed order of binary64 operations and no
fastmath (no reassociation, no fused multiply-add), like the paper profile's reference decoder. The forward
transform and the quantiser are the encoder's choice; they use the same loops for reproducibility.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "COS16",
    "ZIGZAG",
    "dct_basis",
    "forward_blocks",
    "quantise",
    "dequantise_inverse",
    "predict_dc",
    "unpredict_dc",
    "deblock",
    "inverse_rows",
    "deblock_rows",
]

#: cos(j * pi / 16) for j = 0..8, correctly rounded to binary64 (spec table 10.2).
COS16 = np.array(
    [
        1.0,
        float.fromhex("0x1.f6297cff75cb0p-1"),
        float.fromhex("0x1.d906bcf328d46p-1"),
        float.fromhex("0x1.a9b66290ea1a3p-1"),
        float.fromhex("0x1.6a09e667f3bcdp-1"),
        float.fromhex("0x1.1c73b39ae68c8p-1"),
        float.fromhex("0x1.87de2a6aea963p-2"),
        float.fromhex("0x1.8f8b83c69a60bp-3"),
        0.0,
    ]
)

#: Zigzag scan: unit i of a coded block is the coefficient at natural index ZIGZAG[i] = 8 * row + column.
ZIGZAG = np.array(
    [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,
     7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31,
     39, 46, 53, 60, 61, 54, 47, 55, 62, 63],
    dtype=np.int64,
)


def dct_basis() -> np.ndarray:
    """C[k, n] = s_k cos((2n + 1) k pi / 16), s_0 = cos(pi/4) / 2, s_k = 1/2, from COS16 by exact symmetry."""
    basis = np.empty((8, 8))
    for k in range(8):
        scale = COS16[4] * 0.5 if k == 0 else 0.5
        for n in range(8):
            m = ((2 * n + 1) * k) % 32
            if m > 16:
                m = 32 - m
            value = -COS16[16 - m] if m > 8 else COS16[m]
            basis[k, n] = scale * value
    return basis


_BASIS = dct_basis()


@numba.njit(cache=True, nogil=True)
def _forward_kernel(plane: np.ndarray, basis: np.ndarray, zigzag: np.ndarray) -> np.ndarray:
    rows, cols = plane.shape
    bh, bw = rows // 8, cols // 8
    out = np.empty((bh * bw, 64))
    tmp = np.empty((8, 8))
    for by in range(bh):
        for bx in range(bw):
            # tmp[y][v] = sum_x x[y][x] C[v][x]; coef[u][v] = sum_y C[u][y] tmp[y][v]
            for y in range(8):
                for v in range(8):
                    s = 0.0
                    for x in range(8):
                        s += plane[by * 8 + y, bx * 8 + x] * basis[v, x]
                    tmp[y, v] = s
            block = by * bw + bx
            for i in range(64):
                u, v = zigzag[i] // 8, zigzag[i] % 8
                s = 0.0
                for y in range(8):
                    s += basis[u, y] * tmp[y, v]
                out[block, i] = s
    return out


def forward_blocks(plane: np.ndarray) -> np.ndarray:
    """(8 bh, 8 bw) float64 plane -> (bh * bw, 64) DCT coefficients in zigzag order, blocks in raster order."""
    return _forward_kernel(np.ascontiguousarray(plane, dtype=np.float64), _BASIS, ZIGZAG)


@numba.njit(cache=True, nogil=True)
def _quantise_kernel(coef: np.ndarray, step: float, rounding: float) -> np.ndarray:
    n = coef.shape[0]
    out = np.empty((n, 64), dtype=np.int32)
    for b in range(n):
        for i in range(64):
            a = abs(coef[b, i]) / step
            q = np.floor(a + (0.5 if i == 0 else rounding))
            if q > 16383.0:
                q = 16383.0
            out[b, i] = np.int32(q) if coef[b, i] >= 0 else -np.int32(q)
    return out


def quantise(coef: np.ndarray, step: float, rounding: float = 1.0 / 3.0) -> np.ndarray:
    """Dead-zone quantiser (encoder side): DC rounds to nearest, AC with ``rounding`` < 1/2 toward zero.

    A rounding offset below one half is the classic rate-distortion trade for Laplacian AC coefficients:
    values just above a decision level cost more bits than their distortion saves.
    """
    return _quantise_kernel(np.ascontiguousarray(coef, dtype=np.float64), float(step), float(rounding))


def dequantise_inverse(indices: np.ndarray, step: float, blocks_high: int, blocks_wide: int) -> np.ndarray:
    """(bh * bw, 64) zigzag indices -> (8 bh, 8 bw) plane: coefficient = index * step, then the inverse DCT.

    The decoder's kernel (:func:`inverse_rows`) on the DC-predicted indices: one compiled kernel for the
    encoder's reconstructions and the decoder, the same operations in the same order (the DC prediction is
    exact integer arithmetic, undone in the kernel before the multiply).
    """
    bh, bw = int(blocks_high), int(blocks_wide)
    grid = np.asarray(indices)
    if grid.dtype.kind not in "iu":
        grid = grid.astype(np.int64)
    dc = predict_dc(grid[:, 0], bh, bw)
    limits = np.iinfo(np.int32)
    fits = grid.dtype == np.int32 or (int(grid.min()) >= limits.min and int(grid.max()) <= limits.max)
    fits = fits and int(dc.min()) >= limits.min and int(dc.max()) <= limits.max
    residuals = np.array(grid, dtype=np.int32 if fits else np.int64, order="C")  # the decoder's int32 grid
    residuals[:, 0] = dc
    plane = np.empty((8 * bh, 8 * bw))
    _inverse_rows_kernel(residuals, 0, np.zeros(bw, dtype=np.int64), float(step), _BASIS, ZIGZAG, plane, 0)
    return plane


@numba.njit(cache=True, nogil=True, inline="always")
def _med(a: int, b: int, c: int) -> int:
    """LOCO-I median edge detector: left a, above b, above-left c."""
    if c >= max(a, b):
        return min(a, b)
    if c <= min(a, b):
        return max(a, b)
    return a + b - c


@numba.njit(cache=True, nogil=True)
def _dc_kernel(values: np.ndarray, bh: int, bw: int, forward: bool) -> np.ndarray:
    out = np.empty(bh * bw, dtype=np.int64)
    dc = values if forward else out  # the predictor always reads reconstructed (original) DC values
    for y in range(bh):
        for x in range(bw):
            i = y * bw + x
            if y == 0 and x == 0:
                p = 0
            elif y == 0:
                p = dc[i - 1]
            elif x == 0:
                p = dc[i - bw]
            else:
                p = _med(dc[i - 1], dc[i - bw], dc[i - bw - 1])
            out[i] = values[i] - p if forward else values[i] + p
    return out


def predict_dc(dc: np.ndarray, blocks_high: int, blocks_wide: int) -> np.ndarray:
    """DC indices (raster order) -> residuals against the MED prediction from the left/above/above-left DC.

    The prediction reads only the original values, so it is whole-array integer arithmetic here, exactly
    ``_dc_kernel(..., forward=True)`` without compiling it (the encoder's first run compiles less)."""
    bh, bw = int(blocks_high), int(blocks_wide)
    v = np.asarray(dc, dtype=np.int64)[: bh * bw].reshape(bh, bw)
    pred = np.zeros_like(v)
    pred[0, 1:] = v[0, :-1]  # first row: the left neighbour
    pred[1:, 0] = v[:-1, 0]  # first column: the one above
    left, above, above_left = v[1:, :-1], v[:-1, 1:], v[:-1, :-1]
    high, low = np.maximum(left, above), np.minimum(left, above)
    pred[1:, 1:] = np.where(above_left >= high, low, np.where(above_left <= low, high, left + above - above_left))
    return (v - pred).reshape(-1)


def unpredict_dc(residual: np.ndarray, blocks_high: int, blocks_wide: int) -> np.ndarray:
    """Inverse of ``predict_dc``."""
    return _dc_kernel(np.ascontiguousarray(residual, dtype=np.int64), int(blocks_high), int(blocks_wide), False)


@numba.njit(cache=True, nogil=True)
def _deblock_vertical(plane: np.ndarray, first: int, last: int, threshold: float) -> None:
    """Pass 1 on rows first .. last-1: every vertical edge (between columns x-1 and x) of those rows."""
    cols = plane.shape[1]
    limit = 2.0 * threshold
    for x in range(8, cols, 8):
        for y in range(first, last):
            d = plane[y, x] - plane[y, x - 1]
            if abs(d) < limit:
                delta = min(max(d * 0.25, -threshold), threshold)
                plane[y, x - 2] = plane[y, x - 2] + delta * 0.5
                plane[y, x - 1] = plane[y, x - 1] + delta
                plane[y, x] = plane[y, x] - delta
                plane[y, x + 1] = plane[y, x + 1] - delta * 0.5


@numba.njit(cache=True, nogil=True)
def _deblock_horizontal(plane: np.ndarray, first: int, last: int, threshold: float) -> None:
    """Pass 2 at rows first, first + 8, .. below last: each the horizontal edge between rows y-1 and y."""
    cols = plane.shape[1]
    limit = 2.0 * threshold
    for y in range(first, last, 8):
        for x in range(cols):
            d = plane[y, x] - plane[y - 1, x]
            if abs(d) < limit:
                delta = min(max(d * 0.25, -threshold), threshold)
                plane[y - 2, x] = plane[y - 2, x] + delta * 0.5
                plane[y - 1, x] = plane[y - 1, x] + delta
                plane[y, x] = plane[y, x] - delta
                plane[y + 1, x] = plane[y + 1, x] - delta * 0.5


def deblock_rows(stripe: np.ndarray, new_from: int, edges_from: int, threshold: float) -> None:
    """Deblock a stripe of a padded plane in place, for decoders that work a few block rows at a time.

    ``stripe[new_from:]`` are rows fresh from the inverse transform; pass 1 runs on them. Pass 2 then runs on
    the horizontal edges at stripe rows ``edges_from``, ``edges_from + 8``, ... (each reads and writes the two
    rows either side). Edges of one pass never share a sample and an edge reads only rows pass 1 has
    finished, so stripes that carry the last two rows of the previous stripe over (they belong to the next
    edge) give exactly the whole-plane result of ``deblock``.
    """
    if threshold > 0.0:
        _deblock_vertical(stripe, int(new_from), stripe.shape[0], float(threshold))
        _deblock_horizontal(stripe, int(edges_from), stripe.shape[0], float(threshold))


def deblock(plane: np.ndarray, threshold: float) -> np.ndarray:
    """Smooth small steps across block edges (a copy): a step of |d| < 2T moves each side by clamp(d/4, T).

    Large steps are real edges and are left alone. ``threshold`` T = 0 returns the plane unchanged.
    """
    out = np.array(plane, dtype=np.float64, order="C", copy=True)
    if threshold > 0.0:
        # Vertical edges (between columns x-1 and x), then horizontal edges, on the whole padded plane; called
        # from here rather than from a jitted wrapper, where the literal first rows (0, 8) would compile a
        # second specialisation of each pass beside the decoder's.
        _deblock_vertical(out, 0, out.shape[0], float(threshold))
        _deblock_horizontal(out, 8, out.shape[0], float(threshold))
    return out


@numba.njit(cache=True, nogil=True)
def _inverse_rows_kernel(residuals: np.ndarray, first_row: int, dc: np.ndarray, step: float, basis: np.ndarray,
                         zigzag: np.ndarray, out: np.ndarray, out_row: int) -> None:
    bw = dc.shape[0]
    rows = residuals.shape[0] // bw
    coef = np.zeros((8, 8))
    tmp = np.empty((8, 8))
    for r in range(rows):
        by = first_row + r
        left = np.int64(0)
        above_left = np.int64(0)
        for bx in range(bw):
            block = r * bw + bx
            # DC un-prediction (spec 10.3 step 2), dc holding the block row above (its q values).
            above = dc[bx]
            if by == 0 and bx == 0:
                pred = np.int64(0)
            elif by == 0:
                pred = left
            elif bx == 0:
                pred = above
            else:
                pred = _med(left, above, above_left)
            q = np.int64(residuals[block, 0]) + pred
            above_left = above
            dc[bx] = q
            left = q
            coef[0, 0] = q * step
            for i in range(1, 64):
                coef[zigzag[i] // 8, zigzag[i] % 8] = residuals[block, i] * step
            for u in range(8):
                for x in range(8):
                    s = 0.0
                    for v in range(8):
                        s += coef[u, v] * basis[v, x]
                    tmp[u, x] = s
            for y in range(8):
                for x in range(8):
                    s = 0.0
                    for u in range(8):
                        s += basis[u, y] * tmp[u, x]
                    out[out_row + r * 8 + y, bx * 8 + x] = s


def inverse_rows(residuals: np.ndarray, first_row: int, dc: np.ndarray, step: float, out: np.ndarray,
                 out_row: int) -> None:
    """Un-predict the DC, dequantise and inverse-transform whole block rows into ``out`` (a decoder's stripe).

    ``residuals``: (rows * bw, 64) coded values of block rows ``first_row ..`` as the entropy decoder gives
    them (DC residuals, AC indices); ``dc``: the bw DC indices of the block row above (updated in place to the
    last row's, for the next call); block row ``r`` goes to ``out`` rows ``out_row + 8 r ..``. The same
    operations in the same order as ``unpredict_dc`` then ``dequantise_inverse``.
    """
    _inverse_rows_kernel(residuals, int(first_row), dc, float(step), _BASIS, ZIGZAG, out, int(out_row))
