"""The fuzzing contract (issue 10, section 5): whatever bytes a reader is given, and whatever a key holder
re-signs, only a ``SaecError`` comes out, in bounded time and memory.

The corpus in tests/fuzz_corpus/ (seeds of the three profiles, both ciphers, every mode, with and without a
context, plus files the campaigns found, one per outcome class) is replayed whole; then a short seeded pass of
tools/fuzz.py's random engine runs on both targets, the same inputs on every run.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import fuzz  # noqa: E402

import saecodec  # noqa: E402

fuzz._load_saecodec()
CORPUS_TIME_BOUND = 20.0  # seconds per reading: generous, CI machines are shared


def _read(forged: fuzz.Forged) -> str:
    """inspect, verify and decode one file; 'ok' or the SaecError class name. Anything else propagates."""
    outcome = "ok"
    try:
        saecodec.inspect(forged.data, limits=fuzz.sc.LIMITS)
    except saecodec.SaecError:
        pass
    try:
        saecodec.verify(forged.data, forged.key, context=forged.context, limits=fuzz.sc.LIMITS)
        saecodec.decode(forged.data, forged.key, context=forged.context, limits=fuzz.sc.LIMITS)
    except saecodec.SaecError as exc:
        outcome = type(exc).__name__
    return outcome


CORPUS = fuzz.corpus_readings()
MANIFEST = json.loads((fuzz.CORPUS_DIR / fuzz.MANIFEST).read_text())["files"]
#: corpus files that reproduce an open report (manifest "finding"); once fixed the key becomes "fixed"
FINDINGS = {entry["file"]: entry["finding"] for entry in MANIFEST if "finding" in entry}
FIXED = {entry["file"]: entry["fixed"] for entry in MANIFEST if "fixed" in entry}


def test_corpus_covers_every_profile_cipher_mode_and_context() -> None:
    names = [name for name, _ in CORPUS if name.startswith("seed-")]
    headers = [saecodec.inspect(forged.data) for name, forged in CORPUS if name.startswith("seed-")]
    assert {h.profile for h in headers} == {"rd", "paper", "overfit"}
    overfit = [h for h in headers if h.profile == "overfit"]
    assert {h.image.mode for h in overfit} == {"L", "LA", "RGB", "RGBA"}
    assert {h.crypto.cipher for h in overfit} == {"chacha20", "logistic"}
    assert any(h.crypto.context_bound for h in overfit)
    assert any(h.model.residual >= 2 and 0 in h.model.levels for h in overfit)
    assert {h.crypto.cipher for h in headers} == {"chacha20", "logistic"}
    assert {h.image.mode for h in headers} == {"L", "LA", "RGB", "RGBA"}
    assert any(h.crypto.context_bound for h in headers) and not all(h.crypto.context_bound for h in headers)
    assert any(h.crypto.kdf.name == "scrypt" for h in headers)
    assert len(CORPUS) <= 60 and sum(len(f.data) for _, f in CORPUS) <= 220_000, names


@pytest.mark.parametrize("name", [name for name, _ in CORPUS if name.startswith("seed-")])
def test_seeds_decode(name: str) -> None:
    """The seeds are valid files (a seed that stopped decoding would make the harness mutate garbage)."""
    forged = dict(CORPUS)[name]
    pixels = saecodec.decode(forged.data, forged.key, context=forged.context)
    header = saecodec.inspect(forged.data)
    assert pixels.shape[:2] == (header.image.height, header.image.width)


@pytest.mark.parametrize("name", [name for name, _ in CORPUS])
def test_corpus_file_raises_only_saec_errors(name: str) -> None:
    forged = dict(CORPUS)[name]
    readings = [forged, fuzz.Forged(forged.data, fuzz.sc.KEY, None), fuzz.Forged(forged.data, fuzz.sc.KEY, fuzz.CONTEXT)]
    for reading in readings:
        start = time.perf_counter()
        with warnings.catch_warnings():  # as under python -W error: a warning let out is not a SaecError either
            warnings.simplefilter("ignore" if name in FINDINGS else "error")
            _read(reading)  # a non-SaecError propagates and fails the test with its traceback
        assert time.perf_counter() - start < CORPUS_TIME_BOUND


def test_finding_signalling_nan_weight_is_a_format_error_under_warnings_as_errors() -> None:
    """A fuzz finding: the decoder used to cast the weights before checking them, and NumPy warned on a
    signalling NaN (an exception under ``python -W error``). It now checks the bits first."""
    name = "finding-paper-f32-snan-weight.saec"
    assert name in FIXED
    forged = dict(CORPUS)[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(saecodec.FormatError):
            saecodec.decode(forged.data, forged.key, context=forged.context)


def test_overfit_corpus_files_reach_lc1_and_the_synthesis() -> None:
    """The overfit files the campaign kept: two re-signed files that decode (one reshaped, one whose weights
    overflow the synthesis) and one that fails in the lc1 latent decoder, past the header."""
    decoded = [e["file"] for e in MANIFEST if e["class"] == "ok" and "overfit" in e.get("note", "")]
    assert len(decoded) == 2
    for name in decoded:
        forged = dict(CORPUS)[name]
        assert saecodec.inspect(forged.data).profile == "overfit"
        saecodec.decode(forged.data, forged.key, context=forged.context, limits=fuzz.sc.LIMITS)
    lc1 = next(e["file"] for e in MANIFEST if "all-zero block" in e["class"])
    forged = dict(CORPUS)[lc1]
    assert saecodec.inspect(forged.data).profile == "overfit"
    with pytest.raises(saecodec.FormatError, match="all-zero block"):
        saecodec.decode(forged.data, forged.key, context=forged.context, limits=fuzz.sc.LIMITS)


def test_resealed_seed_decodes_to_the_same_pixels() -> None:
    """The harness re-encrypts and re-tags exactly as a writer does: an unchanged seed stays the same file."""
    for seed in fuzz.load_seeds():
        data, context = fuzz.seal(seed, seed.header, fuzz.pack(seed.header), seed.sections, seed.version)
        assert data == seed.data, seed.name
        assert (context is not None) == seed.context


def test_resealed_header_edit_reaches_the_decoder() -> None:
    """An edit below the tag passes authentication: changing the rd deblocking strength changes the pixels."""
    seed = next(s for s in fuzz.load_seeds() if s.name == "seed-rd-RGB-444-chacha20")
    header = fuzz.sc.msgpack.unpackb(fuzz.sc.msgpack.packb(seed.header, use_bin_type=True))
    header["model"]["deblock"] = 64 if header["model"]["deblock"] != 64 else 0
    data, context = fuzz.seal(seed, header, fuzz.pack(header), seed.sections, seed.version)
    before = saecodec.decode(seed.data, seed.key)
    after = saecodec.decode(data, seed.key, context=context)
    assert before.shape == after.shape and (before != after).any()


def test_resealed_overfit_edit_reaches_the_synthesis() -> None:
    """The same for the overfit profile: a coarser step for the last tensor (the residual layer's bias)
    changes the pixels, so the re-signed header reaches lc1 and the synthesis."""
    seed = next(s for s in fuzz.load_seeds() if s.name == "seed-overfit-RGB-hand-residual2")
    header = fuzz.sc.msgpack.unpackb(fuzz.sc.msgpack.packb(seed.header, use_bin_type=True))
    header["quant"]["shifts"][-1] = 0
    data, context = fuzz.seal(seed, header, fuzz.pack(header), seed.sections, seed.version)
    before = saecodec.decode(seed.data, seed.key)
    after = saecodec.decode(data, seed.key, context=context)
    assert before.shape == after.shape and (before != after).any()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_resign_reaches_the_overfit_decoders(tmp_path: Path) -> None:
    """On the overfit seeds alone, the re-signing harness reshapes decoders and codes lc1 sections to match:
    files pass the tag and the header, fail in lc1 and decode through the synthesis."""
    seeds = [s for s in fuzz.load_seeds() if s.name.startswith("seed-overfit-")]
    oracle = fuzz.Oracle(tmp_path, time_bound=10.0, with_verify=False)
    fuzz.warm_up(oracle, seeds)
    fuzz.run_random("resign", oracle, seeds, seed=1303, executions=800, seconds=None)
    report = oracle.report("overfit resign pass")
    assert not any(k.startswith("crash") for k in oracle.crashes), report
    assert oracle.slow_findings == 0 and oracle.memory_findings == 0 and not oracle.harness_errors, report
    assert oracle.outcomes["decode: ok"] > 0.08 * 800, report
    assert sum("entropy-coded" in c for c in oracle.classes) >= 3, report
    assert any("quant.shifts" in c for c in oracle.classes), report
    assert any("overfit model" in c for c in oracle.classes), report


def test_oracle_records_a_foreign_exception_as_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The oracle itself can fail: a KeyError from the decoder is a crash, saved with its traceback."""
    seed = fuzz.load_seeds()[0]

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(saecodec, "decode", broken)
    monkeypatch.setattr(saecodec, "decode_image", broken, raising=False)
    oracle = fuzz.Oracle(tmp_path, with_verify=False)
    assert oracle.execute(fuzz.Forged(seed.data, seed.key, None)).startswith("CRASH KeyError")
    assert sum(c for k, c in oracle.crashes.items() if k.startswith("crash")) == 1
    assert len(list(tmp_path.glob("crash-*.saec"))) == 1 and "KeyError" in next(tmp_path.glob("crash-*.txt")).read_text()


# NumPy casting a NaN weight, Pillow reading a damaged EXIF block: warnings, not errors of the contract.
@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
@pytest.mark.parametrize("target, executions", [("raw", 5000), ("resign", 5000)])
def test_short_random_pass(target: str, executions: int, tmp_path: Path) -> None:
    """A seeded, bounded pass of the random engine (the same inputs on every run): no exception outside
    SaecError, no execution over 10 s, no RSS growth over 2 bytes per declared output byte + 64 MiB."""
    seeds = fuzz.load_seeds()
    oracle = fuzz.Oracle(tmp_path, time_bound=10.0, with_verify=target == "raw")
    fuzz.warm_up(oracle, seeds)
    fuzz.run_random(target, oracle, seeds, seed=20240, executions=executions, seconds=None)
    report = oracle.report(f"{target} test pass")
    crashes = {k: c for k, c in oracle.crashes.items() if k.startswith("crash")}
    assert oracle.executions + sum(oracle.harness_errors.values()) == executions, report
    assert not crashes, report
    assert oracle.slow_findings == 0 and oracle.memory_findings == 0, report
    if target == "resign":
        # The harness is only useful if mutated files pass the tag and reach the decoders.
        decoded = Counter({k: c for k, c in oracle.outcomes.items() if k.startswith("decode: ")})
        assert decoded["decode: AuthenticationError"] < 0.2 * executions, report
        assert decoded["decode: ok"] > 0.05 * executions, report
        assert not oracle.harness_errors, report
