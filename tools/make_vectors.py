"""Write the spec's test vectors (spec/vectors/) and the golden files (tests/golden/) for a format version.

Vectors and golden files are append-only: once a version ships, its files must decode forever, so this tool
never overwrites an existing file; it only adds what is missing. Run: python tools/make_vectors.py
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from pathlib import Path

import msgpack
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import saecodec  # noqa: E402
from saecodec.crypto.keys import derive_master_key  # noqa: E402
from saecodec.crypto.keystreams import keystream, logistic_lane_seeds  # noqa: E402
from saecodec.crypto.mac import compute_tag  # noqa: E402
from saecodec.crypto.subkeys import derive_file_keys  # noqa: E402
from saecodec.format.container import MAGIC, TAG_BYTES, assemble, read_envelope  # noqa: E402
from saecodec.format.header import KdfParams  # noqa: E402
from saecodec.kernels.logistic import BYTES_PER_CHUNK  # noqa: E402
from tests.conftest import synthetic_image  # noqa: E402

VECTORS = ROOT / "spec" / "vectors"
GOLDEN = ROOT / "tests" / "golden" / "v1.0"
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


def file_vectors() -> list[dict]:
    entries = []
    good = {
        "ok-rgb-chacha20-level1": (synthetic_image(16, 24, 3, seed=11), dict(level=1, cipher="chacha20"), KEY),
        "ok-gray-logistic-level2": (synthetic_image(13, 11, 1, seed=12), dict(level=2, cipher="logistic"), KEY),
        "ok-rgba-password-f16": (
            synthetic_image(10, 9, 4, seed=13),
            dict(level=2, cipher="chacha20", weights="f16le"),
            saecodec.key_from_password(PASSWORD, **FAST),
        ),
    }
    produced = {}
    for name, (image, options, key) in good.items():
        path = VECTORS / "files" / f"{name}.saec"
        if not path.exists():
            write_new(path, saecodec.encode(image, key, _nonce=hashlib.sha256(name.encode()).digest(), **options))
        data = path.read_bytes()
        produced[name] = data
        secret = {"password": PASSWORD} if isinstance(key, saecodec.Password) else {"key": key.material.hex()}
        decoded = saecodec.decode(data, key)
        entries.append(
            {"name": name, "file": f"files/{name}.saec", **secret,
             "expect": {"shape": list(decoded.shape), "pixels_sha256": pixels_digest(decoded)}}
        )

    base = produced["ok-rgb-chacha20-level1"]
    header_end = read_envelope(base).header_end

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
    }
    for name, spec in bad.items():
        data, error = spec[0], spec[1]
        write_new(VECTORS / "files" / f"{name}.saec", data)
        entry = {"name": name, "file": f"files/{name}.saec"}
        if len(spec) > 2 and isinstance(spec[2], str):
            entry["password"] = spec[2]
        else:
            entry["key"] = (spec[2] if len(spec) > 2 else KEY).material.hex()
        entry["expect"] = {"error": error}
        entries.append(entry)
    return entries


def golden_files() -> list[dict]:
    cases = {
        "rgb-64x48-level1-chacha20": (synthetic_image(48, 64, 3, seed=21), dict(level=1, cipher="chacha20")),
        "rgb-64x48-level2-logistic": (synthetic_image(48, 64, 3, seed=21), dict(level=2, cipher="logistic")),
        "gray-30x21-level1-logistic": (synthetic_image(21, 30, 1, seed=22), dict(level=1, cipher="logistic")),
        "la-19x27-level2-chacha20": (synthetic_image(27, 19, 2, seed=23), dict(level=2, cipher="chacha20")),
        "rgba-25x17-level1-perchannel-f16": (
            synthetic_image(17, 25, 4, seed=24), dict(level=1, weights="f16le", per_channel=True)),
    }
    entries = []
    for name, (image, options) in cases.items():
        path = GOLDEN / f"{name}.saec"
        if not path.exists():
            write_new(path, saecodec.encode(image, KEY, _nonce=hashlib.sha256(name.encode()).digest(), **options))
        decoded = saecodec.decode(path.read_bytes(), KEY)
        expected = GOLDEN / f"{name}.png"
        buffer = Path(expected).with_suffix(".tmp.png")
        saecodec.imaging.io.to_pil(decoded).save(buffer)
        write_new(expected, buffer.read_bytes())
        buffer.unlink()
        entries.append({"name": name, "file": f"{name}.saec", "expected": f"{name}.png"})
    return entries


def main() -> int:
    import saecodec.imaging.io  # noqa: F401  (to_pil)

    keys_json = json.dumps(keystream_vectors(), indent=1) + "\n"
    write_new(VECTORS / "keystreams.json", keys_json.encode())
    files_json = json.dumps({"key_note": "keys are hex secret keys; passwords are UTF-8 strings",
                             "vectors": file_vectors()}, indent=1) + "\n"
    write_new(VECTORS / "files.json", files_json.encode())
    golden_json = json.dumps({"key": KEY.material.hex(), "files": golden_files()}, indent=1) + "\n"
    write_new(GOLDEN / "manifest.json", golden_json.encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
