"""The network's exact Hessian, and the second-order optimizers that take it, against torch's autograd."""

from __future__ import annotations

import numpy as np
import pytest

import core
import oracles
from core import mlp
from core.network import HESSIAN, MAX_HESSIAN_PARAMS
from test_network import float64_torch, torch_model  # noqa: F401
from test_optimizers import assert_close

torch = pytest.importorskip("torch")
F = torch.nn.functional

NETWORKS = [
    {"data": "moons", "samples": 30, "hidden": [4, 3], "activation": "tanh", "seed": 1},
    {"data": "blobs", "samples": 24, "hidden": [5], "activation": "relu", "seed": 3, "batch_size": 8},
]


def torch_hessian(problem, w, idx) -> np.ndarray:
    """torch.autograd's Hessian of the batch's cross-entropy, the weights as one flat vector."""
    model = torch_model(problem, w)
    shapes = [q.shape for q in model.parameters()]
    X, y = torch.tensor(problem.X)[idx], torch.tensor(problem.y)[idx]

    def loss(flat):
        params, at = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            params.append(flat[at:at + size].reshape(shape))
            at += size
        out = X
        for i in range(0, len(params), 2):
            out = out @ params[i].T + params[i + 1]
            if i + 2 < len(params):
                out = torch.tanh(out) if problem.spec["activation"] == "tanh" else torch.relu(out)
        return F.cross_entropy(out, y)

    return torch.autograd.functional.hessian(loss, torch.tensor(w)).numpy()


@pytest.mark.parametrize("network", NETWORKS, ids=[n["activation"] for n in NETWORKS])
def test_the_hessian_is_torchs_autograd_hessian(network):
    problem = core.network_problem(network)
    rng = np.random.default_rng(0)
    for _ in range(3):
        w = problem.init(network["seed"]) + 0.5 * rng.standard_normal(problem.n_params)
        idx = rng.permutation(len(problem.y))[:13]
        ours = np.empty((problem.n_params, problem.n_params))
        mlp.network_hessian(problem.P, idx.astype(float)[None, :], 0, w, ours)
        ref = torch_hessian(problem, w, idx)
        assert np.max(np.abs(ours - ref)) <= 1e-13 * np.max(np.abs(ref))
        assert np.array_equal(ours, ours.T)


class NetworkSurface:
    """What a second-order oracle asks of the network: torch's Hessian at a point, on the step's batch."""

    def __init__(self, problem, rows):
        self.problem, self.rows, self.k = problem, rows, 0

    def hessian(self, w):
        return torch_hessian(self.problem, w, self.rows[self.k].astype(np.int64))


@pytest.mark.parametrize("optimizer", HESSIAN)
@pytest.mark.parametrize("network", NETWORKS, ids=[n["activation"] for n in NETWORKS])
def test_second_order_steps_match_their_oracle_on_torchs_hessian(optimizer, network):
    """Each oracle step starts from the run's own weights, gradient and state, as on the 2-D surfaces."""
    spec = core.OPTIMIZERS[optimizer]
    hp = {**spec.defaults, **({"damping": 1.0, "lr": 0.5} if optimizer == "newton" else {"lr": 0.01, "k": 3})}
    problem = core.network_problem(network)
    steps = 12
    run = core.trajectory({"network": network}, optimizer, steps=steps, hyperparameters=hp, seed=5)
    assert run.diverged_at is None
    source, full = problem.batches(5)
    where = NetworkSurface(problem, full.repeat(steps, 0) if source is None else source.rows(0, steps))
    step = oracles.OPTIMIZERS[optimizer]
    state: dict = {}
    for k in range(steps):
        where.k = k
        w = step(run.weights[k].copy(), run.gradients[k].copy(), k + 1, run.lr[k], hp, state, where)
        h = where.hessian(run.weights[k]) + hp.get("damping", 0.0) * np.eye(problem.n_params)
        rtol = max(1e-9, 1e-14 * np.linalg.cond(h)) if optimizer == "newton" else 1e-9
        assert_close(run.weights[k + 1][None], w[None], rtol, f"{optimizer} step {k + 1}")
    assert run.losses[-1] < run.losses[0]


def test_second_order_optimizers_refuse_networks_past_the_hessian_limit():
    network = {"data": "moons", "samples": 20, "hidden": [16, 16, 16]}
    assert core.network_problem(network).n_params > MAX_HESSIAN_PARAMS
    for optimizer in HESSIAN:
        with pytest.raises(core.InvalidInput) as e:
            core.trajectory({"network": network}, optimizer, steps=2)
        assert e.value.field == "network.hidden" and str(MAX_HESSIAN_PARAMS) in e.value.reason
