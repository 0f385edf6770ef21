"""`/api/exports`: a shared state as a GIF, MP4, HTML, PowerPoint, Beamer, PNG or SVG file, made in the background.

`POST /api/exports` validates the request (computing nothing), queues a job
holding only the state string and the options, and answers at once with its
id; the page polls `GET /api/exports/{id}` for its place in the queue and its
progress, then downloads `GET /api/exports/{id}/file`. The jobs live in a store
every server process shares, and are made in processes of their own, each with
a memory cap (app/exports/jobs.py). One client may have `max_per_client` jobs
waiting or running; finished files are kept for `keep_seconds`, and at most
`max_jobs` jobs are kept at all.
"""

from __future__ import annotations

import json
import os
from enum import Enum
from types import SimpleNamespace
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from app import i18n
from app.exports.formats import FORMATS, check, make_options
from app.exports.jobs import RESTARTED, Busy, JobStore, get_jobs
from app.exports.stores import unreachable_errors
from app.presets import PRESETS
from app.exports.link import NETWORK_STATE, network_of_link, options_for, read_state, validate_state
from app.exports.options import PATH_VIEWS, DEFAULT_FPS, DEFAULT_MAX_FRAMES, DEFAULT_SIZE, DEFAULT_TOLERANCE, MAX_SUBTITLE, VIEWS
from app.services import networks
from app.services.validation import Invalid
from app.settings import ExportSettingsDep, SettingsDep
from core import InvalidInput

router = APIRouter(prefix="/api/exports", tags=["exports"])
# What a network's export draws: its plane's contour or 3-D surface with the paths, or the loss curves.
NETWORK_FORMATS = ("gif", "mp4", "png", "svg")
PRESET_QUERIES = {p.id: p.query for p in PRESETS}
JobsDep = Annotated[JobStore, Depends(get_jobs)]

Format = Enum("Format", {f: f for f in FORMATS}, type=str)
View = Enum("View", {v: v for v in VIEWS}, type=str)


class ExportRequest(BaseModel):
    """What to export: a shared state (the page's URL query string) and how to draw it."""

    model_config = ConfigDict(extra="forbid")
    state: str = Field("", description="the page's URL query string, e.g. surface=beale&opt=adam,sgd&steps=300")
    format: Format
    view: View | None = Field(None, description="the state's view when omitted; contour if it has none. "
                              "map (the state's map.* keys) is a still: png, svg or html")
    frames: StrictInt | None = Field(None, description=f"frames of an animation; one per step, at most "
                                                 f"{DEFAULT_MAX_FRAMES}, when omitted")
    fps: StrictInt | None = Field(None, description=f"frames per second; {DEFAULT_FPS} when omitted")
    width: StrictInt | None = Field(None, description=f"pixels; {DEFAULT_SIZE[0]} when omitted")
    height: StrictInt | None = Field(None, description=f"pixels; {DEFAULT_SIZE[1]} when omitted")
    step: StrictInt | None = Field(None, description="the step a PNG or SVG shows; the last when omitted")
    annotate: StrictBool = Field(False, description="legends say at which step each run reached a minimum "
                                                    "(within `tolerance`), as well as when it left the frame")
    tolerance: StrictFloat | StrictInt | None = Field(None, description=f"how near a minimum counts as reached; "
                                                                        f"{DEFAULT_TOLERANCE} when omitted")
    subtitle: StrictStr | None = Field(None, description=f"a line of your own under the title, at most "
                                                         f"{MAX_SUBTITLE} characters")
    deck: list[StrictStr] | None = Field(None, description="pptx: one more slide per preset, given as 'preset' or "
                                                           "'preset:view', after the link's own (if it races any)")
    frames_only: StrictBool = Field(False, description="html: the precomputed frames alone, without the runs' "
                                                       "sliders that recompute them in the file")
    network: dict | None = Field(None, description="instead of a state: a network request as POST "
                                 "/api/networks/trajectories takes it; its runs are drawn on its plane (a random one "
                                 "when it asks for none) in the contour or surface3d view, or as loss curves; "
                                 f"formats {', '.join(NETWORK_FORMATS)}")


class ExportStatus(BaseModel):
    id: str
    status: Literal["running", "done", "error"]
    progress: float = Field(description="0 to 1")
    message: str | None
    filename: str


@router.post("", status_code=202, response_model=ExportStatus,
             responses={422: {"description": "the field that is wrong and why"},
                        429: {"description": "this client's share of the queue, or the queue, is full"}})
def start_export(request: ExportRequest, http: Request, settings: ExportSettingsDep, api_settings: SettingsDep,
                 jobs: JobsDep):
    """Queue an export file; poll its status (its place in the queue, then its progress), then fetch its file."""
    view = request.view.value if request.view is not None else None
    if request.network is not None:
        return _start_network_export(request, view, http, settings, api_settings, jobs)
    network = network_of_link(request.state, ("body", "state"))  # a surface=network link: its network request
    if network is not None:
        view = view or read_state(request.state, ("body", "state"), need_runs=False)[1].get("view")
        linked = request.model_copy(update={"state": "", "network": network})
        return _start_network_export(linked, None if view == "map" else view, http, settings, api_settings, jobs)
    _, display = read_state(request.state, ("body", "state"), need_runs=False)
    given = {k: getattr(request, k) for k in ("frames", "fps", "width", "height", "step", "annotate", "tolerance",
                                              "subtitle", "deck", "frames_only")}
    try:
        # The link's language, else the one this request asks for (its lang, the cookie, Accept-Language).
        opts = options_for(display, request.format.value, view, settings.limits(), **given,
                           lang=display.get("lang") or i18n.request_lang(http), origin=str(http.base_url).rstrip("/"))
    except InvalidInput as exc:
        raise Invalid(["body", exc.field], exc.reason) from None
    body, display = validate_state(request.state, api_settings, ("body", "state"), opts.view, opts.deck)
    for item in opts.deck:  # a preset past this server's limits is refused now, not when its job runs
        preset, _, deck_view = item.partition(":")
        validate_state(PRESET_QUERIES[preset], api_settings, ("body", "deck"), deck_view or opts.view)
    try:
        check(SimpleNamespace(steps=body["steps"]), opts)
    except InvalidInput as exc:
        raise Invalid(["body", exc.field], exc.reason) from None
    surface = body["surface"]
    surface = surface if isinstance(surface, str) else surface.get("name", "custom")  # a formula has no name
    suffix = "zip" if opts.format == "beamer" else opts.format
    step = f"-step{opts.step}" if opts.step is not None else ""
    name = f"gradscape-{'deck' if opts.deck else surface}-{opts.view}{step}.{suffix}"
    client = http.client.host if http.client else "unknown"
    try:
        return jobs.submit(request.state, opts, name, FORMATS[opts.format].media_type, client, settings)
    except Busy as exc:
        raise HTTPException(429, str(exc)) from None


def _start_network_export(request: ExportRequest, view, http: Request, settings, api_settings, jobs: JobStore):
    """Queue the export of a network request, validated as /api/networks/trajectories validates it."""
    if request.state:
        raise Invalid(["body", "network"], "give either a state (a link) or a network request, not both")
    if request.format.value not in NETWORK_FORMATS:
        raise Invalid(["body", "format"], f"format = {request.format.value} cannot draw a network; allowed: "
                                          f"{', '.join(NETWORK_FORMATS)}")
    if view not in (None, *PATH_VIEWS):
        raise Invalid(["body", "view"], f"view = {view} cannot draw a network; allowed: {', '.join(PATH_VIEWS)}")
    given = {k: getattr(request, k) for k in ("frames", "fps", "width", "height", "step", "subtitle")}
    try:
        opts = make_options(request.format.value, view, limits=settings.limits(), **given)
    except InvalidInput as exc:
        raise Invalid(["body", exc.field], exc.reason) from None
    body = dict(request.network)
    body.setdefault("plane", {"kind": "random", "resolution": 51})
    network_request, problem, _ = networks.build(body, api_settings, ["body", "network"], drawn=True)
    try:
        check(SimpleNamespace(steps=network_request.steps), opts)
    except InvalidInput as exc:
        raise Invalid(["body", exc.field], exc.reason) from None
    step = f"-step{opts.step}" if opts.step is not None else ""
    name = f"gradscape-network-{problem.spec['data']}-{opts.view}{step}.{opts.format}"
    client = http.client.host if http.client else "unknown"
    try:
        return jobs.submit(NETWORK_STATE + json.dumps(body), opts, name, FORMATS[opts.format].media_type, client,
                           settings)
    except Busy as exc:
        raise HTTPException(429, str(exc)) from None


def _status(jobs: JobStore, job_id: str) -> dict:
    status = jobs.status(job_id)
    if status is None:
        if jobs.lost_in_restart(job_id):
            raise HTTPException(404, f"export {job_id[:40]!r} {RESTARTED}")
        raise HTTPException(404, f"no export {job_id[:40]!r}; exports are kept for a limited time")
    return status


async def store_unreachable(request: Request, exc: Exception) -> JSONResponse:
    """Redis down, paused or out of reach: say so (503) rather than fail (500)."""
    return JSONResponse({"detail": "the export job store is unreachable; exports resume when it answers again"},
                        status_code=503, headers={"retry-after": "10"})


STORE_ERRORS = {cls: store_unreachable for cls in unreachable_errors()}


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
