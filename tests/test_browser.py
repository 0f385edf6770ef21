"""The page and the embed in a real Chromium against a real `gradscape serve`.

Every wait is for an explicit condition: an event the page announces
(tests/browser_helpers.py), a URL, a visible element. Speed is measured in
bench/page_bench.py, not here.
"""

from __future__ import annotations

import html
import json
from urllib.parse import parse_qsl

import numpy as np
import pytest

import core
from app.presets import PRESETS
from app.state import request_from_query
from app.palette import colour_for
from browser_helpers import BROWSER_MARKS, PLOT_TRACES_JS, VIEWPORT, drawn_count, wait_drawn, watch

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = BROWSER_MARKS

TWO = "surface=beale&start=0.7,1.4&steps=200&opt=adam,sgd&adam.lr=0.05&sgd.lr=0.01&autoplay=0"
FULL = ("surface=quadratic&surface.kappa=50&start=-1.5,0.8&steps=120&opt=adam,momentum&adam.lr=0.02&adam.beta1=0.8"
        "&momentum.momentum=0.5&sched=cosine&sched.t_max=100&sched.warmup_steps=5&noise=0.1&noise_seed=3"
        "&view=loss&speed=2&autoplay=0&loop=1&inspect=adam&large=1")


def new_page(browser, live_server):
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.errors = watch(page)
    page.base = live_server.url
    return page


@pytest.fixture
def page(browser, live_server):
    page = new_page(browser, live_server)
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def preset_page(browser, live_server):
    """One page that every preset test switches to its own preset, as a teacher would."""
    page = new_page(browser, live_server)
    open_page(page, "surface=booth&opt=sgd&autoplay=0")
    yield page
    page.context.close()


def open_page(page, query: str = "", path: str = "/"):
    page.goto(f"{page.base}{path}{'?' + query if query else ''}")
    wait_drawn(page, "data")


def plot_data(page, element_id: str) -> list[dict]:
    """The traces Plotly holds for a plot: type, mode, name and the points drawn."""
    return page.evaluate(f"""(id) => ({PLOT_TRACES_JS})(id).map((t) => ({{
        type: t.type, mode: t.mode, name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || []),
        z: t.z ? t.z.length : 0 }}))""", element_id)


def lines(page, element_id: str = "contour-fg") -> dict[str, dict]:
    """The runs' lines by name (the 3-D view's white casings under them left out)."""
    return {t["name"]: t for t in plot_data(page, element_id) if t["mode"] == "lines" and t["name"] != "casing"}


def query_of(page) -> str:
    return page.evaluate("location.search.slice(1)")


def wait_query(page, expected: str):
    page.wait_for_function("(q) => location.search.slice(1) === q", arg=expected)


def alert_text(page) -> str | None:
    box = page.locator("#alert")
    return box.inner_text() if box.is_visible() else None


def painted_colours(page, canvas_id: str, at_least: int = 5) -> list[str]:
    """The opaque colours a canvas shows in at least `at_least` pixels, as lower-case #rrggbb."""
    return page.evaluate("""([id, n]) => {
        const c = document.getElementById(id);
        const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        const count = new Map();
        for (let i = 0; i < px.length; i += 4) {
          if (px[i + 3] !== 255) continue;
          const hex = "#" + [px[i], px[i + 1], px[i + 2]].map((v) => v.toString(16).padStart(2, "0")).join("");
          count.set(hex, (count.get(hex) || 0) + 1);
        }
        return [...count].filter(([, k]) => k >= n).map(([hex]) => hex);
    }""", [canvas_id, at_least])


def label(optimizer_id: str) -> str:
    return core.OPTIMIZERS[optimizer_id].label


# --- loading and drawing -----------------------------------------------------------

def test_page_loads_draws_every_view_and_logs_no_errors(page):
    open_page(page)
    first = PRESETS[0]
    opt = dict(parse_qsl(first.query))["opt"].split(",")
    wait_drawn(page, "first-frame")  # the default plays on load
    drawn = lines(page)
    assert sorted(drawn) == sorted(label(o) for o in opt)
    assert all(len(t["x"]) >= 1 for t in drawn.values())
    contour = plot_data(page, "contour-bg")
    assert contour[0]["type"] == "contour" and contour[0]["z"] == 100
    assert sorted(lines(page, "loss-fg")) == sorted(label(o) for o in opt)
    assert page.locator("#legend .legend-item").count() == len(opt)
    # The lines are on screen, not only in the data: the canvas shows the runs' colours (a line
    # that runs under another may be hidden, so most of them, not each).
    page.evaluate("window.gradscape.scene.player.pause(); window.gradscape.scene.player.seek(window.gradscape.scene.player.length)")
    page.wait_for_function("() => document.getElementById('counter').textContent.startsWith(`step ${window.gradscape.scene.player.length} `)")
    shown = set(painted_colours(page, "contour-lines")) & {colour_for(o).lower() for o in opt}
    assert len(shown) >= len(opt) / 2, shown
    assert query_of(page) == first.query
    assert page.errors == []


def test_the_runs_the_page_assembles_from_the_stream_are_cores_exactly(page):
    # Two chunks a run (the first is small), state, step sizes, and a run that diverges.
    body = {"surface": "quadratic", "steps": 300, "runs": [
        {"optimizer": "adam"}, {"optimizer": "adagrad"}, {"optimizer": "sgd", "hyperparameters": {"lr": 10}}]}
    open_page(page, TWO)
    runs = page.evaluate("""async (body) => {
        const { streamTrajectories } = await import("/static/js/api.js");
        return streamTrajectories(body);
    }""", body)
    start = core.SURFACES["quadratic"].start

    def floats(*columns):  # Playwright hands whole numbers back as ints
        return np.asarray(columns if len(columns) > 1 else columns[0], dtype=float).T

    for run, spec in zip(runs, body["runs"]):
        t = core.trajectory("quadratic", spec["optimizer"], start, 300, spec.get("hyperparameters"))
        assert run["diverged_at"] == t.diverged_at
        for name, keys in {"points": ("xs", "ys"), "losses": ("losses",), "lr": ("lr",), "gradients": ("gx", "gy"),
                           "effective_lr": ("effx", "effy")}.items():
            assert np.array_equal(floats(*(run[k] for k in keys)), getattr(t, name)), name
        assert run["state"].keys() == t.state.keys()
        for name, values in t.state.items():
            assert np.array_equal(floats(run["state"][name]["x"], run["state"][name]["y"]), values), name
        assert (run["stepSize"] is None) == (t.step_size is None)
        assert t.step_size is None or np.array_equal(floats(run["stepSize"]), t.step_size)
    assert runs[2]["diverged_at"] is not None and runs[0]["stepSize"] is not None
    assert page.errors == []


def test_every_control_comes_from_the_registry_with_an_accessible_name(page):
    open_page(page, TWO)
    names = set(page.evaluate("""() => [...document.querySelectorAll('input[type=range], input[type=checkbox][data-key]')]
        .map((el) => el.getAttribute('aria-label'))"""))
    for spec in core.OPTIMIZERS.values():
        for h in spec.hyperparameters:
            assert f"{spec.label} {h.name}" in names, f"no control named {spec.label} {h.name}"
    for spec in core.SURFACES.values():
        for h in spec.params:
            assert f"{spec.label} {h.name}" in names
    surfaces = page.locator("#surface option").evaluate_all("(os) => os.map((o) => o.value)")
    assert surfaces == [*core.SURFACES, "custom", "network"]  # then a typed formula and a small network
    schedules = page.locator("select[data-key=sched] option").evaluate_all("(os) => os.map((o) => o.value)")
    assert schedules == list(core.SCHEDULES)
    unnamed = page.evaluate("""() => [...document.querySelectorAll('input, select, button')].filter((el) =>
        !el.getAttribute('aria-label') && !el.labels?.length && !el.textContent.trim()).map((el) => el.outerHTML)""")
    assert unnamed == []
    assert page.errors == []


def test_a_slider_moved_from_the_keyboard_recomputes_and_redraws(page):
    open_page(page, TWO)
    before = lines(page)[label("adam")]
    sgd_before = lines(page)[label("sgd")]
    count = drawn_count(page, "data")
    page.get_by_role("button", name="Adam hyperparameters", exact=True).click()
    slider = page.get_by_label("Adam lr", exact=True)
    slider.focus()
    for _ in range(20):
        page.keyboard.press("ArrowRight")
    wait_drawn(page, "data", after=count)
    # Key presses slower than the address's debounce (a busy machine) write intermediate values first.
    page.wait_for_function("""() => new URLSearchParams(location.search).get('adam.lr')
        === document.querySelector('[aria-label="Adam lr value"]').value""")
    lr = float(dict(parse_qsl(query_of(page)))["adam.lr"])
    assert lr > 0.05
    assert float(page.get_by_label("Adam lr value", exact=True).input_value()) == lr
    after = lines(page)[label("adam")]
    assert after["x"] != before["x"]
    assert lines(page)[label("sgd")]["x"] == sgd_before["x"]
    assert page.errors == []


def test_a_click_on_the_contour_sets_the_start(page):
    open_page(page, TWO)
    count = drawn_count(page, "data")
    box = page.locator("#contour-fg .nsewdrag").bounding_box()
    # A quarter of the way in from the top left of Beale's [-4.5, 4.5]^2: about (-2.25, 2.25).
    page.mouse.click(box["x"] + box["width"] / 4, box["y"] + box["height"] / 4)
    wait_drawn(page, "data", after=count)
    xs, ys = page.get_by_label("Start x").input_value(), page.get_by_label("Start y").input_value()
    x, y = float(xs), float(ys)
    assert x == pytest.approx(-2.25, abs=0.1) and y == pytest.approx(2.25, abs=0.1)
    for trace in lines(page).values():
        assert (trace["x"][0], trace["y"][0]) == (x, y)
    page.wait_for_function("(s) => new URLSearchParams(location.search).get('start') === s", arg=f"{xs},{ys}")
    assert page.errors == []


POINT_AT_JS = """([canvas, name, i, loss]) => {
  const c = document.getElementById(canvas), t = c.data.find((t) => t.name === name);
  const full = document.getElementById(canvas.replace(/-lines$/, "-bg"))._fullLayout, r = c.getBoundingClientRect();
  const x = loss ? i : t.x[i], y = t.y[i];
  return [r.left + full.xaxis._offset + full.xaxis.c2p(x), r.top + full.yaxis._offset + full.yaxis.c2p(y)];
}"""


@pytest.mark.parametrize("view", ["contour", "loss"])
def test_hovering_a_line_names_the_run_its_step_and_the_cores_values_there(page, view):
    open_page(page, f"{TWO}&view={view}")
    run = core.trajectory("beale", "adam", (0.7, 1.4), 200, {"lr": 0.05})
    i = 60
    at = page.evaluate(POINT_AT_JS, [f"{view}-lines", label("adam"), i, view == "loss"])
    page.mouse.move(*at)
    tip = page.locator(f".panel-{view} .line-tip")
    tip.wait_for(state="visible")
    name, step, *values = tip.inner_text().split("\n")
    j = int(step.removeprefix("step "))
    assert name == label("adam") and abs(j - i) <= 3  # the nearest point drawn, within a few pixels
    g4 = lambda v: f"{float(f'{v:.4g}'):g}"
    if view == "contour":
        assert values == [f"({g4(run.points[j][0])}, {g4(run.points[j][1])})", f"loss {g4(run.losses[j])}"]
    else:
        assert values == [f"loss f {g4(run.losses[j])}"]
    page.mouse.move(1, 1)
    tip.wait_for(state="hidden")
    assert page.errors == []


AXES_JS = """() => ['contour-bg', 'contour-fg'].map((id) => {
  const { xaxis: x, yaxis: y } = document.getElementById(id)._fullLayout;
  return { x: [...x.range], y: [...y.range], px: [x._length / (x.range[1] - x.range[0]), y._length / (y.range[1] - y.range[0])] };
})"""


def test_another_domains_shape_gets_its_own_axes_at_equal_scales(page):
    # From a square domain to a wide one: the axes hold the new domain, not a stretched copy of the old.
    open_page(page, "surface=himmelblau&opt=sgd&autoplay=0")
    count = drawn_count(page, "data")
    page.locator("#surface").select_option("six_hump_camel")
    wait_drawn(page, "data", after=count)
    (x0, x1), (y0, y1) = core.SURFACES["six_hump_camel"].domain
    for plot in page.evaluate(AXES_JS):
        assert plot["x"] == pytest.approx([x0, x1]) and plot["y"] == pytest.approx([y0, y1])
        assert plot["px"][0] == pytest.approx(plot["px"][1], rel=1e-6)  # a unit is as long across as up
    assert page.errors == []


def test_the_url_holds_the_whole_state_and_a_reload_restores_it(page):
    sent = []
    page.on("request", lambda r: sent.append(r.post_data) if r.url.endswith("/api/trajectories/stream") else None)
    open_page(page, FULL)
    wait_query(page, FULL)
    assert page.locator("#surface").input_value() == "quadratic"
    assert page.get_by_label("Ill-conditioned quadratic kappa value", exact=True).input_value() == "50"
    assert page.get_by_label("Adam beta1 value", exact=True).input_value() == "0.8"
    assert page.locator("select[data-key=sched]").input_value() == "cosine"
    assert page.locator("input[name=view][value=loss]").is_checked()
    assert page.evaluate("document.documentElement.classList.contains('large')")
    assert page.locator(".panel-loss").is_visible() and not page.locator(".panel-contour").is_visible()
    # The request the page sent is the one Python reads from the same URL.
    body = json.loads(sent[-1])
    expected = request_from_query(FULL)
    for key in ("surface", "start", "steps", "runs", "schedule", "noise", "seed"):
        assert body[key] == expected[key], key
    assert body["encoding"] == "base64"
    page.reload()
    wait_drawn(page, "data")
    wait_query(page, FULL)
    assert page.errors == []


@pytest.mark.parametrize("preset", PRESETS, ids=[p.id for p in PRESETS])
def test_each_preset_draws_what_it_names(preset_page, preset):
    page = preset_page
    count = drawn_count(page, "data")
    frames = drawn_count(page, "frame")
    page.locator("#preset").select_option(preset.id)
    wait_drawn(page, "data", after=count)
    wait_query(page, preset.query)
    q = dict(parse_qsl(preset.query))
    # A run may carry its own name (adamw.label=...); the rest are named by their optimizer.
    assert sorted(lines(page)) == sorted(q.get(f"{o}.label") or label(o) for o in q["opt"].split(","))
    assert page.locator("#question").inner_text() == f"{preset.title} – {preset.question}"
    assert alert_text(page) is None
    wait_drawn(page, "frame", after=frames)  # a preset plays from the start
    if "inspect" in q:
        page.wait_for_selector(".rule-symbolic math")
        assert len(plot_data(page, "insp-lr")) >= 1
    assert page.errors == []


def test_presets_are_states_python_reads_and_runs():
    for preset in PRESETS:
        body = request_from_query(preset.query)
        if body["surface"] == "network":
            continue  # trained by tests/test_network_presets.py
        for run in body["runs"]:
            t = core.trajectory(body["surface"], run["optimizer"], body["start"], body["steps"], run["hyperparameters"])
            assert t.diverged_at is None, (preset.id, run["optimizer"])


# --- errors ------------------------------------------------------------------------

def test_a_bad_link_still_draws_the_surface_and_says_what_is_wrong(page):
    page.goto(f"{page.base}/?surface=rosenbrock&opt=adam&adam.beta1=2&autoplay=0")
    page.get_by_role("alert").wait_for(state="visible")
    assert "beta1" in page.get_by_role("alert").inner_text()
    page.wait_for_function("() => (document.getElementById('contour-bg').data || []).length === 1")


# --- the rest of the page ----------------------------------------------------------

def test_space_plays_and_pauses_and_the_scrubber_steps(page):
    open_page(page, TWO)
    play = page.locator("#play")
    page.evaluate("document.activeElement.blur()")  # the keyboard goes to the page, not a control
    page.keyboard.press("Space")
    page.wait_for_function("() => document.getElementById('play').getAttribute('aria-pressed') === 'true'")
    wait_drawn(page, "first-frame")
    page.keyboard.press("Space")
    assert play.get_attribute("aria-pressed") == "false"
    scrubber = page.get_by_label("Step", exact=True)
    scrubber.focus()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.getElementById('counter').textContent === 'step 1 / 200'")
    head = [t for t in plot_data(page, "contour-fg") if t["name"] == "now"][0]
    assert len(head["x"]) == 2
    assert all(len(t["x"]) == 2 for t in lines(page).values())


def test_the_inspector_shows_the_rule_with_values_and_the_step_size(page):
    open_page(page, TWO + "&inspect=adam")
    page.wait_for_selector(".rule-values math")
    assert "0.05" in page.locator(".rule-values").inner_text()
    lr = plot_data(page, "insp-lr")
    assert [t["name"] for t in lr] == ["lr applied", "bias-corrected step size"]
    assert len(lr[1]["y"]) == 200
    slots = [s for s in core.OPTIMIZERS["adam"].state if not s.startswith("_")]
    assert page.locator(".insp-state .js-plotly-plot").count() == len(slots)
    assert page.errors == []


def test_the_3d_view_rides_the_trajectories_on_the_surface(page):
    open_page(page, TWO)
    count = drawn_count(page, "frame")
    page.get_by_label("3-D surface", exact=True).check()
    page.wait_for_function("() => (document.getElementById('surface3d').data || []).length > 0")
    traces = plot_data(page, "surface3d")
    assert traces[0]["type"] == "surface"
    assert sorted(lines(page, "surface3d")) == sorted([label("adam"), label("sgd")])
    wait_query(page, TWO.replace("&autoplay=0", "&view=surface3d&autoplay=0"))
    assert drawn_count(page, "frame") >= count
    assert page.errors == []


def test_plotly_knows_every_trace_type_the_page_draws(page):
    # The vendored plotly.js holds only the types scripts/build-plotly names, and Plotly skips
    # a trace of a type it lacks without an error.
    open_page(page, TWO + "&inspect=adam")
    page.get_by_label("3-D surface", exact=True).check()
    page.wait_for_function("() => (document.getElementById('surface3d').data || []).length > 0")
    # [asked, drawn] for every trace: Plotly draws a trace of an unknown type as an empty scatter.
    types = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].flatMap((gd) =>
        gd._fullData.map((t) => [gd.data[t.index].type || 'scatter', t.type]))""")
    assert all(asked == drawn for asked, drawn in types), types
    assert {asked for asked, _ in types} == {"scatter", "contour", "surface", "scatter3d"}
    assert page.errors == []


def test_the_share_box_offers_the_link_and_an_iframe_snippet(page):
    open_page(page, TWO)
    assert page.locator("#share-url").input_value() == f"{page.base}/?{TWO}"
    snippet = page.locator("#embed-snippet").input_value()
    playing = TWO.replace("&autoplay=0", "&loop=1")
    assert snippet.startswith(f'<iframe src="{html.escape(f"{page.base}/embed?{playing}")}"')


def test_the_html_export_button_downloads_a_file(page):
    open_page(page, "surface=booth&steps=20&opt=sgd&sgd.lr=0.05&autoplay=0")
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="HTML").click()
    assert download.value.suggested_filename.endswith(".html")
    assert alert_text(page) is None


@pytest.mark.parametrize("view", ["contour", "surface3d", "loss"])
def test_the_embed_shows_one_view_and_plays(page, view):
    # Software WebGL makes every 3-D frame slow here, so that view is checked standing still.
    playing = view != "surface3d"
    open_page(page, f"{PRESETS[1].query}&view={view}&{'loop=1' if playing else 'autoplay=0'}", path="/embed")
    if playing:
        wait_drawn(page, "first-frame")
    shown = {"contour": "contour-fg", "surface3d": "surface3d", "loss": "loss-fg"}[view]
    opt = dict(parse_qsl(PRESETS[1].query))["opt"].split(",")
    assert sorted(lines(page, shown)) == sorted(label(o) for o in opt)
    visible = page.evaluate("() => [...document.querySelectorAll('.panel')].filter((p) => p.offsetParent).length")
    assert visible == 1
    assert page.errors == []


def test_a_link_to_the_3d_view_opens_without_an_alert(page):
    # The first preset at this viewport showed the alert every time before the resize moved to the next frame.
    open_page(page, f"{PRESETS[0].query}&view=surface3d&autoplay=0")
    page.wait_for_function("() => (document.getElementById('surface3d').data || []).length > 0")
    page.wait_for_timeout(1000)  # a resize loop reports itself a frame or two after the plot appears
    assert alert_text(page) is None
    assert page.errors == []


def test_the_steps_control_stops_at_the_servers_limit(monkeypatch):
    """The page offers no more steps than the API accepts (GRADSCAPE_MAX_STEPS, not the core's own cap)."""
    from app.http import pages
    from app.settings import get_settings

    monkeypatch.setenv("GRADSCAPE_MAX_STEPS", "1234")
    for cached in (get_settings, pages._catalog, pages._catalog_json_for):
        cached.cache_clear()
    try:
        steps = {s["name"]: s for s in pages.catalog()["run_settings"]}["steps"]
        assert steps["high"] == 1234
    finally:
        monkeypatch.undo()
        for cached in (get_settings, pages._catalog, pages._catalog_json_for):
            cached.cache_clear()
