#!/usr/bin/env python3
"""Train the SAE on the paper's images and compare per-channel PSNR with the paper's Tables 1 and 2.

For every image: one model on the 8x8 blocks of all three channels (or one per channel with
--per-channel), codes quantised to 8 bits, decoded with the reference decoder from float32 weights,
pixels rounded and clipped - exactly what the codec does. Prints PSNR at 4:1 (level 1) and 16:1 (level 2)
next to the paper's numbers and the training time (after a JIT warm-up run).

    python tools/sae_experiment.py [IMAGE_DIR] [--per-channel] [--level K] [--seeds 0,1,2] [--set field=value ...]

Training is chaotic: a different seed moves single numbers by a few tenths of a dB, so compare settings on
the mean over several seeds (--seeds); the table then shows the mean per image and channel.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

# A multi-threaded BLAS call (the reference decoder's matmul) leaves OpenBLAS threads spinning, and on a
# 2-core machine they slow the Numba training kernels that follow several-fold.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from saecodec.model.decode import decode_latent  # noqa: E402
from saecodec.model.sae import TrainConfig, train_sae  # noqa: E402

# Paper Tables 1 (4:1) and 2 (16:1): per-channel PSNR (R, G, B).
PAPER = {
    "house": ((32.3594, 31.0442, 32.4390), (27.6808, 26.7686, 27.4011)),
    "airplane": ((34.8105, 32.9479, 36.1427), (27.3651, 27.5476, 29.6174)),
    "lake": ((33.0470, 28.0832, 30.6157), (30.1927, 25.7179, 26.5192)),
    "peppers": ((31.2424, 30.2994, 32.1540), (29.5848, 26.3888, 29.3838)),
}


def image_blocks(img: np.ndarray) -> list[np.ndarray]:
    """Per channel: (H/8 * W/8, 64) float64 blocks in [0, 1], blocks row-major, pixels row-major."""
    h, w, c = img.shape
    return [
        (img[:, :, k].astype(np.float64) / 255.0).reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 64)
        for k in range(c)
    ]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def codec_roundtrip(model, blocks: np.ndarray, level: int) -> np.ndarray:
    """Encode, quantise to uint8, decode from float32 weights, round to pixels - as the codec does."""
    q = np.round(model.encode(blocks, level) * 255.0).astype(np.uint8)
    layers = [(w.astype(np.float32), b.astype(np.float32)) for w, b in model.decoder_for_level(level)]
    out = decode_latent(q / 255.0, layers)
    return np.clip(np.round(out * 255.0), 0, 255)


def pca_baseline(chans: list[np.ndarray], k: int) -> list[float]:
    """PSNR per channel of plain PCA (k components of all channels' blocks, 8-bit min/max-scaled
    coefficients): the linear reference the SAE has to beat."""
    x = np.concatenate(chans)
    mu = x.mean(axis=0)
    _, vec = np.linalg.eigh(np.cov((x - mu).T))
    u = vec[:, ::-1][:, :k]
    p = (x - mu) @ u
    lo, hi = p.min(axis=0), p.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    q = np.round((p - lo) / span * 255.0) / 255.0 * span + lo
    rec = np.clip(np.round((q @ u.T + mu) * 255.0), 0, 255)
    n = chans[0].shape[0]
    return [psnr(rec[i * n : (i + 1) * n], c * 255.0) for i, c in enumerate(chans)]


def parse_overrides(items: list[str]) -> dict:
    fields = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    out = {}
    for item in items:
        key, _, val = item.partition("=")
        if key not in fields:
            raise SystemExit(f"unknown TrainConfig field {key!r}; have {sorted(fields)}")
        default = getattr(TrainConfig(), key)
        if isinstance(default, tuple):
            out[key] = tuple(float(v) for v in val.split(","))
        elif isinstance(default, bool):
            out[key] = val.lower() in ("1", "true", "yes")
        else:
            out[key] = type(default)(val)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="?", default="/work/shared/images/paper")
    ap.add_argument("--per-channel", action="store_true", help="one model per colour channel")
    ap.add_argument("--level", type=int, default=None, help="train for this level only (default: both)")
    ap.add_argument("--only", default=None, help="comma-separated image names")
    ap.add_argument("--pca", action="store_true", help="also print the PCA baseline (16 / 4 components)")
    ap.add_argument("--seeds", default=None, help="comma-separated training seeds (default: the config's seed)")
    ap.add_argument("--set", nargs="*", default=[], help="TrainConfig overrides, field=value")
    args = ap.parse_args(argv)
    cfg = TrainConfig(**parse_overrides(args.set))
    seeds = [int(v) for v in args.seeds.split(",")] if args.seeds else [cfg.seed]
    print(f"config: {cfg}" + (f"  seeds {seeds}" if args.seeds else ""))
    files = sorted(Path(args.images).glob("*.png"))
    if args.only:
        keep = set(args.only.split(","))
        files = [f for f in files if f.stem in keep]
    warm = np.random.default_rng(0).random((512, 64))
    train_sae(warm, level=args.level, config=dataclasses.replace(cfg, pretrain_steps=1, finetune_steps=1, alt_steps=1))
    levels = [1, 2] if args.level is None else [args.level]
    rows, deltas, times = [], {lv: [] for lv in levels}, []
    enc_times: dict[int, list[float]] = {lv: [] for lv in levels}
    for f in files:
        chans = image_blocks(np.asarray(Image.open(f).convert("RGB")))
        ours = {lv: [] for lv in levels}
        for seed in seeds:
            run = dataclasses.replace(cfg, seed=seed)
            t0 = time.perf_counter()
            if args.per_channel:
                models = [train_sae(c, level=args.level, config=run) for c in chans]
            else:
                shared = train_sae(np.concatenate(chans), level=args.level, config=run)
                models = [shared] * len(chans)
            times.append(time.perf_counter() - t0)
            for lv in levels:
                t0 = time.perf_counter()
                decoded = [codec_roundtrip(m, c, lv) for m, c in zip(models, chans)]
                enc_times[lv].append(time.perf_counter() - t0)
                ours[lv].append([psnr(d, c * 255.0) for d, c in zip(decoded, chans)])
        for lv in levels:
            mean = list(np.mean(ours[lv], axis=0))
            paper = PAPER.get(f.stem, ((np.nan,) * 3,) * 2)[lv - 1]
            deltas[lv].extend(o - p for o, p in zip(mean, paper))
            rows.append((f.stem, lv, mean, paper))
            if args.pca:
                rows.append((f.stem + "*", lv, pca_baseline(chans, chans[0].shape[1] // 4 ** lv), paper))
    print(f"\n{'image':9s} {'CR':4s}  {'R ours/paper':>14s}  {'G ours/paper':>14s}  {'B ours/paper':>14s}   mean diff")
    for name, lv, ours, paper in rows:
        cells = "  ".join(f"{o:6.2f}/{p:6.2f}" for o, p in zip(ours, paper))
        diff = np.mean(np.array(ours) - np.array(paper))
        print(f"{name:9s} {'4:1' if lv == 1 else '16:1':4s}  {cells}   {diff:+.2f}")
    if args.pca:
        print("(* = PCA baseline, same quantisation; not part of the means below)")
    for lv in levels:
        d = np.array(deltas[lv])
        print(f"level {lv}: mean diff to paper {np.nanmean(d):+.2f} dB, worst {np.nanmin(d):+.2f} dB")
    print("training time per run: " + ", ".join(f"{t:.2f}s" for t in times) + f"  (mean {np.mean(times):.2f}s, "
          f"load average {os.getloadavg()[0]:.2f})")
    for lv in levels:
        print(f"level {lv} encode+quantise+decode time per image: mean {np.mean(enc_times[lv]):.2f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
