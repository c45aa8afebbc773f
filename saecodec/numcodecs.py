"""``Saec``: saecodec as a numcodecs codec, so zarr (format 2), Dask and anything else built on numcodecs can
store uint8 image chunks as authenticated, encrypted .saec files.

A thin adapter, as ``imagecodecs.numcodecs`` is: ``encode`` is :func:`saecodec.encode` on one chunk and
``decode`` is :func:`saecodec.decode`; every option is validated by saecodec's own settings classes, so a
bad option is an ``InputError`` when the codec is built, not a corrupt chunk later. Each chunk is a
complete .saec file (``saec decode`` opens it, with ``--context`` when one is bound).

Keys never enter a config, a repr or a pickle. The config names a key (``key_id``); the key itself is
found where the chunk is coded, by :func:`saecodec.keyring.resolve_key`: a key registered in the process,
``$SAEC_KEYRING/<key_id>.key``, or without a ``key_id`` the key file ``$SAEC_KEY_FILE``. An explicit
``key=`` object is used in this process only: pickling the codec (a Dask graph, a process pool) drops it,
and the copy resolves its key again where it runs, so a worker missing the key raises ``KeyFileError``
naming the key id and the places it looked.

Passwords are off by default (``allow_password=False``): every chunk is its own .saec file with its own
scrypt salt, so a password costs one scrypt run (~0.3 s, 128 MiB) per chunk written and per chunk read; a
1000-chunk array would take minutes to open and a Dask worker pool would run out of memory. Derive a key
file once instead (``saec keygen``). ``allow_password=True`` (in the config) lets ``$SAEC_PASSWORD`` or an
explicit ``Password`` through for the rare small array where that cost is acceptable.

What is bound: the optional ``context`` string of the config (e.g. the array's path) is bound to every
chunk as associated data, so chunks copied into an array with another context fail with
``AuthenticationError``. numcodecs hands a codec the chunk's pixels only, never its position, so chunks
swapped *within* one array are NOT detected by this codec; the format-3 codec in :mod:`saecodec.zarr3`
learns each chunk's coordinates and binds them.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_ndarray_like, ndarray_copy

from . import codec as _codec
from .crypto.keys import Key, Password, SecretKey
from .errors import FormatError, InputError
from .keyring import check_key_id, resolve_key

__all__ = ["Saec", "check_chunk", "PROFILE_OPTIONS"]

# The encode options a config may carry (all public); None means saecodec's default.
PROFILE_OPTIONS = ("profile", "quality", "target_bpp", "target_psnr", "chroma", "effort", "level", "seed")
# Config keys that would hold a secret: refused by name so a leaked key in JSON is a loud error.
_SECRET_NAMES = ("key", "password", "secret", "material")


def check_chunk(buf: Any) -> np.ndarray:
    """``buf`` as a C-contiguous uint8 (H, W) or (H, W, C) array with C 1-4, else ``InputError``.

    A flat byte buffer is refused rather than guessed at: saec needs the chunk's shape, and zarr format 2
    and 3 both hand the codec the chunk as an array of its real shape.
    """
    try:
        array = ensure_ndarray_like(buf)
    except (TypeError, ValueError) as exc:
        raise InputError(f"saec encodes uint8 image arrays, not {type(buf).__name__} ({exc})") from None
    if array.dtype != np.uint8:
        raise InputError(f"saec encodes uint8 images; this chunk is {array.dtype} (convert or use another codec)")
    if array.ndim not in (2, 3) or (array.ndim == 3 and not 1 <= array.shape[2] <= 4):
        raise InputError(
            f"saec encodes (H, W) or (H, W, C) chunks with C from 1 to 4; this chunk has shape {array.shape}"
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise InputError(f"saec cannot encode an empty chunk of shape {array.shape}")
    return np.ascontiguousarray(array)


class Saec(Codec):
    """saecodec as a numcodecs codec (``codec_id = "saec"``); uint8 (H, W) or (H, W, 1..4) chunks.

    Config keys (all public): ``key_id``, ``profile``, ``quality``, ``target_bpp``, ``target_psnr``,
    ``chroma``, ``effort``, ``level``, ``seed``, ``cipher``, ``context`` (a string bound to every chunk), ``allow_password``.
    ``key`` (a ``SecretKey``) is accepted in-process only and never serialised.
    """

    codec_id = "saec"

    def __init__(
        self,
        *,
        key_id: str | None = None,
        profile: str | None = None,
        quality: float | None = None,
        target_bpp: float | None = None,
        target_psnr: float | None = None,
        chroma: str | None = None,
        effort: str | None = None,
        level: int | None = None,
        seed: int | None = None,
        cipher: str = "chacha20",
        context: str | None = None,
        allow_password: bool = False,
        key: Key | None = None,
    ) -> None:
        self._key_id = check_key_id(key_id)
        self._options = {k: v for k, v in (("profile", profile), ("quality", quality),
                                           ("target_bpp", target_bpp), ("target_psnr", target_psnr),
                                           ("chroma", chroma), ("effort", effort), ("level", level),
                                           ("seed", seed)) if v is not None}
        _codec.check_encode_options(cipher=cipher, **self._options)  # bad options fail here, not per chunk
        self._cipher = cipher
        if context is not None and not isinstance(context, str):
            # A config is JSON: text only. Bytes contexts are for saecodec.encode itself.
            raise InputError(f"context must be a string (it is stored in the array's metadata), not "
                             f"{type(context).__name__}")
        self._context = context
        if context is not None and len(context.encode("utf-8")) > 4096:
            raise InputError("context is longer than 4096 bytes; it names a place, such as the array's path")
        if not isinstance(allow_password, bool):
            raise InputError(f"allow_password must be true or false, not {allow_password!r}")
        self._allow_password = allow_password
        if key is not None:
            self._check_key(key)
        self._key: Key | None = key  # explicit, in-process only; dropped by pickling
        self._resolved: Key | None = None  # cache of the key found through the keyring rules

    # ------------------------------------------------------------------ config, repr, pickling
    def get_config(self) -> dict[str, Any]:
        """The public configuration (JSON-compatible): never the key, only its name."""
        config: dict[str, Any] = {"id": self.codec_id}
        if self._key_id is not None:
            config["key_id"] = self._key_id
        config.update(self._options)
        config["cipher"] = self._cipher
        if self._context is not None:
            config["context"] = self._context
        if self._allow_password:
            config["allow_password"] = True
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Saec:
        config = dict(config)
        config.pop("id", None)
        secret = [name for name in config if name.lower() in _SECRET_NAMES]
        if secret:
            raise InputError(f"a saec config must not hold a secret ({', '.join(secret)}); name the key with "
                             f"key_id and provide it through SAEC_KEYRING or saecodec.keyring.register_key")
        unknown = sorted(set(config) - set(PROFILE_OPTIONS) - {"key_id", "cipher", "context", "allow_password"})
        if unknown:
            raise InputError(f"unknown saec codec option(s): {', '.join(unknown)}")
        return cls(**config)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "id")
        return f"Saec({params})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Saec) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash(json.dumps(self.get_config(), sort_keys=True))

    def __getstate__(self) -> dict[str, Any]:
        """Only the config: the key (explicit or resolved) never travels in a pickle."""
        return self.get_config()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**{k: v for k, v in state.items() if k != "id"})  # type: ignore[misc]

    def __reduce__(self) -> tuple[Any, ...]:
        return (Saec.from_config, (self.get_config(),))

    def __copy__(self) -> Saec:
        """A copy in the same process keeps the explicit key (only pickles drop it)."""
        return Saec(key=self._key, **{k: v for k, v in self.get_config().items() if k != "id"})

    def __deepcopy__(self, memo: dict[int, Any]) -> Saec:
        return self.__copy__()

    # ------------------------------------------------------------------ keys
    @property
    def key_id(self) -> str | None:
        return self._key_id

    @property
    def context(self) -> str | None:
        return self._context

    def _check_key(self, key: object) -> Key:
        if not isinstance(key, (SecretKey, Password)):
            raise InputError("key must be a saecodec SecretKey (or, with allow_password=True, a Password)")
        if isinstance(key, Password) and not self._allow_password:
            raise InputError("a password costs one scrypt run per chunk; use a key file, or pass "
                             "allow_password=True if that cost is acceptable")
        return key

    def resolve_key(self) -> Key:
        """The key this codec uses here: the explicit one, else found by the keyring rules (then cached)."""
        if self._key is not None:
            return self._key
        if self._resolved is None:
            self._resolved = self._check_key(resolve_key(self._key_id, allow_password=self._allow_password))
        return self._resolved

    # ------------------------------------------------------------------ coding
    def encode_chunk(self, buf: Any, context: bytes | str | None) -> bytes:
        """One chunk as a .saec file bound to ``context`` (for adapters that know more than numcodecs)."""
        pixels = check_chunk(buf)
        extra = {} if context is None else {"context": context}
        return _codec.encode(pixels, self.resolve_key(), cipher=self._cipher, **self._options, **extra)

    def decode_chunk(self, buf: Any, context: bytes | str | None) -> np.ndarray:
        """Authenticate and decode one chunk bound to ``context``: (H, W) or (H, W, C) uint8."""
        data = ensure_ndarray_like(buf).reshape(-1).view(np.uint8).tobytes()
        extra = {} if context is None else {"context": context}
        return _codec.decode(data, self.resolve_key(), **extra)

    def encode(self, buf: Any) -> bytes:
        """Encode one uint8 (H, W) or (H, W, 1..4) chunk into the bytes of a .saec file."""
        return self.encode_chunk(buf, self._context)

    def decode(self, buf: Any, out: Any = None) -> np.ndarray:
        """Decode one chunk; with ``out`` the pixels are copied into it (its shape restores an (H, W, 1) axis).

        Without ``out`` a chunk encoded as (H, W, 1) comes back as (H, W): the file records a greyscale
        image, not the singleton axis (zarr reshapes to the chunk shape itself).
        """
        pixels = self.decode_chunk(buf, self._context)
        if out is None:
            return pixels
        target = ensure_ndarray_like(out)
        if target.dtype != np.uint8 or target.size != pixels.size:
            raise FormatError(f"chunk decodes to a uint8 image of shape {pixels.shape}, which does not fit "
                              f"out of shape {target.shape} and dtype {target.dtype}")
        return ndarray_copy(pixels, out)
