"""The paper profile (format 1.0): a 64-16-4 sigmoid SAE trained on the image, 8-bit codes, stored decoder.

Kept exactly as the paper describes it, for reproduction; spec/saec-v1.md sections 3.2, 3.3 and 5.1-5.4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import FormatError, InputError, LimitExceededError
from ..format.header import PAPER_VERSION, WEIGHT_DTYPES, Header, ImageInfo, ModelInfo, QuantInfo
from ..imaging.blocks import split_blocks
from ..limits import DEFAULT_LIMITS
from ..model.decode import decode_blocks_into
from ..model.sae import TrainConfig, train_sae
from .common import FileSize, PlainImage, Profile, Progress

__all__ = ["PAPER_LAYERS", "BLOCK", "PaperSettings", "make_settings", "encode_colour", "reconstruct", "PROFILE"]

PAPER_LAYERS = (64, 16, 4)
BLOCK = 8
_WEIGHT_NUMPY = {"f32le": "<f4", "f16le": "<f2"}
# (unsigned view, exponent mask): a value is infinite or NaN exactly when its exponent bits are all ones
_EXPONENT_BITS = {"f32le": ("<u4", 0x7F800000), "f16le": ("<u2", 0x7C00)}


@dataclass(frozen=True)
class PaperSettings:
    """Validated encoder settings of the paper profile."""

    level: int = 1
    weights: str = "f32le"
    per_channel: bool = False
    training: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.level not in (1, 2):
            raise InputError(f"level must be 1 (4:1) or 2 (16:1), not {self.level!r}")
        if self.weights not in WEIGHT_DTYPES:
            raise InputError(f"weights must be one of {', '.join(WEIGHT_DTYPES)}, not {self.weights!r}")


def _serialise_decoders(decoders: list[list[tuple[np.ndarray, np.ndarray]]], weights: str) -> bytes:
    dtype = _WEIGHT_NUMPY[weights]
    parts = []
    for layers in decoders:
        for w, b in layers:
            parts.append(np.ascontiguousarray(w, dtype=dtype).tobytes())
            parts.append(np.ascontiguousarray(b, dtype=dtype).tobytes())
    return b"".join(parts)


def _parse_decoders(data: bytes, header: Header) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    assert isinstance(header.model, ModelInfo) and isinstance(header.quant, QuantInfo)
    raw = np.frombuffer(data, dtype=_WEIGHT_NUMPY[header.quant.weights])
    # Check on the bits, before any arithmetic: casting a signalling NaN to float64 raises the invalid flag,
    # which NumPy reports as a RuntimeWarning (an exception under ``python -W error``).
    bits, exponent = _EXPONENT_BITS[header.quant.weights]
    if np.any((raw.view(bits) & exponent) == exponent):
        raise FormatError("decoder weights are not finite")
    values = raw.astype(np.float64)
    decoders, pos = [], 0
    for _ in range(header.model.models):
        layers = []
        for out, inp in header.model.decoder_shapes():
            w = values[pos : pos + out * inp].reshape(out, inp)
            pos += out * inp
            b = values[pos : pos + out]
            pos += out
            layers.append((w, b))
        decoders.append(layers)
    return decoders


def _quantise(activations: np.ndarray) -> np.ndarray:
    """Sigmoid codes in [0, 1] -> 8-bit codes, q = round(255 a)."""
    return np.clip(np.rint(activations * 255.0), 0, 255).astype(np.uint8)


def encode_colour(colour: np.ndarray, settings: PaperSettings,
                  progress: Callable[[float], None] | None = None) -> PlainImage:
    """Train the SAE on the (H, W, C) colour planes and return the decoder and latent sections."""
    # A writer never produces a file a reader with default limits rejects (spec section 8): check first,
    # before training.
    DEFAULT_LIMITS.check_paper_model(BLOCK, PAPER_LAYERS, settings.level)
    channels = colour.shape[2]
    groups = [colour[:, :, c : c + 1] for c in range(channels)] if settings.per_channel else [colour]
    decoders, codes = [], []
    for index, group in enumerate(groups):
        samples = split_blocks(group, BLOCK)

        def report(fraction: float, index: int = index) -> None:
            if progress is not None:
                progress((index + fraction) / len(groups))

        # By default one model serves both levels (the paper's premise): train for both, store the chosen one.
        level = None if settings.training.shared_levels else settings.level
        model = train_sae(samples, PAPER_LAYERS, level=level, config=settings.training, progress=report)
        codes.append(_quantise(model.encode(samples, settings.level)))
        decoders.append(model.decoder_for_level(settings.level))
    sections = [("decoder", _serialise_decoders(decoders, settings.weights)), ("latent", np.concatenate(codes).tobytes())]
    return PlainImage(
        model=ModelInfo(PAPER_LAYERS, settings.level, BLOCK, len(groups)),
        quant=QuantInfo("u8", settings.weights),
        sections=sections,
        version=PAPER_VERSION,
    )


def reconstruct(header: Header, sections: dict[str, bytes]) -> np.ndarray:
    """Decoded colour planes (H, W, C) uint8 from the plaintext sections (spec section 5.4).

    Each channel's blocks are decoded straight into the preallocated output, so the working memory beyond
    the output and the sections is a few vectors of the widest layer, whatever the number of blocks.
    """
    assert isinstance(header.model, ModelInfo)
    info, units = header.image, header.model.latent_units
    try:
        decoders = _parse_decoders(sections["decoder"], header)
        codes = np.frombuffer(sections["latent"], dtype=np.uint8).reshape(info.colour_channels, -1, units)
        out = np.empty((info.height, info.width, info.colour_channels), dtype=np.uint8)
        per_channel = header.model.models > 1
        for c in range(info.colour_channels):
            decode_blocks_into(codes[c], decoders[c if per_channel else 0], header.model.block, header.blocks_wide,
                               out[:, :, c])
    except MemoryError:
        raise LimitExceededError(f"not enough memory to decode a {info.width}x{info.height} image") from None
    return out


def make_settings(level: int | None = None, seed: int | None = None, weights: str | None = None,
                  per_channel: bool | None = None, training: TrainConfig | None = None) -> PaperSettings:
    """Settings from ``encode``'s keywords (None: not given): level 1, seed 0, float32 weights, one model."""
    if training is not None and seed is not None:
        raise InputError("give seed inside training (TrainConfig(seed=...)), not both")
    if training is not None and not isinstance(training, TrainConfig):
        raise InputError("training must be a saecodec.TrainConfig")
    config = training if training is not None else TrainConfig(seed=seed or 0)
    return PaperSettings(1 if level is None else level, weights or "f32le", bool(per_channel), config)


def _encode(colour: np.ndarray, image: ImageInfo, settings: PaperSettings, file_size: FileSize,
            progress: Progress) -> PlainImage:
    return encode_colour(colour, settings, progress)  # fixed rate: the size callback has nothing to steer


PROFILE = Profile("paper", ("level", "seed", "weights", "per_channel", "training"), make_settings, _encode,
                  reconstruct)

