"""The ``saec`` command: compress, encrypt, decrypt and inspect .saec files.

Subcommands::

    saec keygen -o KEYFILE [--force]
    saec encode IN -o OUT.saec (--key-file KEYFILE | --password) [--cipher chacha20|logistic] [--force] [--quiet]
                               [--profile rd] [--quality Q | --target-bpp B | --target-psnr P] [--chroma auto|444|420]
                               [--profile paper] [--level 1|2] [--seed N]
    saec decode IN.saec -o OUT.png (--key-file KEYFILE | --password) [--force]
    saec info IN.saec [--json]
    saec verify IN.saec (--key-file KEYFILE | --password)
    saec --version

``--password`` never takes the password on the command line: it is read from the environment variable
``SAEC_PASSWORD`` if set, otherwise prompted for on the terminal (twice when encoding). Outputs are written
to a temporary file in the destination directory, synced and renamed into place, so an interrupted or
failed run never leaves a partial file; an existing output is replaced only with ``--force``.

Exit codes:

    0  success
    1  internal error (a bug: please report it)
    2  usage error: bad arguments, output exists without --force, no password source
    3  I/O error: input not found or unreadable, output not writable
    4  invalid input: not a .saec file, corrupt or truncated, unsupported version or feature,
       unsupported image, a limit exceeded
    5  authentication failed: wrong key or password, or the file was tampered with
    6  bad key file: missing, unreadable or malformed key file
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import getpass
import io
import json
import os
import sys
import tempfile
from typing import Any, Callable, NoReturn, Sequence

from . import __version__
from .codec import DEFAULT_PROFILE, PROFILES, EncodeResult, decode, encode_with_stats, inspect, verify
from .crypto.keys import Key, Password, generate_key, load_key
from .errors import AuthenticationError, KeyFileError, SaecError
from .format.header import CIPHERS, Header, ModelInfo, QuantInfo, RdModelInfo, RdQuantInfo
from .profiles.rd import CHROMA_CHOICES, DEFAULT_QUALITY
from .limits import DEFAULT_LIMITS

__all__ = ["main", "EXIT_OK", "EXIT_INTERNAL", "EXIT_USAGE", "EXIT_IO", "EXIT_INVALID", "EXIT_AUTH", "EXIT_KEY"]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_IO = 3
EXIT_INVALID = 4
EXIT_AUTH = 5
EXIT_KEY = 6
EXIT_INTERRUPTED = 130

PASSWORD_ENV = "SAEC_PASSWORD"
PROG = "saec"

_EPILOG = """\
password: --password reads the environment variable SAEC_PASSWORD if it is set,
otherwise prompts on the terminal; it is never taken as an argument.

exit codes:
  0    success
  1    internal error
  2    usage error (bad arguments, output exists without --force, no password source)
  3    I/O error (input not found or unreadable, output not writable)
  4    invalid input (not a .saec file, corrupt or truncated, unsupported version,
       feature or image, limit exceeded)
  5    authentication failed (wrong key or password, or tampered file)
  6    bad key file (missing, unreadable or malformed)
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
    return repr(os.fspath(path))


def _describe_os_error(exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None:
        return f"{reason}: {os.fspath(exc.filename)!r}"
    return reason


def _read_input(path: str) -> bytes:
    """The bytes of an input file; any failure to open or read it is an I/O error (exit 3)."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise CliError(EXIT_IO, f"cannot read {_display(path)}: {exc.strerror or exc}") from None


def _check_output(path: str, force: bool) -> None:
    """Fail early (before any expensive work) if the output exists or its directory cannot take it."""
    if os.path.lexists(path) and not force:
        raise CliError(EXIT_USAGE, f"{_display(path)} already exists (use --force to overwrite)")
    if os.path.isdir(path):
        raise CliError(EXIT_IO, f"cannot write {_display(path)}: it is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CliError(EXIT_IO, f"cannot write {_display(path)}: directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CliError(EXIT_IO, f"cannot write {_display(path)}: directory {directory!r} is not writable")


def _default_mode() -> int:
    """rw for everyone minus the umask: what a plain ``open(path, "w")`` would have created."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes, *, force: bool, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` all at once: temp file in the same directory, fsync, rename.

    Without ``force`` an existing file is never replaced (checked again at rename time, race-free where the
    file system supports hard links). On any failure, including Ctrl-C, the temp file is removed.
    """
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    try:
        tmp = tempfile.NamedTemporaryFile(dir=directory, prefix=f".{base}.", suffix=".tmp", delete=False)
    except OSError as exc:
        raise CliError(EXIT_IO, f"cannot write {_display(path)}: {exc.strerror or exc}") from None
    tmp_name = tmp.name
    try:
        try:
            with tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.chmod(tmp_name, _default_mode() if mode is None else mode)
            if force:
                os.replace(tmp_name, path)
            else:
                _link_no_clobber(tmp_name, path)
        except FileExistsError:
            raise CliError(EXIT_USAGE, f"{_display(path)} already exists (use --force to overwrite)") from None
        except OSError as exc:
            raise CliError(EXIT_IO, f"cannot write {_display(path)}: {exc.strerror or exc}") from None
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _link_no_clobber(tmp_name: str, path: str) -> None:
    """Move tmp_name to path unless path exists (FileExistsError then)."""
    try:
        os.link(tmp_name, path)
    except FileExistsError:
        raise
    except OSError:
        # No hard links here (some network or FAT file systems): best effort check-then-rename.
        if os.path.lexists(path):
            raise FileExistsError(path) from None
        os.replace(tmp_name, path)
        return
    try:
        os.unlink(tmp_name)
    except OSError:
        pass  # the output is in place; a stray temp name is not worth failing for


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


def _get_key(args: argparse.Namespace, *, confirm: bool) -> Key:
    if args.key_file is not None:
        return load_key(args.key_file)
    return Password(_read_password(confirm), log2_n=getattr(args, "scrypt_log2n", 17))


class _ProgressBar:
    """A one-line progress bar on a terminal, redrawn with a carriage return."""

    WIDTH = 30

    def __init__(self, stream: Any, label: str) -> None:
        self.stream = stream
        self.label = label
        self.last = -1
        self.drawn = False

    def __call__(self, fraction: float) -> None:
        try:
            fraction = min(max(float(fraction), 0.0), 1.0)
        except (TypeError, ValueError):
            return
        percent = int(fraction * 100)
        if percent == self.last:
            return
        self.last = percent
        filled = int(round(fraction * self.WIDTH))
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {percent:3d}%")
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


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
    _check_output(args.output, args.force)
    key = generate_key()
    write_atomic(args.output, key.to_text().encode("ascii"), force=args.force, mode=0o600)
    return EXIT_OK


def _cmd_encode(args: argparse.Namespace) -> int:
    _check_output(args.output, args.force)
    try:
        handle = open(args.input, "rb")  # before the password prompt: a typo in IN fails at once
    except OSError as exc:
        raise CliError(EXIT_IO, f"cannot read {_display(args.input)}: {exc.strerror or exc}") from None
    try:
        key = _get_key(args, confirm=True)
    except BaseException:
        handle.close()
        raise
    options = _profile_options(args)
    bar = _ProgressBar(sys.stderr, "encoding") if not args.quiet and _isatty(sys.stderr) else None
    try:
        with handle:
            result = encode_with_stats(handle, key, cipher=args.cipher, progress=bar, **options)
    finally:
        if bar is not None:
            bar.finish()
    write_atomic(args.output, result.data, force=args.force)
    if not args.quiet:  # on stderr, like the progress bar: stdout stays free for machine-readable output
        print(_encode_report(args, result), file=sys.stderr)
    return EXIT_OK


def _profile_options(args: argparse.Namespace) -> dict[str, Any]:
    """Encoder options from the command line; options of the other profile are a usage error."""
    rd_given = [flag for flag, value in (("--quality", args.quality), ("--target-bpp", args.target_bpp),
                                         ("--target-psnr", args.target_psnr), ("--chroma", args.chroma))
                if value is not None]
    paper_given = [flag for flag, value in (("--level", args.level), ("--seed", args.seed)) if value is not None]
    profile = args.profile or ("paper" if paper_given else DEFAULT_PROFILE)
    wrong = paper_given if profile == "rd" else rd_given
    if wrong:
        chosen = f"--profile {profile}" if args.profile else f"the {profile} profile (chosen by {', '.join(paper_given)})"
        raise CliError(EXIT_USAGE, f"{', '.join(wrong)} cannot be used with {chosen}")
    if profile == "paper":
        return {"profile": "paper", "level": args.level or 1, "seed": args.seed or 0}
    return {"profile": "rd", "quality": args.quality, "target_bpp": args.target_bpp,
            "target_psnr": args.target_psnr, "chroma": args.chroma}


def _encode_report(args: argparse.Namespace, result: EncodeResult) -> str:
    """One line: what was written and what it achieved (the PSNR of exactly what decode returns)."""
    header = result.header
    if result.profile == "rd":
        assert isinstance(header.quant, RdQuantInfo) and isinstance(header.model, RdModelInfo)
        setting = f"step {header.quant.step(0):g}, chroma {header.model.chroma}"
        if args.target_bpp is not None:
            setting = f"target {args.target_bpp:g} bpp, " + setting
        elif args.target_psnr is not None:
            setting = f"target {args.target_psnr:g} dB, " + setting
        else:
            setting = f"quality {args.quality if args.quality is not None else DEFAULT_QUALITY:g}, " + setting
    else:
        assert isinstance(header.model, ModelInfo)
        setting = f"level {header.model.level}"
    quality = "lossless" if result.psnr == float("inf") else f"PSNR {result.psnr:.2f} dB"
    return (f"{_display(args.output)}: {result.file_bytes} bytes, {result.bpp:.3f} bpp, {quality} "
            f"({result.profile} profile, {setting})")


def _cmd_decode(args: argparse.Namespace) -> int:
    from .imaging.io import to_pil

    fmt = _output_format(args.output)
    _check_output(args.output, args.force)
    data = _read_input(args.input)
    key = _get_key(args, confirm=False)
    pixels = decode(data, key)
    buffer = io.BytesIO()
    image = to_pil(pixels)
    try:
        image.save(buffer, format=fmt)
    except (OSError, ValueError, KeyError) as exc:
        raise CliError(
            EXIT_USAGE, f"cannot save a {image.mode} image as {fmt}: {exc} (use .png, which takes every mode)"
        ) from None
    write_atomic(args.output, buffer.getvalue(), force=args.force)
    return EXIT_OK


def _summary(header: Header, file_bytes: int) -> dict[str, Any]:
    pixels = header.image.height * header.image.width
    return {"file_bytes": file_bytes, "bpp": 8.0 * file_bytes / pixels}


def _cmd_info(args: argparse.Namespace) -> int:
    data = _read_input(args.input)
    header = inspect(data)
    extra = _summary(header, len(data))
    if args.json:
        out = header.to_json_dict()
        out.update(extra)
        print(json.dumps(out, indent=2))
        return EXIT_OK
    image, crypto = header.image, header.crypto
    kdf = crypto.kdf
    if kdf.name == "scrypt":
        kdf_text = f"scrypt (log2 N={kdf.log2_n}, r={kdf.r}, p={kdf.p}): password"
    else:
        kdf_text = "secret-key (a 256-bit secret key file)"
    lines = [
        f"file:        {args.input}",
        f"format:      .saec v{header.version[0]}.{header.version[1]}",
        f"image:       {image.width}x{image.height} {image.mode}",
        *_model_lines(header),
        f"cipher:      {crypto.cipher}",
        f"kdf:         {kdf_text}",
        f"file size:   {extra['file_bytes']} bytes",
        f"bits/pixel:  {extra['bpp']:.3f}",
        "note:        header shown without a key: not authenticated",
    ]
    print("\n".join(lines))
    return EXIT_OK


def _model_lines(header: Header) -> list[str]:
    model, quant = header.model, header.quant
    if isinstance(model, RdModelInfo) and isinstance(quant, RdQuantInfo):
        steps = ", ".join(f"{name} {quant.step(i):g}" for i, name in enumerate(model.plane_names))
        colour = f"ycbcr {model.chroma}" if model.colour == "ycbcr" else model.colour
        return [
            f"profile:     rd ({colour}, {model.transform} {model.block}x{model.block} stock weights, "
            f"{quant.latent} entropy coder)",
            f"quantiser:   steps {steps}; deblocking {model.deblock}/16 of the step",
        ]
    assert isinstance(model, ModelInfo) and isinstance(quant, QuantInfo)
    ratio = model.layers[0] / model.latent_units
    return [
        "profile:     paper (the paper's stacked auto-encoder, trained on this image)",
        f"level:       {model.level} ({model.latent_units} of {model.layers[0]} units per "
        f"{model.block}x{model.block} block, nominal {ratio:g}:1)",
        f"model:       layers {'-'.join(str(u) for u in model.layers)}, {model.models} model(s), "
        f"weights {quant.weights}",
    ]


def _cmd_verify(args: argparse.Namespace) -> int:
    data = _read_input(args.input)
    key = _get_key(args, confirm=False)
    verify(data, key)
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


def _add_key_options(parser: argparse.ArgumentParser, *, scrypt_cost: bool = False) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--key-file", "-k", metavar="KEYFILE", help="secret key file written by 'saec keygen'")
    group.add_argument(
        "--password",
        "-p",
        action="store_true",
        help=f"use a password: from ${PASSWORD_ENV} if set, else prompted on the terminal",
    )
    if scrypt_cost:
        # Advanced: cheaper scrypt for tests; 17 (128 MiB of work memory) is the documented default.
        parser.add_argument("--scrypt-log2n", type=_scrypt_log2n, default=17, metavar="N", help=argparse.SUPPRESS)


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
    p.add_argument("-o", "--output", required=True, metavar="KEYFILE", help="key file to create (mode 0600)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=_cmd_keygen)

    p = sub.add_parser("encode", help="compress and encrypt an image", epilog=_EPILOG, formatter_class=formatter)
    p.add_argument("input", metavar="IN", help="image file (8-bit L, LA, RGB or RGBA; palette and bilevel converted)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.saec", help="file to write")
    _add_key_options(p, scrypt_cost=True)
    p.add_argument("--cipher", choices=CIPHERS, default="chacha20", help="payload cipher (default chacha20)")
    p.add_argument("--profile", choices=PROFILES, default=None,
                   help="rd: rate-distortion profile (default); paper: the paper's SAE (implied by --level/--seed)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--quality", type=_quality, default=None, metavar="Q",
                        help=f"rd: quality 0-100, higher is better (default {DEFAULT_QUALITY})")
    target.add_argument("--target-bpp", type=_positive("bits per pixel"), default=None, metavar="B",
                        help="rd: largest file of at most B bits per pixel, every byte counted")
    target.add_argument("--target-psnr", type=_positive("PSNR"), default=None, metavar="P",
                        help="rd: smallest file whose decoded image has a PSNR of at least P dB")
    p.add_argument("--chroma", choices=CHROMA_CHOICES, default=None,
                   help="rd: 444 keeps full-resolution colour, 420 halves it, auto (default) takes 420 only at low "
                        "rates where it wins")
    p.add_argument("--level", type=int, choices=(1, 2), default=None,
                   help="paper: 1: 16-unit code, 4:1 (default); 2: 4-unit code, 16:1")
    p.add_argument("--seed", type=_seed, default=None, metavar="N", help="paper: training seed (default 0)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no report line")
    p.set_defaults(func=_cmd_encode)

    p = sub.add_parser("decode", help="decrypt and decompress to an image", epilog=_EPILOG, formatter_class=formatter)
    p.add_argument("input", metavar="IN.saec", help=".saec file")
    p.add_argument(
        "-o", "--output", required=True, metavar="OUT.png", help="image to write; format from the extension (PNG)"
    )
    _add_key_options(p)
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(func=_cmd_decode)

    p = sub.add_parser("info", help="show a file's header (no key needed)", epilog=_EPILOG, formatter_class=formatter)
    p.add_argument("input", metavar="IN.saec", help=".saec file")
    p.add_argument("--json", action="store_true", help="print the header as JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "verify", help="check a file's authenticity without decoding", epilog=_EPILOG, formatter_class=formatter
    )
    p.add_argument("input", metavar="IN.saec", help=".saec file")
    _add_key_options(p)
    p.set_defaults(func=_cmd_verify)
    return parser


# ----------------------------------------------------------------------------------------------- main


def _exit_code_for(exc: SaecError) -> int:
    if isinstance(exc, AuthenticationError):
        return EXIT_AUTH
    if isinstance(exc, KeyFileError):
        return EXIT_KEY
    return EXIT_INVALID  # FormatError, InputError, LimitExceededError and any other SaecError


def _fail(code: int, message: str, *, internal: bool = False) -> int:
    kind = "internal error" if internal else "error"
    text = " ".join(str(message).split()) or "unknown error"
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``saec`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(None if argv is None else list(argv))
        except _UsageError as exc:
            return _fail(EXIT_USAGE, f"{exc} (see '{exc.prog} --help')")
        except SystemExit as exc:  # --help and --version
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except CliError as exc:
        return _fail(exc.code, str(exc))
    except SaecError as exc:
        return _fail(_exit_code_for(exc), str(exc))
    except KeyboardInterrupt:
        return _fail(EXIT_INTERRUPTED, "interrupted")
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_IO
    except OSError as exc:
        return _fail(EXIT_IO, _describe_os_error(exc))
    except MemoryError:
        return _fail(EXIT_INTERNAL, "out of memory", internal=True)
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback
        return _fail(EXIT_INTERNAL, f"{type(exc).__name__}: {exc}", internal=True)
