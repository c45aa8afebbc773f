"""The reference decoder: what a file reader computes, with the arithmetic fixed so the spec can state it.

Every layer is ``a <- sigmoid(b + W a)`` in binary64, the sum taken in input order ``k = 0, 1, ...`` (spec
section 5.4). A plain loop in Numba, not a BLAS product, because BLAS picks its own summation order (and its
worker threads keep spinning after a call, which starves the training kernels that run next).
"""

from __future__ import annotations

from typing import Sequence

import numba
import numpy as np

__all__ = ["sigmoid", "decode_latent"]


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
