"""The logistic-map keystream kernel (spec/saec-v1.md, "logistic").

Lanes are independent orbits so the sequential map can still fill a pipeline. No fastmath: every operation is
an IEEE binary64 multiply or subtract in a fixed order, and the byte extraction is exact, so the stream is
bit-identical on every machine.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["LANES", "BURN_IN", "STEPS_PER_CHUNK", "BYTES_PER_STEP", "BYTES_PER_CHUNK", "logistic_fill"]

LANES = 16
BURN_IN = 1024
BYTES_PER_STEP = 4 * LANES
STEPS_PER_CHUNK = 65536
BYTES_PER_CHUNK = BYTES_PER_STEP * STEPS_PER_CHUNK  # 4 MiB
_SCALE = 281474976710656.0  # 2**48


@numba.njit(cache=True, nogil=True)
def _fill_chunk(x0: np.ndarray, r: np.ndarray, out: np.ndarray, start: int, steps: int) -> None:
    x = x0.copy()
    for _ in range(BURN_IN):
        for lane in range(LANES):
            x[lane] = (r[lane] * x[lane]) * (1.0 - x[lane])
    pos = start
    for _ in range(steps):
        for lane in range(LANES):
            xl = (r[lane] * x[lane]) * (1.0 - x[lane])
            x[lane] = xl
            v = np.int64(xl * _SCALE)
            out[pos] = v & 0xFF
            out[pos + 1] = (v >> 8) & 0xFF
            out[pos + 2] = (v >> 16) & 0xFF
            out[pos + 3] = (v >> 24) & 0xFF
            pos += 4


@numba.njit(cache=True, nogil=True, parallel=True)
def logistic_fill(x0: np.ndarray, r: np.ndarray, length: int) -> np.ndarray:
    """Keystream of ``length`` bytes; ``x0``/``r`` are (chunks, LANES) float64 lane seeds, one row per chunk.

    Chunks are independent, so they run in parallel without changing a single output byte.
    """
    chunks = x0.shape[0]
    steps_total = (length + BYTES_PER_STEP - 1) // BYTES_PER_STEP
    out = np.empty(steps_total * BYTES_PER_STEP, dtype=np.uint8)
    for c in numba.prange(chunks):
        first = c * STEPS_PER_CHUNK
        steps = min(STEPS_PER_CHUNK, steps_total - first)
        _fill_chunk(x0[c], r[c], out, first * BYTES_PER_STEP, steps)
    return out[:length]
