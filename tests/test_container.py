"""Header schema and container framing, without any training or decoding."""

import io
import json
import os
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saecodec.crypto.keys import Password
from saecodec.errors import (
    FormatError,
    InputError,
    LimitExceededError,
    SaecError,
    TruncatedError,
    UnsupportedFeatureError,
    UnsupportedVersionError,
)
from saecodec.format.container import MAGIC, TAG_BYTES, assemble, read_envelope, read_envelope_from
from saecodec.format.header import (
    MODES,
    CryptoInfo,
    Header,
    ImageInfo,
    KdfParams,
    ModelInfo,
    QuantInfo,
    pack_header,
)
from saecodec.limits import Limits

VECTORS = Path(__file__).resolve().parent.parent / "spec" / "vectors"


def make_header(height=10, width=13, mode="RGB", level=1, weights="f32le", cipher="chacha20", kdf=None, models=1):
    image = ImageInfo(height, width, mode)
    model = ModelInfo((64, 16, 4), level, 8, models)
    probe = Header(image, model, QuantInfo("u8", weights), CryptoInfo(cipher, kdf or KdfParams(), bytes(32)), ())
    sections = [("decoder", probe.decoder_bytes()), ("latent", probe.latent_bytes())]
    if image.has_alpha:
        sections.append(("alpha", 7))
    return Header(image, model, QuantInfo("u8", weights), probe.crypto, tuple(sections))


def frame(header: Header, payload: bytes | None = None) -> bytes:
    payload = bytes(header.payload_length) if payload is None else payload
    return assemble(pack_header(header), payload, header.version) + bytes(TAG_BYTES)


headers = st.builds(
    make_header,
    height=st.integers(1, 3000),
    width=st.integers(1, 3000),
    mode=st.sampled_from(sorted(MODES)),
    level=st.sampled_from([1, 2]),
    weights=st.sampled_from(["f32le", "f16le"]),
    cipher=st.sampled_from(["chacha20", "logistic"]),
    kdf=st.one_of(
        st.just(KdfParams()),
        st.builds(KdfParams, st.just("scrypt"), st.binary(min_size=16, max_size=16), st.integers(1, 18),
                  st.integers(2, 8), st.just(1)),
    ),
)


@settings(max_examples=150, deadline=None)
@given(headers)
def test_header_round_trips_through_the_container(header):
    envelope = read_envelope(frame(header))
    assert envelope.header() == header
    assert pack_header(envelope.header()) == pack_header(header)


def test_header_key_order_is_the_spec_order():
    mapping = msgpack.unpackb(pack_header(make_header()), raw=False)
    assert list(mapping) == ["format", "image", "model", "quant", "crypto", "sections"]


def test_section_lengths_follow_the_spec():
    header = make_header(height=17, width=9, mode="RGB", level=2)
    assert header.blocks_high == 3 and header.blocks_wide == 2
    assert header.latent_bytes() == 3 * 3 * 2 * 4
    assert header.decoder_bytes() == (16 * 4 + 16 + 64 * 16 + 64) * 4
    assert make_header(level=1, weights="f16le").decoder_bytes() == (64 * 16 + 64) * 2


def test_every_truncation_is_a_clean_truncation_error():
    data = frame(make_header(mode="RGBA"))
    for length in range(len(data)):
        with pytest.raises(TruncatedError):
            read_envelope(data[:length]).header()


def test_trailing_bytes_are_rejected():
    with pytest.raises(FormatError, match="unexpected bytes"):
        read_envelope(frame(make_header()) + b"\0").header()


def test_bad_magic():
    data = bytearray(frame(make_header()))
    data[1] ^= 1
    with pytest.raises(FormatError, match="not a .saec file"):
        read_envelope(bytes(data))


def test_unknown_major_version():
    data = bytearray(frame(make_header()))
    data[8] = 2
    with pytest.raises(UnsupportedVersionError):
        read_envelope(bytes(data))


def test_oversized_header_is_refused_before_reading_it():
    data = MAGIC + bytes([1, 0]) + (1 << 31).to_bytes(4, "big")
    with pytest.raises(LimitExceededError):
        read_envelope(data)
    with pytest.raises(LimitExceededError):
        read_envelope(frame(make_header()), Limits(max_header_bytes=16))


def rewrite(header: Header, path: tuple, value) -> bytes:
    mapping = header.to_map()
    target = mapping
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    raw = msgpack.packb(mapping, use_bin_type=True)
    return assemble(raw, bytes(header.payload_length), header.version) + bytes(TAG_BYTES)


@pytest.mark.parametrize(
    "path, value, error",
    [
        (("crypto", "cipher"), "rc4", UnsupportedFeatureError),
        (("crypto", "kdf", "name"), "argon2", UnsupportedFeatureError),
        (("image", "mode"), "CMYK", UnsupportedFeatureError),
        (("model", "activation"), "relu", UnsupportedFeatureError),
        (("quant", "weights"), "f64le", UnsupportedFeatureError),
        (("image", "height"), 1 << 20, LimitExceededError),
        (("image", "height"), 0, FormatError),  # malformed: no limit makes 0 valid
        (("image", "height"), True, FormatError),
        (("image", "channels"), 4, FormatError),
        (("model", "level"), 3, FormatError),
        (("model", "layers"), [64, 16, 5000], FormatError),
        (("model", "models"), 2, FormatError),
        (("crypto", "nonce"), bytes(8), FormatError),
        (("format",), [1, 1], FormatError),
        (("sections",), [["latent", 3], ["decoder", 4]], FormatError),
        (("image",), KeyError, FormatError),
    ],
)
def test_bad_header_values(path, value, error):
    with pytest.raises(error):
        read_envelope(rewrite(make_header(), path, value)).header()


def test_unknown_keys_are_ignored():
    data = rewrite(make_header(), ("image", "comment"), "from a newer minor version")
    assert read_envelope(data).header() == make_header()


@pytest.mark.parametrize(
    "log2_n, r, p",
    [(21, 8, 1), (20, 8, 1), (14, 64, 1), (14, 8, 17)],
)
def test_hostile_scrypt_parameters_are_refused(log2_n, r, p):
    kdf = KdfParams("scrypt", bytes(16), log2_n, r, p)
    with pytest.raises(LimitExceededError):
        read_envelope(frame(make_header(kdf=kdf))).header()


@pytest.mark.parametrize("log2_n, r, p", [(0, 8, 1), (-3, 8, 1), (10, 0, 1), (10, 8, 0), (16, 1, 1), (19, 1, 1)])
def test_scrypt_parameters_outside_rfc_7914_are_malformed(log2_n, r, p):
    """N >= 2^(16 r) makes the library raise MemoryError: the reader must refuse it first, as malformed."""
    kdf = KdfParams("scrypt", bytes(16), log2_n, r, p)
    with pytest.raises(FormatError):
        read_envelope(frame(make_header(kdf=kdf))).header()
    with pytest.raises(InputError):
        Password("pw", log2_n=log2_n, r=r, p=p)


def test_zero_dimensions_are_malformed_not_over_a_limit():
    with pytest.raises(FormatError):
        read_envelope(frame(make_header(height=0))).header()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_give_a_saec_error(data):
    with pytest.raises(SaecError):
        read_envelope(data).header()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_headers_give_a_saec_error_or_a_valid_header(raw):
    data = MAGIC + bytes([1, 0]) + len(raw).to_bytes(4, "big") + raw + bytes(TAG_BYTES)
    try:
        read_envelope(data).header()
    except SaecError:
        pass


def _frame_raw_header(header_bytes: bytes) -> bytes:
    return MAGIC + b"\x01\x00" + len(header_bytes).to_bytes(4, "big") + header_bytes + bytes(TAG_BYTES)


def test_duplicate_header_keys_are_rejected():
    """Last-one-wins would let two readers see two different headers under one tag (spec section 3)."""
    good = pack_header(make_header())
    # Append a second "format" key to the top-level map: fixmap count + 1, then the extra pair.
    assert good[0] & 0xF0 == 0x80
    doubled = bytes([good[0] + 1]) + good[1:] + msgpack.packb("format") + msgpack.packb([1, 0])
    with pytest.raises(FormatError, match="duplicate"):
        read_envelope(_frame_raw_header(doubled))


@pytest.mark.parametrize("bad_key", [b"height", 7])
def test_header_keys_must_be_strings_at_every_level(bad_key):
    mapping = msgpack.unpackb(pack_header(make_header()), raw=False)
    mapping["image"][bad_key] = 1
    with pytest.raises(FormatError):
        read_envelope(_frame_raw_header(msgpack.packb(mapping, use_bin_type=True, strict_types=False)))


# ------------------------------------------------------------------------------------------ framed stream reader


class _Endless(io.RawIOBase):
    """A real, endless binary stream (like /dev/zero or a pipe that never closes) that counts what it gave."""

    def __init__(self, prefix: bytes = b"", fill: int = 0) -> None:
        self.prefix, self.fill, self.given = prefix, fill, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = len(buffer)
        head = self.prefix[self.given : self.given + n]
        chunk = head + bytes([self.fill]) * (n - len(head))
        buffer[:n] = chunk
        self.given += n
        return n


def _outcome(call):
    try:
        call()
    except SaecError as exc:
        return type(exc)
    return None


def test_stream_reader_agrees_with_bytes_reader_on_every_truncation():
    data = frame(make_header(mode="RGBA"))
    for length in range(len(data) + 1):
        prefix = data[:length]
        expected = _outcome(lambda: read_envelope(prefix).header())
        got = _outcome(lambda: read_envelope_from(io.BytesIO(prefix)).header())
        assert got is expected, length
    assert read_envelope_from(io.BytesIO(data)).header() == make_header(mode="RGBA")


@pytest.mark.parametrize("change", ["magic", "version", "header-limit", "not-msgpack", "trailing", "sections"])
def test_stream_reader_raises_the_same_classes_in_the_same_order(change):
    data = bytearray(frame(make_header()))
    limits = Limits()
    if change == "magic":
        data[0] ^= 1
    elif change == "version":
        data[8] = 7
    elif change == "header-limit":
        limits = Limits(max_header_bytes=16)
    elif change == "not-msgpack":
        data = bytearray(_frame_raw_header(b"\xc1" * 20))
    elif change == "trailing":
        data += b"\0"
    else:
        data = bytearray(rewrite(make_header(), ("sections",), [["latent", -1]]))
    expected = _outcome(lambda: read_envelope(bytes(data), limits).header(limits))
    assert expected is not None
    assert _outcome(lambda: read_envelope_from(io.BytesIO(bytes(data)), limits).header(limits)) is expected


def test_endless_zeros_fail_at_the_preamble():
    stream = _Endless()
    with pytest.raises(FormatError, match="not a .saec file"):
        read_envelope_from(stream)
    assert stream.given <= 14


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_by_path_and_through_a_symlink_fails_at_once(tmp_path):
    import saecodec

    link = tmp_path / "zero.saec"
    link.symlink_to("/dev/zero")
    with pytest.raises(FormatError, match="not a .saec file"):
        saecodec.inspect(link)
    with open(link, "rb") as handle:
        with pytest.raises(FormatError):
            saecodec.inspect(handle)


def test_a_valid_file_followed_by_endless_data_reads_one_byte_past_it():
    data = frame(make_header())
    stream = _Endless(prefix=data, fill=7)
    with pytest.raises(FormatError, match="unexpected bytes"):
        read_envelope_from(stream)
    assert stream.given == len(data) + 1  # the raw stream is unbuffered: exactly what the reader asked for


def test_a_huge_announced_payload_is_refused_before_it_is_read():
    header = make_header(height=3000, width=3000)  # a payload of a few MB
    data = frame(header)
    head_len = len(data) - header.payload_length  # preamble + header + tag
    limits = Limits(max_file_bytes=len(data) - 1)
    stream = _Endless(prefix=data)
    with pytest.raises(LimitExceededError, match="max_file_bytes"):
        read_envelope_from(stream, limits)
    assert stream.given == head_len  # preamble, header and 32 bytes; nothing of the announced payload
    with pytest.raises(LimitExceededError):  # the same file in memory gives the same error
        read_envelope(data, limits).header(limits)
    assert read_envelope_from(io.BytesIO(data), Limits(max_file_bytes=len(data))).header() == header


def test_max_file_bytes_default_is_documented_and_generous():
    assert Limits().max_file_bytes == 1 << 32


def test_text_streams_are_refused():
    with pytest.raises(InputError, match="binary"):
        read_envelope_from(io.StringIO("text"))


@pytest.mark.parametrize("entry", json.loads((VECTORS / "files.json").read_text())["vectors"], ids=lambda e: e["name"])
def test_every_vector_fails_or_decodes_the_same_from_a_path_a_stream_and_bytes(entry):
    import saecodec

    path = VECTORS / entry["file"]
    key = (saecodec.key_from_password(entry["password"]) if "password" in entry
           else saecodec.SecretKey(bytes.fromhex(entry["key"])))
    context = entry.get("context")
    outcomes = set()
    for source in (path.read_bytes(), path):
        outcomes.add(_outcome(lambda: saecodec.verify(source, key, context=context)))
    with open(path, "rb") as handle:
        outcomes.add(_outcome(lambda: saecodec.verify(handle, key, context=context)))
    assert len(outcomes) == 1, outcomes
