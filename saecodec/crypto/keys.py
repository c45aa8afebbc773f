"""User keys: a 256-bit secret key (kept in a key file) or a password stretched with scrypt.

Both objects hide their secret from ``repr``/``str`` so that it never lands in logs or tracebacks.
"""

from __future__ import annotations

import os
import secrets
import stat
import unicodedata
import warnings
from dataclasses import dataclass, field
from typing import Union

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import AuthenticationError, InputError, KeyFileError, SaecError
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
    "KeyFilePermissionWarning",
]

KEY_BYTES = 32
KEY_FILE_PREFIX = "saec-secret-key-1:"
MAX_KEY_FILE_BYTES = 512  # a key file is one 83-byte line; anything much longer is not one


class KeyFilePermissionWarning(UserWarning):
    """A key file can be read by its group or by others (as ssh warns of a private key)."""


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
        if not all(type(v) is int for v in (self.log2_n, self.r, self.p)):
            raise InputError("scrypt log2_n, r and p must be integers")
        try:  # never write a file that a reader with default limits rejects (spec section 8)
            DEFAULT_LIMITS.check_scrypt(self.log2_n, self.r, self.p)
        except SaecError as exc:
            raise InputError(f"scrypt cost not usable: {exc}") from None

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
    """Read a key file written by ``save_key`` or ``saec keygen``.

    Only a regular file is read (a device such as /dev/zero, a FIFO or a directory is refused before any
    read, and a FIFO is opened without blocking), and never more than ``MAX_KEY_FILE_BYTES``. A key file
    that its group or others can read gives a ``KeyFilePermissionWarning``.
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {name!r}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"key file {name!r} is not a regular file")
        if info.st_size > MAX_KEY_FILE_BYTES:
            raise KeyFileError(f"key file {name!r} is too large to be a saec key")
        chunks, total = [], 0
        while total <= MAX_KEY_FILE_BYTES:
            chunk = os.read(fd, MAX_KEY_FILE_BYTES + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {name!r}: {exc.strerror}") from None
    finally:
        os.close(fd)
    raw = b"".join(chunks)
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"key file {name!r} is too large to be a saec key")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise KeyFileError(f"key file {name!r} is not a saec key file") from None
    key = SecretKey.from_text(text)
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.warn(
            f"key file {name!r} is accessible by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
            "it should be 0600",
            KeyFilePermissionWarning,
            stacklevel=2,
        )
    return key


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
