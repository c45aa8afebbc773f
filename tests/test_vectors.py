"""The spec's test vectors (spec/vectors/) and the golden files (tests/golden/): every one, every run.

Golden files are never rewritten: a failure here means a change broke files that users already have. Both are
made by tools/make_vectors.py, append-only; every format version (1.0: paper profile, 1.1: rd profile, 1.2:
contexts and metadata, 1.3: overfit profile) has its own golden folder tests/golden/v<major>.<minor>/.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import saecodec
import saecodec.errors as errors
from saecodec.crypto.keys import derive_master_key
from saecodec.crypto.keystreams import keystream, logistic_lane_seeds
from saecodec.crypto.subkeys import derive_file_keys
from saecodec.format.header import KdfParams

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "spec" / "vectors"
GOLDEN = ROOT / "tests" / "golden"

KEYSTREAMS = json.loads((VECTORS / "keystreams.json").read_text())
FILES = json.loads((VECTORS / "files.json").read_text())["vectors"]
GOLDEN_MANIFESTS = sorted(GOLDEN.glob("v*/manifest.json"))
#: every format version a writer has produced; each must keep golden files and valid vectors
FORMAT_VERSIONS = {"v1.0": (1, 0), "v1.1": (1, 1), "v1.2": (1, 2), "v1.3": (1, 3)}


def metadata_digests(metadata) -> dict[str, str]:
    return {kind: hashlib.sha256(getattr(metadata, kind)).hexdigest()
            for kind in ("exif", "icc", "xmp") if getattr(metadata, kind)}


def vector_key(entry: dict):
    if "password" in entry:
        return saecodec.key_from_password(entry["password"])
    return saecodec.SecretKey(bytes.fromhex(entry["key"]))


@pytest.mark.parametrize("case", KEYSTREAMS["file_keys"], ids=lambda c: c["nonce"][:8])
def test_file_key_vectors(case):
    keys = derive_file_keys(bytes.fromhex(case["master_key"]), bytes.fromhex(case["nonce"]))
    assert keys.encryption.hex() == case["encryption_key"]
    assert keys.authentication.hex() == case["authentication_key"]


@pytest.mark.parametrize("case", KEYSTREAMS["scrypt"], ids=lambda c: c["salt"][:8])
def test_scrypt_vectors(case):
    kdf = KdfParams("scrypt", bytes.fromhex(case["salt"]), case["log2_n"], case["r"], case["p"])
    assert derive_master_key(saecodec.key_from_password(case["password"]), kdf).hex() == case["master_key"]


@pytest.mark.parametrize("case", KEYSTREAMS["keystreams"], ids=lambda c: f"{c['suite']}-{c['encryption_key'][:8]}")
def test_keystream_vectors(case):
    stream = keystream(case["suite"], bytes.fromhex(case["encryption_key"]), case["prefix_length"]).tobytes()
    assert stream[:256].hex() == case["first_bytes"]
    assert hashlib.sha256(stream).hexdigest() == case["prefix_sha256"]


@pytest.mark.parametrize("case", KEYSTREAMS["logistic_seeds"], ids=lambda c: f"chunk{c['chunk']}")
def test_logistic_seed_vectors(case):
    x0, r = logistic_lane_seeds(bytes.fromhex(case["encryption_key"]), case["chunk"])
    assert [struct.pack(">d", v).hex() for v in x0] == case["x0_binary64"]
    assert [struct.pack(">d", v).hex() for v in r] == case["r_binary64"]


@pytest.mark.parametrize("entry", FILES, ids=lambda e: e["name"])
def test_file_vectors(entry):
    data = (VECTORS / entry["file"]).read_bytes()
    key = vector_key(entry)
    expect = entry["expect"]
    if "error" in expect:
        error = getattr(errors, expect["error"])
        with pytest.raises(error) as caught:
            saecodec.decode(data, key, context=entry.get("context"))
        assert type(caught.value) is error, f"expected exactly {expect['error']}, got {type(caught.value).__name__}"
    else:
        result = saecodec.decode_image(data, key, context=entry.get("context"))
        assert list(result.pixels.shape) == expect["shape"]
        assert hashlib.sha256(result.pixels.tobytes()).hexdigest() == expect["pixels_sha256"]
        assert metadata_digests(result.metadata) == expect.get("metadata_sha256", {})


def test_every_vector_file_is_listed_once():
    names = [e["name"] for e in FILES]
    assert len(names) == len(set(names)), "duplicate vector names in files.json"
    listed = [e["file"] for e in FILES]
    assert len(listed) == len(set(listed)), "two vectors share a file"
    present = {f"files/{p.name}" for p in (VECTORS / "files").iterdir()}
    assert present == set(listed), "files/ and files.json disagree (an unlisted file is never checked)"


def test_every_format_version_and_profile_has_valid_vectors():
    headers = [saecodec.inspect(VECTORS / e["file"]) for e in FILES if "error" not in e["expect"]]
    assert {h.version for h in headers} >= set(FORMAT_VERSIONS.values())
    assert {(h.version, h.profile) for h in headers} >= {((1, 0), "paper"), ((1, 1), "rd"), ((1, 2), "rd"),
                                                          ((1, 2), "paper"), ((1, 3), "overfit")}
    block_profiles = [h for h in headers if h.profile != "overfit"]
    assert all((h.crypto.context_bound or h.has_metadata) == (h.version >= (1, 2)) for h in block_profiles)
    assert all(h.version == (1, 3) for h in headers if h.profile == "overfit")  # its first version (spec 2)
    rd_modes = {h.image.mode for h in headers if h.profile == "rd"}
    assert rd_modes == {"L", "LA", "RGB", "RGBA"}
    rd_chroma = {h.model.chroma for h in headers if h.profile == "rd" and h.model.colour == "ycbcr"}
    assert rd_chroma == {"444", "420"}
    overfit = [h for h in headers if h.profile == "overfit"]
    assert {h.image.mode for h in overfit} >= {"L", "LA", "RGB"}
    assert {h.crypto.cipher for h in overfit} == {"chacha20", "logistic"}
    # a shape the encoder's effort levels do not write: several channels at a level, a level without any
    assert any(max(h.model.levels) > 1 and 0 in h.model.levels for h in overfit)


def test_every_failure_kind_has_a_vector():
    kinds = {e["expect"]["error"] for e in FILES if "error" in e["expect"]}
    assert kinds >= {
        "AuthenticationError",
        "TruncatedError",
        "FormatError",
        "UnsupportedVersionError",
        "UnsupportedFeatureError",
        "LimitExceededError",
    }


def golden_cases():
    for manifest in GOLDEN_MANIFESTS:
        data = json.loads(manifest.read_text())
        for entry in data["files"]:
            yield pytest.param(manifest.parent, data["key"], entry, id=f"{manifest.parent.name}/{entry['name']}")


def test_golden_files_exist():
    assert GOLDEN_MANIFESTS, "no golden files: tests/golden/v*/manifest.json"
    folders = {manifest.parent.name for manifest in GOLDEN_MANIFESTS}
    assert folders >= set(FORMAT_VERSIONS), f"golden folders {sorted(folders)} lack a format version"


@pytest.mark.parametrize("manifest", GOLDEN_MANIFESTS, ids=lambda m: m.parent.name)
def test_golden_manifest_lists_every_file_of_its_version(manifest):
    folder = manifest.parent
    data = json.loads(manifest.read_text())
    assert data["files"], f"{folder.name} has no golden files"
    listed = [entry["file"] for entry in data["files"]] + [entry["expected"] for entry in data["files"]]
    present = {p.name for p in folder.iterdir() if p.name != "manifest.json"}
    assert len(listed) == len(set(listed)) and present == set(listed), "an unlisted golden file is never checked"
    version = tuple(int(v) for v in folder.name[1:].split("."))
    for entry in data["files"]:
        assert saecodec.inspect(folder / entry["file"]).version == version, f"{entry['file']} is not format {version}"


@pytest.mark.parametrize("folder, key_hex, entry", list(golden_cases()))
def test_golden_files_decode_to_the_same_pixels(folder, key_hex, entry):
    key = saecodec.SecretKey(bytes.fromhex(key_hex))
    result = saecodec.decode_image((folder / entry["file"]).read_bytes(), key, context=entry.get("context"))
    assert metadata_digests(result.metadata) == entry.get("metadata_sha256", {})
    pixels = result.pixels
    expected = np.asarray(Image.open(folder / entry["expected"]))
    assert pixels.dtype == expected.dtype == np.uint8
    assert pixels.shape == expected.shape
    assert np.array_equal(pixels, expected)
