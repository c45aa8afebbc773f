"""Bjontegaard deltas between two rate-distortion curves (G. Bjontegaard, VCEG-M33, 2001).

Two numbers summarise how a test codec compares with a reference codec over the rates where both have data:

* **BD-PSNR** (dB): the mean vertical distance between the curves, PSNR as a function of log10(rate),
  averaged over the overlapping log-rate interval. Positive = the test codec has better quality at equal rate.
* **BD-rate** (%): the mean horizontal distance, log10(rate) as a function of PSNR, averaged over the
  overlapping PSNR interval and turned into a percentage, 100 * (10^mean - 1). Negative = the test codec
  needs fewer bits for equal quality.

Two interpolation methods:

* ``"cubic"``: VCEG-M33 itself, a least-squares cubic polynomial through the points, integrated exactly.
  It needs at least 4 points per curve (4 coefficients).
* ``"pchip"``: piecewise cubic Hermite interpolation (what the newer JVET/AOM tools use, because a cubic
  polynomial can oscillate on curves with many or uneven points), integrated exactly with
  ``scipy.interpolate.PchipInterpolator``. It needs scipy; :func:`resolve_method` falls back to ``"cubic"``
  when scipy is not importable, and says so, so callers can report which method produced a number. The
  same 4-point minimum is kept so both methods accept the same curves.

:func:`restrict` cuts a curve to a rate range (e.g. 0.25-2 bpp) by linear interpolation of PSNR against
log10(rate) at the ends: the deltas then describe exactly that range, not whatever each codec's sweep
happened to cover. It counts only measured points towards the 4-point minimum, never the interpolated ends.

Only numpy is required; rates may be in any unit (bits per pixel, bytes) since only their ratio matters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

__all__ = [
    "MIN_POINTS",
    "METHODS",
    "BDError",
    "TooFewPointsError",
    "NoOverlapError",
    "BDResult",
    "pchip_available",
    "resolve_method",
    "restrict",
    "bd_psnr",
    "bd_rate",
    "bjontegaard",
]

MIN_POINTS = 4
METHODS = ("cubic", "pchip")


class BDError(ValueError):
    """A curve cannot be used for a Bjontegaard delta."""


class TooFewPointsError(BDError):
    """Fewer measured points than the fit needs; ``points`` is how many there were."""

    def __init__(self, points: int, needed: int = MIN_POINTS, what: str = "curve") -> None:
        super().__init__(f"{what} has {points} point(s); a Bjontegaard delta needs at least {needed}")
        self.points = points
        self.needed = needed


class NoOverlapError(BDError):
    """The two curves share no interval to integrate over."""


@dataclass(frozen=True)
class BDResult:
    """Both deltas of one test curve against one reference, with the method that produced them."""

    rate_percent: float
    psnr_db: float
    method: str


# --------------------------------------------------------------------------- method choice


def pchip_available() -> bool:
    """True when scipy's PCHIP interpolator can be imported (it is an optional dependency)."""
    try:
        from scipy.interpolate import PchipInterpolator  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_method(method: str) -> str:
    """The method that will really be used: ``"pchip"`` falls back to ``"cubic"`` without scipy, ``"auto"``
    picks pchip when it can. Callers report the returned name so a number is never mislabelled."""
    if method == "auto":
        return "pchip" if pchip_available() else "cubic"
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)} or 'auto', not {method!r}")
    if method == "pchip" and not pchip_available():
        return "cubic"
    return method


# --------------------------------------------------------------------------- input checks


def _curve(rate: Sequence[float], psnr: Sequence[float], what: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 arrays sorted by rate; refuses input that would silently give nan."""
    r = np.asarray(rate, dtype=np.float64).ravel()
    p = np.asarray(psnr, dtype=np.float64).ravel()
    if r.shape != p.shape:
        raise BDError(f"{what}: {r.size} rates but {p.size} PSNR values")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(p))):
        raise BDError(f"{what}: rates and PSNR values must be finite")
    if np.any(r <= 0):
        raise BDError(f"{what}: rates must be > 0 (they are compared on a log scale)")
    if r.size < MIN_POINTS:
        raise TooFewPointsError(int(r.size), what=what)
    order = np.argsort(r, kind="stable")
    return r[order], p[order]


# --------------------------------------------------------------------------- range restriction


def _interpolate_at(log_rate: np.ndarray, psnr: np.ndarray, target: float) -> float:
    """PSNR at ``target`` (a log10 rate inside the curve) by linear interpolation between its neighbours."""
    return float(np.interp(target, log_rate, psnr))


def restrict(
    rate: Sequence[float], psnr: Sequence[float], low: float, high: float, *, min_points: int = MIN_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """The part of a curve inside [low, high] (same unit as ``rate``), sorted by rate.

    Measured points inside the range are kept. Where the curve extends beyond an end, a point exactly at
    that end is added, its PSNR interpolated linearly in log10(rate) between the two measured neighbours, so
    the fit covers the whole range without being bent by points far outside it. Where the curve stops short
    of an end, nothing is invented. Raises ``TooFewPointsError`` when fewer than ``min_points`` *measured*
    points lie inside the range: interpolated ends carry no information of their own.
    """
    if not (0 < low < high):
        raise ValueError(f"need 0 < low < high, got {low!r}, {high!r}")
    r = np.asarray(rate, dtype=np.float64).ravel()
    p = np.asarray(psnr, dtype=np.float64).ravel()
    if r.shape != p.shape:
        raise BDError(f"{r.size} rates but {p.size} PSNR values")
    order = np.argsort(r, kind="stable")
    r, p = r[order], p[order]
    inside = (r >= low) & (r <= high)
    count = int(np.count_nonzero(inside))
    if count < min_points:
        raise TooFewPointsError(count, min_points, what=f"curve in {low:g}-{high:g}")
    log_r = np.log10(r)
    keep_r, keep_p = list(r[inside]), list(p[inside])
    if r[0] < low and keep_r[0] > low:
        keep_r.insert(0, low)
        keep_p.insert(0, _interpolate_at(log_r, p, math.log10(low)))
    if r[-1] > high and keep_r[-1] < high:
        keep_r.append(high)
        keep_p.append(_interpolate_at(log_r, p, math.log10(high)))
    return np.array(keep_r), np.array(keep_p)


# --------------------------------------------------------------------------- integration


def _integral_cubic(x: np.ndarray, y: np.ndarray) -> Callable[[float, float], float]:
    """Exact integral of the least-squares cubic through (x, y): VCEG-M33's model."""
    antiderivative = np.polyint(np.polyfit(x, y, 3))
    return lambda a, b: float(np.polyval(antiderivative, b) - np.polyval(antiderivative, a))


def _integral_pchip(x: np.ndarray, y: np.ndarray) -> Callable[[float, float], float]:
    """Exact integral of the PCHIP interpolant; x must be strictly increasing after sorting."""
    from scipy.interpolate import PchipInterpolator

    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    if np.any(np.diff(xs) <= 0):
        raise BDError("pchip needs distinct abscissae; the curve repeats a value (use method='cubic')")
    interpolant = PchipInterpolator(xs, ys, extrapolate=False)
    return lambda a, b: float(interpolant.integrate(a, b))


def _mean_difference(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray, method: str) -> float:
    """Mean of (curve 2 - curve 1) over the interval of x where both are defined."""
    low = max(float(x1.min()), float(x2.min()))
    high = min(float(x1.max()), float(x2.max()))
    if not high > low:
        raise NoOverlapError(f"the curves do not overlap (interval {low:.4g}..{high:.4g})")
    integral = _integral_pchip if method == "pchip" else _integral_cubic
    return (integral(x2, y2)(low, high) - integral(x1, y1)(low, high)) / (high - low)


# --------------------------------------------------------------------------- public deltas


def bd_psnr(
    ref_rate: Sequence[float],
    ref_psnr: Sequence[float],
    test_rate: Sequence[float],
    test_psnr: Sequence[float],
    *,
    method: str = "cubic",
) -> float:
    """BD-PSNR in dB of the test curve against the reference (positive = test is better)."""
    used = resolve_method(method)
    r1, p1 = _curve(ref_rate, ref_psnr, "reference curve")
    r2, p2 = _curve(test_rate, test_psnr, "test curve")
    return _mean_difference(np.log10(r1), p1, np.log10(r2), p2, used)


def bd_rate(
    ref_rate: Sequence[float],
    ref_psnr: Sequence[float],
    test_rate: Sequence[float],
    test_psnr: Sequence[float],
    *,
    method: str = "cubic",
) -> float:
    """BD-rate in percent of the test curve against the reference (negative = test needs fewer bits)."""
    used = resolve_method(method)
    r1, p1 = _curve(ref_rate, ref_psnr, "reference curve")
    r2, p2 = _curve(test_rate, test_psnr, "test curve")
    mean_log_ratio = _mean_difference(p1, np.log10(r1), p2, np.log10(r2), used)
    return (10.0**mean_log_ratio - 1.0) * 100.0


def bjontegaard(
    ref_rate: Sequence[float],
    ref_psnr: Sequence[float],
    test_rate: Sequence[float],
    test_psnr: Sequence[float],
    *,
    method: str = "cubic",
) -> BDResult:
    """Both deltas at once, labelled with the method really used (see :func:`resolve_method`)."""
    used = resolve_method(method)
    return BDResult(
        rate_percent=bd_rate(ref_rate, ref_psnr, test_rate, test_psnr, method=used),
        psnr_db=bd_psnr(ref_rate, ref_psnr, test_rate, test_psnr, method=used),
        method=used,
    )
