"""Reading inputs and writing outputs safely, shared by the ``saec`` command and the batch engine.

An output is written to a temporary file in its own directory, synced and renamed into place, so that a
crash, a Ctrl-C or a failed encode never leaves a partial file under the final name, and an existing file is
replaced only when asked. Only a regular file is ever replaced: a symbolic link, a device, a FIFO or a
directory at the output path is refused even with ``force`` (a rename would replace the link or device
node itself: as root, ``-o /dev/stdout --force`` once turned /dev/stdout into a regular file). The new file
gets the mode a plain ``open(path, "w")`` would give (0666 minus the umask, like cp, gzip, ``gpg -d`` and
``age -d``) unless a mode is given (key files: 0600).

Inputs are read with bounds: a .saec file through the framed reader (only what its header announces), an
image lazily by Pillow when its file can seek, otherwise (a pipe, standard input) up to
``Limits.max_file_bytes`` after its first bytes were seen to start an image.

Failures are :class:`FileAccessError` (a :class:`~saecodec.errors.SaecError`), so callers of the library
never see a bare ``OSError`` from here.
"""

from __future__ import annotations

import io
import os
import re
import stat
import sys
import tempfile
from typing import BinaryIO

from .errors import AuthenticationError, InputError, KeyFileError, LimitExceededError, SaecError
from .limits import DEFAULT_LIMITS, Limits

__all__ = ["FileAccessError", "OutputExistsError", "read_bytes", "write_atomic", "describe_os_error",
           "check_replaceable", "open_input", "image_stream", "clean_message", "STDIN_NAME"]

STDIN_NAME = "-"
_SNIFF_BYTES = 1 << 16  # an image's signature and header are in its first 64 KiB


class FileAccessError(SaecError, OSError):
    """An input cannot be read or an output cannot be written (the CLI's exit code 3)."""


class OutputExistsError(FileAccessError, FileExistsError):
    """The output exists and replacing it was not asked for (the CLI's exit code 2: use --force)."""


# Failure kinds, one per way a file can fail; the CLI maps each to its exit code, the batch engine records it.
KIND_IO, KIND_INVALID, KIND_AUTH, KIND_KEY, KIND_EXISTS, KIND_INTERNAL = (
    "io", "invalid", "auth", "key", "exists", "internal")


def failure_kind(exc: BaseException) -> str:
    """The failure kind of an exception: the one place that sorts errors for exit codes."""
    if isinstance(exc, OutputExistsError):
        return KIND_EXISTS
    if isinstance(exc, (FileAccessError, OSError)):
        return KIND_IO
    if isinstance(exc, AuthenticationError):
        return KIND_AUTH
    if isinstance(exc, KeyFileError):
        return KIND_KEY
    if isinstance(exc, SaecError):
        return KIND_INVALID
    return KIND_INTERNAL


def describe_os_error(exc: OSError) -> str:
    """The reason of an ``OSError`` without a traceback's worth of detail."""
    return exc.strerror or str(exc) or type(exc).__name__


_FILE_REPR = re.compile(r"<_io\.[A-Za-z]+ (?:object at 0x[0-9a-fA-F]+|name=('[^']*'|\"[^\"]*\"|[^>]*))>")


def clean_message(message: str) -> str:
    """An error's text on one line, a file object's repr replaced by the file's quoted name (or dropped
    for an in-memory buffer or a bare descriptor)."""
    def name(match: re.Match[str]) -> str:
        quoted = match.group(1)
        return quoted if quoted and quoted[0] in "'\"" else ""

    return " ".join(_FILE_REPR.sub(name, str(message)).split())


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def check_replaceable(path: str | os.PathLike[str]) -> None:
    """Refuse an output path holding a symbolic link or anything but a regular file (FileAccessError), with
    or without ``force``: renaming onto it would replace the link or the device node itself."""
    name = os.fspath(path)
    try:
        info = os.lstat(name)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise FileAccessError(f"cannot write {name!r}: {describe_os_error(exc)}") from None
    if stat.S_ISLNK(info.st_mode):
        raise FileAccessError(f"cannot write {name!r}: it is a symbolic link, which saec never replaces "
                              "(name the file itself, or remove the link)")
    if not stat.S_ISREG(info.st_mode):
        kind = next((text for test, text in _KINDS if test(info.st_mode)), "not a regular file")
        raise FileAccessError(f"cannot write {name!r}: it is {kind}; saec replaces only regular files "
                              "(use -o - to write to standard output)")


def open_input(path: str | os.PathLike[str]) -> BinaryIO:
    """An input opened for binary reading; ``-`` is standard input (a duplicate of its descriptor, so that
    closing it leaves ``sys.stdin`` alone). A FIFO is opened like a file (its writer will come); a missing
    or unreadable path or a directory is a :class:`FileAccessError`."""
    name = os.fspath(path)
    try:
        if name == STDIN_NAME:
            return os.fdopen(os.dup(sys.stdin.fileno()), "rb")
        handle = open(name, "rb")
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation) as exc:
        what = "standard input" if name == STDIN_NAME else repr(name)
        reason = describe_os_error(exc) if isinstance(exc, OSError) else "not available"
        raise FileAccessError(f"cannot read {what}: {reason}") from None
    return handle


def _seekable(handle: BinaryIO) -> bool:
    try:
        return bool(handle.seekable())
    except (OSError, ValueError, AttributeError):
        return False


def _could_be_image(prefix: bytes) -> bool:
    """Whether Pillow might read an image that starts with ``prefix``: a format's signature matches, or
    Pillow identifies the prefix itself (formats without a signature, such as TGA)."""
    from PIL import Image, UnidentifiedImageError

    Image.init()
    for _, accept in Image.OPEN.values():
        try:
            if accept is not None and accept(prefix[:16] if len(prefix) >= 16 else prefix):
                return True
        except Exception:  # noqa: BLE001 - a plugin's check failing is a "no"
            continue
    try:
        with Image.open(io.BytesIO(prefix)):
            return True
    except UnidentifiedImageError:
        return False
    except Exception:  # noqa: BLE001 - identified but cut short: let the whole read decide
        return True


def image_stream(handle: BinaryIO, limits: Limits = DEFAULT_LIMITS, *, name: str = "input") -> BinaryIO:
    """A seekable stream of an image for Pillow, which then reads only what it needs.

    A handle that can seek (a regular file, even a huge one, or a device such as /dev/zero) is returned as
    it is. One that cannot (a pipe, a FIFO, standard input) would be read whole by Pillow: its first bytes
    must look like an image (else :class:`~saecodec.errors.InputError` at once, so an endless stream of
    zeros fails in a moment), then it is read up to ``limits.max_file_bytes``
    (:class:`~saecodec.errors.LimitExceededError` beyond) into memory.
    """
    if _seekable(handle):
        return handle
    pieces: list[bytes] = []
    total, sniffed = 0, False
    bound = limits.max_file_bytes
    try:
        while True:
            piece = handle.read(min(1 << 20, bound + 1 - total))
            if not piece:
                break
            pieces.append(piece)
            total += len(piece)
            if not sniffed and total >= _SNIFF_BYTES:
                sniffed = True
                if not _could_be_image(b"".join(pieces)):
                    raise InputError(f"cannot read image: {name} is not in a known image format")
            if total > bound:
                raise LimitExceededError(f"{name} is longer than the limit of {bound} bytes "
                                         "(raise Limits.max_file_bytes to accept it)")
    except OSError as exc:
        raise FileAccessError(f"cannot read {name}: {describe_os_error(exc)}") from None
    if not total:
        raise InputError(f"cannot read image: {name} is empty")
    return io.BytesIO(b"".join(pieces))


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of an input file; any failure to open or read it is a :class:`FileAccessError`."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise FileAccessError(f"cannot read {os.fspath(path)!r}: {describe_os_error(exc)}") from None


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


def write_atomic(path: str | os.PathLike[str], data: bytes, *, force: bool, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` all at once: temp file in the same directory, fsync, rename.

    Without ``force`` an existing file is never replaced (checked again at rename time, race-free where the
    file system supports hard links). A symbolic link or a non-regular file at ``path`` is never replaced,
    with or without ``force`` (:func:`check_replaceable`). On any failure, including Ctrl-C, the temp file
    is removed. The file's mode is ``mode``, or 0666 minus the umask.
    """
    path = os.fspath(path)
    check_replaceable(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    try:
        tmp = tempfile.NamedTemporaryFile(dir=directory, prefix=f".{base}.", suffix=".tmp", delete=False)
    except OSError as exc:
        raise FileAccessError(f"cannot write {path!r}: {describe_os_error(exc)}") from None
    tmp_name = tmp.name
    try:
        try:
            with tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.chmod(tmp_name, _default_mode() if mode is None else mode)
            check_replaceable(path)  # again, just before the rename: the path may have changed meanwhile
            if force:
                os.replace(tmp_name, path)
            else:
                _link_no_clobber(tmp_name, path)
        except FileAccessError:
            raise
        except FileExistsError:
            raise OutputExistsError(f"{path!r} already exists (use --force to overwrite)") from None
        except OSError as exc:
            raise FileAccessError(f"cannot write {path!r}: {describe_os_error(exc)}") from None
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise
    _fsync_directory(directory)
