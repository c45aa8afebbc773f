"""Quality and security metrics for reconstructed and encrypted images.

Reconstruction quality follows the paper (Hu et al., arXiv:1608.05001): MSE (eq. 9) and PSNR with
MAX = 255 (eq. 10), reported per colour channel as in its Tables 1-2. Encryption quality uses the
adjacent-pixel correlation coefficient of eq. (11), plus the usual companions from the image
encryption literature (Shannon entropy, NPCR, UACI) so ciphertext can be compared with ideal values.

Everything here is plain numpy and computes in float64, so results do not depend on input dtype
overflow (uint8 differences wrap around if computed naively).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from .errors import InputError

__all__ = [
    "NPCR_IDEAL",
    "UACI_IDEAL",
    "DIRECTIONS",
    "mse",
    "mse_per_channel",
    "psnr",
    "psnr_per_channel",
    "to_grayscale",
    "adjacent_correlation",
    "adjacent_correlations",
    "entropy",
    "npcr",
    "uaci",
]

# Expected NPCR of two independent uniform random byte arrays: P(X != Y) = 1 - 1/256.
NPCR_IDEAL: float = 99.6094  # exactly 99.609375

# Expected UACI of two independent uniform random byte arrays: 100 * E|X - Y| / 255 with X, Y uniform
# on 0..255. E|X - Y| = 2 * sum_{d=1}^{255} d * (256 - d) / 256**2 = 2 * 2_796_160 / 65_536
# = 85.33203125, so UACI = 100 * 85.33203125 / 255 = 33.463541666...
UACI_IDEAL: float = 33.4635

DIRECTIONS: tuple[str, ...] = ("horizontal", "vertical", "diagonal")

# ITU-R BT.601 luma weights, the ones MATLAB's rgb2gray uses.
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float64)


# --------------------------------------------------------------------------- input checks


def _as_real_array(x: Any, name: str) -> np.ndarray:
    """Accept any real numeric array; reject empty, complex, bool, object and non-finite inputs early
    so metric values are never silently nan because of garbage input."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise InputError(f"{name} cannot be converted to an array: {exc}") from None
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise InputError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.size == 0:
        raise InputError(f"{name} is empty")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise InputError(f"{name} contains nan or inf")
    return arr


def _as_uint8(x: Any, name: str) -> np.ndarray:
    """Byte-level metrics (entropy, NPCR, UACI) are defined on 8-bit samples only; anything else is a
    caller bug (e.g. passing float reconstructions), so refuse instead of casting."""
    arr = np.asarray(x)
    if arr.dtype != np.uint8:
        raise InputError(f"{name} must be a uint8 array, got dtype {arr.dtype}")
    if arr.size == 0:
        raise InputError(f"{name} is empty")
    return arr


def _pair(a: Any, b: Any, *, uint8: bool) -> tuple[np.ndarray, np.ndarray]:
    conv = _as_uint8 if uint8 else _as_real_array
    x = conv(a, "original" if not uint8 else "a")
    y = conv(b, "reconstructed" if not uint8 else "b")
    if x.shape != y.shape:
        raise InputError(f"shape mismatch: {x.shape} vs {y.shape}")
    return x, y


def _channels_last(arr: np.ndarray) -> np.ndarray:
    """View an (H,W) or (H,W,C) image as (H,W,C) so per-channel code has one path."""
    if arr.ndim == 2:
        return arr[:, :, np.newaxis]
    if arr.ndim == 3:
        return arr
    raise InputError(f"expected an (H,W) or (H,W,C) image, got shape {arr.shape}")


# --------------------------------------------------------------------------- MSE / PSNR


@numba.njit(cache=True, nogil=True)
def _sse_u8(a: np.ndarray, b: np.ndarray) -> int:
    total = 0
    for i in range(a.size):
        d = np.int64(a[i]) - np.int64(b[i])
        total += d * d
    return total


def _flat_readonly(arr: np.ndarray) -> np.ndarray:
    """A read-only 1-D C-contiguous view (a copy only when not contiguous): every caller's arrays, writeable
    or not, reach one compiled specialisation of ``_sse_u8``."""
    flat = np.ascontiguousarray(arr).reshape(-1).view()
    flat.flags.writeable = False
    return flat


def mse(original: Any, reconstructed: Any) -> float:
    """Mean squared error over all samples (paper eq. 9; for colour, over all channels together).

    For two uint8 images the sum of squares is exact (integers) and needs no float copies: the rd encoder
    evaluates it for every candidate it tries.
    """
    x, y = _pair(original, reconstructed, uint8=False)
    if x.dtype == np.uint8 and y.dtype == np.uint8:
        return _sse_u8(_flat_readonly(x), _flat_readonly(y)) / x.size
    d = x.astype(np.float64) - y.astype(np.float64)
    return float(np.mean(d * d))


def mse_per_channel(original: Any, reconstructed: Any) -> list[float]:
    """MSE of each channel, as the paper reports R, G and B separately. (H,W) counts as one channel."""
    x, y = _pair(original, reconstructed, uint8=False)
    x3, y3 = _channels_last(x), _channels_last(y)
    d = x3.astype(np.float64) - y3.astype(np.float64)
    return [float(v) for v in np.mean(d * d, axis=(0, 1))]


def _psnr_from_mse(m: float, max_value: float) -> float:
    if m == 0.0:
        return math.inf
    return float(10.0 * math.log10(max_value * max_value / m))


def _check_max(max_value: float) -> float:
    try:
        mv = float(max_value)
    except (TypeError, ValueError):
        raise InputError(f"max_value must be a number, got {max_value!r}") from None
    if not math.isfinite(mv) or mv <= 0.0:
        raise InputError(f"max_value must be finite and > 0, got {max_value!r}")
    return mv


def psnr(original: Any, reconstructed: Any, max_value: float = 255.0) -> float:
    """PSNR in dB (paper eq. 10, MAX = 255); inf when the images are identical (MSE = 0)."""
    mv = _check_max(max_value)
    return _psnr_from_mse(mse(original, reconstructed), mv)


def psnr_per_channel(original: Any, reconstructed: Any, max_value: float = 255.0) -> list[float]:
    """PSNR of each channel in dB, matching the per-channel columns of the paper's Tables 1-2."""
    mv = _check_max(max_value)
    return [_psnr_from_mse(m, mv) for m in mse_per_channel(original, reconstructed)]


# --------------------------------------------------------------------------- correlation


def to_grayscale(image: Any) -> np.ndarray:
    """Luma as float64 (H,W) with BT.601 weights, like MATLAB rgb2gray (which the paper used before
    its correlation analysis) but without rounding, so correlations are not quantisation-biased.

    (H,W) and (H,W,1) pass through; (H,W,2) is gray+alpha and keeps the gray; (H,W,3) is RGB;
    (H,W,4) is RGBA and the alpha channel is ignored.
    """
    arr = _as_real_array(image, "image")
    if arr.ndim == 2:
        return arr.astype(np.float64)
    if arr.ndim != 3:
        raise InputError(f"expected an (H,W) or (H,W,C) image, got shape {arr.shape}")
    c = arr.shape[2]
    if c in (1, 2):
        return arr[:, :, 0].astype(np.float64)
    if c in (3, 4):
        return arr[:, :, :3].astype(np.float64) @ _LUMA_WEIGHTS
    raise InputError(f"unsupported channel count {c}; expected 1, 2, 3 or 4")


def _adjacent_pairs(gray: np.ndarray, direction: str) -> tuple[np.ndarray, np.ndarray]:
    if direction == "horizontal":
        x, y = gray[:, :-1], gray[:, 1:]
    elif direction == "vertical":
        x, y = gray[:-1, :], gray[1:, :]
    elif direction == "diagonal":
        x, y = gray[:-1, :-1], gray[1:, 1:]
    else:
        raise InputError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    return x.ravel(), y.ravel()


def _check_samples(samples: int | None) -> int | None:
    if samples is None:
        return None
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples <= 0:
        raise InputError(f"samples must be a positive integer or None, got {samples!r}")
    return int(samples)


def _correlation(
    gray: np.ndarray, direction: str, samples: int | None, rng: np.random.Generator
) -> float:
    x, y = _adjacent_pairs(gray, direction)
    n = x.size
    if n == 0:
        raise InputError(f"image of shape {gray.shape} has no {direction} adjacent pairs")
    if samples is not None and samples < n:
        idx = rng.choice(n, size=samples, replace=False)
        x, y = x[idx], y[idx]
    # Eq. (11) with population moments; centring first is algebraically identical to
    # E(xy) - E(x)E(y) but avoids cancellation for large pixel values.
    xc = x - x.mean()
    yc = y - y.mean()
    dx = float(np.mean(xc * xc))
    dy = float(np.mean(yc * yc))
    if dx == 0.0 or dy == 0.0:
        return math.nan
    r = float(np.mean(xc * yc)) / (math.sqrt(dx) * math.sqrt(dy))
    return max(-1.0, min(1.0, r))


def adjacent_correlation(
    image: Any, direction: str, samples: int | None = None, seed: int = 0
) -> float:
    """Correlation coefficient of adjacent pixel pairs (paper eq. 11) in one direction.

    Plain images score near 1, good ciphertext near 0. Colour input is converted with
    ``to_grayscale`` first, as the paper did. By default ALL adjacent pairs are used; ``samples=N``
    uses N distinct pairs chosen at random with ``seed`` (the 3000-random-pair convention of many
    papers); if N is at least the number of pairs, all pairs are used.

    Returns nan when either sequence has zero variance (e.g. a constant image): the coefficient is
    undefined there, and nan keeps that from being mistaken for "perfectly decorrelated" (0.0).
    """
    s = _check_samples(samples)
    gray = to_grayscale(image)
    return _correlation(gray, direction, s, np.random.default_rng(seed))


def adjacent_correlations(
    image: Any, samples: int | None = None, seed: int = 0
) -> dict[str, float]:
    """All three directions at once: {"horizontal", "vertical", "diagonal"} -> r (see
    ``adjacent_correlation``; each direction draws its samples from the same seeded generator)."""
    s = _check_samples(samples)
    gray = to_grayscale(image)
    rng = np.random.default_rng(seed)
    return {d: _correlation(gray, d, s, rng) for d in DIRECTIONS}


# --------------------------------------------------------------------------- byte statistics


def entropy(data: Any) -> float:
    """Shannon entropy (bits/symbol) of the byte histogram; 8.0 is the ideal for ciphertext, since
    any lower value means some byte values are predictably more frequent."""
    arr = _as_uint8(data, "data")
    counts = np.bincount(arr.ravel(), minlength=256)
    p = counts[counts > 0].astype(np.float64) / arr.size
    h = float(-np.sum(p * np.log2(p)))
    return h + 0.0  # turn -0.0 into 0.0 for constant input


def npcr(a: Any, b: Any) -> float:
    """Number of Pixels Change Rate in percent: share of positions where a and b differ. Measures
    how widely a small plaintext/key change spreads through ciphertext (ideal: NPCR_IDEAL)."""
    x, y = _pair(a, b, uint8=True)
    return float(np.count_nonzero(x != y)) * 100.0 / x.size


def uaci(a: Any, b: Any) -> float:
    """Unified Average Changing Intensity in percent: mean |a - b| / 255. Complements NPCR by
    measuring how much values change, not just whether (ideal: UACI_IDEAL)."""
    x, y = _pair(a, b, uint8=True)
    diff = np.abs(x.astype(np.int16) - y.astype(np.int16))
    return float(np.sum(diff, dtype=np.int64)) * 100.0 / (255.0 * x.size)
