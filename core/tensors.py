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

from core.optimizers import _lerp, fma

tensor_kernel = njit(error_model="numpy")


def matrix_state_size(optimizer: str, rows: int, cols: int) -> int:
    """How many numbers the matrix form of `optimizer` keeps for a rows x cols weight."""
    if optimizer == "adafactor":
        return rows + cols + rows * cols
    raise KeyError(optimizer)


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


# The matrix form of each per-tensor optimizer that has one.
MATRIX_KERNELS = {"adafactor": adafactor_matrix}
