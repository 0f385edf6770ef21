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

from core.optimizers import MUON_A, MUON_B, MUON_C, _bfloat16, _lerp, fma

tensor_kernel = njit(error_model="numpy")


def matrix_state_size(optimizer: str, rows: int, cols: int) -> int:
    """How many numbers the matrix form of `optimizer` keeps for a rows x cols weight."""
    if optimizer == "adafactor":
        return rows + cols + rows * cols
    if optimizer == "muon":
        short = min(rows, cols)
        return 3 * rows * cols + 2 * short * short
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


# The matrix form of each per-tensor optimizer that has one.
MATRIX_KERNELS = {"adafactor": adafactor_matrix, "muon": muon_matrix}
