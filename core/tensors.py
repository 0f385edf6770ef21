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

from core.optimizers import MUON_A, MUON_B, MUON_C, _bfloat16, _f32, _lerp, _lerp_fused, fma

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
    if optimizer == "soap":
        # Both moments and a projection's room, each side's statistics and basis, an eigensolver's room (which the
        # refresh's power iteration and QR reuse), the estimated eigenvalues and their order.
        side = max(rows, cols)
        return 3 * rows * cols + 2 * (rows * rows + cols * cols) + 2 * side * side + 5 * side
    raise KeyError(optimizer)


def vector_state_size(optimizer: str, n: int) -> int:
    """How many numbers the vector form of `optimizer` keeps for a bias of n numbers."""
    if optimizer == "shampoo":
        return 2 * n + 4 * n * n + 3 * n
    if optimizer == "soap":
        # A bias is a column: its statistics g gᵀ are a matrix's left side, with no right side.
        return matrix_state_size("soap", n, 1)
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


@tensor_kernel
def _sorted_descending(values, order):
    """order = the indices of values by decreasing value (equal values by increasing index)."""
    n = values.shape[0]
    for i in range(n):
        order[i] = i
    for i in range(1, n):
        j = i
        while j > 0 and values[int(order[j - 1])] < values[int(order[j])]:
            order[j - 1], order[j] = order[j], order[j - 1]
            j -= 1


@tensor_kernel
def _eigenbasis(GG, Q, A, d, work, order):
    """Q = the eigenvectors of GG + 1e-30 I by decreasing eigenvalue, as torch.linalg.eigh's columns flipped.

    The reference decomposes in the statistics' own dtype (float64 here); Jacobi's eigenvectors differ from LAPACK's
    by rounding where the eigenvalues are apart, and an eigenvector's sign cancels in every use of Q.
    """
    n = GG.shape[0]
    for i in range(n):
        for j in range(n):
            A[i, j] = GG[i, j]
        A[i, i] += 1e-30
    V = Q  # Jacobi's vectors land in Q, then are reordered through A.
    _jacobi_eigh(A, V, d, work)
    _sorted_descending(d, order)
    for i in range(n):
        for j in range(n):
            A[i, j] = V[i, j]
    for i in range(n):
        for j in range(n):
            Q[i, j] = A[i, int(order[j])]


@tensor_kernel
def _nrm2_float32(A, j, i0, n):
    """snrm2 of A[i0:n, j] as a scaled sum of squares (LAPACK's before 3.10), each operation in float32.

    A new largest entry rescales the sum as (ssq r) r, left to right, where the reference's Fortran squares r first:
    that order is MKL's (no mismatch of beta in 3,000 columns of length 3; squaring first, 47).
    """
    scale, ssq = 0.0, 1.0
    for i in range(i0, n):
        if A[i, j] != 0.0:
            a = abs(A[i, j])
            if scale < a:
                r = _f32(scale / a)
                ssq = _f32(1.0 + _f32(_f32(ssq * r) * r))
                scale = a
            else:
                r = _f32(a / scale)
                ssq = _f32(ssq + _f32(r * r))
    return _f32(scale * _f32(np.sqrt(ssq)))


@tensor_kernel
def _reflect_float32(A, i, tau, c0, w):
    """A[i:, c0:] -= tau v (vᵀ A[i:, c0:]) with v = A[i:, i] (its first entry taken as 1), as slarf in float32."""
    n = A.shape[0]
    for j in range(c0, n):
        acc = 0.0
        for k in range(i, n):
            acc = _f32(acc + _f32(A[k, j] * (1.0 if k == i else A[k, i])))
        w[j] = acc
    for j in range(c0, n):
        temp = _f32(-tau * w[j])
        for k in range(i, n):
            A[k, j] = _f32(A[k, j] + _f32((1.0 if k == i else A[k, i]) * temp))


@tensor_kernel
def _qr_float32(A, tau, w):
    """A (square, float32 values) becomes the Q of torch.linalg.qr in float32: sgeqr2 then sorg2r, every operation
    rounded to float32 as LAPACK's reference routines order them (slarfg scales by a division).

    On sides of 2 to 4 this is torch's Q bit for bit (MKL's, measured on random matrices of ten decades); on larger
    sides MKL orders some sums its own way and a last float32 place differs now and then.
    """
    n = A.shape[0]
    for i in range(n):
        tau[i] = 0.0
        if i < n - 1:
            xnorm = _nrm2_float32(A, i, i + 1, n)
            if xnorm != 0.0:
                alpha = A[i, i]
                big, small = max(abs(alpha), xnorm), min(abs(alpha), xnorm)
                q = _f32(small / big)
                beta = _f32(big * _f32(np.sqrt(_f32(1.0 + _f32(q * q)))))
                if alpha >= 0.0:
                    beta = -beta
                tau[i] = _f32(_f32(beta - alpha) / beta)
                scale = _f32(alpha - beta)
                for k in range(i + 1, n):
                    A[k, i] = _f32(A[k, i] / scale)
                _reflect_float32(A, i, tau[i], i + 1, w)
                A[i, i] = beta
    for i in range(n - 1, -1, -1):
        if i < n - 1:
            if tau[i] != 0.0:
                _reflect_float32(A, i, tau[i], i + 1, w)
            for k in range(i + 1, n):
                A[k, i] = _f32(-tau[i] * A[k, i])
        A[i, i] = _f32(1.0 - tau[i])
        for k in range(i):
            A[k, i] = 0.0


@tensor_kernel
def _refresh_side(GG, Q, v, side, rows, cols, A, est, order, work):
    """The reference's get_orthogonal_matrix_qr for one side: one power iteration GG Q, its columns (and v's rows
    or columns along that side) sorted by the estimated eigenvalues, then torch.linalg.qr in float32."""
    n = GG.shape[0]
    for i in range(n):
        for j in range(n):
            acc = 0.0
            for k in range(n):
                acc += GG[i, k] * Q[k, j]
            A[i, j] = acc
    for j in range(n):
        acc = 0.0
        for i in range(n):
            acc += Q[i, j] * A[i, j]
        est[j] = acc
    _sorted_descending(est[:n], order[:n])
    # v's index_select along the side, through work (a row or a column at a time).
    if side == 0:
        for j in range(cols):
            for i in range(rows):
                work[i] = v[int(order[i]) * cols + j]
            for i in range(rows):
                v[i * cols + j] = work[i]
    else:
        for i in range(rows):
            for j in range(cols):
                work[j] = v[i * cols + int(order[j])]
            for j in range(cols):
                v[i * cols + j] = work[j]
    for i in range(n):
        for j in range(n):
            Q[i, j] = _f32(A[i, int(order[j])])
    _qr_float32(Q, est, work)


@tensor_kernel
def _soap_project(X, out, QL, QR, rows, cols, left, right, forward, Y):
    """out = Q_Lᵀ X Q_R (forward) or Q_L X Q_Rᵀ, as the reference's tensordots contract the left side first; a side
    without a basis is the identity. Y is room for the product on the left; out may be X."""
    for a in range(rows):
        for j in range(cols):
            if left:
                acc = 0.0
                for i in range(rows):
                    acc += (QL[i, a] if forward else QL[a, i]) * X[i * cols + j]
                Y[a * cols + j] = acc
            else:
                Y[a * cols + j] = X[a * cols + j]
    for a in range(rows):
        for b in range(cols):
            if right:
                acc = 0.0
                for j in range(cols):
                    acc += Y[a * cols + j] * (QR[j, b] if forward else QR[b, j])
                out[a * cols + b] = acc
            else:
                out[a * cols + b] = Y[a * cols + b]


@tensor_kernel
def _soap_tensor(x, g, t, lr_t, beta1, beta2, shampoo_beta, weight_decay, precondition_frequency, correct_bias,
                 normalize_gradient, eps, rows, cols, left, right, s):
    """pytorch_optimizer's SOAP on one tensor of rows x cols (a bias: a column), preconditioned on its left side
    (G Gᵀ) and right side (Gᵀ G) as asked: Adam on Q_Lᵀ G Q_R, its step projected back by Q_L (·) Q_Rᵀ."""
    n = rows * cols
    side = max(rows, cols)
    m = s[:n]
    v = s[n:2 * n]
    T = s[2 * n:3 * n]
    at = 3 * n
    GL = s[at:at + rows * rows].reshape((rows, rows))
    at += rows * rows
    GR = s[at:at + cols * cols].reshape((cols, cols))
    at += cols * cols
    QL = s[at:at + rows * rows].reshape((rows, rows))
    at += rows * rows
    QR = s[at:at + cols * cols].reshape((cols, cols))
    at += cols * cols
    A = s[at:at + side * side]
    at += side * side
    B = s[at:at + side * side]
    at += side * side
    d = s[at:at + side]
    work = s[at + side:at + 3 * side]
    est = s[at + 3 * side:at + 4 * side]
    order = s[at + 4 * side:at + 5 * side]
    w = 1.0 - shampoo_beta
    if t > 1:
        step = float(t - 1)
        step_size = lr_t
        if correct_bias != 0.0:
            step_size = lr_t * (np.sqrt(1.0 - beta2 ** step) / (1.0 - beta1 ** step))
        _soap_project(g, T, QL, QR, rows, cols, left, right, True, B)
        for i in range(n):
            m[i] = _lerp_fused(m[i], g[i], 1.0 - beta1)
            v[i] = _lerp_fused(v[i], T[i] * T[i], 1.0 - beta2)
        _soap_project(m, T, QL, QR, rows, cols, left, right, True, B)
        for i in range(n):
            T[i] = T[i] / (np.sqrt(v[i]) + eps)
        _soap_project(T, T, QL, QR, rows, cols, left, right, False, B)
        if normalize_gradient != 0.0:
            sq = 0.0
            for i in range(n):
                sq += T[i] * T[i]
            rms = np.sqrt(sq / n) + eps
            for i in range(n):
                T[i] = T[i] / rms
        for i in range(n):
            x[i] = fma(-step_size, T[i], x[i])
        if weight_decay != 0.0:
            shrink = 1.0 - weight_decay * lr_t
            for i in range(n):
                x[i] = x[i] * shrink
    if left:
        for i in range(rows):
            for j in range(rows):
                acc = 0.0
                for k in range(cols):
                    acc += g[i * cols + k] * g[j * cols + k]
                GL[i, j] = _lerp_fused(GL[i, j], acc, w)
    if right:
        for i in range(cols):
            for j in range(cols):
                acc = 0.0
                for k in range(rows):
                    acc += g[k * cols + i] * g[k * cols + j]
                GR[i, j] = _lerp_fused(GR[i, j], acc, w)
    if t == 1:
        # The first step only gathers statistics and takes their eigenbases.
        if left:
            _eigenbasis(GL, QL, A[:rows * rows].reshape((rows, rows)), d[:rows], work, order[:rows])
        if right:
            _eigenbasis(GR, QR, A[:cols * cols].reshape((cols, cols)), d[:cols], work, order[:cols])
    elif (t - 1) % int(precondition_frequency) == 0:
        if left:
            _refresh_side(GL, QL, v, 0, rows, cols, A[:rows * rows].reshape((rows, rows)), est, order, work)
        if right:
            _refresh_side(GR, QR, v, 1, rows, cols, A[:cols * cols].reshape((cols, cols)), est, order, work)


@tensor_kernel
def soap_matrix(x, g, t, lr_t, lr, beta1, beta2, shampoo_beta, weight_decay, precondition_frequency, precondition_1d,
                correct_bias, normalize_gradient, eps, rows, cols, s):
    """pytorch_optimizer's SOAP on a weight matrix: a basis on each side, from G Gᵀ and Gᵀ G."""
    _soap_tensor(x, g, t, lr_t, beta1, beta2, shampoo_beta, weight_decay, precondition_frequency, correct_bias,
                 normalize_gradient, eps, rows, cols, True, True, s)


@tensor_kernel
def soap_vector(x, g, t, lr_t, lr, beta1, beta2, shampoo_beta, weight_decay, precondition_frequency,
                precondition_1d, correct_bias, normalize_gradient, eps, n, s):
    """pytorch_optimizer's SOAP on a bias: a basis from g gᵀ where precondition_1d is on, plain Adam where it is off."""
    _soap_tensor(x, g, t, lr_t, beta1, beta2, shampoo_beta, weight_decay, precondition_frequency, correct_bias,
                 normalize_gradient, eps, n, 1, precondition_1d != 0.0, False, s)


# The matrix form of each per-tensor optimizer that has one.
MATRIX_KERNELS = {"adafactor": adafactor_matrix, "muon": muon_matrix, "shampoo": shampoo_matrix,
                  "soap": soap_matrix}
# The form a bias takes where the registry's kernel is written for a point of the plane only.
BIAS_KERNELS = {"shampoo": shampoo_vector, "soap": soap_vector}
