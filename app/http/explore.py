"""The exploring routes: tune every optimizer's learning rate, and stream a sweep's basins of attraction.

Both stand on the sweep services (their validation, limits and NDJSON stream)
and on core.explore; errors come back in the same shapes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.http.routing import ERRORS, STREAM_DOC, STREAM_ERRORS, JSONRoute
from app.schemas import BasinsRequest, TuneRequest, TuneResponse
from app.serialize import JSONBytes
from app.services.compute import NDJSONResponse, in_pool, json_answer, ndjson_stream
from app.services.sweeps import basin_blocks, plan_basins, sweep_meta
from app.services.tune import tune_json
from app.settings import SettingsDep

router = APIRouter(prefix="/api", tags=["explore"], default_response_class=JSONBytes, route_class=JSONRoute)


@router.post("/tune", response_model=TuneResponse, responses=ERRORS)
async def tune(request: Request, body: TuneRequest, settings: SettingsDep) -> Response:
    """For each optimizer, sweep lr across its range on the same surface, start, steps, schedule and noise,
    and pick the best by the criterion; with noise, each lr is judged by the mean over several seeds."""
    return await json_answer(request, settings, tune_json, body, settings)


@router.post("/basins/stream", response_class=NDJSONResponse, responses={200: STREAM_DOC, **STREAM_ERRORS})
async def basins_stream(request: Request, body: BasinsRequest, settings: SettingsDep) -> Response:
    """A sweep streamed as /api/sweeps/stream streams it, each cell also labelled by where its run ends.

    `meta` adds the surface's `minima` and the `radius`; each `rows` line adds
    `basin`: the index into `minima` of the minimum the run ends within
    `radius` of, -1 if it ends elsewhere (not converged), -2 if it diverged.
    """
    plan, minima, radius = await in_pool(request, plan_basins, body, settings)
    meta = {**sweep_meta(plan), "minima": minima, "radius": radius}
    return ndjson_stream(request, settings, meta, basin_blocks(plan, minima, radius))
