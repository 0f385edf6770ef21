"""Exports: a shared state as a GIF, MP4, HTML, PNG or SVG file, made in the background.

`POST /api/exports` validates the request, starts a job and answers at once
with its id; the page polls `GET /api/exports/{id}` for progress and then
downloads `GET /api/exports/{id}/file`. Jobs run one at a time on one worker
thread (rendering holds the GIL, so more threads would only share it, and
matplotlib's global state is not meant for concurrent figures). Finished files
are kept for `keep_seconds` in a private temporary directory, and at most
`max_jobs` jobs are kept at all.

The CLI and the HTTP route share `scene_from_state`: both turn the page's URL
query string into runs with app.state, exactly as the page does.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app import render
from app.api import Invalid, build_runs, compute_limit, field_loc, run_all
from app.settings import Settings, SettingsDep
from app.state import DISPLAY, request_from_query
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
                     seconds: float | None = None) -> tuple[render.Scene, dict]:
    """The scene a shared link shows, and its display keys (view, autoplay, loop, ...).

    The query is read as the page reads it, and the runs are validated and
    computed by the API's own code under the server's `settings`; `seconds`
    bounds the computation. Raises app.api.Invalid naming the URL key or the
    field that is wrong, its loc starting with `prefix`.
    """
    try:
        body = request_from_query(query)
    except InvalidInput as exc:
        raise Invalid([*prefix, *field_loc(exc.field)], exc.reason) from None
    display = {k: body.pop(k) for k in DISPLAY if k in body}
    if "loop" not in parse_qs(query.lstrip("?")):
        display["loop"] = True  # slides loop an animation unless the link says otherwise
    if not body["runs"]:
        raise Invalid([*prefix, "opt"],
                      f"no optimizer chosen; give opt=adam,sgd,... (allowed: {', '.join(OPTIMIZERS)})")
    runs = build_runs(body, settings, prefix)
    if not run_all(runs, float("inf") if seconds is None else seconds):
        raise compute_limit(settings)
    labels = [run.get("label") for run in body["runs"]]
    return render.Scene.from_runs([run.result() for run in runs], labels), display


def options_for(display: dict, fmt: str, view=None, limits: dict | None = None, **given) -> render.Options:
    """Export options: what was asked, else the shared state's view and looping, else the defaults."""
    if view is None and display.get("view") in render.VIEWS:
        view = display["view"]
    return render.make_options(fmt, view, loop=display.get("loop", True), autoplay=display.get("autoplay", True),
                               limits=limits, **given)


def filename(scene: render.Scene, opts: render.Options) -> str:
    return f"gradscape-{scene.surface['name']}-{opts.view}.{opts.format}"


# --- jobs --------------------------------------------------------------------------

@dataclass
class Job:
    id: str
    filename: str
    media_type: str
    path: Path
    status: Literal["running", "done", "error"] = "running"
    progress: float = 0.0
    message: str | None = None
    finished: float | None = None  # time.monotonic() when it ended

    def as_dict(self) -> dict:
        return {"id": self.id, "status": self.status, "progress": round(self.progress, 4),
                "message": self.message, "filename": self.filename}


class Jobs:
    """The jobs of this process, their worker thread and their files."""

    def __init__(self):
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gradscape-export")
        self._dir = tempfile.TemporaryDirectory(prefix="gradscape-exports-")

    def submit(self, scene: render.Scene, opts: render.Options, settings: ExportSettings) -> Job:
        self.prune(settings.keep_seconds)
        with self._lock:
            finished = sorted((j for j in self._jobs.values() if j.finished is not None), key=lambda j: j.finished)
            while len(self._jobs) >= settings.max_jobs and finished:
                self._forget(finished.pop(0))
            if len(self._jobs) >= settings.max_jobs:
                raise HTTPException(429, f"{len(self._jobs)} exports are in progress, the limit is "
                                         f"{settings.max_jobs}; try again in a minute")
            busy = len(self._jobs) - len(finished)
            job_id = uuid.uuid4().hex
            job = Job(job_id, filename(scene, opts), render.MEDIA_TYPES[opts.format],
                      Path(self._dir.name) / f"{job_id}.{opts.format}")
            if busy:
                job.message = f"waiting for {busy} export{'s' if busy > 1 else ''} before it"
            self._jobs[job_id] = job
        self._worker.submit(self._run, job, scene, opts)
        return job

    def _run(self, job: Job, scene: render.Scene, opts: render.Options) -> None:
        job.message = None

        def progress(fraction: float) -> None:
            job.progress = fraction

        try:
            render.export(scene, opts, job.path, progress)
            job.status = "done"
        except InvalidInput as exc:
            job.status, job.message = "error", str(exc)
        except Exception as exc:  # reported to the page, which has no other way to learn of it
            job.status, job.message = "error", f"export failed: {type(exc).__name__}: {exc}"
        finally:
            job.progress = 1.0 if job.status == "done" else job.progress
            job.finished = time.monotonic()

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no export {job_id!r}; exports are kept for a limited time")
        return job

    def prune(self, keep_seconds: float) -> None:
        """Forget finished jobs older than keep_seconds, and delete their files."""
        now = time.monotonic()
        with self._lock:
            for job in [j for j in self._jobs.values() if j.finished is not None and now - j.finished > keep_seconds]:
                self._forget(job)

    def _forget(self, job: Job) -> None:
        del self._jobs[job.id]
        job.path.unlink(missing_ok=True)


_jobs: Jobs | None = None
_jobs_lock = threading.Lock()


def get_jobs() -> Jobs:
    global _jobs
    with _jobs_lock:
        if _jobs is None:
            _jobs = Jobs()
    return _jobs


JobsDep = Annotated[Jobs, Depends(get_jobs)]


# --- routes ------------------------------------------------------------------------

Format = Enum("Format", {f: f for f in render.FORMATS}, type=str)
View = Enum("View", {v: v for v in render.VIEWS}, type=str)


class ExportRequest(BaseModel):
    """What to export: a shared state (the page's URL query string) and how to draw it."""

    model_config = ConfigDict(extra="forbid")
    state: str = Field("", description="the page's URL query string, e.g. surface=beale&opt=adam,sgd&steps=300")
    format: Format
    view: View | None = Field(None, description="the state's view when omitted; contour if it has none")
    frames: int | None = Field(None, description=f"frames of an animation; one per step, at most "
                                                 f"{render.DEFAULT_MAX_FRAMES}, when omitted")
    fps: int | None = Field(None, description=f"frames per second; {render.DEFAULT_FPS} when omitted")
    width: int | None = Field(None, description=f"pixels; {render.DEFAULT_SIZE[0]} when omitted")
    height: int | None = Field(None, description=f"pixels; {render.DEFAULT_SIZE[1]} when omitted")
    step: int | None = Field(None, description="the step a PNG or SVG shows; the last when omitted")


class ExportStatus(BaseModel):
    id: str
    status: Literal["running", "done", "error"]
    progress: float = Field(description="0 to 1")
    message: str | None
    filename: str


@router.post("", status_code=202, response_model=ExportStatus,
             responses={422: {"description": "the field that is wrong and why"}})
def start_export(request: ExportRequest, settings: ExportSettingsDep, api_settings: SettingsDep, jobs: JobsDep):
    """Start making an export file; poll its status, then fetch its file."""
    scene, display = scene_from_state(request.state, api_settings, ("body", "state"), api_settings.max_compute_seconds)
    given = {k: getattr(request, k) for k in ("frames", "fps", "width", "height", "step")}
    view = request.view.value if request.view is not None else None
    try:
        opts = options_for(display, request.format.value, view, settings.limits(), **given)
        render.check(scene, opts)
    except InvalidInput as exc:
        raise Invalid(["body", exc.field], exc.reason) from None
    return jobs.submit(scene, opts, settings).as_dict()


@router.get("/{job_id}", response_model=ExportStatus)
def export_status(job_id: str, jobs: JobsDep):
    """An export's status and progress."""
    return jobs.get(job_id).as_dict()


@router.get("/{job_id}/file", response_class=FileResponse, responses={409: {"description": "not finished, or failed"}})
def export_file(job_id: str, jobs: JobsDep):
    """The finished file, as an attachment."""
    job = jobs.get(job_id)
    if job.status != "done":
        detail = job.message if job.status == "error" else f"export {job_id} is still running ({job.progress:.0%})"
        raise HTTPException(409, detail)
    if not os.path.exists(job.path):
        raise HTTPException(404, f"the file of export {job_id} has been deleted; export it again")
    return FileResponse(job.path, media_type=job.media_type, filename=job.filename)
