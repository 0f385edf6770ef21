"""The exploring routes: tune every optimizer's learning rate, and stream a sweep's basins of attraction.

Both stand on the sweep machinery of app/api.py (its validation, limits and
NDJSON stream) and on core.explore; errors come back in the same shapes.
"""

from __future__ import annotations

from typing import Literal

import anyio
import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

import core
from app.api import (
    ERRORS, STREAM_DOC, STREAM_ERRORS, Invalid, JSONRoute, NDJSONResponse, _start, compute_limit, field_loc, limited,
    ndjson_stream, parse, plan_sweep, sweep_blocks,
)
from app.schemas import Integer, Noise, Number, OptimizerName, RunSpec, ScheduleRef, Start, SurfaceRef, SweepRequest
from app.serialize import JSONBytes, dumps
from app.settings import Settings, SettingsDep
from core.explore import CRITERIA, MAX_SEEDS, TimeLimitExceeded, classify, default_radius

router = APIRouter(prefix="/api", tags=["explore"], default_response_class=JSONBytes, route_class=JSONRoute)


# --- tuning ------------------------------------------------------------------------------

class TuneRequest(BaseModel):
    """Optimizers whose learning rate to tune on one surface, start, schedule and noise; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")
    surface: SurfaceRef
    start: Start = Field(None, description="[x, y]; the surface's default start when omitted")
    steps: Integer = 500
    optimizers: list[RunSpec] = Field(min_length=1, description="each optimizer with its other hyperparameters; "
                                      "a given lr is ignored, since lr is what is swept")
    schedule: ScheduleRef | None = None
    noise: Noise | None = None
    seed: Integer = 0
    num: Integer = Field(64, description="learning rates tried per optimizer, across its range (log where the "
                         "catalog says so)")
    lr_range: list[Number] | None = Field(None, min_length=2, max_length=2,
                                          description="[low, high] instead of each optimizer's whole range")
    criterion: Literal[CRITERIA] = Field("final_loss", description='"final_loss": the lowest final loss; '
                                         '"steps_to_tol": the fewest steps until loss - minimum value <= tol')
    tol: Number = 1e-3
    seeds: Integer = Field(5, description=f"noise seeds per learning rate when noise.sigma > 0 (at most {MAX_SEEDS}); "
                           "the criterion judges their mean")


class LrCurveResult(BaseModel):
    """One optimizer's results per learning rate; null where a run diverged or never reached the tolerance."""

    optimizer: OptimizerName
    hyperparameters: dict[str, float]
    lr: list[float]
    final_losses: list[float | None]
    steps_to_tol: list[float | None]
    diverged: list[bool]
    best_index: int | None
    best_lr: float | None = Field(description="null when every learning rate diverged")
    met: bool = Field(description="false when no lr reached the tolerance and the pick fell back to final loss")


class TuneResponse(BaseModel):
    surface: str
    start: list[float]
    steps: int
    criterion: str
    tol: float
    minimum_value: float | None
    noise: dict | None
    seeds: list[int] = Field(description="the noise seeds each lr was averaged over; empty without noise")
    results: list[LrCurveResult]


def tune_json(body: TuneRequest, settings: Settings) -> bytes:
    """Validate, tune within the time limit and write the answer; raises Invalid."""
    prefix = ["body"]
    request = parse(TuneRequest, body, prefix)
    if len(request.optimizers) > settings.max_runs:
        raise Invalid([*prefix, "optimizers"], f"{len(request.optimizers)} optimizers is more than the limit of "
                      f"{settings.max_runs} per request")
    steps = limited("steps", request.steps, 1, settings.max_sweep_steps, prefix)
    num = limited("num", request.num, 2, settings.max_sweep_cells, prefix)
    seeds = request.seeds
    noisy = request.noise is not None and request.noise.sigma not in (0, 0.0, None)
    cells = num * len(request.optimizers) * (seeds if noisy and isinstance(seeds, int) else 1)
    if cells > settings.max_sweep_cells:
        raise Invalid([*prefix, "num"], f"{num} learning rates x {len(request.optimizers)} optimizers"
                      f"{f' x {seeds} seeds' if noisy else ''} = {cells} runs is more than the limit of "
                      f"{settings.max_sweep_cells} per request")
    ids = [spec.optimizer.value for spec in request.optimizers]
    try:
        tuning = core.tune_lr(
            request.surface.as_core(), ids, _start(request), steps,
            {spec.optimizer.value: spec.hyperparameters for spec in request.optimizers},
            None if request.schedule is None else request.schedule.as_core(),
            None if request.noise is None else request.noise.as_core(), request.seed, num, request.criterion,
            request.tol, seeds, request.lr_range, time_limit=settings.max_compute_seconds,
        )
    except TimeLimitExceeded:
        raise compute_limit(settings) from None
    except core.InvalidInput as e:
        loc = field_loc(e.field)
        # core names an optimizer's settings by its id; the request, by its place in the list.
        if loc[0] in ("hyperparameters", "optimizers") and len(loc) > 1:
            index = loc[1] if isinstance(loc[1], int) else ids.index(loc[1])
            loc = ["optimizers", index, *(["hyperparameters", *loc[2:]] if loc[0] == "hyperparameters" else [])]
        raise Invalid([*prefix, *loc], e.reason) from None
    return dumps({
        "surface": tuning.surface, "start": list(tuning.start), "steps": tuning.steps, "criterion": tuning.criterion,
        "tol": tuning.tol, "minimum_value": tuning.minimum_value, "noise": tuning.noise, "seeds": list(tuning.seeds),
        "results": [{
            "optimizer": c.optimizer, "hyperparameters": c.hyperparameters, "lr": c.lr,
            "final_losses": c.final_losses, "steps_to_tol": c.steps_to_tol, "diverged": c.diverged,
            "best_index": c.best_index, "best_lr": c.best_lr, "met": c.met,
        } for c in tuning.curves],
    })


@router.post("/tune", response_model=TuneResponse, responses=ERRORS)
async def tune(body: TuneRequest, settings: SettingsDep) -> Response:
    """For each optimizer, sweep lr across its range on the same surface, start, steps, schedule and noise,
    and pick the best by the criterion; with noise, each lr is judged by the mean over several seeds."""
    data = await anyio.to_thread.run_sync(tune_json, body, settings)
    return Response(data, media_type="application/json")


# --- basins ------------------------------------------------------------------------------

class BasinsRequest(SweepRequest):
    """A sweep (usually of start points "x" and "y") whose cells are labelled by the minimum they end at."""

    radius: Number = Field(None, description="how near a minimum a run must end to count as reaching it; "
                           "2% of the surface's larger domain side when omitted")


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


@router.post("/basins/stream", response_class=NDJSONResponse, responses={200: STREAM_DOC, **STREAM_ERRORS})
async def basins_stream(request: Request, body: BasinsRequest, settings: SettingsDep) -> Response:
    """A sweep streamed as /api/sweeps/stream streams it, each cell also labelled by where its run ends.

    `meta` adds the surface's `minima` and the `radius`; each `rows` line adds
    `basin`: the index into `minima` of the minimum the run ends within
    `radius` of, -1 if it ends elsewhere (not converged), -2 if it diverged.
    """
    plan, minima, radius = await anyio.to_thread.run_sync(plan_basins, body, settings)
    meta = {"names": list(plan.names), "values": list(plan.values), "shape": list(plan.shape),
            "minimum_value": plan.minimum_value, "minima": minima, "radius": radius}
    return ndjson_stream(request, settings, meta, basin_blocks(plan, minima, radius))
