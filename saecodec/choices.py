"""The names and choices the ``saec`` command needs to build its parser, importable in a millisecond.

``saec --help`` must not load numpy, Numba or the codec (about a second on a cold machine), so the parser
takes its choices from here. Each value mirrors its source of truth (named beside it); tests/test_cli.py
checks that they agree, so a new cipher or profile cannot be forgotten here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CIPHERS", "PROFILES", "DEFAULT_PROFILE", "PROFILE_OPTIONS", "CHROMA_CHOICES", "DEFAULT_QUALITY",
           "EFFORTS", "OUTPUT_FORMATS",
           "PASSWORD_ENV", "KEY_FILE_ENV", "KEYRING_ENV", "STDIO"]

CIPHERS = ("chacha20", "logistic")  # saecodec.format.header.CIPHERS
PROFILES = ("rd", "paper", "overfit")  # saecodec.codec.PROFILES
DEFAULT_PROFILE = "rd"  # saecodec.codec.DEFAULT_PROFILE
#: the encode options each profile takes that the command line offers (saecodec.profiles.PROFILES[p].options;
#: the API has a few more), in the table's order, which decides the profile options alone imply
PROFILE_OPTIONS = {
    "rd": ("quality", "target_bpp", "target_psnr", "chroma"),
    "paper": ("level", "seed"),
    "overfit": ("quality", "target_bpp", "target_psnr", "effort", "seed"),
}
EFFORTS = ("fast", "default", "best")  # saecodec.profiles.overfit.EFFORTS
CHROMA_CHOICES = ("auto", "444", "420")  # saecodec.profiles.rd.CHROMA_CHOICES
DEFAULT_QUALITY = 75  # saecodec.profiles.rd.DEFAULT_QUALITY
PASSWORD_ENV = "SAEC_PASSWORD"  # saecodec.keyring.PASSWORD_ENV
KEY_FILE_ENV = "SAEC_KEY_FILE"  # saecodec.keyring.KEY_FILE_ENV
KEYRING_ENV = "SAEC_KEYRING"  # saecodec.keyring.KEYRING_ENV

#: the path that means standard input (as an input) or standard output (as -o)
STDIO = "-"

# Decoded images are written losslessly: re-compressing them lossily would measure two codecs at once.
OUTPUT_FORMATS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "png": ("PNG", ".png", {}),
    "tiff": ("TIFF", ".tiff", {}),
    "bmp": ("BMP", ".bmp", {}),
    "webp": ("WEBP", ".webp", {"lossless": True}),
}
