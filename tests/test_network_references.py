"""Every optimizer of the registry training a network, step for step against its reference package.

The reference gets the network as torch and the reference packages see any
model: `model.parameters()`, each nn.Linear weight and bias a tensor of its
own, built as tests/test_references.py builds it for a 2-D surface (its
drivers: closures, wrappers, train/eval), on the same weights and batches.
"""

from __future__ import annotations

import numpy as np
import pytest

import core
from core.network import PER_TENSOR, trainers
from test_network import CASES, JIT_OFF, conditioned_steps, float64_torch, flat, needs, torch_model  # noqa: F401
from test_optimizers import assert_close, rel_error
from test_references import BRANCHES, DRIVERS, Driver, ScheduleFreeDriver, referenced

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL = 1e-9
STEPS = 60
SPECS = [s for s in trainers() if referenced(s)]
if JIT_OFF:
    SPECS = [s for s in SPECS if s.id in ("lamb", "sam")]


class MuonWithAdamW:
    """torch.optim.Muon on the weight matrices and, as its documentation advises for the rest, torch.optim.AdamW on
    the biases with the run's lr and weight decay (core.tensors.VECTOR_OPTIMIZERS)."""

    def __init__(self, spec, params, hp):
        self.muon = DRIVERS["muon"].build(spec, {"params": [p for p in params if p.ndim == 2]}, dict(hp))
        self.adamw = torch.optim.AdamW([p for p in params if p.ndim == 1], lr=hp["lr"], weight_decay=hp["weight_decay"])

    def zero_grad(self):
        self.muon.zero_grad()
        self.adamw.zero_grad()

    def step(self, closure=None):
        self.muon.step()
        self.adamw.step()


def reference_weights(problem, spec, hp: dict, steps: int, seed: int) -> np.ndarray:
    """The reference's weights at every step, trained on the batches the run draws."""
    model = torch_model(problem, problem.init(problem.spec["seed"]))
    X, y = torch.tensor(problem.X), torch.tensor(problem.y)
    driver = DRIVERS.get(spec.id, Driver())
    # One parameter group holding every tensor: the driver builds the reference on [group].
    if spec.id == "muon":
        opt = MuonWithAdamW(spec, list(model.parameters()), hp)
    else:
        opt = driver.build(spec, {"params": list(model.parameters())}, dict(hp))
    source, full = problem.batches(seed)
    rows = full.repeat(steps, 0) if source is None else source.rows(0, steps)

    def point():
        if isinstance(driver, ScheduleFreeDriver):
            opt.eval()
            w = flat(model)
            opt.train()
            return w
        return flat(model)

    out = [point()]
    for k in range(steps):
        idx = torch.tensor(rows[k].astype(np.int64))

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            return loss

        closure()
        driver.step(opt, closure)
        out.append(point())
    return np.array(out)


# SOAP runs Adam in eigenbases, which these networks' first statistics leave open within a repeated eigenvalue: it is
# compared below on networks where they do not.
EVERY_NETWORK = [s for s in SPECS if s.id != "soap"]


@pytest.mark.parametrize("spec", EVERY_NETWORK, ids=[s.id for s in EVERY_NETWORK])
@pytest.mark.parametrize("case", CASES, ids=[f"{c['data']}-{c['activation']}-{kind}" for c, kind in CASES])
def test_runs_match_the_reference_package_at_every_step(spec, case):
    network, kind = case
    needs(network)
    problem = core.network_problem(network)
    hp = spec.defaults
    hp["lr"] = max(hp["lr"], 1e-2)
    ours = core.trajectory({"network": network}, spec.id, steps=STEPS, hyperparameters=hp, seed=7)
    ref = reference_weights(problem, spec, hp, STEPS, seed=7)
    assert ours.diverged_at is None and ours.weights.shape == (STEPS + 1, problem.n_params)
    n = conditioned_steps(ours, network, spec.id, hp)
    assert_close(ours.weights[:n], ref[:n], RTOL, spec.id)
    assert np.mean(ours.weights[-1] != ours.weights[0]) > 0.5


# The branches tests/test_references.py holds against the reference, for the kernels run once per tensor.
TENSOR_BRANCHES = [(core.OPTIMIZERS[oid], hp) for oid, hps in BRANCHES.items() if oid in PER_TENSOR for hp in hps
                   if not hp.get("pre_norm")]
# Adafactor's matrix form: decay, a clipping threshold that bites and a floor of the parameters' RMS that does.
TENSOR_BRANCHES += [(core.OPTIMIZERS["adafactor"], hp) for hp in
                    ({"weight_decay": 0.1, "d": 1.5}, {"eps2": 0.5, "beta2_decay": -0.5}, {"d": 1.0, "lr": 0.1})]
# Shampoo's: decoupled decay (scaled by lr or fixed), roots recomputed every few steps, and momentum with coupled
# decay. The momentum buffer is the last preconditioned step, up to matrix_eps^(-1/4) times the gradient, and it
# feeds the statistics: at matrix_eps 1e-6 the run itself grows a 1e-13 perturbation of its start 1e11-fold within
# 4 to 15 steps, so that branch is compared where it is well-conditioned, at matrix_eps 0.1.
TENSOR_BRANCHES += [(core.OPTIMIZERS["shampoo"], hp) for hp in
                    ({"weight_decay": 0.1, "weight_decouple": 1.0, "lr": 0.01},
                     {"weight_decay": 0.1, "weight_decouple": 1.0, "fixed_decay": 1.0, "lr": 0.01,
                      "preconditioning_compute_steps": 3, "matrix_eps": 1e-3},
                     {"momentum": 0.3, "weight_decay": 0.1, "matrix_eps": 0.1})]


@pytest.mark.parametrize("spec,extra", TENSOR_BRANCHES,
                         ids=[f"{s.id}-{'-'.join(f'{k}={v}' for k, v in h.items())}" for s, h in TENSOR_BRANCHES])
def test_per_tensor_kernels_match_the_reference_on_their_branches(spec, extra):
    network = CASES[0][0]
    problem = core.network_problem(network)
    hp = {**spec.defaults, "lr": 0.003, **{k: float(v) for k, v in extra.items()}}
    assert not set(extra) - set(hp), extra
    ours = core.trajectory({"network": network}, spec.id, steps=STEPS, hyperparameters=hp, seed=7)
    ref = reference_weights(problem, spec, hp, STEPS, seed=7)
    n = conditioned_steps(ours, network, spec.id, hp)
    assert_close(ours.weights[:n], ref[:n], RTOL, f"{spec.id} {extra}")


def test_lamb_clipping_by_the_global_norm_is_refused_on_a_network():
    with pytest.raises(core.InvalidInput) as e:
        core.trajectory({"network": {"samples": 20, "hidden": [2]}}, "lamb", steps=2,
                        hyperparameters={"pre_norm": 1.0})
    assert e.value.field == "hyperparameters.pre_norm"


@pytest.mark.parametrize("shape", [(5, 2), (2, 5), (4, 5), (8, 8), (16, 2), (3, 10)])
def test_muons_matrix_step_is_torchs_bit_for_bit_on_small_layers(shape):
    """Newton-Schulz in bfloat16 as torch runs it: every product, norm and addmm rounded as torch rounds them.

    On larger layers torch's blocked reductions sum in an order of their own, and a last bfloat16 place differs
    now and then (among 60 updates of a 16 x 16 layer, and 4 of 30 of a 32 x 64 one); the runs' parity above
    holds on the test networks all the same."""
    from torch.optim._muon import _zeropower_via_newtonschulz

    from core.tensors import matrix_state_size, muon_matrix

    rng = np.random.default_rng(sum(shape))
    rows, cols = shape
    for _ in range(60):
        g = rng.standard_normal(shape) * 10 ** rng.uniform(-4, 1)
        x, s = np.zeros(rows * cols), np.zeros(matrix_state_size("muon", rows, cols))
        # momentum 0: the buffer is the gradient; lr 1 and no decay: x is minus the adjusted lr times the update.
        muon_matrix(x, g.ravel().copy(), 1, 1.0, 1.0, 0.0, 0.0, 0.0, 1e-7, 5, 0, 0, rows, cols, s)
        ref = _zeropower_via_newtonschulz(torch.tensor(g), (3.4445, -4.7750, 2.0315), 5, 1e-7).double().numpy()
        np.testing.assert_array_equal(x.reshape(shape), -np.sqrt(max(1.0, rows / cols)) * ref)


# A deeper network on minibatches: three hidden layers of unequal widths, so the matrix forms meet tall, wide and
# square weights and biases of three sizes.
DEEP = {"data": "moons", "samples": 120, "hidden": [16, 8, 8], "activation": "tanh", "seed": 5, "batch_size": 30}
MATRIX_FORMS = [s for s in SPECS if s.id in ("adafactor", "shampoo")]


@pytest.mark.parametrize("spec", MATRIX_FORMS, ids=[s.id for s in MATRIX_FORMS])
def test_matrix_forms_match_the_reference_on_a_deeper_network_of_minibatches(spec):
    problem = core.network_problem(DEEP)
    hp = {**spec.defaults, "lr": max(spec.defaults["lr"], 1e-2)}
    ours = core.trajectory({"network": DEEP}, spec.id, steps=STEPS, hyperparameters=hp, seed=7)
    ref = reference_weights(problem, spec, hp, STEPS, seed=7)
    n = conditioned_steps(ours, DEEP, spec.id, hp)
    assert_close(ours.weights[:n], ref[:n], RTOL, spec.id)
    assert np.mean(ours.weights[-1] != ours.weights[0]) > 0.5


def inverse_root_oracle(S, power):
    """S^(-1/power) through numpy's eigh (LAPACK): the singular values of a symmetric S are |eigenvalues|."""
    d, V = np.linalg.eigh(S)
    return (V * (np.sign(d) * np.abs(d) ** (-1.0 / power))) @ V.T


@pytest.mark.parametrize("n", [1, 2, 5, 16, 40])
@pytest.mark.parametrize("power", [2.0, 4.0])
def test_shampoos_inverse_root_is_lapacks_on_ill_conditioned_and_repeated_eigenvalues(n, power):
    """Jacobi's eigendecomposition against LAPACK's, on what Shampoo's statistics look like: matrix_eps I plus a
    few outer products (a repeated eigenvalue), plus many (eigenvalues spread over ten decades)."""
    from core.tensors import _inverse_root

    rng = np.random.default_rng(n)
    for outer in (1, 3, 4 * n):
        G = rng.standard_normal((n, outer)) * 10 ** rng.uniform(-3, 1, outer)
        S = 1e-6 * np.eye(n) + G @ G.T
        S = (S + S.T) / 2
        out = np.empty((n, n))
        work = np.empty((n, n)), np.empty((n, n)), np.empty(n), np.empty(2 * n)
        _inverse_root(S.copy(), power, out, *work)
        ref = inverse_root_oracle(S, power)
        # LAPACK's eigenvalues are accurate to eps ||S|| absolutely, so the root's to eps times S's condition.
        bound = 1e-15 * np.linalg.cond(S) + 1e-13
        assert np.max(np.abs(out - ref)) <= bound * np.max(np.abs(ref)), (outer, np.max(np.abs(out - ref)))


# --- SOAP ---------------------------------------------------------------------------------

# Networks whose every preconditioned side has no repeated eigenvalue in its first statistics, where SOAP's
# eigenbases are the reference's up to sign. With two classes the output layer's gradient rows are g and -g, so a
# 2-2-2's sides are 2 x 2 of rank 1 (eigenvalues |g|^2 and 0) or 2; with three, the output gradient's columns sum to
# zero, so a 2-3-3's 3 x 3 sides have rank 2 (one 0). A 3-wide bias's g gᵀ has 0 twice: precondition_1d is off there.
SOAP_NETWORKS = {
    "moons-2-2-2": {"data": "moons", "samples": 40, "hidden": [2], "activation": "tanh", "seed": 1},
    "moons-2-2-2-minibatch": {"data": "moons", "samples": 40, "hidden": [2], "activation": "tanh", "seed": 1,
                              "batch_size": 10},
    "blobs-2-3-3": {"data": "blobs", "samples": 48, "hidden": [3], "activation": "tanh", "seed": 3},
    "blobs-2-3-3-minibatch": {"data": "blobs", "samples": 48, "hidden": [3], "activation": "tanh", "seed": 3,
                              "batch_size": 12},
}
# Over 40 steps, precondition_frequency 3 refreshes the bases by QR 13 times.
SOAP_CASES = [
    ("moons-2-2-2", {"precondition_1d": 0}),
    ("moons-2-2-2", {"precondition_1d": 1}),
    ("moons-2-2-2", {"precondition_1d": 1, "precondition_frequency": 3}),
    ("moons-2-2-2", {"precondition_1d": 1, "precondition_frequency": 3, "normalize_gradient": 1, "correct_bias": 0}),
    ("moons-2-2-2-minibatch", {"precondition_1d": 1, "precondition_frequency": 3}),
    ("blobs-2-3-3", {"precondition_1d": 0, "precondition_frequency": 3}),
    ("blobs-2-3-3-minibatch", {"precondition_1d": 0, "precondition_frequency": 3}),
]
if JIT_OFF:
    SOAP_CASES = SOAP_CASES[2:3]
# The reference's QR runs in float32, which core.tensors reproduces bit for bit on these sides; what is left is float64
# rounding (Jacobi's eigenvectors against LAPACK's, sums in another order) that SOAP's division by sqrt(v) + eps
# amplifies: at most 8e-9 measured over the steps compared.
SOAP_RTOL = 1e-7
SOAP_STEPS = 60
# Fewest steps compared, so a comparison cannot pass nearly empty.
SOAP_MIN_STEPS = 40


def continuous_steps(run, network: dict, hp: dict, seed: int = 7) -> int:
    """How many of `run`'s weights come before its float32 QR turns a rounding-level difference into a jump.

    The run is repeated from its start perturbed by 1e-13 (relative); the two part by 1e-10 to 1e-8 until a value
    the refresh rounds to float32 lands on the other side in one of them, and then by 1e-4 to 1e-2 at once (blobs
    2-3-3, precondition_frequency 3: at step 41; the reference parts from these runs at the same step). Past that
    no computation that rounds differently in float64 can follow the reference, which rounds so itself.
    """
    shifted = core.trajectory({"network": network}, "soap", run.weights[0] * (1 + 1e-13), run.steps, hp, seed=seed)
    jumped = np.nonzero(rel_error(shifted.weights, run.weights) > 1e-6)[0]
    n = int(jumped[0]) if jumped.size else len(run.weights)
    assert n >= SOAP_MIN_STEPS, f"only {n} steps before the run's float32 QR jumps"
    return n


def first_spectra(problem, network: dict, precondition_1d: bool) -> list[np.ndarray]:
    """The eigenvalues of every statistic SOAP's first step decomposes (G Gᵀ and Gᵀ G of each weight, g gᵀ of each
    bias where preconditioned), from the first batch's gradient."""
    source, full = problem.batches(7)
    idx = (full if source is None else source.rows(0, 1))[0].astype(np.int64)
    _, g = problem.loss_and_gradient(problem.init(network["seed"]), idx)
    out, at = [], 0
    for shape in problem.shapes:
        G = g[at:at + int(np.prod(shape))].reshape(shape if len(shape) == 2 else (shape[0], 1))
        at += G.size
        if len(shape) == 2:
            out += [np.linalg.eigvalsh(G @ G.T), np.linalg.eigvalsh(G.T @ G)]
        elif precondition_1d:
            out.append(np.linalg.eigvalsh(G @ G.T))
    return out


@pytest.mark.parametrize("name,extra", SOAP_CASES, ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in e.items())}"
                                                        for n, e in SOAP_CASES])
def test_soap_matches_the_reference_where_its_first_eigenbases_are_determined(name, extra):
    network = SOAP_NETWORKS[name]
    problem = core.network_problem(network)
    spec = core.OPTIMIZERS["soap"]
    hp = {**spec.defaults, "lr": 0.01, **{k: float(v) for k, v in extra.items()}}
    for values in first_spectra(problem, network, bool(hp["precondition_1d"])):
        gaps = np.diff(np.sort(values))
        assert gaps.size == 0 or gaps.min() > 1e-6 * values.max(), values  # the premise: no repeated eigenvalue
    ours = core.trajectory({"network": network}, "soap", steps=SOAP_STEPS, hyperparameters=hp, seed=7)
    ref = reference_weights(problem, spec, hp, SOAP_STEPS, seed=7)
    assert ours.diverged_at is None
    n = continuous_steps(ours, network, hp)
    assert_close(ours.weights[:n], ref[:n], SOAP_RTOL, f"soap {name} {extra}")
    assert np.all(ours.weights[-1] != ours.weights[0])


def test_soap_trains_the_default_network():
    """A weaker check on a 2-16-16-2: its output layer's Gᵀ G is 16 x 16 of rank one, so 0 is an eigenvalue 15 times
    over and any orthonormal basis of that space is SOAP's; LAPACK's choice there is its own, and the runs part by
    ~1e-2 within a few steps. What is checked is what holds whatever the basis: the run is finite and learns."""
    run = core.trajectory({"network": {"data": "moons"}}, "soap", steps=300, seed=0)
    assert run.diverged_at is None and np.all(np.isfinite(run.weights))
    assert run.losses[-1] < 0.5 * run.losses[0]
    assert np.all(np.diff(run.losses[::50]) < 0)


@pytest.mark.parametrize("side", [2, 3, 4])
def test_soaps_float32_qr_is_torchs_bit_for_bit_on_small_sides(side):
    """torch.linalg.qr in float32 (MKL's sgeqrf and sorgqr here) against the LAPACK reference order core.tensors
    rounds in, on columns spread over ten decades as power iterations of SOAP's statistics are."""
    from core.tensors import _qr_float32

    rng = np.random.default_rng(side)
    for _ in range(200):
        A = (rng.standard_normal((side, side)) * 10 ** rng.uniform(-6, 4, side)).astype(np.float32)
        Q = A.astype(float)
        _qr_float32(Q, np.empty(side), np.empty(side))
        ref = torch.linalg.qr(torch.tensor(A))[0].double().numpy()
        np.testing.assert_array_equal(Q, ref)


@pytest.mark.parametrize("n", [1, 2, 3, 8])
def test_soaps_first_eigenbasis_is_lapacks_by_decreasing_eigenvalue(n):
    """Where the eigenvalues are apart, each column is numpy's eigenvector (LAPACK) of the same eigenvalue, up to
    sign, in the reference's order (torch.linalg.eigh's ascending columns flipped). The order does not change a step
    (Adam is elementwise and a refresh sorts the columns again), only where each coordinate's moments are kept."""
    from core.tensors import _eigenbasis

    rng = np.random.default_rng(n)
    for rank in sorted({1, n - 1, n} - {0}):
        if n - rank > 1:
            continue  # 0 repeated: any basis of its space is one
        G = rng.standard_normal((n, rank))
        S = G @ G.T
        Q = np.empty((n, n))
        _eigenbasis(S, Q, np.empty((n, n)), np.empty(n), np.empty(2 * n), np.empty(n))
        _, V = np.linalg.eigh(S + 1e-30 * np.eye(n))
        V = V[:, ::-1]
        assert np.max(np.abs(np.abs(np.sum(Q * V, axis=0)) - 1)) < 1e-12, (rank, Q, V)
