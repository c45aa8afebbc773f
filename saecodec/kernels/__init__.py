"""Numba-jitted compute kernels: SAE training, the rd profile's transform and colour kernels, keystreams.

Every kernel is ``nogil``; none is ``parallel=True``. Parallel work goes through :mod:`.threads`.
"""
