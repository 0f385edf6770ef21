"""The `/api` router: catalog, health, surface grids, trajectories (whole or NDJSON stream) and sweeps.

core's `InvalidInput` becomes a 422 naming the field (app/services/validation.py);
every computation goes through the compute door (app/services/compute.py).
"""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

import core
from app.exports.jobs import export_health
from app.i18n import Lang, language_headers, translator
from app.http.routing import ERRORS, STREAM_DOC, STREAM_ERRORS, JSONRoute
from app.schemas import (
    Catalog, GridQuery, GridResponse, Limits, SurfaceName, SweepRequest, TrajectoryRequest, TrajectoryResponse,
)
from app.serialize import JSONBytes
from app.services.catalog import SURFACE_PARAMS, grid_json, registry
from app.services.compute import (
    NDJSONResponse, in_pool, json_answer, ndjson_stream, reserve, stream_stats,
)
from app.services.sweeps import plan_sweep, sweep_blocks, sweep_meta
from app.services.trajectories import (
    Interleave, answers_in_place, build_runs, header, label_of, run_memory, trajectories_json, trajectory_rounds,
)
from app.services.validation import Invalid, field_loc, limited
from app.settings import SettingsDep
from core.engine import resolve_surface

router = APIRouter(prefix="/api", tags=["api"], default_response_class=JSONBytes, route_class=JSONRoute)


@router.get("/catalog", response_model=Catalog)
async def catalog(settings: SettingsDep, lang: Lang) -> Response:
    """Every optimizer, surface and schedule with all of its metadata, and this server's limits; labels and
    help in the language asked for (`lang=zh-CN` or `lang=en`, else the cookie, else Accept-Language)."""
    limits = settings.model_dump(include=set(Limits.model_fields))
    return JSONBytes({**translator(lang).catalog(registry()), "limits": limits}, headers=language_headers(lang))


@router.get("/health")
async def health(request: Request) -> dict:
    """Liveness ("ok", or "degraded" when the export store or its workers are down), the export store and
    its workers, and how the streams served so far have ended."""
    exports = await anyio.to_thread.run_sync(export_health)  # Redis may take seconds to time out
    return {"status": "degraded" if exports["status"] == "degraded" else "ok", "exports": exports,
            "streams": dict(stream_stats(request))}


_GRID_LOC = {"x_range": "x_min", "x_range[0]": "x_min", "x_range[1]": "x_max",
             "y_range": "y_min", "y_range[0]": "y_min", "y_range[1]": "y_max"}


@router.get("/surfaces/{name}/grid", response_model=GridResponse, responses={422: ERRORS[422]})
async def surface_grid(request: Request, name: SurfaceName, query: Annotated[GridQuery, Query()],
                       settings: SettingsDep) -> Response:
    """The surface's values on a resolution x resolution grid for the contour and 3-D views; cached."""
    limited("resolution", query.resolution, 2, settings.max_grid_resolution, ["query"])
    spec = core.SURFACES[name.value]
    # Every surface's parameters are query parameters; core rejects those this surface lacks.
    given = {k: v for k in SURFACE_PARAMS if (v := getattr(query, k)) is not None}
    ranges = []
    for axis, (lo, hi) in zip("xy", spec.domain):
        a, b = getattr(query, f"{axis}_min"), getattr(query, f"{axis}_max")
        ranges.append(None if a is None and b is None else (lo if a is None else a, hi if b is None else b))
    try:
        _, params = resolve_surface({"name": name.value, **given})
        key = (name.value, tuple(sorted(params.items())), *ranges, query.resolution)
        body = await in_pool(request, grid_json, *key)
    except core.InvalidInput as e:
        raise Invalid(["query", _GRID_LOC.get(e.field) or field_loc(e.field)[-1]], e.reason) from None
    return Response(body, media_type="application/json", headers={"cache-control": "public, max-age=3600"})


@router.post("/trajectories", response_model=TrajectoryResponse, responses=ERRORS)
async def trajectories(request: Request, body: TrajectoryRequest, settings: SettingsDep) -> Response:
    """Every run's whole trajectory, with the learning rates and optimizer state the inspector shows."""
    if answers_in_place(body, settings):
        return Response(trajectories_json(body, settings), media_type="application/json")
    with await reserve(request, settings, run_memory(body, settings), ["body", "steps"], "these runs"):
        return await json_answer(request, settings, trajectories_json, body, settings)


@router.post("/trajectories/stream", response_class=NDJSONResponse, responses={200: STREAM_DOC, **STREAM_ERRORS})
async def trajectories_stream(request: Request, body: TrajectoryRequest, settings: SettingsDep) -> Response:
    """The same runs as JSON Lines, so drawing can start while long runs are still computed.

    Lines: `meta` (surface, start, steps, runs); then `chunk`s round-robin
    across the runs in step order, each with points [from, from + n) and the
    per-step arrays for steps [step_from, step_from + n); `end` when a run
    finishes (with `diverged_at` and its point count); finally `done`, or
    `error` with a message if the stream had to stop.
    """
    lease = await reserve(request, settings, run_memory(body, settings), ["body", "steps"], "these runs")
    try:
        runs = await in_pool(request, build_runs, body, settings)
    except BaseException:
        lease.release()
        raise
    meta = {**header(runs), "runs": [
        {"index": i, "optimizer": run.optimizer.id, **label_of(run), "hyperparameters": run.hyperparameters}
        for i, run in enumerate(runs)
    ]}
    interleave = Interleave(runs, body.field_names(), body.encoding)
    return ndjson_stream(request, settings, meta, trajectory_rounds(interleave, settings), lease)


@router.post("/sweeps/stream", response_class=NDJSONResponse, responses={200: STREAM_DOC, **STREAM_ERRORS})
async def sweeps_stream(request: Request, body: SweepRequest, settings: SettingsDep) -> Response:
    """One optimizer over a grid of two hyperparameters, or of start points, streamed as rows finish.

    Lines: `meta` (names, values, shape, minimum_value); then `rows` blocks
    along the first name with final losses and points, steps to reach the
    tolerance (null: never), diverged flags (diverged cells hold null) and
    progress from 0 to 1; `progress` lines (just the fraction done) while a
    wide row is computed; finally `done`, or `error`. Readers ignore types
    they do not know.
    """
    plan = await in_pool(request, plan_sweep, body, settings)
    return ndjson_stream(request, settings, sweep_meta(plan), sweep_blocks(plan))


