"""Benchmark of typed formulas, every figure measured side by side in one run.

    python bench/formula_bench.py [--quick] [--page] [--screenshot PNG]

Prints:
1. server time of the first request for a formula never seen before (12 runs x
   1,000 steps, POST /api/trajectories in process): parse, tape, runs and the
   JSON answer, against the same request on the built-in Rosenbrock. Target:
   <= 50 ms, with no compile (the tape kernel is compiled once, at start-up);
2. ns per step of an Adam trajectory on the typed Rosenbrock against the
   built-in Rosenbrock kernel. Target: <= 3x;
3. for reference, the surface alone (a 500 x 500 grid) and a sweep, typed
   against built-in, and the landmark search of a new formula;
4. with --page, in headless Chromium against a real `gradscape serve`: the
   last keystroke of a new formula -> the contour and 6 runs x 500 steps
   redrawn (the page's "data" announcement and the last plotly_afterplot).
   Target: <= 200 ms.
Ratios are medians of per-round ratios, so shared-machine noise hits both
sides of each ratio alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import core  # noqa: E402
from core import formula  # noqa: E402

ROSENBROCK = "(1-x)^2 + 100*(y-x^2)^2"
DOMAIN = [-2, 2, -1, 3]
START = (-1.2, 1.0)
OPTIMIZERS = list(core.OPTIMIZERS)


def median_ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b))


def request(surface, runs: int = 12, steps: int = 1000) -> dict:
    opts = (OPTIMIZERS * runs)[:runs]
    return {"surface": surface, "start": list(START), "steps": steps, "encoding": "base64",
            "fields": ["points", "losses"], "runs": [{"optimizer": o} for o in opts]}


def first_requests(rounds: int) -> tuple[list[float], list[float]]:
    from fastapi.testclient import TestClient

    from app.main import create_app

    typed, builtin = [], []
    with TestClient(create_app()) as client:
        client.post("/api/trajectories", json=request("rosenbrock"))  # first-call costs outside formulas
        for r in range(rounds):
            # A new constant each round: a formula the server has never parsed.
            body = request({"formula": f"(1-x)^2 + {100 + r}*(y-x^2)^2", "domain": DOMAIN})
            t = time.perf_counter()
            answer = client.post("/api/trajectories", json=body)
            typed.append(time.perf_counter() - t)
            assert answer.status_code == 200, answer.text
            t = time.perf_counter()
            answer = client.post("/api/trajectories", json=request("rosenbrock"))
            builtin.append(time.perf_counter() - t)
        # Every hostile formula of the tests, through the API: each answer is a 422.
        sys.path.insert(0, str(ROOT / "tests"))
        from test_formula import HOSTILE

        hostile = []
        for text in HOSTILE:
            t = time.perf_counter()
            answer = client.post("/api/trajectories", json=request({"formula": text}))
            hostile.append((time.perf_counter() - t, text))
            assert answer.status_code == 422, answer.text
    return typed, builtin, hostile


def stepping(surface, steps: int) -> float:
    run = core.Run(surface, "adam", START, steps, {"lr": 1e-3})
    t = time.perf_counter()
    run.advance(steps)
    return (time.perf_counter() - t) / steps


def grid(surface) -> float:
    t = time.perf_counter()
    core.surface_grid(surface, resolution=500)
    return (time.perf_counter() - t) / 500**2


def sweep(surface, n: int, steps: int) -> float:
    t = time.perf_counter()
    core.sweep(surface, "adam", START, steps, {"lr": np.geomspace(1e-4, 1e-1, n), "beta1": np.linspace(0.5, 0.99, n)})
    return (time.perf_counter() - t) / (n * n * steps)


PAGE = ("surface=custom&f=x&domain=-2,2,-1,3&start=-1.2,1&steps=500&opt=sgd,momentum,nesterov,adagrad,rmsprop,adam"
        "&sgd.lr=0.001&momentum.lr=0.0005&nesterov.lr=0.0005&adagrad.lr=0.5&rmsprop.lr=0.01&adam.lr=0.05&autoplay=0")

# Type the last character of a formula as a keystroke; resolve with the times from that event to the
# page's "data" announcement of the redraw it caused and to the last plotly_afterplot.
KEYSTROKE_JS = """
async ([head, last]) => {
  const box = document.getElementById("formula");
  const plots = [...document.querySelectorAll(".js-plotly-plot")].filter((gd) => gd.offsetParent !== null);
  let afterplot = 0;
  const mark = () => { afterplot = performance.now(); };
  plots.forEach((gd) => gd.on("plotly_afterplot", mark));
  const drawn = new Promise((resolve, reject) => {
    const late = setTimeout(() => reject(new Error("no redraw after typing")), 10000);
    document.addEventListener("gradscape:drawn", function seen(e) {
      if (e.detail.kind !== "data") return;
      document.removeEventListener("gradscape:drawn", seen);
      clearTimeout(late);
      resolve(e.detail);
    });
  });
  box.focus();
  box.value = head;
  box.dispatchEvent(new InputEvent("input", { bubbles: true }));
  box.value = head + last;
  const event = new InputEvent("input", { bubbles: true, data: last, inputType: "insertText" });
  box.dispatchEvent(event);
  const detail = await drawn;
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  plots.forEach((gd) => gd.removeListener("plotly_afterplot", mark));
  return { drawn: detail.at - event.timeStamp, afterplot: afterplot - event.timeStamp };
}
"""


# The reference in the same run: a built-in surface picked from the menu, which also redraws the contour and runs.
SELECT_JS = """
async (surface) => {
  const el = document.getElementById("surface");
  const drawn = new Promise((resolve) => {
    document.addEventListener("gradscape:drawn", function seen(e) {
      if (e.detail.kind !== "data") return;
      document.removeEventListener("gradscape:drawn", seen);
      resolve(e.detail);
    });
  });
  el.value = surface;
  const event = new Event("change", { bubbles: true });
  el.dispatchEvent(event);
  const detail = await drawn;
  return detail.at - event.timeStamp;
}
"""
BUILTIN = PAGE.replace("surface=custom&f=x&domain=-2,2,-1,3&", "surface=rosenbrock&")


def keystroke_latency(samples: int, screenshot: str | None) -> tuple[list[dict], list[float]]:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT / "tests"))
    from browser_helpers import VIEWPORT, launch, wait_drawn, watch
    from conftest import LiveServer

    server = LiveServer()
    out = []
    try:
        with sync_playwright() as pw:
            browser = launch(pw)
            page = browser.new_page(viewport=VIEWPORT)
            errors = watch(page)
            page.goto(f"{server.url}/?{PAGE}")
            wait_drawn(page, "data")
            for i in range(samples + 3):
                # A formula the server has never seen: Rosenbrock with a new constant each time.
                text = f"(1-x)^2 + {100 + i}*(y-x^2)^2"
                r = page.evaluate(KEYSTROKE_JS, [text[:-1], text[-1]])
                if i >= 3:  # the first redraws warm Plotly's code paths
                    out.append(r)
                page.wait_for_timeout(150)
            menu = []
            page.goto(f"{server.url}/?{BUILTIN}")
            wait_drawn(page, "data")
            for i in range(samples + 3):
                t = page.evaluate(SELECT_JS, ["himmelblau", "rosenbrock", "beale"][i % 3])
                if i >= 3:
                    menu.append(t)
                page.wait_for_timeout(150)
            if screenshot:
                page.goto(f"{server.url}/?{SCREENSHOT}")
                wait_drawn(page, "data")
                page.wait_for_function("() => document.getElementById('formula-status').dataset.kind === 'ok'")
                page.screenshot(path=screenshot)
            if errors:
                print("page errors:", *errors, sep="\n  ")
            browser.close()
    finally:
        server.stop()
    return out, menu


SCREENSHOT = ("surface=custom&f=-2*exp(-((x%20-%201)%5E2%20%2B%20y%5E2))%20-%20exp(-((x%20%2B%201.5)%5E2%20%2B%20(y%20-%201)"
              "%5E2))%20%2B%200.05*(x%5E2%20%2B%20y%5E2)&domain=-4,4,-3,3&start=-3.5,-2.5&steps=300"
              "&opt=sgd,momentum,rmsprop,adam&sgd.lr=0.3&momentum.lr=0.05&rmsprop.lr=0.02&adam.lr=0.05&autoplay=0")


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--page", action="store_true", help="also time a keystroke to the redraw in Chromium")
    ap.add_argument("--samples", type=int, default=30, help="formulas typed with --page")
    ap.add_argument("--screenshot", metavar="PNG", help="with --page: save the README's picture of a typed formula")
    args = ap.parse_args()
    rounds = 5 if args.quick else 15
    typed_surface = {"formula": ROSENBROCK, "domain": DOMAIN}
    core.warm()

    loops = core.engine.kernels().run_trajectory
    before = len(loops.signatures)
    typed, builtin, hostile = first_requests(rounds)
    print(f"compiled loop signatures before the first formula {before}, after {len(loops.signatures)} "
          "(equal: no compile for a formula)")
    print("1. first request for a new formula, 12 runs x 1,000 steps (server, in process)")
    print(f"   typed formula {statistics.median(typed) * 1e3:7.1f} ms   (max {max(typed) * 1e3:.1f} ms; target <= 50 ms)")
    print(f"   built-in      {statistics.median(builtin) * 1e3:7.1f} ms   ratio {median_ratio(typed, builtin):.2f}x")
    slowest = max(hostile)
    print(f"   {len(hostile)} hostile formulas, each a 422: median {statistics.median(h[0] for h in hostile) * 1e3:.2f} ms, "
          f"slowest {slowest[0] * 1e3:.2f} ms ({slowest[1][:24]!r}{'...' if len(slowest[1]) > 24 else ''})")

    steps = 20_000 if args.quick else 200_000
    stepping(typed_surface, 100), stepping("rosenbrock", 100)
    a, b = [], []
    for _ in range(rounds):
        a.append(stepping(typed_surface, steps))
        b.append(stepping("rosenbrock", steps))
    print("2. Adam trajectory step on Rosenbrock")
    print(f"   typed {statistics.median(a) * 1e9:6.1f} ns/step   built-in {statistics.median(b) * 1e9:6.1f} ns/step   "
          f"ratio {median_ratio(a, b):.2f}x (target <= 3x)")

    a, b = [], []
    for _ in range(rounds):
        a.append(grid(typed_surface))
        b.append(grid("rosenbrock"))
    print("3. for reference")
    print(f"   surface alone (grid)  typed {statistics.median(a) * 1e9:6.1f} ns/point  built-in "
          f"{statistics.median(b) * 1e9:6.1f} ns/point  ratio {median_ratio(a, b):.2f}x")
    n, s = (30, 200) if args.quick else (60, 500)
    a, b = [], []
    for _ in range(max(3, rounds // 3)):
        a.append(sweep(typed_surface, n, s))
        b.append(sweep("rosenbrock", n, s))
    print(f"   sweep {n}x{n} x {s} steps  typed {statistics.median(a) * 1e9:6.1f} ns/cell-step  built-in "
          f"{statistics.median(b) * 1e9:6.1f} ns/cell-step  ratio {median_ratio(a, b):.2f}x")
    times = []
    for r in range(rounds):
        spec = formula.custom_surface(f"(x^2 + y - 11)^2 + (x + y^2 - 7)^2 + {r}", formula.DEFAULT_DOMAIN)
        t = time.perf_counter()
        spec.resolved_landmarks({})
        times.append(time.perf_counter() - t)
    print(f"   landmarks of a new formula (Himmelblau, {formula.LANDMARK_STARTS}^2 Newton starts) "
          f"{statistics.median(times) * 1e3:.1f} ms")
    if args.page:
        lat, menu = keystroke_latency(args.samples, args.screenshot)
        drawn = [r["drawn"] for r in lat]
        after = [r["afterplot"] for r in lat]
        print(f"4. last keystroke of a new formula -> redrawn, 6 runs x 500 steps, {len(lat)} formulas (target 200 ms)")
        print(f"   data drawn       p50 {percentile(drawn, 50):6.1f} ms   p95 {percentile(drawn, 95):6.1f} ms")
        print(f"   last afterplot   p50 {percentile(after, 50):6.1f} ms   p95 {percentile(after, 95):6.1f} ms")
        print(f"   reference: a built-in surface picked from the menu -> redrawn, p50 {percentile(menu, 50):6.1f} ms   "
              f"p95 {percentile(menu, 95):6.1f} ms; typing / menu p50 ratio {percentile(drawn, 50) / percentile(menu, 50):.2f}x")


if __name__ == "__main__":
    main()
