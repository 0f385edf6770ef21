"""Benchmark of the page in headless Chromium against a real `gradscape serve`.

    python bench/page_bench.py [--samples 60] [--loads 5] [--screenshot docs/screenshot.png]

Prints:
1. slider change -> completed redraw: the time from a slider's input event to
   the last `plotly_afterplot` of the redraw it caused (contour trajectories
   and loss, both on screen), p50 and p95, with 6 optimizers x 500 steps;
2. page load -> first animated frame, from navigation start: in a fresh
   browser profile (a first visit: Plotly.js is compiled from scratch) and in
   a profile that has loaded the page before (Chromium's code cache is hot),
   as a returning classroom browser would.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from app.presets import PRESETS  # noqa: E402
from tests.browser_helpers import SLIDER_LATENCY_JS, VIEWPORT, launch, wait_drawn, watch  # noqa: E402
from tests.conftest import LiveServer  # noqa: E402

SIX_BY_500 = ("surface=beale&start=0.7,1.4&steps=500&opt=sgd,momentum,nesterov,adagrad,rmsprop,adam"
              "&sgd.lr=0.01&momentum.lr=0.01&nesterov.lr=0.01&adagrad.lr=0.5&rmsprop.lr=0.01&adam.lr=0.05&autoplay=0")
SLIDER = "adam.lr"


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def slider_latency(browser, url: str, samples: int) -> list[dict]:
    page = browser.new_page(viewport=VIEWPORT)
    errors = watch(page)
    page.goto(f"{url}/?{SIX_BY_500}")
    wait_drawn(page, "data")
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


def screenshot(browser, url: str, path: str) -> None:
    """The README's picture: the first preset at 1280x720, its runs drawn to the end."""
    page = browser.new_page(viewport=VIEWPORT)
    watch(page)
    page.goto(f"{url}/?{PRESETS[0].query}&autoplay=0")
    wait_drawn(page, "data")
    page.screenshot(path=path)
    page.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=60, help="slider moves measured")
    parser.add_argument("--loads", type=int, default=5, help="page loads measured in each profile")
    parser.add_argument("--screenshot", metavar="PNG", help="also save a screenshot of the page here")
    args = parser.parse_args()
    server = LiveServer()
    try:
        with sync_playwright() as pw:
            browser = launch(pw)
            if args.screenshot:
                screenshot(browser, server.url, args.screenshot)
            lat = slider_latency(browser, server.url, args.samples)
            browser.close()
            cold, warm = load_times(pw, server.url, args.loads)
    finally:
        server.stop()
    after = [r["afterplot"] for r in lat]
    print(f"slider -> redraw (plotly_afterplot), 6 optimizers x 500 steps, {len(after)} moves:")
    print(f"  p50 {percentile(after, 50):6.1f} ms   p95 {percentile(after, 95):6.1f} ms   (targets 50 / 100 ms)")
    print(f"page load -> first animated frame, median of {args.loads} (target 1500 ms):")
    print(f"  fresh profile    {statistics.median(cold):6.0f} ms   (each: {', '.join(f'{t:.0f}' for t in cold)})")
    print(f"  returning browser {statistics.median(warm):5.0f} ms   (each: {', '.join(f'{t:.0f}' for t in warm)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
