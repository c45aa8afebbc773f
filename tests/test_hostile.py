"""Authentic but hostile files (issue 10): a key holder's file must not make the decoder run away.

The paper profile's decoder shape is bounded by ``Limits`` (LimitExceededError at header validation, and the
writer checks the same limits); the rd decoder works in stripes, so its memory is the output plus a constant,
and it is bit-identical to the whole-plane pipeline; a truncated rc1 stream fails near its end.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import saecodec
from saecodec.entropy import RowDecoder, decode_grid, encode_grid
from saecodec.errors import FormatError, LimitExceededError
from saecodec.format.header import CryptoInfo, Header, ImageInfo, KdfParams, ModelInfo, QuantInfo
from saecodec.imaging.blocks import merge_blocks
from saecodec.kernels.colour import plane_to_grey, planes_to_rgb, upsample2
from saecodec.kernels.dct import deblock, dequantise_inverse, unpredict_dc
from saecodec.limits import DEFAULT_LIMITS, Limits
from saecodec.model.decode import decode_blocks_into, decode_latent
from saecodec.profiles import paper, rd
from tests.conftest import synthetic_image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import hostile_files  # noqa: E402

KEY = hostile_files.KEY


# ------------------------------------------------------------------------------------------ paper limits


@pytest.mark.parametrize(
    "block, layers, level",
    [
        (8, [64, 4096, 1], 2),  # a wide layer
        (8, [64, 1024, 1024, 1], 3),  # wide and deep
        (64, [4096, 1], 1),  # a huge block
        (8, [64, 8, 8, 8, 8, 8, 1], 6),  # deeper than the limit
        (8, [64, 128, 128, 4], 3),  # narrow enough, but 384 multiply-adds a pixel
    ],
)
def test_paper_model_over_the_limits_is_refused_before_decoding(block: int, layers: list[int], level: int) -> None:
    data = hostile_files.paper_file(64, 64, block, layers, level)
    with pytest.raises(LimitExceededError):
        saecodec.decode(data, KEY)
    with pytest.raises(LimitExceededError):  # at header validation: inspect (no key) refuses it too
        saecodec.inspect(data)
    relaxed = Limits(max_paper_block=64, max_paper_units=4096, max_paper_depth=7, max_paper_macs_per_pixel=1 << 20)
    assert saecodec.inspect(data, limits=relaxed).model.layers == tuple(layers)  # a limit, not a format rule


def test_paper_limits_admit_what_writers_use_and_stop_exactly_at_the_bound() -> None:
    limits = DEFAULT_LIMITS
    for level in (1, 2):
        limits.check_paper_model(paper.BLOCK, paper.PAPER_LAYERS, level)
    limits.check_paper_model(8, [64, 64, 4], 1)  # 64 multiply-adds a pixel: the limit itself
    with pytest.raises(LimitExceededError, match="multiply-adds"):
        limits.check_paper_model(8, [64, 65, 4], 1)
    with pytest.raises(LimitExceededError, match="block"):
        limits.check_paper_model(32, [1024, 1], 1)
    with pytest.raises(LimitExceededError, match="units"):
        limits.check_paper_model(8, [64, 4, 257], 1)  # every declared layer, stored or not
    with pytest.raises(LimitExceededError, match="layers"):
        limits.check_paper_model(8, [64, 1, 1, 1, 1, 1], 5)


def test_paper_within_the_limits_decodes(key: saecodec.SecretKey) -> None:
    data = hostile_files.paper_file(40, 24, 8, [64, 32, 4], 2)  # 34 multiply-adds a pixel
    assert saecodec.decode(data, KEY).shape == (40, 24)


def test_encoder_refuses_to_write_beyond_the_default_limits(monkeypatch: pytest.MonkeyPatch,
                                                             key: saecodec.SecretKey) -> None:
    monkeypatch.setattr(paper, "PAPER_LAYERS", (64, 512, 4))
    with pytest.raises(LimitExceededError):
        saecodec.encode(synthetic_image(16, 16, 1), key, level=1)


# ------------------------------------------------------------------- paper decoder: block by block, exact


@pytest.mark.parametrize("block, layers, level, shape, models", [
    (8, (64, 16, 4), 1, (29, 21, 3), 1),
    (8, (64, 16, 4), 2, (17, 40, 3), 3),
    (4, (16, 9, 3, 2), 3, (13, 6, 1), 1),
    (1, (1, 5, 2), 2, (3, 7, 1), 1),
])
def test_block_by_block_paper_decoder_equals_the_whole_grid_one(block: int, layers: tuple[int, ...], level: int,
                                                                  shape: tuple[int, int, int], models: int) -> None:
    rng = np.random.default_rng(len(layers) + block)
    height, width, channels = shape
    bh, bw = -(-height // block), -(-width // block)
    units = layers[level]
    codes = rng.integers(0, 256, (channels, bh * bw, units), dtype=np.uint8)
    decoders = [[(rng.normal(0, 3, (layers[j], layers[j + 1])), rng.normal(0, 1, layers[j]))
                 for j in reversed(range(level))] for _ in range(models)]
    samples = np.concatenate([decode_latent(codes[c] / 255.0, decoders[c % models]) for c in range(channels)])
    expected = merge_blocks(samples, height, width, channels, block)
    out = np.empty((height, width, channels), dtype=np.uint8)
    for c in range(channels):
        decode_blocks_into(codes[c], decoders[c % models], block, bw, out[:, :, c])
    assert np.array_equal(out, expected)


# ------------------------------------------------------------------------ rd decoder: stripes, exact


def _whole_plane_reconstruct(header: Header, sections: dict[str, bytes]) -> np.ndarray:
    """The rd decoder as it was before stripes: every stage on whole planes (spec section 10, literally)."""
    model, quant, image = header.model, header.quant, header.image
    planes = []
    for p, (rows, cols) in enumerate(model.plane_shapes(image)):
        bh, bw = -(-rows // 8), -(-cols // 8)
        grid = decode_grid(sections[model.plane_names[p]], (1, bh * bw, 64), bw)[0].astype(np.int64)
        grid[:, 0] = unpredict_dc(grid[:, 0], bh, bw)
        plane = dequantise_inverse(grid, quant.step(p), bh, bw)
        plane = deblock(plane, model.deblock * quant.step(p) / 16.0)[:rows, :cols]
        if p > 0 and model.chroma == "420":
            plane = upsample2(plane, image.height, image.width)
        planes.append(plane)
    return plane_to_grey(planes[0])[:, :, None] if model.colour == "grey" else planes_to_rgb(*planes)


@pytest.mark.parametrize("shape, mode, chroma, deblock_16", [
    ((83, 61), "RGB", "420", 16),
    ((64, 40), "RGB", "444", 64),
    ((37, 29), "L", "444", 16),
    ((9, 17), "RGB", "420", 64),
    ((1, 1), "RGB", "420", 16),
])
@pytest.mark.parametrize("stripe_rows", [1, 2, 3])
def test_striped_rd_decoder_is_bit_identical_to_the_whole_plane_one(
    monkeypatch: pytest.MonkeyPatch, shape: tuple[int, int], mode: str, chroma: str, deblock_16: int,
    stripe_rows: int,
) -> None:
    height, width = shape
    channels = 3 if mode == "RGB" else 1
    image = synthetic_image(height, width, channels, seed=height).reshape(height, width, channels)
    info = ImageInfo(height, width, mode)
    settings = rd.RdSettings(quality=30, chroma=chroma, deblock=deblock_16)
    plain = rd.encode_colour(image, info, settings, lambda candidate: 0)
    header = Header(info, plain.model, plain.quant, CryptoInfo("chacha20", KdfParams(), bytes(32)),
                    tuple((name, len(data)) for name, data in plain.sections), plain.version)
    sections = dict(plain.sections)
    expected = _whole_plane_reconstruct(header, sections)
    monkeypatch.setattr(rd, "_STRIPE_BYTES", stripe_rows * 64 * 8 * -(-width // 8))
    assert np.array_equal(rd.reconstruct(header, sections), expected)


def test_row_decoder_gives_decode_grid_values_for_any_split() -> None:
    rng = np.random.default_rng(5)
    bh, bw = 7, 5
    grid = (rng.laplace(0, 3, (1, bh * bw, 64)) * (rng.random((1, bh * bw, 64)) < 0.4)).astype(np.int32)
    data = encode_grid(grid, bw)
    for max_rows in (1, 2, 3, 7):
        decoder = RowDecoder(data, bh, bw, max_rows)
        rows = []
        while decoder.rows_done < bh:
            rows.append(decoder.next_rows(max_rows).copy())
        assert np.array_equal(np.concatenate(rows), grid[0])
    for bad in (data[:-1], data + b"\x00"):
        with pytest.raises(FormatError):
            decoder = RowDecoder(bad, bh, bw, 2)
            while decoder.rows_done < bh:
                decoder.next_rows(2)


def test_truncated_stream_fails_near_its_end_not_after_the_grid() -> None:
    """300 zero bytes decode as zeros (slowly consuming bytes); the declared grid is 16384 x 16384 samples."""
    bh = bw = 2048
    decoder = RowDecoder(bytes(300), bh, bw, 1)
    with pytest.raises(FormatError, match="truncated"):
        while True:
            decoder.next_rows(1)
    assert decoder.rows_done <= 2  # 300 bytes hold about 2000 all-zero blocks: a row of 2048, not 2048 rows
    data = hostile_files.rd_file(16384, 16384, "L", "444", 0, lambda bh, bw: bytes(300))
    with pytest.raises(FormatError, match="truncated"):
        saecodec.decode(data, KEY)


# ------------------------------------------------------------------------------ memory and MemoryError


def test_memory_error_is_a_limit_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(rd, "_PlaneStripes", exhausted)
    with pytest.raises(LimitExceededError, match="memory"):
        saecodec.decode(hostile_files.rd_file(16, 16, "RGB", "420", 0), KEY)
    monkeypatch.setattr(paper, "decode_blocks_into", exhausted)
    with pytest.raises(LimitExceededError, match="memory"):
        saecodec.decode(hostile_files.paper_file(16, 16, 8, [64, 16, 4], 2), KEY)
    monkeypatch.setattr(saecodec.codec, "apply_keystream", exhausted)  # the codec's own allocations too
    with pytest.raises(LimitExceededError, match="memory"):
        saecodec.decode(hostile_files.rd_file(16, 16, "L", "444", 0), KEY)


def test_rd_decoder_memory_is_the_output_plus_a_constant(tmp_path: Path) -> None:
    """A 4096 x 4096 all-zero grey file (16 MiB of pixels, a 34 KB file): the whole-plane decoder peaked
    about 24 bytes a pixel above the interpreter's (400 MB); the striped one needs the output and a few
    4 MiB stripes. Measured in a fresh interpreter, after a small decode has loaded every kernel."""
    small, big = tmp_path / "small.saec", tmp_path / "big.saec"
    small.write_bytes(hostile_files.rd_file(64, 64, "L", "444", 16))
    big.write_bytes(hostile_files.rd_file(4096, 4096, "L", "444", 16))
    child = textwrap.dedent("""
        import resource, sys
        import saecodec
        key = saecodec.SecretKey(bytes.fromhex(sys.argv[3]))
        saecodec.decode(open(sys.argv[1], "rb").read(), key)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        pixels = saecodec.decode(open(sys.argv[2], "rb").read(), key)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(pixels.nbytes, (after - before) * 1024)
    """)
    result = subprocess.run([sys.executable, "-c", child, str(small), str(big), hostile_files.KEY_HEX],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    output_bytes, grown = map(int, result.stdout.split())
    assert output_bytes == 4096 * 4096
    assert grown < 2 * output_bytes + (48 << 20), f"peak grew by {grown} bytes for {output_bytes} output bytes"


def test_hostile_tool_cases_are_authentic() -> None:
    """The tool's files pass the tag check (so what they test is the decoder, not authentication)."""
    for make in (lambda: hostile_files.paper_file(16, 16, 8, [64, 16, 4], 2),
                 lambda: hostile_files.rd_file(16, 16, "RGB", "444", 16)):
        saecodec.verify(make(), KEY)
    assert [c.name for c in hostile_files.cases(False)][0] == "baseline"



@pytest.mark.parametrize("weights, pattern", [
    ("f32le", b"\x01\x00\x80\x7f"),  # signalling NaN
    ("f32le", b"\x00\x00\xc0\xff"),  # quiet NaN
    ("f32le", b"\x00\x00\x80\x7f"),  # +inf
    ("f16le", b"\x01\x7c"),  # signalling NaN
    ("f16le", b"\x00\xfc"),  # -inf
])
def test_non_finite_weights_are_a_format_error_without_any_warning(key, weights, pattern):
    """Found by fuzzing: casting a signalling NaN warned (an exception under -W error) before the check ran."""
    from saecodec.profiles.paper import _parse_decoders

    header = saecodec.inspect(saecodec.encode(synthetic_image(8, 8, 1), key, level=1, weights=weights))
    size = header.section_length("decoder")
    data = bytearray(size)
    data[len(pattern) * 3 : len(pattern) * 4] = pattern
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(saecodec.FormatError, match="not finite"):
            _parse_decoders(bytes(data), header)
        assert len(_parse_decoders(bytes(size), header)) == 1  # zeros are finite


# ------------------------------------------------------------------------------------ overfit profile


RELAXED_OVERFIT = Limits(max_overfit_macs_per_pixel=1 << 20, max_overfit_width=256,
                         max_overfit_latents_per_pixel=64.0)


@pytest.mark.parametrize("height, width, mode, levels, hidden, residual, what", [
    (24, 20, "RGB", (1,) * 7, (55, 58), 4, "multiply-adds"),  # 4097 multiply-adds a pixel
    (16, 16, "L", (1,), (65,), 0, "units"),  # a layer wider than 64
    (16, 16, "L", (1,), (8, 256), 0, "units"),  # the format's widest, over the limit
    (16, 16, "L", (2, 1), (), 0, "latent"),  # 2.25 latents a pixel
    (9, 7, "RGB", (3,), (4,), 0, "latent"),  # 3 a pixel
    (1, 1, "L", (1, 1, 1), (), 0, "latent"),  # three 1x1 grids for one pixel
    (1, 257, "L", (1,) * 7, (), 0, "latent"),  # 515 latents for 257 pixels (514 allowed)
])
def test_overfit_model_over_the_limits_is_refused_before_decoding(height, width, mode, levels, hidden, residual,
                                                                  what) -> None:
    data = hostile_files.overfit_file(height, width, mode, levels, hidden, residual)
    with pytest.raises(LimitExceededError, match=what):
        saecodec.decode(data, KEY)
    with pytest.raises(LimitExceededError, match=what):  # at header validation: inspect (no key) refuses it too
        saecodec.inspect(data)
    header = saecodec.inspect(data, limits=RELAXED_OVERFIT)  # a limit, not a format rule
    assert (header.model.levels, header.model.hidden, header.model.residual) == (levels, hidden, residual)
    pixels = saecodec.decode(data, KEY, limits=RELAXED_OVERFIT)  # zero weights: every sample floor(0.5) = 0
    assert pixels.shape[:2] == (height, width) and not pixels.any()


def test_overfit_limits_admit_what_writers_use_and_stop_exactly_at_the_bound() -> None:
    at_limit = hostile_files.overfit_at_limit(24, 20)
    assert saecodec.inspect(at_limit).model.macs_per_pixel() == 4096
    assert saecodec.decode(at_limit, KEY).shape == (24, 20, 3)
    widest = hostile_files.overfit_file(16, 16, "L", (1,), (64, 32))
    assert saecodec.decode(widest, KEY).shape == (16, 16)
    two_a_pixel = hostile_files.overfit_file(16, 16, "LA", (2,))  # exactly 2 latents a pixel
    assert saecodec.decode(two_a_pixel, KEY).shape == (16, 16, 2)
    limits = DEFAULT_LIMITS
    limits.check_overfit_model(4096, 64, 2 * 100, 100)
    with pytest.raises(LimitExceededError, match="multiply-adds"):
        limits.check_overfit_model(4097, 64, 100, 100)
    with pytest.raises(LimitExceededError, match="units"):
        limits.check_overfit_model(4096, 65, 100, 100)
    with pytest.raises(LimitExceededError, match="latent"):
        limits.check_overfit_model(4096, 64, 2 * 100 + 1, 100)
    from saecodec.profiles.overfit import EFFORTS, model_for
    from saecodec.format.header import ImageInfo

    for effort in EFFORTS.values():  # what the encoder writes for a large image is well within the limits
        model = model_for(ImageInfo(4000, 6000, "RGB"), effort)
        assert model.macs_per_pixel() <= 4096 // 2 and max(model.hidden) <= 32
        assert model.latent_count(ImageInfo(4000, 6000, "RGB")) <= 1.42 * 4000 * 6000  # every effort: 1.4165


def test_overfit_overflow_decodes_without_error_or_warning() -> None:
    """Weights +-32767 drive the residual layers to +-infinity and NaN (spec 11.6): not an error, not a
    warning; NaN and -infinity are 0, +infinity 255 (test_overfit_spec.py checks each sample)."""
    data = hostile_files.overfit_overflow(16, 24)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pixels = saecodec.decode(data, KEY)
    assert pixels.shape == (16, 24, 3)
    assert not pixels[:, :4].any()  # latents 0 out of the residual layers' reach: finite zeros
    assert set(np.unique(pixels[:, 12:])) <= {0, 255} and pixels[:, 12:, 0].all()  # +infinity in red


def _decode_in_child(tmp_path: Path, data: bytes) -> tuple[int, int, float]:
    """(output bytes, peak RSS growth, seconds) of decoding ``data`` in a fresh interpreter, after a small
    overfit file has loaded every kernel. The peak is reset just before the decode (Linux's clear_refs), so
    what importing and compiling took earlier does not hide it."""
    small, big = tmp_path / "small.saec", tmp_path / "big.saec"
    small.write_bytes(hostile_files.overfit_at_limit(16, 16))
    big.write_bytes(data)
    child = textwrap.dedent("""
        import gc, sys, time
        import saecodec

        def status(field):
            for line in open("/proc/self/status"):
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024

        key = saecodec.SecretKey(bytes.fromhex(sys.argv[3]))
        saecodec.decode(open(sys.argv[1], "rb").read(), key)
        data = open(sys.argv[2], "rb").read()
        gc.collect()
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # the peak (VmHWM) starts again from the current size
        before = status("VmRSS")
        start = time.perf_counter()
        pixels = saecodec.decode(data, key)
        seconds = time.perf_counter() - start
        print(pixels.nbytes, status("VmHWM") - before, seconds)
    """)
    result = subprocess.run([sys.executable, "-c", child, str(small), str(big), hostile_files.KEY_HEX],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    output_bytes, grown, seconds = result.stdout.split()
    return int(output_bytes), int(grown), float(seconds)


#: What the reference decoder holds per latent value at its peak (spec 11.5): the int32 grids the lc1 decoder
#: fills and one float32 array in the synthesis's layout (profiles/overfit.py, flat_latents). It held 12 before
#: the grids were copied into one preallocated array (2048x2048 grey at 2 a pixel: 94 MiB for a 4 MiB output).
BYTES_PER_LATENT = 8


def test_overfit_decoder_at_the_work_limit_is_bounded(tmp_path: Path) -> None:
    """768 x 768 RGB at 4096 multiply-adds a pixel (2.4e9 in all, 0.2 s here; tools/hostile_files.py times
    larger ones). The decoder works in stripes: a whole-image one would hold 128 activations a pixel (288 MiB
    here); the striped one needs the output, the latents (1.33 a pixel) and a few stripes (9 MiB measured)."""
    output_bytes, grown, seconds = _decode_in_child(tmp_path, hostile_files.overfit_at_limit(768, 768))
    assert output_bytes == 768 * 768 * 3
    latents = sum(h * w for h, w in hostile_files.overfit_grid_shapes(768, 768, (1,) * 7))
    assert grown < 2 * output_bytes + BYTES_PER_LATENT * latents + (16 << 20), f"peak grew by {grown} bytes"
    assert seconds < 30


def test_overfit_decoder_memory_at_the_latent_limit(tmp_path: Path) -> None:
    """1024 x 1024 grey, two dense latent grids at level 0 (2 values a pixel, the limit): besides the 1 MiB
    output the decoder holds the latent grids (spec 11.5), nothing that grows with the network."""
    rng = np.random.default_rng(0)
    grids = [rng.integers(-1, 2, (1024, 1024)) for _ in range(2)]
    data = hostile_files.overfit_file(1024, 1024, "L", (2,), (4,), 1, latents=grids)
    output_bytes, grown, _ = _decode_in_child(tmp_path, data)
    assert output_bytes == 1024 * 1024
    assert grown < 2 * output_bytes + BYTES_PER_LATENT * 2 * 1024 * 1024 + (16 << 20), f"peak grew by {grown}"


def test_overfit_truncated_latents_fail_near_their_end() -> None:
    """300 zero bytes for the latents of a 16384 x 16384 image: the lc1 decoder stops within a block row of
    the bytes it has, long before it has decoded 2^28 values."""
    data = hostile_files.overfit_file(16384, 16384, "L", (1,), latents=bytes(300))
    start = time.perf_counter()
    with pytest.raises(FormatError, match="truncated"):
        saecodec.decode(data, KEY)
    assert time.perf_counter() - start < 5
