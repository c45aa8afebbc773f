"""The overfit profile (format 1.3, spec section 11): behaviour through the public API, the CLI and numcodecs,
and how a reader treats a file whose header or streams are wrong in exactly one way.

Images are tiny and every encode uses effort "fast" (a fraction of a second once the kernels are compiled).
Faulty files are made with the test key of tools/hostile_files.py: decrypted, changed in one place and signed
again, so they pass the tag check and fail (or not) only on what was changed. The limits on the decoder's
size are tested in test_hostile.py, a second decoder written from the spec in test_overfit_spec.py.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import saecodec
from saecodec import AuthenticationError, FormatError, InputError, UnsupportedFeatureError
from saecodec._testing import encode_with_nonce
from saecodec.cli import EXIT_OK, EXIT_USAGE
from saecodec.metrics import psnr
from saecodec.numcodecs import Saec
from saecodec.profiles.overfit import EFFORTS
from tests.conftest import assert_one_line_error, run_cli, synthetic_image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import hostile_files  # noqa: E402

KEY = hostile_files.KEY
MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
NONCE = bytes(range(7, 39))


def encode_fast(image, key=KEY, **options) -> bytes:
    return saecodec.encode(image, key, effort="fast", **options)


def expected_level_count(height: int, width: int, channels: tuple[int, ...] = EFFORTS["fast"].levels) -> int:
    """The encoder keeps the levels whose coarsest grid is still at least about 4 samples across: it drops
    the last level while max(height, width) < 4 * 2^(levels - 1), down to one level."""
    levels = len(channels)
    while levels > 1 and max(height, width) < 4 * 2 ** (levels - 1):
        levels -= 1
    # ... and then while the grids would hold more than 2 latent values a pixel (a default reader's limit)
    while levels > 1 and sum(channels[l] * -(-height // 2**l) * -(-width // 2**l)
                             for l in range(levels)) > 2 * height * width:
        levels -= 1
    return levels


# ------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_round_trip_every_mode(channels: int) -> None:
    image = synthetic_image(20, 28, channels, seed=channels)
    result = saecodec.encode_with_stats(image, KEY, effort="fast")
    header = saecodec.inspect(result.data)
    assert (header.version, header.profile, header.image.mode) == ((1, 3), "overfit", MODES[channels])
    assert result.data[8:10] == b"\x01\x03"
    assert header.model.colour == ("rgb" if channels >= 3 else "grey")
    names = [name for name, _ in header.sections]
    assert names == ["weights", "latents"] + (["alpha"] if channels in (2, 4) else [])
    decoded = saecodec.decode(result.data, KEY)
    assert decoded.dtype == np.uint8 and decoded.shape == image.shape
    colour = 1 if channels <= 2 else 3
    if channels in (2, 4):
        assert np.array_equal(decoded[:, :, -1], image[:, :, -1])  # alpha is lossless
    original = image if channels == 1 else image[:, :, :colour]
    got = decoded if channels == 1 else decoded[:, :, :colour]
    assert psnr(original, got) > 22.0  # a photo-like image, effort "fast"
    assert result.profile == "overfit"


@pytest.mark.parametrize("height, width, channels", [
    (1, 1, 3), (1, 1, 1), (1, 17, 3), (17, 1, 1), (17, 5, 3), (2, 3, 4), (5, 31, 2), (8, 1, 3), (9, 33, 1),
    (1, 16, 3),  # fast's channels 1,1,2: 16 + 8 + 2 * 4 = 32 latents for 16 pixels, exactly the limit of 2 a pixel
    (1, 18, 3),  # three levels would be 18 + 9 + 2 * 5 = 37 latents for 18 pixels, one over the limit of 36
    (1, 129, 3), (1, 257, 3),
    (257, 1, 1),
])
def test_odd_sizes(height: int, width: int, channels: int) -> None:
    image = synthetic_image(height, width, channels, seed=height * 100 + width)
    result = saecodec.encode_with_stats(image, KEY, effort="fast")
    header = saecodec.inspect(result.data)
    assert header.version == (1, 3) and header.profile == "overfit"
    assert len(header.model.levels) == expected_level_count(height, width)
    decoded = saecodec.decode(result.data, KEY)
    assert decoded.shape == image.shape
    colour = 1 if channels <= 2 else 3
    if channels in (2, 4):
        assert np.array_equal(decoded[:, :, -1], image[:, :, -1])
    original = image if channels == 1 else image[:, :, :colour]
    assert result.psnr == psnr(original, decoded if channels == 1 else decoded[:, :, :colour])


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_reported_psnr_and_rate_are_those_of_the_decoded_file(channels: int) -> None:
    image = synthetic_image(24, 32, channels, seed=9)
    result = saecodec.encode_with_stats(image, KEY, effort="fast", quality=60)
    decoded = saecodec.decode(result.data, KEY)
    colour = image if channels == 1 else image[:, :, :3]
    assert result.psnr == psnr(colour, decoded if channels == 1 else decoded[:, :, :3])
    assert result.bpp == 8 * len(result.data) / (24 * 32)
    assert result.header == saecodec.inspect(result.data)


def test_same_seed_and_nonce_give_the_same_bytes_another_seed_another_file() -> None:
    image = synthetic_image(16, 24, 3, seed=4)
    first = encode_with_nonce(image, KEY, NONCE, effort="fast", seed=5)
    again = encode_with_nonce(image, KEY, NONCE, effort="fast", seed=5)
    other = encode_with_nonce(image, KEY, NONCE, effort="fast", seed=6)
    assert first == again
    assert other != first
    assert not np.array_equal(saecodec.decode(other, KEY), saecodec.decode(first, KEY))  # training differs
    assert saecodec.inspect(first).crypto.nonce == NONCE


def test_higher_quality_gives_a_larger_file_and_a_higher_psnr() -> None:
    """Quality 10 against 100 on a 64x48 photo-like image. Measured on six images and two training seeds
    each: 793-831 bytes against 1111-1314, and 1.3 to 4.2 dB more at quality 100 with the same seed (the
    seed alone moves the PSNR by up to 2.4 dB, so only the same seed is compared)."""
    image = synthetic_image(48, 64, 3, seed=2)
    low = saecodec.encode_with_stats(image, KEY, effort="fast", quality=10, seed=0)
    high = saecodec.encode_with_stats(image, KEY, effort="fast", quality=100, seed=0)
    assert len(high.data) > len(low.data) * 1.2
    assert high.psnr > low.psnr + 0.5


# ------------------------------------------------------------------------------------ settings, routing


@pytest.mark.parametrize("options", [
    dict(effort="slow"),
    dict(effort=""),
    dict(effort="fast", seed=-1),
    dict(effort="fast", seed=2**32),
    dict(effort="fast", seed=1.5),
    dict(effort="fast", seed=True),
    dict(effort="fast", seed="1"),
    dict(effort="fast", quality=101),
    dict(effort="fast", quality=-1),
    dict(effort="fast", quality="high"),
    dict(effort="fast", quality=True),
    dict(effort="fast", target_bpp=0),
    dict(effort="fast", target_bpp=float("nan")),
    dict(effort="fast", target_psnr=float("inf")),
    dict(effort="fast", quality=50, target_bpp=1.0),
    dict(effort="fast", target_bpp=1.0, target_psnr=30.0),
    dict(profile="overfit", quality=50, target_psnr=30.0),
])
def test_bad_settings_are_input_errors(options: dict) -> None:
    with pytest.raises(InputError):
        saecodec.encode(synthetic_image(8, 8, 3), KEY, **options)


def test_effort_alone_chooses_the_overfit_profile() -> None:
    for options in (dict(effort="fast"), dict(effort="fast", quality=40), dict(effort="fast", seed=3),
                    dict(profile="overfit", effort="fast")):
        data = saecodec.encode(synthetic_image(8, 12, 3), KEY, **options)
        assert saecodec.inspect(data).profile == "overfit", options


@pytest.mark.parametrize("options", [
    dict(effort="fast", level=1),  # level is the paper profile's
    dict(effort="fast", chroma="444"),  # chroma is the rd profile's
    dict(profile="overfit", effort="fast", chroma="420"),
    dict(profile="overfit", level=2),
    dict(profile="rd", effort="fast"),
    dict(profile="paper", effort="fast"),
    dict(profile="overfit", weights="f16le"),
    dict(profile="overfit", per_channel=True),
])
def test_options_of_another_profile_are_input_errors(options: dict) -> None:
    with pytest.raises(InputError):
        saecodec.encode(synthetic_image(8, 8, 3), KEY, **options)


# ------------------------------------------------------------------------------- context and metadata


def test_context_binding() -> None:
    context = "arrays/overfit/c/0/0"
    data = encode_fast(synthetic_image(12, 16, 3, seed=2), context=context)
    header = saecodec.inspect(data)
    assert header.crypto.context_bound and header.version == (1, 3)  # 1.3 has every feature of 1.2
    decoded = saecodec.decode(data, KEY, context=context)
    assert decoded.shape == (12, 16, 3)
    for wrong in (None, "arrays/overfit/c/0/1", ""):
        with pytest.raises(AuthenticationError):
            saecodec.decode(data, KEY, context=wrong)
    unbound = encode_fast(synthetic_image(12, 16, 3, seed=2))
    with pytest.raises(AuthenticationError):
        saecodec.decode(unbound, KEY, context=context)


def photo_with_metadata() -> Image.Image:
    image = Image.fromarray(synthetic_image(16, 20, 3, seed=8))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010E] = "a private place"
    image.info["exif"] = exif.tobytes()
    image.info["icc_profile"] = bytes(range(256))
    image.info["xmp"] = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    return image


def test_metadata_is_kept_encrypted_and_stripped_on_request() -> None:
    image = photo_with_metadata()
    data = encode_fast(image)
    header = saecodec.inspect(data)
    assert header.version == (1, 3) and header.has_metadata
    assert [name for name, _ in header.sections] == ["weights", "latents", "meta"]
    assert b"a private place" not in data and bytes(range(256)) not in data
    result = saecodec.decode_image(data, KEY)
    assert result.metadata.icc == bytes(range(256))
    assert result.metadata.xmp == image.info["xmp"]
    restored = Image.Exif()
    restored.load(result.metadata.exif)
    assert restored[0x0112] == 6 and restored[0x010E] == "a private place"
    assert result.pixels.shape == (16, 20, 3)
    stripped = encode_fast(image, strip_metadata=True)
    header = saecodec.inspect(stripped)
    assert not header.has_metadata and header.version == (1, 3)
    assert saecodec.decode(stripped, KEY).shape == (20, 16, 3)  # turned upright (orientation 6)


# ----------------------------------------------------------------------------------- numcodecs and CLI


def test_numcodecs_round_trip(key) -> None:
    codec = Saec(key=key, profile="overfit", effort="fast", quality=60, seed=2)
    config = codec.get_config()
    assert {k: config[k] for k in ("profile", "effort", "quality", "seed")} == {
        "profile": "overfit", "effort": "fast", "quality": 60, "seed": 2}
    assert Saec.from_config({k: v for k, v in config.items() if k != "id"}) == codec
    chunk = synthetic_image(16, 16, 3, seed=5)
    data = codec.encode(chunk)
    assert saecodec.inspect(data).profile == "overfit"
    decoded = codec.decode(data)
    assert decoded.shape == chunk.shape and psnr(chunk, decoded) > 20
    out = np.zeros_like(chunk)
    codec.decode(data, out=out)
    assert np.array_equal(out, decoded)
    with pytest.raises(InputError):
        Saec(key=key, effort="fast", level=1)
    with pytest.raises(InputError):
        Saec(key=key, effort="turbo")


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("overfit-cli")
    image = folder / "in.png"
    Image.fromarray(synthetic_image(18, 26, 3, seed=6)).save(image)
    key = folder / "k.key"
    saecodec.save_key(KEY, key)
    return {"image": image, "key": key, "folder": folder}


def test_cli_encode_decode_info(cli_files, capsys) -> None:
    folder, key = cli_files["folder"], cli_files["key"]
    out, png = folder / "out.saec", folder / "out.png"
    code, stdout, err = run_cli(capsys, "encode", cli_files["image"], "-o", out, "-k", key, "--effort", "fast")
    assert code == EXIT_OK and stdout == "", err
    assert err.count("\n") == 1 and "overfit profile" in err, err  # the one-line report
    header = saecodec.inspect(out.read_bytes())
    assert (header.profile, header.version) == ("overfit", (1, 3))
    code, stdout, err = run_cli(capsys, "decode", out, "-o", png, "-k", key)
    assert (code, stdout, err) == (EXIT_OK, "", "")
    with Image.open(png) as decoded:
        assert np.array_equal(np.asarray(decoded), saecodec.decode(out.read_bytes(), KEY))
    code, stdout, err = run_cli(capsys, "info", out)
    assert code == EXIT_OK and err == "", err
    assert "overfit" in stdout and "26x18 RGB" in stdout
    code, stdout, err = run_cli(capsys, "info", "--json", out)
    assert code == EXIT_OK and err == "", err
    doc = json.loads(stdout)
    assert doc["model"]["profile"] == "overfit" and doc["format"] == [1, 3]


def test_cli_effort_with_level_is_a_usage_error(cli_files, capsys) -> None:
    out = cli_files["folder"] / "never.saec"
    code, stdout, err = run_cli(capsys, "encode", cli_files["image"], "-o", out, "-k", cli_files["key"],
                                "--effort", "fast", "--level", "1")
    assert code == EXIT_USAGE and stdout == ""
    assert_one_line_error(err)
    assert "--effort" in err
    assert not out.exists()


def test_header_json_view() -> None:
    """What ``saec info --json`` prints: the header map and the derived sizes, for this profile too."""
    data = encode_fast(synthetic_image(8, 8, 1))
    doc = saecodec.inspect(data).to_json_dict()
    header = saecodec.inspect(data)
    assert doc["model"]["levels"] == list(header.model.levels)
    assert doc["derived"]["latent_bytes"] == header.section_length("latents")
    assert doc["derived"]["decoder_bytes"] == header.section_length("weights")
    json.dumps(doc)


# ------------------------------------------------------------------------- one fault in an authentic file


@pytest.fixture(scope="module")
def base() -> bytes:
    """A real encoder file (RGB 16x24, five levels, two hidden layers), made with the hostile test key."""
    return encode_fast(synthetic_image(16, 24, 3, seed=12))


@pytest.fixture(scope="module")
def base_rgba() -> bytes:
    return encode_fast(synthetic_image(10, 12, 4, seed=13))


def model(key: str, value):
    return lambda m, sections: m["model"].__setitem__(key, value)


def quant(key: str, value):
    return lambda m, sections: m["quant"].__setitem__(key, value)


def levels_edit(change):
    return lambda m, sections: m["model"].__setitem__("levels", change(list(m["model"]["levels"])))


def hidden_edit(delta: int = 0, value: int | None = None):
    """The last hidden layer's width changed by ``delta`` or set to ``value``."""
    def edit(m, sections):
        hidden = m["model"]["hidden"]
        hidden[-1] = hidden[-1] + delta if value is None else value
    return edit


def section(name: str, change):
    def edit(m, sections):
        for entry in sections:
            if entry[0] == name:
                entry[1] = change(entry[1])
    return edit


def test_resigned_base_is_authentic_and_decodes_the_same(base) -> None:
    again = hostile_files.resign(base)
    assert again != base
    assert np.array_equal(saecodec.decode(again, KEY), saecodec.decode(base, KEY))


@pytest.mark.parametrize("edit", [
    model("upsample", "bicubic"),
    model("upsample", "nearest"),
    model("arithmetic", "f16"),
    model("arithmetic", "f64"),
    model("colour", "ycbcr"),
    model("colour", "xyz"),
    model("profile", "overfit2"),
    quant("latent", "lc2"),
    quant("latent", "rc1"),  # the rd profile's coder: not the overfit profile's
    quant("weights", "f32le"),  # the paper profile's weights: not the overfit profile's
    quant("weights", "lc2"),
], ids=lambda e: "")
def test_unknown_values_are_unsupported_features(base, edit) -> None:
    data = hostile_files.resign(base, edit)
    for read in (lambda: saecodec.decode(data, KEY), lambda: saecodec.inspect(data)):
        with pytest.raises(UnsupportedFeatureError):
            read()


def remove(where: str, key: str):
    return lambda m, sections: m[where].pop(key)


@pytest.mark.parametrize("name, edit", [
    ("levels 8 entries", model("levels", [1] * 8)),
    ("levels empty", model("levels", [])),
    ("levels entry 5", levels_edit(lambda lv: lv[:-1] + [5])),
    ("levels entry -1", levels_edit(lambda lv: lv[:-1] + [-1])),
    ("levels entry bool", levels_edit(lambda lv: lv[:-1] + [True])),
    ("levels entry str", levels_edit(lambda lv: lv[:-1] + ["1"])),
    ("levels sum 0", levels_edit(lambda lv: [0] * len(lv))),
    ("levels not a list", model("levels", 1)),
    ("hidden entry 0", hidden_edit(value=0)),
    ("hidden entry 257", hidden_edit(value=257)),
    ("hidden 5 entries", model("hidden", [4] * 5)),
    ("hidden entry float", lambda m, s: m["model"]["hidden"].__setitem__(0, 16.0)),
    ("hidden not a list", model("hidden", 16)),
    ("residual 5", model("residual", 5)),
    ("residual -1", model("residual", -1)),
    ("residual bool", model("residual", True)),
    ("residual str", model("residual", "0")),
    ("colour grey for RGB", model("colour", "grey")),
    ("colour not a str", model("colour", 3)),
    ("upsample not a str", model("upsample", 1)),
    ("no residual", remove("model", "residual")),
    ("no levels", remove("model", "levels")),
    ("no upsample", remove("model", "upsample")),
    ("no arithmetic", remove("model", "arithmetic")),
    ("shifts one short", lambda m, s: m["quant"]["shifts"].pop()),
    ("shifts one more", lambda m, s: m["quant"]["shifts"].append(3)),
    ("shift 31", lambda m, s: m["quant"]["shifts"].__setitem__(2, 31)),
    ("shift -1", lambda m, s: m["quant"]["shifts"].__setitem__(0, -1)),
    ("shift bool", lambda m, s: m["quant"]["shifts"].__setitem__(0, True)),
    ("shifts not a list", quant("shifts", 8)),
    ("no shifts", remove("quant", "shifts")),
    ("weights 4 bytes", section("weights", lambda b: b[:4])),
    ("latents 4 bytes", section("latents", lambda b: b[:4])),
    ("latents empty", section("latents", lambda b: b"")),
    ("sections swapped", lambda m, s: s.reverse()),
    ("decoder section", lambda m, s: s[0].__setitem__(0, "decoder")),
    ("extra section", lambda m, s: s.append(["extra", b"\x00"])),
])
def test_header_faults_are_format_errors(base, name: str, edit) -> None:
    data = hostile_files.resign(base, edit)
    for read in (lambda: saecodec.decode(data, KEY), lambda: saecodec.inspect(data)):
        with pytest.raises(FormatError) as caught:
            read()
        assert type(caught.value) is FormatError, name


def test_colour_disagreeing_with_the_mode_with_alpha() -> None:
    data = hostile_files.overfit_file(6, 5, "LA", edit=lambda m, q, s: m.__setitem__("colour", "rgb"))
    with pytest.raises(FormatError):
        saecodec.decode(data, KEY)
    data = hostile_files.overfit_file(6, 5, "RGBA", edit=lambda m, q, s: m.__setitem__("colour", "grey"))
    with pytest.raises(FormatError):
        saecodec.decode(data, KEY)


def test_alpha_section_missing_or_corrupt(base_rgba) -> None:
    missing = hostile_files.resign(base_rgba, lambda m, s: s.pop())
    with pytest.raises(FormatError):
        saecodec.inspect(missing)
    corrupt = hostile_files.resign(base_rgba, section("alpha", lambda b: b[:-1]))
    with pytest.raises(FormatError):
        saecodec.decode(corrupt, KEY)


def test_overfit_in_an_older_version_is_a_format_error(base) -> None:
    for version in ((1, 2), (1, 1), (1, 0)):
        data = hostile_files.resign(base, version=version)
        with pytest.raises(FormatError) as caught:
            saecodec.decode(data, KEY)
        assert type(caught.value) is FormatError
    newer = hostile_files.resign(base, version=(1, 9))  # a later minor version reads by the same rules
    assert np.array_equal(saecodec.decode(newer, KEY), saecodec.decode(base, KEY))


@pytest.mark.parametrize("name", ["weights", "latents"])
@pytest.mark.parametrize("change", [
    lambda b: b[:-1],
    lambda b: b + b"\x00",
    lambda b: b + b"\xff",
    lambda b: b[:5],
    lambda b: bytes(len(b)),
], ids=["truncated", "zero-appended", "ff-appended", "first-5-bytes", "zeros"])
def test_streams_that_are_not_exactly_the_declared_values(base, name: str, change) -> None:
    data = hostile_files.resign(base, section(name, change))
    saecodec.inspect(data)  # the header is fine: this is step 9, after the tag
    with pytest.raises(FormatError) as caught:
        saecodec.decode(data, KEY)
    assert type(caught.value) is FormatError


@pytest.mark.parametrize("edit", [
    hidden_edit(-1),  # the weights stream holds more values than the header declares
    hidden_edit(+1),  # or fewer
    levels_edit(lambda lv: lv[:-1] + [lv[-1] + 1]),  # one latent grid more than the stream holds
    levels_edit(lambda lv: lv[:-1]),  # one fewer
    levels_edit(lambda lv: lv[:-2] + [lv[-2] + lv[-1]]),  # as many grids, but the coarsest one finer
    lambda m, s: m["image"].update(height=m["image"]["height"] + 1),  # the grids of a taller image
], ids=["fewer-weights", "more-weights", "more-grids", "fewer-grids", "other-grids", "taller"])
def test_header_declaring_other_values_than_the_streams_hold(base, edit) -> None:
    """Every header below is valid: the streams no longer decode to exactly the values it declares."""
    assert len(saecodec.inspect(base).model.levels) >= 2
    data = hostile_files.resign(base, edit)
    saecodec.inspect(data)
    with pytest.raises(FormatError):
        saecodec.decode(data, KEY)


def test_a_level_without_channels_has_no_grid(base) -> None:
    """Two more levels of no channel each: the same grids, the same network, the same pixels."""
    data = hostile_files.resign(base, levels_edit(lambda lv: lv + [0, 0]))
    assert len(saecodec.inspect(data).model.levels) == len(saecodec.inspect(base).model.levels) + 2
    assert np.array_equal(saecodec.decode(data, KEY), saecodec.decode(base, KEY))
    assert saecodec.inspect(data).model.macs_per_pixel() == saecodec.inspect(base).model.macs_per_pixel()
