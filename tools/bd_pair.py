"""Bjontegaard deltas of one codec against another, from the points tools/bench_rd.py wrote.

bench_rd reports every codec against Pillow JPEG; two codecs' deltas against JPEG are not a delta against
each other (each is averaged over its own PSNR or rate interval). This prints the direct comparison, per
image and on the mean, over a bpp range, on the same non-dominated points and range rules as bench_rd.

    python tools/bd_pair.py docs/rd/kodak/rd_points.csv --test saec-rd --ref avif444 --range 0.5 2
    python tools/bd_pair.py docs/rd/kodak/rd_points.csv docs/overfit/kodak3-default/rd_points.csv \
        --test saec-overfit-default --ref saec-rd --range 0.25 2

Several CSV files are read as one (runs of different codecs on the same images); only images both codecs
have points for are compared.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bd  # noqa: E402


def load(*paths: Path) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(codec, image) -> [(bpp, psnr)] of the points bench_rd kept (not dominated), over every file given."""
    curves: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for path in paths:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if row["dominated"] == "1" or not row["psnr_rgb"] or row["psnr_rgb"] == "inf":
                    continue
                curves[(row["codec"], row["image"])].append((float(row["bpp"]), float(row["psnr_rgb"])))
    return curves


def compare(curves: dict, test: str, ref: str, low: float, high: float) -> list[tuple[str, str, str]]:
    rows = []
    images = sorted({image for codec, image in curves if codec == test} & {image for codec, image in curves
                                                                          if codec == ref})
    psnrs, rates = [], []
    for image in images:
        try:
            rr, rp = bd.restrict(*zip(*curves[(ref, image)]), low, high)
            tr, tp = bd.restrict(*zip(*curves[(test, image)]), low, high)
            result = bd.bjontegaard(rr, rp, tr, tp)
        except (bd.BDError, KeyError, TypeError) as exc:
            rows.append((image, f"n/a ({exc})", "n/a"))
            continue
        psnrs.append(result.psnr_db)
        rates.append(result.rate_percent)
        rows.append((image, f"{result.rate_percent:+.1f} %", f"{result.psnr_db:+.2f} dB"))
    if psnrs:
        rows.append((f"**mean ({len(psnrs)}/{len(images)} images)**", f"{sum(rates) / len(rates):+.1f} %",
                     f"{sum(psnrs) / len(psnrs):+.2f} dB"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("points", type=Path, nargs="+", help="rd_points.csv file(s) written by tools/bench_rd.py")
    parser.add_argument("--test", default="saec-rd", help="codec id measured (default saec-rd)")
    parser.add_argument("--ref", action="append", help="reference codec id(s) (default avif444, avif, webp)")
    parser.add_argument("--range", nargs=2, type=float, default=(0.5, 2.0), metavar=("LOW", "HIGH"))
    args = parser.parse_args(argv)
    curves = load(*args.points)
    for ref in args.ref or ["avif444", "avif", "webp"]:
        print(f"\n{args.test} against {ref}, {args.range[0]:g}-{args.range[1]:g} bpp "
              "(BD-rate < 0 and BD-PSNR > 0: the test codec is better)\n")
        print("| image | BD-rate | BD-PSNR |\n|---|---:|---:|")
        for image, rate, psnr in compare(curves, args.test, ref, *args.range):
            print(f"| {image} | {rate} | {psnr} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
