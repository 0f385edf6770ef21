"""A multilayer perceptron's loss and gradient, as numba kernels over one flat float64 layout.

The network is packed into one array `P` so that it travels through the
engine's `surf` tuple (code, P, Q, row) like any surface's constants:

    P = [L, activation, n_0, ..., n_L, N, X (N x n_0, row-major), y (N)]

L layers map n_0 inputs to n_L class scores; `activation` is ACTIVATIONS'
code, applied after every layer but the last. Row `r` of `Q` holds the
indices of this step's minibatch (all N when full batch). The weights `w`
are torch's nn.Linear parameters, weight (n_out x n_in) then bias for each
layer, concatenated row-major. The loss is softmax cross-entropy averaged
over the batch, as torch's `cross_entropy` with its default reduction.
Kernels validate nothing.
"""

from __future__ import annotations

import numpy as np
from numba import njit

kernel = njit(error_model="numpy", cache=True, nogil=True)

ACTIVATIONS = {"tanh": 0, "relu": 1}
# The engine's dispatch code for a network's loss, apart from the surfaces' codes (formula: 1000).
NETWORK_CODE = 2000


@njit(inline="always")
def _layout(P):
    """(layers, activation, offset of the widths, N, offset of X, offset of y) of a packed network."""
    L = int(P[0])
    N = int(P[3 + L])
    x0 = 4 + L
    return L, int(P[1]), 2, N, x0, x0 + N * int(P[2])


# The matrix products are loops in an order whose innermost loop writes a contiguous row without a
# reduction, which LLVM vectorizes; BLAS's threads spun on a shared 2-core machine (a 51 x 51 plane:
# 22 s with them, 2.8 s with one thread) and a product this small gains little from it.
@njit(inline="always")
def _product(A, WT, Z):
    """Z = A @ WT, each entry summed over the inner index in order."""
    for b in range(A.shape[0]):
        for j in range(Z.shape[1]):
            Z[b, j] = 0.0
        for i in range(A.shape[1]):
            a = A[b, i]
            for j in range(Z.shape[1]):
                Z[b, j] += a * WT[i, j]


@njit(inline="always")
def _activate(Z, bias, act, hidden):
    for b in range(Z.shape[0]):
        for j in range(Z.shape[1]):
            v = Z[b, j] + bias[j]
            if hidden:
                v = np.tanh(v) if act == 0 else max(v, 0.0)
            Z[b, j] = v


@njit(inline="always")
def _layers(P, w, B, first, acts, a0, w0):
    """Layers first.. of the network on the B rows at acts[a0:]; returns where the logits start."""
    L, act, s0, N, x0, y0 = _layout(P)
    for layer in range(first, L):
        n_in, n_out = int(P[s0 + layer]), int(P[s0 + layer + 1])
        a1 = a0 + B * n_in
        W = w[w0:w0 + n_out * n_in].reshape((n_out, n_in))
        z = acts[a1:a1 + B * n_out].reshape((B, n_out))
        _product(acts[a0:a1].reshape((B, n_in)), np.ascontiguousarray(W.T), z)
        _activate(z, w[w0 + n_out * n_in:w0 + n_out * n_in + n_out], act, layer < L - 1)
        a0, w0 = a1, w0 + n_out * n_in + n_out
    return a0


@njit(inline="always")
def _inputs(P, idx, acts):
    L, act, s0, N, x0, y0 = _layout(P)
    d = int(P[s0])
    for b in range(idx.shape[0]):
        for i in range(d):
            acts[b * d + i] = P[x0 + idx[b] * d + i]


@njit(inline="always")
def _cross_entropy(P, idx, acts, a0):
    """Mean cross-entropy of the logits at acts[a0:] against the labels of idx."""
    L, act, s0, N, x0, y0 = _layout(P)
    B = idx.shape[0]
    C = int(P[s0 + L])
    total = 0.0
    for b in range(B):
        top = acts[a0 + b * C]
        for j in range(1, C):
            top = max(top, acts[a0 + b * C + j])
        s = 0.0
        for j in range(C):
            s += np.exp(acts[a0 + b * C + j] - top)
        # log_softmax as torch writes it: z - max - log(sum(exp(z - max))).
        total += -(acts[a0 + b * C + int(P[y0 + idx[b]])] - top - np.log(s))
    return total / B


@kernel
def forward(P, w, idx, acts):
    """Mean cross-entropy over the samples idx; every layer's output (logits last) left in acts."""
    _inputs(P, idx, acts)
    return _cross_entropy(P, idx, acts, _layers(P, w, idx.shape[0], 0, acts, 0, 0))


@kernel
def loss_and_gradient(P, w, idx, acts, delta, grad):
    """The loss on the samples idx; its gradient with respect to w into grad (backpropagation)."""
    f = forward(P, w, idx, acts)
    L, act, s0, N, x0, y0 = _layout(P)
    B = idx.shape[0]
    C = int(P[s0 + L])
    a_out = 0
    for layer in range(L):
        a_out += B * int(P[s0 + layer])
    # d loss / d logits as torch's log_softmax backward forms it: g - exp(log p) * sum(g), g = -onehot / B.
    inv = -1.0 / B
    d_out = delta[:B * C].reshape((B, C))
    for b in range(B):
        top = acts[a_out + b * C]
        for j in range(1, C):
            top = max(top, acts[a_out + b * C + j])
        s = 0.0
        for j in range(C):
            s += np.exp(acts[a_out + b * C + j] - top)
        log_s = np.log(s)
        y = int(P[y0 + idx[b]])
        for j in range(C):
            p = np.exp(acts[a_out + b * C + j] - top - log_s)
            d_out[b, j] = (inv if j == y else 0.0) - p * inv
    w_end = w.shape[0]
    half = delta.shape[0] // 2
    cur, other = 0, half
    for layer in range(L - 1, -1, -1):
        n_in, n_out = int(P[s0 + layer]), int(P[s0 + layer + 1])
        a_in = a_out - B * n_in
        w0 = w_end - n_out * n_in - n_out
        A = acts[a_in:a_out].reshape((B, n_in))
        D = delta[cur:cur + B * n_out].reshape((B, n_out))
        gW = grad[w0:w0 + n_out * n_in].reshape((n_out, n_in))
        gb = grad[w0 + n_out * n_in:w0 + n_out * n_in + n_out]
        gW[:] = 0.0
        gb[:] = 0.0
        for b in range(B):
            for j in range(n_out):
                d = D[b, j]
                gb[j] += d
                for i in range(n_in):
                    gW[j, i] += d * A[b, i]
        if layer > 0:
            W = w[w0:w0 + n_out * n_in].reshape((n_out, n_in))
            D_in = delta[other:other + B * n_in].reshape((B, n_in))
            _product(D, W, D_in)
            for b in range(B):
                for i in range(n_in):
                    a = A[b, i]
                    # Derivatives from the layer's output: tanh' = 1 - tanh^2; relu' = [output > 0].
                    D_in[b, i] = D_in[b, i] * (1.0 - a * a) if act == 0 else (D_in[b, i] if a > 0.0 else 0.0)
            cur, other = other, cur
        a_out, w_end = a_in, w0
    return f


@njit(inline="always")
def _buffers(P, B):
    L, act, s0, N, x0, y0 = _layout(P)
    n_acts, widest = 0, 0
    for layer in range(L + 1):
        n = int(P[s0 + layer])
        n_acts += B * n
        widest = max(widest, n)
    return np.empty(n_acts), np.empty(2 * B * widest)


@kernel
def network_gradient(P, Q, r, w, out):
    """The engine's probe for a network: the loss on batch row r of Q at w, its gradient into out."""
    B = Q.shape[1]
    idx = np.empty(B, dtype=np.int64)
    for b in range(B):
        idx[b] = int(Q[r, b])
    acts, delta = _buffers(P, B)
    return loss_and_gradient(P, w, idx, acts, delta, out)


@kernel
def plane_losses(P, idx, centre, d1, d2, alphas, betas, out):
    """The loss on the samples idx at centre + a d1 + b d2 for every a in alphas, b in betas (rows: b).

    The first layer's product is linear in (a, b), so it is computed for the
    centre and both directions once and combined per point: on the digits that
    layer is 90% of a forward pass.
    """
    L, act, s0, N, x0, y0 = _layout(P)
    B = idx.shape[0]
    acts, _ = _buffers(P, B)
    _inputs(P, idx, acts)
    n_in, n_out = int(P[s0]), int(P[s0 + 1])
    a1 = B * n_in
    X = acts[:a1].reshape((B, n_in))
    parts = np.empty((3, B, n_out))
    for q, v in enumerate((centre, d1, d2)):
        _product(X, np.ascontiguousarray(v[:n_out * n_in].reshape((n_out, n_in)).T), parts[q])
    w = np.empty(centre.shape[0])
    z = acts[a1:a1 + B * n_out].reshape((B, n_out))
    for q in range(betas.shape[0]):
        for k in range(alphas.shape[0]):
            a, c = alphas[k], betas[q]
            for i in range(w.shape[0]):
                w[i] = centre[i] + a * d1[i] + c * d2[i]
            for b in range(B):
                for j in range(n_out):
                    z[b, j] = parts[0, b, j] + a * parts[1, b, j] + c * parts[2, b, j]
            _activate(z, w[n_out * n_in:n_out * n_in + n_out], act, L > 1)
            out[q, k] = _cross_entropy(P, idx, acts, _layers(P, w, B, 1, acts, a1, n_out * n_in + n_out))


@kernel
def path_losses(P, idx, weights, out):
    """The loss on the samples idx at every row of weights."""
    acts, _ = _buffers(P, idx.shape[0])
    for k in range(weights.shape[0]):
        out[k] = forward(P, weights[k], idx, acts)


@kernel
def _hessian_vector(P, w, v, idx, acts, racts, delta, rdelta, out):
    """H v for the loss on the samples idx at w (acts holding forward's outputs), into out.

    Forward mode over backpropagation (Pearlmutter's R operator): every quantity
    of the backward pass is carried with its derivative in the direction v.
    """
    L, act, s0, N, x0, y0 = _layout(P)
    B = idx.shape[0]
    C = int(P[s0 + L])
    for i in range(B * int(P[s0])):
        racts[i] = 0.0
    a0, w0 = 0, 0
    for layer in range(L):
        n_in, n_out = int(P[s0 + layer]), int(P[s0 + layer + 1])
        a1 = a0 + B * n_in
        W = w[w0:w0 + n_out * n_in].reshape((n_out, n_in))
        dW = v[w0:w0 + n_out * n_in].reshape((n_out, n_in))
        for b in range(B):
            for j in range(n_out):
                s = v[w0 + n_out * n_in + j]
                for i in range(n_in):
                    s += racts[a0 + b * n_in + i] * W[j, i] + acts[a0 + b * n_in + i] * dW[j, i]
                if layer < L - 1:
                    a = acts[a1 + b * n_out + j]
                    s = s * (1.0 - a * a) if act == 0 else (s if a > 0.0 else 0.0)
                racts[a1 + b * n_out + j] = s
        a0, w0 = a1, w0 + n_out * n_in + n_out
    inv = 1.0 / B
    for b in range(B):
        top = acts[a0 + b * C]
        for j in range(1, C):
            top = max(top, acts[a0 + b * C + j])
        s = 0.0
        for j in range(C):
            s += np.exp(acts[a0 + b * C + j] - top)
        log_s = np.log(s)
        y = int(P[y0 + idx[b]])
        dot = 0.0
        for j in range(C):
            dot += np.exp(acts[a0 + b * C + j] - top - log_s) * racts[a0 + b * C + j]
        for j in range(C):
            p = np.exp(acts[a0 + b * C + j] - top - log_s)
            delta[b * C + j] = (p - (1.0 if j == y else 0.0)) * inv
            # d softmax = diag(p) - p p^T applied to the logits' tangent.
            rdelta[b * C + j] = p * (racts[a0 + b * C + j] - dot) * inv
    half = delta.shape[0] // 2
    cur, other = 0, half
    w_end, a_out = w.shape[0], a0
    for layer in range(L - 1, -1, -1):
        n_in, n_out = int(P[s0 + layer]), int(P[s0 + layer + 1])
        a_in = a_out - B * n_in
        w0 = w_end - n_out * n_in - n_out
        W = w[w0:w0 + n_out * n_in].reshape((n_out, n_in))
        dW = v[w0:w0 + n_out * n_in].reshape((n_out, n_in))
        for j in range(n_out):
            gb = 0.0
            for b in range(B):
                gb += rdelta[cur + b * n_out + j]
            out[w0 + n_out * n_in + j] = gb
            for i in range(n_in):
                s = 0.0
                for b in range(B):
                    s += rdelta[cur + b * n_out + j] * acts[a_in + b * n_in + i] \
                        + delta[cur + b * n_out + j] * racts[a_in + b * n_in + i]
                out[w0 + j * n_in + i] = s
        if layer > 0:
            for b in range(B):
                for i in range(n_in):
                    e, re = 0.0, 0.0
                    for j in range(n_out):
                        d, rd = delta[cur + b * n_out + j], rdelta[cur + b * n_out + j]
                        e += d * W[j, i]
                        re += rd * W[j, i] + d * dW[j, i]
                    a, ra = acts[a_in + b * n_in + i], racts[a_in + b * n_in + i]
                    # tanh' = 1 - a^2 moves by -2 a da; relu' is constant where it is defined.
                    slope, rslope = (1.0 - a * a, -2.0 * a * ra) if act == 0 else (1.0 if a > 0.0 else 0.0, 0.0)
                    delta[other + b * n_in + i] = e * slope
                    rdelta[other + b * n_in + i] = re * slope + e * rslope
            cur, other = other, cur
        a_out, w_end = a_in, w0


@kernel
def network_hessian(P, Q, r, w, out):
    """The engine's Hessian probe for a network: the exact Hessian of the loss on batch row r of Q at w into out,
    one Hessian-vector product per column, made symmetric (the products agree to rounding)."""
    B = Q.shape[1]
    idx = np.empty(B, dtype=np.int64)
    for b in range(B):
        idx[b] = int(Q[r, b])
    acts, delta = _buffers(P, B)
    racts, rdelta = np.empty_like(acts), np.empty_like(delta)
    forward(P, w, idx, acts)
    n = w.shape[0]
    v = np.zeros(n)
    column = np.empty(n)
    for c in range(n):
        v[c] = 1.0
        _hessian_vector(P, w, v, idx, acts, racts, delta, rdelta, column)
        v[c] = 0.0
        for i in range(n):
            out[i, c] = column[i]
    for i in range(n):
        for c in range(i + 1, n):
            mean = 0.5 * (out[i, c] + out[c, i])
            out[i, c] = mean
            out[c, i] = mean
