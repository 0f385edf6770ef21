"""Exports: a shared state as a GIF, MP4, HTML, PNG or SVG file, made in the background.

`POST /api/exports` validates the request (computing nothing), queues a job
holding only the state string and the options, and answers at once with its
id; the page polls `GET /api/exports/{id}` for its place in the queue and its
progress, then downloads `GET /api/exports/{id}/file`. The jobs live in a store
every server process shares, and are made in processes of their own, each with
a memory cap (app/jobs.py). One client may have `max_per_client` jobs waiting or
running; finished files are kept for `keep_seconds`, and at most `max_jobs` jobs
are kept at all.

The CLI and the HTTP route share `scene_from_state`: both turn the page's URL
query string into runs with app.state, exactly as the page does, or, for the
map view, into the link's map (app/maps.py), which exports as PNG, SVG or HTML.
"""

from __future__ import annotations

import os
import threading
from enum import Enum
from functools import lru_cache
from types import SimpleNamespace
from typing import Annotated, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictInt
from pydantic_settings import BaseSettings, SettingsConfigDict

from app import maps, render
from app.api import Invalid, build_runs, compute_limit, field_loc, run_all
from app.jobs import Busy, JobStore
from app.settings import Settings, SettingsDep
from app.state import DISPLAY, EXPLORE_DISPLAY, MAP_DISPLAY, link_query, request_from_query
from core import OPTIMIZERS, InvalidInput

router = APIRouter(prefix="/api/exports", tags=["exports"])


class ExportSettings(BaseSettings):
    """Limits of exports made by the server, read from GRADSCAPE_EXPORT_* variables."""

    model_config = SettingsConfigDict(env_prefix="GRADSCAPE_EXPORT_", extra="ignore")

    max_frames: int = Field(render.LIMITS["frames"][1], ge=1, le=render.LIMITS["frames"][1])
    max_fps: int = Field(render.LIMITS["fps"][1], ge=1, le=render.LIMITS["fps"][1])
    max_width: int = Field(render.LIMITS["width"][1], ge=render.LIMITS["width"][0], le=render.LIMITS["width"][1])
    max_height: int = Field(render.LIMITS["height"][1], ge=render.LIMITS["height"][0], le=render.LIMITS["height"][1])
    max_jobs: int = Field(16, ge=1, description="jobs kept, running, waiting or finished")
    keep_seconds: float = Field(900.0, gt=0, description="how long a finished file stays downloadable")
    max_per_client: int = Field(2, ge=1, description="jobs one client (address) may have waiting or running")
    max_memory_mb: int = Field(3072, ge=0, description="address space of the process making one export; 0: no cap")
    job_seconds: int = Field(600, ge=1, description="time one export may take in a `gradscape worker`")
    stale_seconds: float = Field(30.0, gt=0, description="silence after which a started job's process is taken "
                                 "for dead and the job reported failed")
    dir: str | None = Field(None, description="directory of the files and, without Redis, of the job database; "
                            "shared by every process (a private temporary directory when unset)")
    redis_url: str | None = Field(None, validation_alias=AliasChoices("GRADSCAPE_REDIS_URL", "redis_url"),
                                  description="with it, jobs go through rq to `gradscape worker` processes")

    def limits(self) -> dict:
        return {
            "frames": (render.LIMITS["frames"][0], self.max_frames),
            "fps": (render.LIMITS["fps"][0], self.max_fps),
            "width": (render.LIMITS["width"][0], self.max_width),
            "height": (render.LIMITS["height"][0], self.max_height),
        }


@lru_cache
def get_export_settings() -> ExportSettings:
    return ExportSettings()


ExportSettingsDep = Annotated[ExportSettings, Depends(get_export_settings)]


# --- from a shared state to a scene ------------------------------------------------

def scene_from_state(query: str, settings: Settings, prefix=("state",),
                     seconds: float | None = None, view: str | None = None) -> tuple[render.Scene, dict]:
    """The scene a shared link shows, and its display keys (view, autoplay, loop, ...).

    The query is read as the page reads it, and the runs are validated and
    computed by the API's own code under the server's `settings`; `seconds`
    bounds the computation. For the map view (`view`, else the link's own),
    the scene is the link's map (app.maps.MapData), computed as the map
    endpoints compute it under their limits. Raises app.api.Invalid naming the
    URL key or the field that is wrong, its loc starting with `prefix`.
    """
    body, display = read_state(query, prefix, need_runs=False)
    if (view or display.get("view")) == render.MAP:
        return maps.compute(query, body, display, settings, prefix, seconds), display
    _need_runs(body, prefix)
    runs = build_runs(body, settings, prefix)
    if not run_all(runs, float("inf") if seconds is None else seconds):
        raise compute_limit(settings)
    # A run whose lr Tune lr chose says so in the legend, as on the page.
    tuned = set(display.get("tuned", "").split(","))
    labels = [f"{run.get('label') or OPTIMIZERS[run['optimizer']].label} (tuned)" if run["optimizer"] in tuned
              else run.get("label") for run in body["runs"]]
    return render.Scene.from_runs([run.result() for run in runs], labels), display


def options_for(display: dict, fmt: str, view=None, limits: dict | None = None, **given) -> render.Options:
    """Export options: what was asked, else the shared state's view and looping, else the defaults."""
    if view is None and display.get("view") in render.VIEWS:
        view = display["view"]
    return render.make_options(fmt, view, loop=display.get("loop", True), autoplay=display.get("autoplay", True),
                               limits=limits, **given)


# --- jobs --------------------------------------------------------------------------

Jobs = JobStore  # the store every process shares (app/jobs.py)
_jobs: JobStore | None = None
_jobs_lock = threading.Lock()


def get_jobs() -> JobStore:
    global _jobs
    with _jobs_lock:
        if _jobs is None:
            settings = get_export_settings()
            _jobs = JobStore(settings.dir, settings.redis_url, settings.max_memory_mb, settings.stale_seconds)
    return _jobs


JobsDep = Annotated[JobStore, Depends(get_jobs)]


# --- routes ------------------------------------------------------------------------

Format = Enum("Format", {f: f for f in render.FORMATS}, type=str)
View = Enum("View", {v: v for v in render.VIEWS}, type=str)


class ExportRequest(BaseModel):
    """What to export: a shared state (the page's URL query string) and how to draw it."""

    model_config = ConfigDict(extra="forbid")
    state: str = Field("", description="the page's URL query string, e.g. surface=beale&opt=adam,sgd&steps=300")
    format: Format
    view: View | None = Field(None, description="the state's view when omitted; contour if it has none. "
                              "map (the state's map.* keys) is a still: png, svg or html")
    frames: StrictInt | None = Field(None, description=f"frames of an animation; one per step, at most "
                                                 f"{render.DEFAULT_MAX_FRAMES}, when omitted")
    fps: StrictInt | None = Field(None, description=f"frames per second; {render.DEFAULT_FPS} when omitted")
    width: StrictInt | None = Field(None, description=f"pixels; {render.DEFAULT_SIZE[0]} when omitted")
    height: StrictInt | None = Field(None, description=f"pixels; {render.DEFAULT_SIZE[1]} when omitted")
    step: StrictInt | None = Field(None, description="the step a PNG or SVG shows; the last when omitted")


class ExportStatus(BaseModel):
    id: str
    status: Literal["running", "done", "error"]
    progress: float = Field(description="0 to 1")
    message: str | None
    filename: str


def read_state(query: str, prefix=("state",), need_runs: bool = True) -> tuple[dict, dict]:
    """The request body and display keys of a shared link, read as the page reads it; nothing validated by core.

    `need_runs`: refuse a link that races no optimizer (a map needs none: it picks its own).
    """
    try:
        body = request_from_query(query)
    except InvalidInput as exc:
        raise Invalid([*prefix, *field_loc(exc.field)], exc.reason) from None
    display = {k: body.pop(k) for k in (*DISPLAY, *MAP_DISPLAY, *EXPLORE_DISPLAY) if k in body}
    if "loop" not in parse_qs(link_query(query)):
        display["loop"] = True  # slides loop an animation unless the link says otherwise
    if need_runs:
        _need_runs(body, prefix)
    return body, display


def _need_runs(body: dict, prefix) -> None:
    if not body["runs"]:
        raise Invalid([*prefix, "opt"],
                      f"no optimizer chosen; give opt=adam,sgd,... (allowed: {', '.join(OPTIMIZERS)})")


def validate_state(query: str, settings: Settings, prefix=("state",), view: str | None = None) -> tuple[dict, dict]:
    """The request body and display keys of a shared link, validated as scene_from_state would, computing nothing."""
    body, display = read_state(query, prefix, need_runs=False)
    if (view or display.get("view")) == render.MAP:
        maps.plan(query, body, display, settings, prefix)
    else:
        _need_runs(body, prefix)
        build_runs(body, settings, prefix)
    return body, display


@router.post("", status_code=202, response_model=ExportStatus,
             responses={422: {"description": "the field that is wrong and why"},
                        429: {"description": "this client's share of the queue, or the queue, is full"}})
def start_export(request: ExportRequest, http: Request, settings: ExportSettingsDep, api_settings: SettingsDep,
                 jobs: JobsDep):
    """Queue an export file; poll its status (its place in the queue, then its progress), then fetch its file."""
    view = request.view.value if request.view is not None else None
    _, display = read_state(request.state, ("body", "state"), need_runs=False)
    given = {k: getattr(request, k) for k in ("frames", "fps", "width", "height", "step")}
    try:
        opts = options_for(display, request.format.value, view, settings.limits(), **given)
    except InvalidInput as exc:
        raise Invalid(["body", exc.field], exc.reason) from None
    body, display = validate_state(request.state, api_settings, ("body", "state"), opts.view)
    try:
        render.check(SimpleNamespace(steps=body["steps"]), opts)
    except InvalidInput as exc:
        raise Invalid(["body", exc.field], exc.reason) from None
    surface = body["surface"]
    surface = surface if isinstance(surface, str) else surface.get("name", "custom")  # a formula has no name
    name = f"gradscape-{surface}-{opts.view}.{opts.format}"
    client = http.client.host if http.client else "unknown"
    try:
        return jobs.submit(request.state, opts, name, render.MEDIA_TYPES[opts.format], client, settings)
    except Busy as exc:
        raise HTTPException(429, str(exc)) from None


def _status(jobs: JobStore, job_id: str) -> dict:
    status = jobs.status(job_id)
    if status is None:
        raise HTTPException(404, f"no export {job_id[:40]!r}; exports are kept for a limited time")
    return status


@router.get("/{job_id}", response_model=ExportStatus)
def export_status(job_id: str, jobs: JobsDep):
    """An export's status: running (waiting, with its place in the queue, or being made), done or error."""
    return _status(jobs, job_id)


@router.get("/{job_id}/file", response_class=FileResponse, responses={409: {"description": "not finished, or failed"}})
def export_file(job_id: str, jobs: JobsDep):
    """The finished file, as an attachment."""
    status = _status(jobs, job_id)
    if status["status"] != "done":
        detail = status["message"] if status["status"] == "error" else \
            f"export {job_id} is still running ({status['progress']:.0%})"
        raise HTTPException(409, detail)
    row = jobs.records.get(job_id)
    if row is None or not os.path.exists(row["path"]):
        raise HTTPException(404, f"the file of export {job_id} has been deleted; export it again")
    return FileResponse(row["path"], media_type=row["media_type"], filename=row["filename"])
