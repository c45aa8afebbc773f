"""Write the spec's test vectors (spec/vectors/) and the golden files (tests/golden/v<major>.<minor>/).

Vectors and golden files are append-only: once a version ships, its files must decode forever, so this tool
never overwrites an existing file; it only adds what is missing. The JSON indexes (spec/vectors/files.json,
each golden manifest.json) grow the same way: entries already there are kept byte for byte and new ones are
appended after them. Format 1.0 vectors are the paper profile's, format 1.1 adds the rd profile's.
Run: python tools/make_vectors.py
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import sys
from pathlib import Path

import msgpack
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import saecodec  # noqa: E402
from saecodec._testing import encode_with_nonce  # noqa: E402
from saecodec.crypto.keys import derive_master_key  # noqa: E402
from saecodec.crypto.keystreams import apply_keystream, keystream, logistic_lane_seeds  # noqa: E402
from saecodec.crypto.mac import compute_tag  # noqa: E402
from saecodec.crypto.subkeys import derive_file_keys  # noqa: E402
from saecodec.format.container import MAGIC, TAG_BYTES, assemble, read_envelope  # noqa: E402
from saecodec.format.header import (  # noqa: E402
    RD_VERSION,
    CryptoInfo,
    Header,
    ImageInfo,
    KdfParams,
    RdQuantInfo,
    pack_header,
)
from saecodec.imaging.io import load_pixels  # noqa: E402
from saecodec.kernels.dct import quantise  # noqa: E402
from saecodec.kernels.logistic import BYTES_PER_CHUNK  # noqa: E402
from saecodec.profiles import rd  # noqa: E402
from tests.conftest import synthetic_image  # noqa: E402

VECTORS = ROOT / "spec" / "vectors"
GOLDEN_ROOT = ROOT / "tests" / "golden"
KEY = saecodec.SecretKey(bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"))
OTHER_KEY = saecodec.SecretKey(bytes(32))
PASSWORD = "saec test vector password"
FAST = dict(log2_n=10, r=8, p=1)


def write_new(path: Path, data: bytes) -> None:
    """Create ``path``; an existing file is left alone (it may already be a shipped vector)."""
    if path.exists():
        if path.read_bytes() != data:
            print(f"kept existing {path.relative_to(ROOT)} (differs from a fresh one; shipped files never change)")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"wrote {path.relative_to(ROOT)}")


def write_index(path: Path, fixed: dict, list_key: str, entries: list[dict]) -> None:
    """Write the JSON index ``{**fixed, list_key: entries}``, append-only.

    A new index is written whole. An existing one keeps its bytes: entries already in it (by ``name``) stay as
    they are, even if a fresh computation differs (that is reported: shipped vectors never change), and only
    the entries it lacks are appended, after the old ones and in ``entries``' order.
    """
    def dump(value: dict) -> bytes:
        return (json.dumps(value, indent=1) + "\n").encode()

    if not path.exists():
        write_new(path, dump({**fixed, list_key: entries}))
        return
    old_bytes = path.read_bytes()
    old = json.loads(old_bytes)
    if dump(old) != old_bytes:
        print(f"kept existing {path.relative_to(ROOT)} unchanged: it is not in this tool's layout, so appending "
              "to it would rewrite shipped bytes; add new entries by hand")
        return
    for key, value in fixed.items():
        if old.get(key) != value:
            print(f"kept existing {path.relative_to(ROOT)} field {key!r} (differs from a fresh one)")
    shipped = {entry["name"]: entry for entry in old[list_key]}
    for entry in entries:
        if entry["name"] in shipped and shipped[entry["name"]] != entry:
            print(f"kept existing entry {entry['name']!r} of {path.relative_to(ROOT)} (differs from a fresh one; "
                  "shipped vectors never change)")
    added = [entry for entry in entries if entry["name"] not in shipped]
    if not added:
        return
    old[list_key] = old[list_key] + added
    new_bytes = dump(old)
    # Only the closing brackets of the old text may change: every shipped entry keeps its bytes.
    closing = old_bytes.rstrip().rstrip(b"}").rstrip().rstrip(b"]").rstrip()
    assert new_bytes.startswith(closing), "appending would alter shipped bytes"
    path.write_bytes(new_bytes)
    print(f"appended {', '.join(e['name'] for e in added)} to {path.relative_to(ROOT)}")


def pixels_digest(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


def keystream_vectors() -> dict:
    cases = []
    for master, nonce in [(bytes(32), bytes(32)), (KEY.material, bytes(range(32, 64)))]:
        keys = derive_file_keys(master, nonce)
        cases.append(
            {
                "master_key": master.hex(),
                "nonce": nonce.hex(),
                "encryption_key": keys.encryption.hex(),
                "authentication_key": keys.authentication.hex(),
            }
        )
    kdf = KdfParams("scrypt", bytes(range(16)), FAST["log2_n"], FAST["r"], FAST["p"])
    scrypt_case = {
        "password": PASSWORD,
        "salt": kdf.salt.hex(),
        "log2_n": kdf.log2_n,
        "r": kdf.r,
        "p": kdf.p,
        "master_key": derive_master_key(saecodec.key_from_password(PASSWORD), kdf).hex(),
    }
    streams = []
    long_length = BYTES_PER_CHUNK + 4096
    for suite in ("chacha20", "logistic"):
        for case in cases:
            enc = bytes.fromhex(case["encryption_key"])
            data = keystream(suite, enc, long_length).tobytes()
            streams.append(
                {
                    "suite": suite,
                    "encryption_key": case["encryption_key"],
                    "first_bytes": data[:256].hex(),
                    "prefix_length": long_length,
                    "prefix_sha256": hashlib.sha256(data).hexdigest(),
                }
            )
    seeds = []
    for chunk in (0, 1):
        x0, r = logistic_lane_seeds(bytes.fromhex(cases[1]["encryption_key"]), chunk)
        seeds.append(
            {
                "encryption_key": cases[1]["encryption_key"],
                "chunk": chunk,
                "x0_binary64": [struct.pack(">d", v).hex() for v in x0],
                "r_binary64": [struct.pack(">d", v).hex() for v in r],
            }
        )
    return {"file_keys": cases, "scrypt": [scrypt_case], "keystreams": streams, "logistic_seeds": seeds}


def reframe(data: bytes, edit, key=KEY, retag: bool = True) -> bytes:
    """Rewrite a file's header map with ``edit`` and, if ``retag``, recompute a valid tag for it."""
    envelope = read_envelope(data)
    mapping = envelope.header_map
    edit(mapping)
    header_bytes = msgpack.packb(mapping, use_bin_type=True)
    body = assemble(header_bytes, bytes(envelope.payload), envelope.version)
    if not retag:
        return body + envelope.tag
    crypto = mapping["crypto"]
    kdf = KdfParams.from_map(crypto["kdf"], saecodec.DEFAULT_LIMITS)
    keys = derive_file_keys(derive_master_key(key, kdf), crypto["nonce"])
    return body + compute_tag(keys.authentication, body)


def reforge(data: bytes, *, edit_sections=None, edit_header=None, version: tuple[int, int] | None = None,
            key=KEY, context: str | None = None) -> bytes:
    """Rewrite a file below the encryption: decrypt its payload, let ``edit_sections`` change the plaintext
    sections (a list of ``[name, bytes]``), set the section lengths to match, let ``edit_header`` change the
    header map, optionally set the version (preamble and ``format`` field), re-encrypt and re-tag with ``key``
    (and ``context``, for files bound to one).

    This is what a forger holding the key can do, so the result passes the tag check and fails only where the
    edit made it wrong.
    """
    envelope = read_envelope(data)
    mapping = envelope.header_map
    crypto = mapping["crypto"]
    kdf = KdfParams.from_map(crypto["kdf"], saecodec.DEFAULT_LIMITS)
    keys = derive_file_keys(derive_master_key(key, kdf), crypto["nonce"])
    plain = apply_keystream(crypto["cipher"], keys.encryption, envelope.payload)
    sections, pos = [], 0
    for name, length in mapping["sections"]:
        sections.append([name, plain[pos : pos + length]])
        pos += length
    if edit_sections is not None:
        edit_sections(sections)
    mapping["sections"] = [[name, len(section)] for name, section in sections]
    if edit_header is not None:
        edit_header(mapping)
    if version is not None:
        mapping["format"] = list(version)
    payload = apply_keystream(crypto["cipher"], keys.encryption, b"".join(section for _, section in sections))
    body = assemble(msgpack.packb(mapping, use_bin_type=True), payload, version or envelope.version)
    return body + compute_tag(keys.authentication, body, None if context is None else context.encode())


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def set_path(*path, value):
    def edit(mapping):
        target = mapping
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return edit


def secret_fields(key) -> dict:
    if isinstance(key, saecodec.Password):
        return {"password": PASSWORD}
    return {"key": key.material.hex()}


def encode_rd_plane_steps(image: np.ndarray, key, nonce: bytes, *, steps: tuple[int, ...], chroma: str,
                          deblock: int, cipher: str = "chacha20") -> bytes:
    """A valid rd file with a different quantiser step per plane (the format allows it; ``encode`` always
    writes one step for all planes), built from the rd profile's own analysis and entropy coder."""
    pixels, mode = load_pixels(image, saecodec.DEFAULT_LIMITS)
    info = ImageInfo(pixels.shape[0], pixels.shape[1], mode)
    assert not info.has_alpha
    analysis = rd._Analysis(pixels[:, :, : info.colour_channels], chroma)
    assert len(steps) == len(analysis.coefficients)
    indices = [quantise(coef, step / 16.0).astype(np.int64) for coef, step in zip(analysis.coefficients, steps)]
    planes = analysis.code(indices, info)
    sections = tuple((name, len(data)) for name, data in zip(analysis.model_base.plane_names, planes))
    kdf = key.new_kdf_params() if isinstance(key, saecodec.Password) else KdfParams("secret-key")
    header = Header(info, analysis.model(deblock), RdQuantInfo(tuple(steps)), CryptoInfo(cipher, kdf, nonce), sections,
                    RD_VERSION)
    keys = derive_file_keys(derive_master_key(key, kdf), nonce)
    body = assemble(pack_header(header), apply_keystream(cipher, keys.encryption, b"".join(planes)), RD_VERSION)
    return body + compute_tag(keys.authentication, body)


def ok_vectors(good: dict) -> tuple[list[dict], dict[str, bytes]]:
    """Write the valid files of ``good`` (name -> (image, encode options, key)) that are missing; their entries.

    The options are ``encode``'s keyword arguments, or a function ``(image, key, nonce) -> bytes``."""
    entries, produced = [], {}
    for name, (image, options, key) in good.items():
        context = options.get("context") if isinstance(options, dict) else None
        path = VECTORS / "files" / f"{name}.saec"
        if not path.exists():
            nonce = hashlib.sha256(name.encode()).digest()
            if callable(options):
                write_new(path, options(image, key, nonce))
            else:
                write_new(path, encode_with_nonce(image, key, nonce, **options))
        data = path.read_bytes()
        produced[name] = data
        result = saecodec.decode_image(data, key, context=context)
        decoded = result.pixels
        expect = {"shape": list(decoded.shape), "pixels_sha256": pixels_digest(decoded)}
        if result.metadata:
            expect["metadata_sha256"] = metadata_digests(result.metadata)
        entries.append(
            {"name": name, "file": f"files/{name}.saec", **secret_fields(key),
             **({} if context is None else {"context": context}), "expect": expect}
        )
    return entries, produced


def fail_vectors(bad: dict) -> list[dict]:
    """Write the failing files of ``bad`` (name -> (bytes, error[, key or password[, context]])) that are missing."""
    entries = []
    for name, spec in bad.items():
        data, error = spec[0], spec[1]
        context = spec[3] if len(spec) > 3 else None
        entry = {"name": name, "file": f"files/{name}.saec"}
        if len(spec) > 2 and isinstance(spec[2], str):
            entry["password"] = spec[2]
            key = saecodec.key_from_password(spec[2])
        else:
            key = spec[2] if len(spec) > 2 else KEY
            entry["key"] = key.material.hex()
        if context is not None:
            entry["context"] = context
        entry["expect"] = {"error": error}
        path = VECTORS / "files" / f"{name}.saec"
        if not path.exists():
            check_failure(name, data, key, error, context)
        write_new(path, data)
        entries.append(entry)
    return entries


def check_failure(name: str, data: bytes, key, error: str, context: str | None = None) -> None:
    """Refuse to ship a failing vector that does not fail with exactly the error it documents."""
    try:
        saecodec.decode(data, key, context=context)
    except saecodec.SaecError as exc:
        if type(exc).__name__ != error:
            raise SystemExit(f"{name}: expected {error}, the reader raised {type(exc).__name__}: {exc}") from None
        return
    raise SystemExit(f"{name}: expected {error}, but the file decodes")


def rd_vectors() -> list[dict]:
    """Format 1.1: the rd profile's valid files and one file per way a reader of an rd file must fail."""
    good = {
        "ok-rd-rgb-444-chacha20": (synthetic_image(16, 24, 3, seed=31),
                                   dict(profile="rd", quality=75, chroma="444", cipher="chacha20"), KEY),
        "ok-rd-rgb-420-logistic": (synthetic_image(13, 9, 3, seed=32),
                                   dict(profile="rd", quality=50, chroma="420", cipher="logistic"), KEY),
        "ok-rd-gray-chacha20": (synthetic_image(13, 11, 1, seed=33),
                                dict(profile="rd", quality=90, cipher="chacha20"), KEY),
        "ok-rd-rgba-chacha20": (synthetic_image(10, 9, 4, seed=34),
                                dict(profile="rd", quality=60, chroma="444", cipher="chacha20"), KEY),
        "ok-rd-la-password": (synthetic_image(9, 13, 2, seed=35),
                              dict(profile="rd", quality=40, cipher="chacha20"),
                              saecodec.key_from_password(PASSWORD, **FAST)),
        "ok-rd-rgb-420-plane-steps": (
            synthetic_image(11, 21, 3, seed=36),
            lambda image, key, nonce: encode_rd_plane_steps(image, key, nonce, steps=(72, 200, 131), chroma="420",
                                                            deblock=24),
            KEY),
    }
    entries, produced = ok_vectors(good)

    base = produced["ok-rd-rgb-444-chacha20"]
    envelope = read_envelope(base)
    y_bytes, cb_bytes, _ = (length for _, length in envelope.header_map["sections"])

    def edit_plane(name: str, change):
        def edit(sections):
            for entry in sections:
                if entry[0] == name:
                    entry[1] = change(entry[1])
        return edit

    bad = {
        "fail-rd-in-version-1.0": (reforge(base, version=(1, 0)), "FormatError"),
        "fail-rd-step-out-of-range": (
            reforge(base, edit_header=lambda m: m["quant"]["steps"].__setitem__(1, 1)), "FormatError"),
        "fail-rd-unknown-chroma": (reforge(base, edit_header=set_path("model", "chroma", value="422")),
                                   "UnsupportedFeatureError"),
        "fail-rd-deblock-out-of-range": (reforge(base, edit_header=set_path("model", "deblock", value=65)),
                                         "FormatError"),
        "fail-rd-grey-colour-rgb": (reforge(base, edit_header=set_path("model", "colour", value="grey")),
                                    "FormatError"),
        "fail-rd-short-plane": (reforge(base, edit_sections=edit_plane("y", lambda b: b[:4])), "FormatError"),
        "fail-rd-plane-trailing-byte": (reforge(base, edit_sections=edit_plane("y", lambda b: b + b"\x00")),
                                        "FormatError"),
        "fail-rd-plane-truncated": (reforge(base, edit_sections=edit_plane("cr", lambda b: b[:-1])), "FormatError"),
        "fail-rd-tampered-plane": (flip(base, envelope.header_end + y_bytes + cb_bytes // 2), "AuthenticationError"),
    }
    return entries + fail_vectors(bad)


CONTEXT = "images/scan-0017/c/0/1"  # what an integration binds: where the file or chunk is stored


def metadata_digests(metadata) -> dict[str, str]:
    """SHA-256 of each metadata block a file carries (spec section 5.6)."""
    return {kind: hashlib.sha256(getattr(metadata, kind)).hexdigest()
            for kind in ("exif", "icc", "xmp") if getattr(metadata, kind)}


def image_with_metadata(pixels: np.ndarray):
    """A PIL image carrying EXIF (orientation 6, a camera model and a GPS latitude), an ICC profile and XMP,
    as Pillow presents them after opening a photograph."""
    from PIL import Image

    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to view
    exif[0x0110] = "saec test camera"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.0)
    image.info["exif"] = exif.tobytes()
    image.info["icc_profile"] = bytes(range(256)) * 2  # opaque bytes: kept as they are, never parsed
    image.info["xmp"] = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    return image


def metadata_vectors() -> list[dict]:
    """Format 1.2: the encrypted ``meta`` section (EXIF, ICC, XMP) and how readers fail on it."""
    good = {
        "ok-meta-rd-rgb-chacha20": (image_with_metadata(synthetic_image(16, 24, 3, seed=51)),
                                    dict(profile="rd", quality=75, chroma="444"), KEY),
        "ok-meta-paper-gray-logistic": (image_with_metadata(synthetic_image(13, 11, 1, seed=52)),
                                        dict(level=1, cipher="logistic"), KEY),
    }
    entries, produced = ok_vectors(good)
    base = produced["ok-meta-rd-rgb-chacha20"]

    def set_meta(value: bytes):
        def edit(sections):
            sections[-1][1] = value
        return edit

    bad = {
        "fail-meta-in-version-1.1": (reforge(base, version=(1, 1)), "FormatError"),
        "fail-meta-not-a-map": (reforge(base, edit_sections=set_meta(msgpack.packb([1, 2]))), "FormatError"),
        "fail-meta-exif-not-bin": (reforge(base, edit_sections=set_meta(msgpack.packb({"exif": "Exif"}))),
                                   "FormatError"),
    }
    return entries + fail_vectors(bad)


def context_vectors() -> list[dict]:
    """Format 1.2: files bound to a context (associated data in the tag, not stored) and how readers fail."""
    good = {
        "ok-context-rd-chacha20": (synthetic_image(16, 24, 3, seed=41),
                                   dict(profile="rd", quality=75, chroma="444", context=CONTEXT), KEY),
        "ok-context-paper-logistic": (synthetic_image(13, 11, 1, seed=42),
                                      dict(level=2, cipher="logistic", context=CONTEXT), KEY),
    }
    entries, produced = ok_vectors(good)
    base = produced["ok-context-rd-chacha20"]
    unbound = (VECTORS / "files" / "ok-rd-rgb-444-chacha20.saec").read_bytes()
    bad = {
        "fail-context-missing": (base, "AuthenticationError", KEY),
        "fail-context-wrong": (base, "AuthenticationError", KEY, "images/scan-0017/c/1/0"),
        "fail-context-unexpected": (unbound, "AuthenticationError", KEY, CONTEXT),
        "fail-context-not-true": (reforge(base, edit_header=set_path("crypto", "context", value=False), context=CONTEXT),
                                  "FormatError", KEY, CONTEXT),
        "fail-context-in-version-1.1": (reforge(base, version=(1, 1), context=CONTEXT), "FormatError", KEY, CONTEXT),
    }
    return entries + fail_vectors(bad)


def file_vectors() -> list[dict]:
    """Format 1.0: the paper profile's valid files and one file per way a reader must fail."""
    good = {
        "ok-rgb-chacha20-level1": (synthetic_image(16, 24, 3, seed=11), dict(level=1, cipher="chacha20"), KEY),
        "ok-gray-logistic-level2": (synthetic_image(13, 11, 1, seed=12), dict(level=2, cipher="logistic"), KEY),
        "ok-rgba-password-f16": (
            synthetic_image(10, 9, 4, seed=13),
            dict(level=2, cipher="chacha20", weights="f16le"),
            saecodec.key_from_password(PASSWORD, **FAST),
        ),
    }
    entries, produced = ok_vectors(good)

    base = produced["ok-rgb-chacha20-level1"]
    header_end = read_envelope(base).header_end

    bad = {
        "fail-bad-tag": (flip(base, len(base) - 1), "AuthenticationError"),
        "fail-tampered-payload": (flip(base, header_end + 5), "AuthenticationError"),
        "fail-tampered-header": (reframe(base, set_path("image", "width", value=23), retag=False), "AuthenticationError"),
        "fail-wrong-key": (base, "AuthenticationError", OTHER_KEY),
        "fail-wrong-password": (produced["ok-rgba-password-f16"], "AuthenticationError", "wrong password"),
        "fail-truncated": (base[:-1], "TruncatedError"),
        "fail-truncated-header": (base[: header_end - 3], "TruncatedError"),
        "fail-trailing-bytes": (base + b"\x00", "FormatError"),
        "fail-bad-magic": (b"\x89SAEX" + base[5:], "FormatError"),
        "fail-unknown-version": (base[:8] + b"\x02\x00" + base[10:], "UnsupportedVersionError"),
        "fail-oversized-header": (MAGIC + b"\x01\x00" + (1 << 30).to_bytes(4, "big") + bytes(64), "LimitExceededError"),
        "fail-header-not-msgpack": (MAGIC + b"\x01\x00" + (4).to_bytes(4, "big") + b"\xc1\xc1\xc1\xc1" + bytes(TAG_BYTES),
                                    "FormatError"),
        "fail-hostile-scrypt": (
            reframe(base, set_path("crypto", "kdf", value={"name": "scrypt", "salt": bytes(16), "log2_n": 30, "r": 8, "p": 1}),
                    retag=False),
            "LimitExceededError",
        ),
        "fail-unknown-kdf": (reframe(base, set_path("crypto", "kdf", value={"name": "argon2id"}), retag=False),
                             "UnsupportedFeatureError"),
        "fail-unknown-cipher": (reframe(base, set_path("crypto", "cipher", value="aes-ctr")), "UnsupportedFeatureError"),
        "fail-huge-dimensions": (
            reframe(base, lambda m: m["image"].update(height=65535, width=65535)), "LimitExceededError"),
        "fail-inconsistent-sections": (
            reframe(base, lambda m: m["sections"].__setitem__(1, ["latent", m["sections"][1][1] - 1])
                    or m["sections"].append(["extra", 1])), "FormatError"),
        # Authentic files whose decoder shape is over the default limits (issue 10): refused at step 8.
        "fail-paper-block-over-limit": (paper_shape(base, 32, [1024, 1, 1], 1), "LimitExceededError"),
        "fail-paper-layer-over-limit": (paper_shape(base, 8, [64, 16, 300], 1), "LimitExceededError"),
        "fail-paper-macs-over-limit": (paper_shape(base, 8, [64, 80, 4], 1), "LimitExceededError"),
    }
    return entries + fail_vectors(bad)


def raw_header_file(header_bytes: bytes, payload_and_tag: bytes = bytes(TAG_BYTES)) -> bytes:
    """A file whose header bytes are given as they are (for what msgpack.packb would never write)."""
    return MAGIC + b"\x01\x00" + len(header_bytes).to_bytes(4, "big") + header_bytes + payload_and_tag


def reader_rule_vectors() -> list[dict]:
    """Format 1.2 reader rules that decide an outcome and had no vector (spec sections 3, 3.1, 3.4, 7.5)."""
    base = (VECTORS / "files" / "ok-rgb-chacha20-level1.saec").read_bytes()
    envelope = read_envelope(base)
    header = bytes(envelope.data[14:envelope.header_end])
    rest = bytes(envelope.data[envelope.header_end:])
    assert header[0] & 0xF0 == 0x80, "the top-level header map is a fixmap"
    doubled = bytes([header[0] + 1]) + header[1:] + msgpack.packb("format") + msgpack.packb([1, 0])
    mapping = read_envelope(base).header_map
    mapping["image"][b"height"] = 16  # a bin key, next to the str one
    bin_key = msgpack.packb(mapping, use_bin_type=True)
    huge = read_envelope(base).header_map
    huge["sections"][1][1] += 1 << 32  # the file announces over 4 GiB; it is a few hundred bytes long
    bad = {
        "fail-duplicate-header-key": (raw_header_file(doubled, rest), "FormatError"),
        "fail-bin-map-key": (raw_header_file(bin_key, rest), "FormatError"),
        "fail-zero-width": (reframe(base, lambda m: m["image"].update(width=0)), "FormatError"),
        "fail-scrypt-rfc7914": (
            reframe(base, set_path("crypto", "kdf", value={"name": "scrypt", "salt": bytes(16), "log2_n": 16, "r": 1,
                                                             "p": 1}), retag=False),
            "FormatError"),
        "fail-announces-over-file-limit": (raw_header_file(msgpack.packb(huge, use_bin_type=True), rest),
                                           "LimitExceededError"),
    }
    return fail_vectors(bad)


def paper_shape(base: bytes, block: int, layers: list[int], level: int) -> bytes:
    """``base`` (a paper-profile file, f32 weights) re-forged with another decoder shape: zero weights and codes of
    the lengths that shape needs, valid tag, so only the reader's limits on the shape can refuse it."""
    mapping = read_envelope(base).header_map
    height, width = mapping["image"]["height"], mapping["image"]["width"]
    blocks = -(-height // block) * -(-width // block) * mapping["image"]["channels"]
    values = sum(layers[j] * layers[j + 1] + layers[j] for j in range(level))

    def sections(parts: list) -> None:
        parts[0][1] = bytes(4 * values)
        parts[1][1] = bytes(blocks * layers[level])

    def header(m: dict) -> None:
        m["model"].update(block=block, layers=layers, level=level)

    return reforge(base, edit_sections=sections, edit_header=header)


#: golden files per format version: name -> (image, encode options); all read with KEY
GOLDEN_CASES = {
    "v1.0": {
        "rgb-64x48-level1-chacha20": (synthetic_image(48, 64, 3, seed=21), dict(level=1, cipher="chacha20")),
        "rgb-64x48-level2-logistic": (synthetic_image(48, 64, 3, seed=21), dict(level=2, cipher="logistic")),
        "gray-30x21-level1-logistic": (synthetic_image(21, 30, 1, seed=22), dict(level=1, cipher="logistic")),
        "la-19x27-level2-chacha20": (synthetic_image(27, 19, 2, seed=23), dict(level=2, cipher="chacha20")),
        "rgba-25x17-level1-perchannel-f16": (
            synthetic_image(17, 25, 4, seed=24), dict(level=1, weights="f16le", per_channel=True)),
    },
    "v1.1": {
        "rgb-64x48-rd-q75-444-chacha20": (
            synthetic_image(48, 64, 3, seed=21), dict(profile="rd", quality=75, chroma="444", cipher="chacha20")),
        "rgb-64x48-rd-q50-420-logistic": (
            synthetic_image(48, 64, 3, seed=21), dict(profile="rd", quality=50, chroma="420", cipher="logistic")),
        "gray-30x21-rd-q90-chacha20": (
            synthetic_image(21, 30, 1, seed=22), dict(profile="rd", quality=90, cipher="chacha20")),
        "la-19x27-rd-q40-logistic": (
            synthetic_image(27, 19, 2, seed=23), dict(profile="rd", quality=40, cipher="logistic")),
        "rgba-25x17-rd-q60-420-chacha20": (
            synthetic_image(17, 25, 4, seed=24), dict(profile="rd", quality=60, chroma="420", cipher="chacha20")),
    },
    "v1.2": {
        "rgb-64x48-rd-q75-context-chacha20": (
            synthetic_image(48, 64, 3, seed=21), dict(profile="rd", quality=75, chroma="444", context=CONTEXT)),
        "la-19x27-level1-context-logistic": (
            synthetic_image(27, 19, 2, seed=23), dict(level=1, cipher="logistic", context=CONTEXT)),
        "rgb-64x48-rd-q75-metadata-chacha20": (
            image_with_metadata(synthetic_image(48, 64, 3, seed=21)), dict(profile="rd", quality=75, chroma="444")),
    },
}


def golden_files(folder: Path, cases: dict) -> list[dict]:
    """Write the missing golden files of one format version and their decoded pixels as PNG; their entries."""
    entries = []
    for name, (image, options) in cases.items():
        path = folder / f"{name}.saec"
        if not path.exists():
            write_new(path, encode_with_nonce(image, KEY, hashlib.sha256(name.encode()).digest(), **options))
        context = options.get("context")
        result = saecodec.decode_image(path.read_bytes(), KEY, context=context)
        decoded = result.pixels
        buffer = io.BytesIO()
        saecodec.imaging.io.to_pil(decoded).save(buffer, format="PNG")
        write_new(folder / f"{name}.png", buffer.getvalue())
        entries.append({"name": name, "file": f"{name}.saec", "expected": f"{name}.png",
                        **({} if context is None else {"context": context}),
                        **({"metadata_sha256": metadata_digests(result.metadata)} if result.metadata else {})})
    return entries


# ------------------------------------------------------------------------------ format 1.3: overfit profile


def encode_overfit_shapes(image: np.ndarray, key, nonce: bytes, *, levels: tuple[int, ...], hidden: tuple[int, ...],
                          residual: int, seed: int) -> bytes:
    """A valid overfit file of a decoder shape the effort levels do not write (several channels at a level, a
    level without any, an alpha plane), its weights and latents random integers of trained magnitudes, with a
    different shift per tensor: what a reader must decode, whatever trained it."""
    from saecodec.entropy import encode_latents, encode_weights
    from saecodec.format.header import OVERFIT_VERSION, OverfitModelInfo, OverfitQuantInfo
    from saecodec.profiles.overfit import coding_order

    import zlib

    pixels, mode = load_pixels(image, saecodec.DEFAULT_LIMITS)
    info = ImageInfo(pixels.shape[0], pixels.shape[1], mode)
    model = OverfitModelInfo("rgb" if info.colour_channels == 3 else "grey", levels, hidden, residual)
    rng = np.random.default_rng(seed)
    sizes = model.tensor_sizes()
    ints = rng.integers(-200, 201, sum(sizes))
    shifts = tuple(int(v) for v in rng.integers(6, 11, len(sizes)))
    grids = [rng.integers(-3, 4, shape) for shape in coding_order(model.grid_shapes(info), levels)]
    sections = [("weights", encode_weights(ints, sizes)), ("latents", encode_latents(grids))]
    if info.has_alpha:
        sections.append(("alpha", zlib.compress(np.ascontiguousarray(pixels[:, :, -1]).tobytes(), 9)))
    kdf = KdfParams("secret-key")
    header = Header(info, model, OverfitQuantInfo(shifts), CryptoInfo("chacha20", kdf, nonce),
                    tuple((name, len(data)) for name, data in sections), OVERFIT_VERSION)
    keys = derive_file_keys(derive_master_key(key, kdf), nonce)
    payload = apply_keystream("chacha20", keys.encryption, b"".join(data for _, data in sections))
    body = assemble(pack_header(header), payload, OVERFIT_VERSION)
    return body + compute_tag(keys.authentication, body)


def overfit_shape(base: bytes, levels: list[int], hidden: list[int], residual: int) -> bytes:
    """``base`` (an overfit file) re-forged with another decoder shape: zero weights and latents of the counts
    that shape needs (and a shift per tensor), valid tag, so only the reader's limits on the shape can
    refuse it."""
    from saecodec.entropy import encode_latents, encode_weights
    from saecodec.format.header import OverfitModelInfo
    from saecodec.profiles.overfit import coding_order

    mapping = read_envelope(base).header_map
    info = ImageInfo(mapping["image"]["height"], mapping["image"]["width"], mapping["image"]["mode"])
    model = OverfitModelInfo(mapping["model"]["colour"], tuple(levels), tuple(hidden), residual)
    sizes = model.tensor_sizes()

    def sections(parts: list) -> None:
        parts[0][1] = encode_weights(np.zeros(sum(sizes), np.int32), sizes)
        parts[1][1] = encode_latents([np.zeros(s, np.int32) for s in coding_order(model.grid_shapes(info), levels)])

    def header(m: dict) -> None:
        m["model"].update(levels=levels, hidden=hidden, residual=residual)
        m["quant"]["shifts"] = [0] * len(sizes)

    return reforge(base, edit_sections=sections, edit_header=header)


def overfit_vectors() -> list[dict]:
    """Format 1.3: the overfit profile's valid files and one file per way a reader of an overfit file must fail."""
    good = {
        "ok-overfit-rgb-chacha20": (synthetic_image(16, 24, 3, seed=61), dict(effort="fast", quality=75, seed=0), KEY),
        "ok-overfit-gray-logistic": (synthetic_image(13, 11, 1, seed=62),
                                     dict(effort="fast", quality=50, cipher="logistic"), KEY),
        "ok-overfit-la-shapes": (
            synthetic_image(19, 26, 2, seed=63),
            lambda image, key, nonce: encode_overfit_shapes(image, key, nonce, levels=(1, 2, 0, 1), hidden=(5, 3),
                                                            residual=2, seed=63),
            KEY),
    }
    entries, produced = ok_vectors(good)
    base = produced["ok-overfit-rgb-chacha20"]
    model = read_envelope(base).header_map["model"]
    levels, hidden, residual = list(model["levels"]), list(model["hidden"]), model["residual"]

    def edit_section(name: str, change):
        def edit(sections):
            for entry in sections:
                if entry[0] == name:
                    entry[1] = change(entry[1])
        return edit

    def shifts_one_short(m: dict) -> None:
        m["quant"]["shifts"].pop()

    bad = {
        "fail-overfit-in-version-1.2": (reforge(base, version=(1, 2)), "FormatError"),
        "fail-overfit-unknown-upsample": (reforge(base, edit_header=set_path("model", "upsample", value="bicubic")),
                                          "UnsupportedFeatureError"),
        "fail-overfit-unknown-arithmetic": (reforge(base, edit_header=set_path("model", "arithmetic", value="f16")),
                                            "UnsupportedFeatureError"),
        "fail-overfit-level-out-of-range": (
            reforge(base, edit_header=set_path("model", "levels", value=levels[:-1] + [5])), "FormatError"),
        "fail-overfit-grey-colour-rgb": (reforge(base, edit_header=set_path("model", "colour", value="grey")),
                                         "FormatError"),
        "fail-overfit-shifts-count": (reforge(base, edit_header=shifts_one_short), "FormatError"),
        "fail-overfit-short-latents": (reforge(base, edit_sections=edit_section("latents", lambda b: b[:4])),
                                       "FormatError"),
        "fail-overfit-latents-truncated": (reforge(base, edit_sections=edit_section("latents", lambda b: b[:-1])),
                                           "FormatError"),
        "fail-overfit-weights-trailing-byte": (
            reforge(base, edit_sections=edit_section("weights", lambda b: b + b"\x00")), "FormatError"),
        "fail-overfit-weights-count": (
            reforge(base, edit_header=set_path("model", "hidden", value=hidden[:-1] + [hidden[-1] - 1])),
            "FormatError"),
        # Authentic files whose decoder is over the default limits: refused at step 8, before decoding.
        "fail-overfit-macs-over-limit": (overfit_shape(base, levels, [64, 60], residual), "LimitExceededError"),
        "fail-overfit-width-over-limit": (overfit_shape(base, levels, [65, 16], residual), "LimitExceededError"),
        "fail-overfit-latents-over-limit": (overfit_shape(base, [2, 1], hidden, residual), "LimitExceededError"),
    }
    return entries + fail_vectors(bad)


GOLDEN_CASES["v1.3"] = {
    "rgb-64x48-overfit-fast-q75-chacha20": (
        synthetic_image(48, 64, 3, seed=21), dict(effort="fast", quality=75, cipher="chacha20")),
    "rgba-25x17-overfit-fast-q60-logistic": (
        synthetic_image(17, 25, 4, seed=24), dict(effort="fast", quality=60, cipher="logistic", seed=1)),
    "gray-30x21-overfit-fast-q90-chacha20": (
        synthetic_image(21, 30, 1, seed=22), dict(effort="fast", quality=90, cipher="chacha20")),
    "la-19x27-overfit-fast-context-chacha20": (
        synthetic_image(27, 19, 2, seed=23), dict(effort="fast", quality=50, context=CONTEXT)),
}


def main() -> int:
    import saecodec.imaging.io  # noqa: F401  (to_pil)

    keys_json = json.dumps(keystream_vectors(), indent=1) + "\n"
    write_new(VECTORS / "keystreams.json", keys_json.encode())
    write_index(VECTORS / "files.json", {"key_note": "keys are hex secret keys; passwords are UTF-8 strings"},
                "vectors", file_vectors() + rd_vectors() + context_vectors() + metadata_vectors()
                + reader_rule_vectors() + overfit_vectors())
    for version, cases in GOLDEN_CASES.items():
        folder = GOLDEN_ROOT / version
        write_index(folder / "manifest.json", {"key": KEY.material.hex()}, "files", golden_files(folder, cases))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
