"""The app factory: routers, error handlers, middleware, and kernels warmed before serving."""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

import core
from app.http import api, docs, explore, exports, formulas, networks, pages
from app.http.routing import EXCEPTION_HANDLERS
from app.middleware import BodyLimit, HeadAsGet, SecurityHeaders, ServerErrors, ServerTiming
from app.services.catalog import offer_external
from app.services.compute import budget, compute_limiter, return_freed_memory
from app.exports.jobs import current_jobs
from app.exports.stores import unreachable_errors
from app.settings import get_export_settings, settings_of


@asynccontextmanager
async def lifespan(app: FastAPI):
    offer_external(settings_of(app).external_optimizers)
    compute_limiter(app)
    budget(app)
    return_freed_memory()
    # uvicorn binds its socket only after start-up ends, so no request waits for a compile.
    if settings_of(app).warm_on_startup:
        await warm_kernels()
    async with anyio.create_task_group() as tg:
        tg.start_soon(housekeeping)
        yield
        tg.cancel_scope.cancel()


async def housekeeping() -> None:
    """Remove expired export jobs and files on a timer, in anyio's default threads (never the compute
    pool); a store that does not answer is tried again next time."""
    log = logging.getLogger("gradscape.exports")
    while True:
        settings = get_export_settings()
        await anyio.sleep(settings.housekeeping_seconds)
        store = await anyio.to_thread.run_sync(current_jobs)
        if store is None:
            continue
        try:
            await anyio.to_thread.run_sync(store.housekeeping, settings.keep_seconds)
        except unreachable_errors():
            log.warning("the export job store is unreachable; expired exports are removed once it answers")


COMPILE_NOTICE_SECONDS = 8.0  # loading cached kernels takes about 2 s; compiling them, a few minutes


async def warm_kernels() -> None:
    """core.warm, saying so when it is a compile rather than a load from numba's disk cache."""
    log = logging.getLogger("uvicorn.error")
    t0 = time.perf_counter()
    warmed = anyio.Event()

    async def notice():
        with anyio.move_on_after(COMPILE_NOTICE_SECONDS):
            await warmed.wait()
        if not warmed.is_set():
            log.info("Compiling the numeric kernels (the first start after an install or an upgrade; a few minutes "
                     "on 2 cores, cached for later starts). The server answers once they are ready.")

    async with anyio.create_task_group() as tg:
        tg.start_soon(notice)
        await anyio.to_thread.run_sync(core.warm)
        warmed.set()
    seconds = time.perf_counter() - t0
    if seconds > COMPILE_NOTICE_SECONDS:
        log.info("Kernels compiled in %.0f s.", seconds)


def create_app() -> FastAPI:
    app = FastAPI(
        title="Gradscape",
        summary="Gradient-descent optimizers stepping across 2-D loss surfaces, exactly as torch.optim steps them.",
        version="0.1.0",
        lifespan=lifespan,
        exception_handlers={**EXCEPTION_HANDLERS, **exports.STORE_ERRORS},
        docs_url=None,  # app/http/docs.py serves both from this server, not a CDN
        redoc_url=None,
    )
    app.include_router(api.router)
    app.include_router(formulas.router)
    app.include_router(explore.router)
    app.include_router(networks.router)
    app.include_router(exports.router)
    app.include_router(pages.router)
    app.include_router(docs.router)
    # The last added runs first: time everything, including a refused body.
    app.add_middleware(ServerErrors)
    app.add_middleware(BodyLimit, fastapi=app)
    app.add_middleware(HeadAsGet)
    app.add_middleware(SecurityHeaders, fastapi=app)
    app.add_middleware(ServerTiming)
    return app
