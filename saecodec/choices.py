"""The names and choices the ``saec`` command needs to build its parser, importable in a millisecond.

``saec --help`` must not load numpy, Numba or the codec (about a second on a cold machine), so the parser
takes its choices from here. Each value mirrors its source of truth (named beside it); tests/test_cli.py
checks that they agree, so a new cipher or profile cannot be forgotten here.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

__all__ = ["CIPHERS", "PROFILES", "DEFAULT_PROFILE", "PROFILE_OPTIONS", "CHROMA_CHOICES", "DEFAULT_QUALITY",
           "EFFORTS", "OUTPUT_FORMATS", "implied_profile",
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


def implied_profile(given: Iterable[str], table: Mapping[str, Sequence[str]], default: str) -> str:
    """The profile that encode options imply when none is named (the API and the CLI both ask this).

    An option only one profile takes names it (``chroma``: rd, ``level``: paper, ``effort``: overfit; the
    first such option wins when two disagree, and the caller reports the other as not belonging). Without
    one, the default profile if it takes every option; else the first profile in the table that takes the
    first option the default does not (``seed`` alone means the paper's SAE: the slow overfit profile is
    never chosen without ``effort`` or its name). The caller checks that the chosen profile takes them all."""
    names = list(given)
    owners = {name: [p for p, options in table.items() if name in options] for name in names}
    unique = [owners[name][0] for name in names if len(owners[name]) == 1]
    if unique:
        return unique[0]
    foreign = [name for name in names if name not in table[default]]
    if not foreign or not owners[foreign[0]]:
        return default
    return owners[foreign[0]][0]
