"""The one interface every profile offers, and what a profile's encoder hands to the container layer.

A profile is an entry of ``saecodec.profiles.PROFILES``: its encode options, how it validates them into
settings, how it encodes the colour planes and how it reconstructs them. The codec never branches on a
profile's name, so a new profile is a new module and a new table entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from ..format.header import Header, ImageInfo, ModelInfo, QuantInfo, RdModelInfo, RdQuantInfo

__all__ = ["PlainImage", "Profile", "FileSize", "Progress"]

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
