"""Streams against a real uvicorn process: chunks leave while the work goes on, and a disconnect stops it."""

from __future__ import annotations

import itertools
import json
import time

import httpx
import pytest

import core
from conftest import LiveServer

pytestmark = pytest.mark.server

# The most a request may ask for under the default limits: 24 runs x 100,000 steps.
LONGEST = {"surface": "rosenbrock", "steps": 100_000,
           "runs": [{"optimizer": o} for o in itertools.islice(itertools.cycle(core.OPTIMIZERS), 24)]}
TOTAL_STEPS = 24 * 100_000


def streams(url: str) -> dict:
    return httpx.get(url + "/api/health", timeout=30).json()["streams"]


def wait_for(url: str, done, seconds: float = 60) -> dict:
    """Poll /api/health until done(streams) holds; fail after `seconds` rather than hang."""
    deadline = time.monotonic() + seconds
    while True:
        now = streams(url)
        if done(now):
            return now
        assert time.monotonic() < deadline, f"gave up waiting; streams: {now}"
        time.sleep(0.05)


def test_the_first_chunk_leaves_long_before_the_work_ends_and_a_disconnect_stops_it(live_server):
    before = streams(live_server.url)
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        with client.stream("POST", "/api/trajectories/stream", json=LONGEST) as r:
            assert r.status_code == 200
            records = r.iter_lines()
            meta, first = json.loads(next(records)), json.loads(next(records))
            assert meta["type"] == "meta" and len(meta["runs"]) == 24
            assert first["type"] == "chunk" and first["from"] == 0 and len(first["points"]) < 1000
            during = streams(live_server.url)
            # The server computes only as far ahead as the client reads.
            assert during["active"] == before["active"] + 1
            assert during["steps"] - before["steps"] < TOTAL_STEPS
        # Leaving the block closes the connection with most of the stream unread.
    after = wait_for(live_server.url, lambda s: s["active"] == before["active"])
    assert after["disconnected"] == before["disconnected"] + 1
    assert after["completed"] == before["completed"]
    assert after["steps"] - before["steps"] < TOTAL_STEPS


def test_a_long_stream_arrives_whole_in_many_chunks(live_server):
    body = {"surface": "beale", "steps": 100_000, "fields": ["points"],
            "runs": [{"optimizer": "adam"}, {"optimizer": "sgd", "hyperparameters": {"lr": 1}}, {"optimizer": "rmsprop"}]}
    points = {0: 0, 1: 0, 2: 0}
    ends = {}
    with httpx.stream("POST", live_server.url + "/api/trajectories/stream", json=body, timeout=120) as r:
        records = [json.loads(line) for line in r.iter_lines()]
    for rec in records:
        if rec["type"] == "chunk":
            assert rec["from"] == points[rec["run"]]
            points[rec["run"]] += len(rec["points"])
        elif rec["type"] == "end":
            ends[rec["run"]] = rec
    assert records[-1] == {"type": "done"}
    assert sum(rec["type"] == "chunk" for rec in records) > 10
    assert points[0] == points[2] == 100_001 and ends[1]["diverged_at"] == points[1] < 100_001


@pytest.fixture(scope="module")
def limited_server():
    server = LiveServer(env={
        "GRADSCAPE_MAX_STEPS": "1000", "GRADSCAPE_MAX_BODY_BYTES": "2000",
        "GRADSCAPE_MAX_COMPUTE_SECONDS": "0.000001", "GRADSCAPE_STREAM_FIRST_CHUNK_STEPS": "10",
        "GRADSCAPE_STREAM_CHUNK_STEPS": "10",
    })
    yield server
    server.stop()


def test_limits_come_from_the_environment(limited_server):
    url = limited_server.url
    r = httpx.post(url + "/api/trajectories", json={"surface": "beale", "steps": 5000, "runs": [{"optimizer": "adam"}]})
    assert r.status_code == 422
    assert r.json()["detail"][0] == {"loc": ["body", "steps"], "msg": "steps = 5000 is outside [1, 1000], this server's limit",
                                     "type": "value_error"}
    assert httpx.get(url + "/api/catalog").json()["limits"]["max_steps"] == 1000


def test_an_oversized_body_is_refused_whether_declared_or_chunked(limited_server):
    body = json.dumps({"surface": "beale", "runs": [{"optimizer": "adam", "hyperparameters": {}}] * 100}).encode()
    assert len(body) > 2000
    headers = {"content-type": "application/json"}
    declared = httpx.post(limited_server.url + "/api/trajectories", content=body, headers=headers)
    chunked = httpx.post(limited_server.url + "/api/trajectories", content=iter([body[:1500], body[1500:]]), headers=headers)
    for r in (declared, chunked):
        assert r.status_code == 413
        assert "limit of 2000 bytes" in r.json()["detail"][0]["msg"]


def test_past_the_compute_limit_a_stream_ends_with_an_error_line(limited_server):
    body = {"surface": "beale", "steps": 1000, "runs": [{"optimizer": "adam"}]}
    with httpx.stream("POST", limited_server.url + "/api/trajectories/stream", json=body, timeout=60) as r:
        records = [json.loads(line) for line in r.iter_lines()]
    assert r.status_code == 200 and records[0]["type"] == "meta"
    assert records[-1]["type"] == "error" and "limit of 1e-06 s" in records[-1]["message"]


# One row of 250,000 cells x 5,000 steps: about 35 s of work in a single row of the grid.
WIDE_SWEEP = {"surface": "rastrigin", "optimizer": "nadam", "steps": 5000,
              "grid": {"beta1": [0.9], "lr": {"low": 1e-4, "high": 1, "num": 250_000, "log": True}}}
WIDE_WORK = 250_000 * 5000


@pytest.fixture(scope="module")
def busy_server():
    server = LiveServer(env={"GRADSCAPE_MAX_COMPUTE_SECONDS": "5", "GRADSCAPE_COMPUTE_THREADS": "2"})
    yield server
    server.stop()


def test_a_sweep_of_one_wide_row_stops_at_the_compute_limit(busy_server):
    before = streams(busy_server.url)
    with httpx.stream("POST", busy_server.url + "/api/sweeps/stream", json=WIDE_SWEEP, timeout=60) as r:
        records = [json.loads(line) for line in r.iter_lines()]
    assert r.status_code == 200 and records[0]["type"] == "meta"
    assert records[-1]["type"] == "error" and "limit of 5 s" in records[-1]["message"]
    progress = [rec["progress"] for rec in records if rec["type"] == "progress"]
    assert progress and progress == sorted(progress) and progress[-1] < 1
    after = wait_for(busy_server.url, lambda s: s["active"] == before["active"])
    assert after["failed"] == before["failed"] + 1
    assert 0 < after["steps"] - before["steps"] < WIDE_WORK


def test_a_client_that_leaves_a_sweep_stops_it_and_counts_as_disconnected(busy_server):
    before = streams(busy_server.url)
    with httpx.stream("POST", busy_server.url + "/api/sweeps/stream", json=WIDE_SWEEP, timeout=60) as r:
        lines = r.iter_lines()
        assert json.loads(next(lines))["type"] == "meta"
        assert json.loads(next(lines))["type"] == "progress"
    after = wait_for(busy_server.url, lambda s: s["active"] == before["active"])
    assert after["disconnected"] == before["disconnected"] + 1, (before, after)
    assert after["completed"] == before["completed"] and after["failed"] == before["failed"]
    assert after["steps"] - before["steps"] < WIDE_WORK


@pytest.fixture(scope="module")
def patient_server():
    # A limit far beyond the test's own duration, so the sweeps are still computing however slow the
    # machine is when the pages are fetched; leaving the streams then stops them.
    server = LiveServer(env={"GRADSCAPE_MAX_COMPUTE_SECONDS": "600", "GRADSCAPE_COMPUTE_THREADS": "2"})
    yield server
    server.stop()


def test_pages_static_files_and_the_catalog_answer_while_sweeps_hold_every_compute_thread(patient_server):
    url = patient_server.url
    before = streams(url)
    with httpx.Client(base_url=url, timeout=60) as a, httpx.Client(base_url=url, timeout=60) as b:
        with a.stream("POST", "/api/sweeps/stream", json=WIDE_SWEEP) as ra, \
                b.stream("POST", "/api/sweeps/stream", json=WIDE_SWEEP) as rb:
            for r in (ra, rb):
                lines = r.iter_lines()
                next(lines), next(lines)  # both sweeps are computing
            with httpx.Client(base_url=url, timeout=60) as c:
                for path in ("/", "/embed", "/api/catalog", "/static/js/state.js", "/api/health"):
                    assert c.get(path).status_code == 200, path
            # Answered while both sweeps were still running, not after them.
            assert streams(url)["active"] == before["active"] + 2
    wait_for(url, lambda s: s["active"] == before["active"])


# --- connection hygiene ---------------------------------------------------------------------

GUARD = 30.0  # a connection still open this long after the 1 s deadline fails the test instead of hanging it


@pytest.fixture(scope="module")
def deadline_server():
    server = LiveServer(env={"GRADSCAPE_REQUEST_TIMEOUT_SECONDS": "1", "GRADSCAPE_KEEP_ALIVE_SECONDS": "1"})
    yield server
    server.stop()


def read_until_closed(sock) -> bytes:
    sock.settimeout(GUARD)
    data = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


@pytest.mark.parametrize("sent", [
    b"",                                                                     # no bytes at all
    b"GET /api/hea",                                                         # half a request line
    b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n",                      # headers without the blank line
    b"POST /api/trajectories HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    b"content-length: 100\r\n\r\n{\"surface\":",                             # a short body
], ids=["nothing", "partial-line", "no-blank-line", "short-body"])
def test_an_incomplete_request_is_answered_408_and_closed(deadline_server, sent):
    import socket

    with socket.create_connection(("127.0.0.1", deadline_server.port), timeout=GUARD) as sock:
        sock.sendall(sent)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]


def test_a_trickled_request_gains_nothing_from_its_trickle(deadline_server):
    import socket

    with socket.create_connection(("127.0.0.1", deadline_server.port), timeout=GUARD) as sock:
        sent = 0
        for byte in b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 1000:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break  # closed under us: the deadline held
            sent += 1
            time.sleep(0.05)
            if sent > 200:  # 10 s of trickling, ten times the deadline
                break
        answer = read_until_closed(sock)
    assert sent < 200, "ten times the deadline went by and the connection was still open"
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 ")


def test_complete_requests_on_a_kept_alive_connection_are_answered(deadline_server):
    with httpx.Client(base_url=deadline_server.url) as client:
        for _ in range(3):
            assert client.get("/api/health").status_code == 200
            time.sleep(0.3)
