"""A second overfit-profile decoder, written from spec/saec-v1.md section 11 alone, checked against saecodec.

Nothing here imports saecodec's overfit profile, its synthesis kernels or its lc1 coder to decode: the lc1
streams are decoded by the plain-Python lc1 written from spec/lc1-latent-coder.md in test_latentcoder.py,
the header is read as the msgpack map it is, the tag is recomputed from the spec's formula, and the synthesis
follows sections 11.1 to 11.4 in binary32 (numpy float32 arrays: element-wise operations, each one rounded,
never fused, no reductions), vectorised only across pixels, which keeps every pixel's order of operations.

The files decoded: the reference encoder's (``saecodec.encode`` and, for other network shapes than the effort
levels use, its trainer ``encode_overfit`` with a custom effort), and hand-made ones (random weights and
latents of every shape the header allows, signed with tools/hostile_files.py's key), including files whose
activations overflow to infinity and NaN. Each must give the same pixels as ``saecodec.decode``, and the same
binary32 outputs before rounding as the reference's float decoder.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import sys
import zlib
from pathlib import Path

import msgpack
import numpy as np
import pytest

import saecodec
from saecodec.crypto.keystreams import apply_keystream
from saecodec.crypto.subkeys import derive_file_keys
from saecodec.limits import Limits
from tests.conftest import synthetic_image
from tests.test_latentcoder import ref_decode_latents, ref_decode_weights

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import hostile_files  # noqa: E402

KEY = hostile_files.KEY
MAGIC = b"\x89SAEC\r\n\x1a"
F32 = np.float32
RELAXED = Limits(max_overfit_macs_per_pixel=1 << 20, max_overfit_width=256, max_overfit_latents_per_pixel=64.0)

# ----------------------------------------------------------------------------------- the decoder (spec 11)


#: None for the spec's decoder; "reversed" or "fused" for the wrong ones of test_the_order_of_operations
_VARIANT: str | None = None


def relu(v: np.ndarray) -> np.ndarray:
    """Spec 11.4: max(v, 0) is v if v > 0 and 0 otherwise (a NaN becomes 0)."""
    return np.where(v > 0, v, F32(0))


def tensors_of(model: dict, quant: dict, data: bytes) -> tuple[list, list, int]:
    """Spec 11.1: ([(A_k, b_k)], [(F_r, e_r)], C), every value q * 2^-shift in binary32 (exact)."""
    c = 3 if model["colour"] == "rgb" else 1
    widths = [sum(model["levels"]), *model["hidden"], c]
    sizes = []
    for k in range(len(widths) - 1):
        sizes += [widths[k + 1] * widths[k], widths[k + 1]]
    sizes += [c * c * 9, c] * model["residual"]
    shifts = quant["shifts"]
    assert len(shifts) == len(sizes)
    ints = ref_decode_weights(data, sum(sizes))
    tensors, pos = [], 0
    for size, shift in zip(sizes, shifts):
        q = ints[pos : pos + size]
        pos += size
        assert np.all(np.abs(q) <= 32767)
        tensors.append(q.astype(F32) * F32(2.0**-shift))  # a power of two: exact
    layers = [(tensors[2 * k], tensors[2 * k + 1]) for k in range(len(widths) - 1)]
    residual = [(tensors[2 * k], tensors[2 * k + 1]) for k in range(len(widths) - 1, len(tensors) // 2)]
    return layers, residual, c


def grids_of(levels: list[int], height: int, width: int, data: bytes) -> list[np.ndarray]:
    """Spec 11.2: the grids in the synthesis's order (level 0 first, a level's channels in order), from the
    lc1 latent stream, which holds them coarsest level first."""
    shape = lambda level: (-(-height // 2**level), -(-width // 2**level))  # noqa: E731
    coded = [(level, c) for level in reversed(range(len(levels))) for c in range(levels[level])]
    decoded = ref_decode_latents(data, [shape(level) for level, _ in coded])
    by_level = dict(zip(coded, decoded))
    return [(level, by_level[level, c]) for level in range(len(levels)) for c in range(levels[level])]


def taps(n_out: int, n_in: int, level: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spec 11.3 along one axis, in binary32: t = (y + 0.5) / s - 0.5 clamped to [0, n_in - 1]; i0, i1, f."""
    s = F32(2**level)
    t = (np.arange(n_out, dtype=F32) + F32(0.5)) / s - F32(0.5)
    t = np.minimum(np.maximum(t, F32(0)), F32(n_in - 1))
    i0 = np.floor(t).astype(np.int64)
    return i0, np.minimum(i0 + 1, n_in - 1), t - i0.astype(F32)


def upsample(grid: np.ndarray, level: int, height: int, width: int) -> np.ndarray:
    g = grid.astype(F32)
    if level == 0:
        return g
    y0, y1, fy = taps(height, g.shape[0], level)
    x0, x1, fx = taps(width, g.shape[1], level)
    one = F32(1)
    gy, fy = (one - fy)[:, None], fy[:, None]
    gx, fx = (one - fx)[None, :], fx[None, :]
    return (gy * (gx * g[np.ix_(y0, x0)] + fx * g[np.ix_(y0, x1)])
            + fy * (gx * g[np.ix_(y1, x0)] + fx * g[np.ix_(y1, x1)]))


def synthesis(header_map: dict, sections: dict[str, bytes]) -> np.ndarray:
    """The image O (C, H, W) in binary32 before rounding to samples: spec 11.1 to 11.4."""
    with np.errstate(all="ignore"):  # a hostile file may overflow to infinity and NaN: not an error (11.6)
        return _synthesis(header_map, sections)


def _synthesis(header_map: dict, sections: dict[str, bytes]) -> np.ndarray:
    image, model, quant = header_map["image"], header_map["model"], header_map["quant"]
    height, width = image["height"], image["width"]
    assert model["upsample"] == "bilinear" and model["arithmetic"] == "f32"
    layers, residual, c = tensors_of(model, quant, sections["weights"])
    a = [upsample(g, level, height, width) for level, g in grids_of(model["levels"], height, width,
                                                                   sections["latents"])]
    for k, (A, b) in enumerate(layers):
        n_in, n_out = len(a), b.size
        out = []
        for o in range(n_out):
            acc = np.full((height, width), b[o], F32)
            for i in (reversed(range(n_in)) if _VARIANT == "reversed" else range(n_in)):
                if _VARIANT == "fused":  # a*b exact in binary64, one rounding for the sum: what an FMA does
                    acc = (acc.astype(np.float64) + A[o * n_in + i].astype(np.float64) * a[i]).astype(F32)
                else:
                    acc = acc + A[o * n_in + i] * a[i]
            out.append(relu(acc) if k < len(layers) - 1 else acc)
        a = out
    O = a
    rows = [np.clip(np.arange(height) + dy - 1, 0, height - 1) for dy in range(3)]
    cols = [np.clip(np.arange(width) + dx - 1, 0, width - 1) for dx in range(3)]
    for r, (F, e) in enumerate(residual):
        new = []
        for ch in range(c):
            acc = np.full((height, width), e[ch], F32)
            for ci in range(c):
                for dy in range(3):
                    for dx in range(3):
                        acc = acc + F[((ch * c + ci) * 3 + dy) * 3 + dx] * O[ci][np.ix_(rows[dy], cols[dx])]
            new.append(O[ch] + (relu(acc) if r < len(residual) - 1 else acc))
        O = new
    return np.stack(O)


def samples(O: np.ndarray) -> np.ndarray:
    """Spec 11.4 and 11.6: min(max(floor(255 O + 0.5), 0), 255); 0 unless 255 O + 0.5 >= 0 (NaN: 0)."""
    with np.errstate(all="ignore"):
        t = F32(255) * O + F32(0.5)
    out = np.zeros(t.shape, np.uint8)
    positive = t >= F32(0)
    out[positive & (t >= F32(255))] = 255
    middle = positive & (t < F32(255))
    out[middle] = np.floor(t[middle]).astype(np.uint8)
    return out


# ----------------------------------------------------------------------------------- container (spec 2-5)


def open_file(data: bytes, key: saecodec.SecretKey, context: str | None = None) -> tuple[dict, dict[str, bytes]]:
    """Header map and plaintext sections of an authentic file, by the spec alone: preamble, msgpack header,
    file keys (section 4.2, secret-key KDF: the master key is the key), the tag over the context's
    length-prefixed bytes and the file (HMAC-SHA256, sections 2 and 4.3), the chacha20 or logistic keystream
    (the keystreams have their own vectors)."""
    assert data[:8] == MAGIC
    (header_length,) = struct.unpack(">I", data[10:14])
    header_map = msgpack.unpackb(data[14 : 14 + header_length], raw=False)
    assert header_map["format"] == list(data[8:10]) and header_map["format"] >= [1, 3]
    assert header_map["model"]["profile"] == "overfit"
    crypto = header_map["crypto"]
    assert crypto["kdf"] == {"name": "secret-key"} and ("context" in crypto) == (context is not None)
    keys = derive_file_keys(key.material, crypto["nonce"])
    bound = b"" if context is None else len(context.encode()).to_bytes(8, "big") + context.encode()
    tag = hmac.new(keys.authentication, bound + data[:-32], hashlib.sha256).digest()
    assert hmac.compare_digest(tag, data[-32:]), "the tag does not verify by the spec's formula"
    plain = apply_keystream(crypto["cipher"], keys.encryption, data[14 + header_length : -32])
    sections, pos = {}, 0
    for name, length in header_map["sections"]:
        sections[name] = bytes(plain[pos : pos + length])
        pos += length
    assert pos == len(plain)
    return header_map, sections


def spec_decode_float(data: bytes, key=KEY) -> np.ndarray:
    header_map, sections = open_file(data, key)
    return synthesis(header_map, sections)


def spec_decode(data: bytes, key=KEY, context: str | None = None) -> np.ndarray:
    """The pixels as saecodec.decode returns them: (H, W) for L, (H, W, C) otherwise, alpha last."""
    header_map, sections = open_file(data, key, context)
    pixels = samples(synthesis(header_map, sections)).transpose(1, 2, 0)
    if "alpha" in sections:
        h, w = header_map["image"]["height"], header_map["image"]["width"]
        alpha = np.frombuffer(zlib.decompress(sections["alpha"]), np.uint8).reshape(h, w, 1)
        pixels = np.concatenate([pixels, alpha], axis=2)
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels


def reference_float(data: bytes, limits: Limits = saecodec.DEFAULT_LIMITS) -> np.ndarray:
    """saecodec's own binary32 output before rounding (C, H, W), from its own lc1 decoder and kernels."""
    from saecodec.entropy import decode_latents, decode_weights
    from saecodec.kernels.synthesis import SynthesisShape, synthesize_float
    from saecodec.profiles.overfit import coding_order, dequantise_weights, flat_latents

    header = saecodec.verify(data, KEY, limits=limits)
    _, sections = open_file(data, KEY)
    model, image = header.model, header.image
    weights = dequantise_weights(decode_weights(sections["weights"], model.tensor_sizes()), model, header.quant)
    grids = decode_latents(sections["latents"], coding_order(model.grid_shapes(image), model.levels))
    shape = SynthesisShape(image.height, image.width, model.channels, model.levels, model.hidden, model.residual)
    return synthesize_float(shape, flat_latents(grids, model.levels), weights).transpose(2, 0, 1)


def assert_same(data: bytes, limits: Limits = saecodec.DEFAULT_LIMITS) -> np.ndarray:
    """Both decoders agree on the pixels and (up to the sign of zero and NaN payloads, which no sample
    sees) on every binary32 output; returns the spec decoder's float output."""
    expected = saecodec.decode(data, KEY, limits=limits)
    got = spec_decode(data)
    assert got.dtype == np.uint8 and got.shape == expected.shape
    assert np.array_equal(got, expected), f"{np.sum(got != expected)} samples differ"
    O = spec_decode_float(data)
    assert np.array_equal(O, reference_float(data, limits), equal_nan=True)
    return O


# ---------------------------------------------------------------------------------------------- files


def trained(height: int, width: int, channels: int, levels, hidden, residual: int, steps: int = 60,
            quality: float = 70, seed: int = 0) -> bytes:
    """A file of the reference encoder's trainer with a network the effort levels do not use, signed."""
    from saecodec.format.header import ImageInfo, OverfitModelInfo
    from saecodec.model.overfit import encode_overfit
    from saecodec.profiles.overfit import Effort, OverfitSettings

    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    info = ImageInfo(height, width, mode)
    pixels = synthetic_image(height, width, channels, seed=seed).reshape(height, width, channels)
    colour = np.ascontiguousarray(pixels[:, :, : info.colour_channels])
    model = OverfitModelInfo("rgb" if info.colour_channels == 3 else "grey", tuple(levels), tuple(hidden), residual)
    effort = Effort(tuple(levels), tuple(hidden), residual, steps, 0.02)
    settings = OverfitSettings(quality=quality, effort="fast", seed=seed)
    plain = encode_overfit(colour, info, model, effort, settings, lambda p: sum(len(d) for _, d in p.sections),
                           None)
    sections = list(plain.sections)
    if info.has_alpha:
        sections.append(("alpha", zlib.compress(np.ascontiguousarray(pixels[:, :, -1]).tobytes())))
    return hostile_files.sign((1, 3), hostile_files.image_map(height, width, mode), plain.model.to_map(),
                              plain.quant.to_map(), sections)


def random_file(height: int, width: int, mode: str, levels, hidden, residual: int, *, seed: int,
                latent_range: int = 6, bits: int = 9, shift: int = 9) -> bytes:
    """Random latents in -latent_range..latent_range (a quarter of the blocks zero, as trained grids have)
    and random weights of ``bits`` bits at 2^-``shift`` (per tensor a little more or less)."""
    rng = np.random.default_rng(seed)
    sizes = hostile_files.overfit_tensor_sizes(mode, levels, hidden, residual)
    weights = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), sum(sizes))
    shifts = [int(s) for s in np.clip(shift + rng.integers(-2, 3, len(sizes)), 0, 30)]
    grids = []
    for h, w in hostile_files.overfit_grid_shapes(height, width, levels):
        g = rng.integers(-latent_range, latent_range + 1, (h, w))
        g[: 8 * (h // 16), : 8 * (w // 16)] = 0
        grids.append(g)
    return hostile_files.overfit_file(height, width, mode, levels, hidden, residual, weights=weights,
                                      shifts=shifts, latents=grids)


# ---------------------------------------------------------------------------------------------- the tests

ENCODED = [  # (height, width, channels, quality): the reference encoder at effort "fast"
    (48, 64, 3, 75),
    (17, 23, 1, 50),
    (9, 13, 4, 90),
    (6, 5, 2, 30),
    (1, 1, 3, 75),
    (1, 17, 1, 75),
    (33, 7, 3, 20),
]


@pytest.mark.parametrize("height, width, channels, quality", ENCODED)
def test_encoder_files_decode_identically(height, width, channels, quality):
    image = synthetic_image(height, width, channels, seed=height * 31 + width)
    data = saecodec.encode(image, KEY, effort="fast", quality=quality)
    assert saecodec.inspect(data).profile == "overfit"
    assert_same(data)


@pytest.mark.parametrize("height, width, channels, levels, hidden, residual", [
    (20, 28, 3, (1, 1, 1, 1), (16, 16), 0),
    (20, 28, 1, (1, 1, 1), (8,), 2),
    (19, 26, 3, (1, 2, 0, 2), (), 3),  # several channels at a level, a level without any, no hidden layer
    (11, 9, 4, (1, 1), (12, 6, 4, 5), 1),
])
def test_trained_files_of_other_shapes_decode_identically(height, width, channels, levels, hidden, residual):
    data = trained(height, width, channels, levels, hidden, residual)
    header = saecodec.inspect(data)
    assert (header.model.levels, header.model.hidden, header.model.residual) == (levels, hidden, residual)
    assert_same(data)


@pytest.mark.parametrize("height, width, mode, levels, hidden, residual", [
    (13, 19, "L", (0, 2, 0, 1), (5, 3, 7, 2), 4),
    (8, 8, "RGB", (1,), (), 0),  # one linear layer
    (16, 9, "RGB", (0, 0, 1), (), 0),  # only a coarse level: pure up-sampling
    (35, 131, "L", (1, 1, 1, 1, 1, 1, 1), (10,), 2),  # over a stripe of 32 rows and a chunk of 128 columns
    (40, 33, "RGBA", (1, 2, 1, 1, 1), (20, 9), 4),
    (3, 2, "LA", (1, 1), (3,), 1),
    (1, 1, "RGB", (1,), (4, 4, 4, 4), 4),
    (2, 1, "L", (1, 0), (64,), 3),
])
def test_hand_made_files_decode_identically(height, width, mode, levels, hidden, residual):
    data = random_file(height, width, mode, levels, hidden, residual, seed=height * width + residual)
    assert_same(data)


@pytest.mark.parametrize("height, width, mode, levels, hidden", [
    (1, 1, "RGB", (4,) * 7, (256, 3)),  # 28 latents for one pixel, seven 1x1 grids, the widest layers
    (5, 3, "L", (0, 0, 0, 0, 0, 0, 1), (256,)),  # only a 1x1 grid at level 6, for a 5x3 image
    (7, 130, "RGB", (3, 4, 4, 4), (100, 60)),
])
def test_shapes_beyond_the_default_limits_decode_identically(height, width, mode, levels, hidden):
    """The format's own bounds, not the reader's limits: with the limits relaxed both decoders agree too."""
    data = random_file(height, width, mode, levels, hidden, 2, seed=7, bits=7)
    with pytest.raises(saecodec.LimitExceededError):
        saecodec.inspect(data)
    expected = saecodec.decode(data, KEY, limits=RELAXED)
    assert np.array_equal(spec_decode(data), expected)
    assert np.array_equal(spec_decode_float(data), reference_float(data, RELAXED), equal_nan=True)


@pytest.mark.parametrize("seed", [0, 1])
def test_extreme_values_decode_identically(seed):
    """Latents and weights at +-32767, shifts 0 and 30: magnitudes near the top and bottom of binary32."""
    rng = np.random.default_rng(seed)
    levels, hidden, residual = (1, 1, 1), (6, 5), 2
    sizes = hostile_files.overfit_tensor_sizes("RGB", levels, hidden, residual)
    weights = rng.choice([-32767, -1, 0, 1, 32767, 12345], sum(sizes))
    shifts = [int(s) for s in rng.choice([0, 15, 30], len(sizes))]
    grids = [rng.choice([-32767, 0, 32767, 3], s) for s in hostile_files.overfit_grid_shapes(12, 10, levels)]
    data = hostile_files.overfit_file(12, 10, "RGB", levels, hidden, residual, weights=weights, shifts=shifts,
                                      latents=grids)
    assert_same(data)


def test_overflow_to_infinity_and_nan():
    """Spec 11.6: activations beyond binary32 are not an error; +infinity is 255, -infinity and NaN are 0."""
    data = hostile_files.overfit_overflow(16, 24)
    O = assert_same(data)
    assert np.isnan(O).any() and np.isposinf(O).any() and np.isneginf(O).any() and np.isfinite(O).any()
    pixels = spec_decode(data).transpose(2, 0, 1)
    assert np.all(pixels[np.isnan(O)] == 0) and np.all(pixels[np.isneginf(O)] == 0)
    assert np.all(pixels[np.isposinf(O)] == 255)


def test_nan_at_a_relu_becomes_zero():
    """A NaN reaching a ReLU (0 * infinity in a residual layer that is not the last) is 0 there (spec 11.4),
    and that decides pixels: a reader whose max(NaN, 0) were NaN would decode other samples here.

    Four hidden layers of 36 (3987 multiply-adds a pixel) with every weight 32767 take a 5x5 block of
    latents 32767 to about 2e33; the first residual layer (all taps 32767) overflows to +infinity inside the
    block; the second has zero corner taps, so 0 * infinity makes D NaN around it, which its ReLU turns to 0;
    the last (all taps positive) then adds only finite values or +infinity: no NaN reaches a sample."""
    levels, hidden, residual = (1,), (36, 36, 36, 36), 3
    sizes = hostile_files.overfit_tensor_sizes("L", levels, hidden, residual)
    layers = len(hidden) + 1
    tensors = [np.full(size, 32767) if t < 2 * layers and t % 2 == 0 else np.zeros(size, np.int64)
               for t, size in enumerate(sizes)]
    tensors[2 * layers] = np.full(9, 32767)
    tensors[2 * layers + 2] = np.array([0, 1, 0, 1, 1, 1, 0, 1, 0]) * 32767
    tensors[2 * layers + 4] = np.full(9, 32767)
    grid = np.zeros((14, 14), np.int64)
    grid[4:9, 4:9] = 32767
    grid[11, 1] = 3
    data = hostile_files.overfit_file(14, 14, "L", levels, hidden, residual, weights=np.concatenate(tensors),
                                      latents=[grid])
    assert saecodec.inspect(data).model.macs_per_pixel() == 3987
    O = assert_same(data)
    assert np.isposinf(O).any() and not np.isnan(O).any()
    maximum = spec_decode_float_with(data, lambda v: np.maximum(v, F32(0)))  # a NaN-propagating max
    assert np.isnan(maximum).any()
    assert not np.array_equal(samples(maximum), samples(O)), "the file does not exercise max(NaN, 0)"


def spec_decode_float_with(data: bytes, other_relu) -> np.ndarray:
    global relu
    saved = relu
    relu = other_relu
    try:
        return spec_decode_float(data)
    finally:
        relu = saved


def test_the_order_of_operations_is_checked():
    """The comparisons above have teeth: on a file with weights of 15 significant bits (two thirds of the
    samples between 0 and 255), a decoder in binary64, one that sums the 1x1 layers right to left and one that
    fuses each multiply-add give other binary32 outputs in hundreds of samples. (Samples themselves change
    only near a rounding boundary, rarely; and files of the reference encoder, whose weights have 6 to 10
    significant bits, are often computed exactly, in any order, so they cannot show it.)"""
    global F32, _VARIANT
    data = random_file(24, 30, "RGB", (1, 1, 1), (16, 16), 2, seed=11, bits=15, shift=18, latent_range=40)
    O = assert_same(data)
    for variant, dtype in ((None, np.float64), ("reversed", np.float32), ("fused", np.float32)):
        F32, _VARIANT = dtype, variant
        try:
            other = spec_decode_float(data).astype(np.float32)
        finally:
            F32, _VARIANT = np.float32, None
        assert np.sum(other != O) > 100, variant


VECTORS = ROOT / "spec" / "vectors"


def overfit_vectors() -> list[dict]:
    index = json.loads((VECTORS / "files.json").read_text())["vectors"]
    return [v for v in index if v["name"].startswith("ok-overfit")]


@pytest.mark.parametrize("vector", overfit_vectors(), ids=lambda v: v["name"])
def test_shipped_vectors(vector):
    """The spec's own overfit vectors decode, by this implementation, to the pixels their hashes name."""
    data = (VECTORS / vector["file"]).read_bytes()
    pixels = spec_decode(data, saecodec.SecretKey(bytes.fromhex(vector["key"])))
    assert list(pixels.shape) == vector["expect"]["shape"]
    assert hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest() == vector["expect"]["pixels_sha256"]


GOLDEN = ROOT / "tests" / "golden" / "v1.3"


def golden_entries() -> list[dict]:
    return json.loads((GOLDEN / "manifest.json").read_text())["files"]


@pytest.mark.parametrize("entry", golden_entries(), ids=lambda e: e["name"])
def test_golden_files(entry):
    """The format's golden files decode, by this implementation, to their PNG (a context-bound one too)."""
    from PIL import Image

    key = saecodec.SecretKey(bytes.fromhex(json.loads((GOLDEN / "manifest.json").read_text())["key"]))
    pixels = spec_decode((GOLDEN / entry["file"]).read_bytes(), key, entry.get("context"))
    assert np.array_equal(pixels, np.asarray(Image.open(GOLDEN / entry["expected"])))


@pytest.mark.parametrize("residual", [0, 2])
def test_subnormal_values_decode_identically(residual):
    """Five layers of weights 2^-30 .. 3 * 2^-30 take latents 1 .. 9 below 2^-126: the network's outputs are
    binary32 subnormals (spec 11.6 is IEEE 754: no flush to zero), which residual layers of weights up to
    32767 (and zero biases) multiply back into normal numbers. A decoder that flushed subnormals to zero (a
    fast-math or FTZ/DAZ build) would give other outputs."""
    rng = np.random.default_rng(5 + residual)
    levels, hidden = (1,), (4, 4, 4, 4)
    sizes = hostile_files.overfit_tensor_sizes("L", levels, hidden, residual)
    tensors = []
    for t, size in enumerate(sizes):
        if t % 2 == 1:  # biases
            tensors.append(np.zeros(size, np.int64))
        elif t < 2 * (len(hidden) + 1):
            tensors.append(rng.integers(1, 4, size))
        else:
            tensors.append(rng.integers(-32767, 32768, size))
    shifts = [30] * (2 * (len(hidden) + 1)) + [0] * (2 * residual)
    data = hostile_files.overfit_file(10, 12, "L", levels, hidden, residual, weights=np.concatenate(tensors),
                                      shifts=shifts, latents=[rng.integers(1, 10, (10, 12))])
    O = assert_same(data)
    if residual == 0:
        assert np.all((O > 0) & (O < F32(2.0**-126)))  # every output subnormal
    else:
        assert np.all(np.abs(O[O != 0]) >= F32(2.0**-126)) and np.count_nonzero(O) > 100
