"""Server limits and start-up behaviour, read from GRADSCAPE_* environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.engine import MAX_STEPS


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
