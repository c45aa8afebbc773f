#!/usr/bin/env python3
"""Reproduce the experiments of Hu, Pu, Gao, Tang, Li, "An image compression and encryption scheme based on deep
learning" (arXiv:1608.05001) with saecodec, and put our numbers beside the paper's.

    python tools/reproduce_paper.py [IMAGES_DIR] [--out DIR] [--keys 10] [--seed 0] [--no-figures]
                                    [--specialised [--steps N]]

For every image (the paper's house, airplane, lake, peppers first, then any other image in the folder) and both
levels (4:1 = 16 latent units, 16:1 = 4 units) it encodes a real .saec file with the paper's logistic-map cipher
through the public API, decodes it, and reports:

* Tables 1-2: per-channel MSE and PSNR against the paper's;
* the true file size in bits per pixel against the nominal ratio (the paper counts latent values only);
* Table 3: adjacent-pixel correlation of the reconstruction and of the encrypted latent grid viewed as an image
  (the paper's Fig. 5/6), mean over ``--keys`` keys as the paper averaged ten runs;
* key sensitivity (NPCR/UACI under a one-bit key change) and byte entropy, for both cipher suites.

Tables are printed as Markdown and written to ``OUT/reproduction.md``; figures go to ``OUT`` as PNG (Pillow only,
so the tool needs nothing beyond the codec's own dependencies). The model is trained once per image and level
(training is seeded); the extra keys only re-encrypt that same plaintext payload, which is exactly what a new key
would change, so the averages cost milliseconds rather than retraining.

By default one model serves both levels and all three colour channels, as the paper's scheme has it.
``--specialised`` asks what the same architecture gives when each file's model is trained for its own level
alone, one model per colour channel (three decoders in the file), with ``--steps`` fine-tuning steps;
its output goes to ``docs/figures/specialised`` unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import saecodec  # noqa: E402
from saecodec.crypto.keys import derive_master_key  # noqa: E402
from saecodec.crypto.keystreams import apply_keystream  # noqa: E402
from saecodec.crypto.subkeys import derive_file_keys  # noqa: E402
from mdtables import fmt, table  # noqa: E402
from provenance import git_describe, load_average  # noqa: E402
from saecodec.format.container import TAG_BYTES, read_envelope  # noqa: E402
from saecodec.format.header import Header  # noqa: E402
from saecodec.imaging.io import load_pixels  # noqa: E402
from saecodec.metrics import (  # noqa: E402
    DIRECTIONS,
    NPCR_IDEAL,
    UACI_IDEAL,
    adjacent_correlations,
    entropy,
    mse_per_channel,
    npcr,
    psnr,
    psnr_per_channel,
    uaci,
)

DEFAULT_IMAGES = ROOT.parent / "shared" / "images" / "paper"
DEFAULT_OUT = ROOT / "docs" / "figures"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".ppm", ".pgm", ".webp"}
LEVELS = (1, 2)
RATIO = {1: "4:1", 2: "16:1"}
SLUG = {1: "4to1", 2: "16to1"}
CIPHERS = ("logistic", "chacha20")  # the paper's cipher first: it is the one Table 3 is about
PAPER_CIPHER = "logistic"
PANEL = 256  # pixels per side of each panel of the reconstruction figures: keeps docs/figures small

# The paper's reported numbers, copied from Tables 1-3 of arXiv:1608.05001 (via /work/shared/paper/RESULTS.md).
PAPER_ORDER = ("house", "airplane", "lake", "peppers")
ALIASES = {"pepper": "peppers"}  # the paper's text says "pepper"
# Tables 1 (level 1, 4:1) and 2 (level 2, 16:1): ((R MSE, R PSNR), (G MSE, G PSNR), (B MSE, B PSNR)).
PAPER_QUALITY: dict[int, dict[str, tuple[tuple[float, float], ...]]] = {
    1: {
        "house": ((37.7696, 32.3594), (51.1280, 31.0442), (37.0831, 32.4390)),
        "airplane": ((21.4800, 34.8105), (32.9829, 32.9479), (15.8055, 36.1427)),
        "lake": ((32.2390, 33.0470), (101.1015, 28.0832), (56.4297, 30.6157)),
        "peppers": ((48.8470, 31.2424), (60.6932, 30.2994), (39.5987, 32.1540)),
    },
    2: {
        "house": ((110.9180, 27.6808), (136.8415, 26.7686), (118.2971, 27.4011)),
        "airplane": ((119.2817, 27.3651), (114.3715, 27.5476), (71.0135, 29.6174)),
        "lake": ((62.2023, 30.1927), (174.2972, 25.7179), (144.9320, 26.5192)),
        "peppers": ((71.5491, 29.5848), (149.3480, 26.3888), (74.9371, 29.3838)),
    },
}
# Table 3: grayscale adjacent-pixel correlation, mean of 10 runs: (compressed i.e. reconstructed, encrypted).
PAPER_CORRELATION: dict[int, dict[str, tuple[float, float]]] = {
    1: {"house": (0.9532, -0.0391), "airplane": (0.9632, 0.0038), "lake": (0.9820, -0.0087),
        "peppers": (0.9796, 0.0488)},
    2: {"house": (0.9369, 0.0079), "airplane": (0.9745, 0.0361), "lake": (0.9855, 0.0267),
        "peppers": (0.9902, 0.0261)},
}


# --------------------------------------------------------------------------- results


@dataclass
class Stat:
    """Mean and standard deviation over keys: the paper reports a mean of ten runs, the spread shows how much
    of the difference to the paper is noise."""

    mean: float
    std: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        arr = np.asarray(values, dtype=np.float64)
        return cls(float(arr.mean()), float(arr.std()))


@dataclass
class Correlation:
    """Horizontal, vertical, diagonal and their mean (the mean is what stands beside the paper's single number)."""

    directions: dict[str, Stat]
    mean: Stat


@dataclass
class CipherResult:
    encrypted: Correlation
    npcr: Stat
    uaci: Stat
    entropy: Stat
    example_grid: np.ndarray  # encrypted latent grid under the first analysis key, for the figures
    example_bytes: np.ndarray


@dataclass
class LevelResult:
    level: int
    header: Header
    file_bytes: int
    header_bytes: int  # preamble + msgpack header: everything before the payload
    encode_seconds: float
    decode_seconds: float
    mse: list[float]
    psnr: list[float]
    reconstructed: np.ndarray
    reconstructed_corr: Correlation
    plain_grid: np.ndarray
    plain_bytes: np.ndarray
    plain_corr: Correlation
    plain_entropy: float
    ciphers: dict[str, CipherResult] = field(default_factory=dict)


@dataclass
class ImageResult:
    name: str
    path: Path
    original: np.ndarray  # (H, W, C) colour channels only
    original_corr: Correlation
    levels: dict[int, LevelResult] = field(default_factory=dict)

    @property
    def paper_name(self) -> str | None:
        key = ALIASES.get(self.name.lower(), self.name.lower())
        return key if key in PAPER_ORDER else None


# --------------------------------------------------------------------------- inputs


def find_images(folder: Path) -> list[Path]:
    """Image files of the folder, the paper's four in the paper's order first so tables read like the paper's."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]

    def order(path: Path) -> tuple[int, str]:
        stem = ALIASES.get(path.stem.lower(), path.stem.lower())
        return (PAPER_ORDER.index(stem) if stem in PAPER_ORDER else len(PAPER_ORDER), path.name)

    return sorted(files, key=order)


def colour_planes(pixels: np.ndarray, colour_channels: int) -> np.ndarray:
    """(H, W, C) colour channels only: the metrics, like the paper, are about colour, alpha is stored losslessly."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return pixels[:, :, :colour_channels]


# --------------------------------------------------------------------------- latent grids


def latent_grid(latent: np.ndarray, header: Header) -> np.ndarray:
    """The latent bytes, laid out [channel][block row][block col][unit], as the image of the paper's Fig. 5/6:
    each block's u codes become a sqrt(u) x sqrt(u) tile at the block's position, channels stacked last."""
    units = header.model.latent_units
    side = math.isqrt(units)
    if side * side != units:
        raise ValueError(f"{units} latent units do not form a square tile")
    channels, bh, bw = header.image.colour_channels, header.blocks_high, header.blocks_wide
    tiles = latent.reshape(channels, bh, bw, side, side).transpose(1, 3, 2, 4, 0)
    return np.ascontiguousarray(tiles.reshape(bh * side, bw * side, channels))


def latent_slice(header: Header) -> slice:
    """Where the latent section lies in the payload: the keystream runs over the whole payload, so the latent's
    ciphertext depends on its offset, and re-encryption must cover the payload and then cut this slice."""
    start = 0
    for name, length in header.sections:
        if name == "latent":
            return slice(start, start + length)
        start += length
    raise ValueError("file has no latent section")


def plaintext_payload(data: bytes, key: saecodec.SecretKey) -> tuple[Header, bytes, int]:
    """Header, decrypted payload and header size of a .saec file (the file's own key schedule, as decode does)."""
    envelope = read_envelope(data)
    header = envelope.header()
    master = derive_master_key(key, header.crypto.kdf)
    encryption = derive_file_keys(master, header.crypto.nonce).encryption
    return header, apply_keystream(header.crypto.cipher, encryption, envelope.payload), envelope.header_end


def encrypt_latent(cipher: str, master: bytes, nonce: bytes, payload: bytes, where: slice) -> np.ndarray:
    """Latent ciphertext the codec would write for this master key and nonce (same HKDF schedule, same offset)."""
    encryption = derive_file_keys(master, nonce).encryption
    return np.frombuffer(apply_keystream(cipher, encryption, payload), dtype=np.uint8)[where]


def flip_bit(material: bytes, bit: int) -> bytes:
    """The key one bit away from ``material``: the smallest possible key change for the sensitivity test."""
    out = bytearray(material)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --------------------------------------------------------------------------- measurements


def correlation_of(images: Sequence[np.ndarray]) -> Correlation:
    """Grayscale adjacent-pixel correlation (paper eq. 11, all pairs), averaged over the given images."""
    runs = [adjacent_correlations(image) for image in images]
    directions = {d: Stat.of([run[d] for run in runs]) for d in DIRECTIONS}
    mean = Stat.of([float(np.mean([run[d] for d in DIRECTIONS])) for run in runs])
    return Correlation(directions, mean)


def analyse_cipher(
    cipher: str, payload: bytes, header: Header, keys: int, rng: np.random.Generator
) -> CipherResult:
    """Encrypt the same plaintext payload under ``keys`` random master keys and nonces (Table 3 averages), and
    under each key's one-bit neighbour with the same nonce (NPCR/UACI key sensitivity)."""
    where = latent_slice(header)
    grids, npcrs, uacis, entropies = [], [], [], []
    example_bytes = None
    for _ in range(keys):
        master, nonce = rng.bytes(32), rng.bytes(len(header.crypto.nonce))
        first = encrypt_latent(cipher, master, nonce, payload, where)
        second = encrypt_latent(cipher, flip_bit(master, int(rng.integers(256))), nonce, payload, where)
        example_bytes = first if example_bytes is None else example_bytes
        grids.append(latent_grid(first, header))
        npcrs.append(npcr(first, second))
        uacis.append(uaci(first, second))
        entropies.append(entropy(first))
    return CipherResult(
        correlation_of(grids), Stat.of(npcrs), Stat.of(uacis), Stat.of(entropies), grids[0], example_bytes
    )


def run_level(
    pixels: np.ndarray, colour: int, level: int, args: argparse.Namespace, rng: np.random.Generator
) -> LevelResult:
    """One real .saec file through the public API, then the analyses on its plaintext and re-encryptions."""
    key = saecodec.generate_key()
    start = time.perf_counter()
    if args.specialised:
        training = saecodec.TrainConfig(seed=args.seed, shared_levels=False, finetune_steps=args.steps)
        data = saecodec.encode(pixels, key, level=level, cipher=PAPER_CIPHER, per_channel=True, training=training)
    else:
        data = saecodec.encode(pixels, key, level=level, cipher=PAPER_CIPHER, seed=args.seed)
    encode_seconds = time.perf_counter() - start
    start = time.perf_counter()
    decoded = saecodec.decode(data, key)
    decode_seconds = time.perf_counter() - start

    original = colour_planes(pixels, colour)
    reconstructed = colour_planes(decoded, colour)
    header, payload, header_bytes = plaintext_payload(data, key)
    plain = np.frombuffer(payload, dtype=np.uint8)[latent_slice(header)]
    plain_grid = latent_grid(plain, header)
    result = LevelResult(
        level=level,
        header=header,
        file_bytes=len(data),
        header_bytes=header_bytes,
        encode_seconds=encode_seconds,
        decode_seconds=decode_seconds,
        mse=mse_per_channel(original, reconstructed),
        psnr=psnr_per_channel(original, reconstructed),
        reconstructed=reconstructed,
        reconstructed_corr=correlation_of([reconstructed]),
        plain_grid=plain_grid,
        plain_bytes=plain,
        plain_corr=correlation_of([plain_grid]),
        plain_entropy=entropy(plain),
    )
    for cipher in CIPHERS:
        result.ciphers[cipher] = analyse_cipher(cipher, payload, header, args.keys, rng)
    return result


def analysis_rng(seed: int, name: str, level: int) -> np.random.Generator:
    """Analysis keys are drawn from a seeded generator (never use such keys for real files) so that a rerun at
    the same commit prints the same numbers; each image and level gets its own stream."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), level])


def run_image(path: Path, args: argparse.Namespace) -> ImageResult:
    pixels, mode = load_pixels(path)
    colour = 1 if mode in ("L", "LA") else 3
    original = colour_planes(pixels, colour)
    result = ImageResult(path.stem, path, original, correlation_of([original]))
    for level in LEVELS:
        result.levels[level] = run_level(pixels, colour, level, args, analysis_rng(args.seed, path.stem, level))
    return result


def warm_up() -> float:
    """Compile the numba kernels so the timings below measure the codec, not the JIT. The image is small but has
    more blocks than a training batch, so the same code paths run as for a real photograph."""
    start = time.perf_counter()
    sample = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    key = saecodec.generate_key()
    for level in LEVELS:
        for cipher in CIPHERS:
            saecodec.decode(saecodec.encode(sample, key, level=level, cipher=cipher), key)
    return time.perf_counter() - start


# --------------------------------------------------------------------------- Markdown


def quality_table(results: list[ImageResult], level: int) -> str:
    """Table 1 (level 1) / Table 2 (level 2): per channel, our MSE and PSNR beside the paper's."""
    head = ["image"]
    for channel in "RGB":
        head += [f"{channel} MSE", "paper", f"{channel} PSNR", "paper", "Δ dB"]
    rows, deltas = [], []
    for image in results:
        ours = image.levels[level]
        paper = PAPER_QUALITY[level].get(image.paper_name or "")
        row = [image.name if ours.header.image.colour_channels == 3 else f"{image.name} (gray, in R)"]
        for c in range(3):
            if c >= len(ours.mse):
                row += ["—"] * 5
                continue
            p_mse, p_psnr = paper[c] if paper else (None, None)
            delta = None if p_psnr is None else ours.psnr[c] - p_psnr
            if delta is not None:
                deltas.append(delta)
            row += [fmt(ours.mse[c]), fmt(p_mse), fmt(ours.psnr[c]), fmt(p_psnr), fmt(delta, signed=True)]
        rows.append(row)
    wins = sum(d >= 0 for d in deltas)
    mean = f", mean Δ {fmt(sum(deltas) / len(deltas), signed=True)} dB" if deltas else ""
    rows.append([f"**PSNR ≥ paper: {wins}/{len(deltas)}{mean}**"] + [""] * (len(head) - 1))
    return table(head, rows)


def size_table(results: list[ImageResult]) -> str:
    """True file size against the nominal ratio, which (like the paper) counts only the latent bytes."""
    head = ["image", "CR", "file bytes", "header", "weights", "latent", "alpha", "tag", "bpp", "bpp/channel",
            "nominal bpp", "overhead", "encode s", "decode s"]
    rows = []
    for image in results:
        for level in LEVELS:
            r = image.levels[level]
            h = r.header
            pixels = h.image.height * h.image.width
            colour = h.image.colour_channels
            nominal = 8.0 * colour * h.model.latent_units / h.model.layers[0]
            bpp = 8.0 * r.file_bytes / pixels
            sections = dict(h.sections)
            rows.append([
                image.name, RATIO[level], f"{r.file_bytes:,}", f"{r.header_bytes:,}", f"{sections['decoder']:,}",
                f"{sections['latent']:,}", f"{sections.get('alpha', 0):,}", f"{TAG_BYTES}", f"{bpp:.4f}",
                f"{bpp / h.image.channels:.4f}", f"{nominal:g}", f"{100.0 * (bpp - nominal) / nominal:+.2f} %",
                f"{r.encode_seconds:.2f}", f"{r.decode_seconds:.3f}",
            ])
    return table(head, rows)


def correlation_summary(results: list[ImageResult]) -> str:
    """Table 3 in the paper's layout: mean of the three directions, ours beside the paper's."""
    head = ["image"]
    for level in LEVELS:
        head += [f"{RATIO[level]} reconstructed", "paper", f"{RATIO[level]} encrypted", "paper"]
    rows = []
    for image in results:
        row = [image.name]
        for level in LEVELS:
            r = image.levels[level]
            paper = PAPER_CORRELATION[level].get(image.paper_name or "", (None, None))
            enc = r.ciphers[PAPER_CIPHER].encrypted.mean
            row += [fmt(r.reconstructed_corr.mean.mean, 4), fmt(paper[0], 4),
                    f"{enc.mean:+.4f} ± {enc.std:.4f}", fmt(paper[1], 4, signed=True)]
        rows.append(row)
    return table(head, rows)


def correlation_detail(results: list[ImageResult], keys: int) -> str:
    """Every direction of every image the correlation is measured on, so the mean in Table 3 can be checked."""
    head = ["image", "CR", "what", *DIRECTIONS, "mean", "paper"]
    rows = []

    def add(name: str, ratio: str, what: str, corr: Correlation, paper: float | None, spread: bool) -> None:
        cells = [f"{s.mean:+.4f}" + (f" ± {s.std:.4f}" if spread else "") for s in corr.directions.values()]
        mean = f"{corr.mean.mean:+.4f}" + (f" ± {corr.mean.std:.4f}" if spread else "")
        rows.append([name, ratio, what, *cells, mean, fmt(paper, 4, signed=True)])

    for image in results:
        add(image.name, "—", "original", image.original_corr, None, False)
        for level in LEVELS:
            r = image.levels[level]
            paper = PAPER_CORRELATION[level].get(image.paper_name or "", (None, None))
            add(image.name, RATIO[level], "reconstructed", r.reconstructed_corr, paper[0], False)
            add(image.name, RATIO[level], "plain latent grid", r.plain_corr, None, False)
            for cipher in CIPHERS:
                add(image.name, RATIO[level], f"encrypted grid, {cipher} ({keys} keys)",
                    r.ciphers[cipher].encrypted, paper[1] if cipher == PAPER_CIPHER else None, True)
    return table(head, rows, "lll" + "r" * (len(head) - 3))


def security_table(results: list[ImageResult]) -> str:
    """Key sensitivity and byte entropy of the latent ciphertext against the values of ideal random bytes."""
    head = ["image", "CR", "cipher", "NPCR %", "ideal", "UACI %", "ideal",
            "entropy plain", "entropy encrypted", "ideal"]
    rows = []
    for image in results:
        for level in LEVELS:
            r = image.levels[level]
            for cipher in CIPHERS:
                c = r.ciphers[cipher]
                rows.append([
                    image.name, RATIO[level], cipher, f"{c.npcr.mean:.4f} ± {c.npcr.std:.4f}", f"{NPCR_IDEAL:.4f}",
                    f"{c.uaci.mean:.4f} ± {c.uaci.std:.4f}", f"{UACI_IDEAL:.4f}", f"{r.plain_entropy:.4f}",
                    f"{c.entropy.mean:.4f}", "8",
                ])
    return table(head, rows, "lll" + "r" * (len(head) - 3))


# --------------------------------------------------------------------------- figures


def font(size: int) -> ImageFont.ImageFont:
    """Pillow's built-in font (scalable when Pillow has FreeType, bitmap otherwise): no font files needed."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def labelled_row(panels: Sequence[Image.Image], labels: Sequence[str], gap: int = 4, strip: int = 22) -> Image.Image:
    """Panels side by side on white, each with a caption above it."""
    width = sum(p.width for p in panels) + gap * (len(panels) - 1)
    height = max(p.height for p in panels) + strip
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    face = font(14)
    x = 0
    for panel, label in zip(panels, labels):
        draw.text((x + 3, 3), label, fill="black", font=face)
        canvas.paste(panel.convert("RGB"), (x, strip))
        x += panel.width + gap
    return canvas


def title(text: str, width: int, height: int = 22) -> Image.Image:
    """A caption strip for a whole figure, so panel labels can stay short enough to fit narrow panels."""
    strip = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(strip).text((3, 3), text, fill="black", font=font(14))
    return strip


def stack(rows: Sequence[Image.Image], gap: int = 4) -> Image.Image:
    size = (max(r.width for r in rows), sum(r.height for r in rows) + gap * (len(rows) - 1))
    canvas = Image.new("RGB", size, "white")
    y = 0
    for row in rows:
        canvas.paste(row, (0, y))
        y += row.height + gap
    return canvas


def to_image(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)


def shrink(image: Image.Image, side: int) -> Image.Image:
    """Downscale so the longer side is ``side``: whole-image panels stay readable and the PNGs stay small."""
    scale = side / max(image.size)
    if scale >= 1:
        return image
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def reconstruction_figure(image: ImageResult) -> Image.Image:
    """The paper's Fig. 4: original | 4:1 | 16:1."""
    panels = [shrink(to_image(image.original), PANEL)]
    labels = ["original"]
    for level in LEVELS:
        r = image.levels[level]
        panels.append(shrink(to_image(r.reconstructed), PANEL))
        labels.append(f"{RATIO[level]}  PSNR {psnr(image.original, r.reconstructed):.2f} dB")
    return labelled_row(panels, labels)


def latent_figure(results: list[ImageResult], level: int) -> Image.Image:
    """The paper's Fig. 5 (4:1) / Fig. 6 (16:1): the encrypted latent grids under the first analysis key. Native
    resolution, since resampling would smooth the ciphertext noise away; the plaintext grids are left out because
    noise does not compress and docs/figures must stay small (their statistics are in the tables)."""
    grids = [to_image(r.levels[level].ciphers[PAPER_CIPHER].example_grid) for r in results]
    row = labelled_row(grids, [r.name for r in results])
    return stack([title(f"encrypted latent grids, {RATIO[level]}, {PAPER_CIPHER}", row.width), row], gap=0)


def histogram_panel(data: np.ndarray, label: str, height: int = 110, bar: int = 2) -> Image.Image:
    """A 256-bin byte histogram drawn with Pillow; the dashed line marks the flat histogram of random bytes."""
    counts = np.bincount(data.ravel(), minlength=256).astype(np.float64)
    strip, plot = 18, height - 18
    top = counts.max() or 1.0
    canvas = Image.new("RGB", (256 * bar, height), "white")
    draw = ImageDraw.Draw(canvas)
    for value, count in enumerate(counts):
        bar_height = round(plot * count / top)
        if bar_height:
            draw.rectangle([value * bar, height - bar_height, value * bar + bar - 1, height - 1], fill=(40, 80, 160))
    uniform = height - round(plot * (data.size / 256) / top)
    for x in range(0, 256 * bar, 8):
        draw.line([(x, uniform), (x + 3, uniform)], fill=(200, 40, 40))
    draw.text((3, 2), label, fill="black", font=font(12))
    draw.rectangle([0, strip - 1, 256 * bar - 1, height - 1], outline=(160, 160, 160))
    return canvas


def histogram_figure(results: list[ImageResult], level: int) -> Image.Image:
    """Plain vs encrypted latent bytes per image: skewed histograms become flat ones under encryption."""
    rows = []
    for image in results:
        r = image.levels[level]
        c = r.ciphers[PAPER_CIPHER]
        rows.append(labelled_row(
            [histogram_panel(r.plain_bytes, f"H = {r.plain_entropy:.3f} bits/byte"),
             histogram_panel(c.example_bytes, f"H = {entropy(c.example_bytes):.3f} bits/byte")],
            [f"{image.name} {RATIO[level]}: plain latent bytes",
             f"{image.name} {RATIO[level]}: encrypted ({PAPER_CIPHER})"],
            gap=12,
        ))
    return stack(rows, gap=8)


def save_figures(results: list[ImageResult], out: Path) -> list[Path]:
    """Write every figure as optimised PNG and return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, Callable[[], Image.Image]]] = []
    for image in results:
        figures.append((f"reconstruction_{image.name}.png", lambda image=image: reconstruction_figure(image)))
    for level in LEVELS:
        figures.append((f"latent_grids_{SLUG[level]}.png", lambda level=level: latent_figure(results, level)))
        figures.append((f"latent_histograms_{SLUG[level]}.png", lambda level=level: histogram_figure(results, level)))
    paths = []
    for name, make in figures:
        path = out / name
        make().save(path, optimize=True)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- report


def report(
    results: list[ImageResult], figures: list[Path], args: argparse.Namespace, warmup: float, load: str, out: Path
) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Reproduction of Hu et al., arXiv:1608.05001",
        "",
        f"- commit: {git_describe()}",
        f"- date: {now}",
        f"- saecodec {saecodec.__version__}, Python {platform.python_version()}, numpy {np.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load} at the start (timings are "
        "wall-clock and suffer when other processes share the CPUs)",
        f"- images: {args.images} ({', '.join(r.name for r in results)})",
        f"- training seed {args.seed}; cipher {PAPER_CIPHER} for the files; {args.keys} analysis keys per image and "
        f"level; JIT warm-up {warmup:.1f} s (not in the timings)",
        "- models: " + (f"one per colour channel, each trained for its file's level alone, {args.steps} fine-tuning "
                        "steps (--specialised)" if args.specialised else
                        "one model for both levels and all colour channels, as the paper's scheme has it"),
        "",
        "## Table 1: MSE and PSNR (dB) at 4:1 (16 latent units per 8x8 block)",
        "",
        quality_table(results, 1),
        "",
        "## Table 2: MSE and PSNR (dB) at 16:1 (4 latent units per 8x8 block)",
        "",
        quality_table(results, 2),
        "",
        "## True size of the .saec files",
        "",
        "The paper's compression ratio counts latent values only. A .saec file also holds the decoder weights "
        "(float32), the header and a 32-byte tag; \"overhead\" is the whole file against the nominal bit rate "
        "(24 bpp / 4 = 6 bpp, 24 bpp / 16 = 1.5 bpp for RGB). Encode time includes training.",
        "",
        size_table(results),
        "",
        "## Table 3: adjacent-pixel correlation (grayscale, mean of horizontal, vertical, diagonal)",
        "",
        f"Encrypted = the {PAPER_CIPHER}-encrypted latent grid viewed as an image (Fig. 5/6), mean ± std over "
        f"{args.keys} keys; the paper averaged 10 runs.",
        "",
        correlation_summary(results),
        "",
        "### Every direction",
        "",
        correlation_detail(results, args.keys),
        "",
        "## Key sensitivity and entropy of the latent ciphertext",
        "",
        f"NPCR/UACI between the encrypted latent bytes under two master keys one bit apart (same nonce), mean ± std "
        f"over {args.keys} key pairs; entropy in bits per byte.",
        "",
        security_table(results),
        "",
        "## Figures",
        "",
    ]
    if not figures:
        parts.append("None written (--no-figures).")
    for path in figures:
        try:
            shown = path.relative_to(out)
        except ValueError:
            shown = path
        parts.append(f"- [{path.name}]({shown}) ({path.stat().st_size / 1024:.0f} KiB)")
    if figures:
        parts.append(f"- total: {sum(p.stat().st_size for p in figures) / 1024:.0f} KiB")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="?", type=Path, help=f"folder of images (default: {DEFAULT_IMAGES})")
    parser.add_argument("--out", type=Path, help=f"figures and reproduction.md (default: {DEFAULT_OUT})")
    parser.add_argument("--keys", type=int, default=10,
                        help="random keys per image and level (default: 10, as the paper)")
    parser.add_argument("--seed", type=int, default=0, help="training seed, also seeds the analysis keys (default: 0)")
    parser.add_argument("--no-figures", action="store_true", help="write the tables only")
    parser.add_argument("--specialised", action="store_true",
                        help="one model per colour channel, trained for the stored level alone")
    parser.add_argument("--steps", type=int, default=4 * saecodec.TrainConfig.finetune_steps,
                        help="fine-tuning steps with --specialised (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.keys < 1:
        parser.error("--keys must be at least 1")
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    if args.out is None:
        args.out = DEFAULT_OUT / "specialised" if args.specialised else DEFAULT_OUT
    if args.images is None:
        if not DEFAULT_IMAGES.is_dir():
            parser.error(f"no IMAGES_DIR given and the default {DEFAULT_IMAGES} does not exist")
        args.images = DEFAULT_IMAGES
    elif not args.images.is_dir():
        parser.error(f"{args.images} is not a directory")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    git_describe()  # before any figure is written (see provenance.git_describe)
    args = parse_args(argv)
    paths = find_images(args.images)
    if not paths:
        print(f"error: no images in {args.images}", file=sys.stderr)
        return 2
    load = load_average()
    warmup = warm_up()
    results = []
    for path in paths:
        start = time.perf_counter()
        results.append(run_image(path, args))
        print(f"{path.name}: done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    if args.no_figures:
        args.out.mkdir(parents=True, exist_ok=True)
        figures = []
    else:
        figures = save_figures(results, args.out)
    text = report(results, figures, args, warmup, load, args.out)
    (args.out / "reproduction.md").write_text(text, encoding="utf-8")
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
