"""Image metadata (EXIF, ICC, XMP): kept encrypted in the payload, never in the header; stripped on request."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import saecodec
from saecodec.imaging.metadata import save_options
from tests.conftest import synthetic_image

SECRET_PLACE = "Rue Secrete 7"  # stands for what a GPS tag gives away
ICC = bytes(range(256)) * 3
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'


def exif_bytes(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010E] = SECRET_PLACE  # ImageDescription
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.0)
    return exif.tobytes()


def photo(fmt: str = "JPEG", orientation: int = 1, size=(24, 16)) -> bytes:
    image = Image.fromarray(synthetic_image(size[1], size[0], 3, seed=3))
    buffer = io.BytesIO()
    options = {"exif": exif_bytes(orientation), "icc_profile": ICC}
    if fmt in ("JPEG", "WEBP"):
        options["xmp"] = XMP
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "WEBP"])
def test_metadata_round_trips_encrypted(key, fmt):
    source = photo(fmt)
    data = saecodec.encode(source, key, quality=80)
    header = saecodec.inspect(data)
    assert header.version == (1, 2) and header.has_metadata
    result = saecodec.decode_image(data, key)
    with Image.open(io.BytesIO(source)) as original:
        expected_exif = original.getexif()
    restored = Image.Exif()
    restored.load(result.metadata.exif)
    if fmt == "TIFF":  # a TIFF's own layout tags (width, strips, ...) are not the photograph's EXIF
        assert {t: restored.get(t) for t in (0x0112, 0x010E)} == {t: expected_exif.get(t) for t in (0x0112, 0x010E)}
        assert 256 not in restored
    else:
        assert dict(restored) == dict(expected_exif)
    assert restored.get_ifd(0x8825) == expected_exif.get_ifd(0x8825)
    assert result.metadata.exif.startswith(b"Exif\x00\x00")
    assert result.metadata.icc == ICC
    if fmt in ("JPEG", "WEBP"):
        assert result.metadata.xmp == XMP
    assert np.array_equal(result.pixels, saecodec.decode(data, key))


def test_metadata_is_never_in_the_clear(key):
    data = saecodec.encode(photo(), key, quality=80)
    assert SECRET_PLACE.encode() not in data
    assert ICC[:64] not in data
    assert SECRET_PLACE not in repr(saecodec.inspect(data).to_json_dict())
    assert SECRET_PLACE not in repr(saecodec.decode_image(data, key))  # reprs show sizes only


def test_orientation_is_kept_with_the_pixels_as_stored(key):
    data = saecodec.encode(photo(orientation=6), key, quality=80)
    result = saecodec.decode_image(data, key)
    assert result.pixels.shape[:2] == (16, 24)  # stored as the file stores them
    assert result.metadata.orientation == 6  # a viewer turns them, as it did the original


def test_strip_metadata_drops_everything_and_turns_pixels_upright(key):
    data = saecodec.encode(photo(orientation=6), key, quality=80, strip_metadata=True)
    header = saecodec.inspect(data)
    assert not header.has_metadata and header.version == (1, 1)
    result = saecodec.decode_image(data, key)
    assert not result.metadata and result.metadata.orientation == 1
    assert result.pixels.shape[:2] == (24, 16)  # orientation 6 applied before coding


def test_arrays_carry_no_metadata_and_keep_older_versions(key):
    image = synthetic_image(16, 24, 3)
    assert saecodec.inspect(saecodec.encode(image, key, quality=70)).version == (1, 1)
    assert saecodec.inspect(saecodec.encode(image, key, level=1)).version == (1, 0)


def test_metadata_over_the_limit_is_refused_on_write_and_read(key):
    small = saecodec.Limits(max_metadata_bytes=200)
    with pytest.raises(saecodec.LimitExceededError, match="strip_metadata"):
        saecodec.encode(photo(), key, quality=80, limits=small)
    data = saecodec.encode(photo(), key, quality=80)
    with pytest.raises(saecodec.LimitExceededError):
        saecodec.decode(data, key, limits=small)
    with pytest.raises(saecodec.LimitExceededError):
        saecodec.inspect(data, limits=small)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "WEBP"])
def test_decoded_metadata_can_be_written_back_into_an_image_file(key, fmt):
    result = saecodec.decode_image(saecodec.encode(photo(), key, quality=80), key)
    buffer = io.BytesIO()
    Image.fromarray(result.pixels).save(buffer, format=fmt, **save_options(result.metadata, fmt))
    with Image.open(io.BytesIO(buffer.getvalue())) as written:
        assert written.info.get("icc_profile") == ICC
        assert written.getexif().get(0x010E) == SECRET_PLACE
        if fmt in ("PNG", "JPEG", "WEBP"):
            assert XMP.decode() in str(written.info.get("xmp", written.info.get("XML:com.adobe.xmp", "")))


def test_formats_without_metadata_support_get_no_options():
    meta = saecodec.Metadata(exif=b"Exif\x00\x00x", icc=b"i", xmp=b"x")
    assert save_options(meta, "BMP") == {}
    assert save_options(saecodec.Metadata(), "PNG") == {}
