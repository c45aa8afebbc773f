"""Say so when Numba compiles saecodec's kernels (the first run after an install), and compile them ahead.

Every kernel is ``@numba.njit(cache=True)``: the first call of each compiles it (the rd profile's encode and
decode kernels take about 4 s of CPU, the paper profile's about 10 s) and caches the machine code on disk
(``__pycache__`` next to the source, or ``$NUMBA_CACHE_DIR``); later processes load it in milliseconds. On a
terminal the first run would look like a hang, so the ``saec`` command calls :func:`announce_compiles`,
which prints ``saec: compiling kernels, once per install...`` on stderr once, when the first compilation
actually starts. Numba reports a compilation only on a cache miss, so a warm cache prints nothing and costs
nothing.

The library itself stays silent; :func:`on_first_compile` is the hook for applications that want to say
something of their own, and :func:`warm_up` compiles (or loads) what a profile and cipher need, e.g. while
building a container image.

This module does not import Numba (``saec --help`` and usage errors stay fast): a hook asked for before
Numba is imported is registered when :mod:`saecodec.kernels` is imported, before any kernel can run.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable, Iterable

__all__ = ["MESSAGE", "announce_compiles", "on_first_compile", "warm_up"]

MESSAGE = "saec: compiling kernels, once per install..."

_lock = threading.Lock()
_callbacks: list[Callable[[], None]] = []
_listener: Any = None  # the numba.core.event listener, once registered
_fired = False
_shared: Any = None  # a multiprocessing.Value: forked batch workers report once between them


def on_first_compile(callback: Callable[[], None]) -> None:
    """Call ``callback()`` once, when Numba starts compiling a saecodec kernel in this process (a cold cache).

    With a warm cache it is never called. Processes forked after this call (``saec --workers N`` on Linux)
    share the "once": the first of them to compile calls it, the others do not. The callback runs on the
    thread that compiles, which may be one of saecodec's worker threads; exceptions it raises are ignored.
    """
    global _shared
    with _lock:
        _callbacks.append(callback)
        if _shared is None:
            try:
                import multiprocessing

                _shared = multiprocessing.Value("b", 0)
            except Exception:  # noqa: BLE001 - no POSIX semaphores here: then "once" is per process
                _shared = False
    if "numba" in sys.modules:
        _register()


def announce_compiles(stream: Any = None, *, quiet: bool = False) -> None:
    """The ``saec`` command's notice: :data:`MESSAGE` on ``stream`` (stderr) once, when kernels compile.

    Nothing with ``quiet``. On a terminal the line first wipes a progress bar drawn on it (the bar redraws
    itself on the next line)."""
    if quiet:
        return

    def say() -> None:
        out = stream if stream is not None else sys.stderr
        wipe = "\r\x1b[K" if _isatty(out) else ""
        out.write(f"{wipe}{MESSAGE}\n")
        out.flush()

    on_first_compile(say)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _fire() -> None:
    global _fired
    with _lock:
        if _fired:
            return
        _fired = True
        callbacks = list(_callbacks)
        shared = _shared
    if shared:
        with shared.get_lock():
            if shared.value:
                return
            shared.value = 1
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - a notice must never break a compilation
            pass


def _register() -> None:
    """Register the Numba listener (once; only when a hook was asked for, so that Numba is imported anyway)."""
    global _listener
    with _lock:
        if _listener is not None or not _callbacks:
            return
        from numba.core import event

        class _CompileListener(event.Listener):
            def on_start(self, ev: Any) -> None:
                dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
                module = getattr(getattr(dispatcher, "py_func", None), "__module__", None) or ""
                if module.startswith("saecodec."):
                    _fire()

            def on_end(self, ev: Any) -> None:
                pass

        _listener = _CompileListener()
        event.register("numba:compile", _listener)


def _after_fork_in_child() -> None:
    """A forked child starts with a free lock (the parent's may have been held by another thread)."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def warm_up(profiles: Iterable[str] = ("rd",), ciphers: Iterable[str] = ("chacha20",)) -> None:
    """Compile (or load from the cache) the kernels that encoding and decoding with these profiles and
    ciphers use, by encoding and decoding a tiny image: e.g. ``python -c "import saecodec.warmup as w;
    w.warm_up(('rd', 'paper'), ('chacha20', 'logistic'))"`` while building an image, so its first ``saec``
    run starts at once."""
    import numpy as np

    from . import codec
    from .crypto.keys import generate_key

    key = generate_key()
    rows = np.arange(24 * 40 * 3, dtype=np.uint32).reshape(24, 40, 3)
    pixels = ((rows * 2654435761) >> 24).astype(np.uint8)  # not flat: every coder path runs
    for profile in profiles:
        options: list[dict[str, Any]] = [{}]
        if profile == "rd":
            options += [{"chroma": "420"}, {"chroma": "444"}]
        for cipher in ciphers:
            for image in (pixels, pixels[:, :, 0]):
                for extra in options if image.ndim == 3 else [{}]:
                    codec.decode(codec.encode(image, key, profile=profile, cipher=cipher, **extra), key)
