"""Any torch.optim.Optimizer subclass named "module:Class", stepped as the class itself steps."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import core
from core.engine import InvalidInput, optimizer_spec

torch = pytest.importorskip("torch")


def test_torch_adam_by_name_is_the_registry_adam():
    ours = core.trajectory("rosenbrock", "adam", (-1.2, 1.0), 300, {"lr": 1e-2})
    loaded = core.trajectory("rosenbrock", "torch.optim:Adam", (-1.2, 1.0), 300, {"lr": 1e-2})
    np.testing.assert_allclose(loaded.points, ours.points, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(loaded.losses, ours.losses, rtol=1e-9, atol=1e-12)
    assert loaded.optimizer == "torch.optim:Adam" and loaded.diverged_at is None


def test_hyperparameters_come_from_the_constructor():
    spec = core.engine.load_optimizer("custom_optimizers:SignDescent")
    h = {x.name: x for x in spec.hyperparameters}
    assert [x.name for x in spec.hyperparameters] == ["lr", "shrink", "history_size", "beta1", "beta2", "eps1", "eps2"]
    assert h["history_size"].kind == "int" and h["shrink"].kind == "float" and h["lr"].default == 0.1
    assert (h["beta1"].default, h["beta2"].default) == (0.5, 0.25)
    assert core.engine.load_optimizer("torch.optim:Adam").hyper("weight_decay").kind == "float"
    assert core.engine.load_optimizer("torch.optim:Adam").hyper("amsgrad").kind == "bool"


@pytest.mark.parametrize("surface", ["beale", {"formula": "x^2 + 3*y^2 + sin(x*y)", "domain": [-2, 2, -2, 2]}])
def test_a_users_class_steps_on_any_surface_as_it_would_itself(surface):
    hp = {"lr": 0.05, "shrink": 0.98, "beta1": 0.75, "beta2": 0.125}
    start = (1.0, 1.5)
    run = core.trajectory(surface, "custom_optimizers:SignDescent", start, 40, hp)
    x = np.array(start)
    spec, params = core.engine.resolve_surface(surface)
    for t in range(1, 41):
        g = run.gradients[t - 1]
        x = x - 0.05 * 0.98**t * (0.75 + 0.125) * np.sign(g)
        np.testing.assert_allclose(run.points[t], x, rtol=1e-12)
    # The gradient the class saw is the surface's own.
    direct = core.trajectory(surface, "sgd", tuple(run.points[5]), 1, {"lr": 1e-6})
    np.testing.assert_allclose(run.gradients[5], direct.gradients[0], rtol=1e-12)


def test_the_schedule_sets_the_class_lr():
    run = core.trajectory("quadratic", "torch.optim:SGD", (-1.8, 1.0), 60, {"lr": 0.05},
                          {"name": "step", "step_size": 20, "gamma": 0.5})
    ref = core.trajectory("quadratic", "sgd", (-1.8, 1.0), 60, {"lr": 0.05}, {"name": "step", "step_size": 20, "gamma": 0.5})
    np.testing.assert_allclose(run.lr, ref.lr, rtol=1e-15)
    np.testing.assert_allclose(run.points, ref.points, rtol=1e-12)


def test_a_class_that_needs_a_closure_gets_one():
    run = core.trajectory("rosenbrock", "torch.optim:LBFGS", (-1.2, 1.0), 30, {"lr": 1.0, "max_iter": 1})
    assert run.diverged_at is None and run.losses[-1] < run.losses[0]


def test_divergence_stops_the_run():
    run = core.trajectory("quadratic", "torch.optim:SGD", (-1.8, 1.0), 500, {"lr": 5.0})
    assert run.diverged_at is not None and np.all(np.isfinite(run.points))


@pytest.mark.parametrize("name, says", [
    ("os", "unknown optimizer"),
    ("os:system", "not a torch.optim.Optimizer subclass"),
    ("no_such_module_here:Thing", "cannot load"),
    ("custom_optimizers:NotAnOptimizer", "not a torch.optim.Optimizer subclass"),
    ("custom_optimizers:Missing", "cannot load"),
    ("1bad:Name", "is not 'module:Class'"),
])
def test_bad_names_are_refused_naming_the_field(name, says):
    with pytest.raises(InvalidInput, match=says) as e:
        core.trajectory("rosenbrock", name, (0.0, 0.0), 3)
    assert e.value.field == "optimizer"


def test_a_class_refusing_its_hyperparameters_is_an_invalid_input():
    with pytest.raises(InvalidInput, match="refused") as e:
        core.trajectory("rosenbrock", "torch.optim:Adam", (0.0, 0.0), 3, {"lr": 0.1, "beta1": 1.5})
    assert e.value.field == "hyperparameters"


def test_validation_of_a_name_never_imports():
    sys.modules.pop("custom_optimizers", None)
    with pytest.raises(InvalidInput, match="unknown optimizer"):
        optimizer_spec("custom_optimizers:SignDescent")
    assert "custom_optimizers" not in sys.modules
    with pytest.raises(InvalidInput, match="unknown optimizer"):
        core.Run("rosenbrock", "custom_optimizers:SignDescent", (0.0, 0.0), 3)
    assert "custom_optimizers" not in sys.modules


def test_sweeps_take_registry_optimizers_only():
    spec = core.engine.load_optimizer("torch.optim:Adam")
    with pytest.raises(InvalidInput, match="sweeps take registry optimizers"):
        core.sweep("rosenbrock", spec, (0.0, 0.0), 3, {"lr": [0.1], "beta1": [0.9]})


def test_an_offered_class_is_known_by_name_and_nothing_else_is():
    from core import external

    try:
        specs = external.offer(["custom_optimizers:SignDescent"])
        assert optimizer_spec("custom_optimizers:SignDescent") is specs[0]
        run = core.Run("quadratic", "custom_optimizers:SignDescent", (1.0, 1.0), 5, {"lr": 0.01})
        run.advance(5)
        assert run.result().points.shape == (6, 2)
        with pytest.raises(InvalidInput, match="unknown optimizer"):
            optimizer_spec("custom_optimizers:NotAnOptimizer")
    finally:
        external.OFFERED.clear()
    with pytest.raises(InvalidInput, match="unknown optimizer"):
        optimizer_spec("custom_optimizers:SignDescent")
