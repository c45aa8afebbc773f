"""Stage-8 screening (docs/overfit/stage8.md), kept as run: the training's rate proxy with a Laplace scale
per (grid, lc1 context class), patched into the trainer of a worktree of commit dca5279 (/tmp/wt8), whose
`default` effort then had four warm-up starts. Not product code: the next stage moves it into the kernels.

    PROXY=ctx CTX_LR=5 SEED=0 NUMBA_NUM_THREADS=1 python ctx_proxy_screen.py kodim23.png --crop 256x384 --quality 80

PROXY=ctx|base, SEED, CTX_LR (the class scales' learning rate over the network's), CLASSES=32|16 (16: no
parent flag); the other arguments are tools/overfit_point.py's."""
import math, os, sys
sys.path.insert(0, "/tmp/wt8"); sys.path.insert(0, "/tmp/wt8/tools")
import dataclasses
import numpy as np
from saecodec.model import overfit as M
from saecodec.profiles import overfit as P
from saecodec import profiles as PP
from saecodec.kernels import synthesis as K

e = os.environ
_ms = P.make_settings
def _make(quality=None, target_bpp=None, target_psnr=None, effort=None, seed=None):
    return _ms(quality, target_bpp, target_psnr, effort, int(e.get('SEED', '0')))
P.make_settings = _make
PP.PROFILES['overfit'] = dataclasses.replace(PP.PROFILES['overfit'], settings=_make)
MIN_P = 2.0 ** -16
NCLS = int(e.get("CLASSES", "32"))


def classes(trainer, hard):
    """Per latent: grid * NCLS + min(A, 15) (+ 16 for a non-zero parent)."""
    shapes = trainer.model.grid_shapes(trainer.image)
    out = np.empty(hard.size, np.int64)
    offs = trainer.offsets
    grids = [hard[offs[j]:offs[j + 1]].reshape(shapes[j]) for j in range(len(shapes))]
    for j, g in enumerate(grids):
        h, w = g.shape
        p = np.zeros((h + 2, w + 4), np.float32)
        p[2:, 2:-2] = np.abs(g)
        a = p[2:, 1:-3]; e2 = p[2:, 0:-4]; b = p[1:-1, 2:-2]; c = p[1:-1, 1:-3]; d = p[1:-1, 3:-1]; f = p[0:-2, 2:-2]
        act = np.minimum(2 * a + 2 * b + c + d + e2 + f, 15).astype(np.int64)
        if NCLS == 32 and j + 1 < len(grids):
            par = grids[j + 1]
            ph, pw = par.shape
            ys = (np.arange(h) * ph) // h
            xs = (np.arange(w) * pw) // w
            act += 16 * (par[ys][:, xs] != 0)
        out[offs[j]:offs[j + 1]] = j * NCLS + act.reshape(-1)
    return out


def ctx_rate(trainer, v, grad_v, scale_grad):
    """bits of v (float) under zero-mean Laplace per class; adds scale_grad * d bits/dv to grad_v."""
    st = trainer._ctx
    idx = classes(trainer, np.rint(trainer.params.latents))
    ls = st["ls"][idx]
    v = v.astype(np.float64)
    s = np.exp(-ls)
    lo = (v - 0.5) * s
    hi = (v + 0.5) * s
    tail = -np.expm1(-s)
    above, below = lo >= 0, hi <= 0
    e_lo = np.exp(np.minimum(lo, 0.0))
    e_hi = np.exp(-np.maximum(hi, 0.0))
    p = np.where(above, 0.5 * np.exp(-np.maximum(lo, 0.0)) * tail,
                 np.where(below, 0.5 * np.exp(np.minimum(hi, 0.0)) * tail, 1.0 - 0.5 * e_lo - 0.5 * e_hi))
    floored = p < MIN_P
    pc = np.maximum(p, MIN_P)
    bits = -np.log2(pc)
    ratio = np.exp(-s) / tail
    d_mu = np.where(above, s, np.where(below, -s, 0.5 * s * (e_lo - e_hi) / pc))
    d_s = np.where(above, -lo / s + ratio, np.where(below, hi / s + ratio, (-0.5 * (lo / s) * e_lo + 0.5 * (hi / s) * e_hi) / pc))
    k = -1.0 / math.log(2.0)
    g_v = np.where(floored, 0.0, -k * d_mu)  # d bits / d v = - d bits / d mu
    g_ls = np.where(floored, 0.0, k * d_s * -s)
    grad_v += (scale_grad * g_v).astype(np.float32)
    st["g"] = np.bincount(idx, weights=g_ls, minlength=st["ls"].size) * scale_grad
    return float(bits.sum())


def ctx_adam(trainer, lr):
    st = trainer._ctx
    st["t"] += 1
    t = st["t"]
    g = st["g"]
    st["m"] = 0.9 * st["m"] + 0.1 * g
    st["v"] = 0.999 * st["v"] + 0.001 * g * g
    st["ls"] -= lr * float(e.get("CTX_LR", "1")) * (st["m"] / (1 - 0.9 ** t)) / (np.sqrt(st["v"] / (1 - 0.999 ** t)) + 1e-8)


_init = M._Trainer.__init__
def init(self, *a, **k):
    _init(self, *a, **k)
    n = len(self.model.grid_shapes(self.image)) * NCLS
    self._ctx = dict(ls=np.zeros(n), m=np.zeros(n), v=np.zeros(n), t=0, g=np.zeros(n))


def step(self, ste):
    p = self.params
    self.rng.random(dtype=np.float32, out=self.noise)
    self.noise -= np.float32(0.5)
    fraction = min(self.t / self.steps, 1.0) if self.decay else 0.0
    values = self.colour.size
    window = (0, self.image.height, 0, self.image.width)
    if ste:
        np.rint(p.latents, out=self.seen)
        sse = K.forward_backward(p.shape, self.seen, p.tensors, self.target, window, self.grad_latents,
                                 self.grad_tensors, grad_scale=1.0 / values)
        bits = ctx_rate(self, p.latents + self.noise, self.grad_latents, self.lam / self.pixels)
    else:
        temperature = M._TEMPERATURES[0] + (M._TEMPERATURES[1] - M._TEMPERATURES[0]) * fraction
        K.soft_round_noisy(p.latents, self.noise, temperature, self.seen, self.slope)
        sse = K.forward_backward(p.shape, self.seen, p.tensors, self.target, window, self.grad_latents,
                                 self.grad_tensors, grad_scale=1.0 / values)
        bits = ctx_rate(self, self.seen, self.grad_latents, self.lam / self.pixels)
        self.grad_latents *= self.slope
    self.t += 1
    fraction = self.t / self.steps
    lr = self.lr
    if self.decay:
        lr *= M._FINAL_LR + (1.0 - M._FINAL_LR) * 0.5 * (1.0 + math.cos(math.pi * min(fraction, 1.0)))
    K.adam_step(p.flat, self.grad, self.m, self.v, self.t, lr, M._BETAS[0], M._BETAS[1], M._EPS, zero_grad=True)
    ctx_adam(self, lr)
    return sse / values + self.lam * bits / self.pixels


_wu = M.warm_up
def warm_up(trainer, steps, lr, seed, starts=1, progress=None):
    # the warm-up's trainer hands over latents and network; the context scales start afresh at full size
    _wu(trainer, steps, lr, seed, starts, progress)


if e.get("PROXY", "ctx") == "ctx":
    M._Trainer.__init__ = init
    M._Trainer.step = step
print("TAG", e.get("TAG"), "proxy", e.get("PROXY", "ctx"), "classes", NCLS, "ctx_lr", e.get("CTX_LR", "1"), "seed", e.get("SEED", "0"), flush=True)
import overfit_point
raise SystemExit(overfit_point.main(sys.argv[1:]))
