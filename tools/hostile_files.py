"""Authentic hostile .saec files and what decoding them costs (issue 10, section 1).

A key is often shared (a team key, a keyring on a server), so a file that verifies can still be hostile: its
header may ask for wide layers, huge blocks or a huge image of all-zero coefficients. This tool writes such
files with a known test key (header map built by hand, payload encrypted and tagged the way a writer does),
then decodes each in a fresh subprocess under ``/usr/bin/time -v`` and prints a Markdown table: the declared
output size, the outcome, peak RSS, RSS above the interpreter's baseline per output byte, and times.

Files are cached in ``--dir`` (so a run before and after a change decodes the same bytes).
Run: .venv/bin/python tools/hostile_files.py [--big] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import msgpack
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from saecodec.crypto.keys import SecretKey, derive_master_key  # noqa: E402
from saecodec.crypto.keystreams import apply_keystream  # noqa: E402
from saecodec.crypto.mac import compute_tag  # noqa: E402
from saecodec.crypto.subkeys import derive_file_keys  # noqa: E402
from saecodec.entropy import encode_grid, encode_latents, encode_weights  # noqa: E402
from saecodec.format.container import assemble, read_envelope  # noqa: E402
from saecodec.format.header import ImageInfo, KdfParams, OverfitModelInfo  # noqa: E402
from saecodec.profiles.overfit import coding_order  # noqa: E402
from mdtables import table  # noqa: E402

KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
KEY = SecretKey(bytes.fromhex(KEY_HEX))
NONCE = bytes(range(100, 132))
TIMEOUT = 600


def sign(version: tuple[int, int], image: dict, model: dict, quant: dict,
         sections: list[tuple[str, bytes]]) -> bytes:
    """An authentic file: the header map in the writer's key order, payload encrypted, tag over every byte."""
    mapping = {
        "format": list(version),
        "image": image,
        "model": model,
        "quant": quant,
        "crypto": {"cipher": "chacha20", "kdf": {"name": "secret-key"}, "nonce": NONCE},
        "sections": [[name, len(data)] for name, data in sections],
    }
    keys = derive_file_keys(derive_master_key(KEY, KdfParams("secret-key")), NONCE)
    payload = apply_keystream("chacha20", keys.encryption, b"".join(data for _, data in sections))
    body = assemble(msgpack.packb(mapping, use_bin_type=True), payload, version)
    return body + compute_tag(keys.authentication, body)


def resign(data: bytes, edit: Callable[[dict, list], None] | None = None,
           version: tuple[int, int] | None = None) -> bytes:
    """A file encrypted with KEY, decrypted, changed by ``edit(header map, sections)`` (the plaintext sections
    as a list of ``[name, bytes]``; their lengths are recomputed), optionally given another version, and
    signed again by ``sign``: what a holder of the key can write, so only the change can make it fail."""
    envelope = read_envelope(data)
    mapping = envelope.header_map
    keys = derive_file_keys(derive_master_key(KEY, KdfParams("secret-key")), mapping["crypto"]["nonce"])
    plain = apply_keystream(mapping["crypto"]["cipher"], keys.encryption, bytes(envelope.payload))
    sections, pos = [], 0
    for name, length in mapping["sections"]:
        sections.append([name, plain[pos : pos + length]])
        pos += length
    if edit is not None:
        edit(mapping, sections)
    return sign(version or envelope.version, mapping["image"], mapping["model"], mapping["quant"],
                [(name, body) for name, body in sections])


def image_map(height: int, width: int, mode: str) -> dict:
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    return {"height": height, "width": width, "channels": channels, "mode": mode}


def paper_file(height: int, width: int, block: int, layers: list[int], level: int) -> bytes:
    """A grey paper-profile file with float16 weights (zero) and zero codes: only the shapes are hostile."""
    bh, bw = -(-height // block), -(-width // block)
    values = sum(layers[j] * layers[j + 1] + layers[j] for j in range(level))
    model = {"profile": "paper", "block": block, "layers": layers, "activation": "sigmoid", "level": level,
             "models": 1}
    sections = [("decoder", bytes(2 * values)), ("latent", bytes(bh * bw * layers[level]))]
    return sign((1, 0), image_map(height, width, "L"), model, {"latent": "u8", "weights": "f16le"}, sections)


def zero_stream(blocks_high: int, blocks_wide: int) -> bytes:
    """The rc1 stream of an all-zero plane (valid: what the encoder writes for a flat grey plane)."""
    return encode_grid(np.zeros((1, blocks_high * blocks_wide, 64), dtype=np.int32), blocks_wide)


def rd_file(height: int, width: int, mode: str, chroma: str, deblock: int,
            plane_bytes: Callable[[int, int], bytes] | None = None) -> bytes:
    """An rd file whose planes are all-zero coefficient grids (or ``plane_bytes(bh, bw)``, e.g. garbage)."""
    grey = mode == "L"
    shapes = [(height, width)]
    if not grey:
        c = ((height + 1) // 2, (width + 1) // 2) if chroma == "420" else (height, width)
        shapes += [c, c]
    names = ("y",) if grey else ("y", "cb", "cr")
    make = plane_bytes or zero_stream
    sections = [(name, make(-(-r // 8), -(-c // 8))) for name, (r, c) in zip(names, shapes)]
    model = {"profile": "rd", "block": 8, "transform": "dct-ii", "colour": "grey" if grey else "ycbcr",
             "chroma": chroma, "deblock": deblock}
    quant = {"latent": "rc1", "steps": [200] * len(names)}
    return sign((1, 1), image_map(height, width, mode), model, quant, sections)


OVERFIT_COLOUR = {"L": "grey", "LA": "grey", "RGB": "rgb", "RGBA": "rgb"}


def overfit_tensor_sizes(mode: str, levels, hidden, residual: int) -> list[int]:
    """Values of each stored tensor in file order (spec 11.1): A_k, b_k per 1x1 layer, then F_r, e_r."""
    return OverfitModelInfo(OVERFIT_COLOUR[mode], tuple(levels), tuple(hidden), residual).tensor_sizes()


def overfit_grid_shapes(height: int, width: int, levels) -> list[tuple[int, int]]:
    """The latent grids' shapes in coding order (spec 11.2): coarsest level first, a level's channels in order."""
    model = OverfitModelInfo("grey", tuple(levels), (), 0)
    return coding_order(model.grid_shapes(ImageInfo(height, width, "L")), model.levels)


def overfit_file(height: int, width: int, mode: str = "L", levels=(1,), hidden=(), residual: int = 0, *,
                 weights=None, shifts=None, latents=None, version: tuple[int, int] = (1, 3),
                 edit: Callable[[dict, dict, list], None] | None = None) -> bytes:
    """An authentic overfit-profile file (spec 11) of the given decoder shape: ``weights`` the stored integers
    of every tensor in file order (default zeros), ``shifts`` one per tensor (default 0), ``latents`` the grids
    in coding order (default zeros); either may instead be the bytes of the section; an alpha plane, if the mode has one, opaque. ``edit(model, quant,
    sections)`` may change the header's model and quant maps and the plaintext sections (a list of
    ``[name, bytes]``) before the file is signed: one fault in an otherwise authentic file."""
    sizes = overfit_tensor_sizes(mode, levels, hidden, residual)
    shapes = overfit_grid_shapes(height, width, levels)
    values = np.zeros(sum(sizes), np.int32) if weights is None else weights
    grids = [np.zeros(s, np.int32) for s in shapes] if latents is None else latents
    model = {"profile": "overfit", "colour": OVERFIT_COLOUR[mode], "levels": list(levels), "hidden": list(hidden),
             "residual": residual, "upsample": "bilinear", "arithmetic": "f32"}
    quant = {"latent": "lc1", "weights": "lc1", "shifts": [0] * len(sizes) if shifts is None else list(shifts)}
    raw = lambda v: isinstance(v, (bytes, bytearray))  # noqa: E731
    sections = [["weights", bytes(values) if raw(values) else encode_weights(np.asarray(values), sizes)],
                ["latents", bytes(grids) if raw(grids) else encode_latents(grids)]]
    if mode in ("LA", "RGBA"):
        sections.append(["alpha", zlib.compress(b"\xff" * (height * width))])
    if edit is not None:
        edit(model, quant, sections)
    return sign(version, image_map(height, width, mode), model, quant, [(n, d) for n, d in sections])


#: A decoder of exactly 4096 multiply-adds a pixel, the default limit (spec 11.5): 7 levels, 3 hidden layers,
#: 4 residual layers on RGB: 7*40 + 40*36 + 36*52 + 52*3 + 4*81 + 4*6 = 4096.
OVERFIT_AT_LIMIT = dict(mode="RGB", levels=(1,) * 7, hidden=(40, 36, 52), residual=4)


def overfit_at_limit(height: int, width: int, seed: int = 0) -> bytes:
    """An RGB file at the multiply-add limit, with random weights and latents of ordinary magnitudes (so the
    decoder does all its work on ordinary numbers, not on zeros)."""
    rng = np.random.default_rng(seed)
    sizes = overfit_tensor_sizes(**{k: OVERFIT_AT_LIMIT[k] for k in ("mode", "levels", "hidden", "residual")})
    weights = rng.integers(-60, 61, sum(sizes))
    shifts = [8] * len(sizes)
    latents = [rng.integers(-3, 4, s) for s in overfit_grid_shapes(height, width, OVERFIT_AT_LIMIT["levels"])]
    return overfit_file(height, width, **OVERFIT_AT_LIMIT, weights=weights, shifts=shifts, latents=latents)


def overfit_dense_latents(side: int, seed: int = 0) -> bytes:
    """A grey side x side file at the latent limit: two level-0 grids of random -1, 0, 1 (no zero block), one
    hidden layer of 4 and a residual layer: the latents are the decoder's memory, not its work."""
    rng = np.random.default_rng(seed)
    grids = [rng.integers(-1, 2, (side, side), dtype=np.int8) for _ in range(2)]
    return overfit_file(side, side, "L", (2,), (4,), 1, latents=grids)


def overfit_overflow(height: int, width: int, seed: int = 0) -> bytes:
    """A valid RGB file whose activations overflow binary32 (spec 11.6): weights +-32767 (shift 0), latents up to
    32767 in the right half of the image, three hidden layers of 16 and four residual layers. The residual
    layers overflow to +-infinity; the last one mixes infinities of both signs and zero taps into NaN. Decoding must not fail: +infinity is
    255, -infinity 0 and NaN 0."""
    rng = np.random.default_rng(seed)
    levels, hidden, residual = (1, 1), (16, 16, 16), 4
    sizes = overfit_tensor_sizes("RGB", levels, hidden, residual)
    tensors = []
    for t, size in enumerate(sizes):
        is_bias = t % 2 == 1
        if is_bias:
            tensors.append(np.zeros(size, np.int64))
        elif t < 2 * (len(hidden) + 1):  # 1x1 layers: positive, so magnitudes grow layer after layer
            tensors.append(np.full(size, 32767))
        elif t < len(sizes) - 2:  # residual layers but the last: +32767 for R, 0 for G, -32767 for B
            tensors.append(np.repeat([32767, 0, -32767], size // 3))
        else:  # the last: R all positive, G all negative, B with zeros and both signs
            tensors.append(np.concatenate([np.full(27, 32767), np.full(27, -32767), rng.choice([-32767, 0, 32767], 27)]))
    coarse, fine = overfit_grid_shapes(height, width, levels)
    grids = [np.zeros(coarse, np.int64), rng.choice([0, 1, 7, 32767], size=fine)]
    grids[1][:, : width // 2] = 0  # the left half stays finite (zero) beyond the residual layers' reach
    return overfit_file(height, width, "RGB", levels, hidden, residual, weights=np.concatenate(tensors),
                        latents=grids)


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    output_bytes: int
    make: Callable[[], bytes]


def cases(big: bool) -> list[Case]:
    """The issue's cases, scaled so that today's decoder peaks at a few GB at most (``--big``: the issue's
    own sizes, which only a bounded decoder should be given)."""
    out = [
        Case("baseline", "rd L 8x8 (interpreter, Numba, imports)", 64, lambda: rd_file(8, 8, "L", "444", 0)),
        Case("paper-wide", "paper L 1024x2048, layers [64,4096,1] level 2", 1024 * 2048,
             lambda: paper_file(1024, 2048, 8, [64, 4096, 1], 2)),
        Case("paper-deep", "paper L 512x1024, layers [64,1024,1024,1] level 3", 512 * 1024,
             lambda: paper_file(512, 1024, 8, [64, 1024, 1024, 1], 3)),
        Case("paper-block64", "paper L 8192x8192, block 64, layers [4096,1] level 1", 8192 * 8192,
             lambda: paper_file(8192, 8192, 64, [4096, 1], 1)),
        Case("paper-ok-big", "paper L 8192x8192, layers [64,16,4] level 2 (within limits)", 8192 * 8192,
             lambda: paper_file(8192, 8192, 8, [64, 16, 4], 2)),
        Case("rd-zero-L", "rd L 8192x8192 all-zero, deblock 16", 8192 * 8192,
             lambda: rd_file(8192, 8192, "L", "444", 16)),
        Case("rd-zero-rgb444", "rd RGB 4096x4096 444 all-zero, deblock 16", 3 * 4096 * 4096,
             lambda: rd_file(4096, 4096, "RGB", "444", 16)),
        Case("rd-zero-rgb420", "rd RGB 4096x4096 420 all-zero, deblock 16", 3 * 4096 * 4096,
             lambda: rd_file(4096, 4096, "RGB", "420", 16)),
        Case("rc1-truncated", "rd L 16384x16384, y = 300 zero bytes", 16384 * 16384,
             lambda: rd_file(16384, 16384, "L", "444", 0, lambda bh, bw: bytes(300))),
        Case("overfit-at-limit", "overfit RGB 2048x2048, 4096 multiply-adds a pixel (the limit)", 3 * 2048 * 2048,
             lambda: overfit_at_limit(2048, 2048)),
        Case("overfit-latents", "overfit L 4096x4096, two dense level-0 grids (2 latents a pixel, the limit)",
             4096 * 4096, lambda: overfit_dense_latents(4096)),
        Case("overfit-overflow", "overfit RGB 1024x1024, activations overflow to +-inf and NaN", 3 * 1024 * 1024,
             lambda: overfit_overflow(1024, 1024)),
        Case("lc1-truncated", "overfit L 16384x16384, latents = 300 zero bytes", 16384 * 16384,
             lambda: overfit_file(16384, 16384, "L", (1,), latents=bytes(300))),
    ]
    if big:
        out += [
            Case("rd-zero-L-16k", "rd L 16384x16384 all-zero, deblock 16", 16384 * 16384,
                 lambda: rd_file(16384, 16384, "L", "444", 16)),
            Case("rd-zero-rgb-8k", "rd RGB 8192x8192 420 all-zero, deblock 16", 3 * 8192 * 8192,
                 lambda: rd_file(8192, 8192, "RGB", "420", 16)),
            Case("overfit-at-limit-8k", "overfit RGB 8192x8192, 4096 multiply-adds a pixel", 3 * 8192 * 8192,
                 lambda: overfit_at_limit(8192, 8192)),
            Case("overfit-latents-8k", "overfit L 8192x8192, 2 dense latents a pixel", 8192 * 8192,
                 lambda: overfit_dense_latents(8192)),
        ]
    return out


CHILD = """
import json, sys, time
import saecodec
key = saecodec.SecretKey(bytes.fromhex(sys.argv[2]))
data = open(sys.argv[1], 'rb').read()
start = time.perf_counter()
try:
    pixels = saecodec.decode(data, key)
    outcome = 'ok ' + 'x'.join(map(str, pixels.shape))
except saecodec.SaecError as exc:
    outcome = type(exc).__name__
except MemoryError:
    outcome = 'MemoryError'
print(json.dumps({'outcome': outcome, 'seconds': time.perf_counter() - start}))
"""


def _field(text: str, label: str) -> str:
    match = re.search(rf"^\s*{re.escape(label)}:\s*(.+)$", text, re.M)
    return match.group(1).strip() if match else ""


def _wall_seconds(value: str) -> float:
    parts = [float(p) for p in value.split(":")]
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + p
    return seconds


def measure(path: Path) -> dict:
    """Decode ``path`` in a fresh interpreter under /usr/bin/time -v."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-c", CHILD, str(path), KEY_HEX]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"outcome": f"timeout {TIMEOUT} s", "rss": 0, "wall": float(TIMEOUT), "cpu": 0.0, "seconds": 0.0}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"outcome": f"crashed (exit {proc.returncode})", "seconds": 0.0}
    err = proc.stderr
    result["rss"] = int(_field(err, "Maximum resident set size (kbytes)") or 0) * 1024
    result["wall"] = _wall_seconds(_field(err, "Elapsed (wall clock) time (h:mm:ss or m:ss)") or "0")
    result["cpu"] = float(_field(err, "User time (seconds)") or 0) + float(_field(err, "System time (seconds)") or 0)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/saec-hostile"), help="where files are cached")
    parser.add_argument("--big", action="store_true", help="also the issue's full sizes (bounded decoders only)")
    parser.add_argument("--only", nargs="*", default=None, help="case names to run (baseline always runs)")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    chosen = [c for c in cases(args.big) if args.only is None or c.name in args.only or c.name == "baseline"]
    rows, baseline = [], 0
    for case in chosen:
        path = args.dir / f"{case.name}.saec"
        if not path.exists():
            path.write_bytes(case.make())
        r = measure(path)
        if case.name == "baseline":
            baseline = r["rss"]
        per_byte = max(r["rss"] - baseline, 0) / case.output_bytes
        rows.append([case.name, case.what, f"{path.stat().st_size:,}", f"{case.output_bytes:,}", r["outcome"],
                     f"{r['rss'] / 2**20:,.0f}", f"{per_byte:.2f}", f"{r['seconds']:.2f}", f"{r['wall']:.2f}",
                     f"{r['cpu']:.2f}"])
        print(f"{case.name}: {r['outcome']}, {r['rss'] / 2**20:.0f} MiB, {r['wall']:.1f} s", file=sys.stderr)
    print(table(["case", "file", "file bytes", "output bytes", "result", "peak RSS MiB",
                          "RSS above baseline / output byte", "decode s", "wall s", "CPU s"], rows, "llrrlrrrrr"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
