"""Every registry entry is complete and consistent with its kernel."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import core
import oracles
from core.schedules import SCHEDULES
from core.spec import GROUPS

OPTIMIZERS = list(core.OPTIMIZERS.values())
SURFACES = list(core.SURFACES.values())
optimizers = pytest.mark.parametrize("spec", OPTIMIZERS, ids=[s.id for s in OPTIMIZERS])
surfaces = pytest.mark.parametrize("spec", SURFACES, ids=[s.id for s in SURFACES])


def kernel_args(spec) -> list[str]:
    return list(inspect.signature(oracles.python_function(spec.kernel)).parameters)


def check_hyperparameter(h):
    assert h.name and h.symbol and h.help.strip(), h
    assert h.kind in ("float", "int", "bool"), h
    assert h.low < h.high, h
    assert h.low <= h.default <= h.high, f"{h.name} default {h.default} is outside [{h.low}, {h.high}]"
    if h.log:
        assert h.low > 0, f"{h.name} is log-scale but its low end is {h.low}"
    if h.kind == "bool":
        assert (h.low, h.high) == (0, 1) and h.default in (0, 1), h
    if h.kind == "int":
        assert all(float(v).is_integer() for v in (h.low, h.high, h.default)), h


def test_registries_are_not_empty_and_numbered_in_order():
    for reg in (core.OPTIMIZERS, core.SURFACES):
        assert len(reg) > 0
        assert [spec.code for spec in reg.values()] == list(range(len(reg)))
        assert all(key == spec.id for key, spec in reg.items())


@optimizers
def test_optimizer_spec_is_documented(spec):
    for attr in ("id", "label", "rule", "help", "reference"):
        assert isinstance(getattr(spec, attr), str) and getattr(spec, attr).strip(), f"{spec.id} has no {attr}"
    assert spec.id == spec.id.lower() and spec.id.isidentifier()


@optimizers
def test_optimizer_hyperparameters(spec):
    names = [h.name for h in spec.hyperparameters]
    assert names[0] == "lr", f"{spec.id}: the first hyperparameter is {names[0]!r}, the schedule scales 'lr'"
    assert len(set(names)) == len(names), f"{spec.id}: duplicate hyperparameter names {names}"
    for h in spec.hyperparameters:
        check_hyperparameter(h)


@optimizers
def test_optimizer_kernel_signature(spec):
    assert spec.kernel is not None, f"{spec.id} has no kernel"
    hp = [h.name for h in spec.hyperparameters]
    if spec.whole:
        expected = ["x", "g", "f", "t", "lr_t"] + hp + list(spec.state) + ["surf"]
    else:
        expected = ["x", "g", "t", "lr_t"] + hp + list(spec.state)
    assert kernel_args(spec) == expected


@optimizers
def test_optimizer_group_shapes_and_points(spec):
    assert spec.group in GROUPS, f"{spec.id}: group {spec.group!r} is not one of {list(GROUPS)}"
    assert set(spec.shapes) <= set(spec.state), f"{spec.id}: shapes name slots it does not keep"
    for slot in spec.state:
        shape = spec.shape(slot)
        assert shape and all(d == "n" or (isinstance(d, int) and d > 0) for d in shape), (spec.id, slot, shape)
        if not slot.startswith("_"):
            assert shape in (("n",), (1,)), f"{spec.id}: public slot {slot!r} must be a vector or a number, not {shape}"
    assert not spec.shapes or spec.whole, f"{spec.id}: only a whole-vector kernel has shaped state"
    for slot in spec.points:
        assert slot in spec.state and spec.shape(slot) == ("n",), f"{spec.id}: point {slot!r} is not a vector slot"
    if spec.package is not None:
        module, _, attr = spec.package[0].partition(":")
        assert module and attr, f"{spec.id}: package {spec.package[0]!r} is not 'module:Class'"


@optimizers
def test_optimizer_state_and_init(spec):
    assert len(set(spec.state)) == len(spec.state)
    hp_names = {h.name for h in spec.hyperparameters}
    for slot, value in spec.init.items():
        assert slot in spec.state, f"{spec.id}: init names {slot!r}, which is not a state slot"
        if isinstance(value, str):
            assert value in hp_names, f"{spec.id}: init of {slot!r} refers to unknown hyperparameter {value!r}"
        else:
            assert np.isfinite(value)


@optimizers
def test_optimizer_torch_and_step_size(spec):
    if spec.torch is not None:
        torch = pytest.importorskip("torch")
        cls, kwargs = spec.torch
        assert hasattr(torch.optim, cls), f"{spec.id}: torch.optim has no {cls}"
        assert isinstance(kwargs, dict)
    if spec.step_size is not None:
        s = core.trajectory("quadratic", spec.id, (1.0, 1.0), 5).step_size
        assert np.shape(s) == (5,) and np.all(np.isfinite(s)) and np.all(np.asarray(s) > 0)


@surfaces
def test_surface_spec_is_documented(spec):
    for attr in ("id", "label", "formula", "help", "reference"):
        assert isinstance(getattr(spec, attr), str) and getattr(spec, attr).strip(), f"{spec.id} has no {attr}"
    for h in spec.params:
        check_hyperparameter(h)
    assert len({h.name for h in spec.params}) == len(spec.params)


def in_domain(spec, point) -> bool:
    (x0, x1), (y0, y1) = spec.domain
    return x0 <= point[0] <= x1 and y0 <= point[1] <= y1


@surfaces
def test_surface_landmarks_lie_in_domain(spec):
    (x0, x1), (y0, y1) = spec.domain
    assert x0 < x1 and y0 < y1
    assert in_domain(spec, spec.start), f"{spec.id}: start {spec.start} is outside {spec.domain}"
    minima, saddles, fmin = spec.resolved_landmarks({h.name: h.default for h in spec.params})
    for p in tuple(spec.minima) + tuple(spec.saddles) + tuple(minima) + tuple(saddles):
        assert len(p) == 2 and in_domain(spec, p), f"{spec.id}: landmark {p} is outside {spec.domain}"
    if spec.minima:
        assert spec.minimum_value is not None, f"{spec.id} lists minima but no minimum_value"


@surfaces
def test_surface_kernel_signature(spec):
    assert spec.kernel is not None, f"{spec.id} has no kernel"
    args = kernel_args(spec)
    assert args[:2] == ["x", "y"]
    if spec.prepare is None:
        assert spec.batch_columns == 0
        assert args[2:] == [h.name for h in spec.params]
    else:
        P, batches, Q = spec.prepare({h.name: h.default for h in spec.params}, 0)
        assert len(args) == 2 + len(P) + spec.batch_columns
        rows = batches.rows(0, 3) if batches is not None else Q
        assert np.shape(rows)[1] == spec.batch_columns


def test_schedules_are_documented():
    assert "constant" in SCHEDULES
    for sid, s in SCHEDULES.items():
        assert s.id == sid and s.label.strip() and s.help.strip()
        names = [h.name for h in s.params]
        assert "warmup_steps" in names and len(set(names)) == len(names)
        for h in s.params:
            check_hyperparameter(h)


@optimizers
def test_every_hyperparameter_symbol_reads_as_text_on_a_slider(spec):
    """The sliders' labels turn each LaTeX symbol into HTML: nothing of the LaTeX may be left showing."""
    from app.http.templating import symbol_html

    for h in spec.hyperparameters:
        html = str(symbol_html(h.symbol))
        assert "\\" not in html and "{" not in html and "}" not in html, f"{spec.id}.{h.name}: {h.symbol!r} -> {html}"
