"""Internal helpers for test vectors, golden files and tests: not part of the public API.

A fixed nonce makes a file reproducible byte for byte, which vectors need; in any other use it is a
catastrophe (two files under one key with one nonce share a keystream), so it is kept out of ``encode``.
"""

from __future__ import annotations

from typing import Any

from .codec import _encode
from .crypto.keys import Key

__all__ = ["encode_with_nonce"]


def encode_with_nonce(image: Any, key: Key, nonce: bytes, **options: Any) -> bytes:
    """``saecodec.encode`` with the given 32-byte nonce instead of a fresh random one."""
    return _encode(image, key, nonce, **options).data
