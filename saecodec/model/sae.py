"""Training of the stacked sigmoid auto-encoder (Hu et al., arXiv:1608.05001) and the trained model object.

The paper's recipe is greedy layer-wise pre-training followed by back-propagation fine-tuning of the whole
64-16-4-16-64 net, sigmoid units everywhere and an MSE loss. Done naively that lands several dB below plain
PCA. Two facts shape what is done here instead (measured on the paper's images):

* the trained sigmoid encoder/decoder pair stays below PCA at 4:1 (house: about 30.1 dB against PCA's
  31.3 dB, unquantised; even PCA codes with the exactly fitted best decoder only reach 30.3 dB), while the
  same kind of decoder fed with codes optimised per block reaches 31.6 dB: the encoder is the weak part;
* the decoder is all a file stores, so how the codes are found is free.

So the model is trained as an auto-encoder (for the decoder, and for an encoder that gives good starting
codes) and :meth:`TrainedSAE.encode` then refines each block's code with a few damped Gauss-Newton steps
against the decoder. The stages of :func:`train_sae`:

1. PCA initialisation: the encoder input is whitened (a reparametrisation folded back at the end); every
   encoder layer starts as a scaled PCA projection, every decoder layer as a least-squares fit in the logit
   domain, then the output layer is fitted exactly (per unit Levenberg-Marquardt).
2. Optional greedy pre-training of each level (the paper's first step; off by default, it buys nothing
   after the PCA start).
3. Back-propagation fine-tuning of all layers with minibatch Adam on the sum of both levels' errors,
   weighted by 1/MSE so that each level's relative (dB) improvement counts the same.
4. Alternation rounds (one by default): refine the codes per block, then re-fit the decoders to them.
5. Quantisation-aware decoder tuning: the codes ``encode`` will produce, rounded to the 8-bit grid the file
   holds (round(a*255)/255), and the decoders re-fitted to them (a few Adam epochs on all decoder layers
   with the codes fixed, then the exact output-layer fit); finally rounded to float32 as stored.

The heavy lifting is in :mod:`saecodec.kernels.sae`; this module orchestrates. Time goes mostly to the
fine-tuning, a serial loop of small minibatch steps (float32, vectorised across the batch); the full-batch
stages (code refinement, output-layer fits) use all cores. A 512x512 RGB image (12288 blocks) trains in
about 0.65 s on a 2-core 2.6 GHz machine, 0.8 s on one core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..kernels import sae as K
from .decode import decode_latent

__all__ = ["TrainConfig", "TrainedSAE", "train_sae"]


@dataclass(frozen=True)
class TrainConfig:
    """Knobs of :func:`train_sae`. The defaults are tuned on the four paper images (tools/sae_experiment.py)."""

    seed: int = 0
    #: One model for both levels, as the paper's scheme has it (True), or a model trained for the level the
    #: file stores alone (False): a .saec file keeps one level's decoder, and specialising gains about
    #: 0.6 dB at 16:1 on the paper images (tools/sae_experiment.py --level 2).
    shared_levels: bool = True
    #: Arithmetic of the back-propagation kernels; float32 (twice as many SIMD lanes) trains about twice as
    #: fast as float64, for the same PSNR within the seed-to-seed spread on the paper images.
    dtype: str = "float32"
    #: Standard deviation of the first-layer pre-activations after PCA initialisation.
    init_scale: float = 1.0
    #: Whitening of the encoder input: eigenvalues are floored at whiten_eps times their mean.
    whiten_eps: float = 1e-3
    #: Adam steps (minibatches) of the greedy pre-training of each level; 0 skips it.
    pretrain_steps: int = 0
    #: Adam steps of the joint fine-tuning. Counted in steps, not epochs, so that the time is about the
    #: same for any image size (7200 = 150 epochs of a 512x512 RGB image). Level 2 keeps gaining with more
    #: steps (paper images, mean of 8 seeds: 4800 -> 7200 -> 9600 steps, 16:1 PSNR -1.48 -> -1.41 -> -1.37
    #: dB from the paper's, 4:1 unchanged within 0.02 dB) at about 60 us per step.
    finetune_steps: int = 7200
    batch: int = 256
    #: Adam learning rate of the fine-tuning of a shared (all-levels) model ...
    lr: float = 3e-2
    #: ... and of a model trained for level k alone: level_lr[k - 1] (level 2 likes larger steps).
    level_lr: tuple[float, ...] = (3e-2, 5e-2)
    #: Learning-rate factor of the layers above the first hidden layer (the small level-2 layers).
    upper_lr_scale: float = 2.0
    #: Final learning rate as a fraction of the initial one (cosine decay within each stage).
    lr_floor: float = 0.05
    #: Relative weight of each level (1, 2, ...) in the shared model's loss, on top of the 1/MSE balance.
    level_emphasis: tuple[float, ...] = (1.0, 1.0)
    #: Gauss-Newton steps per block when encoding (0: the plain encoder network).
    refine_steps: int = 4
    #: Code-refinement / decoder re-fit rounds before the quantisation-aware round (one: +0.03 dB at both
    #: levels for about 0.07 s).
    alt_rounds: int = 1
    #: Adam steps of each decoder re-fit (all decoder layers, codes fixed).
    alt_steps: int = 240
    alt_lr: float = 1e-3
    #: Levenberg-Marquardt iterations of the exact output-layer fit.
    gn_iters: int = 2


@dataclass
class TrainedSAE:
    """A trained stacked auto-encoder: encoder[i] maps layers[i] -> layers[i+1], decoder[i] the reverse.

    ``refine_steps`` is how hard :meth:`encode` works on each block's code (0 = the encoder network alone).
    """

    layers: tuple[int, ...]
    encoder: list[tuple[np.ndarray, np.ndarray]]
    decoder: list[tuple[np.ndarray, np.ndarray]]
    refine_steps: int = 0
    #: Per-stage training statistics, for experiments; not part of the model.
    history: dict = field(default_factory=dict, repr=False, compare=False)

    def encode(self, samples: np.ndarray, level: int) -> np.ndarray:
        """Codes at `level` (1 = first hidden layer): (N, layers[level]) float64 in [0, 1].

        The encoder network's activations, then refined per block against this model's decoder.
        """
        _check_level(self.layers, level)
        x = np.ascontiguousarray(samples, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.layers[0]:
            raise ValueError(f"samples must have shape (N, {self.layers[0]}), got {x.shape}")
        theta = _flatten(self.layers, self.encoder, self.decoder)
        off, layers = _layout(self.layers)
        codes = K.forward_codes(x, theta, off, layers, level)
        if self.refine_steps > 0:
            codes, _ = K.refine_codes(x, codes, theta, off, layers, level, self.refine_steps, _REFINE_LAMBDA)
        return codes

    def decoder_for_level(self, level: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """The decoder layers a level-`level` code goes through, from the latent outward."""
        _check_level(self.layers, level)
        return [self.decoder[j] for j in range(level - 1, -1, -1)]

    def decode(self, latent: np.ndarray, level: int) -> np.ndarray:
        """Reference decode of level codes in [0, 1] (what a file reader does): (N, layers[0]) float64."""
        return decode_latent(latent, self.decoder_for_level(level))


def train_sae(
    samples: np.ndarray,
    layers: tuple[int, ...] = (64, 16, 4),
    *,
    level: int | None = None,
    config: TrainConfig = TrainConfig(),
    progress: Callable[[float], None] | None = None,
) -> TrainedSAE:
    """Train a stacked sigmoid auto-encoder on samples (N, layers[0]) in [0, 1].

    level=None: every level must decode well (one model serves them all). level=k: the file will only use
    level k, so fine-tuning and the quantisation-aware decoder tuning target that level alone.
    progress(f) is called with fractions 0..1 as training advances. Deterministic given config.seed.
    """
    layers = tuple(int(u) for u in layers)
    if len(layers) < 2 or min(layers) < 1:
        raise ValueError(f"bad layer sizes {layers}")
    if level is not None:
        _check_level(layers, level)
    x = np.asarray(samples)
    if x.ndim != 2 or x.shape[1] != layers[0] or x.shape[0] < 1:
        raise ValueError(f"samples must have shape (N, {layers[0]}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples must be finite")
    return _Trainer(x, layers, config, progress).run(level)


# --------------------------------------------------------------------------- internals

#: Smallest variance a PCA direction is credited with (pixel values are in [0, 1]; 1e-8 is far below 1/255^2).
_MIN_VARIANCE = 1e-8

#: Initial Levenberg-Marquardt damping of the per-block code refinement (relative to the diagonal).
_REFINE_LAMBDA = 1e-2


def _check_level(layers: tuple[int, ...], level: int) -> None:
    if not 1 <= level < len(layers):
        raise ValueError(f"level must be in 1..{len(layers) - 1}, got {level}")


def _layout(layers: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    off, _ = K.param_layout(layers)
    return off, np.asarray(layers, np.int64)


def _layer_shape(layers: tuple[int, ...], j: int) -> tuple[int, int]:
    """(out, in) of flat layer j: encoder layers first, then decoder layers."""
    depth = len(layers) - 1
    return (layers[j + 1], layers[j]) if j < depth else (layers[j - depth], layers[j - depth + 1])


def _flatten(layers, encoder, decoder) -> np.ndarray:
    """Pack the layer lists into the kernels' flat parameter vector."""
    off, size = K.param_layout(layers)
    if not len(encoder) == len(decoder) == len(layers) - 1:
        raise ValueError("encoder and decoder must have one entry per layer pair")
    theta = np.empty(size)
    for j, (w, b) in enumerate(list(encoder) + list(decoder)):
        nout, nin = _layer_shape(layers, j)
        theta[off[j, 0] : off[j, 0] + nout * nin] = np.asarray(w, np.float64).reshape(nout, nin).ravel()
        theta[off[j, 1] : off[j, 1] + nout] = np.asarray(b, np.float64).reshape(nout)
    return theta


def _unflatten(layers, theta) -> tuple[list, list]:
    off, _ = K.param_layout(layers)
    depth = len(layers) - 1
    mats = []
    for j in range(2 * depth):
        nout, nin = _layer_shape(layers, j)
        w = theta[off[j, 0] : off[j, 0] + nout * nin].reshape(nout, nin).copy()
        b = theta[off[j, 1] : off[j, 1] + nout].copy()
        mats.append((w, b))
    return mats[:depth], mats[depth:]


def _logit(p: np.ndarray, eps: float) -> np.ndarray:
    p = np.clip(p, eps, 1.0 - eps)
    return np.log(p / (1.0 - p))


def _pca(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, eigenvalues (descending, floored) and eigenvectors (columns) of the sample covariance."""
    mu = a.mean(axis=0)
    ac = np.ascontiguousarray(a - mu)
    cov = K.gram(ac, ac) / a.shape[0]
    w, v = np.linalg.eigh(cov)
    v = v[:, ::-1]
    # An eigenvector's sign is LAPACK's choice: fix it (largest component positive) so the start does not
    # depend on the linear algebra library.
    v = v * np.where(v[np.argmax(np.abs(v), axis=0), np.arange(v.shape[1])] < 0, -1.0, 1.0)
    # Floor the variances: a flat image (or a single sample) must not make whitening divide by zero.
    return mu, np.maximum(w[::-1], _MIN_VARIANCE), np.ascontiguousarray(v)


def _lstsq_affine(h: np.ndarray, y: np.ndarray, ridge: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """W, b minimising |h W^T + b - y|^2 (plus a tiny ridge, so a degenerate code cannot blow up)."""
    ha = np.ascontiguousarray(np.hstack([h, np.ones((h.shape[0], 1))]))
    g = K.gram(ha, ha)
    g += ridge * np.trace(g) / g.shape[0] * np.eye(g.shape[0])
    sol = np.linalg.solve(g, K.gram(ha, np.ascontiguousarray(y)))
    return sol[:-1].T.copy(), sol[-1].copy()


def _lr_schedule(lr: float, floor: float, nsteps: int) -> np.ndarray:
    """Cosine decay from lr to lr*floor over nsteps."""
    s = np.arange(nsteps) / max(nsteps - 1, 1)
    return lr * (floor + (1.0 - floor) * 0.5 * (1.0 + np.cos(np.pi * s)))


class _Trainer:
    """State of one training run: data, flat parameters, the RNG and bookkeeping."""

    def __init__(self, x: np.ndarray, layers: tuple[int, ...], cfg: TrainConfig, progress) -> None:
        self.layers = layers
        self.cfg = cfg
        self.progress = progress
        self.dt = np.dtype(cfg.dtype)
        self.depth = len(layers) - 1
        self.x64 = np.ascontiguousarray(x, dtype=np.float64)
        self.n = self.x64.shape[0]
        self.x = np.ascontiguousarray(x, dtype=self.dt)
        self.off, self.size = K.param_layout(layers)
        self.layers_arr = np.asarray(layers, np.int64)
        self.rng = np.random.default_rng(cfg.seed)
        self.theta = np.zeros(self.size)
        self.history: dict = {}
        # The encoder trains on whitened inputs: raw pixels are far from centred and strongly correlated,
        # which makes gradient descent crawl. fold_whitening() turns it back into an encoder of raw pixels.
        self.mu, lam, vec = _pca(self.x64)
        self.whiten = vec / np.sqrt(lam + cfg.whiten_eps * lam.mean())
        wt = np.ascontiguousarray(self.whiten.T)
        self.xin64 = K.linear(self.x64, wt, -(wt @ self.mu))
        self.whitened = True
        self._batch = min(cfg.batch, self.n)
        self._total = 1.0
        self._done = 0.0

    # ---- bookkeeping

    def _plan_progress(self, nlevels: int) -> None:
        """Total work in sample passes (roughly proportional to time), for progress fractions."""
        cfg, n = self.cfg, self.n
        self._total = (
            2.0 * n * self.depth
            + self._batch * (cfg.pretrain_steps * self.depth + cfg.finetune_steps)
            + (cfg.alt_rounds + 1) * (self._batch * cfg.alt_steps + n * nlevels * (cfg.refine_steps + cfg.gn_iters))
        )

    def _tick(self, work: float) -> None:
        self._done += work
        if self.progress is not None:
            self.progress(min(1.0, self._done / self._total))

    def _slot(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Views of W and b of flat layer j inside theta."""
        nout, nin = _layer_shape(self.layers, j)
        w = self.theta[self.off[j, 0] : self.off[j, 0] + nout * nin].reshape(nout, nin)
        b = self.theta[self.off[j, 1] : self.off[j, 1] + nout]
        return w, b

    def _mask(self, enc: list[int], dec: list[int]) -> np.ndarray:
        """Per-parameter learning-rate factors: the listed layers train (layers above the first hidden
        layer at config.upper_lr_scale), everything else is frozen."""
        m = np.zeros(self.size)
        for j in list(enc) + [self.depth + l for l in dec]:
            nout, nin = _layer_shape(self.layers, j)
            scale = 1.0 if j in (0, self.depth) else self.cfg.upper_lr_scale
            m[self.off[j, 0] : self.off[j, 0] + nout * nin] = scale
            m[self.off[j, 1] : self.off[j, 1] + nout] = scale
        return m

    def net_codes(self, level: int) -> np.ndarray:
        """Encoder-network activations at `level` for the training samples."""
        xin = self.xin64 if self.whitened else self.x64
        return K.forward_codes(xin, self.theta, self.off, self.layers_arr, level)

    def fold_whitening(self) -> None:
        """Rewrite encoder layer 0 to act on raw pixels, as the saved model must."""
        w0, b0 = self._slot(0)
        w = K.linear(np.ascontiguousarray(w0), np.ascontiguousarray(self.whiten), np.zeros(self.whiten.shape[0]))
        b0 -= w @ self.mu
        w0[:] = w
        self.whitened = False

    # ---- stages

    def pca_init(self, l: int) -> None:
        """Encoder l = scaled whitened PCA of the level-l activations; decoder l = logit-domain least squares."""
        a = self.net_codes(l)
        mu, lam, vec = _pca(a)
        k = self.layers[l + 1]
        w = (self.cfg.init_scale / np.sqrt(lam[:k]))[:, None] * vec[:, :k].T
        we, be = self._slot(l)
        we[:] = w
        be[:] = -w @ mu
        h = self.net_codes(l + 1)
        target = self.x64 if l == 0 else a
        wd, bd = _lstsq_affine(h, _logit(target, 1.0 / 255.0 if l == 0 else 1e-6))
        w2, b2 = self._slot(self.depth + l)
        w2[:] = wd
        b2[:] = bd
        if l == 0:
            self.fit_output_layer([h], [1.0])
        self._tick(2.0 * self.n)

    def fit_output_layer(self, inputs: list[np.ndarray], weights: list[float]) -> None:
        """Exact (Levenberg-Marquardt) fit of decoder layer 0 to the pixels from the given level-1 inputs."""
        if self.cfg.gn_iters <= 0:
            return
        n = self.x64.shape[0]
        h = np.vstack(inputs)  # every set of inputs has the same targets, the pixels
        sw = np.concatenate([np.full(n, w / n) for w in weights])
        w, b = self._slot(self.depth)
        wc, bc = w.copy(), b.copy()
        K.fit_sigmoid_layer(h, self.x64, sw, wc, bc, self.cfg.gn_iters, 1e-3)
        w[:] = wc
        b[:] = bc

    def adam(self, nsteps: int, lw: np.ndarray, mask: np.ndarray, lr: float, *, codes: np.ndarray | None = None,
             coff: np.ndarray | None = None, balance: bool = True, name: str = "") -> None:
        """Minibatch Adam for `nsteps` steps on sum_k lw[k] * mse_k; only masked parameters move.

        Samples are visited in a fresh random order every epoch. With codes given ((N, units), all levels
        side by side), the level-k codes are columns coff[k]: of codes instead of the encoder's output. With
        balance, the level weights are reset every epoch to emphasis/mse (equal weight in dB).
        """
        if nsteps <= 0:
            return
        cfg = self.cfg
        n = self.n
        batch = self._batch
        per_epoch = n // batch
        lrs = _lr_schedule(lr, cfg.lr_floor, nsteps)
        m = np.zeros(self.size)
        v = np.zeros(self.size)
        t = 0
        frozen = codes is not None
        c = codes if frozen else np.zeros((1, 1), self.dt)
        co = coff if frozen else np.zeros(self.depth + 1, np.int64)
        # The kernels fold the whitening into the first layer (one copy of the data, gathered once per step).
        if self.whitened:
            wh, mu = np.asarray(self.whiten, self.dt), np.asarray(self.mu, self.dt)
        else:
            wh, mu = np.zeros((0, 0), self.dt), np.zeros(0, self.dt)
        base = np.asarray(lw, np.float64)
        lw = base.copy()
        losses = np.zeros(self.depth + 1)
        trace = []
        done = 0
        while done < nsteps:
            k = min(per_epoch, nsteps - done)
            perm = self.rng.permutation(n).astype(np.int64)[: k * batch]
            t = K.adam_epoch(self.x, wh, mu, c, co, perm, batch, frozen, self.theta, self.off, self.layers_arr, lw,
                             m, v, t, lrs[done : done + k], 0.9, 0.999, 1e-8, mask, losses)
            done += k
            trace.append(losses.copy())
            if balance and np.count_nonzero(base) > 1:
                act = base > 0
                lw[act] = base[act] / np.maximum(losses[act], 1e-12)
                lw[act] *= base[act].sum() / lw[act].sum()
            self._tick(k * batch)
        self.history[name] = np.array(trace)

    def refined_codes(self, level: int, start: np.ndarray | None = None) -> np.ndarray:
        """Per-block refined codes for the current decoder, from `start` or the encoder network's codes."""
        codes = self.net_codes(level) if start is None else start
        if self.cfg.refine_steps > 0:
            codes, _ = K.refine_codes(self.x64, codes, self.theta, self.off, self.layers_arr, level,
                                      self.cfg.refine_steps, _REFINE_LAMBDA)
        self._tick(self.n * self.cfg.refine_steps)
        return codes

    def refit_decoders(self, codes: list[np.ndarray], levels: list[int], lw: np.ndarray, name: str) -> None:
        """Re-fit the decoders to fixed codes: Adam on all decoder layers the levels use, then the exact
        output-layer fit (level-2+ codes enter it through their fixed upper decoder layers)."""
        d = self.depth
        packed = np.ascontiguousarray(np.hstack(codes), dtype=self.dt)
        coff = np.zeros(d + 1, np.int64)
        coff[1:] = np.cumsum([0] + [c.shape[1] for c in codes[:-1]])
        used = max(levels)
        self.adam(self.cfg.alt_steps, lw, self._mask([], list(range(used))), self.cfg.alt_lr, codes=packed,
                  coff=coff, name=name)
        inputs, weights = [], []
        for k in levels:
            h = codes[k - 1]
            for j in range(k - 1, 0, -1):
                w, b = self._slot(d + j)
                h = K.sigmoid_layer(np.ascontiguousarray(h), w.copy(), b.copy())
            inputs.append(h)
            weights.append(lw[k])
        self.fit_output_layer(inputs, weights)
        self._tick(self.n * len(levels) * self.cfg.gn_iters)

    def level_weights(self, codes: list[np.ndarray], levels: list[int]) -> np.ndarray:
        """Loss weights 1/mse_k of the levels in use, normalised to sum to len(levels)."""
        lw = np.zeros(self.depth + 1)
        for k in levels:
            rec = K.decode_codes(codes[k - 1], self.theta, self.off, self.layers_arr, k)
            lw[k] = self.emphasis(k) / max(float(np.mean((rec - self.x64) ** 2)), 1e-12)
        return lw * (len(levels) / lw.sum())

    def emphasis(self, k: int) -> float:
        """Relative weight of level k when several levels share the decoder (config.level_emphasis)."""
        e = self.cfg.level_emphasis
        return float(e[k - 1]) if k - 1 < len(e) else 1.0

    def run(self, level: int | None) -> TrainedSAE:
        cfg = self.cfg
        d = self.depth
        levels = list(range(1, d + 1)) if level is None else [level]
        self._plan_progress(len(levels))
        if self.progress is not None:
            self.progress(0.0)
        for l in range(d):
            self.pca_init(l)
            if cfg.pretrain_steps > 0:
                lw = np.zeros(d + 1)
                lw[l + 1] = 1.0
                self.adam(cfg.pretrain_steps, lw, self._mask([l], [l]), cfg.lr, name=f"pretrain{l + 1}")
        lw = np.zeros(d + 1)
        for k in levels:
            lw[k] = self.emphasis(k)
        lr = cfg.lr if level is None or level > len(cfg.level_lr) else cfg.level_lr[level - 1]
        self.adam(cfg.finetune_steps, lw, self._mask(list(range(d)), list(range(d))), lr, name="finetune")
        self.fold_whitening()
        # Codes for every level 1..d (levels not in use are kept as placeholders for the packing).
        codes = [self.net_codes(k) for k in range(1, d + 1)]
        for r in range(cfg.alt_rounds):
            codes = [self.refined_codes(k, codes[k - 1]) if k in levels else codes[k - 1] for k in range(1, d + 1)]
            self.refit_decoders(codes, levels, self.level_weights(codes, levels), name=f"alternate{r + 1}")
        # Quantisation-aware round: exactly the codes encode() will produce, on the 8-bit grid.
        codes = [np.round(self.refined_codes(k) * 255.0) / 255.0 if k in levels else codes[k - 1]
                 for k in range(1, d + 1)]
        self.refit_decoders(codes, levels, self.level_weights(codes, levels), name="qat")
        enc, dec = _unflatten(self.layers, self.theta)
        # The file stores float32 weights: hand out exactly what the reader will use.
        dec = [(w.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64)) for w, b in dec]
        if self.progress is not None:
            self.progress(1.0)
        return TrainedSAE(self.layers, enc, dec, refine_steps=cfg.refine_steps, history=self.history)
