"""Numba kernels for the sigmoid stacked auto-encoder.

* training: :func:`adam_epoch` (minibatch Adam, forward + backward of every level's reconstruction) and
  :func:`batch_grad` (one gradient, for tests);
* code refinement: :func:`refine_codes` (per-block Levenberg-Marquardt on the codes against a fixed decoder);
* output-layer fit: :func:`fit_sigmoid_layer` (exact fit of one sigmoid layer, unit by unit);
* row-wise helpers: :func:`forward_codes` (encoder), :func:`decode_codes` (decoder), :func:`sigmoid_layer`,
  :func:`linear`, :func:`gram`.

Parameters live in one flat float64 vector ``theta`` (layout from :func:`param_layout`): encoder layers
first, then decoder layers. Matrices are stored as ``W`` with shape (out, in), the orientation the file
format and the reference decoder use.

Threads. No kernel is ``parallel=True``, and none holds the GIL. The minibatch Adam loop is serial: a step
is ~0.06 ms of work, and sharing each step between threads means thousands of synchronisations per encode,
each of which stalls when another process keeps a core busy (with parallel regions per step, an encode that
took 1.6 s on an idle 2-core machine took 5-13 s with other processes busy, and 25-41 s in some runs). The full-batch kernels
(code refinement, output-layer fit, row-wise passes) are split into independent work items, handed out one
at a time by :func:`run_blocks` to the calling thread and a few pool threads: a descheduled thread just takes
fewer items, and idle threads sleep.

Speed. The training and refinement kernels hold their data batch-major (units, batch) so that every inner
loop runs over the batch with unit stride, register-block their products 4 x 4, and evaluate the logistic
function with a polynomial exp that vectorises (:func:`sigmoid`; Numba has no vector exp). The float32
fine-tuning runs at ~80 GFLOP/s on one core (multiply-add = 2 FLOPs, backward = 2x forward).

Determinism. Every work item writes its own outputs; sums over samples are taken per fixed block of samples
and the blocks added in a fixed order; the per-block code refinement and the per-unit fit are independent
per block / unit. So results never depend on the number of threads. The float32 training kernels are
compiled with reassociation and fused multiply-add (``_FAST``): their reductions vectorise, in an order fixed
when the kernel is compiled, so the same machine gives the same bits for the same seed. (Float results may
differ between CPUs with different vector widths, as they already could through libm.)
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload
from numba.np.arrayobj import make_array, make_view

from .threads import run_blocks

__all__ = [
    "param_layout",
    "run_blocks",
    "batch_grad",
    "adam_epoch",
    "forward_codes",
    "decode_codes",
    "fit_sigmoid_layer",
    "refine_codes",
    "gram",
    "sigmoid_layer",
    "linear",
]

#: Compile options. NumPy's error model everywhere: Python's ZeroDivisionError check on every float division
#: keeps loops from vectorising. No kernel holds the GIL, so encodes in several Python threads run in
#: parallel. _FAST adds reassociation and contraction (fused multiply-add).
_PLAIN = dict(cache=True, nogil=True, error_model="numpy")
_FAST = dict(_PLAIN, fastmath={"reassoc", "contract"})

#: Rows per work item of the row-wise kernels and per partial sum of gram (fixed: the summation order).
ROWS = 2048
#: Blocks per lock-step group of the code refinement.
LANES = 32
#: Blocks per work item of the code refinement.
REFINE_ITEM = 32 * LANES
#: Samples per cache block of the output-layer fit.
FIT_BLOCK = 256


def param_layout(layers: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """Offsets of every layer in the flat parameter vector.

    Returns ``(off, size)``: ``off[j] = (W start, b start)``; j < D is encoder layer j with W of shape
    (layers[j+1], layers[j]); j = D + l is decoder layer l with W of shape (layers[l], layers[l+1]).
    """
    depth = len(layers) - 1
    off = np.zeros((2 * depth, 2), np.int64)
    pos = 0
    for l in range(depth):
        off[l, 0] = pos
        pos += layers[l + 1] * layers[l]
        off[l, 1] = pos
        pos += layers[l + 1]
    for l in range(depth):
        off[depth + l, 0] = pos
        pos += layers[l] * layers[l + 1]
        off[depth + l, 1] = pos
        pos += layers[l]
    return off, pos


# --------------------------------------------------------------------------- array views and bit casts


@intrinsic
def _view(typingctx, a, start, shape):
    """a[start : start + prod(shape)] as a C-contiguous array of that shape (a: 1-D, C-contiguous).

    A reshape without the size check, whose error message alone costs seconds of compile time; callers
    guarantee the size.
    """
    if not (isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and isinstance(shape, types.UniTuple)):
        return None
    nd = shape.count
    ret = types.Array(a.dtype, nd, "C")

    def codegen(context, builder, signature, args):
        aryty, startty, shapety = signature.args
        ary = make_array(aryty)(context, builder, args[0])
        intp = types.intp
        first = context.cast(builder, args[1], startty, intp)
        dims = [context.cast(builder, builder.extract_value(args[2], i), shapety.dtype, intp) for i in range(nd)]
        item = ary.itemsize
        strides = [item] * nd
        for i in range(nd - 2, -1, -1):
            strides[i] = builder.mul(strides[i + 1], dims[i + 1])
        data = builder.gep(ary.data, [first])
        out = make_view(context, builder, aryty, ary, ret, data, dims, strides)
        return impl_ret_borrowed(context, builder, ret, out._getvalue())

    return ret(a, start, shape), codegen


def _float_from_bits(width):
    """An intrinsic: the float of `width` bits whose IEEE pattern is the low bits of an integer (a bitcast,
    which vectorises)."""
    ftype = ir.FloatType() if width == 32 else ir.DoubleType()
    rtype = types.float32 if width == 32 else types.float64

    def typer(typingctx, bits):
        if not isinstance(bits, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            v = args[0]
            if v.type.width > width:
                v = builder.trunc(v, ir.IntType(width))
            elif v.type.width < width:
                v = builder.sext(v, ir.IntType(width))
            return builder.bitcast(v, ftype)

        return rtype(bits), codegen

    typer.__name__ = f"_f{width}_from_bits"
    return intrinsic(typer)


_f32_from_bits = _float_from_bits(32)
_f64_from_bits = _float_from_bits(64)


@njit(**_PLAIN)
def _mat(p, start, rows, cols):
    """Rows x cols matrix stored at p[start:] (a view)."""
    return _view(p, start, (rows, cols))


@njit(**_PLAIN)
def _transposed(theta, off, layers):
    """A copy of theta with every W stored transposed (in, out)."""
    depth = layers.shape[0] - 1
    out = theta.copy()
    for j in range(off.shape[0]):
        nout, nin = (layers[j + 1], layers[j]) if j < depth else (layers[j - depth], layers[j - depth + 1])
        w = _mat(theta, off[j, 0], nout, nin)
        wt = _mat(out, off[j, 0], nin, nout)
        for o in range(nout):
            for i in range(nin):
                wt[i, o] = w[o, i]
    return out


# --------------------------------------------------------------------------- the logistic function

# exp(f ln 2) = sum_k (f ln 2)^k / k!, degree 6: relative error < 2e-7 on |f| <= 1/2.
_E1, _E2, _E3, _E4, _E5, _E6 = (np.float32(np.log(2.0) ** k / math.factorial(k)) for k in range(1, 7))
# exp(r) = sum_k r^k / k!, degree 12: relative error < 2e-16 on |r| <= ln(2) / 2.
_D = tuple(1.0 / math.factorial(k) for k in range(13))
_LN2_HI = 0.693147180369123816490  # ln 2 in two parts (Cody-Waite): n * _LN2_HI is exact for |n| < 2^11
_LN2_LO = 1.90821492927058770002e-10


def sigmoid(z):
    """The logistic function as the encoder-side kernels evaluate it (see the overload below)."""
    raise NotImplementedError  # pragma: no cover - only ever called from jitted code


@overload(sigmoid, jit_options=dict(error_model="numpy", fastmath={"contract"}))
def _sigmoid_impl(z):
    """1 / (1 + exp(-z)) with exp(-z) = 2^n exp(r) by range reduction, a polynomial and an exponent bit
    pattern: plain arithmetic, so loops over it vectorise (Numba has no vector exp, and a libm call per value
    costs as much as a 16-input dense layer). float64: within 2 ulp of the exact expression's result.
    float32 (training): absolute error < 1e-7 (relative < 1e-6 for |z| <= 16), about the rounding of the
    result itself.

    Only the encoder side uses it (training, code refinement, the output-layer fit). What a file decoder
    computes (saecodec.model.decode) and :func:`decode_codes` use np.exp.
    """
    if z == types.float32:

        def impl32(z):
            t = z * np.float32(-1.4426950408889634)  # -z / ln 2
            t = min(max(t, np.float32(-126.0)), np.float32(126.0))
            n = np.floor(t + np.float32(0.5))
            f = t - n
            p = np.float32(1.0) + f * (_E1 + f * (_E2 + f * (_E3 + f * (_E4 + f * (_E5 + f * _E6)))))
            e = p * _f32_from_bits((np.int32(n) + 127) << 23)
            return np.float32(1.0) / (np.float32(1.0) + e)

        return impl32
    if z == types.float64:

        def impl64(z):
            t = min(max(-z, -708.0), 708.0)
            n = np.floor(t * 1.4426950408889634 + 0.5)
            r = (t - n * _LN2_HI) - n * _LN2_LO
            p = _D[12]
            p = _D[11] + r * p
            p = _D[10] + r * p
            p = _D[9] + r * p
            p = _D[8] + r * p
            p = _D[7] + r * p
            p = _D[6] + r * p
            p = _D[5] + r * p
            p = _D[4] + r * p
            p = _D[3] + r * p
            p = _D[2] + r * p
            p = _D[1] + r * p
            p = _D[0] + r * p
            e = p * _f64_from_bits((np.int64(n) + 1023) << 52)
            return 1.0 / (1.0 + e)

        return impl64
    return None


# --------------------------------------------------------------------------- batch-major dense layers
#
# The training and refinement kernels hold their data "batch-major": a layer's activations are an array
# (units, batch), so every inner loop runs over the batch with unit stride and vectorises fully, whatever the
# layer's width (a 4-unit layer is as efficient as a 64-unit one). Products are register-blocked 4 x 4:
# each pass over the batch reads 4 input rows and updates 4 output rows (or 16 dot products at once).


@njit(**_FAST)
def _bm_gemm(W, A, Z):
    """Z += W A: W (out, in), A (in, n), Z (out, n)."""
    nout, nin = W.shape
    n = A.shape[1]
    o = 0
    while o < nout:
        four = o + 4 <= nout
        rows = 4 if four else 1
        if four:
            z0, z1, z2, z3 = Z[o], Z[o + 1], Z[o + 2], Z[o + 3]
            i = 0
            while i + 4 <= nin:
                a0, a1, a2, a3 = A[i], A[i + 1], A[i + 2], A[i + 3]
                u0, u1, u2, u3 = W[o, i], W[o, i + 1], W[o, i + 2], W[o, i + 3]
                v0, v1, v2, v3 = W[o + 1, i], W[o + 1, i + 1], W[o + 1, i + 2], W[o + 1, i + 3]
                p0, p1, p2, p3 = W[o + 2, i], W[o + 2, i + 1], W[o + 2, i + 2], W[o + 2, i + 3]
                q0, q1, q2, q3 = W[o + 3, i], W[o + 3, i + 1], W[o + 3, i + 2], W[o + 3, i + 3]
                for r in range(n):
                    x0, x1, x2, x3 = a0[r], a1[r], a2[r], a3[r]
                    z0[r] = z0[r] + u0 * x0 + u1 * x1 + u2 * x2 + u3 * x3
                    z1[r] = z1[r] + v0 * x0 + v1 * x1 + v2 * x2 + v3 * x3
                    z2[r] = z2[r] + p0 * x0 + p1 * x1 + p2 * x2 + p3 * x3
                    z3[r] = z3[r] + q0 * x0 + q1 * x1 + q2 * x2 + q3 * x3
                i += 4
            while i < nin:
                a0 = A[i]
                u0, v0, p0, q0 = W[o, i], W[o + 1, i], W[o + 2, i], W[o + 3, i]
                for r in range(n):
                    x0 = a0[r]
                    z0[r] += u0 * x0
                    z1[r] += v0 * x0
                    z2[r] += p0 * x0
                    z3[r] += q0 * x0
                i += 1
        else:
            z0 = Z[o]
            i = 0
            while i + 4 <= nin:
                a0, a1, a2, a3 = A[i], A[i + 1], A[i + 2], A[i + 3]
                u0, u1, u2, u3 = W[o, i], W[o, i + 1], W[o, i + 2], W[o, i + 3]
                for r in range(n):
                    z0[r] = z0[r] + u0 * a0[r] + u1 * a1[r] + u2 * a2[r] + u3 * a3[r]
                i += 4
            while i < nin:
                a0 = A[i]
                u0 = W[o, i]
                for r in range(n):
                    z0[r] += u0 * a0[r]
                i += 1
        o += rows


@njit(**_FAST)
def _bm_sigmoid(Z):
    """Z = sigmoid(Z), in place."""
    for o in range(Z.shape[0]):
        z = Z[o]
        for r in range(Z.shape[1]):
            z[r] = sigmoid(z[r])


@njit(**_FAST)
def _bm_forward(W, b, A, Z):
    """Z = sigmoid(W A + b): W (out, in), A (in, n), Z (out, n)."""
    for o in range(Z.shape[0]):
        z = Z[o]
        bo = b[o]
        for r in range(Z.shape[1]):
            z[r] = bo
    _bm_gemm(W, A, Z)
    _bm_sigmoid(Z)


@njit(**_FAST)
def _bm_grad_w(dZ, A, G, gb, lower=False):
    """G += dZ A^T and gb += row sums of dZ: dZ (out, n), A (in, n), G (out, in).

    Dot products over the batch, 16 at a time (4 outputs x 4 inputs); each is a reduction the compiler
    vectorises in an order fixed at compile time, so the result is deterministic. lower=True: only the
    entries G[o, i] with i <= o are needed (a symmetric product; a few above the diagonal get updated too).
    """
    nout, n = dZ.shape
    nin = A.shape[0]
    zero = dZ.dtype.type(0.0)
    for o in range(nout):
        s = zero
        d0 = dZ[o]
        for r in range(n):
            s += d0[r]
        gb[o] += s
    o4 = nout - nout % 4
    i4 = nin - nin % 4
    for o in range(0, o4, 4):
        d0, d1, d2, d3 = dZ[o], dZ[o + 1], dZ[o + 2], dZ[o + 3]
        for i in range(0, min(i4, o + 4) if lower else i4, 4):
            a0, a1, a2, a3 = A[i], A[i + 1], A[i + 2], A[i + 3]
            s00 = zero
            s01 = zero
            s02 = zero
            s03 = zero
            s10 = zero
            s11 = zero
            s12 = zero
            s13 = zero
            s20 = zero
            s21 = zero
            s22 = zero
            s23 = zero
            s30 = zero
            s31 = zero
            s32 = zero
            s33 = zero
            for r in range(n):
                x0, x1, x2, x3 = a0[r], a1[r], a2[r], a3[r]
                e = d0[r]
                s00 += e * x0
                s01 += e * x1
                s02 += e * x2
                s03 += e * x3
                e = d1[r]
                s10 += e * x0
                s11 += e * x1
                s12 += e * x2
                s13 += e * x3
                e = d2[r]
                s20 += e * x0
                s21 += e * x1
                s22 += e * x2
                s23 += e * x3
                e = d3[r]
                s30 += e * x0
                s31 += e * x1
                s32 += e * x2
                s33 += e * x3
            G[o, i] += s00
            G[o, i + 1] += s01
            G[o, i + 2] += s02
            G[o, i + 3] += s03
            G[o + 1, i] += s10
            G[o + 1, i + 1] += s11
            G[o + 1, i + 2] += s12
            G[o + 1, i + 3] += s13
            G[o + 2, i] += s20
            G[o + 2, i + 1] += s21
            G[o + 2, i + 2] += s22
            G[o + 2, i + 3] += s23
            G[o + 3, i] += s30
            G[o + 3, i + 1] += s31
            G[o + 3, i + 2] += s32
            G[o + 3, i + 3] += s33
    # Whatever the 4 x 4 blocks left over (layer sizes that are not multiples of 4): plain dot products.
    for o in range(nout):
        d0 = dZ[o]
        for i in range(i4 if o < o4 else 0, o + 1 if lower else nin):
            a0 = A[i]
            s = zero
            for r in range(n):
                s += d0[r] * a0[r]
            G[o, i] += s


@njit(**_FAST)
def _bm_sigmoid_slope(D, H):
    """D *= H (1 - H): the gradient through a sigmoid, given its output H."""
    one = D.dtype.type(1.0)
    for c in range(D.shape[0]):
        d = D[c]
        h = H[c]
        for r in range(D.shape[1]):
            d[r] *= h[r] * (one - h[r])


@njit(**_FAST)
def _bm_gather(X, idx, out, col0):
    """out[c, r] = X[idx[r], col0 + c]: a minibatch of rows of the sample-major X (N, units), batch-major.

    Each sample's values are contiguous in X (a few cache lines, whatever N), and the transposition goes
    through a small buffer 16 samples at a time. (Gathering from a batch-major copy of the data touches one
    cache line per value, which falls out of the caches for large images: 3x slower steps at 1024x1024.)
    """
    n = idx.shape[0]
    d = out.shape[0]
    buf = np.empty((d, 16), X.dtype)
    for r0 in range(0, n, 16):
        m = min(16, n - r0)
        for l in range(m):
            src = X[idx[r0 + l]]
            for c in range(d):
                buf[c, l] = src[col0 + c]
        for c in range(d):
            dst = out[c]
            bc = buf[c]
            for l in range(m):
                dst[r0 + l] = bc[l]


# --------------------------------------------------------------------------- minibatch gradient


@njit(**_FAST)
def _step_grad(X, wh, wht, mu, C, coff, idx, frozen, tw, off, layers, lw, coef, g, sse):
    """Gradient of sum_k lw[k] * coef * SSE_k over the samples idx, accumulated into g (zeroed by caller).

    X (N, layers[0]) holds the samples, which are also the targets. The encoder sees them whitened,
    wh^T (x - mu) (wh (layers[0], layers[0]), wht = wh^T), unless wh is empty: whitening is folded into the
    first layer (W0 wh^T applied to x - mu, and the gradient of W0 mapped back through wh), so the data are
    gathered once. frozen=False: the level-k codes come from the encoder and the gradient reaches every
    parameter. frozen=True: they are columns coff[k]:coff[k]+layers[k] of C (N, total code units), e.g.
    quantised codes, and only decoder gradients are produced. sse[k] gets the level-k sum of squared errors.
    Arithmetic in tw's dtype; every activation is held batch-major (units, len(idx)).
    """
    depth = layers.shape[0] - 1
    n = idx.shape[0]
    d0 = layers[0]
    dt = tw.dtype
    twt = _transposed(tw, off, layers)  # W^T of every layer, for the input gradients
    x = np.empty((d0, n), dt)
    _bm_gather(X, idx, x, np.int64(0))  # not a literal 0: one specialisation with the call below
    whitened = wh.shape[0] > 0
    hs = [x]  # encoder activations h_0 .. h_D (h_0: the encoder's input; a placeholder when frozen)
    dhs = [x]  # d loss / d h_l
    if not frozen:
        nh = layers[1]
        w0 = _mat(tw, off[0, 0], nh, d0)
        if whitened:
            xc = np.empty((d0, n), dt)
            for c in range(d0):
                mc = mu[c]
                for r in range(n):
                    xc[c, r] = x[c, r] - mc
            hs[0] = xc
            w0 = np.zeros((nh, d0), dt)
            _bm_gemm(_mat(tw, off[0, 0], nh, d0), wht, w0)
        for l in range(depth):
            nout, nin = layers[l + 1], layers[l]
            h = np.empty((nout, n), dt)
            w = w0 if l == 0 else _mat(tw, off[l, 0], nout, nin)
            _bm_forward(w, tw[off[l, 1] : off[l, 1] + nout], hs[l], h)
            hs.append(h)
            dhs.append(np.zeros((nout, n), dt))
    for k in range(1, depth + 1):
        if lw[k] == 0.0:
            continue
        if frozen:
            code = np.empty((layers[k], n), dt)
            _bm_gather(C, idx, code, coff[k])
        else:
            code = hs[k]
        acts = [code]
        for s in range(k):
            j = k - 1 - s
            nout, nin = layers[j], layers[j + 1]
            h = np.empty((nout, n), dt)
            _bm_forward(_mat(tw, off[depth + j, 0], nout, nin), tw[off[depth + j, 1] : off[depth + j, 1] + nout],
                        acts[s], h)
            acts.append(h)
        out = acts[k]
        dz = np.empty((d0, n), dt)
        scale = dt.type(2.0 * lw[k] * coef)
        one = dt.type(1.0)
        err = dt.type(0.0)
        for c in range(d0):
            y = out[c]
            t = x[c]
            d = dz[c]
            for r in range(n):
                e = y[r] - t[r]
                err += e * e
                d[r] = scale * e * y[r] * (one - y[r])
        sse[k] += err
        for s in range(k - 1, -1, -1):
            j = k - 1 - s
            nout, nin = layers[j], layers[j + 1]
            wt = _mat(twt, off[depth + j, 0], nin, nout)
            gb = g[off[depth + j, 1] : off[depth + j, 1] + nout]
            _bm_grad_w(dz, acts[s], _mat(g, off[depth + j, 0], nout, nin), gb)
            if s > 0:
                da = np.zeros((nin, n), dt)
                _bm_gemm(wt, dz, da)
                _bm_sigmoid_slope(da, acts[s])
                dz = da
            elif not frozen:
                _bm_gemm(wt, dz, dhs[k])
    if frozen:
        return
    for l in range(depth - 1, -1, -1):
        nout, nin = layers[l + 1], layers[l]
        dz = dhs[l + 1]
        _bm_sigmoid_slope(dz, hs[l + 1])
        gw = _mat(g, off[l, 0], nout, nin)
        gb = g[off[l, 1] : off[l, 1] + nout]
        if l == 0 and whitened:
            graw = np.zeros((nout, nin), dt)  # d loss / d (W0 wh^T), then through wh to W0
            _bm_grad_w(dz, hs[0], graw, gb)
            _bm_gemm(graw, wh, gw)
        else:
            _bm_grad_w(dz, hs[l], gw, gb)
        if l > 0:
            _bm_gemm(_mat(twt, off[l, 0], nin, nout), dz, dhs[l])


@njit(**_PLAIN)
def batch_grad(X, wh, mu, C, coff, idx, frozen, theta, off, layers, lw, grad, losses):
    """Mean-loss gradient over the samples idx into grad (float64); per-level MSE into losses.

    The loss is sum_k lw[k] * mean((reconstruction_k - x)^2); data as in :func:`adam_epoch`, arithmetic in
    X's dtype. One serial pass (a reference for tests; training calls :func:`adam_epoch`).
    """
    depth = layers.shape[0] - 1
    tw = theta.astype(X.dtype)
    g = np.zeros(theta.shape[0], X.dtype)
    sse = np.zeros(depth + 1, X.dtype)
    coef = 1.0 / (idx.shape[0] * layers[0])
    _step_grad(X, wh, np.ascontiguousarray(wh.T), mu, C, coff, idx, frozen, tw, off, layers, lw, coef, g, sse)
    for p in range(theta.shape[0]):
        grad[p] = g[p]
    for k in range(depth + 1):
        losses[k] = sse[k] * coef


# --------------------------------------------------------------------------- optimiser


@njit(**_PLAIN)
def adam_epoch(X, wh, mu, C, coff, perm, batch, frozen, theta, off, layers, lw, m, v, t, lrs, beta1, beta2, eps,
               rate, losses):
    """Minibatch Adam over the samples in the order perm; returns the new step count.

    X (N, units) holds the samples, seen by the encoder whitened with wh and mu (empty wh: as they are); C
    holds fixed codes (frozen=True); see :func:`_step_grad`. The arithmetic runs in X's dtype, the
    parameters theta and the moments m, v stay float64. len(perm) // batch steps (the remainder is left out
    so every step has the same batch size); lrs[s] is the learning rate of step s, parameter p uses
    lrs[s] * rate[p], and rate[p] == 0 freezes it.
    losses gets the mean of the per-step (pre-update) level MSEs, a cheap running estimate of the loss.

    Serial on purpose: a minibatch step is ~0.05 ms of work, too little to share between threads without a
    synchronisation per step, and such fine-grained parallel regions collapse when another process keeps a
    core busy (a descheduled worker stalls every step). The full-batch kernels are the parallel ones.
    """
    depth = layers.shape[0] - 1
    nsteps = perm.shape[0] // batch
    npar = theta.shape[0]
    dt = X.dtype
    tw = theta.astype(dt)
    wht = np.ascontiguousarray(wh.T)
    g = np.empty(npar, dt)
    sse = np.empty(depth + 1, dt)
    coef = 1.0 / (batch * layers[0])
    losses[:] = 0.0
    for s in range(nsteps):
        g[:] = 0.0
        sse[:] = 0.0
        idx = perm[s * batch : (s + 1) * batch]
        _step_grad(X, wh, wht, mu, C, coff, idx, frozen, tw, off, layers, lw, coef, g, sse)
        t += 1
        step = lrs[s] * np.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
        for p in range(npar):
            # rate 0: theta moves by exactly 0, whatever m and v hold; no branch, so the loop vectorises.
            gp = np.float64(g[p])
            m[p] = beta1 * m[p] + (1.0 - beta1) * gp
            v[p] = beta2 * v[p] + (1.0 - beta2) * gp * gp
            theta[p] -= rate[p] * step * m[p] / (np.sqrt(v[p]) + eps)
            tw[p] = theta[p]
        for k in range(depth + 1):
            losses[k] += sse[k] * coef / nsteps
    return t


# --------------------------------------------------------------------------- row-wise passes
#
# A chain of dense layers applied to every row of a (N, units) array, sample-major, in float64 with np.exp
# (the reference decoder's activation): the encoder (forward_codes), the decoder (decode_codes), one sigmoid
# layer or one affine map. The layers are described by a flat parameter vector and a table, so one compiled
# kernel serves them all.


@njit(**_PLAIN)
def _rows_range(X, params, table, out, first, last):
    """out[r] = layers(X[r]) for r in first..last-1; table[l] = (W^T offset, b offset, in, out, sigmoid?)."""
    width = 0
    for l in range(table.shape[0]):
        width = max(width, table[l, 2], table[l, 3])
    a = np.empty(width)
    z = np.empty(width)
    for r in range(first, last):
        nin = table[0, 2]
        for i in range(nin):
            a[i] = X[r, i]
        for l in range(table.shape[0]):
            nout = table[l, 3]
            wt = _mat(params, table[l, 0], nin, nout)
            b = table[l, 1]
            for o in range(nout):
                z[o] = params[b + o]
            for i in range(nin):
                ai = a[i]
                for o in range(nout):
                    z[o] += ai * wt[i, o]
            if table[l, 4]:
                for o in range(nout):
                    a[o] = 1.0 / (1.0 + np.exp(-z[o]))
            else:
                for o in range(nout):
                    a[o] = z[o]
            nin = nout
        for o in range(nin):
            out[r, o] = a[o]


def _apply_layers(X, layers_wb, act):
    """Apply [(W (out, in), b)] in order to every row of X (sigmoid after each layer if act)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    parts, table, pos = [], [], 0
    for w, b in layers_wb:
        w = np.asarray(w, dtype=np.float64)
        nout, nin = w.shape
        table.append((pos, pos + nin * nout, nin, nout, int(act)))
        parts += [w.T.ravel(), np.asarray(b, dtype=np.float64).ravel()]
        pos += nin * nout + nout
    params = np.concatenate(parts)
    table = np.asarray(table, np.int64)
    out = np.empty((X.shape[0], table[-1, 3]))
    run_blocks(_rows_range, X.shape[0], ROWS, (X, params, table, out))
    return out


def _theta_layer(theta, off, layers, j):
    """(W, b) of flat layer j of theta (encoder layers first, then decoder layers)."""
    depth = len(layers) - 1
    nout, nin = (layers[j + 1], layers[j]) if j < depth else (layers[j - depth], layers[j - depth + 1])
    return theta[off[j, 0] : off[j, 0] + nout * nin].reshape(nout, nin), theta[off[j, 1] : off[j, 1] + nout]


def forward_codes(X, theta, off, layers, level):
    """Encoder activations at `level` (0 = the input itself) for every row of X, in float64."""
    if level == 0:
        return np.array(X, dtype=np.float64)
    return _apply_layers(X, [_theta_layer(theta, off, layers, j) for j in range(level)], True)


def decode_codes(codes, theta, off, layers, level):
    """Decode level-`level` codes (N, layers[level]) back to (N, layers[0]) in float64."""
    depth = len(layers) - 1
    return _apply_layers(codes, [_theta_layer(theta, off, layers, depth + j) for j in range(level - 1, -1, -1)], True)


def sigmoid_layer(A, W, b):
    """sigmoid(A W^T + b) in float64, rows in parallel (no reductions across rows)."""
    return _apply_layers(A, [(W, b)], True)


def linear(A, W, b):
    """A W^T + b in float64, rows in parallel.

    Used instead of numpy's matmul on the training path: a multi-threaded BLAS call leaves its worker
    threads spinning, and on a small machine they steal the cores the Numba kernels run on.
    """
    return _apply_layers(A, [(W, b)], False)


@njit(**_PLAIN)
def _gram_range(A, B, parts, first, last):
    acc = parts[first // ROWS]
    for r in range(first, last):
        for i in range(A.shape[1]):
            ai = A[r, i]
            for j in range(B.shape[1]):
                acc[i, j] += ai * B[r, j]


def gram(A, B):
    """A^T B in float64, summed over fixed blocks of ROWS rows in a fixed order (thread-count independent)."""
    A = np.ascontiguousarray(A, dtype=np.float64)
    B = np.ascontiguousarray(B, dtype=np.float64)
    n = A.shape[0]
    parts = np.zeros((max(1, -(-n // ROWS)), A.shape[1], B.shape[1]))
    run_blocks(_gram_range, n, ROWS, (A, B, parts))
    out = np.zeros((A.shape[1], B.shape[1]))
    for part in parts:
        out += part
    return out


# --------------------------------------------------------------------------- output-layer fit


@njit(**_PLAIN)
def _cholesky_solve(a, g, out):
    """Solve a x = g for a small symmetric positive definite a (overwritten by its Cholesky factor).

    Returns False if a is not numerically positive definite.
    """
    n = a.shape[0]
    for j in range(n):
        s = a[j, j]
        for k in range(j):
            s -= a[j, k] * a[j, k]
        if s <= 0.0:
            return False
        d = np.sqrt(s)
        a[j, j] = d
        for i in range(j + 1, n):
            s = a[i, j]
            for k in range(j):
                s -= a[i, k] * a[j, k]
            a[i, j] = s / d
    for i in range(n):
        s = g[i]
        for k in range(i):
            s -= a[i, k] * out[k]
        out[i] = s / a[i, i]
    for i in range(n - 1, -1, -1):
        s = out[i]
        for k in range(i + 1, n):
            s -= a[k, i] * out[k]
        out[i] = s / a[i, i]
    return True


@njit(**_FAST)
def _unit_sse(HTc, y, swc, w, z):
    """Weighted SSE of one sigmoid unit sigmoid(w . h) against its targets. HTc (nch, (k + 1) * FIT_BLOCK)
    holds each block of samples as a (k + 1, FIT_BLOCK) matrix whose last row is ones, so w[k] is the bias;
    block c's targets are y[c % len(y)] (y: (nch_y, FIT_BLOCK)). z is scratch (FIT_BLOCK,)."""
    k1 = w.shape[0]
    nb = z.shape[0]
    sse = 0.0
    for c in range(HTc.shape[0]):
        z[:] = 0.0
        _bm_gemm(_view(w, 0, (1, k1)), _view(HTc[c], 0, (k1, nb)), _view(z, 0, (1, nb)))
        yc = y[c % y.shape[0]]
        sc = swc[c]
        part = 0.0
        for r in range(z.shape[0]):
            e = sigmoid(z[r]) - yc[r]
            part += sc[r] * e * e
        sse += part
    return sse


@njit(**_FAST)
def fit_units_range(HTc, YTc, swc, W, b, iters, lam0, out_sse, first, last):
    """Levenberg-Marquardt fit of output units first..last-1 (one work item of fit_sigmoid_layer)."""
    nch = HTc.shape[0]
    nb = FIT_BLOCK
    k1 = HTc.shape[1] // nb
    k = k1 - 1
    z = np.empty(nb)
    gr = np.empty(nb)
    dhb = np.empty(k1 * nb)
    dh = _view(dhb, 0, (k1, nb))
    a = np.empty((k1, k1))
    ak = np.empty((k, k))
    gb = np.empty(k1)
    g = np.empty(k1)
    step = np.empty(k1)
    wt = np.empty(k1)
    w = np.empty(k1)
    for o in range(first, last):
        y = YTc[o]
        for i in range(k):
            w[i] = W[o, i]
        w[k] = b[o]
        sse = _unit_sse(HTc, y, swc, w, z)
        lam = lam0
        for it in range(iters):
            # Normal equations: a = sum_r sw s'^2 h h^T, g = sum_r sw s' (y - s) h, with s = sigmoid(w . h),
            # one cache block of samples at a time.
            a[:, :] = 0.0
            ak[:, :] = 0.0
            g[:] = 0.0
            for c in range(nch):
                hc = _view(HTc[c], 0, (k1, nb))
                z[:] = 0.0
                _bm_gemm(_view(w, 0, (1, k1)), hc, _view(z, 0, (1, nb)))
                yc = y[c % y.shape[0]]
                sc = swc[c]
                for r in range(nb):
                    s = sigmoid(z[r])
                    d = s * (1.0 - s)
                    z[r] = sc[r] * d * d
                    gr[r] = sc[r] * d * (yc[r] - s)
                for p in range(k1):
                    hp = hc[p]
                    dp = dh[p]
                    acc = 0.0
                    for r in range(nb):
                        acc += gr[r] * hp[r]
                        dp[r] = z[r] * hp[r]
                    g[p] += acc
                # The last row of h is all ones: its products with the others are dh's row sums (gb).
                gb[:] = 0.0
                _bm_grad_w(_view(dhb, 0, (k, nb)), _view(HTc[c], 0, (k, nb)), ak, gb, True)
                for p in range(k):
                    a[k, p] += gb[p]
                s1 = 0.0
                for r in range(nb):
                    s1 += z[r]
                a[k, k] += s1
            for p in range(k):
                for q in range(p + 1):
                    a[p, q] = ak[p, q]
            for p in range(k1):
                for q in range(p):
                    a[q, p] = a[p, q]
            accepted = False
            for attempt in range(8):
                m = a.copy()
                for p in range(k1):
                    m[p, p] += lam * (a[p, p] + 1e-12)
                if _cholesky_solve(m, g, step):
                    for i in range(k1):
                        wt[i] = w[i] + step[i]
                    st = _unit_sse(HTc, y, swc, wt, z)
                    if st < sse:
                        for i in range(k1):
                            w[i] = wt[i]
                        sse = st
                        lam = max(lam * 0.3, 1e-9)
                        accepted = True
                        break
                lam *= 10.0
            if not accepted:
                break
        for i in range(k):
            W[o, i] = w[i]
        b[o] = w[k]
        out_sse[o] = sse


def fit_sigmoid_layer(H, Y, sw, W, b, iters, lam0):
    """Levenberg-Marquardt fit of a sigmoid layer Y ~ sigmoid(H W^T + b), in place, unit by unit.

    Each output unit is an independent 1+k parameter problem (a GLM), solved exactly by a few damped
    Gauss-Newton steps; sw are per-sample weights. H may stack several sets of inputs for the same targets:
    with Y of ny rows and H of c * ny rows, sample r's target is Y[r mod ny]. Units are independent work
    items, so the result does not depend on the thread count. Returns the weighted SSE per unit.
    """
    n, k = H.shape
    ny, nout = Y.shape
    copies = n // ny
    if copies * ny != n or sw.shape[0] != n:
        raise ValueError("H must have a multiple of Y's rows, and sw one weight per row of H")
    # Blocks of FIT_BLOCK samples, each copy padded on its own; padding samples have weight 0 (and target
    # 0): they add nothing to any sum.
    nch = -(-ny // FIT_BLOCK)
    HTc = np.zeros((copies, k + 1, nch * FIT_BLOCK))
    HTc[:, :k, :ny] = np.asarray(H, dtype=np.float64).reshape(copies, ny, k).transpose(0, 2, 1)
    HTc[:, k] = 1.0
    HTc = HTc.reshape(copies, k + 1, nch, FIT_BLOCK).transpose(0, 2, 1, 3)
    HTc = np.ascontiguousarray(HTc).reshape(copies * nch, -1)
    YTc = np.zeros((nout, nch * FIT_BLOCK))
    YTc[:, :ny] = np.asarray(Y, dtype=np.float64).T
    YTc = YTc.reshape(nout, nch, FIT_BLOCK)
    swc = np.zeros((copies, nch * FIT_BLOCK))
    swc[:, :ny] = np.asarray(sw, dtype=np.float64).reshape(copies, ny)
    swc = swc.reshape(copies * nch, FIT_BLOCK)
    out_sse = np.empty(nout)
    run_blocks(fit_units_range, nout, 4, (HTc, YTc, swc, W, b, iters, lam0, out_sse))
    return out_sse


# --------------------------------------------------------------------------- per-block code search
#
# Damped Gauss-Newton (Levenberg-Marquardt) on each block's code against the fixed decoder. Blocks are
# processed LANES at a time in lock-step, every per-block quantity stored with the block as the last
# (contiguous) index, so the arithmetic vectorises across blocks; each block keeps its own damping, accepts
# or rejects its own steps and stops on its own, exactly as if it were handled alone. Lanes never mix, so a
# block's result depends only on its own data: neither the grouping nor the thread count matters.

@njit(**_PLAIN)
def _tri_products(W):
    """P[t(p, q), o] = W[o, p] W[o, q] for q <= p, t(p, q) = p (p + 1) / 2 + q: with it, sum_o d[o] W[o, p]
    W[o, q] for every lane is one product P @ d."""
    nout, m = W.shape
    P = np.empty((m * (m + 1) // 2, nout))
    for p in range(m):
        for q in range(p + 1):
            t = p * (p + 1) // 2 + q
            for o in range(nout):
                P[t, o] = W[o, p] * W[o, q]
    return P


@njit(**_FAST)
def _lanes_decode(h, decoder, acts):
    """acts[0] = h; acts[s + 1] = sigmoid(W acts[s] + b) along the decoder path (W, b) = decoder[s]."""
    a0 = acts[0]
    for c in range(h.shape[0]):
        for l in range(h.shape[1]):
            a0[c, l] = h[c, l]
    for s in range(len(decoder)):
        w, b = decoder[s]
        _bm_forward(w, b, acts[s], acts[s + 1])


@njit(**_FAST)
def _lanes_sse(y, x, out):
    """out[l] = sum_o (y[o, l] - x[o, l])^2, summed in o order."""
    out[:] = 0.0
    for o in range(y.shape[0]):
        for l in range(y.shape[1]):
            e = y[o, l] - x[o, l]
            out[l] += e * e


@njit(**_FAST)
def _lanes_normal_equations(x, decoder, acts, tri, wlt, jac, rowsb, dd, rs, a, g):
    """Per lane, J^T J (lower triangle, flat: a[t(p, q)]) and J^T r at the activations acts, where J is the
    Jacobian of the decoder output with respect to the code and r = x - output.

    One layer (level 1): J = diag(s') W, so J^T J = tri @ s'^2 and J^T r = W^T (s' r), two products (tri
    from :func:`_tri_products`, wlt = W^T). Deeper paths: jac[s] (s >= 1, flat) is the Jacobian of hidden
    layer s, (units, m, lanes); rowsb (flat) gets W jac[depth - 1], the output layer's Jacobian rows before
    the slope s'.
    """
    depth = len(decoder)
    out = acts[depth]
    d0, nl = out.shape
    m = acts[0].shape[0]
    for o in range(d0):
        for l in range(nl):
            y = out[o, l]
            s = y * (1.0 - y)
            dd[o, l] = s * s
            rs[o, l] = s * (x[o, l] - y)
    if depth == 1:
        a[:, :] = 0.0
        g[:, :] = 0.0
        _bm_gemm(tri, dd, a)
        _bm_gemm(wlt, rs, g)
        return
    for s in range(1, depth):
        w = decoder[s - 1][0]
        act = acts[s]
        t = _view(jac[s], 0, (act.shape[0], m, nl))
        units = act.shape[0]
        if s == 1:
            for u in range(units):
                for c in range(m):
                    wuc = w[u, c]
                    for l in range(nl):
                        t[u, c, l] = wuc
        else:
            jac[s][:] = 0.0
            _bm_gemm(w, _view(jac[s - 1], 0, (acts[s - 1].shape[0], m * nl)), _view(jac[s], 0, (units, m * nl)))
        for u in range(units):
            for c in range(m):
                for l in range(nl):
                    t[u, c, l] *= act[u, l] * (1.0 - act[u, l])
    rowsb[:] = 0.0
    last = _view(jac[depth - 1], 0, (acts[depth - 1].shape[0], m * nl))
    _bm_gemm(decoder[depth - 1][0], last, _view(rowsb, 0, (d0, m * nl)))
    rows = _view(rowsb, 0, (d0, m, nl))
    a[:, :] = 0.0
    g[:, :] = 0.0
    for o in range(d0):
        for p in range(m):
            rp = rows[o, p]
            gp = g[p]
            for l in range(nl):
                gp[l] += rp[l] * rs[o, l]
            for q in range(p + 1):
                rq = rows[o, q]
                at = a[p * (p + 1) // 2 + q]
                for l in range(nl):
                    at[l] += dd[o, l] * rp[l] * rq[l]


@njit(**_FAST)
def _lanes_damped_solve(a, g, lam, chol, step, ok):
    """Solve (A + lam diag(A)) step = g per lane by Cholesky (A: flat lower triangle); ok[l] = it was
    positive definite."""
    m, nl = g.shape
    ok[:] = True
    for j in range(m):
        tj = j * (j + 1) // 2
        for i in range(j, m):
            ti = i * (i + 1) // 2
            cij = chol[ti + j]
            aij = a[ti + j]
            for l in range(nl):
                cij[l] = aij[l]
            if i == j:
                for l in range(nl):
                    cij[l] += lam[l] * (aij[l] + 1e-9)
            for k in range(j):
                cik = chol[ti + k]
                cjk = chol[tj + k]
                for l in range(nl):
                    cij[l] -= cik[l] * cjk[l]
            if i == j:
                for l in range(nl):
                    s = cij[l]
                    bad = not s > 0.0
                    ok[l] = ok[l] and not bad
                    cij[l] = np.sqrt(1.0 if bad else s)
            else:
                cjj = chol[tj + j]
                for l in range(nl):
                    cij[l] /= cjj[l]
    for i in range(m):
        ti = i * (i + 1) // 2
        si = step[i]
        for l in range(nl):
            si[l] = g[i, l]
        for k in range(i):
            cik = chol[ti + k]
            sk = step[k]
            for l in range(nl):
                si[l] -= cik[l] * sk[l]
        cii = chol[ti + i]
        for l in range(nl):
            si[l] /= cii[l]
    for i in range(m - 1, -1, -1):
        si = step[i]
        for k in range(i + 1, m):
            cki = chol[k * (k + 1) // 2 + i]
            sk = step[k]
            for l in range(nl):
                si[l] -= cki[l] * sk[l]
        cii = chol[i * (i + 1) // 2 + i]
        for l in range(nl):
            si[l] /= cii[l]


@njit(**_PLAIN)
def _decoder_path(theta, off, layers, level):
    """The (W, b) of the decoder layers a level-`level` code goes through, from the code outward."""
    depth = layers.shape[0] - 1
    path = []
    for s in range(level):
        j = level - 1 - s
        nout, nin = layers[j], layers[j + 1]
        w = _mat(theta, off[depth + j, 0], nout, nin).copy()
        path.append((w, theta[off[depth + j, 1] : off[depth + j, 1] + nout].copy()))
    return path


@njit(**_PLAIN)
def refine_codes_range(X, codes, theta, off, layers, level, steps, lam0, out, sse_out, first, last):
    """Refine the codes of blocks first..last-1 into out and sse_out (one work item of refine_codes)."""
    m = layers[level]
    d0 = layers[0]
    decoder = _decoder_path(theta, off, layers, level)
    wl = decoder[level - 1][0]
    tri = _tri_products(wl) if level == 1 else np.empty((0, d0))
    wlt = np.ascontiguousarray(wl.T)
    nt = m * (m + 1) // 2
    nl = LANES
    x = np.empty((d0, nl))
    h = np.empty((m, nl))
    acts = [np.empty((layers[level - s], nl)) for s in range(level + 1)]
    trial = [np.empty((layers[level - s], nl)) for s in range(level + 1)]
    jac = [np.empty(layers[level - s] * m * nl) for s in range(level)]  # jac[0] unused
    rowsb = np.empty(d0 * m * nl)
    dd = np.empty((d0, nl))
    rs = np.empty((d0, nl))
    a = np.empty((nt, nl))
    chol = np.empty((nt, nl))
    g = np.empty((m, nl))
    step = np.empty((m, nl))
    ht = np.empty((m, nl))
    sse = np.empty(nl)
    st = np.empty(nl)
    lam = np.empty(nl)
    ok = np.empty(nl, np.bool_)
    active = np.empty(nl, np.bool_)
    trying = np.empty(nl, np.bool_)
    for lo in range(first, last, nl):
        hi = min(last, lo + nl)
        for l in range(nl):
            r = lo + l if lo + l < hi else lo  # spare lanes repeat block lo; their results are dropped
            for o in range(d0):
                x[o, l] = X[r, o]
            for c in range(m):
                h[c, l] = codes[r, c]
        lam[:] = lam0
        active[:] = True
        _lanes_decode(h, decoder, acts)
        _lanes_sse(acts[level], x, sse)
        for it in range(steps):
            # acts hold the activations of the current h: of the first evaluation or of the last accepted trial.
            _lanes_normal_equations(x, decoder, acts, tri, wlt, jac, rowsb, dd, rs, a, g)
            for l in range(nl):
                trying[l] = active[l]
            for attempt in range(4):
                _lanes_damped_solve(a, g, lam, chol, step, ok)
                for c in range(m):
                    for l in range(nl):
                        ht[c, l] = min(1.0, max(0.0, h[c, l] + step[c, l]))
                _lanes_decode(ht, decoder, trial)
                _lanes_sse(trial[level], x, st)
                left = False
                for l in range(nl):
                    if not trying[l]:
                        continue
                    if ok[l] and st[l] < sse[l]:
                        for c in range(m):
                            h[c, l] = ht[c, l]
                        for s in range(1, level + 1):
                            ta = trial[s]
                            ca = acts[s]
                            for o in range(ta.shape[0]):
                                ca[o, l] = ta[o, l]
                        sse[l] = st[l]
                        lam[l] = max(lam[l] * 0.3, 1e-6)
                        trying[l] = False
                    else:
                        lam[l] *= 10.0
                        left = True
                if not left:
                    break
            more = False
            for l in range(nl):
                if trying[l]:  # no improvement in any attempt: this block is done
                    active[l] = False
                more = more or active[l]
            if not more:
                break
        for l in range(hi - lo):
            for c in range(m):
                out[lo + l, c] = h[c, l]
            sse_out[lo + l] = sse[l]


def refine_codes(X, codes, theta, off, layers, level, steps, lam0):
    """Improve every block's level code for the current decoder (encoder-side only: the decoder is fixed).

    Up to `steps` damped Gauss-Newton iterations per block, codes kept in [0, 1]. Blocks are independent,
    so the result does not depend on how they are grouped or on the thread count. Returns (codes, per-block
    SSE).
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    codes = np.ascontiguousarray(codes, dtype=np.float64)
    n = X.shape[0]
    out = codes.copy()
    sse = np.empty(n)
    run_blocks(refine_codes_range, n, REFINE_ITEM, (X, codes, theta, off, layers, level, steps, lam0, out, sse))
    return out, sse


