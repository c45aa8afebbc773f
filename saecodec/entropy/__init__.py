"""Entropy coding of quantised latent grids: an exactly specified adaptive binary range coder.

See spec/rc1-entropy-coder.md (normative for format 1.1, the rd profile's "rc1"). ``encode_grid`` /
``decode_grid`` are pure integer arithmetic (the LZMA range coder with context-modelled binarisation), so the
bytes are identical on every machine. ``encode_latents`` / ``decode_latents`` and ``encode_weights`` /
``decode_weights`` are the overfit profile's "lc1" (spec/lc1-latent-coder.md): the same arithmetic with
contexts for multi-resolution latent grids and for network weights.
"""

from __future__ import annotations

from .latentcoder import decode_latents, decode_weights, encode_latents, encode_weights
from .rangecoder import MAX_MAGNITUDE, RowDecoder, decode_grid, encode_grid

__all__ = ["MAX_MAGNITUDE", "encode_grid", "decode_grid", "RowDecoder", "encode_latents", "decode_latents",
           "encode_weights", "decode_weights"]
