"""Housekeeping: expired export jobs and files removed on a timer, and a request naming its host twice refused."""

from __future__ import annotations

import json
import os
import time

import anyio
import pytest

from app import main
from app.exports.jobs import JobStore
from app.main import create_app
from app.settings import ExportSettings


def finished_job(store: JobStore, job_id: str, finished: float) -> str:
    path = store.directory / f"{job_id}.png"
    path.write_bytes(b"png")
    store.records.add({"id": job_id, "client": "c", "state": "", "options": json.dumps({"format": "png"}),
                       "status": "done", "progress": 1.0, "path": str(path), "created": finished,
                       "finished": finished, "beat": finished})
    return str(path)


def test_housekeeping_removes_expired_jobs_and_files_no_job_names(tmp_path):
    store = JobStore(tmp_path)
    now = time.time()
    old, fresh = finished_job(store, "old", now - 100), finished_job(store, "fresh", now)
    orphan = tmp_path / "orphan.gif"  # its row went with a store that restarted
    orphan.write_bytes(b"gif")
    os.utime(orphan, (now - 100, now - 100))
    store.housekeeping(keep_seconds=50)
    assert not os.path.exists(old) and store.records.get("old") is None
    assert os.path.exists(fresh) and store.records.get("fresh") is not None
    assert not orphan.exists()
    assert (tmp_path / ".jobs.sqlite3").exists()


def test_the_timer_removes_expired_files_with_no_export_submitted(tmp_path, monkeypatch):
    store = JobStore(tmp_path)
    old = finished_job(store, "old", time.time() - 100)
    monkeypatch.setattr(main, "get_export_settings", lambda: ExportSettings(housekeeping_seconds=0.1, keep_seconds=50))
    monkeypatch.setattr(main, "current_jobs", lambda: store)

    async def serve_a_while():
        app = create_app()
        async with main.lifespan(app):
            deadline = time.monotonic() + 10
            while os.path.exists(old) and time.monotonic() < deadline:
                await anyio.sleep(0.05)

    monkeypatch.setattr(main, "warm_kernels", lambda: anyio.sleep(0))
    anyio.run(serve_a_while)
    assert not os.path.exists(old)


async def status_for(headers: list[tuple[bytes, bytes]]) -> int:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/api/catalog", "raw_path": b"/api/catalog", "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    await create_app()(scope, receive, send)
    return sent[0]["status"]


@pytest.mark.parametrize("hosts, status", [
    ([b"localhost"], 200),
    ([b"evil.example", b"localhost"], 400),  # the bad one first used to pass: the last one was read
    ([b"localhost", b"evil.example"], 400),
    ([b"localhost", b"localhost"], 400),
])
def test_a_request_naming_its_host_more_than_once_is_refused(hosts, status):
    assert anyio.run(status_for, [(b"host", h) for h in hosts]) == status
