"""saec in real zarr 3 arrays: format 2 (numcodecs compressor) and format 3 (SaecCodec), on a LocalStore."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

import saecodec
from saecodec import AuthenticationError, InputError, KeyFileError
from saecodec.metrics import psnr
from saecodec.numcodecs import Saec
from saecodec.zarr3 import SaecCodec, chunk_context
from tests.conftest import synthetic_image

SHAPE = (40, 52, 3)  # with 32x32 chunks: partial edge chunks on both axes
CHUNKS = (32, 32, 3)


@pytest.fixture(autouse=True)
def _keyring(tmp_path, key, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keys come from a keyring directory only (k1 = the session key); nothing from the developer's shell."""
    for name in ("SAEC_KEY_FILE", "SAEC_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    directory = tmp_path / "keyring"
    directory.mkdir()
    saecodec.save_key(key, directory / "k1.key")
    monkeypatch.setenv("SAEC_KEYRING", str(directory))
    return directory


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synthetic_image(SHAPE[0], SHAPE[1], 3, seed=3)


def _v2(path: Path, image: np.ndarray, **options) -> zarr.Array:
    z = zarr.create_array(store=str(path), shape=image.shape, chunks=CHUNKS[: image.ndim], dtype="uint8",
                          zarr_format=2, compressors=[Saec(key_id="k1", **options)], filters=None, fill_value=0)
    z[:] = image
    return z


def _v3(path: Path, image: np.ndarray, chunks: tuple[int, ...] = CHUNKS, **options) -> zarr.Array:
    z = zarr.create_array(store=str(path), shape=image.shape, chunks=chunks[: image.ndim], dtype="uint8",
                          serializer=SaecCodec(key_id="k1", **options), compressors=None, fill_value=0)
    z[:] = image
    return z


def _metadata_text(path: Path) -> str:
    return "".join(p.read_text() for p in path.iterdir() if p.name in (".zarray", "zarr.json"))


def _use_other_key(keyring: Path, other_key: saecodec.SecretKey) -> None:
    (keyring / "k1.key").unlink()
    saecodec.save_key(other_key, keyring / "k1.key")


# ------------------------------------------------------------------ format 2


def test_v2_round_trip_with_edge_chunks(tmp_path, image, key) -> None:
    _v2(tmp_path / "a", image, quality=80, context="a")
    assert sorted(p.name for p in (tmp_path / "a").iterdir() if not p.name.startswith(".")) == [
        "0.0.0", "0.1.0", "1.0.0", "1.1.0"]
    metadata = _metadata_text(tmp_path / "a")
    assert key.material.hex() not in metadata
    assert json.loads((tmp_path / "a" / ".zarray").read_text())["compressor"] == {
        "id": "saec", "key_id": "k1", "quality": 80, "cipher": "chacha20", "context": "a"}
    back = zarr.open_array(str(tmp_path / "a"), mode="r")[:]
    assert back.shape == image.shape and psnr(back, image) > 30
    # each chunk is a .saec file bound to the config's context
    chunk = (tmp_path / "a" / "1.1.0").read_bytes()
    assert saecodec.decode(chunk, key, context="a").shape == CHUNKS


def test_v2_missing_or_wrong_key_raises_not_zeros(tmp_path, image, other_key, _keyring, monkeypatch) -> None:
    _v2(tmp_path / "a", image)
    monkeypatch.setenv("SAEC_KEYRING", str(tmp_path / "empty"))
    with pytest.raises(KeyFileError, match="k1"):
        zarr.open_array(str(tmp_path / "a"), mode="r")[:]
    monkeypatch.setenv("SAEC_KEYRING", str(_keyring))
    _use_other_key(_keyring, other_key)
    with pytest.raises(AuthenticationError):
        zarr.open_array(str(tmp_path / "a"), mode="r")[:]
    with pytest.raises(AuthenticationError):  # one chunk alone, too
        zarr.open_array(str(tmp_path / "a"), mode="r")[35:, 40:]


def test_v2_chunk_copied_from_another_context_is_refused(tmp_path, image) -> None:
    _v2(tmp_path / "a", image, context="a")
    _v2(tmp_path / "b", image[::-1].copy(), context="b")
    shutil.copy(tmp_path / "a" / "0.0.0", tmp_path / "b" / "0.0.0")
    with pytest.raises(AuthenticationError):
        zarr.open_array(str(tmp_path / "b"), mode="r")[:16, :16]
    # Documented limit: numcodecs is not told a chunk's position, so swaps inside one array go unnoticed.
    a = tmp_path / "a"
    first, second = (a / "0.0.0").read_bytes(), (a / "1.1.0").read_bytes()
    (a / "0.0.0").write_bytes(second)
    (a / "1.1.0").write_bytes(first)
    assert zarr.open_array(str(a), mode="r")[:].shape == image.shape


def test_v2_bad_dtype_is_an_input_error(tmp_path) -> None:
    z = zarr.create_array(store=str(tmp_path / "f"), shape=(8, 8), chunks=(8, 8), dtype="float32", zarr_format=2,
                          compressors=[Saec(key_id="k1")], filters=None)
    with pytest.raises(InputError, match="uint8"):
        z[:] = np.ones((8, 8), np.float32)


# ------------------------------------------------------------------ format 3


@pytest.mark.parametrize("shape, chunks", [((20, 27), (16, 16)), ((20, 27, 1), (16, 16, 1)),
                                           ((20, 27, 2), (16, 16, 2)), ((20, 27, 4), (16, 16, 4)),
                                           ((20, 27, 3), (16, 16, 1))])
def test_v3_shapes_round_trip(tmp_path, shape, chunks) -> None:
    channels = 1 if len(shape) == 2 else shape[2]
    image = synthetic_image(shape[0], shape[1], channels, seed=1).reshape(shape)
    _v3(tmp_path / "a", image, chunks=chunks, quality=90)
    back = zarr.open_array(str(tmp_path / "a"), mode="r")[:]
    assert back.shape == shape and back.dtype == np.uint8
    assert psnr(back.reshape(shape[0], shape[1], -1), image.reshape(shape[0], shape[1], -1)) > 30
    if channels in (2, 4):
        assert np.array_equal(back[..., -1], image[..., -1])  # alpha is lossless


def test_v3_round_trip_metadata_partial_reads_and_writes(tmp_path, image, key) -> None:
    _v3(tmp_path / "a", image, quality=80, context="a")
    meta = json.loads((tmp_path / "a" / "zarr.json").read_text())
    assert meta["codecs"] == [{"name": "saec", "configuration": {
        "key_id": "k1", "quality": 80, "cipher": "chacha20", "context": "a", "bind_chunk_key": True}}]
    assert key.material.hex() not in _metadata_text(tmp_path / "a")
    z = zarr.open_array(str(tmp_path / "a"), mode="r+")
    assert psnr(z[:], image) > 30
    assert np.array_equal(z[10:20, 45:50, 1], z[:][10:20, 45:50, 1])  # partial read of an edge chunk
    z[5:9, 30:36] = 255  # partial write across four chunks: decoded, merged, re-encoded
    after = z[:]
    assert after[5:9, 30:36].mean() > 240 and image[5:9, 30:36].mean() < 200  # lossy, but clearly written
    assert psnr(after[20:, :28], image[20:, :28]) > 30
    # a chunk is a .saec file bound to its grid position, its shape and the context
    chunk = (tmp_path / "a" / "c" / "1" / "0" / "0").read_bytes()
    assert saecodec.decode(chunk, key, context=chunk_context((1, 0, 0), CHUNKS, "a")).shape == CHUNKS
    assert chunk_context((1, 0, 0), CHUNKS, "a") == b"saecodec.zarr3/1 chunk=1,0,0 shape=32x32x3\na"


def test_v3_missing_chunk_reads_as_fill_value(tmp_path) -> None:
    z = zarr.create_array(store=str(tmp_path / "a"), shape=(40, 40), chunks=(32, 32), dtype="uint8",
                          serializer=SaecCodec(key_id="k1"), compressors=None, fill_value=7)
    z[:32, :32] = synthetic_image(32, 32, 1)
    assert sorted(p.name for p in (tmp_path / "a" / "c").rglob("*") if p.is_file()) == ["0"]
    assert (z[32:, :] == 7).all() and not (z[:32, :32] == 7).all()


def test_v3_swapped_chunks_are_detected(tmp_path, image) -> None:
    _v3(tmp_path / "a", image)
    root = tmp_path / "a" / "c"
    first, second = root / "0" / "0" / "0", root / "1" / "1" / "0"
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)
    z = zarr.open_array(str(tmp_path / "a"), mode="r")
    with pytest.raises(AuthenticationError):
        z[:8, :8]
    with pytest.raises(AuthenticationError):
        z[:]
    assert psnr(z[:32, 32:], image[:32, 32:]) > 30  # untouched chunks still read


def test_v3_renamed_array_still_reads(tmp_path, image) -> None:
    """Coordinates are bound, not the array's path: moving the store or the array keeps it readable."""
    _v3(tmp_path / "a", image)
    shutil.move(tmp_path / "a", tmp_path / "moved")
    assert psnr(zarr.open_array(str(tmp_path / "moved"), mode="r")[:], image) > 30


def test_v3_missing_or_wrong_key_raises_not_zeros(tmp_path, image, other_key, _keyring, monkeypatch) -> None:
    _v3(tmp_path / "a", image)
    monkeypatch.setenv("SAEC_KEYRING", str(tmp_path / "empty"))
    with pytest.raises(KeyFileError, match="k1"):
        zarr.open_array(str(tmp_path / "a"), mode="r")[:]
    monkeypatch.setenv("SAEC_KEYRING", str(_keyring))
    _use_other_key(_keyring, other_key)
    z = zarr.open_array(str(tmp_path / "a"), mode="r+")
    with pytest.raises(AuthenticationError):
        z[:]
    with pytest.raises(AuthenticationError):  # a partial write must not overwrite what it cannot read
        z[0, 0] = 1


def test_v3_context_mismatch(tmp_path, image) -> None:
    _v3(tmp_path / "a", image, context="a")
    _v3(tmp_path / "b", image, context="b")
    chunk = Path("c") / "0" / "0" / "0"
    shutil.copy(tmp_path / "a" / chunk, tmp_path / "b" / chunk)
    with pytest.raises(AuthenticationError):
        zarr.open_array(str(tmp_path / "b"), mode="r")[:]


def test_v3_refuses_to_bind_less_than_it_says(tmp_path, image) -> None:
    """With zstd after it, or inside a shard, zarr hides the chunk key: an error, unless asked to bind less."""
    z = zarr.create_array(store=str(tmp_path / "zstd"), shape=image.shape, chunks=CHUNKS, dtype="uint8",
                          serializer=SaecCodec(key_id="k1"), fill_value=0)  # default compressors: zstd
    with pytest.raises(InputError, match="only codec"):
        z[:] = image
    sharded = zarr.create_array(store=str(tmp_path / "shard"), shape=image.shape, chunks=(16, 16, 3),
                                shards=CHUNKS, dtype="uint8", serializer=SaecCodec(key_id="k1"),
                                compressors=None, fill_value=0)
    with pytest.raises(InputError, match="bind_chunk_key=False"):
        sharded[:] = image
    loose = zarr.create_array(store=str(tmp_path / "loose"), shape=image.shape, chunks=(16, 16, 3),
                              shards=CHUNKS, dtype="uint8", serializer=SaecCodec(key_id="k1", bind_chunk_key=False),
                              compressors=None, fill_value=0)
    loose[:] = image
    assert psnr(zarr.open_array(str(tmp_path / "loose"), mode="r")[:], image) > 30


@pytest.mark.parametrize("dtype, shape, chunks, match", [
    ("uint16", (8, 8), (8, 8), "uint8"),
    ("uint8", (8,), (8,), "dimensions"),
    ("uint8", (4, 8, 8, 3), (4, 8, 8, 3), "dimensions"),
    ("uint8", (8, 8, 6), (8, 8, 6), "C from 1 to 4"),
])
def test_v3_unusable_arrays_fail_at_creation(tmp_path, dtype, shape, chunks, match) -> None:
    with pytest.raises(InputError, match=match):
        zarr.create_array(store=str(tmp_path / "x"), shape=shape, chunks=chunks, dtype=dtype,
                          serializer=SaecCodec(key_id="k1"), compressors=None)


def test_v3_metadata_with_a_secret_is_refused(tmp_path, image, key) -> None:
    _v3(tmp_path / "a", image)
    meta_path = tmp_path / "a" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["codecs"][0]["configuration"]["key"] = key.material.hex()
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match="must not hold a secret"):
        zarr.open_array(str(tmp_path / "a"), mode="r")


def test_fresh_process_opens_both_formats_through_entry_points(tmp_path, image) -> None:
    """The "saec" names in .zarray (numcodecs.codecs) and zarr.json (zarr.codecs) resolve in a new process."""
    _v2(tmp_path / "v2", image)
    _v3(tmp_path / "v3", image)
    script = (
        "import sys, zarr\n"
        "for path in sys.argv[1:]:\n"
        "    z = zarr.open_array(path, mode='r')\n"
        "    print(type(z.metadata.compressor if z.metadata.zarr_format == 2 else z.metadata.codecs[0]).__name__,"
        " z[:].mean())\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "v2"), str(tmp_path / "v3")],
                            env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[0].startswith("Saec ") and lines[1].startswith("SaecCodec ")
    for line in lines[:2]:
        assert abs(float(line.split()[1]) - image.mean()) < 2


def test_bench_zarr_runs_on_generated_images(tmp_path) -> None:
    """tools/bench_zarr.run on two small PNGs (one portrait): every codec row is measured and sane."""
    from PIL import Image

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    import bench_zarr

    Image.fromarray(synthetic_image(64, 96, 3, seed=1)).save(tmp_path / "a.png")
    Image.fromarray(synthetic_image(96, 64, 3, seed=2)).save(tmp_path / "b.png")
    rows = bench_zarr.run([tmp_path], chunk=32, repeat=1)
    names = [r["codec"] for r in rows]
    assert names[:5] == ["saecodec.encode/decode direct", "Saec.encode/decode, no zarr", "saec q75",
                         "saec q75 (v3 SaecCodec)", "blosc lz4 shuffle (lossless)"]
    for r in rows:
        assert r["image_shape"] == (128, 96, 3) and r["chunks"] == 12
        assert r["encode_MBps"] > 0 and r["decode_chunks_per_s"] > 0 and r["psnr"] > 30
    assert rows[4]["psnr"] == float("inf")
    assert rows[2]["encode_overhead_pct"] is not None and rows[4]["encode_overhead_pct"] is None
    assert "| saec q75 | 2 |" in bench_zarr.format_rows(rows)
