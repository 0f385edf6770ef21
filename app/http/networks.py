"""The `/api/networks` router: a small real network trained by several optimizers, and its loss landscape.

core's `InvalidInput` becomes a 422 naming the field; every computation goes
through the compute door (app/services/compute.py), with its time limit and
memory budget.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.http.routing import ERRORS, STREAM_DOC, STREAM_ERRORS, JSONRoute
from app.schemas import NetworkRequest
from app.serialize import JSONBytes
from app.services.compute import NDJSONResponse, in_pool, json_answer, ndjson_stream, reserve
from app.services.networks import build, header, memory, network_json, stream_rounds
from app.settings import SettingsDep

router = APIRouter(prefix="/api/networks", tags=["networks"], default_response_class=JSONBytes, route_class=JSONRoute)


@router.post("/trajectories", responses=ERRORS)
async def trajectories(request: Request, body: NetworkRequest, settings: SettingsDep) -> Response:
    """Every run's losses and learning rates (and weights, when asked), then the plane when one is asked for:
    its grid of the true loss, each path projected on it, the share of each path off it and its true loss."""
    with await reserve(request, settings, memory(body, settings), ["body", "steps"], "these runs"):
        return await json_answer(request, settings, network_json, body, settings)


@router.post("/stream", response_class=NDJSONResponse, responses={200: STREAM_DOC, **STREAM_ERRORS})
async def stream(request: Request, body: NetworkRequest, settings: SettingsDep) -> Response:
    """The same as JSON Lines: `meta`, `chunk`s round-robin across the runs, `end` per run, then a `plane`
    line when one is asked for, and `done` (or `error`)."""
    lease = await reserve(request, settings, memory(body, settings), ["body", "steps"], "these runs")
    try:
        parsed, problem, runs = await in_pool(request, build, body, settings)
    except BaseException:
        lease.release()
        raise
    return ndjson_stream(request, settings, header(parsed, problem, runs), stream_rounds(parsed, problem, runs, settings),
                         lease)
