"""Whole-vector kernels' forms for a weight matrix, where the reference treats a matrix as a matrix.

core.network runs a per-tensor kernel once per nn.Linear weight and bias; for
the optimizers named here, a weight matrix (rows x cols, row-major in x) takes
this form and a bias the registry's kernel. Like the registry's whole kernels
these are compiled only inside the generated network loops, whose file name
hashes this file.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from core.optimizers import MUON_A, MUON_B, MUON_C, _bfloat16, _lerp, _lerp_fused, fma

tensor_kernel = njit(error_model="numpy")


def matrix_state_size(optimizer: str, rows: int, cols: int) -> int:
    """How many numbers the matrix form of `optimizer` keeps for a rows x cols weight."""
    if optimizer == "adafactor":
        return rows + cols + rows * cols
    if optimizer == "muon":
        short = min(rows, cols)
        return 3 * rows * cols + 2 * short * short
    if optimizer == "shampoo":
        # The momentum buffer and the update, both statistics and their inverse roots, an eigensolver's room.
        side = max(rows, cols)
        return 2 * rows * cols + 2 * (rows * rows + cols * cols) + 2 * side * side + 3 * side
    raise KeyError(optimizer)


def vector_state_size(optimizer: str, n: int) -> int:
    """How many numbers the vector form of `optimizer` keeps for a bias of n numbers."""
    if optimizer == "shampoo":
        return 2 * n + 4 * n * n + 3 * n
    raise KeyError(optimizer)


# An optimizer that takes matrices only, and what trains a network's biases beside it: torch.optim.Muon refuses
# a 1-D parameter and its documentation trains the others with AdamW; here with the run's lr and weight decay
# and AdamW's default betas and eps.
def muon_bias_hyperparameters(hp: dict) -> dict:
    return {"lr": hp["lr"], "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": hp["weight_decay"]}


VECTOR_OPTIMIZERS = {"muon": ("adamw", muon_bias_hyperparameters)}


@tensor_kernel
def adafactor_matrix(x, g, t, lr_t, lr, beta2_decay, eps1, eps2, d, weight_decay, rows, cols, s):
    """torch Adafactor on a matrix: the second moment factored into row and column means (Algorithm 4).

    s holds the row means (rows), the column means (cols) and the update (rows x cols). torch
    forms a row's mean square as its norm squared, so the root is taken and squared here too.
    """
    n = rows * cols
    row_var = s[:rows]
    col_var = s[rows:rows + cols]
    update = s[rows + cols:rows + cols + n]
    tf = float(t)
    one_minus_beta2_t = tf ** beta2_decay
    # torch uses Python's min and max here, which keep the first argument on ties.
    inv_sqrt_t = 1.0 / (tf ** 0.5)
    rho_t = inv_sqrt_t if inv_sqrt_t < lr_t else lr_t
    sq = 0.0
    for i in range(n):
        sq += x[i] * x[i]
    rms = np.sqrt(sq) / (n ** 0.5)
    alpha = (rms if rms > eps2 else eps2) * rho_t
    if weight_decay != 0.0:
        for i in range(n):
            x[i] = x[i] * (1.0 - lr_t * weight_decay)
    for i in range(rows):
        sq = 0.0
        for j in range(cols):
            sq += g[i * cols + j] * g[i * cols + j]
        norm = np.sqrt(sq)
        row_var[i] = _lerp(row_var[i], norm * norm / cols, one_minus_beta2_t)
    for j in range(cols):
        sq = 0.0
        for i in range(rows):
            sq += g[i * cols + j] * g[i * cols + j]
        norm = np.sqrt(sq)
        col_var[j] = _lerp(col_var[j], norm * norm / rows, one_minus_beta2_t)
    total = 0.0
    for i in range(rows):
        total += row_var[i]
    mean = total / rows
    if mean < eps1:
        mean = eps1
    sq = 0.0
    for i in range(rows):
        for j in range(cols):
            k = i * cols + j
            update[k] = 1.0 / np.sqrt(max(row_var[i] * col_var[j] / mean, eps1 * eps1)) * g[k]
            sq += update[k] * update[k]
    ratio = np.sqrt(sq) / ((n ** 0.5) * d)
    denom = ratio if ratio > 1.0 else 1.0
    step = -alpha / denom
    for i in range(n):
        x[i] = fma(step, update[i], x[i])


@tensor_kernel
def muon_matrix(x, g, t, lr_t, lr, weight_decay, momentum, nesterov, eps, ns_steps, adjust_lr_fn, shape, rows, cols,
                s):
    """torch Muon on a matrix, its Newton-Schulz iteration in bfloat16 as torch runs it on the CPU.

    Every product sums exact products of bfloat16 numbers in float32, in order, and rounds once to
    bfloat16; torch.addmm adds its beta term as a fused multiply-add to the alpha-scaled product (adding
    the two rounded terms instead gave -1.8125 for torch's -1.8046875 at step 17 of a 4 x 5 layer). A tall matrix iterates on its transpose, as torch's does. s holds the momentum
    buffer, the update, the iterate, its Gram matrix and the Gram update.
    """
    n = rows * cols
    b = s[:n]
    update = s[n:2 * n]
    tall = rows > cols
    r, c = (cols, rows) if tall else (rows, cols)
    X = s[2 * n:3 * n].reshape((r, c))
    gram = s[3 * n:3 * n + r * r].reshape((r, r))
    gram_update = s[3 * n + r * r:3 * n + 2 * r * r].reshape((r, r))
    for i in range(n):
        b[i] = _lerp(b[i], g[i], 1.0 - momentum)
        update[i] = _bfloat16(_lerp(g[i], b[i], momentum) if nesterov != 0.0 else b[i])
    for i in range(rows):
        for j in range(cols):
            if tall:
                X[j, i] = update[i * cols + j]
            else:
                X[i, j] = update[i * cols + j]
    sq = 0.0
    for i in range(r):
        for j in range(c):
            sq = float(np.float32(sq + X[i, j] * X[i, j]))
    norm = _bfloat16(np.sqrt(sq))
    floor = _bfloat16(eps)
    if norm < floor:
        norm = floor
    for i in range(r):
        for j in range(c):
            X[i, j] = _bfloat16(X[i, j] / norm)
    for _ in range(int(ns_steps)):
        for i in range(r):
            for j in range(r):
                acc = 0.0
                for k in range(c):
                    acc = float(np.float32(acc + X[i, k] * X[j, k]))
                gram[i, j] = _bfloat16(acc)
        for i in range(r):
            for j in range(r):
                acc = 0.0
                for k in range(r):
                    acc = float(np.float32(acc + gram[i, k] * gram[k, j]))
                gram_update[i, j] = _bfloat16(fma(MUON_B, gram[i, j], float(np.float32(MUON_C * acc))))
        for i in range(r):
            for j in range(c):
                acc = 0.0
                for k in range(r):
                    acc = float(np.float32(acc + gram_update[i, k] * X[k, j]))
                update[i * c + j] = _bfloat16(fma(MUON_A, X[i, j], acc))
        for i in range(r):
            for j in range(c):
                X[i, j] = update[i * c + j]
    if adjust_lr_fn != 0.0:
        ratio = 0.2 * np.sqrt(max(float(rows), float(cols)))
    else:
        ratio = np.sqrt(max(1.0, rows / cols))
    adjusted_lr = lr_t * ratio
    for i in range(rows):
        for j in range(cols):
            k = i * cols + j
            x[k] = x[k] * (1.0 - lr_t * weight_decay)
            x[k] = fma(-adjusted_lr, X[j, i] if tall else X[i, j], x[k])


@tensor_kernel
def _jacobi_eigh(A, V, d, work):
    """Eigenvalues d and eigenvectors (V's columns) of the symmetric A, by cyclic Jacobi rotations; A is overwritten.

    Rutishauser's cyclic Jacobi (as in Numerical Recipes' jacobi): an off-diagonal entry is dropped once adding
    it to both diagonal entries no longer changes them, and the diagonal is accumulated apart (work) to limit
    rounding. Jacobi's eigenvalues of a positive definite matrix are accurate relative to each eigenvalue, which
    is what an inverse root of Shampoo's statistics (eigenvalues from matrix_eps up) depends on.
    """
    n = A.shape[0]
    b = work[:n]
    z = work[n:2 * n]
    for i in range(n):
        for j in range(n):
            V[i, j] = 0.0
        V[i, i] = 1.0
        b[i] = A[i, i]
        d[i] = A[i, i]
        z[i] = 0.0
    for sweep in range(1, 60):
        off = 0.0
        for p in range(n - 1):
            for q in range(p + 1, n):
                off += abs(A[p, q])
        if off == 0.0:
            return
        threshold = 0.2 * off / (n * n) if sweep < 4 else 0.0
        for p in range(n - 1):
            for q in range(p + 1, n):
                small = 100.0 * abs(A[p, q])
                if sweep > 4 and abs(d[p]) + small == abs(d[p]) and abs(d[q]) + small == abs(d[q]):
                    A[p, q] = 0.0
                elif abs(A[p, q]) > threshold:
                    h = d[q] - d[p]
                    if abs(h) + small == abs(h):
                        tan = A[p, q] / h
                    else:
                        theta = 0.5 * h / A[p, q]
                        tan = 1.0 / (abs(theta) + np.sqrt(1.0 + theta * theta))
                        if theta < 0.0:
                            tan = -tan
                    cos = 1.0 / np.sqrt(1.0 + tan * tan)
                    sin = tan * cos
                    tau = sin / (1.0 + cos)
                    h = tan * A[p, q]
                    z[p] -= h
                    z[q] += h
                    d[p] -= h
                    d[q] += h
                    A[p, q] = 0.0
                    for j in range(p):
                        u, w = A[j, p], A[j, q]
                        A[j, p] = u - sin * (w + u * tau)
                        A[j, q] = w + sin * (u - w * tau)
                    for j in range(p + 1, q):
                        u, w = A[p, j], A[j, q]
                        A[p, j] = u - sin * (w + u * tau)
                        A[j, q] = w + sin * (u - w * tau)
                    for j in range(q + 1, n):
                        u, w = A[p, j], A[q, j]
                        A[p, j] = u - sin * (w + u * tau)
                        A[q, j] = w + sin * (u - w * tau)
                    for j in range(n):
                        u, w = V[j, p], V[j, q]
                        V[j, p] = u - sin * (w + u * tau)
                        V[j, q] = w + sin * (u - w * tau)
        for p in range(n):
            b[p] += z[p]
            d[p] = b[p]
            z[p] = 0.0


@tensor_kernel
def _inverse_root(S, power, out, A, V, d, work):
    """out = S^(-1/power) as pytorch_optimizer's compute_power_svd makes it from torch.linalg.svd of the symmetric S.

    The SVD of a symmetric matrix is its eigendecomposition with |eigenvalues| as singular values and the signs
    of the negative ones carried by Vᵀ, so U diag(s^(-1/power)) Vᵀ = V diag(sign(d) |d|^(-1/power)) Vᵀ whatever
    basis a repeated eigenvalue (matrix_eps I at the start) gets. torch's pow(s, -0.5) is a reciprocal square root.
    """
    n = S.shape[0]
    for i in range(n):
        for j in range(n):
            A[i, j] = S[i, j]
    _jacobi_eigh(A, V, d, work)
    for k in range(n):
        s = abs(d[k])
        r = 1.0 / np.sqrt(s) if power == 2 else s ** (-1.0 / power)
        d[k] = -r if d[k] < 0.0 else r
    for i in range(n):
        for j in range(n):
            out[i, j] = 0.0
        for k in range(n):
            scaled = V[i, k] * d[k]
            for j in range(n):
                out[i, j] += scaled * V[j, k]


@tensor_kernel
def _shampoo_prologue(x, g, t, lr_t, momentum, weight_decay, weight_decouple, fixed_decay, buffer, update):
    """The gradient Shampoo preconditions (into update): blended with the last step, then decayed as asked."""
    n = x.shape[0]
    for i in range(n):
        update[i] = g[i]
        if t == 1:
            # pytorch_optimizer starts the buffer as the first gradient, so the first blend leaves it unchanged.
            buffer[i] = g[i]
        if momentum > 0.0:
            update[i] = _lerp_fused(update[i], buffer[i], momentum)
    if weight_decay != 0.0:
        if weight_decouple != 0.0:
            shrink = 1.0 - weight_decay * (1.0 if fixed_decay != 0.0 else lr_t)
            for i in range(n):
                x[i] = x[i] * shrink
        elif weight_decay > 0.0:
            for i in range(n):
                update[i] = fma(weight_decay, x[i], update[i])


@tensor_kernel
def shampoo_matrix(x, g, t, lr_t, lr, momentum, weight_decay, weight_decouple, fixed_decay,
                   preconditioning_compute_steps, matrix_eps, rows, cols, s):
    """pytorch_optimizer's Shampoo on a weight matrix G (order 2): x -= lr L^(-1/4) G R^(-1/4).

    L and R sum G Gᵀ and Gᵀ G from matrix_eps I; their inverse fourth roots are recomputed every
    preconditioning_compute_steps steps. s holds the momentum buffer (the last preconditioned step),
    the gradient being preconditioned, L, R, their roots and the eigensolver's room.
    """
    n = rows * cols
    side = max(rows, cols)
    buffer = s[:n]
    G = s[n:2 * n]
    at = 2 * n
    L = s[at:at + rows * rows].reshape((rows, rows))
    at += rows * rows
    R = s[at:at + cols * cols].reshape((cols, cols))
    at += cols * cols
    L_root = s[at:at + rows * rows].reshape((rows, rows))
    at += rows * rows
    R_root = s[at:at + cols * cols].reshape((cols, cols))
    at += cols * cols
    A = s[at:at + side * side]
    at += side * side
    V = s[at:at + side * side]
    at += side * side
    d = s[at:at + side]
    work = s[at + side:at + 3 * side]
    if t == 1:
        for i in range(rows):
            L[i, i] = matrix_eps
        for j in range(cols):
            R[j, j] = matrix_eps
    _shampoo_prologue(x, g, t, lr_t, momentum, weight_decay, weight_decouple, fixed_decay, buffer, G)
    for i in range(rows):
        for j in range(i + 1):
            acc = 0.0
            for k in range(cols):
                acc += G[i * cols + k] * G[j * cols + k]
            L[i, j] += acc
            L[j, i] = L[i, j]
    for i in range(cols):
        for j in range(i + 1):
            acc = 0.0
            for k in range(rows):
                acc += G[k * cols + i] * G[k * cols + j]
            R[i, j] += acc
            R[j, i] = R[i, j]
    if t % int(preconditioning_compute_steps) == 0:
        _inverse_root(L, 4.0, L_root, A[:rows * rows].reshape((rows, rows)), V[:rows * rows].reshape((rows, rows)),
                      d[:rows], work)
        _inverse_root(R, 4.0, R_root, A[:cols * cols].reshape((cols, cols)), V[:cols * cols].reshape((cols, cols)),
                      d[:cols], work)
    # (L_root G) R_root, the order torch multiplies in; the left product goes through A.
    left = A[:n]
    for i in range(rows):
        for j in range(cols):
            acc = 0.0
            for k in range(rows):
                acc += L_root[i, k] * G[k * cols + j]
            left[i * cols + j] = acc
    for i in range(rows):
        for j in range(cols):
            acc = 0.0
            for k in range(cols):
                acc += left[i * cols + k] * R_root[k, j]
            buffer[i * cols + j] = acc
    for i in range(n):
        x[i] = fma(-lr_t, buffer[i], x[i])


@tensor_kernel
def shampoo_vector(x, g, t, lr_t, lr, momentum, weight_decay, weight_decouple, fixed_decay,
                   preconditioning_compute_steps, matrix_eps, n, s):
    """pytorch_optimizer's Shampoo on a bias g (order 1): x -= lr P^(-1/2) g, P summing g gᵀ from matrix_eps I.

    s holds the momentum buffer, the gradient being preconditioned, P, its root and the eigensolver's room.
    """
    buffer = s[:n]
    v = s[n:2 * n]
    at = 2 * n
    P = s[at:at + n * n].reshape((n, n))
    P_root = s[at + n * n:at + 2 * n * n].reshape((n, n))
    A = s[at + 2 * n * n:at + 3 * n * n].reshape((n, n))
    V = s[at + 3 * n * n:at + 4 * n * n].reshape((n, n))
    at += 4 * n * n
    d = s[at:at + n]
    work = s[at + n:at + 3 * n]
    if t == 1:
        for i in range(n):
            P[i, i] = matrix_eps
    _shampoo_prologue(x, g, t, lr_t, momentum, weight_decay, weight_decouple, fixed_decay, buffer, v)
    for i in range(n):
        for j in range(i + 1):
            P[i, j] += v[i] * v[j]
            P[j, i] = P[i, j]
    if t % int(preconditioning_compute_steps) == 0:
        _inverse_root(P, 2.0, P_root, A, V, d, work)
    # gᵀ P_root, a row times the matrix as torch multiplies it.
    for j in range(n):
        acc = 0.0
        for i in range(n):
            acc += v[i] * P_root[i, j]
        buffer[j] = acc
    for i in range(n):
        x[i] = fma(-lr_t, buffer[i], x[i])


# The matrix form of each per-tensor optimizer that has one.
MATRIX_KERNELS = {"adafactor": adafactor_matrix, "muon": muon_matrix, "shampoo": shampoo_matrix}
# The form a bias takes where the registry's kernel is written for a point of the plane only.
BIAS_KERNELS = {"shampoo": shampoo_vector}
