"""The engine: schedules, noise, chunked runs, divergence, sweeps, validation and the kernel cache."""

from __future__ import annotations

import inspect
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import core
import oracles
from core import engine
from core.schedules import SCHEDULES

ROOT = Path(__file__).resolve().parent.parent
OPTIMIZERS = list(core.OPTIMIZERS.values())
SURFACES = list(core.SURFACES.values())
optimizers = pytest.mark.parametrize("spec", OPTIMIZERS, ids=[s.id for s in OPTIMIZERS])
surfaces = pytest.mark.parametrize("spec", SURFACES, ids=[s.id for s in SURFACES])
QUADRATIC = {"name": "quadratic", "kappa": 10.0}
START = core.SURFACES["quadratic"].start


# --- schedules ---------------------------------------------------------------

# Each schedule's params, and its torch.optim.lr_scheduler counterpart.
TORCH_SCHEDULERS = {
    "constant": ({}, lambda sch, opt: sch.LambdaLR(opt, lambda t: 1.0)),
    "step": ({"step_size": 7, "gamma": 0.5}, lambda sch, opt: sch.StepLR(opt, 7, 0.5)),
    "exponential": ({"gamma": 0.97}, lambda sch, opt: sch.ExponentialLR(opt, 0.97)),
    "cosine": ({"t_max": 40, "eta_min": 0.01}, lambda sch, opt: sch.CosineAnnealingLR(opt, T_max=40, eta_min=0.01)),
}
schedules = pytest.mark.parametrize("name", list(SCHEDULES))


def torch_lrs(make, lr, steps) -> np.ndarray:
    """The lr each optimizer step uses, the scheduler stepped after every step."""
    torch = pytest.importorskip("torch")
    p = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = make(torch.optim.lr_scheduler, opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        p.grad = torch.zeros(2)
        opt.step()
        sched.step()
    return np.array(out)


@schedules
def test_every_schedule_has_an_oracle(name):
    assert name in oracles.SCHEDULES, f"tests/oracles.py has no reference for schedule {name!r}"


@schedules
def test_schedule_matches_torch(name):
    assert name in TORCH_SCHEDULERS, f"no torch scheduler to compare schedule {name!r} with"
    params, make = TORCH_SCHEDULERS[name]
    for lr in (0.1, 0.003):
        t = core.trajectory(QUADRATIC, "sgd", START, 130, {"lr": lr}, {"name": name, **params})
        # torch updates the lr recursively, so it matches the closed form to a few ulps.
        np.testing.assert_allclose(t.lr, torch_lrs(make, lr, 130), rtol=1e-12, atol=0)


@schedules
def test_schedule_with_warmup_matches_the_oracle(name):
    params, _ = TORCH_SCHEDULERS.get(name, ({}, None))
    sched = {"name": name, **params, "warmup_steps": 9}
    t = core.trajectory(QUADRATIC, "adam", START, 100, {"lr": 0.02}, sched)
    expected = oracles.scheduled_lr(sched, 0.02, 100)
    np.testing.assert_allclose(t.lr, expected, rtol=1e-14)
    np.testing.assert_allclose(t.lr[:9], 0.02 * np.arange(1, 10) / 9, rtol=1e-15)
    assert t.lr[9] == pytest.approx(0.02)  # the schedule proper starts at its own step 0


def test_schedule_factors_are_chunk_independent():
    sched = engine.resolve_schedule({"name": "cosine", "t_max": 30, "eta_min": 0.001, "warmup_steps": 4})
    a, b = core.schedules.factors(sched, 0, 100)
    parts = [core.schedules.factors(sched, k0, k1) for k0, k1 in ((0, 3), (3, 50), (50, 100))]
    np.testing.assert_array_equal(a, np.concatenate([p[0] for p in parts]))
    np.testing.assert_array_equal(b, np.concatenate([p[1] for p in parts]))


# --- noise, seeds and chunks -------------------------------------------------

def analytic_gradients(surface: dict, points) -> np.ndarray:
    spec = core.SURFACES[surface["name"]]
    consts = [surface.get(h.name, h.default) for h in spec.params]
    return np.array([spec.kernel(x, y, *consts)[1:] for x, y in points])


def test_noise_is_gaussian_with_the_given_sigma():
    t = core.trajectory(QUADRATIC, "sgd", START, 3000, {"lr": 0.01}, noise={"sigma": 0.5, "seed": 1})
    noise = t.gradients - analytic_gradients(QUADRATIC, t.points[:-1])
    assert abs(noise.mean()) < 5 * 0.5 / math.sqrt(noise.size)
    assert noise.std() == pytest.approx(0.5, rel=0.05)
    assert abs(np.corrcoef(noise[:, 0], noise[:, 1])[0, 1]) < 0.1


def test_noise_is_reproducible_for_a_seed():
    kw = dict(hyperparameters={"lr": 0.05}, noise={"sigma": 0.3, "seed": 7})
    a = core.trajectory(QUADRATIC, "adam", START, 200, **kw)
    b = core.trajectory(QUADRATIC, "adam", START, 200, **kw)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.gradients, b.gradients)
    c = core.trajectory(QUADRATIC, "adam", START, 200, {"lr": 0.05}, noise={"sigma": 0.3, "seed": 8})
    assert np.max(np.abs(a.gradients - c.gradients)) > 0.1
    # Without its own seed, the noise takes the run's seed.
    d = core.trajectory(QUADRATIC, "adam", START, 200, {"lr": 0.05}, noise={"sigma": 0.3}, seed=7)
    np.testing.assert_array_equal(a.points, d.points)
    # Zero sigma is no noise at all.
    e = core.trajectory(QUADRATIC, "adam", START, 200, {"lr": 0.05}, noise={"sigma": 0.0, "seed": 7})
    f = core.trajectory(QUADRATIC, "adam", START, 200, {"lr": 0.05})
    np.testing.assert_array_equal(e.points, f.points)


CHUNK_CASES = {
    "noise": (QUADRATIC, "momentum", {"lr": 0.02}, {"name": "step", "step_size": 10, "gamma": 0.7}, {"sigma": 0.2, "seed": 3}),
    "regression": ({"name": "regression", "batch_size": 5}, "adam", {"lr": 0.05}, None, None),
    "regression+noise": (
        {"name": "regression", "n_points": 37, "batch_size": 4}, "nadam", {"lr": 0.05},
        {"name": "cosine", "t_max": 100, "warmup_steps": 5}, {"sigma": 0.5, "seed": 11},
    ),
}


@pytest.mark.parametrize("case", list(CHUNK_CASES))
@pytest.mark.parametrize("chunks", [(1, 7, 50), (13,), (299, 1)], ids=str)
def test_chunked_runs_equal_one_call(case, chunks):
    surface, optimizer, hp, sched, noise = CHUNK_CASES[case]
    whole = core.trajectory(surface, optimizer, core.SURFACES[surface["name"]].start, 300, hp, sched, noise, seed=5)
    run = core.Run(surface, optimizer, core.SURFACES[surface["name"]].start, 300, hp, sched, noise, seed=5)
    done, k = 0, 0
    while not run.finished:
        k0, k1 = run.advance(chunks[min(k, len(chunks) - 1)])
        assert k0 == done and k1 > k0
        done, k = k1, k + 1
    assert done == 300 and run.advance(10) == (300, 300)
    part = run.result()
    for name in ("points", "losses", "lr", "gradients", "effective_lr"):
        np.testing.assert_array_equal(getattr(part, name), getattr(whole, name), err_msg=name)
    assert part.state.keys() == whole.state.keys()
    for name in whole.state:
        np.testing.assert_array_equal(part.state[name], whole.state[name], err_msg=name)


def test_partial_result_is_a_prefix():
    whole = core.trajectory(QUADRATIC, "adam", START, 100, {"lr": 0.05})
    run = core.Run(QUADRATIC, "adam", START, 100, {"lr": 0.05})
    assert len(run.result().points) == 0
    run.advance(30)
    # The newest point waits for its loss, which the next advance computes.
    part = run.result()
    assert run.valid_points == len(part.points) == 30 and len(part.lr) == 29
    for field in ("points", "losses", "lr", "gradients", "effective_lr", "step_size"):
        np.testing.assert_array_equal(getattr(part, field), getattr(whole, field)[: len(getattr(part, field))])
    np.testing.assert_array_equal(part.state["v"], whole.state["v"][:29])
    run.advance(1000)
    assert run.finished and run.valid_points == 101
    np.testing.assert_array_equal(run.result().losses, whole.losses)


# --- divergence ----------------------------------------------------------------

def assert_consistent(t):
    n = len(t.points)
    assert t.points.shape == (n, 2) and t.losses.shape == (n,)
    assert t.lr.shape == (n - 1,) and t.gradients.shape == (n - 1, 2) and t.effective_lr.shape == (n - 1, 2)
    arrays = [t.points, t.losses, t.lr, t.gradients, t.effective_lr, *t.state.values()]
    for s in t.state.values():
        assert s.shape == (n - 1, 2)
    if t.step_size is not None:
        assert t.step_size.shape == (n - 1,)
        arrays.append(t.step_size)
    for a in arrays:
        assert np.all(np.isfinite(a))


DIVERGING = {
    "sgd-rosenbrock": ("rosenbrock", "sgd", {"lr": 10.0}),
    "momentum-rosenbrock": ("rosenbrock", "momentum", {"lr": 0.01, "momentum": 0.99}),
    "nesterov-goldstein_price": ("goldstein_price", "nesterov", {"lr": 0.5}),
    "sgd-stiff-quadratic": ({"name": "quadratic", "kappa": 1e4}, "sgd", {"lr": 1.0}),
    "sgd-regression": ({"name": "regression", "batch_size": 10}, "sgd", {"lr": 10.0}),
}


@pytest.mark.parametrize("case", list(DIVERGING))
def test_divergence_stops_at_the_last_finite_point(case):
    surface, optimizer, hp = DIVERGING[case]
    name = surface if isinstance(surface, str) else surface["name"]
    t = core.trajectory(surface, optimizer, core.SURFACES[name].start, 5000, hp, noise={"sigma": 0.1, "seed": 1})
    assert t.diverged_at is not None, f"{case} did not diverge"
    assert len(t.points) == t.diverged_at
    assert_consistent(t)
    # Stepped one step per advance, the run stops at the same point with the same arrays.
    run = core.Run(surface, optimizer, core.SURFACES[name].start, 5000, hp, noise={"sigma": 0.1, "seed": 1})
    while not run.finished:
        run.advance(1)
        assert np.all(np.isfinite(run.result().losses))
    part = run.result()
    assert part.diverged_at == t.diverged_at
    for field in ("points", "losses", "lr", "gradients"):
        np.testing.assert_array_equal(getattr(part, field), getattr(t, field))


def test_sgd_on_rosenbrock_diverges_quickly():
    t = core.trajectory("rosenbrock", "sgd", (-1.2, 1.0), 1000, {"lr": 10.0})
    assert t.diverged_at is not None and t.diverged_at < 20
    assert len(t.points) == t.diverged_at
    assert_consistent(t)
    run = core.Run("rosenbrock", "sgd", (-1.2, 1.0), 1000, {"lr": 10.0})
    run.advance(1000)
    assert run.finished and run.diverged_at == t.diverged_at
    assert run.advance(5) == (run.done_steps, run.done_steps)


@optimizers
def test_every_optimizer_diverges_cleanly(spec):
    """Whatever overflows (the point, the loss or a state slot), no array holds NaN or inf."""
    hp = {h.name: h.high if h.name in ("lr", "sgd_lr") else h.default for h in spec.hyperparameters}
    for surface in ("rosenbrock", "goldstein_price"):
        t = core.trajectory(surface, spec.id, (1.9, 1.9), 2000, hp)
        assert_consistent(t)
        if t.diverged_at is not None:
            assert len(t.points) == t.diverged_at


@st.composite
def runs(draw):
    """Any optimizer with any in-range hyperparameters on any surface, from anywhere in its domain."""
    spec = draw(st.sampled_from(OPTIMIZERS))
    surface = draw(st.sampled_from(SURFACES))
    hp = {}
    for h in spec.hyperparameters:
        if h.kind == "bool":
            hp[h.name] = draw(st.booleans())
        elif h.kind == "int":
            hp[h.name] = draw(st.integers(int(h.low), min(int(h.high), 60)))
        else:
            hp[h.name] = draw(st.floats(h.low, h.high))
    (x0, x1), (y0, y1) = surface.domain
    start = (draw(st.floats(x0, x1)), draw(st.floats(y0, y1)))
    noise = draw(st.none() | st.builds(lambda s: {"sigma": s, "seed": 1}, st.floats(0, 100)))
    return surface.id, spec.id, start, hp, noise


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(runs())
def test_any_valid_run_gives_finite_consistent_arrays(case):
    surface, optimizer, start, hp, noise = case
    t = core.trajectory(surface, optimizer, start, 50, hp, noise=noise)
    assert_consistent(t)
    assert len(t.points) == (51 if t.diverged_at is None else t.diverged_at)


# --- what the inspector shows ----------------------------------------------

def test_effective_lr_of_plain_sgd_is_its_lr():
    sched = {"name": "step", "step_size": 20, "gamma": 0.5}
    t = core.trajectory(QUADRATIC, "sgd", START, 100, {"lr": 0.05}, sched)
    np.testing.assert_allclose(t.effective_lr, np.repeat(t.lr[:, None], 2, axis=1), rtol=1e-9)
    # Where the gradient is exactly zero the effective lr is reported as 0.
    z = core.trajectory(QUADRATIC, "sgd", (1.0, 0.0), 5, {"lr": 0.05})
    np.testing.assert_array_equal(z.effective_lr[:, 1], 0.0)
    assert np.all(z.effective_lr[:, 0] > 0)


def test_adam_step_size():
    hp = {"lr": 0.01, "beta1": 0.8, "beta2": 0.995}
    sched = {"name": "exponential", "gamma": 0.99}
    t = core.trajectory(QUADRATIC, "adam", START, 300, hp, sched)
    steps = np.arange(1, 301)
    lr = 0.01 * 0.99 ** (steps - 1.0)
    np.testing.assert_allclose(t.step_size, lr * np.sqrt(1 - 0.995**steps) / (1 - 0.8**steps), rtol=1e-12)
    assert core.trajectory(QUADRATIC, "sgd", START, 3, {"lr": 0.01}).step_size is None
    # SWATS reports Adam's step size, then the SGD phase's lr.
    t = core.trajectory(QUADRATIC, "swats", START, 300, {**hp, "switch_step": 100, "sgd_lr": 0.05}, sched)
    np.testing.assert_allclose(t.step_size[:100], (lr * np.sqrt(1 - 0.995**steps) / (1 - 0.8**steps))[:100], rtol=1e-12)
    np.testing.assert_allclose(t.step_size[100:], 0.05 * lr[100:] / 0.01, rtol=1e-12)


def test_state_starts_from_init():
    t = core.trajectory(QUADRATIC, "adagrad", START, 1, {"initial_accumulator_value": 2.5})
    np.testing.assert_allclose(t.state["sum"][0], 2.5 + t.gradients[0] ** 2, rtol=1e-15)
    t = core.trajectory(QUADRATIC, "rmsprop_tf", START, 1, {"alpha": 0.9})
    np.testing.assert_allclose(t.state["ms"][0], 0.9 + 0.1 * t.gradients[0] ** 2, rtol=1e-15)


# --- sweeps -------------------------------------------------------------------

def assert_sweep_matches_trajectories(sw, surface, optimizer, start, steps, hp, schedule=None, seed=0):
    fmin = sw.minimum_value
    for i, a in enumerate(sw.values[0]):
        for j, b in enumerate(sw.values[1]):
            cell = {sw.names[0]: a, sw.names[1]: b}
            x0 = (cell.get("x", start[0]), cell.get("y", start[1]))
            cell_hp = {**hp, **{k: v for k, v in cell.items() if k not in ("x", "y")}}
            for h in core.OPTIMIZERS[optimizer].hyperparameters:
                if h.kind == "int" and h.name in cell_hp:
                    cell_hp[h.name] = int(cell_hp[h.name])
            t = core.trajectory(surface, optimizer, x0, steps, cell_hp, schedule, seed=seed)
            where = f"cell {cell}"
            if t.diverged_at is not None:
                assert sw.diverged[i, j], where
                assert np.isnan(sw.final_losses[i, j]) and np.all(np.isnan(sw.final_points[i, j])), where
                continue
            assert not sw.diverged[i, j], where
            np.testing.assert_array_equal(sw.final_points[i, j], t.points[-1], err_msg=where)
            np.testing.assert_array_equal(sw.final_losses[i, j], t.losses[-1], err_msg=where)
            if fmin is None:
                assert sw.steps_to_tol[i, j] == -1, where
            else:
                hits = np.nonzero(t.losses - fmin <= sw.tol)[0]
                assert sw.steps_to_tol[i, j] == (hits[0] if hits.size else -1), where


def axis(h) -> list:
    """The default and two other values in range."""
    if h.kind == "bool":
        return [0.0, 1.0]
    if h.kind == "int":
        return [h.default, min(h.high, 40), h.low]
    if h.log:
        return [h.default, min(h.default * 10, h.high), max(h.default / 3, h.low)]
    return [h.default, h.low + 0.5 * (h.high - h.low), h.low]


@pytest.mark.parametrize("spec", [s for s in OPTIMIZERS if not s.whole], ids=lambda s: s.id)
def test_bookkeeping_state_is_the_same_for_both_coordinates(spec):
    """A scalar sweep keeps one copy of each '_' slot per run, which is only right if no slot depends on the coordinate.

    (A whole-vector kernel's '_' slots are its own arrays, kept whole per run.)
    """
    run = core.Run("beale", spec.id, (1.0, 1.5), 80, {"lr": 0.01})
    run.advance(80)
    for q, name in enumerate(spec.state):
        if name.startswith("_"):
            np.testing.assert_array_equal(run._states[q, :80, 0], run._states[q, :80, 1], err_msg=name)


SWEEP_AXES = [(spec, h) for spec in OPTIMIZERS for h in spec.hyperparameters[1:]]


@pytest.mark.parametrize("spec,h", SWEEP_AXES, ids=[f"{s.id}-lr-{h.name}" for s, h in SWEEP_AXES])
def test_hyperparameter_sweep_equals_single_runs(spec, h):
    """lr against every other hyperparameter: bools, ints and init-giving ones included."""
    grid = {"lr": axis(spec.hyperparameters[0]), h.name: axis(h)}
    sched = {"name": "step", "step_size": 25, "gamma": 0.5}
    sw = core.sweep("rosenbrock", spec.id, (-1.2, 1.0), 60, grid, schedule=sched, tol=20.0)
    assert sw.names == ("lr", h.name) and sw.final_losses.shape == (3, len(grid[h.name]))
    assert_sweep_matches_trajectories(sw, "rosenbrock", spec.id, (-1.2, 1.0), 60, {}, sched)


@surfaces
def test_start_sweep_equals_single_runs(spec):
    (x0, x1), (y0, y1) = spec.domain
    grid = {"x": np.linspace(x0, x1, 4), "y": np.linspace(y0, y1, 3)}
    surface = {"name": spec.id}
    hp = {"lr": 0.01, "momentum": 0.5}
    sw = core.sweep(surface, "momentum", spec.start, 60, grid, hp, tol=0.5, seed=2)
    assert sw.final_points.shape == (4, 3, 2)
    assert_sweep_matches_trajectories(sw, surface, "momentum", spec.start, 60, hp, seed=2)


CELLS = [s for s in OPTIMIZERS if s.cells is not None]


@pytest.mark.parametrize("spec", CELLS, ids=lambda s: s.id)
def test_a_cells_form_takes_its_whole_kernels_arguments(spec):
    """The sweep calls the form by position: the cells, the plane's coordinates and gradient, then the kernel's own."""
    names = list(inspect.signature(oracles.python_function(spec.cells)).parameters)
    hyper = [h.name for h in spec.hyperparameters]
    assert names == ["m", "x0", "x1", "g0", "g1", "f", "t", "lr_t", *hyper, "state"]


@pytest.mark.parametrize("spec", CELLS, ids=lambda s: s.id)
def test_a_noisy_start_sweep_of_a_cells_form_equals_single_runs(spec):
    """Cells stepped side by side by the cells form land where the whole kernel's trajectories do, noise and all."""
    grid = {"x": [-1.0, 0.3, 1.2], "y": [-0.4, 0.9]}
    hp = {"lr": 0.01}
    noise = {"sigma": 0.5, "seed": 4}
    sw = core.sweep("rosenbrock", spec.id, (0.0, 0.0), 80, grid, hp, tol=1.0, noise=noise)
    for i, x in enumerate(grid["x"]):
        for j, y in enumerate(grid["y"]):
            t = core.trajectory("rosenbrock", spec.id, (x, y), 80, hp, noise=noise)
            assert t.diverged_at is None and not sw.diverged[i, j]
            np.testing.assert_array_equal(sw.final_points[i, j], t.points[-1], err_msg=f"{spec.id} from {(x, y)}")
            np.testing.assert_array_equal(sw.final_losses[i, j], t.losses[-1])
            hits = np.nonzero(t.losses - sw.minimum_value <= 1.0)[0]
            assert sw.steps_to_tol[i, j] == (hits[0] if hits.size else -1)


def test_sweep_with_swapped_axes_and_mixed_grid():
    grid = {"y": [0.5, 1.0], "lr": [0.001, 0.01, 0.1]}
    sw = core.sweep("beale", "adam", (1.0, 1.5), 50, grid)
    assert sw.names == ("y", "lr") and sw.final_losses.shape == (2, 3)
    assert_sweep_matches_trajectories(sw, "beale", "adam", (1.0, 1.5), 50, {})


def test_sweep_rows_in_blocks_equal_the_whole_sweep(monkeypatch):
    monkeypatch.setenv("GRADSCAPE_THREADS", "1")
    grid = {"lr": np.geomspace(1e-4, 1e-1, 7), "beta1": np.linspace(0.5, 0.99, 5)}
    whole = core.sweep("rosenbrock", "adam", (-1.2, 1.0), 100, grid, tol=4.0)
    plan = core.plan_sweep("rosenbrock", "adam", (-1.2, 1.0), 100, grid, tol=4.0)
    blocks = list(core.sweep_rows(plan, work=10 * 100))  # two rows of 5 cells per piece
    assert [(b.row0, b.row1, b.cells) for b in blocks] == [(0, 2, 10), (2, 4, 20), (4, 6, 30), (6, 7, 35)]
    np.testing.assert_array_equal(np.concatenate([b.final_points for b in blocks]), whole.final_points)
    np.testing.assert_array_equal(np.concatenate([b.steps_to_tol for b in blocks]), whole.steps_to_tol)
    assert np.any(whole.steps_to_tol >= 0) and np.any(whole.steps_to_tol == -1)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_a_wide_row_is_computed_in_pieces_of_bounded_work(monkeypatch, threads):
    # One row of 1,000 cells: each piece stays near `work` cell-steps per thread however the grid is shaped,
    # so a caller checking a time limit between pieces is never stuck in one long call.
    monkeypatch.setenv("GRADSCAPE_THREADS", threads)
    grid = {"beta1": [0.9], "lr": np.geomspace(1e-4, 1.0, 1000)}
    plan = core.plan_sweep("rastrigin", "nadam", (2.0, 2.0), 20, grid)
    pieces = list(core.sweep_rows(plan, work=256 * 20))
    per_piece = 256 * int(threads)
    assert [p.cells for p in pieces] == [min(1000, per_piece * (q + 1)) for q in range(len(pieces))]
    assert all(p.row0 == p.row1 == 0 and p.final_losses.shape == (0, 1000) for p in pieces[:-1])
    assert (pieces[-1].row0, pieces[-1].row1) == (0, 1)
    whole = core.sweep("rastrigin", "nadam", (2.0, 2.0), 20, grid)
    np.testing.assert_array_equal(pieces[-1].final_losses, whole.final_losses)
    # A few cells against single runs: the piece boundaries change nothing.
    for j in (0, 255, 256, 999):
        t = core.trajectory("rastrigin", "nadam", (2.0, 2.0), 20, {"beta1": 0.9, "lr": grid["lr"][j]})
        np.testing.assert_array_equal(pieces[-1].final_points[0, j], t.points[-1])


def test_a_piece_has_fewer_cells_than_a_block_when_steps_are_many(monkeypatch):
    monkeypatch.setenv("GRADSCAPE_THREADS", "1")
    plan = core.plan_sweep("quadratic", "momentum", (1.0, 1.0), 1000, {"lr": [0.01, 0.02, 0.03], "momentum": [0.0, 0.5]})
    pieces = list(core.sweep_rows(plan, work=1000))  # one cell per piece
    assert [p.cells for p in pieces] == [1, 2, 3, 4, 5, 6]
    assert [(p.row0, p.row1) for p in pieces if p.row1 > p.row0] == [(0, 1), (1, 2), (2, 3)]


def test_sweep_reports_divergence():
    sw = core.sweep("rosenbrock", "sgd", (-1.2, 1.0), 200, {"lr": [1e-4, 10.0], "weight_decay": [0.0]})
    assert sw.diverged.tolist() == [[False], [True]]
    assert np.isnan(sw.final_losses[1, 0]) and sw.steps_to_tol[1, 0] == -1


def test_sweep_on_the_regression_surface_equals_single_runs():
    surface = {"name": "regression", "batch_size": 10}
    grid = {"x": [-1.0, 0.0, 4.0], "y": [0.0, 5.0]}
    sw = core.sweep(surface, "sgd", (0.0, 0.0), 120, grid, {"lr": 0.1}, tol=0.01, seed=9)
    assert_sweep_matches_trajectories(sw, surface, "sgd", (0.0, 0.0), 120, {"lr": 0.1}, seed=9)


def test_surface_grid_matches_the_oracle():
    xs, ys, z = core.surface_grid("beale", (-2.0, 3.0), (-1.0, 1.0), 7)
    np.testing.assert_array_equal(xs, np.linspace(-2, 3, 7))
    expected = np.array([[oracles.surface_value("beale", x, y, {}) for x in xs] for y in ys])
    np.testing.assert_allclose(z, expected, rtol=1e-13)
    _, _, zq = core.surface_grid({"name": "quadratic", "kappa": 100.0}, resolution=3)
    assert zq[0, 1] == pytest.approx(0.5 * 100 * 4)  # y = -2, x = 0


# --- validation -----------------------------------------------------------------

def traj(**kw):
    args = dict(surface="quadratic", optimizer="adam", start=(1.0, 1.0), steps=10)
    args.update(kw)
    return lambda: core.trajectory(**args)


def swp(**kw):
    args = dict(surface="quadratic", optimizer="adam", start=(1.0, 1.0), steps=10, grid={"lr": [0.01], "beta1": [0.9]})
    args.update(kw)
    return lambda: core.sweep(**args)


BAD = [
    ("unknown optimizer", traj(optimizer="adamz"), "optimizer", "adamz"),
    ("optimizer not a string", traj(optimizer=3), "optimizer", "unknown optimizer"),
    ("unknown surface", traj(surface="moon"), "surface", "moon"),
    ("surface without name", traj(surface={"kappa": 2.0}), "surface", "unknown surface"),
    ("unknown surface param", traj(surface={"name": "quadratic", "kapa": 2}), "surface.kapa", "unknown"),
    ("surface param out of range", traj(surface={"name": "quadratic", "kappa": 0.5}), "surface.kappa", "outside"),
    ("lr out of range", traj(hyperparameters={"lr": -1}), "hyperparameters.lr", "hyperparameters.lr = -1 is outside [1e-06, 10]"),
    ("lr too large", traj(hyperparameters={"lr": 11}), "hyperparameters.lr", "outside"),
    ("lr NaN", traj(hyperparameters={"lr": float("nan")}), "hyperparameters.lr", "finite"),
    ("lr inf", traj(hyperparameters={"lr": float("inf")}), "hyperparameters.lr", "finite"),
    ("lr bool", traj(hyperparameters={"lr": True}), "hyperparameters.lr", "not a number"),
    ("lr string", traj(hyperparameters={"lr": "0.1"}), "hyperparameters.lr", "not a number"),
    ("unknown hyperparameter", traj(hyperparameters={"beta3": 0.5}), "hyperparameters.beta3", "beta1"),
    ("hyperparameters not a dict", traj(hyperparameters=[0.1]), "hyperparameters", "object"),
    ("bool hyperparameter half", traj(optimizer="rmsprop", hyperparameters={"centered": 0.5}), "hyperparameters.centered", "0 or 1"),
    ("int hyperparameter fraction", traj(optimizer="swats", hyperparameters={"switch_step": 1.5}), "hyperparameters.switch_step", "whole"),
    ("steps 0", traj(steps=0), "steps", "outside"),
    ("steps too many", traj(steps=10**9), "steps", "outside"),
    ("steps fraction", traj(steps=1.5), "steps", "whole number"),
    ("steps bool", traj(steps=True), "steps", "whole number"),
    ("steps NaN", traj(steps=float("nan")), "steps", "whole number"),
    ("steps string", traj(steps="10"), "steps", "whole number"),
    ("start NaN", traj(start=(float("nan"), 0.0)), "start[0]", "finite"),
    ("start inf", traj(start=(0.0, float("inf"))), "start[1]", "finite"),
    ("start huge", traj(start=(1e7, 0.0)), "start[0]", "outside"),
    ("start bool", traj(start=(True, 0.0)), "start[0]", "not a number"),
    ("start three numbers", traj(start=(1.0, 2.0, 3.0)), "start", "two numbers"),
    ("start scalar", traj(start=1.0), "start", "two numbers"),
    ("unknown schedule", traj(schedule={"name": "linear"}), "schedule.name", "linear"),
    ("schedule without name", traj(schedule={"gamma": 0.5}), "schedule.name", "unknown schedule"),
    ("unknown schedule field", traj(schedule={"name": "step", "gama": 0.5}), "schedule.gama", "gamma"),
    ("schedule field out of range", traj(schedule={"name": "step", "gamma": 2.0}), "schedule.gamma", "outside"),
    ("schedule step_size 0", traj(schedule={"name": "step", "step_size": 0}), "schedule.step_size", "outside"),
    ("negative warmup", traj(schedule={"name": "constant", "warmup_steps": -1}), "schedule.warmup_steps", "outside"),
    ("schedule not a dict", traj(schedule="cosine"), "schedule", "object"),
    ("negative noise", traj(noise={"sigma": -0.1}), "noise.sigma", "outside"),
    ("NaN noise", traj(noise={"sigma": float("nan")}), "noise.sigma", "finite"),
    ("unknown noise field", traj(noise={"sigma": 0.1, "mean": 1.0}), "noise.mean", "sigma"),
    ("negative noise seed", traj(noise={"sigma": 0.1, "seed": -1}), "noise.seed", "outside"),
    ("negative seed", traj(seed=-1), "seed", "outside"),
    ("batch larger than data", traj(surface={"name": "regression", "n_points": 10, "batch_size": 20}), "surface.batch_size", "n_points"),
    ("grid with one name", swp(grid={"lr": [0.01, 0.1]}), "grid", "two"),
    ("grid with three names", swp(grid={"lr": [0.01], "beta1": [0.9], "beta2": [0.99]}), "grid", "two"),
    ("grid with unknown name", swp(grid={"lr": [0.01], "gamma": [0.9]}), "grid.gamma", "allowed"),
    ("grid value out of range", swp(grid={"lr": [0.01, 20.0], "beta1": [0.9]}), "grid.lr[1]", "outside"),
    ("grid value NaN", swp(grid={"x": [0.0, float("nan")], "y": [0.0]}), "grid.x[1]", "finite"),
    ("grid start huge", swp(grid={"x": [0.0], "y": [-1e9]}), "grid.y[0]", "outside"),
    ("grid value bool", swp(grid={"lr": [0.01], "beta1": [True]}), "grid.beta1[0]", "not a number"),
    ("empty grid axis", swp(grid={"lr": [], "beta1": [0.9]}), "grid.lr", "at least one"),
    ("grid not a dict", swp(grid=[1, 2]), "grid", "two"),
    ("negative tol", swp(tol=-1.0), "tol", "at least 0"),
    ("sweep unknown optimizer", swp(optimizer="nope"), "optimizer", "nope"),
    ("sweep steps 0", swp(steps=0), "steps", "outside"),
    ("grid resolution 1", lambda: core.surface_grid("beale", resolution=1), "resolution", "outside"),
    ("grid range reversed", lambda: core.surface_grid("beale", x_range=(1.0, -1.0)), "x_range", "low < high"),
]


@pytest.mark.parametrize("call,field,fragment", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_names_the_field(call, field, fragment):
    with pytest.raises(core.InvalidInput) as info:
        call()
    assert isinstance(info.value, ValueError)
    assert info.value.field == field
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"{field}: ")


def test_good_edge_inputs_are_accepted():
    core.trajectory("quadratic", "rmsprop", (1e6, -1e6), 1, {"lr": 1e-6, "centered": True, "momentum": 0.0})
    core.trajectory("quadratic", "swats", (0.0, 0.0), 2.0, {"switch_step": 3.0})
    core.trajectory("quadratic", "sgd", (np.float64(1.0), np.int64(2)), np.int64(3), {"lr": np.float32(0.5)})
    core.trajectory({"name": "regression", "n_points": 10, "batch_size": 10}, "sgd", (0.0, 0.0), 3)
    t = core.trajectory("quadratic", "sgd", (1.0, 1.0), 1, {"lr": 10})
    assert t.hyperparameters["lr"] == 10.0


# --- the kernel cache ---------------------------------------------------------

def test_kernel_module_path_follows_kernel_sources(tmp_path, monkeypatch):
    sources = engine._kernel_sources()
    assert ROOT / "core" / "optimizers.py" in sources and ROOT / "core" / "surfaces.py" in sources
    copies = []
    for f in sources:
        copy = tmp_path / f.name
        copy.write_bytes(f.read_bytes())
        copies.append(copy)
    monkeypatch.setattr(engine, "_kernel_sources", lambda: copies)
    before = engine.kernel_module_path()
    assert before == engine.kernel_module_path()
    opt = tmp_path / "optimizers.py"
    text = opt.read_bytes()
    i = text.index(b"1e-30")
    opt.write_bytes(text[:i] + b"2" + text[i + 1:])  # one byte of a kernel constant
    changed = engine.kernel_module_path()
    assert changed != before
    opt.write_bytes(text)
    assert engine.kernel_module_path() == before
    # The generated text counts as well.
    assert engine.kernel_module_path(engine.generate_source() + "\n") != before


def test_generated_module_dispatches_every_registry_entry():
    source = engine.generate_source()
    for reg, prefix in ((core.OPTIMIZERS, "k_o"), (core.SURFACES, "k_s")):
        for spec in reg.values():
            fn = oracles.python_function(spec.kernel)
            assert f"from {fn.__module__} import {fn.__name__} as {prefix}{spec.code}\n" in source
    assert engine.kernels().__file__ == str(engine.kernel_module_path())


SCRIPT = textwrap.dedent("""
    import core
    t = core.trajectory("quadratic", "sgd", (1.0, 1.0), 3, {"lr": 0.1})
    print(repr(float(t.points[-1][0])))
""")


def test_edited_kernel_is_not_served_stale_from_cache(tmp_path):
    """Run from a copy of core/, edit a kernel constant, run again on the same cache directory."""
    # The copy keeps numba's caches and the files' times, so the first run loads
    # what this process compiled; only the run after the edit compiles afresh.
    engine.kernels().run_trajectory  # noqa: B018 - the generated module exists and is compiled
    shutil.copytree(ROOT / "core", tmp_path / "core")
    cache = tmp_path / "cache"
    (cache / "__pycache__").mkdir(parents=True)
    generated = engine.kernel_module_path()
    shutil.copy2(generated, cache)
    for f in (generated.parent / "__pycache__").glob(generated.stem + ".*"):
        shutil.copy2(f, cache / "__pycache__")
    env = {**os.environ, "GRADSCAPE_CACHE_DIR": str(cache), "PYTHONPATH": str(tmp_path)}

    def run() -> float:
        out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        return float(out.stdout.strip())

    assert run() == pytest.approx(0.9**3, rel=1e-15)
    opt = tmp_path / "core" / "optimizers.py"
    text = opt.read_text()
    old = '    """Plain SGD with coupled weight decay."""\n    d = g + weight_decay * x\n    return x + (-lr_t) * d\n'
    assert old in text
    opt.write_text(text.replace(old, old.replace("(-lr_t) * d", "(-2.0 * lr_t) * d")))
    assert run() == pytest.approx(0.8**3, rel=1e-15)
    assert len(list(cache.glob("gradscape_kernels_*.py"))) == 2


JIT_OFF_SCRIPT = textwrap.dedent("""
    import json, core
    t = core.trajectory("rastrigin", "nadam", (-3.2, 2.7), 30, {"lr": 0.05}, {"name": "cosine", "t_max": 20})
    s = core.sweep("beale", "adam", (1.0, 1.5), 30, {"lr": [0.01, 0.1], "beta1": [0.5, 0.9]}, tol=10.0)
    print(json.dumps({"points": t.points.tolist(), "final": s.final_points.tolist(), "hit": s.steps_to_tol.tolist()}))
""")


def test_core_runs_with_the_jit_disabled(tmp_path):
    """The kernels' Python text, run as Python (as a coverage run does), gives the jitted numbers."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "GRADSCAPE_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", JIT_OFF_SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    t = core.trajectory("rastrigin", "nadam", (-3.2, 2.7), 30, {"lr": 0.05}, {"name": "cosine", "t_max": 20})
    s = core.sweep("beale", "adam", (1.0, 1.5), 30, {"lr": [0.01, 0.1], "beta1": [0.5, 0.9]}, tol=10.0)
    np.testing.assert_allclose(got["points"], t.points, rtol=1e-13)
    np.testing.assert_allclose(got["final"], s.final_points, rtol=1e-13)
    assert got["hit"] == s.steps_to_tol.tolist()


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="counts compiled signatures; nothing compiles with the JIT off")
def test_warm_compiles_every_loop_so_no_request_waits_for_one():
    core.warm()
    k = engine.kernels()
    for name in ("run_trajectory", "run_sweep", "run_whole_trajectory", "run_whole_sweep", "surface_grid"):
        assert getattr(k, name).signatures, f"{name} is left to compile on a request"
    # The network's loops, one per kind of optimizer, and the plane's losses: cold, a request would wait a minute.
    from core import mlp, network
    for name in ("run_scalar", "run_whole", "run_tensors"):
        assert getattr(network.loops(), name).signatures, f"the network's {name} is left to compile on a request"
    assert mlp.plane_losses.signatures and mlp.path_losses.signatures
