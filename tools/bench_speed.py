"""Speed benchmark: encode/decode times, keystream throughput, import and JIT costs, against Pillow JPEG.

Usage: python tools/bench_speed.py [IMAGE] [--repeats N]

IMAGE defaults to ../shared/images/paper/peppers.png (a 512x512 RGB photograph) when it exists, else a
generated 512x512 RGB image. Times are medians over repeated runs in this process with the JIT warm;
import time, first-call compile time and the CLI's start-to-finish time are measured in fresh processes (a
"first run" with its own empty Numba cache directory, as on a fresh install).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import saecodec  # noqa: E402
from saecodec.crypto.keystreams import keystream  # noqa: E402
from saecodec.metrics import psnr  # noqa: E402
from saecodec.model.sae import TrainConfig  # noqa: E402
from provenance import git_describe, load_average  # noqa: E402

DEFAULT_IMAGE = ROOT.parent / "shared" / "images" / "paper" / "peppers.png"


def median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_seconds(args: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def load_image(path: Path | None) -> tuple[np.ndarray, str]:
    if path is not None:
        return np.asarray(Image.open(path).convert("RGB")), str(path)
    if DEFAULT_IMAGE.exists():
        return np.asarray(Image.open(DEFAULT_IMAGE).convert("RGB")), str(DEFAULT_IMAGE)
    sys.path.insert(0, str(ROOT / "tools"))
    from demo import synthetic_photo  # noqa: E402

    target = Path(tempfile.mkdtemp()) / "synthetic.png"
    synthetic_photo(target, size=512)
    return np.asarray(Image.open(target).convert("RGB")), "generated 512x512"


def training_flops(layers: tuple[int, ...], cfg: TrainConfig) -> float:
    """Estimated floating-point operations of the Adam steps of one training run (dense layers only).

    Every step pushes ``batch`` samples through every level's encoder and decoder path; a multiply-add is 2
    FLOPs and a backward pass costs twice its forward pass. Code refinement, the output-layer fits, sigmoids
    and the Adam update itself are not counted, so this understates the work done.
    """
    macs = [layers[i] * layers[i + 1] for i in range(len(layers) - 1)]
    paths = sum(2 * sum(macs[:k]) for k in range(1, len(macs) + 1)) - sum(macs[:-1])  # shared encoder
    steps = cfg.pretrain_steps + cfg.finetune_steps + cfg.alt_rounds * cfg.alt_steps
    return steps * cfg.batch * 2 * 3 * paths


def measured_peak_gflops() -> float:
    """What this machine's BLAS reaches on a large float32 matrix product, all cores: an attainable peak."""
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    seconds = median_time(lambda: a @ a, 5)
    return 2 * 2048**3 / seconds / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", type=Path)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    pixels, label = load_image(args.image)
    height, width = pixels.shape[:2]
    key = saecodec.generate_key()
    print(f"saecodec speed benchmark: {label} ({width}x{height}), {os.cpu_count()} cores, "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"commit {git_describe()}, {time.strftime('%Y-%m-%d %H:%M')}, load average {load_average()}")

    # Fresh-process costs first, while nothing of ours is in this process's caches.
    python = sys.executable
    imports = [run_seconds([python, "-c", "import saecodec"]) for _ in range(3)]
    baseline = [run_seconds([python, "-c", "pass"]) for _ in range(3)]
    tiny = ("import numpy as np, saecodec; k = saecodec.generate_key(); x = np.zeros((16, 16, 3), np.uint8); "
            "saecodec.decode(saecodec.encode(x, k, level=1), k); saecodec.decode(saecodec.encode(x, k), k)")
    with tempfile.TemporaryDirectory() as cache:
        cold = run_seconds([python, "-c", tiny], env={**os.environ, "NUMBA_CACHE_DIR": cache})
        warm = run_seconds([python, "-c", tiny], env={**os.environ, "NUMBA_CACHE_DIR": cache})

    encoded = {}
    rows = []
    for level in (1, 2):
        saecodec.encode(pixels, key, level=level)  # warm-up
        seconds = median_time(lambda: encoded.__setitem__(level, saecodec.encode(pixels, key, level=level)),
                              args.repeats)
        decode_seconds = median_time(lambda: saecodec.decode(encoded[level], key), args.repeats * 3)
        quality = psnr(pixels, saecodec.decode(encoded[level], key))
        rows.append((f"saecodec paper profile, level {level} ({'4:1' if level == 1 else '16:1'})", seconds,
                     decode_seconds, len(encoded[level]), quality))
    rd_settings = [("quality 50", {"quality": 50}), ("quality 75", {"quality": 75}), ("quality 90", {"quality": 90}),
                   ("target 1 bpp", {"target_bpp": 1.0}), ("target 35 dB", {"target_psnr": 35.0})]
    for label, options in rd_settings:
        def rd_encode(options: dict[str, float] = options) -> bytes:
            return saecodec.encode(pixels, key, **options)

        data = rd_encode()
        rd_seconds = median_time(rd_encode, args.repeats)
        rd_decode = median_time(lambda: saecodec.decode(data, key), args.repeats * 3)
        rows.append((f"saecodec rd profile, {label}", rd_seconds, rd_decode, len(data),
                     psnr(pixels, saecodec.decode(data, key))))

    for quality_setting in (75, 90):
        def jpeg_encode() -> bytes:
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, "JPEG", quality=quality_setting, optimize=True)
            return buffer.getvalue()

        data = jpeg_encode()
        jpeg_seconds = median_time(jpeg_encode, args.repeats * 3)
        jpeg_decode = median_time(lambda: np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), args.repeats * 3)
        decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        rows.append((f"Pillow JPEG q={quality_setting}", jpeg_seconds, jpeg_decode, len(data), psnr(pixels, decoded)))

    print()
    print("| codec | encode (ms) | decode (ms) | bytes | bpp | PSNR (dB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, enc, dec, size, quality in rows:
        print(f"| {name} | {enc * 1e3:.1f} | {dec * 1e3:.2f} | {size} | {8 * size / (height * width):.3f} "
              f"| {quality:.2f} |")

    print()
    print("| keystream | MB/s (1 MiB) | MB/s (4 MiB, one chunk) | MB/s (64 MiB) |")
    print("|---|---:|---:|---:|")
    for suite in ("chacha20", "logistic"):
        cells = []
        for size in (1 << 20, 1 << 22, 1 << 26):
            keystream(suite, bytes(32), size)
            seconds = median_time(lambda: keystream(suite, bytes(32), size), args.repeats)
            cells.append(f"{size / seconds / 1e6:.0f}")
        print(f"| {suite} | " + " | ".join(cells) + " |")

    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "in.png"
        Image.fromarray(pixels).save(source)
        keyfile = Path(work) / "k.key"
        saecodec.save_key(key, keyfile)
        cli = [python, "-m", "saecodec", "encode", str(source), "-o", str(Path(work) / "out.saec"),
               "--key-file", str(keyfile), "--quiet", "--force"]
        # A fresh install's first runs: each with its own empty JIT cache, so each compiles what it needs.
        first = {}
        decode_cli = [python, "-m", "saecodec", "decode", str(Path(work) / "out.saec"), "-o",
                      str(Path(work) / "out.png"), "--key-file", str(keyfile), "--quiet", "--force"]
        for name, args_ in (("encode", cli + ["--quality", "75"]), ("decode", decode_cli)):
            with tempfile.TemporaryDirectory() as cache:
                first[name] = run_seconds(args_, env={**os.environ, "NUMBA_CACHE_DIR": cache})
        cli_seconds = {}
        for profile, options in (("paper", ["--level", "1"]), ("rd", ["--quality", "75"])):
            run_seconds(cli + options)
            cli_seconds[profile] = statistics.median(run_seconds(cli + options) for _ in range(3))
        cli_seconds["decode"] = statistics.median(run_seconds(decode_cli) for _ in range(3))

    flops = training_flops((64, 16, 4), TrainConfig())
    training_seconds = rows[0][1]
    peak = measured_peak_gflops()
    print()
    print("| measure | value |")
    print("|---|---:|")
    print(f"| `import saecodec` (fresh process, minus bare interpreter start) | "
          f"{(statistics.median(imports) - statistics.median(baseline)) * 1e3:.0f} ms |")
    print(f"| first call, empty JIT cache (tiny encode, whole process) | {cold:.2f} s |")
    print(f"| same with the cache warm | {warm:.2f} s |")
    print(f"| JIT compile time (difference) | {cold - warm:.2f} s |")
    size = f"{width}x{height}"
    print(f"| `saec encode --level 1` (paper) {size}, start to finish, warm cache | {cli_seconds['paper']:.2f} s |")
    print(f"| `saec encode --quality 75` (rd) {size}, start to finish, warm cache | {cli_seconds['rd']:.2f} s |")
    print(f"| the same, first run (empty JIT cache) | {first['encode']:.2f} s |")
    print(f"| `saec decode` of that file, warm cache | {cli_seconds['decode']:.2f} s |")
    print(f"| the same, first run (empty JIT cache) | {first['decode']:.2f} s |")
    print(f"| Adam work of one encode (estimated, a lower bound) | {flops / 1e9:.2f} GFLOP |")
    print(f"| that work over the whole level-1 encode time | {flops / training_seconds / 1e9:.2f} GFLOP/s |")
    print(f"| float32 matrix-product rate of this machine (numpy BLAS, all cores) | {peak:.1f} GFLOP/s |")
    print(f"| fraction of that | {flops / training_seconds / 1e9 / peak * 100:.1f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
