"""Zarr chunk throughput of saec against Blosc (lossless), JPEG XL and AVIF, and the zarr adapter's overhead.

Usage: .venv/bin/python tools/bench_zarr.py [IMAGES_DIR_OR_FILES ...] [--chunk 256] [--repeat 3]

The images (default ../shared/images/kodak-dev) are stacked into one (sum H, W, 3) uint8 array (portrait
images turned to landscape, widths cropped to the narrowest), written to and read back from an in-memory
zarr store chunk by chunk, with every codec as the zarr format 2 compressor (all four are numcodecs codecs,
so they share one code path) and saec also as the format 3 ``SaecCodec``.

zarr runs with ``async.concurrency = 1`` (one chunk at a time) and Blosc and the imagecodecs codecs with one
thread (saecodec splits its kernels over its own small pool, as it does anywhere). Rates are per CPU second
of this process, all threads counted, because the machine may be shared (wall times are in the rows too):
per-chunk CPU costs, comparable across codecs and with ``saecodec.encode``/``decode`` called directly on
the same chunks. The "overhead" columns are the CPU time of the numcodecs adapter alone, and of zarr, over
that direct loop (goal: under 10 %). Most of zarr's share is its ``asyncio.to_thread`` hand-off per chunk
(about 0.3 ms; zarr's own V2Codec pays it too), kept because it lets zarr code chunks on all cores and keeps
its event loop free for store I/O. Rounds are interleaved; the best of ``--repeat`` is kept. MB/s counts
uncompressed pixel bytes.

``run(image_paths, chunk=256)`` returns the rows as dicts (for tools/bench_batch.py); ``main`` prints them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import saecodec  # noqa: E402
from saecodec.metrics import psnr  # noqa: E402
from saecodec.numcodecs import Saec  # noqa: E402
from saecodec.zarr3 import SaecCodec  # noqa: E402

DEFAULT_IMAGES = ROOT.parent / "shared" / "images" / "kodak-dev"
QUALITY = 75

__all__ = ["run", "main", "load_mosaic", "DEFAULT_IMAGES"]


def image_files(paths: Sequence[str | Path]) -> list[Path]:
    """The image files named, directories expanded to their PNG/JPEG/TIFF files in name order."""
    files: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise saecodec.InputError(f"no such image file or directory: {str(path)!r}")
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff"))
        else:
            files.append(path)
    if not files:
        raise saecodec.InputError(f"no images in {', '.join(map(str, paths))}")
    return files


def load_mosaic(paths: Sequence[str | Path]) -> np.ndarray:
    """One uint8 RGB array: the images stacked vertically, landscape, cropped to the narrowest width."""
    from PIL import Image

    planes = []
    for path in image_files(paths):
        with Image.open(path) as im:
            pixels = np.asarray(im.convert("RGB"))
        if pixels.shape[0] > pixels.shape[1]:
            pixels = np.ascontiguousarray(pixels.transpose(1, 0, 2))
        planes.append(pixels)
    width = min(p.shape[1] for p in planes)
    return np.ascontiguousarray(np.concatenate([p[:, :width] for p in planes], axis=0))


def _codecs(key: saecodec.SecretKey) -> list[tuple[str, int, Any]]:
    """(name, zarr format, codec) for every codec available here."""
    import numcodecs

    numcodecs.blosc.set_nthreads(1)
    codecs: list[tuple[str, int, Any]] = [
        (f"saec q{QUALITY}", 2, Saec(key=key, quality=QUALITY)),
        (f"saec q{QUALITY} (v3 SaecCodec)", 3, SaecCodec(key=key, quality=QUALITY)),
        ("blosc lz4 shuffle (lossless)", 2, numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)),
    ]
    try:
        from imagecodecs import numcodecs as icn

        codecs.append((f"imagecodecs JPEG XL q{QUALITY}", 2, icn.Jpegxl(level=QUALITY, lossless=False, numthreads=1)))
        codecs.append((f"imagecodecs AVIF q{QUALITY}", 2, icn.Avif(level=QUALITY, speed=6, numthreads=1)))
    except (ImportError, ValueError) as exc:  # not installed, or built without the codec
        print(f"bench_zarr: imagecodecs JPEG XL/AVIF not available ({exc})", file=sys.stderr)
    return codecs


def _timed(action: Callable[[], Any]) -> tuple[float, float, Any]:
    """(CPU seconds of this process, wall seconds, result). CPU time is the per-core cost, steady on a
    shared machine; wall time is what a user waits, and moves with whatever else runs."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = action()
    return time.process_time() - cpu, time.perf_counter() - wall, result


def _chunks(image: np.ndarray, chunk: int) -> list[np.ndarray]:
    return [np.ascontiguousarray(image[y : y + chunk, x : x + chunk])
            for y in range(0, image.shape[0], chunk) for x in range(0, image.shape[1], chunk)]


def _assemble(pieces: list[np.ndarray], shape: tuple[int, ...], chunk: int) -> np.ndarray:
    """The inverse of _chunks."""
    out = np.empty(shape, np.uint8)
    it = iter(pieces)
    for y in range(0, shape[0], chunk):
        for x in range(0, shape[1], chunk):
            out[y : y + chunk, x : x + chunk] = next(it)
    return out


def run(image_paths: Sequence[str | Path], chunk: int = 256, repeat: int = 3) -> list[dict[str, Any]]:
    """One row per codec: zarr encode/decode MB/s and chunks/s, bits per pixel, PSNR, saec's zarr overhead.

    Rates are per CPU second (single-threaded everywhere); ``*_wall_s`` keep the wall times. Measurements
    are interleaved (every codec once per round, ``repeat`` rounds) and the best round is kept.
    """
    import zarr
    from zarr.storage import MemoryStore

    image = load_mosaic(image_paths)
    key = saecodec.generate_key()
    pieces = _chunks(image, chunk)
    n_chunks, raw_mb = len(pieces), image.nbytes / 1e6
    files = [saecodec.encode(p, key, quality=QUALITY) for p in pieces]  # also compiles the Numba kernels

    arrays = []
    for name, zarr_format, codec in _codecs(key):
        kwargs: dict[str, Any] = (
            {"serializer": codec, "compressors": None} if zarr_format == 3
            else {"compressors": [codec], "filters": None}
        )
        z = zarr.create_array(store=MemoryStore(), shape=image.shape, chunks=(chunk, chunk, image.shape[2]),
                              dtype="uint8", zarr_format=zarr_format, fill_value=0, **kwargs)
        arrays.append((name, str(zarr_format), z))

    best: dict[tuple[str, str], tuple[float, float]] = {}
    results: dict[str, Any] = {}

    def measure(name: str, op: str, action: Callable[[], Any]) -> None:
        cpu, wall, result = _timed(action)
        old = best.get((name, op), (float("inf"), float("inf")))
        best[(name, op)] = (min(old[0], cpu), min(old[1], wall))
        results[name] = result if op == "decode" else results.get(name)

    def write(z: Any) -> Callable[[], None]:
        def action() -> None:
            z[:] = image
        return action

    direct = "saecodec.encode/decode direct"
    adapter = "Saec.encode/decode, no zarr"
    bare = Saec(key=key, quality=QUALITY)
    with zarr.config.set({"async.concurrency": 1}):
        for _ in range(repeat):
            measure(direct, "encode", lambda: [saecodec.encode(p, key, quality=QUALITY) for p in pieces])
            measure(direct, "decode", lambda: _assemble([saecodec.decode(f, key) for f in files], image.shape, chunk))
            measure(adapter, "encode", lambda: [bare.encode(p) for p in pieces])
            measure(adapter, "decode", lambda: _assemble([bare.decode(f) for f in files], image.shape, chunk))
            for name, _, z in arrays:
                measure(name, "encode", write(z))
                measure(name, "decode", lambda z=z: z[:])

    rows: list[dict[str, Any]] = []
    size = sum(len(f) for f in files)
    for name, fmt, nbytes in [(direct, "-", size), (adapter, "-", size)] + [
            (name, fmt, z.nbytes_stored()) for name, fmt, z in arrays]:  # nbytes_stored: + ~400 B metadata
        (enc, enc_wall), (dec, dec_wall) = best[(name, "encode")], best[(name, "decode")]
        saec = name.startswith("saec ") or name == adapter
        rows.append({
            "codec": name, "zarr_format": fmt, "image_shape": image.shape, "chunk": chunk, "chunks": n_chunks,
            "encode_cpu_s": enc, "decode_cpu_s": dec, "encode_wall_s": enc_wall, "decode_wall_s": dec_wall,
            "encode_MBps": raw_mb / enc, "decode_MBps": raw_mb / dec,
            "encode_chunks_per_s": n_chunks / enc, "decode_chunks_per_s": n_chunks / dec,
            "bpp": 8.0 * nbytes / (image.shape[0] * image.shape[1]), "psnr": psnr(results[name], image),
            "encode_overhead_pct": 100.0 * (enc / best[(direct, "encode")][0] - 1) if saec else None,
            "decode_overhead_pct": 100.0 * (dec / best[(direct, "decode")][0] - 1) if saec else None,
        })
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    from mdtables import fmt, table

    head = ["codec", "zarr", "encode MB/s", "encode chunks/s", "decode MB/s", "decode chunks/s", "bpp",
            "PSNR dB", "zarr overhead enc %", "dec %"]
    body = [[r["codec"], r["zarr_format"], fmt(r["encode_MBps"], 1), fmt(r["encode_chunks_per_s"], 1),
             fmt(r["decode_MBps"], 1), fmt(r["decode_chunks_per_s"], 1), fmt(r["bpp"], 3), fmt(r["psnr"], 2),
             fmt(r["encode_overhead_pct"], 1, signed=True), fmt(r["decode_overhead_pct"], 1, signed=True)]
            for r in rows]
    return table(head, body)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", default=[str(DEFAULT_IMAGES)], help="image files or directories")
    parser.add_argument("--chunk", type=int, default=256, help="chunk height and width (default 256)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of measurements, best kept (default 3)")
    args = parser.parse_args(argv)
    try:
        rows = run(args.images, chunk=args.chunk, repeat=args.repeat)
    except saecodec.SaecError as exc:
        print(f"bench_zarr: error: {exc}", file=sys.stderr)
        return 2
    first = rows[0]
    shape = "x".join(map(str, first["image_shape"]))
    print(f"One {shape} uint8 array from {len(image_files(args.images))} images, {first['chunks']} chunks of "
          f"{args.chunk}x{args.chunk}x3; zarr async.concurrency=1; rates per CPU second (all threads), "
          f"best of {args.repeat} interleaved rounds.\n")
    print(format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
