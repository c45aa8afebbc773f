"""saecodec.numcodecs.Saec against the real numcodecs: config, key handling, shapes, errors, ``out=``."""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys

import numcodecs
import numpy as np
import pytest

import saecodec
from saecodec import AuthenticationError, FormatError, InputError, KeyFileError
from saecodec.metrics import psnr
from saecodec.numcodecs import Saec
from tests.conftest import synthetic_image

KEY_ENV = ("SAEC_KEYRING", "SAEC_KEY_FILE", "SAEC_PASSWORD")


@pytest.fixture(autouse=True)
def _no_ambient_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test states where its key comes from; nothing leaks in from the developer's shell."""
    for name in KEY_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def keyring(tmp_path, key, monkeypatch: pytest.MonkeyPatch) -> str:
    """A keyring directory holding the session key as k1.key, exported as SAEC_KEYRING."""
    directory = tmp_path / "keyring"
    directory.mkdir()
    saecodec.save_key(key, directory / "k1.key")
    monkeypatch.setenv("SAEC_KEYRING", str(directory))
    return str(directory)


def _secrets_of(key: saecodec.SecretKey) -> list[bytes]:
    return [key.material, key.material.hex().encode(), key.material.hex().upper().encode()]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"key_id": "k1", "quality": 75},
        {"key_id": "k1", "target_bpp": 1.5, "chroma": "420", "cipher": "logistic", "context": "arrays/img"},
        {"target_psnr": 33.0, "profile": "rd"},
        {"level": 2},
        {"profile": "paper", "level": 1, "allow_password": True},
    ],
)
def test_config_round_trip(options: dict, key) -> None:
    codec = Saec(key=key, **options)
    config = codec.get_config()
    assert config["id"] == "saec"
    assert json.loads(json.dumps(config)) == config  # JSON, as zarr stores it
    again = Saec.from_config({k: v for k, v in config.items() if k != "id"})
    assert again == codec and again.get_config() == config
    via_registry = numcodecs.get_codec(dict(config))
    assert isinstance(via_registry, Saec) and via_registry.get_config() == config
    for name, value in options.items():
        assert config[name] == value


def test_key_never_in_config_repr_or_pickle(key) -> None:
    codec = Saec(key=key, key_id="k1", quality=60)
    texts = [json.dumps(codec.get_config()).encode(), repr(codec).encode(), str(codec).encode()]
    pickles = [pickle.dumps(codec, protocol=p) for p in range(2, pickle.HIGHEST_PROTOCOL + 1)]
    codec.encode(synthetic_image(8, 8, 3))  # after use, too: nothing cached may travel either
    pickles.append(pickle.dumps(codec))
    for blob in texts + pickles:
        for secret in _secrets_of(key):
            assert secret not in blob
    assert pickle.loads(pickles[-1]).get_config() == codec.get_config()


def test_unpickled_codec_resolves_key_by_id(key, keyring) -> None:
    image = synthetic_image(24, 40, 3)
    codec = Saec(key=key, key_id="k1")
    data = codec.encode(image)
    remote = pickle.loads(pickle.dumps(codec))  # what a Dask worker receives
    assert np.array_equal(remote.decode(data), codec.decode(data))


def test_unpickled_codec_without_key_names_key_id(key, monkeypatch) -> None:
    codec = Saec(key=key, key_id="k1")
    data = codec.encode(synthetic_image(16, 16, 1))
    remote = pickle.loads(pickle.dumps(codec))
    with pytest.raises(KeyFileError, match="k1.*SAEC_KEYRING"):
        remote.decode(data)


def test_copy_in_process_keeps_explicit_key(key) -> None:
    codec = Saec(key=key)
    data = codec.encode(synthetic_image(16, 16, 3))
    for duplicate in (copy.copy(codec), copy.deepcopy(codec)):
        assert duplicate.decode(data).shape == (16, 16, 3)


def test_get_codec_in_fresh_process_through_entry_point(key, keyring, tmp_path) -> None:
    """numcodecs finds "saec" through the installed entry point, and the key through SAEC_KEYRING."""
    image = synthetic_image(20, 30, 3)
    np.save(tmp_path / "image.npy", image)
    script = (
        "import sys, numpy, numcodecs\n"
        "codec = numcodecs.get_codec({'id': 'saec', 'key_id': 'k1', 'quality': 75})\n"
        "assert type(codec).__module__ == 'saecodec.numcodecs', type(codec)\n"
        "sys.stdout.buffer.write(codec.encode(numpy.load(sys.argv[1])))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("SAEC_KEY_FILE", "SAEC_PASSWORD")}
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "image.npy")], env=env,
                            capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode()
    decoded = saecodec.decode(result.stdout, key)  # a chunk is a plain .saec file
    assert decoded.shape == image.shape and psnr(decoded, image) > 30


@pytest.mark.parametrize(
    "shape", [(16, 24), (13, 21), (16, 24, 1), (17, 9, 2), (20, 12, 3), (9, 33, 4), (1, 1, 3), (8, 1)]
)
def test_shapes_round_trip_and_out(shape: tuple[int, ...], key) -> None:
    channels = 1 if len(shape) == 2 else shape[2]
    image = synthetic_image(shape[0], shape[1], channels, seed=len(shape)).reshape(shape)
    codec = Saec(key=key, quality=90)
    data = codec.encode(image)
    decoded = codec.decode(data)
    assert decoded.dtype == np.uint8 and decoded.size == image.size
    out = np.zeros(shape, np.uint8)
    returned = codec.decode(data, out=out)
    assert returned is out and out.shape == shape
    assert np.array_equal(out.reshape(-1), decoded.reshape(-1))
    if channels in (2, 4):  # alpha is lossless
        assert np.array_equal(out[..., -1], image[..., -1])
    if min(shape[:2]) >= 8:
        assert psnr(out.reshape(shape[0], shape[1], -1)[..., :3], image.reshape(shape[0], shape[1], -1)[..., :3]) > 30


def test_out_of_wrong_size_is_refused(key) -> None:
    codec = Saec(key=key)
    data = codec.encode(synthetic_image(16, 16, 3))
    with pytest.raises(FormatError, match="does not fit"):
        codec.decode(data, out=np.zeros((16, 16, 4), np.uint8))
    with pytest.raises(FormatError):
        codec.decode(data, out=np.zeros((16, 16, 3), np.uint16))


@pytest.mark.parametrize(
    "chunk, match",
    [
        (np.zeros((8, 8, 3), np.uint16), "uint8"),
        (np.zeros((8, 8, 3), np.float32), "uint8"),
        (np.zeros((8, 8, 5), np.uint8), "C from 1 to 4"),
        (np.zeros((8, 8, 3, 1), np.uint8), r"shape \(8, 8, 3, 1\)"),
        (np.zeros(64, np.uint8), r"shape \(64,\)"),
        (b"\x00" * 64, r"shape \(64,\)"),
        (np.zeros((0, 8), np.uint8), "empty"),
    ],
)
def test_unusable_chunks_are_input_errors(chunk, match: str, key) -> None:
    with pytest.raises(InputError, match=match):
        Saec(key=key).encode(chunk)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"quality": 200}, "quality"),
        ({"quality": 50, "target_bpp": 1.0}, "at most one"),
        ({"profile": "jpeg"}, "profile"),
        ({"level": 3}, "level"),
        ({"level": 2, "quality": 50}, "quality"),
        ({"chroma": "411"}, "chroma"),
        ({"cipher": "aes"}, "cipher"),
        ({"key_id": "../etc/passwd"}, "key_id"),
        ({"context": b"bytes"}, "context must be a string"),
        ({"allow_password": "yes"}, "allow_password"),
        ({"key": "00" * 32}, "SecretKey"),
    ],
)
def test_bad_options_fail_at_construction(options: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        Saec(**options)


def test_config_with_a_secret_or_unknown_option_is_refused(key) -> None:
    with pytest.raises(InputError, match="must not hold a secret"):
        numcodecs.get_codec({"id": "saec", "key": key.material.hex()})
    with pytest.raises(InputError, match="unknown saec codec option"):
        Saec.from_config({"qualiti": 50})


def test_wrong_key_and_context_are_authentication_errors(key, other_key) -> None:
    image = synthetic_image(16, 24, 3)
    bound = Saec(key=key, context="arrays/a").encode(image)
    with pytest.raises(AuthenticationError):
        Saec(key=other_key, context="arrays/a").decode(bound)
    with pytest.raises(AuthenticationError):
        Saec(key=key, context="arrays/b").decode(bound)
    with pytest.raises(AuthenticationError):
        Saec(key=key).decode(bound)
    assert saecodec.decode(bound, key, context="arrays/a").shape == image.shape
    tampered = bytearray(bound)
    tampered[-40] ^= 1
    with pytest.raises(AuthenticationError):
        Saec(key=key, context="arrays/a").decode(bytes(tampered))


def test_passwords_are_opt_in(monkeypatch) -> None:
    """SAEC_PASSWORD is ignored unless allowed (one scrypt per chunk); allowed, it works."""
    monkeypatch.setenv("SAEC_PASSWORD", "correct horse")
    with pytest.raises(KeyFileError, match="no default key"):
        Saec().encode(synthetic_image(8, 8, 1))
    with pytest.raises(InputError, match="allow_password"):
        Saec(key=saecodec.key_from_password("pw", log2_n=10))
    cheap = saecodec.key_from_password("pw", log2_n=10)
    codec = Saec(key=cheap, allow_password=True)
    assert codec.decode(codec.encode(synthetic_image(8, 8, 1))).shape == (8, 8)
    assert b"pw" not in pickle.dumps(codec) and "pw" not in repr(codec)


def test_default_key_file_without_key_id(key, tmp_path, monkeypatch) -> None:
    saecodec.save_key(key, tmp_path / "default.key")
    monkeypatch.setenv("SAEC_KEY_FILE", str(tmp_path / "default.key"))
    data = Saec().encode(synthetic_image(8, 16, 3))
    assert saecodec.decode(data, key).shape == (8, 16, 3)
