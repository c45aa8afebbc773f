"""What a profile's encoder hands to the container layer."""

from __future__ import annotations

from dataclasses import dataclass

from ..format.header import ModelInfo, QuantInfo, RdModelInfo, RdQuantInfo

__all__ = ["PlainImage"]


@dataclass(frozen=True)
class PlainImage:
    """The plaintext sections of the colour planes, with the header fields that describe them."""

    model: ModelInfo | RdModelInfo
    quant: QuantInfo | RdQuantInfo
    sections: list[tuple[str, bytes]]
    version: tuple[int, int]
