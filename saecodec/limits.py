"""Resource limits a reader enforces before it allocates anything a hostile file asks for."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import FormatError, LimitExceededError

__all__ = ["Limits", "DEFAULT_LIMITS"]


@dataclass(frozen=True)
class Limits:
    """Upper bounds checked on read (and on write, so we never produce a file a default reader rejects).

    The defaults admit any ordinary photograph; raise ``max_pixels`` for very large images.
    """

    max_header_bytes: int = 65536
    max_dimension: int = 65535
    max_pixels: int = 1 << 28  # 268 megapixels
    max_scrypt_log2_n: int = 20
    max_scrypt_r: int = 32
    max_scrypt_p: int = 16
    max_scrypt_memory: int = 1 << 28  # 128 * r * n * p bytes, 256 MiB
    max_alpha_bytes: int = 1 << 30
    max_metadata_bytes: int = 1 << 24  # EXIF + ICC + XMP: 16 MiB is far above any camera's

    def check_image(self, height: int, width: int) -> None:
        if height < 1 or width < 1:  # no limit makes an empty image valid: malformed, not too large
            raise FormatError(f"invalid header: image dimensions {width}x{height} must be at least 1x1")
        if not (height <= self.max_dimension and width <= self.max_dimension):
            raise LimitExceededError(
                f"image dimensions {width}x{height} outside 1..{self.max_dimension}"
            )
        if height * width > self.max_pixels:
            raise LimitExceededError(
                f"image of {height * width} pixels exceeds the limit of {self.max_pixels} "
                "(raise Limits.max_pixels to accept it)"
            )

    def check_scrypt(self, log2_n: int, r: int, p: int) -> None:
        """RFC 7914's own rules (N = 2^log2_n > 1, r >= 1, p >= 1, N < 2^(16 r)) are FormatError: no limit
        makes such a file valid. Then the cost against these limits, before scrypt runs."""
        if log2_n < 1 or r < 1 or p < 1:
            raise FormatError(f"invalid header: scrypt log2_n={log2_n}, r={r}, p={p} must all be at least 1")
        if log2_n >= 16 * r:
            raise FormatError(f"invalid header: scrypt needs N < 2^(16 r) (RFC 7914); log2_n={log2_n}, r={r}")
        if log2_n > self.max_scrypt_log2_n:
            raise LimitExceededError(f"scrypt log2_n={log2_n} outside 1..{self.max_scrypt_log2_n}")
        if r > self.max_scrypt_r or p > self.max_scrypt_p:
            raise LimitExceededError(f"scrypt r={r}, p={p} outside the allowed range")
        memory = 128 * r * (1 << log2_n) * p
        if memory > self.max_scrypt_memory:
            raise LimitExceededError(
                f"scrypt parameters need {memory} bytes of memory, over the limit of {self.max_scrypt_memory}"
            )


DEFAULT_LIMITS = Limits()
