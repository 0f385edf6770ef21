"""The interactive HTML export opened from disk, with every request refused: it draws, its runs' sliders
recompute them in the file, and the recomputed path is the server's (core's) within the page engine's
tolerance (tests/test_page_engine.py); inside an iframe of a 16:9 slide too. The frames-only flag gives
the file without the engine.
"""

from __future__ import annotations


import numpy as np
import pytest

import core
from app.exports.bundle import BundleError, bundle
from app.exports.formats import export, make_options
from app.exports.html import live_script
from app.exports.link import scene_from_state
from app.settings import STATIC, get_settings
from browser_helpers import BROWSER_MARKS, VIEWPORT, watch

RTOL = 1e-9  # tests/test_page_engine.py's bound: libm's last bit, never amplified on these runs
MAX_BYTES = 3_000_000
STATE = "surface=rosenbrock&opt=adam,momentum,lbfgs&steps=200&start=-1.2,1&autoplay=0"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The link exported twice: with its sliders, and as frames only."""
    out = tmp_path_factory.mktemp("offline")
    scene, display = scene_from_state(STATE, get_settings())
    paths = {}
    for name, view, frames_only in (("live", "contour", False), ("frames", "contour", True),
                                    ("loss", "loss", False), ("surface3d", "surface3d", False)):
        opts = make_options("html", view, autoplay=display["autoplay"], frames_only=frames_only)
        paths[name] = export(scene, opts, out / f"{name}.html")
    return paths


def offline_page(browser, url: str):
    """A page that may read file:// and nothing else; `page.refused` lists every other request."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.errors = watch(page)
    page.refused = []

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            page.refused.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(url)
    return page


def wait_first(frame):
    frame.wait_for_function("window.__drawn.some((e) => e.kind === 'first-frame')", timeout=30_000)


def drawn_line(frame, j: int) -> np.ndarray:
    """Run j's line as drawn (the timeline rests on the last frame: the whole path), as (n, 2)."""
    xy = frame.evaluate("""(j) => {
        const gd = document.getElementById('plot'), D = JSON.parse(document.getElementById('gradscape-data').textContent);
        const t = gd.data[D.first + 2 * j];
        return [Array.from(t.x), Array.from(t.y)];
    }""", j)
    return np.array(xy, dtype=float).T


def move_slider(frame, run: int, name: str, position: int) -> float:
    """Drag run `run`'s `name` slider to `position` as a person would (an input event); the value it sets."""
    before = frame.evaluate("window.__drawn.filter((e) => e.kind === 'data').length")
    value = frame.evaluate("""([run, name, position]) => {
        const el = document.querySelector(`#sliders input[data-run="${run}"][data-name="${name}"]`);
        el.value = position;
        el.dispatchEvent(new Event('input', { bubbles: true }));
        return Number(el.dataset.value);
    }""", [run, name, position])
    frame.wait_for_function("(n) => window.__drawn.filter((e) => e.kind === 'data').length > n", arg=before)
    return value


def assert_server_path(drawn: np.ndarray, optimizer: str, hp: dict, steps: int = 200):
    run = core.trajectory("rosenbrock", optimizer, (-1.2, 1.0), steps, hp)
    assert drawn.shape == run.points.shape
    gap = np.abs(drawn - run.points) / np.maximum(1.0, np.abs(run.points))
    assert gap.max() <= RTOL, f"{optimizer} {hp}: relative difference {gap.max():.3g}"


pytestmark = BROWSER_MARKS


def test_the_file_is_within_its_size_and_names_no_other_file(files):
    text = files["live"].read_text(encoding="utf-8")
    assert files["live"].stat().st_size <= MAX_BYTES
    for reference in ("<script src", "<link ", "<iframe"):
        assert reference not in text
    # The engine is plain code: no module loading, and nothing compiled from strings.
    for form in ("import(", "import ", "export ", "new Function", "eval("):
        assert form not in live_script()
    assert live_script() in text


@pytest.mark.parametrize(("optimizer", "run", "name", "position"),
                         [("adam", 0, "lr", 700), ("adam", 0, "beta1", 200), ("momentum", 1, "momentum", 600)])
def test_a_slider_recomputes_its_run_offline_as_the_server_does(browser, files, optimizer, run, name, position):
    page = offline_page(browser, files["live"].as_uri())
    wait_first(page)
    before = drawn_line(page, run)
    value = move_slider(page, run, name, position)
    hp = page.evaluate("(j) => JSON.parse(document.getElementById('gradscape-data').textContent).live.runs[j].hp", run)
    hp[name] = value
    after = drawn_line(page, run)
    assert_server_path(after, optimizer, hp)
    assert before.shape != after.shape or np.abs(before - after).max() > 1e-3, "the path did not move"
    assert page.errors == [] and page.refused == []


@pytest.mark.parametrize("view", ["loss", "surface3d"])
def test_the_other_views_draw_a_recomputed_run_in_their_coordinates(browser, files, view):
    page = offline_page(browser, files[view].as_uri())
    wait_first(page)
    value = move_slider(page, 0, "lr", 600)
    live = page.evaluate("JSON.parse(document.getElementById('gradscape-data').textContent).live")
    run = core.trajectory("rosenbrock", "adam", (-1.2, 1.0), 200, {**live["runs"][0]["hp"], "lr": value})
    drawn = page.evaluate("""() => {
        const gd = document.getElementById('plot'), D = JSON.parse(document.getElementById('gradscape-data').textContent);
        const t = gd.data[D.first];
        return [Array.from(t.x), Array.from(t.y), t.z ? Array.from(t.z) : []];
    }""")
    if view == "loss":  # Rosenbrock's f* is 0: the loss itself, on a log axis
        expected = [np.arange(len(run.losses)), np.maximum(run.losses, 1e-16)]
    else:
        assert run.points.min() >= -2 and run.points[:, 0].max() <= 2  # in the box: no point hidden
        expected = [run.points[:, 0], run.points[:, 1], np.log1p(np.maximum(run.losses - live["floor"], 0))]
    for got, want in zip(drawn, expected):
        got = np.array(got, dtype=float)
        assert got.shape == want.shape
        assert (np.abs(got - want) / np.maximum(1.0, np.abs(want))).max() <= RTOL
    assert page.errors == [] and page.refused == []


@pytest.mark.parametrize("view", ["live", "frames", "loss", "surface3d"])
def test_the_inlined_plotly_knows_every_trace_type_the_file_draws(browser, files, view):
    # A flat view's file inlines plotly.js without its 3-D types, and Plotly draws a trace of a type it
    # lacks as an empty scatter, without an error: [asked, drawn] for every trace must agree.
    page = offline_page(browser, files[view].as_uri())
    page.wait_for_function("() => document.getElementById('plot')?._fullData?.length > 0", timeout=30_000)
    types = page.evaluate("""() => { const gd = document.getElementById('plot');
        return gd._fullData.map((t) => [gd.data[t.index].type || 'scatter', t.type]); }""")
    assert all(asked == drawn for asked, drawn in types), types
    assert ("surface" in {asked for asked, _ in types}) == (view == "surface3d")
    assert page.errors == [] and page.refused == []


def test_a_typed_formula_recomputes_from_its_tape(browser, tmp_path):
    query = "surface=custom&f=x^2%2B3*y^2%2Bsin(x*y)&domain=-2,2,-2,2&opt=momentum&steps=80&start=1.5,1&autoplay=0"
    scene, display = scene_from_state(query, get_settings())
    path = export(scene, make_options("html", autoplay=False), tmp_path / "formula.html")
    page = offline_page(browser, path.as_uri())
    wait_first(page)
    value = move_slider(page, 0, "lr", 650)
    hp = page.evaluate("JSON.parse(document.getElementById('gradscape-data').textContent).live.runs[0].hp")
    run = core.trajectory({"formula": "x^2+3*y^2+sin(x*y)", "domain": [-2, 2, -2, 2]}, "momentum", (1.5, 1.0), 80,
                          {**hp, "lr": value})
    drawn = drawn_line(page, 0)
    assert drawn.shape == run.points.shape
    assert (np.abs(drawn - run.points) / np.maximum(1.0, np.abs(run.points))).max() <= RTOL
    assert page.errors == [] and page.refused == []


def test_an_optimizer_the_page_cannot_step_keeps_its_frames_and_says_why(browser, files):
    page = offline_page(browser, files["live"].as_uri())
    wait_first(page)
    box = page.locator("#sliders fieldset").nth(2)
    assert box.evaluate("(el) => el.disabled")
    assert box.locator("input").count() == 0
    assert "needs the Gradscape server" in box.inner_text() or "need the Gradscape server" in box.inner_text()
    lbfgs = core.trajectory("rosenbrock", "lbfgs", (-1.2, 1.0), 200)
    drawn = drawn_line(page, 2)
    np.testing.assert_allclose(drawn, lbfgs.points[: len(drawn)], rtol=1e-6, atol=1e-6)  # float32 frames
    assert page.errors == [] and page.refused == []


def test_inside_an_iframe_of_a_16_9_slide(browser, files, tmp_path):
    slide = tmp_path / "slide.html"
    slide.write_text(f"""<!doctype html><html><head><style>
        body {{ margin: 0; }} .slides {{ width: 1280px; height: 720px; display: flex; flex-direction: column; }}
        h2 {{ margin: 0.3em; font: 32px sans-serif; }} iframe {{ flex: 1; border: 0; width: 100%; }}
        </style></head><body><div class="reveal"><div class="slides"><section>
        <h2>Adam against momentum</h2></section>
        <iframe src="{files['live'].as_uri()}" title="race"></iframe></div></div></body></html>""", encoding="utf-8")
    page = offline_page(browser, slide.as_uri())
    frame = page.frame_locator("iframe")
    frame.locator("#plot .main-svg").first.wait_for()
    inner = next(f for f in page.frames if f.url == files["live"].as_uri())
    wait_first(inner)
    value = move_slider(inner, 0, "lr", 650)
    hp = inner.evaluate("JSON.parse(document.getElementById('gradscape-data').textContent).live.runs[0].hp")
    assert_server_path(drawn_line(inner, 0), "adam", {**hp, "lr": value})
    # Everything of the file is inside the slide's frame: plot, timeline and sliders.
    box = page.locator("iframe").bounding_box()
    for part in ("#plot", "#controls", "#sliders"):
        r = frame.locator(part).bounding_box()
        assert r["width"] > 0 and r["height"] > 0
        assert box["x"] - 1 <= r["x"] and r["x"] + r["width"] <= box["x"] + box["width"] + 1, part
        assert box["y"] - 1 <= r["y"] and r["y"] + r["height"] <= box["y"] + box["height"] + 1, part
    assert page.errors == [] and page.refused == []


def test_frames_only_is_the_file_without_the_engine(browser, files):
    text = files["frames"].read_text(encoding="utf-8")
    assert (STATIC / "js" / "export" / "player.js").read_text(encoding="utf-8") in text
    assert "gradscapeLive" not in text and 'id="sliders"' not in text
    page = offline_page(browser, files["frames"].as_uri())
    page.locator("#plot .main-svg").first.wait_for()
    page.wait_for_function("document.getElementById('step').textContent === 'step 200'")
    assert page.errors == [] and page.refused == []


def test_frames_only_belongs_to_html():
    with pytest.raises(core.InvalidInput, match="frames_only"):
        make_options("gif", frames_only=True)


def test_the_bundler_refuses_what_it_would_change(tmp_path):
    (tmp_path / "a.js").write_text('import { b as c } from "./b.js";\nexport const a = c + 1;\n')
    (tmp_path / "b.js").write_text("export const b = 41;\nconst hidden = 0;\nexport { hidden as shown };\n")
    text = bundle(tmp_path, ["a.js"], "lib")
    assert "export" not in text.replace("exports", "") and "import" not in text
    (tmp_path / "d.js").write_text("export default 1;\n")
    with pytest.raises(BundleError, match="d.js, line 1"):
        bundle(tmp_path, ["d.js"], "lib")
    (tmp_path / "e.js").write_text('const m = await import("./b.js");\n')
    with pytest.raises(BundleError, match="e.js, line 1"):
        bundle(tmp_path, ["e.js"], "lib")


def test_the_bundle_runs_and_exports_what_the_modules_export(tmp_path, browser):
    (tmp_path / "a.js").write_text('import { b as c } from "./b.js";\nimport * as B from "./b.js";\n'
                                   "export const a = c + 1;\nexport function twice() { return B.shown * 2; }\n")
    (tmp_path / "b.js").write_text("export const b = 41;\nconst hidden = 3;\nexport { hidden as shown };\n")
    page = browser.new_page()
    page.set_content(f"<script>{bundle(tmp_path, ['a.js'], 'lib')}</script>")
    assert page.evaluate("[lib.a, lib.twice(), Object.keys(lib).sort()]") == [42, 6, ["a", "twice"]]
    page.close()


@pytest.mark.parametrize("frames_only", [False, True])
def test_the_share_box_asks_for_either_file(page, tmp_path, frames_only):
    page.goto(f"{page.base}/?surface=rosenbrock&opt=adam&steps=50&autoplay=0")
    page.wait_for_function("window.__drawn.some((e) => e.kind === 'data')")
    if frames_only:
        page.check("#export-frames-only")
    with page.expect_request(lambda r: r.url.endswith("/api/exports") and r.method == "POST") as sent:
        with page.expect_download(timeout=90_000) as download:
            page.locator('[data-export="html"]').click()
    assert sent.value.post_data_json.get("frames_only", False) is frames_only
    path = tmp_path / "race.html"
    download.value.save_as(path)
    assert ('id="sliders"' in path.read_text(encoding="utf-8")) is not frames_only
    assert page.errors == []


def test_the_command_line_names_its_flag_when_a_format_has_no_sliders(tmp_path, capsys):
    from app.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["export", "--state", "surface=beale&opt=adam&steps=20", "--out", str(tmp_path / "race.gif"),
              "--frames-only"])
    assert exit_.value.code == 2
    assert "--frames-only: frames_only leaves out an html file's sliders; a gif has none" in capsys.readouterr().err
    assert main(["export", "--state", "surface=beale&opt=adam&steps=20", "--out", str(tmp_path / "race.html"),
                 "--frames-only"]) == 0
    assert 'id="sliders"' not in (tmp_path / "race.html").read_text(encoding="utf-8")
