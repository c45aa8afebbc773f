"""saecodec: image compression with a stacked auto-encoder, encrypted and authenticated in a .saec file.

The public API::

    key = saecodec.generate_key()
    data = saecodec.encode("photo.png", key, quality=75)   # bytes of a .saec file (rd profile)
    paper = saecodec.encode("photo.png", key, level=2)     # the paper's SAE at 16:1
    pixels = saecodec.decode(data, key)                    # numpy uint8 array
    header = saecodec.inspect(data)                        # no key needed

Every error raised on purpose is a ``saecodec.SaecError``.

The names are imported on first use (PEP 562): ``import saecodec`` costs nothing, so that the ``saec``
command answers ``--help`` and reacts to Ctrl-C before numpy, Numba and the codec are loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the submodule that defines it
_EXPORTS: dict[str, str] = {
    "encode": "codec",
    "encode_with_stats": "codec",
    "EncodeResult": "codec",
    "decode": "codec",
    "decode_image": "codec",
    "DecodedImage": "codec",
    "inspect": "codec",
    "verify": "codec",
    "Metadata": "imaging.metadata",
    "generate_key": "crypto.keys",
    "load_key": "crypto.keys",
    "save_key": "crypto.keys",
    "key_from_password": "crypto.keys",
    "SecretKey": "crypto.keys",
    "Password": "crypto.keys",
    "Header": "format.header",
    "Limits": "limits",
    "DEFAULT_LIMITS": "limits",
    "TrainConfig": "model.sae",
    "SaecError": "errors",
    "InputError": "errors",
    "KeyFileError": "errors",
    "FormatError": "errors",
    "TruncatedError": "errors",
    "UnsupportedVersionError": "errors",
    "UnsupportedFeatureError": "errors",
    "LimitExceededError": "errors",
    "AuthenticationError": "errors",
}

__all__ = [
    "encode",
    "encode_with_stats",
    "EncodeResult",
    "decode",
    "decode_image",
    "DecodedImage",
    "Metadata",
    "inspect",
    "verify",
    "generate_key",
    "load_key",
    "save_key",
    "key_from_password",
    "SecretKey",
    "Password",
    "Header",
    "Limits",
    "TrainConfig",
    "DEFAULT_LIMITS",
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


def __getattr__(name: str) -> Any:
    """A public name's first use imports its module; any other name may be a submodule (saecodec.metrics)."""
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value
    if not name.startswith("__"):
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .codec import DecodedImage, EncodeResult, decode, decode_image, encode, encode_with_stats, inspect, verify
    from .crypto.keys import Password, SecretKey, generate_key, key_from_password, load_key, save_key
    from .errors import (
        AuthenticationError,
        FormatError,
        InputError,
        KeyFileError,
        LimitExceededError,
        SaecError,
        TruncatedError,
        UnsupportedFeatureError,
        UnsupportedVersionError,
    )
    from .format.header import Header
    from .imaging.metadata import Metadata
    from .limits import DEFAULT_LIMITS, Limits
    from .model.sae import TrainConfig
