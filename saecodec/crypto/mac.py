"""Encrypt-then-MAC: HMAC-SHA256 over every byte of the file before the tag, verified in constant time.

A file may be bound to a *context* (associated data: where it is stored, an object key, a chunk's
coordinates). The context is not stored; it is fed to the HMAC ahead of the file's bytes, length-prefixed,
so a file moved to another place, or read without its context, does not verify (spec section 4.3).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

from ..errors import AuthenticationError

__all__ = ["compute_tag", "verify_tag", "AUTHENTICATION_FAILED"]

AUTHENTICATION_FAILED = "authentication failed: wrong key or password, or the file was altered"


def _mac(mac_key: bytes, data: bytes | memoryview, context: bytes | None) -> hmac.HMAC:
    h = hmac.HMAC(mac_key, hashes.SHA256())
    if context is not None:
        h.update(len(context).to_bytes(8, "big"))
        h.update(context)
    h.update(data)
    return h


def compute_tag(mac_key: bytes, data: bytes | memoryview, context: bytes | None = None) -> bytes:
    return _mac(mac_key, data, context).finalize()


def verify_tag(mac_key: bytes, data: bytes | memoryview, tag: bytes, context: bytes | None = None) -> None:
    """Raise ``AuthenticationError`` unless ``tag`` is right; the comparison is OpenSSL's constant-time one."""
    try:
        _mac(mac_key, data, context).verify(tag)
    except InvalidSignature:
        raise AuthenticationError(AUTHENTICATION_FAILED) from None
