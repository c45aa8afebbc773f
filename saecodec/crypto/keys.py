"""User keys: a 256-bit secret key (kept in a key file) or a password stretched with scrypt.

Both objects hide their secret from ``repr``/``str`` so that it never lands in logs or tracebacks.
"""

from __future__ import annotations

import os
import secrets
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import AuthenticationError, KeyFileError
from ..format.header import SCRYPT_SALT_BYTES, KdfParams
from ..limits import DEFAULT_LIMITS, Limits

__all__ = [
    "SecretKey",
    "Password",
    "Key",
    "generate_key",
    "load_key",
    "save_key",
    "key_from_password",
    "derive_master_key",
    "KEY_FILE_PREFIX",
]

KEY_BYTES = 32
KEY_FILE_PREFIX = "saec-secret-key-1:"


@dataclass(frozen=True)
class SecretKey:
    """A 256-bit secret key; the master key of every file encrypted with it."""

    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.material, bytes) or len(self.material) != KEY_BYTES:
            raise KeyFileError(f"a secret key must be exactly {KEY_BYTES} bytes")

    def __repr__(self) -> str:
        return "SecretKey(<hidden>)"

    __str__ = __repr__

    def to_text(self) -> str:
        """The key file's content: a prefix naming the format, then 64 hex digits and a newline."""
        return f"{KEY_FILE_PREFIX}{self.material.hex()}\n"

    @classmethod
    def from_text(cls, text: str) -> SecretKey:
        text = text.strip()
        if not text.startswith(KEY_FILE_PREFIX):
            raise KeyFileError("not a saec key file (missing the 'saec-secret-key-1:' prefix)")
        digits = text[len(KEY_FILE_PREFIX) :]
        if len(digits) != 2 * KEY_BYTES or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise KeyFileError(f"malformed key file: expected {2 * KEY_BYTES} hex digits after the prefix")
        return cls(bytes.fromhex(digits))


@dataclass(frozen=True)
class Password:
    """A password and the scrypt cost used when *writing* files (reading takes the cost from the header)."""

    secret: str = field(repr=False)
    log2_n: int = 17
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.secret, str) or not self.secret:
            raise KeyFileError("a password must be a non-empty string")

    def __repr__(self) -> str:
        return f"Password(<hidden>, log2_n={self.log2_n}, r={self.r}, p={self.p})"

    __str__ = __repr__

    def encoded(self) -> bytes:
        """NFC-normalised UTF-8, so the same password typed on any system gives the same key."""
        return unicodedata.normalize("NFC", self.secret).encode("utf-8")

    def new_kdf_params(self) -> KdfParams:
        return KdfParams("scrypt", secrets.token_bytes(SCRYPT_SALT_BYTES), self.log2_n, self.r, self.p)


Key = Union[SecretKey, Password]


def generate_key() -> SecretKey:
    """A fresh key from the operating system's CSPRNG."""
    return SecretKey(secrets.token_bytes(KEY_BYTES))


def key_from_password(password: str, *, log2_n: int = 17, r: int = 8, p: int = 1) -> Password:
    return Password(password, log2_n, r, p)


def load_key(path: str | os.PathLike[str]) -> SecretKey:
    """Read a key file written by ``save_key`` or ``saec keygen``."""
    try:
        size = os.path.getsize(path)
        if size > 4096:
            raise KeyFileError(f"key file {os.fspath(path)!r} is too large to be a saec key")
        text = Path(path).read_text(encoding="ascii")
    except KeyFileError:
        raise
    except UnicodeDecodeError:
        raise KeyFileError(f"key file {os.fspath(path)!r} is not a saec key file") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {os.fspath(path)!r}: {exc.strerror}") from None
    return SecretKey.from_text(text)


def save_key(key: SecretKey, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
    """Write a key file readable only by its owner; never replaces an existing file unless asked."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{os.fspath(path)!r} already exists") from None
    except OSError as exc:
        raise KeyFileError(f"cannot write key file {os.fspath(path)!r}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.to_text())


def derive_master_key(key: Key, kdf: KdfParams, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The 32-byte master key of a file: the secret key itself, or scrypt(password, salt) per the header."""
    if kdf.name == "secret-key":
        if not isinstance(key, SecretKey):
            raise AuthenticationError("this file was encrypted with a secret key, not a password")
        return key.material
    if not isinstance(key, Password):
        raise AuthenticationError("this file was encrypted with a password, not a secret key")
    limits.check_scrypt(kdf.log2_n, kdf.r, kdf.p)
    return Scrypt(salt=kdf.salt, length=KEY_BYTES, n=1 << kdf.log2_n, r=kdf.r, p=kdf.p).derive(key.encoded())
