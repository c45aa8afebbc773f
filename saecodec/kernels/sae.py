"""Numba kernels for the sigmoid stacked auto-encoder.

* back-propagation: :func:`batch_grad` (forward + backward of every level's reconstruction) and
  :func:`adam_epoch` (a pass of minibatch Adam);
* inference: :func:`forward_codes` (encoder), :func:`decode_codes` (decoder);
* Gauss-Newton helpers: :func:`fit_sigmoid_layer` (exact fit of one sigmoid layer, unit by unit) and
  :func:`refine_codes` (per-block optimisation of the codes against a fixed decoder);
* small deterministic linear algebra: :func:`gram`, :func:`linear`, :func:`sigmoid_layer`.

Parameters live in one flat float64 vector ``theta`` (layout from :func:`param_layout`): encoder layers
first, then decoder layers. Matrices are stored as ``W`` with shape (out, in), the orientation the file
format and the reference decoder use.

Determinism: every reduction over samples is computed per fixed-size chunk of samples (``CHUNK``), each
chunk into its own slot, and the slots are summed in chunk order; per-sample and per-unit work is
independent. Results therefore never depend on the number of threads. Inner loops are written as "axpy"
updates over an independent index, so LLVM can vectorise them without reassociating sums (no fastmath).
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
    "fit_sigmoid_layer",
    "refine_codes",
    "gram",
    "sigmoid_layer",
    "linear",
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
def _adam_step(theta, grad, m, v, t, lr, beta1, beta2, eps, rate):
    """One bias-corrected Adam update; parameter p moves with learning rate lr * rate[p] (0: frozen)."""
    c1 = 1.0 - beta1**t
    c2 = 1.0 - beta2**t
    step = lr * np.sqrt(c2) / c1
    for p in range(theta.shape[0]):
        if rate[p] == 0.0:
            continue
        gp = grad[p]
        m[p] = beta1 * m[p] + (1.0 - beta1) * gp
        v[p] = beta2 * v[p] + (1.0 - beta2) * gp * gp
        theta[p] -= rate[p] * step * m[p] / (np.sqrt(v[p]) + eps)


@njit(cache=True)
def adam_epoch(Xin, X, C, coff, perm, batch, frozen, theta, off, layers, lw, m, v, t, lrs, beta1, beta2, eps, rate, losses):
    """One pass of minibatch Adam over the samples in the order perm; returns the new step count.

    lrs[s] is the learning rate of step s (len(perm) // batch steps; the remainder is left out so every
    step has the same batch size); parameter p uses lrs[s] * rate[p], and rate[p] == 0 freezes it.
    losses gets the mean of the per-step (pre-update) level MSEs, a cheap running estimate of the loss.
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
        _adam_step(theta, grad, m, v, t, lrs[s], beta1, beta2, eps, rate)
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


# --------------------------------------------------------------------------- Gauss-Newton helpers


@njit(cache=True)
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


@njit(cache=True)
def _unit_sse(H, y, sw, w, b):
    """Weighted SSE of one sigmoid output unit sigmoid(H w + b) against targets y."""
    n, k = H.shape
    sse = 0.0
    for r in range(n):
        z = b
        for i in range(k):
            z += H[r, i] * w[i]
        e = 1.0 / (1.0 + np.exp(-z)) - y[r]
        sse += sw[r] * e * e
    return sse


@njit(cache=True, parallel=True)
def fit_sigmoid_layer(H, Y, sw, W, b, iters, lam0):
    """Levenberg-Marquardt fit of a sigmoid layer Y ~ sigmoid(H W^T + b), in place, unit by unit.

    Each output unit is an independent 1+k parameter problem (a GLM), solved exactly by a few damped
    Gauss-Newton steps; sw are per-sample weights. Units run in parallel; each unit's sums are serial, so
    the result does not depend on the thread count. Returns the weighted SSE per unit.
    """
    n, k = H.shape
    nout = W.shape[0]
    out_sse = np.empty(nout)
    for o in prange(nout):
        w = W[o].copy()
        bo = b[o]
        y = Y[:, o].copy()
        sse = _unit_sse(H, y, sw, w, bo)
        lam = lam0
        a = np.empty((k + 1, k + 1))
        g = np.empty(k + 1)
        hv = np.empty(k + 1)
        step = np.empty(k + 1)
        wt = np.empty(k)
        for it in range(iters):
            a[:, :] = 0.0
            g[:] = 0.0
            hv[k] = 1.0
            for r in range(n):
                z = bo
                for i in range(k):
                    hv[i] = H[r, i]
                    z += H[r, i] * w[i]
                s = 1.0 / (1.0 + np.exp(-z))
                d = s * (1.0 - s)
                dd = sw[r] * d * d
                gr = sw[r] * d * (y[r] - s)
                for p in range(k + 1):
                    c = dd * hv[p]
                    g[p] += gr * hv[p]
                    for q in range(k + 1):  # the full square: fixed-length, vectorisable
                        a[p, q] += c * hv[q]
            accepted = False
            for attempt in range(8):
                m = a.copy()
                for p in range(k + 1):
                    m[p, p] += lam * (a[p, p] + 1e-12)
                if _cholesky_solve(m, g, step):
                    for i in range(k):
                        wt[i] = w[i] + step[i]
                    bt = bo + step[k]
                    st = _unit_sse(H, y, sw, wt, bt)
                    if st < sse:
                        w[:] = wt
                        bo = bt
                        sse = st
                        lam = max(lam * 0.3, 1e-9)
                        accepted = True
                        break
                lam *= 10.0
            if not accepted:
                break
        W[o, :] = w
        b[o] = bo
        out_sse[o] = sse
    return out_sse


# --------------------------------------------------------------------------- per-block code search


@njit(cache=True)
def _path_sse(h, x, tw, twt, off, layers, level, acts):
    """Decode one code h through the level's decoder layers into acts; return the SSE against x."""
    depth = layers.shape[0] - 1
    for i in range(layers[level]):
        acts[0, i] = h[i]
    for s in range(level):
        j = level - 1 - s
        nout, nin = layers[j], layers[j + 1]
        wt = _mat(twt, off[depth + j, 0], nin, nout)
        bo = off[depth + j, 1]
        for o in range(nout):
            acts[s + 1, o] = tw[bo + o]
        for i in range(nin):
            ai = acts[s, i]
            for o in range(nout):
                acts[s + 1, o] += ai * wt[i, o]
        for o in range(nout):
            acts[s + 1, o] = 1.0 / (1.0 + np.exp(-acts[s + 1, o]))
    sse = 0.0
    for o in range(layers[0]):
        e = acts[level, o] - x[o]
        sse += e * e
    return sse


@njit(cache=True)
def _path_jacobian(tw, off, layers, level, acts, jac, tmp):
    """d(output)/d(code) of the decoder path at the activations in acts, into jac (layers[0], m)."""
    depth = layers.shape[0] - 1
    m = layers[level]
    cur = tmp
    for s in range(level):
        j = level - 1 - s
        nout, nin = layers[j], layers[j + 1]
        w = _mat(tw, off[depth + j, 0], nout, nin)
        nxt = jac if s == level - 1 else np.empty((nout, m))
        for o in range(nout):
            a = acts[s + 1, o]
            d = a * (1.0 - a)
            if s == 0:
                for c in range(m):
                    nxt[o, c] = d * w[o, c]
            else:
                for c in range(m):
                    nxt[o, c] = 0.0
                for i in range(nin):
                    wi = d * w[o, i]
                    for c in range(m):
                        nxt[o, c] += wi * cur[i, c]
        cur = nxt


@njit(cache=True)
def _refine_one(x, h, tw, twt, off, layers, level, steps, lam0, acts, jac, tmp, a, g, step, ht):
    """Damped Gauss-Newton on one block's code h (in place, kept in [0, 1]); returns the final SSE."""
    m = layers[level]
    d0 = layers[0]
    sse = _path_sse(h, x, tw, twt, off, layers, level, acts)
    lam = lam0
    for it in range(steps):
        # acts always hold the activations of the current h here: of the first evaluation or of the
        # last accepted trial (a failed iteration ends the loop).
        _path_jacobian(tw, off, layers, level, acts, jac, tmp)
        a[:, :] = 0.0
        g[:] = 0.0
        for o in range(d0):
            r = x[o] - acts[level, o]
            for p in range(m):
                jp = jac[o, p]
                g[p] += jp * r
                for q in range(p + 1):
                    a[p, q] += jp * jac[o, q]
        for p in range(m):
            for q in range(p):
                a[q, p] = a[p, q]
        improved = False
        for attempt in range(4):
            mm = a.copy()
            for p in range(m):
                mm[p, p] += lam * (a[p, p] + 1e-9)
            if _cholesky_solve(mm, g, step):
                for p in range(m):
                    ht[p] = min(1.0, max(0.0, h[p] + step[p]))
                st = _path_sse(ht, x, tw, twt, off, layers, level, acts)
                if st < sse:
                    h[:] = ht
                    sse = st
                    lam = max(lam * 0.3, 1e-6)
                    improved = True
                    break
            lam *= 10.0
        if not improved:
            break
    return sse


@njit(cache=True, parallel=True)
def refine_codes(X, codes, theta, off, layers, level, steps, lam0):
    """Improve every block's level code for the current decoder (encoder-side only: the decoder is fixed).

    Up to `steps` damped Gauss-Newton iterations per block, codes kept in [0, 1]. Blocks are independent,
    so the result does not depend on the thread count. Returns (codes, per-block SSE).
    """
    n = X.shape[0]
    depth = layers.shape[0] - 1
    m = layers[level]
    width = 0
    for l in range(depth + 1):
        width = max(width, layers[l])
    twt = _transposed(theta, off, layers)
    out = codes.copy()
    sse = np.empty(n)
    nch = (n + CHUNK - 1) // CHUNK
    for c in prange(nch):
        lo = c * CHUNK
        hi = min(n, lo + CHUNK)
        acts = np.empty((level + 1, width))
        jac = np.empty((layers[0], m))
        tmp = np.empty((width, m))
        a = np.empty((m, m))
        g = np.empty(m)
        step = np.empty(m)
        ht = np.empty(m)
        x = np.empty(layers[0])
        h = np.empty(m)
        for r in range(lo, hi):
            for i in range(layers[0]):
                x[i] = X[r, i]
            for i in range(m):
                h[i] = out[r, i]
            e = _refine_one(x, h, theta, twt, off, layers, level, steps, lam0, acts, jac, tmp, a, g, step, ht)
            for i in range(m):
                out[r, i] = h[i]
            sse[r] = e
    return out, sse


# --------------------------------------------------------------------------- small deterministic linear algebra


@njit(cache=True, parallel=True)
def gram(A, B):
    """A^T B in float64, summed over fixed chunks of rows in a fixed order (thread-count independent)."""
    n, p = A.shape
    q = B.shape[1]
    nch = (n + CHUNK - 1) // CHUNK
    parts = np.zeros((nch, p, q))
    for c in prange(nch):
        lo = c * CHUNK
        hi = min(n, lo + CHUNK)
        acc = parts[c]
        for r in range(lo, hi):
            for i in range(p):
                ai = A[r, i]
                for j in range(q):
                    acc[i, j] += ai * B[r, j]
    out = np.zeros((p, q))
    for c in range(nch):
        out += parts[c]
    return out


@njit(cache=True, parallel=True)
def sigmoid_layer(A, W, b):
    """sigmoid(A W^T + b) in float64, row chunks in parallel (no reductions across rows)."""
    n = A.shape[0]
    nout = W.shape[0]
    wt = np.ascontiguousarray(W.T)
    out = np.empty((n, nout))
    nch = (n + CHUNK - 1) // CHUNK
    for c in prange(nch):
        lo = c * CHUNK
        hi = min(n, lo + CHUNK)
        _dense_sigmoid(A[lo:hi], wt, b, out[lo:hi])
    return out


@njit(cache=True, parallel=True)
def linear(A, W, b):
    """A W^T + b in float64, row chunks in parallel.

    Used instead of numpy's matmul on the training path: a multi-threaded BLAS call leaves its worker
    threads spinning, and on a small machine they steal the cores the Numba kernels run on.
    """
    n, nin = A.shape
    nout = W.shape[0]
    wt = np.ascontiguousarray(W.T)
    out = np.empty((n, nout))
    nch = (n + CHUNK - 1) // CHUNK
    for c in prange(nch):
        lo = c * CHUNK
        hi = min(n, lo + CHUNK)
        for r in range(lo, hi):
            for o in range(nout):
                out[r, o] = b[o]
            for i in range(nin):
                ai = A[r, i]
                for o in range(nout):
                    out[r, o] += ai * wt[i, o]
    return out
