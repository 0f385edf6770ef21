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

import math
import struct

import numpy as np
from llvmlite import ir
from numba import config, njit, types
from numba.extending import intrinsic, overload

from core.optimizers import fma

kernel = njit(error_model="numpy", cache=True, nogil=True)


# --- tanh, as glibc computes it, without the call ---------------------------------------------
# A network's training and its plane are mostly tanh: numba calls libm's for each element (two calls
# deep, tanh then expm1 through the PLT), about 14 ns, two thirds of a 2-16-16-2 network's gradient.
# Below is glibc 2.36's tanh (sysdeps/ieee754/dbl-64/s_tanh.c) over its expm1 (s_expm1.c, fdlibm's)
# as the x86-64 build runs them on a CPU with FMA: expm1 is then its FMA variant, whose compiler fused
# the multiply-adds marked fma below (read from the library's machine code). Inlined, it needs no call
# and gives libm's bits (tests/test_network.py compares them over every range of its branches).

def _bits(high: int) -> float:
    """The double whose high word is `high` and low word 0 (fdlibm compares high words)."""
    return struct.unpack("<d", struct.pack("<Q", high << 32))[0]


_LN2_HI, _LN2_LO, _INV_LN2 = 6.93147180369123816490e-01, 1.90821492927058770002e-10, 1.44269504088896338700e+00
_Q1, _Q2, _Q3 = -3.33333333333331316428e-02, 1.58730158725481460165e-03, -7.93650757867487942473e-05
_Q4, _Q5 = 4.00821782732936239552e-06, -2.01099218183624371326e-07
_HALF_LN2 = _bits(0x3fd62e42 + 1)   # |x| > ln2 / 2: reduce by k ln2
_THREE_HALVES_LN2 = _bits(0x3FF0A2B2)


# Bit casts and truncation as the compiled code has them (single instructions); their Python bodies run
# when numba is disabled, as core.optimizers.fma's does.
def _double_of_bits(bits):
    """The double whose IEEE bits are the int64 `bits` (modulo 2^64)."""
    return struct.unpack("<d", struct.pack("<Q", bits & 0xFFFFFFFFFFFFFFFF))[0]


def _bits_of_double(x):
    """The IEEE bits of the double x, as an int64."""
    return struct.unpack("<q", struct.pack("<d", x))[0]


def _trunc(x):
    """x rounded toward zero, as a double (C's conversion to int, kept in a float lane)."""
    return float(math.trunc(x))


@intrinsic
def _llvm_double_of_bits(typingctx, bits):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _llvm_bits_of_double(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _llvm_trunc(typingctx, x):
    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.trunc", [double], ir.FunctionType(double, [double]))
        return builder.call(fn, args)

    return types.float64(types.float64), codegen


@overload(_double_of_bits)
def _double_of_bits_compiled(bits):
    return lambda bits: _llvm_double_of_bits(bits)


@overload(_bits_of_double)
def _bits_of_double_compiled(x):
    return lambda x: _llvm_bits_of_double(x)


@overload(_trunc)
def _trunc_compiled(x):
    return lambda x: _llvm_trunc(x)


# 1.5 * 2^52: an integer-valued double k added to it leaves k in the low bits of the sum's pattern.
_SHIFTER = 6755399441055744.0


@njit(inline="always")
def _expm1(x):
    """glibc's expm1(x), FMA variant, for the arguments tanh passes (-2 < x < 0 or 2 <= x < 44).

    Its branches become selects: every candidate is computed and the one fdlibm's k picks is kept,
    and k stays a double (its powers of two written from its bits), so a loop of them vectorizes
    on AVX2, which converts no doubles to 64-bit integers. k = 0 and k = +-1 reduce as the general
    case does, exactly (t ln2_hi is exact for |t| = 1, and k = 0 leaves x and c = 0).
    """
    y = abs(x)
    k = _trunc(_INV_LN2 * x + (0.5 if x >= 0.0 else -0.5))
    k = k if y >= _THREE_HALVES_LN2 else (1.0 if x >= 0.0 else -1.0)
    k = k if y >= _HALF_LN2 else 0.0
    hi = fma(-k, _LN2_HI, x)
    lo = k * _LN2_LO
    r = hi - lo
    c = (hi - r) - lo
    hfx = 0.5 * r
    hxs = r * hfx
    h2 = hxs * hxs
    r1 = fma(h2 * h2, fma(hxs, _Q5, _Q4), fma(h2, fma(hxs, _Q3, _Q2), fma(hxs, _Q1, 1.0)))
    t = fma(-r1, hfx, 3.0)
    e = ((r1 - t) / fma(-r, t, 6.0)) * hxs
    k0 = r - fma(e, r, -hxs)
    e = fma(e - c, r, -c) - hxs
    bits = _bits_of_double(k + _SHIFTER)
    two_k = _double_of_bits((bits + 1023) << 52)
    two_minus_k = _double_of_bits((1023 - bits) << 52)
    out = ((r - (e + two_minus_k)) + 1.0) * two_k
    out = ((1.0 - two_minus_k) - (e - r)) * two_k if k < 20.0 else out
    out = (1.0 - (e - r)) * two_k - 1.0 if k > 56.0 or k <= -2.0 else out
    k1 = (e - (r + 0.5)) * -2.0 if r < -0.25 else fma(r - e, 2.0, 1.0)
    out = k1 if k == 1.0 else out
    out = fma(r - e, 0.5, -0.5) if k == -1.0 else out
    return k0 if k == 0.0 else out


@njit(inline="always")
def _tanh(x):
    """glibc's tanh(x) over _expm1, its branches as selects: libm's bits, inlined."""
    a = abs(x)
    big = a >= 1.0
    # Lanes whose result comes from elsewhere (|x| >= 22, inf, NaN) take a harmless argument.
    s = a if a < 22.0 else 1.0
    t = _expm1(s + s if big else s * -2.0)
    q = (2.0 if big else -t) / (t + 2.0)
    z = 1.0 - q if big else q
    z = z if a < 22.0 else 1.0
    z = z if x >= 0.0 else -z
    z = x * (1.0 + x) if a < 2.0 ** -55 else z
    z = x if x == 0.0 else z
    return z if a < np.inf else (1.0 / x + 1.0 if x >= 0.0 else 1.0 / x - 1.0)



# With numba disabled (the core's coverage run) _tanh would run as Python, an exact fraction for each of
# its fused multiply-adds: thousands of times slower. The activation then takes libm's tanh itself, whose
# bits _tanh gives (tests/test_network.py compares the two, with the JIT on and off).
_activation_tanh = math.tanh if config.DISABLE_JIT else _tanh

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
    # One loop per case: a loop with no branch inside vectorizes (LLVM does not unswitch these itself).
    if hidden and act == 0:
        for b in range(Z.shape[0]):
            for j in range(Z.shape[1]):
                Z[b, j] = Z[b, j] + bias[j]
        flat = Z.reshape(Z.size)
        for i in range(flat.shape[0]):
            flat[i] = _activation_tanh(flat[i])
    elif hidden:
        for b in range(Z.shape[0]):
            for j in range(Z.shape[1]):
                Z[b, j] = max(Z[b, j] + bias[j], 0.0)
    else:
        for b in range(Z.shape[0]):
            for j in range(Z.shape[1]):
                Z[b, j] = Z[b, j] + bias[j]


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
