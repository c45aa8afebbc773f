"""The reference decoder: what a file reader computes, with the arithmetic fixed so the spec can state it.

Every layer is ``a <- sigmoid(b + W a)`` in binary64, the sum taken in input order ``k = 0, 1, ...`` (spec
section 5.4). A plain loop in Numba, not a BLAS product, because BLAS picks its own summation order (and its
worker threads keep spinning after a call, which starves the training kernels that run next).
"""

from __future__ import annotations

from typing import Sequence

import numba
import numpy as np

from ..kernels.sae import _view

__all__ = ["sigmoid", "decode_latent", "decode_blocks_into"]


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-z)), the activation of every layer."""
    return 1.0 / (1.0 + np.exp(-z))


@numba.njit(cache=True, nogil=True)
def _dense_sigmoid(a: np.ndarray, wt: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sigmoid(b + W a) for every row of ``a``; ``wt`` is W transposed, (in, out), for unit-stride loops."""
    n, inputs = a.shape
    outputs = wt.shape[1]
    out = np.empty((n, outputs))
    z = np.empty(outputs)
    for i in range(n):
        for o in range(outputs):
            z[o] = b[o]
        for k in range(inputs):
            ak = a[i, k]
            for o in range(outputs):
                z[o] += wt[k, o] * ak
        for o in range(outputs):
            out[i, o] = 1.0 / (1.0 + np.exp(-z[o]))
    return out


def decode_latent(latent: np.ndarray, layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Decode latent codes back to blocks.

    latent: (N, units) float64 in [0, 1]; layers ordered from the latent outward, each (W shape (out, in),
    b shape (out,)); every layer sigmoid. Returns (N, 64) float64 in (0, 1).
    """
    a = np.ascontiguousarray(latent, dtype=np.float64)
    for w, b in layers:
        wt = np.ascontiguousarray(np.asarray(w, dtype=np.float64).T)
        a = _dense_sigmoid(a, wt, np.ascontiguousarray(b, dtype=np.float64))
    return a


@numba.njit(cache=True, nogil=True)
def _decode_into_kernel(codes: np.ndarray, params: np.ndarray, layout: np.ndarray, widest: int, block: int,
                        first: int, last: int, blocks_wide: int, out: np.ndarray, channel: int) -> None:
    """Blocks first .. last-1 (raster order) of one channel: codes -> layers -> pixels written into
    ``out[:, :, channel]`` (``out``: (height, width, channels); the blocks' padding beyond it is dropped).

    Layer j's W transposed, (inputs, outputs) row-major, starts at ``params[layout[j, 0]]`` and its bias at
    ``params[layout[j, 1]]``: flat arrays rather than Numba typed lists, whose own functions are compiled
    again in every process (0.9 s of CPU before each paper decode, even with a warm cache)."""
    height, width = out.shape[0], out.shape[1]
    a = np.empty(widest)
    z = np.empty(widest)
    layers = layout.shape[0]
    for blk in range(first, last):
        inputs = codes.shape[1]
        for k in range(inputs):
            a[k] = codes[blk, k] / 255.0
        for j in range(layers):
            w0 = layout[j, 0]
            b0 = layout[j, 1]
            outputs = layout[j, 2]
            wt = _view(params, w0, (inputs, outputs))
            b = _view(params, b0, (outputs,))
            for o in range(outputs):
                z[o] = b[o]
            for k in range(inputs):
                ak = a[k]
                for o in range(outputs):
                    z[o] += wt[k, o] * ak
            for o in range(outputs):
                a[o] = 1.0 / (1.0 + np.exp(-z[o]))
            inputs = outputs
        y0 = (blk // blocks_wide) * block
        x0 = (blk % blocks_wide) * block
        for k in range(block * block):
            y = y0 + k // block
            x = x0 + k % block
            if y < height and x < width:
                v = np.rint(a[k] * 255.0)
                if v < 0.0:
                    v = 0.0
                elif v > 255.0:
                    v = 255.0
                out[y, x, channel] = np.uint8(v)


def decode_blocks_into(codes: np.ndarray, layers: Sequence[tuple[np.ndarray, np.ndarray]], block: int,
                       blocks_wide: int, out: np.ndarray, first: int = 0, last: int | None = None) -> None:
    """Decode one channel's 8-bit codes straight into its uint8 plane ``out`` (height, width), block by block.

    The same arithmetic, in the same order, as ``decode_latent`` on ``codes / 255`` followed by the paper
    profile's rounding (``clip(rint(255 a), 0, 255)``) and cropping, but with two vectors of the widest layer
    as its only working memory, so a decoder's memory does not grow with the number of blocks or the layers'
    widths. ``codes``: (blocks, units) uint8, blocks in raster order ``blocks_wide`` a row.
    """
    parts = []
    layout = np.zeros((len(layers), 3), dtype=np.int64)  # W^T start, bias start, outputs
    pos = 0
    for j, (w, b) in enumerate(layers):
        wt = np.ascontiguousarray(np.asarray(w, dtype=np.float64).T)
        bias = np.ascontiguousarray(b, dtype=np.float64).reshape(-1)
        layout[j] = (pos, pos + wt.size, wt.shape[1])
        parts += [wt.reshape(-1), bias]
        pos += wt.size + bias.size
    params = np.concatenate(parts) if parts else np.zeros(0)
    widest = max([codes.shape[1]] + [int(n) for n in layout[:, 2]])
    end = codes.shape[0] if last is None else last
    codes = np.ascontiguousarray(codes).view()
    codes.flags.writeable = False  # read-only like a decoder's: one compiled specialisation for both
    image, channel, copied = _as_channel(out)
    _decode_into_kernel(codes, params, layout, widest, int(block), int(first), int(end), int(blocks_wide), image,
                        channel)
    if copied:
        out[...] = image[:, :, 0]


def _as_channel(out: np.ndarray) -> tuple[np.ndarray, int, bool]:
    """(image, c, copied) with ``image[:, :, c]`` the plane ``out`` and ``image`` C-contiguous (H, W, C) uint8,
    so that one compiled kernel serves a grey plane, a channel of a colour image and anything else (then a
    copy, ``copied``, for the caller to write back): a strided channel would compile a second specialisation."""
    if out.ndim == 2 and out.dtype == np.uint8 and out.flags.writeable:
        if out.flags.c_contiguous:
            return out[:, :, None], 0, False
        base = out.base
        if (isinstance(base, np.ndarray) and base.ndim == 3 and base.dtype == np.uint8 and base.flags.c_contiguous
                and base.flags.writeable and base.shape[:2] == out.shape and base.strides[:2] == out.strides):
            offset = out.__array_interface__["data"][0] - base.__array_interface__["data"][0]
            if 0 <= offset < base.shape[2]:
                return base, offset, False
    return np.array(out, dtype=np.uint8, order="C")[:, :, None], 0, True
