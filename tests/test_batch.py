"""Batch conversion (``saec encode/decode/info/verify`` with many files, ``saecodec.batch``): real files, real
worker processes and a real Dask LocalCluster on localhost."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import saecodec
from saecodec import batch, cli, keyring
from saecodec.cli import EXIT_AUTH, EXIT_INVALID, EXIT_IO, EXIT_KEY, EXIT_MIXED, EXIT_OK, EXIT_USAGE
from saecodec.metrics import psnr
from tests.conftest import run_cli, synthetic_image

H, W = 32, 48


def image(seed: int) -> np.ndarray:
    return synthetic_image(H, W, 3, seed=seed)


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "k.key"
    saecodec.save_key(saecodec.generate_key(), path)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """in/a.png, in/b.png, in/sub/c.png, plus things a walk must leave out."""
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for seed, name in enumerate(["a.png", "b.png", "sub/c.png"]):
        Image.fromarray(image(seed)).save(src / name)
    (src / ".hidden.png").write_bytes((src / "a.png").read_bytes())
    (src / ".cache").mkdir()
    Image.fromarray(image(9)).save(src / ".cache" / "d.png")
    (src / "notes.txt").write_text("not an image, not taken by extension")
    (src / "elsewhere").symlink_to(tmp_path / "outside", target_is_directory=True)
    (tmp_path / "outside").mkdir()
    Image.fromarray(image(8)).save(tmp_path / "outside" / "e.png")
    return src


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def decoded(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def summary_line(err: str) -> str:
    return [line for line in err.splitlines() if " converted, " in line or " verified, " in line][-1]


# ------------------------------------------------------------------------------------------ planning and names


def test_recursive_round_trip_mirrors_names(tree: Path, key_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, dec = tree.parent / "out", tree.parent / "dec"
    code, stdout, err = run_cli(capsys, "encode", tree, "-o", out, "-k", key_path, "-r", "--workers", "2")
    assert code == EXIT_OK, err
    assert files_under(out) == ["a.saec", "b.saec", "sub/c.saec"]  # no hidden file, no link followed
    assert "1 symbolic link(s) to directories not followed" in err
    assert summary_line(err).startswith("saec: 3 converted, 0 failed, 0 skipped in ")
    code, _, err = run_cli(capsys, "decode", out, "-o", dec, "-k", key_path, "--recursive")
    assert code == EXIT_OK, err
    assert files_under(dec) == ["a.png", "b.png", "sub/c.png"]
    for seed, name in enumerate(["a.png", "b.png", "sub/c.png"]):
        assert psnr(decoded(dec / name), image(seed)) > 30


def test_directory_without_recursive_takes_its_own_files(
    tree: Path, key_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tree.parent / "out"
    code, _, err = run_cli(capsys, "encode", tree, "-o", out, "-k", key_path, "--workers", "1")
    assert code == EXIT_OK, err
    assert files_under(out) == ["a.saec", "b.saec"]
    assert "1 subdirectory not descended (use --recursive)" in err


def test_several_files_and_directory_output_with_slash(
    tree: Path, key_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tree.parent / "fresh" / "deeper"
    code, _, err = run_cli(capsys, "encode", tree / "a.png", tree / "sub" / "c.png", "-o", f"{out}/", "-k",
                           key_path, "--workers", "1")
    assert code == EXIT_OK, err
    assert files_under(out) == ["a.saec", "c.saec"]  # files given by name: their base names


def test_one_file_into_existing_directory(tree: Path, key_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tree.parent / "o"
    out.mkdir()
    assert run_cli(capsys, "encode", tree / "a.png", "-o", out, "-k", key_path, "-q")[0] == EXIT_OK
    assert files_under(out) == ["a.saec"]


@pytest.mark.parametrize("layout", ["two extensions", "two directories"])
def test_conflicting_outputs_fail_before_any_work(
    tmp_path: Path, key_path: Path, capsys: pytest.CaptureFixture[str], layout: str
) -> None:
    if layout == "two extensions":
        Image.fromarray(image(0)).save(tmp_path / "x.png")
        Image.fromarray(image(1)).save(tmp_path / "x.bmp")
        inputs = [tmp_path / "x.png", tmp_path / "x.bmp"]
    else:
        for d in ("p", "q"):
            (tmp_path / d).mkdir()
            Image.fromarray(image(2)).save(tmp_path / d / "x.png")
        inputs = [tmp_path / "p", tmp_path / "q"]
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "encode", *inputs, "-o", out, "-k", key_path)
    assert code == EXIT_USAGE
    assert "would both be written to" in err and err.count("\n") == 1
    assert not out.exists()


# ------------------------------------------------------------------------------------------ failures


def test_failures_are_reported_counted_and_leave_nothing_behind(
    tree: Path, key_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = (tree / "a.png").read_bytes()
    (tree / "corrupt.png").write_bytes(good[: len(good) // 2])
    (tree / "text.png").write_text("hello, I am not a picture")
    out = tree.parent / "out"
    code, _, err = run_cli(capsys, "encode", tree, "-o", out, "-k", key_path, "--workers", "2")
    assert code == EXIT_INVALID  # every failure is invalid input: its own code
    errors = sorted(line for line in err.splitlines() if line.startswith("saec: error: "))
    assert len(errors) == 2
    assert errors[0].startswith(f"saec: error: {str(tree / 'corrupt.png')!r}: ")
    assert errors[1].startswith(f"saec: error: {str(tree / 'text.png')!r}: cannot read image")
    assert "BytesIO" not in err and "Traceback" not in err
    assert summary_line(err).startswith("saec: 2 converted, 2 failed, 0 skipped")
    assert files_under(out) == ["a.saec", "b.saec"]  # no partial or temporary file for the failures
    assert not list(out.glob(".*"))


def test_wrong_key_and_mixed_failures(tree: Path, key_path: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    enc = tmp_path / "enc"
    assert run_cli(capsys, "encode", tree, "-o", enc, "-k", key_path, "-q", "--workers", "1")[0] == EXIT_OK
    other = tmp_path / "other.key"
    saecodec.save_key(saecodec.generate_key(), other)
    dec = tmp_path / "dec"
    code, _, err = run_cli(capsys, "decode", enc, "-o", dec, "-k", other, "--workers", "2")
    assert code == EXIT_AUTH
    assert err.count("saec: error: ") == 2 and "2 failed" in err
    assert not dec.exists() or files_under(dec) == []
    (enc / "junk.saec").write_bytes(b"not a saec file at all")
    code, _, err = run_cli(capsys, "decode", enc, "-o", dec, "-k", key_path, "-q")
    assert code == EXIT_INVALID and files_under(dec) == ["a.png", "b.png"]
    code, _, err = run_cli(capsys, "decode", enc, "-o", tmp_path / "dec2", "-k", other, "-q")
    assert code == EXIT_MIXED  # wrong key (5) and not a .saec file (4)
    assert err.count("saec: error: ") == 3


def test_missing_input_is_counted_as_io_error(tree: Path, key_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tree.parent / "out"
    code, _, err = run_cli(capsys, "encode", tree / "a.png", tree / "missing.png", "-o", out, "-k", key_path)
    assert code == EXIT_IO
    assert f"saec: error: {str(tree / 'missing.png')!r}: cannot read: No such file or directory" in err
    assert files_under(out) == ["a.saec"]


def test_no_overwrite_without_force_then_skip_and_force(
    tree: Path, key_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tree.parent / "out"
    out.mkdir()
    (out / "b.saec").write_bytes(b"keep me")
    code, _, err = run_cli(capsys, "encode", tree, "-o", out, "-k", key_path)
    assert code == EXIT_USAGE and "--force" in err and "--skip-existing" in err
    assert files_under(out) == ["b.saec"]  # refused before any work: a.saec not written either
    code, _, err = run_cli(capsys, "encode", tree, "-o", out, "-k", key_path, "--skip-existing", "--workers", "1")
    assert code == EXIT_OK
    assert (out / "b.saec").read_bytes() == b"keep me"
    assert summary_line(err).startswith("saec: 1 converted, 0 failed, 1 skipped")
    code, _, err = run_cli(capsys, "encode", tree, "-o", out, "-k", key_path, "--force", "-q")
    assert (code, err) == (EXIT_OK, "")
    assert saecodec.inspect(out / "b.saec").image.width == W


def test_manifest_records_every_file_and_resumes(
    tree: Path, key_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tree / "text.png").write_text("no image")
    out, manifest = tree.parent / "out", tree.parent / "run.jsonl"
    code, _, _ = run_cli(capsys, "encode", tree, "-o", out, "-k", key_path, "-r", "--manifest", manifest, "-q")
    assert code == EXIT_INVALID
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert sorted(r["input"] for r in records) == sorted(str(tree / n) for n in ("a.png", "b.png", "sub/c.png",
                                                                                  "text.png"))
    key = saecodec.load_key(key_path)
    for r in records:
        assert set(r) == {"input", "output", "status", "bytes", "bpp", "psnr", "seconds", "error"}
        if r["input"].endswith("text.png"):
            assert r["status"] == "failed" and r["error"].startswith("cannot read image")
            assert r["bytes"] is None and not Path(r["output"]).exists()
            continue
        assert r["status"] == "ok" and r["error"] is None and r["seconds"] > 0
        data = Path(r["output"]).read_bytes()
        assert r["bytes"] == len(data)
        assert r["bpp"] == pytest.approx(8 * len(data) / (H * W))
        original = np.asarray(Image.open(r["input"]))
        assert r["psnr"] == pytest.approx(psnr(saecodec.decode(data, key), original))
    assert key_path.read_text().split(":")[1].strip() not in manifest.read_text()

    (out / "b.saec").unlink()
    code, _, _ = run_cli(capsys, "encode", tree, "-o", out, "-k", key_path, "-r", "--manifest", manifest)
    assert code == EXIT_USAGE  # outputs and manifest exist: neither --force nor --skip-existing
    code, _, _ = run_cli(capsys, "encode", tree, "-o", out, "-k", key_path, "-r", "--manifest", manifest,
                         "--skip-existing", "-q")
    assert code == EXIT_INVALID  # text.png still fails
    resumed = [json.loads(line) for line in manifest.read_text().splitlines()][len(records):]
    by_name = {Path(r["input"]).name: r["status"] for r in resumed}
    assert by_name == {"a.png": "skipped", "b.png": "ok", "c.png": "skipped", "text.png": "failed"}


def test_workers_two_equals_workers_one(tree: Path, key_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = saecodec.load_key(key_path)
    outs = {}
    for n in (1, 2):
        outs[n] = tree.parent / f"w{n}"
        code, _, err = run_cli(capsys, "encode", tree, "-r", "-o", outs[n], "-k", key_path, "--workers", n, "-q")
        assert code == EXIT_OK, err
    assert files_under(outs[1]) == files_under(outs[2]) == ["a.saec", "b.saec", "sub/c.saec"]
    for name in files_under(outs[1]):
        one, two = (outs[1] / name).read_bytes(), (outs[2] / name).read_bytes()
        assert one != two  # a fresh nonce per file
        assert np.array_equal(saecodec.decode(one, key), saecodec.decode(two, key))


def test_quiet_and_progress_bar(
    tree: Path, key_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_cli(capsys, "encode", tree, "-o", tree.parent / "q", "-k", key_path, "--quiet")
    assert (code, out, err) == (EXIT_OK, "", "")
    (tree / "text.png").write_text("no image")
    code, out, err = run_cli(capsys, "encode", tree, "-o", tree.parent / "q2", "-k", key_path, "--quiet")
    assert code == EXIT_INVALID and out == ""
    assert err.count("\n") == 1 and err.startswith("saec: error: ")  # --quiet keeps errors, nothing else
    monkeypatch.setattr(cli, "_isatty", lambda stream: True)
    code, _, err = run_cli(capsys, "encode", tree, "-o", tree.parent / "bar", "-k", key_path, "--workers", "1")
    assert "3/3 files" in err and "files/s" in err and "ETA 0:00:00" in err and "0/3 files" in err


# ------------------------------------------------------------------------------------------ info and verify


def test_info_and_verify_several_files(tree: Path, key_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tree.parent / "out"
    assert run_cli(capsys, "encode", tree, "-o", out, "-k", key_path, "-q")[0] == EXIT_OK
    a, b = out / "a.saec", out / "b.saec"
    code, text, err = run_cli(capsys, "info", a, b)
    assert code == EXIT_OK and err == ""
    blocks = text.strip().split("\n\n")
    assert [blk.splitlines()[0] for blk in blocks] == [f"file:        {a}", f"file:        {b}"]
    code, text, _ = run_cli(capsys, "info", "--json", a, b, out / "nothere.saec")
    assert code == EXIT_IO
    docs = json.loads(text)
    assert [d["file"] for d in docs] == [str(a), str(b)]
    assert docs[1]["file_bytes"] == b.stat().st_size
    code, text, err = run_cli(capsys, "verify", a, b, "-k", key_path)
    assert (code, text) == (EXIT_OK, f"{str(a)!r}: OK\n{str(b)!r}: OK\n")
    data = bytearray(b.read_bytes())
    data[-40] ^= 1
    b.write_bytes(bytes(data))
    code, text, err = run_cli(capsys, "verify", out, "-k", key_path)
    assert code == EXIT_AUTH
    assert text == f"{str(a)!r}: OK\n"
    assert f"saec: error: {str(b)!r}: " in err and "1 verified, 1 failed" in err


# ------------------------------------------------------------------------------------------ keys and contexts


def test_key_id_and_default_key_file(
    tree: Path, key_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(keyring.KEYRING_ENV, str(key_path.parent))
    out = tree.parent / "out"
    out.mkdir()
    assert run_cli(capsys, "encode", tree / "a.png", "-o", out / "a.saec", "--key-id", "k", "-q")[0] == EXIT_OK
    monkeypatch.delenv(keyring.KEY_FILE_ENV, raising=False)
    code, _, err = run_cli(capsys, "verify", out / "a.saec")
    assert code == EXIT_USAGE and keyring.KEY_FILE_ENV in err
    monkeypatch.setenv(keyring.KEY_FILE_ENV, str(key_path))
    assert run_cli(capsys, "verify", out / "a.saec") == (EXIT_OK, "OK\n", "")
    code, _, err = run_cli(capsys, "verify", out / "a.saec", "--key-id", "nope")
    assert code == EXIT_KEY and "nope" in err


def test_context_from_path_binds_names(tree: Path, key_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, dec = tree.parent / "out", tree.parent / "dec"
    assert run_cli(capsys, "encode", tree, "-r", "-o", out, "-k", key_path, "--context-from-path", "-q")[0] == EXIT_OK
    assert run_cli(capsys, "decode", out, "-r", "-o", dec, "-k", key_path, "--context-from-path", "-q")[0] == EXIT_OK
    os.replace(out / "a.saec", out / "renamed.saec")
    code, _, err = run_cli(capsys, "decode", out / "renamed.saec", "-o", dec / "r.png", "-k", key_path, "--context", "renamed")
    assert code == EXIT_AUTH
    code, _, _ = run_cli(capsys, "verify", out / "renamed.saec", "-k", key_path, "--context", "a")
    assert code == EXIT_OK


# ------------------------------------------------------------------------------------------ Python API, Dask


def test_python_api(tree: Path, key_path: Path) -> None:
    seen: list[batch.FileResult] = []
    summary = batch.convert([tree], tree.parent / "api", saecodec.load_key(key_path), recursive=True, workers=2,
                            quality=50, on_result=seen.append)
    assert (summary.converted, summary.failed, summary.skipped) == (3, 0, 0) and len(seen) == 3
    assert all(r.bpp is not None and r.bpp < 8 for r in summary.results)
    with pytest.raises(batch.PlanError):
        batch.convert([tree], tree.parent / "api", saecodec.load_key(key_path))
    with pytest.raises(saecodec.SaecError, match="never sent to a cluster"):
        batch.run(batch.plan("encode", [tree], tree.parent / "x"), saecodec.load_key(key_path),
                  batch.Options("encode"), scheduler="tcp://127.0.0.1:1")
    assert key_path.read_text().split(":")[1].strip().encode() not in pickle.dumps(batch.KeyFile(str(key_path)))


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0") as running:
        yield running


def test_dask_scheduler(tree: Path, key_path: Path, capsys: pytest.CaptureFixture[str], cluster,  # type: ignore[no-untyped-def]
                        monkeypatch: pytest.MonkeyPatch) -> None:
    (tree / "text.png").write_text("no image")
    out, manifest = tree.parent / "out", tree.parent / "m.jsonl"
    code, _, err = run_cli(capsys, "encode", tree, "-r", "-o", out, "-k", key_path, "--scheduler",
                           cluster.scheduler_address, "--manifest", manifest)
    assert code == EXIT_INVALID, err
    assert summary_line(err).startswith("saec: 3 converted, 1 failed, 0 skipped")
    assert files_under(out) == ["a.saec", "b.saec", "sub/c.saec"]
    assert len(manifest.read_text().splitlines()) == 4
    key = saecodec.load_key(key_path)
    assert psnr(saecodec.decode(out / "sub" / "c.saec", key), image(2)) > 30
    # The workers were started without SAEC_PASSWORD: --password is refused before any job runs.
    monkeypatch.setenv(cli.PASSWORD_ENV, "a password only the client knows")
    code, _, err = run_cli(capsys, "decode", out, "-o", tree.parent / "dec", "--password", "--scheduler",
                           cluster.scheduler_address)
    assert code == EXIT_KEY and "SAEC_PASSWORD is not set on this worker" in err
    assert "only the client knows" not in err and not (tree.parent / "dec").exists()
    code, _, _ = run_cli(capsys, "decode", out, "-o", tree.parent / "dec", "-k", key_path, "-r", "-q",
                         "--scheduler", cluster.scheduler_address)
    assert code == EXIT_OK and files_under(tree.parent / "dec") == ["a.png", "b.png", "sub/c.png"]


def test_scheduler_and_workers_exclude_each_other(tree: Path, key_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "encode", tree, "-o", tree.parent / "o", "-k", key_path, "--workers", "2",
                           "--scheduler", "tcp://127.0.0.1:1")
    assert code == EXIT_USAGE and err.count("\n") == 1
