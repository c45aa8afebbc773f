"""Pillow (and so imageio) support for .saec files: ``import saecodec.pillow`` and Pillow reads and writes them.

A thin adapter over the public API (:func:`saecodec.inspect`, :func:`saecodec.decode`, :func:`saecodec.encode`
and :mod:`saecodec.keyring`); the codec itself is not touched. ::

    import saecodec.pillow
    from PIL import Image

    saecodec.pillow.set_key(saecodec.load_key("my.key"))    # or $SAEC_KEY_FILE, $SAEC_KEYRING + key_id, ...
    im = Image.open("photo.saec")        # size and mode from the public header: no key needed yet
    im.load()                            # authenticate + decrypt now (AuthenticationError on a wrong key)
    im.save("copy.saec", quality=60)     # any saecodec.encode option, plus key=, key_id=, context=

    import imageio.v3 as iio
    pixels = iio.imread("photo.saec")    # through imageio's Pillow plugin

Why lazy: ``Image.open`` is how applications sniff a file (size, mode), and a key is a secret that the
sniffing code should not need. Pixels are decrypted only on ``load()`` (which ``convert``, ``np.asarray``,
``save`` ... call). A failed ``load()`` raises saecodec's error (``AuthenticationError``, ``KeyFileError``,
``FormatError`` ...) and leaves the image unloaded, so it never yields half an image, and the next
``load()`` raises again.

Where the key comes from, first match wins:

1. ``key=`` given to :func:`open` (reading) or to ``save`` (writing);
2. ``key_id=`` given to :func:`open` / ``save``, else the one remembered by :func:`set_key`: the key
   registered under that id in this process, else ``$SAEC_KEYRING/<key_id>.key``;
3. no key id: the key registered by ``set_key(key)`` (the process default of :mod:`saecodec.keyring`), else
   the key file ``$SAEC_KEY_FILE``, else the password ``$SAEC_PASSWORD``.

A key that cannot be found is a ``KeyFileError`` naming every place looked at. Keys are never stored on the
image's ``info``, its ``encoderinfo`` after ``save``, or in any message.

What is bound, what is not: the key and every header field (size, mode, profile, cipher, ...) are
authenticated by the file's tag. The file NAME is not bound: .saec files are renamed and copied freely,
and Pillow and imageio pass names around, so binding it by default would make ordinary copies undecodable.
To bind a file to where it belongs, give ``context=`` (bytes or str: e.g. a record id or a URL) to ``save``
and the same context to :func:`open` (or process-wide with :func:`set_context`); a file decoded under any
other context, or none, is an ``AuthenticationError``.

File sizes are bounded on read: a file is read exactly as far as its header announces, and a header that
announces more than ``Limits.max_file_bytes`` of the :class:`saecodec.Limits` in force is a
``LimitExceededError`` before the payload is read (:func:`open` takes tighter ``limits=``). One caveat is Pillow's, not
ours: ``Image.open`` reads a NON-seekable source (a pipe, a socket) to its end before any plugin sees it;
:func:`open` does not, so use it for those.
"""

from __future__ import annotations

import os
import threading
from contextvars import ContextVar
from typing import IO, Any, Union

import numpy as np
from PIL import Image, ImageFile

from . import keyring
from .codec import decode_image, encode, inspect, verify
from .profiles import PROFILES
from .crypto.keys import Key, Password, SecretKey
from .errors import InputError
from .format.container import MAGIC, read_envelope_from
from .format.header import Header
from .limits import DEFAULT_LIMITS, Limits

__all__ = [
    "FORMAT",
    "EXTENSION",
    "MIME",
    "SaecImageFile",
    "register",
    "set_key",
    "set_context",
    "open",
    "max_file_bytes",
    "SAVE_OPTIONS",
]

FORMAT = "SAEC"
EXTENSION = ".saec"
MIME = "image/x-saec"
Context = Union[bytes, str, None]

# saecodec.encode's keywords that a Pillow save may pass through, plus the adapter's own key/key_id/context.
# Every profile's options, from the profile table: a new profile's options work here without an edit.
_ENCODE_OPTIONS = ("profile", "cipher", "strip_metadata", "limits") + tuple(
    option for profile in PROFILES.values() for option in profile.options)
SAVE_OPTIONS = _ENCODE_OPTIONS + ("key", "key_id", "context")



class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()

_lock = threading.Lock()
_open_limits: ContextVar[Limits] = ContextVar("saecodec_pillow_limits", default=DEFAULT_LIMITS)
_state: dict[str, Any] = {"key_id": None, "registered": False, "context": None}


def max_file_bytes(limits: Limits = DEFAULT_LIMITS) -> int:
    """The largest .saec file the reader will take under ``limits`` (``Limits.max_file_bytes``)."""
    return limits.max_file_bytes


def _check_context(context: object) -> Context:
    """Fail at the call that sets a context, not at a later load(); buffers are copied to bytes."""
    if isinstance(context, (bytearray, memoryview)):
        return bytes(context)
    if context is not None and not isinstance(context, (bytes, str)):
        raise InputError(f"context must be bytes, str or None, not {type(context).__name__}")
    return context


def _check_key(key: object) -> Key | None:
    if key is not None and not isinstance(key, (SecretKey, Password)):
        raise InputError("key must be a saecodec SecretKey or Password")
    return key


def set_key(key: Key | None = None, key_id: str | None = None) -> None:
    """Choose the key the plugin uses when a call names none.

    ``set_key(key)`` registers ``key`` as this process's default key (:func:`saecodec.keyring.register_key`);
    ``set_key(key, key_id)`` registers it under ``key_id`` and makes that id the plugin's default;
    ``set_key(key_id=...)`` only names the id (found in the registry or ``$SAEC_KEYRING``);
    ``set_key()`` forgets both (unregistering only what ``set_key`` registered).
    """
    _check_key(key)
    keyring.check_key_id(key_id)
    with _lock:
        if _state["registered"]:
            keyring.unregister_key(_state["key_id"])
        if key is not None:
            keyring.register_key(key, key_id)
        _state.update(key_id=key_id, registered=key is not None)


def set_context(context: Context) -> None:
    """The associated data (bytes or str) every read and write uses unless given its own; None for none."""
    context = _check_context(context)
    with _lock:
        _state["context"] = context


def _resolve(key: Key | None, key_id: str | None) -> Key:
    if key is not None:
        return key
    if key_id is None:
        with _lock:
            key_id = _state["key_id"]
    return keyring.resolve_key(key_id)


def _context(context: Any) -> Context:
    """A per-call context, else the process default of :func:`set_context`."""
    if context is _UNSET:
        with _lock:
            return _state["context"]
    return context


def _accept(prefix: bytes) -> bool:
    """The 8-byte magic; also a file shorter than it that starts like it (from "\\x89S", which PNG's
    "\\x89P" is not), so a cut-off .saec file is a TruncatedError rather than "cannot identify"."""
    return prefix[: len(MAGIC)] == MAGIC or (2 <= len(prefix) < len(MAGIC) and MAGIC.startswith(prefix))


class SaecImageFile(ImageFile.ImageFile):
    """A .saec file as a Pillow image: header read on open, pixels authenticated and decrypted on load()."""

    format = FORMAT
    format_description = "saecodec encrypted image"

    # Per-image overrides set by saecodec.pillow.open(); the class defaults mean "use the process rules".
    _saec_key: Key | None = None
    _saec_key_id: str | None = None
    _saec_context: Any = _UNSET
    _saec_limits: Limits
    _saec_data: bytes | None = None
    saec_header: Header

    def _open(self) -> None:
        assert self.fp is not None
        self._saec_limits = _open_limits.get()
        # The whole file is read here, exactly as far as its header announces (within Limits.max_file_bytes):
        # load() then needs no file handle, so the image survives its file being closed or replaced.
        data = read_envelope_from(self.fp, self._saec_limits).data
        header = inspect(data, limits=self._saec_limits)
        self.saec_header = header
        self._saec_data = data
        self._size = (header.image.width, header.image.height)
        self._mode = header.image.mode
        self.info["saec_profile"] = header.profile
        self.info["saec_cipher"] = header.crypto.cipher
        self.info["saec_context_bound"] = header.crypto.context_bound  # then load() needs the same context
        self.tile = []

    def load(self) -> Any:
        """Authenticate and decrypt on first use; on failure raise and stay unloaded."""
        if self._im is None:
            if self._saec_data is None:
                raise InputError("this .saec image has no data left to decode")
            key = _resolve(self._saec_key, self._saec_key_id)
            result = decode_image(self._saec_data, key, limits=self._saec_limits,
                                  context=_context(self._saec_context))
            decoded = Image.fromarray(np.ascontiguousarray(result.pixels))
            if decoded.mode != self.mode:  # the header authenticated the mode; anything else is our bug
                raise InputError(f"decoded mode {decoded.mode} does not match the header's {self.mode}")
            decoded.load()
            # L pixels may be mapped from the array (read-only, kept alive by the core); Pillow copies on write.
            self.im = decoded.im
            self.readonly = decoded.readonly
            # The metadata was encrypted with the pixels: it appears only now, where Pillow's writers look.
            for name, value in (("exif", result.metadata.exif), ("icc_profile", result.metadata.icc),
                                ("xmp", result.metadata.xmp)):
                if value:
                    self.info[name] = value
            self._saec_data = None
            if self.fp is not None and self._exclusive_fp and self._close_exclusive_fp_after_loading:
                self.fp.close()
            self.fp = None
        return Image.Image.load(self)

    def verify(self) -> None:
        """Pillow's integrity check, made real: verify the tag (needs the key) without decoding pixels."""
        if self._saec_data is not None:
            verify(self._saec_data, _resolve(self._saec_key, self._saec_key_id), limits=self._saec_limits,
                   context=_context(self._saec_context))
        super().verify()


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    """Pillow's save handler: ``im.save(path, quality=..., key=..., context=...)`` through saecodec.encode."""
    options = dict(im.encoderinfo)
    # Pillow keeps the save() keywords as im._default_encoderinfo: do not leave the key behind on the image.
    default_options = getattr(im, "_default_encoderinfo", None)
    if isinstance(default_options, dict):
        default_options.pop("key", None)
    unknown = sorted(set(options) - set(SAVE_OPTIONS))
    if unknown:
        raise InputError(
            f"unknown .saec save option(s) {', '.join(map(repr, unknown))}; known: {', '.join(SAVE_OPTIONS)}"
        )
    key = _check_key(options.pop("key", None))
    key_id = keyring.check_key_id(options.pop("key_id", None))
    context = options.pop("context", _UNSET)
    if context is not _UNSET:
        context = _check_context(context)
    # None means "not given" for every codec option, so ``im.save(p, quality=None)`` is a plain save.
    codec_options = {name: value for name, value in options.items() if value is not None}
    fp.write(encode(im, _resolve(key, key_id), **codec_options, context=_context(context)))


def open(
    fp: str | os.PathLike[str] | IO[bytes],
    *,
    key: Key | None = None,
    key_id: str | None = None,
    context: Context = _UNSET,
    limits: Limits = DEFAULT_LIMITS,
) -> SaecImageFile:
    """Open a .saec file as a Pillow image with its own key, key id, context or limits.

    Equivalent to ``Image.open(fp, formats=["SAEC"])`` plus per-image settings that override the process
    ones (``context=None`` here means "no context" even if :func:`set_context` set one). Nothing is
    decrypted until ``load()``.
    """
    _check_key(key)
    keyring.check_key_id(key_id)
    if context is not _UNSET:
        context = _check_context(context)
    if not isinstance(limits, Limits):
        raise InputError("limits must be a saecodec.Limits")
    token = _open_limits.set(limits)  # _open runs inside Pillow's constructor: hand it the limits this way
    try:
        # Given a path, Pillow opens the file itself and closes it once the image is loaded or closed.
        image = SaecImageFile(os.fspath(fp) if isinstance(fp, (str, os.PathLike)) else fp)
    except FileNotFoundError:
        raise InputError(f"no such file: {os.fspath(fp)!r}") from None
    except SyntaxError:  # Pillow's "not identified by this driver"
        raise InputError("not a .saec image") from None
    finally:
        _open_limits.reset(token)
    image._saec_key, image._saec_key_id, image._saec_context = key, key_id, context
    return image


def register() -> None:
    """Register the SAEC format with Pillow (open, save, ``.saec``, ``image/x-saec``); safe to call again."""
    Image.register_open(FORMAT, SaecImageFile, _accept)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, EXTENSION)
    Image.register_mime(FORMAT, MIME)


register()
