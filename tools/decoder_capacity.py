#!/usr/bin/env python3
"""How good can ANY decoder of the paper's shape be? An upper-bound study for the paper's PSNR tables.

The codec's paper profile misses the paper's Table 2 (16:1) on house and lake by 2-3 dB, and some cells of
Table 1 (4:1). This tool asks whether better training could close those gaps, independently of saecodec's
own trainer (level 2 = 16:1 = 4 codes per block, level 1 = 4:1 = 16 codes):

- PCA-k: plain PCA of one channel's 8x8 blocks with k float (unquantised) components; the
  paper's cells are placed on this linear scale (how many linear components would they be worth?);
- AD-w: a decoder codes -> w -> 64 (sigmoid, as the paper's) trained as an auto-decoder: every block's 4 codes
  are free parameters optimised together with the weights by full-batch Adam, one model per channel and
  for one level alone (the most generous setting; the codec shares one model across channels and levels).
  Codes are then rounded to 8 bits and pixels to integers, as in a .saec file. At 16:1, w = 16 is the
  paper's architecture (4 -> 16 -> 64); a wider w shows whether decoder capacity is what is missing. At
  4:1 the paper's decoder is one layer (16 -> 64): AD-w0; a hidden layer (w > 0) adds capacity.

    python tools/decoder_capacity.py [IMAGE_DIR] [--level 2] [--widths 16,64] [--steps 15000] [--images house,lake]

Pure numpy (float32 training, float64 evaluation); channels run on all cores, one BLAS thread each.
About 80 s per channel and core at the defaults; the four paper images take ~9 minutes on 2 cores.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one process per core; BLAS threads would fight them

import argparse  # noqa: E402
import concurrent.futures  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mdtables import table  # noqa: E402
from provenance import git_describe  # noqa: E402
from sae_experiment import PAPER, image_blocks, psnr  # noqa: E402

from saecodec.model.decode import sigmoid  # noqa: E402

#: Per level: the number of codes per block and the PCA ranks to place the paper's cells on.
CODES = {1: 16, 2: 4}
PCA_COMPONENTS = {1: (16, 20, 24, 32, 40), 2: (4, 6, 8, 12, 16)}


def pca_psnr(blocks: np.ndarray, k: int) -> float:
    """PSNR of the best rank-k affine approximation (float coefficients, pixels rounded)."""
    mu = blocks.mean(axis=0)
    _, _, vt = np.linalg.svd(blocks - mu, full_matrices=False)
    rec = (blocks - mu) @ vt[:k].T @ vt[:k] + mu
    return psnr(np.clip(np.round(rec * 255.0), 0, 255), blocks * 255.0)


def auto_decoder_psnr(blocks: np.ndarray, codes: int, width: int, steps: int, seed: int = 0) -> float:
    """Train codes and a sigmoid decoder codes -> width -> 64 (width 0: codes -> 64) jointly.

    Returns the PSNR with 8-bit codes and integer pixels.

    Codes start at the block's top PCA coefficients (scaled), weights at random; Adam with a cosine
    learning rate from 1e-2. Codes are kept in (0, 1) by a sigmoid on free parameters, as an SAE's are.
    """
    x = blocks.astype(np.float32)
    n = len(x)
    rng = np.random.default_rng(seed)
    mu = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mu, full_matrices=False)
    pc = (x - mu) @ vt[:codes].T
    hidden = width > 0  # width 0: the one-layer decoder codes -> 64 (the paper's at 4:1)
    params = {
        "z": (3.0 * pc / np.abs(pc).max(axis=0)).astype(np.float32),
        "w2": (rng.standard_normal((width or codes, 64)) / np.sqrt(width or codes)).astype(np.float32),
        "b2": np.zeros(64, np.float32),
    }
    if hidden:
        params["w1"] = rng.standard_normal((codes, width)).astype(np.float32)
        params["b1"] = np.zeros(width, np.float32)
    first = {k: np.zeros_like(v) for k, v in params.items()}
    second = {k: np.zeros_like(v) for k, v in params.items()}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, steps + 1):
        lr = 1e-2 * 0.5 * (1.0 + np.cos(np.pi * step / steps)) + 1e-4
        z = sigmoid(params["z"])
        h = sigmoid(z @ params["w1"] + params["b1"]) if hidden else z
        y = sigmoid(h @ params["w2"] + params["b2"])
        dy = (y - x) * (2.0 / (n * 64)) * y * (1.0 - y)
        dh = (dy @ params["w2"].T) * h * (1.0 - h)
        grads = {"w2": h.T @ dy, "b2": dy.sum(axis=0)}
        if hidden:
            grads["w1"], grads["b1"] = z.T @ dh, dh.sum(axis=0)
            dz = (dh @ params["w1"].T) * z * (1.0 - z)
        else:
            dz = dh
        # each block's codes see only 1/n of the mean loss; scale so Adam's moments are comparable
        grads["z"] = dz * n
        for k, g in grads.items():
            first[k] = beta1 * first[k] + (1 - beta1) * g
            second[k] = beta2 * second[k] + (1 - beta2) * g * g
            update = lr * (first[k] / (1 - beta1**step)) / (np.sqrt(second[k] / (1 - beta2**step)) + eps)
            params[k] -= update.astype(np.float32)
    p = {k: v.astype(np.float64) for k, v in params.items()}
    quantised = np.round(sigmoid(p["z"]) * 255.0) / 255.0
    h = sigmoid(quantised @ p["w1"] + p["b1"]) if hidden else quantised
    out = sigmoid(h @ p["w2"] + p["b2"])
    return psnr(np.clip(np.round(out * 255.0), 0, 255), blocks * 255.0)


def study_channel(
    path: Path, channel: int, level: int, widths: tuple[int, ...], steps: int
) -> tuple[list[float], list[float]]:
    blocks = image_blocks(np.asarray(Image.open(path).convert("RGB")))[channel]
    pca = [pca_psnr(blocks, k) for k in PCA_COMPONENTS[level]]
    return pca, [auto_decoder_psnr(blocks, CODES[level], w, steps) for w in widths]


def main(argv: list[str] | None = None) -> int:
    default_dir = Path(__file__).resolve().parents[2] / "shared" / "images" / "paper"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images_dir", nargs="?", type=Path, default=default_dir)
    ap.add_argument("--level", type=int, choices=(1, 2), default=2, help="2 = 16:1 (4 codes), 1 = 4:1 (16)")
    ap.add_argument("--widths",
                    help="decoder hidden widths; default 16,64 at level 2 and 0,64 at level 1 (0: the paper's)")
    ap.add_argument("--steps", type=int, default=15000, help="full-batch Adam steps per model")
    ap.add_argument("--images", default=",".join(PAPER), help="comma-separated image names")
    args = ap.parse_args(argv)
    widths = tuple(int(w) for w in (args.widths or ("16,64" if args.level == 2 else "0,64")).split(","))
    names = [n for n in args.images.split(",") if n]
    missing = [n for n in names if n not in PAPER or not (args.images_dir / f"{n}.png").is_file()]
    if missing:
        print(f"decoder_capacity: no paper image {', '.join(missing)} in {args.images_dir}", file=sys.stderr)
        return 2

    revision = git_describe()
    started = time.perf_counter()
    jobs = [(n, c) for n in names for c in range(3)]
    with concurrent.futures.ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        futures = {
            job: pool.submit(study_channel, args.images_dir / f"{job[0]}.png", job[1], args.level, widths, args.steps)
            for job in jobs
        }
        results = {job: f.result() for job, f in futures.items()}

    ranks = PCA_COMPONENTS[args.level]
    ratio = "16:1" if args.level == 2 else "4:1"
    head = ["image", "ch", f"paper {ratio}"] + [f"PCA-{k}" for k in ranks]
    head += [f"AD-w{w}" for w in widths] + [f"paper - AD-w{widths[-1]}", "paper ~ PCA-k"]
    print(f"# {ratio} upper-bound study (PSNR dB), {revision}, {args.steps} Adam steps\n")
    rows, gaps = [], []
    for (name, channel), (pca, ad) in results.items():
        target = PAPER[name][args.level - 1][channel]
        worth = next((f"{k}" for k, v in zip(ranks, pca) if v >= target), f">{ranks[-1]}")
        gaps.append(target - ad[-1])
        cells = [name, "RGB"[channel], f"{target:.2f}"] + [f"{v:.2f}" for v in pca + ad]
        cells += [f"{target - ad[-1]:+.2f}", worth]
        rows.append(cells)
    print(table(head, rows, "ll" + "r" * (len(head) - 2)))
    reached = sum(g <= 0 for g in gaps)
    print(f"\nAD-w{widths[-1]} at or above the paper: {reached}/{len(gaps)} cells; mean gap {np.mean(gaps):+.2f} dB")
    print(f"({time.perf_counter() - started:.0f} s on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
