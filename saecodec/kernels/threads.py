"""One process-wide pool of worker threads for GIL-free Numba kernels, and the two ways work is handed out.

No kernel in saecodec is ``parallel=True``: Numba's threading layers are either not fork-safe (GNU OpenMP
terminates a forked child) or not thread-safe (workqueue aborts on concurrent launches), and a library
cannot choose its users' threading layer. Instead kernels are compiled ``nogil=True`` and split into
independent work items that the calling thread and the pool's threads take one at a time. Every item writes
its own outputs, so results never depend on the number of threads or on which thread ran what. After a fork
the child starts a fresh pool (the parent's threads do not exist there).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

import numba

__all__ = ["run_blocks", "map_items"]

T = TypeVar("T")

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 1) - 1), thread_name_prefix="saecodec")
        return _POOL


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: start a new pool when one is needed."""
    global _POOL, _POOL_LOCK
    _POOL = None
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def run_blocks(kernel: Callable[..., Any], n: int, grain: int, args: tuple) -> None:
    """Call ``kernel(*args, first, last)`` for consecutive ranges of at most `grain` rows covering 0..n.

    The ranges are handed out one at a time to the calling thread and up to numba.get_num_threads() - 1
    pool threads (the kernels release the GIL). A thread that is slow or descheduled, because another
    process keeps a core busy, simply takes fewer ranges, and idle threads wait on a lock instead of
    spinning. The calling thread works too and only waits for ranges already started, so a kernel may itself
    call ``run_blocks`` without deadlocking the pool.
    """
    ranges = [(s, min(n, s + grain)) for s in range(0, n, grain)]
    helpers = min(numba.get_num_threads(), len(ranges)) - 1
    if helpers <= 0:
        for first, last in ranges:
            kernel(*args, first, last)
        return
    lock = threading.Lock()
    todo = iter(ranges)

    def work() -> None:
        while True:
            with lock:
                item = next(todo, None)
            if item is None:
                return
            kernel(*args, *item)

    futures = [_pool().submit(work) for _ in range(helpers)]
    try:
        work()
    finally:
        for f in futures:
            if not f.cancel():  # started: it is finishing a range (or has found none left)
                f.result()


def map_items(fn: Callable[[int], T], n: int) -> list[T]:
    """``[fn(0), ..., fn(n - 1)]`` with the items shared out like :func:`run_blocks`' ranges."""
    results: list[Any] = [None] * n

    def item_range(first: int, last: int) -> None:
        for i in range(first, last):
            results[i] = fn(i)

    run_blocks(item_range, n, 1, ())
    return results
