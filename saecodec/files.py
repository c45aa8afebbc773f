"""Reading inputs and writing outputs safely, shared by the ``saec`` command and the batch engine.

An output is written to a temporary file in its own directory, synced and renamed into place, so that a
crash, a Ctrl-C or a failed encode never leaves a partial file under the final name, and an existing file is
replaced only when asked. Failures are :class:`FileAccessError` (a :class:`~saecodec.errors.SaecError`), so
callers of the library never see a bare ``OSError`` from here.
"""

from __future__ import annotations

import os
import tempfile

from .errors import SaecError

__all__ = ["FileAccessError", "OutputExistsError", "read_bytes", "write_atomic", "describe_os_error"]


class FileAccessError(SaecError, OSError):
    """An input cannot be read or an output cannot be written (the CLI's exit code 3)."""


class OutputExistsError(FileAccessError, FileExistsError):
    """The output exists and replacing it was not asked for (the CLI's exit code 2: use --force)."""


def describe_os_error(exc: OSError) -> str:
    """The reason of an ``OSError`` without a traceback's worth of detail."""
    return exc.strerror or str(exc) or type(exc).__name__


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
    file system supports hard links). On any failure, including Ctrl-C, the temp file is removed.
    """
    path = os.fspath(path)
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
            if force:
                os.replace(tmp_name, path)
            else:
                _link_no_clobber(tmp_name, path)
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
