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


@kernel
def forward(P, w, idx, acts):
    """Mean cross-entropy over the samples idx; every layer's output (logits last) left in acts."""
    L, act, s0, N, x0, y0 = _layout(P)
    B = idx.shape[0]
    d = int(P[s0])
    for b in range(B):
        for i in range(d):
            acts[b * d + i] = P[x0 + idx[b] * d + i]
    a0, w0 = 0, 0
    for layer in range(L):
        n_in, n_out = int(P[s0 + layer]), int(P[s0 + layer + 1])
        a1 = a0 + B * n_in
        W = w[w0:w0 + n_out * n_in].reshape((n_out, n_in))
        bias = w[w0 + n_out * n_in:w0 + n_out * n_in + n_out]
        z = acts[a1:a1 + B * n_out].reshape((B, n_out))
        np.dot(acts[a0:a1].reshape((B, n_in)), W.T, z)
        hidden = layer < L - 1
        for b in range(B):
            for j in range(n_out):
                v = z[b, j] + bias[j]
                if hidden:
                    v = np.tanh(v) if act == 0 else max(v, 0.0)
                z[b, j] = v
        a0, w0 = a1, w0 + n_out * n_in + n_out
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
        np.dot(D.T, A, grad[w0:w0 + n_out * n_in].reshape((n_out, n_in)))
        for j in range(n_out):
            s = 0.0
            for b in range(B):
                s += D[b, j]
            grad[w0 + n_out * n_in + j] = s
        if layer > 0:
            D_in = delta[other:other + B * n_in].reshape((B, n_in))
            np.dot(D, w[w0:w0 + n_out * n_in].reshape((n_out, n_in)), D_in)
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
    """The loss on the samples idx at centre + a d1 + b d2 for every a in alphas, b in betas (rows: b)."""
    acts, _ = _buffers(P, idx.shape[0])
    w = np.empty(centre.shape[0])
    for q in range(betas.shape[0]):
        for k in range(alphas.shape[0]):
            for i in range(w.shape[0]):
                w[i] = centre[i] + alphas[k] * d1[i] + betas[q] * d2[i]
            out[q, k] = forward(P, w, idx, acts)


@kernel
def path_losses(P, idx, weights, out):
    """The loss on the samples idx at every row of weights."""
    acts, _ = _buffers(P, idx.shape[0])
    for k in range(weights.shape[0]):
        out[k] = forward(P, weights[k], idx, acts)
