"""The measurements behind the rd profile's design choices, each against the profile as shipped.

Usage: python tools/rd_design.py [IMAGES_DIR]   (default: ../shared/images/paper)

For every image it sweeps the quality scale and codes the image with the shipped encoder's pieces, changing
one thing at a time, and prints BD-PSNR over 0.5-2 bpp (and 0.25-2 bpp) of each variant against the
baseline it differs from:

* deblocking off (baseline: the encoder's choice of strength);
* 4:2:0 chroma everywhere (baseline: 4:4:4);
* a chroma step 0.8x, 1.5x and 2x the luma step (baseline: one step for all planes);
* a per-image KLT, the optimal linear auto-encoder learned on the image's own blocks, instead of the stock
  DCT-II weights, with and without the bytes its weights would take (float16, three 64x64 bases); both
  sides without deblocking so that only the transform differs;
* and, at low qualities, how much better 4:2:0 is than 4:4:4 at the same true size (the crossover that
  chroma="auto" uses).

Rates are whole-file bits per pixel: the coded planes plus the header, frame and tag of a real file of that
image. The decoder side is the shipped one (spec section 10), so every PSNR is of pixels a reader would get.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import saecodec  # noqa: E402
from saecodec.entropy import encode_grid  # noqa: E402
from saecodec.format.header import ImageInfo, RdQuantInfo  # noqa: E402
from saecodec.kernels.colour import planes_to_rgb, rgb_to_planes  # noqa: E402
from saecodec.kernels.dct import predict_dc, quantise  # noqa: E402
from saecodec.metrics import psnr  # noqa: E402
from saecodec.profiles import rd  # noqa: E402

import bd  # noqa: E402
from provenance import git_describe, load_average  # noqa: E402

DEFAULT_IMAGES = ROOT.parent / "shared" / "images" / "paper"
QUALITIES = tuple(range(10, 96, 5))
LOW_QUALITIES = (5, 10, 15, 20, 25, 30, 35, 40)
RANGES = ((0.5, 2.0), (0.25, 2.0))
KLT_WEIGHT_BYTES = 3 * 64 * 64 * 2  # three 64x64 float16 bases; biases and ordering not even counted

Curve = list[tuple[float, float]]  # (bpp, PSNR) per quality


def overhead_bytes(pixels: np.ndarray) -> int:
    """Header, frame and tag of a real rd file of this image: its size minus its coded planes."""
    result = saecodec.encode_with_stats(pixels, saecodec.generate_key(), quality=50)
    return result.file_bytes - sum(length for name, length in result.header.sections if name != "alpha")


def rd_point(analysis: rd._Analysis, info: ImageInfo, steps: Sequence[int], deblock: int | None,
             overhead: int) -> tuple[float, float]:
    """Code with the shipped pieces at per-plane ``steps``; ``deblock`` None = the encoder's best."""
    indices = [quantise(coef, s / 16.0) for coef, s in zip(analysis.coefficients, steps)]
    size = overhead + sum(len(c) for c in analysis.code(indices, info))
    quant = RdQuantInfo(tuple(steps))
    padded = rd._inverse_planes(analysis.model_base, quant, info, indices)
    choices = rd._DEBLOCK_CHOICES if deblock is None else (deblock,)
    best = max(psnr(rd._finish(analysis.model(d), quant, info, padded, d), analysis.colour) for d in choices)
    return 8.0 * size / (info.height * info.width), best


def klt_point(pixels: np.ndarray, step: int, overhead: int, weight_bytes: int) -> tuple[float, float]:
    """The same pipeline with a per-image KLT per plane instead of the DCT (no deblocking)."""
    height, width = pixels.shape[:2]
    bh, bw = -(-height // 8), -(-width // 8)
    size, planes = overhead + weight_bytes, []
    for plane in rgb_to_planes(pixels):
        padded = np.pad(plane, ((0, 8 * bh - height), (0, 8 * bw - width)), mode="edge")
        blocks = padded.reshape(bh, 8, bw, 8).transpose(0, 2, 1, 3).reshape(bh * bw, 64)
        _, vectors = np.linalg.eigh(blocks.T @ blocks)  # second moments: the first vector is the DC-like one
        basis = vectors[:, ::-1]
        basis *= np.where(basis.sum(axis=0) < 0, -1.0, 1.0)
        q = quantise(blocks @ basis, step / 16.0).astype(np.int64)
        symbols = q.copy()
        symbols[:, 0] = predict_dc(q[:, 0], bh, bw)
        size += len(encode_grid(symbols[None], bw))
        rec = (q * (step / 16.0)) @ basis.T
        planes.append(rec.reshape(bh, bw, 8, 8).transpose(0, 2, 1, 3).reshape(8 * bh, 8 * bw)[:height, :width])
    return 8.0 * size / (height * width), psnr(planes_to_rgb(*planes), pixels)


def bd_cell(reference: Curve, test: Curve, span: tuple[float, float]) -> float | None:
    try:
        r1, p1 = bd.restrict([p[0] for p in reference], [p[1] for p in reference], *span)
        r2, p2 = bd.restrict([p[0] for p in test], [p[1] for p in test], *span)
        return bd.bd_psnr(r1, p1, r2, p2)
    except bd.BDError:
        return None


def sweep(fn: Callable[[int], tuple[float, float]], qualities: Sequence[int] = QUALITIES) -> Curve:
    return [fn(rd.quality_to_step(q)) for q in qualities]


def measure(name: str, pixels: np.ndarray) -> tuple[dict[str, tuple[Curve, Curve]], list[str]]:
    info = ImageInfo(pixels.shape[0], pixels.shape[1], "RGB")
    overhead = overhead_bytes(pixels)
    full, half = rd._Analysis(pixels, "444"), rd._Analysis(pixels, "420")
    base = sweep(lambda s: rd_point(full, info, (s, s, s), None, overhead))
    plain = sweep(lambda s: rd_point(full, info, (s, s, s), 0, overhead))
    pairs: dict[str, tuple[Curve, Curve]] = {"deblocking off": (base, plain)}
    pairs["4:2:0 chroma everywhere"] = (base, sweep(lambda s: rd_point(half, info, (s, s, s), None, overhead)))
    for ratio in (0.8, 1.5, 2.0):
        def chroma_scaled(s: int, ratio: float = ratio) -> tuple[float, float]:
            c = int(min(max(round(s * ratio), 2), 16384))
            return rd_point(full, info, (s, c, c), None, overhead)

        pairs[f"chroma step x{ratio:g}"] = (base, sweep(chroma_scaled))
    pairs["per-image KLT, weights free"] = (plain, sweep(lambda s: klt_point(pixels, s, overhead, 0)))
    pairs[f"per-image KLT, weights counted ({KLT_WEIGHT_BYTES} B)"] = (
        plain, sweep(lambda s: klt_point(pixels, s, overhead, KLT_WEIGHT_BYTES)))
    crossover = []
    low_full = sweep(lambda s: rd_point(full, info, (s, s, s), None, overhead), LOW_QUALITIES)
    rates = np.log10([p[0] for p in low_full])
    for q in LOW_QUALITIES:
        s = rd.quality_to_step(q)
        rate, value = rd_point(half, info, (s, s, s), None, overhead)
        if rates[0] <= np.log10(rate) <= rates[-1]:
            delta = value - float(np.interp(np.log10(rate), rates, [p[1] for p in low_full]))
            crossover.append(f"q{q} (step {s / 16:g}, {rate:.2f} bpp): {delta:+.2f} dB")
    return pairs, crossover


def main(argv: Sequence[str] | None = None) -> int:
    git_describe()  # before anything is written (see provenance.git_describe)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="?", type=Path, default=DEFAULT_IMAGES)
    args = parser.parse_args(argv)
    paths = sorted(p for p in args.images.glob("*") if p.suffix.lower() in {".png", ".bmp", ".ppm", ".tif", ".tiff"})
    if not paths:
        print(f"rd_design: no lossless images in {args.images}", file=sys.stderr)
        return 2
    print(f"# rd profile design measurements\n\n- commit: {git_describe()}, load average {load_average()}")
    print(f"- images: {', '.join(p.stem for p in paths)}; qualities {QUALITIES[0]}-{QUALITIES[-1]} step 5\n")
    results: dict[str, dict[str, tuple[Curve, Curve]]] = {}
    for path in paths:
        pixels = np.asarray(Image.open(path).convert("RGB"))
        pairs, crossover = measure(path.stem, pixels)
        results[path.stem] = pairs
        print(f"- {path.stem}: 4:2:0 minus 4:4:4 at the same true size: " + "; ".join(crossover))
    variants = list(next(iter(results.values())))
    for span in RANGES:
        print(f"\n## BD-PSNR against the baseline, {span[0]:g}-{span[1]:g} bpp (dB; > 0: the variant is better)\n")
        print("| variant | " + " | ".join(results) + " | mean |")
        print("|:---|" + "---:|" * (len(results) + 1))
        for variant in variants:
            cells = [bd_cell(*results[image][variant], span) for image in results]
            known = [c for c in cells if c is not None]
            mean = f"{np.mean(known):+.2f}" if len(known) == len(cells) else "n/a"
            print(f"| {variant} | " + " | ".join("n/a" if c is None else f"{c:+.2f}" for c in cells) + f" | {mean} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
