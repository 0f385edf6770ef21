"""Exports when Redis dies, pauses or comes back empty: a real redis-server killed, stopped (SIGSTOP) and
restarted, a replica and a `gradscape worker` beside it."""

from __future__ import annotations

import os
import shutil
import signal
import time

import httpx
import pytest

from conftest import LiveServer, RedisServer, Worker
from test_jobs import SMALL, wait_status

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def outage(tmp_path_factory):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed; scripts/test installs it (apt-get install redis-server)")
    redis_dir = tmp_path_factory.mktemp("redis")
    redis = RedisServer(redis_dir)
    env = {"GRADSCAPE_REDIS_URL": redis.url, "GRADSCAPE_EXPORT_DIR": str(tmp_path_factory.mktemp("files")),
           "GRADSCAPE_EXPORT_MAX_PER_CLIENT": "8"}
    server = LiveServer(env=env)
    worker = Worker(env)
    state = {"redis": redis, "dir": redis_dir}
    yield server, worker, state, env
    worker.stop()
    server.stop()
    state["redis"].stop()


def export(url: str) -> httpx.Response:
    return httpx.post(url + "/api/exports", json=SMALL, timeout=60)


def health(url: str) -> dict:
    return httpx.get(url + "/api/health", timeout=60).json()


def test_redis_paused_killed_and_restarted_empty(outage):
    server, worker, state, env = outage
    url = server.url
    r = export(url)
    assert r.status_code == 202, r.text
    before = wait_status(url, r.json()["id"], lambda s: s["status"] != "running")
    assert before["status"] == "done"
    assert health(url)["exports"] == {"status": "ready", "store": "ok", "workers": 1}

    # Paused: nothing answers, so the server gives up after its socket timeout and says why.
    redis = state["redis"]
    os.kill(redis.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = export(url)
        assert r.status_code == 503 and "job store is unreachable" in r.json()["detail"], r.text
        assert time.monotonic() - t0 < 10
        h = health(url)
        assert h["status"] == "degraded" and h["exports"]["store"] == "unreachable"
        assert httpx.get(url + "/api/catalog", timeout=30).status_code == 200
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)

    # Killed: the same answers, and the worker waits instead of exiting.
    redis.proc.kill()
    redis.proc.wait(10)
    r = export(url)
    assert r.status_code == 503 and "job store is unreachable" in r.json()["detail"], r.text
    assert httpx.get(f"{url}/api/exports/{before['id']}", timeout=60).status_code == 503
    assert health(url)["status"] == "degraded"
    time.sleep(3)
    assert worker.proc.poll() is None, "the worker exited when Redis went away"

    # Back, empty: the old job was lost with Redis's data and says so; the worker reconnects and new
    # jobs are made.
    state["redis"] = RedisServer(state["dir"], port=redis.port)
    r = httpx.get(f"{url}/api/exports/{before['id']}", timeout=60)
    assert r.status_code == 404 and "lost when the job store restarted" in r.json()["detail"], r.text
    deadline = time.monotonic() + 60
    while health(url)["exports"]["workers"] == 0:
        assert time.monotonic() < deadline, "the worker never came back"
        time.sleep(0.5)
    r = export(url)
    assert r.status_code == 202, r.text
    assert wait_status(url, r.json()["id"], lambda s: s["status"] != "running")["status"] == "done"


def test_a_job_waiting_with_no_live_worker_says_so(outage):
    server, worker, _, _ = outage
    worker.stop()
    deadline = time.monotonic() + 30
    while health(server.url)["exports"]["workers"] != 0:  # rq forgets a worker stopped cleanly at once
        assert time.monotonic() < deadline
        time.sleep(0.5)
    r = export(server.url)
    assert r.status_code == 202
    status = httpx.get(f"{server.url}/api/exports/{r.json()['id']}", timeout=30).json()
    assert status["status"] == "running" and "no export worker is running" in status["message"]
    assert health(server.url)["status"] == "degraded"
