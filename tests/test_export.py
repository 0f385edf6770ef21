"""Exports: files that decode with the frames and size asked for, the page's look, clear errors.

Small frame counts and sizes keep these fast; bench/export_bench.py measures
300 frames at 800 x 600.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageSequence

import core
from app import palette
from app.exports import formats, html as html_export, options as export_options, scene as scenes
from app.exports import frames as framing
from app.cli import main
from app.settings import ROOT, Settings

SIZE = (320, 240)
FRAMES = 12
STEPS = 40
OPTS = ("adam", "sgd", "rmsprop")


@pytest.fixture(scope="module")
def scene():
    runs = [core.trajectory("beale", o, (1.0, 1.5), STEPS, {"lr": 0.01}) for o in OPTS]
    return scenes.Scene.from_runs(runs)


def export(scene, tmp_path, fmt, view="contour", **kw) -> tuple:
    kw = {"frames": FRAMES, "width": SIZE[0], "height": SIZE[1], **kw}
    out = tmp_path / f"out.{fmt}"
    formats.export(scene, formats.make_options(fmt, view, **kw), out)
    return out


def ffprobe(path) -> dict:
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed")
    cmd = ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
           "stream=codec_name,pix_fmt,width,height,nb_read_frames,profile", "-of", "json", str(path)]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)["streams"][0]


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def has_colour(pixels: np.ndarray, hex_colour: str, tol: int = 2) -> bool:
    return bool((np.abs(pixels[..., :3].astype(int) - rgb(hex_colour)).max(axis=-1) <= tol).any())


# --- the palette ------------------------------------------------------------------

def test_palette_follows_the_registry_and_leaves_out_yellow():
    assert "#F0E442" not in palette.OKABE_ITO
    styles = [(palette.colour_for(o), palette.dash_for(o)) for o in core.OPTIMIZERS]
    n = len(palette.OKABE_ITO)
    assert [c for c, _ in styles[:n]] == palette.OKABE_ITO
    # Every optimizer is told apart by colour and dash together, however many there are.
    assert len(set(styles)) == len(core.OPTIMIZERS) <= n * len(palette.DASHES)
    assert set(palette.as_dict()["optimizers"]) == set(core.OPTIMIZERS)
    with pytest.raises(KeyError, match="unknown optimizer 'nope'"):
        palette.colour_for("nope")


def test_contour_values_are_log_of_the_gap_to_the_floor():
    z = np.array([3.0, 4.0, 3.0 + np.e - 1, 2.0])
    assert np.allclose(palette.contour_values(z, 3.0), [0.0, np.log(2), 1.0, 0.0])
    assert palette.contour_values(z).min() == 0.0


# --- frames ---------------------------------------------------------------------

def test_frame_steps_cover_the_run_evenly():
    assert export_options.frame_steps(300, 300)[[0, -1]].tolist() == [0, 300]
    assert export_options.frame_steps(10, 4).tolist() == [0, 3, 7, 10]
    assert export_options.frame_steps(7, 1).tolist() == [7]
    assert np.all(np.diff(export_options.frame_steps(1000, 299)) > 0)
    assert export_options.Options("gif").frame_count(40) == 41
    assert export_options.Options("gif").frame_count(10_000) == export_options.DEFAULT_MAX_FRAMES


@pytest.mark.parametrize("view", export_options.PATH_VIEWS)
def test_a_frame_drawn_over_the_cached_background_equals_a_fresh_drawing(scene, view):
    frames = framing.Frames(scene, view, *SIZE)
    frames.frame(STEPS)  # draw everything first: nothing of it may stay behind
    again = frames.frame(5).copy()
    fresh = framing.Frames(scene, view, *SIZE).frame(5)
    assert again.shape == (SIZE[1], SIZE[0], 4)
    assert np.array_equal(again, fresh)


@pytest.mark.parametrize("view", ["contour", "surface3d"])
def test_trails_drawn_frame_by_frame_match_the_whole_path_drawn_at_once(scene, view):
    frames = framing.Frames(scene, view, *SIZE)
    for step in export_options.frame_steps(STEPS, FRAMES):
        pieces = frames.frame(int(step))[..., :3].astype(int)
    whole = framing.Frames(scene, view, *SIZE).frame(STEPS)[..., :3].astype(int)
    differ = np.abs(pieces - whole).max(axis=-1) > 40
    # Only where pieces join (antialiased edges blended twice) may a few pixels differ.
    assert differ.mean() < 0.002


def test_frames_use_each_optimizers_colour(scene):
    pixels = framing.Frames(scene, "contour", 640, 480).frame(STEPS)
    for o in OPTS:
        assert has_colour(pixels, palette.colour_for(o)), o
    assert has_colour(pixels, palette.LANDMARK_COLOUR, tol=10)


def test_a_diverged_run_is_drawn_up_to_its_last_finite_point_and_labelled(tmp_path):
    runs = [core.trajectory("beale", "sgd", (1.0, 1.5), STEPS, {"lr": 1.0}),
            core.trajectory("beale", "adam", (1.0, 1.5), STEPS, {"lr": 0.05})]
    scene = scenes.Scene.from_runs(runs)
    assert runs[0].diverged_at is not None
    assert "diverged at step" in scene.legend_label(runs[0])
    out = export(scene, tmp_path, "gif", frames=5)
    assert Image.open(out).n_frames == 5


# --- runs that leave the frame ----------------------------------------------------

@pytest.fixture(scope="module")
def diverged():
    """Adam converging and SGD diverging (its loss reaches 1e306, then infinity) on one quadratic."""
    runs = [core.trajectory("quadratic", "adam", (-1.8, 1.0), 300, {"lr": 0.05}),
            core.trajectory("quadratic", "sgd", (-1.8, 1.0), 300, {"lr": 1.0})]
    assert runs[1].diverged_at is not None and runs[1].losses.max() > 1e300
    return scenes.Scene.from_runs(runs)


@pytest.fixture(scope="module")
def saddle():
    """Momentum and Nesterov leave the saddle's frame by the same spot; SGD stays in it."""
    runs = [core.trajectory("saddle", o, (-1.5, 1e-3), 250, {"lr": 0.0025}) for o in ("momentum", "nesterov")]
    runs.append(core.trajectory("saddle", "sgd", (-1.5, 1e-3), 250, {"lr": 0.01}))
    return scenes.Scene.from_runs(runs)


def pixel_of(frames: framing.Frames, point) -> tuple[int, int]:
    """(row, column) in the frame's pixels of a point in the view's data coordinates."""
    x, y = frames.ax.transData.transform(point)
    return int(round(frames.height - y)), int(round(x))


def colour_near(pixels: np.ndarray, where: tuple[int, int], hex_colour: str, radius: int = 4) -> bool:
    r, c = where
    return has_colour(pixels[max(r - radius, 0):r + radius + 1, max(c - radius, 0):c + radius + 1], hex_colour, tol=8)


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_the_loss_view_of_a_diverged_run_exports_in_every_format(diverged, tmp_path, fmt):
    out = export(diverged, tmp_path, fmt, "loss", **({"step": 200} if fmt in formats.STILLS else {}))
    assert out.stat().st_size > 0
    if fmt in ("gif", "png"):
        assert Image.open(out).size == SIZE
    if fmt == "html":
        sgd = diverged.runs[1]
        assert f"SGD: diverged at step {sgd.diverged_at}" in out.read_text(encoding="utf-8")


def test_a_diverged_run_does_not_rescale_the_loss_axis(diverged):
    adam, sgd = diverged.runs
    lo, hi, log = diverged.loss_range()
    assert log
    # The axis spans what the runs show inside the plotted domain (the page's factor 2 of margin).
    inside = np.concatenate([r.losses[diverged.in_domain(r.points)] for r in diverged.runs])
    assert hi == pytest.approx(2 * inside.max()) and lo == pytest.approx(inside.min() / 2)
    assert hi < 100  # not the diverged run's 1e306
    # The diverged run leaves by the top edge, where it is marked, before it diverges.
    step, point, side = diverged.exit(sgd, "loss")
    assert side == "top" and point[1] == pytest.approx(hi) and step <= sgd.diverged_at
    assert diverged.exit(adam, "loss") is None
    frames = framing.Frames(diverged, "loss", 640, 480)
    pixels = frames.frame(diverged.steps)
    assert colour_near(pixels, pixel_of(frames, point), palette.colour_for("sgd"))


def test_a_run_leaving_the_frame_is_marked_on_the_edge_from_the_step_it_leaves(saddle):
    momentum = saddle.runs[0]
    step, point, side = saddle.exit(momentum, "contour")
    # Oracle: the first point outside the domain, and where the step to it crosses y = 2.
    (x0, x1), (y0, y1) = saddle.spec.domain
    outside = np.flatnonzero(np.abs(momentum.points[:, 1]) > y1)
    assert step == outside[0] and side == "top"
    a, b = momentum.points[step - 1], momentum.points[step]
    t = (y1 - a[1]) / (b[1] - a[1])
    assert point == pytest.approx(a + t * (b - a))
    assert saddle.exit(saddle.runs[2], "contour") is None
    assert saddle.legend_label(momentum, "contour") == f"Momentum (left the frame at step {step})"
    frames = framing.Frames(saddle, "contour", 640, 480)
    where = pixel_of(frames, frames.exit_points[0][1])
    colour = palette.colour_for("momentum")
    # Just outside the edge only the marker can draw (the line and the head are clipped to the axes).
    outside = (where[0] - 3, where[1])
    assert not colour_near(frames.frame(step - 1).copy(), outside, colour, radius=1)
    assert colour_near(frames.frame(step), outside, colour, radius=1)


def test_exit_markers_at_the_same_spot_are_set_side_by_side_on_the_edge(saddle):
    frames = framing.Frames(saddle, "contour", 640, 480)
    (_, a, side_a), (_, b, side_b) = frames.exit_points[:2]
    assert side_a == side_b == "top" and a[1] == b[1] == 2.0  # both stay on the edge
    apart = np.hypot(*(np.array(pixel_of(frames, a)) - pixel_of(frames, b)))
    assert apart >= frames.fig.dpi / 72 * framing.EXIT_SIZE
    pixels = frames.frame(saddle.steps)
    for (_, point, _), o in zip(frames.exit_points[:2], ("momentum", "nesterov")):
        assert colour_near(pixels, pixel_of(frames, point), palette.colour_for(o), radius=2), o


@pytest.mark.parametrize("view", ["contour", "surface3d"])
def test_the_legend_drawn_names_the_step_a_run_left_the_frame(saddle, view):
    step = saddle.exit(saddle.runs[0], view)[0]
    frames = framing.Frames(saddle, view, *SIZE)
    texts = [t.get_text() for t in frames.legend.get_texts()]
    assert f"Momentum\n(left the frame at step {step})" in texts
    assert "SGD" in texts  # a run that stays in the frame keeps its plain name


def test_the_html_file_marks_where_a_run_left_the_frame(saddle, tmp_path):
    step = saddle.exit(saddle.runs[0], "contour")[0]
    text = export(saddle, tmp_path, "html", "contour").read_text(encoding="utf-8")
    assert f"Momentum: left the frame at step {step}" in text and "triangle-up" in text


def html_payload(path) -> dict:
    text = Path(path).read_text(encoding="utf-8")
    return json.loads(re.search(r'<script id="gradscape-data" type="application/json">(.*?)</script>', text, re.S)[1])


@pytest.mark.parametrize("view", ["contour", "surface3d"])
def test_the_html_files_exit_markers_start_hidden_and_know_their_step(saddle, tmp_path, view):
    data = html_payload(export(saddle, tmp_path, "html", view))
    exits = {e["trace"]: e for e in data["exits"] if e["step"] is not None}  # None: a run that stays in view
    traces = data["figure"]["data"]
    # One per run that leaves (Momentum and Nesterov), at the step core's path first lies outside the domain.
    (x0, x1), (y0, y1) = saddle.spec.domain
    steps = []
    for run in saddle.runs[:2]:
        x, y = run.points.T
        steps.append(int(np.flatnonzero((x < x0) | (x > x1) | (y < y0) | (y > y1))[0]))
    assert sorted(e["step"] for e in exits.values()) == sorted(steps)
    for i, e in exits.items():
        assert traces[i]["x"] == [] and traces[i]["y"] == []  # nothing shows before the player says so
        assert "left the frame at step" in traces[i]["name"] and f"step {e['step']}" in traces[i]["name"]
        assert len(e["x"]) == len(e["y"]) == 1


@pytest.mark.browser
def test_the_html_files_exit_marker_appears_at_the_step_the_run_leaves(saddle, tmp_path, browser):
    # One frame per step, paused: frame i shows step i.
    out = tmp_path / "exits.html"
    formats.export(saddle, formats.make_options("html", "contour", frames=saddle.steps + 1, autoplay=False,
                                              width=SIZE[0], height=SIZE[1]), out)
    momentum = saddle.runs[0]
    (x0, x1), (y0, y1) = saddle.spec.domain
    x, y = momentum.points.T
    k = int(np.flatnonzero((x < x0) | (x > x1) | (y < y0) | (y > y1))[0])
    assert 2 < k < saddle.steps
    page = browser.new_page()
    page.goto(out.as_uri())
    page.wait_for_selector("#plot .main-svg")
    shown = {}
    for step in (0, 1, k - 2, k - 1, k, k + 1, saddle.steps):
        page.eval_on_selector("#scrub", "(el, i) => { el.value = i; el.dispatchEvent(new Event('input')); }", step)
        assert page.text_content("#step") == f"step {step}"
        shown[step] = page.evaluate("""() => document.getElementById('plot').data
            .filter((t) => (t.name || '').startsWith('Momentum: left the frame'))
            .map((t) => t.x.length)""")
    page.close()
    assert shown == {step: [int(step >= k)] for step in shown}, (k, shown)


def test_heads_on_one_spot_become_rings_so_each_and_the_minimum_stay_visible(tmp_path):
    # Adam and AdamW with weight_decay = 0 take the same path: their heads share every spot.
    runs = [core.trajectory("quadratic", o, (-1.8, 1.0), 400, {"lr": 0.05, **({"weight_decay": 0.0} if o == "adamw" else {})})
            for o in ("adam", "adamw", "sgd")]
    assert np.array_equal(runs[0].points, runs[1].points)
    assert np.abs(runs[0].points[-1]).max() < 1e-3  # at the minimum
    scene = scenes.Scene.from_runs(runs)
    frames = framing.Frames(scene, "contour", 640, 480)
    pixels = frames.frame(scene.steps)
    heads = frames.heads
    assert heads[0].get_markerfacecolor() == "none" and heads[1].get_markerfacecolor() == "none"
    assert heads[1].get_markersize() > heads[0].get_markersize()  # the second rings the first
    centre = pixel_of(frames, (0.0, 0.0))
    for o in ("adam", "adamw"):
        assert colour_near(pixels, centre, palette.colour_for(o), radius=14), o
    # The minimum's star still shows at the centre of the rings.
    assert colour_near(pixels, centre, palette.LANDMARK_COLOUR, radius=2)


def test_cli_reports_a_failed_export_in_one_line_and_exits_1(tmp_path, monkeypatch, capsys):
    def fail(*args, **kwargs):
        raise OverflowError("cannot convert float infinity to integer")

    monkeypatch.setattr(formats, "export", fail)
    out = tmp_path / "x.png"
    assert cli("--surface", "beale", "--optimizers", "adam", "--steps", 5, "--out", out) == 1
    err = capsys.readouterr().err
    assert err == f"gradscape export: error: could not write {out}: OverflowError: cannot convert float infinity to integer\n"


# --- a run's own label ---------------------------------------------------------------

def test_a_runs_own_label_names_it_in_every_legend(tmp_path):
    from app.exports.link import scene_from_state
    from app.settings import get_settings

    link = "surface=saddle&steps=30&opt=adam,adamw&adamw.eps=1&adamw.weight_decay=0&adamw.label=Adam (ε = 1)"
    scene, _ = scene_from_state(link, get_settings())
    adam, adamw = scene.runs
    assert (scene.name(adam), scene.name(adamw)) == ("Adam", "Adam (ε = 1)")
    frames = framing.Frames(scene, "contour", *SIZE)
    assert [t.get_text() for t in frames.legend.get_texts()][:2] == ["Adam", "Adam (ε = 1)"]
    text = export(scene, tmp_path, "html").read_text(encoding="utf-8")
    assert '"name":"Adam (ε = 1)"' in text and '"name":"AdamW"' not in text
    assert scenes.Scene.from_runs([adam]).name(adam) == "Adam"  # no label: the optimizer's own


def test_a_tuned_run_says_so_in_every_legend(tmp_path):
    from app.exports.link import scene_from_state
    from app.settings import get_settings

    link = "surface=beale&steps=30&opt=sgd,adam,momentum&sgd.lr=0.004&adam.lr=0.03&adam.label=Mine&tuned=sgd,adam&tuned.by=final_loss"
    scene, _ = scene_from_state(link, get_settings())
    assert [scene.name(r) for r in scene.runs] == ["SGD (tuned)", "Mine (tuned)", "Momentum"]
    frames = framing.Frames(scene, "contour", *SIZE)
    assert [t.get_text() for t in frames.legend.get_texts()][:3] == ["SGD (tuned)", "Mine (tuned)", "Momentum"]
    text = export(scene, tmp_path, "html").read_text(encoding="utf-8")
    assert '"name":"SGD (tuned)"' in text and '"name":"Momentum"' in text


# --- frames for 16:9 slides ----------------------------------------------------------

SLIDE_SIZES = [(1280, 720), (1920, 1080), (800, 600)]


def test_the_default_export_is_a_16_9_slide():
    assert export_options.DEFAULT_SIZE == (1280, 720)
    opts = formats.make_options("png")
    assert (opts.width, opts.height) == (1280, 720)


@pytest.mark.parametrize("view", export_options.PATH_VIEWS)
@pytest.mark.parametrize("size", SLIDE_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_title_and_legend_sit_by_the_plot_and_the_block_fills_the_frame(saddle, view, size):
    width, height = size
    frames = framing.Frames(saddle, view, width, height)
    frames.frame(saddle.steps)
    renderer = frames.canvas.get_renderer()
    axes = frames.ax.get_window_extent(renderer)
    legend = frames.legend.get_window_extent(renderer)
    title = frames.title.get_window_extent(renderer)
    frames.legend.set_visible(False)
    plot = frames.ax.get_tightbbox(renderer)
    frames.legend.set_visible(True)
    em = frames.fig.dpi / 72 * 10  # the size of the text, in pixels
    # Everything is inside the frame.
    for box in (plot, legend, title):
        assert box.x0 >= -0.5 and box.x1 <= width + 0.5 and box.y0 >= -0.5 and box.y1 <= height + 0.5
    # The legend starts within an em of the plot's right edge, level with its top.
    assert 0 <= legend.x0 - plot.x1 <= 1.5 * em
    assert abs(legend.y1 - axes.y1) <= em
    # The title is just above the plot area (3-D: above the box it projects).
    assert 0 <= title.y0 - axes.y1 <= 2 * em if view != "surface3d" else title.y0 >= axes.y1 - em
    # Plot and legend are one block in the middle, filling the height (or the width, when that binds).
    left, right = plot.x0, legend.x1
    assert abs(left - (width - right)) <= 2
    assert max((right - left) / width, (plot.y1 - plot.y0) / height) >= 0.93


@pytest.mark.parametrize("size", SLIDE_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_legend_too_long_to_stand_beside_the_plot_goes_below_it_inside_the_frame(size):
    # As many optimizers as one link may hold, some leaving the frame and diverging: long, two-line legend entries.
    most = list(core.OPTIMIZERS)[:Settings().max_runs]
    runs = [core.trajectory("beale", o, (1.0, 1.5), 50, {"lr": 0.01}) for o in most]
    assert any(r.diverged_at is not None for r in runs)
    scene = scenes.Scene.from_runs(runs)
    frames = framing.Frames(scene, "contour", *size)
    frames.frame(scene.steps)
    renderer = frames.canvas.get_renderer()
    legend, axes = frames.legend.get_window_extent(renderer), frames.ax.get_window_extent(renderer)
    assert legend.x0 >= 0 and legend.x1 <= size[0] and legend.y0 >= 0
    assert legend.y1 <= axes.y0  # below the plot
    assert axes.height > size[1] / 3 and axes.width > size[1] / 3  # and the plot is still a plot


# --- files ----------------------------------------------------------------------

@pytest.mark.parametrize("view", ["contour", "surface3d"])
def test_gif_decodes_with_the_frames_and_size_asked_for(scene, tmp_path, view):
    out = export(scene, tmp_path, "gif", view, fps=20)
    im = Image.open(out)
    assert im.format == "GIF" and im.size == SIZE and im.n_frames == FRAMES
    frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]
    delays = [f.info["duration"] for f in ImageSequence.Iterator(Image.open(out))]
    assert sum(delays) == FRAMES * 1000 // 20
    assert im.info.get("loop") == 0
    assert not np.array_equal(frames[0], frames[-1])
    # The last frame is the still of the same step, up to the GIF palette.
    still = np.asarray(Image.open(export(scene, tmp_path, "png", view)).convert("RGB")).astype(int)
    assert np.abs(frames[-1].astype(int) - still).mean() < 4


def test_gif_without_loop_plays_once(scene, tmp_path):
    out = tmp_path / "once.gif"
    formats.export(scene, formats.make_options("gif", frames=3, width=320, height=240, loop=False), out)
    assert "loop" not in Image.open(out).info


def test_gif_keeps_a_frame_per_frame_even_when_steps_repeat(tmp_path):
    scene = scenes.Scene.from_runs([core.trajectory("booth", "adam", (-8.0, -6.0), 3)])
    im = Image.open(export(scene, tmp_path, "gif", frames=9))
    assert im.n_frames == 9


@pytest.mark.parametrize("view", ["contour", "surface3d", "loss"])
def test_mp4_is_h264_yuv420p_with_the_frames_and_size_asked_for(scene, tmp_path, view):
    info = ffprobe(export(scene, tmp_path, "mp4", view))
    assert info["codec_name"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"]) == SIZE
    assert int(info["nb_read_frames"]) == FRAMES


@pytest.mark.parametrize("view", export_options.PATH_VIEWS)
def test_png_and_svg_of_a_step(scene, tmp_path, view):
    png = Image.open(export(scene, tmp_path, "png", view, step=10))
    assert png.format == "PNG" and png.size == SIZE
    root = ET.parse(export(scene, tmp_path, "svg", view, step=10)).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    # Each run is a path stroked in its colour.
    text = ET.tostring(root, encoding="unicode").lower()
    for o in OPTS:
        assert palette.colour_for(o).lower() in text, o


EXTERNAL = [
    r"<script[^>]*\bsrc\s*=", r"<link\b", r"<img\b", r"<iframe\b", r"@import",
    r"url\(\s*['\"]?\s*(https?:)?//", r"\b(src|href|action|poster|data)\s*=\s*['\"]?\s*(https?:)?//",
]


CDN = re.compile(r"(https?:)?//[^\s\"'`]*\b(cdn|unpkg|jsdelivr|cdnjs|googleapis|gstatic)\b", re.IGNORECASE)


def test_no_asset_the_page_or_an_export_uses_names_a_cdn():
    """A classroom may have no internet: nothing served, vendored or inlined points off the server."""
    root = ROOT
    files = [f for d in ("static", "templates") for f in (root / d).rglob("*") if f.suffix in (".js", ".css", ".html")]
    assert html_export.PLOTLY_JS in files and html_export.PLOTLY_2D_JS in files
    found = {f.name: m.group(0) for f in files if (m := CDN.search(f.read_text(encoding="utf-8")))}
    assert found == {}


@pytest.mark.parametrize("view", export_options.PATH_VIEWS)
def test_html_is_self_contained_and_holds_the_trajectories(scene, tmp_path, view):
    out = export(scene, tmp_path, "html", view)
    text = out.read_text(encoding="utf-8")
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", text, re.S)
    markup = re.sub(r"(<script\b[^>]*>).*?(</script>)", r"\1\2", text, flags=re.S)
    for pattern in EXTERNAL:
        assert not re.search(pattern, markup, re.IGNORECASE), pattern
    # plotly.js is inlined as vendored (its code holds URL strings it never loads
    # here, and no CDN: see the test above); the rest of the scripts name no URL at all.
    plotly_js, blob, player = scripts
    # A flat view's file carries plotly.js without its 3-D types.
    assert plotly_js == html_export.plotly_js(three_d=view == "surface3d")
    assert not re.search(r"https?:|//[a-z]", blob + player, re.IGNORECASE)
    data = json.loads(blob)
    assert len(data["frames"]) == FRAMES and data["frames"][-1] == STEPS
    assert [t["name"] for t in data["figure"]["data"] if t.get("mode") == "lines"] == [
        core.OPTIMIZERS[o].label for o in OPTS]
    for run, got in zip(scene.runs, data["runs"]):
        want = scenes.view_coords(scene, view, run)
        for axis, values in zip("xyz", want):
            assert np.allclose(np.array(got[axis], dtype=float), values, equal_nan=True)


@pytest.mark.browser
def test_html_plays_and_scrubs_offline_from_a_file(scene, tmp_path, browser):
    out = export(scene, tmp_path, "html", frames=FRAMES)
    requests = []
    page = browser.new_page()
    page.on("request", lambda r: requests.append(r.url))
    page.goto(out.as_uri())
    page.wait_for_selector("#plot .main-svg")
    # It autoplays and loops; pause, then scrub to a frame.
    page.wait_for_function("Number(document.getElementById('scrub').value) > 0")
    page.click("#play")
    page.eval_on_selector("#scrub", "(el) => { el.value = 3; el.dispatchEvent(new Event('input')); }")
    step = export_options.frame_steps(STEPS, FRAMES)[3]
    assert page.text_content("#step") == f"step {step}"
    assert f"step {step} / {STEPS}" in page.text_content(".gtitle")
    shown = page.evaluate("document.getElementById('plot').data.filter(t => t.mode === 'lines')"
                          ".map(t => t.x.length)")
    assert shown == [min(step + 1, len(r.points)) for r in scene.runs]
    # Plotly draws a trace of a type the vendored bundle lacks as an empty scatter.
    assert page.evaluate("(gd => gd._fullData.every(t => t.type === (gd.data[t.index].type || 'scatter')))"
                         "(document.getElementById('plot'))")
    # The legend hangs on the plot's right edge and the title is centred over the plot, at any window size.
    for width, height in SLIDE_SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)
        boxes = page.evaluate("""() => Object.fromEntries(["nsewdrag", "legend", "gtitle"].map((c) => {
            const r = document.querySelector("#plot ." + c).getBoundingClientRect();
            return [c, [r.left, r.right, r.top]];
        }))""")
        plot, legend, title = boxes["nsewdrag"], boxes["legend"], boxes["gtitle"]
        assert 0 <= legend[0] - plot[1] <= 0.03 * width, (width, boxes)
        assert abs((title[0] + title[1]) / 2 - (plot[0] + plot[1]) / 2) <= 2, (width, boxes)
    page.close()
    assert all(url.startswith("file://") for url in requests), requests


# --- bad options ----------------------------------------------------------------

@pytest.mark.parametrize("kwargs, field, message", [
    ({"format": "webm"}, "format", "allowed: gif, mp4, html, pptx, beamer, png, svg"),
    ({"format": "gif", "view": "side"}, "view", "allowed: contour, surface3d, loss"),
    ({"format": "gif", "frames": 0}, "frames", "frames = 0 is outside [1, 1000]"),
    ({"format": "gif", "frames": 2.5}, "frames", "not a whole number"),
    ({"format": "mp4", "fps": 240}, "fps", "fps = 240 is outside [1, 60]"),
    ({"format": "gif", "fps": 60}, "fps", "allowed: [1, 50]"),
    ({"format": "png", "width": 10_000}, "width", "width = 10000 is outside [320, 1920]"),
    ({"format": "png", "height": 100}, "height", "height = 100 is outside [240, 1080]"),
    ({"format": "mp4", "width": 801}, "width", "must be even for mp4"),
    ({"format": "gif", "frames": 500, "limits": {"frames": (1, 100)}}, "frames", "outside [1, 100]"),
    ({"format": "mp4", "step": 3}, "step", "step picks the step of a still (png, svg); an animation shows every step"),
    ({"format": "gif", "view": "map"}, "view", "view = map is a still picture"),
    ({"format": "mp4", "view": "map"}, "view", "it exports as png, svg, html; a mp4 animates view contour, surface3d"),
    ({"format": "png", "view": "map", "step": 3}, "step", "the map shows where each run ends"),
])
def test_bad_options_name_the_field_and_the_allowed_values(kwargs, field, message):
    with pytest.raises(core.InvalidInput) as err:
        formats.make_options(**kwargs)
    assert err.value.field == field and message in str(err.value)


def test_a_still_past_the_last_step_is_refused_before_drawing(scene, tmp_path):
    with pytest.raises(core.InvalidInput, match=rf"step = {STEPS + 1} is outside \[0, {STEPS}\]"):
        export(scene, tmp_path, "png", step=STEPS + 1)
    assert list(tmp_path.iterdir()) == []


# --- the command line -----------------------------------------------------------

def cli(*args) -> int:
    return main(["export", *map(str, args)])


def test_cli_flags_and_a_shared_link_give_the_same_file(tmp_path, capsys):
    flags = tmp_path / "flags.png"
    assert cli("--surface", "quadratic", "--hyper", "surface.kappa=20", "--optimizers", "sgd,momentum",
               "--steps", 30, "--hyper", "momentum.lr=0.04", "--out", flags, "--width", 320, "--height", 240) == 0
    assert f"wrote {flags}" in capsys.readouterr().out
    link = tmp_path / "link.png"
    state = "http://localhost:8000/?surface=quadratic&surface.kappa=20&opt=sgd,momentum&steps=30&momentum.lr=0.04"
    assert cli("--state", state, "--out", link, "--width", 320, "--height", 240) == 0
    assert flags.read_bytes() == link.read_bytes()


def test_cli_gif_has_the_frames_and_size_asked_for_and_the_state_picks_the_view(tmp_path):
    out = tmp_path / "a.gif"
    assert cli("--state", "surface=beale&opt=adam,sgd&steps=20&view=loss&loop=0", "--out", out,
               "--frames", 6, "--fps", 12, "--width", 400, "--height", 300) == 0
    im = Image.open(out)
    assert (im.n_frames, im.size) == (6, (400, 300)) and "loop" not in im.info
    # The same state drawn as the contour differs: the view came from the link.
    contour = tmp_path / "b.gif"
    cli("--state", "surface=beale&opt=adam,sgd&steps=20", "--view", "contour", "--out", contour,
        "--frames", 6, "--width", 400, "--height", 300)
    assert out.read_bytes() != contour.read_bytes()


@pytest.mark.parametrize("args, message", [
    (["--surface", "nope", "--optimizers", "adam"], "--surface: unknown surface 'nope'; allowed: rosenbrock, beale"),
    (["--optimizers", "adam,nope"], "--optimizers: unknown optimizer 'nope'; allowed: sgd, momentum"),
    (["--optimizers", "adam", "--hyper", "adam.lr"], "--hyper 'adam.lr' is not KEY=VALUE, e.g. adam.lr=0.05"),
    (["--optimizers", "adam", "--hyper", "adam.lr=-1"], "--hyper adam.lr: adam.lr = -1 is outside [1e-06, 10]"),
    (["--optimizers", "adam", "--hyper", "adam.nope=1"], "unknown key 'adam.nope'; adam takes lr, beta1, beta2"),
    (["--optimizers", "adam", "--hyper", "surface.kappa=9"], "unknown key 'surface.kappa'; surface beale takes no"),
    (["--optimizers", "adam", "--hyper", "sched.t_max=9"], "unknown key 'sched.t_max'; schedule constant takes"),
    (["--optimizers", "adam", "--hyper", "lr=9"], "unknown key 'lr'; allowed: OPTIMIZER.PARAM, surface.PARAM"),
    (["--optimizers", "adam", "--hyper", "sgd.lr=0.1"], "sgd is not among the optimizers (adam)"),
    (["--optimizers", "adam", "--steps", 0], "--steps: steps = 0 is outside [1,"),
    (["--optimizers", "adam", "--frames", 5000], "--frames: frames = 5000 is outside [1, 1000]"),
    (["--optimizers", "adam", "--fps", 0], "--fps: fps = 0 is outside [1, 60]"),
    (["--optimizers", "adam", "--width", 20], "--width: width = 20 is outside [320, 1920]"),
    (["--optimizers", "adam", "--format", "mp4", "--width", 401], "--width: width = 401 must be even for mp4"),
    (["--optimizers", "adam", "--format", "webm"], "argument --format: invalid choice: 'webm'"),
    (["--optimizers", "adam", "--view", "side"], "argument --view: invalid choice: 'side'"),
    (["--optimizers", "adam", "--format", "png", "--step", 999], "--step: step = 999 is outside [0, 20]"),
    (["--surface", "beale"], "--optimizers: no optimizer chosen"),
    (["--state", "surface=beale&opt=adam&adam.lr=fast"], "--state adam.lr: 'fast' is not a number"),
])
def test_cli_bad_arguments_exit_2_naming_the_argument_and_what_is_allowed(tmp_path, capsys, args, message):
    given = dict(zip(args[::2], args[1::2]))
    base = {"--format": "gif"} if "--state" in given else {"--surface": "beale", "--steps": 20, "--format": "gif"}
    extra = [x for k, v in base.items() if k not in given for x in (k, v)]
    with pytest.raises(SystemExit) as err:
        cli(*args, *extra, "--out", tmp_path / "x.out")
    assert err.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("out, message", [
    ("missing/x.gif", "the directory"),
    (".", "is a directory"),
    ("x.webm", "--format: give one of gif, mp4, html, pptx, beamer, png, svg, or an --out ending in one of them"),
])
def test_cli_refuses_an_out_it_cannot_write(tmp_path, monkeypatch, capsys, out, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as err:
        cli("--surface", "beale", "--optimizers", "adam", "--steps", 5, "--out", out)
    assert err.value.code == 2 and message in capsys.readouterr().err


# --- the HTTP API ---------------------------------------------------------------

def wait_for(client, url: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        status = client.get(url).json()
        assert 0 <= status["progress"] <= 1
        if status["status"] != "running" or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


@pytest.mark.server
@pytest.mark.parametrize("fmt, check", [
    ("gif", lambda path: Image.open(path).n_frames == FRAMES and Image.open(path).size == SIZE),
    ("mp4", lambda path: int(ffprobe(path)["nb_read_frames"]) == FRAMES),
    ("svg", lambda path: ET.parse(path).getroot().tag.endswith("svg")),
])
def test_http_export_runs_in_the_background_and_serves_an_attachment(live_server, tmp_path, fmt, check):
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        r = client.post("/api/exports", json={"state": "surface=beale&opt=adam,sgd&steps=30&view=surface3d",
                                              "format": fmt, "frames": FRAMES, "width": SIZE[0], "height": SIZE[1]})
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["filename"] == f"gradscape-beale-surface3d.{fmt}"
        status = wait_for(client, f"/api/exports/{job['id']}")
        assert status == {**job, "status": "done", "progress": 1.0, "message": None}
        r = client.get(f"/api/exports/{job['id']}/file")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(formats.MEDIA_TYPES[fmt].split(";")[0])
    assert r.headers["content-disposition"] == f'attachment; filename="{job["filename"]}"'
    path = tmp_path / job["filename"]
    path.write_bytes(r.content)
    assert check(path)


@pytest.mark.server
@pytest.mark.parametrize("body, loc, message", [
    ({"format": "webm"}, ["body", "format"], "'gif', 'mp4', 'html', 'pptx', 'beamer', 'png' or 'svg'"),
    ({"format": "gif", "frames": 0}, ["body", "frames"], "frames = 0 is outside [1, 1000]"),
    ({"format": "gif", "width": 99999}, ["body", "width"], "width = 99999 is outside [320, 1920]"),
    ({"format": "mp4", "height": 241}, ["body", "height"], "height = 241 must be even for mp4"),
    ({"format": "gif", "fps": 55}, ["body", "fps"], "allowed: [1, 50]"),
    ({"format": "png", "step": 31}, ["body", "step"], "step = 31 is outside [0, 30]"),
    ({"format": "gif", "state": "surface=beale&opt=nope"}, ["body", "state", "opt"], "unknown optimizer 'nope'"),
    ({"format": "gif", "state": "surface=beale&opt=adam&adam.lr=-1"}, ["body", "state", "adam", "lr"],
     "adam.lr = -1 is outside [1e-06, 10]"),
    ({"format": "gif", "state": "surface=beale"}, ["body", "state", "opt"], "no optimizer chosen"),
    ({"format": "gif", "colour": "red"}, ["body", "colour"], "Extra inputs are not permitted"),
])
def test_http_bad_arguments_get_422_naming_the_field_and_the_limit(live_server, body, loc, message):
    body = {"state": "surface=beale&opt=adam&steps=30", **body}
    r = httpx.post(live_server.url + "/api/exports", json=body, timeout=30)
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == loc and message in error["msg"]


@pytest.mark.server
def test_http_unknown_export_is_404(live_server):
    for url in ("/api/exports/nope", "/api/exports/nope/file"):
        r = httpx.get(live_server.url + url, timeout=10)
        assert r.status_code == 404 and "no export 'nope'" in r.json()["detail"]


def test_http_limits_come_from_the_export_settings_and_old_jobs_are_dropped(tmp_path):
    from fastapi.testclient import TestClient

    from app.exports.jobs import JobStore, get_jobs
    from app.main import create_app
    from app.settings import ExportSettings, get_export_settings

    app = create_app()
    app.dependency_overrides[get_export_settings] = lambda: ExportSettings(max_frames=5, max_jobs=2)
    jobs = JobStore()
    app.dependency_overrides[get_jobs] = lambda: jobs
    state = "surface=booth&opt=sgd&steps=4"
    with TestClient(app) as client:
        r = client.post("/api/exports", json={"state": state, "format": "gif", "frames": 6})
        assert r.status_code == 422 and r.json()["detail"][0]["msg"] == "frames = 6 is outside [1, 5]"
        ids = []
        for _ in range(3):
            r = client.post("/api/exports", json={"state": state, "format": "png", "width": 320, "height": 240})
            assert r.status_code == 202
            ids.append(r.json()["id"])
            assert wait_for(client, f"/api/exports/{ids[-1]}")["status"] == "done"
        # Two jobs are kept: the first is gone, with its file.
        assert client.get(f"/api/exports/{ids[0]}").status_code == 404
        assert client.get(f"/api/exports/{ids[2]}/file").status_code == 200
    assert len(list(Path(jobs._dir.name).iterdir())) == 2
