"""Convert many files at once: plan the jobs, run them (in-process, a local process pool or a Dask cluster).

The ``saec`` command is a thin layer over this module; Python callers use :func:`convert`::

    from saecodec import batch
    summary = batch.convert(["photos/"], "encrypted/", key, recursive=True, quality=75)
    print(summary.converted, summary.failed, summary.skipped)

Planning (:func:`plan`) turns inputs into jobs with output paths before any work is done, so that two
inputs writing one output, or an existing output without ``force``, fail at once (:class:`PlanError`):

* a file given by name is always taken; its output is ``OUT/<name><ext>``;
* a directory contributes its image files (``encode``: by extension, :data:`IMAGE_EXTENSIONS`) or its
  ``.saec`` files (``decode``), named by their path relative to the directory: ``D/a/b.png`` ->
  ``OUT/a/b.saec``. Without ``recursive`` only its direct files are taken (the subdirectories left out are
  reported in :attr:`Plan.notes`). Hidden files and directories (name starting with ``.``) are skipped.
  Symbolic links to files are read like files (the link's name names the output); symbolic links to
  directories are never descended, so a walk never leaves the tree it was given (they are reported too).
  The output directory is never walked into.

Running: every job reads its input, converts it and writes its output atomically (:mod:`saecodec.files`);
a failure is recorded in its :class:`FileResult` and the other jobs go on. Inputs are read with bounds: a
.saec file through the framed reader (:func:`saecodec.format.container.read_envelope_from`: only what its
header announces, so a link to /dev/zero fails at its first bytes), an image lazily by Pillow
(:func:`saecodec.files.image_stream`). An output path holding a symbolic link or anything but a regular
file is never replaced, even with ``force`` (that job fails). ``-`` (standard input or output) has no
place in a batch: :func:`plan` refuses it.

* ``workers=1``: in this process.
* ``workers=N``: a process pool. On Linux it forks (the children inherit the imported, compiled Numba
  kernels instead of loading them again, about 0.5 s per process) when that is safe: when this process
  runs no threads other than saecodec's own idle kernel pool, which a forked child replaces
  (:mod:`saecodec.kernels.threads`); otherwise it uses ``forkserver``/``spawn``. The key reaches the workers
  through the pool's initializer (inherited memory with fork, a pipe otherwise), never a file. Each worker
  gives the kernels ``cores // N`` threads (at least 1), so N workers do not oversubscribe the cores.
* ``scheduler="tcp://host:8786"``: a Dask distributed cluster (``pip install 'saecodec[dask]'``). Paths must
  be valid on the workers (a shared file system). The key is never put in the task graph: pass a reference
  that holds no secret and is resolved on each worker: :class:`KeyFile` (a key file path the workers can
  read), :class:`saecodec.keyring.KeySource` (a key id looked up in the workers' ``$SAEC_KEYRING``) or
  :class:`PasswordEnv` (the workers' own ``$SAEC_PASSWORD``; checked on every worker before any job).
  Each task runs the kernels on one thread: the cluster's task slots are the parallelism.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import IO, Any, Callable, Iterable, Sequence, Union

from .choices import OUTPUT_FORMATS, STDIO
from .codec import decode_image, encode_with_stats, verify
from .imaging.io import to_image_file
from .crypto.keys import Key, Password, SecretKey, load_key
from .errors import InputError, KeyFileError, SaecError
from .files import (KIND_INTERNAL, KIND_IO, FileAccessError, OutputExistsError, check_replaceable, clean_message, describe_os_error, failure_kind,
                    image_stream, write_atomic)
from .format.container import read_envelope_from
from .keyring import PASSWORD_ENV, KeySource
from .limits import DEFAULT_LIMITS

__all__ = [
    "IMAGE_EXTENSIONS",
    "SAEC_EXTENSION",
    "OUTPUT_FORMATS",
    "OPERATIONS",
    "PlanError",
    "Job",
    "Plan",
    "Options",
    "FileResult",
    "Summary",
    "KeyFile",
    "PasswordEnv",
    "KeyReference",
    "Manifest",
    "plan",
    "run",
    "convert",
    "default_workers",
]

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm", ".pbm", ".pnm", ".tga"}
)
SAEC_EXTENSION = ".saec"
# OUTPUT_FORMATS (saecodec.choices): decoded images are written losslessly, in png, tiff, bmp or webp.
OPERATIONS = ("encode", "decode", "verify")



class PlanError(InputError):
    """The inputs cannot be planned: two inputs map to one output, outputs exist, a bad output directory."""


@dataclass(frozen=True)
class Job:
    """One file to convert. ``name`` is its relative output name without extension ('a/b'), '/'-separated."""

    input: str
    output: str | None
    name: str


@dataclass
class Plan:
    op: str
    jobs: list[Job]
    skipped: list[Job] = field(default_factory=list)  # outputs that exist, with skip_existing
    notes: list[str] = field(default_factory=list)  # what a walk deliberately left out


@dataclass(frozen=True)
class Options:
    """Everything a worker needs besides the key; picklable and free of secrets."""

    op: str = "encode"
    encode: dict[str, Any] = field(default_factory=dict)  # keyword arguments of saecodec.encode_with_stats
    image_format: str = "png"
    force: bool = False
    context: str | None = None
    context_from_path: bool = False  # bind each job's relative name (Job.name) as its context

    def context_for(self, job: Job) -> str | None:
        return job.name if self.context_from_path else self.context


@dataclass(frozen=True)
class FileResult:
    """What happened to one job. ``bytes`` is the size of the .saec file (written or read), ``bpp`` its rate."""

    input: str
    output: str | None
    status: str  # "ok", "failed" or "skipped"
    bytes: int | None = None
    bpp: float | None = None
    psnr: float | None = None  # encode only; inf when lossless
    seconds: float | None = None
    error: str | None = None  # one line, never secret
    kind: str | None = None  # failure kind (KIND_*)

    def record(self) -> dict[str, Any]:
        """The manifest line: strict JSON (a lossless PSNR is the string "inf")."""
        out = {k: v for k, v in asdict(self).items() if k != "kind"}
        if out["psnr"] is not None and out["psnr"] == float("inf"):
            out["psnr"] = "inf"
        return out


@dataclass
class Summary:
    results: list[FileResult]
    seconds: float

    def _count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def converted(self) -> int:
        return self._count("ok")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def failures(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]


# ------------------------------------------------------------------------------------------------ keys


@dataclass(frozen=True)
class KeyFile:
    """A key file named by path, read where the job runs (the path must be valid on the workers)."""

    path: str

    def resolve(self) -> Key:
        return load_key(self.path)


@dataclass(frozen=True)
class PasswordEnv:
    """The password in the workers' own ``$SAEC_PASSWORD``; only the scrypt cost for new files travels."""

    log2_n: int = 17

    def resolve(self) -> Key:
        secret = os.environ.get(PASSWORD_ENV)
        if not secret:
            raise KeyFileError(f"${PASSWORD_ENV} is not set on this worker")
        return Password(secret, log2_n=self.log2_n)


KeyReference = Union[KeyFile, PasswordEnv, KeySource]


def _resolve(key: Key | KeyReference) -> Key:
    return key if isinstance(key, (SecretKey, Password)) else key.resolve()


# ------------------------------------------------------------------------------------------------ planning


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _selected(op: str, filename: str) -> bool:
    ext = os.path.splitext(filename)[1].lower()
    return ext in IMAGE_EXTENSIONS if op == "encode" else ext == SAEC_EXTENSION


def _walk(op: str, top: str, recursive: bool, out_real: str | None, notes: list[str]) -> list[tuple[str, str]]:
    """(path, relative path) of the files a directory contributes, sorted; see the module docstring."""
    found: list[tuple[str, str]] = []
    left_out: list[str] = []
    links: list[str] = []
    errors: list[OSError] = []
    for root, dirs, files in os.walk(top, onerror=errors.append, followlinks=False):
        kept = []
        for d in sorted(dirs):
            full = os.path.join(root, d)
            if _is_hidden(d) or (out_real is not None and os.path.realpath(full) == out_real):
                continue
            if os.path.islink(full):
                links.append(full)
            elif recursive:
                kept.append(d)
            else:
                left_out.append(full)
        dirs[:] = kept
        for name in sorted(files):
            if not _is_hidden(name) and _selected(op, name):
                full = os.path.join(root, name)
                found.append((full, os.path.relpath(full, top)))
    if errors:
        raise PlanError(f"cannot list {os.fspath(errors[0].filename)!r}: {describe_os_error(errors[0])}")
    if left_out:
        notes.append(f"{top!r}: {len(left_out)} subdirector{'y' if len(left_out) == 1 else 'ies'} "
                     "not descended (use --recursive)")
    if links:
        notes.append(f"{top!r}: {len(links)} symbolic link(s) to directories not followed")
    return sorted(found, key=lambda item: item[1])


def _output_extension(op: str, image_format: str) -> str | None:
    if op == "encode":
        return SAEC_EXTENSION
    if op == "decode":
        if image_format not in OUTPUT_FORMATS:
            raise PlanError(f"image format must be one of {', '.join(OUTPUT_FORMATS)}, not {image_format!r}")
        return OUTPUT_FORMATS[image_format][1]
    return None


def plan(
    op: str,
    inputs: Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str] | None,
    *,
    recursive: bool = False,
    image_format: str = "png",
    force: bool = False,
    skip_existing: bool = False,
) -> Plan:
    """The jobs for ``inputs``, each with its output in ``output_dir`` (None for ``verify``).

    Raises :class:`PlanError` before any work when two inputs would write the same output, an input would
    be overwritten by an output, or outputs exist and neither ``force`` nor ``skip_existing`` is given.
    A missing input is not a planning error: its job fails alone, like any unreadable file.
    """
    if op not in OPERATIONS:
        raise PlanError(f"operation must be one of {', '.join(OPERATIONS)}, not {op!r}")
    if force and skip_existing:
        raise PlanError("force and skip_existing exclude each other")
    ext = _output_extension(op, image_format)
    if ext is not None and output_dir is None:
        raise PlanError(f"{op} needs an output directory")
    out_dir = None if output_dir is None else os.fspath(output_dir)
    if out_dir == STDIO or any(os.fspath(item) == STDIO for item in inputs):
        raise PlanError("'-' (standard input or output) cannot be used in batch mode: name files or directories")
    if out_dir is not None and os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise PlanError(f"output {out_dir!r} is not a directory")
    out_real = None if out_dir is None else os.path.realpath(out_dir)
    notes: list[str] = []
    pairs: list[tuple[str, str]] = []
    for item in inputs:
        path = os.fspath(item)
        if os.path.isdir(path):
            pairs.extend(_walk(op, path, recursive, out_real, notes))
        else:
            pairs.append((path, os.path.basename(path)))
    jobs: list[Job] = []
    for path, rel in pairs:
        stem = os.path.splitext(rel)[0]
        name = stem.replace(os.sep, "/")
        output = None if ext is None or out_dir is None else os.path.join(out_dir, stem + ext)
        jobs.append(Job(path, output, name))
    if ext is None:
        return Plan(op, jobs, [], notes)
    _check_conflicts(jobs)
    to_run, skipped, existing = [], [], []
    for job in jobs:
        assert job.output is not None
        if os.path.lexists(job.output) and not force:
            (skipped if skip_existing else existing).append(job)
        else:
            to_run.append(job)
    if existing:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise PlanError(f"{existing[0].output!r}{more} already exist{'s' if not more else ''} "
                        "(use --force to overwrite or --skip-existing to resume)")
    return Plan(op, to_run, skipped, notes)


def _check_conflicts(jobs: list[Job]) -> None:
    """Two jobs writing one output, or an output that is also an input, fail the plan."""
    def key(path: str) -> str:
        return os.path.normcase(os.path.realpath(path))

    by_output: dict[str, Job] = {}
    inputs = {key(job.input): job for job in jobs}
    for job in jobs:
        assert job.output is not None
        out = key(job.output)
        if out in by_output:
            other = by_output[out]
            raise PlanError(f"{other.input!r} and {job.input!r} would both be written to {job.output!r}")
        if out in inputs:
            raise PlanError(f"{job.output!r} is both an input and an output")
        by_output[out] = job


# ------------------------------------------------------------------------------------------------ one job


def _read_saec(path: str) -> bytes:
    """A .saec input's bytes, framed while read: never more than its header announces (within the limits)."""
    try:
        with open(path, "rb") as handle:
            return read_envelope_from(handle, DEFAULT_LIMITS).data
    except FileAccessError:
        raise
    except OSError as exc:
        raise FileAccessError(f"cannot read: {describe_os_error(exc)}") from None


def _open_image(path: str) -> IO[bytes]:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise FileAccessError(f"cannot read: {describe_os_error(exc)}") from None


def _prepare_output(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise FileAccessError(f"cannot create directory {directory!r}: {describe_os_error(exc)}") from None


def _context_kwargs(options: Options, job: Job) -> dict[str, Any]:
    context = options.context_for(job)
    return {} if context is None else {"context": context}


def execute(job: Job, options: Options, key: Key) -> FileResult:
    """Run one job; every failure becomes a failed result, only Ctrl-C escapes."""
    start = time.perf_counter()
    try:
        if job.output is not None:  # before the work: a link or device at the output fails at once
            check_replaceable(job.output)
        if options.op == "encode":
            assert job.output is not None
            with _open_image(job.input) as handle:
                source = image_stream(handle, DEFAULT_LIMITS, name="the input")
                result = encode_with_stats(source, key, **options.encode, **_context_kwargs(options, job))
            _prepare_output(job.output)
            write_atomic(job.output, result.data, force=options.force)
            return FileResult(job.input, job.output, "ok", result.file_bytes, result.bpp, result.psnr,
                              time.perf_counter() - start)
        data = _read_saec(job.input)
        if options.op == "decode":
            assert job.output is not None
            decoded = decode_image(data, key, **_context_kwargs(options, job))
            fmt, _, params = OUTPUT_FORMATS[options.image_format]
            image = to_image_file(decoded.pixels, fmt, decoded.metadata, **params)
            _prepare_output(job.output)
            write_atomic(job.output, image, force=options.force)
            pixel_count = decoded.pixels.shape[0] * decoded.pixels.shape[1]
        else:
            header = verify(data, key, **_context_kwargs(options, job))
            pixel_count = header.image.height * header.image.width
        return FileResult(job.input, job.output, "ok", len(data), 8.0 * len(data) / pixel_count, None,
                          time.perf_counter() - start)
    except KeyboardInterrupt:
        raise
    except MemoryError:
        return _failed(job, start, "out of memory", KIND_INTERNAL)
    except SaecError as exc:
        return _failed(job, start, str(exc), failure_kind(exc))
    except OSError as exc:
        return _failed(job, start, describe_os_error(exc), KIND_IO)
    except Exception as exc:  # noqa: BLE001 - a bug in one file must not stop the others
        return _failed(job, start, f"{type(exc).__name__}: {exc}", KIND_INTERNAL)


def _failed(job: Job, start: float, message: str, kind: str) -> FileResult:
    # Inputs are opened here and handed to the codec as file objects; the line names the file, not them.
    text = clean_message(message) or "unknown error"
    return FileResult(job.input, job.output, "failed", seconds=time.perf_counter() - start, error=text, kind=kind)


# ------------------------------------------------------------------------------------------------ runners

ResultCallback = Callable[[FileResult], None]


def default_workers() -> int:
    """The cores this process may run on."""
    count = getattr(os, "process_cpu_count", None)
    if count is not None:
        return max(1, count() or 1)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _fork_is_safe() -> bool:
    """Fork only a process whose other threads are saecodec's idle kernel pool (replaced in the child)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    current = threading.current_thread()
    return all(t is current or t.name.startswith("saecodec") for t in threading.enumerate())


def start_method() -> str:
    """The process start method :func:`run` uses here and now (see the module docstring)."""
    if _fork_is_safe():
        return "fork"
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


_WORKER_KEY: Key | None = None


def _init_worker(key: Key, threads: int) -> None:
    """Pool initializer: keep the key in this worker's memory, size the kernels' threads, leave Ctrl-C to
    the parent (which stops handing out jobs and lets the running ones finish their atomic writes)."""
    global _WORKER_KEY
    _WORKER_KEY = key
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _pool_job(job: Job, options: Options) -> FileResult:
    assert _WORKER_KEY is not None
    return execute(job, options, _WORKER_KEY)


def _run_local(jobs: list[Job], options: Options, key: Key, workers: int, on_result: ResultCallback) -> None:
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            on_result(execute(job, options, key))
        return
    workers = min(workers, len(jobs))
    threads = max(1, default_workers() // workers)
    context = multiprocessing.get_context(start_method())
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(key, threads))
    pending: dict[Future[FileResult], Job] = {}
    try:
        todo = iter(jobs)
        # At most two jobs queued per worker: Ctrl-C then waits for little, and results stream in order.
        for job in todo:
            pending[pool.submit(_pool_job, job, options)] = job
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                on_result(_future_result(future, job))
                nxt = next(todo, None)
                if nxt is not None:
                    pending[pool.submit(_pool_job, nxt, options)] = nxt
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _future_result(future: Future[FileResult], job: Job) -> FileResult:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - a worker that died (out of memory, killed) fails its job
        return FileResult(job.input, job.output, "failed", error=f"worker failed: {type(exc).__name__}: {exc}",
                          kind=KIND_INTERNAL)


def _dask_job(job: Job, options: Options, key_ref: KeyReference) -> FileResult:
    """A task on a Dask worker: resolve the key reference there, run the kernels on this task's thread."""
    import numba

    numba.set_num_threads(1)
    try:
        resolved = _resolve(key_ref)
    except SaecError as exc:
        return _failed(job, time.perf_counter(), str(exc), failure_kind(exc))
    return execute(job, options, resolved)


def _probe_key(key: KeyReference) -> str | None:
    """Run on every worker before any job: None if the key resolves there, else why not (no secret)."""
    try:
        _resolve(key)
    except SaecError as exc:
        return str(exc)
    return None


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise InputError("--scheduler needs Dask: pip install 'saecodec[dask]'") from None
    return distributed


def _run_dask(jobs: list[Job], options: Options, key: Any, address: str, on_result: ResultCallback) -> None:
    if isinstance(key, (SecretKey, Password)):
        raise InputError("a key object is never sent to a cluster: pass batch.KeyFile, keyring.KeySource "
                         "or batch.PasswordEnv, resolved on the workers")
    distributed = _import_distributed()
    try:
        client = distributed.Client(address, timeout="20s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise FileAccessError(f"cannot connect to the Dask scheduler {address!r}: {exc}") from None
    with client:
        problems = {w: p for w, p in client.run(_probe_key, key).items() if p is not None}
        if problems:
            worker, problem = sorted(problems.items())[0]
            raise KeyFileError(f"the key cannot be found on {len(problems)} Dask worker(s), e.g. {worker}: {problem}")
        # ``key_ref``, not ``key``: client.map's own ``key`` names the tasks.
        futures = client.map(_dask_job, jobs, options=options, key_ref=key, pure=False)
        by_future = dict(zip(futures, jobs))
        try:
            for future in distributed.as_completed(futures, loop=client.loop):
                on_result(_future_result(future, by_future[future]))
        finally:
            client.cancel([f for f in futures if not f.done()])


def run(
    plan: Plan,
    key: Key | KeyReference,
    options: Options,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    on_result: ResultCallback | None = None,
) -> Summary:
    """Run a plan's jobs; ``on_result`` sees every result as it arrives (skipped jobs first)."""
    if options.op != plan.op:
        raise InputError(f"options are for {options.op!r}, the plan for {plan.op!r}")
    if workers is not None and workers < 1:
        raise InputError(f"workers must be at least 1, not {workers}")
    start = time.perf_counter()
    results: list[FileResult] = []

    def collect(result: FileResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    for job in plan.skipped:
        collect(FileResult(job.input, job.output, "skipped"))
    if scheduler is not None:
        _run_dask(plan.jobs, options, key, scheduler, collect)
    else:
        _run_local(plan.jobs, options, _resolve(key), workers or default_workers(), collect)
    return Summary(results, time.perf_counter() - start)


# ------------------------------------------------------------------------------------------------ manifest


class Manifest:
    """A JSON-lines record per file, appended as results arrive, so an interrupted run's manifest says what
    was done. An existing manifest is appended to when resuming (``skip_existing``), replaced with ``force``,
    else refused. Fields: input, output, status, bytes, bpp, psnr, seconds, error (null on success)."""

    def __init__(self, path: str | os.PathLike[str], *, force: bool = False, skip_existing: bool = False) -> None:
        self.path = os.fspath(path)
        mode = "a" if skip_existing else "w" if force else "x"
        try:
            self._handle: IO[str] = open(self.path, mode, encoding="utf-8")
        except FileExistsError:
            raise OutputExistsError(
                f"{self.path!r} already exists (use --force to replace it or --skip-existing to append)"
            ) from None
        except OSError as exc:
            raise FileAccessError(f"cannot write {self.path!r}: {describe_os_error(exc)}") from None

    def write(self, result: FileResult) -> None:
        self._handle.write(json.dumps(result.record(), allow_nan=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------------------------------ one call


def convert(
    inputs: Iterable[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str] | None,
    key: Key | KeyReference,
    *,
    op: str = "encode",
    recursive: bool = False,
    image_format: str = "png",
    force: bool = False,
    skip_existing: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    manifest: str | os.PathLike[str] | None = None,
    context: str | None = None,
    context_from_path: bool = False,
    on_result: ResultCallback | None = None,
    **encode_options: Any,
) -> Summary:
    """Plan and run in one call: ``encode_options`` are those of :func:`saecodec.encode` (quality, ...).

    Raises :class:`PlanError` (nothing done) for conflicting or existing outputs; per-file failures are in
    the returned :class:`Summary`, never raised.
    """
    if context is not None and context_from_path:
        raise InputError("give context or context_from_path, not both")
    if encode_options and op != "encode":
        raise InputError(f"{', '.join(encode_options)} only apply to encode")
    the_plan = plan(op, list(inputs), output_dir, recursive=recursive, image_format=image_format, force=force,
                    skip_existing=skip_existing)
    options = Options(op, dict(encode_options), image_format, force, context, context_from_path)
    if manifest is None:
        return run(the_plan, key, options, workers=workers, scheduler=scheduler, on_result=on_result)
    with Manifest(manifest, force=force, skip_existing=skip_existing) as records:
        def record(result: FileResult) -> None:
            records.write(result)
            if on_result is not None:
                on_result(result)

        return run(the_plan, key, options, workers=workers, scheduler=scheduler, on_result=record)
