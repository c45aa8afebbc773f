"""Where integrations get keys from, so that no secret is ever written into storage metadata.

A zarr array's JSON, a numcodecs config or a Dask task graph is public and copied around; it may name a
key (``key_id``) but never hold one. This module resolves a name to a key, in this order:

1. a key registered in this process with :func:`register_key` (an explicit key object; never serialised);
2. with a ``key_id``: the file ``$SAEC_KEYRING/<key_id>.key`` (as written by ``saec keygen``);
3. without one: the key file ``$SAEC_KEY_FILE``, then (where the caller allows passwords) ``$SAEC_PASSWORD``.

Worker processes (a process pool, a Dask cluster) inherit the environment, so the same rules find the key
there without it travelling in a pickle. A key that cannot be found is a :class:`KeyFileError` naming the
key id and every place looked at.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Mapping

from .crypto.keys import Key, Password, SecretKey, load_key
from .errors import InputError, KeyFileError

__all__ = [
    "KEY_FILE_ENV",
    "KEYRING_ENV",
    "PASSWORD_ENV",
    "KeySource",
    "register_key",
    "unregister_key",
    "resolve_key",
    "check_key_id",
]

KEY_FILE_ENV = "SAEC_KEY_FILE"
KEYRING_ENV = "SAEC_KEYRING"
PASSWORD_ENV = "SAEC_PASSWORD"

# A key id names a file in the keyring directory: no separators, no leading dot, nothing to escape.
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

_registered: dict[str | None, Key] = {}
_lock = threading.Lock()


def check_key_id(key_id: object) -> str | None:
    """``key_id`` if it is None or a safe file stem (1-64 of ``A-Za-z0-9._-``, not starting with a dot)."""
    if key_id is None:
        return None
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise InputError(
            f"key_id must be 1-64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit, not {key_id!r}"
        )
    return key_id


def _check_key(key: object) -> Key:
    if not isinstance(key, (SecretKey, Password)):
        raise InputError("key must be a saecodec SecretKey or Password")
    return key


def register_key(key: Key, key_id: str | None = None) -> None:
    """Make ``key`` the key of ``key_id`` (or the default key) for this process, ahead of the environment."""
    _check_key(key)
    key_id = check_key_id(key_id)
    with _lock:
        _registered[key_id] = key


def unregister_key(key_id: str | None = None) -> None:
    """Forget a key registered with :func:`register_key` (no error if there is none)."""
    with _lock:
        _registered.pop(check_key_id(key_id), None)


def resolve_key(
    key_id: str | None = None,
    *,
    allow_password: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Key:
    """The key named ``key_id`` (or the default key), by the rules of this module's docstring."""
    key_id = check_key_id(key_id)
    env = os.environ if environ is None else environ
    with _lock:
        registered = _registered.get(key_id)
    if registered is not None:
        return registered
    looked_at = ["keys registered in this process"]
    if key_id is not None:
        keyring = env.get(KEYRING_ENV)
        if keyring:
            path = os.path.join(keyring, f"{key_id}.key")
            if os.path.lexists(path):
                return load_key(path)
            looked_at.append(f"${KEYRING_ENV}={keyring!r} (no {key_id}.key there)")
        else:
            looked_at.append(f"${KEYRING_ENV} (not set)")
        raise KeyFileError(f"no key for key_id {key_id!r}: looked at {', '.join(looked_at)}")
    key_file = env.get(KEY_FILE_ENV)
    if key_file:
        return load_key(key_file)
    looked_at.append(f"${KEY_FILE_ENV} (not set)")
    if allow_password:
        password = env.get(PASSWORD_ENV)
        if password:
            return Password(password)
        looked_at.append(f"${PASSWORD_ENV} (not set)")
    raise KeyFileError(f"no key given and no default key: looked at {', '.join(looked_at)}")


@dataclass(frozen=True)
class KeySource:
    """A reference to a key that is safe to pickle, log and put in a config: it holds no secret.

    Resolved where it is used (``source.resolve()``), so a worker process finds the key through its own
    environment or registry.
    """

    key_id: str | None = None
    allow_password: bool = True

    def __post_init__(self) -> None:
        check_key_id(self.key_id)

    def resolve(self) -> Key:
        return resolve_key(self.key_id, allow_password=self.allow_password)
