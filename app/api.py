"""The HTTP API: the catalog, surface grids, trajectories (whole or streamed) and sweeps.

Validation is one code path: pydantic checks shapes and names, core checks
every value, and `Invalid` carries either as a 422 in FastAPI's standard shape
{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}. Limits that make a
request too large to take on (body bytes, computation time, the size of a
whole answer) answer 413 in the same shape. Every computation runs in a worker thread (the kernels release
the GIL), so the event loop stays free to stream and to notice disconnects.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections import Counter
from functools import lru_cache
from typing import Annotated

import anyio
import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.routing import APIRoute
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ValidationError

import core
from core.engine import resolve_start, resolve_surface
from app.schemas import (
    Catalog,
    GRID_AXIS_TAGS,
    ErrorResponse,
    GridQuery,
    GridRange,
    GridResponse,
    Limits,
    SurfaceName,
    SweepRequest,
    TrajectoryRequest,
    TrajectoryResponse,
)
from app.serialize import FIELDS, Encoding, JSONBytes, dumps, encode_arrays, ndjson
from app.settings import Settings, SettingsDep, get_settings

log = logging.getLogger("gradscape.api")

NDJSON = "application/x-ndjson"
# Steps per Run.advance between two checks of the computation-time limit (about a millisecond).
ADVANCE_BLOCK = 1 << 15


# --- errors ------------------------------------------------------------------------------

class Invalid(Exception):
    """A request the API refuses: `status` (422 or 413) and FastAPI-shaped error items."""

    def __init__(self, loc: list, msg: str, type: str = "value_error", status: int = 422, errors: list | None = None):
        super().__init__(msg)
        self.status = status
        self.errors = errors or [{"loc": loc, "msg": msg, "type": type}]

    @classmethod
    def from_core(cls, error: core.InvalidInput, prefix: list, run: int | None = None) -> "Invalid":
        loc = field_loc(error.field)
        if run is not None and loc and loc[0] in ("optimizer", "hyperparameters"):
            loc = ["runs", run] + loc
        return cls(prefix + loc, error.reason)

    @classmethod
    def from_pydantic(cls, error: ValidationError, prefix: list) -> "Invalid":
        errors = clean_errors(error.errors(), prefix)
        return cls(errors[0]["loc"], errors[0]["msg"], errors=errors)


_FIELD_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def field_loc(field: str) -> list:
    """core's dotted field as a loc: "hyperparameters.lr" -> ["hyperparameters", "lr"], "start[0]" -> ["start", 0]."""
    return [int(index) if index else name for name, index in _FIELD_PART.findall(field)]


def clean_errors(errors, prefix: list = ()) -> list[dict]:
    """loc, msg and type of pydantic's errors; their inputs may be huge, or NaN, which JSON lacks."""
    return [{"loc": [*prefix, *_untagged(e["loc"])], "msg": _msg(e), "type": e["type"]} for e in errors]


def _untagged(loc) -> list:
    loc = list(loc)
    at = loc.index("grid") + 2 if "grid" in loc else -1
    if 0 < at < len(loc) and loc[at] in GRID_AXIS_TAGS:
        del loc[at]
    return loc


def _msg(error: dict) -> str:
    if error["type"] == "json_invalid" and "error" in error.get("ctx", {}):
        return f"{error['msg']}: {error['ctx']['error']}"
    return error["msg"]


class JSONRequest(Request):
    """A request whose JSON body fails as a decode error (a 422) on any malformed input.

    Python's json raises RecursionError on deep nesting and ValueError on
    integers of more than 4300 digits; FastAPI answers those with a bare 400.
    """

    async def json(self):
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = json.loads(body, parse_int=_parse_int)
            except json.JSONDecodeError:
                raise
            except (RecursionError, ValueError) as e:
                raise json.JSONDecodeError(str(e) or type(e).__name__, "", 0) from None
        return self._json


class LongInteger(float):
    """An integer literal of more digits than Python converts (4,300): infinite, so it fails where it
    stands and the error names its field, and shown by its length rather than its digits."""

    def __new__(cls, text: str):
        self = super().__new__(cls, "-inf" if text.startswith("-") else "inf")
        self.digits = len(text.lstrip("-"))
        return self

    def __repr__(self) -> str:
        return f"an integer of {self.digits} digits"

    __str__ = __repr__


def _parse_int(text: str) -> int | float:
    return int(text) if len(text) <= 4300 else LongInteger(text)


class JSONRoute(APIRoute):
    """A route that reads its body with JSONRequest."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(JSONRequest(request.scope, request.receive))

        return route


MAX_MSG = 400  # characters of an error message; a message echoing a 1 MB value is cut, not sent whole
MAX_KEY = 80  # characters of one part of an error's loc (a key given in the request)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters in all)"


def error_response(status: int, errors: list[dict]) -> Response:
    errors = [{**e, "msg": _cut(str(e["msg"]), MAX_MSG),
               "loc": [_cut(p, MAX_KEY) if isinstance(p, str) else p for p in e["loc"]]} for e in errors[:20]]
    return JSONBytes({"detail": errors}, status_code=status)


async def invalid_handler(request: Request, exc: Invalid) -> Response:
    return error_response(exc.status, exc.errors)


async def validation_handler(request: Request, exc: RequestValidationError) -> Response:
    # FastAPI's default handler encodes the offending input with json.dumps, which fails on NaN.
    if isinstance(exc.body, bytes):  # a body FastAPI did not read as JSON: say why
        msg = "the body must be JSON, sent with content-type: application/json"
        return error_response(422, [{"loc": ["body"], "msg": msg, "type": "content_type"}])
    return error_response(422, clean_errors(exc.errors()))


EXCEPTION_HANDLERS = {Invalid: invalid_handler, RequestValidationError: validation_handler}
ERRORS = {
    413: {"model": ErrorResponse, "description": "past a size limit: body bytes, computation time or answer size"},
    422: {"model": ErrorResponse, "description": "the field that is wrong and why"},
}


def limited(field: str, value, low: int, high: int, prefix: list):
    """value, after checking it against this server's range; values core would reject pass on to core."""
    if isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and math.isfinite(value):
        if not low <= value <= high:
            shown = value if isinstance(value, int) else f"{value:g}"
            msg = f"{field} = {shown} is outside [{low}, {high}], this server's limit"
            raise Invalid([*prefix, *field_loc(field)], msg)
    return value


def parse(model: type[BaseModel], body, prefix: list):
    if isinstance(body, model):
        return body
    try:
        return model.model_validate(body)
    except ValidationError as e:
        raise Invalid.from_pydantic(e, prefix) from None


def _start(request) -> tuple | list:
    if request.start is not None:
        return request.start
    if request.surface.formula is not None:
        return _formulas.formula_start(request.surface.as_core())
    return core.SURFACES[request.surface.name.value].start


# --- building runs and sweeps (also used by the exports) -------------------------------

def build_runs(body: TrajectoryRequest | dict, settings: Settings | None = None,
               prefix: list = ("body",)) -> list[core.Run]:
    """Validate a trajectory request and set up its runs, nothing computed yet; raises Invalid."""
    settings = settings or get_settings()
    prefix = list(prefix)
    request = parse(TrajectoryRequest, body, prefix)
    _formulas.check_formula(request.surface, settings, prefix)
    if len(request.runs) > settings.max_runs:
        msg = f"{len(request.runs)} runs is more than the limit of {settings.max_runs} per request"
        raise Invalid([*prefix, "runs"], msg)
    steps = limited("steps", request.steps, 1, settings.max_steps, prefix)
    surface = request.surface.as_core()
    schedule = None if request.schedule is None else request.schedule.as_core()
    noise = None if request.noise is None else request.noise.as_core()
    runs = []
    for i, spec in enumerate(request.runs):
        try:
            runs.append(core.Run(surface, spec.optimizer.value, _start(request), steps, spec.hyperparameters,
                                 schedule, noise, request.seed))
            runs[-1].label = spec.label  # the run's own name, echoed in answers and drawn in legends
        except core.InvalidInput as e:
            raise Invalid.from_core(e, prefix, run=i) from None
    return runs


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
    _formulas.check_formula(request.surface, settings, prefix)
    steps = limited("steps", request.steps, 1, settings.max_sweep_steps, prefix)
    grid = {name: grid_values(name, given, settings, prefix) for name, given in request.grid.items()}
    cells = int(np.prod([len(v) for v in grid.values()], dtype=float)) if grid else 0
    if cells > settings.max_sweep_cells:
        raise Invalid([*prefix, "grid"], f"{' x '.join(str(len(v)) for v in grid.values())} = {cells} cells "
                      f"is more than the limit of {settings.max_sweep_cells} per sweep")
    schedule = None if request.schedule is None else request.schedule.as_core()
    try:
        return core.plan_sweep(request.surface.as_core(), request.optimizer.value, _start(request), steps, grid,
                               request.hyperparameters, schedule, request.tol, request.seed,
                               None if request.noise is None else request.noise.as_core())
    except core.InvalidInput as e:
        loc = field_loc(e.field)
        # A bad value inside a {low, high, num} range can only be one of its ends.
        if len(loc) == 3 and loc[0] == "grid" and isinstance(request.grid.get(loc[1]), GridRange):
            loc[2] = "low" if loc[2] == 0 else "high"
        raise Invalid([*prefix, *loc], e.reason) from None


# --- computing ---------------------------------------------------------------------------

def compute_limit(settings: Settings) -> Invalid:
    return Invalid(["body"], f"the computation took more than the limit of {settings.max_compute_seconds:g} s "
                   "per request; ask for fewer steps, runs or cells", type="limit_exceeded", status=413)


def run_all(runs: list[core.Run], seconds: float) -> bool:
    """Advance every run to its end; False if that took longer than `seconds`."""
    t0 = time.perf_counter()
    pending = runs
    while pending:
        for run in pending:
            run.advance(ADVANCE_BLOCK)
        pending = [run for run in pending if not run.finished]
        if pending and time.perf_counter() - t0 > seconds:
            return False
    return True


def _label(run: core.Run) -> dict:
    """A run's own name, when its request gave one."""
    label = getattr(run, "label", None)
    return {"label": label} if label else {}


def header(runs: list[core.Run]) -> dict:
    first = runs[0]
    return {"surface": first.surface.id, "surface_params": first.surface_params, "start": list(first.start),
            "steps": first.steps}


def trajectories_json(body: TrajectoryRequest, settings: Settings) -> bytes:
    """The whole non-streamed answer, as bytes."""
    runs = build_runs(body, settings)
    total = len(runs) * runs[0].steps
    if total > settings.max_answer_steps:
        raise Invalid(["body"], f"{len(runs)} runs x {runs[0].steps} steps = {total} steps is more than the limit of "
                      f"{settings.max_answer_steps} for one answer; /api/trajectories/stream streams it",
                      type="limit_exceeded", status=413)
    if not run_all(runs, settings.max_compute_seconds):
        raise compute_limit(settings)
    fields = body.field_names()
    return dumps({**header(runs), "runs": [
        {"optimizer": run.optimizer.id, **_label(run), "hyperparameters": run.hyperparameters,
         **encode_arrays(run.window(0, run.valid_points, fields), body.encoding), "diverged_at": run.diverged_at}
        for run in runs
    ]})


class Interleave:
    """Steps runs in turn, a block of steps each, and writes each round's chunks as JSON Lines."""

    def __init__(self, runs: list[core.Run], fields=FIELDS, encoding: Encoding = "json"):
        self.runs = runs
        self.fields = fields
        self.encoding = encoding
        self.sent = [0] * len(runs)  # points of each run already sent
        self.pending = list(range(len(runs)))

    def round(self, steps: int) -> tuple[bytes, int]:
        """The lines of one round, and how many steps it took."""
        lines = []
        taken = 0
        for i in self.pending:
            run = self.runs[i]
            k0, k1 = run.advance(steps)
            taken += k1 - k0
            p0, p1 = self.sent[i], run.valid_points
            if p1 > p0:
                lines.append(ndjson({"type": "chunk", "run": i, "from": p0, "step_from": max(p0 - 1, 0),
                                     **encode_arrays(run.window(p0, p1, self.fields), self.encoding)}))
                self.sent[i] = p1
            if run.finished:
                lines.append(ndjson({"type": "end", "run": i, "diverged_at": run.diverged_at, "points": p1}))
        self.pending = [i for i in self.pending if not self.runs[i].finished]
        return b"".join(lines), taken


class NDJSONResponse(StreamingResponse):
    media_type = NDJSON


def stream_stats(request: Request) -> Counter:
    """How this app's streams ended (completed, disconnected, failed), how many run, and their steps so far.

    A sweep cell's steps count one by one.
    """
    state = request.app.state
    if not hasattr(state, "streams"):
        state.streams = Counter(active=0, completed=0, disconnected=0, failed=0, steps=0)
    return state.streams


def ndjson_stream(request: Request, settings: Settings, meta: dict, computations) -> StreamingResponse:
    """A JSON Lines answer: meta, one line block per computation, then done (or error)."""
    return NDJSONResponse(_lines(request, settings, ndjson({"type": "meta", **meta}), computations))


async def _lines(request: Request, settings: Settings, meta: bytes, computations):
    """Run each computation, a callable giving (bytes, steps taken), in a worker thread.

    A client that leaves stops the work within one block: Starlette's stream
    listens for the disconnect and cancels this generator at its next await.
    Asking `request.is_disconnected()` here as well made a second reader of the
    same receive channel, and now and then it cut off a client that was still
    reading. The status line has long been sent when something goes wrong
    here, so errors end the stream in-band.
    """
    stats = stream_stats(request)
    stats["active"] += 1
    outcome = "disconnected"  # what a generator closed at a yield, or cancelled, has met
    spent = 0.0
    try:
        yield meta
        for compute in computations:
            if spent > settings.max_compute_seconds:
                outcome = "failed"
                yield ndjson({"type": "error", "message": compute_limit(settings).errors[0]["msg"]})
                return
            data, steps, seconds = await in_pool(request, timed, compute)
            spent += seconds
            stats["steps"] += steps
            yield data
        yield ndjson({"type": "done"})
        outcome = "completed"
    except Exception as e:
        outcome = "failed"
        log.exception("stream failed")
        yield ndjson({"type": "error", "message": f"internal error ({type(e).__name__}); the stream stopped"})
    finally:
        stats["active"] -= 1
        stats[outcome] += 1


def compute_limiter(app) -> anyio.CapacityLimiter:
    """The app's own pool for computations, `compute_threads` at once.

    Separate from anyio's default pool, which serves static files and sync
    routes: those never wait behind a sweep holding every compute thread.
    """
    limiter = getattr(app.state, "compute_limiter", None)
    if limiter is None:
        limiter = app.state.compute_limiter = anyio.CapacityLimiter(settings_of(app).compute_threads)
    return limiter


def settings_of(app) -> Settings:
    """The settings the app's routes see, honouring a test's dependency override."""
    return app.dependency_overrides.get(get_settings, get_settings)()


async def in_pool(request: Request, fn, *args):
    """fn(*args) in a compute thread; computing and writing answers holds the GIL, so more threads than
    cores would only contend (anyio's default of 40 cost each request ~40% more CPU)."""
    return await anyio.to_thread.run_sync(fn, *args, limiter=compute_limiter(request.app))


def timed(compute):
    """A computation's result and its duration, timed in its worker thread: a wait for a free thread is not work."""
    t0 = time.perf_counter()
    return *compute(), time.perf_counter() - t0


def trajectory_rounds(interleave: Interleave, settings: Settings):
    """Round sizes: small first, so the first chunk leaves at once, then growing to the chunk size."""
    steps = settings.stream_first_chunk_steps
    while interleave.pending:
        yield lambda steps=steps: interleave.round(steps)
        steps = min(steps * 4, settings.stream_chunk_steps)


def sweep_blocks(plan: core.SweepPlan, extra=None):
    """One computation per piece of the sweep (bounded cells x steps, whatever the grid's shape).

    A piece that completes rows gives a `rows` line; one inside a wide row gives
    a `progress` line, so the time limit and a disconnect are checked between pieces.
    `extra(rows)`, when given, adds fields to each `rows` line (app/explore.py's basins).
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


# --- routes ------------------------------------------------------------------------------

router = APIRouter(prefix="/api", tags=["api"], default_response_class=JSONBytes, route_class=JSONRoute)


@lru_cache(maxsize=1)
def registry() -> dict:
    return {
        "optimizers": [spec.as_dict() for spec in core.OPTIMIZERS.values()],
        "surfaces": [spec.as_dict() for spec in core.SURFACES.values()],
        "schedules": [spec.as_dict() for spec in core.SCHEDULES.values()],
    }


@router.get("/catalog", response_model=Catalog)
async def catalog(settings: SettingsDep) -> Response:
    """Every optimizer, surface and schedule with all of its metadata, and this server's limits."""
    limits = settings.model_dump(include=set(Limits.model_fields))
    return JSONBytes({**registry(), "limits": limits})


@router.get("/health")
async def health(request: Request) -> dict:
    """Liveness, and how the streams served so far have ended."""
    return {"status": "ok", "streams": dict(stream_stats(request))}


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
        data = trajectories_json(body, settings)
    else:
        data = await in_pool(request, trajectories_json, body, settings)
    return Response(data, media_type="application/json")


def answers_in_place(body: TrajectoryRequest, settings: Settings) -> bool:
    """Whether a request is small enough to answer on the event loop (settings.inline_steps)."""
    steps = body.steps
    return type(steps) is int and len(body.runs) * steps <= settings.inline_steps


# The errors of a stream route come before any line, as ordinary JSON.
STREAM_ERRORS = {code: {"description": doc["description"], "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}} for code, doc in ERRORS.items()}
STREAM_DOC = {
    "description": "JSON Lines: one object per line, each with a `type`; see the operation's description.",
    "content": {NDJSON: {"schema": {"type": "string"}}},
}


@router.post("/trajectories/stream", response_class=NDJSONResponse, responses={200: STREAM_DOC, **STREAM_ERRORS})
async def trajectories_stream(request: Request, body: TrajectoryRequest, settings: SettingsDep) -> Response:
    """The same runs as JSON Lines, so drawing can start while long runs are still computed.

    Lines: `meta` (surface, start, steps, runs); then `chunk`s round-robin
    across the runs in step order, each with points [from, from + n) and the
    per-step arrays for steps [step_from, step_from + n); `end` when a run
    finishes (with `diverged_at` and its point count); finally `done`, or
    `error` with a message if the stream had to stop.
    """
    runs = await in_pool(request, build_runs, body, settings)
    meta = {**header(runs), "runs": [
        {"index": i, "optimizer": run.optimizer.id, **_label(run), "hyperparameters": run.hyperparameters}
        for i, run in enumerate(runs)
    ]}
    interleave = Interleave(runs, body.field_names(), body.encoding)
    return ndjson_stream(request, settings, meta, trajectory_rounds(interleave, settings))


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
    meta = {"names": list(plan.names), "values": list(plan.values), "shape": list(plan.shape),
            "minimum_value": plan.minimum_value}
    return ndjson_stream(request, settings, meta, sweep_blocks(plan))


# Typed formulas: their limits and GET /api/grid (app/formulas.py adds its route to this router).
from app import formulas as _formulas  # noqa: E402
