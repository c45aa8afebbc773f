"""Fuzz the .saec reader: only ``SaecError`` may come out of it, in bounded time and memory (issue 10, section 5).

Two targets:

``raw``     the input bytes go straight into ``inspect``, ``verify`` and ``decode`` with the test key: this
            exercises framing, header parsing and the tag check, and almost never gets past the tag.
``resign``  the input bytes drive structured mutations of a valid seed file decrypted with the test key:
            msgpack-level edits of the header map (change, insert, delete keys and values of every type at
            every level), edits of the plaintext sections (bit flips, truncation, extension, splices, random
            or extreme rc1 streams, non-finite and huge decoder weights, bad zlib and metadata; for the
            overfit profile new decoder shapes with lc1 ``weights`` and ``latents`` coded to match, of small
            or extreme integers, or of a near-miss shape), then the file is re-encrypted and RE-TAGGED with
            the key, so that a mutation passes authentication and reaches the header validation and the
            decoders, which is where a key holder's hostile file lands.

Two engines: ``random`` (plain Python, seeded, needs nothing beyond saecodec: what CI runs) and ``atheris``
(coverage-guided libFuzzer, ``pip install -e '.[fuzz]'``; instruments saecodec's Python code).

The oracle, per execution: an exception that is not a ``saecodec.SaecError`` is a crash (``MemoryError``
included: the codec must turn allocation failures into ``SaecError``; with ``--warnings-as-errors`` also a
warning the reader lets out, as under ``python -W error``); wall time over ``--time-bound`` is a
slow input; RSS growth during the execution over ``--mem-factor`` bytes per declared output byte plus
``--mem-const`` MiB (plus 8 bytes per declared latent value of an overfit file, spec 11.5) is a memory
finding. Findings are written to ``--crash-dir`` (the file as the reader saw it, ``.saec``, with a ``.txt``
saying what happened and, for ``resign``, the ``.driver`` bytes). A hard hang in compiled code cannot be
interrupted, so the input being executed is kept in ``CRASH_DIR/current.saec`` and a watchdog dumps the
stacks and exits after ``--hang-seconds``.

Files are read with ``fuzz_limits()``: the default limits except at most ``--max-pixels`` pixels (default
2^22) and 16 MiB of scrypt memory, so that a time bound of a couple of seconds is meaningful; the memory
bound is relative to the declared output size, so it means the same at any size.

Run:
    .venv/bin/python tools/fuzz.py --target resign --engine random --seconds 600 --save-classes /tmp/classes
    .venv/bin/python tools/fuzz.py --target raw --engine random --executions 1000000
    .venv/bin/pip install -e '.[fuzz]' && .venv/bin/python tools/fuzz.py --target resign --engine atheris --seconds 600
    .venv/bin/python tools/fuzz.py --target resign --warnings-as-errors --seconds 600   # as under python -W error
    .venv/bin/python tools/fuzz.py --target resign --seeds overfit --seconds 600  # the overfit seeds only
    .venv/bin/python tools/fuzz.py --write-seeds tests/fuzz_corpus     # the seeds it lacks (fixed nonces, seeds)
    .venv/bin/python tools/fuzz.py --select /tmp/classes --into tests/fuzz_corpus --max-files 26  # pick a corpus
"""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import functools
import hashlib
import io
import json
import os
import random
import re
import resource
import struct
import sys
import time
import traceback
import warnings
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"  # the spec vectors' test key
PASSWORD = "saec fuzz password"
PASSWORD_PARAMS = dict(log2_n=10, r=8, p=1)  # 1 MiB of scrypt: cheap enough to run once per execution
CONTEXT = b"fuzz/images/0001"
CORPUS_DIR = ROOT / "tests" / "fuzz_corpus"
MANIFEST = "manifest.json"

# Filled by _load_saecodec(): imported lazily so that the atheris engine can instrument the imports.
sc: Any = None


def _load_saecodec(instrument: bool = False) -> None:
    """Import saecodec (and the internals the harness uses), optionally under atheris' instrumentation."""
    if sc is not None:
        return
    if instrument:
        import atheris

        # Numba compiles the bytecode of its kernels itself and fails on atheris' probes: leave those modules
        # (and whatever else mentions numba) uninstrumented; their Python callers are instrumented.
        import importlib.util

        package = Path(importlib.util.find_spec("saecodec").origin).parent
        compiled = [".".join(p.relative_to(package.parent).with_suffix("").parts) for p in package.rglob("*.py")
                    if "numba" in p.read_text(encoding="utf-8")]
        with atheris.instrument_imports(include=["saecodec"], exclude=compiled):
            _import_all()
    else:
        _import_all()


def _import_all() -> None:
    global sc
    import types

    import msgpack
    import numpy as np

    import saecodec
    from saecodec._testing import encode_with_nonce
    from saecodec.crypto.keys import derive_master_key
    from saecodec.crypto.keystreams import apply_keystream
    from saecodec.crypto.mac import compute_tag
    from saecodec.crypto.subkeys import derive_file_keys
    from saecodec.entropy import MAX_MAGNITUDE, encode_grid
    from saecodec.format.container import assemble, read_envelope
    from saecodec.format.header import CryptoInfo

    sc = types.SimpleNamespace(
        saecodec=saecodec, np=np, msgpack=msgpack, encode_with_nonce=encode_with_nonce,
        derive_master_key=derive_master_key, apply_keystream=apply_keystream, compute_tag=compute_tag,
        derive_file_keys=derive_file_keys, MAX_MAGNITUDE=MAX_MAGNITUDE, encode_grid=encode_grid,
        assemble=assemble, read_envelope=read_envelope, CryptoInfo=CryptoInfo,
    )
    sc.KEY = saecodec.SecretKey(bytes.fromhex(KEY_HEX))
    sc.PASSWORD_KEY = saecodec.key_from_password(PASSWORD, **PASSWORD_PARAMS)
    sc.LIMITS = fuzz_limits(1 << 22)


def fuzz_limits(max_pixels: int) -> Any:
    """The reader's default limits with fewer pixels and a cheap scrypt, so the time bound means something."""
    changes = {"max_pixels": max_pixels, "max_scrypt_memory": 1 << 24}
    names = {f.name for f in dataclasses.fields(sc.saecodec.Limits)}
    return dataclasses.replace(sc.saecodec.DEFAULT_LIMITS, **{k: v for k, v in changes.items() if k in names})


# --------------------------------------------------------------------------------------------------- seeds


def synthetic_image(height: int, width: int, channels: int, seed: int) -> Any:
    """Gradients, waves and mild noise (like tests.conftest's): blocks that look like a photograph's."""
    np = sc.np
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = []
    for c in range(channels):
        wave = 60 * np.sin(x / (5 + 3 * c) + rng.uniform(0, 6)) * np.cos(y / (7 + c))
        planes.append(60 + 100 * x / width + 50 * y / height + wave + rng.normal(0, 3, (height, width)))
    image = np.clip(np.stack(planes, axis=2), 0, 255).astype(np.uint8)
    if channels in (2, 4):  # an alpha plane with structure, so the zlib stream is not trivial
        image[:, :, -1] = np.where((x + y) % 7 < 3, 255, (x * 9 + y * 5) % 256).astype(np.uint8)
    return image[:, :, 0] if channels == 1 else image


#: name -> (height, width, channels, encode options, password key?, bound to CONTEXT?)
SEED_CASES: dict[str, tuple[int, int, int, dict, bool, bool]] = {
    "seed-rd-L-chacha20": (13, 11, 1, dict(profile="rd", quality=80), False, False),
    "seed-rd-LA-logistic": (9, 13, 2, dict(profile="rd", quality=40, cipher="logistic"), False, False),
    "seed-rd-RGB-444-chacha20": (16, 24, 3, dict(profile="rd", quality=75, chroma="444"), False, False),
    "seed-rd-RGB-420-logistic": (13, 19, 3, dict(profile="rd", quality=50, chroma="420", cipher="logistic"),
                                 False, False),
    "seed-rd-RGBA-420-chacha20": (10, 9, 4, dict(profile="rd", quality=60, chroma="420"), False, False),
    "seed-rd-RGB-444-context": (8, 17, 3, dict(profile="rd", quality=90, chroma="444"), False, True),
    "seed-rd-LA-password": (9, 10, 2, dict(profile="rd", quality=30), True, False),
    "seed-paper-L-level2-logistic": (13, 11, 1, dict(level=2, cipher="logistic"), False, False),
    "seed-paper-LA-level1-chacha20": (9, 12, 2, dict(level=1), False, False),
    "seed-paper-RGB-level1-chacha20": (16, 16, 3, dict(level=1), False, False),
    "seed-paper-RGBA-perchannel-f16-logistic": (10, 9, 4, dict(level=2, weights="f16le", per_channel=True,
                                                                cipher="logistic"), False, False),
    "seed-paper-RGB-level2-context": (8, 8, 3, dict(level=2, cipher="logistic"), False, True),
    # overfit (format 1.3): trained at effort "fast" (levels down to what the size allows, hidden [16, 16], one
    # residual layer), deterministic on one machine (fixed training seed; float training arithmetic)
    "seed-overfit-L-chacha20": (20, 17, 1, dict(profile="overfit", effort="fast", quality=60), False, False),
    "seed-overfit-LA-chacha20": (9, 13, 2, dict(profile="overfit", effort="fast", quality=40), False, False),
    "seed-overfit-RGB-chacha20": (24, 33, 3, dict(profile="overfit", effort="fast", quality=75), False, False),
    "seed-overfit-RGBA-logistic": (10, 9, 4, dict(profile="overfit", effort="fast", quality=50, cipher="logistic"),
                                   False, False),
    "seed-overfit-RGB-context": (8, 12, 3, dict(profile="overfit", effort="fast", quality=90), False, True),
}


@dataclass
class Seed:
    """A valid file and everything the harness needs to rewrite it below the encryption."""

    name: str
    data: bytes
    password: bool
    context: bool
    version: tuple[int, int] = (1, 0)
    header: dict = field(default_factory=dict)
    sections: list = field(default_factory=list)  # [[name, plaintext bytes], ...]

    @property
    def key(self) -> Any:
        return sc.PASSWORD_KEY if self.password else sc.KEY


def make_seed_files() -> dict[str, bytes]:
    """The seed files, byte for byte the same on every run (fixed nonces and training seeds)."""
    out = {}
    for name, (h, w, c, options, password, context) in SEED_CASES.items():
        key = sc.PASSWORD_KEY if password else sc.KEY
        nonce = hashlib.sha256(name.encode()).digest()
        extra = {"context": CONTEXT} if context else {}
        out[name] = sc.encode_with_nonce(synthetic_image(h, w, c, seed=len(out) + 1), key, nonce, **options, **extra)
    meta = _metadata_seed()
    if meta is not None:
        out["seed-rd-RGB-metadata"] = meta
    hand = _hand_overfit_seed()
    if hand is not None:
        out["seed-overfit-RGB-hand-residual2"] = hand
    return out


def _hand_overfit_seed() -> bytes | None:
    """An overfit file no encoder writes, made by tools/hostile_files.overfit_file: levels [1, 0, 2] (a level
    without grids, so coding order skips it), one hidden layer of 8, two residual layers (the ReLU between
    them), random small weights at mixed shifts and random latents. None where this saecodec has no overfit."""
    tools = str(ROOT / "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)
    try:
        import hostile_files
    except ImportError:
        return None
    np = sc.np
    rng = np.random.default_rng(1303)
    height, width, mode, levels, hidden, residual = 20, 23, "RGB", (1, 0, 2), (8,), 2
    sizes = hostile_files.overfit_tensor_sizes(mode, levels, hidden, residual)
    weights = rng.integers(-40, 41, sum(sizes))
    shifts = [int(v) for v in rng.integers(5, 9, len(sizes))]
    latents = [rng.integers(-4, 5, shape) * (rng.random(shape) < 0.5)
               for shape in hostile_files.overfit_grid_shapes(height, width, levels)]
    return hostile_files.overfit_file(height, width, mode, levels, hidden, residual, weights=weights,
                                      shifts=shifts, latents=latents)


def _metadata_seed() -> bytes | None:
    """A file with a ``meta`` section (EXIF, ICC, XMP), where this version of saecodec keeps metadata."""
    if not hasattr(sc.saecodec, "decode_image"):
        return None
    from PIL import Image

    image = Image.fromarray(synthetic_image(8, 8, 3, seed=99))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation
    exif[0x010F] = "saec fuzz"
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", exif=exif.tobytes(), icc_profile=b"\x00" * 40, xmp=b"<x:xmpmeta/>")
    buffer.seek(0)
    try:
        return sc.encode_with_nonce(Image.open(buffer), sc.KEY, hashlib.sha256(b"meta").digest(), profile="rd",
                                    quality=70)
    except (sc.saecodec.SaecError, TypeError):
        return None


def split_seed(name: str, data: bytes) -> Seed:
    """Decrypt a seed with the test key into header map and plaintext sections."""
    seed = Seed(name, data, password=b"scrypt" in data, context=b"context" in data)
    envelope = sc.read_envelope(data)
    seed.version = envelope.version
    seed.header = envelope.header_map
    keys = _file_keys(seed.header["crypto"], seed.key)
    assert keys is not None, f"seed {name} does not derive keys"
    plain = sc.apply_keystream(seed.header["crypto"]["cipher"], keys.encryption, envelope.payload)
    pos = 0
    for section_name, length in seed.header["sections"]:
        seed.sections.append([section_name, plain[pos : pos + length]])
        pos += length
    return seed


def load_seeds(folder: Path | None = CORPUS_DIR) -> list[Seed]:
    """The seeds kept in the corpus folder (``seed-*.saec``), or freshly made ones when it has none."""
    files = {}
    if folder is not None and folder.is_dir():
        files = {p.stem: p.read_bytes() for p in sorted(folder.glob("seed-*.saec"))}
    if not files:
        files = make_seed_files()
    return [split_seed(name, data) for name, data in files.items()]


@functools.lru_cache(maxsize=256)
def _master_key(password: bool, kdf_packed: bytes) -> bytes | None:
    kdf_map = sc.msgpack.unpackb(kdf_packed)
    try:
        from saecodec.format.header import KdfParams

        kdf = KdfParams.from_map(kdf_map, sc.LIMITS)
        return sc.derive_master_key(sc.PASSWORD_KEY if password else sc.KEY, kdf, sc.LIMITS)
    except Exception:  # noqa: BLE001 - the reader will meet the same header and fail on it (or crash: a finding)
        return None


def _file_keys(crypto: Any, key: Any) -> Any:
    """The file keys a reader derives from this (possibly mutated) crypto map, or None if it cannot."""
    try:
        info = sc.CryptoInfo.from_map(crypto, sc.LIMITS)
        kdf_packed = sc.msgpack.packb(info.kdf.to_map(), use_bin_type=True)
        master = _master_key(key is sc.PASSWORD_KEY, kdf_packed)
        if master is None:
            return None
        return sc.derive_file_keys(master, info.nonce)
    except Exception:  # noqa: BLE001 - as above
        return None


# --------------------------------------------------------------------------------------- msgpack writer


class Pairs(list):
    """A msgpack map written from a list of (key, value): keys may repeat and need not be strings."""


class Raw(bytes):
    """Bytes copied into the msgpack output as they are (deep nesting, reserved bytes, cut encodings)."""


class WideInt(int):
    """An integer written in its 8-byte encoding although a shorter one exists (readers must accept it)."""


def pack(value: Any) -> bytes:
    """msgpack with the freedoms a hostile writer has: duplicate or non-str keys, wide ints, raw bytes."""
    if isinstance(value, Raw):
        return bytes(value)
    if isinstance(value, bool) or value is None:
        return sc.msgpack.packb(value)
    if isinstance(value, WideInt):
        return (b"\xd3" + struct.pack(">q", value)) if value < 0 else (b"\xcf" + struct.pack(">Q", value))
    if isinstance(value, (dict, Pairs)):
        items = list(value.items()) if isinstance(value, dict) else list(value)
        n = len(items)
        head = bytes([0x80 | n]) if n < 16 else (b"\xde" + struct.pack(">H", n))
        return head + b"".join(pack(k) + pack(v) for k, v in items)
    if isinstance(value, (list, tuple)):
        n = len(value)
        head = bytes([0x90 | n]) if n < 16 else (b"\xdc" + struct.pack(">H", n))
        return head + b"".join(pack(v) for v in value)
    return sc.msgpack.packb(value, use_bin_type=True)


# ------------------------------------------------------------------------------------------ the driver


class Driver:
    """Decisions drawn from the input bytes (atheris' or the random engine's); once they are used up, from a
    PRNG seeded with them, so that any input is a complete, deterministic mutation without always taking the
    first choice at the end of a short input."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.rest: random.Random | None = None

    def byte(self) -> int:
        if self.pos >= len(self.data):
            if self.rest is None:
                self.rest = random.Random(hashlib.sha256(self.data).digest())
            return self.rest.randrange(256)
        self.pos += 1
        return self.data[self.pos - 1]

    def below(self, n: int) -> int:
        """A number in [0, n)."""
        if n <= 1:
            return 0
        value = 0
        for _ in range((max(n - 1, 1).bit_length() + 7) // 8):
            value = (value << 8) | self.byte()
        return value % n

    def chance(self, per256: int) -> bool:
        """True with probability per256/256."""
        return self.byte() >= 256 - per256

    def pick(self, items: Any) -> Any:
        return items[self.below(len(items))]

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk + bytes(self.byte() for _ in range(n - len(chunk)))


INTS = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 63, 64, 65, 127, 128, 255, 256, 257, 1000, 4095, 4096, 4097,
        16383, 16384, 16385, 65535, 65536, 1 << 20, (1 << 22) + 1, (1 << 28) + 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
        2**53 + 1, 2**63 - 1, 2**64 - 1, -1, -2, -8, -128, -129, -32768, -(2**31), -(2**63)]
STRINGS = ["L", "LA", "RGB", "RGBA", "P", "CMYK", "I;16", "paper", "rd", "sigmoid", "relu", "u8", "u16", "f32le",
           "f16le", "f64le", "rc1", "rc2", "dct-ii", "dct-iv", "ycbcr", "grey", "rgb", "444", "420", "422",
           "chacha20", "logistic", "aes-ctr", "secret-key", "scrypt", "argon2id", "decoder", "latent", "alpha",
           "meta", "y", "cb", "cr", "exif", "icc", "xmp", "format", "image", "model", "quant", "crypto", "sections",
           "overfit", "lc1", "lc2", "bilinear", "nearest", "bicubic", "f32", "f16", "f64", "weights", "latents",
           "levels", "hidden", "residual", "upsample", "arithmetic", "shifts", "colour",
           "", "\x00", "é", "\U0001F600", "x" * 300]
FLOATS = [0.0, -0.0, 1.0, 8.0, 0.5, 1e308, -1e308, 5e-324, float("nan"), float("inf"), float("-inf"), 3.4e38]


def random_value(d: Driver, depth: int = 0) -> Any:
    """A msgpack value of any type, biased towards boundaries and the header's own vocabulary."""
    kind = d.below(16 if depth < 2 else 11)
    if kind < 4:
        return d.pick(INTS) if d.chance(200) else int.from_bytes(d.take(8), "big", signed=True)
    if kind == 4:
        return WideInt(d.pick([v for v in INTS if -(2**63) <= v < 2**64]))
    if kind == 5:
        return d.pick(FLOATS)
    if kind < 8:
        return d.pick(STRINGS)
    if kind == 8:
        return d.pick([b"", bytes(16), bytes(32), bytes(33), d.take(d.below(40))])
    if kind == 9:
        return d.pick([True, False, None])
    if kind == 10:
        return d.pick([sc.msgpack.ExtType(1, b"x"), Raw(b"\xc1"), Raw(b"\x91" * 2000 + b"\xc0"),
                       Raw(b"\xdd\xff\xff\xff\xff"), Raw(b"\xdf\x7f\xff\xff\xff"), Raw(b"\xc6\xff\xff\xff\xf0"),
                       Raw(b"\xd9\xff" + b"a" * 4), Raw(b"\xa3\xff\xfe\xfd")])
    if kind < 13:
        return [random_value(d, depth + 1) for _ in range(d.below(5))]
    if kind < 15:
        return {d.pick(STRINGS): random_value(d, depth + 1) for _ in range(d.below(4))}
    return Pairs([(d.pick(["a", "a", 1, b"k", None, "format"]), random_value(d, depth + 1)) for _ in range(2)])


def nearby_value(d: Driver, value: Any) -> Any:
    """A value of the same type close to ``value``: off by one, doubled, another word, a longer list."""
    if type(value) is int:
        return d.pick([value + 1, value - 1, value * 2, value // 2, -value, value + 8, value * 16 + 1,
                       value << 16, 0])
    if type(value) is str:
        return d.pick(STRINGS)
    if type(value) is bytes:
        return d.pick([value[:-1], value + b"\x00", bytes(len(value)), value[::-1]])
    if type(value) is list:
        copy = list(value)
        op = d.below(4)
        if op == 0 and copy:
            copy.pop(d.below(len(copy)))
        elif op == 1:
            copy.insert(d.below(len(copy) + 1), copy[0] if copy and d.chance(128) else random_value(d, 2))
        elif op == 2:
            copy = copy * (2 + d.below(3))
        else:
            copy = list(reversed(copy))
        return copy
    return random_value(d)


def _paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every place in a header map: keys of maps, indices of arrays, at every level."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield prefix + (key,)
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield prefix + (index,)
            yield from _paths(item, prefix + (index,))


def _parent(root: Any, path: tuple) -> Any:
    target = root
    for part in path[:-1]:
        target = target[part]
    return target


KNOWN_KEYS = {
    (): ["format", "image", "model", "quant", "crypto", "sections", "extra"],
    ("image",): ["height", "width", "channels", "mode"],
    ("model",): ["profile", "block", "layers", "activation", "level", "models", "transform", "colour", "chroma",
                 "deblock", "levels", "hidden", "residual", "upsample", "arithmetic"],
    ("quant",): ["latent", "weights", "steps", "shifts"],
    ("crypto",): ["cipher", "kdf", "nonce", "context"],
    ("crypto", "kdf"): ["name", "salt", "log2_n", "r", "p"],
}


def mutate_header(d: Driver, header: dict) -> None:
    """One edit of the header map: set, nudge, delete or insert a key or element anywhere."""
    paths = list(_paths(header))
    op = d.below(10)
    if op < 6 and paths:  # change a value (half the time to a close one of the same type)
        path = d.pick(paths)
        parent = _parent(header, path)
        parent[path[-1]] = nearby_value(d, parent[path[-1]]) if d.chance(128) else random_value(d)
    elif op < 8 and paths:  # delete a key or an element
        path = d.pick(paths)
        parent = _parent(header, path)
        if isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, list):
            parent.pop(path[-1])
    else:  # insert a known or unknown key into a map
        where = d.pick(list(KNOWN_KEYS))
        try:
            target = _parent(header, where + ("",))
        except (KeyError, IndexError, TypeError):
            return
        if isinstance(target, dict):
            target[d.pick(KNOWN_KEYS[where] + ["zz", "é"])] = random_value(d)


# Special values of the decoder weights: NaN, infinities, the largest finite and the smallest subnormal.
F32_SPECIAL = [struct.pack("<I", v) for v in (0x7FC00000, 0x7F800000, 0xFF800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x00000001,
                                                0x7F800001, 0x3F800000, 0x00000000)]
F16_SPECIAL = [struct.pack("<H", v) for v in (0x7E00, 0x7C00, 0xFC00, 0x7BFF, 0xFBFF, 0x0001, 0x7C01, 0x3C00)]


def _rc1_stream(d: Driver, blocks: int, blocks_wide: int) -> bytes:
    """A valid rc1 stream of ``blocks`` blocks, sparse, with values up to the coder's magnitude limit."""
    np = sc.np
    blocks = max(1, min(blocks, 1 << 16))
    blocks_wide = max(1, min(blocks_wide, blocks))
    blocks -= blocks % blocks_wide
    grid = np.zeros((1, blocks, 64), dtype=np.int32)
    big = sc.MAX_MAGNITUDE
    for _ in range(d.below(12)):
        value = d.pick([1, -1, 2, 100, -100, 1024, big, -big, big - 1, int.from_bytes(d.take(2), "big") % big])
        grid[0, d.below(blocks), d.below(64)] = value
    if d.chance(40):  # every coefficient at an extreme: the dequantiser's and the DCT's widest range
        grid[0, :, :] = d.pick([big, -big])
    return sc.encode_grid(grid, blocks_wide)


def _zlib_stream(d: Driver, plane: int) -> bytes:
    options = [lambda: zlib.compress(bytes(plane)), lambda: zlib.compress(bytes(plane + 1)),
               lambda: zlib.compress(bytes(max(plane - 1, 0))), lambda: zlib.compress(bytes(plane))[:-3],
               lambda: zlib.compress(bytes(plane)) + b"\x00", lambda: zlib.compress(bytes(1 << 22), 9),
               lambda: d.take(d.below(64)), lambda: zlib.compress(bytes(plane), 0)]
    return d.pick(options)()


def _meta_section(d: Driver) -> bytes:
    choices = [lambda: pack({"exif": b"Exif\x00\x00" + d.take(d.below(64))}),
               lambda: pack({"exif": random_value(d), "icc": random_value(d), "xmp": random_value(d)}),
               lambda: pack({"icc": b""}), lambda: pack(Pairs([("exif", b"x"), ("exif", b"y")])),
               lambda: pack(random_value(d)), lambda: d.take(d.below(32)),
               lambda: pack({"exif": b"Exif\x00\x00MM\x00*\x00\x00\x00\x08" + b"\xff" * d.below(200)})]
    return d.pick(choices)()


def mutate_section(d: Driver, seed: Seed, others: list[Seed], sections: list) -> None:
    """One edit of the plaintext sections."""
    if not sections or d.chance(20):
        sections.insert(d.below(len(sections) + 1), [d.pick(["alpha", "meta", "extra", "y", "latent", "weights",
                                                             "latents", ""]),
                                                     d.take(d.below(64))])
        return
    index = d.below(len(sections))
    name, data = sections[index]
    data = bytearray(data)
    op = d.below(16)
    if op == 0 and data:  # bit flips
        for _ in range(1 + d.below(8)):
            position = d.below(len(data))
            data[position] ^= 1 << d.below(8)
    elif op == 1 and data:  # set bytes
        for _ in range(1 + d.below(8)):
            data[d.below(len(data))] = d.pick([0, 0xFF, 0x80, 0x7F, d.byte()])
    elif op == 2:  # truncate
        del data[d.below(len(data) + 1):]
    elif op == 3:  # extend
        data += d.pick([bytes(1 + d.below(64)), b"\xff" * (1 + d.below(64)), d.take(d.below(64))])
    elif op == 4:  # splice the same-named (or any) section of another seed
        donor = d.pick(others)
        same = [s for s in donor.sections if s[0] == name]
        data = bytearray((same[0] if same and d.chance(200) else d.pick(donor.sections))[1])
    elif op == 5:  # random bytes
        data = bytearray(d.take(d.below(80)))
    elif op == 6:  # delete, duplicate, swap or rename
        action = d.below(4)
        if action == 0:
            sections.pop(index)
        elif action == 1:
            sections.insert(index, [name, bytes(data)])
        elif action == 2 and len(sections) > 1:
            other = d.below(len(sections))
            sections[index], sections[other] = sections[other], sections[index]
        else:
            sections[index][0] = d.pick(["y", "cb", "cr", "decoder", "latent", "alpha", "meta", "Y", "y\x00",
                                         "weights", "latents", "latent\x00"])
        return
    elif op < 10 and name == "decoder":  # non-finite or huge float weights
        special = F16_SPECIAL if seed.header.get("quant", {}).get("weights") == "f16le" else F32_SPECIAL
        width = len(special[0])
        if len(data) >= width:
            for _ in range(1 + d.below(4)):
                position = d.below(len(data) // width) * width
                data[position : position + width] = d.pick(special)
            if d.chance(30):
                data = bytearray(d.pick(special) * (len(data) // width))
    elif op < 10 and name == "latent":
        data = bytearray(bytes([d.pick([0, 255, 128])]) * len(data)) if d.chance(128) else data
    elif op < 12 and name in ("y", "cb", "cr"):  # a valid rc1 stream of a right or wrong grid
        image = seed.header.get("image", {})
        bw = max(1, -(-int(image.get("width", 8)) // 8))
        bh = max(1, -(-int(image.get("height", 8)) // 8))
        if name != "y" and seed.header.get("model", {}).get("chroma") == "420":
            bw, bh = -(-bw // 2), -(-bh // 2)
        blocks = d.pick([bh * bw, bh * bw + 1, bh * bw - 1, 2 * bh * bw, 1])
        data = bytearray(_rc1_stream(d, blocks, d.pick([bw, bw + 1, 1])))
    elif op < 12 and name in ("weights", "latents"):  # a valid lc1 stream of the right or a wrong shape
        shape = _overfit_shape(seed.header)
        if shape is not None:
            data = bytearray(_lc1_section(d, name, shape, exact=d.chance(96)))
    elif op < 12 and name == "alpha":
        image = seed.header.get("image", {})
        data = bytearray(_zlib_stream(d, int(image.get("height", 1)) * int(image.get("width", 1))))
    elif op < 12 and name == "meta":
        data = bytearray(_meta_section(d))
    elif op < 14 and data:  # overwrite a run with one value (runs of 0x00/0xff reach the coder's edge cases)
        start = d.below(len(data))
        length = 1 + d.below(len(data) - start)
        data[start : start + length] = bytes([d.pick([0, 0xFF])]) * length
    else:  # keep only a prefix and repeat it
        if data:
            data = (data[: 1 + d.below(len(data))] * (2 + d.below(4)))[: len(data) + d.below(16)]
    sections[index][1] = bytes(data)


def _sub(m: Any, *path: str) -> Any:
    """``m[path...]`` where each step is a map that has the key; else None (a mutated header may hold anything)."""
    for part in path:
        if not isinstance(m, dict) or part not in m:
            return None
        m = m[part]
    return m


def _int_field(m: Any, *path: str, default: int = 0) -> int:
    value = _sub(m, *path)
    return value if type(value) is int else default


#: The largest overfit sections the harness codes itself (values of the weights, latent values) and the largest
#: synthesis it makes a reachable file for (multiply-adds: pixels x work a pixel), so that an execution stays
#: well inside the time bound; a header asking for more keeps its old (mutated) sections.
OVERFIT_WEIGHTS_BUDGET = 1 << 16
OVERFIT_LATENTS_BUDGET = 1 << 22
OVERFIT_WORK_BUDGET = 1 << 31


@dataclass
class OverfitShape:
    """What an overfit header (maybe mutated) asks of its sections, as a reader that accepts it computes it."""

    height: int
    width: int
    channels: int
    levels: list
    tensors: list  # values of each stored tensor, in file order (spec 11.1)
    grids: list  # (rows, columns) of each latent grid, in coding order (coarsest level first, spec 11.2)
    macs: int  # multiply-adds a pixel (spec 11.5)


def _overfit_shape(header: Any) -> OverfitShape | None:
    """The sizes an overfit header implies, or None when its fields are not plausible integers (a header the
    reader refuses before the sections; out-of-range but small values are kept, so the harness still codes
    sections a lenient reader would read)."""
    height, width = _int_field(header, "image", "height"), _int_field(header, "image", "width")
    levels, hidden = _sub(header, "model", "levels"), _sub(header, "model", "hidden")
    residual = _sub(header, "model", "residual")
    if not (1 <= height <= 1 << 16 and 1 <= width <= 1 << 16 and isinstance(levels, list)
            and isinstance(hidden, list) and type(residual) is int and 0 <= residual <= 8
            and 1 <= len(levels) <= 10 and len(hidden) <= 8
            and all(type(n) is int and 0 <= n <= 16 for n in levels)
            and all(type(n) is int and 1 <= n <= 1024 for n in hidden)):
        return None
    colour = _sub(header, "model", "colour")
    if colour not in ("rgb", "grey"):
        colour = "rgb" if _sub(header, "image", "mode") in ("RGB", "RGBA") else "grey"
    c = 3 if colour == "rgb" else 1
    widths = [sum(levels), *hidden, c]
    tensors: list = []
    for k in range(len(widths) - 1):
        tensors += [widths[k + 1] * widths[k], widths[k + 1]]
    tensors += [c * c * 9, c] * residual
    grids = [(-(-height // 2**level), -(-width // 2**level))
             for level in reversed(range(len(levels))) for _ in range(levels[level])]
    macs = (sum(widths[k + 1] * widths[k] for k in range(len(widths) - 1)) + residual * 9 * c * c
            + 4 * sum(levels[1:]))
    return OverfitShape(height, width, c, list(levels), tensors, grids, macs)


def _small_ints(d: Driver, rng: Any, count: int) -> Any:
    """``count`` integers for an lc1 stream: zeros, small values dense or sparse, or the coder's extremes
    (+-32767, which overflow the synthesis to infinities and NaN)."""
    np = sc.np
    big = sc.MAX_MAGNITUDE
    kind = d.below(8)
    if kind == 0:
        return np.zeros(count, np.int32)
    if kind < 4:
        scale = d.pick([1, 2, 4, 16, 60, 300])
        values = rng.integers(-scale, scale + 1, count, dtype=np.int32)
        return values if kind < 3 else values * (rng.random(count) < 0.1)
    if kind == 4:  # sparse extremes
        values = np.zeros(count, np.int32)
        for _ in range(min(count, 1 + d.below(8))):
            values[d.below(count)] = d.pick([big, -big, big - 1, 1 << 14, -(1 << 14)])
        return values
    if kind == 5:
        return np.full(count, d.pick([big, -big, 1, -1]), np.int32)
    if kind == 6:
        return rng.choice(np.array([big, -big, 0], np.int32), count)
    return rng.integers(-big, big + 1, count, dtype=np.int32)


def _lc1_section(d: Driver, name: str, shape: OverfitShape, exact: bool = True) -> bytes:
    """A valid lc1 stream for the ``weights`` or ``latents`` section of ``shape`` (``exact``) or of a shape
    close to it: a value more or fewer, a grid transposed, added or dropped, a row more. Empty when the
    shape is over the harness' budget."""
    np = sc.np
    from saecodec.entropy import encode_latents, encode_weights

    rng = np.random.default_rng(int.from_bytes(d.take(4), "big"))
    if name == "weights":
        count = sum(shape.tensors)
        if not exact:
            count = max(0, d.pick([count + 1, count - 1, 2 * count, count // 2, 0, count + shape.tensors[-1]]))
        if count > OVERFIT_WEIGHTS_BUDGET:
            return b""
        return encode_weights(_small_ints(d, rng, count), [count])
    grids = list(shape.grids)
    if not exact and grids:
        i = d.below(len(grids))
        rows, cols = grids[i]
        change = d.below(5)
        if change == 0:
            grids[i] = (cols, rows)
        elif change == 1:
            grids.insert(i, grids[i])
        elif change == 2:
            grids.pop(i)
        elif change == 3:
            grids[i] = (rows + 1, cols)
        else:
            grids.reverse()  # the right grids in the wrong (finest first) order
    if sum(r * c for r, c in grids) > OVERFIT_LATENTS_BUDGET:
        return b""
    out = []
    for rows, cols in grids:
        if rows * cols and d.chance(64):  # one non-zero 8x8 block in a zero grid
            grid = np.zeros((rows, cols), np.int32)
            y, x = d.below(rows), d.below(cols)
            grid[y : y + 8, x : x + 8] = _small_ints(d, rng, 64).reshape(8, 8)[: rows - y, : cols - x]
        else:
            grid = _small_ints(d, rng, rows * cols).reshape(rows, cols)
        out.append(grid)
    return encode_latents(out)


def _conform_overfit(d: Driver, header: dict, sections: list, new: list) -> bool:
    """The overfit part of ``conform_sections``: colour to the mode and ``quant.shifts`` to the tensor count
    (each usually), then ``weights`` and ``latents`` coded for the header's shapes (usually, within the
    budgets) or kept as they are (mutated bytes). False: the header's shapes are not plausible."""
    model = header["model"]
    mode = _sub(header, "image", "mode")
    if mode in ("L", "LA", "RGB", "RGBA") and d.chance(200):
        model["colour"] = "rgb" if mode in ("RGB", "RGBA") else "grey"
    shape = _overfit_shape(header)
    if shape is None:
        return False
    quant = header.get("quant")
    shifts = quant.get("shifts") if isinstance(quant, dict) else None
    if isinstance(shifts, list) and len(shifts) != len(shape.tensors) and d.chance(200):
        extra = [d.pick([0, 1, 7, 8, 12, 15, 30]) for _ in range(max(0, len(shape.tensors) - len(shifts)))]
        quant["shifts"] = (shifts + extra)[: len(shape.tensors)]
    old = {s[0]: s[1] for s in sections if isinstance(s[0], str)}
    work_ok = shape.height * shape.width * max(shape.macs, 1) <= OVERFIT_WORK_BUDGET
    recode = d.below(8)  # 0: keep both, 1: weights only, 2: latents only, else both
    for name in ("weights", "latents"):
        data = old.get(name, b"")
        if work_ok and recode != 0 and (recode > 2 or recode == (1 if name == "weights" else 2)):
            data = _lc1_section(d, name, shape) or data
        new.append([name, data])
    return True


MODE_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}


def reshape_overfit(d: Driver, header: dict) -> None:
    """One edit of an overfit header's decoder shape or size, mostly within the reader's ranges and limits
    (levels 0..4 a level, hidden widths up to the limit of 64 and past it, 0..4 residual layers), now and then
    just outside them: another mode (the colour follows in ``conform_sections``) or image size."""
    model = header["model"]
    image = header.get("image")
    field_ = d.below(6)
    if field_ == 0:
        model["levels"] = [d.pick([0, 0, 1, 1, 1, 2, 3, 4, 5]) for _ in range(d.pick([1, 1, 2, 3, 4, 7, 8]))]
    elif field_ == 1:
        widths = [1, 2, 3, 4, 8, 16, 24, 40, 64, 65, 256]
        model["hidden"] = [d.pick(widths) for _ in range(d.pick([0, 0, 1, 2, 3, 4, 5]))]
    elif field_ == 2:
        model["residual"] = d.pick([0, 1, 2, 3, 4, 4, 5])
    elif field_ == 3 and isinstance(image, dict):
        image["mode"] = d.pick(list(MODE_CHANNELS))
        image["channels"] = MODE_CHANNELS[image["mode"]]
    elif field_ == 4 and isinstance(image, dict):
        image[d.pick(["height", "width"])] = d.pick([1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 100, 257])
    else:  # two fields at once
        reshape_overfit(d, header)
        reshape_overfit(d, header)


def conform_sections(d: Driver, header: dict, sections: list) -> None:
    """Make the sections what the (edited) header asks for, so a header edit gets past the length checks and
    reaches a decoder: the paper profile's exact decoder and latent sizes, valid rc1 planes of the right grid,
    an alpha plane of the right size. Sizes are capped; an edit asking for more keeps the old sections."""
    height, width = _int_field(header, "image", "height"), _int_field(header, "image", "width")
    if not (1 <= height <= 1 << 13 and 1 <= width <= 1 << 13 and height * width <= 1 << 22):
        return
    mode = _sub(header, "image", "mode")
    colour = 3 if mode in ("RGB", "RGBA") else 1
    model = _sub(header, "model") if isinstance(_sub(header, "model"), dict) else {}
    new: list = []
    if model.get("profile") == "overfit":
        if not _conform_overfit(d, header, sections, new):
            return
    elif model.get("profile") == "rd":
        planes = [("y", height, width)]
        if colour == 3:
            sub = model.get("chroma") == "420"
            rows, cols = ((height + 1) // 2, (width + 1) // 2) if sub else (height, width)
            planes += [("cb", rows, cols), ("cr", rows, cols)]
        for name, rows, cols in planes:
            bh, bw = -(-rows // 8), -(-cols // 8)
            if bh * bw > 1 << 16:
                return
            new.append([name, _rc1_stream(d, bh * bw, bw) if d.chance(128) else
                        sc.encode_grid(sc.np.zeros((1, bh * bw, 64), dtype=sc.np.int32), bw)])
    else:
        layers = model.get("layers")
        block, level, models = _int_field(model, "block"), _int_field(model, "level"), _int_field(model, "models", default=1)
        if not (isinstance(layers, list) and all(type(u) is int and u >= 0 for u in layers) and 1 <= block <= 64
                and 1 <= level < len(layers) and 1 <= models <= 3):
            return
        width_bytes = 2 if _sub(header, "quant", "weights") == "f16le" else 4
        values = sum(layers[i] * layers[i + 1] + layers[i] for i in range(level)) * models
        latent = colour * (-(-height // block)) * (-(-width // block)) * layers[level]
        if values * width_bytes > 1 << 20 or latent > 1 << 22:
            return
        old = dict((s[0], s[1]) for s in sections if isinstance(s[0], str))
        rng = random.Random(d.byte())
        weights = sc.np.array([rng.gauss(0, 0.5) for _ in range(min(values, 4096))], dtype="<f4")
        weights = sc.np.resize(weights, values).astype("<f2" if width_bytes == 2 else "<f4")
        new.append(["decoder", weights.tobytes()])
        latent_old = old.get("latent", b"\x80")
        new.append(["latent", (latent_old * (latent // max(len(latent_old), 1) + 1))[:latent]])
    if mode in ("LA", "RGBA"):
        new.append(["alpha", zlib.compress(bytes(height * width))])
    meta = [s for s in sections if s[0] == "meta"]
    sections[:] = new + meta


@dataclass
class Forged:
    """A file the harness made, and how its reader is called."""

    data: bytes
    key: Any
    context: bytes | None


def resign(driver_bytes: bytes, seeds: list[Seed]) -> Forged:
    """The re-signing harness: mutate a seed below the encryption as the driver bytes say, re-encrypt and
    re-tag it with the key the reader will use, so that the mutation reaches the decoders."""
    d = Driver(driver_bytes)
    seed = d.pick(seeds)
    header = sc.msgpack.unpackb(sc.msgpack.packb(seed.header, use_bin_type=True), raw=False)  # deep copy
    sections = [[name, data] for name, data in seed.sections]
    version = seed.version
    for _ in range(1 + d.below(4)):
        what = d.below(16)
        if what < 7 and _sub(header, "model", "profile") == "overfit" and d.chance(72):
            reshape_overfit(d, header)  # a new decoder shape, and sections to match: reaches lc1 and the synthesis
            conform_sections(d, header, sections)
        elif what < 7:
            mutate_header(d, header)
        elif what < 13:
            mutate_section(d, seed, seeds, sections)
        elif what == 13:
            version = d.pick([(1, 0), (1, 1), (1, 2), (1, 3), (1, 255), (0, 0), (2, 0)])
            if d.chance(200):
                header["format"] = list(version)
        elif what == 14 or not d.chance(64) or not isinstance(header.get("image"), dict):
            conform_sections(d, header, sections)
        else:  # a new size, sections to match: allocations and the memory bound at size (now and then large)
            sizes = [1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1023, 1025, 2048, 4095, 8192]
            header["image"]["height"], header["image"]["width"] = d.pick(sizes), d.pick(sizes)
            conform_sections(d, header, sections)
    lengths_ok = not d.chance(16)  # now and then the sections array says one thing and the payload another
    if lengths_ok and isinstance(header, dict):
        header["sections"] = [[name, len(data)] for name, data in sections]
    wide = d.chance(20)
    try:
        header_bytes = pack(_widen(header) if wide else header)
    except (OverflowError, ValueError, TypeError):
        header_bytes = pack(seed.header)
    if d.chance(6) and header_bytes:  # a byte of the header changed after the edit, below msgpack
        position = d.below(len(header_bytes))
        header_bytes = header_bytes[:position] + bytes([d.byte()]) + header_bytes[position + 1:]
    data, tag_context = seal(seed, header, header_bytes, sections, version)
    reader_context = tag_context
    if d.chance(8):
        reader_context = d.pick([None, CONTEXT, b"", CONTEXT + b"x"])
    key = seed.key if not d.chance(4) else d.pick([sc.KEY, sc.PASSWORD_KEY])
    return Forged(data, key, reader_context)


def seal(seed: Seed, header: Any, header_bytes: bytes, sections: list, version: tuple[int, int]
         ) -> tuple[bytes, bytes | None]:
    """Encrypt the sections and tag the file the way a reader of the (edited) header will check it: keys from
    its crypto map when they can be derived (else the seed's), its cipher when it names one, the context when
    it says it is bound. Returns the file and the context its tag covers."""
    crypto = header.get("crypto") if isinstance(header, dict) else None
    keys = _file_keys(crypto, seed.key) or _file_keys(seed.header["crypto"], seed.key)
    cipher = crypto.get("cipher") if isinstance(crypto, dict) else None
    cipher = cipher if cipher in ("chacha20", "logistic") else seed.header["crypto"]["cipher"]
    payload = b"".join(data for _, data in sections)
    body = sc.assemble(header_bytes, sc.apply_keystream(cipher, keys.encryption, payload), version)
    tag_context = CONTEXT if isinstance(crypto, dict) and "context" in crypto else None
    return body + sc.compute_tag(keys.authentication, body, tag_context), tag_context


def _widen(value: Any) -> Any:
    """Every integer of a header in its 8-byte encoding."""
    if type(value) is int and -(2**63) <= value < 2**64:
        return WideInt(value)
    if isinstance(value, dict):
        return {k: _widen(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_widen(v) for v in value]
    return value


def raw_reading(data: bytes) -> Forged:
    """How the raw target reads bytes: the password key for scrypt files, the context when one is bound."""
    return Forged(data, sc.PASSWORD_KEY if b"scrypt" in data else sc.KEY, CONTEXT if b"context" in data else None)


# ----------------------------------------------------------------------------------- the raw mutator


def mutate_raw(rng: random.Random, pool: list[bytes]) -> bytes:
    """Byte-level mutations of a pool entry, as a classic mutational fuzzer does (no re-tagging)."""
    data = bytearray(rng.choice(pool))
    for _ in range(1 + int(rng.expovariate(0.7))):
        op = rng.randrange(11)
        n = len(data)
        if op == 0 and n:
            data[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            data[rng.randrange(n)] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        elif op == 2:
            position = rng.randrange(n + 1)
            data[position:position] = rng.randbytes(rng.randrange(1, 9))
        elif op == 3 and n:
            start = rng.randrange(n)
            del data[start : start + rng.randrange(1, 33)]
        elif op == 4:
            del data[rng.randrange(n + 1):]
        elif op == 5 and n:
            start = rng.randrange(n)
            chunk = data[start : start + rng.randrange(1, 65)]
            position = rng.randrange(n + 1)
            data[position:position] = chunk
        elif op == 6:  # splice with another pool entry
            other = rng.choice(pool)
            data = data[: rng.randrange(n + 1)] + other[rng.randrange(len(other) + 1):]
        elif op == 7 and n >= 14:  # the preamble: version bytes and header length
            if rng.random() < 0.5:
                data[8 + rng.randrange(2)] = rng.choice([0, 1, 2, 255])
            else:
                length = int.from_bytes(data[10:14], "big")
                length = rng.choice([0, 1, length - 1, length + 1, 65536, 65537, 2**32 - 1, rng.randrange(200)])
                data[10:14] = (length % 2**32).to_bytes(4, "big")
        elif op == 8 and n > 14:  # an interesting byte in the header region (msgpack type bytes)
            length = min(int.from_bytes(data[10:14], "big"), n - 14)
            if length > 0:
                data[14 + rng.randrange(length)] = rng.choice([0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xCF, 0xD3, 0xD9, 0xDC,
                                                               0xDE, 0xDF, 0xDD, 0xC6, 0xC7, 0xD4, 0x80, 0x90, 0xA0,
                                                               0x7F, 0xFF])
        elif op == 9:  # the resign harness' header edits, without re-tagging
            try:
                envelope_map = sc.read_envelope(bytes(data), sc.LIMITS).header_map
                d = Driver(rng.randbytes(64))
                mutate_header(d, envelope_map)
                header = pack(envelope_map)
                old = int.from_bytes(data[10:14], "big")
                data = data[:10] + len(header).to_bytes(4, "big") + header + data[14 + old:]
            except Exception:  # noqa: BLE001 - only a way to make inputs; the reader is tested below
                pass
        elif op == 10 and n > 32:  # swap the tag of another file in
            other = rng.choice(pool)
            if len(other) >= 32:
                data[-32:] = other[-32:]
    return bytes(data)


# ---------------------------------------------------------------------------------------- the oracle


_MSG_NUMBERS = re.compile(r"-?\d+(\.\d+)?")
_MSG_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def outcome_class(exc: BaseException | None) -> str:
    """An exception's type and message with numbers and quoted names blanked: one class per code path."""
    if exc is None:
        return "ok"
    message = _MSG_QUOTED.sub("'?'", _MSG_NUMBERS.sub("#", str(exc)))
    return f"{type(exc).__name__}: {message}"


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status", "rb") as handle:
        for line in handle:
            if line.startswith(field_name.encode()):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM), so each execution's own peak can be read."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _malloc_returns_memory() -> None:
    """Make glibc give large blocks back to the kernel when they are freed (a fixed mmap threshold, a low
    trim threshold): otherwise one big execution leaves its heap behind, the next reuses it without growing
    the RSS, and the per-execution peak would be underestimated."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1024 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


ODD_BYTES = {bytes([b]) for b in range(1, 256, 2)}
#: Bytes a declared latent value of an overfit file may add to the memory bound: spec section 7 and 11.5 (the
#: grids are decoded whole, an int32 and a binary32 a value; at most 2 values a pixel under the default limits).
LATENT_BYTES = 8  # files whose last byte is odd go through decode_image


@dataclass
class Oracle:
    """Runs the reader on one file and keeps the campaign's statistics and findings."""

    crash_dir: Path
    time_bound: float = 2.0
    mem_factor: float = 2.0
    mem_const_mib: float = 64.0
    with_verify: bool = True
    warnings_as_errors: bool = False  # as under ``python -W error``: a warning the reader lets out is a crash
    executions: int = 0
    outcomes: Counter = field(default_factory=Counter)  # "op: ExceptionType" -> count
    classes: dict = field(default_factory=dict)  # outcome class -> (file bytes, key kind, context)
    slowest: list = field(default_factory=list)  # (seconds, label)
    worst_growth: tuple = (0, 0, "")  # (RSS growth bytes, declared output bytes, label)
    crashes: Counter = field(default_factory=Counter)  # finding key -> count
    crash_files: dict = field(default_factory=dict)
    memory_findings: int = 0
    harness_errors: Counter = field(default_factory=Counter)  # the harness' own failures (not findings)
    slow_findings: int = 0
    peak_ok: bool = True
    started: float = field(default_factory=time.perf_counter)
    current_fd: int = -1

    def __post_init__(self) -> None:
        self.crash_dir.mkdir(parents=True, exist_ok=True)
        _malloc_returns_memory()
        self.peak_ok = _reset_peak()
        self.current_fd = os.open(self.crash_dir / "current.saec", os.O_RDWR | os.O_CREAT, 0o644)

    def execute(self, forged: Forged, driver: bytes | None = None) -> str:
        """Run inspect (, verify) and decode on one file; record the outcome; returns the decode outcome class.
        A broken oracle is recorded (files in the crash folder), never raised, so a campaign goes on."""
        os.ftruncate(self.current_fd, 0)
        os.pwrite(self.current_fd, forged.data, 0)
        saecodec = sc.saecodec
        rss_before = _status_kib("VmRSS:") * 1024 if self.peak_ok else 0
        if self.peak_ok:
            _reset_peak()
        declared = latents = 0
        start = time.perf_counter()
        stage, problem, final = "inspect", None, "ok"
        catcher = warnings.catch_warnings()
        catcher.__enter__()
        warnings.simplefilter("error" if self.warnings_as_errors else "ignore")
        try:
            try:
                header = saecodec.inspect(forged.data, limits=sc.LIMITS)
                declared = header.image.height * header.image.width * header.image.channels
                if hasattr(header.model, "latent_count"):  # overfit: the grids are decoded whole (spec 11.5)
                    latents = header.model.latent_count(header.image)
                self.outcomes["inspect: ok"] += 1
            except saecodec.SaecError as exc:
                self.outcomes[f"inspect: {type(exc).__name__}"] += 1
            if self.with_verify:
                stage = "verify"
                try:
                    saecodec.verify(forged.data, forged.key, context=forged.context, limits=sc.LIMITS)
                    self.outcomes["verify: ok"] += 1
                except saecodec.SaecError as exc:
                    self.outcomes[f"verify: {type(exc).__name__}"] += 1
            stage = "decode"
            try:
                if hasattr(saecodec, "decode_image") and forged.data[-1:] in ODD_BYTES:
                    image = saecodec.decode_image(forged.data, forged.key, context=forged.context, limits=sc.LIMITS)
                    image.metadata.orientation  # parses a stored EXIF block
                else:
                    saecodec.decode(forged.data, forged.key, context=forged.context, limits=sc.LIMITS)
                self.outcomes["decode: ok"] += 1
            except saecodec.SaecError as exc:
                self.outcomes[f"decode: {type(exc).__name__}"] += 1
                final = outcome_class(exc)
        except BaseException as exc:  # noqa: BLE001 - anything else is what the fuzzer looks for
            if isinstance(exc, KeyboardInterrupt):
                raise
            problem = exc
        finally:
            catcher.__exit__(None, None, None)
        seconds = time.perf_counter() - start
        self.executions += 1
        label = f"exec {self.executions}"
        if problem is not None:
            self.outcomes[f"{stage}: {type(problem).__name__} (CRASH)"] += 1
            self._save("crash", forged, driver, problem, stage, seconds)
            return f"CRASH {type(problem).__name__}"
        if final not in self.classes:
            self.classes[final] = forged
        self._note_slow(seconds, label)
        if seconds > self.time_bound:
            self.slow_findings += 1
            self._save("slow", forged, driver, None, stage, seconds, f"{seconds:.3f} s > {self.time_bound} s")
        if self.peak_ok:
            growth = _status_kib("VmHWM:") * 1024 - rss_before
            if growth > self.worst_growth[0]:
                self.worst_growth = (growth, declared, label + (f", {latents} latent values" if latents else ""))
            if growth > self.mem_factor * declared + LATENT_BYTES * latents + self.mem_const_mib * 2**20:
                self.memory_findings += 1
                self._save("memory", forged, driver, None, stage, seconds,
                           f"RSS grew {growth / 2**20:.1f} MiB for {declared} declared output bytes"
                           + (f" and {latents} latent values" if latents else ""))
        return final

    def _note_slow(self, seconds: float, label: str) -> None:
        if len(self.slowest) < 5 or seconds > self.slowest[-1][0]:
            self.slowest.append((seconds, label))
            self.slowest.sort(reverse=True)
            del self.slowest[5:]

    def _save(self, kind: str, forged: Forged, driver: bytes | None, exc: BaseException | None, stage: str,
              seconds: float, note: str = "") -> None:
        where = ""
        if exc is not None:
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if "saecodec" in f.filename]
            last = frames[-1] if frames else traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{Path(last.filename).name}:{last.lineno}"
        key = f"{kind} {type(exc).__name__ if exc else ''} {where}".strip()
        self.crashes[key] += 1
        if self.crashes[key] > (1 if kind == "crash" else 20):  # one file per crash site, a few slow ones
            return
        digest = hashlib.sha1(forged.data).hexdigest()[:12]
        stem = self.crash_dir / f"{kind}-{digest}"
        stem.with_suffix(".saec").write_bytes(forged.data)
        if driver is not None:
            stem.with_suffix(".driver").write_bytes(driver)
        text = [f"{kind} in {stage}: {note}", f"time {seconds:.3f} s",
                f"key {'password' if forged.key is sc.PASSWORD_KEY else 'secret key'}; context {forged.context!r}"]
        if exc is not None:
            text += ["", "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))]
        stem.with_suffix(".txt").write_text("\n".join(text) + "\n")
        self.crash_files[key] = str(stem.with_suffix(".saec"))

    def report(self, title: str) -> str:
        """The numbers a campaign is quoted by."""
        elapsed = time.perf_counter() - self.started
        lines = [f"== {title}",
                 f"executions: {self.executions}",
                 f"elapsed: {elapsed:.1f} s, {self.executions / max(elapsed, 1e-9):.1f} exec/s",
                 f"distinct outcome classes: {len(self.classes)}",
                 "outcomes by operation and exception type:"]
        lines += [f"  {name}: {count}" for name, count in sorted(self.outcomes.items())]
        lines.append("slowest executions: " + ", ".join(f"{s:.3f} s ({label})" for s, label in self.slowest))
        growth, declared, label = self.worst_growth
        lines.append(f"largest RSS growth in one execution: {growth / 2**20:.1f} MiB ({label}, {declared} declared "
                     f"output bytes)")
        lines.append(f"peak RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")
        lines.append(f"slow (> {self.time_bound} s): {self.slow_findings}; memory over {self.mem_factor} B/output "
                     f"byte (+ {LATENT_BYTES} B/latent value) + {self.mem_const_mib:g} MiB: {self.memory_findings}")
        total = sum(c for k, c in self.crashes.items() if k.startswith("crash"))
        if self.harness_errors:
            lines.append(f"harness errors (inputs not made, not findings): {sum(self.harness_errors.values())}")
            lines += [f"  {k}: {c}" for k, c in self.harness_errors.most_common(5)]
        lines.append(f"crashes (exceptions outside SaecError): {total}")
        lines += [f"  {key}: {count} -> {self.crash_files.get(key, '')}" for key, count in sorted(self.crashes.items())]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------- engines


def warm_up(oracle: Oracle, seeds: list[Seed]) -> None:
    """Decode every seed once (compiles or loads the Numba kernels) without counting it."""
    for seed in seeds:
        sc.saecodec.decode(seed.data, seed.key, context=CONTEXT if seed.context else None, limits=sc.LIMITS)
    oracle.executions = 0
    oracle.outcomes.clear()
    oracle.slowest.clear()
    oracle.started = time.perf_counter()


def make_resigned(driver: bytes, seeds: list[Seed], oracle: Oracle) -> Forged | None:
    """``resign`` with its own failures kept apart from the reader's: a harness bug is not a finding."""
    try:
        return resign(driver, seeds)
    except Exception as exc:  # noqa: BLE001
        oracle.harness_errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
        if sum(oracle.harness_errors.values()) == 1:
            traceback.print_exc()
        return None


def run_random(target: str, oracle: Oracle, seeds: list[Seed], *, seed: int, executions: int | None,
               seconds: float | None, progress: float = 0.0) -> None:
    """The plain-Python engine: seeded mutations, new outcome classes fed back into the raw pool."""
    rng = random.Random(seed)
    pool = [s.data for s in seeds]
    deadline = None if seconds is None else time.perf_counter() + seconds
    last_progress = time.perf_counter()
    count = 0
    while (executions is None or count < executions) and (deadline is None or time.perf_counter() < deadline):
        if target == "raw":
            data = mutate_raw(rng, pool)
            before = len(oracle.classes)
            oracle.execute(raw_reading(data))
            if len(oracle.classes) > before and len(pool) < 2000:
                pool.append(data)
        else:
            driver = rng.randbytes(rng.choice([16, 48, 128, 400]))
            forged = make_resigned(driver, seeds, oracle)
            if forged is not None:
                oracle.execute(forged, driver)
        count += 1
        if progress and time.perf_counter() - last_progress > progress:
            last_progress = time.perf_counter()
            print(f"... {oracle.executions} executions, {len(oracle.classes)} classes, "
                  f"{sum(c for k, c in oracle.crashes.items() if k.startswith('crash'))} crashes", flush=True)


def run_atheris(target: str, oracle: Oracle, seeds: list[Seed], *, seconds: float | None,
                executions: int | None, title: str, libfuzzer_args: list[str]) -> None:
    """Coverage-guided: libFuzzer mutates the input bytes (the file for raw, the driver for resign).
    libFuzzer never returns, so the summary is printed, and the process ended, from inside the callback."""
    import atheris

    deadline = None if seconds is None else time.perf_counter() + seconds

    def finish() -> None:
        print(oracle.report(title), flush=True)
        os._exit(1 if any(k.startswith("crash") for k in oracle.crashes) else 0)

    def one_input(data: bytes) -> None:
        if target == "raw":
            oracle.execute(raw_reading(data))
        else:
            forged = make_resigned(data, seeds, oracle)
            if forged is not None:
                oracle.execute(forged, data)
        if (executions is not None and oracle.executions >= executions) or (
                deadline is not None and time.perf_counter() >= deadline):
            finish()

    corpus = oracle.crash_dir / f"atheris-corpus-{target}"
    corpus.mkdir(exist_ok=True)
    if target == "raw":
        for s in seeds:
            (corpus / f"{s.name}.saec").write_bytes(s.data)
    args = [sys.argv[0], str(corpus), f"-artifact_prefix={oracle.crash_dir}/atheris-", "-max_len=65536",
            *libfuzzer_args]
    atheris.Setup(args, one_input)
    atheris.Fuzz()


# ------------------------------------------------------------------------------------------ corpus


def write_seeds(folder: Path) -> list[str]:
    """Write the seeds the folder does not have yet; existing seeds are kept as they are (a corpus file never
    changes: the password seed's scrypt salt is random, and overfit training is float arithmetic, so a seed
    made again need not be the same bytes on another machine)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for name, data in make_seed_files().items():
        path = folder / f"{name}.saec"
        if not path.exists():
            path.write_bytes(data)
            names.append(name)
    return names


#: what the decoders say (spec section 7 step 9), as opposed to framing and header validation
DECODER_MESSAGES = ("entropy-coded", "decoder weights", "alpha section is not", "alpha section does not",
                    "meta section is not", "meta section: ", "not enough memory", "weights stream")


def select_corpus(found: dict[str, Forged], folder: Path, max_files: int, max_bytes: int) -> list[dict]:
    """Keep the smallest file of each outcome class, the deepest classes first (those the decoders raise,
    then header validation, then the tag), until the count or size budget is used; write a manifest."""
    def depth(cls: str) -> int:
        """0: past the tag and the header, in a decoder (or decoded); 1: header validation after the tag;
        2: framing and what is read before the tag; 3: the tag itself."""
        if cls == "ok" or any(p in cls for p in DECODER_MESSAGES):
            return 0
        if cls.startswith("AuthenticationError"):
            return 3
        if "invalid header" in cls and "scrypt" not in cls or cls.startswith("UnsupportedFeatureError") or (
                cls.startswith("LimitExceededError") and ("paper model" in cls or "overfit model" in cls
                                                          or "image" in cls)):
            return 1
        return 2

    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"files": []}
    have = {entry["class"] for entry in manifest["files"]}
    used = sum((folder / e["file"]).stat().st_size for e in manifest["files"] if (folder / e["file"]).exists())
    added = []
    # Every decoder-level class; the rest of the room shared by the other depths in turn (so framing and the
    # tag get some), each depth alternating its smallest and largest files (so both profiles appear).
    by_depth: dict[int, list[str]] = {}
    for cls in sorted((c for c in found if c not in have), key=lambda c: len(found[c].data)):
        by_depth.setdefault(depth(cls), []).append(cls)
    for classes in by_depth.values():
        classes[:] = [classes.pop(0) if i % 2 == 0 else classes.pop() for i in range(len(classes))]
    order = by_depth.pop(0, [])
    while any(by_depth.values()):
        order += [by_depth[k].pop(0) for k in sorted(by_depth) if by_depth[k]]
    for cls in order:
        forged = found[cls]
        if len(manifest["files"]) >= max_files or used + len(forged.data) > max_bytes:
            continue
        name = f"found-{hashlib.sha1(forged.data).hexdigest()[:12]}.saec"
        (folder / name).write_bytes(forged.data)
        entry = {"file": name, "key": "password" if forged.key is sc.PASSWORD_KEY else "secret",
                 "context": forged.context.decode("latin-1") if forged.context is not None else None, "class": cls}
        manifest["files"].append(entry)
        added.append(entry)
        used += len(forged.data)
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return added


def corpus_readings(folder: Path = CORPUS_DIR) -> list[tuple[str, Forged]]:
    """Every corpus file with the reading it was found with (seeds: their own key and context)."""
    manifest_path = folder / MANIFEST
    entries = json.loads(manifest_path.read_text())["files"] if manifest_path.exists() else []
    listed = {e["file"]: e for e in entries}
    out = []
    for path in sorted(folder.glob("*.saec")):
        data = path.read_bytes()
        entry = listed.get(path.name)
        if entry is None:
            forged = raw_reading(data)
        else:
            context = entry["context"].encode("latin-1") if entry["context"] is not None else None
            forged = Forged(data, sc.PASSWORD_KEY if entry["key"] == "password" else sc.KEY, context)
        out.append((path.name, forged))
    return out


# --------------------------------------------------------------------------------------------- main


def _limit_address_space(extra_mib: int) -> None:
    """Cap the process' address space a fixed amount above what it uses now: a blow-up becomes a
    MemoryError (a finding) instead of taking the shared machine down."""
    size = _status_kib("VmSize:") * 1024
    limit = size + extra_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("raw", "resign"), default="resign")
    parser.add_argument("--engine", choices=("random", "atheris"), default="random")
    parser.add_argument("--seed", type=int, default=1, help="random engine's seed")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--executions", type=int, default=None, help="stop after this many executions")
    parser.add_argument("--time-bound", type=float, default=2.0, help="seconds an execution may take")
    parser.add_argument("--hang-seconds", type=float, default=60.0, help="watchdog: dump stacks and exit")
    parser.add_argument("--mem-factor", type=float, default=2.0, help="bytes of RSS growth per output byte")
    parser.add_argument("--mem-const", type=float, default=64.0, help="MiB of RSS growth allowed on top")
    parser.add_argument("--address-space", type=int, default=4096,
                        help="MiB of address space above the start-up size (RLIMIT_AS); 0: no limit")
    parser.add_argument("--warnings-as-errors", action="store_true",
                        help="run the reader as under python -W error: a warning it lets out is a crash")
    parser.add_argument("--max-pixels", type=int, default=1 << 22, help="Limits.max_pixels of the reader")
    parser.add_argument("--seeds", default="", help="only the seeds whose name contains this (e.g. overfit)")
    parser.add_argument("--crash-dir", type=Path, default=Path("/tmp/saec-fuzz"))
    parser.add_argument("--save-classes", type=Path, default=None,
                        help="also write one file per outcome class here (json manifest + files)")
    parser.add_argument("--progress", type=float, default=60.0, help="seconds between progress lines (random)")
    parser.add_argument("--write-seeds", type=Path, default=None, help="write the seed files there and exit")
    parser.add_argument("--select", type=Path, default=None, help="a --save-classes folder to pick a corpus from")
    parser.add_argument("--into", type=Path, default=CORPUS_DIR)
    parser.add_argument("--max-files", type=int, default=40)
    parser.add_argument("--max-bytes", type=int, default=200_000)
    parser.add_argument("libfuzzer", nargs="*", help="extra libFuzzer arguments (atheris engine), after --")
    args = parser.parse_args(argv)

    _load_saecodec(instrument=args.engine == "atheris" and args.write_seeds is None and args.select is None)
    sc.LIMITS = fuzz_limits(args.max_pixels)
    if args.write_seeds is not None:
        for name in write_seeds(args.write_seeds):
            print(f"wrote {args.write_seeds / name}.saec")
        print("(seeds already there are kept)")
        return 0
    if args.select is not None:
        found = {entry["class"]: Forged((args.select / entry["file"]).read_bytes(),
                                        sc.PASSWORD_KEY if entry["key"] == "password" else sc.KEY,
                                        None if entry["context"] is None else entry["context"].encode("latin-1"))
                 for entry in json.loads((args.select / MANIFEST).read_text())["files"]}
        for entry in select_corpus(found, args.into, args.max_files, args.max_bytes):
            print(f"kept {entry['file']}: {entry['class']}")
        return 0

    # Warnings (NumPy casting a NaN weight, Pillow reading a damaged EXIF block) are not errors of the contract.
    warnings.simplefilter("ignore")
    seeds = [s for s in load_seeds() if args.seeds in s.name]
    if not seeds:
        parser.error(f"no seed name contains {args.seeds!r}")
    oracle = Oracle(args.crash_dir, args.time_bound, args.mem_factor, args.mem_const,
                    with_verify=args.target == "raw", warnings_as_errors=args.warnings_as_errors)
    warm_up(oracle, seeds)
    if args.address_space:
        _limit_address_space(args.address_space)
    faulthandler.enable()
    title = (f"target {args.target}, engine {args.engine}, seed {args.seed}, time bound {args.time_bound} s, "
             f"max pixels {args.max_pixels}" + (", warnings as errors" if args.warnings_as_errors else "")
             + (f", seeds *{args.seeds}*" if args.seeds else ""))
    print(f"{len(seeds)} seeds; {title}", flush=True)
    watchdog = _Watchdog(args.hang_seconds)
    oracle_execute = oracle.execute

    def guarded(forged: Forged, driver: bytes | None = None) -> str:
        watchdog.arm()
        try:
            return oracle_execute(forged, driver)
        finally:
            watchdog.disarm()

    oracle.execute = guarded  # type: ignore[method-assign]
    if args.engine == "atheris":
        run_atheris(args.target, oracle, seeds, seconds=args.seconds, executions=args.executions, title=title,
                    libfuzzer_args=args.libfuzzer)
        return 0  # not reached: run_atheris ends the process
    run_random(args.target, oracle, seeds, seed=args.seed, executions=args.executions, seconds=args.seconds,
               progress=args.progress)
    print(oracle.report(title), flush=True)
    if args.save_classes is not None:
        save_classes(oracle, args.save_classes)
    return 1 if any(k.startswith("crash") for k in oracle.crashes) else 0


def save_classes(oracle: Oracle, folder: Path) -> None:
    """One file per outcome class seen (to pick the repository's corpus from)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"files": []}
    have = {e["class"] for e in manifest["files"]}
    for cls, forged in oracle.classes.items():
        if cls in have:
            continue
        name = f"{hashlib.sha1(forged.data).hexdigest()[:12]}.saec"
        (folder / name).write_bytes(forged.data)
        manifest["files"].append({"file": name, "key": "password" if forged.key is sc.PASSWORD_KEY else "secret",
                                  "context": None if forged.context is None else forged.context.decode("latin-1"),
                                  "class": cls})
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


class _Watchdog:
    """faulthandler's watchdog (a C thread, so it fires even inside compiled code holding the GIL): after
    ``seconds`` of one execution it dumps every stack and exits; the input is in CRASH_DIR/current.saec."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def arm(self) -> None:
        faulthandler.dump_traceback_later(self.seconds, repeat=False, exit=True)

    def disarm(self) -> None:
        faulthandler.cancel_dump_traceback_later()


if __name__ == "__main__":
    raise SystemExit(main())
