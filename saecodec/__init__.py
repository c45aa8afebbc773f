"""saecodec: image compression with a stacked auto-encoder, encrypted and authenticated in a .saec file.

The public API::

    key = saecodec.generate_key()
    data = saecodec.encode("photo.png", key, quality=75)   # bytes of a .saec file (rd profile)
    paper = saecodec.encode("photo.png", key, level=2)     # the paper's SAE at 16:1
    pixels = saecodec.decode(data, key)                    # numpy uint8 array
    header = saecodec.inspect(data)                        # no key needed

Every error raised on purpose is a ``saecodec.SaecError``.
"""

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

__version__ = "0.1.0"

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
