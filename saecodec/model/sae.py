"""Training of the stacked sigmoid auto-encoder (Hu et al., arXiv:1608.05001) and the trained model object.

The paper's recipe is greedy layer-wise pre-training followed by back-propagation fine-tuning of the whole
64-16-4-16-64 net, sigmoid units everywhere and an MSE loss. Done naively that lands several dB below plain
PCA, so the stages here are:

1. PCA initialisation: every encoder layer starts as a whitened PCA projection, scaled so the sigmoid units
   work in their near-linear range; every decoder layer starts as the least-squares inverse in the logit
   domain (the pre-activation its output unit would need).
2. Greedy pre-training (the paper's first step): level 1 alone, then level 2 with level 1 kept fixed.
3. Joint fine-tuning of all layers on the sum of both levels' reconstruction errors (weighted so each
   level's relative improvement counts the same), since one model serves both levels.
4. Quantisation-aware decoder tuning: with the encoder frozen, the decoders are tuned on the codes the
   file will actually hold (round(a * 255) / 255), and finally rounded to float32 as stored.

All heavy lifting is in :mod:`saecodec.kernels.sae`; this module only orchestrates.
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
    """Knobs of :func:`train_sae`. The defaults are tuned on the four paper images (see tools/sae_experiment.py)."""

    seed: int = 0
    #: Arithmetic of the kernels: float32 is about twice as fast and loses nothing measurable.
    dtype: str = "float32"
    #: Standard deviation of every first-layer pre-activation after PCA initialisation.
    init_scale: float = 1.0
    pretrain_epochs: int = 20
    finetune_epochs: int = 100
    qat_epochs: int = 30
    batch: int = 256
    lr: float = 3e-3
    qat_lr: float = 1e-3
    #: Final learning rate as a fraction of the initial one (cosine decay within each stage).
    lr_floor: float = 0.05
    #: Whitening of the encoder input: eigenvalues are floored at whiten_eps * their mean.
    whiten_eps: float = 1e-3
    #: Balance the levels by 1/MSE (equal weight in dB) rather than by raw MSE.
    balance_levels: bool = True


@dataclass
class TrainedSAE:
    """A trained stacked auto-encoder: encoder[i] maps layers[i] -> layers[i+1], decoder[i] the reverse."""

    layers: tuple[int, ...]
    encoder: list[tuple[np.ndarray, np.ndarray]]
    decoder: list[tuple[np.ndarray, np.ndarray]]
    #: Per-stage training statistics, for experiments; not part of the model.
    history: dict = field(default_factory=dict, repr=False, compare=False)

    def encode(self, samples: np.ndarray, level: int) -> np.ndarray:
        """Encoder activations at `level` (1 = first hidden layer): (N, layers[level]) float64 in (0, 1)."""
        _check_level(self.layers, level)
        x = np.ascontiguousarray(samples, dtype=np.float64)
        return K.forward_codes(x, _flatten(self.layers, self.encoder, self.decoder), *_layout(self.layers), level)

    def decoder_for_level(self, level: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """The decoder layers a level-`level` code goes through, from the latent outward."""
        _check_level(self.layers, level)
        return [self.decoder[j] for j in range(level - 1, -1, -1)]

    def decode(self, latent: np.ndarray, level: int) -> np.ndarray:
        """Reference decode of level codes in [0, 1] (what a file reader does), (N, layers[0]) float64."""
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

    level=None: both levels must decode well (one model serves every level). level=k: the file will only
    use level k, so the final quantisation-aware decoder tuning targets that level alone.
    progress(f) is called with fractions 0..1 as the stages complete.
    """
    layers = tuple(int(u) for u in layers)
    if len(layers) < 2 or min(layers) < 1:
        raise ValueError(f"bad layer sizes {layers}")
    if level is not None:
        _check_level(layers, level)
    x = np.asarray(samples)
    if x.ndim != 2 or x.shape[1] != layers[0] or x.shape[0] < 1:
        raise ValueError(f"samples must have shape (N, {layers[0]}), got {x.shape}")
    trainer = _Trainer(x, layers, config, progress)
    return trainer.run(level)


# --------------------------------------------------------------------------- internals


def _check_level(layers: tuple[int, ...], level: int) -> None:
    if not 1 <= level < len(layers):
        raise ValueError(f"level must be in 1..{len(layers) - 1}, got {level}")


def _layout(layers: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    off, _ = K.param_layout(layers)
    return off, np.asarray(layers, np.int64)


def _flatten(layers, encoder, decoder) -> np.ndarray:
    """Pack the layer lists into the kernels' flat parameter vector."""
    off, size = K.param_layout(layers)
    theta = np.empty(size)
    depth = len(layers) - 1
    for j, (w, b) in enumerate(list(encoder) + list(decoder)):
        theta[off[j, 0] : off[j, 0] + w.size] = np.asarray(w, np.float64).ravel()
        theta[off[j, 1] : off[j, 1] + b.size] = np.asarray(b, np.float64)
    assert len(encoder) == len(decoder) == depth
    return theta


def _unflatten(layers, theta) -> tuple[list, list]:
    off, _ = K.param_layout(layers)
    depth = len(layers) - 1
    mats = []
    for j in range(2 * depth):
        nout, nin = (layers[j + 1], layers[j]) if j < depth else (layers[j - depth], layers[j - depth + 1])
        w = theta[off[j, 0] : off[j, 0] + nout * nin].reshape(nout, nin).copy()
        b = theta[off[j, 1] : off[j, 1] + nout].copy()
        mats.append((w, b))
    return mats[:depth], mats[depth:]


def _logit(p: np.ndarray, eps: float) -> np.ndarray:
    p = np.clip(p, eps, 1.0 - eps)
    return np.log(p / (1.0 - p))


def _pca(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, eigenvalues (descending) and eigenvectors (columns) of the sample covariance."""
    mu = a.mean(axis=0)
    ac = a - mu
    cov = ac.T @ ac / a.shape[0]
    w, v = np.linalg.eigh(cov)
    return mu, w[::-1].clip(min=1e-12), v[:, ::-1]


def _lstsq_affine(h: np.ndarray, y: np.ndarray, ridge: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """W, b minimising |h W^T + b - y|^2 (+ a tiny ridge so a degenerate code cannot blow up)."""
    ha = np.hstack([h, np.ones((h.shape[0], 1))])
    g = ha.T @ ha
    g += ridge * np.trace(g) / g.shape[0] * np.eye(g.shape[0])
    sol = np.linalg.solve(g, ha.T @ y)
    return sol[:-1].T.copy(), sol[-1].copy()


def _lr_schedule(lr: float, floor: float, nsteps: int) -> np.ndarray:
    """Cosine decay from lr to lr*floor over nsteps."""
    s = np.arange(nsteps) / max(nsteps - 1, 1)
    return lr * (floor + (1.0 - floor) * 0.5 * (1.0 + np.cos(np.pi * s)))


class _Trainer:
    """State of one training run: data, flat parameters, optimiser moments and the RNG."""

    def __init__(self, x: np.ndarray, layers: tuple[int, ...], cfg: TrainConfig, progress) -> None:
        self.layers = layers
        self.cfg = cfg
        self.progress = progress
        self.dt = np.dtype(cfg.dtype)
        self.x64 = np.ascontiguousarray(x, dtype=np.float64)
        self.x = np.ascontiguousarray(x, dtype=self.dt)
        # The encoder is trained on whitened inputs (a reparametrisation folded back at the end): raw
        # pixels are far from centred and strongly correlated, which makes gradient descent crawl.
        self.mu, lam, vec = _pca(self.x64)
        self.whiten = vec / np.sqrt(lam + cfg.whiten_eps * lam.mean())
        self.xin64 = np.ascontiguousarray((self.x64 - self.mu) @ self.whiten)
        self.xin = np.ascontiguousarray(self.xin64, dtype=self.dt)
        self.off, self.size = K.param_layout(layers)
        self.layers_arr = np.asarray(layers, np.int64)
        self.depth = len(layers) - 1
        self.rng = np.random.default_rng(cfg.seed)
        self.theta = np.zeros(self.size)
        self.history: dict = {}
        self.no_codes = np.zeros((1, 1), self.dt)
        self.no_coff = np.zeros(self.depth + 1, np.int64)
        stages = [cfg.pretrain_epochs] * self.depth + [cfg.finetune_epochs, cfg.qat_epochs]
        self._work_total = max(sum(stages), 1)
        self._work_done = 0

    # ---- parameter access

    def _slot(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        nout, nin = K._layer_shape.py_func(self.layers_arr, j)
        w = self.theta[self.off[j, 0] : self.off[j, 0] + nout * nin].reshape(nout, nin)
        b = self.theta[self.off[j, 1] : self.off[j, 1] + nout]
        return w, b

    def _mask(self, enc: list[int], dec: list[int]) -> np.ndarray:
        m = np.zeros(self.size, np.uint8)
        for j in list(enc) + [self.depth + l for l in dec]:
            nout, nin = K._layer_shape.py_func(self.layers_arr, j)
            m[self.off[j, 0] : self.off[j, 0] + nout * nin] = 1
            m[self.off[j, 1] : self.off[j, 1] + nout] = 1
        return m

    def codes(self, level: int) -> np.ndarray:
        return K.forward_codes(self.xin64, self.theta, self.off, self.layers_arr, level)

    # ---- stages

    def pca_init(self, l: int) -> None:
        """Encoder l = scaled whitened PCA of level-l activations; decoder l = logit-domain least squares."""
        a = self.codes(l)
        mu, lam, vec = _pca(a)
        k = self.layers[l + 1]
        w = (self.cfg.init_scale / np.sqrt(lam[:k]))[:, None] * vec[:, :k].T
        we, be = self._slot(l)
        we[:] = w
        be[:] = -w @ mu
        if l == 0:
            a = self.x64
        h = self.codes(l + 1)
        eps = 0.5 / 255.0 if l == 0 else 1e-6
        wd, bd = _lstsq_affine(h, _logit(a, eps))
        w2, b2 = self._slot(self.depth + l)
        w2[:] = wd
        b2[:] = bd

    def adam(self, epochs: int, lw: np.ndarray, mask: np.ndarray, lr: float, *, codes: np.ndarray | None = None,
             coff: np.ndarray | None = None, name: str = "") -> None:
        """Minibatch Adam for `epochs` passes on loss sum_k lw[k] * mse_k; only masked parameters move."""
        if epochs <= 0:
            return
        cfg = self.cfg
        n = self.x.shape[0]
        batch = min(cfg.batch, n)
        steps = n // batch
        lrs = _lr_schedule(lr, cfg.lr_floor, steps * epochs)
        m = np.zeros(self.size)
        v = np.zeros(self.size)
        t = 0
        frozen = codes is not None
        c = codes if frozen else self.no_codes
        co = coff if frozen else self.no_coff
        lw = np.asarray(lw, np.float64).copy()
        base = lw.copy()
        losses = np.zeros(self.depth + 1)
        trace = []
        for e in range(epochs):
            perm = self.rng.permutation(n).astype(np.int64)
            t = K.adam_epoch(self.xin, self.x, c, co, perm, batch, frozen, self.theta, self.off, self.layers_arr, lw, m, v, t,
                             lrs[e * steps : (e + 1) * steps], 0.9, 0.999, 1e-8, mask, losses)
            trace.append(losses.copy())
            if cfg.balance_levels and np.count_nonzero(base) > 1:
                act = base > 0
                lw[act] = base[act] / np.maximum(losses[act], 1e-12)
                lw[act] *= base[act].sum() / lw[act].sum()
            self._tick(1)
        self.history[name] = np.array(trace)

    def quantised_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """All levels' codes as the file stores them (round(a*255)/255), side by side, and their offsets."""
        cols = [np.round(self.codes(k) * 255.0) / 255.0 for k in range(1, self.depth + 1)]
        coff = np.zeros(self.depth + 1, np.int64)
        coff[1:] = np.cumsum([0] + [c.shape[1] for c in cols[:-1]])
        return np.ascontiguousarray(np.hstack(cols), dtype=self.dt), coff

    def _tick(self, work: int) -> None:
        self._work_done += work
        if self.progress is not None:
            self.progress(min(1.0, self._work_done / self._work_total))

    def run(self, level: int | None) -> TrainedSAE:
        cfg = self.cfg
        d = self.depth
        if self.progress is not None:
            self.progress(0.0)
        for l in range(d):
            self.pca_init(l)
            lw = np.zeros(d + 1)
            lw[l + 1] = 1.0
            self.adam(cfg.pretrain_epochs, lw, self._mask([l], [l]), cfg.lr, name=f"pretrain{l + 1}")
        lw = np.zeros(d + 1)
        if level is None:
            lw[1:] = 1.0
        else:
            lw[level] = 1.0
        self.adam(cfg.finetune_epochs, lw, self._mask(list(range(d)), list(range(d))), cfg.lr, name="finetune")
        # Quantisation-aware decoder tuning on the codes the file really holds.
        codes, coff = self.quantised_codes()
        lw = np.zeros(d + 1)
        if level is None:
            lw[1:] = 1.0
        else:
            lw[level] = 1.0
        dec = list(range(d)) if level is None else list(range(level))
        self.adam(cfg.qat_epochs, lw, self._mask([], dec), cfg.qat_lr, codes=codes, coff=coff, name="qat")
        # The file stores float32 weights: hand out exactly what the reader will use.
        enc, dec_layers = _unflatten(self.layers, self.theta)
        w0, b0 = enc[0]
        w0 = w0 @ self.whiten.T
        enc[0] = (w0, b0 - w0 @ self.mu)
        dec_layers = [(w.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64))
                      for w, b in dec_layers]
        if self.progress is not None:
            self.progress(1.0)
        return TrainedSAE(self.layers, enc, dec_layers, history=self.history)
