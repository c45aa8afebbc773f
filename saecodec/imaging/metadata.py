"""Image metadata carried through a .saec file: EXIF, the ICC colour profile and XMP.

EXIF can hold where a photograph was taken (GPS), so metadata travels only inside the encrypted payload
(the ``meta`` section, spec section 5.6), never in the public header. Its length is public, as every
section's is. The section is a msgpack map of byte strings, packed and parsed here; reading and writing
image files with it is the caller's business (``from_pil`` on encode, ``save_options`` on decode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from ..errors import FormatError, LimitExceededError
from ..format.header import unpack_header_map

__all__ = ["Metadata", "METADATA_KINDS", "from_pil", "pack_metadata", "unpack_metadata", "save_options"]

#: the kinds a writer stores, in the order it writes them (spec section 5.6)
METADATA_KINDS = ("exif", "icc", "xmp")


@dataclass(frozen=True)
class Metadata:
    """Raw metadata blocks: ``exif`` as Pillow writes it (``Exif\\0\\0`` + TIFF), ``icc`` the profile, ``xmp``
    the XML packet. None where the image has none. Reprs show sizes only: EXIF may locate a person."""

    exif: bytes | None = field(default=None, repr=False)
    icc: bytes | None = field(default=None, repr=False)
    xmp: bytes | None = field(default=None, repr=False)

    def __bool__(self) -> bool:
        return any(getattr(self, kind) for kind in METADATA_KINDS)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{kind}={len(getattr(self, kind))} bytes" for kind in METADATA_KINDS if getattr(self, kind))
        return f"Metadata({sizes})"

    @property
    def orientation(self) -> int:
        """The EXIF orientation (1..8; 1 when absent or unreadable): how a viewer should turn the pixels."""
        if not self.exif:
            return 1
        from PIL import Image

        try:
            exif = Image.Exif()
            exif.load(self.exif)
            value = exif.get(0x0112, 1)
        except Exception:  # noqa: BLE001 - a damaged EXIF block only loses the orientation hint
            return 1
        return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _as_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value) or None
    return None


# TIFF tags that describe a TIFF file's own pixel layout, not the photograph: a TIFF's EXIF is every other
# tag of its first IFD (Pillow reads both from one directory).
_TIFF_LAYOUT_TAGS = frozenset({254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 280, 281, 284, 317,
                               320, 322, 323, 324, 325, 338, 339, 340, 341, 347, 530, 531, 532})


def _tiff_exif(image: Any) -> bytes | None:
    try:
        exif = image.getexif()
        for tag in list(exif):
            if tag in _TIFF_LAYOUT_TAGS:
                del exif[tag]
        return exif.tobytes() if len(exif) or exif.get_ifd(0x8825) or exif.get_ifd(0x8769) else None
    except Exception:  # noqa: BLE001 - unreadable tags: keep the pixels, lose the EXIF
        return None


def from_pil(image: Any) -> Metadata:
    """The EXIF, ICC profile and XMP of an opened Pillow image (what its file carried)."""
    info = getattr(image, "info", {}) or {}
    exif = _as_bytes(info.get("exif"))
    if exif is None and getattr(image, "format", None) == "TIFF":
        exif = _tiff_exif(image)
    if exif is not None and not exif.startswith(b"Exif\x00\x00"):
        exif = b"Exif\x00\x00" + exif  # PNG's eXIf chunk holds the TIFF part alone; keep one form
    return Metadata(exif=exif, icc=_as_bytes(info.get("icc_profile")), xmp=_as_bytes(info.get("xmp")))


def pack_metadata(metadata: Metadata, max_bytes: int) -> bytes | None:
    """The plaintext ``meta`` section, or None when there is nothing to keep."""
    if not metadata:
        return None
    mapping = {kind: getattr(metadata, kind) for kind in METADATA_KINDS if getattr(metadata, kind)}
    packed = msgpack.packb(mapping, use_bin_type=True)
    if len(packed) > max_bytes:
        raise LimitExceededError(f"image metadata of {len(packed)} bytes exceeds the limit of {max_bytes} "
                                 "(strip it with strip_metadata=True, or raise Limits.max_metadata_bytes)")
    return packed


def unpack_metadata(section: bytes) -> Metadata:
    """Parse a ``meta`` section; anything but a map of known kinds to non-empty byte strings is FormatError
    (unknown kinds are ignored: a later minor version may add some)."""
    try:
        mapping = unpack_header_map(bytes(section))
    except FormatError:
        raise FormatError("meta section is not a msgpack map with string keys") from None
    values: dict[str, bytes] = {}
    for kind in METADATA_KINDS:
        if kind in mapping:
            value = mapping[kind]
            if type(value) is not bytes or not value:
                raise FormatError(f"meta section: {kind!r} is not a non-empty byte string")
            values[kind] = value
    return Metadata(**values)


def save_options(metadata: Metadata, image_format: str) -> dict[str, Any]:
    """Keyword arguments for ``PIL.Image.save`` that write ``metadata`` into a file of ``image_format``,
    for the formats whose Pillow writer takes them (PNG, JPEG, TIFF, WebP); nothing for the others."""
    fmt = image_format.upper()
    options: dict[str, Any] = {}
    if fmt not in ("PNG", "JPEG", "TIFF", "WEBP", "JPEG2000", "AVIF"):
        return options
    if metadata.icc and fmt != "JPEG2000":
        options["icc_profile"] = metadata.icc
    if metadata.exif and fmt != "JPEG2000":
        options["exif"] = metadata.exif
    if metadata.xmp:
        if fmt in ("JPEG", "WEBP", "AVIF"):
            options["xmp"] = metadata.xmp
        elif fmt == "PNG":
            from PIL import PngImagePlugin

            text = PngImagePlugin.PngInfo()
            text.add_itxt("XML:com.adobe.xmp", metadata.xmp.decode("utf-8", "replace"), zip=True)
            options["pnginfo"] = text
    return options

