"""Resource limits a reader enforces before it allocates anything a hostile file asks for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import FormatError, LimitExceededError

__all__ = ["Limits", "DEFAULT_LIMITS"]


@dataclass(frozen=True)
class Limits:
    """Upper bounds checked on read (and on write, so we never produce a file a default reader rejects).

    The defaults admit any ordinary photograph; raise ``max_pixels`` for very large images. The ``max_paper_*``
    limits bound the paper profile's decoder, whose shape the file chooses: with them a decoder's work is at
    most ``max_paper_macs_per_pixel`` multiply-adds (and as many ``exp``) per pixel and its working memory a
    few vectors of ``max_paper_units`` values (spec section 7, step 8). The defaults admit what writers use,
    64-16-4 at block 8 (16 or 17 multiply-adds per pixel), with room to spare. ``max_file_bytes`` bounds
    what a reader takes in at all, so that a stream that never ends (a link to /dev/zero, a pipe) or a
    header announcing a huge payload is refused before it is read.
    """

    max_header_bytes: int = 65536
    max_dimension: int = 65535
    max_pixels: int = 1 << 28  # 268 megapixels
    max_scrypt_log2_n: int = 20
    max_scrypt_r: int = 32
    max_scrypt_p: int = 16
    max_scrypt_memory: int = 1 << 28  # 128 * r * n * p bytes, 256 MiB
    max_alpha_bytes: int = 1 << 30
    max_paper_block: int = 16  # block side B (the format allows 1..64)
    max_paper_units: int = 256  # every entry of model.layers (the format allows 1..4096)
    max_paper_depth: int = 4  # decoder layers, model.level (the format allows up to 7)
    max_paper_macs_per_pixel: int = 64  # sum of layers[j] * layers[j+1] for j < level, over B * B
    # The overfit profile's decoder (spec section 11): multiply-adds per pixel of its synthesis, width of its
    # widest hidden layer, and latent values per pixel (each costs 8 bytes while decoding). Writers use at most
    # ~1000 multiply-adds, width 32 and 1.42 latents a pixel (two channels at the coarse levels, default effort).
    max_overfit_macs_per_pixel: int = 4096
    max_overfit_width: int = 64
    max_overfit_latents_per_pixel: float = 2.0
    max_metadata_bytes: int = 1 << 24  # EXIF + ICC + XMP: 16 MiB is far above any camera's
    # The longest input read into memory: a .saec file (checked against the length its header announces,
    # before the payload is read) or an image read from a pipe. 4 GiB is about twice the largest file a
    # writer makes within the other defaults (2^28 RGBA pixels at step 0.5 of noise: under 2 GiB).
    max_file_bytes: int = 1 << 32

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

    def check_paper_model(self, block: int, layers: Sequence[int], level: int) -> None:
        """The paper profile's decoder shape: block side, layer widths, depth, multiply-adds per pixel."""
        if block > self.max_paper_block:
            raise LimitExceededError(f"paper model block {block} exceeds the limit of {self.max_paper_block}")
        widest = max(layers)
        if widest > self.max_paper_units:
            raise LimitExceededError(
                f"paper model layer of {widest} units exceeds the limit of {self.max_paper_units}"
            )
        if level > self.max_paper_depth:
            raise LimitExceededError(
                f"paper model decoder of {level} layers exceeds the limit of {self.max_paper_depth}"
            )
        macs = sum(layers[j] * layers[j + 1] for j in range(level))
        if macs > self.max_paper_macs_per_pixel * block * block:
            raise LimitExceededError(
                f"paper model needs {macs / (block * block):g} multiply-adds per pixel, over the limit of "
                f"{self.max_paper_macs_per_pixel}"
            )

    def check_overfit_model(self, macs_per_pixel: int, widest: int, latents: int, pixels: int) -> None:
        """The overfit profile's decoder shape: work per pixel, widest layer, latent values per pixel."""
        if macs_per_pixel > self.max_overfit_macs_per_pixel:
            raise LimitExceededError(
                f"overfit model needs {macs_per_pixel} multiply-adds per pixel, over the limit of "
                f"{self.max_overfit_macs_per_pixel}"
            )
        if widest > self.max_overfit_width:
            raise LimitExceededError(f"overfit model layer of {widest} units exceeds the limit of {self.max_overfit_width}")
        if latents > self.max_overfit_latents_per_pixel * pixels:
            raise LimitExceededError(
                f"overfit model has {latents} latent values for {pixels} pixels, over the limit of "
                f"{self.max_overfit_latents_per_pixel:g} a pixel"
            )


DEFAULT_LIMITS = Limits()
