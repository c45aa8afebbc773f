"""Entropy coding of quantised latent grids: an exactly specified adaptive binary range coder.

See spec/rc1-entropy-coder.md (normative for format 1.1, the rd profile's "rc1"). ``encode_grid`` /
``decode_grid`` are pure integer arithmetic (the LZMA range coder with context-modelled binarisation), so the
bytes are identical on every machine.
"""

from __future__ import annotations

from .rangecoder import MAX_MAGNITUDE, RowDecoder, decode_grid, encode_grid

__all__ = ["MAX_MAGNITUDE", "encode_grid", "decode_grid", "RowDecoder"]
