"""The registry as the API describes it, and surface grids; both cached, since they change only with the code."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

import core
from app.serialize import dumps


@lru_cache(maxsize=1)
def registry() -> dict:
    return {
        "optimizers": [spec.as_dict() for spec in core.OPTIMIZERS.values()],
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
