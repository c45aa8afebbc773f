"""Numba-jitted compute kernels: SAE training and keystream generation."""

from __future__ import annotations

import contextlib
import threading
from typing import ContextManager

import numba

__all__ = ["parallel_section"]

_WORKQUEUE_LOCK = threading.Lock()


def parallel_section() -> ContextManager[object]:
    """Guard a call into a ``parallel=True`` kernel.

    Numba's fallback "workqueue" threading layer aborts the process when two threads launch parallel
    kernels at once; the OpenMP and TBB layers are thread-safe. So calls are serialised only while the layer
    is workqueue or not chosen yet, which keeps the public API thread-safe on every installation.
    """
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        layer = None
    return _WORKQUEUE_LOCK if layer in (None, "workqueue") else contextlib.nullcontext()
