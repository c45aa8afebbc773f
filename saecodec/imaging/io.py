"""Turn whatever the caller gives (a path, a file object, a PIL image, a numpy array) into uint8 pixels.

Supported modes are L, LA, RGB and RGBA. Conversions are the lossless or documented ones: bilevel ("1") to
L, palette ("P"/"PA") to RGB or RGBA. Everything else (16-bit, 32-bit int, float, CMYK, YCbCr, LAB, HSV) is
refused with an ``InputError`` rather than silently changed.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any, BinaryIO, Union

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from ..errors import InputError, LimitExceededError
from ..format.header import MODES
from ..limits import DEFAULT_LIMITS, Limits
from .metadata import Metadata, from_pil, save_options

__all__ = ["ImageSource", "LoadedImage", "load_image", "load_pixels", "to_pil", "to_image_file", "CHANNELS_TO_MODE"]

ImageSource = Union[str, "os.PathLike[str]", BinaryIO, Image.Image, np.ndarray]
CHANNELS_TO_MODE = {colour + int(alpha): mode for mode, (colour, alpha) in MODES.items()}
_CONVERSIONS = {"1": "L", "PA": "RGBA", "La": "LA", "RGBa": "RGBA", "RGBX": "RGB"}


@dataclass(frozen=True)
class LoadedImage:
    """Pixels (H, W, C) uint8, their mode, and the metadata the source carried (empty when stripped)."""

    pixels: np.ndarray
    mode: str
    metadata: Metadata


def _upright(image: Image.Image) -> Image.Image:
    """The pixels turned as the EXIF orientation says, for files that will not carry the EXIF along."""
    try:
        turned = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a damaged EXIF block: keep the pixels as stored
        return image
    return image if turned is None else turned


def _from_pil(image: Image.Image, limits: Limits) -> tuple[np.ndarray, str]:
    width, height = image.size
    limits.check_image(height, width)
    mode = image.mode
    if mode == "P":
        target = "RGBA" if "transparency" in image.info else "RGB"
    elif mode in _CONVERSIONS:
        target = _CONVERSIONS[mode]
    elif mode in MODES:
        target = mode
    else:
        raise InputError(
            f"image mode {mode!r} is not supported: convert it to 8-bit L, LA, RGB or RGBA first"
        )
    try:
        converted = image if target == mode else image.convert(target)
        pixels = np.asarray(converted, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"cannot decode image: {exc}") from None
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return np.ascontiguousarray(pixels), target


def _from_array(array: np.ndarray, limits: Limits) -> tuple[np.ndarray, str]:
    if array.dtype != np.uint8:
        raise InputError(f"image arrays must be uint8, not {array.dtype}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in CHANNELS_TO_MODE:
        raise InputError(f"image arrays must be (H, W) or (H, W, C) with C in 1..4, not {array.shape}")
    limits.check_image(array.shape[0], array.shape[1])
    return np.ascontiguousarray(array), CHANNELS_TO_MODE[array.shape[2]]


def load_pixels(source: Any, limits: Limits = DEFAULT_LIMITS) -> tuple[np.ndarray, str]:
    """Return (H, W, C) uint8 pixels and the mode name; checks the size before decoding any pixel."""
    loaded = load_image(source, limits, keep_metadata=True)
    return loaded.pixels, loaded.mode


def _load_pil(image: Image.Image, limits: Limits, keep_metadata: bool) -> LoadedImage:
    """Keep the metadata and the pixels as stored (EXIF orientation travels with the EXIF), or drop it
    and turn the pixels upright, so that a stripped file still shows the right way up."""
    limits.check_image(image.size[1], image.size[0])
    if keep_metadata:
        return LoadedImage(*_from_pil(image, limits), from_pil(image))
    return LoadedImage(*_from_pil(_upright(image), limits), Metadata())


def load_image(source: Any, limits: Limits = DEFAULT_LIMITS, *, keep_metadata: bool = True) -> LoadedImage:
    """Pixels, mode and (unless ``keep_metadata`` is false) the EXIF, ICC profile and XMP of ``source``.

    Arrays carry no metadata. Sizes are checked before any pixel is decoded."""
    if isinstance(source, np.ndarray):
        return LoadedImage(*_from_array(source, limits), Metadata())
    if isinstance(source, Image.Image):
        return _load_pil(source, limits, keep_metadata)
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies
            with Image.open(source) as image:
                return _load_pil(image, limits, keep_metadata)
    except (InputError, LimitExceededError):
        raise
    except Image.DecompressionBombError as exc:
        raise LimitExceededError(f"image too large: {exc}") from None
    except FileNotFoundError:
        raise InputError(f"no such image file: {os.fspath(source)!r}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InputError(f"cannot read image: {exc}") from None


def to_pil(pixels: np.ndarray) -> Image.Image:
    """A decoded (H, W) or (H, W, C) array as a PIL image; Pillow infers L, LA, RGB or RGBA from the shape."""
    return Image.fromarray(pixels[:, :, 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels)


def to_image_file(pixels: np.ndarray, image_format: str, metadata: Metadata | None = None, **params: Any) -> bytes:
    """Decoded pixels as the bytes of an image file (a Pillow format name such as "PNG"), with the image's
    EXIF, ICC profile and XMP written back where the format takes them: what a decoder hands its user."""
    image = to_pil(pixels)
    options = dict(params)
    if metadata:
        options.update(save_options(metadata, image_format))
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=image_format, **options)
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"cannot save a {image.mode} image as {image_format}: {exc} (png takes every mode)") from None
    return buffer.getvalue()

