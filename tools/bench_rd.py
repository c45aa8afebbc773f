#!/usr/bin/env python3
"""Rate-distortion benchmark: saecodec against the image codecs Pillow can drive, with Bjontegaard deltas.

    python tools/bench_rd.py [IMAGES_DIR] [--out docs/rd] [--quick] [--codecs jpeg,webp,...] [--bd-method cubic]

IMAGES_DIR defaults to ../shared/images/paper (four 512x512 RGB photographs) beside the repository. Every image is
encoded by every codec at a sweep of settings, decoded, and measured: true bits per pixel (8 x the bytes of the
whole encoded file / pixels, so headers, saecodec's decoder weights and its authentication tag all count), PSNR
over RGB and per channel, MS-SSIM when a maintained implementation is importable, and encode/decode wall time
(median of 3 runs for the fast codecs, 1 run for saecodec, which trains a model per encode).

Codecs: Pillow JPEG (4:2:0, optimised Huffman tables), WebP (lossy, method 6), JPEG 2000 (irreversible 9/7,
target compression ratios), AVIF and JPEG XL when available, the saecodec paper profile (levels 1 and 2: only two
rate points), the saecodec RD profile (``profile="rd", quality=Q``) and the overfit profile at each effort
(``saec-overfit-fast``/``-default``/``-best``: minutes per point, so pick them with --codecs). What is
missing is skipped with a printed note, never an error.

Bjontegaard deltas (tools/bd.py) compare every codec with Pillow JPEG over 0.25-2 bpp and over the goal range
0.5-2 bpp. Output: ``OUT/rd.md`` (all tables), ``OUT/rd_points.csv`` (every point, to recompute deltas without
re-encoding) and ``OUT/rd_curves.png`` (needs matplotlib; skipped with a note otherwise). ``--quick`` sweeps
fewer settings for a smoke run.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import inspect as pyinspect
import io
import math
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import PIL
from PIL import Image, features

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import saecodec  # noqa: E402
from saecodec.metrics import psnr, psnr_per_channel  # noqa: E402

import bd  # noqa: E402
import mdtables  # noqa: E402
from provenance import git_describe, load_average  # noqa: E402

DEFAULT_IMAGES = ROOT.parent / "shared" / "images" / "paper"
DEFAULT_OUT = ROOT / "docs" / "rd"
IMAGE_SUFFIXES = {".png", ".bmp", ".ppm", ".tif", ".tiff"}  # lossless sources only: a JPEG source biases JPEG
REFERENCE = "jpeg"
RANGES: tuple[tuple[float, float], ...] = ((0.25, 2.0), (0.5, 2.0))
FAST_REPEATS = 3
SLOW_REPEATS = 1

# Sweeps. Quality sweeps span ~0.1-4.5 bpp on 512x512 photographs, in steps fine enough that every codec has at
# least 4 points inside 0.5-2 bpp (AVIF's rate grows fastest with quality); JPEG 2000 is driven by target rate.
QUALITY_FULL = tuple(range(5, 96, 5))
QUALITY_QUICK = (10, 25, 40, 60, 80, 92)
JP2_BPP_FULL = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
JP2_BPP_QUICK = (0.2, 0.4, 0.7, 1.0, 1.5, 2.5)
SAEC_LEVELS = (1, 2)
SAEC_RD_FULL = QUALITY_FULL + (98, 100)  # up to ~10 bpp: past the paper profile's 6.1 bpp at 4:1
SAEC_RD_QUICK = QUALITY_QUICK
# The overfit profile trains a network per encode (seconds to minutes), so it gets few rate points: enough for
# a Bjontegaard delta over 0.25-2 bpp on photographs.
SAEC_OVERFIT_FULL = (35, 50, 65, 80)
SAEC_OVERFIT_QUICK = (40, 70)
OVERFIT_EFFORTS = ("fast", "default", "best")


# --------------------------------------------------------------------------- codecs


@dataclass(frozen=True)
class Codec:
    """One codec adapter: how to encode a uint8 RGB array at a setting, and decode the bytes back."""

    name: str  # short id, used by --codecs
    label: str  # for tables and plots
    settings: tuple[Any, ...]
    encode: Callable[[np.ndarray, Any], bytes]
    decode: Callable[[bytes], np.ndarray]
    describe: Callable[[Any], str] = str
    repeats: int = FAST_REPEATS
    nominal_bpp: Callable[[bytes], float | None] | None = None  # the codec's own idea of its rate, if any


Options = Callable[[np.ndarray, Any], dict[str, Any]]


def _pillow_encoder(fmt: str, options: Options) -> Callable[[np.ndarray, Any], bytes]:
    """Encoder that saves through Pillow; ``options`` maps a setting to save() keywords."""

    def encode(pixels: np.ndarray, setting: Any) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, fmt, **options(pixels, setting))
        return buffer.getvalue()

    return encode


def _pillow_decode(data: bytes) -> np.ndarray:
    """Any format Pillow can open, back to an RGB uint8 array (fully decoded, so the time is honest)."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _jp2_ratio(pixels: np.ndarray, target_bpp: float) -> float:
    """OpenJPEG's 'rates' are compression ratios against the raw samples, so a target bpp depends on channels."""
    channels = pixels.shape[2] if pixels.ndim == 3 else 1
    return 8.0 * channels / target_bpp


def pillow_codecs(quick: bool, notes: list[str]) -> list[Codec]:
    """JPEG, WebP, JPEG 2000, AVIF and JPEG XL as far as this Pillow supports them."""
    quality = QUALITY_QUICK if quick else QUALITY_FULL
    codecs = [
        Codec("jpeg", "Pillow JPEG", quality,
              _pillow_encoder("JPEG", lambda _, q: {"quality": q, "subsampling": 2, "optimize": True}),
              _pillow_decode, describe=lambda q: f"q={q}"),
    ]
    if features.check("webp"):
        codecs.append(Codec("webp", "Pillow WebP", quality,
                            _pillow_encoder("WEBP", lambda _, q: {"quality": q, "method": 6, "lossless": False}),
                            _pillow_decode, describe=lambda q: f"q={q}"))
    else:
        notes.append("WebP skipped: this Pillow was built without WebP.")
    if features.check("jpg_2000"):
        codecs.append(Codec("jpeg2000", "Pillow JPEG 2000", JP2_BPP_QUICK if quick else JP2_BPP_FULL,
                            _pillow_encoder("JPEG2000", lambda px, b: {
                                "quality_mode": "rates", "quality_layers": [_jp2_ratio(px, b)], "irreversible": True}),
                            _pillow_decode, describe=lambda b: f"target {b:g} bpp"))
    else:
        notes.append("JPEG 2000 skipped: this Pillow was built without OpenJPEG.")
    if features.check("avif"):
        codecs.append(Codec("avif", "Pillow AVIF", quality,
                            _pillow_encoder("AVIF", lambda _, q: {"quality": q, "speed": 6, "subsampling": "4:2:0"}),
                            _pillow_decode, describe=lambda q: f"q={q}"))
        # 4:4:4 too: PSNR over RGB counts chroma in full, so this is the AVIF to beat on that measure.
        codecs.append(Codec("avif444", "Pillow AVIF 4:4:4", quality,
                            _pillow_encoder("AVIF", lambda _, q: {"quality": q, "speed": 6, "subsampling": "4:4:4"}),
                            _pillow_decode, describe=lambda q: f"q={q}"))
    else:
        notes.append("AVIF skipped: PIL.features.check('avif') is false in this Pillow.")
    codecs.extend(jxl_codec(quality, notes))
    return codecs


def jxl_codec(quality: Sequence[int], notes: list[str]) -> list[Codec]:
    """JPEG XL through the optional pillow-jxl-plugin (importing it registers the format with Pillow)."""
    try:
        import pillow_jxl  # noqa: F401
    except ImportError:
        notes.append("JPEG XL skipped: pillow_jxl is not importable (pip install pillow-jxl-plugin).")
        return []
    return [Codec("jxl", "JPEG XL (pillow-jxl, effort 7)", tuple(quality),
                  _pillow_encoder("JXL", lambda _, q: {"quality": q, "effort": 7, "lossless": False}),
                  _pillow_decode, describe=lambda q: f"q={q}")]


def _saec_nominal_bpp(data: bytes) -> float | None:
    """The paper's rate: latent bytes only, no decoder weights, header or tag (what its '4:1'/'16:1' count)."""
    header = saecodec.inspect(data)
    return 8.0 * header.latent_bytes() / (header.image.height * header.image.width)


def has_rd_profile() -> bool:
    """The RD profile is being added to saecodec; it exists once ``encode`` takes a ``profile`` argument."""
    return "profile" in pyinspect.signature(saecodec.encode).parameters


def saec_codecs(quick: bool, notes: list[str]) -> list[Codec]:
    """The paper profile (two rate points) and, when saecodec has it, the RD profile. One key for every file:
    the cipher does not change the size, and a fresh nonce per file keeps them independent anyway."""
    key = saecodec.generate_key()

    def decode(data: bytes) -> np.ndarray:
        return saecodec.decode(data, key)

    codecs = [Codec("saec-paper", "saecodec paper profile", SAEC_LEVELS,
                    lambda px, level: saecodec.encode(px, key, level=level), decode,
                    describe=lambda level: f"level {level}", repeats=SLOW_REPEATS, nominal_bpp=_saec_nominal_bpp)]
    if has_rd_profile():
        settings = SAEC_RD_QUICK if quick else SAEC_RD_FULL
        codecs.append(Codec("saec-rd", "saecodec RD profile", settings,
                            lambda px, q: saecodec.encode(px, key, profile="rd", quality=q), decode,
                            describe=lambda q: f"quality {q}"))
        codecs.append(Codec("saec-rd-420", "saecodec RD profile, 4:2:0 chroma", settings,
                            lambda px, q: saecodec.encode(px, key, profile="rd", quality=q, chroma="420"), decode,
                            describe=lambda q: f"quality {q}, 4:2:0"))
    else:
        notes.append("saecodec RD profile skipped: saecodec.encode has no 'profile' parameter yet.")
    if "effort" in pyinspect.signature(saecodec.encode).parameters:
        settings = SAEC_OVERFIT_QUICK if quick else SAEC_OVERFIT_FULL
        for effort in OVERFIT_EFFORTS:
            codecs.append(Codec(f"saec-overfit-{effort}", f"saecodec overfit profile, effort {effort}", settings,
                                lambda px, q, effort=effort: saecodec.encode(px, key, profile="overfit", quality=q,
                                                                             effort=effort),
                                decode, describe=lambda q: f"quality {q}", repeats=SLOW_REPEATS))
    return codecs


def all_codecs(quick: bool, wanted: set[str] | None, notes: list[str]) -> list[Codec]:
    """Every available codec, filtered by --codecs; the JPEG reference first so BD tables can use it."""
    codecs = pillow_codecs(quick, notes) + saec_codecs(quick, notes)
    if wanted is None:  # the overfit profile trains for minutes per point: only when asked for by name
        codecs = [c for c in codecs if not c.name.startswith("saec-overfit")]
    if wanted is not None:
        unknown = wanted - {c.name for c in codecs}
        if unknown:
            notes.append(f"--codecs names not available here: {', '.join(sorted(unknown))}.")
        codecs = [c for c in codecs if c.name in wanted]
    return codecs


# --------------------------------------------------------------------------- MS-SSIM


def find_msssim(notes: list[str]) -> Callable[[np.ndarray, np.ndarray], float] | None:
    """MS-SSIM from pytorch_msssim when it (and torch) are installed; we do not write our own, since an
    unvalidated MS-SSIM is worse than none. Returns None, with a note, when nothing is importable."""
    try:
        import torch
        from pytorch_msssim import ms_ssim
    except ImportError:
        notes.append("MS-SSIM skipped: no maintained implementation importable (pytorch_msssim needs torch, "
                     "which this benchmark deliberately does not install).")
        return None

    def measure(a: np.ndarray, b: np.ndarray) -> float:
        x = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].double()
        y = torch.from_numpy(np.ascontiguousarray(b)).permute(2, 0, 1)[None].double()
        return float(ms_ssim(x, y, data_range=255, size_average=True))

    return measure


# --------------------------------------------------------------------------- measuring


@dataclass
class Point:
    """One encode/decode of one image by one codec at one setting."""

    codec: str
    image: str
    setting: Any
    label: str
    size: int  # bytes of the whole encoded file
    bpp: float
    psnr: float
    psnr_channels: list[float]
    msssim: float | None
    encode_ms: float
    decode_ms: float
    nominal_bpp: float | None = None
    dominated: bool = False  # a cheaper point of the same codec and image has at least this PSNR


def timed(fn: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    """Result of the last call and the median wall time in milliseconds."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return result, statistics.median(times)


def measure(codec: Codec, name: str, pixels: np.ndarray, setting: Any,
            msssim: Callable[[np.ndarray, np.ndarray], float] | None) -> Point:
    """Encode, decode and score one setting; the rate is the true size of the whole file."""
    data, encode_ms = timed(lambda: codec.encode(pixels, setting), codec.repeats)
    decoded, decode_ms = timed(lambda: codec.decode(data), codec.repeats)
    if decoded.shape != pixels.shape:
        raise ValueError(f"decoded shape {decoded.shape} != original {pixels.shape}")
    height, width = pixels.shape[:2]
    return Point(
        codec=codec.name, image=name, setting=setting, label=codec.describe(setting), size=len(data),
        bpp=8.0 * len(data) / (height * width), psnr=psnr(pixels, decoded),
        psnr_channels=psnr_per_channel(pixels, decoded),
        msssim=msssim(pixels, decoded) if msssim is not None else None,
        encode_ms=encode_ms, decode_ms=decode_ms,
        nominal_bpp=codec.nominal_bpp(data) if codec.nominal_bpp is not None else None,
    )


def warm_up(codec: Codec, pixels: np.ndarray) -> None:
    """One untimed encode/decode of a small crop: the first call of a codec pays for imports and (saecodec)
    JIT compilation, which would otherwise land in the first measured time."""
    crop = np.ascontiguousarray(pixels[:64, :64])
    codec.decode(codec.encode(crop, codec.settings[0]))


def mark_dominated(points: list[Point]) -> None:
    """Flag points beaten by a cheaper setting of the same codec and image. The BD fit uses the operational RD
    curve (the non-dominated points), as an encoder choosing settings by rate would."""
    best = -math.inf
    for point in sorted(points, key=lambda p: (p.bpp, -p.psnr)):
        point.dominated = point.psnr <= best
        best = max(best, point.psnr)


def run_codec(codec: Codec, images: dict[str, np.ndarray], msssim: Callable[[np.ndarray, np.ndarray], float] | None,
              notes: list[str]) -> list[Point]:
    """All settings on all images; a failure skips the rest of that image for that codec, with a note."""
    points: list[Point] = []
    for name, pixels in images.items():
        current: list[Point] = []
        for setting in codec.settings:
            try:
                point = measure(codec, name, pixels, setting, msssim)
            except Exception as exc:  # a codec bug must not lose the other codecs' results
                notes.append(f"{codec.label} failed on {name} at {codec.describe(setting)}: "
                             f"{type(exc).__name__}: {exc}")
                break
            current.append(point)
            print(f"  {codec.name:10s} {name:10s} {point.label:18s} {point.bpp:6.3f} bpp "
                  f"{point.psnr:6.2f} dB  enc {point.encode_ms:8.1f} ms  dec {point.decode_ms:7.1f} ms",
                  file=sys.stderr, flush=True)
        mark_dominated(current)
        points.extend(current)
    return points


# --------------------------------------------------------------------------- Bjontegaard


@dataclass
class Delta:
    """BD-rate and BD-PSNR of one codec on one image, or why there is no number."""

    rate: float | None = None
    psnr: float | None = None
    why: str = ""


def curve(points: list[Point], codec: str, image: str) -> tuple[np.ndarray, np.ndarray]:
    """The operational RD curve of one codec on one image: non-dominated points with a finite PSNR."""
    usable = [p for p in points if p.codec == codec and p.image == image and not p.dominated and math.isfinite(p.psnr)]
    return np.array([p.bpp for p in usable]), np.array([p.psnr for p in usable])


def delta(ref: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
          span: tuple[float, float], method: str) -> Delta:
    """Both deltas inside ``span``, or the reason there are none ("n/a (k points)" when too few)."""
    try:
        test_cut = bd.restrict(*test, *span)
    except bd.TooFewPointsError as exc:
        return Delta(why=f"n/a ({exc.points} points)")
    try:
        ref_cut = bd.restrict(*ref, *span)
    except bd.TooFewPointsError as exc:
        return Delta(why=f"n/a (JPEG: {exc.points} points)")
    try:
        result = bd.bjontegaard(*ref_cut, *test_cut, method=method)
    except bd.BDError as exc:
        return Delta(why=f"n/a ({exc})")
    return Delta(result.rate_percent, result.psnr_db)


def bd_deltas(points: list[Point], codecs: list[Codec], images: Sequence[str], span: tuple[float, float],
              method: str) -> dict[str, dict[str, Delta]]:
    """codec name -> image -> Delta against the JPEG reference."""
    table: dict[str, dict[str, Delta]] = {}
    for codec in codecs:
        if codec.name == REFERENCE:
            continue
        table[codec.name] = {
            image: delta(curve(points, REFERENCE, image), curve(points, codec.name, image), span, method)
            for image in images
        }
    return table


# --------------------------------------------------------------------------- Markdown


def fmt(value: float | None, digits: int = 2, signed: bool = False) -> str:
    """Number for a table cell; '-' when missing, 'inf' for a lossless PSNR."""
    return mdtables.fmt(value, digits, signed, missing="-")


def mean_cell(values: list[float | None], digits: int, suffix: str) -> str:
    """Mean over the images that have a number; says how many when some are missing."""
    present = [v for v in values if v is not None]
    if not present:
        return "n/a"
    cell = fmt(float(np.mean(present)), digits, signed=True) + suffix
    return cell if len(present) == len(values) else f"{cell} ({len(present)}/{len(values)} images)"


def bd_table(deltas: dict[str, dict[str, Delta]], codecs: list[Codec], images: Sequence[str]) -> str:
    """Rows = codecs; per image 'BD-rate / BD-PSNR', then the mean over images."""
    labels = {c.name: c.label for c in codecs}
    rows = []
    for name, per_image in deltas.items():
        cells = []
        for image in images:
            d = per_image[image]
            cells.append(d.why if d.rate is None else f"{fmt(d.rate, 1, True)} % / {fmt(d.psnr, 2, True)} dB")
        rates = [per_image[i].rate for i in images]
        psnrs = [per_image[i].psnr for i in images]
        rows.append([labels[name], *cells, mean_cell(rates, 1, " %"), mean_cell(psnrs, 2, " dB")])
    head = ["codec", *[f"{i} (BD-rate / BD-PSNR)" for i in images], "mean BD-rate", "mean BD-PSNR"]
    return mdtables.table(head, rows)


def point_table(points: list[Point], with_msssim: bool, with_nominal: bool) -> str:
    """Per codec and image: every setting with its rate, quality and times."""
    head = ["setting", "bytes", "bpp"] + (["nominal bpp"] if with_nominal else []) + \
        ["PSNR RGB", "PSNR R", "PSNR G", "PSNR B"] + (["MS-SSIM"] if with_msssim else []) + ["enc ms", "dec ms"]
    rows = []
    for p in sorted(points, key=lambda p: p.bpp):
        row = [p.label, str(p.size), fmt(p.bpp, 3) + (" †" if p.dominated else "")]
        row += [fmt(p.nominal_bpp, 3)] if with_nominal else []
        row += [fmt(p.psnr), *(fmt(c) for c in p.psnr_channels)]
        row += [fmt(p.msssim, 4)] if with_msssim else []
        row += [fmt(p.encode_ms, 1), fmt(p.decode_ms, 1)]
        rows.append(row)
    return mdtables.table(head, rows)


def timing_table(points: list[Point], codecs: list[Codec]) -> str:
    """Mean encode and decode time of one image (over all images and settings), and the sweep's total."""
    rows = []
    for codec in codecs:
        mine = [p for p in points if p.codec == codec.name]
        if not mine:
            continue
        rows.append([codec.label, str(len(codec.settings)), f"{codec.repeats}",
                     fmt(float(np.mean([p.encode_ms for p in mine])), 1),
                     fmt(float(np.mean([p.decode_ms for p in mine])), 1),
                     fmt(sum(p.encode_ms for p in mine) / 1000.0, 1)])
    return mdtables.table(["codec", "settings", "runs timed", "mean encode ms / image", "mean decode ms / image",
                     "encode s, whole sweep"], rows)


def reference_at(points: list[Point], image: str, bpp: float, quality: float,
                 codec: str = REFERENCE) -> tuple[float | None, float | None]:
    """A codec's (default JPEG's) PSNR at ``bpp`` and its bpp at ``quality`` on this image, interpolated
    linearly in log10(bpp) along its operational curve; None outside the sweep. Gives a two-point codec a
    comparison BD cannot."""
    rates, psnrs = curve(points, codec, image)
    if rates.size < 2:
        return None, None
    at_rate = float(np.interp(np.log10(bpp), np.log10(rates), psnrs)) if rates[0] <= bpp <= rates[-1] else None
    at_psnr = (float(10 ** np.interp(quality, psnrs, np.log10(rates)))
               if psnrs[0] <= quality <= psnrs[-1] else None)  # operational curve: PSNR increases with rate
    return at_rate, at_psnr


def nominal_table(points: list[Point]) -> str:
    """Paper profile: the paper's nominal rate (latent only) against the true file rate, and JPEG and the rd
    profile at that point (the rd columns show whether rd beats the paper profile at the paper's own rates)."""
    rows = []
    with_rd = any(p.codec == "saec-rd" for p in points)
    for p in points:
        if p.codec != "saec-paper" or not p.nominal_bpp:
            continue
        jpeg_psnr, jpeg_bpp = reference_at(points, p.image, p.bpp, p.psnr)
        row = [p.image, p.label, fmt(p.nominal_bpp, 3), fmt(p.bpp, 3), f"{p.bpp / p.nominal_bpp:.3f}",
               fmt(p.psnr), fmt(jpeg_psnr), fmt(jpeg_bpp, 3)]
        if with_rd:
            rd_psnr, rd_bpp = reference_at(points, p.image, p.bpp, p.psnr, codec="saec-rd")
            row += [fmt(rd_psnr), fmt(rd_bpp, 3)]
        rows.append(row)
    head = ["image", "setting", "nominal bpp", "true bpp", "true / nominal", "PSNR RGB",
            "JPEG PSNR at this bpp", "JPEG bpp at this PSNR"]
    return mdtables.table(head + (["rd PSNR at this bpp", "rd bpp at this PSNR"] if with_rd else []), rows)


# --------------------------------------------------------------------------- plot


def average_curve(points: list[Point], codec: Codec, images: Sequence[str]) -> tuple[list[float], list[float]]:
    """Mean bpp and mean PSNR per setting over the images, for settings every image has (a dataset curve)."""
    xs, ys = [], []
    for setting in codec.settings:
        here = [p for p in points if p.codec == codec.name and p.setting == setting]
        if len(here) == len(images):
            xs.append(float(np.mean([p.bpp for p in here])))
            ys.append(float(np.mean([p.psnr for p in here])))
    return xs, ys


def _draw_image_panel(ax: Any, points: list[Point], codec: Codec, image: str, colour: str) -> None:
    """The operational curve as a line; dominated settings as open markers, shown but not joined."""
    mine = sorted((p for p in points if p.codec == codec.name and p.image == image), key=lambda p: p.bpp)
    kept = [p for p in mine if not p.dominated]
    dropped = [p for p in mine if p.dominated]
    if kept:
        ax.plot([p.bpp for p in kept], [p.psnr for p in kept], marker="o", markersize=3, linewidth=1.2,
                color=colour, label=codec.label)
    if dropped:
        ax.plot([p.bpp for p in dropped], [p.psnr for p in dropped], linestyle="none", marker="o", markersize=4,
                markerfacecolor="none", color=colour)


def _style_axes(ax: Any, title: str, ticker: Any) -> None:
    """Log rate axis (BD works in log rate) with the two BD ranges shaded."""
    for low, high in RANGES:
        ax.axvspan(low, high, color="0.5", alpha=0.06)
    ax.set_xscale("log")
    ax.set_xlim(0.08, 9)
    ax.set_xticks([0.1, 0.25, 0.5, 1, 2, 4, 8])
    ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_title(title)
    ax.set_xlabel("bits per pixel (whole file)")
    ax.set_ylabel("PSNR RGB (dB)")
    ax.grid(True, which="both", alpha=0.3)


def plot(points: list[Point], codecs: list[Codec], images: Sequence[str], path: Path, notes: list[str]) -> bool:
    """RD curves, one panel per image and one for the average; skipped with a note without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except ImportError:
        notes.append("RD plot skipped: matplotlib is not installed (pip install matplotlib).")
        return False
    panels = [*images, "average"]
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows), squeeze=False)
    colours = {c.name: f"C{i}" for i, c in enumerate(codecs)}
    for ax, panel in zip(axes.ravel(), panels):
        for codec in codecs:
            if panel != "average":
                _draw_image_panel(ax, points, codec, panel, colours[codec.name])
                continue
            xs, ys = average_curve(points, codec, images)
            if xs:
                ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, color=colours[codec.name], label=codec.label)
        _style_axes(ax, panel if panel != "average" else "average over images (mean bpp, mean PSNR per setting)",
                    ticker)
    spare = axes.ravel()[len(panels):]
    for ax in spare:
        ax.axis("off")
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    legend_ax = spare[0] if len(spare) else axes.ravel()[0]
    legend_ax.legend(handles, labels, fontsize=9 if len(spare) else 7, loc="center" if len(spare) else "lower right",
                     title="open markers: dominated settings" if len(spare) else None)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- report


def preamble(args: argparse.Namespace, images: Sequence[str], method: str) -> list[str]:
    """Provenance first: which code, when, on what, so numbers from different runs can be told apart."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = load_average()
    return [
        "# Rate-distortion benchmark",
        "",
        f"- commit: {git_describe()}",
        f"- date: {now}",
        "- command: `" + " ".join(["python", "tools/bench_rd.py", *map(shlex.quote, args.argv)]) + "`",
        f"- saecodec {saecodec.__version__}, Pillow {PIL.__version__}, numpy {np.__version__}, Python "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, load average {load} at the start",
        f"- images: {', '.join(images)}",
        f"- rate: 8 x bytes of the whole encoded file / pixels; PSNR over the uint8 RGB arrays "
        f"(saecodec.metrics); times are wall-clock medians of {FAST_REPEATS} runs ({SLOW_REPEATS} for the paper and overfit profiles, which train)",
        "- chroma: JPEG, WebP and AVIF run with 4:2:0 subsampling ('AVIF 4:4:4' keeps full resolution), JPEG 2000 "
        "and JPEG XL keep full-resolution "
        "chroma, saecodec's paper profile codes R, G, B alike and its rd profile codes YCbCr at full "
        "resolution (chroma 'auto': 4:2:0 only below about 0.3 bpp; the '4:2:0' row forces it); PSNR over RGB "
        "counts chroma error in full, which favours full-resolution chroma, most at high rates and on saturated "
        "images",
        f"- BD method: {method}" + (" (VCEG-M33 least-squares cubic)" if method == "cubic" else
                                    " (piecewise cubic Hermite, scipy)"),
    ]


def bd_section(points: list[Point], codecs: list[Codec], images: Sequence[str], method: str) -> list[str]:
    """Both BD tables (0.25-2 and 0.5-2 bpp), with how the curves were cut."""
    if not any(c.name == REFERENCE for c in codecs):
        return ["## Bjontegaard deltas", "", "Skipped: the JPEG reference was not run (--codecs)."]
    parts = [
        "## Bjontegaard deltas against Pillow JPEG",
        "",
        "BD-rate < 0 and BD-PSNR > 0 mean better than JPEG. Each curve is the codec's operational RD curve on "
        "that image (settings beaten by a cheaper setting are dropped, marked † in the tables below), cut to the "
        "range: measured points inside it are kept and a point exactly at each end is interpolated linearly in "
        f"PSNR vs log10(bpp) from the measured neighbours. A codec needs {bd.MIN_POINTS} measured points inside "
        "the range, else 'n/a (k points)'. Means are arithmetic over images.",
    ]
    for span in RANGES:
        title = f"{span[0]:g}-{span[1]:g} bpp" + (" (goal range)" if span == (0.5, 2.0) else "")
        parts += ["", f"### {title}", "", bd_table(bd_deltas(points, codecs, images, span, method), codecs, images)]
    return parts


def detail_section(points: list[Point], codecs: list[Codec], images: Sequence[str], with_msssim: bool) -> list[str]:
    """Every measured point, per codec and image."""
    parts = ["## Every point", "", "† = dominated (a cheaper setting of the same codec has at least this PSNR); "
             "not used for the BD fit."]
    for codec in codecs:
        for image in images:
            mine = [p for p in points if p.codec == codec.name and p.image == image]
            if mine:
                parts += ["", f"### {codec.label}: {image}", "",
                          point_table(mine, with_msssim, codec.nominal_bpp is not None)]
    return parts


def report(args: argparse.Namespace, points: list[Point], codecs: list[Codec], images: Sequence[str],
           method: str, notes: list[str], elapsed: float, with_msssim: bool, plotted: bool) -> tuple[str, str]:
    """(summary, full report): the summary is what the terminal shows, the full one adds every point."""
    summary = preamble(args, images, method)
    summary += ["", "## Notes", ""] + [f"- {n}" for n in notes or ["nothing skipped"]]
    summary += [""] + bd_section(points, codecs, images, method)
    if any(p.codec == "saec-paper" for p in points):
        summary += ["", "## saecodec paper profile: nominal vs true rate", "",
                    "Nominal counts the 8-bit latent codes only, as the paper's 4:1 and 16:1 do; the true rate adds "
                    "the decoder weights, header and authentication tag. The JPEG and rd columns interpolate Pillow "
                    "JPEG's and the rd profile's curves on the same image ('-' where a sweep does not reach).", "", nominal_table(points)]
    summary += ["", "## Time per image", "", timing_table(points, codecs), "",
                f"Whole benchmark: {elapsed:.0f} s wall-clock."]
    full = summary + [""] + detail_section(points, codecs, images, with_msssim)
    if plotted:
        full[len(summary):len(summary)] = ["## RD curves", "", "![RD curves](rd_curves.png)", ""]
    return "\n".join(summary) + "\n", "\n".join(full) + "\n"


def write_csv(points: list[Point], path: Path) -> None:
    """Every point as CSV, so BD numbers can be recomputed (another range, the pchip method) without re-encoding."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["codec", "image", "setting", "bytes", "bpp", "nominal_bpp", "psnr_rgb", "psnr_r", "psnr_g",
                         "psnr_b", "msssim", "encode_ms", "decode_ms", "dominated"])
        for p in points:
            writer.writerow([p.codec, p.image, p.setting, p.size, f"{p.bpp:.6f}",
                             "" if p.nominal_bpp is None else f"{p.nominal_bpp:.6f}", f"{p.psnr:.4f}",
                             *(f"{c:.4f}" for c in p.psnr_channels), "" if p.msssim is None else f"{p.msssim:.6f}",
                             f"{p.encode_ms:.2f}", f"{p.decode_ms:.2f}", int(p.dominated)])


# --------------------------------------------------------------------------- main


def load_images(folder: Path) -> dict[str, np.ndarray]:
    """Every lossless image of the folder as RGB uint8, by file stem, in name order."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    images = {}
    for path in files:
        with Image.open(path) as image:
            images[path.stem] = np.asarray(image.convert("RGB"))
    return images


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="?", type=Path, default=None,
                        help=f"folder of lossless RGB images (default: {DEFAULT_IMAGES})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where rd.md and rd_curves.png go")
    parser.add_argument("--quick", action="store_true", help="fewer settings per codec (smoke run)")
    parser.add_argument("--codecs", default=None,
                        help="comma-separated subset: jpeg,webp,jpeg2000,avif,avif444,jxl,saec-paper,saec-rd,saec-rd-420,"
                             "saec-overfit-fast,saec-overfit-default,saec-overfit-best (these three only by name)")
    parser.add_argument("--bd-method", choices=("cubic", "pchip", "auto"), default="cubic",
                        help="cubic = VCEG-M33 (default); pchip needs scipy and falls back to cubic without it")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    git_describe()  # before the plot and tables are written (see provenance.git_describe)
    args = parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    folder = args.images if args.images is not None else DEFAULT_IMAGES
    if not folder.is_dir():
        print(f"bench_rd: no image folder {folder} (pass IMAGES_DIR)", file=sys.stderr)
        return 2
    args.images = folder
    images = load_images(folder)
    if not images:
        print(f"bench_rd: no {'/'.join(sorted(IMAGE_SUFFIXES))} images in {folder}", file=sys.stderr)
        return 2
    notes: list[str] = []
    method = bd.resolve_method(args.bd_method)
    if method != args.bd_method and args.bd_method != "auto":
        notes.append(f"BD method {args.bd_method} unavailable (scipy not importable): used {method}.")
    wanted = {n.strip() for n in args.codecs.split(",")} if args.codecs else None
    codecs = all_codecs(args.quick, wanted, notes)
    msssim = find_msssim(notes)
    print("\n".join(preamble(args, list(images), method)), flush=True)

    start = time.perf_counter()
    points: list[Point] = []
    first = next(iter(images.values()))
    for codec in codecs:
        try:
            warm_up(codec, first)
        except Exception as exc:  # same policy as run_codec: one broken codec must not stop the others
            notes.append(f"{codec.label} skipped: warm-up failed: {type(exc).__name__}: {exc}")
            continue
        points += run_codec(codec, images, msssim, notes)
    elapsed = time.perf_counter() - start

    args.out.mkdir(parents=True, exist_ok=True)
    plotted = plot(points, codecs, list(images), args.out / "rd_curves.png", notes)
    summary, full = report(args, points, codecs, list(images), method, notes, elapsed, msssim is not None, plotted)
    (args.out / "rd.md").write_text(full)
    write_csv(points, args.out / "rd_points.csv")
    print("\n" + summary[summary.index("## Notes"):])  # the preamble was printed before the run
    written = ["rd.md", "rd_points.csv"] + (["rd_curves.png"] if plotted else [])
    print(f"wrote {', '.join(str(args.out / name) for name in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
