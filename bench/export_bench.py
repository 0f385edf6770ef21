"""Export times and file sizes against the issue's targets, measured in one run.

    python bench/export_bench.py [--repeat N] [--out DIR] [--size WxH]

Exports Adam, SGD and RMSprop on Beale, 300 steps, as 300 frames at 800 x 600
(the size the targets were set for; --size 1280x720 for the default slide) in every format and view, best of N runs each, and
prints time / target. Then, side by side, the same frames drawn the naive way
(a full figure draw per frame) to show what the cached background saves, and
every optimizer at 20,000 steps, where each frame draws only its new points.
Last, the map view: a 64 x 64 lr x momentum map of 500 steps (and Himmelblau's
basins) computed, then drawn as PNG, SVG and HTML, each against the computing.

With --slides it measures only the slide files of the saddle escape preset at
1280 x 720 (6 optimizers, 300 steps): the pptx and the Beamer zip from the
`gradscape export` command, process start included, against 10 s each, and the
PNG and SVG stills of step 150 in a process that has drawn before (the server's
export job) and from the command line, against 2 s.

With --offline it measures only the interactive HTML file (its runs' sliders and the page's
engine inlined) of the saddle escape preset and of the Beale race: its size against 3 MB, and in
headless Chromium from file:// with every other request refused, the first drawn frame against 1 s
and a slider move to its redraw (median of N opens), beside the frames-only file's size.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import core  # noqa: E402
from app.exports import formats, frames as framing, options as export_options, scene as scenes  # noqa: E402

TARGETS = {"gif": 10.0, "mp4": 10.0, "html": 1.0, "pptx": 10.0, "beamer": 10.0, "png": 2.0, "svg": 2.0}
FRAMES, WIDTH, HEIGHT = 300, 800, 600


def scene(optimizers, steps: int) -> scenes.Scene:
    spec = core.SURFACES["beale"]
    return scenes.Scene.from_runs([core.trajectory(spec.id, o, (1.0, 1.5), steps, {"lr": 0.01}) for o in optimizers])


def timed(fn, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def export(sc: scenes.Scene, fmt: str, view: str, out: Path, repeat: int) -> tuple[float, int]:
    path = out / f"{view}.{fmt}"
    opts = formats.make_options(fmt, view, frames=FRAMES, width=WIDTH, height=HEIGHT)
    seconds = timed(lambda: formats.export(sc, opts, path), repeat)
    return seconds, path.stat().st_size


def naive_frames(sc: scenes.Scene, view: str, frames: int) -> float:
    """Seconds for `frames` frames drawn as a plain matplotlib loop would: the whole figure each time."""
    f = framing.Frames(sc, view, WIDTH, HEIGHT)
    for artist in f.dynamic:
        artist.set_animated(False)
    t0 = time.perf_counter()
    for step in export_options.frame_steps(sc.steps, frames):
        for i, coords in enumerate(f.coords):
            f._trail(i, 0, min(int(step) + 1, len(coords[0])))
        f._heads(int(step))
        f.canvas.draw()
        np.asarray(f.canvas.buffer_rgba())
    return time.perf_counter() - t0


def cached_frames(sc: scenes.Scene, view: str, frames: int) -> float:
    f = framing.Frames(sc, view, WIDTH, HEIGHT)
    t0 = time.perf_counter()
    for step in export_options.frame_steps(sc.steps, frames):
        f.frame(int(step))
    return time.perf_counter() - t0


def slides(out: Path, repeat: int) -> None:
    from app.exports.link import scene_from_state
    from app.presets import PRESETS
    from app.settings import get_settings

    saddle = next(p for p in PRESETS if p.id == "saddle_escape")
    import os
    import resource

    print(f"Saddle escape preset, 6 optimizers, 300 steps, 1280x720, best of {repeat}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. CPU seconds (all threads and child processes)")
    print("tell what an idle machine would take when others share this one.\n")
    print(f"{'what':38s}{'seconds':>9s}{'cpu s':>7s}{'target':>8s}{'ratio':>7s}{'size':>11s}")

    def cpu() -> float:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + children.ru_utime + children.ru_stime

    def row(what: str, fmt: str, seconds: float, cpu_seconds: float, path: Path) -> None:
        target = TARGETS[fmt]
        print(f"{what:38s}{seconds:9.2f}{cpu_seconds:7.2f}{target:8.0f}{seconds / target:7.2f}"
              f"{path.stat().st_size / 1e3:9,.0f} kB")

    def measured(fn) -> tuple[float, float]:
        c0 = cpu()
        seconds = timed(fn, repeat)
        return seconds, (cpu() - c0) / repeat

    for fmt, name in [("pptx", "saddle.pptx"), ("beamer", "saddle.zip"), ("png", "saddle.png"), ("svg", "saddle.svg")]:
        path = out / name
        cmd = [sys.executable, "-m", "app.cli", "export", "--state", saddle.query, "--out", str(path)]
        if fmt in ("png", "svg"):
            cmd += ["--step", "150"]
        root = Path(__file__).resolve().parent.parent
        seconds, cpu_seconds = measured(lambda: subprocess.run(cmd, check=True, cwd=root, capture_output=True))
        row(f"{fmt}, gradscape export (a new process)", fmt, seconds, cpu_seconds, path)
    sc = scene_from_state(saddle.query, get_settings())[0]
    for fmt in ("png", "svg"):
        path = out / f"job.{fmt}"
        opts = formats.make_options(fmt, "contour", step=150)
        seconds, cpu_seconds = measured(lambda: formats.export(sc, opts, path))
        row(f"{fmt}, an export job (drawn before)", fmt, seconds, cpu_seconds, path)
    print(f"\nFiles in {out}")


def offline(out: Path, repeat: int) -> None:
    import os

    from playwright.sync_api import sync_playwright

    from app.exports.link import scene_from_state
    from app.presets import PRESETS
    from app.settings import get_settings

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from browser_helpers import INIT_SCRIPT, VIEWPORT, launch

    limit, first_target = 3_000_000, 1.0
    saddle = next(p for p in PRESETS if p.id == "saddle_escape")
    links = [("saddle escape preset", saddle.query), ("Beale, adam + sgd + rmsprop", "surface=beale&opt=adam,sgd,rmsprop"
                                                        "&steps=300&start=1,1.5&adam.lr=0.01&sgd.lr=0.01&rmsprop.lr=0.01")]
    print(f"Interactive HTML from file://, every other request refused; median of {repeat} opens; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print(f"{'link':30s}{'size':>10s}{'/3 MB':>7s}{'frames only':>13s}{'first frame':>13s}{'/1 s':>6s}"
          f"{'frames only':>13s}{'slider->redraw':>16s}")
    with sync_playwright() as pw:
        browser = launch(pw)
        for name, query in links:
            scene = scene_from_state(query, get_settings())[0]
            live, frames_only = out / f"{name.split()[0].lower()}-live.html", out / f"{name.split()[0].lower()}.html"
            formats.export(scene, formats.make_options("html", autoplay=False), live)
            formats.export(scene, formats.make_options("html", autoplay=False, frames_only=True), frames_only)
            # The first frame is when the player first writes its step under the plot, the same moment in
            # both files: the frames-only file, opened the same way, is the reference measured beside it.
            firsts, plain, redraws = [], [], []
            first_seen = ("new MutationObserver((_, o) => { if (document.getElementById('step')?.textContent) "
                          "{ window.__first = performance.now(); o.disconnect(); } }).observe(document, "
                          "{ childList: true, subtree: true, characterData: true });")
            for _ in range(repeat):
                for path, times in ((live, firsts), (frames_only, plain)):
                    context = browser.new_context(viewport=VIEWPORT)
                    page = context.new_page()
                    page.add_init_script(INIT_SCRIPT + first_seen)
                    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://") else r.abort())
                    page.goto(path.as_uri())
                    page.wait_for_function("window.__first", polling=10)
                    times.append(page.evaluate("window.__first") / 1e3)
                    if path == live:
                        redraws.append(page.evaluate("""() => new Promise((done) => {
                            const el = document.querySelector('#sliders input[type=range]'), t0 = performance.now();
                            document.addEventListener('gradscape:drawn', () => requestAnimationFrame(() => done(performance.now() - t0)), { once: true });
                            el.value = Number(el.value) + 50;
                            el.dispatchEvent(new Event('input'));
                        })""") / 1e3)
                    context.close()
            size, first = live.stat().st_size, float(np.median(firsts))
            print(f"{name:30s}{size / 1e3:8,.0f} kB{size / limit:7.2f}{frames_only.stat().st_size / 1e3:11,.0f} kB"
                  f"{first:11.2f} s{first / first_target:6.2f}{np.median(plain):11.2f} s{np.median(redraws) * 1e3:13.1f} ms")
        browser.close()
    print(f"\nFiles in {out}")


def main() -> None:
    global WIDTH, HEIGHT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is shown")
    parser.add_argument("--out", type=Path, help="keep the files here")
    parser.add_argument("--size", default=f"{WIDTH}x{HEIGHT}", help="frame size, WxH")
    parser.add_argument("--slides", action="store_true", help="only the slide files and stills of the saddle escape")
    parser.add_argument("--offline", action="store_true", help="only the interactive HTML file: size, first frame "
                                                               "and a slider's redraw from file://")
    args = parser.parse_args()
    WIDTH, HEIGHT = map(int, args.size.lower().split("x"))
    core.warm()
    out = args.out or Path(tempfile.mkdtemp(prefix="gradscape-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    if args.offline:
        offline(out, max(args.repeat, 5))
        return
    if args.slides:
        formats.export(scene(["adam"], 10), formats.make_options("png"), out / "warm.png")  # fonts and caches, once
        slides(out, args.repeat)
        return
    sc = scene(["adam", "sgd", "rmsprop"], 300)
    formats.export(sc, formats.make_options("png"), out / "warm.png")  # fonts and caches, once

    print(f"Beale, adam + sgd + rmsprop, 300 steps; {FRAMES} frames at {WIDTH}x{HEIGHT}, best of {args.repeat}\n")
    print(f"{'format':8s}{'view':11s}{'seconds':>9s}{'target':>8s}{'ratio':>7s}{'size':>11s}")
    for fmt, view in [("gif", "contour"), ("mp4", "contour"), ("gif", "surface3d"), ("mp4", "surface3d"),
                      ("gif", "loss"), ("mp4", "loss"), ("html", "contour"), ("html", "surface3d"),
                      ("png", "contour"), ("svg", "contour")]:
        seconds, size = export(sc, fmt, view, out, args.repeat)
        target = TARGETS.get(fmt)
        ratio = f"{seconds / target:7.2f}" if target else f"{'':7s}"
        print(f"{fmt:8s}{view:11s}{seconds:9.2f}{target or '':>8}{ratio}{size / 1e3:9,.0f} kB")

    n = 60
    print(f"\nDrawing {n} frames, no encoding: a full draw per frame against the cached background")
    for view in ("contour", "surface3d"):
        full, cached = naive_frames(sc, view, n), cached_frames(sc, view, n)
        print(f"  {view:10s} full {full:6.2f} s   cached {cached:6.2f} s   {full / cached:5.1f}x faster")

    big = scene(list(core.OPTIMIZERS), 20_000)
    points = sum(len(r.points) for r in big.runs)
    seconds, size = export(big, "gif", "contour", out, 1)
    print(f"\nAll {len(big.runs)} optimizers x 20,000 steps ({points:,} points), contour GIF: "
          f"{seconds:.2f} s, {size / 1e3:,.0f} kB")
    print("\nThe map view, 64 x 64 runs of 500 steps: computing it, then drawing it (x the computing)")
    from app.exports import maps
    from app.exports.link import read_state
    from app.settings import get_settings

    for name, link in [("lr x momentum", "surface=quadratic&surface.kappa=100&opt=momentum&steps=500&view=map"
                                         "&map.x=lr&map.y=momentum&map.n=64"),
                       ("basins", "surface=himmelblau&opt=sgd&steps=500&view=map&map.x=x&map.y=y&map.n=64")]:
        body, display = read_state(link, need_runs=False)
        data = maps.compute(link, body, display, get_settings())
        computing = timed(lambda: maps.compute(link, body, display, get_settings()), args.repeat)
        print(f"  {name:14s} computing {computing * 1e3:7.1f} ms")
        for fmt in formats.MAP_FORMATS:
            path = out / f"map-{name.split()[0]}.{fmt}"
            opts = formats.make_options(fmt, "map", width=WIDTH, height=HEIGHT)
            seconds = timed(lambda: formats.export(data, opts, path), args.repeat)
            print(f"  {'':14s} {fmt:4s} {seconds * 1e3:9.1f} ms {seconds / computing:7.1f}x"
                  f"{path.stat().st_size / 1e3:9,.0f} kB")
    print(f"\nFiles in {out}")


if __name__ == "__main__":
    main()
