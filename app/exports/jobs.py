"""Export jobs in a store every server process shares, and the processes that make them.

A job is a row of plain values: the shared state's query string, the export
options, who asked, and where it stands (queued, started, done, error). No
job holds a computed scene while it waits; the process that makes it computes
the runs from the state string, then draws them.

Two stores, one interface (app/exports/stores.py):

- `SqliteRecords` (the default, nothing to install): a SQLite database beside the
  files in one directory. Every `gradscape serve` worker process runs one job at a
  time from it, in a child process of its own (forked from a single-threaded
  forkserver), whose address space is capped at `max_memory_mb`: an export that
  needs more fails alone, and the server's memory does not grow with the queue.
- `RedisRecords` (with GRADSCAPE_REDIS_URL): the rows are Redis hashes, and jobs go
  through rq to `gradscape worker` processes, which may run on other machines
  sharing the file directory. rq was chosen over arq, saq and dramatiq because it
  is synchronous (rendering is matplotlib code that holds the GIL: an asyncio queue
  gains nothing), forks a fresh work horse per job (a crash or a memory cap ends
  the job, not the worker) and records a killed horse's job as failed, which is
  what lets every replica report such a job as failed instead of losing it.

Either way any process answers any job's status and serves its file.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import threading
import time
from dataclasses import asdict
from pathlib import Path

from app.exports.formats import export
from app.exports.link import subject_from_state
from app.exports.options import Options
from app.exports.stores import ACTIVE, RedisRecords, SqliteRecords, unreachable_errors
from app.services.validation import Invalid
from app.settings import get_export_settings, get_settings
from core import InvalidInput

LOST = "the export stopped unexpectedly (its process ended, perhaps out of memory); try again, or a smaller export"


# --- making one export ------------------------------------------------------------------

def limit_memory(megabytes: int) -> None:
    """Cap this process's address space: past it allocations fail with MemoryError, in this process alone."""
    if megabytes > 0:
        cap = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


class Orphaned(BaseException):
    """The server process that started this job has gone: stop drawing for nobody."""


def make(records, job_id: str, owner: int | None = None) -> None:
    """Compute the job's runs from its state string, draw its file, and record how it went.

    `owner` is the pid of the server process waiting for it: if that process ends, so does the job
    (its row then goes stale and is reported as stopped).
    """
    row = records.get(job_id)
    if row is None or row["status"] not in ACTIVE:
        return
    records.update(job_id, status="started", started=time.time(), beat=time.time())
    last = [0.0]

    def progress(fraction: float) -> None:
        if owner is not None:
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                raise Orphaned from None
        now = time.time()
        if fraction >= 1 or now - last[0] > 0.25:
            last[0] = now
            records.update(job_id, progress=min(max(fraction, 0.0), 1.0), beat=now)

    try:
        settings = get_settings()
        opts = Options(**json.loads(row["options"]))
        subject = subject_from_state(row["state"], opts, settings, seconds=settings.max_compute_seconds)
        export(subject, opts, row["path"], progress)
    except Invalid as exc:
        records.update(job_id, status="error", message=exc.errors[0]["msg"], finished=time.time())
    except InvalidInput as exc:
        records.update(job_id, status="error", message=str(exc), finished=time.time())
    except MemoryError:
        records.update(job_id, status="error", finished=time.time(), message="the export needed more memory than "
                       "this server allows each one; ask for fewer frames, a smaller size or fewer steps")
    except Exception:
        import logging

        logging.getLogger("gradscape.exports").exception("export %s failed", job_id)
        records.update(job_id, status="error", finished=time.time(),
                       message="the export failed on the server; try again, or a smaller export")
    else:
        records.update(job_id, status="done", progress=1.0, message=None, finished=time.time())


def _child(db_path: str, job_id: str, megabytes: int, owner: int) -> None:
    limit_memory(megabytes)
    try:
        make(SqliteRecords(Path(db_path)), job_id, owner)
    except Orphaned:
        os._exit(1)


_context = None


def _forkserver():
    # Forked from a single-threaded server that has imported the renderer once: a job starts in
    # milliseconds, and no lock held by one of the web server's threads is copied into it.
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(["app.exports.jobs", "app.exports.frames", "core"])
    return _context


class LocalRunner:
    """One thread per server process that makes queued jobs one at a time, each in a capped child process."""

    def __init__(self, records: SqliteRecords, megabytes: int):
        self.records = records
        self.megabytes = megabytes
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="gradscape-export", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            try:
                row = self.records.claim()
            except unreachable_errors():  # the database's directory gone or locked: try again later
                row = None
            if row is None:
                self.wake.wait(0.5)  # a job queued by another process is seen within half a second
                self.wake.clear()
                continue
            child = _forkserver().Process(target=_child, daemon=True,
                                          args=(str(self.records.path), row["id"], self.megabytes, os.getpid()))
            child.start()
            while child.is_alive():
                child.join(2.0)
                self.records.update(row["id"], beat=time.time())
            if self.records.get(row["id"])["status"] in ACTIVE:
                self.records.update(row["id"], status="error", message=LOST, finished=time.time())


# --- the queue ---------------------------------------------------------------------------

QUEUE = "gradscape-exports"
STORE_TIMEOUT = 3.0  # seconds a Redis command may take before the store counts as unreachable
NO_WORKER = "no export worker is running; it starts when one does (`gradscape worker`)"
RESTARTED = "was lost when the job store restarted (its data went with it); export it again"


def rq_make(job_id: str) -> None:
    """The rq job: runs in a work horse forked by `gradscape worker`, so the memory cap is the horse's alone."""
    limit_memory(get_export_settings().max_memory_mb)
    make(get_jobs().records, job_id)


class JobStore:
    """Submitting, reading and pruning export jobs, the same in every process of every replica."""

    def __init__(self, directory: str | os.PathLike | None = None, redis_url: str | None = None,
                 max_memory_mb: int = 0, stale_seconds: float = 30.0):
        # A started job whose process has said nothing for stale_seconds has lost that process.
        self.stale_seconds = stale_seconds
        if directory is None:
            import tempfile

            self._dir = tempfile.TemporaryDirectory(prefix="gradscape-exports-")
            self._db_dir = tempfile.TemporaryDirectory(prefix="gradscape-jobs-")
            db = Path(self._db_dir.name) / "jobs.sqlite3"
        else:
            Path(directory).mkdir(parents=True, exist_ok=True)
            self._dir = _Named(str(directory))
            db = Path(directory) / ".jobs.sqlite3"
        self.directory = Path(self._dir.name)
        self.redis_url = redis_url
        if redis_url:
            from redis import Redis
            from rq import Queue

            # A dead or paused Redis answers nothing: give up after a few seconds and say so (503).
            self.redis = Redis.from_url(redis_url, socket_timeout=STORE_TIMEOUT, socket_connect_timeout=STORE_TIMEOUT)
            self.records = RedisRecords(self.redis)
            self.queue = Queue(QUEUE, connection=self.redis)
            self.runner = None
        else:
            self.records = SqliteRecords(db)
            self.runner = LocalRunner(self.records, max_memory_mb)
        self._lock = threading.Lock()

    def submit(self, state: str, opts, filename: str, media_type: str, client: str, settings) -> dict:
        """Queue a job; raises Busy when the client or the store is at its limit."""
        with self._lock:
            rows = self.prune(settings.keep_seconds)
            mine = sum(r["status"] in ACTIVE and r["client"] == client for r in rows)
            if mine >= settings.max_per_client:
                raise Busy(f"you have {mine} exports waiting or being made, the limit per client is "
                           f"{settings.max_per_client}; try again when one is done")
            finished = [r for r in rows if r["status"] not in ACTIVE]
            while len(rows) >= settings.max_jobs and finished:
                self.forget(finished.pop(0))
                rows = [r for r in rows if r["id"] in {x["id"] for x in self.records.all()}]
            if len(rows) >= settings.max_jobs:
                raise Busy(f"{len(rows)} exports are in progress, the limit is {settings.max_jobs}; "
                           "try again in a minute")
            job_id = self.records.new_id()
            now = time.time()
            row = {"id": job_id, "client": client, "state": state, "options": json.dumps(asdict(opts)),
                   "status": "queued", "progress": 0.0, "message": None, "filename": filename,
                   "media_type": media_type, "path": str(self.directory / f"{job_id}.{opts.format}"),
                   "created": now, "started": None, "finished": None, "beat": now}
            self.records.add(row)
        if self.runner is not None:
            self.runner.wake.set()
        else:
            self.queue.enqueue_call("app.exports.jobs.rq_make", args=(job_id,), job_id=job_id, timeout=settings.job_seconds,
                                    result_ttl=int(settings.keep_seconds), failure_ttl=int(settings.keep_seconds))
        return self.status(job_id)

    def row(self, job_id: str) -> dict | None:
        """The job's row, after noticing a job whose process ended without a word."""
        row = self.records.get(job_id)
        if row is None or row["status"] not in ACTIVE:
            return row
        if self.runner is None:
            from rq.exceptions import NoSuchJobError
            from rq.job import Job, JobStatus

            try:
                state = Job.fetch(job_id, connection=self.redis).get_status()
            except NoSuchJobError:  # gone from Redis (or, for a moment, not yet there)
                state = None if time.time() - row["created"] > 5 else JobStatus.QUEUED
            lost = state is None or state in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)
        else:
            lost = False
        # A process that died with its job (a worker or a server killed outright) stops its heartbeat.
        lost = lost or row["status"] == "started" and time.time() - row["beat"] > self.stale_seconds
        if lost:
            row = self.records.get(job_id)
            if row is not None and row["status"] in ACTIVE:  # not finished in the meantime
                self.records.update(job_id, status="error", message=LOST, finished=time.time())
                row = {**row, "status": "error", "message": LOST}
        return row

    def status(self, job_id: str) -> dict | None:
        """The job as the API shows it: running (waiting or being made), done or error, and where it stands."""
        row = self.row(job_id)
        if row is None:
            return None
        message = row["message"]
        if row["status"] == "queued":
            ahead = sum(r["status"] == "queued" and r["created"] < row["created"] for r in self.records.all())
            message = "waiting: next in line" if ahead == 0 else \
                f"waiting: {ahead} export{'s' if ahead > 1 else ''} before it"
            if self.workers() == 0:
                message = f"{message}; {NO_WORKER}"
        return {"id": row["id"], "status": "running" if row["status"] in ACTIVE else row["status"],
                "progress": round(float(row["progress"] or 0.0), 4), "message": message, "filename": row["filename"]}

    def prune(self, keep_seconds: float) -> list[dict]:
        """Forget finished jobs older than keep_seconds, with their files; the rest of the rows."""
        now = time.time()
        rows = []
        for r in self.records.all():
            if r["status"] not in ACTIVE and r["finished"] is not None and now - r["finished"] > keep_seconds:
                self.forget(r)
            else:
                rows.append(r)
        return rows

    def forget(self, row: dict) -> None:
        self.records.delete(row["id"])
        Path(row["path"]).unlink(missing_ok=True)

    def sweep_files(self, keep_seconds: float) -> None:
        """Delete files no kept job names (their rows expired, or went with a store that restarted) once
        older than keep_seconds; a file being written is younger than that or named by its job."""
        named = {Path(r["path"]).name for r in self.records.all()}
        cutoff = time.time() - keep_seconds
        for f in self.directory.iterdir():
            if f.is_file() and not f.name.startswith(".jobs.sqlite3") and f.name not in named:
                try:
                    if f.stat().st_mtime < cutoff:
                        f.unlink()
                except FileNotFoundError:
                    pass

    def workers(self) -> int:
        """Processes that make this store's jobs and are alive now."""
        if self.runner is not None:
            return int(self.runner.thread.is_alive())
        # rq's index of workers (a set) is written once, when a worker starts: after Redis restarts empty a
        # worker that reconnected is missing from it. Each worker's own key is written on every heartbeat.
        # A worker that stopped keeps its key a minute longer, marked with its death.
        keys = [key for key in self.redis.scan_iter(match=b"rq:worker:*", count=1000) if key.count(b":") == 2]
        with self.redis.pipeline() as p:
            for key in keys:
                p.hexists(key, "death")
            dead = p.execute()
        return dead.count(False)

    def lost_in_restart(self, job_id: str) -> bool:
        return self.records.lost_in_restart(job_id)

    def health(self) -> dict:
        """The store and its workers: {"store": "ok" or "unreachable", "workers": n}."""
        try:
            return {"store": "ok", "workers": self.workers()}
        except unreachable_errors():
            return {"store": "unreachable", "workers": None}

    def housekeeping(self, keep_seconds: float) -> None:
        """Expired jobs and files removed, on a timer rather than only when the next export comes."""
        self.prune(keep_seconds)
        self.sweep_files(keep_seconds)


class Busy(Exception):
    """A job refused for now: the client's share or the store is full (429)."""


class _Named:
    def __init__(self, name: str):
        self.name = name


_jobs: JobStore | None = None
_jobs_lock = threading.Lock()


def export_health() -> dict:
    """The export store and its workers as /api/health reports them: "ready" when the store answers and a
    worker is alive, "degraded" when either fails, "idle" before this process has a store at all."""
    store = current_jobs()
    if store is None:
        return {"status": "idle", "store": None, "workers": None}
    found = store.health()
    ready = found["store"] == "ok" and found["workers"] > 0
    return {"status": "ready" if ready else "degraded", **found}


def current_jobs() -> JobStore | None:
    """This process's store if it has one, or should (a shared directory or Redis is configured)."""
    settings = get_export_settings()
    return _jobs if _jobs is not None or not (settings.dir or settings.redis_url) else get_jobs()


def get_jobs() -> JobStore:
    """The store of this process, made on first use from the export settings."""
    global _jobs
    with _jobs_lock:
        if _jobs is None:
            settings = get_export_settings()
            _jobs = JobStore(settings.dir, settings.redis_url, settings.max_memory_mb, settings.stale_seconds)
    return _jobs

