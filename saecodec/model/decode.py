"""The reference decoder: the few lines of numpy a file reader needs, simple enough to state in a format spec.

Every layer is ``a <- sigmoid(a @ W.T + b)`` in float64, starting from the stored latent codes (``q / 255``)
and ending at the 64 pixel values of an 8x8 block in (0, 1).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["sigmoid", "decode_latent"]


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-z)), the activation of every layer."""
    return 1.0 / (1.0 + np.exp(-z))


def decode_latent(latent: np.ndarray, layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Decode latent codes back to blocks.

    latent: (N, units) float64 in [0, 1]; layers ordered from the latent outward, each (W shape (out, in),
    b shape (out,)); every layer sigmoid. Returns (N, 64) float64 in (0, 1).
    """
    a = latent.astype(np.float64)
    for W, b in layers:
        a = sigmoid(a @ W.astype(np.float64).T + b.astype(np.float64))
    return a
