"""Sweeps: a request validated into core's plan under this server's limits, and computed piece by piece."""

from __future__ import annotations

import numpy as np

import core
from app.schemas import BasinsRequest, GridRange, SweepRequest
from app.serialize import ndjson
from app.services.validation import Invalid, check_formula, field_loc, limited, parse, start_of
from app.settings import Settings, get_settings
from core.engine import resolve_start
from core.explore import classify, default_radius


def grid_values(name: str, given, settings: Settings, prefix: list) -> list | np.ndarray:
    """One sweep axis: a list as it is, or a {low, high, num, log} range expanded."""
    if not isinstance(given, GridRange):
        for q, value in enumerate(given):
            if isinstance(value, (list, dict)):  # numpy would flatten [[1, 2], [3]] into three values
                raise Invalid([*prefix, "grid", name, q], "must be a number, not a list or object")
        return given
    loc = [*prefix, "grid", name]
    num = given.num
    if isinstance(num, bool) or not isinstance(num, int):
        raise Invalid([*loc, "num"], f"{num!r} is not a whole number")
    limited(f"grid.{name}.num", num, 1, settings.max_sweep_cells, prefix)
    try:
        # core checks a range the way it checks a grid's x_range: two finite numbers.
        low, high = resolve_start((given.low, given.high), f"grid.{name}")
    except core.InvalidInput as e:
        raise Invalid([*loc, "low" if e.field.endswith("[0]") else "high"], e.reason) from None
    if not given.log:
        return np.linspace(low, high, num)
    if low <= 0 or high <= 0:
        raise Invalid(loc, f"a log range needs low > 0 and high > 0, not [{low:g}, {high:g}]")
    return np.geomspace(low, high, num)


def plan_sweep(body: SweepRequest | dict, settings: Settings | None = None, prefix: list = ("body",)) -> core.SweepPlan:
    """Validate a sweep request into core's plan; raises Invalid."""
    settings = settings or get_settings()
    prefix = list(prefix)
    request = parse(SweepRequest, body, prefix)
    check_formula(request.surface, settings, prefix)
    steps = limited("steps", request.steps, 1, settings.max_sweep_steps, prefix)
    grid = {name: grid_values(name, given, settings, prefix) for name, given in request.grid.items()}
    cells = int(np.prod([len(v) for v in grid.values()], dtype=float)) if grid else 0
    if cells > settings.max_sweep_cells:
        raise Invalid([*prefix, "grid"], f"{' x '.join(str(len(v)) for v in grid.values())} = {cells} cells "
                      f"is more than the limit of {settings.max_sweep_cells} per sweep")
    schedule = None if request.schedule is None else request.schedule.as_core()
    try:
        return core.plan_sweep(request.surface.as_core(), request.optimizer, start_of(request), steps, grid,
                               request.hyperparameters, schedule, request.tol, request.seed,
                               None if request.noise is None else request.noise.as_core())
    except core.InvalidInput as e:
        loc = field_loc(e.field)
        # A bad value inside a {low, high, num} range can only be one of its ends.
        if len(loc) == 3 and loc[0] == "grid" and isinstance(request.grid.get(loc[1]), GridRange):
            loc[2] = "low" if loc[2] == 0 else "high"
        raise Invalid([*prefix, *loc], e.reason) from None



def sweep_blocks(plan: core.SweepPlan, extra=None):
    """One computation per piece of the sweep (bounded cells x steps, whatever the grid's shape).

    A piece that completes rows gives a `rows` line; one inside a wide row gives
    a `progress` line, so the time limit and a disconnect are checked between pieces.
    `extra(rows)`, when given, adds fields to each `rows` line (the basins' labels).
    """
    rows = core.sweep_rows(plan)
    na, nb = plan.shape
    total = na * nb
    done = 0

    def piece():
        nonlocal done
        r = next(rows)
        steps, done = (r.cells - done) * plan.steps, r.cells
        if r.row1 == r.row0:
            return ndjson({"type": "progress", "progress": done / total}), steps
        hit = r.steps_to_tol.tolist()
        return ndjson({
            "type": "rows", "row0": r.row0, "row1": r.row1, "final_losses": r.final_losses,
            "final_points": np.ascontiguousarray(r.final_points),
            "steps_to_tol": [[None if k < 0 else k for k in row] for row in hit],
            "diverged": r.diverged, "progress": done / total, **(extra(r) if extra else {}),
        }), steps

    while done < total:
        yield piece



def sweep_meta(plan: core.SweepPlan) -> dict:
    """The `meta` line of a sweep's stream."""
    return {"names": list(plan.names), "values": list(plan.values), "shape": list(plan.shape),
            "minimum_value": plan.minimum_value}


def basin_blocks(plan: core.SweepPlan, minima, radius: float):
    """The sweep's computations, each `rows` line also labelling its cells by basin."""
    return sweep_blocks(plan, lambda rows: {"basin": classify(rows.final_points, minima, radius)})


def plan_basins(body: BasinsRequest, settings: Settings):
    plan = plan_sweep(body, settings)
    radius = default_radius(plan.surface) if body.radius is None else body.radius
    try:
        minima, _, _ = plan.surface.resolved_landmarks(plan.surface_params)
        classify(np.zeros((0, 2)), minima, radius)
    except core.InvalidInput as e:
        raise Invalid(["body", *field_loc(e.field)], e.reason) from None
    return plan, [list(p) for p in minima], float(radius)
