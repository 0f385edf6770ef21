"""What the registry tells the page beyond names and ranges: how each slider spreads its range, and the
learning rate each surface starts an optimizer at. Both are read from the registry blocks, never kept
in the page."""

from __future__ import annotations

import math

import pytest

import core
from app.services.catalog import registry
from core.spec import Hyperparameter

SURFACES = [s for s in core.SURFACES.values() if s.id != "custom"]
FLOATS = [(o.id, h) for o in core.OPTIMIZERS.values() for h in o.hyperparameters if h.kind == "float"]


@pytest.mark.parametrize(("opt", "h"), FLOATS, ids=[f"{o}.{h.name}" for o, h in FLOATS])
def test_a_decay_rate_slides_on_log_of_one_minus_it(opt, h):
    decay = 0 <= h.low < h.high < 1 and h.default >= 0.9
    assert h.scale == ("log" if h.log else "log1m" if decay else "linear")
    if h.scale == "log1m":
        # The track spans about two decades of 1 - v or more: 0.9 and 0.99 are far apart on it.
        track = math.log10(1 - h.low) - math.log10(1 - h.high)
        assert track >= 1.9, (opt, h.name, h.low, h.high)


def test_the_catalog_gives_every_slider_its_scale():
    scales = {(o["id"], h["name"]): h["scale"] for o in registry()["optimizers"] for h in o["hyperparameters"]}
    assert scales[("adam", "beta2")] == scales[("momentum", "momentum")] == scales[("rmsprop", "alpha")] == "log1m"
    assert scales[("adam", "lr")] == "log" and scales[("adam", "eps")] == "log"
    assert scales[("adam", "weight_decay")] == "linear"


def test_a_scale_is_checked_where_it_is_declared():
    with pytest.raises(ValueError, match="scale 'cubic'"):
        Hyperparameter("beta", r"\beta", 0.9, 0.0, 0.99, "a decay", scale="cubic")
    with pytest.raises(ValueError, match="high < 1"):
        Hyperparameter("beta", r"\beta", 0.9, 0.0, 1.0, "a decay", scale="log1m")
    assert Hyperparameter("beta", r"\beta", 0.9, 0.0, 0.99, "a decay", scale="linear").scale == "linear"


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.id)
def test_a_surfaces_learning_rates_name_optimizers_within_their_range(surface):
    assert registry()["surfaces"][list(core.SURFACES).index(surface.id)]["lr"] == surface.lr
    for opt, lr in surface.lr.items():
        h = core.OPTIMIZERS[opt].hyper("lr")
        assert h.low <= lr <= h.high and lr != h.default, (surface.id, opt, lr)


BOUNDED = [s for s in SURFACES if s.minimum_value is not None]
PLAIN = [o for o in core.OPTIMIZERS.values() if o.group == "classic"]


@pytest.mark.parametrize("opt", [*PLAIN, *(core.OPTIMIZERS[i] for i in sorted({i for s in SURFACES for i in s.lr}) if core.OPTIMIZERS[i] not in PLAIN)],
                         ids=lambda o: o.id)
@pytest.mark.parametrize("surface", BOUNDED, ids=lambda s: s.id)
def test_the_rate_a_surface_starts_a_run_at_keeps_it_finite(surface, opt):
    """On a surface with a minimum, a plain gradient method (and every optimizer a surface names) at the
    rate the page starts it at stays finite for the page's default steps from the surface's start."""
    lr = surface.lr.get(opt.id, opt.hyper("lr").default)
    run = core.trajectory(surface.id, opt.id, surface.start, 300, {"lr": lr})
    assert run.diverged_at is None, (surface.id, opt.id, lr, run.diverged_at)
