"""The HTTP API measured from a loopback client, against the core's own time for the same work.

    python bench/api_bench.py                 # everything, with 50 clients for 30 s
    python bench/api_bench.py --seconds 5     # a shorter concurrent run

It starts `gradscape serve` on a free loopback port and prints:
  - time from a fresh start (warm numba cache) to the first trajectory answered;
  - 12 runs x 1,000 steps, one request at a time: end-to-end and server-side (Server-Timing)
    latency p50/p99 and throughput, for the full answer and for points and losses only, each
    with its arrays in JSON and in base64, next to the core's own time (validate + compute) and
    its serialization in this process;
  - 16 runs x 100,000 steps streamed, in JSON and in base64: time to the first chunk and total
    time, against the core;
  - 50 concurrent clients, in JSON and in base64 (what the page asks for): latency p50/p99,
    throughput and errors;
  - the page's usual request (points and losses in base64) from 50 clients against `serve --workers 1`
    and `--workers 2`: the throughput ratio, p99 and errors of each;
  - `/` and `/api/catalog` latency while two sweeps that break the compute limit run;
  - how long a tune far past the compute limit takes to be refused, as a ratio to the limit.
Ratios are taken within this run, so a loaded machine moves both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import core  # noqa: E402
from app.services.trajectories import trajectories_json  # noqa: E402
from app.schemas import TrajectoryRequest  # noqa: E402
from app.settings import Settings  # noqa: E402

OPTIMIZERS = list(itertools.islice(itertools.cycle(core.OPTIMIZERS), 16))
TWELVE = {"surface": "rosenbrock", "steps": 1000, "runs": [{"optimizer": o} for o in OPTIMIZERS[:12]]}
DRAWN = {**TWELVE, "fields": ["points", "losses"]}
LONG = {"surface": "rosenbrock", "steps": 100_000, "runs": [{"optimizer": o} for o in OPTIMIZERS]}
ENCODINGS = ("json", "base64")  # the page asks for base64


def encoded(body: dict, encoding: str) -> dict:
    return {**body, "encoding": encoding}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workers: int = 1) -> tuple[subprocess.Popen, str, float]:
    """Start `gradscape serve`; return it, its URL, and seconds until it answered a trajectory."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--log-level", "warning",
                             "--workers", str(workers)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    body = {"surface": "beale", "steps": 300, "runs": [{"optimizer": "adam"}]}
    while True:
        try:
            if httpx.post(url + "/api/trajectories", json=body, timeout=5).status_code == 200:
                return proc, url, time.perf_counter() - t0
        except httpx.TransportError:
            if proc.poll() is not None or time.perf_counter() - t0 > 120:
                raise RuntimeError("the server did not start")
            time.sleep(0.005)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time a process has used and the page faults it took (Linux /proc), or NaNs where unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), float(fields[7])
    except (OSError, ValueError, IndexError):
        return float("nan"), float("nan")


def pct(values, q) -> float:
    return float(np.percentile(values, q))


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.2f} ms"


def core_time(body: dict, rounds: int, whole: bool = True) -> tuple[float, float]:
    """Median seconds the core takes for a body's runs (validate + compute), and the API's whole answer in-process."""
    settings = Settings(max_steps=core.engine.MAX_STEPS, max_runs=10_000, max_answer_steps=10**9)
    compute, total = [], [float("nan")]
    request = TrajectoryRequest.model_validate(body)
    for _ in range(rounds):
        t0 = time.perf_counter()
        runs = [core.Run(body["surface"], r["optimizer"], core.SURFACES[body["surface"]].start, body["steps"])
                for r in body["runs"]]
        for run in runs:
            while not run.finished:
                run.advance(1 << 16)
        compute.append(time.perf_counter() - t0)
        if whole:
            t0 = time.perf_counter()
            trajectories_json(request, settings)
            total.append(time.perf_counter() - t0)
    return float(np.median(compute)), float(np.median(total[1:] or total))


def sequential(url: str, body: dict, n: int) -> dict:
    e2e, server, size = [], [], 0
    with httpx.Client(base_url=url, timeout=60) as client:
        for i in range(n + 20):
            t0 = time.perf_counter()
            r = client.post("/api/trajectories", json=body)
            content = r.content
            dt = time.perf_counter() - t0
            assert r.status_code == 200, r.text
            if i >= 20:  # the first few warm the connection and the server's caches
                e2e.append(dt)
                server.append(float(r.headers["server-timing"].split("dur=")[1]) / 1e3)
                size = len(content)
    return {"e2e": e2e, "server": server, "bytes": size}


def streamed(url: str, body: dict) -> dict:
    with httpx.Client(base_url=url, timeout=600) as client:
        t0 = time.perf_counter()
        first = None
        size = lines = 0
        with client.stream("POST", "/api/trajectories/stream", json=body) as r:
            for line in r.iter_lines():
                lines += 1
                size += len(line) + 1
                if first is None and line.startswith('{"type":"chunk"'):
                    first = time.perf_counter() - t0
        last = json.loads(line)
        assert last == {"type": "done"}, last
        return {"first": first, "total": time.perf_counter() - t0, "bytes": size, "lines": lines}


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: sends a request and counts its answer's bytes as they arrive."""

    def __init__(self):
        self.transport = None
        self.answered = None
        self.head = b""
        self.left = None
        self.status = 0

    def connection_made(self, transport):
        self.transport = transport

    def send(self, request: bytes) -> asyncio.Future:
        self.head, self.left = b"", None
        self.answered = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.answered

    def data_received(self, data: bytes):
        if self.left is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.head[:end].decode("latin-1").split("\r\n")
            self.status = int(lines[0].split()[1])
            length = next(int(v) for k, _, v in (ln.partition(":") for ln in lines[1:]) if k.strip().lower() == "content-length")
            self.left = length - (len(self.head) - end - 4)
        else:
            self.left -= len(data)
        if self.left <= 0 and not self.answered.done():
            self.answered.set_result(self.status)

    def connection_lost(self, exc):
        if self.answered is not None and not self.answered.done():
            self.answered.set_exception(exc or ConnectionError("the server closed the connection"))


async def concurrent(url: str, body: dict, clients: int, seconds: float) -> dict:
    """Each client posts `body` again as soon as it has the whole answer, for `seconds`.

    The clients share the 2 cores with the server, so they do as little as a
    load tool like wrk: plain HTTP/1.1 on keep-alive connections, answers
    counted in bytes as they arrive and never parsed or copied. httpx took
    about a core here, and a busy client delays its own clock readings, so
    its work would have been measured as server latency.
    """
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    request = (f"POST /api/trajectories HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
    latencies, errors = [], []
    loop = asyncio.get_running_loop()

    async def client():
        transport, conn = await loop.create_connection(_Connection, host, int(port))
        try:
            await ready.wait()
            while time.perf_counter() < clock["deadline"]:
                t0 = time.perf_counter()
                try:
                    status = await asyncio.wait_for(conn.send(request), 120)
                    if status != 200:
                        errors.append(status)
                except (OSError, asyncio.TimeoutError) as e:
                    errors.append(type(e).__name__)
                    break
                latencies.append(time.perf_counter() - t0)
        finally:
            transport.close()

    ready, clock = asyncio.Event(), {}
    # Every client connects before the clock starts.
    tasks = [asyncio.ensure_future(client()) for _ in range(clients)]
    await asyncio.sleep(0.2)
    cpu0, t0 = time.process_time(), time.perf_counter()
    clock["deadline"] = t0 + seconds
    ready.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    return {"latencies": latencies, "errors": errors, "elapsed": elapsed,
            "client_cores": (time.process_time() - cpu0) / elapsed}


# One row of 250,000 cells x 5,000 steps: some 35 s of work, stopped by the 10 s compute limit.
WIDE_SWEEP = {"surface": "rastrigin", "optimizer": "nadam", "steps": 5000,
              "grid": {"beta1": [0.9], "lr": {"low": 1e-4, "high": 1, "num": 250_000, "log": True}}}


def scaling(clients: int, seconds: float) -> None:
    """The page's usual request from `clients` clients against 1 and 2 worker processes, in one run."""
    body = encoded(DRAWN, "base64")
    print(f"\nworker processes: {clients} clients for {seconds:g} s, each posting the page's usual request "
          "(12 runs x 1,000 steps, points and losses in base64)")
    rates = {}
    for workers in (1, 2):
        proc, url, _ = start_server(workers)
        time.sleep(5)  # start_server returns at the first answer; every process must be up before the clients connect
        try:
            run_async(concurrent(url, body, clients, min(3.0, seconds)))  # warm every process's caches
            res = run_async(concurrent(url, body, clients, seconds))
        finally:
            proc.terminate()
            proc.wait(30)
        lat = res["latencies"]
        rates[workers] = len(lat) / res["elapsed"]
        print(f"  --workers {workers}: {len(lat)} requests, {len(res['errors'])} errors, p50 {ms(pct(lat, 50))}"
              f"  p99 {ms(pct(lat, 99))}  | {rates[workers]:6.0f} req/s  | client cores {res['client_cores']:.2f}")
    print(f"  throughput, 2 workers / 1 worker: {rates[2] / rates[1]:.2f}x   (load average now {os.getloadavg()[0]:.2f})")


def pages_during_sweeps(url: str, seconds: float = 8.0) -> None:
    """`/` and `/api/catalog`, one request at a time, while two limit-breaking sweeps hold the compute pool."""
    import threading

    def sweep(out: list):
        with httpx.stream("POST", url + "/api/sweeps/stream", json=WIDE_SWEEP, timeout=120) as r:
            for line in r.iter_lines():
                out.append(json.loads(line)["type"])

    ends = [[], []]
    threads = [threading.Thread(target=sweep, args=(e,)) for e in ends]
    for t in threads:
        t.start()
    while not all(len(e) > 1 for e in ends):  # both sweeps are computing
        time.sleep(0.01)
    latencies = {"/": [], "/api/catalog": []}
    with httpx.Client(base_url=url, timeout=60) as client:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            for path, lat in latencies.items():
                t0 = time.perf_counter()
                assert client.get(path).status_code == 200
                lat.append(time.perf_counter() - t0)
    still = sum(e[-1] not in ("error", "done") for e in ends)
    for t in threads:
        t.join()
    print(f"\nwhile two sweeps past the compute limit run ({still} of 2 still running when the last request ended;"
          f" they ended with: {', '.join(e[-1] for e in ends)})")
    for path, lat in latencies.items():
        print(f"  GET {path:12s} {len(lat)} requests  p50 {ms(pct(lat, 50))}  p99 {ms(pct(lat, 99))}")


def run_async(coro):
    """Run a coroutine on uvloop (installed with uvicorn[standard]) when it is there: the client's own loop costs less."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def limit_breaking_tune(limit: float = 4.0) -> None:
    """How long a tune far past the compute limit takes to be refused, as a ratio to that limit."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings, get_settings

    app = create_app()
    settings = Settings(warm_on_startup=False, max_compute_seconds=limit)
    app.dependency_overrides[get_settings] = lambda: settings
    body = {"surface": "rastrigin", "optimizers": [{"optimizer": "nadam"}], "steps": 5000, "num": 200_000}
    with TestClient(app) as client:
        t0 = time.perf_counter()
        r = client.post("/api/tune", json=body)
        seconds = time.perf_counter() - t0
    print(f"\na tune of 200,000 lr x 5,000 steps against a {limit:g} s compute limit: HTTP {r.status_code} after "
          f"{seconds:.2f} s = {seconds / limit:.2f}x the limit   target <= 1.5x  {'OK' if seconds <= 1.5 * limit else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="sequential requests per case")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the concurrent run")
    parser.add_argument("--stream-rounds", type=int, default=3)
    parser.add_argument("--only", choices=("sequential", "stream", "concurrent", "workers", "sweeps", "limit"),
                        help="run one part (start-up is always measured)")
    args = parser.parse_args()

    core.warm()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; Python {sys.version.split()[0]}")
    proc, url, startup = start_server()
    try:
        print(f"\nfresh `gradscape serve` (warm numba cache) to first trajectory answered: {startup:.2f} s")
        for what, code in (("python -c pass", "pass"), ("import app.main", "import app.main"),
                           ("import core; core.warm()", "import core; core.warm()")):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
            print(f"  of which, in a fresh process: {what:26s} {time.perf_counter() - t0:5.2f} s")

        print(f"\n12 runs x 1,000 steps, {args.requests} requests one at a time over keep-alive loopback")
        for label, body in (("full answer", TWELVE), ("points+losses", DRAWN)) if args.only in (None, "sequential") else ():
            p50 = {}
            for encoding in ENCODINGS:
                res = sequential(url, encoded(body, encoding), args.requests)
                compute, whole = core_time(encoded(body, encoding), 50)
                e2e, server = res["e2e"], res["server"]
                p50[encoding] = pct(server, 50), pct(e2e, 50)
                print(f"  {label:14s} {encoding:6s} {res['bytes'] / 1e6:6.2f} MB  end-to-end p50 {ms(pct(e2e, 50))}"
                      f"  p99 {ms(pct(e2e, 99))}  | server p50 {ms(pct(server, 50))}  p99 {ms(pct(server, 99))}"
                      f"  | {1 / np.mean(e2e):6.0f} req/s")
                print(f"  {'':21s} in-process: core validate+compute {ms(compute)},  + slicing and writing {ms(whole)}"
                      f"  | server p50 / core compute = {pct(server, 50) / compute:5.1f}x,"
                      f" server p50 / in-process whole = {pct(server, 50) / whole:4.2f}x")
            (json_server, json_e2e), (b64_server, b64_e2e) = p50["json"], p50["base64"]
            print(f"  {'':21s} json / base64: server p50 {json_server / b64_server:4.1f}x, end-to-end p50 {json_e2e / b64_e2e:4.1f}x")

        print(f"\n16 runs x 100,000 steps streamed (NDJSON), {args.stream_rounds} rounds")
        compute, _ = core_time(LONG, 1, whole=False)
        for encoding in ENCODINGS if args.only in (None, "stream") else ():
            runs = [streamed(url, encoded(LONG, encoding)) for _ in range(args.stream_rounds)]
            first = np.median([r["first"] for r in runs])
            total = np.median([r["total"] for r in runs])
            print(f"  {encoding:6s} first chunk {ms(first)}   total {total:6.2f} s   {runs[0]['bytes'] / 1e6:7.1f} MB"
                  f" in {runs[0]['lines']} lines   | core compute alone {compute:5.2f} s ({total / compute:4.1f}x)")

        print(f"\n{args.clients} concurrent clients for {args.seconds:g} s, each posting 12 runs x 1,000 steps")
        for label, body in (("points+losses", DRAWN), ("full answer", TWELVE)) if args.only in (None, "concurrent") else ():
            for encoding in ENCODINGS:
                cpu0, faults0 = cpu_seconds(proc.pid)
                res = run_async(concurrent(url, encoded(body, encoding), args.clients, args.seconds))
                cpu1, faults1 = cpu_seconds(proc.pid)
                server_cores = (cpu1 - cpu0) / res["elapsed"]
                lat = res["latencies"]
                print(f"  {label:14s} {encoding:6s} {len(lat)} requests, {len(res['errors'])} errors,"
                      f" p50 {ms(pct(lat, 50))}  p99 {ms(pct(lat, 99))}  | {len(lat) / res['elapsed']:6.0f} req/s"
                      f"  | cores used: server {server_cores:.2f}, client {res['client_cores']:.2f}"
                      f"  | server page faults per request {(faults1 - faults0) / max(len(lat), 1):5.0f}")

        if args.only in (None, "sweeps"):
            pages_during_sweeps(url)
    finally:
        proc.terminate()
        proc.wait(10)
    if args.only in (None, "workers"):
        scaling(args.clients, args.seconds)
    if args.only in (None, "limit"):
        limit_breaking_tune()


if __name__ == "__main__":
    main()
