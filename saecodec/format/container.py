"""Container framing: magic, version, length-prefixed header, payload, 32-byte tag.

    offset 0   8 bytes   magic  89 53 41 45 43 0D 0A 1A  ("\\x89SAEC\\r\\n\\x1a")
    offset 8   1 byte    major version
    offset 9   1 byte    minor version
    offset 10  4 bytes   header length L, unsigned big-endian
    offset 14  L bytes   header (msgpack map)
    then       P bytes   payload (sum of the header's section lengths), encrypted
    then       32 bytes  HMAC-SHA256 tag over every preceding byte

Framing is checked in an order that never allocates more than the input already occupies.
:func:`read_envelope` frames bytes already in memory; :func:`read_envelope_from` reads a stream (a file, a
pipe, standard input) with the same checks in the same order (spec section 7, steps 1-5), taking in only
what the preamble and header announce plus one byte to detect trailing data, so that a stream that never
ends (/dev/zero, a pipe) fails at its first bytes and a huge announced payload is refused before it is read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..errors import FormatError, InputError, LimitExceededError, TruncatedError, UnsupportedVersionError
from ..limits import DEFAULT_LIMITS, Limits
from .header import FORMAT_MAJOR, Header, parse_sections, unpack_header_map

__all__ = ["MAGIC", "PREAMBLE_BYTES", "TAG_BYTES", "Envelope", "read_envelope", "read_envelope_from", "assemble"]

MAGIC = b"\x89SAEC\r\n\x1a"
PREAMBLE_BYTES = 14
TAG_BYTES = 32
_PREAMBLE = struct.Struct(">8sBBI")
_CHUNK = 1 << 24  # a stream is read in pieces of at most 16 MiB: memory follows what actually arrives


@dataclass(frozen=True)
class Envelope:
    """A framed but not yet authenticated file: header map, payload view and tag."""

    data: bytes
    version: tuple[int, int]
    header_map: dict[str, Any]
    header_end: int
    limits: Limits = field(default=DEFAULT_LIMITS, repr=False, compare=False)  # those it was framed under

    @property
    def authenticated_part(self) -> memoryview:
        return memoryview(self.data)[: len(self.data) - TAG_BYTES]

    @property
    def tag(self) -> bytes:
        return self.data[len(self.data) - TAG_BYTES :]

    @property
    def payload(self) -> memoryview:
        return memoryview(self.data)[self.header_end : len(self.data) - TAG_BYTES]

    def check_length(self, limits: Limits | None = None) -> None:
        """The file must be exactly as long as the header's sections say: shorter is a truncation. A file
        announcing more than ``Limits.max_file_bytes`` is refused whatever its length (as a stream is);
        ``limits`` default to those the envelope was framed under."""
        announced = _announced_payload(self.header_map, self.header_end, limits or self.limits)
        actual = len(self.data) - TAG_BYTES - self.header_end
        if actual < announced:
            raise TruncatedError(f"payload is {actual} bytes, the header announces {announced}")
        if actual > announced:
            raise FormatError(f"{actual - announced} unexpected bytes after the payload")

    def header(self, limits: Limits = DEFAULT_LIMITS) -> Header:
        """Validate the whole header and the file's length against it."""
        self.check_length(limits)
        return Header.from_map(self.header_map, self.version, limits)


def _check_preamble(data: bytes, limits: Limits) -> tuple[int, int, int]:
    """Steps 1-3 on the first bytes (all of them if fewer than 14): (major, minor, header length)."""
    if len(data) < PREAMBLE_BYTES:
        if MAGIC.startswith(data[: len(MAGIC)]):
            raise TruncatedError(f"file of {len(data)} bytes is shorter than the {PREAMBLE_BYTES}-byte preamble")
        raise FormatError("not a .saec file (bad magic bytes)")
    magic, major, minor, header_length = _PREAMBLE.unpack_from(data)
    if magic != MAGIC:
        raise FormatError("not a .saec file (bad magic bytes)")
    if major != FORMAT_MAJOR:
        raise UnsupportedVersionError(f"unsupported format version {major}.{minor} (this reader knows {FORMAT_MAJOR}.x)")
    if header_length > limits.max_header_bytes:
        raise LimitExceededError(f"header of {header_length} bytes exceeds the limit of {limits.max_header_bytes}")
    return major, minor, header_length


def _announced_payload(header_map: dict[str, Any], header_end: int, limits: Limits) -> int:
    """Step 5's section list (FormatError), then the whole file's announced length against the limit."""
    announced = sum(length for _, length in parse_sections(header_map))
    total = header_end + announced + TAG_BYTES
    if total > limits.max_file_bytes:
        raise LimitExceededError(f"file announces {total} bytes, over the limit of {limits.max_file_bytes} "
                                 "(raise Limits.max_file_bytes to accept it)")
    return announced


def read_envelope(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """Check magic, version and header framing; decode the header map (not yet validated)."""
    data = bytes(data)
    major, minor, header_length = _check_preamble(data, limits)
    header_end = PREAMBLE_BYTES + header_length
    if len(data) < header_end + TAG_BYTES:
        raise TruncatedError(f"file of {len(data)} bytes ends before its header and tag")
    header_map = unpack_header_map(data[PREAMBLE_BYTES:header_end])
    return Envelope(data, (major, minor), header_map, header_end, limits)


def _read_up_to(stream: BinaryIO, count: int) -> list[bytes]:
    """Up to ``count`` bytes (fewer only at the end of the stream), in pieces of at most ``_CHUNK``: never
    more memory than what arrived, however much was asked for."""
    pieces: list[bytes] = []
    left = count
    while left > 0:
        piece = stream.read(min(left, _CHUNK))
        if piece is None:  # a non-blocking stream with nothing ready: not a file we can frame
            raise InputError("the stream has no data ready (non-blocking streams are not supported)")
        if not isinstance(piece, (bytes, bytearray)):
            raise InputError("file objects must be opened in binary mode")
        if not piece:
            break
        pieces.append(bytes(piece))
        left -= len(piece)
    return pieces


def read_envelope_from(stream: BinaryIO, limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """Frame a .saec file read from ``stream`` (a binary file object, read from its current position).

    The checks and their errors are those of :func:`read_envelope` followed by :meth:`Envelope.check_length`,
    in the same order, but each comes as soon as its bytes have arrived: the 14-byte preamble (bad magic at
    once), the header (at most ``limits.max_header_bytes``), then exactly the payload the header's sections
    announce and the tag, plus one byte to tell a longer file, never more (``limits.max_file_bytes`` is
    checked before the payload is read). The stream is left just after what was read.
    """
    first = b"".join(_read_up_to(stream, PREAMBLE_BYTES))
    major, minor, header_length = _check_preamble(first, limits)
    header_end = PREAMBLE_BYTES + header_length
    pieces = [first, *_read_up_to(stream, header_length + TAG_BYTES)]
    got = sum(len(p) for p in pieces)
    if got < header_end + TAG_BYTES:
        raise TruncatedError(f"file of {got} bytes ends before its header and tag")
    head = b"".join(pieces)
    header_map = unpack_header_map(head[PREAMBLE_BYTES:header_end])
    announced = _announced_payload(header_map, header_end, limits)
    rest = _read_up_to(stream, announced + 1)  # the 32 bytes already read stand for the tag
    actual = sum(len(p) for p in rest)
    if actual < announced:
        raise TruncatedError(f"payload is {actual} bytes, the header announces {announced}")
    if actual > announced:
        raise FormatError("unexpected bytes after the payload (the file is longer than its header announces)")
    return Envelope(b"".join([head, *rest]), (major, minor), header_map, header_end, limits)


def assemble(header_bytes: bytes, payload: bytes, version: tuple[int, int]) -> bytes:
    """Everything before the tag; the caller appends the tag computed over it."""
    return _PREAMBLE.pack(MAGIC, version[0], version[1], len(header_bytes)) + header_bytes + payload
