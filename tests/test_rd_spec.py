"""A second rd-profile decoder, written from spec/saec-v1.md section 10 alone, checked against saecodec.

Nothing here imports saecodec's rd, dct or colour modules: the constants are copied from the spec's text
(hex floats, the zigzag table) and every step follows the spec's pseudo-code in its order of binary64
operations. Sums are vectorised across independent blocks, pixels and edges with numpy element-wise
operations (each one IEEE-rounded, no fused multiply-add, no reductions), which section 10.7 allows. Only the
rc1 stream (``saecodec.entropy.decode_grid``, tested on its own in test_entropy.py), the header parser and the
key derivation and keystream primitives come from saecodec. The files are made by ``saecodec.encode`` and, to
reach corners the encoder does not (large deblocking thresholds, odd steps, large DC residuals), by wrapping
hand-made rc1 grids in validly authenticated files.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import json
import struct
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import saecodec
from saecodec.crypto.keys import derive_master_key
from saecodec.crypto.keystreams import apply_keystream
from saecodec.crypto.subkeys import derive_file_keys
from saecodec.entropy import decode_grid, encode_grid
from saecodec.format.header import Header, RdModelInfo, RdQuantInfo, pack_header
from tests.conftest import synthetic_image

KEY = saecodec.SecretKey(bytes(range(32)))
MAGIC = b"\x89SAEC\r\n\x1a"
MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}

# ----------------------------------------------------------------------------- constants (spec 10.2, 10.6)

COS16 = [float.fromhex(h) for h in (
    "0x1.0000000000000p+0", "0x1.f6297cff75cb0p-1", "0x1.d906bcf328d46p-1", "0x1.a9b66290ea1a3p-1",
    "0x1.6a09e667f3bcdp-1", "0x1.1c73b39ae68c8p-1", "0x1.87de2a6aea963p-2", "0x1.8f8b83c69a60bp-3",
)]

ZIGZAG = [int(v) for v in """
     0  1  8 16  9  2  3 10 17 24 32 25 18 11  4  5
    12 19 26 33 40 48 41 34 27 20 13  6  7 14 21 28
    35 42 49 56 57 50 43 36 29 22 15 23 30 37 44 51
    58 59 52 45 38 31 39 46 53 60 61 54 47 55 62 63
""".split()]

KR = float.fromhex("0x1.66e978d4fdf3bp+0")
KGB = float.fromhex("0x1.6065300581494p-2")
KGR = float.fromhex("0x1.6da33bd9cae21p-1")
KB = float.fromhex("0x1.c5a1cac083127p+0")


def dct_basis() -> list[list[float]]:
    """C[k][n] from COS16 by the symmetries of spec 10.2."""
    basis = [[0.0] * 8 for _ in range(8)]
    for k in range(8):
        for n in range(8):
            m = ((2 * n + 1) * k) % 32
            if m > 16:
                m = 32 - m
            assert m != 8
            c = COS16[m] if m <= 8 else -COS16[16 - m]
            basis[k][n] = COS16[4] * 0.5 * c if k == 0 else 0.5 * c
    return basis


C = dct_basis()


PI = Fraction("3.14159265358979323846264338327950288419716939937510582097494459230781640628620899862803")


@functools.lru_cache(maxsize=None)
def cos_pi16(m: int) -> Fraction:
    """cos(m pi / 16), 0 <= m < 32, by its Taylor series in rationals, far beyond binary64 precision."""
    x = m * PI / 16
    x2 = x * x
    term, total = Fraction(1), Fraction(1)
    for n in range(1, 60):
        term = (-term * x2 / ((2 * n - 1) * (2 * n))).limit_denominator(10**80)
        total += term
    return total


def test_spec_constants_are_what_they_claim():
    for j, value in enumerate(COS16):
        assert value == float(cos_pi16(j))  # correctly rounded (Fraction -> float rounds so)
    for n in range(8):
        assert C[0][n] == float.fromhex("0x1.6a09e667f3bcdp-2") == COS16[4] / 2  # 1/sqrt(8), rounded
        for k in range(1, 8):  # (1/2) cos((2n+1) k pi/16) correctly rounded; cos has period 32 pi/16
            assert C[k][n] == float(cos_pi16((2 * n + 1) * k % 32) / 2)
    gram = np.array(C) @ np.array(C).T
    assert np.allclose(gram, np.eye(8), atol=1e-15)
    assert sorted(ZIGZAG) == list(range(64))
    # JPEG's zigzag walks the anti-diagonals, alternating direction.
    diagonals = [z // 8 + z % 8 for z in ZIGZAG]
    assert diagonals == sorted(diagonals)
    assert (KR, KGB, KGR, KB) == (1.402, 0.344136, 0.714136, 1.772)


# ----------------------------------------------------------------------------------- the decoder (spec 10)


def plane_shapes(height: int, width: int, colour: str, chroma: str) -> list[tuple[int, int]]:
    """Spec 10.1."""
    if colour == "grey":
        return [(height, width)]
    if chroma == "420":
        sub = (-(-height // 2), -(-width // 2))
        return [(height, width), sub, sub]
    return [(height, width)] * 3


def med(a: int, b: int, c: int) -> int:
    if c >= max(a, b):
        return min(a, b)
    if c <= min(a, b):
        return max(a, b)
    return a + b - c


def latent_indices(data: bytes, bh: int, bw: int) -> list[list[int]]:
    """Spec 10.3: rc1 grid (1, bh*bw, 64) with W = bw, then DC un-prediction with Python integers."""
    grid = decode_grid(data, (1, bh * bw, 64), bw)[0]
    q = [[int(v) for v in block] for block in grid]
    for by in range(bh):
        for bx in range(bw):
            b = by * bw + bx
            if by == 0 and bx == 0:
                pred = 0
            elif by == 0:
                pred = q[b - 1][0]
            elif bx == 0:
                pred = q[b - bw][0]
            else:
                pred = med(q[b - 1][0], q[b - bw][0], q[b - bw - 1][0])
            q[b][0] = q[b][0] + pred
    return q


def inverse_transform(q: list[list[int]], step: float, bh: int, bw: int) -> np.ndarray:
    """Spec 10.4, every block at once: F = q * step, t = F C (v ascending), X = C^T t (k ascending)."""
    blocks = bh * bw
    F = np.zeros((blocks, 8, 8))
    for i in range(64):
        u, v = divmod(ZIGZAG[i], 8)
        F[:, u, v] = np.array([float(q[b][i]) for b in range(blocks)]) * step
    t = np.empty((blocks, 8, 8))
    for u in range(8):
        for x in range(8):
            s = np.zeros(blocks)
            for v in range(8):
                s = s + F[:, u, v] * C[v][x]
            t[:, u, x] = s
    X = np.empty((blocks, 8, 8))
    for y in range(8):
        for x in range(8):
            s = np.zeros(blocks)
            for k in range(8):
                s = s + C[k][y] * t[:, k, x]
            X[:, y, x] = s
    return X.reshape(bh, bw, 8, 8).transpose(0, 2, 1, 3).reshape(8 * bh, 8 * bw)


def deblock(P: np.ndarray, T: float) -> np.ndarray:
    """Spec 10.5: vertical edges over the whole padded plane, then horizontal edges."""
    P = P.copy()
    if T == 0.0:
        return P
    L = 2.0 * T
    rows, cols = P.shape
    for x in range(8, cols, 8):
        d = P[:, x] - P[:, x - 1]
        hit = np.abs(d) < L
        e = np.minimum(np.maximum(d * 0.25, -T), T)
        P[:, x - 2] = np.where(hit, P[:, x - 2] + e * 0.5, P[:, x - 2])
        P[:, x - 1] = np.where(hit, P[:, x - 1] + e, P[:, x - 1])
        P[:, x] = np.where(hit, P[:, x] - e, P[:, x])
        P[:, x + 1] = np.where(hit, P[:, x + 1] - e * 0.5, P[:, x + 1])
    for y in range(8, rows, 8):
        d = P[y, :] - P[y - 1, :]
        hit = np.abs(d) < L
        e = np.minimum(np.maximum(d * 0.25, -T), T)
        P[y - 2, :] = np.where(hit, P[y - 2, :] + e * 0.5, P[y - 2, :])
        P[y - 1, :] = np.where(hit, P[y - 1, :] + e, P[y - 1, :])
        P[y, :] = np.where(hit, P[y, :] - e, P[y, :])
        P[y + 1, :] = np.where(hit, P[y + 1, :] - e * 0.5, P[y + 1, :])
    return P


def upsample(S: np.ndarray, height: int, width: int) -> np.ndarray:
    """Spec 10.6 step 2: triangle filter 9, 3, 3, 1 over 16, edges replicated."""
    r, c = S.shape

    def taps(count: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        i = np.arange(count)
        ci = i // 2
        ni = np.where(i % 2 == 0, ci - 1, ci + 1)
        return ci, np.minimum(np.maximum(ni, 0), size - 1)

    ci, ni = taps(height, r)
    cj, nj = taps(width, c)
    t = 9.0 * S[np.ix_(ci, cj)]
    t = t + 3.0 * S[np.ix_(ni, cj)]
    t = t + 3.0 * S[np.ix_(ci, nj)]
    t = t + S[np.ix_(ni, nj)]
    return t * 0.0625


def to_byte(v: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(np.rint(v), 0.0), 255.0).astype(np.uint8)


def rd_decode(header_map: dict, sections: dict[str, bytes]) -> np.ndarray:
    """The colour channels (H, W, C) uint8 of an rd file, from its header map and plaintext sections."""
    image, model, quant = header_map["image"], header_map["model"], header_map["quant"]
    height, width = image["height"], image["width"]
    colour, chroma, deblock_16 = model["colour"], model["chroma"], model["deblock"]
    names = ["y", "cb", "cr"] if colour == "ycbcr" else ["y"]
    planes = []
    for p, (rows, cols) in enumerate(plane_shapes(height, width, colour, chroma)):
        bh, bw = -(-rows // 8), -(-cols // 8)
        step = quant["steps"][p] / 16
        threshold = (deblock_16 * step) / 16
        padded = inverse_transform(latent_indices(sections[names[p]], bh, bw), step, bh, bw)
        plane = deblock(padded, threshold)[:rows, :cols]
        if p > 0 and chroma == "420":  # section 10.6 step 2: every 4:2:0 chroma plane, even 1 x 1
            plane = upsample(plane, height, width)
        planes.append(plane)
    if colour == "grey":
        return to_byte(planes[0] + 128.0)[:, :, None]
    Y, Cb, Cr = planes
    luma = Y + 128.0
    red = to_byte(luma + KR * Cr)
    green = to_byte((luma - KGB * Cb) - KGR * Cr)
    blue = to_byte(luma + KB * Cb)
    return np.stack([red, green, blue], axis=2)


# ----------------------------------------------------------------------------------- container (spec 2-5)


def open_file(data: bytes, key, context: str | None = None) -> tuple[dict, dict[str, bytes]]:
    """Header map and plaintext sections of an authentic file (spec 2, 4.2, 4.3, 5, 6): the tag is computed
    here from the spec's formula, over the context's length-prefixed bytes and the file, not by saecodec."""
    assert data[:8] == MAGIC
    (header_length,) = struct.unpack(">I", data[10:14])
    header = saecodec.inspect(data)  # parsing only (unauthenticated): the tag is checked below
    header_map = header.to_map()
    assert ("context" in header_map["crypto"]) == (context is not None)
    master = derive_master_key(key, header.crypto.kdf)
    keys = derive_file_keys(master, header.crypto.nonce)
    bound = b"" if context is None else len(context.encode()).to_bytes(8, "big") + context.encode()
    tag = hmac.new(keys.authentication, bound + data[:-32], hashlib.sha256).digest()
    assert hmac.compare_digest(tag, data[-32:]), "the tag does not verify by the spec's formula"
    payload = data[14 + header_length : len(data) - 32]
    plain = apply_keystream(header.crypto.cipher, keys.encryption, payload)
    sections, pos = {}, 0
    for name, length in header_map["sections"]:
        sections[name] = plain[pos : pos + length]
        pos += length
    assert pos == len(plain)
    return header_map, sections


def spec_decode(data: bytes, key, context: str | None = None) -> np.ndarray:
    header_map, sections = open_file(data, key, context)
    assert header_map["format"] in ([1, 1], [1, 2]) and data[8:10] == bytes(header_map["format"])
    assert header_map["model"]["profile"] == "rd"
    pixels = rd_decode(header_map, sections)
    if "alpha" in sections:
        h, w = header_map["image"]["height"], header_map["image"]["width"]
        alpha = np.frombuffer(zlib.decompress(sections["alpha"]), dtype=np.uint8).reshape(h, w, 1)
        pixels = np.concatenate([pixels, alpha], axis=2)
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels


def wrap(header: Header, sections: list[tuple[str, bytes]], key=KEY, nonce: bytes = bytes(32),
         version: tuple[int, int] = (1, 1)) -> bytes:
    """An authentic file for the given header fields and plaintext sections (spec 2, 4.2, 6.1)."""
    header = dataclasses.replace(
        header,
        sections=tuple((name, len(body)) for name, body in sections),
        crypto=dataclasses.replace(header.crypto, cipher="chacha20", nonce=nonce),
        version=version,
    )
    keys = derive_file_keys(derive_master_key(key, header.crypto.kdf), nonce)
    header_bytes = pack_header(header)
    payload = apply_keystream("chacha20", keys.encryption, b"".join(body for _, body in sections))
    body = MAGIC + bytes(version) + struct.pack(">I", len(header_bytes)) + header_bytes + payload
    return body + hmac.new(keys.authentication, body, hashlib.sha256).digest()


# ---------------------------------------------------------------------------------------------- the tests

ENCODED = [
    # (height, width, channels, chroma, quality)
    (1, 1, 3, "420", 50),
    (1, 1, 1, None, 50),
    (1, 9, 3, "420", 75),
    (2, 1, 4, "420", 30),
    (7, 5, 3, "420", 20),
    (8, 8, 1, None, 90),
    (9, 16, 2, None, 10),
    (17, 23, 3, "444", 75),
    (17, 23, 3, "420", 5),
    (24, 31, 4, "420", 60),
    (16, 40, 3, "420", 100),
    (33, 17, 1, None, 3),
    (40, 33, 3, "444", 1),
    (13, 26, 4, "444", 95),
]


def encoded_file(height, width, channels, chroma, quality, seed=0):
    image = synthetic_image(height, width, channels, seed=seed + height * 7 + width)
    options = {"quality": quality}
    if chroma is not None:
        options["chroma"] = chroma
    return saecodec.encode(image, KEY, **options)


@pytest.mark.parametrize("height,width,channels,chroma,quality", ENCODED)
def test_encoder_files_decode_identically(height, width, channels, chroma, quality):
    data = encoded_file(height, width, channels, chroma, quality)
    header = saecodec.inspect(data)
    assert header.profile == "rd" and header.image.mode == MODES[channels]
    expected = saecodec.decode(data, KEY)
    got = spec_decode(data, KEY)
    assert got.dtype == np.uint8 and got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_encoder_chooses_deblocking_both_ways():
    """The corpus above covers the filter on and off (the encoder picks it per file)."""
    choices = {saecodec.inspect(encoded_file(*case)).model.deblock for case in ENCODED}
    assert 0 in choices and choices - {0}


@pytest.mark.parametrize("deblock", [0, 1, 7, 16, 40, 64])
@pytest.mark.parametrize("case", [(17, 23, 3, "420", 20), (9, 16, 2, None, 40), (24, 31, 4, "444", 8)])
def test_rewrapped_deblock_and_steps(case, deblock):
    """The same latents re-authenticated with other deblocking thresholds and steps."""
    data = encoded_file(*case)
    header = saecodec.verify(data, KEY)
    _, plain = open_file(data, KEY)
    names = header.model.plane_names
    steps = (2, 16384, 37)[: len(names)] if deblock % 2 else header.quant.steps
    model = dataclasses.replace(header.model, deblock=deblock)
    quant = RdQuantInfo(tuple(steps), "rc1")
    sections = [(name, plain[name]) for name in names] + ([("alpha", plain["alpha"])] if "alpha" in plain else [])
    out = wrap(dataclasses.replace(header, model=model, quant=quant), sections)
    assert np.array_equal(spec_decode(out, KEY), saecodec.decode(out, KEY))


def crafted(height: int, width: int, colour: str, chroma: str, steps, deblock: int, scale: int,
            seed: int) -> bytes:
    """A file whose rc1 grids are random residuals of magnitude up to ``scale`` (not an encoder's output)."""
    rng = np.random.default_rng(seed)
    template = saecodec.inspect(encoded_file(8, 8, 3 if colour == "ycbcr" else 1, None, 50))
    image = dataclasses.replace(template.image, height=height, width=width)
    model = RdModelInfo(colour, chroma, deblock)
    sections = []
    for name, (rows, cols) in zip(model.plane_names, plane_shapes(height, width, colour, chroma)):
        bh, bw = -(-rows // 8), -(-cols // 8)
        grid = rng.integers(-scale, scale + 1, size=(1, bh * bw, 64))
        grid[:, :, 1:] *= rng.random((1, bh * bw, 63)) < 0.3  # mostly-zero AC, like real latents
        if scale > 1000:
            grid[0, :, 0] = rng.choice([-32767, 32767, -1, 0, 5], size=bh * bw)
        sections.append((name, encode_grid(grid, bw)))
    header = dataclasses.replace(template, image=image, model=model, quant=RdQuantInfo(tuple(steps), "rc1"))
    return wrap(header, sections, nonce=bytes([seed]) * 32)


@pytest.mark.parametrize(
    "height,width,colour,chroma,steps,deblock,scale",
    [
        (19, 27, "ycbcr", "420", (16, 24, 24), 64, 2),  # small residuals: the filter acts everywhere
        (19, 27, "ycbcr", "444", (3, 5, 7), 64, 1),
        (25, 9, "grey", "444", (160,), 33, 3),
        (2, 2, "ycbcr", "420", (400, 400, 400), 16, 4),
        (1, 17, "ycbcr", "420", (100, 80, 60), 8, 6),
        (40, 24, "ycbcr", "420", (16384, 2, 999), 64, 32767),  # DC drifts far, clamping everywhere
        (16, 16, "grey", "444", (16384,), 0, 32767),
    ],
)
def test_crafted_grids(height, width, colour, chroma, steps, deblock, scale):
    data = crafted(height, width, colour, chroma, steps, deblock, scale, seed=height + width + deblock)
    assert np.array_equal(spec_decode(data, KEY), saecodec.decode(data, KEY))


def dc_residuals(q: np.ndarray, bh: int, bw: int) -> np.ndarray:
    """Encoder side of spec 10.3 step 2: DC indices (raster order) -> residuals against the MED prediction."""
    r = q.copy()
    for by in range(bh):
        for bx in range(bw):
            b = by * bw + bx
            if by == 0 and bx == 0:
                continue
            if by == 0:
                pred = q[b - 1]
            elif bx == 0:
                pred = q[b - bw]
            else:
                pred = med(int(q[b - 1]), int(q[b - bw]), int(q[b - bw - 1]))
            r[b] = q[b] - pred
    return r


@pytest.mark.parametrize("colour", ["grey", "ycbcr"])
@pytest.mark.parametrize("deblock", [0, 16])
def test_rounding_ties_pin_the_order_of_operations(colour, deblock):
    """Ideal samples on exact half-integers, so the binary64 rounding errors decide the output.

    With step 4 and only the coefficients (0,0), (0,4), (4,0), (4,4), whose basis values are all +-COS16[4]/2,
    every ideal sample is a multiple of 1/2; the computed one lies a few ulps off it, on a side that depends on
    how it was computed (spec 10.4). The DC is chosen so that Y + 128 is below 64 and computed exactly, so
    those ulps reach the rounding to an integer (and to even on exact ties, which the deblocking filter
    makes). Evaluating the transform otherwise (columns first, a matrix product, ``(C C) F``), running the
    filter's passes in the other order or comparing with ``<=`` changes some pixels here, none on ordinary
    images.
    """
    rng = np.random.default_rng(7 + deblock)
    height, width = 37, 45
    bh, bw = 5, 6
    units = [ZIGZAG.index(n) for n in (0, 4, 32, 36)]
    grid = np.zeros((1, bh * bw, 64), dtype=np.int64)
    q_dc = rng.integers(-236, -170, size=bh * bw)  # DC sample contribution q * 4 / 8 in -118 .. -85
    grid[0, :, 0] = dc_residuals(q_dc, bh, bw)
    for i in units[1:]:
        grid[0, :, i] = rng.integers(-9, 10, size=bh * bw)
    template = saecodec.inspect(encoded_file(9, 9, 3 if colour == "ycbcr" else 1, None, 50))
    model = RdModelInfo(colour, "444", deblock)
    zero = encode_grid(np.zeros((1, bh * bw, 64), dtype=np.int64), bw)
    sections = [("y", encode_grid(grid, bw))] + ([("cb", zero), ("cr", zero)] if colour == "ycbcr" else [])
    image = dataclasses.replace(template.image, height=height, width=width)
    steps = (64,) * len(sections)
    data = wrap(dataclasses.replace(template, image=image, model=model, quant=RdQuantInfo(steps, "rc1")), sections)
    got, expected = spec_decode(data, KEY), saecodec.decode(data, KEY)
    assert np.array_equal(got, expected)
    # The construction works: many samples (before deblocking) are a few ulps off a tie n + 1/2, so the
    # error's direction decides them, and with deblocking some land exactly on one (round half to even).
    _, plain = open_file(data, KEY)
    samples = inverse_transform(latent_indices(plain["y"], bh, bw), 4.0, bh, bw)[:height, :width] + 128.0
    assert samples.max() < 64.0
    halves = np.rint(samples * 2)
    off_tie = (halves % 2 == 1) & (samples * 2 != halves) & (np.abs(samples * 2 - halves) < 1e-9)
    assert off_tie.mean() > 0.2


VECTORS = Path(__file__).resolve().parent.parent / "spec" / "vectors"


def rd_vectors() -> list[dict]:
    index = json.loads((VECTORS / "files.json").read_text())["vectors"]
    return [v for v in index if v["name"].startswith("ok-") and "-rd-" in v["name"]]


@pytest.mark.parametrize("vector", rd_vectors(), ids=lambda v: v["name"])
def test_shipped_vectors(vector):
    """The spec's own rd vectors decode, by this implementation, to the pixels their hashes name."""
    data = (VECTORS / vector["file"]).read_bytes()
    key = saecodec.SecretKey(bytes.fromhex(vector["key"])) if "key" in vector else saecodec.Password(vector["password"])
    pixels = spec_decode(data, key, vector.get("context"))
    assert list(pixels.shape) == vector["expect"]["shape"]
    assert hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest() == vector["expect"]["pixels_sha256"]


def test_rd_in_version_1_0_is_a_format_error():
    """Spec section 2: profile rd in a 1.0 file is FormatError, not UnsupportedFeatureError."""
    data = encoded_file(9, 9, 3, "420", 50)
    header = saecodec.verify(data, KEY)
    _, plain = open_file(data, KEY)
    out = wrap(header, [(name, plain[name]) for name in header.model.plane_names], version=(1, 0))
    with pytest.raises(saecodec.FormatError) as info:
        saecodec.decode(out, KEY)
    assert type(info.value) is saecodec.FormatError
