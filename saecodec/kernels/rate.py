"""Numba kernels of the overfit profile's rate proxy: the bits the training charges for the latents, and their
gradients. Training only: what the file costs is lc1's real code length, measured at checkpoints.

Two proxies, both a zero-mean Laplace of the (noisy or soft-rounded) latents, one value's probability the mass
on [v - 0.5, v + 0.5]:

* :func:`laplace_rate` -- one scale per grid (factorised): priced the latents 19-37 % above what lc1 writes
  (docs/overfit/stage8.md), so the training spent rate where lc1 would not have charged it;
* :func:`class_laplace_rate` with :func:`context_classes` -- one scale per grid and lc1 zero-flag context
  class (the causal neighbours' activity and the parent's zero test, spec section 4), within 9 % of lc1.

Threads and determinism as in :mod:`.synthesis`: element ranges per work item, partial sums per item reduced
in item order, no fastmath.
"""

from __future__ import annotations

import math
from typing import Sequence

import numba
import numpy as np

from .elementary import INV_LN2, OPTS, exp_nonpositive, lane_total, log2_and_reciprocal
from .threads import run_blocks

__all__ = ["CONTEXT_CLASSES", "laplace_rate", "context_classes", "class_laplace_rate", "context_parents"]

#: Elements per work item of the rate kernels.
RATE_ITEM = 1 << 15
#: Elements per block of a rate kernel's vectorised pass (its sums are folded block by block).
RATE_BLOCK = 512
#: Context classes per grid: min(A, 15) + 16 * (parent != 0), lc1's zero-flag contexts (spec section 4).
CONTEXT_CLASSES = 32
_ACTIVITY_CAP = 15


@numba.njit(inline="always", **OPTS)
def _laplace_element(v, inv_b, e1, slope, tail0, dls_tail0, max_bits):
    """(bits, d bits / d log-scale, d bits / d v) of one value under a zero-mean Laplace of scale b, from
    inv_b = 1/b, e1 = exp(-1/b), slope = inv_b / ln 2, tail0 = bits at |v| = 0.5 and dls_tail0 = its
    derivative. Branch-free (both the tail and the centre formula, then a select), so loops vectorise; at the
    floor 2^-max_bits (and for NaN) both derivatives are 0."""
    a = abs(v)
    lo = a - 0.5
    # centre (|v| < 0.5): P = 1 - (e_lo + e_hi) / 2, e_lo = exp(-(0.5 - a)/b), e_hi = exp(-(a + 0.5)/b)
    e_lo = exp_nonpositive(min(lo, 0.0) * inv_b)
    e_hi = e1 / e_lo
    p = max(1.0 - 0.5 * e_lo - 0.5 * e_hi, 1e-300)
    log2p, inv_p = log2_and_reciprocal(p)
    kp = INV_LN2 * inv_p
    tail = a >= 0.5
    bits = lo * slope + tail0 if tail else -log2p
    dv = slope if tail else -0.5 * (e_hi - e_lo) * inv_b * kp
    dl = dls_tail0 - lo * slope if tail else 0.5 * inv_b * (e_lo * (0.5 - a) + e_hi * (a + 0.5)) * kp
    ok = bits < max_bits
    dv = dv if ok else 0.0
    return (bits if ok else max_bits), (dl if ok else 0.0), (dv if v > 0 else -dv)


@numba.njit(inline="always", **OPTS)
def _scale_constants(log_scale):
    """(inv_b, e1, slope, tail0, dls_tail0) of _laplace_element for b = exp(log_scale)."""
    inv_b = math.exp(-np.float64(log_scale))
    e1 = math.exp(-inv_b)
    q = -math.expm1(-inv_b)  # 1 - exp(-1/b): P(|v| in [k-0.5, k+0.5]) = e^(-(k-0.5)/b) q / 2
    return inv_b, e1, inv_b * INV_LN2, 1.0 - math.log2(q), e1 * inv_b / q * INV_LN2


@numba.njit(inline="always", **OPTS)
def _load_block(lat, noise, has_noise, blk, m, vbuf):
    """vbuf[:m] = lat + noise (or lat) over elements blk .. blk+m-1, through slices: indexing from a variable
    start does not vectorise."""
    lat_b = lat[blk : blk + m]
    if has_noise:
        noise_b = noise[blk : blk + m]
        for t in range(m):
            vbuf[t] = lat_b[t] + noise_b[t]
    else:
        for t in range(m):
            vbuf[t] = lat_b[t]


# ------------------------------------------------------------------------------------- one scale per grid


@numba.njit(**OPTS)
def _rate_range(lat, noise, has_noise, offsets, log_scales, grad_lat, gls_part, bits_part, need_grad, scale,
                max_bits, item_size, first, last):
    """Bits of elements [item * item_size, ...) for items first .. last-1, per item; gradients of
    scale * bits added to grad_lat and to the item's row of gls_part (per grid). The sums over elements go
    through per-block buffers."""
    total = lat.size
    grids = log_scales.size
    vbuf = np.empty(RATE_BLOCK, np.float64)
    bbuf = np.empty(RATE_BLOCK, np.float64)
    dbuf = np.empty(RATE_BLOCK, np.float64)
    gbuf = np.empty(RATE_BLOCK, np.float64)
    for item in range(first, last):
        a_i = item * item_size
        b_i = min(total, a_i + item_size)
        for j in range(grids):
            gls_part[item, j] = 0.0
        bits_sum = 0.0
        j = 0
        i = a_i
        while i < b_i:
            while offsets[j + 1] <= i:
                j += 1
            end = min(b_i, offsets[j + 1])
            inv_b, e1, slope, tail0, dls_tail0 = _scale_constants(log_scales[j])
            dls = 0.0
            for blk in range(i, end, RATE_BLOCK):
                m = min(RATE_BLOCK, end - blk)
                _load_block(lat, noise, has_noise, blk, m, vbuf)
                for t in range(m):
                    bbuf[t], dbuf[t], gbuf[t] = _laplace_element(vbuf[t], inv_b, e1, slope, tail0, dls_tail0,
                                                                 max_bits)
                if need_grad:
                    grad_b = grad_lat[blk : blk + m]
                    for t in range(m):
                        grad_b[t] += scale * gbuf[t]
                bits_sum += lane_total(bbuf, m)
                dls += lane_total(dbuf, m)
            if need_grad:
                gls_part[item, j] += scale * dls
            i = end
        bits_part[item] = bits_sum


def _run_rate(kernel, lat: np.ndarray, noise: np.ndarray | None, layout: np.ndarray, scales: np.ndarray,
              log_scales: np.ndarray, grad_latents: np.ndarray | None, grad_log_scales: np.ndarray | None,
              grad_scale: float, max_bits: float) -> float:
    """Both proxies' driver: checks noise and gradients, runs `kernel` (with `layout`, the grid offsets or the
    classes, and `scales`, its form of the log-scales) over items of RATE_ITEM elements, reduces in item order."""
    has_noise = noise is not None
    if noise is None:
        noise = lat
    elif noise.shape != lat.shape or noise.dtype != lat.dtype:
        raise ValueError("noise must be like latents")
    need_grad = grad_latents is not None
    if need_grad:
        if grad_latents.shape != lat.shape or grad_log_scales is None or grad_log_scales.shape != log_scales.shape:
            raise ValueError("gradients must be like latents and log_scales")
        g_lat = grad_latents
    else:
        g_lat = lat
    items = max(1, -(-lat.size // RATE_ITEM))
    gls_part = np.empty((items, log_scales.size), np.float64)
    bits_part = np.empty(items, np.float64)
    run_blocks(kernel, items, 1, (lat, noise, has_noise, layout, scales, g_lat, gls_part, bits_part, need_grad,
                                  float(grad_scale), float(max_bits), RATE_ITEM))
    if need_grad:
        grad_log_scales += gls_part.sum(axis=0).astype(grad_log_scales.dtype)
    return float(bits_part.sum())


def laplace_rate(latents: np.ndarray, noise: np.ndarray | None, offsets: np.ndarray, log_scales: np.ndarray,
                 grad_latents: np.ndarray | None = None, grad_log_scales: np.ndarray | None = None,
                 grad_scale: float = 1.0, *, max_bits: float = 16.0) -> float:
    """The rate proxy: total bits of v = latents + noise under a zero-mean Laplace of scale exp(log_scales[j])
    for grid j (elements offsets[j] .. offsets[j+1]-1; SynthesisShape.offsets), one value's probability being
    the mass on [v - 0.5, v + 0.5], floored at 2^-max_bits. Adds grad_scale times the gradient of the bits to
    grad_latents and grad_log_scales when given (zero where the floor applies). noise None: no noise."""
    grids = log_scales.size
    if latents.ndim != 1 or offsets.shape != (grids + 1,) or int(offsets[-1]) != latents.size \
            or int(offsets[0]) != 0:
        raise ValueError("offsets must be the grid starts of the flat latents plus their count")
    return _run_rate(_rate_range, latents, noise, np.asarray(offsets, np.int64), log_scales, log_scales,
                     grad_latents, grad_log_scales, grad_scale, max_bits)


# ------------------------------------------------------------------- one scale per lc1 context class


def context_parents(level_channels: Sequence[int]) -> np.ndarray:
    """Per grid (latent layout order: level 0 first), the grid lc1 codes just before it, whose co-located
    value is its "parent" in the contexts (spec section 4), or -1 for the first coded grid. lc1 codes the
    coarsest level first, a level's channels in order (profiles.overfit.coding_order)."""
    starts = np.cumsum([0, *level_channels])
    order = [int(starts[level]) + c for level in reversed(range(len(level_channels)))
             for c in range(level_channels[level])]
    parents = np.full(len(order), -1, np.int64)
    for k in range(1, len(order)):
        parents[order[k]] = order[k - 1]
    return parents


@numba.njit(inline="always", **OPTS)
def _magnitudes(lat, start, w, buf):
    """buf[2 + x] = |rint(lat[start + x])| for x < w (buf's two leading and one trailing zero stay zero)."""
    src = lat[start : start + w]
    dst = buf[2 : 2 + w]
    for x in range(w):
        dst[x] = abs(np.rint(np.float64(src[x])))


@numba.njit(**OPTS)
def _classes_range(lat, rows, shapes, offsets, parents, out, first, last):
    """Class of every latent of the row ranges rows[first:last] ((grid, first row, end row) each). The rounded
    magnitudes of the row and the two above sit in zero-padded row buffers, so the activity loop has no
    branches and vectorises."""
    width = shapes[:, 1].max()
    bufs = np.zeros((3, width + 3), np.float64)
    acts = np.empty(width, np.int32)
    pcol = np.empty(width, np.int64)
    for item in range(first, last):
        g, y0, y1 = rows[item, 0], rows[item, 1], rows[item, 2]
        h, w, off, par = shapes[g, 0], shapes[g, 1], offsets[g], parents[g]
        ph = shapes[par, 0] if par >= 0 else 1
        pw = shapes[par, 1] if par >= 0 else 1
        poff = offsets[par] if par >= 0 else 0
        for x in range(w):
            pcol[x] = (x * pw) // w
        base = g * CONTEXT_CLASSES
        bufs[:, :] = 0.0
        cur, up, up2 = bufs[0], bufs[1], bufs[2]
        if y0 >= 2:
            _magnitudes(lat, off + (y0 - 2) * w, w, up2)
        if y0 >= 1:
            _magnitudes(lat, off + (y0 - 1) * w, w, up)
        for y in range(y0, y1):
            row = off + y * w
            _magnitudes(lat, row, w, cur)
            for x in range(w):  # a = cur[x+1], e = cur[x], b = up[x+2], c = up[x+1], d = up[x+3], f = up2[x+2]
                act = 2.0 * cur[x + 1] + 2.0 * up[x + 2] + up[x + 1] + up[x + 3] + cur[x] + up2[x + 2]
                acts[x] = np.int32(min(act, float(_ACTIVITY_CAP)))
            dst = out[row : row + w]
            if par >= 0:
                prow = poff + ((y * ph) // h) * pw
                for x in range(w):
                    dst[x] = base + acts[x] + (_ACTIVITY_CAP + 1 if np.rint(lat[prow + pcol[x]]) != 0.0 else 0)
            else:
                for x in range(w):
                    dst[x] = base + acts[x]
            cur, up, up2 = up2, cur, up


_CLASS_ROWS = 64  # latent rows per work item of the class kernel


def _row_items(shapes: np.ndarray) -> np.ndarray:
    items = [(g, y, min(int(h), y + _CLASS_ROWS))
             for g, (h, _) in enumerate(shapes) for y in range(0, int(h), _CLASS_ROWS)]
    return np.array(items, np.int64).reshape(-1, 3)


def context_classes(grid_shapes: Sequence[tuple[int, int]], parents: np.ndarray, latents: np.ndarray,
                    out: np.ndarray) -> None:
    """Write into the int32 `out` every latent's class, grid * CONTEXT_CLASSES + min(A, 15) + 16 * (parent !=
    0), from the latents ROUNDED (np.rint): A = 2|a| + 2|b| + |c| + |d| + |e| + |f| over lc1's causal
    neighbours (a left, e two left, b above, c above-left, d above-right, f two above; 0 outside the grid),
    the parent the value at (y * ph // h, x * pw // w) of grid parents[g] (context_parents). Grids in the
    latent layout (SynthesisShape.grid_shapes); lc1's zero-block flags are not modelled."""
    shapes = np.array(grid_shapes, np.int64).reshape(-1, 2)
    offsets = np.concatenate([[0], np.cumsum(shapes[:, 0] * shapes[:, 1])]).astype(np.int64)
    if latents.ndim != 1 or latents.size != offsets[-1] or out.shape != latents.shape or out.dtype != np.int32:
        raise ValueError("latents and out must be flat arrays (float, int32) of the grids' latent count")
    grids = shapes.shape[0]
    if parents.shape != (grids,) or np.any(parents < -1) or np.any(parents >= grids) \
            or np.any(parents == np.arange(grids)):
        raise ValueError("parents must name another grid (or -1) per grid")
    rows = _row_items(shapes)
    run_blocks(_classes_range, rows.shape[0], 1,
               (latents, rows, shapes, offsets, np.asarray(parents, np.int64), out))


@numba.njit(**OPTS)
def _class_tables(log_scales):
    """(5, classes) float64: _scale_constants of every class's scale."""
    tab = np.empty((5, log_scales.size), np.float64)
    for k in range(log_scales.size):
        tab[0, k], tab[1, k], tab[2, k], tab[3, k], tab[4, k] = _scale_constants(log_scales[k])
    return tab


@numba.njit(**OPTS)
def _class_rate_range(lat, noise, has_noise, classes, tab, grad_lat, gls_part, bits_part, need_grad, scale,
                      max_bits, item_size, first, last):
    """_rate_range with the scale of every element's class: the class's constants gathered from `tab` into
    block buffers, the log-scale derivatives scattered into the item's row of gls_part after the (vectorised)
    element pass."""
    total = lat.size
    vbuf = np.empty(RATE_BLOCK, np.float64)
    bbuf = np.empty(RATE_BLOCK, np.float64)
    dbuf = np.empty(RATE_BLOCK, np.float64)
    gbuf = np.empty(RATE_BLOCK, np.float64)
    inv_bs, e1s, slopes, tail0s, dls0s = tab[0], tab[1], tab[2], tab[3], tab[4]
    cbuf = np.empty((5, RATE_BLOCK), np.float64)
    c_inv_b, c_e1, c_slope, c_tail0, c_dls0 = cbuf[0], cbuf[1], cbuf[2], cbuf[3], cbuf[4]
    for item in range(first, last):
        a_i = item * item_size
        b_i = min(total, a_i + item_size)
        for k in range(gls_part.shape[1]):
            gls_part[item, k] = 0.0
        bits_sum = 0.0
        for blk in range(a_i, b_i, RATE_BLOCK):
            m = min(RATE_BLOCK, b_i - blk)
            cls_b = classes[blk : blk + m]
            _load_block(lat, noise, has_noise, blk, m, vbuf)
            for t in range(m):  # gathered first: with the gathers inside, the element loop did not vectorise
                k = cls_b[t]
                c_inv_b[t], c_e1[t], c_slope[t] = inv_bs[k], e1s[k], slopes[k]
                c_tail0[t], c_dls0[t] = tail0s[k], dls0s[k]
            for t in range(m):
                bbuf[t], dbuf[t], gbuf[t] = _laplace_element(vbuf[t], c_inv_b[t], c_e1[t], c_slope[t], c_tail0[t],
                                                             c_dls0[t], max_bits)
            if need_grad:
                grad_b = grad_lat[blk : blk + m]
                for t in range(m):
                    grad_b[t] += scale * gbuf[t]
                for t in range(m):
                    gls_part[item, cls_b[t]] += scale * dbuf[t]
            bits_sum += lane_total(bbuf, m)
        bits_part[item] = bits_sum


def class_laplace_rate(latents: np.ndarray, noise: np.ndarray | None, classes: np.ndarray, log_scales: np.ndarray,
                       grad_latents: np.ndarray | None = None, grad_log_scales: np.ndarray | None = None,
                       grad_scale: float = 1.0, *, max_bits: float = 16.0) -> float:
    """laplace_rate with a scale per class: element i of v = latents + noise has scale exp(log_scales[classes[i]])
    (classes int32, from context_classes). Gradients added as laplace_rate's, per class."""
    if latents.ndim != 1 or classes.shape != latents.shape or classes.dtype != np.int32:
        raise ValueError("classes must be an int32 array like the flat latents")
    if latents.size and (int(classes.min()) < 0 or int(classes.max()) >= log_scales.size):
        raise ValueError("a class has no scale")  # checked: the kernel indexes its tables without bounds checks
    return _run_rate(_class_rate_range, latents, noise, classes, _class_tables(log_scales), log_scales,
                     grad_latents, grad_log_scales, grad_scale, max_bits)
