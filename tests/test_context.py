"""Associated data: a file bound to a context (where it is stored) opens only with that context."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import saecodec
from saecodec.format.header import MAX_CONTEXT_BYTES
from tests.conftest import synthetic_image

IMAGE = synthetic_image(16, 24, 3, seed=5)


@pytest.fixture(scope="module", params=["rd", "paper"])
def bound(request, key):
    options = {"quality": 70} if request.param == "rd" else {"level": 2}
    return saecodec.encode(IMAGE, key, context=b"store/a/c/0/1", **options)


def test_bound_file_decodes_with_its_context_and_is_version_1_2(bound, key):
    header = saecodec.inspect(bound)
    assert header.version == (1, 2)
    assert header.crypto.context_bound
    assert header.to_json_dict()["crypto"]["context"] is True
    pixels = saecodec.decode(bound, key, context=b"store/a/c/0/1")
    assert pixels.shape == IMAGE.shape
    assert saecodec.verify(bound, key, context="store/a/c/0/1") == header  # text is its UTF-8 bytes


@pytest.mark.parametrize("context", [None, b"store/a/c/1/0", b"store/a/c/0/1\x00", b"", "store/a/c/0/"])
def test_bound_file_refuses_a_missing_or_different_context(bound, key, context):
    with pytest.raises(saecodec.AuthenticationError):
        saecodec.decode(bound, key, context=context)
    with pytest.raises(saecodec.AuthenticationError):
        saecodec.verify(bound, key, context=context)


def test_unbound_file_refuses_a_context_and_keeps_its_version(key):
    plain = saecodec.encode(IMAGE, key, quality=70)
    assert saecodec.inspect(plain).version == (1, 1)
    assert not saecodec.inspect(plain).crypto.context_bound
    assert "context" not in saecodec.inspect(plain).to_map()["crypto"]
    with pytest.raises(saecodec.AuthenticationError):
        saecodec.decode(plain, key, context=b"")
    saecodec.decode(plain, key)


def test_empty_context_is_bound_and_distinct_from_none(key):
    data = saecodec.encode(IMAGE, key, quality=70, context=b"")
    assert saecodec.inspect(data).crypto.context_bound
    saecodec.decode(data, key, context=b"")
    with pytest.raises(saecodec.AuthenticationError):
        saecodec.decode(data, key)


def test_password_files_bind_a_context_too():
    password = saecodec.key_from_password("pw", log2_n=10)
    data = saecodec.encode(IMAGE, password, quality=70, context="k")
    assert saecodec.decode(data, password, context="k").shape == IMAGE.shape
    with pytest.raises(saecodec.AuthenticationError):
        saecodec.decode(data, password, context="K")


def test_a_flipped_bit_still_fails_with_the_right_context(bound, key):
    tampered = bytearray(bound)
    tampered[-33] ^= 1  # the last payload byte
    with pytest.raises(saecodec.AuthenticationError):
        saecodec.decode(bytes(tampered), key, context=b"store/a/c/0/1")


@pytest.mark.parametrize("context", [12, ["a"], object()])
def test_context_of_the_wrong_type_is_an_input_error(key, context):
    with pytest.raises(saecodec.InputError):
        saecodec.encode(IMAGE, key, quality=70, context=context)
    with pytest.raises(saecodec.InputError):
        saecodec.decode(b"", key, context=context)


def test_context_longer_than_the_limit_is_refused(key):
    saecodec.encode(IMAGE[:8, :8], key, quality=70, context=bytes(MAX_CONTEXT_BYTES))
    with pytest.raises(saecodec.InputError, match="longer"):
        saecodec.encode(IMAGE[:8, :8], key, quality=70, context=bytes(MAX_CONTEXT_BYTES + 1))


def test_swapping_two_bound_files_is_detected(key):
    """What a store that binds each object's key gets: two authentic files swapped do not open."""
    a = saecodec.encode(IMAGE, key, quality=70, context="bucket/a.saec")
    b = saecodec.encode(IMAGE[::-1].copy(), key, quality=70, context="bucket/b.saec")
    with pytest.raises(saecodec.AuthenticationError):
        saecodec.decode(b, key, context="bucket/a.saec")
    with pytest.raises(saecodec.AuthenticationError):
        saecodec.decode(a, key, context="bucket/b.saec")


@settings(max_examples=25, deadline=None)
@given(context=st.binary(max_size=64), other=st.binary(max_size=64))
def test_round_trip_with_any_context(key, context, other):
    data = saecodec.encode(IMAGE[:8, :16], key, quality=60, context=context)
    assert np.array_equal(saecodec.decode(data, key, context=context), saecodec.decode(data, key, context=context))
    if other != context:
        with pytest.raises(saecodec.AuthenticationError):
            saecodec.decode(data, key, context=other)
