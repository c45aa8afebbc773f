"""The codec proper: image -> authenticated .saec bytes and back.

Order of operations on read is the security contract of spec/saec-v1.md: frame, derive keys, verify the tag
over every byte, and only then validate the header in full, decrypt and decode.
"""

from __future__ import annotations

import os
import secrets
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Union

import numpy as np

from .crypto.keys import Key, Password, SecretKey, derive_master_key
from .crypto.keystreams import apply_keystream
from .crypto.mac import compute_tag, verify_tag
from .crypto.subkeys import derive_file_keys
from .errors import FormatError, InputError
from .format.container import Envelope, assemble, read_envelope
from .format.header import (
    CIPHERS,
    FORMAT_MAJOR,
    FORMAT_MINOR,
    NONCE_BYTES,
    WEIGHT_DTYPES,
    CryptoInfo,
    Header,
    ImageInfo,
    KdfParams,
    ModelInfo,
    QuantInfo,
    pack_header,
)
from .imaging.blocks import merge_blocks, split_blocks
from .imaging.io import load_pixels
from .limits import DEFAULT_LIMITS, Limits
from .model.decode import decode_latent
from .model.sae import TrainConfig, train_sae

__all__ = ["encode", "decode", "inspect", "verify", "DataSource", "PAPER_LAYERS"]

PAPER_LAYERS = (64, 16, 4)
BLOCK = 8
DataSource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", BinaryIO]
_WEIGHT_NUMPY = {"f32le": "<f4", "f16le": "<f2"}


def _read_data(source: DataSource) -> bytes:
    """Bytes of a .saec file given as bytes, a path or a binary file object."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise InputError("file objects must be opened in binary mode")
        return bytes(data)
    try:
        with open(source, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InputError(f"cannot read {os.fspath(source)!r}: {exc.strerror}") from None


def _serialise_decoders(decoders: list[list[tuple[np.ndarray, np.ndarray]]], weights: str) -> bytes:
    dtype = _WEIGHT_NUMPY[weights]
    parts = []
    for layers in decoders:
        for w, b in layers:
            parts.append(np.ascontiguousarray(w, dtype=dtype).tobytes())
            parts.append(np.ascontiguousarray(b, dtype=dtype).tobytes())
    return b"".join(parts)


def _parse_decoders(data: bytes, header: Header) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    values = np.frombuffer(data, dtype=_WEIGHT_NUMPY[header.quant.weights]).astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise FormatError("decoder weights are not finite")
    decoders, pos = [], 0
    for _ in range(header.model.models):
        layers = []
        for out, inp in header.model.decoder_shapes():
            w = values[pos : pos + out * inp].reshape(out, inp)
            pos += out * inp
            b = values[pos : pos + out]
            pos += out
            layers.append((w, b))
        decoders.append(layers)
    return decoders


def _quantise(activations: np.ndarray) -> np.ndarray:
    """Sigmoid codes in [0, 1] -> 8-bit codes, q = round(255 a)."""
    return np.clip(np.rint(activations * 255.0), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class _Plan:
    """Validated encoder settings."""

    level: int
    cipher: str
    weights: str
    per_channel: bool


def _plan(level: int, cipher: str, weights: str, per_channel: bool) -> _Plan:
    if level not in (1, 2):
        raise InputError(f"level must be 1 (4:1) or 2 (16:1), not {level!r}")
    if cipher not in CIPHERS:
        raise InputError(f"cipher must be one of {', '.join(CIPHERS)}, not {cipher!r}")
    if weights not in WEIGHT_DTYPES:
        raise InputError(f"weights must be one of {', '.join(WEIGHT_DTYPES)}, not {weights!r}")
    return _Plan(level, cipher, weights, bool(per_channel))


def _check_key(key: Any) -> None:
    if not isinstance(key, (SecretKey, Password)):
        raise InputError("key must be a saecodec SecretKey or Password")


def encode(
    image: Any,
    key: Key,
    *,
    level: int = 1,
    cipher: str = "chacha20",
    seed: int = 0,
    weights: str = "f32le",
    per_channel: bool = False,
    training: TrainConfig | None = None,
    limits: Limits = DEFAULT_LIMITS,
    progress: Callable[[float], None] | None = None,
    _nonce: bytes | None = None,
) -> bytes:
    """Compress ``image`` with a stacked auto-encoder trained on it, encrypt and authenticate it.

    ``level`` 1 stores the 16-unit code (4:1), level 2 the 4-unit code (16:1). Training is seeded by ``seed``:
    the same image and settings give the same model. ``per_channel`` trains one model per colour channel (3x
    the stored weights). ``training`` overrides the schedule (``seed`` then comes from it). ``_nonce`` exists
    only for test vectors: reusing a nonce with the same key reuses a keystream.
    """
    plan = _plan(level, cipher, weights, per_channel)
    config = training if training is not None else TrainConfig(seed=seed)
    _check_key(key)
    pixels, mode = load_pixels(image, limits)
    height, width, _ = pixels.shape
    info = ImageInfo(height, width, mode)
    colour = pixels[:, :, : info.colour_channels]

    groups = [colour[:, :, c : c + 1] for c in range(info.colour_channels)] if plan.per_channel else [colour]
    decoders, codes = [], []
    for index, group in enumerate(groups):
        samples = split_blocks(group, BLOCK)

        def report(fraction: float, index: int = index) -> None:
            if progress is not None:
                progress((index + fraction) / len(groups))

        # One model serves both levels (the paper's premise): train for both, store the chosen level.
        model = train_sae(samples, PAPER_LAYERS, level=None, config=config, progress=report)
        codes.append(_quantise(model.encode(samples, plan.level)))
        decoders.append(model.decoder_for_level(plan.level))
    latent = np.concatenate(codes).tobytes()
    decoder_bytes = _serialise_decoders(decoders, plan.weights)
    sections = [("decoder", len(decoder_bytes)), ("latent", len(latent))]
    payload = decoder_bytes + latent
    if info.has_alpha:
        alpha = zlib.compress(np.ascontiguousarray(pixels[:, :, -1]).tobytes(), 9)
        sections.append(("alpha", len(alpha)))
        payload += alpha

    kdf = key.new_kdf_params() if isinstance(key, Password) else KdfParams("secret-key")
    nonce = secrets.token_bytes(NONCE_BYTES) if _nonce is None else _nonce
    if len(nonce) != NONCE_BYTES:
        raise InputError(f"nonce must be {NONCE_BYTES} bytes")
    header = Header(
        image=info,
        model=ModelInfo(PAPER_LAYERS, plan.level, BLOCK, len(groups)),
        quant=QuantInfo("u8", plan.weights),
        crypto=CryptoInfo(plan.cipher, kdf, nonce),
        sections=tuple(sections),
        version=(FORMAT_MAJOR, FORMAT_MINOR),
    )
    keys = derive_file_keys(derive_master_key(key, kdf, limits), nonce)
    body = assemble(pack_header(header), apply_keystream(plan.cipher, keys.encryption, payload), header.version)
    if progress is not None:
        progress(1.0)
    return body + compute_tag(keys.authentication, body)


def _authenticate(envelope: Envelope, key: Key, limits: Limits) -> tuple[Header, bytes]:
    """Verify the tag, then validate the header; returns it with the file's encryption key."""
    _check_key(key)
    envelope.check_length()
    crypto = CryptoInfo.from_header_map(envelope.header_map, limits)
    keys = derive_file_keys(derive_master_key(key, crypto.kdf, limits), crypto.nonce)
    verify_tag(keys.authentication, envelope.authenticated_part, envelope.tag)
    return Header.from_map(envelope.header_map, envelope.version, limits), keys.encryption


def inspect(data: DataSource, *, limits: Limits = DEFAULT_LIMITS) -> Header:
    """The header of a .saec file, fully validated but NOT authenticated (no key needed)."""
    return read_envelope(_read_data(data), limits).header(limits)


def verify(data: DataSource, key: Key, *, limits: Limits = DEFAULT_LIMITS) -> Header:
    """Check the tag and the header without decoding; raises ``AuthenticationError`` on a wrong key or tampering."""
    header, _ = _authenticate(read_envelope(_read_data(data), limits), key, limits)
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


def decode(data: DataSource, key: Key, *, limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """Authenticate, decrypt and reconstruct: (H, W) uint8 for L, (H, W, C) uint8 otherwise."""
    envelope = read_envelope(_read_data(data), limits)
    header, encryption_key = _authenticate(envelope, key, limits)
    plain = apply_keystream(header.crypto.cipher, encryption_key, envelope.payload)
    sections, pos = {}, 0
    for name, length in header.sections:
        sections[name] = plain[pos : pos + length]
        pos += length
    decoders = _parse_decoders(sections["decoder"], header)
    info, units = header.image, header.model.latent_units
    codes = np.frombuffer(sections["latent"], dtype=np.uint8).reshape(info.colour_channels, -1, units)
    per_channel = header.model.models > 1
    samples = np.concatenate(
        [decode_latent(codes[c] / 255.0, decoders[c if per_channel else 0]) for c in range(info.colour_channels)]
    )
    pixels = merge_blocks(samples, info.height, info.width, info.colour_channels, header.model.block)
    if info.has_alpha:
        pixels = np.concatenate([pixels, _decode_alpha(sections["alpha"], info)[:, :, None]], axis=2)
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels
