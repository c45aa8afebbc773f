"""Numba kernels of the overfit profile's synthesis (spec section 11): the decoder and the training passes.

The model: latent grids at L levels (level l is ceil(H/2^l) x ceil(W/2^l), n_l channels), bilinearly
up-sampled to H x W (half-pixel centres, edge clamp), fed per pixel to a 1x1 network (ReLU between layers,
C outputs), then R residual 3x3 layers on the C-channel image (edge-replicate padding, ReLU on all but the
last), samples ``floor(255 * o + 0.5)`` clamped to 0..255. Non-finite values (hostile weights): ReLU is
``v if v > 0 else 0``, so it maps NaN to 0 (C's fmax(v, 0), IEEE maximumNumber); a NaN sample is 0, +inf 255.

Layouts (shared with the file format so nothing is reshuffled between training, writing and decoding):

* latents: one flat array, grids level 0 first, the channels of a level in order, each grid row-major;
* weights: one flat array of the stored tensors in file order (spec 11.1): ``A_0, b_0, ..., A_{K-1}, b_{K-1},
  F_0, e_0, ..., F_{R-1}, e_{R-1}`` with ``A_k`` (out, in) row-major and ``F_r`` (C, C, 3, 3). Functions
  that take ``tensors`` accept that flat array or the list of the 2K + 2R tensors.

Kernels:

* :func:`synthesize` -- the decoder, float32 in the spec's order of operations, bit-exact: it works in
  stripes of rows (plus one row of margin per residual layer), so memory beyond the output is a stripe's
  activations; stripes are shared between threads (:mod:`.threads`).
* :func:`forward_backward` -- training: the sum of squared errors over a window of the image and its gradient
  with respect to the latents and every tensor, ADDED to the caller's arrays. float32 or float64 (the dtype
  of the latents; float64 is for gradient checks). Its forward pass runs the decoder's own code, so on the
  whole image its output is the decoder's float output bit for bit (float32).
* :func:`adam_step` -- one fused Adam update of a flat parameter array.

The rate proxy the training adds to the distortion is in :mod:`.rate`.

Threads: no kernel is ``parallel=True`` (see :mod:`.threads`: a library cannot choose Numba's threading
layer). Work is split into row stripes or element ranges handed out by :func:`.threads.run_blocks`; every
item writes its own outputs or its own row of partial sums, reduced afterwards in item order, so results do
not depend on the number of threads. No kernel uses fastmath: the decoder must not fuse or reorder, and the
training kernels share its forward code.
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence, Union

import numba
import numpy as np
from .elementary import exp_nonpositive, lane_total
from .threads import run_blocks

__all__ = [
    "SynthesisShape",
    "synthesize",
    "synthesize_float",
    "forward_backward",
    "adam_step",
    "soft_round_noisy",
    "release_buffers",
]

#: Compile options: numpy's error model (Python's ZeroDivisionError checks keep loops from vectorising),
#: no fastmath (the decoder's arithmetic is normative, spec 11.6).
_OPTS = dict(cache=True, nogil=True, error_model="numpy")

#: Decoder rows per work item: the residual layers recompute R rows of margin each side, 2R/32 extra work.
STRIPE_ROWS = 32
#: Training rows per work item.
TRAIN_ROWS = 16
#: Pixels per chunk of a row through the 1x1 layers: the chunk's activations (43 KB for a 16-16 network)
#: stay in the L1/L2 cache; 256 rather than 128 halves the per-loop overhead (a training pass 5-10 % faster).
CHUNK = 256
#: Partial sums per weight in the training's reductions over pixels: pixel x of a chunk adds into lane
#: x % LANES (an element-wise update that vectorises; a running dot product would not, without fastmath).
#: A full chunk is four passes over the lanes (_lane_mac, _lane_add).
LANES = CHUNK // 4
#: Output rows per work item of the latent-gradient pass.
LATENT_ROWS = 64
#: Elements per work item of the Adam and soft-rounding kernels.
ADAM_ITEM = 1 << 16
SOFT_ROUND_ITEM = 1 << 15

Tensors = Union[np.ndarray, Sequence[np.ndarray]]


# --------------------------------------------------------------------------------------------- the shape


@dataclass(frozen=True)
class SynthesisShape:
    """The synthesis model's sizes: image, latent channels per level, hidden 1x1 widths, residual layers."""

    height: int
    width: int
    channels_out: int
    level_channels: tuple[int, ...]
    hidden: tuple[int, ...]
    residual: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "level_channels", tuple(int(n) for n in self.level_channels))
        object.__setattr__(self, "hidden", tuple(int(n) for n in self.hidden))
        if self.height < 1 or self.width < 1 or self.channels_out < 1:
            raise ValueError(f"bad image size {self.height}x{self.width}x{self.channels_out}")
        if not 1 <= len(self.level_channels) <= 16 or min(self.level_channels) < 0 or self.inputs < 1:
            raise ValueError(f"bad latent levels {self.level_channels}")
        if any(n < 1 for n in self.hidden) or self.residual < 0:
            raise ValueError(f"bad network: hidden {self.hidden}, residual {self.residual}")

    @property
    def levels(self) -> int:
        return len(self.level_channels)

    @property
    def inputs(self) -> int:
        """Values per pixel into the 1x1 network: one per latent grid."""
        return sum(self.level_channels)

    @cached_property
    def layer_sizes(self) -> tuple[int, ...]:
        """Widths of the 1x1 network's activations, input first, colour channels last."""
        return (self.inputs, *self.hidden, self.channels_out)

    @cached_property
    def grid_levels(self) -> tuple[int, ...]:
        """The level of every grid, in the latent layout's order."""
        return tuple(level for level, n in enumerate(self.level_channels) for _ in range(n))

    @cached_property
    def grid_shapes(self) -> tuple[tuple[int, int], ...]:
        return tuple((-(-self.height // 2**level), -(-self.width // 2**level)) for level in self.grid_levels)

    @property
    def offsets(self) -> np.ndarray:
        """Start of every grid in the flat latents, then the latent count (int64, len = grids + 1)."""
        return np.array(self._offsets, np.int64)

    @cached_property
    def _offsets(self) -> tuple[int, ...]:
        return tuple(int(v) for v in np.cumsum([0] + [h * w for h, w in self.grid_shapes]))

    @cached_property
    def latent_count(self) -> int:
        return sum(h * w for h, w in self.grid_shapes)

    @cached_property
    def tensor_sizes(self) -> tuple[int, ...]:
        """Values of each tensor in file order: A_k, b_k per 1x1 layer, then F_r, e_r per residual layer."""
        s = self.layer_sizes
        sizes: list[int] = []
        for k in range(len(s) - 1):
            sizes += [s[k + 1] * s[k], s[k + 1]]
        c = self.channels_out
        return tuple(sizes + [c * c * 9, c] * self.residual)

    @cached_property
    def weight_count(self) -> int:
        return sum(self.tensor_sizes)

    @cached_property
    def macs_per_pixel(self) -> int:
        """Decoder multiply-adds per pixel (spec 11.5): 1x1 layers, 3x3 layers, 4 taps per up-sampled grid."""
        s = self.layer_sizes
        mlp = sum(s[k] * s[k + 1] for k in range(len(s) - 1))
        return mlp + 9 * self.channels_out**2 * self.residual + 4 * (self.inputs - self.level_channels[0])


# --------------------------------------------------------------------------------- per-shape tables


def _axis_tables(n_out: int, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear taps along one axis for every level: (index (2, L, n) int32 [i0, i1], weight (2, L, n)
    float32 [1 - f, f]). All values are multiples of 2^-(l+1), exact in float32."""
    idx = np.zeros((2, levels, n_out), np.int32)
    wgt = np.zeros((2, levels, n_out), np.float32)
    pos = np.arange(n_out, dtype=np.float64)
    for level in range(levels):
        n_in = -(-n_out // 2**level)
        t = np.clip((pos + 0.5) / 2**level - 0.5, 0.0, n_in - 1.0)
        i0 = np.floor(t)
        f = t - i0
        idx[0, level] = i0
        idx[1, level] = np.minimum(i0 + 1, n_in - 1)
        wgt[0, level] = 1.0 - f
        wgt[1, level] = f
    return idx, wgt


class _Workspace:
    """Training buffers for one dtype, grown to the largest window seen; reused step after step."""

    def __init__(self) -> None:
        self.size = -1
        self.items = -1
        self.lock = threading.Lock()

    def get(self, shape: SynthesisShape, dtype: np.dtype, hw: int, ww: int, items: int, weights: int):
        """(o_0 .. o_{R-1}, ReLU layers' pre-activations, two dL/do planes, dL/dz, partial sums, errors) for
        a hw x ww window; the residual buffers are empty without residual layers."""
        c, r, n0 = shape.channels_out, shape.residual, shape.inputs
        counts = (r, max(r - 1, 0), 2 if r else 0)
        size = hw * ww
        if size > self.size:
            self.o, self.pre, self.d = (np.empty(k * c * size, dtype) for k in counts)
            self.dz = np.empty(n0 * size, dtype)
            self.size = size
        if items > self.items:
            self.part = np.empty((items, weights), np.float64)
            self.sse = np.empty(items, np.float64)
            self.items = items
        planes = tuple(buf[: k * c * size].reshape(k, c, hw, ww) for buf, k in zip((self.o, self.pre, self.d), counts))
        return (*planes, self.dz[: n0 * size].reshape(n0, hw, ww), self.part, self.sse)


class _Plan:
    """Everything the kernels need for one shape that does not change between steps."""

    def __init__(self, shape: SynthesisShape) -> None:
        self.shape = shape
        h, w, levels = shape.height, shape.width, shape.levels
        self.rows_i, self.rows_f = _axis_tables(h, levels)
        self.cols_i, self.cols_f = _axis_tables(w, levels)
        # first_row[l, g]: the first output row whose upper tap i0 is >= g (h if none), g = 0 .. h_l + 1
        self.first_row = np.full((levels, h + 2), h, np.int64)
        for level in range(levels):
            hl = -(-h // 2**level)
            self.first_row[level, : hl + 2] = np.searchsorted(self.rows_i[0, level], np.arange(hl + 2), "left")
        offsets = shape.offsets
        self.grids = np.array([[level, offsets[j], -(-w // 2**level)] for j, level in enumerate(shape.grid_levels)],
                              np.int64).reshape(-1, 3)
        sizes = shape.layer_sizes
        self.sizes = np.array(sizes, np.int64)
        self.starts = np.cumsum((0,) + sizes, dtype=np.int64)  # activation rows of each layer in a chunk buffer
        self.layout = np.cumsum((0,) + shape.tensor_sizes, dtype=np.int64)
        self.offsets = offsets
        self.workspaces: dict[np.dtype, _Workspace] = {}


_PLANS: dict[SynthesisShape, _Plan] = {}
_PLANS_LOCK = threading.Lock()
_PLANS_KEPT = 4  # shapes whose tables are kept (small)
_WORKSPACES_KEPT = 2  # of those, the most recently trained ones keep their training buffers (tens of MB)
_TRAINED: list[_Plan] = []


def _plan(shape: SynthesisShape) -> _Plan:
    plan = _PLANS.get(shape)
    if plan is None:
        with _PLANS_LOCK:
            plan = _PLANS.get(shape)
            if plan is None:
                plan = _Plan(shape)
                while len(_PLANS) >= _PLANS_KEPT:
                    _PLANS.pop(next(iter(_PLANS)))
                _PLANS[shape] = plan
    return plan


def _workspace(plan: _Plan, dtype: np.dtype) -> _Workspace:
    """The plan's training buffers; only the last _WORKSPACES_KEPT plans trained keep theirs."""
    if not _TRAINED or _TRAINED[0] is not plan:
        with _PLANS_LOCK:
            if plan in _TRAINED:
                _TRAINED.remove(plan)
            _TRAINED.insert(0, plan)
            for old in _TRAINED[_WORKSPACES_KEPT:]:
                old.workspaces = {}
            del _TRAINED[_WORKSPACES_KEPT:]
    workspace = plan.workspaces.get(dtype)
    if workspace is None:
        workspace = plan.workspaces.setdefault(dtype, _Workspace())
    return workspace


def release_buffers() -> None:
    """Drop the training buffers kept between forward_backward calls ((2R + 1) C + inputs values a pixel of
    the largest window, R > 0; inputs values a pixel, R = 0): call it when training is over."""
    with _PLANS_LOCK:
        for plan in _TRAINED:
            plan.workspaces = {}
        _TRAINED.clear()


# ------------------------------------------------------------------------------ shared forward helpers


@numba.njit(**_OPTS)
def _upsample_chunk(lat, grids, rows_i, rows_f, cols_i, cols_f, y, xa, n, h):
    """h[j, 0:n] = grid j up-sampled at image row y, columns xa .. xa+n-1 (spec 11.3, in its order)."""
    for j in range(grids.shape[0]):
        level = grids[j, 0]
        off = grids[j, 1]
        wl = grids[j, 2]
        hj = h[j]
        if level == 0:
            base = off + y * wl + xa
            for x in range(n):
                hj[x] = lat[base + x]
        else:
            b0 = off + rows_i[0, level, y] * wl
            b1 = off + rows_i[1, level, y] * wl
            gy = rows_f[0, level, y]
            fy = rows_f[1, level, y]
            for x in range(n):
                c0 = cols_i[0, level, xa + x]
                c1 = cols_i[1, level, xa + x]
                gx = cols_f[0, level, xa + x]
                fx = cols_f[1, level, xa + x]
                hj[x] = gy * (gx * lat[b0 + c0] + fx * lat[b0 + c1]) + fy * (gx * lat[b1 + c0] + fx * lat[b1 + c1])


@numba.njit(inline="always", **_OPTS)
def _accumulate_one(dst, src, s0, terms, wts, w0, w_step, n):
    """dst[0:n] += sum over j < terms, in order, of wts[w0 + j * w_step] * src[s0 + j, 0:n]: one output row of
    a 1x1 layer (forward) or of its transpose (input gradients). Four terms per pass; each pixel's sum still
    runs left to right, so the result is that of adding one term at a time."""
    j = 0
    while j + 4 <= terms:
        c0 = wts[w0 + j * w_step]
        c1 = wts[w0 + (j + 1) * w_step]
        c2 = wts[w0 + (j + 2) * w_step]
        c3 = wts[w0 + (j + 3) * w_step]
        a0 = src[s0 + j]
        a1 = src[s0 + j + 1]
        a2 = src[s0 + j + 2]
        a3 = src[s0 + j + 3]
        for x in range(n):
            dst[x] = (((dst[x] + c0 * a0[x]) + c1 * a1[x]) + c2 * a2[x]) + c3 * a3[x]
        j += 4
    while j < terms:
        c = wts[w0 + j * w_step]
        a = src[s0 + j]
        for x in range(n):
            dst[x] = dst[x] + c * a[x]
        j += 1


@numba.njit(inline="always", **_OPTS)
def _accumulate_four(dst, d0, src, s0, terms, wts, w0, out_step, w_step, n):
    """_accumulate_one for the rows dst[d0 .. d0+3] together, row k's weights starting at w0 + k * out_step:
    each source row is loaded once for the four, and every row's sum keeps its order."""
    h0 = dst[d0]
    h1 = dst[d0 + 1]
    h2 = dst[d0 + 2]
    h3 = dst[d0 + 3]
    r0 = w0
    r1 = w0 + out_step
    r2 = w0 + 2 * out_step
    r3 = w0 + 3 * out_step
    j = 0
    while j + 4 <= terms:
        a0 = src[s0 + j]
        a1 = src[s0 + j + 1]
        a2 = src[s0 + j + 2]
        a3 = src[s0 + j + 3]
        t0 = j * w_step
        t1 = t0 + w_step
        t2 = t1 + w_step
        t3 = t2 + w_step
        w00, w01, w02, w03 = wts[r0 + t0], wts[r0 + t1], wts[r0 + t2], wts[r0 + t3]
        w10, w11, w12, w13 = wts[r1 + t0], wts[r1 + t1], wts[r1 + t2], wts[r1 + t3]
        w20, w21, w22, w23 = wts[r2 + t0], wts[r2 + t1], wts[r2 + t2], wts[r2 + t3]
        w30, w31, w32, w33 = wts[r3 + t0], wts[r3 + t1], wts[r3 + t2], wts[r3 + t3]
        for x in range(n):
            v0 = a0[x]
            v1 = a1[x]
            v2 = a2[x]
            v3 = a3[x]
            h0[x] = (((h0[x] + w00 * v0) + w01 * v1) + w02 * v2) + w03 * v3
            h1[x] = (((h1[x] + w10 * v0) + w11 * v1) + w12 * v2) + w13 * v3
            h2[x] = (((h2[x] + w20 * v0) + w21 * v1) + w22 * v2) + w23 * v3
            h3[x] = (((h3[x] + w30 * v0) + w31 * v1) + w32 * v2) + w33 * v3
        j += 4
    while j < terms:
        a = src[s0 + j]
        t = j * w_step
        c0 = wts[r0 + t]
        c1 = wts[r1 + t]
        c2 = wts[r2 + t]
        c3 = wts[r3 + t]
        for x in range(n):
            v = a[x]
            h0[x] = h0[x] + c0 * v
            h1[x] = h1[x] + c1 * v
            h2[x] = h2[x] + c2 * v
            h3[x] = h3[x] + c3 * v
        j += 1


@numba.njit(**_OPTS)
def _mlp_chunk(h, n, wts, layout, sizes, starts):
    """The 1x1 layers on n pixels: activations of layer k in rows starts[k] .. starts[k+1]-1 of h.

    Per pixel and output: acc = b, then acc += A[o, i] * a[i] for i in order (spec 11.4); the loop over
    pixels is innermost, so it vectorises without changing any pixel's order of operations."""
    zero = h.dtype.type(0)
    layers = sizes.size - 1
    for k in range(layers):
        nin = sizes[k]
        nout = sizes[k + 1]
        si = starts[k]
        so = starts[k + 1]
        wo = layout[2 * k]
        bo = layout[2 * k + 1]
        for o in range(nout):
            ho = h[so + o]
            bv = wts[bo + o]
            for x in range(n):
                ho[x] = bv
        o = 0
        while o + 4 <= nout:  # four outputs per pass, each input row loaded once for the four
            _accumulate_four(h, so + o, h, si, nin, wts, wo + o * nin, nin, 1, n)
            o += 4
        while o < nout:
            _accumulate_one(h[so + o], h, si, nin, wts, wo + o * nin, 1, n)
            o += 1
        if k < layers - 1:
            for o in range(nout):
                ho = h[so + o]
                for x in range(n):
                    v = ho[x]
                    ho[x] = v if v > zero else zero


@numba.njit(**_OPTS)
def _conv_acc(src, rm, r0, rp, n, wts, fo, eo, c_out, acc):
    """acc[c, 0:n] = e[c] + sum over ci, dy, dx (in that order) of F[c, ci, dy, dx] * src[ci, row_dy, x+dx-1],
    columns clamped to 0 .. n-1; rm, r0, rp are src's rows for dy = 0, 1, 2 (already clamped)."""
    for c in range(c_out):
        ac = acc[c]
        bv = wts[eo + c]
        for x in range(n):
            ac[x] = bv
        for ci in range(c_out):
            for dy in range(3):
                row = src[ci, rm] if dy == 0 else (src[ci, r0] if dy == 1 else src[ci, rp])
                kb = fo + ((c * c_out + ci) * 3 + dy) * 3
                k0 = wts[kb]
                k1 = wts[kb + 1]
                k2 = wts[kb + 2]
                ac[0] += k0 * row[0]
                for x in range(1, n):
                    ac[x] += k0 * row[x - 1]
                for x in range(n):
                    ac[x] += k1 * row[x]
                for x in range(n - 1):
                    ac[x] += k2 * row[x + 1]
                ac[n - 1] += k2 * row[n - 1]


# ------------------------------------------------------------------------------------------- decoder


@numba.njit(**_OPTS)
def _decode_range(lat, grids, rows_i, rows_f, cols_i, cols_f, wts, layout, sizes, starts, height, width, c_out,
                  residual, stripe, out_u8, out_f, as_float, first, last):
    """Stripes first .. last-1 of `stripe` rows: the 1x1 network on the stripe plus R rows of margin each
    side, the residual layers (each one row narrower at both ends, except at the image's edges), samples."""
    zero = np.float32(0)
    f255 = np.float32(255)
    half = np.float32(0.5)
    layers = sizes.size - 1
    margin = residual
    a_buf = np.empty((c_out, stripe + 2 * margin, width), np.float32)
    b_buf = np.empty((c_out, stripe + 2 * margin, width), np.float32)
    acc = np.empty((c_out, width), np.float32)
    h = np.empty((starts[layers + 1], CHUNK), np.float32)
    out_row = starts[layers]
    for s in range(first, last):
        ys = s * stripe
        ye = min(height, ys + stripe)
        top = max(0, ys - margin)
        bottom = min(height, ye + margin)
        for y in range(top, bottom):
            for xa in range(0, width, CHUNK):
                n = min(CHUNK, width - xa)
                _upsample_chunk(lat, grids, rows_i, rows_f, cols_i, cols_f, y, xa, n, h)
                _mlp_chunk(h, n, wts, layout, sizes, starts)
                for c in range(c_out):
                    src_row = h[out_row + c]
                    dst_row = a_buf[c, y - top]
                    for x in range(n):
                        dst_row[xa + x] = src_row[x]
        src = a_buf
        dst = b_buf
        for r in range(residual):
            lo = max(0, ys - (residual - 1 - r))
            hi = min(height, ye + (residual - 1 - r))
            fo = layout[2 * layers + 2 * r]
            eo = layout[2 * layers + 2 * r + 1]
            relu = r < residual - 1
            for y in range(lo, hi):
                r0 = y - top
                _conv_acc(src, max(y - 1, 0) - top, r0, min(y + 1, height - 1) - top, width, wts, fo, eo, c_out, acc)
                for c in range(c_out):
                    ac = acc[c]
                    so = src[c, r0]
                    do = dst[c, r0]
                    if relu:
                        for x in range(width):
                            v = ac[x]
                            do[x] = so[x] + (v if v > zero else zero)
                    else:
                        for x in range(width):
                            do[x] = so[x] + ac[x]
            src, dst = dst, src
        for y in range(ys, ye):
            for c in range(c_out):
                row = src[c, y - top]
                if as_float:
                    for x in range(width):
                        out_f[y, x, c] = row[x]
                else:
                    for x in range(width):
                        t = row[x] * f255 + half
                        if not t >= zero:
                            out_u8[y, x, c] = 0
                        elif t >= f255:
                            out_u8[y, x, c] = 255
                        else:
                            out_u8[y, x, c] = np.uint8(int(t))


class _JoinCache:
    """The last few lists of tensors found to be consecutive slices of one array, by identity (weakly held):
    a trainer passes the same lists every step, and re-deriving the joined view costs ~15 us a list."""

    def __init__(self) -> None:
        self.entries: list[tuple[list, weakref.ref, int, int]] = []

    def joined(self, tensors: Sequence[np.ndarray]) -> np.ndarray | None:
        for refs, base_ref, start, stop in self.entries:
            if len(refs) == len(tensors) and all(r() is t for r, t in zip(refs, tensors)):
                base = base_ref()
                if base is not None:
                    return base[start:stop]
        view = _joined_view(tensors)
        if view is not None:
            base = view.base
            start = (view.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // base.itemsize
            entry = ([weakref.ref(t) for t in tensors], weakref.ref(base), start, start + view.size)
            self.entries = [entry] + self.entries[:3]
        return view


_JOINS = _JoinCache()


def _flat_tensors(tensors: Tensors, count: int, dtype) -> np.ndarray:
    """The tensors as one flat array in file order (no copy when it already is one)."""
    if isinstance(tensors, np.ndarray):
        flat = tensors
    else:
        flat = _JOINS.joined(tensors)
        if flat is None:
            flat = np.concatenate([np.asarray(t).ravel() for t in tensors]) if len(tensors) else np.zeros(0, dtype)
    if flat.dtype != dtype or flat.ndim != 1 or not flat.flags.c_contiguous:
        flat = np.ascontiguousarray(flat.ravel(), dtype=dtype)
    if flat.size != count:
        raise ValueError(f"the synthesis needs {count} weights, got {flat.size}")
    return flat


def _joined_view(tensors: Sequence[np.ndarray]) -> np.ndarray | None:
    """If the tensors are consecutive 1-D slices of one C-contiguous 1-D array (as a trainer's flat parameter
    vector gives), that array's slice covering them all: writable, so gradients can be added in place."""
    if not tensors:
        return None
    base = tensors[0].base
    if not isinstance(base, np.ndarray) or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    item = base.itemsize
    start = tensors[0].__array_interface__["data"][0]
    pos = start
    for t in tensors:
        if t.base is not base or t.ndim != 1 or t.dtype != base.dtype or t.__array_interface__["data"][0] != pos:
            return None
        if t.size and t.strides[0] != item:
            return None
        pos += t.size * item
    first = (start - base.__array_interface__["data"][0]) // item
    return base[first : first + (pos - start) // item]


def _decode(shape: SynthesisShape, latents: np.ndarray, tensors: Tensors, out_u8, out_f, stripe_rows: int) -> None:
    plan = _plan(shape)
    lat = np.ascontiguousarray(latents, dtype=np.float32).ravel()
    if lat.size != shape.latent_count:
        raise ValueError(f"the synthesis needs {shape.latent_count} latents, got {lat.size}")
    wts = _flat_tensors(tensors, shape.weight_count, np.float32)
    stripes = -(-shape.height // stripe_rows)
    run_blocks(_decode_range, stripes, 1,
               (lat, plan.grids, plan.rows_i, plan.rows_f, plan.cols_i, plan.cols_f, wts, plan.layout, plan.sizes,
                plan.starts, shape.height, shape.width, shape.channels_out, shape.residual, stripe_rows, out_u8,
                out_f, out_f.size > 0))


def _check_out(out: np.ndarray, shape: SynthesisShape, dtype) -> None:
    want = (shape.height, shape.width, shape.channels_out)
    if out.shape != want or out.dtype != dtype or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out must be a writable C-contiguous {np.dtype(dtype).name} array of shape {want}")


def synthesize(shape: SynthesisShape, latents: np.ndarray, tensors: Tensors, out: np.ndarray | None = None, *,
               stripe_rows: int = STRIPE_ROWS) -> np.ndarray:
    """The decoder (spec section 11): the (H, W, C) uint8 image of float32 `latents` and `tensors`, into `out`.

    Bit-exact float32 in the spec's order of operations. Works in stripes of `stripe_rows` rows shared
    between threads; memory beyond `out` is a few stripes' activations."""
    if out is None:
        out = np.empty((shape.height, shape.width, shape.channels_out), np.uint8)
    _check_out(out, shape, np.uint8)
    _decode(shape, latents, tensors, out, np.zeros((0, 0, 0), np.float32), int(stripe_rows))
    return out


def synthesize_float(shape: SynthesisShape, latents: np.ndarray, tensors: Tensors, out: np.ndarray | None = None, *,
                     stripe_rows: int = STRIPE_ROWS) -> np.ndarray:
    """The decoder's float32 output o (H, W, C) before the samples are rounded (o = 1 is sample 255)."""
    if out is None:
        out = np.empty((shape.height, shape.width, shape.channels_out), np.float32)
    _check_out(out, shape, np.float32)
    _decode(shape, latents, tensors, np.zeros((0, 0, 0), np.uint8), out, int(stripe_rows))
    return out


# ------------------------------------------------------------------------------------------ training


@numba.njit(inline="always", **_OPTS)
def _lane_mac(lanes, a, b, n):
    """lanes[x % LANES] += a[x] * b[x] for x < n (a full chunk in one pass over the lanes)."""
    if n == CHUNK:
        for x in range(LANES):
            lanes[x] = (((lanes[x] + a[x] * b[x]) + a[x + LANES] * b[x + LANES])
                        + a[x + 2 * LANES] * b[x + 2 * LANES]) + a[x + 3 * LANES] * b[x + 3 * LANES]
    else:
        base = 0
        while base + LANES <= n:
            for x in range(LANES):
                lanes[x] += a[base + x] * b[base + x]
            base += LANES
        for x in range(n - base):
            lanes[x] += a[base + x] * b[base + x]


@numba.njit(inline="always", **_OPTS)
def _lane_add(lanes, a, n):
    """lanes[x % LANES] += a[x] for x < n."""
    if n == CHUNK:
        for x in range(LANES):
            lanes[x] = (((lanes[x] + a[x]) + a[x + LANES]) + a[x + 2 * LANES]) + a[x + 3 * LANES]
    else:
        base = 0
        while base + LANES <= n:
            for x in range(LANES):
                lanes[x] += a[base + x]
            base += LANES
        for x in range(n - base):
            lanes[x] += a[base + x]


@numba.njit(**_OPTS)
def _mlp_backward_chunk(h, g, n, wts, layout, sizes, starts, lanes):
    """Back through the 1x1 layers for n pixels: g[0, 0:C] holds dL/d(output); adds each pixel's dL/dA_k,
    dL/db_k to its lane of `lanes` (rows in file layout) and returns the buffer index whose rows
    0 .. inputs-1 hold dL/d(input)."""
    zero = h.dtype.type(0)
    layers = sizes.size - 1
    cur = 0
    for k in range(layers - 1, -1, -1):
        nin = sizes[k]
        nout = sizes[k + 1]
        si = starts[k]
        so = starts[k + 1]
        wo = layout[2 * k]
        bo = layout[2 * k + 1]
        if k < layers - 1:  # a = relu(pre): a > 0 exactly where pre > 0
            for o in range(nout):
                ho = h[so + o]
                go = g[cur, o]
                for x in range(n):
                    go[x] = go[x] if ho[x] > zero else zero
        for o in range(nout):
            go = g[cur, o]
            _lane_add(lanes[bo + o], go, n)
            for i in range(nin):
                _lane_mac(lanes[wo + o * nin + i], go, h[si + i], n)
        nxt = 1 - cur
        gn = g[nxt]
        gc = g[cur]
        for i in range(nin):
            gi = gn[i]
            for x in range(n):
                gi[x] = zero
        i = 0
        while i + 4 <= nin:  # dL/da_i = sum over o of A[o, i] dL/dpre_o: four inputs per pass
            _accumulate_four(gn, i, gc, 0, nout, wts, wo + i, 1, nin, n)
            i += 4
        while i < nin:
            _accumulate_one(gn[i], gc, 0, nout, wts, wo + i, nin, n)
            i += 1
        cur = nxt
    return cur


@numba.njit(**_OPTS)
def _train_mlp_forward_range(lat, grids, rows_i, rows_f, cols_i, cols_f, wts, layout, sizes, starts, wy0, wx0,
                             hw, ww, stripe, obuf, first, last):
    """Residual models: the 1x1 network's output o_0 on the window's stripes first .. last-1, into obuf[0]."""
    layers = sizes.size - 1
    h = np.empty((starts[layers + 1], CHUNK), lat.dtype)
    out_row = starts[layers]
    c_out = sizes[layers]
    for item in range(first, last):
        for yy in range(item * stripe, min(hw, (item + 1) * stripe)):
            for xa in range(0, ww, CHUNK):
                n = min(CHUNK, ww - xa)
                _upsample_chunk(lat, grids, rows_i, rows_f, cols_i, cols_f, wy0 + yy, wx0 + xa, n, h)
                _mlp_chunk(h, n, wts, layout, sizes, starts)
                for c in range(c_out):
                    src = h[out_row + c]
                    dst = obuf[0, c, yy]
                    for x in range(n):
                        dst[xa + x] = src[x]


@numba.njit(**_OPTS)
def _train_conv_forward_range(r, residual, wts, layout, hw, ww, stripe, obuf, prebuf, dbuf, target, wy0, wx0, grad2,
                              out, want_out, sse_part, first, last):
    """Residual layer r on stripes first .. last-1 of the window (rows and columns clamped at the window's
    edges). The last layer also gives the squared error (per stripe) and dL/do_R = grad2 * (o - target)."""
    zero = obuf.dtype.type(0)
    c_out = obuf.shape[1]
    layers = (layout.size - 1 - 2 * residual) // 2
    fo = layout[2 * layers + 2 * r]
    eo = layout[2 * layers + 2 * r + 1]
    acc = np.empty((c_out, ww), obuf.dtype)
    src = obuf[r]
    last_layer = r == residual - 1
    for item in range(first, last):
        sse = 0.0
        for y in range(item * stripe, min(hw, (item + 1) * stripe)):
            _conv_acc(src, max(y - 1, 0), y, min(y + 1, hw - 1), ww, wts, fo, eo, c_out, acc)
            for c in range(c_out):
                ac = acc[c]
                so = src[c, y]
                if not last_layer:
                    pre = prebuf[r, c, y]
                    dst = obuf[r + 1, c, y]
                    for x in range(ww):
                        v = ac[x]
                        pre[x] = v
                        dst[x] = so[x] + (v if v > zero else zero)
                else:
                    d = dbuf[residual % 2, c, y]
                    t = target[wy0 + y]
                    for x in range(ww):
                        o = so[x] + ac[x]
                        diff = np.float64(o) - np.float64(t[wx0 + x, c])
                        sse += diff * diff
                        d[x] = grad2 * diff
                        if want_out:
                            out[y, x, c] = o
        if last_layer:
            sse_part[item] = sse


@numba.njit(**_OPTS)
def _train_conv_backward_range(r, residual, wts, layout, hw, ww, stripe, obuf, prebuf, dbuf, part, first, last):
    """Back through residual layer r for the window rows of stripes first .. last-1: dL/do_r there, and this
    stripe's share of dL/dF_r, dL/de_r into its row of `part`. A stripe gathers the contributions of its
    neighbours' edge rows itself, so no two stripes write the same value."""
    zero = obuf.dtype.type(0)
    c_out = obuf.shape[1]
    layers = (layout.size - 1 - 2 * residual) // 2
    fo = layout[2 * layers + 2 * r]
    eo = layout[2 * layers + 2 * r + 1]
    relu = r < residual - 1
    din = dbuf[(r + 1) % 2]
    dout = dbuf[r % 2]
    src = obuf[r]
    dpre = np.empty((c_out, ww), obuf.dtype)
    taps = c_out * c_out * 9
    lanes = np.empty((taps + c_out, ww), obuf.dtype)  # per-pixel-column partial sums of dL/dF_r, dL/de_r
    n = ww
    for item in range(first, last):
        ya = item * stripe
        yb = min(hw, ya + stripe)
        lanes[:, :] = zero
        for c in range(c_out):
            for y in range(ya, yb):
                dout[c, y, :] = din[c, y, :]
        for ys in range(max(0, ya - 1), min(hw, yb + 1)):
            for c in range(c_out):
                dp = dpre[c]
                di = din[c, ys]
                if relu:
                    pr = prebuf[r, c, ys]
                    for x in range(n):
                        dp[x] = di[x] if pr[x] > zero else zero
                else:
                    for x in range(n):
                        dp[x] = di[x]
            if ya <= ys < yb:
                for c in range(c_out):
                    dp = dpre[c]
                    lb = lanes[taps + c]
                    for x in range(n):
                        lb[x] += dp[x]
                    for ci in range(c_out):
                        for dy in range(3):
                            row = src[ci, min(max(ys + dy - 1, 0), hw - 1)]
                            kb = ((c * c_out + ci) * 3 + dy) * 3
                            l0 = lanes[kb]
                            l1 = lanes[kb + 1]
                            l2 = lanes[kb + 2]
                            l0[0] += dp[0] * row[0]
                            for x in range(1, n):
                                l0[x] += dp[x] * row[x - 1]
                            for x in range(n):
                                l1[x] += dp[x] * row[x]
                            for x in range(n - 1):
                                l2[x] += dp[x] * row[x + 1]
                            l2[n - 1] += dp[n - 1] * row[n - 1]
            for dy in range(3):
                yt = min(max(ys + dy - 1, 0), hw - 1)
                if yt < ya or yt >= yb:
                    continue
                for ci in range(c_out):
                    do = dout[ci, yt]
                    for c in range(c_out):
                        dp = dpre[c]
                        kb = fo + ((c * c_out + ci) * 3 + dy) * 3
                        k0 = wts[kb]
                        k1 = wts[kb + 1]
                        k2 = wts[kb + 2]
                        do[0] += k0 * dp[0]
                        for x in range(1, n):
                            do[x - 1] += k0 * dp[x]
                        for x in range(n):
                            do[x] += k1 * dp[x]
                        for x in range(n - 1):
                            do[x + 1] += k2 * dp[x]
                        do[n - 1] += k2 * dp[n - 1]
        pt = part[item]
        for k in range(taps):
            pt[fo + k] = lane_total(lanes[k], n)
        for c in range(c_out):
            pt[eo + c] = lane_total(lanes[taps + c], n)


@numba.njit(**_OPTS)
def _train_mlp_backward_range(lat, grids, rows_i, rows_f, cols_i, cols_f, wts, layout, sizes, starts, wy0, wx0, hw,
                              ww, stripe, residual, dbuf, target, grad2, out, want_out, dz, part, sse_part, first,
                              last):
    """The 1x1 network's forward (again, cheaper than storing it) and backward on stripes first .. last-1:
    dL/dA_k, dL/db_k into the stripe's row of `part`, dL/d(up-sampled latents) into dz. Without residual
    layers this is the whole training pass, error included."""
    layers = sizes.size - 1
    c_out = sizes[layers]
    out_row = starts[layers]
    h = np.empty((starts[layers + 1], CHUNK), lat.dtype)
    g = np.empty((2, sizes.max(), CHUNK), lat.dtype)
    mlp_end = layout[2 * layers]
    lanes = np.empty((mlp_end, LANES), lat.dtype)  # partial sums of dL/dA_k, dL/db_k
    for item in range(first, last):
        lanes[:, :] = 0
        sse = 0.0
        for yy in range(item * stripe, min(hw, (item + 1) * stripe)):
            y = wy0 + yy
            t = target[y]
            for xa in range(0, ww, CHUNK):
                n = min(CHUNK, ww - xa)
                _upsample_chunk(lat, grids, rows_i, rows_f, cols_i, cols_f, y, wx0 + xa, n, h)
                _mlp_chunk(h, n, wts, layout, sizes, starts)
                for c in range(c_out):
                    gc = g[0, c]
                    if residual > 0:
                        d = dbuf[0, c, yy]
                        for x in range(n):
                            gc[x] = d[xa + x]
                    else:
                        oc = h[out_row + c]
                        for x in range(n):
                            o = oc[x]
                            diff = np.float64(o) - np.float64(t[wx0 + xa + x, c])
                            sse += diff * diff
                            gc[x] = grad2 * diff
                            if want_out:
                                out[yy, xa + x, c] = o
                cur = _mlp_backward_chunk(h, g, n, wts, layout, sizes, starts, lanes)
                for j in range(grids.shape[0]):
                    src = g[cur, j]
                    dst = dz[j, yy]
                    for x in range(n):
                        dst[xa + x] = src[x]
        pt = part[item]
        for k in range(mlp_end):
            pt[k] = lane_total(lanes[k], LANES)
        if residual == 0:
            sse_part[item] = sse


@numba.njit(**_OPTS)
def _latent_grad_range(grids, rows_i, rows_f, cols_i, cols_f, first_row, wy0, wx0, hw, ww, blocks, dz, grad_lat,
                       first, last):
    """dL/dlatents += the transposed up-sampling of dz. Item = (grid, block of its rows): each grid value is
    written by one item only, gathering the window rows that touch it (no collisions between threads)."""
    zero = dz.dtype.type(0)
    tmp = np.empty(ww, dz.dtype)
    for item in range(first, last):
        j = item // blocks
        b = item % blocks
        level = grids[j, 0]
        off = grids[j, 1]
        wl = grids[j, 2]
        if level == 0:
            for yy in range(b * hw // blocks, (b + 1) * hw // blocks):
                base = off + (wy0 + yy) * wl + wx0
                src = dz[j, yy]
                for x in range(ww):
                    grad_lat[base + x] += src[x]
            continue
        g_lo = rows_i[0, level, wy0]
        rows = rows_i[1, level, wy0 + hw - 1] + 1 - g_lo
        for gy in range(g_lo + b * rows // blocks, g_lo + (b + 1) * rows // blocks):
            y_a = max(first_row[level, max(gy - 1, 0)], wy0)
            y_b = min(first_row[level, gy + 1], wy0 + hw)
            for x in range(ww):
                tmp[x] = zero
            for y in range(y_a, y_b):
                wgt = zero
                if rows_i[0, level, y] == gy:
                    wgt += rows_f[0, level, y]
                if rows_i[1, level, y] == gy:
                    wgt += rows_f[1, level, y]
                if wgt != zero:
                    src = dz[j, y - wy0]
                    for x in range(ww):
                        tmp[x] += wgt * src[x]
            base = off + gy * wl
            for x in range(ww):
                xx = wx0 + x
                v = tmp[x]
                grad_lat[base + cols_i[0, level, xx]] += cols_f[0, level, xx] * v
                grad_lat[base + cols_i[1, level, xx]] += cols_f[1, level, xx] * v


@numba.njit(**_OPTS)
def _reduce_parts(part, sse_part, items, grad_w):
    """grad_w += the per-stripe partial gradients, summed in stripe order; returns the summed error."""
    for k in range(grad_w.size):
        s = 0.0
        for i in range(items):
            s += part[i, k]
        grad_w[k] += s
    sse = 0.0
    for i in range(items):
        sse += sse_part[i]
    return sse


def forward_backward(shape: SynthesisShape, latents: np.ndarray, tensors: Tensors, target: np.ndarray,
                     window: tuple[int, int, int, int], grad_latents: np.ndarray, grad_tensors: Tensors, *,
                     grad_scale: float = 1.0, out: np.ndarray | None = None) -> float:
    """Training pass on `window` = (y0, y1, x0, x1) of the image: returns the sum of squared errors over the
    window's pixels and channels against `target` ((H, W, C) float32 in [0, 1]) and ADDS grad_scale times its
    gradient to `grad_latents` (flat) and `grad_tensors` (flat array or list of tensors, file order).

    The dtype of `latents` (float32, or float64 for gradient checks) is the arithmetic's; the tensors and
    gradient arrays must have it too. The residual layers' padding clamps at the WINDOW's edges (a training
    approximation for patches; on the whole image it is the decoder's). `out`, if given ((y1-y0, x1-x0, C)),
    receives the output image o of the window: on the whole image it equals synthesize_float's bit for bit.

    Work buffers are kept between calls (see release_buffers); a call that finds them in use by another
    thread allocates its own, so concurrent calls are safe. Pass flat arrays, or the same lists of views of
    one array each step, for the least overhead.
    """
    plan = _plan(shape)
    dtype = latents.dtype
    if dtype not in (np.float32, np.float64) or latents.ndim != 1 or latents.size != shape.latent_count:
        raise ValueError(f"latents must be a flat float32/float64 array of {shape.latent_count} values")
    if grad_latents.dtype != dtype or grad_latents.shape != latents.shape or not grad_latents.flags.c_contiguous:
        raise ValueError("grad_latents must be like latents")
    c_out, residual = shape.channels_out, shape.residual
    if target.shape != (shape.height, shape.width, c_out) or target.dtype != np.float32:
        raise ValueError(f"target must be float32 of shape {(shape.height, shape.width, c_out)}")
    y0, y1, x0, x1 = (int(v) for v in window)
    if not (0 <= y0 < y1 <= shape.height and 0 <= x0 < x1 <= shape.width):
        raise ValueError(f"bad window {window} for a {shape.height}x{shape.width} image")
    hw, ww = y1 - y0, x1 - x0
    lat = np.ascontiguousarray(latents)
    tgt = np.ascontiguousarray(target)
    wts = _flat_tensors(tensors, shape.weight_count, dtype)
    if isinstance(grad_tensors, np.ndarray):
        gw = grad_tensors
        gw_list = None
    else:
        gw = _JOINS.joined(grad_tensors)
        gw_list = None if gw is not None else grad_tensors
        if gw is None:
            gw = np.zeros(shape.weight_count, dtype)
    if gw.dtype != dtype or gw.size != shape.weight_count or not gw.flags.c_contiguous:
        raise ValueError("grad_tensors must be like tensors")
    want_out = out is not None
    if out is None:
        out = np.zeros((0, 0, 0), dtype)
    elif out.shape != (hw, ww, c_out) or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be {np.dtype(dtype).name} of shape {(hw, ww, c_out)}")
    items = -(-hw // TRAIN_ROWS)
    workspace = _workspace(plan, np.dtype(dtype))
    locked = workspace.lock.acquire(blocking=False)
    if not locked:
        workspace = _Workspace()  # another thread is using the shared one
    try:
        obuf, prebuf, dbuf, dz, part, sse_part = workspace.get(shape, dtype, hw, ww, items, shape.weight_count)
        grad2 = 2.0 * float(grad_scale)
        tables = (plan.grids, plan.rows_i, plan.rows_f, plan.cols_i, plan.cols_f)
        if residual:
            run_blocks(_train_mlp_forward_range, items, 1,
                       (lat, *tables, wts, plan.layout, plan.sizes, plan.starts, y0, x0, hw, ww, TRAIN_ROWS, obuf))
            for r in range(residual):
                run_blocks(_train_conv_forward_range, items, 1,
                           (r, residual, wts, plan.layout, hw, ww, TRAIN_ROWS, obuf, prebuf, dbuf, tgt, y0, x0, grad2,
                            out, want_out, sse_part))
            for r in reversed(range(residual)):
                run_blocks(_train_conv_backward_range, items, 1,
                           (r, residual, wts, plan.layout, hw, ww, TRAIN_ROWS, obuf, prebuf, dbuf, part))
        run_blocks(_train_mlp_backward_range, items, 1,
                   (lat, *tables, wts, plan.layout, plan.sizes, plan.starts, y0, x0, hw, ww, TRAIN_ROWS, residual,
                    dbuf, tgt, grad2, out, want_out, dz, part, sse_part))
        blocks = -(-hw // LATENT_ROWS)
        run_blocks(_latent_grad_range, shape.inputs * blocks, 1,
                   (*tables, plan.first_row, y0, x0, hw, ww, blocks, dz, grad_latents))
        sse = _reduce_parts(part, sse_part, items, gw)
    finally:
        if locked:
            workspace.lock.release()
    if gw_list is not None:
        start = 0
        for t in gw_list:
            t.reshape(-1)[...] += gw[start : start + t.size]
            start += t.size
    return float(sse)


# ----------------------------------------------------------------------------------------- soft rounding


@numba.njit(inline="always", **_OPTS)
def _soft_round(x, inv_t, c):
    """softround(x, t) = floor(x) + 1/2 + c tanh((x - floor(x) - 1/2) / t), c = 1 / (2 tanh(1 / 2t)); and its
    slope c (1 - tanh^2) / t. tanh |z| = (1 - e) / (1 + e), e = exp(-2 |z|) by exp_nonpositive: no libm call,
    so the loop vectorises (math.tanh made this kernel a fifth of a training step)."""
    f = math.floor(x)
    z = (x - f - 0.5) * inv_t
    e = exp_nonpositive(-2.0 * abs(z))
    th = (1.0 - e) / (1.0 + e)
    th = th if z >= 0.0 else -th
    return f + 0.5 + c * th, (c * inv_t) * (1.0 - th * th)


@numba.njit(**_OPTS)
def _soft_round_noisy_range(lat, noise, inv_t, c, seen, slope, item_size, first, last):
    """Elements of items first .. last-1, through slices: indexing from a variable start kept LLVM from
    vectorising the loop (7 times slower)."""
    lo = first * item_size
    hi = min(lat.size, last * item_size)
    y, u, s, d = lat[lo:hi], noise[lo:hi], seen[lo:hi], slope[lo:hi]
    for i in range(hi - lo):
        a, da = _soft_round(np.float64(y[i]), inv_t, c)
        b, db = _soft_round(a + np.float64(u[i]), inv_t, c)
        s[i] = b
        d[i] = da * db


def soft_round_noisy(latents: np.ndarray, noise: np.ndarray, temperature: float, seen: np.ndarray,
                     slope: np.ndarray) -> None:
    """The training-time stand-in for rounding of C3 (Kim et al., 2024) and Cool-chic 3: seen =
    softround(softround(latents, t) + noise, t), and slope = d seen / d latents. softround goes from the identity
    (large t) to rounding (t -> 0), so lowering t over training hands the network rounded latents gradually,
    where uniform noise and then straight-through rounding left a gap (docs/overfit/stage5.md). Training only:
    nothing normative depends on it. All arrays flat float32 of one size; seen and slope are written."""
    if not (latents.shape == noise.shape == seen.shape == slope.shape and latents.ndim == 1):
        raise ValueError("latents, noise, seen and slope must be flat arrays of one size")
    if not temperature > 0.0:
        raise ValueError("the soft-rounding temperature must be positive")
    items = max(1, -(-latents.size // SOFT_ROUND_ITEM))
    run_blocks(_soft_round_noisy_range, items, 1,
               (latents, noise, 1.0 / temperature, 0.5 / math.tanh(0.5 / temperature), seen, slope, SOFT_ROUND_ITEM))


# ----------------------------------------------------------------------------------------------- Adam


@numba.njit(**_OPTS)
def _adam_range(p, g, m, v, lr, b1, nb1, b2, nb2, eps, c1, c2, zero_grad, item_size, first, last):
    """Adam on elements of items first .. last-1: m, v moments (nb = 1 - beta, rounded once from float64);
    step lr * m c1 / (sqrt(v c2) + eps)."""
    zero = p.dtype.type(0)
    for item in range(first, last):
        lo = item * item_size
        hi = min(p.size, lo + item_size)
        pi, gi, mi, vi = p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi]  # slices: a variable start index kept the
        for i in range(hi - lo):  # loop from vectorising (8 times slower)
            gv = gi[i]
            mv = b1 * mi[i] + nb1 * gv
            vv = b2 * vi[i] + nb2 * (gv * gv)
            mi[i] = mv
            vi[i] = vv
            pi[i] -= lr * (mv * c1) / (np.sqrt(vv * c2) + eps)
            if zero_grad:
                gi[i] = zero


def adam_step(params: np.ndarray, grads: np.ndarray, m: np.ndarray, v: np.ndarray, step: int, lr: float,
              beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, *, zero_grad: bool = False) -> None:
    """One Adam update (bias-corrected, step counted from 1) of the flat `params` in place, moments m, v in
    place; zero_grad also clears `grads` in the same pass (saving the trainer a pass over them). Arithmetic in
    the parameters' dtype."""
    if not (params.shape == grads.shape == m.shape == v.shape and params.ndim == 1):
        raise ValueError("params, grads, m and v must be flat arrays of one size")
    if step < 1:
        raise ValueError("Adam steps count from 1")
    t = params.dtype.type
    c1 = 1.0 / (1.0 - beta1**step)
    c2 = 1.0 / (1.0 - beta2**step)
    items = max(1, -(-params.size // ADAM_ITEM))
    run_blocks(_adam_range, items, 1,
               (params, grads, m, v, t(lr), t(beta1), t(1.0 - beta1), t(beta2), t(1.0 - beta2), t(eps), t(c1), t(c2),
                bool(zero_grad), ADAM_ITEM))
