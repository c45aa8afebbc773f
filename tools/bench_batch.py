"""Batch throughput: images/s and megapixels/s of a folder, the API in a loop vs `saec --workers 1/2` vs Dask.

Usage: python tools/bench_batch.py [IMAGES_DIR] [--repeat N] [--no-dask] [--no-zarr]

IMAGES_DIR defaults to ../shared/images/kodak-dev (twelve 768x512 PNGs); the set is copied ``--repeat``
times (default 3) so that each timing covers enough files to be stable. Encode is the rd profile at quality
75, decode writes PNG; every run writes its outputs to disk like the CLI does. Rows:

* API loop: ``saecodec.encode``/``decode`` in a loop in this process, kernels warm (the baseline);
* saec --workers 1 / 2: ``saecodec.cli.main`` in this process (the pool forks this warm process);
* saec --workers 2, fresh process: ``python -m saecodec`` from start to finish (interpreter start-up,
  imports, each worker loading the compiled kernels from the disk cache: what a user waits for);
* Dask LocalCluster: 2 worker processes x 1 thread on this machine, started beforehand and warmed with one
  file per worker (a long-lived cluster's steady state).

The machine may be shared: the load average is printed; run it twice. It then prints the zarr chunk table of
tools/bench_zarr.py when that tool exists.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import mdtables  # noqa: E402
import provenance  # noqa: E402
import saecodec  # noqa: E402
from saecodec import batch, cli  # noqa: E402

DEFAULT_DIR = provenance.ROOT.parent / "shared" / "images" / "kodak-dev"
QUALITY = 75


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in batch.IMAGE_EXTENSIONS and p.is_file())


def _timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    return path


def _cli(*argv: object) -> None:
    code = cli.main([str(a) for a in argv])
    if code != 0:
        raise SystemExit(f"saec {' '.join(map(str, argv))} failed with exit code {code}")


def _subprocess(*argv: object) -> None:
    env = dict(os.environ, PYTHONPATH=str(provenance.ROOT))
    done = subprocess.run([sys.executable, "-m", "saecodec", *map(str, argv)], env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"python -m saecodec failed: {done.stderr.strip()}")


def measure(folder: Path, repeat: int, dask: bool) -> tuple[list[list[str]], int, float]:
    """Rows of the table, the number of files and their megapixels."""
    sources = _images(folder)
    if not sources:
        raise SystemExit(f"no images in {folder}")
    work = Path(tempfile.mkdtemp(prefix="bench_batch."))
    try:
        src = work / "in"
        src.mkdir()
        for r in range(repeat):
            for p in sources:
                shutil.copyfile(p, src / f"r{r}_{p.name}")
        files = _images(src)
        megapixels = sum(np.prod(Image.open(p).size) for p in files) / 1e6
        key_file = work / "k.key"
        key = saecodec.generate_key()
        saecodec.save_key(key, key_file)
        # Warm the kernels in this process (the API baseline must not pay for loading them).
        saecodec.decode(saecodec.encode(files[0], key, quality=QUALITY), key)

        def api_encode(out: Path) -> None:
            out.mkdir()
            for p in files:
                (out / (p.stem + ".saec")).write_bytes(saecodec.encode(p, key, quality=QUALITY))

        def api_decode(enc: Path, out: Path) -> None:
            out.mkdir()
            for p in sorted(enc.glob("*.saec")):
                Image.fromarray(saecodec.decode(p.read_bytes(), key)).save(out / (p.stem + ".png"))

        timings: dict[tuple[str, str], float] = {}
        enc = work / "enc"
        timings["API loop", "encode"] = _timed(lambda: api_encode(_fresh(enc)))
        timings["API loop", "decode"] = _timed(lambda: api_decode(enc, _fresh(work / "dec")))
        for n in (1, 2):
            label = f"saec --workers {n}"
            timings[label, "encode"] = _timed(lambda: _cli("encode", src, "-o", _fresh(work / "e"), "-k", key_file,
                                                           "--quality", QUALITY, "--workers", n, "-q"))
            timings[label, "decode"] = _timed(lambda: _cli("decode", enc, "-o", _fresh(work / "d"), "-k", key_file,
                                                           "--workers", n, "-q"))
        label = "saec --workers 2, fresh process"
        timings[label, "encode"] = _timed(lambda: _subprocess("encode", src, "-o", _fresh(work / "e"), "-k",
                                                              key_file, "--quality", QUALITY, "--workers", 2, "-q"))
        timings[label, "decode"] = _timed(lambda: _subprocess("decode", enc, "-o", _fresh(work / "d"), "-k",
                                                              key_file, "--workers", 2, "-q"))
        if dask:
            timings.update(_dask_timings(src, enc, key_file, work, files[:2]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for (label, op), seconds in timings.items():
        base = timings["API loop", op]
        rows.append([label, op, mdtables.fmt(seconds, 2), mdtables.fmt(len(files) / seconds, 2),
                     mdtables.fmt(megapixels / seconds, 2), mdtables.fmt(base / seconds, 2) + "x"])
    rows.sort(key=lambda row: row[1])
    return rows, len(files), megapixels


def _dask_timings(src: Path, enc: Path, key_file: Path, work: Path, warm: list[Path]) -> dict[tuple[str, str], float]:
    try:
        from distributed import LocalCluster
    except ImportError:
        print("(Dask not installed: pip install 'saecodec[dask]'; no cluster row)", file=sys.stderr)
        return {}
    label = "Dask LocalCluster, 2 workers"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster:
        address = cluster.scheduler_address
        _cli("encode", *warm, "-o", _fresh(work / "warm"), "-k", key_file, "--scheduler", address, "-q")
        return {
            (label, "encode"): _timed(lambda: _cli("encode", src, "-o", _fresh(work / "e"), "-k", key_file,
                                                   "--quality", QUALITY, "--scheduler", address, "-q")),
            (label, "decode"): _timed(lambda: _cli("decode", enc, "-o", _fresh(work / "d"), "-k", key_file,
                                                   "--scheduler", address, "-q")),
        }


def zarr_table(folder: Path) -> str | None:
    """tools/bench_zarr.py's chunk table, when that tool exists (it belongs to the zarr integration)."""
    try:
        import bench_zarr  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        rows = bench_zarr.run([str(p) for p in _images(folder)], chunk=256)
    except Exception as exc:  # noqa: BLE001 - another tool's failure must not hide this one's numbers
        return f"(tools/bench_zarr.py failed: {type(exc).__name__}: {exc})"
    formatter = getattr(bench_zarr, "format_rows", None)
    if formatter is not None:
        return formatter(rows)
    head = list(rows[0]) if rows else []
    return mdtables.table(head, [[str(r[h]) for h in head] for r in rows]) if rows else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("images", nargs="?", default=str(DEFAULT_DIR), help="folder of images")
    parser.add_argument("--repeat", type=int, default=3, help="copies of the set per timing (default 3)")
    parser.add_argument("--no-dask", action="store_true", help="skip the LocalCluster row")
    parser.add_argument("--no-zarr", action="store_true", help="skip tools/bench_zarr.py's table")
    args = parser.parse_args(argv)
    folder = Path(args.images)
    commit = provenance.git_describe()
    rows, count, megapixels = measure(folder, max(1, args.repeat), not args.no_dask)
    print(f"## Batch throughput ({count} files, {megapixels:.1f} MP; rd quality {QUALITY}; "
          f"{batch.default_workers()} cores; load average {provenance.load_average()}; commit {commit})\n")
    print(mdtables.table(["run", "op", "seconds", "images/s", "MP/s", "vs API loop"], rows, "llrrrr"))
    if not args.no_zarr:
        table = zarr_table(folder)
        if table is not None:
            print("\n## zarr chunks (tools/bench_zarr.py, chunk 256)\n")
            print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
