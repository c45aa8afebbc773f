"""Per-file subkeys: HKDF-SHA256 over the master key, salted with the file's random nonce.

Distinct labels separate the encryption key from the MAC key, so neither can stand in for the other, and a
fresh nonce per file means no two files share a keystream even under the same master key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["FileKeys", "derive_file_keys", "ENCRYPTION_LABEL", "AUTHENTICATION_LABEL"]

ENCRYPTION_LABEL = b"saec v1 encryption key"
AUTHENTICATION_LABEL = b"saec v1 authentication key"


@dataclass(frozen=True)
class FileKeys:
    encryption: bytes = field(repr=False)
    authentication: bytes = field(repr=False)


def _hkdf(master_key: bytes, nonce: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=nonce, info=label).derive(master_key)


def derive_file_keys(master_key: bytes, nonce: bytes) -> FileKeys:
    return FileKeys(_hkdf(master_key, nonce, ENCRYPTION_LABEL), _hkdf(master_key, nonce, AUTHENTICATION_LABEL))
