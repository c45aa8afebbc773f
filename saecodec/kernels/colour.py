"""Colour transform and chroma resampling of the rd profile (JFIF's YCbCr, BT.601 full range).

The planes are centred on zero: ``Y - 128``, ``Cb``, ``Cr`` (JFIF's Cb and Cr minus 128). The inverse
transform and the 2x up-sampling are normative (spec section 10.6), so they are loops with a fixed order of
binary64 operations; the forward transform and the down-sampling are the encoder's and may be anything.
"""

from __future__ import annotations

import numba
import numpy as np

try:
    from numpy.lib.array_utils import byte_bounds as _byte_bounds  # NumPy >= 2.0
except ImportError:  # pragma: no cover - NumPy 1.x
    _byte_bounds = np.byte_bounds

__all__ = ["rgb_to_planes", "planes_to_rgb", "grey_to_plane", "plane_to_grey", "downsample2", "upsample2",
           "rgb_rows_into", "grey_rows_into", "upsample_rows"]

# JFIF (ITU-T T.871) forward matrix; the inverse constants are T.871's too, not the matrix inverse.
_FORWARD = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def rgb_to_planes(rgb: np.ndarray) -> list[np.ndarray]:
    """(H, W, 3) uint8 -> [Y - 128, Cb, Cr] float64 planes centred on zero."""
    ycc = np.asarray(rgb, dtype=np.float64) @ _FORWARD.T
    ycc[:, :, 0] -= 128.0
    return [np.ascontiguousarray(ycc[:, :, c]) for c in range(3)]


def grey_to_plane(grey: np.ndarray) -> np.ndarray:
    """(H, W) uint8 -> L - 128 as float64."""
    return np.asarray(grey, dtype=np.float64) - 128.0


@numba.njit(cache=True, nogil=True, inline="always")
def _to_byte(v: float) -> np.uint8:
    r = np.rint(v)  # round half to even
    if r < 0.0:
        r = 0.0
    elif r > 255.0:
        r = 255.0
    return np.uint8(r)


@numba.njit(cache=True, nogil=True)
def _rgb_into(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, out: np.ndarray) -> None:
    rows, cols = out.shape[0], out.shape[1]
    # Each row is converted into a local buffer, then copied out. Stored straight into ``out`` (which, as far
    # as the compiler knows, may overlap the planes) the loop did not vectorise: 3.7 ms instead of 0.4 ms for
    # 512x512. The same operations either way.
    buf = np.empty((cols, 3), dtype=np.uint8)
    for i in range(rows):
        for j in range(cols):
            luma = y[i, j] + 128.0
            buf[j, 0] = _to_byte(luma + 1.402 * cr[i, j])
            buf[j, 1] = _to_byte((luma - 0.344136 * cb[i, j]) - 0.714136 * cr[i, j])
            buf[j, 2] = _to_byte(luma + 1.772 * cb[i, j])
        for j in range(cols):
            out[i, j, 0] = buf[j, 0]
            out[i, j, 1] = buf[j, 1]
            out[i, j, 2] = buf[j, 2]


def _c_rows(a: np.ndarray) -> np.ndarray:
    """A C-contiguous float64 2-D array whose first ``a.shape[1]`` columns are ``a``: ``a`` itself, or, when
    ``a`` is the left columns of a C-contiguous buffer (a decoder's cropped stripe), the buffer's full rows
    without a copy, else a copy. The kernels take their size from ``out``, so extra columns are never read;
    every kernel is compiled once, for C-contiguous arrays (a cropped view would compile a second,
    strided specialisation)."""
    a = np.asarray(a)
    if a.dtype != np.float64 or a.ndim != 2 or not a.flags.writeable:  # read-only: a third specialisation
        return np.array(a, dtype=np.float64, order="C")
    if a.flags.c_contiguous:
        return a
    rows, cols = a.shape
    item = a.itemsize
    row_stride, col_stride = a.strides
    base = a.base
    if (col_stride == item and row_stride % item == 0 and row_stride >= cols * item
            and isinstance(base, np.ndarray)):
        wide = np.lib.stride_tricks.as_strided(a, (rows, row_stride // item), (row_stride, item))
        low, high = _byte_bounds(base)
        wide_low, wide_high = _byte_bounds(wide)
        if low <= wide_low and wide_high <= high and wide.flags.c_contiguous:
            return wide
    return np.ascontiguousarray(a)


def rgb_rows_into(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, out: np.ndarray) -> None:
    """``planes_to_rgb`` of some rows, written into ``out`` (rows, cols, 3) uint8: the planes may be wider."""
    _rgb_into(_c_rows(y), _c_rows(cb), _c_rows(cr), out)


def planes_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """Centred Y, Cb, Cr planes of one size -> (H, W, 3) uint8, rounded half to even and clamped."""
    arrays = [_c_rows(p) for p in (y, cb, cr)]
    out = np.empty(np.shape(y) + (3,), dtype=np.uint8)
    _rgb_into(*arrays, out)
    return out


@numba.njit(cache=True, nogil=True)
def _grey_into(plane: np.ndarray, out: np.ndarray) -> None:
    rows, cols = out.shape[0], out.shape[1]
    for i in range(rows):
        for j in range(cols):
            out[i, j, 0] = _to_byte(plane[i, j] + 128.0)


def grey_rows_into(plane: np.ndarray, out: np.ndarray) -> None:
    """``plane_to_grey`` of some rows, written into ``out`` (rows, cols, 1) uint8: the plane may be wider."""
    _grey_into(_c_rows(plane), out)


def plane_to_grey(plane: np.ndarray) -> np.ndarray:
    """Centred grey plane -> (H, W) uint8."""
    out = np.empty(np.shape(plane) + (1,), dtype=np.uint8)
    _grey_into(_c_rows(plane), out)
    return out[:, :, 0]


def downsample2(plane: np.ndarray) -> np.ndarray:
    """Encoder's 2x2 box average (odd sides replicate their last row/column): (H, W) -> (ceil H/2, ceil W/2)."""
    rows, cols = plane.shape
    p = np.pad(plane, ((0, rows % 2), (0, cols % 2)), mode="edge")
    return 0.25 * (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2])


@numba.njit(cache=True, nogil=True)
def _upsample_into(window: np.ndarray, window_row: int, prow: int, pcol: int, first: int, out: np.ndarray) -> None:
    """Output rows first .. first + len(out) - 1 of the up-sampled plane; ``window`` holds the rows of the
    prow x pcol source plane from ``window_row`` on (at least those the output rows read)."""
    rows, cols = out.shape
    for r in range(rows):
        i = first + r
        ci = i // 2
        ni = ci - 1 if i % 2 == 0 else ci + 1  # the nearer neighbouring sample row
        ni = min(max(ni, 0), prow - 1)
        ci -= window_row
        ni -= window_row
        for j in range(cols):
            cj = j // 2
            nj = cj - 1 if j % 2 == 0 else cj + 1
            nj = min(max(nj, 0), pcol - 1)
            t = 9.0 * window[ci, cj]
            t = t + 3.0 * window[ni, cj]
            t = t + 3.0 * window[ci, nj]
            t = t + window[ni, nj]
            out[r, j] = t * 0.0625


def upsample_rows(window: np.ndarray, window_row: int, plane_rows: int, plane_cols: int, first: int,
                  out: np.ndarray) -> None:
    """Rows ``first ..`` of ``upsample2`` (as many as ``out`` has) from a window of the source plane's rows
    (``window_row`` .. ; columns 0 .. plane_cols - 1 used): what a decoder working in stripes needs."""
    _upsample_into(_c_rows(window), int(window_row), int(plane_rows), int(plane_cols), int(first), out)


def upsample2(plane: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Triangle-filter 2x up-sampling (libjpeg's "fancy" filter: weights 9, 3, 3, 1 over 16) to rows x cols."""
    out = np.empty((int(rows), int(cols)))
    _upsample_into(_c_rows(plane), 0, np.shape(plane)[0], np.shape(plane)[1], 0, out)
    return out

