"""The codec proper: image -> authenticated .saec bytes and back.

Order of operations on read is the security contract of spec/saec-v1.md: frame, derive keys, verify the tag
over every byte, and only then validate the header in full, decrypt and decode.
"""

from __future__ import annotations

import os
import secrets
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Union

import numpy as np

from .crypto.keys import Key, Password, SecretKey, derive_master_key
from .crypto.keystreams import apply_keystream
from .crypto.mac import compute_tag, verify_tag
from .crypto.subkeys import derive_file_keys
from .errors import AuthenticationError, FormatError, InputError, LimitExceededError
from .format.container import PREAMBLE_BYTES, TAG_BYTES, Envelope, assemble, read_envelope, read_envelope_from
from .format.header import (
    CIPHERS,
    CONTEXT_VERSION,
    MAX_CONTEXT_BYTES,
    METADATA_VERSION,
    NONCE_BYTES,
    CryptoInfo,
    Header,
    ImageInfo,
    KdfParams,
    pack_header,
)
from .imaging.io import load_image
from .imaging.metadata import Metadata, pack_metadata, unpack_metadata
from .limits import DEFAULT_LIMITS, Limits
from .metrics import psnr
from .model.sae import TrainConfig
from .profiles import DEFAULT_PROFILE, PROFILES as _PROFILE_TABLE, choose_profile, paper
from .profiles.common import PlainImage, Profile

__all__ = ["encode", "encode_with_stats", "EncodeResult", "decode", "decode_image", "DecodedImage", "inspect",
           "verify", "check_encode_options", "DataSource",
           "PAPER_LAYERS", "PROFILES", "DEFAULT_PROFILE"]

PAPER_LAYERS = paper.PAPER_LAYERS
PROFILES = tuple(_PROFILE_TABLE)  # names, for argument choices
DataSource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", BinaryIO]
Context = Union[bytes, bytearray, memoryview, str, None]


def _read_envelope(source: DataSource, limits: Limits) -> Envelope:
    """Frame a .saec file given as bytes, a path or a binary file object. Files and streams are read with
    the framed reader: only as much as the preamble and header announce (bounded by the limits), so a
    path to /dev/zero or an endless pipe fails at its first bytes instead of filling memory."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return read_envelope(bytes(source), limits)
    if hasattr(source, "read"):
        return read_envelope_from(source, limits)
    try:
        with open(source, "rb") as handle:
            return read_envelope_from(handle, limits)
    except OSError as exc:
        raise InputError(f"cannot read {os.fspath(source)!r}: {exc.strerror or exc}") from None


def _check_key(key: Any) -> None:
    if not isinstance(key, (SecretKey, Password)):
        raise InputError("key must be a saecodec SecretKey or Password")


def _context_bytes(context: Context) -> bytes | None:
    """The associated data as bytes (text as UTF-8); None when the file is not bound to a place."""
    if context is None:
        return None
    if isinstance(context, str):
        context = context.encode("utf-8")
    elif isinstance(context, (bytes, bytearray, memoryview)):
        context = bytes(context)
    else:
        raise InputError(f"context must be bytes or str, not {type(context).__name__}")
    if len(context) > MAX_CONTEXT_BYTES:
        raise InputError(f"context of {len(context)} bytes is longer than {MAX_CONTEXT_BYTES}")
    return context


@dataclass(frozen=True)
class EncodeResult:
    """A .saec file and what it achieved, measured on exactly the pixels ``decode`` will return."""

    data: bytes = field(repr=False)
    profile: str
    bpp: float  # whole file, every byte counted, per pixel
    psnr: float  # dB over the colour channels (alpha is lossless); inf when exact
    header: Header = field(repr=False)

    @property
    def file_bytes(self) -> int:
        return len(self.data)


def check_encode_options(profile: str | None = None, cipher: str = "chacha20", **options: Any) -> tuple[Profile, Any]:
    """Validate ``encode``'s profile and options without encoding: the chosen profile and its settings.

    Adapters (numcodecs, zarr, Pillow, batch) call this when they are configured, so a bad option fails
    there and then rather than on the first chunk."""
    if cipher not in CIPHERS:
        raise InputError(f"cipher must be one of {', '.join(CIPHERS)}, not {cipher!r}")
    chosen = choose_profile(profile, options)
    return chosen, chosen.settings(**{name: options.get(name) for name in chosen.options})


def encode_with_stats(
    image: Any,
    key: Key,
    *,
    profile: str | None = None,
    quality: float | None = None,
    target_bpp: float | None = None,
    target_psnr: float | None = None,
    chroma: str | None = None,
    effort: str | None = None,
    level: int | None = None,
    cipher: str = "chacha20",
    seed: int | None = None,
    weights: str | None = None,
    per_channel: bool | None = None,
    training: TrainConfig | None = None,
    context: Context = None,
    strip_metadata: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    progress: Callable[[float], None] | None = None,
) -> EncodeResult:
    """Like :func:`encode`, and also report the file's true bits per pixel and the PSNR it decodes to."""
    return _encode(
        image, key, secrets.token_bytes(NONCE_BYTES), profile=profile, quality=quality, target_bpp=target_bpp,
        target_psnr=target_psnr, chroma=chroma, effort=effort, level=level, cipher=cipher, seed=seed, weights=weights, per_channel=per_channel,
        training=training, context=context, strip_metadata=strip_metadata, limits=limits, progress=progress,
    )


def _encode(
    image: Any,
    key: Key,
    nonce: bytes,
    *,
    profile: str | None = None,
    quality: float | None = None,
    target_bpp: float | None = None,
    target_psnr: float | None = None,
    chroma: str | None = None,
    effort: str | None = None,
    level: int | None = None,
    cipher: str = "chacha20",
    seed: int | None = None,
    weights: str | None = None,
    per_channel: bool | None = None,
    training: TrainConfig | None = None,
    context: Context = None,
    strip_metadata: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    progress: Callable[[float], None] | None = None,
) -> EncodeResult:
    """The encoder with the nonce given: only for test vectors and golden files (saecodec._testing), since
    reusing a nonce with the same key reuses a keystream."""
    chosen, settings = check_encode_options(
        profile, cipher, quality=quality, target_bpp=target_bpp, target_psnr=target_psnr, chroma=chroma,
        effort=effort, level=level, seed=seed, weights=weights, per_channel=per_channel, training=training)
    _check_key(key)
    if len(nonce) != NONCE_BYTES:
        raise InputError(f"nonce must be {NONCE_BYTES} bytes")
    bound = _context_bytes(context)
    loaded = load_image(image, limits, keep_metadata=not strip_metadata)
    pixels, mode = loaded.pixels, loaded.mode
    meta = pack_metadata(loaded.metadata, limits.max_metadata_bytes)
    height, width, _ = pixels.shape
    info = ImageInfo(height, width, mode)
    colour = pixels[:, :, : info.colour_channels]
    alpha = zlib.compress(np.ascontiguousarray(pixels[:, :, -1]).tobytes(), 9) if info.has_alpha else None

    kdf = key.new_kdf_params() if isinstance(key, Password) else KdfParams("secret-key")
    crypto = CryptoInfo(cipher, kdf, nonce, bound is not None)

    def header_for(plain: PlainImage) -> Header:
        sections = [(name, len(data)) for name, data in plain.sections]
        if alpha is not None:
            sections.append(("alpha", len(alpha)))
        if meta is not None:
            sections.append(("meta", len(meta)))
        # A file is written as the first version that has every feature it uses (spec section 8).
        version = plain.version
        if bound is not None:
            version = max(version, CONTEXT_VERSION)
        if meta is not None:
            version = max(version, METADATA_VERSION)
        return Header(info, plain.model, plain.quant, crypto, tuple(sections), version)

    def file_size(plain: PlainImage) -> int:
        header = header_for(plain)
        return PREAMBLE_BYTES + len(pack_header(header)) + header.payload_length + TAG_BYTES

    plain = chosen.encode(colour, info, settings, file_size, progress)
    header = header_for(plain)
    payload = b"".join(data for _, data in plain.sections) + (alpha or b"") + (meta or b"")
    keys = derive_file_keys(derive_master_key(key, kdf, limits), nonce)
    body = assemble(pack_header(header), apply_keystream(cipher, keys.encryption, payload), header.version)
    data = body + compute_tag(keys.authentication, body, bound)
    if len(data) > limits.max_file_bytes:  # never write what a reader under these limits refuses (spec 8)
        raise LimitExceededError(f"the file would be {len(data)} bytes, over the limit of {limits.max_file_bytes}")
    # Decoded from the plaintext sections by the decoder itself (entropy decoding included), so the PSNR
    # reported is that of exactly what decode() will return, for either profile.
    decoded = _reconstruct_colour(header, dict(plain.sections))
    if progress is not None:
        progress(1.0)
    return EncodeResult(data, chosen.name, 8.0 * len(data) / (height * width), psnr(decoded, colour), header)


def encode(
    image: Any,
    key: Key,
    *,
    profile: str | None = None,
    quality: float | None = None,
    target_bpp: float | None = None,
    target_psnr: float | None = None,
    chroma: str | None = None,
    effort: str | None = None,
    level: int | None = None,
    cipher: str = "chacha20",
    seed: int | None = None,
    weights: str | None = None,
    per_channel: bool | None = None,
    training: TrainConfig | None = None,
    context: Context = None,
    strip_metadata: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    progress: Callable[[float], None] | None = None,
) -> bytes:
    """Compress ``image``, encrypt and authenticate it; returns the bytes of a .saec file.

    Profiles: ``"rd"`` (the default; format 1.1) codes YCbCr planes with a linear auto-encoder of stock DCT
    weights and an entropy coder, at ``quality`` 0-100 (default 75) or at a ``target_bpp`` (whole file) or
    ``target_psnr`` (dB) found by searching the quantiser; ``chroma`` "444", "420" or "auto" (default:
    4:2:0 below about quality 25, where it wins at equal size, 4:4:4 above).
    ``"paper"`` (format 1.0; chosen when a paper option such as ``level`` or ``seed`` is given) trains the
    paper's 64-16-4 SAE on the image: ``level`` 1 stores the 16-unit code (4:1), 2 the 4-unit code (16:1);
    ``seed`` seeds training, ``per_channel`` trains one model per colour channel, ``weights`` "f32le" or
    "f16le", ``training`` overrides the schedule (and carries its own seed).
    ``"overfit"`` (format 1.3) trains latent grids and a small synthesis network on the image (Cool-chic's
    design) at ``quality``, ``target_bpp`` or ``target_psnr``; ``effort`` "fast", "default" or "best" buys
    quality with encode time (seconds to minutes), ``seed`` seeds training. A ``progress`` callable with a
    ``training_status`` method is also told the step, loss, bpp, PSNR and time left. ``cipher`` is "chacha20" (default) or "logistic" (the paper's chaotic map; not secure
    alone, authenticated by the HMAC).
    The EXIF, ICC profile and XMP of an image file or PIL image are kept, encrypted in the payload (never in
    the public header), and :func:`decode_image` returns them; pixels are stored as they are and the EXIF
    orientation travels with the EXIF. ``strip_metadata=True`` drops them and turns the pixels upright
    first, so the file still shows the right way up.
    ``context`` (bytes, or text as UTF-8) binds the file to where it is stored (an object key, a chunk's
    coordinates): the tag covers it, the file does not hold it, and only ``decode(..., context=)`` with the
    same value opens the file. The header says that a context is bound, not what it is.
    """
    return encode_with_stats(
        image, key, profile=profile, quality=quality, target_bpp=target_bpp, target_psnr=target_psnr, chroma=chroma, effort=effort, level=level, cipher=cipher, seed=seed, weights=weights, per_channel=per_channel,
        training=training, context=context, strip_metadata=strip_metadata, limits=limits, progress=progress,
    ).data


def _authenticate(envelope: Envelope, key: Key, limits: Limits, bound: bytes | None) -> tuple[Header, bytes]:
    """Verify the tag (over ``bound`` and the file), then validate the header; returns it with the file's
    encryption key."""
    envelope.check_length()
    crypto = CryptoInfo.from_header_map(envelope.header_map, limits)
    if crypto.context_bound and bound is None:
        raise AuthenticationError("authentication failed: the file is bound to a context (where it is stored) "
                                  "and none was given")
    if bound is not None and not crypto.context_bound:
        raise AuthenticationError("authentication failed: a context was given but the file is not bound to one")
    keys = derive_file_keys(derive_master_key(key, crypto.kdf, limits), crypto.nonce)
    verify_tag(keys.authentication, envelope.authenticated_part, envelope.tag, bound)
    return Header.from_map(envelope.header_map, envelope.version, limits), keys.encryption


def inspect(data: DataSource, *, limits: Limits = DEFAULT_LIMITS) -> Header:
    """The header of a .saec file, fully validated but NOT authenticated (no key needed)."""
    return _read_envelope(data, limits).header(limits)


def verify(data: DataSource, key: Key, *, context: Context = None, limits: Limits = DEFAULT_LIMITS) -> Header:
    """Check the tag and the header without decoding; raises ``AuthenticationError`` on a wrong key, a wrong or
    missing ``context``, or tampering."""
    _check_key(key)
    bound = _context_bytes(context)
    header, _ = _authenticate(_read_envelope(data, limits), key, limits, bound)
    return header


def _decode_alpha(data: bytes, info: ImageInfo) -> np.ndarray:
    expected = info.height * info.width
    inflater = zlib.decompressobj()
    try:
        plane = inflater.decompress(data, expected)
    except zlib.error:
        raise FormatError("alpha section is not a valid zlib stream") from None
    if len(plane) != expected or inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
        raise FormatError("alpha section does not inflate to exactly one plane")
    return np.frombuffer(plane, dtype=np.uint8).reshape(info.height, info.width)


def _reconstruct_colour(header: Header, sections: dict[str, bytes]) -> np.ndarray:
    return _PROFILE_TABLE[header.profile].reconstruct(header, sections)


@dataclass(frozen=True)
class DecodedImage:
    """What a .saec file holds: the pixels, the image metadata it carried (EXIF, ICC, XMP; empty if none or
    stripped on encode) and its authenticated header."""

    pixels: np.ndarray = field(repr=False)
    metadata: Metadata
    header: Header = field(repr=False)


def decode_image(
    data: DataSource, key: Key, *, context: Context = None, limits: Limits = DEFAULT_LIMITS
) -> DecodedImage:
    """Like :func:`decode`, and also return the file's metadata and header (to write the EXIF and colour
    profile back into an image file, or to honour the EXIF orientation)."""
    _check_key(key)
    bound = _context_bytes(context)
    envelope = _read_envelope(data, limits)
    header, encryption_key = _authenticate(envelope, key, limits, bound)
    try:  # within the limits memory is the output and the file's size (spec section 7); a machine may have less
        plain = apply_keystream(header.crypto.cipher, encryption_key, envelope.payload)
        sections, pos = {}, 0
        for name, length in header.sections:
            sections[name] = plain[pos : pos + length]
            pos += length
        pixels = _reconstruct_colour(header, sections)
        if header.image.has_alpha:
            pixels = np.concatenate([pixels, _decode_alpha(sections["alpha"], header.image)[:, :, None]], axis=2)
        metadata = unpack_metadata(sections["meta"]) if header.has_metadata else Metadata()
    except MemoryError:
        raise LimitExceededError(f"not enough memory to decode a {header.image.width}x{header.image.height} "
                                 "image") from None
    return DecodedImage(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels, metadata, header)


def decode(data: DataSource, key: Key, *, context: Context = None, limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """Authenticate, decrypt and reconstruct: (H, W) uint8 for L, (H, W, C) uint8 otherwise.

    A file bound to a context (see :func:`encode`) opens only with the same ``context``."""
    return decode_image(data, key, context=context, limits=limits).pixels
