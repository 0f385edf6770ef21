"""Export jobs shared by every process: two worker processes behind one port, two replicas and an rq worker
on a real redis-server, a fairness limit per client, a memory cap, and no job lost when its process dies."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from conftest import LiveServer, Worker

pytestmark = pytest.mark.server

SMALL = {"state": "surface=booth&opt=sgd,adam&steps=20", "format": "png", "width": 320, "height": 240}
# About 10 s of drawing: long enough to be caught in the middle.
LONG = {"state": "surface=beale&opt=adam,sgd,rmsprop,momentum&steps=2000", "format": "gif", "frames": 1000,
        "width": 1280, "height": 720}


def wait_status(url: str, job_id: str, done, seconds: float = 120) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        status = httpx.get(f"{url}/api/exports/{job_id}", timeout=30).json()
        if done(status):
            return status
        assert time.monotonic() < deadline, f"gave up waiting; last status {status}"
        time.sleep(0.1)


# --- embedded: a SQLite store shared by the processes of one server --------------------------

@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    server = LiveServer(env={"GRADSCAPE_EXPORT_MAX_PER_CLIENT": "2"}, workers=2)
    yield server
    server.stop()


def test_every_process_of_a_server_answers_every_job(two_workers):
    r = httpx.post(two_workers.url + "/api/exports", json=SMALL, timeout=30)
    assert r.status_code == 202, r.text
    job = r.json()
    # New connections land on either process; none may say "no such export".
    for _ in range(20):
        with httpx.Client(base_url=two_workers.url, timeout=30) as c:
            s = c.get(f"/api/exports/{job['id']}")
            assert s.status_code == 200, s.text
    status = wait_status(two_workers.url, job["id"], lambda s: s["status"] != "running")
    assert status["status"] == "done", status
    files = {httpx.get(f"{two_workers.url}/api/exports/{job['id']}/file", timeout=30).content for _ in range(6)}
    assert len(files) == 1 and next(iter(files)).startswith(b"\x89PNG")


def test_one_client_may_not_fill_the_queue(two_workers):
    ids = []
    for _ in range(2):
        r = httpx.post(two_workers.url + "/api/exports", json=LONG, timeout=30)
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    r = httpx.post(two_workers.url + "/api/exports", json=SMALL, timeout=30)
    assert r.status_code == 429 and "limit per client is 2" in r.json()["detail"]
    # The jobs are not waited for: stopping the server ends them with it.


@pytest.fixture(scope="module")
def one_worker():
    server = LiveServer(env={"GRADSCAPE_EXPORT_MAX_PER_CLIENT": "5"}, workers=1)
    yield server
    server.stop()


def test_a_waiting_job_gives_its_place_in_the_queue_truthfully(one_worker):
    ids = [httpx.post(one_worker.url + "/api/exports", json=LONG, timeout=30).json()["id"] for _ in range(3)]
    statuses = [httpx.get(f"{one_worker.url}/api/exports/{i}", timeout=30).json() for i in ids]
    messages = [s["message"] for s in statuses]
    # One process makes one job at a time: the first is made (or about to be), the others wait their turn.
    assert messages[2] in ("waiting: 2 exports before it", "waiting: 1 export before it")
    assert messages[1] in ("waiting: 1 export before it", "waiting: next in line")
    assert all(s["status"] == "running" and s["progress"] == 0 for s in statuses[1:])


def test_an_export_over_the_memory_cap_fails_alone():
    server = LiveServer(env={"GRADSCAPE_EXPORT_MAX_MEMORY_MB": "300"}, workers=1)
    try:
        job = httpx.post(server.url + "/api/exports", json=SMALL, timeout=30).json()
        status = wait_status(server.url, job["id"], lambda s: s["status"] != "running")
        assert status["status"] == "error" and "memory" in status["message"]
        assert httpx.get(server.url + "/api/health", timeout=30).status_code == 200
    finally:
        server.stop()


# --- Redis: two replicas and an rq worker --------------------------------------------------

@pytest.fixture(scope="module")
def cluster(redis_server, tmp_path_factory):
    env = {"GRADSCAPE_REDIS_URL": redis_server.url, "GRADSCAPE_EXPORT_DIR": str(tmp_path_factory.mktemp("files")),
           "GRADSCAPE_EXPORT_MAX_PER_CLIENT": "4", "GRADSCAPE_EXPORT_STALE_SECONDS": "8"}
    a, b = LiveServer(env=env), LiveServer(env=env)
    workers = [Worker(env)]
    yield a, b, workers, env
    for worker in workers:
        worker.stop()
    a.stop()
    b.stop()


def test_a_job_queued_on_one_replica_is_answered_by_the_other(cluster):
    a, b, _, _ = cluster
    r = httpx.post(a.url + "/api/exports", json=SMALL, timeout=30)
    assert r.status_code == 202, r.text
    job = r.json()
    assert httpx.get(f"{b.url}/api/exports/{job['id']}", timeout=30).status_code == 200
    status = wait_status(b.url, job["id"], lambda s: s["status"] != "running")
    assert status == {**job, "status": "done", "progress": 1.0, "message": None}
    for server in (a, b):
        f = httpx.get(f"{server.url}/api/exports/{job['id']}/file", timeout=30)
        assert f.status_code == 200 and f.content.startswith(b"\x89PNG")


def test_a_worker_killed_mid_export_leaves_its_job_failed_on_every_replica(cluster):
    a, b, workers, _ = cluster
    worker = workers[0]
    job = httpx.post(a.url + "/api/exports", json=LONG, timeout=30).json()
    wait_status(a.url, job["id"], lambda s: s["progress"] > 0.05, 180)  # being drawn
    horses = worker.children()
    assert len(horses) == 1
    os.kill(horses[0], signal.SIGKILL)
    for server in (b, a):
        status = wait_status(server.url, job["id"], lambda s: s["status"] != "running", 60)
        assert status["status"] == "error" and "stopped unexpectedly" in status["message"]
    # The worker goes on with the next job.
    nxt = httpx.post(b.url + "/api/exports", json=SMALL, timeout=30).json()
    assert wait_status(a.url, nxt["id"], lambda s: s["status"] != "running")["status"] == "done"


def test_a_worker_killed_outright_leaves_its_job_failed_once_its_heartbeat_stops(cluster):
    a, b, workers, env = cluster
    worker = workers[-1]
    job = httpx.post(a.url + "/api/exports", json=LONG, timeout=30).json()
    wait_status(a.url, job["id"], lambda s: s["progress"] > 0.05, 180)
    for pid in [*worker.children(), worker.proc.pid]:  # the machine went away: worker and work horse
        os.kill(pid, signal.SIGKILL)
    worker.proc.wait(10)
    for server in (b, a):
        status = wait_status(server.url, job["id"], lambda s: s["status"] != "running", 60)
        assert status["status"] == "error" and "stopped unexpectedly" in status["message"]
    workers.append(Worker(env))  # a new worker takes the next job
    nxt = httpx.post(b.url + "/api/exports", json=SMALL, timeout=30).json()
    assert wait_status(a.url, nxt["id"], lambda s: s["status"] != "running", 120)["status"] == "done"
