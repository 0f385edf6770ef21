"""The one door every computation goes through: a bounded pool, the time limit, and streamed answers.

Every computation runs in a worker thread of the app's own pool (the kernels
release the GIL), so the event loop stays free to stream and to notice
disconnects, and pages, static files and the catalog, served by anyio's
default pool or the event loop, never wait behind a sweep.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

import anyio
import core
from fastapi import Request
from fastapi.responses import StreamingResponse

from app.serialize import ndjson
from app.services.validation import Invalid
from app.settings import Settings, settings_of

log = logging.getLogger("gradscape.api")

NDJSON = "application/x-ndjson"
# Steps per Run.advance between two checks of the computation-time limit (about a millisecond).
ADVANCE_BLOCK = 1 << 15


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



async def in_pool(request: Request, fn, *args):
    """fn(*args) in a compute thread; computing and writing answers holds the GIL, so more threads than
    cores would only contend (anyio's default of 40 cost each request ~40% more CPU)."""
    return await anyio.to_thread.run_sync(fn, *args, limiter=compute_limiter(request.app))


def timed(compute):
    """A computation's result and its duration, timed in its worker thread: a wait for a free thread is not work."""
    t0 = time.perf_counter()
    return *compute(), time.perf_counter() - t0
