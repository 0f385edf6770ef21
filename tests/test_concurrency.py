"""Fifty clients at once against a real server on loopback: no errors, and every request is answered."""

from __future__ import annotations

import asyncio
import itertools
import time

import httpx
import orjson
import pytest

import core

pytestmark = pytest.mark.server

CLIENTS = 50
SECONDS = 3.0  # of load; the bench runs the full 50 clients x 30 s
BOUND = 120.0  # every client must be done by then, or the test fails rather than hangs

TWELVE = {"surface": "rosenbrock", "steps": 1000,
          "runs": [{"optimizer": o} for o in itertools.islice(itertools.cycle(core.OPTIMIZERS), 12)]}
STREAM = {"surface": "beale", "steps": 3000, "runs": [{"optimizer": "adam"}, {"optimizer": "sgd", "hyperparameters": {"lr": 2}}]}
SWEEP = {"surface": "himmelblau", "optimizer": "adam", "steps": 200,
         "grid": {"x": {"low": -4, "high": 4, "num": 20}, "y": {"low": -4, "high": 4, "num": 20}}}


async def one_request(client: httpx.AsyncClient, n: int) -> str | None:
    """Make the n-th request of a client's mix; None if it was answered in full, else what went wrong."""
    kind = n % 5
    if kind == 0:
        r = await client.post("/api/trajectories", json=TWELVE)
        # orjson: the client must not be what is slow, or it leaves its connections idle past keep-alive.
        ok = r.status_code == 200 and len(orjson.loads(r.content)["runs"]) == 12
    elif kind in (1, 2):
        path, body = ("/api/trajectories/stream", STREAM) if kind == 1 else ("/api/sweeps/stream", SWEEP)
        async with client.stream("POST", path, json=body) as r:
            last = None
            async for line in r.aiter_lines():
                last = orjson.loads(line)
        return None if r.status_code == 200 and last == {"type": "done"} else f"{kind}: {r.status_code}, last line {last}"
    elif kind == 3:
        r = await client.get(f"/api/surfaces/rosenbrock/grid?resolution={40 + n % 20}")
        ok = r.status_code == 200
    else:
        r = await client.post("/api/trajectories", json={**TWELVE, "steps": 0})
        ok = r.status_code == 422  # refusing bad input is part of the load too
    return None if ok else f"{kind}: {r.status_code} {r.text[:200]}"


async def client_loop(client: httpx.AsyncClient, start: int, deadline: float) -> tuple[int, list[str]]:
    done, errors = 0, []
    for n in itertools.count(start):
        try:
            error = await one_request(client, n)
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {e}"
        done += 1
        if error:
            errors.append(error)
        if time.monotonic() > deadline:
            return done, errors


def test_fifty_clients_at_once_get_no_errors(live_server):
    async def hammer():
        # Each client has its own connection; they are all made before the clock starts.
        clients = [httpx.AsyncClient(base_url=live_server.url, timeout=BOUND) for _ in range(CLIENTS)]
        try:
            deadline = time.monotonic() + SECONDS
            return await asyncio.wait_for(
                asyncio.gather(*(client_loop(c, i, deadline) for i, c in enumerate(clients))), BOUND)
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))

    results = asyncio.run(hammer())
    errors = [e for _, errs in results for e in errs]
    assert errors == []
    assert sum(done for done, _ in results) >= CLIENTS
