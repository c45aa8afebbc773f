"""Whole-file encode/decode through the public API: round trips, hostile files, limits, threads."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import saecodec
from saecodec._testing import encode_with_nonce
from saecodec import (
    AuthenticationError,
    FormatError,
    InputError,
    LimitExceededError,
    SaecError,
    TruncatedError,
)
from saecodec.format.container import read_envelope
from saecodec.metrics import psnr
from tests.conftest import synthetic_image

FAST_PASSWORD = dict(log2_n=10, r=8, p=1)


@pytest.fixture(scope="module")
def rgba_file(key) -> tuple[bytes, np.ndarray]:
    image = synthetic_image(20, 13, 4, seed=3)
    return saecodec.encode(image, key, level=2, weights="f16le"), image


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("cipher", ["chacha20", "logistic"])
def test_round_trip_keeps_shape_alpha_and_quality(key, channels, level, cipher):
    image = synthetic_image(37, 45, channels, seed=channels)
    data = saecodec.encode(image, key, level=level, cipher=cipher)
    decoded = saecodec.decode(data, key)
    assert decoded.dtype == np.uint8 and decoded.shape == image.shape
    colour = 1 if channels <= 2 else 3
    if channels in (2, 4):
        assert np.array_equal(decoded[:, :, -1], image[:, :, -1])
    original = image if channels == 1 else image[:, :, :colour]
    result = decoded if channels == 1 else decoded[:, :, :colour]
    assert psnr(original, result) > (27.0 if level == 1 else 21.0)
    header = saecodec.inspect(data)
    assert (header.image.height, header.image.width, header.image.channels) == (37, 45, channels)
    assert header.model.level == level and header.crypto.cipher == cipher


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    height=st.integers(1, 20),
    width=st.integers(1, 20),
    channels=st.integers(1, 4),
    level=st.sampled_from([1, 2]),
    seed=st.integers(0, 2**16),
)
def test_any_shape_round_trips(key, height, width, channels, level, seed):
    rng = np.random.default_rng(seed)
    shape = (height, width) if channels == 1 else (height, width, channels)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    decoded = saecodec.decode(saecodec.encode(image, key, level=level, seed=seed), key)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    if channels in (2, 4):
        assert np.array_equal(decoded[..., -1], image[..., -1])


def test_same_input_settings_and_nonce_give_the_same_file(key):
    image = synthetic_image(24, 24, 3)
    a = encode_with_nonce(image, key, bytes(32))
    b = encode_with_nonce(image, key, bytes(32))
    assert a == b
    c = saecodec.encode(image, key)
    assert c != a and saecodec.inspect(c).crypto.nonce != bytes(32)


def test_every_file_gets_a_fresh_nonce_and_keystream(key):
    image = synthetic_image(16, 16, 1)
    a, b = saecodec.encode(image, key), saecodec.encode(image, key)
    ea, eb = read_envelope(a), read_envelope(b)
    assert ea.header().crypto.nonce != eb.header().crypto.nonce
    assert bytes(ea.payload) != bytes(eb.payload)


def test_every_single_bit_flip_is_rejected(key, rgba_file):
    data, _ = rgba_file
    envelope = read_envelope(data)
    header_end = envelope.header_end
    for byte in range(len(data)):
        for bit in range(8):
            tampered = bytearray(data)
            tampered[byte] ^= 1 << bit
            with pytest.raises(SaecError) as caught:
                saecodec.decode(bytes(tampered), key)
            if byte >= header_end:  # payload and tag: only the MAC can notice
                assert isinstance(caught.value, AuthenticationError), (byte, bit)
            else:
                assert isinstance(caught.value, (AuthenticationError, FormatError, LimitExceededError)), (byte, bit)


def test_every_truncation_is_a_format_error(key, rgba_file):
    data, _ = rgba_file
    for length in range(len(data)):
        with pytest.raises(TruncatedError):
            saecodec.decode(data[:length], key)


def test_appended_bytes_are_a_format_error(key, rgba_file):
    with pytest.raises(FormatError):
        saecodec.decode(rgba_file[0] + b"\0", key)


def test_wrong_key_and_wrong_kind_of_key(key, other_key, rgba_file):
    data, _ = rgba_file
    with pytest.raises(AuthenticationError, match="wrong key or password"):
        saecodec.decode(data, other_key)
    with pytest.raises(AuthenticationError):
        saecodec.verify(data, saecodec.key_from_password("hunter2", **FAST_PASSWORD))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_give_a_clean_error(key, data):
    with pytest.raises(SaecError):
        saecodec.decode(data, key)
    with pytest.raises(SaecError):
        saecodec.inspect(data)


def test_password_round_trip(key):
    image = synthetic_image(16, 24, 3)
    password = saecodec.key_from_password("correct horse battery staple", **FAST_PASSWORD)
    data = saecodec.encode(image, password, level=2)
    header = saecodec.inspect(data)
    assert header.crypto.kdf.name == "scrypt" and header.crypto.kdf.log2_n == 10
    assert saecodec.decode(data, saecodec.key_from_password("correct horse battery staple")).shape == image.shape
    with pytest.raises(AuthenticationError):
        saecodec.decode(data, saecodec.key_from_password("correct horse battery stapler"))
    with pytest.raises(AuthenticationError):
        saecodec.decode(data, key)


def test_password_is_unicode_normalised():
    image = synthetic_image(8, 8, 1)
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    data = saecodec.encode(image, saecodec.key_from_password(composed, **FAST_PASSWORD))
    assert saecodec.decode(data, saecodec.key_from_password(decomposed)).shape == (8, 8)


def test_verify_and_inspect(key, rgba_file):
    data, image = rgba_file
    assert saecodec.verify(data, key) == saecodec.inspect(data)
    header = saecodec.inspect(data)
    assert header.image.mode == "RGBA" and header.quant.weights == "f16le"
    assert header.to_json_dict()["derived"]["nominal_ratio"] == 16.0


def test_sources_bytes_path_and_file_object(key, rgba_file, tmp_path):
    data, image = rgba_file
    path = tmp_path / "x.saec"
    path.write_bytes(data)
    from_bytes = saecodec.decode(data, key)
    assert np.array_equal(saecodec.decode(path, key), from_bytes)
    assert np.array_equal(saecodec.decode(str(path), key), from_bytes)
    with open(path, "rb") as handle:
        assert np.array_equal(saecodec.decode(handle, key), from_bytes)
    assert np.array_equal(saecodec.decode(io.BytesIO(data), key), from_bytes)
    with pytest.raises(InputError):
        saecodec.decode(tmp_path / "missing.saec", key)


def test_image_sources_and_mode_conversions(key, tmp_path):
    rgb = synthetic_image(16, 16, 3)
    path = tmp_path / "in.png"
    Image.fromarray(rgb).save(path)
    assert saecodec.decode(saecodec.encode(path, key), key).shape == (16, 16, 3)
    assert saecodec.decode(saecodec.encode(Image.fromarray(rgb), key), key).shape == (16, 16, 3)
    palette = Image.fromarray(rgb).convert("P")
    assert saecodec.inspect(saecodec.encode(palette, key)).image.mode == "RGB"
    bilevel = Image.fromarray(rgb[:, :, 0]).convert("1")
    assert saecodec.inspect(saecodec.encode(bilevel, key)).image.mode == "L"


@pytest.mark.parametrize(
    "image",
    [
        Image.new("I;16", (8, 8)),
        Image.new("F", (8, 8)),
        Image.new("CMYK", (8, 8)),
        np.zeros((8, 8), dtype=np.uint16),
        np.zeros((8, 8, 5), dtype=np.uint8),
        np.zeros((8, 8, 3), dtype=np.float32),
    ],
    ids=["I;16", "F", "CMYK", "uint16", "5-channels", "float"],
)
def test_unsupported_images_are_refused(key, image):
    with pytest.raises(InputError):
        saecodec.encode(image, key)


def test_unreadable_image_file(key, tmp_path):
    bogus = tmp_path / "bogus.png"
    bogus.write_bytes(b"not an image")
    with pytest.raises(InputError):
        saecodec.encode(bogus, key)
    with pytest.raises(InputError):
        saecodec.encode(tmp_path / "missing.png", key)


def test_bad_arguments(key):
    image = synthetic_image(8, 8, 1)
    with pytest.raises(InputError):
        saecodec.encode(image, key, level=3)
    with pytest.raises(InputError):
        saecodec.encode(image, key, cipher="aes")
    with pytest.raises(InputError):
        saecodec.encode(image, b"\0" * 32)


def test_limits_apply_on_write_and_read(key):
    image = synthetic_image(40, 40, 1)
    small = saecodec.Limits(max_pixels=1000)
    with pytest.raises(LimitExceededError):
        saecodec.encode(image, key, limits=small)
    data = saecodec.encode(image, key)
    with pytest.raises(LimitExceededError):
        saecodec.decode(data, key, limits=small)
    with pytest.raises(LimitExceededError):
        saecodec.inspect(data, limits=saecodec.Limits(max_header_bytes=32))


def test_secrets_stay_out_of_reprs(key):
    assert key.material.hex() not in repr(key) and "hidden" in repr(key)
    password = saecodec.key_from_password("s3cret-pass")
    assert "s3cret-pass" not in repr(password) and "s3cret-pass" not in str(password)


def test_key_file_round_trip_and_errors(tmp_path):
    key = saecodec.generate_key()
    path = tmp_path / "k.key"
    saecodec.save_key(key, path)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert saecodec.load_key(path) == key
    with pytest.raises(saecodec.KeyFileError):
        saecodec.save_key(key, path)
    path.write_text("saec-secret-key-1:abcd\n")
    with pytest.raises(saecodec.KeyFileError):
        saecodec.load_key(path)
    with pytest.raises(saecodec.KeyFileError):
        saecodec.load_key(tmp_path / "missing.key")


def test_threads_give_the_same_results_as_one_thread(key):
    images = [synthetic_image(32, 40, 3, seed=s) for s in range(4)]
    expected = [encode_with_nonce(img, key, bytes([s]) * 32, cipher="logistic") for s, img in enumerate(images)]
    results: dict[int, bytes] = {}

    def work(s: int) -> None:
        results[s] = encode_with_nonce(images[s], key, bytes([s]) * 32, cipher="logistic")

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[s] for s in range(4)] == expected


@pytest.mark.parametrize("shared", [True, False])
def test_shared_levels_chooses_what_the_paper_model_is_trained_for(key, monkeypatch, shared):
    from saecodec.profiles import paper

    trained_for = []
    real_train = paper.train_sae

    def spy(samples, layers, *, level, config, progress=None):
        trained_for.append(level)
        return real_train(samples, layers, level=level, config=config, progress=progress)

    monkeypatch.setattr(paper, "train_sae", spy)
    image = synthetic_image(24, 16, 3, seed=5)
    training = saecodec.TrainConfig(shared_levels=shared, finetune_steps=100)
    data = saecodec.encode(image, key, level=2, per_channel=True, training=training)
    assert trained_for == [None if shared else 2] * 3
    decoded = saecodec.decode(data, key)
    assert decoded.shape == image.shape and psnr(decoded, image) > 20


def test_encoder_refuses_a_file_over_the_file_size_limit(key):
    """A writer never produces a file that a reader under the same limits refuses (spec section 8)."""
    image = synthetic_image(32, 32, 3)
    size = len(saecodec.encode(image, key, quality=90))
    small = saecodec.Limits(max_file_bytes=size - 1)
    with pytest.raises(saecodec.LimitExceededError, match="over the limit"):
        saecodec.encode(image, key, quality=90, limits=small)
    data = saecodec.encode(image, key, quality=90)
    with pytest.raises(saecodec.LimitExceededError):
        saecodec.decode(data, key, limits=small)
