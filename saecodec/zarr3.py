"""``SaecCodec``: saecodec as a zarr format 3 array-to-bytes codec (``{"name": "saec"}``), binding each chunk
to its position in the array.

Why an ``ArrayBytesCodec`` of our own rather than numcodecs' zarr3 wrapper: saec codes pixels, so it must
see the chunk as an array of its real shape (only the array-to-bytes stage does), and zarr 3's codec
pipeline tells a codec where a chunk lives only through the partial-coding mixins: when the array-to-bytes
codec is the array's *only* codec, the pipeline calls ``_decode_partial_single(byte_getter, ...)`` /
``_encode_partial_single(byte_setter, ...)`` with the chunk's ``StorePath``, whose key ends in the chunk's
grid coordinates (``.../c/1/0``). ``ArraySpec`` itself carries shape, dtype, fill value and order, never
coordinates. So this codec binds, as the .saec file's associated data::

    b"saecodec.zarr3/1 chunk=<i,j[,k]> shape=<H>x<W>[x<C>]\\n" + <config context, UTF-8>

- the chunk's grid coordinates, parsed from the end of its store key (so renaming or moving the array or
  the store keeps it readable, while two chunks swapped within the array fail with AuthenticationError);
- the chunk shape;
- the optional ``context`` string of the config (e.g. the array's path, to detect chunks copied between
  arrays encrypted with the same key).

A chunk file is a plain .saec file: ``saec decode`` opens it given that context. What is NOT bound: the
array's path (unless put into ``context``) and the array metadata. With other codecs in the pipeline (a
``compressors=`` default such as zstd, a transpose filter) or inside a sharding codec, zarr does not give
the chunk's key to the codec; rather than silently binding less, coding then raises ``InputError`` unless
the array was created with ``bind_chunk_key=False`` (context and chunk shape only; swaps not detected).
Create arrays with ``serializer=SaecCodec(...), compressors=None``.

Keys follow :mod:`saecodec.numcodecs`: the metadata names ``key_id``; the key is resolved where the chunk is
coded and never stored or pickled.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from zarr.abc.codec import ArrayBytesCodec, ArrayBytesCodecPartialDecodeMixin, ArrayBytesCodecPartialEncodeMixin
from zarr.core.chunk_grids import RegularChunkGrid
from zarr.core.codec_pipeline import fill_value_or_default
from zarr.core.common import parse_named_configuration

from .errors import FormatError, InputError
from .numcodecs import Saec, check_chunk

if TYPE_CHECKING:
    from typing import Self

    from zarr.abc.store import ByteGetter, ByteSetter
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer
    from zarr.core.indexing import SelectorTuple

__all__ = ["SaecCodec", "chunk_context", "CONTEXT_PREFIX"]

CODEC_NAME = "saec"
CONTEXT_PREFIX = "saecodec.zarr3/1"
_KEY_TOKENS = re.compile(r"[/.]")


def chunk_context(coords: tuple[int, ...] | None, shape: tuple[int, ...], context: str | None) -> bytes:
    """The associated data of one chunk (documented in the module docstring, so a chunk opens by hand)."""
    where = "-" if coords is None else ",".join(str(c) for c in coords)
    head = f"{CONTEXT_PREFIX} chunk={where} shape={'x'.join(str(s) for s in shape)}\n"
    return head.encode("ascii") + (context or "").encode("utf-8")


def _coords_from_key(key: str, ndim: int) -> tuple[int, ...]:
    """The grid coordinates at the end of a chunk key (``c/1/0``, ``c.1.0``, ``1.0``)."""
    tokens = _KEY_TOKENS.split(key)[-ndim:]
    if len(tokens) != ndim or not all(t.isdigit() for t in tokens):
        raise InputError(f"cannot read chunk coordinates from store key {key!r}; saec needs zarr's default "
                         f"or v2 chunk key encoding, or bind_chunk_key=False")
    return tuple(int(t) for t in tokens)


_NO_KEY = (
    "saec binds each chunk to its position, which zarr gives only to an array's only codec: create the "
    "array with serializer=SaecCodec(...), compressors=None and no filters or sharding, or with "
    "SaecCodec(bind_chunk_key=False) to bind only the context and chunk shape"
)


@dataclass(frozen=True)
class SaecCodec(ArrayBytesCodecPartialDecodeMixin, ArrayBytesCodecPartialEncodeMixin, ArrayBytesCodec):
    """saec for zarr format 3. Options as :class:`saecodec.numcodecs.Saec`, plus ``bind_chunk_key``."""

    is_fixed_size = False

    saec: Saec
    bind_chunk_key: bool

    def __init__(self, *, bind_chunk_key: bool = True, **options: Any) -> None:
        if not isinstance(bind_chunk_key, bool):
            raise InputError(f"bind_chunk_key must be true or false, not {bind_chunk_key!r}")
        object.__setattr__(self, "saec", Saec(**options))
        object.__setattr__(self, "bind_chunk_key", bind_chunk_key)

    # ------------------------------------------------------------------ metadata
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        _, configuration = parse_named_configuration(data, CODEC_NAME, require_configuration=False)
        configuration = dict(configuration or {})
        bind = configuration.pop("bind_chunk_key", True)
        saec = Saec.from_config(configuration)  # refuses secrets and unknown options
        return cls(bind_chunk_key=bind, **{k: v for k, v in saec.get_config().items() if k != "id"})

    def to_dict(self) -> dict[str, Any]:
        configuration = {k: v for k, v in self.saec.get_config().items() if k != "id"}
        configuration["bind_chunk_key"] = self.bind_chunk_key
        return {"name": CODEC_NAME, "configuration": configuration}

    def __repr__(self) -> str:
        return f"SaecCodec({self.saec!r}, bind_chunk_key={self.bind_chunk_key})"

    def validate(self, *, shape: tuple[int, ...], dtype: Any, chunk_grid: Any) -> None:
        """Refuse arrays saec cannot code at creation, not at the first write."""
        native = dtype.to_native_dtype()
        if native != np.uint8:
            raise InputError(f"saec stores uint8 images; this array is {native}")
        if len(shape) not in (2, 3):
            raise InputError(f"saec stores (H, W) or (H, W, C) arrays; this one has {len(shape)} dimensions")
        if isinstance(chunk_grid, RegularChunkGrid):
            check_chunk(np.empty(chunk_grid.chunk_shape, np.uint8))

    def compute_encoded_size(self, _input_byte_length: int, _chunk_spec: ArraySpec) -> int:
        raise NotImplementedError  # variable-size output

    # ------------------------------------------------------------------ one chunk
    def _location(self, getter: Any, spec: ArraySpec) -> tuple[int, ...] | None:
        if not self.bind_chunk_key:
            return None
        key = getattr(getter, "path", None)
        if not isinstance(key, str):  # e.g. inside a shard: no store key
            raise InputError(_NO_KEY)
        return _coords_from_key(key, spec.ndim)

    def _encode(self, pixels: np.ndarray, spec: ArraySpec, coords: tuple[int, ...] | None) -> bytes:
        return self.saec.encode_chunk(pixels, chunk_context(coords, spec.shape, self.saec.context))

    def _decode(self, data: bytes, spec: ArraySpec, coords: tuple[int, ...] | None) -> np.ndarray:
        pixels = self.saec.decode_chunk(data, chunk_context(coords, spec.shape, self.saec.context))
        if pixels.size != int(np.prod(spec.shape)):  # unreachable unless the shape binding is dropped
            raise FormatError(f"chunk holds an image of shape {pixels.shape}, not {spec.shape}")
        return pixels.reshape(spec.shape)

    async def _decode_partial_single(
        self, byte_getter: ByteGetter, selection: SelectorTuple, chunk_spec: ArraySpec
    ) -> NDBuffer | None:
        coords = self._location(byte_getter, chunk_spec)
        data = await byte_getter.get(prototype=chunk_spec.prototype)
        if data is None:  # chunk never written: zarr fills it with the fill value
            return None
        pixels = await asyncio.to_thread(self._decode, data.to_bytes(), chunk_spec, coords)
        return chunk_spec.prototype.nd_buffer.from_ndarray_like(pixels)[selection]

    async def _encode_partial_single(
        self, byte_setter: ByteSetter, chunk_array: NDBuffer, selection: SelectorTuple, chunk_spec: ArraySpec
    ) -> None:
        coords = self._location(byte_setter, chunk_spec)
        fill = fill_value_or_default(chunk_spec)
        covered = np.zeros(chunk_spec.shape, dtype=bool)
        covered[selection] = True
        pixels: np.ndarray | None = None
        if not covered.all():  # merge into what is stored (authenticated: a wrong key fails here)
            existing = await byte_setter.get(prototype=chunk_spec.prototype)
            if existing is not None:
                pixels = (await asyncio.to_thread(self._decode, existing.to_bytes(), chunk_spec, coords)).copy()
        if pixels is None:
            pixels = np.full(chunk_spec.shape, fill, dtype=np.uint8)
        pixels[selection] = chunk_array.as_numpy_array()
        if not chunk_spec.config.write_empty_chunks and bool(np.all(pixels == fill)):
            await byte_setter.delete()
            return
        data = await asyncio.to_thread(self._encode, pixels, chunk_spec, coords)
        await byte_setter.set(chunk_spec.prototype.buffer.from_bytes(data))

    # The plain path: used when other codecs share the pipeline or inside sharding (no chunk key given).
    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        coords = self._location(None, chunk_spec)
        pixels = await asyncio.to_thread(self._decode, chunk_bytes.to_bytes(), chunk_spec, coords)
        return chunk_spec.prototype.nd_buffer.from_ndarray_like(pixels)

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        coords = self._location(None, chunk_spec)
        pixels = chunk_array.as_numpy_array()
        data = await asyncio.to_thread(self._encode, pixels, chunk_spec, coords)
        return chunk_spec.prototype.buffer.from_bytes(data)
