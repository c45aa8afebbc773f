"""The ``saec`` command: compress, encrypt, decrypt and inspect .saec files, one or many at a time.

Subcommands::

    saec keygen -o KEYFILE|- [--force]
    saec encode IN... -o OUT [KEY] [--cipher chacha20|logistic] [--force | --skip-existing] [--quiet]
                             [--profile rd] [--quality Q | --target-bpp B | --target-psnr P] [--chroma auto|444|420]
                             [--profile paper] [--level 1|2] [--seed N]
                             [--recursive] [--workers N | --scheduler ADDRESS] [--manifest FILE.jsonl]
                             [--context TEXT | --context-from-path]
    saec decode IN... -o OUT [KEY] [--format png|tiff|bmp|webp] [--force | --skip-existing] [--quiet] (batch flags)
    saec info IN.saec... [--json]
    saec verify IN.saec... [KEY] [--context TEXT] [--recursive]
    saec --version

    KEY: --key-file KEYFILE | --password | --key-id ID; none: the key file $SAEC_KEY_FILE

``--password`` never takes the password on the command line: it is read from the environment variable
``SAEC_PASSWORD`` if set, otherwise prompted for on the terminal (twice when encoding). ``--key-id ID`` reads
``$SAEC_KEYRING/ID.key``. Outputs are written to a temporary file in the destination directory, synced and
renamed into place, so an interrupted or failed run never leaves a partial file; an existing output is
replaced only with ``--force``. A symbolic link or anything but a regular file (a device, a FIFO, a
directory) at the output path is never replaced, with or without ``--force`` (exit 3): the rename would
replace the link or device node itself; name the file itself, or write to ``-o -`` and redirect.

Standard input and output: ``-`` as the input of encode, decode, info or verify reads standard input, and
``-o -`` for encode, decode or keygen writes standard output, straight, with no temporary file::

    cat a.png | saec encode - -o - --key-file k | saec decode - -o - --key-file k > b.png

Binary data is never read from or written to a terminal (like gzip; exit 2); keygen's key line may go to
one. ``decode -o -`` writes the ``--format`` image format (default png). ``-`` stands alone: one input, no
batch mode (exit 2). With ``--password`` and ``-`` as the input, the password must come from
``$SAEC_PASSWORD`` (there is no terminal to prompt on).

Inputs are read with bounds: a .saec file only as far as its header announces, and at most
``Limits.max_file_bytes`` (4 GiB), so ``saec info`` on a link to /dev/zero fails at its first bytes; an
image is read lazily by Pillow, or from a pipe up to that bound and only if its first bytes look like an
image.

Decoded images are written with mode 0666 minus the umask, like ``gpg -d``, ``age -d`` and cp: the decrypted
image is the user's own file, for their other tools, and the umask is where a user says how private new
files should be (``umask 077`` keeps them to the owner). Key files are always 0600.

Warnings are one line on stderr, ``saec: warning: ...`` (a key file that others can read, the insecure
logistic cipher), and ``--quiet`` does not silence them: it silences progress and report lines, while a
warning says that something is less safe than the user may think.

``saec info`` shows the header without a key: nothing of it is authenticated (spec section 7), as the text
output's note and ``"authenticated": false`` in ``--json`` say. Quantiser steps (rd profile) are in pixel
levels (8-bit sample values) in the text output and in encode's report (``step 12.5``); ``--json`` gives
the header's stored integers, ``quant.steps``, in sixteenths of a level (200 = 12.5), and the same steps in
levels as ``derived.step_levels``.

Ctrl-C at any point is exit 130 with one line, never a traceback (a second Ctrl-C leaves at once).

One input and ``-o FILE``: that file is converted. Several inputs, a directory input, or ``-o`` naming a
directory (existing, or ending in ``/``): batch mode, OUT is a directory (created if needed) and outputs
mirror the inputs' names: ``a.png`` -> ``OUT/a.saec``, ``DIR/sub/b.png`` -> ``OUT/sub/b.saec`` (decode:
``x.saec`` -> ``OUT/x.png``). A directory contributes its images (encode, by extension) or .saec files
(decode, verify); without ``--recursive`` only its direct files. Hidden files are skipped, symbolic links to
directories are not followed (links to files are read). Conflicting outputs, or outputs that exist without
``--force``/``--skip-existing``, stop the run before any work. A file that fails is reported on its own line
(``saec: error: 'IN': why``) and the others go on; a summary line ends the run. ``--workers N`` runs N
local processes (default: one per core), ``--scheduler ADDRESS`` runs on a Dask cluster whose workers reach
the same paths; the key then travels only as a reference (the key file path, the key id, or the workers'
own $SAEC_PASSWORD with --password), never in the task graph. See :mod:`saecodec.batch`.

Exit codes:

    0  success (in batch mode: no file failed; skipped files are not failures)
    1  internal error (a bug: please report it)
    2  usage error: bad arguments, output exists without --force, conflicting outputs, no key source,
       binary data from or to a terminal, '-' in batch mode or with other inputs
    3  I/O error: input not found or unreadable, output not writable (or a symbolic link, a device, a
       FIFO or a directory, never replaced), scheduler unreachable
    4  invalid input: not a .saec file, corrupt or truncated, unsupported version or feature,
       unsupported image, a limit exceeded
    5  authentication failed: wrong key, password or context, or the file was tampered with
    6  bad key file: missing, unreadable or malformed key file
    7  batch mode: files failed for different reasons (each is on its own line; when every failure
       has the same reason, its code above is the exit code)
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

# Only light modules here: ``saec --help`` and a usage error never load numpy, Numba or the codec, and a
# Ctrl-C during those heavy imports (done inside the commands, within main's handler) exits quietly.
import argparse
import getpass
import io
import json
import os
import signal
import sys
import time
import warnings
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Sequence

from . import __version__
from .choices import (CHROMA_CHOICES, CIPHERS, DEFAULT_PROFILE, DEFAULT_QUALITY, EFFORTS, KEY_FILE_ENV, KEYRING_ENV,
                      OUTPUT_FORMATS, PASSWORD_ENV, PROFILE_OPTIONS, PROFILES, STDIO, implied_profile)
from .errors import SaecError
from .files import (KIND_AUTH, KIND_EXISTS, KIND_INTERNAL, KIND_INVALID, KIND_IO, KIND_KEY, FileAccessError,
                    check_replaceable, clean_message, failure_kind, image_stream, open_input, write_atomic)
from .limits import DEFAULT_LIMITS

if TYPE_CHECKING:
    from . import batch
    from .codec import EncodeResult
    from .crypto.keys import Key
    from .format.container import Envelope
    from .format.header import Header

__all__ = ["main", "build_parser", "write_atomic", "EXIT_OK", "EXIT_INTERNAL", "EXIT_USAGE", "EXIT_IO",
           "EXIT_INVALID", "EXIT_AUTH", "EXIT_KEY", "EXIT_MIXED", "EXIT_INTERRUPTED"]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_IO = 3
EXIT_INVALID = 4
EXIT_AUTH = 5
EXIT_KEY = 6
EXIT_MIXED = 7
EXIT_INTERRUPTED = 130

PROG = "saec"
LOGISTIC_WARNING = ("the logistic cipher is the paper's chaotic map, not secure; use chacha20 (the default) "
                    "for secrecy")

_EPILOG = """\
-: standard input (IN) or output (-o -), binary and never a terminal:
  cat a.png | saec encode - -o - -k k | saec decode - -o - -k k > b.png
decoded images are written 0666 minus the umask (umask 077 keeps them private);
warnings are one 'saec: warning:' line each, and -q does not silence them.

key: --key-file KEYFILE, --key-id ID ($SAEC_KEYRING/ID.key) or --password, which reads
the environment variable SAEC_PASSWORD if it is set, otherwise prompts on the terminal;
a password is never taken as an argument. With none of them: the key file $SAEC_KEY_FILE.

batch mode (several inputs, a directory input, or -o DIR/): outputs go into the directory
OUT with mirrored names (a/b.png -> OUT/a/b.saec, x.saec -> OUT/x.png); directories give
their images (encode) or .saec files (decode, verify), subdirectories only with --recursive;
hidden files are skipped, symbolic links to directories not followed. A failing file is
reported on its own line and the others go on; a summary line ends the run.
--workers N: N local processes (default: one per core; 1: this process).
--scheduler ADDRESS: a Dask cluster (pip install 'saecodec[dask]') that reaches the same
paths; the key travels as a reference only (--key-file path, --key-id, or --password
meaning the workers' own SAEC_PASSWORD), never in the task graph.

exit codes:
  0    success (batch: no file failed; skipped files are not failures)
  1    internal error
  2    usage error (bad arguments, output exists without --force, conflicting outputs,
       no key source, binary data from or to a terminal, '-' in batch mode)
  3    I/O error (input not found or unreadable, output not writable, or a symbolic link or
       not a regular file: never replaced, even with --force; scheduler unreachable)
  4    invalid input (not a .saec file, corrupt or truncated, unsupported version,
       feature or image, limit exceeded)
  5    authentication failed (wrong key, password or context, or tampered file)
  6    bad key file (missing, unreadable or malformed)
  7    batch: files failed for different reasons (if all failed for one reason: its code)
  130  interrupted
"""


class CliError(Exception):
    """A failure the CLI reports itself, with its exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class _UsageError(Exception):
    """Raised by the argument parser instead of printing usage and exiting."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(self.prog, message)


# ----------------------------------------------------------------------------------------------- helpers


def _display(path: str) -> str:
    """How an input is named in messages: its path quoted, or 'standard input' for ``-``."""
    return "standard input" if path == STDIO else repr(os.fspath(path))


def _display_out(path: str) -> str:
    return "standard output" if path == STDIO else repr(os.fspath(path))


def _warn(message: str) -> None:
    """One line ``saec: warning: ...`` on stderr. Warnings are not silenced by --quiet (which silences
    progress and report lines): they say that something is not as safe as the user may think."""
    text = " ".join(str(message).split())
    try:
        sys.stderr.write(f"{PROG}: warning: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """``warnings.showwarning`` for the command: a library warning (a key file readable by others) is one
    ``saec: warning:`` line, never Python's two lines with a source location."""
    _warn(clean_message(str(message)))


def _describe_os_error(exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None:
        return f"{reason}: {os.fspath(exc.filename)!r}"
    return reason


def _stdin_terminal_check(what: str) -> None:
    """Binary data is never read from a terminal (like gzip): ``-`` must be a pipe or a redirected file."""
    if _stdin_is_tty():
        raise CliError(EXIT_USAGE, f"refusing to read {what} from a terminal: pipe or redirect it into "
                                   "standard input, or name a file")


def _stdout_terminal_check(what: str) -> None:
    if _isatty(sys.stdout):
        raise CliError(EXIT_USAGE, f"refusing to write {what} to a terminal: redirect or pipe standard output, "
                                   "or name a file with -o")


def _read_saec(path: str) -> Envelope:
    """An input .saec file (``-``: standard input), framed while it is read: only as much as its header
    announces, within the limits, so /dev/zero or an endless pipe fails at once. I/O failures are exit 3."""
    from .format.container import read_envelope_from

    if path == STDIO:
        _stdin_terminal_check(".saec data")
    handle = open_input(path)
    try:
        with handle:
            return read_envelope_from(handle, DEFAULT_LIMITS)
    except FileAccessError:
        raise
    except OSError as exc:
        raise CliError(EXIT_IO, f"cannot read {_display(path)}: {exc.strerror or exc}") from None


def _write_stdout(data: bytes) -> None:
    """Binary output on standard output, straight (no temporary file: a pipe has nothing to rename)."""
    sys.stdout.flush()
    stream = getattr(sys.stdout, "buffer", sys.stdout)
    stream.write(data)
    stream.flush()


def _check_stdio(args: argparse.Namespace) -> None:
    """``-`` names standard input or output; it stands alone (one input, no batch mode)."""
    inputs = args.input if isinstance(args.input, list) else [args.input]
    if STDIO in inputs and len(inputs) > 1:
        raise CliError(EXIT_USAGE, "'-' (standard input) must be the only input")
    if getattr(args, "output", None) == STDIO and (len(inputs) > 1 or getattr(args, "recursive", False)
                                                   or any(os.path.isdir(p) for p in inputs if p != STDIO)):
        raise CliError(EXIT_USAGE, "'-o -' (standard output) takes one input file, not batch mode")
    if STDIO in inputs and getattr(args, "password", False) and os.environ.get(PASSWORD_ENV) is None:
        raise CliError(EXIT_USAGE, f"--password with standard input as the input needs ${PASSWORD_ENV}: "
                                   "there is no terminal to prompt on")


def _check_output(path: str, force: bool) -> None:
    """Fail early (before any expensive work) if the output exists or its directory cannot take it. A
    symbolic link or a non-regular file (device, FIFO, directory) is never replaced, even with --force."""
    if os.path.isdir(path) and not os.path.islink(path):
        raise CliError(EXIT_IO, f"cannot write {_display(path)}: it is a directory")
    check_replaceable(path)  # FileAccessError: exit 3
    if os.path.lexists(path) and not force:
        raise CliError(EXIT_USAGE, f"{_display(path)} already exists (use --force to overwrite)")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CliError(EXIT_IO, f"cannot write {_display(path)}: directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CliError(EXIT_IO, f"cannot write {_display(path)}: directory {directory!r} is not writable")


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _read_password(confirm: bool) -> str:
    """The password from SAEC_PASSWORD, else from the terminal (asked twice if ``confirm``)."""
    env = os.environ.get(PASSWORD_ENV)
    if env is not None:
        if not env:
            raise CliError(EXIT_USAGE, f"{PASSWORD_ENV} is set but empty")
        return env
    if not _stdin_is_tty():
        raise CliError(
            EXIT_USAGE, f"--password needs a terminal to prompt on, or the environment variable {PASSWORD_ENV}"
        )
    try:
        first = getpass.getpass("Password: ")
        if not first:
            raise CliError(EXIT_USAGE, "empty password")
        if confirm and getpass.getpass("Repeat password: ") != first:
            raise CliError(EXIT_USAGE, "passwords do not match")
    except EOFError:
        raise CliError(EXIT_USAGE, "no password given (end of input)") from None
    return first


def _check_key_source(args: argparse.Namespace) -> None:
    """Fail early (before reading inputs or prompting) when no key source is given or configured."""
    if args.key_file is None and not args.password and args.key_id is None \
            and not os.environ.get(KEY_FILE_ENV):
        raise CliError(EXIT_USAGE, f"no key: give --key-file, --key-id or --password, or set ${KEY_FILE_ENV}")


def _get_key(args: argparse.Namespace, *, confirm: bool) -> Key:
    """The key itself, for work done on this machine (this process or its local workers)."""
    from . import keyring
    from .crypto.keys import Password, load_key

    if args.key_file is not None:
        return load_key(args.key_file)
    if args.key_id is not None:
        return keyring.resolve_key(args.key_id, allow_password=False)
    if args.password:
        return Password(_read_password(confirm), log2_n=getattr(args, "scrypt_log2n", 17))
    _check_key_source(args)
    return keyring.resolve_key(None, allow_password=False)


def _key_reference(args: argparse.Namespace) -> batch.KeyReference:
    """What a Dask worker needs to find the key itself: a path or a name, never the secret."""
    from . import batch, keyring

    if args.key_file is not None:
        return batch.KeyFile(os.path.abspath(args.key_file))
    if args.key_id is not None:
        return keyring.KeySource(args.key_id, allow_password=False)
    if args.password:
        return batch.PasswordEnv(getattr(args, "scrypt_log2n", 17))
    _check_key_source(args)
    return batch.KeyFile(os.path.abspath(os.environ[KEY_FILE_ENV]))


def _context(args: argparse.Namespace) -> dict[str, Any]:
    """``{"context": TEXT}`` for the codec when --context is given, else nothing."""
    text = getattr(args, "context", None)
    if text is None:
        return {}
    return {"context": text}


class _TerminalLine:
    """A line on a terminal redrawn in place with a carriage return; ``finish`` ends it with a newline."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.drawn = False

    def _draw(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
        self.drawn = True

    def clear(self) -> None:
        """Wipe the line so that a report line can be printed in its place (the next update redraws it)."""
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.drawn = False

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def _bar(fraction: float, width: int) -> str:
    filled = int(round(fraction * width))
    return "#" * filled + "-" * (width - filled)


class _FilesBar(_TerminalLine):
    """One progress bar over the files of a batch: done/total, files per second, time left."""

    WIDTH = 24

    def __init__(self, stream: Any, total: int) -> None:
        super().__init__(stream)
        self.total = total
        self.start = time.monotonic()

    def update(self, done: int) -> None:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = done / elapsed
        left = "?" if done == 0 else _clock((self.total - done) / rate)
        bar = _bar(done / max(self.total, 1), self.WIDTH)
        self._draw(f"\r[{bar}] {done}/{self.total} files  {rate:.2f} files/s  ETA {left}\x1b[K")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _ProgressBar(_TerminalLine):
    """A one-line progress bar on a terminal for one long encode, in percent."""

    WIDTH = 30

    def __init__(self, stream: Any, label: str) -> None:
        super().__init__(stream)
        self.label = label
        self.last = -1
        self.detail = ""

    def __call__(self, fraction: float) -> None:
        try:
            fraction = min(max(float(fraction), 0.0), 1.0)
        except (TypeError, ValueError):
            return
        percent = int(fraction * 100)
        if percent == self.last:
            return
        self.last = percent
        self._redraw(fraction)

    def training_status(self, status: Any) -> None:
        """Training profiles report their step, loss, rate, PSNR and time left (saecodec.model.overfit)."""
        self.detail = (f" step {status.step}/{status.steps}  loss {status.loss:.5f}  {status.bpp:.3f} bpp  "
                       f"{status.psnr:.2f} dB  ETA {_clock(status.seconds_left)}")
        self._redraw(max(self.last, 0) / 100.0)

    def _redraw(self, fraction: float) -> None:
        self._draw(f"\r{self.label} [{_bar(fraction, self.WIDTH)}] {int(fraction * 100):3d}%{self.detail}\x1b[K")


def _output_format(path: str) -> str:
    """The Pillow format name for the output's extension, or a usage error."""
    from PIL import Image

    ext = os.path.splitext(path)[1].lower()
    fmt = Image.registered_extensions().get(ext)
    if not ext or fmt is None or fmt not in Image.SAVE:
        raise CliError(
            EXIT_USAGE,
            f"cannot tell which image format to write from {_display(path)}: use an extension such as .png",
        )
    return fmt


# ----------------------------------------------------------------------------------------------- commands


def _cmd_keygen(args: argparse.Namespace) -> int:
    from .crypto.keys import generate_key

    if args.output == STDIO:  # a text line, so a terminal is allowed (like age-keygen)
        _write_stdout(generate_key().to_text().encode("ascii"))
        return EXIT_OK
    _check_output(args.output, args.force)
    key = generate_key()
    write_atomic(args.output, key.to_text().encode("ascii"), force=args.force, mode=0o600)
    return EXIT_OK


def _is_batch(args: argparse.Namespace) -> bool:
    """Several inputs, a directory input or a directory output: see the module docstring. ``-`` is
    standard input or output, never a directory."""
    _check_stdio(args)
    out = args.output
    if out == STDIO or args.input == [STDIO]:
        return False
    return (len(args.input) > 1 or any(os.path.isdir(path) for path in args.input) or args.recursive
            or os.path.isdir(out) or out.endswith(("/", os.sep)))


_BATCH_ONLY = (("recursive", "--recursive"), ("scheduler", "--scheduler"), ("manifest", "--manifest"),
               ("context_from_path", "--context-from-path"))


def _single_mode_checks(args: argparse.Namespace) -> bool:
    """Refuse batch-only options for one file; True when the run is skipped (--skip-existing, output exists)."""
    given = [flag for attr, flag in _BATCH_ONLY if getattr(args, attr)]
    if given:
        raise CliError(EXIT_USAGE, f"{', '.join(given)} applies to batch mode: give a directory as -o (e.g. -o OUT/)")
    if args.skip_existing and args.output != STDIO and os.path.lexists(args.output):
        if not args.quiet:
            print(f"{_display(args.output)}: exists, skipped", file=sys.stderr)
        return True
    return False


def _cmd_encode(args: argparse.Namespace) -> int:
    from .warmup import announce_compiles  # no Numba import; says so once if kernels compile (cold cache)

    announce_compiles(quiet=args.quiet)
    options = _profile_options(args)
    if _is_batch(args):
        if args.cipher == "logistic":
            _warn(LOGISTIC_WARNING)
        return _run_batch(args, "encode", options)
    args.input = args.input[0]
    _check_key_source(args)
    if _single_mode_checks(args):
        return EXIT_OK
    if args.output == STDIO:
        _stdout_terminal_check(".saec data")
    else:
        _check_output(args.output, args.force)
    if args.input == STDIO:
        _stdin_terminal_check("image data")
    context = _context(args)
    if args.cipher == "logistic":
        _warn(LOGISTIC_WARNING)
    handle = open_input(args.input)  # before the password prompt: a typo in IN fails at once
    try:
        key = _get_key(args, confirm=True)
    except BaseException:
        handle.close()
        raise
    from .codec import encode_with_stats

    bar = _ProgressBar(sys.stderr, "encoding") if not args.quiet and _isatty(sys.stderr) else None
    try:
        with handle:
            source = image_stream(handle, DEFAULT_LIMITS, name=_display(args.input))
            result = encode_with_stats(source, key, cipher=args.cipher, progress=bar, **options, **context)
    finally:
        if bar is not None:
            bar.finish()
    if args.output == STDIO:
        _write_stdout(result.data)
    else:
        write_atomic(args.output, result.data, force=args.force)
    if not args.quiet:  # on stderr, like the progress bar: stdout stays free for machine-readable output
        print(_encode_report(args, result), file=sys.stderr)
    return EXIT_OK


def _profile_options(args: argparse.Namespace) -> dict[str, Any]:
    """Encoder options from the command line, the profile chosen as the API chooses it
    (saecodec.choices.implied_profile); an option of another profile than the chosen one is a usage error."""
    given = {name: getattr(args, name) for options in PROFILE_OPTIONS.values() for name in options
             if getattr(args, name) is not None}
    flag = lambda name: "--" + name.replace("_", "-")  # noqa: E731
    profile = args.profile or implied_profile(given, PROFILE_OPTIONS, DEFAULT_PROFILE)
    wrong = [name for name in given if name not in PROFILE_OPTIONS[profile]]
    if wrong:
        implied_by = [flag(name) for name in given if name not in wrong]
        chosen = (f"--profile {profile}" if args.profile else
                  f"the {profile} profile (chosen by {', '.join(implied_by)})")
        raise CliError(EXIT_USAGE, f"{', '.join(map(flag, wrong))} cannot be used with {chosen}")
    options: dict[str, Any] = {"profile": profile, "strip_metadata": args.strip_metadata}
    options.update({name: getattr(args, name) for name in PROFILE_OPTIONS[profile]})  # None: the API's default
    return options


def _encode_report(args: argparse.Namespace, result: EncodeResult) -> str:
    """One line: what was written and what it achieved (the PSNR of exactly what decode returns)."""
    header = result.header
    options = PROFILE_OPTIONS[result.profile]
    rate = (f"target {args.target_bpp:g} bpp" if args.target_bpp is not None else
            f"target {args.target_psnr:g} dB" if args.target_psnr is not None else
            f"quality {args.quality if args.quality is not None else DEFAULT_QUALITY:g}")
    parts = [rate] if "quality" in options else []  # the rate-controlled profiles
    if "effort" in options:
        parts.append(f"effort {args.effort or 'default'}")
    setting = ", ".join([*parts, header.model.setting_text(header.quant)])
    quality = "lossless" if result.psnr == float("inf") else f"PSNR {result.psnr:.2f} dB"
    return (f"{_display_out(args.output)}: {result.file_bytes} bytes, {result.bpp:.3f} bpp, {quality} "
            f"({result.profile} profile, {setting})")


def _cmd_decode(args: argparse.Namespace) -> int:
    from .warmup import announce_compiles  # no Numba import; says so once if kernels compile (cold cache)

    announce_compiles(quiet=args.quiet)
    if _is_batch(args):
        return _run_batch(args, "decode", {})
    args.input = args.input[0]
    _check_key_source(args)
    if _single_mode_checks(args):
        return EXIT_OK
    if args.format is not None or args.output == STDIO:
        fmt, _, params = OUTPUT_FORMATS[args.format or "png"]
    else:
        fmt, params = _output_format(args.output), {}
    if args.output == STDIO:
        _stdout_terminal_check("image data")
    else:
        _check_output(args.output, args.force)
    context = _context(args)
    envelope = _read_saec(args.input)
    key = _get_key(args, confirm=False)
    from .codec import decode_image
    from .errors import InputError
    from .imaging.io import to_image_file

    decoded = decode_image(envelope.data, key, **context)
    try:  # the image's EXIF, ICC profile and XMP go back into the file where the format takes them
        data = to_image_file(decoded.pixels, fmt, decoded.metadata, **params)
    except InputError as exc:
        raise CliError(EXIT_USAGE, f"{exc}; use .png, which takes every mode") from None
    if args.output == STDIO:
        _write_stdout(data)
    else:  # 0666 minus the umask, like gpg -d and age -d: see "Decoded images" in the module docstring
        write_atomic(args.output, data, force=args.force)
    return EXIT_OK


def _kind_codes() -> dict[str, int]:
    return {KIND_IO: EXIT_IO, KIND_INVALID: EXIT_INVALID, KIND_AUTH: EXIT_AUTH, KIND_KEY: EXIT_KEY,
            KIND_EXISTS: EXIT_USAGE, KIND_INTERNAL: EXIT_INTERNAL}


def _batch_exit_code(codes: Sequence[int]) -> int:
    """0 when nothing failed; the failures' code when they share one; else EXIT_MIXED."""
    distinct = set(codes)
    if not distinct:
        return EXIT_OK
    return distinct.pop() if len(distinct) == 1 else EXIT_MIXED


def _report_line(op: str, result: batch.FileResult) -> str:
    if result.status == "skipped":
        return f"{_display(result.output or result.input)}: exists, skipped"
    if op == "encode":
        quality = "lossless" if result.psnr == float("inf") else f"PSNR {result.psnr:.2f} dB"
        return f"{_display(result.output or '')}: {result.bytes} bytes, {result.bpp:.3f} bpp, {quality}"
    if op == "decode":
        return f"{_display(result.output or '')}: decoded from {_display(result.input)}"
    return f"{_display(result.input)}: OK"


def _run_batch(args: argparse.Namespace, op: str, encode_options: dict[str, Any]) -> int:
    """Plan, then run with one progress bar, a line per failure (and per file unless --quiet), a summary."""
    from . import batch

    kind_codes = _kind_codes()
    scheduler = getattr(args, "scheduler", None)
    workers = getattr(args, "workers", None)
    if scheduler is not None and workers is not None:
        raise CliError(EXIT_USAGE, "--workers and --scheduler exclude each other (a cluster has its own workers)")
    if getattr(args, "context_from_path", False) and args.context is not None:
        raise CliError(EXIT_USAGE, "--context and --context-from-path exclude each other")
    _check_key_source(args)
    force, skip = getattr(args, "force", False), getattr(args, "skip_existing", False)
    quiet = getattr(args, "quiet", False)
    output = getattr(args, "output", None)
    the_plan = batch.plan(op, args.input, output, recursive=args.recursive,
                          image_format=getattr(args, "format", None) or "png", force=force, skip_existing=skip)
    if op != "encode":
        encode_options = {}
    else:
        encode_options = dict(encode_options, cipher=args.cipher)
    options = batch.Options(op, encode_options, getattr(args, "format", None) or "png", force,
                            args.context, getattr(args, "context_from_path", False))
    if not quiet:
        for note in the_plan.notes:
            print(f"{PROG}: note: {note}", file=sys.stderr)
    if scheduler is not None:
        key: Any = _key_reference(args)
    else:
        key = _get_key(args, confirm=op == "encode")
    manifest = None
    manifest_path = getattr(args, "manifest", None)
    if manifest_path is not None:
        manifest = batch.Manifest(manifest_path, force=force, skip_existing=skip)
    bar = _FilesBar(sys.stderr, len(the_plan.jobs)) if not quiet and _isatty(sys.stderr) and the_plan.jobs else None
    done = 0
    codes: list[int] = []

    def on_result(result: batch.FileResult) -> None:
        nonlocal done
        if manifest is not None:
            manifest.write(result)
        if bar is not None:
            bar.clear()
        if result.status == "failed":
            codes.append(kind_codes.get(result.kind or "", EXIT_INTERNAL))
            kind = "internal error" if result.kind == batch.KIND_INTERNAL else "error"
            print(f"{PROG}: {kind}: {_display(result.input)}: {result.error}", file=sys.stderr)
        elif not quiet:
            print(_report_line(op, result), file=sys.stderr if op != "verify" else sys.stdout)
        if result.status != "skipped":
            done += 1
            if bar is not None:
                bar.update(done)

    try:
        if bar is not None:
            bar.update(0)
        summary = batch.run(the_plan, key, options, workers=workers, scheduler=scheduler, on_result=on_result)
    finally:
        if bar is not None:
            bar.finish()
        if manifest is not None:
            manifest.close()
    if not quiet:
        verb = "verified" if op == "verify" else "converted"
        rate = summary.converted / summary.seconds if summary.seconds > 0 else 0.0
        print(f"{PROG}: {summary.converted} {verb}, {summary.failed} failed, {summary.skipped} skipped "
              f"in {summary.seconds:.1f} s ({rate:.2f} files/s)", file=sys.stderr)
    return _batch_exit_code(codes)


def _summary(header: Header, file_bytes: int) -> dict[str, Any]:
    pixels = header.image.height * header.image.width
    return {"file_bytes": file_bytes, "bpp": 8.0 * file_bytes / pixels}


UNAUTHENTICATED_NOTE = ("header read without a key: not authenticated (spec section 7); "
                        "'saec verify' checks the file with its key")


def _cmd_info(args: argparse.Namespace) -> int:
    """One input: as always (a block, or one JSON object). Several: a block per file separated by blank
    lines, or with --json one JSON list of objects that carry their "file"; failures go to stderr."""
    _check_stdio(args)
    if len(args.input) == 1:
        args.input = args.input[0]
        envelope = _read_saec(args.input)  # before the codec's import: a bad input fails at once
        from .codec import inspect

        return _print_info(args.input, len(envelope.data), inspect(envelope.data), args.json, None)
    from .codec import inspect

    codes: list[int] = []
    docs: list[dict[str, Any]] = []
    first = True
    for path in args.input:
        try:
            envelope = _read_saec(path)
            header = inspect(envelope.data)
        except CliError as exc:
            codes.append(exc.code)
            _fail(exc.code, str(exc))
            continue
        except SaecError as exc:
            codes.append(_exit_code_for(exc))
            message = str(exc) if isinstance(exc, FileAccessError) else f"{_display(path)}: {exc}"
            _fail(codes[-1], message)
            continue
        if args.json:
            _print_info(path, len(envelope.data), header, True, docs)
        else:
            if not first:
                print()
            first = False
            _print_info(path, len(envelope.data), header, False, None)
    if args.json:
        print(json.dumps(docs, indent=2))
    return _batch_exit_code(codes)


def _json_doc(header: Header, extra: dict[str, Any]) -> dict[str, Any]:
    """``info --json``: the header as stored (quant.steps in sixteenths of a level, as in the file), with
    derived.step_levels (the same steps in pixel levels, the unit of the text output and of encode's report),
    the file's size and rate, and "authenticated": false, since no key checked any of it."""
    from .format.header import RdQuantInfo

    out: dict[str, Any] = {"authenticated": False, "note": UNAUTHENTICATED_NOTE}
    out.update(header.to_json_dict())
    if isinstance(header.quant, RdQuantInfo) and isinstance(out.get("derived"), dict):
        out["derived"]["step_levels"] = [header.quant.step(i) for i in range(len(header.quant.steps))]
    out.update(extra)
    return out


def _print_info(path: str, file_bytes: int, header: Header, as_json: bool,
                into: list[dict[str, Any]] | None) -> int:
    extra = _summary(header, file_bytes)
    if as_json:
        out = _json_doc(header, extra)
        if into is not None:
            into.append({"file": path, **out})
        else:
            print(json.dumps(out, indent=2))
        return EXIT_OK
    image, crypto = header.image, header.crypto
    kdf = crypto.kdf
    if kdf.name == "scrypt":
        kdf_text = f"scrypt (log2 N={kdf.log2_n}, r={kdf.r}, p={kdf.p}): password"
    else:
        kdf_text = "secret-key (a 256-bit secret key file)"
    lines = [
        f"file:        {'<standard input>' if path == STDIO else path}",
        f"format:      .saec v{header.version[0]}.{header.version[1]}",
        f"image:       {image.width}x{image.height} {image.mode}",
        *header.model.describe(header),
        f"cipher:      {crypto.cipher}",
        f"kdf:         {kdf_text}",
        *(["context:     bound (decoding needs the same --context)"] if crypto.context_bound else []),
        *([f"metadata:    {header.section_length('meta')} bytes of EXIF/ICC/XMP, encrypted"]
          if header.has_metadata else []),
        f"file size:   {extra['file_bytes']} bytes",
        f"bits/pixel:  {extra['bpp']:.3f}",
        "note:        header shown without a key: not authenticated",
    ]
    print("\n".join(lines))
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    """One file: "OK" on stdout as always. Several (or a directory): "'path': OK" per file, failures on
    stderr, a summary line; checked in this process (verifying is cheap next to converting)."""
    _check_stdio(args)
    if len(args.input) > 1 or args.recursive or any(os.path.isdir(p) for p in args.input if p != STDIO):
        args.workers = 1
        return _run_batch(args, "verify", {})
    args.input = args.input[0]
    _check_key_source(args)
    context = _context(args)
    envelope = _read_saec(args.input)
    key = _get_key(args, confirm=False)
    from .codec import verify

    verify(envelope.data, key, **context)
    print("OK")
    return EXIT_OK


# ----------------------------------------------------------------------------------------------- parser


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: expected a non-negative integer") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"seed must be between 0 and 2**63-1, not {value}")
    return value


def _quality(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid quality {text!r}: expected a number from 0 to 100") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"quality must be from 0 to 100, not {text}")
    return value


def _positive(what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: expected a positive number") from None
        if not (value > 0 and value < float("inf")):
            raise argparse.ArgumentTypeError(f"{what} must be a positive number, not {text}")
        return value

    return parse


def _scrypt_log2n(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid scrypt cost {text!r}: expected an integer") from None
    try:
        DEFAULT_LIMITS.check_scrypt(value, 8, 1)
    except SaecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid worker count {text!r}: expected a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"workers must be at least 1, not {value}")
    return value


def _key_id(text: str) -> str:
    from . import keyring

    try:
        keyring.check_key_id(text)
    except SaecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _add_key_options(parser: argparse.ArgumentParser, *, scrypt_cost: bool = False) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--key-file", "-k", metavar="KEYFILE", help="secret key file written by 'saec keygen'")
    group.add_argument("--key-id", type=_key_id, metavar="ID",
                       help=f"the key file ${KEYRING_ENV}/ID.key (resolved on the workers with --scheduler)")
    group.add_argument(
        "--password",
        "-p",
        action="store_true",
        help=f"use a password: from ${PASSWORD_ENV} if set, else prompted on the terminal",
    )
    if scrypt_cost:
        # Advanced: cheaper scrypt for tests; 17 (128 MiB of work memory) is the documented default.
        parser.add_argument("--scrypt-log2n", type=_scrypt_log2n, default=17, metavar="N", help=argparse.SUPPRESS)


def _add_batch_options(parser: argparse.ArgumentParser, op: str) -> None:
    what = "image files" if op == "encode" else ".saec files"
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
    existing.add_argument("--skip-existing", action="store_true",
                          help="leave existing outputs alone and count them as skipped (resume a run)")
    parser.add_argument("-r", "--recursive", action="store_true",
                        help=f"batch: take the {what} of subdirectories too (without it: a directory's own files)")
    parser.add_argument("--workers", "-j", type=_workers, default=None, metavar="N",
                        help="batch: N local processes (default: one per core; 1: this process)")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="batch: run on the Dask cluster at ADDRESS (tcp://host:8786), which must reach the "
                             "same paths; needs --key-file, --key-id or the workers' SAEC_PASSWORD")
    parser.add_argument("--manifest", metavar="FILE.jsonl", default=None,
                        help="batch: a JSON line per file (input, output, status, bytes, bpp, psnr, seconds, "
                             "error); appended to with --skip-existing")
    context = parser.add_mutually_exclusive_group()
    context.add_argument("--context", metavar="TEXT", default=None,
                         help="associated data bound to the file (authenticated, not stored): a file encoded "
                              "with a context decodes only with the same one")
    context.add_argument("--context-from-path", action="store_true",
                         help="batch: bind each file's relative name without extension ('sub/b' for "
                              "DIR/sub/b.png and OUT/sub/b.saec), so a file moved to another name fails")


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog=PROG,
        description="Image compression with a stacked auto-encoder, encrypted and authenticated (.saec).",
        epilog=_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("keygen", help="write a new secret key file", epilog=_EPILOG, formatter_class=formatter)
    p.add_argument("-o", "--output", required=True, metavar="KEYFILE",
                   help="key file to create (mode 0600); -: print the key on standard output")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=_cmd_keygen)

    p = sub.add_parser("encode", help="compress and encrypt an image", epilog=_EPILOG, formatter_class=formatter)
    p.add_argument("input", metavar="IN", nargs="+",
                   help="image files (8-bit L, LA, RGB or RGBA; palette and bilevel converted) or directories; "
                        "-: standard input")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="file to write (one input; -: standard output, never a terminal), or directory (batch "
                        "mode: several inputs, a directory, DIR/)")
    _add_key_options(p, scrypt_cost=True)
    p.add_argument("--strip-metadata", action="store_true",
                   help="drop the image's EXIF, ICC profile and XMP (kept encrypted by default) and turn the "
                        "pixels upright as the EXIF orientation says")
    p.add_argument("--cipher", choices=CIPHERS, default="chacha20",
                   help="payload cipher: chacha20 (default); logistic is the paper's chaotic map, not secure "
                        "(kept for reproduction; prints a warning)")
    p.add_argument("--profile", choices=PROFILES, default=None,
                   help="rd: rate-distortion profile (default); paper: the paper's SAE (implied by --level/--seed); "
                        "overfit: a decoder trained on the image, slow to encode (implied by --effort)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--quality", type=_quality, default=None, metavar="Q",
                        help=f"rd, overfit: quality 0-100, higher is better (default {DEFAULT_QUALITY})")
    target.add_argument("--target-bpp", type=_positive("bits per pixel"), default=None, metavar="B",
                        help="rd: largest file of at most B bits per pixel, every byte counted; overfit: "
                             "steer training toward B")
    target.add_argument("--target-psnr", type=_positive("PSNR"), default=None, metavar="P",
                        help="rd: smallest file whose decoded image has a PSNR of at least P dB; overfit: "
                             "steer training toward P")
    p.add_argument("--chroma", choices=CHROMA_CHOICES, default=None,
                   help="rd: 444 keeps full-resolution colour, 420 halves it, auto (default) takes 420 only at low "
                        "rates where it wins")
    p.add_argument("--level", type=int, choices=(1, 2), default=None,
                   help="paper: 1: 16-unit code, 4:1 (default); 2: 4-unit code, 16:1")
    p.add_argument("--seed", type=_seed, default=None, metavar="N",
                   help="paper, overfit: training seed (default 0)")
    p.add_argument("--effort", choices=EFFORTS, default=None,
                   help="overfit: training effort, fast / default (minutes for a photo) / best (twice default's "
                        "training)")
    _add_batch_options(p, "encode")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar and no report lines (errors and warnings stay)")
    p.set_defaults(func=_cmd_encode)

    p = sub.add_parser("decode", help="decrypt and decompress to an image", epilog=_EPILOG, formatter_class=formatter)
    p.add_argument("input", metavar="IN.saec", nargs="+", help=".saec files or directories; -: standard input")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="image to write, format from the extension (one input; -: standard output, format "
                        "from --format, default png), or directory (batch mode); written with mode 0666 "
                        "minus the umask (set umask 077 to keep decrypted images private)")
    _add_key_options(p)
    p.add_argument("--format", choices=tuple(OUTPUT_FORMATS), default=None,
                   help="image format to write (with -o - or in batch mode: default png; WebP is written "
                        "lossless)")
    _add_batch_options(p, "decode")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar and no report lines (errors and warnings stay)")
    p.set_defaults(func=_cmd_decode)

    p = sub.add_parser("info", help="show a file's header (no key needed)", epilog=_EPILOG, formatter_class=formatter)
    p.add_argument("input", metavar="IN.saec", nargs="+", help=".saec files; -: standard input")
    p.add_argument("--json", action="store_true",
                   help="print the header as JSON, with \"authenticated\": false (several files: a JSON list of "
                        "objects with a 'file' key); quant.steps as stored (sixteenths of a pixel level), "
                        "derived.step_levels in pixel levels")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "verify", help="check a file's authenticity without decoding", epilog=_EPILOG, formatter_class=formatter
    )
    p.add_argument("input", metavar="IN.saec", nargs="+", help=".saec files or directories; -: standard input")
    _add_key_options(p)
    p.add_argument("--context", metavar="TEXT", default=None, help="the context the files were encoded with")
    p.add_argument("-r", "--recursive", action="store_true", help="descend into subdirectories")
    p.add_argument("-q", "--quiet", action="store_true", help="several files: only failures are printed")
    p.set_defaults(func=_cmd_verify)
    return parser


# ----------------------------------------------------------------------------------------------- main


def _exit_code_for(exc: SaecError) -> int:
    batch = sys.modules.get(f"{__package__}.batch")  # a PlanError exists only once batch was imported
    if batch is not None and isinstance(exc, batch.PlanError):
        return EXIT_USAGE
    return _kind_codes()[failure_kind(exc)]  # FormatError, InputError, LimitExceededError ...: EXIT_INVALID


def _fail(code: int, message: str, *, internal: bool = False) -> int:
    kind = "internal error" if internal else "error"
    text = clean_message(str(message)) or "unknown error"
    try:
        sys.stderr.write(f"{PROG}: {kind}: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    return code


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass


def _refuse_password_argument(argv: Sequence[str]) -> None:
    """``--password hunter2``: inputs are many now, so the word would be taken as a file name (and echoed in
    an error). A word right after --password that is neither an option nor an existing path is refused."""
    tokens = [str(a) for a in argv]
    for i, token in enumerate(tokens[:-1]):
        following = tokens[i + 1]
        if token in ("--password", "-p") and not following.startswith("-") and not os.path.lexists(following):
            raise CliError(EXIT_USAGE, "--password takes no value: the password comes from "
                                       f"${PASSWORD_ENV} or the terminal prompt, never from the command line")


_interrupted_once = False


def _on_sigint(signum: int, frame: Any) -> None:
    """The program's SIGINT handler: the first Ctrl-C stops the run cleanly (KeyboardInterrupt: temporary
    files removed, batch workers let finish their writes), a second one leaves at once, quietly, with 130."""
    global _interrupted_once
    if _interrupted_once:
        os._exit(EXIT_INTERRUPTED)
    _interrupted_once = True
    raise KeyboardInterrupt


def _install_sigint_handler() -> None:
    """Only when running as the program, on the main thread, and if SIGINT is not ignored (a background job
    started by a shell ignores it, and must keep doing so)."""
    try:
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, _on_sigint)
    except (ValueError, OSError, AttributeError):  # not the main thread, or no signals here
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``saec`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Everything, including the imports of numpy, Numba and the codec (done lazily by the commands), runs
    inside the handler of KeyboardInterrupt: Ctrl-C at any point after the interpreter has started this
    function is exit 130 with one line, never a traceback. Called without ``argv`` (as the program), it also
    installs the SIGINT handler that makes a second Ctrl-C leave at once."""
    if argv is None:
        _install_sigint_handler()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return _run(argv)
    except KeyboardInterrupt:
        return _fail(EXIT_INTERRUPTED, "interrupted")


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(None if argv is None else list(argv))
        except _UsageError as exc:
            return _fail(EXIT_USAGE, f"{exc} (see '{exc.prog} --help')")
        except SystemExit as exc:  # --help and --version
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
        _refuse_password_argument(argv if argv is not None else sys.argv[1:])
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except CliError as exc:
        return _fail(exc.code, str(exc))
    except SaecError as exc:
        return _fail(_exit_code_for(exc), str(exc))
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_IO
    except OSError as exc:
        return _fail(EXIT_IO, _describe_os_error(exc))
    except MemoryError:
        return _fail(EXIT_INTERNAL, "out of memory", internal=True)
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback
        return _fail(EXIT_INTERNAL, f"{type(exc).__name__}: {exc}", internal=True)
