"""Numba-jitted compute kernels: SAE training, the rd profile's transform and colour kernels, keystreams.

Every kernel is ``nogil``; none is ``parallel=True``. Parallel work goes through :mod:`.threads`.
"""

from ..warmup import _register as _register_compile_hooks

_register_compile_hooks()  # a compile notice asked for before Numba was imported (saecodec.warmup)
