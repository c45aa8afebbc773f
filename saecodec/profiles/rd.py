"""The rd profile (format 1.1): YCbCr planes, a linear auto-encoder with DCT-II weights, entropy-coded latents.

Per plane: 8x8 blocks -> 64 DCT coefficients (the linear encoder) -> dead-zone quantiser with one step per
plane -> MED prediction of the DC index -> the "rc1" context-adaptive range coder. The decoder inverts that,
smooths block edges with a threshold tied to the step, up-samples 4:2:0 chroma and converts to RGB; all of it
is normative (spec/saec-v1.md section 10) and shared here between the decoder and the encoder's trials, so the
PSNR the encoder reports is the PSNR of what ``decode`` returns.

Why stock DCT weights rather than weights learned per image: measured on the paper's four images by
tools/rd_design.py, a per-image KLT (the optimal linear auto-encoder) coded the same way is 0.24 dB worse in
BD-PSNR than the DCT even with its weights free, and 4.1 dB worse with its 24 KB of float16 weights counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..entropy import RowDecoder, encode_grid
from ..errors import InputError, LimitExceededError
from ..format.header import (
    RD_CHROMA,
    RD_DEBLOCK_MAX,
    RD_STEP_MAX,
    RD_STEP_MIN,
    RD_VERSION,
    Header,
    ImageInfo,
    RdModelInfo,
    RdQuantInfo,
)
from ..kernels.colour import (
    downsample2,
    grey_rows_into,
    grey_to_plane,
    plane_to_grey,
    planes_to_rgb,
    rgb_rows_into,
    rgb_to_planes,
    upsample2,
    upsample_rows,
)
from ..kernels.dct import deblock, dequantise_inverse, deblock_rows, forward_blocks, inverse_rows, predict_dc, quantise
from ..kernels.threads import map_items
from ..metrics import psnr
from .common import FileSize, PlainImage, Profile, Progress, check_rate_setting

__all__ = [
    "PROFILE",
    "make_settings",
    "DEFAULT_QUALITY",
    "RdSettings",
    "quality_to_step",
    "encode_colour",
    "reconstruct",
]

DEFAULT_QUALITY = 75
_DEBLOCK_CHOICES = (0, 4, 8, 12, 16)  # encoder's candidates, sixteenths of the step
_BASE_STEP = 25.0  # step at quality 50
#: With chroma "auto", 4:2:0 from this step (sixteenths) on: on the paper's four images 4:2:0 is better at
#: equal size from step ~50 (quality ~25, ~0.3 bpp) down, 4:4:4 above (see the README's RD section).
AUTO_CHROMA_STEP = 50 * 16
CHROMA_CHOICES = ("auto",) + RD_CHROMA


def quality_to_step(quality: float) -> int:
    """Quality 0..100 -> quantiser step in sixteenths, with libjpeg's quality scaling of a flat table.

    scale = 5000 / Q below 50 and 200 - 2 Q above (percent), step = 25 * scale / 100, at least 1/2 level: so
    quality 50 is step 25, 75 is 12.5, 90 is 5 and 100 is 0.5 (near-lossless).
    """
    q = min(max(float(quality), 1.0), 100.0)
    scale = 5000.0 / q if q < 50.0 else 200.0 - 2.0 * q
    step = max(_BASE_STEP * scale / 100.0, 0.5)
    return int(min(max(round(step * 16.0), RD_STEP_MIN), RD_STEP_MAX))


@dataclass(frozen=True)
class RdSettings:
    """Validated rd-profile settings: one of quality, target_bpp or target_psnr (default quality 75)."""

    quality: Optional[float] = None
    target_bpp: Optional[float] = None
    target_psnr: Optional[float] = None
    chroma: str = "auto"
    # Deblocking threshold in sixteenths of the step; None (what encode() uses): the encoder picks the best.
    # Fixed values are for tools and test vectors that need a particular filter strength.
    deblock: Optional[int] = None

    def __post_init__(self) -> None:
        check_rate_setting(self.quality, self.target_bpp, self.target_psnr)
        if self.chroma not in CHROMA_CHOICES:
            raise InputError(f"chroma must be one of {', '.join(CHROMA_CHOICES)}, not {self.chroma!r}")
        d = self.deblock
        if d is not None and (isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= RD_DEBLOCK_MAX):
            raise InputError(f"deblock must be an integer from 0 to {RD_DEBLOCK_MAX}, not {d!r}")

    def quality_step(self) -> int:
        """The step of the quality setting (default quality when none is given), in sixteenths."""
        return quality_to_step(DEFAULT_QUALITY if self.quality is None else self.quality)


def _blocks(rows: int, cols: int) -> tuple[int, int]:
    return -(-rows // 8), -(-cols // 8)


# ------------------------------------------------------------------------------------------------ decoder


_PARALLEL_MIN_SAMPLES = 1 << 16  # below this a thread hand-off costs more than it saves


def _map_planes(fn: Callable[[int], np.ndarray], planes: int, samples: int) -> list[np.ndarray]:
    """``[fn(0), fn(1), ...]``, the planes shared between threads for large images (the kernels release the
    GIL). Each plane is computed by the same code either way, so the result does not depend on threading."""
    if planes < 2 or samples < _PARALLEL_MIN_SAMPLES:
        return [fn(p) for p in range(planes)]
    return map_items(fn, planes)


def _inverse_planes(model: RdModelInfo, quant: RdQuantInfo, image: ImageInfo,
                    indices: list[np.ndarray]) -> list[np.ndarray]:
    """Dequantise and inverse-transform every plane: padded (8 bh, 8 bw) float64 planes, before deblocking."""
    shapes = model.plane_shapes(image)

    def plane(p: int) -> np.ndarray:
        return dequantise_inverse(indices[p], quant.step(p), *_blocks(*shapes[p]))

    return _map_planes(plane, len(shapes), image.height * image.width)


def _filter_plane(model: RdModelInfo, quant: RdQuantInfo, image: ImageInfo, padded: np.ndarray, p: int,
                  deblock_sixteenths: int) -> np.ndarray:
    """Deblock, crop and (4:2:0 chroma) up-sample one padded plane to the image's size."""
    rows, cols = model.plane_shapes(image)[p]
    plane = deblock(padded, deblock_sixteenths * quant.step(p) / 16.0)[:rows, :cols]
    if p > 0 and model.chroma == "420":  # always filtered, even when the plane is already 1x1
        plane = upsample2(plane, image.height, image.width)
    return plane


def _to_pixels(model: RdModelInfo, planes: list[np.ndarray]) -> np.ndarray:
    """Colour conversion of the finished planes: (H, W, C) uint8."""
    if model.colour == "grey":
        return plane_to_grey(planes[0])[:, :, None]
    return planes_to_rgb(*planes)


def _finish(model: RdModelInfo, quant: RdQuantInfo, image: ImageInfo, padded: list[np.ndarray],
            deblock_sixteenths: int) -> np.ndarray:
    """Deblock, crop, up-sample chroma and convert: (H, W, C) uint8 colour planes."""
    planes = [_filter_plane(model, quant, image, padded[p], p, deblock_sixteenths) for p in range(len(padded))]
    return _to_pixels(model, planes)


#: Target size of one plane's float64 stripe buffer: the decoder's working memory beside the output is a few
#: of these (per plane: the stripe, its coded values at half its size, a chroma window), not the image's size.
_STRIPE_BYTES = 4 << 20


def _stripe_block_rows(blocks_high: int, blocks_wide: int) -> int:
    """Block rows per stripe: whole plane when small, else about ``_STRIPE_BYTES`` of float64 samples."""
    return max(1, min(blocks_high, _STRIPE_BYTES // (64 * 8 * blocks_wide)))


class _PlaneStripes:
    """One plane decoded a stripe of block rows at a time: entropy decoding, DC un-prediction, dequantisation,
    inverse DCT and deblocking (spec 10.3-10.5), giving the plane's final, cropped rows in order.

    Deblocking's horizontal edge at row 8k reads and writes rows 8k-2 .. 8k+1, so the last two rows of a
    stripe are held back and finished with the next one; every sample sees exactly the operations, in the
    same order, of the whole-plane decoder (section 10.5: edges of one pass are disjoint).
    """

    def __init__(self, data: bytes, rows: int, cols: int, step: float, threshold: float) -> None:
        self.rows, self.cols = rows, cols
        self.bh, self.bw = _blocks(rows, cols)
        self.stripe = _stripe_block_rows(self.bh, self.bw)
        self.decoder = RowDecoder(data, self.bh, self.bw, self.stripe)
        self.step, self.threshold = step, threshold
        self.buffer = np.empty((2 + 8 * self.stripe, 8 * self.bw))  # 2 carried rows, then the new block rows
        self.dc = np.zeros(self.bw, dtype=np.int64)  # DC indices of the block row above
        self.done = 0  # plane rows handed out so far

    @property
    def finished(self) -> bool:
        return self.done >= self.rows

    def next_rows(self) -> tuple[int, np.ndarray]:
        """Decode the next stripe: (first plane row, the rows now final, cropped; a view valid until the next
        call). Never empty."""
        by = self.decoder.rows_done
        count = min(self.stripe, self.bh - by)
        residuals = self.decoder.next_rows(count)
        buf = self.buffer
        inverse_rows(residuals, by, self.dc, self.step, buf, 2)
        end = 2 + 8 * count
        # Pass 2's first edge: at the stripe's top (buffer row 2) unless this is the plane's first block row.
        deblock_rows(buf[:end], 2, 2 if by > 0 else 10, self.threshold)
        top = 0 if by > 0 else 2  # buffer row of plane row self.done
        last = by + count == self.bh
        final_end = end if last else end - 2
        first = self.done
        stop = min(self.rows, first + final_end - top)
        out = buf[top : top + stop - first, : self.cols]
        self.done = stop
        if not last:
            self.pending = buf[end - 2 : end]
        return first, out

    def carry(self) -> None:
        """Move the two held-back rows to the top of the buffer (call after the caller is done with the
        rows ``next_rows`` returned, before the next call)."""
        if not self.finished:
            self.buffer[0:2] = self.pending


class _RowWindow:
    """The most recent rows of a plane, for the 4:2:0 up-sampling filter, which reads one row either side."""

    def __init__(self, cols: int) -> None:
        self.data = np.empty((0, cols))
        self.first = 0  # plane row of data[0]

    @property
    def end(self) -> int:
        return self.first + self.data.shape[0]

    def append(self, first: int, rows: np.ndarray) -> None:
        assert first == self.end
        self.data = np.concatenate([self.data, rows])

    def drop_below(self, row: int) -> None:
        if row > self.first:
            self.data = self.data[row - self.first :].copy()
            self.first = row


def reconstruct(header: Header, sections: dict[str, bytes]) -> np.ndarray:
    """Decoded colour planes (H, W, C) uint8 from the plaintext sections (spec section 10).

    Works in stripes of block rows straight into the preallocated output, so the working memory beyond the
    output is a few stripes (``_STRIPE_BYTES`` a plane), whatever the image's height.
    """
    model, quant, image = header.model, header.quant, header.image
    assert isinstance(model, RdModelInfo) and isinstance(quant, RdQuantInfo)
    shapes = model.plane_shapes(image)
    height, width = image.height, image.width
    try:
        out = np.empty((height, width, len(shapes)), dtype=np.uint8)
        planes = [_PlaneStripes(sections[name], rows, cols, quant.step(p), model.deblock * quant.step(p) / 16.0)
                  for p, (name, (rows, cols)) in enumerate(zip(model.plane_names, shapes))]
        if model.colour == "grey":
            while not planes[0].finished:
                first, rows = planes[0].next_rows()
                grey_rows_into(rows, out[first : first + rows.shape[0]])
                planes[0].carry()
        elif model.chroma == "444":
            samples = planes[0].stripe * 64 * planes[0].bw  # a stripe's samples per plane
            while not planes[0].finished:
                # Equal shapes: the same rows from each plane. The planes are independent until the colour
                # conversion, so large stripes are decoded on the kernel pool's threads (same code, same
                # result either way).
                parts = _map_planes(lambda p: planes[p].next_rows(), len(planes), samples)
                first, count = parts[0][0], parts[0][1].shape[0]
                rgb_rows_into(parts[0][1], parts[1][1], parts[2][1], out[first : first + count])
                for plane in planes:
                    plane.carry()
        else:
            _reconstruct_420(planes, out)
    except MemoryError:
        raise LimitExceededError(f"not enough memory to decode a {width}x{height} image") from None
    return out


def _reconstruct_420(planes: list[_PlaneStripes], out: np.ndarray) -> None:
    """4:2:0: luma stripes drive; each chroma plane keeps a window of the rows the up-sampling filter reads
    (output row i reads chroma rows i // 2 and one neighbour)."""
    height, width = out.shape[:2]
    luma, chroma = planes[0], planes[1:]
    crows, ccols = chroma[0].rows, chroma[0].cols
    windows = [_RowWindow(ccols) for _ in chroma]
    while not luma.finished:
        first, y_rows = luma.next_rows()
        count = y_rows.shape[0]
        need_end = min(crows, (first + count - 1) // 2 + 2)  # rows below need_end cover the stripe
        for plane, window in zip(chroma, windows):
            while window.end < need_end:
                c_first, c_rows = plane.next_rows()
                window.append(c_first, c_rows)
                plane.carry()
        cb = np.empty((count, width))
        cr = np.empty((count, width))
        for window, target in zip(windows, (cb, cr)):
            upsample_rows(window.data, window.first, crows, ccols, first, target)
            window.drop_below(max(0, (first + count) // 2 - 1))
        rgb_rows_into(y_rows, cb, cr, out[first : first + count])
        luma.carry()


# ------------------------------------------------------------------------------------------------ encoder


class _Analysis:
    """The image's transform coefficients, computed once; quantised and coded at any step on demand."""

    def __init__(self, colour: np.ndarray, chroma: str) -> None:
        channels = colour.shape[2]
        self.colour = colour
        if channels == 3:
            planes = rgb_to_planes(colour)
            if chroma == "420":
                planes = [planes[0], downsample2(planes[1]), downsample2(planes[2])]
            self.model_base = RdModelInfo("ycbcr", chroma)
        else:
            planes = [grey_to_plane(colour[:, :, 0])]
            self.model_base = RdModelInfo("grey", "444")
        self.coefficients = []
        for plane in planes:
            bh, bw = _blocks(*plane.shape)
            padded = np.pad(plane, ((0, 8 * bh - plane.shape[0]), (0, 8 * bw - plane.shape[1])), mode="edge")
            self.coefficients.append(forward_blocks(padded))

    def model(self, deblock_sixteenths: int) -> RdModelInfo:
        base = self.model_base
        return RdModelInfo(base.colour, base.chroma, deblock_sixteenths)

    def quant(self, step: int) -> RdQuantInfo:
        return RdQuantInfo((step,) * len(self.coefficients))

    def quantise(self, step: int) -> list[np.ndarray]:
        return [quantise(coef, step / 16.0) for coef in self.coefficients]  # int32: what the coder takes

    def code(self, indices: list[np.ndarray], image: ImageInfo) -> list[bytes]:
        shapes = self.model_base.plane_shapes(image)

        def plane(p: int) -> np.ndarray:
            bh, bw = _blocks(*shapes[p])
            symbols = indices[p].copy()
            symbols[:, 0] = predict_dc(indices[p][:, 0], bh, bw)
            return np.frombuffer(encode_grid(symbols[None], bw), dtype=np.uint8)

        return [coded.tobytes() for coded in _map_planes(plane, len(shapes), image.height * image.width)]

    def best_deblock(self, indices: list[np.ndarray], step: int, image: ImageInfo,
                     fixed: int | None) -> tuple[int, float]:
        """The deblocking threshold with the highest PSNR (the smallest on ties) and that PSNR."""
        quant = self.quant(step)
        padded = _inverse_planes(self.model_base, quant, image, indices)
        best: tuple[int, float] | None = None
        for choice in (fixed,) if fixed is not None else _DEBLOCK_CHOICES:
            value = psnr(_finish(self.model(choice), quant, image, padded, choice), self.colour)
            if best is None or value > best[1]:
                best = (choice, value)
        assert best is not None
        return best


def encode_colour(colour: np.ndarray, image: ImageInfo, settings: RdSettings,
                  file_size: Callable[[PlainImage], int]) -> PlainImage:
    """Code the (H, W, C) colour planes at the quality or target in ``settings``.

    ``file_size`` gives the whole file's size for a candidate (the container adds header, alpha and tag), so
    ``target_bpp`` counts every byte. With ``chroma="auto"`` a quality below the crossover uses 4:2:0; a
    target is searched with both samplings, keeping the better (the crossover depends on the image).
    """
    if colour.shape[2] == 1:
        return _encode_fixed(colour, image, settings, "444", file_size).plain
    if settings.chroma != "auto":
        return _encode_fixed(colour, image, settings, settings.chroma, file_size).plain
    if settings.target_bpp is None and settings.target_psnr is None:
        step = settings.quality_step()
        chroma = "420" if step >= AUTO_CHROMA_STEP else "444"
        return _encode_fixed(colour, image, settings, chroma, file_size).plain
    candidates, failure = [], None
    for chroma in ("444", "420"):  # either may fail alone: 4:2:0 reaches smaller files, 4:4:4 higher PSNR
        try:
            candidates.append(_encode_fixed(colour, image, settings, chroma, file_size))
        except InputError as exc:
            failure = exc
    if not candidates:
        assert failure is not None
        raise failure
    if settings.target_bpp is not None:
        return max(candidates, key=lambda c: c.psnr).plain  # 4:4:4 first: it wins ties
    return min(candidates, key=lambda c: c.size).plain


@dataclass(frozen=True)
class _Candidate:
    plain: PlainImage
    step: int
    psnr: float
    size: int


def _encode_fixed(colour: np.ndarray, image: ImageInfo, settings: RdSettings, chroma: str,
                  file_size: Callable[[PlainImage], int]) -> _Candidate:
    """Encode with one chroma sampling: pick the step (quality or search), then the best deblocking."""
    analysis = _Analysis(colour, chroma)
    pixels = image.height * image.width

    def plain(step: int, indices: list[np.ndarray], deblock_sixteenths: int) -> PlainImage:
        names = analysis.model_base.plane_names
        sections = list(zip(names, analysis.code(indices, image)))
        return PlainImage(analysis.model(deblock_sixteenths), analysis.quant(step), sections, RD_VERSION)

    if settings.target_bpp is not None:
        budget = settings.target_bpp * pixels / 8.0

        def log_size(step: int) -> float:
            return math.log(file_size(plain(step, analysis.quantise(step), 0)))

        step = _search(log_size, math.log(budget), want_smallest=True, what=f"{settings.target_bpp:g} bpp",
                       hint="the coarsest quantiser still makes a larger file")
    elif settings.target_psnr is not None:
        target = settings.target_psnr

        def quality_at(step: int) -> float:
            return analysis.best_deblock(analysis.quantise(step), step, image, settings.deblock)[1]

        step = _search(quality_at, target, want_smallest=False, what=f"{settings.target_psnr:g} dB",
                       hint="the finest quantiser does not reach it")
    else:
        step = settings.quality_step()
    indices = analysis.quantise(step)
    deblock_choice, value = analysis.best_deblock(indices, step, image, settings.deblock)
    chosen = plain(step, indices, deblock_choice)
    return _Candidate(chosen, step, value, file_size(chosen))


def _search(value: Callable[[int], float], goal: float, *, want_smallest: bool, what: str, hint: str) -> int:
    """The step (in sixteenths) at the boundary where ``value``, which falls as the step grows, crosses ``goal``.

    ``want_smallest``: the step is acceptable when ``value <= goal`` (a size budget; ``value`` the log of the
    file size) and we want the smallest acceptable step; otherwise it is acceptable when ``value >= goal`` (a
    PSNR floor) and we want the largest. Both values are close to linear in log(step), so the bracket is
    found by factor-of-4 strides from a typical step and narrowed by interpolation in log(step), each guess
    followed by a look at its neighbour, with a bisection whenever interpolation stops halving the bracket:
    about 6-8 evaluations instead of the 16 of plain bisection over 2..16384. The answer always has an
    unacceptable neighbour (or is at the end of the range), like a bisection's.
    """
    cache: dict[int, float] = {}

    def val(step: int) -> float:
        if step not in cache:
            cache[step] = value(step)
        return cache[step]

    def ok(step: int) -> bool:
        return val(step) <= goal if want_smallest else val(step) >= goal

    # Bracket [lo, hi] with ok(hi) != ok(lo): ok(hi) when want_smallest (acceptable at large steps), ok(lo)
    # otherwise. Search outward from a typical step until the acceptability flips.
    step = quality_to_step(DEFAULT_QUALITY)
    good_side_is_high = want_smallest
    if ok(step) == good_side_is_high:  # acceptable-side state at this step: walk toward the other end
        hi = step
        while True:
            if hi == RD_STEP_MIN:
                if not good_side_is_high:
                    raise InputError(f"cannot reach {what}: {hint}")
                return RD_STEP_MIN
            lo = max(RD_STEP_MIN, hi // 4)
            if ok(lo) != good_side_is_high:
                break
            hi = lo
    else:
        lo = step
        while True:
            if lo == RD_STEP_MAX:
                if good_side_is_high:
                    raise InputError(f"cannot reach {what}: {hint}")
                return RD_STEP_MAX
            hi = min(RD_STEP_MAX, lo * 4)
            if ok(hi) == good_side_is_high:
                break
            lo = hi
    # Narrow: the boundary lies between lo and hi; the answer is hi (want_smallest) or lo.
    interpolate = True
    while hi - lo > 1:
        width = math.log(hi / lo)
        v_lo, v_hi = val(lo), val(hi)
        if interpolate and v_lo != v_hi and math.isfinite(v_lo) and math.isfinite(v_hi):
            t = (goal - v_lo) / (v_hi - v_lo)
            mid = int(round(lo * math.exp(min(max(t, 0.0), 1.0) * width)))
        else:
            mid = int(round(math.sqrt(lo * hi)))
        mid = min(max(mid, lo + 1), hi - 1)
        if ok(mid) == good_side_is_high:
            hi = mid
            if hi - 1 > lo:  # its neighbour usually closes the bracket
                if ok(hi - 1) == good_side_is_high:
                    hi -= 1
                else:
                    lo = hi - 1
        else:
            lo = mid
            if lo + 1 < hi:
                if ok(lo + 1) == good_side_is_high:
                    hi = lo + 1
                else:
                    lo += 1
        interpolate = hi - lo > 1 and math.log(hi / lo) < 0.5 * width  # bisect when interpolation stalls
    return hi if want_smallest else lo


def make_settings(quality: float | None = None, target_bpp: float | None = None, target_psnr: float | None = None,
                  chroma: str | None = None) -> RdSettings:
    """Settings from ``encode``'s keywords (None: not given): quality 75, chroma "auto"."""
    return RdSettings(quality, target_bpp, target_psnr, "auto" if chroma is None else chroma)


def _encode(colour: np.ndarray, image: ImageInfo, settings: RdSettings, file_size: FileSize,
            progress: Progress) -> PlainImage:
    return encode_colour(colour, image, settings, file_size)  # fast enough that progress is not reported


PROFILE = Profile("rd", ("quality", "target_bpp", "target_psnr", "chroma"), make_settings, _encode, reconstruct)

