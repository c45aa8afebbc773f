"""Tests of tools/bd.py, the Bjontegaard-delta helper behind tools/bench_rd.py.

The curves are synthetic and shaped like real codecs' (PSNR roughly linear in log rate, slightly concave), so
the known shifts below have exact answers whatever the fit does between the points.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import bd  # noqa: E402

RATES = np.array([0.2, 0.35, 0.6, 1.0, 1.5, 2.2])
PSNRS = 34.0 + 7.5 * np.log10(RATES) - 1.2 * np.log10(RATES) ** 2 + np.array([0.0, 0.05, -0.03, 0.02, 0.0, -0.04])

METHODS = ["cubic", pytest.param("pchip", marks=pytest.mark.skipif(not bd.pchip_available(), reason="no scipy"))]


@pytest.mark.parametrize("method", METHODS)
def test_identical_curves_give_zero(method: str) -> None:
    result = bd.bjontegaard(RATES, PSNRS, RATES, PSNRS, method=method)
    assert result.method == method
    assert result.psnr_db == pytest.approx(0.0, abs=1e-9)
    assert result.rate_percent == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_curve_one_db_higher_gives_bd_psnr_one(method: str) -> None:
    assert bd.bd_psnr(RATES, PSNRS, RATES, PSNRS + 1.0, method=method) == pytest.approx(1.0, abs=1e-9)
    # Better quality at equal rate means fewer bits at equal quality.
    assert bd.bd_rate(RATES, PSNRS, RATES, PSNRS + 1.0, method=method) < 0


@pytest.mark.parametrize("method", METHODS)
def test_rate_scaled_by_point_nine_gives_minus_ten_percent(method: str) -> None:
    assert bd.bd_rate(RATES, PSNRS, 0.9 * RATES, PSNRS, method=method) == pytest.approx(-10.0, abs=1e-9)
    assert bd.bd_psnr(RATES, PSNRS, 0.9 * RATES, PSNRS, method=method) > 0


def test_swapping_curves_flips_bd_psnr() -> None:
    other = 1.15 * RATES, PSNRS + 0.3 * np.log10(RATES)
    forward = bd.bd_psnr(RATES, PSNRS, *other)
    backward = bd.bd_psnr(*other, RATES, PSNRS)
    assert forward == pytest.approx(-backward, abs=1e-12)


def test_cubic_matches_numeric_integration_of_the_fits() -> None:
    """The exact polynomial integral agrees with brute-force averaging of the two fitted cubics."""
    test_rates, test_psnrs = 1.2 * RATES, PSNRS + 0.4
    x1, x2 = np.log10(RATES), np.log10(test_rates)
    grid = np.linspace(max(x1.min(), x2.min()), min(x1.max(), x2.max()), 200_001)
    gap = np.polyval(np.polyfit(x2, test_psnrs, 3), grid) - np.polyval(np.polyfit(x1, PSNRS, 3), grid)
    numeric = float(np.mean((gap[1:] + gap[:-1]) / 2))
    assert bd.bd_psnr(RATES, PSNRS, test_rates, test_psnrs) == pytest.approx(numeric, abs=1e-6)


def test_order_of_points_does_not_matter() -> None:
    shuffle = np.array([3, 0, 5, 1, 4, 2])
    assert bd.bd_rate(RATES[shuffle], PSNRS[shuffle], 0.8 * RATES, PSNRS) == pytest.approx(
        bd.bd_rate(RATES, PSNRS, 0.8 * RATES, PSNRS), abs=1e-9
    )


def test_too_few_points_is_a_clear_error() -> None:
    with pytest.raises(bd.TooFewPointsError, match=r"3 point\(s\).*at least 4") as info:
        bd.bd_rate(RATES, PSNRS, RATES[:3], PSNRS[:3])
    assert info.value.points == 3


def test_disjoint_curves_are_an_error() -> None:
    with pytest.raises(bd.NoOverlapError):
        bd.bd_psnr(RATES, PSNRS, RATES * 100, PSNRS + 20)


@pytest.mark.parametrize(
    "rates, psnrs",
    [
        ([0.1, 0.2, 0.0, 0.5], [30, 31, 32, 33]),
        ([0.1, 0.2, 0.3, 0.5], [30, 31, float("inf"), 33]),
        ([0.1, 0.2, 0.3], [30, 31, 32, 33]),
    ],
)
def test_unusable_input_is_refused(rates: list[float], psnrs: list[float]) -> None:
    with pytest.raises(bd.BDError):
        bd.bd_psnr(RATES, PSNRS, rates, psnrs)


def test_restrict_interpolates_the_ends() -> None:
    rates, psnrs = bd.restrict(RATES, PSNRS, 0.25, 2.0)
    assert rates[0] == 0.25 and rates[-1] == 2.0
    assert list(rates[1:-1]) == [0.35, 0.6, 1.0, 1.5]
    # Linear in log10(rate) between the measured neighbours 0.2 and 0.35.
    t = (np.log10(0.25) - np.log10(0.2)) / (np.log10(0.35) - np.log10(0.2))
    assert psnrs[0] == pytest.approx(PSNRS[0] + t * (PSNRS[1] - PSNRS[0]))


def test_restrict_invents_nothing_beyond_the_curve() -> None:
    rates, _ = bd.restrict(RATES, PSNRS, 0.1, 5.0)
    assert list(rates) == list(RATES)


def test_restrict_counts_only_measured_points() -> None:
    # Three measured points inside 0.3-1.2 (0.35, 0.6, 1.0); the two interpolated ends must not make it four.
    with pytest.raises(bd.TooFewPointsError) as info:
        bd.restrict(RATES, PSNRS, 0.3, 1.2)
    assert info.value.points == 3


def test_pchip_falls_back_to_cubic_without_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bd, "pchip_available", lambda: False)
    assert bd.resolve_method("pchip") == "cubic"
    assert bd.resolve_method("auto") == "cubic"
    assert bd.bjontegaard(RATES, PSNRS, RATES, PSNRS + 1, method="pchip").method == "cubic"


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="method"):
        bd.resolve_method("spline")
