"""The one door every computation goes through: a bounded pool at a lower priority, the time limit checked
between bounded pieces of work, cancellation when the client leaves, and a memory budget.

- The pool is the app's own, `compute_threads` threads at once at nice +10: pages, static files, the
  catalog and export status are served by the event loop or anyio's default limiter, never waiting
  for a compute thread, and when both want a core the event loop gets it first.
- Work is done in bounded pieces (a block of steps, a piece of a sweep); between two pieces `Work.check`
  stops it once its client has left or its time is spent, so no request runs long past its limit and a
  client that leaves frees the cores within one piece.
- Memory is reserved before anything is allocated, from an estimate of the request's size: a request
  that alone would pass `max_request_memory_mb` is a 413 naming the field; one that would take the
  process past `max_compute_memory_mb` waits for memory to be given back (then, after the time limit,
  a 503).
- Streams send each piece as it is computed, and end in-band (the status line has long been sent)
  with `error` when something stops them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter

import anyio
from fastapi import Request
from fastapi.responses import Response, StreamingResponse

import core
from app.i18n import request_lang, translator
from app.serialize import ndjson
from app.services.validation import Invalid
from app.settings import Settings, settings_of

log = logging.getLogger("gradscape.api")

NDJSON = "application/x-ndjson"
# Steps per Run.advance between two checks of the computation-time limit (about a millisecond).
ADVANCE_BLOCK = 1 << 15
MB = 1 << 20


def compute_limit(settings: Settings) -> Invalid:
    return Invalid(["body"], f"the computation took more than the limit of {settings.max_compute_seconds:g} s "
                   "per request; ask for fewer steps, runs or cells", type="limit_exceeded", status=413)


class Cancelled(Exception):
    """The client left: stop computing for nobody."""


class Work:
    """One request's computation: how long it has computed, its limit, and whether its client is still there.

    Only time spent computing counts (a wait for a free thread is not work), summed over the pieces.
    """

    def __init__(self, settings: Settings, seconds: float | None = None):
        self.settings = settings
        self.limit = settings.max_compute_seconds if seconds is None else seconds
        self.spent = 0.0
        self.cancelled = threading.Event()
        # Computing from now, for a caller that computes in its own thread; `run` restarts the clock in the
        # compute thread, so a wait for a free thread is not counted.
        self._since: float | None = time.perf_counter()

    def check(self) -> None:
        """Between two bounded pieces: raise Cancelled once the client has left, the limit's 413 once spent."""
        if self.cancelled.is_set():
            raise Cancelled
        now = time.perf_counter()
        if self.spent + (now - self._since if self._since is not None else 0.0) > self.limit:
            raise compute_limit(self.settings)

    def run(self, fn, *args):
        """fn(*args), its duration added to the time spent; in the thread that computes."""
        self._since = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.spent += time.perf_counter() - self._since
            self._since = None


def run_all(runs: list[core.Run], work: Work) -> None:
    """Advance every run to its end, a block of steps each in turn; `work.check` between blocks."""
    pending = runs
    while pending:
        for run in pending:
            run.advance(ADVANCE_BLOCK)
        pending = [run for run in pending if not run.finished]
        if pending:
            work.check()


# --- the pool ----------------------------------------------------------------------------

NICE = 10  # batch work: the event loop in the same process gets a core first when both want one


class _LowerPriority:
    """This thread at nice +NICE while it computes, back to its own priority after: anyio's worker threads
    also serve static files and sync routes between computations."""

    def __enter__(self):
        self.tid = threading.get_native_id()
        try:
            self.before = os.getpriority(os.PRIO_PROCESS, self.tid)
            os.setpriority(os.PRIO_PROCESS, self.tid, min(19, self.before + NICE))
        except (AttributeError, OSError):  # not Linux, or not allowed: full priority then
            self.before = None

    def __exit__(self, *exc):
        if self.before is not None:
            try:
                os.setpriority(os.PRIO_PROCESS, self.tid, self.before)
            except OSError:  # lowering is always allowed, raising back only with CAP_SYS_NICE: stay low
                pass


def _lowered(fn, *args):
    with _LowerPriority():
        return fn(*args)


def compute_limiter(app) -> anyio.CapacityLimiter:
    """The app's own share of threads for computations, `compute_threads` at once.

    Separate from anyio's default limiter, which serves static files and sync routes: those never wait
    behind a sweep holding every compute thread. Computing and writing answers holds the GIL part of the
    time, so more threads than cores would only contend (anyio's default of 40 cost each request ~40%
    more CPU).
    """
    limiter = getattr(app.state, "compute_limiter", None)
    if limiter is None:
        limiter = app.state.compute_limiter = anyio.CapacityLimiter(settings_of(app).compute_threads)
    return limiter


def return_freed_memory() -> None:
    """Have glibc give large freed blocks back to the system at once.

    glibc raises its mmap threshold to the size of the largest block freed (up to 32 MB), so after one
    long run every later run's arrays come from the heap, which only shrinks from its top: a few
    streams left the process gigabytes larger for good. A fixed threshold keeps large arrays in
    mappings of their own, unmapped when freed.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc: its allocator decides
        pass


async def in_pool(request: Request, fn, *args):
    """fn(*args) in a compute thread, at a lower priority."""
    return await anyio.to_thread.run_sync(_lowered, fn, *args, limiter=compute_limiter(request.app))


async def whole(request: Request, work: Work, fn, *args):
    """fn(*args) in a compute thread, for an answer sent whole; its client leaving sets `work.cancelled`, so
    the computation stops at its next check. Raises Cancelled then."""

    async def watch():
        while (await request.receive())["type"] != "http.disconnect":
            pass
        work.cancelled.set()

    outcome: list = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        try:
            outcome.append(await in_pool(request, work.run, fn, *args))
        except Exception as e:  # raised below, not wrapped in the task group's ExceptionGroup
            outcome.append(e)
        tg.cancel_scope.cancel()
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    return outcome[0]


async def json_answer(request: Request, settings: Settings, fn, *args) -> Response:
    """fn(*args, work) computed in the pool as one JSON answer; its client leaving stops it, and is
    answered 499 (nobody reads it; logged as nginx logs it)."""
    work = Work(settings)
    try:
        data = await whole(request, work, fn, *args, work)
    except Cancelled:
        return Response(status_code=499)
    return Response(data, media_type="application/json")


# --- the memory budget -------------------------------------------------------------------

class Busy(Exception):
    """No memory came free in time for a request that fits the budget alone (503)."""


class Budget:
    """Bytes of computation memory this process may hold at once, shared by every request.

    Used from the event loop only, so a plain counter suffices; releasing never awaits, so a stream
    closed by a cancellation gives its share back too.
    """

    def __init__(self, total: int):
        self.total = total
        self.used = 0
        self._freed = anyio.Event()

    async def reserve(self, nbytes: int, settings: Settings, loc: list, what: str) -> "Lease":
        """A lease of nbytes; raises Invalid (413) when nbytes alone is past the per-request budget and
        Busy when no memory came free within the time limit."""
        allowed = settings.max_request_memory_mb * MB
        if nbytes > allowed:
            raise Invalid(loc, f"{what} would need about {nbytes / MB:,.0f} MB, more than the limit of "
                          f"{settings.max_request_memory_mb} MB per request; ask for fewer steps or runs",
                          type="limit_exceeded", status=413)
        with anyio.move_on_after(settings.max_compute_seconds):
            while self.used + nbytes > self.total:
                await self._freed.wait()
            self.used += nbytes
            return Lease(self, nbytes)
        raise Busy(f"the server is computing as much as its memory allows; try again in a few seconds")

    def release(self, nbytes: int) -> None:
        self.used -= nbytes
        self._freed.set()
        self._freed = anyio.Event()


class Lease:
    """A share of the budget, given back once (by the stream that holds it, or the route)."""

    def __init__(self, budget: Budget, nbytes: int):
        self.budget, self.nbytes = budget, nbytes

    def release(self) -> None:
        if self.budget is not None:
            self.budget.release(self.nbytes)
            self.budget = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def budget(app) -> Budget:
    found = getattr(app.state, "compute_budget", None)
    if found is None:
        found = app.state.compute_budget = Budget(settings_of(app).max_compute_memory_mb * MB)
    return found


async def reserve(request: Request, settings: Settings, nbytes: int, loc: list, what: str) -> Lease:
    return await budget(request.app).reserve(nbytes, settings, loc, what)


# --- streams -----------------------------------------------------------------------------

class NDJSONResponse(StreamingResponse):
    """JSON Lines, giving back the stream's share of the memory budget however the answer ends (a client
    that leaves before the first line never starts the generator, whose own `finally` then never runs)."""

    media_type = NDJSON
    lease: Lease | None = None

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self.lease is not None:
                self.lease.release()


def stream_stats(request: Request) -> Counter:
    """How this app's streams ended (completed, disconnected, failed), how many run, and their steps so far.

    A sweep cell's steps count one by one.
    """
    state = request.app.state
    if not hasattr(state, "streams"):
        state.streams = Counter(active=0, completed=0, disconnected=0, failed=0, steps=0)
    return state.streams


def ndjson_stream(request: Request, settings: Settings, meta: dict, computations,
                  lease: Lease | None = None) -> StreamingResponse:
    """A JSON Lines answer: meta, one line block per computation, then done (or error); `lease` is given
    back when the stream ends, however it ends."""
    response = NDJSONResponse(_lines(request, settings, ndjson({"type": "meta", **meta}), computations))
    response.lease = lease
    return response


async def _lines(request: Request, settings: Settings, meta: bytes, computations):
    """Run each computation, a callable giving (bytes, steps taken), in a compute thread.

    A client that leaves stops the work within one piece: Starlette's stream
    listens for the disconnect and cancels this generator at its next await.
    Asking `request.is_disconnected()` here as well made a second reader of the
    same receive channel, and now and then it cut off a client that was still
    reading. The status line has long been sent when something goes wrong
    here, so errors end the stream in-band.
    """
    stats = stream_stats(request)
    stats["active"] += 1
    outcome = "disconnected"  # what a generator closed at a yield, or cancelled, has met
    work = Work(settings)
    try:
        yield meta
        for compute in computations:
            try:
                work.check()
            except Invalid as e:
                outcome = "failed"
                yield ndjson({"type": "error", "message": translator(request_lang(request)).error(e.errors[0]["msg"])})
                return
            data, steps = await in_pool(request, work.run, compute)
            stats["steps"] += steps
            yield data
        yield ndjson({"type": "done"})
        outcome = "completed"
    except Exception as e:
        outcome = "failed"
        log.exception("stream failed")
        t = translator(request_lang(request))
        yield ndjson({"type": "error", "message": t.error(f"internal error ({type(e).__name__}); the stream stopped")})
    finally:
        stats["active"] -= 1
        stats[outcome] += 1
