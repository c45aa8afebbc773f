"""The logistic-map keystream kernel (spec/saec-v1.md, "logistic").

Lanes are independent orbits so the sequential map can still fill a pipeline. No fastmath: every operation is
an IEEE binary64 multiply or subtract in a fixed order, and the byte extraction is exact, so the stream is
bit-identical on every machine.
"""

from __future__ import annotations

import numba
import numpy as np

from .threads import run_blocks

__all__ = ["LANES", "BURN_IN", "STEPS_PER_CHUNK", "BYTES_PER_STEP", "BYTES_PER_CHUNK", "logistic_fill"]

LANES = 16
BURN_IN = 1024
BYTES_PER_STEP = 4 * LANES
STEPS_PER_CHUNK = 65536
BYTES_PER_CHUNK = BYTES_PER_STEP * STEPS_PER_CHUNK  # 4 MiB
_SCALE = 281474976710656.0  # 2**48


@numba.njit(cache=True, nogil=True)
def _fill_chunk(x0: np.ndarray, r: np.ndarray, words: np.ndarray, start: int, steps: int) -> None:
    """One chunk: burn in every lane, then emit floor(x * 2**48) mod 2**32 per lane per step."""
    x = x0.copy()
    for _ in range(BURN_IN):
        for lane in range(LANES):
            x[lane] = (r[lane] * x[lane]) * (1.0 - x[lane])
    pos = start
    for _ in range(steps):
        for lane in range(LANES):
            xl = (r[lane] * x[lane]) * (1.0 - x[lane])
            x[lane] = xl
            words[pos + lane] = np.uint32(np.int64(xl * _SCALE) & 0xFFFFFFFF)
        pos += LANES


@numba.njit(cache=True, nogil=True)
def _fill_chunks(x0: np.ndarray, r: np.ndarray, words: np.ndarray, steps_total: int, first: int, last: int) -> None:
    """Chunks ``first .. last-1`` of the keystream into ``words`` (each chunk writes only its own words)."""
    for c in range(first, last):
        step = c * STEPS_PER_CHUNK
        _fill_chunk(x0[c], r[c], words, step * LANES, min(STEPS_PER_CHUNK, steps_total - step))


def logistic_fill(x0: np.ndarray, r: np.ndarray, length: int) -> np.ndarray:
    """Keystream of ``length`` bytes; ``x0``/``r`` are (chunks, LANES) float64 lane seeds, one row per chunk.

    Chunks are independent, so they run on the worker threads (kernels.threads) without changing a single
    output byte; one chunk runs on the calling thread alone. Words are computed natively and emitted
    little-endian, as the spec says, whatever the host's byte order.
    """
    steps_total = (length + BYTES_PER_STEP - 1) // BYTES_PER_STEP
    words = np.empty(steps_total * LANES, dtype=np.uint32)
    run_blocks(_fill_chunks, x0.shape[0], 1, (x0, r, words, steps_total))
    words = words.astype("<u4", copy=False)
    return words.view(np.uint8)[:length]
