"""What an auto-regressive entropy model (Cool-chic's, C3's ARM) would save over lc1 on an overfit file's latents.

    python tools/arm_oracle.py ../shared/images/kodak-dev/kodim23.png --quality 50
    python tools/arm_oracle.py IMAGE --quality 65 --crop 256x384 --effort fast

Encodes IMAGE with the overfit profile, exactly as ``saecodec.encode`` does, takes the latent grids the file
holds, and sets the bytes lc1 spent on them (its adaptive binary contexts: spec/lc1-latent-coder.md) beside
ideal code lengths (-log2 of each value's probability, no coder overhead) under:

* ``factorised``: one zero-mean Laplace per grid, its scale fitted to the grid (the training's rate proxy);
* ``context``: a zero-mean Laplace whose scale depends on the value's class in lc1's own context, the
  activity A = 2|a| + 2|b| + |c| + |d| + |e| + |f| of its causal neighbours (min(A, 15)) and whether its parent
  is non-zero: 32 scales shared by all grids, fitted (a proxy training could use in place of the factorised one);
* ``arm``: a discretised Laplace whose mean and log-scale a small MLP predicts from each value's causal
  neighbours in its grid (the 12 before it in a 5x5 window) and the 3x3 co-located values of the grid coded
  before it, fitted by Adam to these very latents, as an ARM trained per image would be. Its weights' cost,
  at 8 bits each (Cool-chic stores its ARM about so), is printed apart and added to the total.

The latents are fixed: they were trained against the factorised proxy and coded by lc1, not trained with the
ARM, so this measures what an ARM would save on them, not what training with it would reach. Issue 11 asks
whether lc1 is within 0.1 dB of such a model; a saving of r % of the file's bytes is worth roughly
r * 0.05 dB at these rates (the BD-rate/BD-PSNR ratio of stage 6: -3.3 % for +0.14 dB).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import saecodec  # noqa: E402
from saecodec.entropy import latentcoder  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overfit_point import load_pixels  # noqa: E402

_CAUSAL = [(-2, dx) for dx in range(-2, 3)] + [(-1, dx) for dx in range(-2, 3)] + [(0, -2), (0, -1)]
_PARENT = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
_MIN_P = 2.0**-16  # the probability floor of the training's rate proxy


def captured_grids(pixels: np.ndarray, quality: float, effort: str) -> tuple[list[np.ndarray], int, int, float]:
    """Encode; return the file's latent grids (coding order: coarsest first), the latents section's bytes, the
    file's bytes and its PSNR. The grids are caught at the encoder's own check decode of the finished file."""
    caught: list[tuple[list[np.ndarray], int]] = []
    original = latentcoder.decode_latents

    def catching(data: bytes, shapes):  # type: ignore[no-untyped-def]
        grids = original(data, shapes)
        caught.append(([g.copy() for g in grids], len(data)))
        return grids

    latentcoder.decode_latents = catching
    try:
        result = saecodec.encode_with_stats(pixels, saecodec.generate_key(), profile="overfit", quality=quality,
                                            effort=effort)
    finally:
        latentcoder.decode_latents = original
    grids, latent_bytes = caught[-1]
    return grids, latent_bytes, len(result.data), result.psnr


def features(grids: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(N, F) float32 contexts and (N,) float64 values of every latent: causal neighbours, the parent grid's
    3x3 around the co-located value (zero for the first grid), and a one-hot of the grid's place."""
    rows, values = [], []
    for index, grid in enumerate(grids):
        h, w = grid.shape
        g = grid.astype(np.float32)
        padded = np.zeros((h + 2, w + 4), np.float32)
        padded[2:, 2:-2] = g
        cols = [padded[2 + dy : 2 + dy + h, 2 + dx : 2 + dx + w] for dy, dx in _CAUSAL]
        if index > 0:
            parent = grids[index - 1].astype(np.float32)
            ph, pw = parent.shape
            ys = np.minimum(np.arange(h) * ph // h, ph - 1)
            xs = np.minimum(np.arange(w) * pw // w, pw - 1)
            pp = np.pad(parent, 1)
            cols += [pp[1 + dy + ys][:, 1 + dx + xs] for dy, dx in _PARENT]
        else:
            cols += [np.zeros((h, w), np.float32)] * len(_PARENT)
        one_hot = np.zeros((h * w, len(grids)), np.float32)
        one_hot[:, index] = 1.0
        rows.append(np.concatenate([np.stack([c.reshape(-1) for c in cols], axis=1), one_hot], axis=1))
        values.append(grid.reshape(-1).astype(np.float64))
    return np.concatenate(rows), np.concatenate(values)


def laplace_bits(v: np.ndarray, mu: np.ndarray, log_b: np.ndarray, need_grad: bool = False):
    """Bits of integers v under Laplace(mu, exp(log_b)) discretised to [v - 0.5, v + 0.5], the probability
    floored at 2^-16; with need_grad also d bits / d mu and d bits / d log_b (zero where the floor applies)."""
    s = np.exp(-log_b)  # 1 / scale
    lo = (v - 0.5 - mu) * s
    hi = (v + 0.5 - mu) * s
    tail = -np.expm1(-s)  # 1 - e^-s
    above, below = lo >= 0, hi <= 0
    middle = ~(above | below)
    e_lo = np.exp(np.minimum(lo, 0.0))
    e_hi = np.exp(-np.maximum(hi, 0.0))
    p = np.where(above, 0.5 * np.exp(-np.maximum(lo, 0.0)) * tail,
                 np.where(below, 0.5 * np.exp(np.minimum(hi, 0.0)) * tail, 1.0 - 0.5 * e_lo - 0.5 * e_hi))
    floored = p < _MIN_P
    bits = -np.log2(np.maximum(p, _MIN_P))
    if not need_grad:
        return bits
    # d log p / d mu and d log p / d s (lo and hi are in units of the scale: lo = (v - 0.5 - mu) s)
    ratio = np.exp(-s) / tail  # d log(1 - e^-s) / ds
    d_mu = np.where(above, s, np.where(below, -s, 0.5 * s * (e_lo - e_hi) / np.maximum(p, _MIN_P)))
    d_s = np.where(above, -lo / s + ratio, np.where(below, hi / s + ratio,
                   (-0.5 * (lo / s) * e_lo + 0.5 * (hi / s) * e_hi) / np.maximum(p, _MIN_P)))
    scale = -1.0 / math.log(2.0)
    g_mu = np.where(floored, 0.0, scale * d_mu)
    g_log_b = np.where(floored, 0.0, scale * d_s * -s)
    return bits, g_mu, g_log_b


def context_classes(x: np.ndarray) -> np.ndarray:
    """lc1's zero-flag context of every latent from its feature row: min(A, 15), plus 16 for a non-zero parent."""
    a, b, c, d, e, f = (np.abs(x[:, k]) for k in (11, 7, 6, 8, 10, 2))
    activity = np.minimum(2 * a + 2 * b + c + d + e + f, 15).astype(np.int64)
    return activity + 16 * (x[:, 12 + _PARENT.index((0, 0))] != 0)


def best_scale_bits(v: np.ndarray) -> float:
    """Ideal bits of v under the zero-mean Laplace of the best log-scale (a fine search)."""
    zeros = np.zeros_like(v)
    return min(float(laplace_bits(v, zeros, np.full_like(v, t)).sum()) for t in np.linspace(-4.0, 4.0, 161))


def context_bits(x: np.ndarray, v: np.ndarray) -> float:
    """Ideal bits with a zero-mean Laplace per lc1 context class (context_classes), each scale fitted."""
    classes = context_classes(x)
    return sum(best_scale_bits(v[classes == k]) for k in np.unique(classes))


def factorised_bits(grids: list[np.ndarray]) -> float:
    """Ideal bits with one zero-mean Laplace per grid, its log-scale the best of a fine search."""
    return sum(best_scale_bits(grid.reshape(-1).astype(np.float64)) for grid in grids)


class Mlp:
    """F -> hidden (ReLU) ... -> 2 (mu, log-scale), float64 weights, trained with full-batch Adam."""

    def __init__(self, sizes: list[int], rng: np.random.Generator) -> None:
        self.params = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            self.params += [rng.normal(0.0, math.sqrt(2.0 / n_in), (n_in, n_out)), np.zeros(n_out)]
        self.params[-2] *= 0.1

    @property
    def count(self) -> int:
        return sum(p.size for p in self.params)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        acts = [x]
        for k in range(0, len(self.params), 2):
            z = acts[-1] @ self.params[k] + self.params[k + 1]
            acts.append(np.maximum(z, 0.0) if k + 2 < len(self.params) else z)
        return acts[-1], acts

    def backward(self, acts: list[np.ndarray], g_out: np.ndarray) -> list[np.ndarray]:
        grads: list[np.ndarray] = [np.empty(0)] * len(self.params)
        g = g_out
        for k in range(len(self.params) - 2, -1, -2):
            grads[k] = acts[k // 2].T @ g
            grads[k + 1] = g.sum(axis=0)
            if k:
                g = (g @ self.params[k].T) * (acts[k // 2] > 0)
        return grads


def fit_arm(x: np.ndarray, v: np.ndarray, hidden: list[int], steps: int, seed: int) -> tuple[float, int]:
    """Train the ARM on (x, v) to minimise the total bits; return the final bits and the weight count."""
    rng = np.random.default_rng(seed)
    net = Mlp([x.shape[1], *hidden, 2], rng)
    x64 = x.astype(np.float64)
    m = [np.zeros_like(p) for p in net.params]
    s = [np.zeros_like(p) for p in net.params]
    lr, b1, b2 = 3e-3, 0.9, 0.999
    for t in range(1, steps + 1):
        out, acts = net.forward(x64)
        bits, g_mu, g_lb = laplace_bits(v, out[:, 0], out[:, 1], need_grad=True)
        grads = net.backward(acts, np.stack([g_mu, g_lb], axis=1) / v.size)
        rate = lr * 0.5 * (1.0 + math.cos(math.pi * t / steps)) + 1e-5
        for p, g, mt, st in zip(net.params, grads, m, s):
            mt *= b1
            mt += (1 - b1) * g
            st *= b2
            st += (1 - b2) * g * g
            p -= rate * (mt / (1 - b1**t)) / (np.sqrt(st / (1 - b2**t)) + 1e-12)
    out, _ = net.forward(x64)
    return float(laplace_bits(v, out[:, 0], out[:, 1]).sum()), net.count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--quality", type=float, default=50.0)
    parser.add_argument("--effort", default="default")
    parser.add_argument("--crop", help="encode the centre HxW of the image, e.g. 256x384")
    parser.add_argument("--hidden", default="16,16", help="the ARM's hidden widths (default 16,16)")
    parser.add_argument("--steps", type=int, default=400, help="Adam steps fitting the ARM (default 400)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    pixels = load_pixels(args.image, args.crop)
    start = time.perf_counter()
    grids, latent_bytes, file_bytes, psnr = captured_grids(pixels, args.quality, args.effort)
    encode_s = time.perf_counter() - start
    x, v = features(grids)
    hidden = [int(n) for n in args.hidden.split(",") if n]
    start = time.perf_counter()
    arm_bits, weights = fit_arm(x, v, hidden, args.steps, args.seed)
    fit_s = time.perf_counter() - start
    factorised = factorised_bits(grids) / 8
    context = context_bits(x, v) / 8
    arm = arm_bits / 8
    pixels_n = pixels.shape[0] * pixels.shape[1]
    saved = latent_bytes - (arm + weights)
    print(f"{args.image.name}{' ' + args.crop + ' crop' if args.crop else ''}, effort {args.effort}, quality "
          f"{args.quality:g}: file {file_bytes} bytes ({8 * file_bytes / pixels_n:.4f} bpp, {psnr:.2f} dB), "
          f"{v.size} latents ({np.count_nonzero(v)} non-zero), encode {encode_s:.0f} s")
    print(f"  lc1 (in the file)         {latent_bytes:9d} bytes")
    print(f"  factorised Laplace, ideal {factorised:9.0f} bytes ({100 * (factorised / latent_bytes - 1):+.1f} %)")
    print(f"  lc1-context Laplace, ideal {context:8.0f} bytes ({100 * (context / latent_bytes - 1):+.1f} %)")
    print(f"  ARM {x.shape[1]}-{'-'.join(map(str, hidden))}-2, ideal    {arm:9.0f} bytes "
          f"({100 * (arm / latent_bytes - 1):+.1f} %), + {weights} weights at 8 bits: {arm + weights:.0f} bytes "
          f"({100 * (arm + weights - latent_bytes) / latent_bytes:+.1f} %); fitted in {fit_s:.0f} s")
    print(f"  ARM saving against the whole file: {100 * saved / file_bytes:+.2f} % of its bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
