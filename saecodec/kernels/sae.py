"""Numba kernels for the sigmoid stacked auto-encoder: forward, backward and the Adam update.

Parameters live in one flat float64 vector ``theta`` (layout from :func:`param_layout`): encoder layers
first, then decoder layers, so a decoder-only optimisation is a contiguous tail slice. Matrices are stored
as ``W`` with shape (out, in), the same orientation the file format and the reference decoder use.

Determinism: gradients are computed per fixed-size chunk of samples (``CHUNK``), each chunk into its own
row, and the rows are summed in chunk order afterwards. The result therefore depends only on the data,
never on how many threads ran the chunks. Inner loops are written as "axpy" updates over an independent
index, so LLVM can vectorise them without reassociating sums (no fastmath anywhere).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = [
    "CHUNK",
    "param_layout",
    "batch_grad",
    "adam_epoch",
    "forward_codes",
    "decode_codes",
]

#: Samples per parallel work item. Fixed, so the summation order does not depend on the thread count.
CHUNK = 64


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


# --------------------------------------------------------------------------- parameter views


@njit(cache=True)
def _layer_shape(layers, j):
    """(out, in) of flat layer j (encoder layers first, then decoder layers)."""
    depth = layers.shape[0] - 1
    if j < depth:
        return layers[j + 1], layers[j]
    l = j - depth
    return layers[l], layers[l + 1]


@njit(cache=True)
def _mat(p, start, rows, cols):
    return p[start : start + rows * cols].reshape((rows, cols))


@njit(cache=True)
def _transposed(theta, off, layers):
    """A copy of theta with every W stored transposed (in, out): the forward pass wants that order."""
    out = theta.copy()
    for j in range(off.shape[0]):
        nout, nin = _layer_shape(layers, j)
        w = _mat(theta, off[j, 0], nout, nin)
        wt = _mat(out, off[j, 0], nin, nout)
        for o in range(nout):
            for i in range(nin):
                wt[i, o] = w[o, i]
    return out


# --------------------------------------------------------------------------- dense sigmoid layer


@njit(cache=True)
def _dense_sigmoid(a, wt, b, h):
    """h = sigmoid(a @ W.T + b), with wt = W.T of shape (in, out)."""
    n, nin = a.shape
    nout = b.shape[0]
    one = h.dtype.type(1.0)
    for r in range(n):
        for o in range(nout):
            h[r, o] = b[o]
        for i in range(nin):
            ai = a[r, i]
            for o in range(nout):
                h[r, o] += ai * wt[i, o]
        for o in range(nout):
            h[r, o] = one / (one + np.exp(-h[r, o]))


@njit(cache=True)
def _dense_backward(a, w, h, dh, gw, gb, da, want_da):
    """Accumulate the gradients of a sigmoid layer h = sigmoid(a W^T + b) given dL/dh.

    gw += dz^T a, gb += sum(dz), and (if want_da) da += dz W, where dz = dh * h * (1 - h).
    """
    n, nin = a.shape
    nout = h.shape[1]
    one = h.dtype.type(1.0)
    for r in range(n):
        for o in range(nout):
            hv = h[r, o]
            d = dh[r, o] * hv * (one - hv)
            gb[o] += d
            if want_da:
                for i in range(nin):
                    gw[o, i] += d * a[r, i]
                    da[r, i] += d * w[o, i]
            else:
                for i in range(nin):
                    gw[o, i] += d * a[r, i]


# --------------------------------------------------------------------------- per-chunk gradient


@njit(cache=True)
def _decode_level(code, x, k, tw, twt, off, layers, coef, g, dcode, want_dcode):
    """Decode a level-k code back to 64 values, add coef * d(sum sq err)/d(params) to g; return the SSE.

    If want_dcode, also accumulate the gradient with respect to the code into dcode.
    """
    depth = layers.shape[0] - 1
    n = code.shape[0]
    acts = [code]
    for s in range(k):
        j = k - 1 - s
        nout, nin = layers[j], layers[j + 1]
        h = np.empty((n, nout), code.dtype)
        _dense_sigmoid(acts[s], _mat(twt, off[depth + j, 0], nin, nout), tw[off[depth + j, 1] : off[depth + j, 1] + nout], h)
        acts.append(h)
    out = acts[k]
    m = out.shape[1]
    dnext = np.empty((n, m), code.dtype)
    two_coef = code.dtype.type(2.0 * coef)
    sse = 0.0
    for r in range(n):
        for c in range(m):
            e = out[r, c] - x[r, c]
            sse += e * e
            dnext[r, c] = two_coef * e
    for s in range(k - 1, -1, -1):
        j = k - 1 - s
        nout, nin = layers[j], layers[j + 1]
        w = _mat(tw, off[depth + j, 0], nout, nin)
        gw = _mat(g, off[depth + j, 0], nout, nin)
        gb = g[off[depth + j, 1] : off[depth + j, 1] + nout]
        if s > 0:
            dprev = np.zeros((n, nin), code.dtype)
            _dense_backward(acts[s], w, acts[s + 1], dnext, gw, gb, dprev, True)
            dnext = dprev
        else:
            _dense_backward(acts[0], w, acts[1], dnext, gw, gb, dcode, want_dcode)
    return sse


@njit(cache=True)
def _chunk_grad(Xin, X, C, coff, idx, lo, hi, frozen, tw, twt, off, layers, lw, coef, g, lossrow):
    """Gradient of sum_k lw[k] * coef * SSE_k over samples idx[lo:hi], accumulated into g (zeroed by caller).

    frozen=False: the codes come from the encoder and the gradient reaches every parameter.
    frozen=True: the level-k codes are the given C[:, coff[k]:coff[k]+layers[k]] (e.g. quantised codes);
    only decoder gradients are produced.
    """
    depth = layers.shape[0] - 1
    n = hi - lo
    d0 = layers[0]
    dt = tw.dtype
    x = np.empty((n, d0), dt)
    for r in range(n):
        for c in range(d0):
            x[r, c] = X[idx[lo + r], c]
    if frozen:
        dummy = np.empty((0, 0), dt)
        for k in range(1, depth + 1):
            if lw[k] != 0.0:
                code = np.empty((n, layers[k]), dt)
                for r in range(n):
                    for c in range(layers[k]):
                        code[r, c] = C[idx[lo + r], coff[k] + c]
                lossrow[k] += _decode_level(code, x, k, tw, twt, off, layers, lw[k] * coef, g, dummy, False)
        return
    xin = np.empty((n, d0), dt)
    for r in range(n):
        for c in range(d0):
            xin[r, c] = Xin[idx[lo + r], c]
    hs = [xin]
    dhs = [np.zeros((n, d0), dt)]
    for l in range(depth):
        nout, nin = layers[l + 1], layers[l]
        h = np.empty((n, nout), dt)
        _dense_sigmoid(hs[l], _mat(twt, off[l, 0], nin, nout), tw[off[l, 1] : off[l, 1] + nout], h)
        hs.append(h)
        dhs.append(np.zeros((n, nout), dt))
    for k in range(1, depth + 1):
        if lw[k] != 0.0:
            lossrow[k] += _decode_level(hs[k], x, k, tw, twt, off, layers, lw[k] * coef, g, dhs[k], True)
    for l in range(depth - 1, -1, -1):
        nout, nin = layers[l + 1], layers[l]
        _dense_backward(
            hs[l],
            _mat(tw, off[l, 0], nout, nin),
            hs[l + 1],
            dhs[l + 1],
            _mat(g, off[l, 0], nout, nin),
            g[off[l, 1] : off[l, 1] + nout],
            dhs[l],
            l > 0,
        )


@njit(cache=True, parallel=True)
def batch_grad(Xin, X, C, coff, idx, frozen, theta, off, layers, lw, grad, losses):
    """Mean-loss gradient over the samples X[idx] into grad (float64); per-level MSE into losses.

    The loss is sum_k lw[k] * mean((reconstruction_k - x)^2). Arithmetic runs in X's dtype (float32 is
    about twice as fast); the chunk sums are reduced in float64 in a fixed order.
    """
    depth = layers.shape[0] - 1
    tw = theta.astype(X.dtype)
    twt = _transposed(tw, off, layers)
    n = idx.shape[0]
    npar = theta.shape[0]
    nch = (n + CHUNK - 1) // CHUNK
    parts = np.zeros((nch, npar), X.dtype)
    lparts = np.zeros((nch, depth + 1))
    coef = 1.0 / (n * layers[0])
    for c in prange(nch):
        lo = c * CHUNK
        hi = min(n, lo + CHUNK)
        _chunk_grad(Xin, X, C, coff, idx, lo, hi, frozen, tw, twt, off, layers, lw, coef, parts[c], lparts[c])
    grad[:] = 0.0
    losses[:] = 0.0
    for c in range(nch):
        for p in range(npar):
            grad[p] += parts[c, p]
        for k in range(depth + 1):
            losses[k] += lparts[c, k]
    for k in range(depth + 1):
        losses[k] *= coef


# --------------------------------------------------------------------------- optimiser


@njit(cache=True)
def _adam_step(theta, grad, m, v, t, lr, beta1, beta2, eps, trainable):
    """One bias-corrected Adam update of the entries of theta where trainable is nonzero."""
    c1 = 1.0 - beta1**t
    c2 = 1.0 - beta2**t
    step = lr * np.sqrt(c2) / c1
    for p in range(theta.shape[0]):
        if trainable[p] == 0:
            continue
        gp = grad[p]
        m[p] = beta1 * m[p] + (1.0 - beta1) * gp
        v[p] = beta2 * v[p] + (1.0 - beta2) * gp * gp
        theta[p] -= step * m[p] / (np.sqrt(v[p]) + eps)


@njit(cache=True)
def adam_epoch(Xin, X, C, coff, perm, batch, frozen, theta, off, layers, lw, m, v, t, lrs, beta1, beta2, eps, trainable, losses):
    """One pass of minibatch Adam over the samples in the order perm; returns the new step count.

    lrs[s] is the learning rate of step s (len(perm) // batch steps; the remainder is left out so every
    step has the same batch size). Only entries with trainable[p] != 0 change. losses gets the mean of the per-step
    (pre-update) level MSEs, a cheap running estimate of the training loss.
    """
    depth = layers.shape[0] - 1
    nsteps = perm.shape[0] // batch
    grad = np.empty_like(theta)
    step_losses = np.empty(depth + 1)
    losses[:] = 0.0
    for s in range(nsteps):
        idx = perm[s * batch : (s + 1) * batch]
        batch_grad(Xin, X, C, coff, idx, frozen, theta, off, layers, lw, grad, step_losses)
        t += 1
        _adam_step(theta, grad, m, v, t, lrs[s], beta1, beta2, eps, trainable)
        for k in range(depth + 1):
            losses[k] += step_losses[k] / nsteps
    return t


# --------------------------------------------------------------------------- inference


@njit(cache=True)
def _encode_chunk(X, lo, hi, theta, twt, off, layers, level):
    """Encoder activations at `level` for rows lo:hi of X."""
    a = np.empty((hi - lo, layers[0]))
    for r in range(hi - lo):
        for i in range(layers[0]):
            a[r, i] = X[lo + r, i]
    for l in range(level):
        nout, nin = layers[l + 1], layers[l]
        h = np.empty((hi - lo, nout))
        _dense_sigmoid(a, _mat(twt, off[l, 0], nin, nout), theta[off[l, 1] : off[l, 1] + nout], h)
        a = h
    return a


@njit(cache=True)
def _decode_chunk(codes, lo, hi, theta, twt, off, layers, level):
    """Decoder output for rows lo:hi of level-`level` codes."""
    depth = layers.shape[0] - 1
    a = np.empty((hi - lo, layers[level]))
    for r in range(hi - lo):
        for i in range(layers[level]):
            a[r, i] = codes[lo + r, i]
    for s in range(level):
        j = level - 1 - s
        nout, nin = layers[j], layers[j + 1]
        h = np.empty((hi - lo, nout))
        _dense_sigmoid(a, _mat(twt, off[depth + j, 0], nin, nout), theta[off[depth + j, 1] : off[depth + j, 1] + nout], h)
        a = h
    return a


@njit(cache=True, parallel=True)
def forward_codes(X, theta, off, layers, level):
    """Encoder activations at `level` (0 = the input itself) for every row of X, in float64."""
    n = X.shape[0]
    twt = _transposed(theta, off, layers)
    nch = (n + CHUNK - 1) // CHUNK
    out = np.empty((n, layers[level]))
    for c in prange(nch):
        lo = c * CHUNK
        hi = min(n, lo + CHUNK)
        out[lo:hi, :] = _encode_chunk(X, lo, hi, theta, twt, off, layers, level)
    return out


@njit(cache=True, parallel=True)
def decode_codes(codes, theta, off, layers, level):
    """Decode level-`level` codes (N, layers[level]) back to (N, layers[0]) in float64."""
    n = codes.shape[0]
    twt = _transposed(theta, off, layers)
    nch = (n + CHUNK - 1) // CHUNK
    out = np.empty((n, layers[0]))
    for c in prange(nch):
        lo = c * CHUNK
        hi = min(n, lo + CHUNK)
        out[lo:hi, :] = _decode_chunk(codes, lo, hi, theta, twt, off, layers, level)
    return out
