"""Training the overfit profile's latents and synthesis network on one image, at encode time.

Loss ``MSE + lambda * bpp`` (MSE of RGB in [0, 1]; bpp from a Laplace proxy of the latents' code length, one
scale per grid or, with ``Effort.rate_contexts``, per grid and lc1 context class: kernels.rate), Adam, cosine
learning-rate decay. Most of the schedule the network and the rate see soft-rounded noisy
latents, softround(softround(y, t) + u, t) as in C3 and Cool-chic 3, the temperature t falling from 0.5 to 0.05 so
that the latents become rounded ones gradually; straight-through rounding ends it (the rate then on the noisy
latents, or nothing would pull a latent at 0 back). Uniform noise alone and straight-through rounding left a gap
that cost up to 1 dB (docs/overfit/stage5.md).
A warm-up first trains the coarse levels and the network on the image at half resolution, where a step costs a
quarter: the coarse structure that smooth images need takes thousands of steps to settle, and gets them there.
At checkpoints the encoder measures the TRUE cost of what it would write: latents rounded, weights quantised,
both streams coded by lc1, every byte of the file counted by the container's ``file_size``, PSNR of the
decoder's own pixels; it keeps the best. A target rate or PSNR steers lambda at those checkpoints.

The forward and backward passes are the Numba kernels of saecodec.kernels.synthesis; the decoder used at the
checkpoints is the normative one, so the PSNR the encoder reports is that of what ``decode`` returns.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..entropy.latentcoder import encode_latents, encode_weights
from ..format.header import OVERFIT_VERSION, ImageInfo, OverfitModelInfo, OverfitQuantInfo
from ..kernels import rate as R
from ..kernels import synthesis as K
from ..kernels.colour import downsample2
from ..profiles.common import FileSize, PlainImage, Progress
from ..profiles.overfit import dequantise_weights, grids_in_coding_order, synthesis_shape
from .soap import Soap

__all__ = ["TrainingStatus", "can_warm_up", "encode_overfit", "half_image", "quantise_weights", "warm_up"]

_BETAS = (0.9, 0.999)
_EPS = 1e-8
_STE_FRACTION = 0.05  # last part of the schedule trains with rounded latents (straight-through)
_TEMPERATURES = (0.5, 0.05)  # soft rounding's temperature, linear from first to last over the full-image steps
_WARM_UP_LAMBDA = 4.0  # the warm-up's lambda over the full image's: coarse latents stay lean (docs/overfit/stage3.md)
_WARM_UP_TRIAL = 0.15  # fraction of the warm-up each start trains before the best one is continued (stage7.md)
_CONTEXT_SCALE_LR = 5.0  # the context classes' log-scales learn this many times faster (stage8.md's screening)
_SOAP_BETAS = (0.95, 0.95)  # SOAP's for the network, as Cool-chic 5 sets them; the latents keep _BETAS
_SOAP_REFRESH = (1, 10)  # steps between SOAP's basis refreshes: warm-up, full image (Cool-chic 5's presets)
_FINAL_LR = 0.05  # cosine decay to this fraction of the initial learning rate
_CHECKPOINTS = 8  # true-cost evaluations over the schedule (and one at the end)
_PRECISIONS = (6, 7, 8, 9, 10)  # weight precisions tried: significant bits of each tensor's largest value
_MAX_Q = 32767


@dataclass(frozen=True)
class TrainingStatus:
    """What a progress callable's optional ``training_status`` method is told at every checkpoint."""

    step: int
    steps: int
    loss: float
    bpp: float  # of the whole file, at the last checkpoint
    psnr: float  # dB, of the decoded image at the last checkpoint
    seconds_left: float


@dataclass
class _Candidate:
    plain: PlainImage
    mse: float  # of uint8 pixels, over colour channels
    bpp: float


class _Parameters:
    """All trainable values in one float32 array (one Adam kernel call a step), with named views."""

    def __init__(self, model: OverfitModelInfo, image: ImageInfo, rng: np.random.Generator,
                 scales_per_grid: int = 1) -> None:
        self.shape = synthesis_shape(model, image)
        self.latent_count = self.shape.latent_count
        self.grids = len(model.grid_shapes(image))
        self.scales_per_grid = scales_per_grid  # the rate proxy's Laplace scales: 1, or one per context class
        self.tensor_sizes = model.tensor_sizes()
        total = self.latent_count + self.grids * scales_per_grid + sum(self.tensor_sizes)
        self.flat = np.zeros(total, dtype=np.float32)
        self.latents, self.log_scales, self.tensors = self.views(self.flat)
        self._initialise(model, rng)

    def views(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """(latents, log scales, tensors in file order) of an array of this layout."""
        scales_end = self.latent_count + self.grids * self.scales_per_grid
        tensors, start = [], scales_end
        for size in self.tensor_sizes:
            tensors.append(flat[start : start + size])
            start += size
        return flat[: self.latent_count], flat[self.latent_count : scales_end], tensors

    def _initialise(self, model: OverfitModelInfo, rng: np.random.Generator) -> None:
        """Zero latents (as Cool-chic), He-initialised 1x1 layers with the output bias at grey, residual
        layers at zero (so they start as the identity). A residual layer other than the last thus feeds zero
        into its ReLU, which passes no gradient there: it never trains, which is why the efforts use one
        (a live start lost, docs/overfit/stage4.md)."""
        shapes = model.layer_shapes()
        for k, (out, inp) in enumerate(shapes):
            self.tensors[2 * k][:] = rng.standard_normal(out * inp).astype(np.float32) * math.sqrt(2.0 / inp)
        self.tensors[2 * len(shapes) - 1][:] = 0.5
        self.log_scales[:] = 0.0


def quantise_weights(tensors: list[np.ndarray], precision: int) -> tuple[list[int], np.ndarray]:
    """Per tensor, the step 2^-shift that gives its largest magnitude ``precision`` significant bits, and the
    integers. Returns (shifts, concatenated integers)."""
    shifts, values = [], []
    for t in tensors:
        peak = float(np.max(np.abs(t))) if t.size else 0.0
        shift = 0 if peak == 0.0 else precision - 1 - math.floor(math.log2(peak))
        shift = min(max(shift, 0), 30)
        q = np.clip(np.rint(t.astype(np.float64) * 2.0**shift), -_MAX_Q, _MAX_Q).astype(np.int32)
        shifts.append(shift)
        values.append(q)
    return shifts, np.concatenate(values) if values else np.zeros(0, np.int32)


class _Trainer:
    def __init__(self, colour: np.ndarray, image: ImageInfo, model: OverfitModelInfo, steps: int, lr: float,
                 lam: float, seed: int, file_size: FileSize | None, decay: bool = True,
                 rate_contexts: bool = False, network_optimiser: str = "adam",
                 network_lr_scale: float = 1.0) -> None:
        self.colour, self.image, self.model = colour, image, model
        self.pixels = image.height * image.width
        self.target = (colour.astype(np.float32) / np.float32(255.0))
        self.rng = np.random.default_rng(seed)
        self.rate_contexts = rate_contexts
        self.params = _Parameters(model, image, self.rng, R.CONTEXT_CLASSES if rate_contexts else 1)
        self.grad = np.zeros_like(self.params.flat)
        self.grad_latents, self.grad_log_scales, self.grad_tensors = self.params.views(self.grad)
        self.m = np.zeros_like(self.params.flat)
        self.v = np.zeros_like(self.params.flat)
        self.steps, self.lr, self.lam = steps, lr, lam
        self.decay = decay  # cosine decay of the learning rate over the steps, else constant
        self.file_size = file_size
        self.offsets = self.params.shape.offsets  # grid starts in the flat latents (for the rate proxy)
        self.noise = np.empty(self.params.latent_count, dtype=np.float32)
        self.seen = np.empty(self.params.latent_count, dtype=np.float32)
        self.slope = np.empty(self.params.latent_count, dtype=np.float32)  # d seen / d latents
        if rate_contexts:
            self.parents = R.context_parents(self.params.shape.level_channels)
            self.classes = np.empty(self.params.latent_count, dtype=np.int32)
        if network_optimiser not in ("adam", "soap"):
            raise ValueError(f"unknown network optimiser {network_optimiser!r}")
        self.network_optimiser, self.network_lr_scale = network_optimiser, network_lr_scale
        self.soap = None if network_optimiser == "adam" else Soap(
            model.tensor_shapes(), _SOAP_BETAS, precondition_every=_SOAP_REFRESH[1 if decay else 0])
        self.t = 0

    def _rate(self, values: np.ndarray, noise: np.ndarray | None) -> float:
        """Bits of values (+ noise) under the rate proxy, gradients (times lambda per pixel) added. With
        contexts, each latent's class comes from the rounded latents as they stand (lc1 codes those)."""
        p = self.params
        scale = self.lam / self.pixels
        if not self.rate_contexts:
            return R.laplace_rate(values, noise, self.offsets, p.log_scales, self.grad_latents,
                                  self.grad_log_scales, scale)
        R.context_classes(p.shape.grid_shapes, self.parents, p.latents, self.classes)
        return R.class_laplace_rate(values, noise, self.classes, p.log_scales, self.grad_latents,
                                    self.grad_log_scales, scale)

    def step(self, ste: bool) -> float:
        """One Adam step on the whole image; returns the training loss."""
        p = self.params
        self.rng.random(dtype=np.float32, out=self.noise)  # in place: no 4 bytes a latent allocated a step
        self.noise -= np.float32(0.5)
        fraction = min(self.t / self.steps, 1.0) if self.decay else 0.0  # the warm-up stays at the start
        values = self.colour.size
        window = (0, self.image.height, 0, self.image.width)
        if ste:  # the synthesis sees rounded latents (gradients pass straight through), the rate noisy ones
            np.rint(p.latents, out=self.seen)
            sse = K.forward_backward(p.shape, self.seen, p.tensors, self.target, window, self.grad_latents,
                                     self.grad_tensors, grad_scale=1.0 / values)
            bits = self._rate(p.latents, self.noise)
        else:  # both see the soft-rounded noisy latents; the chain rule through them ends at the latents
            temperature = _TEMPERATURES[0] + (_TEMPERATURES[1] - _TEMPERATURES[0]) * fraction
            K.soft_round_noisy(p.latents, self.noise, temperature, self.seen, self.slope)
            sse = K.forward_backward(p.shape, self.seen, p.tensors, self.target, window, self.grad_latents,
                                     self.grad_tensors, grad_scale=1.0 / values)
            bits = self._rate(self.seen, None)
            self.grad_latents *= self.slope
        self.t += 1
        fraction = self.t / self.steps
        lr = self.lr
        if self.decay:
            lr *= _FINAL_LR + (1.0 - _FINAL_LR) * 0.5 * (1.0 + math.cos(math.pi * min(fraction, 1.0)))
        if not self.rate_contexts and self.soap is None and self.network_lr_scale == 1.0:
            K.adam_step(p.flat, self.grad, self.m, self.v, self.t, lr, _BETAS[0], _BETAS[1], _EPS, zero_grad=True)
        else:  # per range: the class scales, each seen by few latents, at a higher rate (docs/overfit/stage8.md);
            # the network at its own scale of the rate, by Adam or by SOAP (which consumes its gradients here)
            latents_end = p.latent_count
            scales_end = latents_end + p.log_scales.size
            ranges = [(0, latents_end, lr),
                      (latents_end, scales_end, lr * (_CONTEXT_SCALE_LR if self.rate_contexts else 1.0))]
            if self.soap is None:
                ranges.append((scales_end, p.flat.size, lr * self.network_lr_scale))
            else:
                self.soap.step(p.tensors, self.grad_tensors, lr * self.network_lr_scale)
                self.grad[scales_end:] = 0.0
            for lo, hi, rate in ranges:
                K.adam_step(p.flat[lo:hi], self.grad[lo:hi], self.m[lo:hi], self.v[lo:hi], self.t, rate,
                            _BETAS[0], _BETAS[1], _EPS, zero_grad=True)
        return sse / values + self.lam * bits / self.pixels

    def candidate(self, precision: int) -> _Candidate:
        """What the encoder would write now, with weights at ``precision`` bits, and its true cost."""
        p, model, image = self.params, self.model, self.image
        shifts, ints = quantise_weights(p.tensors, precision)
        quant = OverfitQuantInfo(tuple(shifts))
        weights = dequantise_weights(ints, model, quant)  # what the decoder will compute with
        q_latents = np.clip(np.rint(p.latents), -_MAX_Q, _MAX_Q).astype(np.int32)
        grids = grids_in_coding_order(q_latents, model.grid_shapes(image), model.levels)
        sections = [("weights", encode_weights(ints, p.tensor_sizes)), ("latents", encode_latents(grids))]
        plain = PlainImage(model, quant, sections, OVERFIT_VERSION)
        out = np.empty_like(self.colour)
        K.synthesize(p.shape, q_latents.astype(np.float32), weights, out)
        diff = out.astype(np.float64) - self.colour
        mse = float(np.mean(diff * diff))
        bpp = 8.0 * self.file_size(plain) / self.pixels
        return _Candidate(plain, mse, bpp)


def _psnr(mse: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def encode_overfit(colour: np.ndarray, image: ImageInfo, model: OverfitModelInfo, effort: Any, settings: Any,
                   file_size: FileSize, progress: Progress) -> PlainImage:
    """Train on the (H, W, C) uint8 colour planes and return the weights and latents sections."""
    trainer = _Trainer(colour, image, model, effort.steps, effort.learning_rate, settings.lam, settings.seed,
                       file_size, rate_contexts=effort.rate_contexts, network_optimiser=effort.network_optimiser,
                       network_lr_scale=effort.network_lr_scale)
    status: Callable[[TrainingStatus], None] | None = getattr(progress, "training_status", None)
    warm_up_steps = effort.warm_up_steps if can_warm_up(model, image) else 0
    starts = effort.warm_up_starts
    # progress counts a warm-up step as the quarter of a step it costs
    warm_cost = 0.25 * warm_up_total(warm_up_steps, starts)
    share = warm_cost / (warm_cost + effort.steps)
    try:
        if warm_up_steps:
            warm_up(trainer, warm_up_steps, effort.learning_rate, settings.seed, starts,
                    None if progress is None else lambda done: progress(0.95 * share * done))
        best = _train(trainer, settings, effort.steps,
                      None if progress is None else lambda done: progress(0.95 * (share + (1.0 - share) * done)),
                      status)
    finally:
        K.release_buffers()  # the training kernels keep tens of MB of work buffers between steps
    assert best is not None
    return best.plain


def can_warm_up(model: OverfitModelInfo, image: ImageInfo) -> bool:
    """Whether a half-resolution warm-up applies: two levels or more, and an image not too small to halve."""
    return len(model.levels) > 1 and min(image.height, image.width) >= 16


def half_image(colour: np.ndarray) -> np.ndarray:
    """The (H, W, C) uint8 image at half resolution: 2x2 means rounded, an odd side's last row or column
    repeated, so the result is ceil(H/2) x ceil(W/2), the shape of the full model's level-1 grids."""
    half = np.stack([downsample2(colour[:, :, c].astype(np.float32)) for c in range(colour.shape[2])], axis=-1)
    return np.clip(np.rint(half), 0, 255).astype(np.uint8)


def warm_up_trial(steps: int, starts: int) -> int:
    """Steps each start trains before the best is chosen: none when there is only one start."""
    return int(steps * _WARM_UP_TRIAL) if starts > 1 else 0


def warm_up_total(steps: int, starts: int) -> int:
    """Half-resolution steps a warm-up of `steps` takes with `starts` starts: every start's trial, then the
    rest of the chosen one's steps."""
    trial = warm_up_trial(steps, starts)
    return starts * trial + steps - trial


def warm_up(trainer: _Trainer, steps: int, lr: float, seed: int, starts: int = 1,
            progress: Callable[[float], None] | None = None) -> None:
    """Train the coarse levels and the network on the half-resolution image, then hand them to `trainer`.

    Level l of the half image's model is level l + 1 of the full one (the same grid shapes); the first layer
    gains the full-resolution input's columns, kept as initialised: those latents start at zero, so the full
    model starts from the half model's picture, up-sampled. Bits are priced per full-resolution pixel, times
    _WARM_UP_LAMBDA: at the full price, textured images filled the coarse grids with detail that level 0 later
    had to carry again. Constant learning rate and soft-rounding temperature (the full-resolution schedule
    lowers both).

    With several `starts` (Cool-chic's multi-start warm-up), each start (its own network initialisation and
    noise) trains _WARM_UP_TRIAL of the steps; the one with the lowest mean loss over the last fifth of its
    trial goes on: a poor start is the warm-up's most common loss (docs/overfit/stage7.md)."""
    model, image = trainer.model, trainer.image
    small = half_image(trainer.colour)
    small_image = ImageInfo(small.shape[0], small.shape[1], image.mode)
    small_model = OverfitModelInfo(model.colour, model.levels[1:], model.hidden, model.residual)
    lam = _WARM_UP_LAMBDA * trainer.lam * small_image.height * small_image.width / trainer.pixels
    trial = warm_up_trial(steps, max(1, starts))
    starts = max(1, starts) if trial else 1  # a warm-up too short for a trial continues the first start alone
    total = warm_up_total(steps, starts)
    done = 0
    warm, warm_score = None, math.inf
    for k in range(starts):
        candidate = _Trainer(small, small_image, small_model, steps, lr, lam, seed + 1 + k, None, decay=False,
                             rate_contexts=trainer.rate_contexts, network_optimiser=trainer.network_optimiser,
                             network_lr_scale=trainer.network_lr_scale)
        losses = []
        for _ in range(trial):
            losses.append(candidate.step(ste=False))
            done += 1
            if progress is not None:
                progress(done / total)
        score = float(np.mean(losses[-max(1, trial // 5):])) if losses else 0.0
        if warm is None or score < warm_score:
            warm, warm_score = candidate, score
    assert warm is not None
    for _ in range(steps - trial):
        warm.step(ste=False)
        done += 1
        if progress is not None:
            progress(done / total)
    full, part = trainer.params, warm.params
    fine = model.levels[0]
    full.latents[fine * image.height * image.width:] = part.latents
    full.log_scales[fine * full.scales_per_grid:] = part.log_scales  # per grid, or per grid and class
    out, inputs = model.layer_shapes()[0]
    full.tensors[0].reshape(out, inputs)[:, fine:] = part.tensors[0].reshape(out, inputs - fine)
    for mine, theirs in zip(full.tensors[1:], part.tensors[1:]):
        mine[:] = theirs


def _train(trainer: _Trainer, settings: Any, steps: int, progress: Callable[[float], None] | None,
           status: Callable[[TrainingStatus], None] | None) -> _Candidate:
    ste_start = int(steps * (1.0 - _STE_FRACTION))
    every = max(1, steps // _CHECKPOINTS)
    start = time.monotonic()
    best: _Candidate | None = None
    for step in range(1, steps + 1):
        loss = trainer.step(ste=step > ste_start)
        if step % every == 0 and step < steps:
            candidate = trainer.candidate(8)
            if step > ste_start:  # before rounding is trained for, a checkpoint is not worth keeping
                best = _better(best, candidate, settings, trainer.lam)
            _steer(trainer, settings, candidate)
            if status is not None:
                elapsed = time.monotonic() - start
                status(TrainingStatus(step, steps, loss, candidate.bpp, _psnr(candidate.mse),
                                      elapsed / step * (steps - step)))
        if progress is not None:
            progress(step / steps)
    for precision in _PRECISIONS:
        best = _better(best, trainer.candidate(precision), settings, trainer.lam)
    assert best is not None
    return best


def _better(best: _Candidate | None, new: _Candidate, settings: Any, lam: float) -> _Candidate:
    """The candidate to keep: under a target rate the best PSNR within it (else the smallest file); under a
    target PSNR the smallest file reaching it (else the best PSNR); otherwise the lower MSE + lambda * bpp."""
    if best is None:
        return new
    if settings.target_bpp is not None:
        fits = [c for c in (best, new) if c.bpp <= settings.target_bpp]
        return min(fits, key=lambda c: c.mse) if fits else min((best, new), key=lambda c: c.bpp)
    if settings.target_psnr is not None:
        fits = [c for c in (best, new) if _psnr(c.mse) >= settings.target_psnr]
        return min(fits, key=lambda c: c.bpp) if fits else min((best, new), key=lambda c: c.mse)
    cost = lambda c: c.mse / 255.0**2 + lam * c.bpp  # noqa: E731
    return new if cost(new) < cost(best) else best


def _steer(trainer: _Trainer, settings: Any, candidate: _Candidate) -> None:
    """Move lambda toward a target rate or PSNR (no-op for a quality setting): multiplicative, damped."""
    if settings.target_bpp is not None:
        trainer.lam *= float(np.clip((candidate.bpp / settings.target_bpp) ** 2.0, 0.25, 4.0))
    elif settings.target_psnr is not None:
        trainer.lam *= float(np.clip(10.0 ** ((_psnr(candidate.mse) - settings.target_psnr) / 4.0), 0.25, 4.0))
