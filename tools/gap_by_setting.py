"""PSNR gap of one codec's points to another codec's curve, grouped by the test codec's quality setting.

A BD-PSNR is one number over a rate range; it does not say where on the curve a codec loses. This prints,
for every quality setting of the test codec, the mean (and range) over images of its PSNR minus the
reference codec's PSNR at the same bpp, the reference interpolated linearly in log-bpp between its own
points (a test point outside the reference's bpp range is left out, not extrapolated).

    python tools/gap_by_setting.py docs/rd/kodak/rd_points.csv docs/overfit/stage6-kodak-default/rd_points.csv \
        docs/overfit/stage7-kodak3-default/rd_points.csv --test saec-overfit-default --ref avif444

Several CSV files are read as one, as in tools/bd_pair.py.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bd_pair import load  # noqa: E402


def test_points(paths: list[Path], codec: str) -> list[tuple[str, str, float, float]]:
    """(setting, image, bpp, psnr) of every point of ``codec`` with a finite PSNR."""
    points = []
    for path in paths:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if row["codec"] == codec and row["psnr_rgb"] not in ("", "inf"):
                    points.append((row["setting"], row["image"], float(row["bpp"]), float(row["psnr_rgb"])))
    return points


def interpolate(curve: list[tuple[float, float]], bpp: float) -> float | None:
    """The curve's PSNR at ``bpp``, linear in log-bpp between its neighbouring points (as bd.restrict and
    bench_rd.reference_at interpolate); None outside it."""
    if not curve:
        return None
    rates, psnrs = zip(*sorted(curve))
    if not rates[0] <= bpp <= rates[-1]:
        return None
    return float(np.interp(math.log(bpp), np.log(rates), psnrs))


def gaps(paths: list[Path], test: str, ref: str) -> dict[str, list[tuple[str, float, float]]]:
    """setting -> [(image, bpp, gap in dB)] for the test codec's points inside the reference's curve."""
    curves = load(*paths)
    out: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    for setting, image, bpp, psnr in test_points(paths, test):
        at = interpolate(curves.get((ref, image), []), bpp)
        if at is not None:
            out[setting].append((image, bpp, psnr - at))
    return out


def _setting_key(setting: str) -> tuple[int, float | str]:
    try:
        return (0, float(setting))
    except ValueError:
        return (1, setting)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", nargs="+", type=Path)
    parser.add_argument("--test", required=True)
    parser.add_argument("--ref", required=True)
    args = parser.parse_args(argv)
    table = gaps(args.csv, args.test, args.ref)
    if not table:
        print(f"no {args.test} point lies within a {args.ref} curve", file=sys.stderr)
        return 1
    print(f"{args.test} against {args.ref}, PSNR at the same bpp, by setting\n")
    print("| setting | images | mean bpp | mean gap | lowest | highest |")
    print("|---|---:|---:|---:|---:|---:|")
    for setting in sorted(table, key=_setting_key):
        rows = table[setting]
        values = [g for _, _, g in rows]
        print(f"| {setting} | {len(rows)} | {sum(b for _, b, _ in rows) / len(rows):.2f} | "
              f"{sum(values) / len(values):+.2f} dB | {min(values):+.2f} dB | {max(values):+.2f} dB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
