"""Stage-1 probe for the `overfit` profile (issue 11): per-image latent grids + tiny synthesis MLP.

Research groundwork, not product code. Everything is numpy with hand-written gradients (the same
backward passes later Numba kernels will need), seeded and CPU-only:

- latent grids at several resolutions (full, 1/2, 1/4, ...; one channel each), bilinear up-sampling
  (half-pixel centres) to full resolution as two dense interpolation matrices, concatenated per pixel;
- a 1x1 synthesis MLP L -> H -> H -> 3 with ReLU predicting RGB in [0, 1];
- a factorised zero-mean Laplace rate model, one learned scale per grid;
- training: Adam on MSE + lambda * bpp, additive uniform noise on the latents first, then
  straight-through rounding for the last part of the schedule;
- evaluation with TRUE bits: rounded latents, ideal code length -sum log2 p under the model, MLP
  weights quantised to `--weight-bits` (PSNR is measured WITH the quantised weights), float32 per-layer
  steps, 16-bit Laplace scales and a fixed header allowance; PSNR over RGB of the uint8 decoded image.

Run:  python tools/overfit_probe.py --crop 256 --lambdas 0.02,0.005,0.0015 --steps 3000
      python tools/overfit_probe.py --check-grad
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

HEADER_BYTES = 16  # allowance: image size, grid count, layer sizes, weight bits (no container/crypto)


# ---------------------------------------------------------------------------------------------- model
def bilinear_matrix(n_out: int, n_in: int, dtype) -> np.ndarray:
    """Dense (n_out, n_in) bilinear interpolation matrix, half-pixel centres, edge clamp.

    Dense is fine at these sizes and makes forward (A g B^T) and backward (A^T dU B) two matmuls each."""
    a = np.zeros((n_out, n_in), dtype=dtype)
    if n_in == n_out:
        np.fill_diagonal(a, 1.0)
        return a
    for i in range(n_out):
        x = (i + 0.5) * n_in / n_out - 0.5
        x = min(max(x, 0.0), n_in - 1.0)
        i0 = int(math.floor(x))
        i1 = min(i0 + 1, n_in - 1)
        f = x - i0
        a[i, i0] += 1.0 - f
        a[i, i1] += f
    return a


@dataclass
class Model:
    """All trainable parameters; `params()` fixes the order Adam and the grad check use."""
    grids: list[np.ndarray]    # latent grids, (h_k, w_k)
    log_b: np.ndarray          # (K,) log Laplace scale per grid
    w: list[np.ndarray]        # MLP weights (in, out)
    b: list[np.ndarray]        # MLP biases (out,)

    def params(self) -> list[np.ndarray]:
        return [*self.grids, self.log_b, *self.w, *self.b]


def init_model(h: int, w: int, levels: int, hidden: int, layers: int, rng: np.random.Generator, dtype,
               kernel: int = 1, fine_channels: int = 1) -> Model:
    """Zero latents (as Cool-chic) and He-initialised MLP; output bias 0.5 so step 0 predicts grey.

    fine_channels > 1 gives the two finest levels several channels: one full-resolution scalar per pixel
    cannot carry three colours at high rate."""
    grids = [np.zeros((max(1, -(-h // 2 ** k)), max(1, -(-w // 2 ** k))), dtype=dtype)
             for k in range(levels) for _ in range(fine_channels if k < 2 else 1)]
    sizes = [len(grids) * kernel * kernel] + [hidden] * layers + [3]
    ws = [(rng.standard_normal((i, o)) * math.sqrt(2.0 / i)).astype(dtype) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(o, dtype=dtype) for o in sizes[1:]]
    bs[-1][:] = 0.5
    return Model(grids, np.zeros(len(grids), dtype=dtype), ws, bs)


class Upsampler:
    """Holds the interpolation matrices for one image size and grid pyramid."""

    def __init__(self, h: int, w: int, grids: list[np.ndarray], dtype):
        self.h, self.w = h, w
        self.ah = [bilinear_matrix(h, g.shape[0], dtype) for g in grids]
        self.aw = [bilinear_matrix(w, g.shape[1], dtype) for g in grids]

    def forward(self, grids: list[np.ndarray]) -> np.ndarray:
        """(N, K) matrix of up-sampled latents, one column per grid."""
        cols = [(g if g.shape == (self.h, self.w) else ah @ g @ aw.T).reshape(-1)
                for g, ah, aw in zip(grids, self.ah, self.aw)]
        return np.stack(cols, axis=1)

    def backward(self, dx: np.ndarray) -> list[np.ndarray]:
        out = []
        for k, (ah, aw) in enumerate(zip(self.ah, self.aw)):
            du = dx[:, k].reshape(self.h, self.w)
            out.append(du.copy() if ah.shape[0] == ah.shape[1] and aw.shape[0] == aw.shape[1] else ah.T @ du @ aw)
        return out


def neighbours(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """(N, K) -> (N, 9K): each pixel's 3x3 neighbourhood of up-sampled latents (zero outside the image).

    Makes the first MLP layer a 3x3 convolution (im2col), the cheapest way to let the decoder see texture."""
    k = x.shape[1]
    img = np.zeros((h + 2, w + 2, k), dtype=x.dtype)
    img[1:-1, 1:-1] = x.reshape(h, w, k)
    return np.concatenate([img[dy:dy + h, dx:dx + w].reshape(h * w, k) for dy in range(3) for dx in range(3)], axis=1)


def neighbours_backward(d9: np.ndarray, h: int, w: int) -> np.ndarray:
    k = d9.shape[1] // 9
    acc = np.zeros((h + 2, w + 2, k), dtype=d9.dtype)
    i = 0
    for dy in range(3):
        for dx in range(3):
            acc[dy:dy + h, dx:dx + w] += d9[:, i * k:(i + 1) * k].reshape(h, w, k)
            i += 1
    return acc[1:-1, 1:-1].reshape(h * w, k)


def mlp_forward(x: np.ndarray, ws: list[np.ndarray], bs: list[np.ndarray]) -> tuple[np.ndarray, list]:
    """Returns output and the cache (inputs of each layer, pre-activations) the backward pass needs."""
    cache = []
    a = x
    for i, (w, b) in enumerate(zip(ws, bs)):
        z = a @ w + b
        cache.append((a, z))
        a = np.maximum(z, 0) if i < len(ws) - 1 else z
    return a, cache


def mlp_backward(dy: np.ndarray, ws: list[np.ndarray], cache: list) -> tuple[np.ndarray, list, list]:
    dws, dbs = [None] * len(ws), [None] * len(ws)
    d = dy
    for i in range(len(ws) - 1, -1, -1):
        a, z = cache[i]
        if i < len(ws) - 1:
            d = d * (z > 0)
        dws[i] = a.T @ d
        dbs[i] = d.sum(axis=0)
        d = d @ ws[i].T
    return d, dws, dbs


# ------------------------------------------------------------------------------------------ rate model
def laplace_bits(v: np.ndarray, log_b: float, need_grad: bool = True):
    """-log2 P(v) for P the zero-mean Laplace(b) mass on [v-0.5, v+0.5], with d/dv and d/dlog_b.

    Written on a = |v| with the tail form for a >= 0.5 so large values do not cancel to zero."""
    b = math.exp(float(log_b))
    a = np.abs(v)
    tail = a >= 0.5
    lo, hi = a - 0.5, a + 0.5
    e_lo = np.exp(-np.abs(lo) / b)  # |lo|: for a < 0.5, lo < 0 and F(lo) = 0.5 exp(lo/b) by symmetry
    e_hi = np.exp(-hi / b)
    # P = F(hi) - F(lo);   tail: 0.5(e_lo - e_hi);   centre: 1 - 0.5 e_lo - 0.5 e_hi
    p = np.where(tail, 0.5 * (e_lo - e_hi), 1.0 - 0.5 * e_lo - 0.5 * e_hi)
    p = np.maximum(p, 1e-12)
    bits = -np.log2(p)
    if not need_grad:
        return bits, None, None
    f_lo = 0.5 / b * e_lo  # Laplace density at lo, hi
    f_hi = 0.5 / b * e_hi
    dp_da = f_hi - f_lo
    # dF(x)/db = -x f(x) / b  (F depends on x/b only); P = F(hi) - F(lo)
    dp_db = (-hi * f_hi + lo * f_lo) / b
    k = -1.0 / (p * math.log(2))
    dbits_dv = k * dp_da * np.sign(v)
    dbits_dlogb = float((k * dp_db).sum() * b)
    return bits, dbits_dv, dbits_dlogb


# ------------------------------------------------------------------------------------------ loss
def loss_and_grads(m: Model, up: Upsampler, target: np.ndarray, lam: float, noise: list[np.ndarray] | None,
                   ste: bool) -> tuple[float, float, float, list[np.ndarray]]:
    """loss = MSE(RGB in [0,1]) + lam * bpp.  noise: additive uniform noise per grid (training);
    ste: the synthesis sees rounded latents, gradients pass straight through; the rate stays on y + noise."""
    n = target.shape[0]
    # rate always on the noisy latents (at rounded values the rate gradient of a latent at 0 is 0, so under
    # STE nothing pulls latents back to 0 and the rate drifts up: seen in the first runs)
    yr = [g + u for g, u in zip(m.grids, noise)] if noise is not None else list(m.grids)
    yq = [np.round(g) for g in m.grids] if ste else yr
    x = up.forward(yq)
    conv = m.w[0].shape[0] == 9 * x.shape[1]
    if conv:
        x = neighbours(x, up.h, up.w)
    out, cache = mlp_forward(x, m.w, m.b)
    diff = out - target
    mse = float((diff * diff).mean())
    dout = (2.0 / diff.size) * diff
    dx, dws, dbs = mlp_backward(dout, m.w, cache)
    if conv:
        dx = neighbours_backward(dx, up.h, up.w)
    dgrids = up.backward(dx)
    bits_total = 0.0
    dlogb = np.zeros_like(m.log_b)
    for k, y in enumerate(yr):
        bits, dv, dl = laplace_bits(y, m.log_b[k])
        bits_total += float(bits.sum())
        dgrids[k] = dgrids[k] + (lam / n) * dv.astype(dgrids[k].dtype)
        dlogb[k] = (lam / n) * dl
    bpp = bits_total / n
    return mse + lam * bpp, mse, bpp, [*dgrids, dlogb, *dws, *dbs]


# ------------------------------------------------------------------------------------------ evaluation
def quantise_weights(arrs: list[np.ndarray], bits: int) -> list[np.ndarray]:
    """Per-tensor symmetric uniform quantisation; what a decoder would see."""
    out = []
    qmax = 2 ** (bits - 1) - 1
    for a in arrs:
        s = float(np.abs(a).max()) / qmax if np.abs(a).max() > 0 else 1.0
        out.append((np.round(a / s) * s).astype(a.dtype))
    return out


def evaluate(m: Model, up: Upsampler, img_u8: np.ndarray, weight_bits: int) -> dict:
    """True rate and PSNR: rounded latents coded at their ideal length under the (16-bit) Laplace scales,
    weights at `weight_bits` plus a float32 step per tensor, plus HEADER_BYTES."""
    h, w, _ = img_u8.shape
    n = h * w
    yq = [np.round(g) for g in m.grids]
    log_b16 = np.round(m.log_b * 4096) / 4096  # scales as stored (16-bit fixed point log)
    latent_bits = sum(float(laplace_bits(y, lb, need_grad=False)[0].sum()) for y, lb in zip(yq, log_b16))
    wq = quantise_weights(m.w, weight_bits)
    bq = quantise_weights(m.b, weight_bits)
    n_weights = sum(a.size for a in m.w + m.b)
    weight_bits_total = n_weights * weight_bits + 32 * (len(m.w) + len(m.b))
    other_bits = 16 * len(m.grids) + 8 * HEADER_BYTES
    x = up.forward(yq)
    if m.w[0].shape[0] == 9 * x.shape[1]:
        x = neighbours(x, h, w)
    out, _ = mlp_forward(x, wq, bq)
    rec = np.clip(np.round(out.reshape(h, w, 3) * 255.0), 0, 255).astype(np.uint8)
    mse = float(((rec.astype(np.float64) - img_u8) ** 2).mean())
    psnr = 10 * math.log10(255.0 ** 2 / mse) if mse > 0 else float("inf")
    total = latent_bits + weight_bits_total + other_bits
    return dict(bpp=total / n, psnr=psnr, latent_bpp=latent_bits / n, weight_bpp=weight_bits_total / n,
                other_bpp=other_bits / n, nonzero=int(sum((y != 0).sum() for y in yq)), rec=rec)


def macs_per_pixel(m: Model, h: int, w: int) -> float:
    """Decoder multiply-adds per pixel: MLP plus bilinear up-sampling (4 taps per up-sampled grid)."""
    mlp = sum(a.size for a in m.w)
    ups = sum(4 for g in m.grids if g.shape != (h, w))
    return mlp + ups


# ------------------------------------------------------------------------------------------ training
def train(img_u8: np.ndarray, lam: float, steps: int, lr: float, levels: int, hidden: int, layers: int,
          kernel: int, fine_channels: int, seed: int, ste_frac: float, log_every: int, weight_bits: int, time_limit: float) -> tuple[Model, dict]:
    h, w, _ = img_u8.shape
    dtype = np.float32
    rng = np.random.default_rng(seed)
    m = init_model(h, w, levels, hidden, layers, rng, dtype, kernel, fine_channels)
    up = Upsampler(h, w, m.grids, dtype)
    target = (img_u8.reshape(-1, 3) / 255.0).astype(dtype)
    params = m.params()
    mom = [np.zeros_like(p) for p in params]
    vel = [np.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    t0 = time.time()
    ste_start = int(steps * (1 - ste_frac))
    step = 0
    best = None  # (true RD cost, step, params): the encoder can measure true cost, so it keeps the best
    for step in range(1, steps + 1):
        ste = step > ste_start
        noise = [rng.uniform(-0.5, 0.5, g.shape).astype(dtype) for g in m.grids]
        loss, mse, bpp, grads = loss_and_grads(m, up, target, lam, noise, ste)
        # cosine decay to 5 % of lr; STE phase continues the decay
        cur_lr = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for i, (p, g) in enumerate(zip(params, grads)):
            mom[i] = b1 * mom[i] + (1 - b1) * g
            vel[i] = b2 * vel[i] + (1 - b2) * g * g
            mh = mom[i] / (1 - b1 ** step)
            vh = vel[i] / (1 - b2 ** step)
            p -= (cur_lr * mh / (np.sqrt(vh) + eps)).astype(p.dtype)
        if step % log_every == 0 or step == steps:
            psnr_est = 10 * math.log10(1.0 / mse)
            ev = evaluate(m, up, img_u8, weight_bits)
            cost = 10 ** (-ev["psnr"] / 10) + lam * ev["bpp"]  # true MSE (on [0,1]) + lam * true bpp
            if best is None or cost < best[0]:
                best = (cost, step, [p.copy() for p in params])
            print(f"  step {step:5d} loss {loss:.6f} est_bpp {bpp:.3f} train_psnr {psnr_est:.2f} "
                  f"| true bpp {ev['bpp']:.3f} psnr {ev['psnr']:.2f} | {'ste' if ste else 'noise'} "
                  f"{time.time() - t0:.1f}s", flush=True)
        if time.time() - t0 > time_limit:
            print(f"  time limit reached at step {step}", flush=True)
            break
    seconds = time.time() - t0
    ev = evaluate(m, up, img_u8, weight_bits)
    cost = 10 ** (-ev["psnr"] / 10) + lam * ev["bpp"]
    if best is not None and best[0] < cost:
        for p, q in zip(params, best[2]):
            p[...] = q
        ev = evaluate(m, up, img_u8, weight_bits)
        print(f"  keeping the parameters of step {best[1]} (lowest true MSE + lambda * bpp)")
    ev["steps"], ev["seconds"] = step, seconds
    return m, ev


# ------------------------------------------------------------------------------------------ grad check
def check_grad(seed: int = 0, kernel: int = 1) -> float:
    """Finite differences (float64, central, fixed noise) against the hand-written gradients."""
    rng = np.random.default_rng(seed)
    h, w = 12, 10
    dtype = np.float64
    m = init_model(h, w, 3, 6, 2, rng, dtype, kernel, fine_channels=2)
    for g in m.grids:
        g[:] = rng.normal(0, 1.5, g.shape)
    m.log_b[:] = rng.normal(0, 0.3, m.log_b.shape)
    for b in m.b:
        b[:] += rng.normal(0, 0.1, b.shape)
    up = Upsampler(h, w, m.grids, dtype)
    target = rng.uniform(0, 1, (h * w, 3))
    noise = [rng.uniform(-0.5, 0.5, g.shape) for g in m.grids]
    lam = 0.05
    _, _, _, grads = loss_and_grads(m, up, target, lam, noise, False)
    names = [f"grid{k}" for k in range(len(m.grids))] + ["log_b"] + [f"W{i}" for i in range(len(m.w))] + \
            [f"b{i}" for i in range(len(m.b))]
    eps = 1e-6
    worst = 0.0
    for name, p, g in zip(names, m.params(), grads):
        flat, gflat = p.reshape(-1), g.reshape(-1)
        idx = rng.choice(flat.size, size=min(flat.size, 20), replace=False)
        errs = []
        for i in idx:
            old = flat[i]
            flat[i] = old + eps
            lp = loss_and_grads(m, up, target, lam, noise, False)[0]
            flat[i] = old - eps
            lm = loss_and_grads(m, up, target, lam, noise, False)[0]
            flat[i] = old
            num = (lp - lm) / (2 * eps)
            errs.append(abs(num - gflat[i]) / max(abs(num), abs(gflat[i]), 1e-8))
        e = max(errs)
        worst = max(worst, e)
        print(f"  {name:6s} {str(p.shape):10s} max rel err {e:.2e}")
    print(f"check-grad: max relative error {worst:.2e} over all parameter groups")
    return worst


# ------------------------------------------------------------------------------------------ main
def load_crop(path: str, crop: int | None) -> np.ndarray:
    img = np.asarray(Image.open(path).convert("RGB"))
    if crop:
        h, w, _ = img.shape
        y0, x0 = (h - crop) // 2, (w - crop) // 2
        img = img[y0:y0 + crop, x0:x0 + crop]
    return np.ascontiguousarray(img)


def rd_reference(img: np.ndarray, bpp: float) -> tuple[float, float]:
    """saecodec rd profile at about the same bpp (whole .saec file, container and header included)."""
    import saecodec
    r = saecodec.encode_with_stats(img, saecodec.generate_key(), target_bpp=bpp)
    return r.bpp, r.psnr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("image", nargs="?", default="../shared/images/kodak-dev/kodim15.png")
    ap.add_argument("--crop", type=int, default=256, help="centre crop size (0 = whole image)")
    ap.add_argument("--lambdas", default="0.02,0.005,0.0015")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--levels", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--layers", type=int, default=2, help="hidden layers")
    ap.add_argument("--fine-channels", type=int, default=1, help="latent channels at full and 1/2 resolution")
    ap.add_argument("--kernel", type=int, default=1, choices=(1, 3), help="first layer 1x1 or 3x3")
    ap.add_argument("--ste-frac", type=float, default=0.2, help="fraction of steps with straight-through rounding")
    ap.add_argument("--weight-bits", type=int, default=8)
    ap.add_argument("--log-every", type=int, default=500)
    ap.add_argument("--time-limit", type=float, default=240.0, help="seconds per rate point")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-rd", action="store_true", help="skip the saecodec rd-profile comparison")
    ap.add_argument("--check-grad", action="store_true")
    ap.add_argument("--save-latents", metavar="DIR", help="save each rate point's rounded latents (coarsest grid "
                    "first, as grid0..gridN in an .npz) for entropy-coder studies")
    args = ap.parse_args()
    if args.check_grad:
        for kernel in (1, 3):
            print(f"first layer {kernel}x{kernel}:")
            check_grad(args.seed, kernel)
        return
    img = load_crop(args.image, args.crop or None)
    h, w, _ = img.shape
    rows = []
    for lam in [float(s) for s in args.lambdas.split(",")]:
        print(f"lambda {lam}: {w}x{h}, {args.levels} grids, MLP {args.levels}x{args.kernel}x{args.kernel}->{args.hidden}x{args.layers}->3, "
              f"{args.steps} steps, lr {args.lr}, fine channels {args.fine_channels}", flush=True)
        m, ev = train(img, lam, args.steps, args.lr, args.levels, args.hidden, args.layers, args.kernel, args.fine_channels, args.seed,
                      args.ste_frac, args.log_every, args.weight_bits, args.time_limit)
        if args.save_latents:
            import os
            os.makedirs(args.save_latents, exist_ok=True)
            grids = [np.round(g).astype(np.int32) for g in reversed(m.grids)]
            np.savez(os.path.join(args.save_latents, f"crop{args.crop}_lam{lam:g}.npz"),
                     **{f"grid{i}": g for i, g in enumerate(grids)})
        rd = (float("nan"), float("nan")) if args.no_rd else rd_reference(img, ev["bpp"])
        rows.append((lam, ev, rd))
        print(f"  result: true bpp {ev['bpp']:.4f} (latents {ev['latent_bpp']:.4f}, weights {ev['weight_bpp']:.4f}, "
              f"other {ev['other_bpp']:.4f}) psnr {ev['psnr']:.2f} dB; rd profile {rd[0]:.4f} bpp {rd[1]:.2f} dB",
              flush=True)
    print(f"\ndecoder multiply-adds per pixel: {macs_per_pixel(m, h, w):.0f}")
    print("| lambda | true bpp | PSNR (dB) | steps | seconds | rd bpp | rd PSNR (dB) | gap (dB) |")
    print("|---|---|---|---|---|---|---|---|")
    for lam, ev, rd in rows:
        print(f"| {lam:g} | {ev['bpp']:.4f} | {ev['psnr']:.2f} | {ev['steps']} | {ev['seconds']:.1f} | "
              f"{rd[0]:.4f} | {rd[1]:.2f} | {ev['psnr'] - rd[1]:+.2f} |")


if __name__ == "__main__":
    main()
