"""Keystreams of both suites and the file-key derivation."""

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saecodec.crypto.keystreams import apply_keystream, keystream, logistic_lane_seeds
from saecodec.crypto.subkeys import derive_file_keys
from saecodec.errors import UnsupportedFeatureError
from saecodec.kernels.logistic import BYTES_PER_CHUNK, LANES

SUITES = ["chacha20", "logistic"]
keys = st.binary(min_size=32, max_size=32)


@pytest.mark.parametrize("suite", SUITES)
@settings(max_examples=40, deadline=None)
@given(key=keys, data=st.binary(max_size=3000))
def test_xor_twice_is_identity(suite, key, data):
    encrypted = apply_keystream(suite, key, data)
    assert len(encrypted) == len(data)
    assert apply_keystream(suite, key, encrypted) == data


@pytest.mark.parametrize("suite", SUITES)
@settings(max_examples=30, deadline=None)
@given(a=keys, b=keys)
def test_different_keys_give_different_streams(suite, a, b):
    if a != b:
        assert not np.array_equal(keystream(suite, a, 64), keystream(suite, b, 64))


@settings(max_examples=30, deadline=None)
@given(master=keys, nonce1=st.binary(min_size=32, max_size=32), nonce2=st.binary(min_size=32, max_size=32))
def test_different_nonces_give_different_file_keys(master, nonce1, nonce2):
    k1, k2 = derive_file_keys(master, nonce1), derive_file_keys(master, nonce2)
    assert k1.encryption != k1.authentication
    if nonce1 != nonce2:
        assert k1.encryption != k2.encryption and k1.authentication != k2.authentication


@pytest.mark.parametrize("suite", SUITES)
def test_shorter_stream_is_a_prefix(suite):
    key = bytes(range(32))
    long = keystream(suite, key, 5000)
    for length in (0, 1, 63, 64, 65, 4999):
        assert np.array_equal(keystream(suite, key, length), long[:length])


def test_logistic_chunks_are_seeded_independently():
    key = bytes(range(32))
    stream = keystream("logistic", key, BYTES_PER_CHUNK + 1000)
    assert not np.array_equal(stream[:1000], stream[BYTES_PER_CHUNK:])
    seeds0, seeds1 = logistic_lane_seeds(key, 0), logistic_lane_seeds(key, 1)
    assert not np.array_equal(seeds0[0], seeds1[0])


def test_logistic_seeds_are_in_range():
    for chunk in range(20):
        x0, r = logistic_lane_seeds(hashlib.sha256(bytes([chunk])).digest(), chunk)
        assert x0.shape == (LANES,) and r.shape == (LANES,)
        assert np.all((0 < x0) & (x0 < 1))
        assert np.all((r >= 4 - 2.0**-10) & (r < 4))


def test_logistic_matches_a_plain_python_model():
    """The kernel against a direct transcription of spec section 6.2 (first steps of chunk 0)."""
    key = bytes(range(100, 132))
    x0, r = logistic_lane_seeds(key, 0)
    lanes = list(x0)
    for _ in range(1024):
        lanes = [(rr * x) * (1.0 - x) for rr, x in zip(r, lanes)]
    expected = bytearray()
    for _ in range(5):
        lanes = [(rr * x) * (1.0 - x) for rr, x in zip(r, lanes)]
        for x in lanes:
            expected += (int(x * 2.0**48) % 2**32).to_bytes(4, "little")
    assert keystream("logistic", key, len(expected)).tobytes() == bytes(expected)


@pytest.mark.parametrize("suite", SUITES)
def test_keystream_bytes_look_uniform(suite):
    stream = keystream(suite, bytes(32), 1 << 20)
    counts = np.bincount(stream, minlength=256)
    expected = stream.size / 256
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 400  # 255 degrees of freedom: p < 1e-8 beyond this


def test_unknown_suite_is_rejected():
    with pytest.raises(UnsupportedFeatureError):
        keystream("rot13", bytes(32), 10)
