"""Screen overfit-profile trials on random crop points, with several seeds, paired against the shipped effort.

One crop run's gap to the rd profile moves by a few tenths of a dB with the training seed alone (stage 11:
seed 1 against seed 0 on eight high-rate points, -0.37 dB on the mean, single points from -1.0 to +0.2 dB),
as much as most trials change it. So a trial is judged on points drawn at random (never the worst ones), at
two seeds or more, by the mean of its gaps minus the shipped effort's on the same point and seed, with that
difference's spread and standard error beside it.

    python tools/screen_overfit.py ../shared/images/kodak-dev --draw 8 --qualities 65,80 --rng 202612073 \
        --seeds 0,1 --trial "B=--levels 1,1,2,2,2,2,2" --trial "lr=--learning-rate 0.01" --out /tmp/screen

Each run is ``tools/overfit_point.py IMAGE --crop 256x384 --quality Q --seed S [trial args]`` in its own
process on one thread (--jobs of them at once), its output kept in --out (a run whose file is there is not run
again, so a screen can be stopped and resumed, or extended with more trials or seeds). The baseline, named
``base``, is the effort's own settings; --common adds arguments to every run (the effort, a step count).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

TOOLS = Path(__file__).resolve().parent
_GAP = re.compile(r"\(([-+]?[0-9.]+) dB\)\s*$")

Point = tuple[str, int]  # (image stem, quality)


def draw_points(images: list[str], qualities: list[int], count: int, seed: int) -> list[Point]:
    """``count`` distinct (image, quality) pairs drawn uniformly, in the order drawn."""
    if count > len(images) * len(qualities):
        raise ValueError(f"only {len(images) * len(qualities)} distinct points to draw from, not {count}")
    rng = np.random.default_rng(seed)
    points: list[Point] = []
    while len(points) < count:
        point = (images[int(rng.integers(len(images)))], int(rng.choice(qualities)))
        if point not in points:
            points.append(point)
    return points


def parse_trial(text: str) -> tuple[str, list[str]]:
    """``NAME=ARGS`` -> (NAME, the arguments for overfit_point.py)."""
    name, sep, args = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name == "base":
        raise argparse.ArgumentTypeError(f"a trial is NAME=ARGS with NAME of letters, digits, _ . - (not 'base'): {text!r}")
    return name, shlex.split(args)


def run_name(trial: str, point: Point, seed: int) -> str:
    return f"{trial}-{point[0]}-q{point[1]}-s{seed}.txt"


def read_gap(path: Path) -> float | None:
    """The gap to the rd profile a finished run printed (None if the run has not finished or failed)."""
    if not path.is_file():
        return None
    lines = path.read_text().splitlines()
    match = _GAP.search(lines[0]) if lines else None
    return float(match.group(1)) if match else None


def run_one(images: Path, out: Path, crop: str, trial: str, args: list[str], point: Point, seed: int) -> float | None:
    target = out / run_name(trial, point, seed)
    if read_gap(target) is None:
        command = [sys.executable, str(TOOLS / "overfit_point.py"), str(images / f"{point[0]}.png"), "--crop", crop,
                   "--quality", str(point[1]), "--seed", str(seed), *args]
        env = dict(os.environ, NUMBA_NUM_THREADS="1")
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        partial = target.with_suffix(".part")
        partial.write_text(result.stdout + result.stderr)
        partial.replace(target)
    return read_gap(target)


def summarise(points: list[Point], seeds: list[int], trials: list[str],
              gaps: dict[tuple[str, Point, int], float | None]) -> str:
    """A markdown table of every gap (rows: points; columns: trial and seed) and, per trial, the mean gap and
    the paired difference to ``base`` over the runs both have: mean, standard deviation, standard error and
    how many were better."""
    columns = [(t, s) for t in trials for s in seeds]
    lines = ["| point | " + " | ".join(f"{t} s{s}" for t, s in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for p in points:
        cells = [gaps.get((t, p, s)) for t, s in columns]
        lines.append(f"| {p[0]} q{p[1]} | " + " | ".join("" if g is None else f"{g:+.2f}" for g in cells) + " |")
    lines += ["", "| trial | runs | mean gap | minus base (paired) | sd | standard error | better |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for t in trials:
        own = [g for (tt, _, _), g in gaps.items() if tt == t and g is not None]
        pairs = [(gaps[(t, p, s)], gaps[("base", p, s)]) for p in points for s in seeds
                 if gaps.get((t, p, s)) is not None and gaps.get(("base", p, s)) is not None]
        mean = f"{statistics.mean(own):+.2f} dB" if own else ""
        if t == "base" or not pairs:
            lines.append(f"| {t} | {len(own)} | {mean} | | | | |")
            continue
        diffs = [a - b for a, b in pairs]
        sd = statistics.stdev(diffs) if len(diffs) > 1 else math.nan
        lines.append(f"| {t} | {len(own)} | {mean} | {statistics.mean(diffs):+.2f} dB | {sd:.2f} | "
                     f"{sd / math.sqrt(len(diffs)):.2f} | {sum(d > 0 for d in diffs)} of {len(diffs)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path, help="folder of the images (IMAGE.png)")
    parser.add_argument("--points", help="IMAGE:QUALITY,... instead of drawing them")
    parser.add_argument("--draw", type=int, default=8, help="points to draw at random")
    parser.add_argument("--qualities", default="65,80", help="qualities to draw from")
    parser.add_argument("--rng", type=int, default=0, help="seed of the draw (numpy.random.default_rng)")
    parser.add_argument("--seeds", default="0,1", help="training seeds, each point runs at every one")
    parser.add_argument("--trial", type=parse_trial, action="append", default=[], help="NAME=overfit_point args")
    parser.add_argument("--common", type=shlex.split, default=[],
                        help="overfit_point args for every run, the baseline's too (e.g. \"--effort best\")")
    parser.add_argument("--crop", default="256x384")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (one thread each)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the runs' outputs")
    args = parser.parse_args(argv)
    if args.points:
        try:
            points = [(name, int(q)) for name, q in (item.split(":") for item in args.points.split(","))]
        except ValueError:
            print(f"screen_overfit: --points is IMAGE:QUALITY,..., not {args.points!r}", file=sys.stderr)
            return 1
    else:
        stems = sorted(p.stem for p in args.images.glob("*.png"))
        try:
            points = draw_points(stems, [int(q) for q in args.qualities.split(",")], args.draw, args.rng)
        except ValueError as exc:
            print(f"screen_overfit: {exc}", file=sys.stderr)
            return 1
    seeds = [int(s) for s in args.seeds.split(",")]
    trials = [("base", [])] + args.trial
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(name, [*args.common, *extra], p, s) for name, extra in trials for s in seeds for p in points]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda j: run_one(args.images, args.out, args.crop, *j), jobs))
    gaps = {(name, p, s): g for (name, _, p, s), g in zip(jobs, results)}
    common = f" (every run: {' '.join(args.common)})" if args.common else ""
    print(f"points: {', '.join(f'{n} q{q}' for n, q in points)}; seeds {seeds}; trials{common}: "
          + "; ".join(f"{n} = {' '.join(extra) or 'the effort as shipped'}" for n, extra in trials))
    print(summarise(points, seeds, [n for n, _ in trials], gaps))
    failed = [run_name(n, p, s) for (n, p, s), g in gaps.items() if g is None]
    if failed:
        print(f"screen_overfit: {len(failed)} runs printed no result (see {args.out}): {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
