"""Encrypt-then-MAC: HMAC-SHA256 over every byte of the file before the tag, verified in constant time."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

from ..errors import AuthenticationError

__all__ = ["compute_tag", "verify_tag", "AUTHENTICATION_FAILED"]

AUTHENTICATION_FAILED = "authentication failed: wrong key or password, or the file was altered"


def compute_tag(mac_key: bytes, data: bytes | memoryview) -> bytes:
    h = hmac.HMAC(mac_key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def verify_tag(mac_key: bytes, data: bytes | memoryview, tag: bytes) -> None:
    """Raise ``AuthenticationError`` unless ``tag`` is right; the comparison is OpenSSL's constant-time one."""
    h = hmac.HMAC(mac_key, hashes.SHA256())
    h.update(data)
    try:
        h.verify(tag)
    except InvalidSignature:
        raise AuthenticationError(AUTHENTICATION_FAILED) from None
