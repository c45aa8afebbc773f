"""Container framing: magic, version, length-prefixed header, payload, 32-byte tag.

    offset 0   8 bytes   magic  89 53 41 45 43 0D 0A 1A  ("\\x89SAEC\\r\\n\\x1a")
    offset 8   1 byte    major version
    offset 9   1 byte    minor version
    offset 10  4 bytes   header length L, unsigned big-endian
    offset 14  L bytes   header (msgpack map)
    then       P bytes   payload (sum of the header's section lengths), encrypted
    then       32 bytes  HMAC-SHA256 tag over every preceding byte

Framing is checked in an order that never allocates more than the input already occupies.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from ..errors import FormatError, LimitExceededError, TruncatedError, UnsupportedVersionError
from ..limits import DEFAULT_LIMITS, Limits
from .header import FORMAT_MAJOR, Header, parse_sections, unpack_header_map

__all__ = ["MAGIC", "PREAMBLE_BYTES", "TAG_BYTES", "Envelope", "read_envelope", "assemble"]

MAGIC = b"\x89SAEC\r\n\x1a"
PREAMBLE_BYTES = 14
TAG_BYTES = 32
_PREAMBLE = struct.Struct(">8sBBI")


@dataclass(frozen=True)
class Envelope:
    """A framed but not yet authenticated file: header map, payload view and tag."""

    data: bytes
    version: tuple[int, int]
    header_map: dict[str, Any]
    header_end: int

    @property
    def authenticated_part(self) -> memoryview:
        return memoryview(self.data)[: len(self.data) - TAG_BYTES]

    @property
    def tag(self) -> bytes:
        return self.data[len(self.data) - TAG_BYTES :]

    @property
    def payload(self) -> memoryview:
        return memoryview(self.data)[self.header_end : len(self.data) - TAG_BYTES]

    def check_length(self) -> None:
        """The file must be exactly as long as the header's sections say: shorter is a truncation."""
        announced = sum(length for _, length in parse_sections(self.header_map))
        actual = len(self.data) - TAG_BYTES - self.header_end
        if actual < announced:
            raise TruncatedError(f"payload is {actual} bytes, the header announces {announced}")
        if actual > announced:
            raise FormatError(f"{actual - announced} unexpected bytes after the payload")

    def header(self, limits: Limits = DEFAULT_LIMITS) -> Header:
        """Validate the whole header and the file's length against it."""
        self.check_length()
        return Header.from_map(self.header_map, self.version, limits)


def read_envelope(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """Check magic, version and header framing; decode the header map (not yet validated)."""
    data = bytes(data)
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
    header_end = PREAMBLE_BYTES + header_length
    if len(data) < header_end + TAG_BYTES:
        raise TruncatedError(f"file of {len(data)} bytes ends before its header and tag")
    header_map = unpack_header_map(data[PREAMBLE_BYTES:header_end])
    return Envelope(data, (major, minor), header_map, header_end)


def assemble(header_bytes: bytes, payload: bytes, version: tuple[int, int]) -> bytes:
    """Everything before the tag; the caller appends the tag computed over it."""
    return _PREAMBLE.pack(MAGIC, version[0], version[1], len(header_bytes)) + header_bytes + payload
