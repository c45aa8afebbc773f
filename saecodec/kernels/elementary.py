"""Elementary float64 arithmetic for the training kernels, without libm calls so the loops around it vectorise:
exp of a non-positive value, log2 with a reciprocal, and lane sums folded without reordering beyond halves.

Training only: nothing normative (the decoder, spec section 11.6) depends on these. No fastmath: results are
the same on every run of one machine, whatever the thread count.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

#: Compile options as saecodec.kernels.synthesis's: numpy's error model, no fastmath.
OPTS = dict(cache=True, nogil=True, error_model="numpy")

_LN2 = math.log(2.0)
INV_LN2 = 1.0 / _LN2
_LN2_HI = 6.93147180369123816490e-01  # ln 2 in two parts (fdlibm): k * _LN2_HI is exact for |k| < 2^20
_LN2_LO = 1.90821492927058770002e-10
_ROUNDER = 6755399441055744.0  # 1.5 * 2^52: adding it rounds to an integer held in the low mantissa bits


@intrinsic
def _f64_from_bits(typingctx, bits):
    """The float64 whose IEEE pattern is the int64 `bits` (a bitcast, which vectorises)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(bits), codegen


@intrinsic
def _bits_from_f64(typingctx, x):
    """The IEEE pattern of the float64 `x` as an int64."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(x), codegen


@numba.njit(inline="always", **OPTS)
def exp_nonpositive(x):
    """exp(x) for x <= 0 without a libm call, so loops around it vectorise: 2^k exp(r), |r| <= ln2 / 2,
    Taylor to degree 12 (relative error below 1e-15); flushed at exp(-708) (never 0)."""
    x = max(x, -708.0)
    t = x * INV_LN2 + _ROUNDER
    k = t - _ROUNDER  # round(x / ln 2)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = 2.08767569878680989792e-09
    p = p * r + 2.50521083854417187751e-08
    p = p * r + 2.75573192239858906526e-07
    p = p * r + 2.75573192239858906526e-06
    p = p * r + 2.48015873015873015873e-05
    p = p * r + 1.98412698412698412698e-04
    p = p * r + 1.38888888888888888889e-03
    p = p * r + 8.33333333333333333333e-03
    p = p * r + 4.16666666666666666667e-02
    p = p * r + 1.66666666666666666667e-01
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    ki = _bits_from_f64(t) - _bits_from_f64(_ROUNDER)
    return p * _f64_from_bits((ki + 1023) << 52)


@numba.njit(inline="always", **OPTS)
def log2_and_reciprocal(p):
    """(log2(p), 1 / p) for a normal p > 0 with one division and no libm call: log2 is the exponent plus
    2 atanh(s) / ln 2, s = (m - 1) / (m + 1), mantissa m in [sqrt(1/2), sqrt(2)) (|s| < 0.172, series to s^19;
    relative error a few ulp)."""
    bits = _bits_from_f64(p)
    e = (bits >> 52) - 1023
    m = _f64_from_bits((bits & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > 1.4142135623730951
    m = m * 0.5 if big else m
    e = e + 1 if big else e
    mp1 = m + 1.0
    d = 1.0 / (p * mp1)
    s = (m - 1.0) * (d * p)
    s2 = s * s
    q = 1.0 / 19.0
    q = q * s2 + 1.0 / 17.0
    q = q * s2 + 1.0 / 15.0
    q = q * s2 + 1.0 / 13.0
    q = q * s2 + 1.0 / 11.0
    q = q * s2 + 1.0 / 9.0
    q = q * s2 + 1.0 / 7.0
    q = q * s2 + 1.0 / 5.0
    q = q * s2 + 1.0 / 3.0
    q = q * s2 + 1.0
    return np.float64(e) + (2.0 * s * q) * INV_LN2, d * mp1


@numba.njit(**OPTS)
def lane_total(lanes, n):
    """sum lanes[0:n] as float64, folding halves onto each other first (vector adds; lanes is clobbered).

    Reductions over pixels accumulate into one lane per pixel position (an element-wise update, which
    vectorises without reordering any sum, unlike a running dot product) and are folded here once a stripe."""
    m = n
    while m > 16:
        half = m // 2
        rest = m - half
        for x in range(half):
            lanes[x] += lanes[rest + x]
        m = rest
    s = 0.0
    for x in range(m):
        s += lanes[x]
    return s

