"""torch.optim's newer optimizers where the reference parity runs do not reach.

The registry-wide runs (test_references, test_optimizers) hold Muon, Adafactor,
Rprop, ASGD and L-BFGS against torch.optim at their defaults and a few random
draws; these tests add the settings those draws rarely or never meet: L-BFGS's
line search with room to search and a short history, its early returns, ASGD
once it averages, Muon's norm floor and zero iterations, and the bfloat16
rounding Muon's Newton-Schulz iteration runs in.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import core
from core import optimizers
from test_optimizers import assert_close, finite_prefix, float64_torch, torch_points  # noqa: F401
from test_references import SURFACES, reference_points

torch = pytest.importorskip("torch")


def python(fn):
    return getattr(fn, "py_func", fn)


def assert_matches_torch(optimizer, surface, hp, steps, start=None):
    spec = core.OPTIMIZERS[optimizer]
    start = core.SURFACES[surface["name"]].start if start is None else start
    full = {**spec.defaults, **hp}
    ours = core.trajectory(surface, optimizer, start, steps, full)
    ref = reference_points(spec, surface, start, steps, full)
    assert len(ours.points) == len(ref) == steps + 1
    assert_close(ours.points, ref, 1e-9, f"{optimizer} {hp} on {surface['name']}")
    return ours


@pytest.mark.parametrize("surface", SURFACES, ids=[s["name"] for s in SURFACES])
@pytest.mark.parametrize("max_eval,history_size", [(1, 100), (4, 2), (25, 5)])
def test_lbfgs_strong_wolfe_matches_torch(surface, max_eval, history_size):
    # max_eval 1 (torch's default for one iteration) leaves the search no evaluation of its own:
    # it keeps the first trial step or none. More evaluations reach the zoom phase.
    assert_matches_torch("lbfgs", surface, {"line_search": 1.0, "max_eval": max_eval, "history_size": history_size}, 60)


@pytest.mark.parametrize("surface", SURFACES, ids=[s["name"] for s in SURFACES])
def test_lbfgs_with_a_short_history_matches_torch(surface):
    assert_matches_torch("lbfgs", surface, {"history_size": 3, "lr": 0.5}, 60)


# Starts and settings (found by a search over random ones) at which torch's strong-Wolfe search takes
# its rarer turns: the cubic without a real minimiser, the bracket's low end on its right, a step too
# close to the bracket's ends pushed inwards, the bracket shrunk below tolerance_change.
LINE_SEARCH_CORNERS = [
    ("beale", (-0.6729423763583204, 1.0819210681384002), 12, 7.307544707911362, 9.976038967520548e-08, 4),
    ("goldstein_price", (-0.41963316656812966, 1.4940905244829286), 11, 0.015441393675349436, 1.8147158722346096e-05, 3),
    ("monkey_saddle", (1.2415130030194885, -0.07155878409374083), 25, 8.355130056861247, 1.0883530333078505e-07, 5),
    ("monkey_saddle", (0.10769678873734301, 0.5157084104330716), 9, 0.03237691796300544, 5.915336975507826e-07, 7),
    ("six_hump_camel", (-1.8867213154181481, -0.9017201364010465), 3, 0.079274894295021, 0.004906241083254894, 5),
    ("goldstein_price", (-0.5977807545284475, -1.3159142399173036), 21, 2.75253142616075, 0.9728394472127352, 5),
]


@pytest.mark.parametrize("surface,start,max_eval,lr,tolerance_change,history_size", LINE_SEARCH_CORNERS)
def test_lbfgs_line_search_corners_match_torch(surface, start, max_eval, lr, tolerance_change, history_size):
    hp = {**core.OPTIMIZERS["lbfgs"].defaults, "line_search": 1.0, "max_eval": max_eval, "lr": lr,
          "tolerance_change": tolerance_change, "history_size": history_size}
    ours = core.trajectory(surface, "lbfgs", start, 30, hp)
    ref = reference_points(core.OPTIMIZERS["lbfgs"], {"name": surface}, start, 30, hp)
    # The monkey saddle has no minimum: a run may leave the finite numbers within a few steps.
    n = min(len(ours.points), finite_prefix(ref))
    assert n > 3
    assert_close(ours.points[:n], ref[:n], 1e-9, f"lbfgs {hp} on {surface}")


def test_lbfgs_line_search_trial_points_lie_on_the_search_line():
    hp = {"line_search": 1.0, "max_eval": 10}
    t = core.trajectory("rosenbrock", "lbfgs", (-1.2, 1.0), 30, hp)
    trial, d, alpha = t.state["trial"], t.state["d"], t.state["step_length"][:, 0]
    # The last point the search evaluated lies on x_{k-1} + s·d_k; the step taken is step_length along d.
    moved = np.abs(t.points[1:] - t.points[:-1]).max(axis=1) > 0
    assert moved.sum() > 5
    np.testing.assert_allclose(t.points[1:][moved], t.points[:-1][moved] + alpha[moved, None] * d[moved], rtol=1e-12, atol=1e-12)
    cross = (trial - t.points[:-1])[:, 0] * d[:, 1] - (trial - t.points[:-1])[:, 1] * d[:, 0]
    np.testing.assert_allclose(cross, 0.0, atol=1e-9)


def test_lbfgs_stands_still_once_the_gradient_is_below_tolerance_grad():
    hp = {"tolerance_grad": 1e-3}
    t = assert_matches_torch("lbfgs", SURFACES[0], hp, 40)
    still = np.nonzero(np.abs(t.gradients).max(axis=1) <= 1e-3)[0]
    assert still.size and np.all(t.points[still[0] + 1:] == t.points[still[0]])


def test_lbfgs_stops_where_d_is_no_descent_direction_by_tolerance_change():
    # gtd > -tolerance_change ends the iteration before any move; torch still keeps the new d and t.
    t = assert_matches_torch("lbfgs", SURFACES[1], {"tolerance_change": 0.5}, 40)
    assert np.any(np.all(t.points[1:] == t.points[:-1], axis=1))


def test_asgd_averages_after_t0_as_torch_does():
    hp = {"lr": 0.05, "lambd": 1e-3, "alpha": 0.75, "t0": 20.0, "weight_decay": 0.01}
    spec = core.OPTIMIZERS["asgd"]
    ours = core.trajectory(SURFACES[0], "asgd", (2.0, 1.5), 100, hp)
    assert_close(ours.points, torch_points(spec, SURFACES[0], (2.0, 1.5), 100, hp), 1e-12, "asgd points")
    p = torch.tensor([2.0, 1.5], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.ASGD([p], **hp)
    for k in range(100):
        p.grad = torch.tensor(ours.gradients[k])
        opt.step()
        np.testing.assert_allclose(ours.state["ax"][k], opt.state[p]["ax"].numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours.state["eta"][k], opt.state[p]["eta"].item(), rtol=1e-15)
    # Past t0 the average lags behind the iterate.
    assert np.any(ours.state["ax"][-1] != ours.points[-1])


@pytest.mark.parametrize("hp", [
    {"ns_steps": 0, "nesterov": 0.0},
    {"eps": 10.0, "shape": 1.0},
    {"adjust_lr_fn": 1.0, "shape": 1.0, "momentum": 0.5},
    {"adjust_lr_fn": 1.0, "weight_decay": 0.0, "lr": 0.02},
], ids=["no-iterations", "norm-floor", "match-rms-2x1", "match-rms-1x2"])
def test_muon_settings_match_torch(hp):
    assert_matches_torch("muon", SURFACES[1], {"lr": 0.01, **hp}, 200)


def test_muon_update_is_torch_orthogonalised_step():
    from torch.optim._muon import _zeropower_via_newtonschulz as newton_schulz
    t = core.trajectory("beale", "muon", (1.0, 1.5), 20, {"lr": 0.01, "nesterov": 0.0, "momentum": 0.0})
    for k in range(20):
        # Without momentum the orthogonalised step is the gradient's.
        ref = newton_schulz(torch.tensor(t.gradients[k][None]), (3.4445, -4.7750, 2.0315), 5, 1e-7)
        np.testing.assert_array_equal(t.state["update"][k], ref.double().numpy()[0])


def test_bfloat16_rounds_as_torch():
    rng = np.random.default_rng(3)
    values = [0.0, -0.0, 1.0, 1.00390625, 1.01171875, 3e-39, -1e-40, 1e-45, 1.1754942e-38, 3.3895e38, 3.3896e38, 3.4e38,
              1e39, -np.inf, np.inf, 1 + 2.0 ** -8 + 2.0 ** -30, 1 + 2.0 ** -8 - 2.0 ** -40]
    values += list(rng.standard_normal(200) * np.exp(rng.uniform(-90, 90, 200)))
    bf16 = python(optimizers._bfloat16)
    for v in values:
        ref = torch.tensor(v, dtype=torch.float64).bfloat16().double().item()
        assert bf16(v) == ref or (math.isnan(ref) and math.isnan(bf16(v))), v
    assert math.isnan(bf16(np.nan))


def test_fma_rounds_once():
    a, b, c = 0.1, 10.0, -1.0
    assert optimizers.fma(a, b, c) == float(Fraction(a) * Fraction(b) + Fraction(c)) != a * b + c
    assert optimizers.fma(np.inf, 1.0, 0.0) == np.inf


def test_lbfgs_line_search_gives_up_on_a_kink_as_torch_does():
    # On |x| + 2|y - 0.3| no step satisfies the curvature condition across the kink, so the
    # search shrinks its bracket until it is narrower than its tolerance and stops there.
    surface = {"formula": "abs(x) + 2*abs(y - 0.3)", "domain": [-2, 2, -2, 2]}
    hp = {**core.OPTIMIZERS["lbfgs"].defaults, "line_search": 1.0, "max_eval": 25}
    ours = core.trajectory(surface, "lbfgs", (1.3, -0.7), 20, hp)
    p = torch.tensor([1.3, -0.7], requires_grad=True)
    opt = torch.optim.LBFGS([p], max_iter=1, max_eval=25, line_search_fn="strong_wolfe")

    def closure():
        x, y = p.detach().numpy()
        p.grad = torch.tensor([np.sign(x), 2.0 * np.sign(y - 0.3)])
        return torch.tensor(abs(x) + 2 * abs(y - 0.3))

    points = [p.detach().numpy().copy()]
    for _ in range(20):
        opt.step(closure)
        points.append(p.detach().numpy().copy())
    assert_close(ours.points, np.array(points), 1e-9, "lbfgs on a kink")
