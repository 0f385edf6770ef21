"""The network presets' questions: every number each states, on the runs core trains from the preset's own link.

Accuracy is counted by a numpy forward pass written here; sharpness is the largest eigenvalue of a Hessian made
by central differences of the loss's gradient, not core's own Hessian.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest

import core
from app.presets import PRESETS
from app.state import NETWORK, network_request, query_from_request, request_from_query

NETWORK_PRESETS = [p for p in PRESETS if request_from_query(p.query)["surface"] == NETWORK]


def preset(id: str):
    return next(p for p in PRESETS if p.id == id)


@lru_cache(maxsize=None)
def trained(query: str) -> tuple[core.network.NetworkProblem, dict]:
    """The preset's problem and each run's weights and full-data losses, trained by core as the server trains them."""
    body = network_request(request_from_query(query))
    problem = core.network_problem(body["network"])
    runs = {}
    for run in body["runs"]:
        t = core.trajectory({"network": body["network"]}, run["optimizer"], steps=body["steps"],
                            hyperparameters=run["hyperparameters"], schedule=body["schedule"], noise=body["noise"],
                            seed=body["seed"])
        assert t.diverged_at is None
        runs[run["optimizer"]] = (np.asarray(t.weights), np.asarray(t.losses))
    return problem, runs


def logits(problem, w: np.ndarray) -> np.ndarray:
    a, at = problem.X, 0
    layers = len(problem.shapes) // 2
    for layer in range(layers):
        n_out, n_in = problem.shapes[2 * layer]
        W, b = w[at:at + n_out * n_in].reshape(n_out, n_in), w[at + n_out * n_in:at + n_out * n_in + n_out]
        at += n_out * n_in + n_out
        a = a @ W.T + b
        if layer < layers - 1:
            a = np.tanh(a) if problem.spec["activation"] == "tanh" else np.maximum(a, 0.0)
    return a


def accuracy(problem, w) -> float:
    return float(np.mean(np.argmax(logits(problem, w), 1) == problem.y))


def sharpness(problem, w, h: float = 1e-5) -> float:
    """The Hessian's largest eigenvalue, the Hessian from central differences of the full-data gradient."""
    n = len(w)
    H = np.empty((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = h
        H[:, i] = (problem.loss_and_gradient(w + e)[1] - problem.loss_and_gradient(w - e)[1]) / (2 * h)
    return float(np.linalg.eigvalsh((H + H.T) / 2)[-1])


def first(losses: np.ndarray, below: float) -> int | None:
    hits = np.nonzero(losses < below)[0]
    return int(hits[0]) if len(hits) else None


@pytest.mark.parametrize("p", NETWORK_PRESETS, ids=[p.id for p in NETWORK_PRESETS])
def test_each_network_preset_is_a_canonical_full_batch_moons_sized_link(p):
    assert query_from_request(request_from_query(p.query)) == p.query
    body = network_request(request_from_query(p.query))
    assert body["network"]["hidden"] == [16, 16] and body["network"]["samples"] == 200
    assert "batch_size" not in body["network"]
    assert core.network_problem(body["network"]).n_params <= core.network.MAX_HESSIAN_PARAMS


def test_there_are_network_presets():
    assert {p.id for p in NETWORK_PRESETS} >= {"net_spirals_adam_sgd", "net_momentum_flat", "net_torch_defaults"}


def test_spirals_sgd_hardly_moves_while_adam_learns_them():
    problem, runs = trained(preset("net_spirals_adam_sgd").query)
    (w_sgd, l_sgd), (w_adam, l_adam) = runs["sgd"], runs["adam"]
    assert l_sgd[0] == l_adam[0] and round(l_sgd[0], 2) == 0.70 and abs(l_sgd[0] - math.log(2)) < 0.01
    assert round(l_sgd[-1], 2) == 0.66 and accuracy(problem, w_sgd[-1]) == 125 / 200
    assert round(np.linalg.norm(w_sgd[-1] - w_sgd[0]), 2) == 0.76
    assert round(l_adam[-1], 2) == 0.11 and accuracy(problem, w_adam[-1]) == 190 / 200
    assert round(np.linalg.norm(w_adam[-1] - w_adam[0])) == 24


def test_momentum_ends_flatter_at_the_same_lr():
    problem, runs = trained(preset("net_momentum_flat").query)
    (w_sgd, l_sgd), (w_mom, l_mom) = runs["sgd"], runs["momentum"]
    assert round(sharpness(problem, w_sgd[0]), 1) == 1.6
    assert round(l_mom[-1], 3) == 0.001 and round(sharpness(problem, w_mom[-1]), 2) == 0.58
    assert round(l_sgd[-1], 2) == 0.18 and round(sharpness(problem, w_sgd[-1]), 1) == 4.1


def test_at_the_same_effective_step_momentum_ends_no_flatter():
    query = preset("net_momentum_flat").query.replace("sgd.lr=0.1", "sgd.lr=0.5").replace("momentum.lr=0.1", "momentum.lr=0.05")
    problem, runs = trained(query)
    (w_sgd, l_sgd), (w_mom, l_mom) = runs["sgd"], runs["momentum"]
    assert round(l_sgd[-1], 3) == round(l_mom[-1], 3) == 0.003
    assert (round(sharpness(problem, w_sgd[-1]), 2), round(sharpness(problem, w_mom[-1]), 2)) == (1.27, 1.25)


def test_at_torchs_defaults_rmsprop_wins_and_sgd_has_hardly_started():
    problem, runs = trained(preset("net_torch_defaults").query)
    losses = {k: l for k, (_, l) in runs.items()}
    assert {round(l[0], 2) for l in losses.values()} == {0.70}
    rms_w, rms = runs["rmsprop"]
    assert (first(rms, 0.35), first(rms, 0.02)) == (4, 88)
    assert round(rms[-1], 4) == 0.0004 and accuracy(problem, rms_w[-1]) == 1.0
    assert (round(losses["adagrad"][-1], 2), round(losses["adam"][-1], 2)) == (0.14, 0.12)
    assert all(425 < first(losses[k], 0.35) < 450 for k in ("momentum", "nesterov"))
    assert round(losses["momentum"][-1], 2) == round(losses["nesterov"][-1], 2) == 0.33
    assert round(losses["sgd"][-1], 2) == 0.63
    # Ranked as the question tells them.
    ends = sorted(losses, key=lambda k: losses[k][-1])
    assert ends[0] == "rmsprop" and ends[-1] == "sgd" and set(ends[1:3]) == {"adam", "adagrad"}
