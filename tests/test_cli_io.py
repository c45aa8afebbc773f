"""``saec`` at its edges: standard input and output, pipes, FIFOs, symbolic links, devices, terminals,
signals, warnings, file modes and the cost of ``--help``. Real processes, pipes and file-system objects
(subprocesses where the behaviour needs them), no mocks."""

from __future__ import annotations

import io
import json
import os
import pty
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import saecodec
from saecodec import batch, choices, cli
from saecodec.cli import EXIT_INTERRUPTED, EXIT_INVALID, EXIT_IO, EXIT_OK, EXIT_USAGE
from saecodec.files import FileAccessError, check_replaceable, write_atomic
from tests.conftest import assert_one_line_error, run_cli, synthetic_image

REPO_ROOT = Path(__file__).resolve().parents[1]
H, W = 24, 40
pytestmark = pytest.mark.skipif(os.name != "posix", reason="pipes, FIFOs, signals and devices of POSIX")


def saec(*argv: object, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    """``python -m saecodec ARGV`` (main() as the program), bytes in and out."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    env.pop(cli.PASSWORD_ENV, None)
    env.update(kwargs.pop("env", {}))  # type: ignore[arg-type]
    kwargs.setdefault("stdout", subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "saecodec", *map(str, argv)], stderr=subprocess.PIPE, env=env,
                          timeout=120, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("io")


@pytest.fixture(scope="module")
def png(work: Path) -> Path:
    path = work / "a.png"
    Image.fromarray(synthetic_image(H, W, 3)).save(path)
    return path


@pytest.fixture(scope="module")
def key(work: Path) -> Path:
    path = work / "k.key"
    saecodec.save_key(saecodec.generate_key(), path)
    return path


@pytest.fixture(scope="module")
def saec_file(work: Path, png: Path, key: Path) -> Path:
    path = work / "a.saec"
    assert cli.main(["encode", str(png), "-o", str(path), "-k", str(key), "-q"]) == EXIT_OK
    return path


# ------------------------------------------------------------------------------------------ - as stdin/stdout


def test_pipeline_encode_stdin_to_stdout_then_decode_to_stdout(png: Path, key: Path) -> None:
    encoded = saec("encode", "-", "-o", "-", "--key-file", key, "-q", input=png.read_bytes())
    assert encoded.returncode == EXIT_OK, encoded.stderr
    assert encoded.stdout.startswith(b"\x89SAEC\r\n\x1a") and encoded.stderr == b""
    header = saecodec.inspect(encoded.stdout)
    assert (header.image.width, header.image.height) == (W, H)
    decoded = saec("decode", "-", "-o", "-", "--key-file", key, input=encoded.stdout)
    assert decoded.returncode == EXIT_OK, decoded.stderr
    with Image.open(io.BytesIO(decoded.stdout)) as img:
        assert img.format == "PNG" and img.size == (W, H)
    bmp = saec("decode", "-", "-o", "-", "--key-file", key, "--format", "bmp", input=encoded.stdout)
    assert bmp.returncode == EXIT_OK and bmp.stdout.startswith(b"BM")


def test_real_shell_pipeline(work: Path, png: Path, key: Path) -> None:
    out = work / "piped.png"
    command = (f"cat {png} | {sys.executable} -m saecodec encode - -o - --key-file {key} -q "
               f"| {sys.executable} -m saecodec decode - -o - --key-file {key} > {out}")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run(["sh", "-c", command], capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    with Image.open(out) as img:
        assert img.size == (W, H)


def test_info_and_verify_read_stdin_from_a_pipe_and_a_redirected_file(saec_file: Path, key: Path) -> None:
    data = saec_file.read_bytes()
    info = saec("info", "--json", "-", input=data)
    assert info.returncode == EXIT_OK, info.stderr
    doc = json.loads(info.stdout)
    assert doc["authenticated"] is False and doc["file_bytes"] == len(data)
    with open(saec_file, "rb") as handle:
        verified = saec("verify", "-", "-k", key, stdin=handle)
    assert (verified.returncode, verified.stdout) == (EXIT_OK, b"OK\n")


def test_keygen_to_stdout(work: Path) -> None:
    done = saec("keygen", "-o", "-")
    assert done.returncode == EXIT_OK and done.stderr == b""
    path = work / "from-stdout.key"
    path.write_bytes(done.stdout)
    path.chmod(0o600)
    assert isinstance(saecodec.load_key(path), saecodec.SecretKey)


def test_binary_data_never_goes_to_or_comes_from_a_terminal(png: Path, saec_file: Path, key: Path) -> None:
    leader, follower = pty.openpty()
    try:
        for argv, channel in (
            (["encode", png, "-o", "-", "-k", key], "stdout"),
            (["decode", saec_file, "-o", "-", "-k", key], "stdout"),
            (["info", "-"], "stdin"),
            (["encode", "-", "-o", "never.saec", "-k", key], "stdin"),
        ):
            done = saec(*argv, **{channel: follower})
            assert done.returncode == EXIT_USAGE, done.stderr
            assert b"terminal" in done.stderr and b"Traceback" not in done.stderr
            assert done.stderr.decode().count("\n") == 1
        os.set_blocking(leader, False)
        try:
            written = os.read(leader, 1 << 16)
        except BlockingIOError:
            written = b""
        assert b"SAEC" not in written and b"PNG" not in written
    finally:
        os.close(leader)
        os.close(follower)
    assert not Path("never.saec").exists()


def test_dash_stands_alone_and_never_in_batch_mode(
    tmp_path: Path, png: Path, key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        ["encode", "-", png, "-o", tmp_path / "out/", "-k", key],
        ["encode", png, png, "-o", "-", "-k", key],
        ["encode", png, "-o", "-", "-k", key, "--recursive"],
        ["info", "-", png],
    ):
        code, out, err = run_cli(capsys, *argv)
        assert code == EXIT_USAGE, (argv, err)
        assert_one_line_error(err)
    with pytest.raises(batch.PlanError):
        batch.plan("encode", ["-"], tmp_path / "out")
    with pytest.raises(batch.PlanError):
        batch.plan("decode", [png], "-")
    assert list(tmp_path.iterdir()) == []


def test_password_with_stdin_input_needs_the_environment(
    saec_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(cli.PASSWORD_ENV, raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    for argv in (["decode", "-", "-o", "-", "--password"], ["verify", "-", "--password"],
                 ["encode", "-", "-o", "-", "--password"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == EXIT_USAGE
        assert_one_line_error(err)
        assert cli.PASSWORD_ENV in err


def test_password_with_stdin_from_the_environment(png: Path) -> None:
    env = {cli.PASSWORD_ENV: "pipe password"}
    encoded = saec("encode", "-", "-o", "-", "--password", "--scrypt-log2n", 10, "-q", input=png.read_bytes(),
                   env=env)
    assert encoded.returncode == EXIT_OK, encoded.stderr
    verified = saec("verify", "-", "--password", input=encoded.stdout, env=env)
    assert (verified.returncode, verified.stdout) == (EXIT_OK, b"OK\n")


# ------------------------------------------------------------------------------------------ outputs


def _special_outputs(tmp_path: Path) -> dict[str, Path]:
    target = tmp_path / "target.bin"
    target.write_bytes(b"precious")
    link = tmp_path / "link.out"
    link.symlink_to(target)
    dangling = tmp_path / "dangling.out"
    dangling.symlink_to(tmp_path / "nowhere")
    fifo = tmp_path / "fifo.out"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.out"
    folder.mkdir()
    return {"link": link, "dangling": dangling, "fifo": fifo, "directory": folder, "device": Path("/dev/null")}


@pytest.mark.parametrize("force", [False, True])
def test_links_and_special_files_are_never_replaced(
    tmp_path: Path, png: Path, saec_file: Path, key: Path, capsys: pytest.CaptureFixture[str], force: bool
) -> None:
    outputs = _special_outputs(tmp_path)
    extra = ["--force"] if force else []
    for kind, out in outputs.items():
        commands = [["keygen", "-o", out, *extra]]
        if kind != "directory":  # -o DIR is batch mode for encode and decode
            commands += [["encode", png, "-o", out, "-k", key, *extra],
                         ["decode", saec_file, "-o", out, "-k", key, "--format", "png", *extra]]
        for argv in commands:
            code, _, err = run_cli(capsys, *argv)
            assert code == EXIT_IO, (kind, argv, err)
            assert_one_line_error(err)
            assert "symbolic link" in err if kind in ("link", "dangling") else True
    assert (tmp_path / "target.bin").read_bytes() == b"precious"
    assert outputs["link"].is_symlink() and outputs["dangling"].is_symlink()
    assert stat.S_ISFIFO(outputs["fifo"].lstat().st_mode) and outputs["directory"].is_dir()
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_write_atomic_refuses_a_link_even_when_forced(tmp_path: Path) -> None:
    target = tmp_path / "t"
    target.write_bytes(b"x")
    link = tmp_path / "l"
    link.symlink_to(target)
    for force in (False, True):
        with pytest.raises(FileAccessError, match="symbolic link"):
            write_atomic(link, b"new", force=force)
    with pytest.raises(FileAccessError, match="character device"):
        check_replaceable("/dev/null")
    check_replaceable(tmp_path / "absent")
    check_replaceable(target)
    assert target.read_bytes() == b"x" and sorted(p.name for p in tmp_path.iterdir()) == ["l", "t"]


def test_batch_job_onto_a_link_fails_alone(tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for seed, name in enumerate(["a", "b"]):
        Image.fromarray(synthetic_image(16, 16, 3, seed)).save(src / f"{name}.png")
    (tmp_path / "elsewhere").write_bytes(b"keep")
    (out / "a.saec").symlink_to(tmp_path / "elsewhere")
    code, _, err = run_cli(capsys, "encode", src, "-o", out, "-k", key, "--force", "--workers", "1")
    assert code == EXIT_IO, err
    assert "symbolic link" in err
    assert (out / "a.saec").is_symlink() and (tmp_path / "elsewhere").read_bytes() == b"keep"
    assert saecodec.inspect(out / "b.saec").image.width == 16


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_decoded_images_follow_the_umask(
    tmp_path: Path, saec_file: Path, key: Path, capsys: pytest.CaptureFixture[str], umask: int
) -> None:
    old = os.umask(umask)
    try:
        out = tmp_path / "d.png"
        assert run_cli(capsys, "decode", saec_file, "-o", out, "-k", key)[0] == EXIT_OK
        keyfile = tmp_path / "new.key"
        assert run_cli(capsys, "keygen", "-o", keyfile)[0] == EXIT_OK
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # like gpg -d and age -d
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600  # key files: always private


# ------------------------------------------------------------------------------------------ bounded inputs


def test_links_to_dev_zero_fail_at_once(tmp_path: Path, key: Path) -> None:
    zero = tmp_path / "zero.saec"
    zero.symlink_to("/dev/zero")
    image = tmp_path / "zero.png"
    image.symlink_to("/dev/zero")
    for argv in (["info", zero], ["verify", zero, "-k", key], ["decode", zero, "-o", tmp_path / "o.png", "-k", key],
                 ["encode", image, "-o", tmp_path / "o.saec", "-k", key]):
        done = saec(*argv)  # the 120 s timeout is the hang detector; each takes well under a second
        assert done.returncode == EXIT_INVALID, (argv, done.stderr)
        assert done.stderr.decode().startswith("saec: error: ") and done.stderr.count(b"\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zero.png", "zero.saec"]


def test_endless_pipes_fail_at_their_first_bytes(key: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    for argv in (["info", "-"], ["encode", "-", "-o", "-", "-k", str(key)]):
        zeros = subprocess.Popen(["cat", "/dev/zero"], stdout=subprocess.PIPE)
        try:
            done = subprocess.run([sys.executable, "-m", "saecodec", *argv], stdin=zeros.stdout,
                                  capture_output=True, env=env, timeout=120)
        finally:
            zeros.kill()
            zeros.wait()
        assert done.returncode == EXIT_INVALID, (argv, done.stderr)
        assert done.stdout == b"" and done.stderr.count(b"\n") == 1


def test_huge_non_image_and_batch_link_to_dev_zero(tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as handle:  # sparse: 8 GiB of nothing, not an image
        handle.truncate(8 << 30)
    code, _, err = run_cli(capsys, "encode", huge, "-o", tmp_path / "o.saec", "-k", key)
    assert code == EXIT_INVALID and "cannot read image" in err
    assert_one_line_error(err)
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "z.saec").symlink_to("/dev/zero")
    code, _, err = run_cli(capsys, "info", folder / "z.saec", folder / "z.saec")
    assert code == EXIT_INVALID and err.count("not a .saec file") == 2
    code, _, err = run_cli(capsys, "decode", folder, "-o", tmp_path / "out", "-k", key, "--workers", "1")
    assert code == EXIT_INVALID and "not a .saec file" in err


def test_a_fifo_input_is_read_through_the_framed_reader(tmp_path: Path, saec_file: Path) -> None:
    fifo = tmp_path / "in.saec"
    os.mkfifo(fifo)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    reader = subprocess.Popen([sys.executable, "-m", "saecodec", "info", str(fifo)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env)
    with open(fifo, "wb") as writer:  # blocks until the reader opened it
        writer.write(saec_file.read_bytes())
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == EXIT_OK, err
    assert f"{W}x{H}".encode() in out


def test_a_directory_input_is_an_io_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "info", tmp_path)
    assert code == EXIT_IO
    assert_one_line_error(err)


# ------------------------------------------------------------------------------------------ Ctrl-C


def _wait_until(predicate, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.005)


def _maps(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return ""


def _interruptible() -> None:
    """In the child: SIGINT's default action, as at a terminal. A test run started in the background by a
    shell without job control inherits SIGINT ignored, and a program started so rightly keeps ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_sigint_while_importing_numpy_exits_130_quietly(tmp_path: Path, png: Path, key: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    out = tmp_path / "o.saec"
    proc = subprocess.Popen([sys.executable, "-m", "saecodec", "encode", str(png), "-o", str(out), "-k", str(key)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, preexec_fn=_interruptible)
    # numpy's extension is mapped only inside main(): the heavy imports are under its handler
    _wait_until(lambda: "_multiarray_umath" in _maps(proc.pid) or proc.poll() is not None)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert b"Traceback" not in err and err.count(b"\n") <= 1
    assert list(tmp_path.iterdir()) == []


def test_sigint_while_waiting_on_a_fifo_exits_130_quietly(tmp_path: Path) -> None:
    fifo = tmp_path / "in.saec"
    os.mkfifo(fifo)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "saecodec", "info", str(fifo)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, preexec_fn=_interruptible)
    holder: list[int] = []

    def reader_is_waiting() -> bool:  # a non-blocking writer can open the FIFO once a reader has it open
        try:
            holder.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            return True
        except OSError:
            return proc.poll() is not None

    try:
        _wait_until(reader_is_waiting)
        time.sleep(0.05)  # now blocked reading the preamble
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        for fd in holder:
            os.close(fd)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert b"Traceback" not in err
    assert err.decode() == "saec: error: interrupted\n" and out == b""


# ------------------------------------------------------------------------------------------ warnings, info, help


def test_key_file_permission_warning_is_one_line(
    tmp_path: Path, saec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loose = tmp_path / "loose.key"
    saecodec.save_key(saecodec.generate_key(), loose)
    loose.chmod(0o644)
    code, out, err = run_cli(capsys, "verify", saec_file, "-k", loose)  # a different key: fails too
    lines = err.splitlines()
    assert code == cli.EXIT_AUTH and out == ""
    assert len(lines) == 2 and "Traceback" not in err
    assert lines[0].startswith("saec: warning: key file ") and lines[0].endswith("it should be 0600")
    assert lines[1].startswith("saec: error: ")
    done = saec("info", saec_file, "--json")  # no key read: no warning
    assert done.stderr == b""


def test_logistic_warning_survives_quiet(tmp_path: Path, png: Path, key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "encode", png, "-o", tmp_path / "l.saec", "-k", key, "--cipher", "logistic", "-q")
    assert code == EXIT_OK
    assert err == f"saec: warning: {cli.LOGISTIC_WARNING}\n"
    assert "not secure" in cli.LOGISTIC_WARNING and "chacha20" in cli.LOGISTIC_WARNING
    code, _, err = run_cli(capsys, "encode", png, "-o", tmp_path / "c.saec", "-k", key, "-q")
    assert (code, err) == (EXIT_OK, "")


def test_info_json_is_marked_unauthenticated_and_steps_have_one_unit(
    saec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "info", "--json", saec_file)
    doc = json.loads(out)
    assert code == EXIT_OK and doc["authenticated"] is False and "not authenticated" in doc["note"]
    assert doc["derived"]["step_levels"] == [s / 16 for s in doc["quant"]["steps"]]
    code, text, _ = run_cli(capsys, "info", saec_file)
    levels = ", ".join(f"{name} {s:g}" for name, s in zip(("y", "cb", "cr"), doc["derived"]["step_levels"]))
    assert f"steps {levels}; deblocking" in text and "(steps in pixel levels; the header stores sixteenths)" in text
    code, out, _ = run_cli(capsys, "info", "--json", saec_file, saec_file)
    assert all(d["authenticated"] is False for d in json.loads(out))


@pytest.mark.parametrize("argv", [["--help"], ["encode", "--help"], ["decode", "--help"], ["--version"]])
def test_help_needs_no_heavy_import(argv: list[str]) -> None:
    probe = ("import sys\nfrom saecodec.cli import main\ncode = main(%r)\n"
             "heavy = [m for m in ('numpy', 'numba', 'PIL', 'saecodec.codec', 'cryptography') if m in sys.modules]\n"
             "sys.stderr.write(repr((code, heavy)))\n") % (argv,)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert done.stderr == repr((0, [])), done.stderr


def test_light_choices_agree_with_their_sources() -> None:
    from saecodec import codec, keyring
    from saecodec.format import header
    from saecodec.profiles import PROFILES, overfit, rd

    assert choices.CIPHERS == header.CIPHERS
    assert (choices.PROFILES, choices.DEFAULT_PROFILE) == (codec.PROFILES, codec.DEFAULT_PROFILE)
    assert tuple(choices.PROFILE_OPTIONS) == tuple(PROFILES)  # same order: it decides what options imply
    for name, options in choices.PROFILE_OPTIONS.items():
        assert set(options) <= set(PROFILES[name].options), name
    assert choices.EFFORTS == tuple(overfit.EFFORTS)
    assert (choices.CHROMA_CHOICES, choices.DEFAULT_QUALITY) == (rd.CHROMA_CHOICES, rd.DEFAULT_QUALITY)
    assert (choices.PASSWORD_ENV, choices.KEY_FILE_ENV, choices.KEYRING_ENV) == (
        keyring.PASSWORD_ENV, keyring.KEY_FILE_ENV, keyring.KEYRING_ENV)
    assert batch.OUTPUT_FORMATS is choices.OUTPUT_FORMATS


@pytest.mark.parametrize("fmt", ["BMP", "TGA", "PNG"])
def test_images_from_a_pipe_longer_than_the_sniffed_prefix(fmt: str) -> None:
    """Past the first 64 KiB an image from a pipe is read on: formats with a signature (BMP) and without
    one (TGA) alike; an endless stream that is no image stops at the prefix."""
    import threading

    from saecodec.files import image_stream

    pixels = synthetic_image(200, 160, 3, seed=5)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    data = buffer.getvalue()
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with os.fdopen(write_fd, "wb") as writer:
            writer.write(data)

    thread = threading.Thread(target=feed)
    thread.start()
    with os.fdopen(read_fd, "rb") as reader:
        stream = image_stream(reader)
        with Image.open(stream) as img:
            assert np.array_equal(np.asarray(img.convert("RGB")), pixels)
    thread.join()
    if fmt != "PNG":
        assert len(data) > 1 << 16


@pytest.mark.parametrize("given, expected", [
    ([], "rd"), (["quality"], "rd"), (["chroma"], "rd"), (["seed"], "paper"), (["level", "seed"], "paper"),
    (["effort"], "overfit"), (["seed", "effort"], "overfit"), (["quality", "effort"], "overfit"),
    (["seed", "quality"], "paper"),  # not overfit: the slow profile is never implied without effort
    (["level", "effort"], "paper"),  # two profiles' own options: the first wins, the caller rejects the other
])
def test_implied_profile(given: list[str], expected: str) -> None:
    assert choices.implied_profile(given, choices.PROFILE_OPTIONS, choices.DEFAULT_PROFILE) == expected
