"""The README's main job: encode an image with the `saec` CLI, with the rd profile (the default) at three
qualities and a target rate and with the paper profile at both levels, under both ciphers, and with the
overfit profile at effort "fast" (it trains for tens of seconds: one cipher); decode every file and print its
true size and PSNR. Run through tools/demo.sh on a fresh machine."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from saecodec.metrics import psnr, psnr_per_channel

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_IMAGE = ROOT.parent / "shared" / "images" / "paper" / "peppers.png"


def synthetic_photo(path: Path, size: int = 256) -> None:
    """A smooth, textured RGB stand-in when no photograph is at hand."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:size, 0:size] / size
    planes = [
        128 + 90 * np.sin(6 * x + 2 * y) * np.cos(3 * y),
        128 + 80 * np.cos(5 * x * y + 1),
        100 + 100 * x * (1 - y),
    ]
    image = np.stack(planes, axis=2) + rng.normal(0, 4, (size, size, 3))
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)


def saec(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "saecodec", *args], check=True)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="saec-demo-"))
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_IMAGE
    if not source.exists():
        source = work / "synthetic.png"
        synthetic_photo(source)
    original = np.asarray(Image.open(source).convert("RGB"))
    height, width = original.shape[:2]
    print(f"image: {source} ({width}x{height})")
    key = work / "demo.key"
    saec("keygen", "-o", str(key))
    print(f"{'profile':>7} {'setting':>16} {'cipher':>9} {'bytes':>8} {'bpp':>6} {'PSNR':>7}  per channel")
    runs = [("rd", f"quality {q}", ["--quality", q]) for q in ("50", "75", "90")]
    runs += [("rd", "target 1 bpp", ["--target-bpp", "1"])]
    runs += [("paper", f"level {level}", ["--level", level]) for level in ("1", "2")]
    both = ("chacha20", "logistic")
    runs = [(profile, setting, options, both) for profile, setting, options in runs]
    runs += [("overfit", "fast, quality 75", ["--effort", "fast", "--quality", "75"], ("chacha20",))]
    for profile, setting, options, ciphers in runs:
        for cipher in ciphers:
            stem = f"{profile}-{setting.replace(' ', '').replace(',', '-')}-{cipher}"
            packed, decoded = work / f"{stem}.saec", work / f"{stem}.png"
            saec("encode", str(source), "-o", str(packed), "--key-file", str(key), "--profile", profile, *options,
                 "--cipher", cipher, "--quiet")
            saec("decode", str(packed), "-o", str(decoded), "--key-file", str(key))
            result = np.asarray(Image.open(decoded).convert("RGB"))
            size = packed.stat().st_size
            channels = " ".join(f"{v:.2f}" for v in psnr_per_channel(original, result))
            print(f"{profile:>7} {setting:>16} {cipher:>9} {size:>8} {8 * size / (height * width):6.3f} "
                  f"{psnr(original, result):7.2f}  {channels}")
    saec("info", str(work / "rd-quality75-chacha20.saec"))
    print(f"files in {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
