"""The one interface every profile offers, and what a profile's encoder hands to the container layer.

A profile is an entry of ``saecodec.profiles.PROFILES``: its encode options, how it validates them into
settings, how it encodes the colour planes and how it reconstructs them. The codec never branches on a
profile's name, so a new profile is a new module and a new table entry.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from ..errors import InputError

from ..format.header import Header, ImageInfo, ModelInfo, QuantInfo, RdModelInfo, RdQuantInfo

__all__ = ["PlainImage", "Profile", "FileSize", "Progress", "check_rate_setting"]

FileSize = Callable[["PlainImage"], int]  # the whole file's size for a candidate encoding (rate control)
Progress = Optional[Callable[[float], None]]


@dataclass(frozen=True)
class PlainImage:
    """The plaintext sections of the colour planes, with the header fields that describe them."""

    model: ModelInfo | RdModelInfo
    quant: QuantInfo | RdQuantInfo
    sections: list[tuple[str, bytes]]
    version: tuple[int, int]


@dataclass(frozen=True)
class Profile:
    """A coding profile: ``options`` are the ``encode`` keywords it takes (None meaning "not given");
    ``settings(**options)`` validates them (InputError); ``encode(colour, image, settings, file_size,
    progress)`` returns the plaintext sections; ``reconstruct(header, sections)`` the (H, W, C) colour planes."""

    name: str
    options: tuple[str, ...]
    settings: Callable[..., Any]
    encode: Callable[[np.ndarray, ImageInfo, Any, FileSize, Progress], PlainImage]
    reconstruct: Callable[[Header, dict[str, bytes]], np.ndarray]


def _is_number(value: object) -> bool:
    """A real number, numpy scalars included; booleans are not numbers here."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_rate_setting(quality: object, target_bpp: object, target_psnr: object) -> None:
    """What the rate-controlled profiles (rd, overfit) accept: at most one of a quality 0..100, a positive
    target rate and a positive target PSNR (InputError otherwise)."""
    given = [name for name, value in (("quality", quality), ("target_bpp", target_bpp),
                                      ("target_psnr", target_psnr)) if value is not None]
    if len(given) > 1:
        raise InputError(f"give at most one of quality, target_bpp and target_psnr (got {', '.join(given)})")
    if quality is not None and (not _is_number(quality) or not 0 <= quality <= 100):  # type: ignore[operator]
        raise InputError(f"quality must be a number from 0 to 100, not {quality!r}")
    for name, value in (("target_bpp", target_bpp), ("target_psnr", target_psnr)):
        if value is not None and (not _is_number(value) or not math.isfinite(value) or value <= 0):  # type: ignore
            raise InputError(f"{name} must be a positive finite number, not {value!r}")
