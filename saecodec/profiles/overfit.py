"""The overfit profile (format 1.3): latent grids and a small synthesis network trained on each image.

The paper's idea, a decoder trained per image and stored in the file with the codes, in its modern form
(Cool-chic, C3): integer latent grids at several resolutions, bilinearly up-sampled and fed per pixel to a
1x1 network and a few 3x3 residual layers, whose weights are quantised and stored beside the latents. Both
streams are entropy coded by lc1 (spec/lc1-latent-coder.md), integer arithmetic only; the synthesis is float32
in a fixed order of operations (spec section 11), so every conforming decoder gives the same pixels.

Training happens at encode time (saecodec.model.overfit), so encoding takes seconds to minutes: ``effort``
chooses the network and the number of steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..errors import FormatError, InputError, LimitExceededError
from ..format.header import Header, ImageInfo, OverfitModelInfo, OverfitQuantInfo
from ..limits import DEFAULT_LIMITS
from .common import FileSize, PlainImage, Profile, Progress, check_rate_setting

__all__ = ["PROFILE", "OverfitSettings", "EFFORTS", "Effort", "make_settings", "quality_to_lambda", "reconstruct",
           "DEFAULT_QUALITY", "DEFAULT_EFFORT"]

DEFAULT_QUALITY = 75
DEFAULT_EFFORT = "default"


@dataclass(frozen=True)
class Effort:
    """What an effort level buys: the decoder's shape and the training schedule."""

    levels: tuple[int, ...]  # latent channels per level, full resolution first
    hidden: tuple[int, ...]  # hidden 1x1 layer widths
    residual: int  # 3x3 residual layers
    steps: int  # training steps on the whole image
    learning_rate: float
    warm_up_steps: int = 0  # steps on the half-resolution image first (a quarter of the cost each)
    warm_up_starts: int = 1  # warm-up starts tried, the best continued (model.overfit.warm_up)
    rate_contexts: bool = False  # rate proxy: a Laplace scale per lc1 context class, not per grid (kernels.rate)
    network_optimiser: str = "adam"  # the network weights' optimiser: "adam" or "soap" (model.soap)
    network_lr_scale: float = 1.0  # the network's learning rate over the latents'


#: Effort levels (measured in docs/overfit/): more steps and a wider decoder cost encode time, not decode time
#: to speak of. Steps are fixed counts, so the same input, key and seed give the same file on one machine.
#: ``default`` trains a 16-16 network: a step costs 0.7 of a 24-24 one, and 1.4 times the steps beat the wider
#: network at the same time on every screened image (docs/overfit/stage4.md). One residual layer each: a second
#: one, before it and with a ReLU, starts at zero where the ReLU passes no gradient, so it never trained; made live
#: it lost (stage4.md). One warm-up start: four (the best continued) gained on crops over five seeds, but at the
#: default seed they changed three of 48 Kodak encodes beyond rounding, all worse (-0.01 dB on the mean), for 11 %
#: more time (stage8.md). The rate proxy per grid: one per lc1 context class gained on crops but +0.04 dB on Kodak,
#: for 3.5 % more work (stage9.md).
#: ``default`` gives the coarse levels (1/4 to 1/64) two latent channels: with one a level carrying luma and
#: colour alike, much of the high-rate loss was colour (stage11.md); the second gained +0.30 dB BD-PSNR on the
#: twelve Kodak images (every one) and +0.13 dB on the paper's four (house -0.16), for 621 multiply-adds a pixel
#: against 521 and about a fifth more encode time (stage12.md, stage13.md). ``best`` is ``default``'s model
#: trained twice as long: +0.23 dB over ``default`` and +0.50 dB over the 24-24 one-channel ``best`` it replaced,
#: on the two images ``best`` is measured on, at half that one's work (a third image, run after, was mixed:
#: stage14.md). ``fast`` has the same shape and 500 + 600 steps: the second channel needs steps to settle, and
#: with twice the old 400 + 300 steps' work ``fast`` gained +1.18 dB on the Kodak images (better on every one
#: with a BD figure), at about a quarter of ``default``'s time.
EFFORTS: dict[str, Effort] = {
    "fast": Effort((1, 1, 2, 2, 2, 2, 2), (16, 16), 1, 600, 0.02, 500),
    "default": Effort((1, 1, 2, 2, 2, 2, 2), (16, 16), 1, 2100, 0.02, 2800),
    "best": Effort((1, 1, 2, 2, 2, 2, 2), (16, 16), 1, 4200, 0.02, 5600),
}


def quality_to_lambda(quality: float) -> float:
    """Quality 0..100 -> the rate-distortion trade-off lambda of ``MSE + lambda * bpp`` (MSE of [0, 1] colour).

    Log-linear: quality 50 is 1e-3 and every 32 points divide lambda by 10 (quality 75 is 1.7e-4, 90 is
    5.6e-5): on Kodak photographs qualities 30-90 span about 0.2-2.5 bpp (docs/overfit/)."""
    q = min(max(float(quality), 0.0), 100.0)
    return 1e-3 * 10.0 ** (-(q - 50.0) / 32.0)


@dataclass(frozen=True)
class OverfitSettings:
    """Validated overfit-profile settings: one of quality, target_bpp or target_psnr; effort; training seed."""

    quality: Optional[float] = None
    target_bpp: Optional[float] = None
    target_psnr: Optional[float] = None
    effort: str = DEFAULT_EFFORT
    seed: int = 0

    def __post_init__(self) -> None:
        check_rate_setting(self.quality, self.target_bpp, self.target_psnr)
        if self.effort not in EFFORTS:
            raise InputError(f"effort must be one of {', '.join(EFFORTS)}, not {self.effort!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise InputError(f"seed must be an integer from 0 to 2**32 - 1, not {self.seed!r}")

    @property
    def lam(self) -> float:
        return quality_to_lambda(DEFAULT_QUALITY if self.quality is None else self.quality)


def make_settings(quality: float | None = None, target_bpp: float | None = None, target_psnr: float | None = None,
                  effort: str | None = None, seed: int | None = None) -> OverfitSettings:
    """Settings from ``encode``'s keywords (None: not given): quality 75, effort "default", seed 0."""
    return OverfitSettings(quality, target_bpp, target_psnr, DEFAULT_EFFORT if effort is None else effort,
                           0 if seed is None else seed)


def model_for(image: ImageInfo, effort: Effort) -> OverfitModelInfo:
    """The decoder shape an effort level uses for this image: levels down to a grid of a few samples, and
    never more latent values a pixel than a default reader accepts (a 1-pixel-high strip halves only across)."""
    levels = list(effort.levels)
    while len(levels) > 1 and max(image.height, image.width) < 4 * 2 ** (len(levels) - 1):
        levels.pop()
    colour = "rgb" if image.colour_channels == 3 else "grey"
    pixels = image.height * image.width
    while True:
        model = OverfitModelInfo(colour, tuple(levels), effort.hidden, effort.residual)
        if len(levels) == 1 or model.latent_count(image) <= DEFAULT_LIMITS.max_overfit_latents_per_pixel * pixels:
            return model
        levels.pop()


def _encode(colour: np.ndarray, image: ImageInfo, settings: OverfitSettings, file_size: FileSize,
            progress: Progress) -> PlainImage:
    from ..model.overfit import encode_overfit  # training code: imported only by encoders

    effort = EFFORTS[settings.effort]
    model = model_for(image, effort)
    model.check_limits(image, DEFAULT_LIMITS)  # never write what a default reader refuses (spec 8)
    return encode_overfit(colour, image, model, effort, settings, file_size, progress)


def reconstruct(header: Header, sections: dict[str, bytes]) -> np.ndarray:
    """Decoded colour planes (H, W, C) uint8 from the plaintext sections (spec section 11).

    The header's sizes were checked against the limits, so the latents (8 bytes each while decoding, at most
    ``max_overfit_latents_per_pixel`` a pixel) and the synthesis work are bounded before anything is allocated.
    """
    from ..entropy.latentcoder import decode_latents, decode_weights
    from ..kernels.synthesis import synthesize

    model, quant, image = header.model, header.quant, header.image
    assert isinstance(model, OverfitModelInfo) and isinstance(quant, OverfitQuantInfo)
    try:
        weights = dequantise_weights(decode_weights(sections["weights"], model.tensor_sizes()), model, quant)
        grids = decode_latents(sections["latents"], coding_order(model.grid_shapes(image), model.levels))
        latents = flat_latents(grids, model.levels)
        del grids  # views of one int32 buffer: freed before the synthesis allocates its stripes
        out = np.empty((image.height, image.width, model.channels), dtype=np.uint8)
        synthesize(synthesis_shape(model, image), latents, weights, out)
    except MemoryError:
        raise LimitExceededError(f"not enough memory to decode a {image.width}x{image.height} image") from None
    return out


def synthesis_shape(model: OverfitModelInfo, image: ImageInfo) -> Any:
    """The synthesis kernels' description (kernels.synthesis.SynthesisShape) of this model on this image."""
    from ..kernels.synthesis import SynthesisShape

    return SynthesisShape(image.height, image.width, model.channels, model.levels, model.hidden, model.residual)


def coding_order(shapes: list[tuple[int, int]], levels: tuple[int, ...]) -> list[tuple[int, int]]:
    """Grids as lc1 codes them: coarsest level first (so a grid's parent is decoded before it), the channels
    of a level in order."""
    return [shapes[index] for index in _coding_indices(levels)]


def _coding_indices(levels: tuple[int, ...]) -> list[int]:
    starts = np.cumsum((0,) + tuple(levels))
    return [int(starts[level]) + c for level in reversed(range(len(levels))) for c in range(levels[level])]


def flat_latents(coded: list[np.ndarray], levels: tuple[int, ...]) -> np.ndarray:
    """The grids (in coding order) as one float32 array, full-resolution level first: the synthesis's layout.

    Written grid by grid into one preallocated array, so decoding holds 4 bytes of int32 and 4 of float32 a
    latent value at most (spec section 11.5), never a float32 copy of each grid besides."""
    by_layout: list[np.ndarray] = [np.empty((0, 0), np.int32)] * len(coded)
    for grid, index in zip(coded, _coding_indices(levels)):
        by_layout[index] = grid
    flat = np.empty(sum(g.size for g in by_layout), dtype=np.float32)
    start = 0
    for grid in by_layout:
        flat[start:start + grid.size] = grid.ravel()
        start += grid.size
    return flat


def grids_in_coding_order(latents: np.ndarray, shapes: list[tuple[int, int]], levels: tuple[int, ...]) -> list[np.ndarray]:
    """Inverse of ``flat_latents`` for the encoder: integer grids (from rounded latents) in coding order."""
    grids, start = [], 0
    for h, w in shapes:
        grids.append(latents[start:start + h * w].reshape(h, w))
        start += h * w
    return [grids[index] for index in _coding_indices(levels)]


def dequantise_weights(values: np.ndarray, model: OverfitModelInfo, quant: OverfitQuantInfo) -> list[np.ndarray]:
    """Stored integers -> float32 tensors (value * 2^-shift, exact in float32 for |value| < 2^24)."""
    tensors, start = [], 0
    for size, step in zip(model.tensor_sizes(), quant.steps()):
        tensors.append((values[start:start + size].astype(np.float64) * step).astype(np.float32))
        start += size
    if start != values.size:
        raise FormatError("weights stream holds the wrong number of values")
    return tensors


PROFILE = Profile("overfit", ("quality", "target_bpp", "target_psnr", "effort", "seed"), make_settings, _encode,
                  reconstruct)
