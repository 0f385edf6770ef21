"""The app factory: routers, error handlers, the body-size limit, and kernels warmed before serving."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

import core
from app import api, explore, exports, pages
from app.serialize import dumps
from app.settings import Settings, get_settings


def settings_of(app: FastAPI) -> Settings:
    """The settings the app's routes see, honouring a test's dependency override."""
    return app.dependency_overrides.get(get_settings, get_settings)()


@asynccontextmanager
async def lifespan(app: FastAPI):
    # Computing and writing answers holds the GIL most of the time, so worker threads beyond the
    # cores only contend for it: with anyio's default of 40, each request cost ~40% more CPU.
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings_of(app).compute_threads
    # uvicorn binds its socket only after start-up ends, so no request waits for a compile.
    if settings_of(app).warm_on_startup:
        await anyio.to_thread.run_sync(core.warm)
    yield


class BodyLimit:
    """Refuse request bodies over max_body_bytes with 413 before anything parses them.

    Checks the declared Content-Length, then counts the bytes as they arrive
    (a chunked body declares none), and hands the app the body it read.
    """

    def __init__(self, app, fastapi: FastAPI):
        self.app = app
        self.fastapi = fastapi

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = settings_of(self.fastapi).max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        body = []
        size = int(declared) if declared.isdigit() else 0
        if size <= limit:
            size = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client left before sending its body
                body.append(message.get("body", b""))
                size += len(body[-1])
                if size > limit or not message.get("more_body", False):
                    break
        if size > limit:
            msg = f"the request body is more than the limit of {limit} bytes"
            response = dumps({"detail": [{"loc": ["body"], "msg": msg, "type": "limit_exceeded"}]})
            await send({"type": "http.response.start", "status": 413, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(response)).encode()),
                (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": response})
            return

        whole = {"type": "http.request", "body": b"".join(body), "more_body": False}

        async def replay():
            nonlocal whole
            if whole is not None:
                message, whole = whole, None
                return message
            return await receive()  # after the body: http.disconnect, which streams watch for

        await self.app(scope, replay, send)


class ServerTiming:
    """Add `server-timing: app;dur=<ms>`: the time from request to response headers, for the bench."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()

        async def timed(message):
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - t0) * 1e3
                message["headers"] = [*message.get("headers", []), (b"server-timing", f"app;dur={ms:.3f}".encode())]
            await send(message)

        await self.app(scope, receive, timed)


def create_app() -> FastAPI:
    app = FastAPI(
        title="Gradscape",
        summary="Gradient-descent optimizers stepping across 2-D loss surfaces, exactly as torch.optim steps them.",
        version="0.1.0",
        lifespan=lifespan,
        exception_handlers=api.EXCEPTION_HANDLERS,
    )
    app.include_router(api.router)
    app.include_router(explore.router)
    app.include_router(exports.router)
    app.include_router(pages.router)
    # The last added runs first: time everything, including a refused body.
    app.add_middleware(BodyLimit, fastapi=app)
    app.add_middleware(ServerTiming)
    return app
