"""The exception hierarchy: every failure saecodec reports is a ``SaecError``.

Callers catch ``SaecError`` for "this input cannot be used" and the subclasses when the reason matters
(the CLI maps them to distinct exit codes). Messages never contain key material.
"""

from __future__ import annotations

__all__ = [
    "SaecError",
    "InputError",
    "KeyFileError",
    "FormatError",
    "TruncatedError",
    "UnsupportedVersionError",
    "UnsupportedFeatureError",
    "LimitExceededError",
    "AuthenticationError",
]


class SaecError(Exception):
    """Base class of every error saecodec raises on purpose."""


class InputError(SaecError, ValueError):
    """An argument cannot be used: an image mode we cannot represent, a bad level, a wrong dtype."""


class KeyFileError(SaecError):
    """A key file or key value is malformed (wrong length, bad encoding, unreadable)."""



class FormatError(SaecError):
    """The bytes are not a well-formed .saec container."""


class TruncatedError(FormatError):
    """The container ends before the structure its preamble and header announce."""


class UnsupportedVersionError(FormatError):
    """The container's major version is one this reader does not know."""


class UnsupportedFeatureError(FormatError):
    """The header names a cipher suite, KDF, activation, mode or quantiser this reader does not know."""


class LimitExceededError(SaecError):
    """The input asks for more than the reader's limits allow (header size, pixels, scrypt memory)."""


class AuthenticationError(SaecError):
    """The tag does not verify: wrong key or password, or the file was altered. Deliberately one error."""
