"""The map and the lr tuning, measured against their targets and against the core's own time.

    python bench/explore_bench.py [--rounds 15]

It starts `gradscape serve` on a free loopback port and prints, as medians over
the rounds:
  - a 64 x 64 map of 500 steps (momentum's lr x momentum on the ill-conditioned
    quadratic) through /api/sweeps/stream, and the same start-point map through
    /api/basins/stream: time to the first `rows` line and to the whole map, as
    server work (the route's own computations, timed in this process) and as a
    loopback client sees it; targets 50 ms and 150 ms;
  - tuning 7 optimizers x 64 learning rates x 1,000 steps: /api/tune's server
    time (its Server-Timing header) and a loopback client's; target 200 ms;
each next to core's time for the same work in this process (core.sweep,
core.tune_lr), so a loaded machine moves both sides of a ratio; and, in
headless Chromium (when Playwright and Chromium are there), whether the
timeline keeps animating while a 128 x 128 map of 5,000 steps streams in: the
longest gap between animation frames during the stream against the longest in
the second before it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import core  # noqa: E402
from app.schemas import BasinsRequest  # noqa: E402
from app.services import sweeps  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.api_bench import start_server  # noqa: E402

QUADRATIC = {"name": "quadratic", "kappa": 100}
MAP = {"surface": QUADRATIC, "optimizer": "momentum", "start": [-1.8, 1.0], "steps": 500,
       "grid": {"lr": {"low": 1e-4, "high": 1.0, "num": 64, "log": True}, "momentum": {"low": 0.0, "high": 0.99, "num": 64}}}
BASINS = {"surface": "himmelblau", "optimizer": "momentum", "steps": 500, "hyperparameters": {"lr": 0.01, "momentum": 0.9},
          "grid": {"x": {"low": -5, "high": 5, "num": 64}, "y": {"low": -5, "high": 5, "num": 64}}}
SEVEN = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam"]
TUNE = {"surface": "beale", "start": [1.0, 1.5], "steps": 1000, "num": 64, "optimizers": [{"optimizer": o} for o in SEVEN]}


def in_process(plan_and_blocks) -> tuple[float, float]:
    """Seconds to the first block and to the last, running the route's computations here."""
    t0 = time.perf_counter()
    blocks = plan_and_blocks()
    first = None
    for compute in blocks:
        compute()
        first = first or time.perf_counter() - t0
    return first, time.perf_counter() - t0


def over_http(client: httpx.Client, path: str, body: dict) -> tuple[float, float]:
    """Seconds to the first `rows` line and to the end of the stream, from a loopback client."""
    t0 = time.perf_counter()
    first = None
    with client.stream("POST", path, json=body) as r:
        for line in r.iter_lines():
            if first is None and line.startswith('{"type":"rows"'):
                first = time.perf_counter() - t0
            if line.startswith('{"type":"error"'):
                raise RuntimeError(line)
    return first, time.perf_counter() - t0


PAGE = ("surface=quadratic&surface.kappa=100&start=-1.8,1&steps=5000&opt=momentum&momentum.lr=0.02&loop=1&view=map"
        "&map.opt=momentum&map.x=lr&map.y=momentum&map.n=32")


def page_while_streaming(url: str, rounds: int) -> None:
    """Frame gaps of the playing timeline while the page streams a 128 x 128 map, and before."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("page: Playwright is not installed; skipped")
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from browser_helpers import VIEWPORT, chromium, launch, watch

    if chromium() is None:
        print("page: no Chromium; skipped")
        return
    done = "(n) => window.__drawn.filter((e) => e.kind === 'map' && (e.done || e.error)).length > n"
    during, before, first, whole = [], [], [], []
    with sync_playwright() as pw:
        browser = launch(pw)
        for _ in range(rounds):
            page = browser.new_page(viewport=VIEWPORT)
            watch(page)
            page.goto(f"{url}/?{PAGE}")
            page.wait_for_function(done, arg=0, timeout=60_000)
            page.wait_for_timeout(1200)  # a second of plain animation to compare with
            t0 = page.evaluate("performance.now()")
            page.locator('select[data-map="map.n"]').select_option("128")
            page.wait_for_function(done, arg=1, timeout=60_000)
            ev = page.evaluate("""(t0) => ({
                frames: window.__drawn.filter((e) => e.kind === "frame").map((e) => e.at),
                maps: window.__drawn.filter((e) => e.kind === "map" && e.at > t0).map((e) => [e.at, e.rows, e.done]) })""", t0)
            end = next(at for at, _, ok in ev["maps"] if ok)
            first.append(next(at for at, rows, _ in ev["maps"] if rows > 0) - t0)
            whole.append(end - t0)
            gaps = lambda a, b: max(np.diff([f for f in ev["frames"] if a <= f <= b] + [b]), default=float("nan"))  # noqa: E731
            during.append(gaps(t0, end))
            before.append(gaps(t0 - 1000, t0))
            page.close()
        browser.close()
    print(f"page: a 128 x 128 map of 5,000 steps while the timeline plays; ms, medians of {rounds} rounds")
    print(f"  change -> first rows drawn {statistics.median(first):7.1f},  -> whole map drawn {statistics.median(whole):7.1f}")
    print(f"  longest gap between animation frames: while streaming {statistics.median(during):6.1f}, "
          f"the second before {statistics.median(before):6.1f}")


def med(values) -> float:
    return statistics.median(values) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    settings = Settings(warm_on_startup=False)
    proc, url, _ = start_server()
    # One kept-alive connection, as the page's: a new one per request would time the handshake too.
    client = httpx.Client(base_url=url, timeout=60)
    try:
        core.warm()
        maps = {
            "lr x momentum map (/api/sweeps/stream)": (
                "/api/sweeps/stream", MAP, lambda: sweeps.sweep_blocks(sweeps.plan_sweep(MAP, settings)),
                lambda: core.sweep(QUADRATIC, "momentum", (-1.8, 1.0), 500, {
                    "lr": core.explore.lr_values("momentum", 64, (1e-4, 1.0)),
                    "momentum": [0.99 * q / 63 for q in range(64)]})),
            "basins map (/api/basins/stream)": (
                "/api/basins/stream", BASINS,
                lambda: sweeps.basin_blocks(*sweeps.plan_basins(BasinsRequest(**BASINS), settings)),
                lambda: core.basins("himmelblau", "momentum", [-5 + 10 * q / 63 for q in range(64)],
                                    [-5 + 10 * q / 63 for q in range(64)], 500, {"lr": 0.01, "momentum": 0.9})),
        }
        print("64 x 64 cells x 500 steps; ms, medians of", args.rounds, "rounds")
        for name, (path, body, blocks, reference) in maps.items():
            over_http(client, path, body)  # the server's first request of a kind pays for imports
            ref, local, remote = [], [], []
            for _ in range(args.rounds):
                t = time.perf_counter()
                reference()
                ref.append(time.perf_counter() - t)
                local.append(in_process(blocks))
                remote.append(over_http(client, path, body))
            core_ms = med(ref)
            print(f"  {name}")
            print(f"    core alone:                   {core_ms:7.1f}")
            first, whole = med(x[0] for x in local), med(x[1] for x in local)
            print(f"    server work: first rows {first:7.1f} (target 50),  whole {whole:7.1f} (target 150)"
                  f"  = {whole / core_ms:.2f} x core")
            first, whole = med(x[0] for x in remote), med(x[1] for x in remote)
            print(f"    loopback client: first rows {first:7.1f},  whole {whole:7.1f}  = {whole / core_ms:.2f} x core")

        print("tuning 7 optimizers x 64 lr x 1,000 steps; ms, medians of", args.rounds, "rounds")
        client.post("/api/tune", json=TUNE)
        ref, server, loopback = [], [], []
        for _ in range(args.rounds):
            t = time.perf_counter()
            core.tune_lr("beale", SEVEN, (1.0, 1.5), 1000, num=64)
            ref.append(time.perf_counter() - t)
            t = time.perf_counter()
            r = client.post("/api/tune", json=TUNE)
            loopback.append(time.perf_counter() - t)
            r.raise_for_status()
            server.append(float(r.headers["server-timing"].split("dur=")[1]) / 1e3)
        core_ms = med(ref)
        print(f"  core.tune_lr alone:            {core_ms:7.1f}")
        print(f"  /api/tune server time:         {med(server):7.1f} (target 200)  = {med(server) / core_ms:.2f} x core")
        print(f"  /api/tune loopback client:     {med(loopback):7.1f}")
        page_while_streaming(url, max(3, args.rounds // 5))
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
