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
from test_optimizers import assert_close
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


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
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
