"""Numba kernels: the hot loops of training and encoding, kept apart so the rest stays plain numpy."""
