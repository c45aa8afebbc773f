"""The rd profile (format 1.1): API round trips, quality and rate control, options, header validation,
hostile plane data inside authentic files, the DCT/colour kernels and the command line."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path
from typing import Any, Callable

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import saecodec
from saecodec._testing import encode_with_nonce
from saecodec import FormatError, InputError, SaecError, UnsupportedFeatureError
from saecodec.cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, main
from saecodec.codec import DEFAULT_PROFILE
from saecodec.crypto.keys import derive_master_key
from saecodec.crypto.keystreams import apply_keystream
from saecodec.crypto.mac import compute_tag
from saecodec.crypto.subkeys import derive_file_keys
from saecodec.entropy import MAX_MAGNITUDE, encode_grid
from saecodec.format.container import assemble, read_envelope
from saecodec.format.header import RD_STEP_MAX, RD_STEP_MIN, CryptoInfo, Header
from saecodec.kernels.colour import (
    downsample2,
    grey_to_plane,
    plane_to_grey,
    planes_to_rgb,
    rgb_to_planes,
    upsample2,
)
from saecodec.kernels.dct import (
    ZIGZAG,
    deblock,
    dct_basis,
    dequantise_inverse,
    forward_blocks,
    predict_dc,
    quantise,
    unpredict_dc,
)
from saecodec.limits import DEFAULT_LIMITS
from saecodec.profiles import rd
from tests.conftest import assert_one_line_error, run_cli, synthetic_image

CIPHERS = ["chacha20", "logistic"]


# ------------------------------------------------------------------------------------------ helpers


def reference_psnr(original: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR computed here, independently of the codec's own helpers."""
    diff = original.astype(np.float64) - decoded.astype(np.float64)
    mse = float(np.mean(diff * diff))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 * 255.0 / mse)


def colour_of(pixels: np.ndarray) -> np.ndarray:
    """The colour channels of an (H, W) or (H, W, C) image, as (H, W, c)."""
    if pixels.ndim == 2:
        return pixels[:, :, None]
    return pixels[:, :, :1] if pixels.shape[2] <= 2 else pixels[:, :, :3]


def textured(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    """A synthetic photograph with some extra fine texture, so bit rate grows smoothly with quality."""
    base = synthetic_image(height, width, channels, seed).astype(np.float64)
    rng = np.random.default_rng(seed + 1000)
    y, x = np.mgrid[0:height, 0:width]
    stripes = 12 * np.sin(x * 0.9 + y * 0.4)
    if base.ndim == 3:
        stripes = stripes[:, :, None]
    return np.clip(base + stripes + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


def file_keys(data: bytes, key: saecodec.SecretKey):
    crypto = CryptoInfo.from_header_map(read_envelope(data).header_map, DEFAULT_LIMITS)
    return derive_file_keys(derive_master_key(key, crypto.kdf, DEFAULT_LIMITS), crypto.nonce)


def open_sections(data: bytes, key: saecodec.SecretKey) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """Decrypt an authentic file by hand: its header map and its plaintext sections, in order."""
    envelope = read_envelope(data)
    header_map = copy.deepcopy(envelope.header_map)
    plain = apply_keystream(header_map["crypto"]["cipher"], file_keys(data, key).encryption, envelope.payload)
    sections, pos = [], 0
    for name, length in header_map["sections"]:
        sections.append((name, plain[pos : pos + length]))
        pos += length
    assert pos == len(plain)
    return header_map, sections


def reseal(header_map: dict[str, Any], sections: list[tuple[str, bytes]], key: saecodec.SecretKey) -> bytes:
    """Re-encrypt and re-authenticate with the right key: a file only the key holder could have written.

    The header's section list is rewritten to match ``sections``, so the container framing stays consistent
    and only the plaintext content is hostile.
    """
    header_map = copy.deepcopy(header_map)
    header_map["sections"] = [[name, len(blob)] for name, blob in sections]
    crypto = CryptoInfo.from_header_map(header_map, DEFAULT_LIMITS)
    keys = derive_file_keys(derive_master_key(key, crypto.kdf, DEFAULT_LIMITS), crypto.nonce)
    payload = b"".join(blob for _, blob in sections)
    version = tuple(header_map["format"])
    body = assemble(
        msgpack.packb(header_map, use_bin_type=True),
        apply_keystream(header_map["crypto"]["cipher"], keys.encryption, payload),
        version,
    )
    return body + compute_tag(keys.authentication, body)


def encode_at_step(monkeypatch: pytest.MonkeyPatch, image: np.ndarray, key, step: int, **options: Any):
    """Encode through the public path with the quantiser step forced to ``step`` (sixteenths)."""
    with monkeypatch.context() as patch:
        patch.setattr(rd, "quality_to_step", lambda quality: step)
        return saecodec.encode_with_stats(image, key, quality=50, **options)


@pytest.fixture(scope="module")
def rgb_file(key) -> tuple[bytes, np.ndarray]:
    image = synthetic_image(27, 35, 3, seed=5)
    return encode_with_nonce(image, key, bytes(range(32)), quality=60), image


@pytest.fixture(scope="module")
def hostile_bases(key) -> list[tuple[bytes, tuple[int, ...]]]:
    """Authentic files whose plaintext the hostile-data tests rewrite: (file, decoded shape)."""
    specs = [
        (synthetic_image(27, 35, 3, seed=1), dict(quality=60)),
        (synthetic_image(19, 30, 3, seed=2), dict(quality=40, chroma="420", cipher="logistic")),
        (synthetic_image(17, 9, 2, seed=3), dict(quality=80)),
        (synthetic_image(9, 21, 4, seed=4), dict(quality=70, chroma="420")),
        (synthetic_image(1, 40, 1, seed=5), dict(quality=90)),
    ]
    return [(saecodec.encode(image, key, **options), image.shape) for image, options in specs]


# ------------------------------------------------------------------------------------------ API round trips


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    height=st.one_of(st.just(1), st.integers(1, 40)),
    width=st.one_of(st.just(1), st.integers(1, 40)),
    channels=st.integers(1, 4),
    chroma=st.sampled_from(["444", "420"]),
    quality=st.one_of(st.integers(0, 100), st.floats(0, 100, allow_nan=False)),
    cipher=st.sampled_from(CIPHERS),
    noise=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_rd_round_trip_any_shape_mode_and_setting(key, height, width, channels, chroma, quality, cipher, noise, seed):
    if noise:
        rng = np.random.default_rng(seed)
        image = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    else:
        image = synthetic_image(height, width, channels, seed=seed)
        image = image[:, :, None] if image.ndim == 2 else image
    if channels == 1:
        image = image[:, :, 0]
    result = saecodec.encode_with_stats(image, key, quality=quality, chroma=chroma, cipher=cipher)
    assert isinstance(result, saecodec.EncodeResult) and result.profile == "rd"
    decoded = saecodec.decode(result.data, key)
    assert decoded.dtype == np.uint8 and decoded.shape == image.shape
    if channels in (2, 4):
        assert np.array_equal(decoded[:, :, -1], image[:, :, -1])
    assert result.psnr == pytest.approx(reference_psnr(colour_of(image), colour_of(decoded)), rel=1e-12, abs=0)
    assert result.bpp == 8.0 * len(result.data) / (height * width)
    assert result.file_bytes == len(result.data)
    header = saecodec.inspect(result.data)
    assert header == result.header
    assert (header.profile, header.version, header.crypto.cipher) == ("rd", (1, 1), cipher)
    colour = 3 if channels >= 3 else 1
    assert header.model.colour == ("ycbcr" if colour == 3 else "grey")
    assert header.model.chroma == (chroma if colour == 3 else "444")
    assert header.quant.steps == (rd.quality_to_step(quality),) * colour
    alpha = ["alpha"] if channels in (2, 4) else []
    assert [name for name, _ in header.sections] == list(header.model.plane_names) + alpha
    if quality == 100 and (colour == 1 or chroma == "444"):
        assert result.psnr > 40.0


@pytest.mark.parametrize("cipher", CIPHERS)
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_rd_round_trip_with_password(channels, cipher):
    password = saecodec.Password("hunter2", log2_n=10, r=8, p=1)
    image = synthetic_image(13, 22, channels, seed=channels)
    result = saecodec.encode_with_stats(image, password, quality=85, cipher=cipher)
    decoded = saecodec.decode(result.data, saecodec.Password("hunter2"))
    assert decoded.shape == image.shape
    assert result.psnr == pytest.approx(reference_psnr(colour_of(image), colour_of(decoded)), rel=1e-12)
    assert result.psnr > 30


def test_default_is_rd_at_quality_75_and_same_nonce_gives_same_file(key):
    image = synthetic_image(24, 31, 3, seed=9)
    default = encode_with_nonce(image, key, bytes(32))
    assert default == encode_with_nonce(image, key, bytes(32))
    assert default == encode_with_nonce(image, key, bytes(32), profile="rd", quality=75, chroma="444")
    assert DEFAULT_PROFILE == "rd" and rd.DEFAULT_QUALITY == 75
    header = saecodec.inspect(default)
    assert header.quant.steps == (200, 200, 200)  # step 12.5 at quality 75


def test_quality_to_step_spot_values_and_monotone():
    assert [rd.quality_to_step(q) for q in (50, 75, 90, 100)] == [400, 200, 80, 8]
    assert rd.quality_to_step(0) == RD_STEP_MAX == rd.quality_to_step(1)  # 1250 levels is clamped to the max
    steps = [rd.quality_to_step(q / 4) for q in range(401)]
    assert all(a >= b for a, b in zip(steps, steps[1:]))
    assert all(RD_STEP_MIN <= s <= RD_STEP_MAX for s in steps)


def test_chroma_420_is_smaller_than_444_and_has_half_size_chroma_planes(key):
    image = textured(40, 50, 3, seed=2)
    full = saecodec.encode_with_stats(image, key, quality=60)
    half = saecodec.encode_with_stats(image, key, quality=60, chroma="420")
    assert half.header.model.chroma == "420" and full.header.model.chroma == "444"
    assert half.header.model.plane_shapes(half.header.image) == [(40, 50), (20, 25), (20, 25)]
    assert len(half.data) < len(full.data)
    assert saecodec.decode(half.data, key).shape == (40, 50, 3)


# ------------------------------------------------------------------------------------------ quality


def test_quality_is_monotone_on_a_natural_image(key):
    image = textured(64, 72, 3, seed=4)
    results = [saecodec.encode_with_stats(image, key, quality=q) for q in (5, 25, 50, 75, 90, 100)]
    sizes = [len(r.data) for r in results]
    psnrs = [r.psnr for r in results]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes), sizes
    assert psnrs == sorted(psnrs) and len(set(psnrs)) == len(psnrs), psnrs
    assert psnrs[-1] > 45.0
    assert psnrs[0] > 15.0  # even the coarsest setting is a picture, not noise


def test_quality_100_grey_is_near_lossless(key):
    image = textured(40, 48, 1, seed=6)
    result = saecodec.encode_with_stats(image, key, quality=100)
    assert result.psnr > 45.0
    decoded = saecodec.decode(result.data, key)
    assert int(np.abs(decoded.astype(int) - image.astype(int)).max()) <= 3


# ------------------------------------------------------------------------------------------ rate control


@pytest.mark.parametrize(
    "shape, target, chroma",
    [
        ((128, 128, 3), 0.5, "444"),
        ((128, 128, 3), 0.5, "420"),
        ((96, 112, 3), 1.0, "444"),
        ((96, 112, 3), 1.0, "420"),
        ((64, 64, 3), 2.0, "444"),
        ((80, 72, 1), 1.0, None),
        ((64, 96, 1), 2.0, None),
    ],
)
def test_target_bpp_is_met_closely_and_is_the_finest_step_that_fits(key, monkeypatch, shape, target, chroma):
    image = textured(*shape, seed=int(target * 10))
    result = saecodec.encode_with_stats(image, key, target_bpp=target, chroma=chroma)
    pixels = shape[0] * shape[1]
    assert result.bpp == 8.0 * len(result.data) / pixels
    assert result.bpp <= target
    assert result.bpp >= 0.95 * target, result.bpp
    decoded = saecodec.decode(result.data, key)
    assert result.psnr == pytest.approx(reference_psnr(colour_of(image), colour_of(decoded)), rel=1e-12)
    step = result.header.quant.steps[0]
    # The next finer step does not fit: the search found the boundary, not just any fitting step.
    finer = encode_at_step(monkeypatch, image, key, step - 1, chroma=chroma)
    assert finer.bpp > target
    same = encode_at_step(monkeypatch, image, key, step, chroma=chroma)
    assert len(same.data) == len(result.data)


@pytest.mark.parametrize("target", [30.0, 36.0, 42.0])
def test_target_psnr_is_met_by_the_coarsest_step(key, monkeypatch, target):
    image = textured(64, 80, 3, seed=7)
    result = saecodec.encode_with_stats(image, key, target_psnr=target, chroma="444")  # one sampling searched
    assert result.psnr >= target
    decoded = saecodec.decode(result.data, key)
    assert reference_psnr(colour_of(image), colour_of(decoded)) >= target
    step = result.header.quant.steps[0]
    coarser = encode_at_step(monkeypatch, image, key, step + 1)
    assert coarser.psnr < target
    # Close to the target (a step of 1/16 level moves PSNR very little) and a sensible rate.
    assert result.psnr < target + 0.5
    assert 0.1 < result.bpp < 8.0


def test_target_psnr_grey_and_420(key, monkeypatch):
    grey = textured(48, 56, 1, seed=8)
    result = saecodec.encode_with_stats(grey, key, target_psnr=38)
    assert 38 <= result.psnr < 38.5
    assert encode_at_step(monkeypatch, grey, key, result.header.quant.steps[0] + 1).psnr < 38
    colour = textured(48, 56, 3, seed=8)
    result = saecodec.encode_with_stats(colour, key, target_psnr=32, chroma="420")
    assert result.psnr >= 32 and result.header.model.chroma == "420"
    assert encode_at_step(monkeypatch, colour, key, result.header.quant.steps[0] + 1, chroma="420").psnr < 32


def test_unreachable_targets_are_input_errors(key):
    image = textured(64, 64, 3, seed=1)
    with pytest.raises(InputError, match=r"cannot reach 0\.001 bpp.*coarsest quantiser"):
        saecodec.encode(image, key, target_bpp=0.001)
    with pytest.raises(InputError, match="cannot reach"):
        saecodec.encode(textured(8, 8, 3), key, target_bpp=2.0)  # the header alone is over budget
    with pytest.raises(InputError, match=r"cannot reach 1e\+06 dB.*finest quantiser"):
        saecodec.encode(image, key, target_psnr=1e6, chroma="420")  # 4:2:0 is never lossless on texture


def test_target_psnr_lossless_when_reachable(key):
    image = textured(16, 16, 1, seed=3)
    result = saecodec.encode_with_stats(image, key, target_psnr=200)
    assert result.psnr == math.inf
    assert np.array_equal(saecodec.decode(result.data, key), image)


# ------------------------------------------------------------------------------------------ option validation


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(quality=-1), "quality"),
        (dict(quality=100.5), "quality"),
        (dict(quality=True), "quality"),
        (dict(quality=float("nan")), "quality"),
        (dict(quality=float("inf")), "quality"),
        (dict(quality="50"), "quality"),
        (dict(target_bpp=0), "target_bpp"),
        (dict(target_bpp=-1.0), "target_bpp"),
        (dict(target_bpp=float("nan")), "target_bpp"),
        (dict(target_bpp=float("inf")), "target_bpp"),
        (dict(target_bpp=True), "target_bpp"),
        (dict(target_psnr=0), "target_psnr"),
        (dict(target_psnr=float("nan")), "target_psnr"),
        (dict(quality=50, target_bpp=1.0), "at most one"),
        (dict(quality=50, target_psnr=30.0), "at most one"),
        (dict(target_bpp=1.0, target_psnr=30.0), "at most one"),
        (dict(chroma="422"), "chroma"),
        (dict(chroma=420), "chroma"),
        (dict(profile="bogus"), "profile"),
        (dict(profile="RD"), "profile"),
        (dict(profile="rd", level=1), "level"),
        (dict(profile="paper", quality=50), "quality"),
        (dict(profile="paper", chroma="420"), "chroma"),
        (dict(level=1, target_bpp=1.0), "target_bpp"),  # level alone chooses paper
        (dict(profile="rd", per_channel=True), "per_channel"),
        (dict(profile="rd", per_channel=False), "per_channel"),
        (dict(profile="rd", weights="f16le"), "weights"),
        (dict(profile="rd", training=saecodec.TrainConfig()), "training"),
        (dict(profile="rd", seed=3), "seed"),
        (dict(seed=3, quality=50), "quality"),  # seed alone chooses paper
        (dict(cipher="aes"), "cipher"),
    ],
)
def test_bad_options_are_input_errors(key, options, message):
    with pytest.raises(InputError, match=message):
        saecodec.encode_with_stats(synthetic_image(8, 8, 3), key, **options)


def test_rd_settings_validate_deblock():
    assert rd.RdSettings(deblock=64).deblock == 64
    for bad in (-1, 65, 1.0, True):
        with pytest.raises(InputError, match="deblock"):
            rd.RdSettings(deblock=bad)


def test_profile_choice_and_versions(key):
    image = synthetic_image(16, 16, 3, seed=1)
    header = saecodec.inspect(saecodec.encode(image, key))
    assert (header.profile, header.version) == ("rd", (1, 1))
    header = saecodec.inspect(saecodec.encode(image, key, quality=30))
    assert (header.profile, header.version) == ("rd", (1, 1))
    paper = saecodec.encode_with_stats(image, key, level=2)
    assert (paper.profile, paper.header.profile, paper.header.version) == ("paper", "paper", (1, 0))
    assert saecodec.decode(paper.data, key).shape == image.shape
    explicit = saecodec.inspect(saecodec.encode(image, key, profile="paper"))
    assert (explicit.profile, explicit.version, explicit.model.level) == ("paper", (1, 0), 1)


# ------------------------------------------------------------------------------------------ header validation


def rd_map(data: bytes) -> dict[str, Any]:
    return copy.deepcopy(saecodec.inspect(data).to_map())


@pytest.fixture(scope="module")
def grey_file(key) -> bytes:
    return saecodec.encode(synthetic_image(12, 20, 1, seed=2), key, quality=50)


@pytest.fixture(scope="module")
def rgba_file(key) -> bytes:
    return saecodec.encode(synthetic_image(12, 20, 4, seed=2), key, quality=50, chroma="420")


def test_real_header_maps_parse_back(rgb_file, grey_file, rgba_file):
    for data in (rgb_file[0], grey_file, rgba_file):
        header = saecodec.inspect(data)
        assert Header.from_map(rd_map(data), (1, 1)) == header
        assert Header.from_map(rd_map(data), (1, 1)).to_map() == header.to_map()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def mutate(m: dict[str, Any]) -> None:
        for part in parents:
            m = m[part]
        m[last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def mutate(m: dict[str, Any]) -> None:
        for part in parents:
            m = m[part]
        del m[last]

    return mutate


def _section_length(name: str, length: int) -> Callable[[dict[str, Any]], None]:
    def mutate(m: dict[str, Any]) -> None:
        for entry in m["sections"]:
            if entry[0] == name:
                entry[1] = length

    return mutate


def _sections(names: list[str]) -> Callable[[dict[str, Any]], None]:
    def mutate(m: dict[str, Any]) -> None:
        m["sections"] = [[name, 40] for name in names]

    return mutate


RGB_FORMAT_ERRORS = {
    "steps below min": _set("quant.steps", [1, 200, 200]),
    "steps zero": _set("quant.steps", [200, 0, 200]),
    "steps negative": _set("quant.steps", [200, 200, -5]),
    "steps above max": _set("quant.steps", [200, 200, 16385]),
    "steps float": _set("quant.steps", [200.0, 200, 200]),
    "steps bool": _set("quant.steps", [True, 200, 200]),
    "steps str": _set("quant.steps", ["200", 200, 200]),
    "steps too few": _set("quant.steps", [200, 200]),
    "steps too many": _set("quant.steps", [200, 200, 200, 200]),
    "steps empty": _set("quant.steps", []),
    "steps not a list": _set("quant.steps", 200),
    "steps missing": _delete("quant.steps"),
    "colour grey on RGB": _set("model.colour", "grey"),
    "deblock 65": _set("model.deblock", 65),
    "deblock -1": _set("model.deblock", -1),
    "deblock bool": _set("model.deblock", True),
    "deblock missing": _delete("model.deblock"),
    "block 8.0": _set("model.block", 8.0),
    "plane section 4 bytes": _section_length("cb", 4),
    "plane section 0 bytes": _section_length("y", 0),
    "sections missing cr": _sections(["y", "cb"]),
    "sections reordered": _sections(["y", "cr", "cb"]),
    "sections with alpha": _sections(["y", "cb", "cr", "alpha"]),
    "sections duplicated": _sections(["y", "cb", "cb"]),
    "sections of the paper": _sections(["decoder", "latent"]),
    "sections renamed": _sections(["Y", "Cb", "Cr"]),
    "format 1.0": _set("format", [1, 0]),
}

RGB_UNSUPPORTED = {
    "chroma 422": _set("model.chroma", "422"),
    "chroma int": None,  # not a str: a FormatError, checked separately below
    "colour rgb": _set("model.colour", "rgb"),
    "colour xyz": _set("model.colour", "xyz"),
    "block 16": _set("model.block", 16),
    "block 4": _set("model.block", 4),
    "transform dct-iv": _set("model.transform", "dct-iv"),
    "transform wavelet": _set("model.transform", "wavelet"),
    "latent rc2": _set("quant.latent", "rc2"),
    "latent u8": _set("quant.latent", "u8"),
    "profile jpeg": _set("model.profile", "jpeg"),
}
del RGB_UNSUPPORTED["chroma int"]


@pytest.mark.parametrize("case", sorted(RGB_FORMAT_ERRORS))
def test_rd_header_format_errors(rgb_file, case):
    m = rd_map(rgb_file[0])
    RGB_FORMAT_ERRORS[case](m)
    version = tuple(m["format"])
    with pytest.raises(FormatError, match="invalid header") as info:
        Header.from_map(m, version)
    assert type(info.value) is FormatError


def test_rd_needs_format_1_1_with_a_clear_message(rgb_file):
    m = rd_map(rgb_file[0])
    m["format"] = [1, 0]
    with pytest.raises(FormatError, match=r"profile 'rd' needs format version 1\.1"):
        Header.from_map(m, (1, 0))
    # and a preamble/header version mismatch is refused as well
    with pytest.raises(FormatError, match="disagrees"):
        Header.from_map(rd_map(rgb_file[0]), (1, 0))


@pytest.mark.parametrize("case", sorted(RGB_UNSUPPORTED))
def test_rd_header_unknown_values_are_unsupported_features(rgb_file, case):
    m = rd_map(rgb_file[0])
    RGB_UNSUPPORTED[case](m)
    with pytest.raises(UnsupportedFeatureError):
        Header.from_map(m, (1, 1))


def test_rd_header_chroma_of_wrong_type_is_format_error(rgb_file):
    m = rd_map(rgb_file[0])
    m["model"]["chroma"] = 420
    with pytest.raises(FormatError) as info:
        Header.from_map(m, (1, 1))
    assert type(info.value) is FormatError


@pytest.mark.parametrize(
    "mutate",
    [
        _set("model.chroma", "420"),
        _set("model.colour", "ycbcr"),
        _set("quant.steps", [200, 200, 200]),
        _set("quant.steps", []),
        _sections(["y", "cb", "cr"]),
        _section_length("y", 3),
    ],
    ids=["chroma 420", "colour ycbcr", "three steps", "no steps", "three sections", "short plane"],
)
def test_rd_grey_header_format_errors(grey_file, mutate):
    m = rd_map(grey_file)
    mutate(m)
    with pytest.raises(FormatError) as info:
        Header.from_map(m, (1, 1))
    assert type(info.value) is FormatError


@pytest.mark.parametrize(
    "mutate",
    [_sections(["y", "cb", "cr"]), _sections(["y", "cb", "cr", "alpha", "alpha"]), _section_length("alpha", 0)],
    ids=["no alpha", "two alphas", "empty alpha"],
)
def test_rd_rgba_header_format_errors(rgba_file, mutate):
    m = rd_map(rgba_file)
    mutate(m)
    with pytest.raises(FormatError) as info:
        Header.from_map(m, (1, 1))
    assert type(info.value) is FormatError


def test_rd_header_boundary_values_are_accepted(rgb_file):
    for mutate in (
        _set("quant.steps", [RD_STEP_MIN, RD_STEP_MAX, 3]),
        _set("model.deblock", 0),
        _set("model.deblock", 64),
        _set("model.chroma", "420"),
        _section_length("cr", 5),
        _set("unknown_future_key", {"x": 1}),
    ):
        m = rd_map(rgb_file[0])
        mutate(m)
        Header.from_map(m, (1, 1))


# ------------------------------------------------------------------------------------------ hostile plane data


def test_reseal_reproduces_the_file_exactly(key, hostile_bases):
    for data, shape in hostile_bases:
        header_map, sections = open_sections(data, key)
        assert reseal(header_map, sections, key) == data
        assert saecodec.decode(reseal(header_map, sections, key), key).shape == shape


def _replace(sections: list[tuple[str, bytes]], name: str, blob: bytes) -> list[tuple[str, bytes]]:
    return [(n, blob if n == name else b) for n, b in sections]


@pytest.mark.parametrize("plane", ["y", "cb", "cr"])
def test_truncated_or_extended_plane_in_authentic_file_is_format_error(key, rgb_file, plane):
    data, _ = rgb_file
    header_map, sections = open_sections(data, key)
    blob = dict(sections)[plane]
    for bad in (blob[:-1], blob[:-2], blob[:5], blob + b"\x00", blob + b"\xff", blob + blob):
        hostile = reseal(header_map, _replace(sections, plane, bad), key)
        saecodec.verify(hostile, key)  # authentic: the MAC is right, only the content is bad
        with pytest.raises(FormatError) as info:
            saecodec.decode(hostile, key)
        assert type(info.value) is FormatError


@pytest.mark.parametrize("plane", ["y", "cr"])
def test_plane_shorter_than_a_coded_plane_is_refused_by_the_header(key, rgb_file, plane):
    data, _ = rgb_file
    header_map, sections = open_sections(data, key)
    hostile = reseal(header_map, _replace(sections, plane, dict(sections)[plane][:4]), key)
    with pytest.raises(FormatError, match="shorter than a coded plane"):
        saecodec.decode(hostile, key)


def test_every_single_byte_corruption_of_a_plane_is_rejected_or_decodes(key, rgb_file):
    data, image = rgb_file
    header_map, sections = open_sections(data, key)
    blob = bytearray(dict(sections)["cb"])
    rejected = 0
    for pos in range(len(blob)):
        bad = bytearray(blob)
        bad[pos] ^= 0x5A
        try:
            decoded = saecodec.decode(reseal(header_map, _replace(sections, "cb", bytes(bad)), key), key)
        except FormatError as exc:
            assert type(exc) is FormatError
            rejected += 1
        else:
            assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert rejected >= len(blob) - 1


def test_swapped_planes_of_different_shapes_are_rejected(key, hostile_bases):
    data, shape = hostile_bases[1]  # 4:2:0, so Y and Cb are coded for different grids
    header_map, sections = open_sections(data, key)
    planes = dict(sections)
    swapped = [("y", planes["cb"]), ("cb", planes["y"]), ("cr", planes["cr"])]
    with pytest.raises(FormatError):
        saecodec.decode(reseal(header_map, swapped, key), key)


def test_extreme_but_valid_plane_streams_decode_to_clamped_pixels(key, rgb_file):
    """A key holder can write any rc1 stream: the largest magnitudes at the coarsest step must not crash."""
    data, image = rgb_file
    header_map, sections = open_sections(data, key)
    header_map["quant"]["steps"] = [RD_STEP_MAX, RD_STEP_MIN, RD_STEP_MAX]
    header_map["model"]["deblock"] = 64
    bh, bw = -(-image.shape[0] // 8), -(-image.shape[1] // 8)
    rng = np.random.default_rng(0)
    grids = {
        "y": np.full((1, bh * bw, 64), MAX_MAGNITUDE, dtype=np.int64),
        "cb": rng.choice([-MAX_MAGNITUDE, MAX_MAGNITUDE], (1, bh * bw, 64)),
        "cr": np.full((1, bh * bw, 64), -MAX_MAGNITUDE, dtype=np.int64),
    }
    hostile = reseal(header_map, [(name, encode_grid(grids[name], bw)) for name in ("y", "cb", "cr")], key)
    with np.errstate(all="raise"):
        decoded = saecodec.decode(hostile, key)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8


def test_corrupt_alpha_in_authentic_file_is_format_error(key, hostile_bases):
    data, _ = hostile_bases[3]  # RGBA
    header_map, sections = open_sections(data, key)
    alpha = dict(sections)["alpha"]
    for bad in (alpha[:-1], alpha + b"\x00", b"\x00" * len(alpha), bytes([alpha[0] ^ 1]) + alpha[1:]):
        with pytest.raises(FormatError):
            saecodec.decode(reseal(header_map, _replace(sections, "alpha", bad), key), key)


_CORRUPTION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.integers(1, 64)),
    st.tuples(st.just("append"), st.integers(0, 10**6), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.integers(0, 10**6), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("replace"), st.integers(0, 10**6), st.binary(min_size=0, max_size=64)),
    st.tuples(st.just("swap"), st.integers(0, 10**6), st.integers(0, 10**6)),
    st.tuples(st.just("step"), st.integers(0, 10**6), st.integers(RD_STEP_MIN, RD_STEP_MAX)),
    st.tuples(st.just("deblock"), st.integers(0, 64)),
)


def _corrupt(
    header_map: dict[str, Any], sections: list[tuple[str, bytes]], ops: list[tuple]
) -> list[tuple[str, bytes]]:
    sections = list(sections)
    for op in ops:
        kind = op[0]
        if kind == "deblock":
            header_map["model"]["deblock"] = op[1]
            continue
        if kind == "step":
            steps = header_map["quant"]["steps"]
            steps[op[1] % len(steps)] = op[2]
            continue
        i = op[1] % len(sections)
        name, blob = sections[i]
        if kind == "flip" and blob:
            pos = op[2] % len(blob)
            blob = blob[:pos] + bytes([blob[pos] ^ op[3]]) + blob[pos + 1 :]
        elif kind == "truncate":
            blob = blob[: max(0, len(blob) - op[2])]
        elif kind == "append":
            blob = blob + op[2]
        elif kind == "insert":
            pos = op[2] % (len(blob) + 1)
            blob = blob[:pos] + op[3] + blob[pos:]
        elif kind == "replace":
            blob = op[2]
        elif kind == "swap":
            j = op[2] % len(sections)
            sections[i], sections[j] = (name, sections[j][1]), (sections[j][0], blob)
            continue
        sections[i] = (name, blob)
    return sections


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(which=st.integers(0, 4), ops=st.lists(_CORRUPTION, min_size=1, max_size=3))
def test_random_plaintext_corruption_is_a_clean_error_or_a_valid_image(key, hostile_bases, which, ops):
    data, shape = hostile_bases[which]
    header_map, sections = open_sections(data, key)
    sections = _corrupt(header_map, sections, ops)
    hostile = reseal(header_map, sections, key)
    try:
        decoded = saecodec.decode(hostile, key)
    except SaecError:
        return
    assert decoded.dtype == np.uint8 and decoded.shape == shape


# ------------------------------------------------------------------------------------------ kernels


def test_dct_basis_is_orthonormal_and_matches_the_definition():
    basis = dct_basis()
    assert basis.shape == (8, 8) and basis.dtype == np.float64
    assert np.abs(basis @ basis.T - np.eye(8)).max() <= 1e-15
    assert np.abs(basis.T @ basis - np.eye(8)).max() <= 1e-15
    k, n = np.mgrid[0:8, 0:8]
    scale = np.where(k == 0, math.sqrt(0.125), 0.5)
    reference = scale * np.cos((2 * n + 1) * k * math.pi / 16)
    assert np.abs(basis - reference).max() <= 1e-15
    assert sorted(ZIGZAG.tolist()) == list(range(64)) and ZIGZAG[:3].tolist() == [0, 1, 8]


@settings(max_examples=25, deadline=None)
@given(bh=st.integers(1, 3), bw=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_forward_is_the_exact_inverse_of_dequantise_inverse_at_step_one(bh, bw, seed):
    indices = np.random.default_rng(seed).integers(-300, 301, (bh * bw, 64))
    plane = dequantise_inverse(indices, 1.0, bh, bw)
    assert plane.shape == (8 * bh, 8 * bw)
    assert np.abs(forward_blocks(plane) - indices).max() <= 1e-9
    # Parseval: an orthonormal transform keeps energy.
    assert float(np.sum(plane**2)) == pytest.approx(float(np.sum(indices.astype(float) ** 2)), rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    bh=st.integers(1, 3),
    bw=st.integers(1, 3),
    step16=st.integers(RD_STEP_MIN, 64),
    seed=st.integers(0, 2**16),
)
def test_fine_quantisation_reconstructs_within_its_error_bound(bh, bw, step16, seed):
    rng = np.random.default_rng(seed)
    plane = rng.uniform(-128, 128, (8 * bh, 8 * bw))
    step = step16 / 16.0
    coef = forward_blocks(plane)
    # With rounding to nearest every coefficient is within step/2: the block error's L2 norm is at most
    # 8 * step / 2, which bounds every pixel's error.
    nearest = quantise(coef, step, rounding=0.5)
    assert np.abs(nearest * step - coef).max() <= step / 2 + 1e-9
    error = dequantise_inverse(nearest, step, bh, bw) - plane
    assert np.abs(error).max() <= step / 2 * 8 + 1e-9
    # The dead-zone quantiser rounds AC toward zero but never by a whole step.
    deadzone = quantise(coef, step)
    assert np.abs(deadzone * step - coef).max() < step
    assert np.all(np.abs(deadzone) <= np.abs(nearest))
    assert np.array_equal(deadzone[:, 0], nearest[:, 0])  # DC always rounds to nearest


@settings(max_examples=50, deadline=None)
@given(
    bh=st.integers(1, 6),
    bw=st.integers(1, 6),
    data=st.data(),
)
def test_predict_and_unpredict_dc_are_inverses(bh, bw, data):
    dc = np.array(data.draw(st.lists(st.integers(-16383, 16383), min_size=bh * bw, max_size=bh * bw)), dtype=np.int64)
    residual = predict_dc(dc, bh, bw)
    assert residual.dtype == np.int64 and residual.shape == dc.shape
    assert residual[0] == dc[0]  # the first block is predicted from 0
    assert np.array_equal(unpredict_dc(residual, bh, bw), dc)
    assert np.array_equal(predict_dc(unpredict_dc(dc, bh, bw), bh, bw), dc)


def test_predict_dc_of_a_flat_image_is_zero_after_the_first_block():
    dc = np.full(5 * 7, 37, dtype=np.int64)
    residual = predict_dc(dc, 5, 7)
    assert residual[0] == 37 and not residual[1:].any()
    ramp = np.tile(np.arange(7, dtype=np.int64) * 3, 5)  # each row a ramp, rows alike: predicted from above
    residual = predict_dc(ramp, 5, 7)
    assert np.array_equal(residual[:7], [0, 3, 3, 3, 3, 3, 3]) and not residual[7:].any()


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 3), cols=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_deblock_with_threshold_zero_is_the_identity_and_a_copy(rows, cols, seed):
    plane = np.random.default_rng(seed).uniform(-200, 200, (8 * rows, 8 * cols))
    original = plane.copy()
    out = deblock(plane, 0.0)
    assert np.array_equal(out, original) and out is not plane
    deblock(plane, 5.0)
    assert np.array_equal(plane, original)  # never in place


@settings(max_examples=25, deadline=None)
@given(
    threshold=st.floats(0.05, 40.0),
    margin=st.floats(0.0, 100.0),
    rows=st.integers(1, 3),
    cols=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_deblock_leaves_steps_of_at_least_2t_alone(threshold, margin, rows, cols, seed):
    """Blocks of random texture whose neighbours across every edge differ by at least 2T stay untouched."""
    rng = np.random.default_rng(seed)
    gap = 2 * threshold + margin
    texture = rng.uniform(0, 1, (8 * rows, 8 * cols))  # a spread below 1 cannot close a gap of >= 2T + 1 ...
    by, bx = np.mgrid[0 : 8 * rows, 0 : 8 * cols] // 8
    plane = ((by + bx) % 2) * (gap + 1.0) + texture  # ... so every edge sample pair differs by more than 2T
    assert np.array_equal(deblock(plane, threshold), plane)


def test_deblock_smooths_small_steps_by_at_most_t():
    threshold = 4.0
    plane = np.zeros((8, 16))
    plane[:, 8:] = 6.0  # a step of 6 < 2T = 8: a blocking artefact
    out = deblock(plane, threshold)
    assert not np.array_equal(out, plane)
    assert np.abs(out - plane).max() <= threshold
    assert np.allclose(out[:, 7], 1.5) and np.allclose(out[:, 8], 4.5)  # each side moved by d/4
    assert np.array_equal(out[:, :6], plane[:, :6]) and np.array_equal(out[:, 10:], plane[:, 10:])
    exact = np.zeros((8, 16))
    exact[:, 8:] = 8.0  # exactly 2T: a real edge
    assert np.array_equal(deblock(exact, threshold), exact)
    constant = np.full((24, 24), 17.25)
    assert np.array_equal(deblock(constant, threshold), constant)


@settings(max_examples=40, deadline=None)
@given(
    value=st.one_of(st.integers(-300, 300).map(float), st.floats(-300, 300, allow_nan=False)),
    rows=st.integers(1, 20),
    cols=st.integers(1, 20),
)
def test_upsample2_of_a_constant_is_that_constant(value, rows, cols):
    plane = np.full(((rows + 1) // 2, (cols + 1) // 2), value)
    out = upsample2(plane, rows, cols)
    assert out.shape == (rows, cols)
    if value == int(value):
        assert np.all(out == value)
    else:
        assert np.abs(out - value).max() <= 4e-15 * max(1.0, abs(value))


def test_upsample2_interpolates_and_downsample2_averages():
    ramp = np.arange(4, dtype=np.float64)[None, :].repeat(3, axis=0)
    up = upsample2(ramp, 6, 8)
    assert np.allclose(up[0], [0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0])
    assert np.array_equal(downsample2(np.array([[1.0, 3.0, 5.0], [3.0, 5.0, 7.0]])), np.array([[3.0, 6.0]]))


def test_colour_transform_round_trips_every_rgb_colour():
    values = np.arange(256, dtype=np.uint8)
    g, b = np.meshgrid(values, values, indexing="ij")
    for red in range(256):
        rgb = np.stack([np.full_like(g, red), g, b], axis=2)
        back = planes_to_rgb(*rgb_to_planes(rgb))
        assert back.dtype == np.uint8
        if not np.array_equal(back, rgb):
            bad = np.argwhere((back != rgb).any(axis=2))[0]
            pytest.fail(f"colour {rgb[tuple(bad)]} comes back as {back[tuple(bad)]}")


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 17), cols=st.integers(1, 17), seed=st.integers(0, 2**16))
def test_colour_and_grey_round_trips_on_random_arrays(rows, cols, seed):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (rows, cols, 3), dtype=np.uint8)
    planes = rgb_to_planes(rgb)
    assert all(p.shape == (rows, cols) and p.dtype == np.float64 for p in planes)
    assert np.array_equal(planes_to_rgb(*planes), rgb)
    grey = rgb[:, :, 0]
    assert np.array_equal(plane_to_grey(grey_to_plane(grey)), grey)
    # Out-of-range planes clamp instead of wrapping.
    assert np.array_equal(plane_to_grey(np.full((rows, cols), 1e9)), np.full((rows, cols), 255, np.uint8))
    assert np.array_equal(plane_to_grey(np.full((rows, cols), -1e9)), np.zeros((rows, cols), np.uint8))


# ------------------------------------------------------------------------------------------ CLI

CLI_HEIGHT, CLI_WIDTH = 64, 96
REPORT = re.compile(
    r"^'(?P<path>[^']+)': (?P<bytes>\d+) bytes, (?P<bpp>\d+\.\d{3}) bpp, PSNR (?P<psnr>\d+\.\d{2}) dB "
    r"\(rd profile, (?P<setting>[^)]*)\)\n$"
)


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rdcli")


@pytest.fixture(scope="module")
def cli_image(cli_dir: Path) -> tuple[Path, np.ndarray]:
    pixels = textured(CLI_HEIGHT, CLI_WIDTH, 3, seed=11)
    path = cli_dir / "in.png"
    Image.fromarray(pixels).save(path)
    return path, pixels


@pytest.fixture(scope="module")
def cli_key(cli_dir: Path) -> Path:
    path = cli_dir / "k.key"
    assert main(["keygen", "-o", str(path)]) == EXIT_OK
    return path


@pytest.fixture(scope="module")
def cli_rd_file(cli_dir: Path, cli_image, cli_key: Path) -> Path:
    path = cli_dir / "shared-rd.saec"
    assert main(["encode", str(cli_image[0]), "-o", str(path), "-k", str(cli_key), "-q", "--quality", "60"]) == EXIT_OK
    return path


@pytest.mark.parametrize(
    "options, setting",
    [
        ([], r"quality 75, step 12\.5, chroma 444"),
        (["--quality", "60"], r"quality 60, step [\d.]+, chroma 444"),
        (["--target-bpp", "1.5"], r"target 1\.5 bpp, step [\d.]+, chroma (444|420)"),
        (["--target-psnr", "30"], r"target 30 dB, step [\d.]+, chroma (444|420)"),
        (["--chroma", "420"], r"quality 75, step 12\.5, chroma 420"),
        (["--profile", "rd", "--cipher", "logistic"], r"quality 75, step 12\.5, chroma 444"),
        (["--profile", "rd", "--quality", "95", "--chroma", "420"], r"quality 95, step [\d.]+, chroma 420"),
    ],
    ids=["default", "quality", "target-bpp", "target-psnr", "chroma", "logistic", "quality-chroma"],
)
def test_cli_rd_round_trip_and_report(tmp_path, cli_image, cli_key, capsys, options, setting):
    in_path, pixels = cli_image
    enc, dec = tmp_path / "out.saec", tmp_path / "out.png"
    code, out, err = run_cli(capsys, "encode", in_path, "-o", enc, "-k", cli_key, *options)
    assert code == EXIT_OK and out == "", err
    if "logistic" in options:  # the CLI names the insecure suite on one warning line first (tests/test_cli_io.py)
        warning, _, err = err.partition("\n")
        assert warning.startswith("saec: warning: the logistic cipher")
    match = REPORT.match(err)
    assert match, err
    assert re.fullmatch(setting, match["setting"]), match["setting"]
    size = enc.stat().st_size
    assert match["path"] == str(enc)
    assert int(match["bytes"]) == size
    assert match["bpp"] == f"{8 * size / (CLI_HEIGHT * CLI_WIDTH):.3f}"
    header = saecodec.inspect(enc.read_bytes())
    assert (header.profile, header.version) == ("rd", (1, 1))
    assert header.crypto.cipher == ("logistic" if "logistic" in options else "chacha20")
    assert header.model.chroma == re.search(r"chroma (\d+)", match["setting"])[1]
    if "--chroma" in options or not any(o.startswith("--target") for o in options):
        assert header.model.chroma == ("420" if "420" in options else "444")  # quality 60-95: above the crossover
    step = re.search(r"step ([\d.]+)", match["setting"])[1]
    assert float(step) == header.quant.steps[0] / 16

    code, out, err = run_cli(capsys, "decode", enc, "-o", dec, "-k", cli_key)
    assert (code, out, err) == (EXIT_OK, "", "")
    with Image.open(dec) as img:
        assert img.format == "PNG" and img.mode == "RGB" and img.size == (CLI_WIDTH, CLI_HEIGHT)
        decoded = np.asarray(img)
    achieved = reference_psnr(pixels, decoded)
    assert match["psnr"] == f"{achieved:.2f}"
    if "--target-bpp" in options:
        assert 8 * size / (CLI_HEIGHT * CLI_WIDTH) <= 1.5
    if "--target-psnr" in options:
        assert achieved >= 30


def test_cli_grey_rd_round_trip(tmp_path, cli_key, capsys):
    pixels = textured(21, 30, 1, seed=4)
    src, enc, dec = tmp_path / "g.png", tmp_path / "g.saec", tmp_path / "g-decoded.png"
    Image.fromarray(pixels).save(src)
    code, _, err = run_cli(capsys, "encode", src, "-o", enc, "-k", cli_key, "--quality", "90", "--chroma", "420")
    assert code == EXIT_OK, err
    assert "chroma 444" in err  # a grey image has no chroma to subsample
    assert run_cli(capsys, "decode", enc, "-o", dec, "-k", cli_key)[0] == EXIT_OK
    with Image.open(dec) as img:
        assert img.mode == "L"
        decoded = np.asarray(img)
    assert f"PSNR {reference_psnr(pixels, decoded):.2f} dB" in err
    code, out, _ = run_cli(capsys, "info", enc)
    assert code == EXIT_OK
    assert "profile:     rd (grey, dct-ii 8x8 stock weights, rc1 entropy coder)" in out
    assert re.search(r"quantiser:   steps y [\d.]+; deblocking \d+/16 of the step", out)


@pytest.mark.parametrize(
    "options, mentions",
    [
        (["--level", "1", "--quality", "50"], "--quality"),
        (["--level", "2", "--chroma", "420"], "--chroma"),
        (["--seed", "3", "--target-bpp", "1"], "--target-bpp"),
        (["--profile", "rd", "--seed", "3"], "--seed"),
        (["--profile", "rd", "--level", "1"], "--level"),
        (["--profile", "paper", "--target-psnr", "30"], "--target-psnr"),
        (["--quality", "101"], "quality"),
        (["--quality", "-1"], "quality"),
        (["--quality", "nan"], "quality"),
        (["--quality", "high"], "quality"),
        (["--target-bpp", "0"], "bits per pixel"),
        (["--target-bpp", "inf"], "bits per pixel"),
        (["--target-psnr", "-3"], "PSNR"),
        (["--quality", "50", "--target-bpp", "1"], "not allowed with"),
        (["--target-bpp", "1", "--target-psnr", "30"], "not allowed with"),
        (["--chroma", "422"], "chroma"),
        (["--profile", "bogus"], "profile"),
    ],
)
def test_cli_bad_profile_options_are_usage_errors(tmp_path, cli_image, cli_key, capsys, options, mentions):
    enc = tmp_path / "never.saec"
    code, out, err = run_cli(capsys, "encode", cli_image[0], "-o", enc, "-k", cli_key, *options)
    assert code == EXIT_USAGE, err
    assert out == ""
    assert_one_line_error(err)
    assert mentions in err
    assert not enc.exists()


def test_cli_unreachable_target_is_invalid_input(tmp_path, cli_image, cli_key, capsys):
    enc = tmp_path / "never.saec"
    code, _, err = run_cli(capsys, "encode", cli_image[0], "-o", enc, "-k", cli_key, "--target-bpp", "0.001")
    assert code == EXIT_INVALID
    assert_one_line_error(err)
    assert "cannot reach 0.001 bpp" in err
    assert not enc.exists() and list(tmp_path.iterdir()) == []


def test_cli_info_shows_rd_and_steps(cli_rd_file, capsys):
    code, out, err = run_cli(capsys, "info", cli_rd_file)
    assert code == EXIT_OK and err == ""
    header = saecodec.inspect(cli_rd_file.read_bytes())
    steps = ", ".join(f"{name} {s / 16:g}" for name, s in zip(("y", "cb", "cr"), header.quant.steps))
    assert "format:      .saec v1.1" in out
    assert "profile:     rd (ycbcr 444, dct-ii 8x8 stock weights, rc1 entropy coder)" in out
    assert f"quantiser:   steps {steps}; deblocking {header.model.deblock}/16 of the step" in out
    assert f"image:       {CLI_WIDTH}x{CLI_HEIGHT} RGB" in out
    assert f"file size:   {cli_rd_file.stat().st_size} bytes" in out


def test_cli_info_json_of_rd_file(cli_rd_file, capsys):
    code, out, err = run_cli(capsys, "info", "--json", cli_rd_file)
    assert code == EXIT_OK and err == ""
    doc = json.loads(out)
    header = saecodec.inspect(cli_rd_file.read_bytes())
    assert doc["model"]["profile"] == "rd"
    assert doc["format"] == [1, 1]
    assert doc["model"]["colour"] == "ycbcr" and doc["model"]["transform"] == "dct-ii"
    assert doc["quant"] == {"latent": "rc1", "steps": list(header.quant.steps)}
    assert doc["derived"]["decoder_bytes"] == 0
    assert doc["derived"]["latent_bytes"] == sum(length for _, length in header.sections)
    assert "nominal_ratio" not in doc["derived"] and "latent_units" not in doc["derived"]
    assert doc["file_bytes"] == cli_rd_file.stat().st_size
    assert doc["bpp"] == pytest.approx(8 * doc["file_bytes"] / (CLI_WIDTH * CLI_HEIGHT))


def test_cli_verify_rd_file(cli_rd_file, cli_key, capsys):
    assert run_cli(capsys, "verify", cli_rd_file, "-k", cli_key) == (EXIT_OK, "OK\n", "")


@pytest.mark.parametrize("value", [np.int64(50), np.float32(50.0), np.uint8(50)])
def test_numpy_scalars_are_numbers(value: object) -> None:
    key = saecodec.generate_key()
    image = np.zeros((9, 9, 3), np.uint8)
    expected = encode_with_nonce(image, key, bytes(32), quality=50)
    assert encode_with_nonce(image, key, bytes(32), quality=value) == expected
    assert saecodec.encode_with_stats(image, key, target_bpp=np.float32(100.0)).bpp <= 100.0


def test_auto_chroma_follows_the_crossover_in_quality_mode() -> None:
    key = saecodec.generate_key()
    image = synthetic_image(40, 48, 3, seed=11)
    low, high = saecodec.encode_with_stats(image, key, quality=10), saecodec.encode_with_stats(image, key, quality=60)
    assert rd.quality_to_step(10) >= rd.AUTO_CHROMA_STEP > rd.quality_to_step(60)
    assert (low.header.model.chroma, high.header.model.chroma) == ("420", "444")
    forced = saecodec.encode_with_stats(image, key, quality=10, chroma="444")
    assert forced.header.model.chroma == "444" and forced.bpp > low.bpp


@pytest.mark.parametrize("target", [0.25, 0.4, 1.0])
def test_auto_chroma_takes_the_better_sampling_for_a_size_target(target: float) -> None:
    key = saecodec.generate_key()
    image = textured(192, 192, 3, seed=5)  # large enough that the ~300-byte header fits 0.15 bpp
    results = {c: saecodec.encode_with_stats(image, key, target_bpp=target, chroma=c) for c in ("auto", "444", "420")}
    assert all(r.bpp <= target for r in results.values())
    assert results["auto"].psnr == max(results["444"].psnr, results["420"].psnr)


def test_auto_chroma_takes_the_smaller_file_for_a_psnr_target() -> None:
    key = saecodec.generate_key()
    image = textured(96, 96, 3, seed=8)
    results = {c: saecodec.encode_with_stats(image, key, target_psnr=30.0, chroma=c) for c in ("auto", "444", "420")}
    assert all(r.psnr >= 30.0 for r in results.values())
    assert results["auto"].bpp == min(results["444"].bpp, results["420"].bpp)



def test_auto_chroma_reaches_a_size_only_4_2_0_can_reach() -> None:
    key = saecodec.generate_key()
    image = synthetic_image(256, 256, 3, seed=3)  # 4:4:4 bottoms out near 0.13 bpp here, 4:2:0 near 0.09
    with pytest.raises(InputError, match="cannot reach"):
        saecodec.encode(image, key, target_bpp=0.11, chroma="444")
    result = saecodec.encode_with_stats(image, key, target_bpp=0.11)
    assert result.header.model.chroma == "420" and 0.1 < result.bpp <= 0.11
