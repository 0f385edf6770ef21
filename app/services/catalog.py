"""The registry as the API describes it, and surface grids; both cached, since they change only with the code."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

import core
import core.external
from app import linkgrammar
from app.serialize import dumps
from app.settings import get_settings


def offer_external(names: str) -> None:
    """Import the operator's comma-separated "module:Class" optimizers and offer them beside the registry.

    Called at start-up with the server's setting; a class that cannot be loaded stops the start with
    the reason, rather than leaving a server whose page lists what it cannot run.
    """
    core.external.offer([n.strip() for n in names.split(",") if n.strip()])


def optimizers() -> list:
    """Every optimizer a request may name: the registry's, then the classes the operator offered."""
    return [*core.OPTIMIZERS.values(), *core.external.OFFERED.values()]


def registry() -> dict:
    return _registry(tuple(core.external.OFFERED))


@lru_cache(maxsize=4)
def _registry(offered: tuple) -> dict:
    """The catalog for the registry and these offered classes (cached: both change only at start-up)."""
    return {
        "optimizers": [spec.as_dict() for spec in optimizers()],
        "surfaces": [spec.as_dict() for spec in core.SURFACES.values()],
        "schedules": [spec.as_dict() for spec in core.SCHEDULES.values()],
    }


@lru_cache(maxsize=32)
def grid_json(surface: str, params: tuple, x_range, y_range, resolution: int) -> bytes:
    """A surface grid as JSON bytes, cached on its normalised arguments."""
    xs, ys, z = core.surface_grid({"name": surface, **dict(params)}, x_range, y_range, resolution)
    finite = z[np.isfinite(z)]
    return dumps({
        "surface": surface, "surface_params": dict(params), "x": xs, "y": ys, "z": z,
        "z_min": float(finite.min()) if finite.size else None,
        "z_max": float(finite.max()) if finite.size else None,
    })


SURFACE_PARAMS = sorted({h.name for spec in core.SURFACES.values() for h in spec.params})


def _number(name: str, symbol: str, default, low, high, help: str, log=False, kind="float", slider_high=None) -> dict:
    """A run setting in the same shape as a hyperparameter's as_dict, so one slider macro draws both."""
    return {"name": name, "symbol": symbol, "default": default, "low": low, "high": high, "log": log,
            "kind": kind, "help": help, "slider_high": slider_high}


def _setting(key: str, symbol: str, help: str, slider_high, log=False, high=None) -> dict:
    """A run setting whose default, limits and kind are its link key's (app/linkgrammar.py)."""
    k = linkgrammar.key(key)
    return _number(key, symbol, k.default, k.low, k.high if high is None else high, help, log=log,
                   kind="int" if k.kind == "int" else "float", slider_high=slider_high)


def run_settings() -> tuple[dict, ...]:
    """Settings of the run as a whole; their names are the URL keys. Steps stop at the server's limit."""
    return (
        _setting("steps", "", "optimizer steps per run", 5000, log=True, high=get_settings().max_steps),
        _setting("noise", r"\sigma", "standard deviation of Gaussian noise added to every gradient", 5.0),
        _setting("noise_seed", "", "seed of the gradient noise", 99),
        _setting("seed", "", "seed of the minibatches on a stochastic surface", 99),
    )


VIEW_LABELS = {"contour": "Contour", "surface3d": "3-D surface", "loss": "Loss", "map": "Map"}
