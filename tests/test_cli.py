"""The ``saec`` command line, run in-process through ``saecodec.cli.main`` (and once as ``python -m saecodec``)."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import saecodec
from saecodec import cli
from saecodec.cli import EXIT_AUTH, EXIT_INVALID, EXIT_IO, EXIT_KEY, EXIT_OK, EXIT_USAGE, main
from tests.conftest import assert_one_line_error, run_cli

REPO_ROOT = Path(__file__).resolve().parents[1]
HEIGHT, WIDTH = 24, 40
PASSWORD = "correct horse battery staple"


def make_rgb(seed: int = 0) -> np.ndarray:
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    noise = np.random.default_rng(seed).integers(0, 24, (HEIGHT, WIDTH, 3))
    base = np.stack([x * 6, y * 10, (x + y) * 4], axis=-1)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def image_path(workdir: Path) -> Path:
    path = workdir / "in.png"
    Image.fromarray(make_rgb()).save(path)
    return path


@pytest.fixture(scope="module")
def key_path(workdir: Path) -> Path:
    path = workdir / "k.key"
    assert main(["keygen", "-o", str(path)]) == EXIT_OK
    return path


@pytest.fixture(scope="module")
def saec_path(workdir: Path, image_path: Path, key_path: Path) -> Path:
    """One paper-profile level-1 file shared by the read-only tests."""
    path = workdir / "shared.saec"
    argv = ["encode", str(image_path), "-o", str(path), "--key-file", str(key_path), "--quiet", "--level", "1"]
    assert main(argv) == EXIT_OK
    return path


@pytest.fixture
def no_password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cli.PASSWORD_ENV, raising=False)


# ------------------------------------------------------------------------------------------ keygen


def test_keygen_writes_private_loadable_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "new.key"
    code, out, err = run_cli(capsys, "keygen", "-o", path)
    assert code == EXIT_OK and out == "" and err == ""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert isinstance(saecodec.load_key(path), saecodec.SecretKey)
    assert [p.name for p in tmp_path.iterdir()] == ["new.key"]  # no temp file left behind


def test_keygen_refuses_existing_file_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "k.key"
    path.write_text("precious\n")
    code, _, err = run_cli(capsys, "keygen", "-o", path)
    assert code == EXIT_USAGE
    assert_one_line_error(err)
    assert path.read_text() == "precious\n"
    code, _, _ = run_cli(capsys, "keygen", "-o", path, "--force")
    assert code == EXIT_OK
    saecodec.load_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# ------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("cipher", ["chacha20", "logistic"])
def test_round_trip(
    tmp_path: Path, image_path: Path, key_path: Path, capsys: pytest.CaptureFixture[str], level: int, cipher: str
) -> None:
    enc, dec = tmp_path / "out.saec", tmp_path / "out.png"
    code, out, err = run_cli(
        capsys, "encode", image_path, "-o", enc, "-k", key_path, "--level", level, "--cipher", cipher, "--seed", 3
    )
    assert code == EXIT_OK and out == ""  # stderr is not a tty: no progress bar, only the one-line report
    if cipher == "logistic":  # the insecure suite is named on one warning line first
        warning, _, err = err.partition("\n")
        assert warning == f"saec: warning: {cli.LOGISTIC_WARNING}"
    size = enc.stat().st_size
    assert err == f"{str(enc)!r}: {size} bytes, {8 * size / (WIDTH * HEIGHT):.3f} bpp, " + err.split("bpp, ")[1]
    assert err.endswith(f"(paper profile, level {level})\n") and err.count("\n") == 1
    header = saecodec.inspect(enc.read_bytes())
    assert (header.profile, header.model.level, header.crypto.cipher) == ("paper", level, cipher)
    code, out, err = run_cli(capsys, "decode", enc, "-o", dec, "-k", key_path)
    assert (code, out, err) == (EXIT_OK, "", "")
    with Image.open(dec) as img:
        assert img.format == "PNG"
        assert img.size == (WIDTH, HEIGHT)
        assert img.mode == "RGB"
        pixels = np.asarray(img)
    error = np.abs(pixels.astype(int) - make_rgb().astype(int)).mean()
    assert error < 64  # a reconstruction, not noise
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "out.saec"]


def test_password_round_trip_via_environment(
    tmp_path: Path, image_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cli.PASSWORD_ENV, PASSWORD)
    enc, dec = tmp_path / "p.saec", tmp_path / "p.png"
    code, out, err = run_cli(capsys, "encode", image_path, "-o", enc, "--password", "--scrypt-log2n", 10, "-q")
    assert code == EXIT_OK, err
    kdf = saecodec.inspect(enc.read_bytes()).crypto.kdf
    assert (kdf.name, kdf.log2_n) == ("scrypt", 10)
    code, out2, err2 = run_cli(capsys, "verify", enc, "--password")
    assert (code, out2.strip()) == (EXIT_OK, "OK")
    code, out3, err3 = run_cli(capsys, "decode", enc, "-o", dec, "--password")
    assert code == EXIT_OK, err3
    with Image.open(dec) as img:
        assert img.size == (WIDTH, HEIGHT)
    assert all(PASSWORD not in text for text in (out, err, out2, err2, out3, err3))

    monkeypatch.setenv(cli.PASSWORD_ENV, "not the password")
    code, _, err = run_cli(capsys, "verify", enc, "--password")
    assert code == EXIT_AUTH
    assert_one_line_error(err)


def test_password_prompt_twice_on_encode(
    tmp_path: Path,
    image_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_password_env: None,
) -> None:
    monkeypatch.setattr(cli, "_stdin_is_tty", lambda: True)
    answers = iter(["pw-one", "pw-two"])
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt="": next(answers))
    out_path = tmp_path / "m.saec"
    code, _, err = run_cli(capsys, "encode", image_path, "-o", out_path, "-p", "--scrypt-log2n", 10)
    assert code == EXIT_USAGE and "do not match" in err
    assert "pw-one" not in err and "pw-two" not in err
    assert not out_path.exists()

    answers = iter(["pw-one", "pw-one", "pw-one"])
    code, _, err = run_cli(capsys, "encode", image_path, "-o", out_path, "-p", "--scrypt-log2n", 10, "-q")
    assert code == EXIT_OK, err
    code, out, _ = run_cli(capsys, "verify", out_path, "-p")  # one prompt on read
    assert (code, out.strip()) == (EXIT_OK, "OK")


def test_password_without_env_or_terminal_is_usage_error(
    tmp_path: Path,
    saec_path: Path,
    image_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_password_env: None,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))

    def no_prompt(prompt: str = "") -> str:
        raise AssertionError("must not prompt without a terminal")

    monkeypatch.setattr(cli.getpass, "getpass", no_prompt)
    for argv in (
        ["encode", image_path, "-o", tmp_path / "x.saec", "--password"],
        ["decode", saec_path, "-o", tmp_path / "x.png", "--password"],
        ["verify", saec_path, "--password"],
    ):
        code, _, err = run_cli(capsys, *argv)
        assert code == EXIT_USAGE
        assert_one_line_error(err)
        assert cli.PASSWORD_ENV in err
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ info / verify


def test_info_without_key(saec_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "info", saec_path)
    assert code == EXIT_OK and err == ""
    size = saec_path.stat().st_size
    assert f"{WIDTH}x{HEIGHT} RGB" in out
    assert "4:1" in out and "chacha20" in out and "secret-key" in out
    assert f"{size} bytes" in out
    assert f"{8 * size / (WIDTH * HEIGHT):.3f}" in out


def test_info_json(saec_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "info", "--json", saec_path)
    assert code == EXIT_OK and err == ""
    doc = json.loads(out)
    size = saec_path.stat().st_size
    assert doc["file_bytes"] == size
    assert doc["bpp"] == pytest.approx(8 * size / (WIDTH * HEIGHT))
    assert doc["image"] == {"height": HEIGHT, "width": WIDTH, "channels": 3, "mode": "RGB"}
    assert doc["model"]["level"] == 1 and doc["crypto"]["cipher"] == "chacha20"
    assert doc["derived"]["nominal_ratio"] == 4


def test_verify_ok(saec_path: Path, key_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "verify", saec_path, "--key-file", key_path) == (EXIT_OK, "OK\n", "")


# ------------------------------------------------------------------------------------------ failures


def test_wrong_key_is_auth_error_and_leaves_no_output(
    tmp_path: Path, saec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.key"
    assert main(["keygen", "-o", str(other)]) == EXIT_OK
    out_path = tmp_path / "out.png"
    code, out, err = run_cli(capsys, "decode", saec_path, "-o", out_path, "-k", other)
    assert code == EXIT_AUTH and out == ""
    assert_one_line_error(err)
    assert not out_path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.key"]  # no partial or temp file
    code, _, err = run_cli(capsys, "verify", saec_path, "-k", other)
    assert code == EXIT_AUTH
    assert_one_line_error(err)


def test_tampered_file_is_auth_error(
    tmp_path: Path, saec_path: Path, key_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bytearray(saec_path.read_bytes())
    data[-40] ^= 0x01  # last payload byte, just before the 32-byte tag
    bad = tmp_path / "bad.saec"
    bad.write_bytes(bytes(data))
    out_path = tmp_path / "out.png"
    code, _, err = run_cli(capsys, "decode", bad, "-o", out_path, "-k", key_path)
    assert code == EXIT_AUTH
    assert_one_line_error(err)
    assert not out_path.exists()
    assert run_cli(capsys, "verify", bad, "-k", key_path)[0] == EXIT_AUTH


@pytest.mark.parametrize("kind", ["truncated", "random", "empty"])
def test_invalid_container_is_invalid_input(
    tmp_path: Path, saec_path: Path, key_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    data = saec_path.read_bytes()
    content = {
        "truncated": data[: len(data) // 2],
        "random": np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8).tobytes(),
        "empty": b"",
    }[kind]
    bad = tmp_path / "bad.saec"
    bad.write_bytes(content)
    out_path = tmp_path / "out.png"
    for argv in (["decode", bad, "-o", out_path, "-k", key_path], ["info", bad], ["verify", bad, "-k", key_path]):
        code, out, err = run_cli(capsys, *argv)
        assert code == EXIT_INVALID, (argv, err)
        assert out == ""
        assert_one_line_error(err)
    assert not out_path.exists()


def test_missing_input_is_io_error(tmp_path: Path, key_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing"
    for argv in (
        ["encode", missing, "-o", tmp_path / "o.saec", "-k", key_path],
        ["decode", missing, "-o", tmp_path / "o.png", "-k", key_path],
        ["info", missing],
        ["verify", missing, "-k", key_path],
        ["info", tmp_path],  # a directory is not readable as a file
    ):
        code, _, err = run_cli(capsys, *argv)
        assert code == EXIT_IO, (argv, err)
        assert_one_line_error(err)
    assert list(tmp_path.iterdir()) == []


def test_output_directory_missing_is_io_error(
    tmp_path: Path, saec_path: Path, key_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "decode", saec_path, "-o", tmp_path / "nodir" / "o.png", "-k", key_path)
    assert code == EXIT_IO
    assert_one_line_error(err)


def test_existing_output_needs_force(
    tmp_path: Path, image_path: Path, saec_path: Path, key_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    enc, dec = tmp_path / "o.saec", tmp_path / "o.png"
    enc.write_bytes(b"keep me")
    dec.write_bytes(b"keep me too")
    code, _, err = run_cli(capsys, "encode", image_path, "-o", enc, "-k", key_path)
    assert code == EXIT_USAGE and "--force" in err
    assert_one_line_error(err)
    code, _, err = run_cli(capsys, "decode", saec_path, "-o", dec, "-k", key_path)
    assert code == EXIT_USAGE
    assert_one_line_error(err)
    assert enc.read_bytes() == b"keep me" and dec.read_bytes() == b"keep me too"

    assert run_cli(capsys, "encode", image_path, "-o", enc, "-k", key_path, "--force", "-q")[0] == EXIT_OK
    assert saecodec.inspect(enc.read_bytes()).image.width == WIDTH
    assert run_cli(capsys, "decode", saec_path, "-o", dec, "-k", key_path, "--force")[0] == EXIT_OK
    with Image.open(dec) as img:
        assert img.size == (WIDTH, HEIGHT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png", "o.saec"]


@pytest.mark.parametrize("content", [b"not a key\n", b"saec-secret-key-1:abcd\n", b"\xff\xfe\x00"])
def test_bad_key_file(
    tmp_path: Path, saec_path: Path, image_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    key = tmp_path / "bad.key"
    key.write_bytes(content)
    for argv in (
        ["encode", image_path, "-o", tmp_path / "o.saec", "-k", key],
        ["decode", saec_path, "-o", tmp_path / "o.png", "-k", key],
        ["verify", saec_path, "-k", key],
    ):
        code, _, err = run_cli(capsys, *argv)
        assert code == EXIT_KEY, (argv, err)
        assert_one_line_error(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.key"]


def test_missing_key_file(saec_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "verify", saec_path, "-k", tmp_path / "nokey")
    assert code == EXIT_KEY
    assert_one_line_error(err)


@pytest.mark.parametrize("kind", ["I;16", "CMYK"])
def test_unsupported_image_is_invalid_input(
    tmp_path: Path, key_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    if kind == "I;16":
        src = tmp_path / "deep.png"
        Image.fromarray(np.arange(HEIGHT * WIDTH, dtype=np.uint16).reshape(HEIGHT, WIDTH) * 50).save(src)
    else:
        src = tmp_path / "cmyk.jpg"
        Image.fromarray(make_rgb()).convert("CMYK").save(src)
    with Image.open(src) as img:
        assert img.mode not in ("L", "LA", "RGB", "RGBA", "P", "1")
    out_path = tmp_path / "o.saec"
    code, out, err = run_cli(capsys, "encode", src, "-o", out_path, "-k", key_path)
    assert code == EXIT_INVALID and out == ""
    assert_one_line_error(err)
    assert not out_path.exists()


def test_not_an_image_is_invalid_input(tmp_path: Path, key_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "text.png"
    src.write_text("hello")
    code, _, err = run_cli(capsys, "encode", src, "-o", tmp_path / "o.saec", "-k", key_path)
    assert code == EXIT_INVALID
    assert_one_line_error(err)


def test_unknown_output_extension_is_usage_error(
    tmp_path: Path, saec_path: Path, key_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "decode", saec_path, "-o", tmp_path / "o.nope", "-k", key_path)
    assert code == EXIT_USAGE
    assert_one_line_error(err)


# ------------------------------------------------------------------------------------------ arguments


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["encode", "in.png", "-o", "o.saec"],  # no key source
        ["encode", "in.png", "-o", "o.saec", "-k", "k", "--password"],  # both key sources
        ["encode", "in.png", "-o", "o.saec", "-k", "k", "--level", "3"],
        ["encode", "in.png", "-o", "o.saec", "-k", "k", "--cipher", "rot13"],
        ["encode", "in.png", "-o", "o.saec", "-k", "k", "--seed", "-1"],
        ["encode", "in.png", "-o", "o.saec", "--password", "--scrypt-log2n", "40"],
        ["decode", "in.saec", "-k", "k"],  # no output
        ["verify", "in.saec", "--password", "hunter2"],  # the password is never an argument
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert code == EXIT_USAGE and out == ""
    assert_one_line_error(err)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--version")
    assert code == EXIT_OK
    assert out.strip() == f"saec {saecodec.__version__}"


def test_help_lists_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == EXIT_OK
    assert "exit codes:" in out and "authentication failed" in out
    for name in ("keygen", "encode", "decode", "info", "verify"):
        assert name in out
    assert "scrypt-log2n" not in out


# ------------------------------------------------------------------------------------------ progress / errors


def test_progress_bar_only_on_tty(
    tmp_path: Path,
    image_path: Path,
    key_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "_isatty", lambda stream: True)
    code, out, err = run_cli(capsys, "encode", image_path, "-o", tmp_path / "a.saec", "-k", key_path)
    assert code == EXIT_OK and out == ""
    assert err.startswith("\r") and "100%" in err and err.endswith(" chroma 444)\n")
    assert err.count("\n") == 2  # the bar's last line, then the report
    code, out, err = run_cli(capsys, "encode", image_path, "-o", tmp_path / "b.saec", "-k", key_path, "--quiet")
    assert (code, out, err) == (EXIT_OK, "", "")


def test_interrupt_and_internal_error(
    tmp_path: Path, saec_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt

    import saecodec.codec  # the command imports the codec when it runs: patch it there

    monkeypatch.setattr(saecodec.codec, "inspect", interrupted)
    code, _, err = run_cli(capsys, "info", saec_path)
    assert code == 130 and "Traceback" not in err

    def broken(*args: object, **kwargs: object) -> object:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(saecodec.codec, "inspect", broken)
    code, _, err = run_cli(capsys, "info", saec_path)
    assert code == 1
    assert err.strip() == "saec: internal error: ZeroDivisionError: boom"


def test_interrupted_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted_fsync(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.os, "fsync", interrupted_fsync)
    target = tmp_path / "o.bin"
    with pytest.raises(KeyboardInterrupt):
        cli.write_atomic(str(target), b"data", force=False)
    assert list(tmp_path.iterdir()) == []


def test_console_entry_point_in_subprocess(tmp_path: Path, saec_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    env.pop(cli.PASSWORD_ENV, None)
    ok = subprocess.run(
        [sys.executable, "-m", "saecodec", "info", str(saec_path)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert ok.returncode == EXIT_OK, ok.stderr
    assert f"{WIDTH}x{HEIGHT} RGB" in ok.stdout and "Traceback" not in ok.stderr

    junk = tmp_path / "junk.saec"
    junk.write_bytes(b"\x89SAEC\r\n\x1a" + b"\x01\x00\xff\xff\xff\xff" + b"x" * 10)
    bad = subprocess.run(
        [sys.executable, "-m", "saecodec", "info", str(junk)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert bad.returncode in (EXIT_INVALID,), bad.stderr
    assert "Traceback" not in bad.stderr
    assert bad.stderr.startswith("saec: error: ") and bad.stderr.count("\n") == 1


@pytest.mark.parametrize("batch", [False, True])
def test_decode_writes_the_photographs_metadata_back(capsys, tmp_path, key_path, batch):
    """EXIF (with orientation) and the ICC profile survive JPEG -> .saec -> PNG, one file or a folder."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010E] = "kept"
    source = tmp_path / "photo.jpg"
    Image.fromarray(make_rgb()).save(source, exif=exif.tobytes(), icc_profile=b"icc" * 40)
    encoded = tmp_path / "photo.saec"
    code, _, err = run_cli(capsys, "encode", source, "-o", encoded, "-k", key_path, "-q")
    assert code == EXIT_OK, err
    if batch:
        code, _, err = run_cli(capsys, "decode", encoded, "-o", f"{tmp_path / 'out'}/", "-k", key_path, "-q")
        decoded = tmp_path / "out" / "photo.png"
    else:
        decoded = tmp_path / "photo.png"
        code, _, err = run_cli(capsys, "decode", encoded, "-o", decoded, "-k", key_path)
    assert code == EXIT_OK, err
    with Image.open(decoded) as png:
        assert png.getexif()[0x010E] == "kept" and png.getexif()[0x0112] == 6
        assert png.info["icc_profile"] == b"icc" * 40
    stripped = tmp_path / "stripped.saec"
    code, _, err = run_cli(capsys, "encode", source, "-o", stripped, "-k", key_path, "-q", "--strip-metadata")
    assert code == EXIT_OK, err
    assert not saecodec.inspect(stripped).has_metadata


def test_info_says_when_a_context_is_bound_and_metadata_is_carried(capsys, tmp_path, key_path):
    exif = Image.Exif()
    exif[0x010E] = "x"
    source = tmp_path / "photo.jpg"
    Image.fromarray(make_rgb()).save(source, exif=exif.tobytes())
    out = tmp_path / "bound.saec"
    code, _, err = run_cli(capsys, "encode", source, "-o", out, "-k", key_path, "-q", "--context", "shelf/7")
    assert code == EXIT_OK, err
    code, text, err = run_cli(capsys, "info", out)
    assert code == EXIT_OK, err
    assert "context:     bound" in text and "metadata:" in text and "encrypted" in text
    plain = tmp_path / "plain.saec"
    code, _, err = run_cli(capsys, "encode", source, "-o", plain, "-k", key_path, "-q", "--strip-metadata")
    assert code == EXIT_OK, err
    code, text, _ = run_cli(capsys, "info", plain)
    assert "context:" not in text and "metadata:" not in text


@pytest.mark.parametrize("golden, lines", [
    ("v1.0/gray-30x21-level1-logistic.saec", ["profile:     paper", "level:       1 ", "model:       layers 64-"]),
    ("v1.1/gray-30x21-rd-q90-chacha20.saec", ["profile:     rd (grey, dct-ii 8x8", "quantiser:   steps y 5;"]),
    ("v1.3/rgb-64x48-overfit-fast-q75-chacha20.saec",
     ["profile:     overfit (", "latents:     5 grids (48x64, 24x32, ", "network:     1x1 layers 5-16-16-3, 1 residual"]),
])
def test_info_describes_each_profile_from_its_model(capsys, golden: str, lines: list[str]) -> None:
    """`saec info` takes a file's model lines from the header's model type (one per profile), in order."""
    code, out, err = run_cli(capsys, "info", str(Path(__file__).parent / "golden" / golden))
    assert code == EXIT_OK and err == ""
    printed = out.splitlines()
    found = [next(i for i, line in enumerate(printed) if line.startswith(want)) for want in lines]
    assert found == sorted(found) and found[0] == 3  # right after file, format and image
