"""Benchmark of the page in headless Chromium against a real `gradscape serve`.

    python bench/page_bench.py [--samples 60] [--loads 5] [--drag-seconds 3] [--latencies 0,50,100,200] [--docs docs]

Prints:
1. slider change -> completed redraw: the time from a slider's input event to
   the page's announcement that every view on screen (contour trajectories and
   loss) has drawn the change, p50 and p95, with 6 optimizers x 500 steps; and
   to just after the next frame, when the browser has painted it;
2. dragging that slider with the mouse, back and forth at 60 moves a second:
   how many redraws complete per second while the drag lasts, with
   Playwright's mouse (each move waits until the page has taken the last, so
   a busy page also slows the mouse) and with a free mouse (moves sent on a
   60 Hz clock whatever the page does, as a hand moves one; Chromium merges
   the moves that arrive while the page is busy);
   both at each round trip of Chromium's network emulation (CDP
   Network.emulateNetworkConditions, added latency per request), with the
   page's own engine (static/js/engine.js) and with every run asked of the
   server, as before the page had one;
3. the page's engine alone: computing the 6 optimizers x 500 steps in Chromium;
4. page load -> first animated frame, from navigation start: in a fresh
   browser profile (a first visit: Plotly.js is compiled from scratch) and in
   a profile that has loaded the page before (Chromium's code cache is hot),
   as a returning classroom browser would.

    python bench/page_bench.py --network [--samples 12]

measures surface=network instead (the runs trained on the server, 6 optimizers x 500 steps of a 2-16-16-2
network on 200 moons and a 51 x 51 plane: the preset "The same race at torch's defaults"): the time from a
change of state to the first drawn paths (target 1.5 s); slider moves one after another, as a drag makes
them -> redrawn, the moved run trained and put on the plane drawn, p50 and p95 (target 300 ms); and a move
followed by stillness -> the PCA plane fitted to the new paths and drawn.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import io
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from playwright.async_api import async_playwright  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from app.presets import PRESETS  # noqa: E402
from browser_helpers import (CHROMIUM_ARGS, INIT_SCRIPT, SLIDER_LATENCY_JS, VIEWPORT, chromium, launch,  # noqa: E402
                             wait_drawn, watch)

MOVES_PER_SECOND = 60
from conftest import LiveServer  # noqa: E402

SIX_BY_500 = ("surface=beale&start=0.7,1.4&steps=500&opt=sgd,momentum,nesterov,adagrad,rmsprop,adam"
              "&sgd.lr=0.01&momentum.lr=0.01&nesterov.lr=0.01&adagrad.lr=0.5&rmsprop.lr=0.01&adam.lr=0.05&autoplay=0")
SLIDER = "adam.lr"


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def open_six(browser, url: str, latency: float, engine: str):
    """The six-run page, drawn; then every request of it delayed by `latency` ms; its runs from `engine`."""
    page = browser.new_page(viewport=VIEWPORT)
    errors = watch(page)
    page.goto(f"{url}/?{SIX_BY_500}")
    wait_drawn(page, "data")
    if engine == "server":
        page.evaluate("() => { window.gradscape.scene.engines.page = false; window.gradscape.scene.cache = new Map(); }")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": latency, "downloadThroughput": -1, "uploadThroughput": -1})
    return page, errors


def slider_latency(browser, url: str, samples: int, latency: float = 0, engine: str = "page") -> list[dict]:
    page, errors = open_six(browser, url, latency, engine)
    out = []
    for i in range(samples + 5):
        # Sweep the slider back and forth across the middle of its range: every move is a real change.
        position = 400 + (i * 37) % 200
        r = page.evaluate(SLIDER_LATENCY_JS, [SLIDER, position])
        if i >= 5:  # the first moves warm Plotly's code paths
            out.append(r)
        page.wait_for_timeout(60)  # let the throttle settle, so each move is measured alone
    if errors:
        print("page errors:", *errors, sep="\n  ")
    page.close()
    return out


def drag_rate(browser, url: str, seconds: float, latency: float = 0, engine: str = "page") -> tuple[float, float]:
    """Redraws per second while the mouse drags the lr slider to and fro, and mouse moves per second sent."""
    page, errors = open_six(browser, url, latency, engine)
    page.get_by_role("button", name="Adam hyperparameters", exact=True).click()
    box = page.locator(f'input[type="range"][data-key="{SLIDER}"]').bounding_box()
    y = box["y"] + box["height"] / 2
    left, right = box["x"] + 0.35 * box["width"], box["x"] + 0.75 * box["width"]
    page.mouse.move(left, y)
    page.mouse.down()
    began = page.evaluate("performance.now()")
    moves, t0 = 0, time.monotonic()
    while time.monotonic() < t0 + seconds:
        phase = (moves % MOVES_PER_SECOND) / MOVES_PER_SECOND  # one sweep there and back a second
        page.mouse.move(left + (right - left) * (1 - abs(2 * phase - 1)), y)
        moves += 1
        # On a 60-a-second clock: a move that took long (Chromium hands mouse moves to the page once a
        # frame) is not followed by a full sleep as well.
        time.sleep(max(0.0, t0 + moves / MOVES_PER_SECOND - time.monotonic()))
    ended = page.evaluate("performance.now()")
    page.mouse.up()
    drawn = page.evaluate("([a, b]) => window.__drawn.filter((e) => e.kind === 'data' && e.at >= a && e.at <= b).length",
                          [began, ended])
    if errors:
        print("page errors:", *errors, sep="\n  ")
    page.close()
    span = (ended - began) / 1000
    return drawn / span, moves / span


def free_drag_rate(url: str, seconds: float, latency: float = 0, engine: str = "page") -> tuple[float, float]:
    """As drag_rate, but the mouse moves on its own clock, as a hand's does: each move is sent without
    waiting for the page to take the last (Playwright's own mouse waits for that), and Chromium merges
    the moves a busy page has not taken yet. Runs in a thread of its own, on Playwright's async API."""
    found = {}

    async def drag():
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport=VIEWPORT)
            await page.add_init_script(INIT_SCRIPT)
            await page.goto(f"{url}/?{SIX_BY_500}")
            await page.wait_for_function("() => window.__drawn.some((e) => e.kind === 'data')", timeout=30_000)
            if engine == "server":
                await page.evaluate("() => { window.gradscape.scene.engines.page = false; window.gradscape.scene.cache = new Map(); }")
            cdp = await page.context.new_cdp_session(page)
            await cdp.send("Network.enable")
            await cdp.send("Network.emulateNetworkConditions",
                           {"offline": False, "latency": latency, "downloadThroughput": -1, "uploadThroughput": -1})
            await page.get_by_role("button", name="Adam hyperparameters", exact=True).click()
            box = await page.locator(f'input[type="range"][data-key="{SLIDER}"]').bounding_box()
            y = box["y"] + box["height"] / 2
            left, right = box["x"] + 0.35 * box["width"], box["x"] + 0.75 * box["width"]
            await page.mouse.move(left, y)
            await page.mouse.down()
            began = await page.evaluate("performance.now()")
            sent, moves, t0 = [], 0, time.monotonic()
            while time.monotonic() < t0 + seconds:
                phase = (moves % MOVES_PER_SECOND) / MOVES_PER_SECOND
                sent.append(asyncio.ensure_future(page.mouse.move(left + (right - left) * (1 - abs(2 * phase - 1)), y)))
                moves += 1
                await asyncio.sleep(max(0.0, t0 + moves / MOVES_PER_SECOND - time.monotonic()))
            await asyncio.gather(*sent)
            ended = await page.evaluate("performance.now()")
            await page.mouse.up()
            drawn = await page.evaluate(
                "([a, b]) => window.__drawn.filter((e) => e.kind === 'data' && e.at >= a && e.at <= b).length", [began, ended])
            await browser.close()
            span = (ended - began) / 1000
            found["rate"] = (drawn / span, moves / span)

    worker = threading.Thread(target=lambda: asyncio.run(drag()))
    worker.start()
    worker.join()
    return found["rate"]


# 6 optimizers x 500 steps as the page computes them for SIX_BY_500, timed one computation at a time.
COMPUTE_JS = """async (repeats) => {
  const scene = window.gradscape.scene;
  const body = scene.body(scene.s);
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    const runs = await scene.engines.runs(body);
    times.push(performance.now() - t0);
    if (runs.some((r) => r.engine !== "page")) throw new Error("a run went to the server");
  }
  return times;
}"""


def compute_times(browser, url: str, repeats: int = 60) -> list[float]:
    page, errors = open_six(browser, url, 0, "page")
    times = page.evaluate(COMPUTE_JS, repeats)[5:]  # the first ones warm V8's compilers
    if errors:
        print("page errors:", *errors, sep="\n  ")
    page.close()
    return times


def first_frame(page, url: str) -> float:
    page.goto(f"{url}/")
    return wait_drawn(page, "first-frame")["at"]


def load_times(playwright, url: str, loads: int) -> tuple[list[float], list[float]]:
    cold = []
    for _ in range(loads):
        browser = launch(playwright)
        page = browser.new_page(viewport=VIEWPORT)
        watch(page)
        cold.append(first_frame(page, url))
        browser.close()
    with tempfile.TemporaryDirectory() as profile:
        context = launch(playwright, profile)
        warm = []
        for i in range(loads + 2):
            page = context.new_page()
            watch(page)
            t = first_frame(page, url)
            if i >= 2:  # Chromium caches compiled scripts from the third load on
                warm.append(t)
            page.close()
        context.close()
    return cold, warm


def small_png(png: bytes, path: Path) -> None:
    """A screenshot as a palette PNG: a few hundred colours look the same and weigh a third."""
    from PIL import Image

    # Octree keeps the optimizer colours exact where median cut shifts them (orange #E69F00 to #D69E2E).
    rgb = Image.open(io.BytesIO(png)).convert("RGB")
    rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(path, optimize=True)


def screenshots(browser, url: str, folder: Path) -> None:
    """The README's pictures: the first preset at 1280x720, presenting with large text, the saddle at
    1920x1080, the first preset at 800x600 and in Chinese, and an embed in a 640x360 iframe, in English and
    in Chinese."""
    shots = [("screenshot.png", VIEWPORT, f"/?{PRESETS[0].query}&autoplay=0"),
             ("presenter.png", VIEWPORT, f"/?{PRESETS[0].query}&autoplay=0&large=1"),
             ("screenshot-1920x1080.png", {"width": 1920, "height": 1080}, f"/?{PRESETS[1].query}&autoplay=0"),
             ("screenshot-800x600.png", {"width": 800, "height": 600}, f"/?{PRESETS[0].query}&autoplay=0"),
             ("screenshot-zh-CN.png", VIEWPORT, f"/?{PRESETS[0].query}&autoplay=0&lang=zh-CN")]
    for name, viewport, path in shots:
        page = browser.new_page(viewport=viewport)
        watch(page)
        page.goto(url + path)
        wait_drawn(page, "data")
        page.wait_for_timeout(500)  # the legend and the heads' rings settle after the draw
        small_png(page.screenshot(), folder / name)
        page.close()
    for name, lang in (("embed-640x360.png", ""), ("embed-zh-CN-640x360.png", "&lang=zh-CN")):
        page = browser.new_page(viewport={"width": 640, "height": 360})
        src = html.escape(f"{url}/embed?{PRESETS[1].query}&autoplay=0{lang}")
        page.set_content(f'<link rel="icon" href="data:,"><body style="margin:0"><iframe src="{src}" width="640" height="360" style="border:0"></iframe></body>')
        page.frames[1].wait_for_function("() => document.querySelector('#legend .legend-item') !== null")
        page.wait_for_timeout(800)
        small_png(page.screenshot(), folder / name)
        page.close()


NETWORK_PRESET = "net_torch_defaults"
# A change to a state, and the time until every view has drawn it (the page's "data" announcement).
CHANGE_JS = """async (query) => {
  const { parse } = await import('/static/js/state.js');
  const g = window.gradscape;
  const { state } = parse(query, g.catalog);
  const drawn = new Promise((resolve) => document.addEventListener("gradscape:drawn", function seen(e) {
    if (e.detail.kind !== "data") return;
    document.removeEventListener("gradscape:drawn", seen);
    resolve(e.detail);
  }));
  const at = performance.now();
  g.scene.update(state, at, "push");
  return (await drawn).at - at;
}"""


# A slider move, and the time until the plane is fitted to the new paths and drawn (the page's "data"
# announcement whose plane is "fitted", after the settings have been still for the page's wait).
FITTED_JS = """async ([key, position]) => {
  const el = document.querySelector(`input[type="range"][data-key="${key}"]`);
  const drawn = new Promise((resolve) => document.addEventListener("gradscape:drawn", function seen(e) {
    if (e.detail.kind !== "data" || e.detail.plane !== "fitted") return;
    document.removeEventListener("gradscape:drawn", seen);
    resolve(e.detail);
  }));
  el.value = String(position);
  const event = new Event("input", { bubbles: true });
  el.dispatchEvent(event);
  return (await drawn).at - event.timeStamp;
}"""


def network_times(browser, url: str, samples: int) -> tuple[list[float], list[dict], list[float]]:
    """(change -> first drawn paths of the network preset, in ms; slider moves -> redrawn on it, the new run on
    the plane drawn; a slider move and then stillness -> the plane fitted to the new paths and drawn)."""
    preset = next(p for p in PRESETS if p.id == NETWORK_PRESET).query
    page = browser.new_page(viewport=VIEWPORT)
    errors = watch(page)
    page.goto(f"{url}/?{PRESETS[0].query}&autoplay=0")
    wait_drawn(page, "data")
    first = []
    for i in range(samples + 1):
        # Another data seed each time, so every change trains afresh; back to a 2-D surface in between.
        took = page.evaluate(CHANGE_JS, f"{preset}&net.seed={i}&autoplay=0")
        if i:  # the first change also loads the page's network module
            first.append(took)
        page.evaluate(CHANGE_JS, f"{PRESETS[0].query}&autoplay=0")
    page.evaluate(CHANGE_JS, f"{preset}&autoplay=0")
    page.locator('button[aria-controls="hp-adam"]').click()
    # Moves one after another, as a drag makes them: each new run is put on the plane drawn.
    moves = [page.evaluate(SLIDER_LATENCY_JS, [SLIDER, 400 + (i * 37) % 200]) for i in range(samples)]
    # A move and then stillness: the plane made of the runs is fitted again to the new paths.
    fitted = []
    for i in range(samples):
        page.wait_for_timeout(1500)
        fitted.append(page.evaluate(FITTED_JS, [SLIDER, 420 + (i * 53) % 160]))
    if errors:
        raise RuntimeError(f"the page reported errors: {errors}")
    page.close()
    return first, moves, fitted


def network_main(samples: int) -> int:
    server = LiveServer()
    try:
        with sync_playwright() as pw:
            browser = launch(pw)
            first, moves, fitted = network_times(browser, server.url, samples)
            browser.close()
    finally:
        server.stop()
    drawn = [m["drawn"] for m in moves]
    print(f"surface=network, {NETWORK_PRESET}: 6 optimizers x 500 steps, 2-16-16-2 on 200 moons, 51 x 51 plane, "
          f"{samples} of each:")
    print(f"  change -> first drawn paths  p50 {percentile(first, 50):6.0f} ms  p95 {percentile(first, 95):6.0f} ms"
          f"   target 1500 ms: p95 / target {percentile(first, 95) / 1500:.2f}")
    print(f"  slider move -> redrawn       p50 {percentile(drawn, 50):6.0f} ms  p95 {percentile(drawn, 95):6.0f} ms"
          f"   target  300 ms: p95 / target {percentile(drawn, 95) / 300:.2f}")
    print(f"  slider move -> plane fitted  p50 {percentile(fitted, 50):6.0f} ms  p95 {percentile(fitted, 95):6.0f} ms"
          "   (after the settings are still; no target)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=60, help="slider moves measured")
    parser.add_argument("--loads", type=int, default=5, help="page loads measured in each profile")
    parser.add_argument("--drag-seconds", type=float, default=3, help="how long the slider is dragged")
    parser.add_argument("--docs", metavar="DIR", type=Path, help="also save the README's screenshots in this folder")
    parser.add_argument("--latencies", default="0,50,100,200", help="round trips to emulate, in ms")
    parser.add_argument("--network", action="store_true", help="measure surface=network instead (--samples of each)")
    args = parser.parse_args()
    if args.network:
        return network_main(args.samples)
    latencies = [float(v) for v in args.latencies.split(",")]
    server = LiveServer()
    rows = []
    try:
        with sync_playwright() as pw:
            browser = launch(pw)
            if args.docs:
                screenshots(browser, server.url, args.docs)
            for latency in latencies:
                for engine in ("page", "server"):
                    lat = slider_latency(browser, server.url, args.samples, latency, engine)
                    rate, moves = drag_rate(browser, server.url, args.drag_seconds, latency, engine)
                    free, _ = free_drag_rate(server.url, args.drag_seconds, latency, engine)
                    rows.append((latency, engine, lat, rate, moves, free))
            compute = compute_times(browser, server.url)
            browser.close()
            cold, warm = load_times(pw, server.url, args.loads)
    finally:
        server.stop()
    print(f"dragging Adam's lr slider, 6 optimizers x 500 steps ({args.samples} moves timed, {args.drag_seconds:g} s dragged"
          " at 60 moves/s), by emulated round trip:")
    print("  round trip  runs from   drawn p50   p95    painted p50   p95    redraws/s  per move  free mouse")
    for latency, engine, lat, rate, moves, free in rows:
        drawn, painted = [r["drawn"] for r in lat], [r["painted"] for r in lat]
        # Chromium acknowledges a mouse move once the page has taken it, so the moves sent per second
        # fall when the page is busy: one redraw per move means the page kept up with the mouse.
        print(f"  {latency:6.0f} ms   {engine:9s} {percentile(drawn, 50):7.1f} {percentile(drawn, 95):7.1f} ms"
              f" {percentile(painted, 50):9.1f} {percentile(painted, 95):7.1f} ms {rate:9.1f} {rate / moves:9.2f} {free:10.1f}")
    print("  targets: at 0 ms drawn p95 <= 16 ms; at 100 ms at least 30 redraws per second")
    print("  redraws/s: Playwright's mouse, which sends a move only once the page has taken the last;"
          " free mouse: moves on a 60 Hz clock, as a hand's")
    print(f"the page's engine, 6 optimizers x 500 steps, {len(compute)} computations (target 5 ms):")
    print(f"  p50 {percentile(compute, 50):5.2f} ms   p95 {percentile(compute, 95):5.2f} ms")
    print(f"page load -> first animated frame, median of {args.loads} (target 1200 ms):")
    print(f"  fresh profile    {statistics.median(cold):6.0f} ms   (each: {', '.join(f'{t:.0f}' for t in cold)})")
    print(f"  returning browser {statistics.median(warm):5.0f} ms   (each: {', '.join(f'{t:.0f}' for t in warm)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
