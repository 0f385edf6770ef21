"""Every setting of the server, read from GRADSCAPE_* environment variables, and where its files are.

`Settings` are what one request may ask of the server; `ExportSettings` the
limits of exports and where their jobs live. Each sits behind a cached
dependency that tests override.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.exports.options import LIMITS as EXPORT_LIMITS
from core.engine import MAX_STEPS


def _root() -> Path:
    """The directory holding templates/ and static/: the checkout (or an in-place install), else the
    data files a wheel installs under <prefix>/share/gradscape."""
    here = Path(__file__).resolve().parent.parent
    if (here / "templates").is_dir():
        return here
    return Path(sys.prefix) / "share" / "gradscape"


ROOT = _root()
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
# plotly.js with only the trace types Gradscape draws, built by scripts/build-plotly; the page and the
# HTML exports load it.
PLOTLY_JS = STATIC / "vendor" / "plotly" / "plotly-gradscape-4.1.1.min.js"
# The same without the 3-D trace types, for an HTML export of a flat view: a third smaller, and its first
# frame comes sooner, since running plotly.js is most of the time a file takes to open.
PLOTLY_2D_JS = STATIC / "vendor" / "plotly" / "plotly-gradscape-2d-4.1.1.min.js"


class Settings(BaseSettings):
    """What one request may ask of the server; every limit is named in the error that enforces it."""

    # core reads GRADSCAPE_CACHE_DIR and GRADSCAPE_THREADS itself: ignore what is not ours.
    model_config = SettingsConfigDict(env_prefix="GRADSCAPE_", extra="ignore")

    max_steps: int = Field(100_000, ge=1, le=MAX_STEPS, description="steps per trajectory run")
    max_runs: int = Field(24, ge=1, description="runs per trajectory request")
    # A whole answer is built in memory and written while holding the GIL: 24 x 100,000 steps would be
    # about 500 MB of JSON and seconds of a stalled server, so long work goes through the stream.
    max_answer_steps: int = Field(240_000, ge=1, description="runs x steps in one non-streamed answer")
    max_sweep_cells: int = Field(250_000, ge=1, description="cells in one sweep grid")
    max_sweep_steps: int = Field(5_000, ge=1, le=MAX_STEPS, description="steps per sweep cell")
    max_grid_resolution: int = Field(500, ge=2, le=2000, description="points per axis of a surface grid")
    max_body_bytes: int = Field(1 << 20, ge=1, description="bytes in one request body")
    max_compute_seconds: float = Field(10.0, gt=0, description="computation time per request")
    stream_first_chunk_steps: int = Field(64, ge=1, description="steps per run in the first streamed chunk")
    stream_chunk_steps: int = Field(4096, ge=1, description="steps per run in later streamed chunks")
    max_formula_chars: int = Field(500, ge=1, le=500, description="characters in a typed formula")
    max_formula_depth: int = Field(32, ge=1, le=32, description="nesting depth of a typed formula")
    max_formula_nodes: int = Field(200, ge=1, le=200, description="numbers, names and operations in a typed formula")
    warm_on_startup: bool = Field(True, description="compile or load every kernel before accepting requests")
    # A request can only name these: the server imports them once, at start-up, never on a request's word.
    external_optimizers: str = Field("", description="comma-separated torch optimizer classes as module:Class "
                                     "(e.g. pytorch_optimizer:Tiger) offered besides the registry's; needs torch")
    # One stream of 24 runs x 100,000 steps holds ~270 MB (Adam) until its client has read it all; a client
    # that never reads would hold it for good, and twenty of them took a server to 3.2 GB.
    max_request_memory_mb: int = Field(320, ge=1, description="memory one request's computation may hold "
                                       "(estimated from its size before anything is allocated)")
    max_compute_memory_mb: int = Field(448, ge=1, description="memory all computations of one server process "
                                       "may hold at once; a request past it waits for memory to come free")
    compute_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1,
                                 description="worker threads computing and writing answers at once")
    # A thread hop, and the GIL handoffs around it, cost more than a small answer's own work: with 50
    # clients asking for 12 runs x 1,000 steps, answering in place served 1.1-1.6x the requests per second.
    inline_steps: int = Field(25_000, ge=0, description="runs x steps up to which a trajectory request is answered "
                              "on the event loop instead of a worker thread (a few ms at most)")

    # A browser sends the name it used in Host; a page of another site that makes its own name resolve
    # to 127.0.0.1 (DNS rebinding) would otherwise read this server as if it were its own origin.
    trusted_hosts: str = Field("localhost,127.0.0.1,::1,testserver", description="comma-separated host names "
                               "this server answers to; *.example.org for subdomains, * for any (behind a proxy "
                               "that checks the host itself)")
    frame_ancestors: str = Field("*", description="who may show /embed in a frame (a CSP frame-ancestors value); "
                                 "every other page may not be framed at all")

    # Connection hygiene, used by `gradscape serve` (app/protocol.py): uvicorn alone closes only idle
    # connections after a response, and keeps a connection with an incomplete request open indefinitely.
    request_timeout_seconds: float = Field(10.0, gt=0, description="seconds a request (line, headers and body) "
                                           "has to arrive whole, from the connection's opening or its first byte")
    keep_alive_seconds: float = Field(5.0, gt=0, description="seconds an idle connection is kept open after "
                                      "a response")
    graceful_shutdown_seconds: float = Field(10.0, gt=0, description="seconds running requests get on shutdown")
    forwarded_allow_ips: str = Field("127.0.0.1", description="proxies whose X-Forwarded-* headers are trusted "
                                     "with `serve --proxy-headers`")

    def trusted_host_list(self) -> list[str]:
        return [h.strip().lower().strip("[]") for h in self.trusted_hosts.split(",") if h.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()


async def current_settings(request: Request) -> Settings:
    """get_settings, or a test's override of it, with no thread hop: FastAPI runs a plain `def`
    dependency in a worker thread, where it would queue behind every computation."""
    override = request.app.dependency_overrides.get(get_settings)
    return get_settings() if override is None else override()


SettingsDep = Annotated[Settings, Depends(current_settings)]


def settings_of(app) -> Settings:
    """The settings the app's routes see, honouring a test's dependency override."""
    return app.dependency_overrides.get(get_settings, get_settings)()


class ExportSettings(BaseSettings):
    """Limits of exports made by the server, read from GRADSCAPE_EXPORT_* variables."""

    model_config = SettingsConfigDict(env_prefix="GRADSCAPE_EXPORT_", extra="ignore")

    max_frames: int = Field(EXPORT_LIMITS["frames"][1], ge=1, le=EXPORT_LIMITS["frames"][1])
    max_fps: int = Field(EXPORT_LIMITS["fps"][1], ge=1, le=EXPORT_LIMITS["fps"][1])
    max_width: int = Field(EXPORT_LIMITS["width"][1], ge=EXPORT_LIMITS["width"][0], le=EXPORT_LIMITS["width"][1])
    max_height: int = Field(EXPORT_LIMITS["height"][1], ge=EXPORT_LIMITS["height"][0], le=EXPORT_LIMITS["height"][1])
    max_jobs: int = Field(16, ge=1, description="jobs kept, running, waiting or finished")
    keep_seconds: float = Field(900.0, gt=0, description="how long a finished file stays downloadable")
    max_per_client: int = Field(2, ge=1, description="jobs one client (address) may have waiting or running")
    max_memory_mb: int = Field(3072, ge=0, description="address space of the process making one export; 0: no cap")
    job_seconds: int = Field(600, ge=1, description="time one export may take in a `gradscape worker`")
    housekeeping_seconds: float = Field(60.0, gt=0, description="how often expired jobs and their files are "
                                        "removed, whether or not anyone exports")
    stale_seconds: float = Field(30.0, gt=0, description="silence after which a started job's process is taken "
                                 "for dead and the job reported failed")
    dir: str | None = Field(None, description="directory of the files and, without Redis, of the job database; "
                            "shared by every process (a private temporary directory when unset)")
    redis_url: str | None = Field(None, validation_alias=AliasChoices("GRADSCAPE_REDIS_URL", "redis_url"),
                                  description="with it, jobs go through rq to `gradscape worker` processes")

    def limits(self) -> dict:
        return {
            "frames": (EXPORT_LIMITS["frames"][0], self.max_frames),
            "fps": (EXPORT_LIMITS["fps"][0], self.max_fps),
            "width": (EXPORT_LIMITS["width"][0], self.max_width),
            "height": (EXPORT_LIMITS["height"][0], self.max_height),
        }


@lru_cache
def get_export_settings() -> ExportSettings:
    return ExportSettings()


ExportSettingsDep = Annotated[ExportSettings, Depends(get_export_settings)]
