"""SOAP (Vyas et al., arXiv:2409.11321): Adam run in the eigenbasis of Shampoo's preconditioner.

Cool-chic 5 (Ladune et al., arXiv:2605.02726) trains its networks with it, and credits it with part of a
tenfold cut in encoding steps; its latents keep Adam. The overfit profile's network is small (a few hundred
weights in a handful of tensors), so the preconditioners are a few 3x3 to 16x16 matrices and a SOAP step costs
nothing beside a training pass. This is numpy, not a kernel: encodes are reproducible on one machine (the
eigen- and QR decompositions come from LAPACK), as training is; nothing here is in the file format.

The algorithm is the reference implementation's (without merged dimensions): per tensor, for every axis the
moving average L_d of the gradient's outer product over the other axes; Q_d its eigenvectors, refreshed every
``precondition_every`` steps by one power iteration and a QR decomposition; Adam's moments kept in the rotated
basis; decoupled weight decay. A 1-D tensor (a bias) gets no preconditioner: Adam with SOAP's betas. The first
step only sets the preconditioners up, so that a gradient never rotates itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

__all__ = ["Soap"]


@dataclass
class _TensorState:
    shape: tuple[int, ...]
    gg: list[Optional[np.ndarray]]  # L_d per axis, None: no preconditioner
    t: int = 0
    q: Optional[list[Optional[np.ndarray]]] = None  # eigenbases, None before the first step
    m: Optional[np.ndarray] = None  # first moment, in the rotated basis
    v: Optional[np.ndarray] = None  # second moment, in the rotated basis


class Soap:
    """SOAP over a fixed list of tensors, each stored flat and seen in its natural ``shape``."""

    def __init__(self, shapes: Sequence[tuple[int, ...]], betas: tuple[float, float] = (0.95, 0.95),
                 eps: float = 1e-8, weight_decay: float = 0.01, precondition_every: int = 10) -> None:
        if precondition_every < 1:
            raise ValueError("precondition_every must be at least 1")
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.precondition_every = precondition_every
        self._states = []
        for shape in shapes:
            shape = tuple(int(n) for n in shape)
            gg = [None] if len(shape) == 1 else [np.zeros((n, n)) for n in shape]
            self._states.append(_TensorState(shape, gg))

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray], lr: float) -> None:
        """Update each flat parameter array in place from its gradient (which is left as it was)."""
        if len(params) != len(self._states) or len(grads) != len(self._states):
            raise ValueError(f"expected {len(self._states)} tensors")
        for state, param, grad in zip(self._states, params, grads):
            self._step_one(state, param, grad, lr)

    def _step_one(self, s: _TensorState, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        g = np.asarray(grad, dtype=np.float64).reshape(s.shape)
        if s.q is None:  # set the preconditioners up from the first gradient; no update yet
            self._accumulate(s, g)
            s.q = [None if gg is None else np.flip(np.linalg.eigh(gg + 1e-30 * np.eye(len(gg)))[1], axis=1)
                   for gg in s.gg]
            s.m, s.v = np.zeros(s.shape), np.zeros(s.shape)
            return
        b1, b2 = self.betas
        rotated = _project(g, s.q)
        s.t += 1
        s.m = b1 * s.m + (1.0 - b1) * rotated
        s.v = b2 * s.v + (1.0 - b2) * rotated * rotated
        step_size = lr * math.sqrt(1.0 - b2**s.t) / (1.0 - b1**s.t)
        update = _project_back(s.m / (np.sqrt(s.v) + self.eps), s.q)
        p = param.reshape(s.shape)
        new = p.astype(np.float64) - step_size * update
        new *= 1.0 - lr * self.weight_decay
        p[...] = new
        # the preconditioners take this gradient after it has been used; the moments follow a new basis
        s.m = _project_back(s.m, s.q)
        self._accumulate(s, g)
        if s.t % self.precondition_every == 0:
            self._refresh_bases(s)
        s.m = _project(s.m, s.q)

    def _accumulate(self, s: _TensorState, g: np.ndarray) -> None:
        beta = self.betas[1]
        for axis, gg in enumerate(s.gg):
            if gg is None:
                continue
            others = [k for k in range(g.ndim) if k != axis]
            gg *= beta
            gg += (1.0 - beta) * np.tensordot(g, g, axes=(others, others))

    @staticmethod
    def _refresh_bases(s: _TensorState) -> None:
        """One power iteration and a QR decomposition per axis, the eigenvalue order kept (largest first) and
        the second moment's axes permuted to match."""
        assert s.q is not None and s.v is not None
        for axis, (gg, q) in enumerate(zip(s.gg, s.q)):
            if gg is None or q is None:
                continue
            estimate = np.einsum("ij,ik,kj->j", q, gg, q)  # diag(Q^T L Q)
            order = np.argsort(-estimate, kind="stable")
            s.v = np.take(s.v, order, axis=axis)
            s.q[axis] = np.linalg.qr(gg @ q[:, order])[0]


def _project(g: np.ndarray, bases: list[Optional[np.ndarray]]) -> np.ndarray:
    """Rotate every axis into its eigenbasis (Q_d^T along axis d); axes without one stay."""
    for q in bases:
        g = np.moveaxis(g, 0, -1) if q is None else np.tensordot(g, q, axes=([0], [0]))
    return g


def _project_back(g: np.ndarray, bases: list[Optional[np.ndarray]]) -> np.ndarray:
    for q in bases:
        g = np.moveaxis(g, 0, -1) if q is None else np.tensordot(g, q, axes=([0], [1]))
    return g
