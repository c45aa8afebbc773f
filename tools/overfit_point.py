"""One rate point of the overfit profile against the rd profile at the same whole-file rate.

    python tools/overfit_point.py ../shared/images/kodak-dev/kodim23.png --effort best --quality 50
    python tools/overfit_point.py IMAGE --quality 65 --levels 1,2,1,1,1,1,1 --hidden 24,24 --residual 2 --steps 2000
    python tools/overfit_point.py IMAGE --quality 60 --crop 256x384 --warm-up-steps 0 --steps 2000

With only --effort, the file is what ``saecodec.encode(..., profile="overfit")`` writes (every byte counted,
PSNR of what ``decode`` returns, encode and decode timed). A decoder shape or step count other than an
effort's (--levels, --hidden, --residual, --steps, --warm-up-steps, --warm-up-starts, --rate-contexts,
--network-optimiser, --network-lr-scale) is a
trial: it runs the same trainer and container with that shape, which the effort table does not offer. --crop HxW takes the centre of the image
(trials on a quarter of a photograph run four times faster). Either way the rd profile is then encoded with
``target_bpp`` equal to the overfit file's rate, and both are printed with their difference.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import saecodec  # noqa: E402
from saecodec.kernels.colour import rgb_to_planes  # noqa: E402
from saecodec.profiles import overfit  # noqa: E402


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v)


def load_pixels(path: Path, crop: str | None) -> np.ndarray:
    """The image as (H, W, 3) uint8 RGB; with ``crop`` "HxW", its centre H x W (screening trials run on crops)."""
    with Image.open(path) as opened:
        pixels = np.asarray(opened.convert("RGB"))
    if crop:
        ch, cw = (int(v) for v in crop.lower().split("x"))
        y0, x0 = max(0, (pixels.shape[0] - ch) // 2), max(0, (pixels.shape[1] - cw) // 2)
        pixels = np.ascontiguousarray(pixels[y0:y0 + ch, x0:x0 + cw])
    return pixels


def ycbcr_psnr(reference: np.ndarray, decoded: np.ndarray) -> tuple[float, float, float]:
    """PSNR of each JFIF Y, Cb, Cr plane (float, unrounded; the rd profile's own transform) of ``decoded``
    against ``reference``."""
    planes = zip(rgb_to_planes(np.asarray(decoded)[..., :3]), rgb_to_planes(reference[..., :3]))
    mse = [float(np.mean((a - b) ** 2)) for a, b in planes]
    return tuple(float("inf") if v == 0 else 10.0 * math.log10(255.0**2 / v) for v in mse)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--effort", choices=tuple(overfit.EFFORTS), default="default")
    parser.add_argument("--quality", type=float, default=overfit.DEFAULT_QUALITY)
    parser.add_argument("--levels", type=_ints, help="trial: latent channels per level, e.g. 1,2,1,1,1,1,1")
    parser.add_argument("--hidden", type=_ints, help="trial: hidden 1x1 widths, e.g. 32,32")
    parser.add_argument("--residual", type=int, help="trial: residual 3x3 layers")
    parser.add_argument("--steps", type=int, help="trial: training steps on the whole image")
    parser.add_argument("--warm-up-steps", type=int, help="trial: warm-up steps on the half-resolution image")
    parser.add_argument("--warm-up-starts", type=int, help="trial: warm-up starts, the best continued")
    parser.add_argument("--learning-rate", type=float, help="trial: Adam's initial learning rate")
    parser.add_argument("--rate-contexts", action="store_const", const=True,
                        help="trial: rate proxy with a Laplace scale per lc1 context class")
    parser.add_argument("--network-optimiser", choices=("adam", "soap"),
                        help="trial: the network weights' optimiser (SOAP as Cool-chic 5 uses it: model.soap)")
    parser.add_argument("--network-lr-scale", type=float,
                        help="trial: the network's learning rate as a multiple of the latents'")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--crop", help="encode the centre HxW of the image, e.g. 256x384")
    parser.add_argument("--by-channel", action="store_true",
                        help="also print both codecs' PSNR in Y, Cb and Cr (JFIF), to see where the error lies")
    args = parser.parse_args(argv)
    pixels = load_pixels(args.image, args.crop)
    key = saecodec.generate_key()
    base = overfit.EFFORTS[args.effort]
    trial = {name: getattr(args, name) for name in ("levels", "hidden", "residual", "steps", "warm_up_steps",
                                                          "warm_up_starts", "rate_contexts", "learning_rate",
                                                          "network_optimiser", "network_lr_scale")
             if getattr(args, name) is not None}
    effort = replace(base, **trial)
    saved = overfit.EFFORTS[args.effort]
    overfit.EFFORTS[args.effort] = effort  # a trial shape goes through the same encoder and container
    try:
        start = time.perf_counter()
        result = saecodec.encode_with_stats(pixels, key, profile="overfit", effort=args.effort, quality=args.quality,
                                           seed=args.seed)
        encode_s = time.perf_counter() - start
    finally:
        overfit.EFFORTS[args.effort] = saved
    start = time.perf_counter()
    decoded = saecodec.decode(result.data, key)
    decode_s = time.perf_counter() - start
    header = saecodec.inspect(result.data)
    rd = saecodec.encode_with_stats(pixels, key, profile="rd", target_bpp=result.bpp)
    shape = f"levels {list(header.model.levels)}, hidden {list(header.model.hidden)}, residual {header.model.residual}"
    size = f" {pixels.shape[0]}x{pixels.shape[1]} crop," if args.crop else ""
    print(f"{args.image.name}{size} effort {args.effort}{' (trial: ' + str(trial) + ')' if trial else ''}, "
          f"quality {args.quality:g}, seed {args.seed}, {effort.warm_up_steps} warm-up ({effort.warm_up_starts} starts) + "
          f"{effort.steps} steps, lr {effort.learning_rate:g}, rate proxy per {'context class' if effort.rate_contexts else 'grid'}, "
          f"{effort.network_optimiser} on the network (lr x{effort.network_lr_scale:g}), {shape}, "
          f"{header.model.macs_per_pixel()} MAC/px: "
          f"{result.bpp:.4f} bpp {result.psnr:.2f} dB, encode {encode_s:.1f} s, decode {decode_s:.3f} s | "
          f"rd {rd.bpp:.4f} bpp {rd.psnr:.2f} dB ({result.psnr - rd.psnr:+.2f} dB)", flush=True)
    if args.by_channel:
        for name, image in (("overfit", decoded), ("rd", saecodec.decode(rd.data, key))):
            print(f"  {name} Y/Cb/Cr PSNR: " + " / ".join(f"{v:.2f}" for v in ycbcr_psnr(pixels, image)) + " dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
