"""The map view and Tune lr in Debian's Chromium, against a real server; core is the oracle for every number."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
import numpy as np
import pytest

import core
from browser_helpers import BROWSER_MARKS, VIEWPORT, watch
from conftest import LiveServer

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = BROWSER_MARKS

LR_MOMENTUM = ("surface=quadratic&surface.kappa=50&start=-1.8,1&steps=100&opt=momentum&view=map&autoplay=0"
               "&map.opt=momentum&map.x=lr&map.y=momentum&map.n=32")
BASINS = ("surface=himmelblau&start=0,0&steps=300&opt=momentum&momentum.lr=0.01&momentum.momentum=0.9&view=map"
          "&autoplay=0&map.opt=momentum&map.x=x&map.y=y&map.color=basin&map.n=32")
RACE = "surface=beale&start=1,1.5&steps=300&opt=sgd,adam&autoplay=0"


def new_page(browser, base: str, viewport=VIEWPORT):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.errors = watch(page)
    page.base = base
    return page


@pytest.fixture
def page(browser, live_server):
    page = new_page(browser, live_server.url)
    yield page
    page.context.close()


def open_map(page, query: str, path: str = "/") -> dict:
    page.goto(f"{page.base}{path}?{query}")
    return wait_map(page)


def wait_map(page, after: int = 0) -> dict:
    """The newest finished (or stopped) map announcement after `after` of them."""
    page.wait_for_function("""(after) => window.__drawn.filter((e) => e.kind === "map").slice(after)
        .some((e) => e.done || e.error)""", arg=after, timeout=30_000)
    return page.evaluate("window.__drawn.filter((e) => e.kind === 'map' && (e.done || e.error)).at(-1)")


def map_count(page) -> int:
    return page.evaluate("window.__drawn.filter((e) => e.kind === 'map').length")


def map_data(page) -> dict:
    return page.evaluate("""() => { const d = window.gradscape.scene.views.map.data;
        return { xs: d.xs, ys: d.ys, nx: d.nx, ny: d.ny, rows: d.rows, loss: Array.from(d.loss, (v) => (Number.isNaN(v) ? null : v)),
                 hit: Array.from(d.hit, (v) => (Number.isNaN(v) ? null : v)), diverged: Array.from(d.diverged),
                 basin: Array.from(d.basin), known: Array.from(d.known) }; }""")


def query(page) -> dict:
    return dict(parse_qsl(page.evaluate("location.search.slice(1)")))


def cell_point(page, i: int, j: int) -> tuple[float, float]:
    """The page coordinates of cell (i, j)'s centre."""
    return tuple(page.evaluate("""([i, j]) => {
        const v = window.gradscape.scene.views.map, gd = v.plot, full = gd._fullLayout, d = v.data;
        const r = gd.querySelector(".nsewdrag").getBoundingClientRect();
        const lin = (a, x) => (a.log ? Math.log10(x) : x);
        return [r.left + full.xaxis.l2p(lin(d.m.x, d.xs[i])), r.top + full.yaxis.l2p(lin(d.m.y, d.ys[j]))]; }""", [i, j]))


def status(page) -> str:
    return page.locator(".map-status").inner_text()


# --- the map ---------------------------------------------------------------------------

def test_the_map_streams_the_cells_core_computes(page):
    open_map(page, LR_MOMENTUM)
    d = map_data(page)
    lr, momentum = core.OPTIMIZERS["momentum"].hyper("lr"), core.OPTIMIZERS["momentum"].hyper("momentum")
    np.testing.assert_allclose(d["xs"], np.geomspace(lr.low, lr.high, 32), rtol=1e-14)
    np.testing.assert_allclose(d["ys"], np.linspace(momentum.low, momentum.high, 32), rtol=1e-14)
    sw = core.sweep({"name": "quadratic", "kappa": 50}, "momentum", (-1.8, 1.0), 100, {"lr": d["xs"], "momentum": d["ys"]})
    assert d["rows"] == 32 and all(d["known"])
    got = np.array([np.nan if v is None else v for v in d["loss"]], dtype=float).reshape(32, 32)
    np.testing.assert_array_equal(got, sw.final_losses)
    np.testing.assert_array_equal(np.array(d["diverged"]).reshape(32, 32), sw.diverged)
    assert sw.diverged.any() and (~sw.diverged).any()  # the map has both sides of the boundary
    assert "32 × 32 runs of 100 steps" in status(page)
    assert page.evaluate("window.gradscape.scene.views.map.plot.layout.images.length") == 1
    assert page.locator(".panel-map").is_visible() and page.locator(".panel-contour").is_visible()
    assert page.errors == []


def test_hovering_a_cell_shows_its_values_and_clicking_runs_it_on_the_contour(page):
    open_map(page, LR_MOMENTUM)
    d = map_data(page)
    i, j = 12, 28
    page.mouse.move(*cell_point(page, i, j))
    tip = page.locator(".map-tip")
    tip.wait_for(state="visible")
    shown = page.evaluate("([x, y]) => import('/static/js/util.js').then((u) => [u.fmt(x, 4), u.fmt(y, 4)])", [d["xs"][i], d["ys"][j]])
    assert tip.inner_text().startswith(f"lr = {shown[0]}, momentum = {shown[1]}\n")
    count = page.evaluate("window.__drawn.filter((e) => e.kind === 'data').length")
    page.mouse.click(*cell_point(page, i, j))
    page.wait_for_function("(n) => window.__drawn.filter((e) => e.kind === 'data').length > n", arg=count)
    page.wait_for_function("() => location.search.includes('momentum.momentum=')")  # the URL is written once changes settle
    q = query(page)
    assert float(q["momentum.lr"]) == d["xs"][i] and float(q["momentum.momentum"]) == d["ys"][j]
    line = next(t for t in page.evaluate("document.getElementById('contour-lines').data.map((t) => ({name: t.name, n: (t.x || []).length}))")
                if t["name"] == "Momentum")
    assert line["n"] >= 1
    # The map marks the settings now in force.
    marks = page.evaluate("window.gradscape.scene.views.map.plot.data.filter((t) => t.marker?.symbol === 'circle-open').map((t) => [t.x[0], t.y[0]])")
    assert marks and all(m == [d["xs"][i], d["ys"][j]] for m in marks)
    assert page.errors == []


def test_the_keyboard_moves_between_cells_and_enter_runs_one(page):
    open_map(page, LR_MOMENTUM)
    d = map_data(page)
    page.locator(".map-plot").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowUp")
    page.locator(".map-tip").wait_for(state="visible")
    page.keyboard.press("Enter")
    page.wait_for_function("() => location.search.includes('momentum.lr=')")
    q = query(page)
    assert float(q["momentum.lr"]) == d["xs"][17] and float(q["momentum.momentum"]) == d["ys"][17]


def test_the_map_controls_are_part_of_the_url(page):
    open_map(page, LR_MOMENTUM)
    n = map_count(page)
    page.locator('select[data-map="map.color"]').select_option("steps")
    page.wait_for_function("() => location.search.includes('map.color=steps')")
    page.locator('select[data-map="map.x"]').select_option("momentum")  # the other axis's: they swap
    page.wait_for_function("() => location.search.includes('map.x=momentum')")
    wait_map(page, n)
    q = query(page)
    assert (q["map.x"], q["map.y"], q["map.color"], q["map.n"]) == ("momentum", "lr", "steps", "32")
    title = page.evaluate("window.gradscape.scene.views.map.plot.layout.xaxis.title.text")
    assert title == "momentum"
    # The same link opens the same map.
    again = new_page(page.context.browser, page.base)
    open_map(again, page.evaluate("location.search.slice(1)"))
    assert again.locator('select[data-map="map.color"]').input_value() == "steps"
    assert again.locator('select[data-map="map.x"]').input_value() == "momentum"
    assert again.locator('select[data-map="map.y"]').input_value() == "lr"
    again.context.close()


def test_himmelblaus_basins_match_core_and_colour_the_contours_minima(page):
    open_map(page, BASINS)
    d = map_data(page)
    b = core.basins("himmelblau", "momentum", d["xs"], d["ys"], 300, {"lr": 0.01, "momentum": 0.9})
    np.testing.assert_array_equal(np.array(d["basin"]).reshape(32, 32), b.labels)
    assert {0, 1, 2, 3} <= set(d["basin"])
    palette = page.evaluate("import('/static/js/map.js').then((m) => m.BASIN_COLOURS)")
    landmarks = page.evaluate("document.getElementById('contour-fg').data.find((t) => t.name === 'landmarks').marker.color")
    assert landmarks[:4] == palette[:4]
    assert page.locator(".map-key-item").filter(has_text="ends at").count() == 4
    # Leaving the map puts the landmarks back in their own colour.
    page.locator('input[name="view"][value="contour"]').check()
    page.wait_for_function("() => document.getElementById('contour-fg').data.find((t) => t.name === 'landmarks').marker.color[0] === '#000000'")


def test_a_stopped_stream_leaves_a_partial_map_and_says_why(browser):
    server = LiveServer(env={"GRADSCAPE_MAX_COMPUTE_SECONDS": "0.000001"})
    try:
        page = new_page(browser, server.url)
        announced = open_map(page, "surface=beale&steps=2000&opt=adam&view=map&autoplay=0&map.opt=adam&map.n=128")
        assert announced["error"] and not announced["done"]
        text = status(page)
        assert text.startswith("Stopped after") and "limit" in text
        assert page.locator(".map-status.bad").is_visible()
        d = map_data(page)
        assert d["rows"] < 128
        assert page.evaluate("window.gradscape.scene.views.map.plot.layout.xaxis.title.text") == "lr"
        page.context.close()
    finally:
        server.stop()


def test_the_map_in_an_embed(page):
    open_map(page, LR_MOMENTUM, path="/embed")
    assert page.locator(".panel-map").is_visible()
    assert "32 × 32" in status(page)


# --- Tune lr ---------------------------------------------------------------------------

def test_tune_lr_sets_each_lr_to_the_one_core_picks_and_marks_the_legend(page):
    page.goto(f"{page.base}/?{RACE}")
    page.wait_for_function("() => window.__drawn.some((e) => e.kind === 'data')")
    page.get_by_role("button", name="Tune lr").click()
    page.wait_for_function("() => window.__drawn.some((e) => e.kind === 'tuned')")
    expected = core.tune_lr("beale", ["sgd", "adam"], (1.0, 1.5), 300)
    page.wait_for_function("() => location.search.includes('adam.lr=')")
    q = query(page)
    for curve in expected.curves:
        assert float(q[f"{curve.optimizer}.lr"]) == curve.best_lr
    page.wait_for_function("() => document.querySelectorAll('#legend .tuned').length === 2")
    assert len(page.evaluate("document.querySelector('.tune-plot').data")) == 4  # a line and a dot each
    assert "64 learning rates" in page.locator(".tune-status").inner_text()
    # Moving SGD's lr away from the tuned value takes its mark off, and only its.
    page.get_by_role("button", name="SGD hyperparameters", exact=True).click()
    box = page.locator('input[type="number"][data-key="sgd.lr"]')
    box.fill("0.001")
    box.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#legend .tuned').length === 1")
    assert page.errors == []


def test_tuning_with_noise_says_it_averaged_seeds(page):
    page.goto(f"{page.base}/?{RACE}&noise=0.2&noise_seed=4")
    page.wait_for_function("() => window.__drawn.some((e) => e.kind === 'data')")
    page.get_by_role("button", name="Tune lr").click()
    page.wait_for_function("() => window.__drawn.some((e) => e.kind === 'tuned')")
    assert "mean of 5 noise seeds (4–8)" in page.locator(".tune-status").inner_text()
    expected = core.tune_lr("beale", ["sgd", "adam"], (1.0, 1.5), 300, noise={"sigma": 0.2, "seed": 4})
    page.wait_for_function("() => location.search.includes('adam.lr=')")
    q = query(page)
    for curve in expected.curves:
        assert float(q[f"{curve.optimizer}.lr"]) == curve.best_lr


def test_a_refused_tuning_shows_the_servers_reason(page):
    page.goto(f"{page.base}/?surface=saddle&steps=100&opt=sgd&autoplay=0")
    page.wait_for_function("() => window.__drawn.some((e) => e.kind === 'data')")
    page.locator(".tune-row select").select_option("steps_to_tol")
    page.get_by_role("button", name="Tune lr").click()
    page.locator("#alert").wait_for(state="visible")
    assert "criterion" in page.locator("#alert").inner_text() and "no" in page.locator("#alert").inner_text()


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (800, 600)])
def test_the_map_fits_each_screen(browser, live_server, size, tmp_path):
    page = new_page(browser, live_server.url, {"width": size[0], "height": size[1]})
    open_map(page, BASINS)
    plot = page.locator(".map-plot").bounding_box()
    assert plot["width"] >= 200 and plot["height"] >= 160
    bar = page.locator(".map-bar").bounding_box()
    assert bar["y"] + bar["height"] <= plot["y"] + 1  # the controls never cover the cells
    page.screenshot(path=str(tmp_path / f"map-{size[0]}x{size[1]}.png"))
    page.context.close()


# --- the presets ---------------------------------------------------------------------------

def open_preset(page, preset_id: str) -> None:
    page.goto(f"{page.base}/?surface=booth&opt=sgd&autoplay=0")
    page.wait_for_function("() => window.__drawn.some((e) => e.kind === 'data')")
    page.locator("#preset").select_option(preset_id)


def test_a_teacher_clicks_the_edge_of_convergence_and_watches_the_run_oscillate(page):
    n = map_count(page) if page.url != "about:blank" else 0
    open_preset(page, "momentum_map")
    wait_map(page, n)
    assert page.locator("#question").is_visible()
    d = map_data(page)
    reached = np.array([v is not None for v in d["hit"]]).reshape(d["nx"], d["ny"])
    # The largest lr that still converges at momentum ~0.5: the edge of the bright band.
    j = int(np.searchsorted(d["ys"], 0.5))
    i = d["nx"] - 1 - int(np.argmax(reached[::-1, j]))
    assert 0 < i < d["nx"] - 1 and reached[i, j] and not reached[i + 1, j]
    count = page.evaluate("window.__drawn.filter((e) => e.kind === 'data').length")
    page.mouse.click(*cell_point(page, i, j))
    page.wait_for_function("(n) => window.__drawn.filter((e) => e.kind === 'data').length > n", arg=count)
    ys = np.array(page.evaluate("window.gradscape.scene.runs.find((r) => r.optimizer === 'momentum').ys"), dtype=float)
    crossings = int(np.sum(np.diff(np.sign(ys)) != 0))
    assert crossings > 20, crossings  # it swings across the valley floor again and again
    t = core.trajectory({"name": "quadratic", "kappa": 100}, "momentum", (-1.8, 1.0), 300, {"lr": d["xs"][i], "momentum": d["ys"][j]})
    np.testing.assert_array_equal(ys, t.points[:, 1])


def test_himmelblaus_basins_preset_shows_four_basins(page):
    open_preset(page, "himmelblau_basins")
    wait_map(page)
    assert {0, 1, 2, 3} <= set(map_data(page)["basin"])
    assert page.locator('select[data-map="map.color"]').input_value() == "basin"


def test_after_tuning_the_adam_preset_sgd_reaches_the_minimum_first(page):
    open_preset(page, "adam_or_tuning")
    page.wait_for_function("() => location.search.includes('adam.lr=0.05')")
    page.wait_for_function("() => window.__drawn.some((e) => e.kind === 'data')")

    def steps_to_tol() -> dict:
        return page.evaluate("""() => Object.fromEntries(window.gradscape.scene.runs.map((r) =>
            [r.optimizer, r.losses.findIndex((f) => f <= 1e-3)]))""")

    before = steps_to_tol()
    assert before["sgd"] == -1 and 0 < before["adam"] < before["momentum"]
    n = page.evaluate("window.__drawn.filter((e) => e.kind === 'data').length")
    page.get_by_role("button", name="Tune lr").click()
    page.wait_for_function("() => window.__drawn.some((e) => e.kind === 'tuned')")
    page.wait_for_function("(n) => window.__drawn.filter((e) => e.kind === 'data').length > n", arg=n)
    after = steps_to_tol()
    assert 0 < after["sgd"] < min(after["adam"], after["momentum"])


def test_the_map_saves_as_png_and_svg_and_an_animation_exports_the_contour_beside_it(browser, live_server, tmp_path):
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.errors = watch(page)
    page.base = live_server.url
    open_map(page, LR_MOMENTUM)
    with page.expect_download() as png:
        page.locator('[data-map-save="png"]').click()
    assert png.value.path().read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as svg:
        page.locator('[data-map-save="svg"]').click()
    text = svg.value.path().read_text()
    assert "<svg" in text and "Momentum on Ill-conditioned quadratic: 32 × 32 runs of 100 steps" in text
    assert "diverged" in text
    with page.expect_request("**/api/exports") as request:
        page.locator('[data-export="gif"]').click()
    assert request.value.post_data_json["view"] == "contour"
    context.close()


def test_a_refused_map_says_which_field_and_why(page):
    announced = open_map(page, LR_MOMENTUM.replace("steps=100", "steps=9000"))
    assert announced["error"]
    text = status(page)
    assert text.startswith("The server refused this map: steps") and "5000" in text


def test_the_learning_rates_from_before_tuning_can_be_restored(page):
    page.goto(f"{page.base}/?{RACE}&adam.lr=0.05")
    page.wait_for_function("() => window.__drawn.some((e) => e.kind === 'data')")
    page.get_by_role("button", name="Tune lr").click()
    page.wait_for_function("() => window.__drawn.some((e) => e.kind === 'tuned')")
    page.wait_for_function("() => location.search.includes('sgd.lr=')")
    page.get_by_role("button", name="Restore the previous learning rates").click()
    page.wait_for_function("() => !location.search.includes('sgd.lr=')")
    q = query(page)
    assert q["adam.lr"] == "0.05" and "sgd.lr" not in q
    page.wait_for_function("() => document.querySelectorAll('#legend .tuned').length === 0")


def test_dragging_a_box_zooms_the_map_into_the_url_and_a_double_click_undoes_it(page):
    open_map(page, LR_MOMENTUM)
    n = map_count(page)
    (x0, y0), (x1, y1) = cell_point(page, 8, 8), cell_point(page, 24, 24)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()
    page.wait_for_function("() => location.search.includes('map.xr=') && location.search.includes('map.yr=')")
    wait_map(page, n)
    q = query(page)
    lo, hi = (float(v) for v in q["map.xr"].split(","))
    d = map_data(page)
    assert d["nx"] == 32 and d["xs"][0] == pytest.approx(lo) and d["xs"][-1] == pytest.approx(hi)
    assert 1e-6 < lo < hi < 10 and "momentum.lr" not in q  # a drag is not a click
    assert page.get_by_role("button", name="Whole range").is_visible()
    n = map_count(page)
    page.locator(".map-plot").dblclick()
    page.wait_for_function("() => !location.search.includes('map.xr=')")
    wait_map(page, n)
    assert map_data(page)["xs"][0] == pytest.approx(1e-6)


def legend_marks(page) -> list[str]:
    """The names of the legend entries marked "tuned"."""
    return page.evaluate("[...document.querySelectorAll('#legend .legend-item')].filter((i) => i.querySelector('.tuned'))"
                         ".map((i) => i.querySelector('.name').textContent)")


def test_the_tuned_mark_is_in_the_link_survives_a_reload_and_a_moved_lr_slider_drops_it(page):
    page.goto(f"{page.base}/?{RACE}")
    page.wait_for_function("() => window.__drawn.some((e) => e.kind === 'data')")
    page.locator(".tune-row select").select_option("steps_to_tol")
    page.get_by_role("button", name="Tune lr").click()
    page.wait_for_function("() => window.__drawn.some((e) => e.kind === 'tuned')")
    page.wait_for_function("() => location.search.includes('tuned=')")
    q = query(page)
    assert (q["tuned"], q["tuned.by"]) == ("sgd,adam", "steps_to_tol")
    expected = core.tune_lr("beale", ["sgd", "adam"], (1.0, 1.5), 300, criterion="steps_to_tol")
    assert {c.optimizer: c.best_lr for c in expected.curves} == {k: float(q[f"{k}.lr"]) for k in ("sgd", "adam")}

    page.reload()
    page.wait_for_function("() => document.querySelectorAll('#legend .tuned').length === 2")
    assert legend_marks(page) == ["SGD", "Adam"]
    assert page.locator(".tune-row select").input_value() == "steps_to_tol"
    title = page.locator("#legend .legend-item").nth(0).locator(".tuned").get_attribute("title")
    assert "steps to tolerance" in title

    # A step of SGD's lr slider, from the keyboard, takes SGD's mark off the legend and out of the link.
    page.get_by_role("button", name="SGD hyperparameters", exact=True).click()
    page.locator('input[type="range"][data-key="sgd.lr"]').press("ArrowRight")
    page.wait_for_function("() => document.querySelectorAll('#legend .tuned').length === 1")
    assert legend_marks(page) == ["Adam"]
    page.wait_for_function("() => new URLSearchParams(location.search).get('tuned') === 'adam'")
    assert float(query(page)["sgd.lr"]) != expected.curves[0].best_lr
    assert page.errors == []


@pytest.mark.parametrize("change", ["steps", "start", "reset"])
def test_changing_what_the_tuning_measured_drops_the_marks(page, change):
    page.goto(f"{page.base}/?{RACE}&sgd.lr=0.002&adam.lr=0.08&tuned=sgd,adam&tuned.by=final_loss")
    page.wait_for_function("() => document.querySelectorAll('#legend .tuned').length === 2")
    if change == "steps":
        box = page.locator('input[type="number"][data-key="steps"]')
        box.fill("200")
        box.press("Enter")
        left = []
    elif change == "start":
        page.locator("#contour-fg").click(position={"x": 200, "y": 200})
        left = []
    else:
        page.get_by_role("button", name="Adam hyperparameters", exact=True).click()
        page.get_by_role("button", name="Reset Adam").click()
        left = ["SGD"]
    page.wait_for_function("(n) => document.querySelectorAll('#legend .tuned').length === n", arg=len(left))
    assert legend_marks(page) == left
    page.wait_for_function("(t) => (new URLSearchParams(location.search).get('tuned') ?? '') === t", arg=",".join(left).lower())


# --- basins under the contour ------------------------------------------------------------

HIMMELBLAU = "surface=himmelblau&start=0,0&steps=60&opt=sgd,momentum&sgd.lr=0.01&momentum.lr=0.01&autoplay=0"


def basins_count(page) -> int:
    return page.evaluate("window.__drawn.filter((e) => e.kind === 'basins').length")


def wait_basins(page, after: int = 0) -> dict:
    """The newest finished (or stopped) basins overlay after `after` announcements of it."""
    page.wait_for_function("""(after) => window.__drawn.filter((e) => e.kind === "basins").slice(after)
        .some((e) => e.done || e.error)""", arg=after, timeout=30_000)
    return page.evaluate("window.__drawn.filter((e) => e.kind === 'basins' && (e.done || e.error)).at(-1)")


def overlay_cells(page, cells: list[tuple[int, int]]) -> list[list[list[int]]]:
    """Every distinct RGBA of the overlay's pixels inside each cell (i across, j up) of its grid."""
    return page.evaluate("""([cells, n]) => {
        const c = document.querySelector(".basins-layer"), g = c.getContext("2d");
        return cells.map(([i, j]) => {
            const x0 = Math.ceil((i / n) * c.width), x1 = Math.floor(((i + 1) / n) * c.width);
            const y0 = Math.ceil(((n - 1 - j) / n) * c.height), y1 = Math.floor(((n - j) / n) * c.height);
            const d = g.getImageData(x0, y0, Math.max(1, x1 - x0), Math.max(1, y1 - y0)).data;
            const seen = new Set();
            for (let p = 0; p < d.length; p += 4) seen.add(`${d[p]},${d[p + 1]},${d[p + 2]},${d[p + 3]}`);
            return [...seen].map((s) => s.split(",").map(Number));
        }); }""", [cells, 128])


def rgb(hex_colour: str) -> list[int]:
    return [int(hex_colour[k:k + 2], 16) for k in (1, 3, 5)]


def ends_in(live_url: str, start, steps: int, hp: dict, minima) -> int:
    """Where one run from `start` ends, asked of the trajectory endpoint: a minimum's index, -1 none, -2 diverged."""
    r = httpx.post(f"{live_url}/api/trajectories", json={
        "surface": "himmelblau", "start": list(start), "steps": steps, "runs": [{"optimizer": "momentum", "hyperparameters": hp}]})
    run = r.json()["runs"][0]
    if run["diverged_at"] is not None:
        return -2
    d = np.hypot(*(np.array(minima) - np.array(run["points"][-1])).T)
    return int(np.argmin(d)) if d.min() <= 0.02 * 10 else -1  # within 2% of Himmelblau's 10-wide domain


def test_a_link_lays_the_basins_under_the_runs_in_the_colours_the_api_gives_each_start(page):
    page.goto(f"{page.base}/?{HIMMELBLAU}&basins=momentum")
    wait_basins(page)
    canvas = page.locator(".basins-layer")
    assert canvas.is_visible()
    # It covers the contour's plot area exactly (the filled contour spans the domain), under the runs' layer.
    area = page.locator("#contour-bg .contourlayer").bounding_box()
    box = canvas.bounding_box()
    for k in ("x", "y", "width", "height"):
        assert box[k] == pytest.approx(area[k], abs=1.5), k
    order = page.evaluate("[...document.querySelector('.panel-contour .plot-stack').children].map((e) => e.id || e.className)")
    assert order.index("contour-bg") < order.index("basins-layer") < order.index("contour-lines") < order.index("contour-fg")

    n = 128
    centres = np.linspace(-5 + 5 / n, 5 - 5 / n, n)
    labels = core.basins("himmelblau", "momentum", centres, centres, 60, {"lr": 0.01}).labels
    assert {-2, -1, 0, 1, 2, 3} <= set(np.unique(labels))
    # One start for each basin and for "diverged", as far inside its region as there is.
    same = sum(np.roll(np.roll(labels, di, 0), dj, 1) == labels for di in (-1, 0, 1) for dj in (-1, 0, 1))
    cells = []
    for label in (-2, 0, 1, 2, 3):
        ii, jj = np.nonzero(labels == label)
        k = int(np.argmax(same[ii, jj]))
        cells.append((int(ii[k]), int(jj[k])))
    palette = page.evaluate("import('/static/js/map.js').then((m) => [m.BASIN_COLOURS, m.DIVERGED_COLOUR])")
    minima = page.evaluate("window.gradscape.basins.data.minima")
    for (i, j), colours in zip(cells, overlay_cells(page, cells)):
        label = ends_in(page.base, (centres[i], centres[j]), 60, {"lr": 0.01}, minima)
        assert label == labels[i, j]
        want = rgb(palette[0][label]) if label >= 0 else rgb(palette[1])
        assert len(colours) == 1 and all(abs(a - b) <= 3 for a, b in zip(colours[0], want)), (label, colours)
        assert 60 <= colours[0][3] <= 120  # see-through: the contour's lines show
    # Ending at no minimum: grey stripes over the bare contour, never a basin's colour.
    ii, jj = np.nonzero(labels == -1)
    assert ends_in(page.base, (centres[ii[0]], centres[jj[0]]), 60, {"lr": 0.01}, minima) == -1
    stripes = {tuple(c) for cell in overlay_cells(page, list(zip(ii.tolist(), jj.tolist()))) for c in cell}
    assert 0 in {c[3] for c in stripes} and len(stripes) == 2 and max(max(c[:3]) for c in stripes if c[3]) < 100, stripes
    # The minima wear their basins' colours: each star the colour of the cells around it.
    landmarks = page.evaluate("document.getElementById('contour-fg').data.find((t) => t.name === 'landmarks')")
    stars = [(x, y, c) for x, y, c, s in zip(landmarks["x"], landmarks["y"], landmarks["marker"]["color"], landmarks["text"])
             if s.startswith("minimum")]
    assert len(stars) == 4
    at = [(int((x + 5) / 10 * n), int((y + 5) / 10 * n)) for x, y, _ in stars]
    for (_, _, colour), cell in zip(stars, overlay_cells(page, at)):
        assert len(cell) == 1 and all(abs(a - b) <= 3 for a, b in zip(cell[0], rgb(colour))), (colour, cell)
    assert page.locator(".basins-name").text_content() == "Basins of Momentum"

    # A click through the overlay still sets the start point.
    assert page.evaluate("getComputedStyle(document.querySelector('.basins-layer')).pointerEvents") == "none"
    page.mouse.click(area["x"] + area["width"] * 0.25, area["y"] + area["height"] * 0.25)
    page.wait_for_function("() => !new URLSearchParams(location.search).get('start').startsWith('0,')")
    x, y = (float(v) for v in query(page)["start"].split(","))
    assert x == pytest.approx(-2.5, abs=0.1) and y == pytest.approx(2.5, abs=0.1)
    assert page.errors == []


def test_the_basins_control_turns_them_on_and_off_and_follows_the_settings(page):
    asked = []
    page.on("request", lambda r: asked.append(r.post_data_json) if r.url.endswith("/api/basins/stream") else None)
    page.goto(f"{page.base}/?{HIMMELBLAU}")
    page.wait_for_function("() => window.__drawn.some((e) => e.kind === 'data')")
    # Off: no layer drawn and nothing asked, however the settings move.
    page.get_by_role("button", name="SGD hyperparameters", exact=True).click()
    n = page.evaluate("window.__drawn.filter((e) => e.kind === 'data').length")
    page.locator('input[type="range"][data-key="sgd.lr"]').press("ArrowRight")
    page.wait_for_function("(n) => window.__drawn.filter((e) => e.kind === 'data').length > n", arg=n)
    assert not page.locator(".basins-layer").is_visible() and asked == []

    select = page.get_by_label("Basins under the contour")
    assert select.locator("option").all_inner_texts() == ["none", "SGD", "Momentum"]
    select.focus()
    page.keyboard.press("ArrowDown")  # the keyboard picks SGD
    page.wait_for_function("() => new URLSearchParams(location.search).get('basins') === 'sgd'")
    wait_basins(page)
    assert page.locator(".basins-layer").is_visible()
    sgd_lr = float(query(page)["sgd.lr"])
    assert asked[-1]["optimizer"] == "sgd" and asked[-1]["hyperparameters"] == {"lr": sgd_lr} and asked[-1]["steps"] == 60
    grid = asked[-1]["grid"]
    assert grid["x"]["num"] == grid["y"]["num"] == 128 and grid["x"]["low"] == pytest.approx(-5 + 5 / 128)

    # New settings, new basins.
    n = basins_count(page)
    box = page.locator('input[type="number"][data-key="steps"]')
    box.fill("80")
    box.press("Enter")
    wait_basins(page, n)
    assert asked[-1]["steps"] == 80
    shown = np.array(page.evaluate("Array.from(window.gradscape.basins.shown)")).reshape(128, 128)
    centres = np.linspace(-5 + 5 / 128, 5 - 5 / 128, 128)
    expected = core.basins("himmelblau", "sgd", centres, centres, 80, {"lr": sgd_lr}).labels
    np.testing.assert_array_equal(shown, expected)

    select.select_option("")
    page.wait_for_function("() => !location.search.includes('basins=')")
    page.locator(".basins-layer").wait_for(state="hidden")
    page.wait_for_function("() => document.getElementById('contour-fg').data.find((t) => t.name === 'landmarks').marker.color[0] === '#000000'")
    assert not page.locator(".basins-note").is_visible()
    # On again: the same basins and their key, and a click that moves the start asks for nothing new.
    n = basins_count(page)
    select.select_option("sgd")
    wait_basins(page, n)
    assert page.locator(".basins-key .map-key-item").count() == 6  # four minima, diverged, no minimum
    asked.clear()
    key = page.evaluate("window.gradscape.basins.wanted")
    n = page.evaluate("window.__drawn.filter((e) => e.kind === 'data').length")
    area = page.locator("#contour-bg .contourlayer").bounding_box()
    page.mouse.click(area["x"] + 40, area["y"] + 40)
    page.wait_for_function("(n) => window.__drawn.filter((e) => e.kind === 'data').length > n", arg=n)
    assert not query(page)["start"].startswith("0,")
    assert page.evaluate("window.gradscape.basins.wanted") == key and asked == []
    assert page.errors == []


def test_himmelblaus_basins_preset_lays_them_under_the_contour_too(page):
    open_preset(page, "himmelblau_basins")
    wait_basins(page)
    assert page.locator(".basins-layer").is_visible()
    assert page.get_by_label("Basins under the contour").input_value() == "momentum"
    assert page.locator("#question").is_visible()  # the state is still the preset's
    assert query(page)["basins"] == "momentum"


def overlaps(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


@pytest.mark.parametrize("where", ["1280x720", "1920x1080", "800x600", "800x600 large", "embed 800x450"])
def test_the_basins_cover_the_plot_and_their_note_leaves_the_axis_title_be(browser, live_server, where):
    w, h = (int(v) for v in next(p for p in where.split() if "x" in p).split("x"))
    page = new_page(browser, live_server.url, {"width": w, "height": h})
    path = "/embed" if where.startswith("embed") else "/"
    page.goto(f"{page.base}{path}?{HIMMELBLAU}&basins=momentum{'&large=1' if 'large' in where else ''}")
    wait_basins(page)
    area = page.locator("#contour-bg .contourlayer").bounding_box()
    box = page.locator(".basins-layer").bounding_box()
    assert all(box[k] == pytest.approx(area[k], abs=1.5) for k in ("x", "y", "width", "height")), (box, area)
    title = page.locator("#contour-bg .xtitle").bounding_box()
    panel = page.locator(".panel-contour").bounding_box()
    parts = [p.bounding_box() for p in page.locator(".basins-note > span").all() if p.is_visible()]
    assert parts and page.locator(".basins-note-key").is_visible()  # the key is always on the contour
    for part in parts:
        assert not overlaps(part, title) and not overlaps(part, area)
        assert panel["x"] <= part["x"] and part["x"] + part["width"] <= panel["x"] + panel["width"] + 0.5
        assert part["y"] + part["height"] <= panel["y"] + panel["height"] + 0.5
    assert page.errors == []
    page.context.close()


def test_the_basins_follow_another_surface_and_another_size(page):
    page.goto(f"{page.base}/?{HIMMELBLAU}&basins=sgd")
    wait_basins(page)
    page.locator("#surface").select_option("six_hump_camel")
    page.wait_for_function("() => window.gradscape.basins.data?.body.surface === 'six_hump_camel' && window.gradscape.basins.data.done")
    wait_basins(page, basins_count(page) - 1)
    body = page.evaluate("window.gradscape.basins.data.body")
    assert body["surface"] == "six_hump_camel" and body["optimizer"] == "sgd"
    (x0, x1), (y0, y1) = core.SURFACES["six_hump_camel"].domain
    xs, ys = np.linspace(x0 + (x1 - x0) / 256, x1 - (x1 - x0) / 256, 128), np.linspace(y0 + (y1 - y0) / 256, y1 - (y1 - y0) / 256, 128)
    np.testing.assert_allclose([body["grid"]["x"]["low"], body["grid"]["y"]["high"]], [xs[0], ys[-1]], rtol=1e-12)
    shown = np.array(page.evaluate("Array.from(window.gradscape.basins.shown)")).reshape(128, 128)
    # Another surface starts each run at its own learning rate (its registry block), else the default.
    lr = (core.SURFACES["six_hump_camel"].lr or {}).get("sgd", core.OPTIMIZERS["sgd"].defaults["lr"])
    assert body["hyperparameters"].get("lr", core.OPTIMIZERS["sgd"].defaults["lr"]) == lr
    np.testing.assert_array_equal(shown, core.basins("six_hump_camel", "sgd", xs, ys, 60, body["hyperparameters"]).labels)

    def placed() -> tuple[dict, dict]:
        return page.locator(".basins-layer").bounding_box(), page.locator("#contour-bg .contourlayer").bounding_box()

    box, area = placed()
    assert box["width"] / box["height"] == pytest.approx(4 / 2.4, rel=0.02)  # the domain's shape, not a square
    assert all(box[k] == pytest.approx(area[k], abs=1.5) for k in area), (box, area)
    page.set_viewport_size({"width": 1000, "height": 640})
    page.wait_for_function("""(w) => {
        const a = document.querySelector('#contour-bg .contourlayer').getBoundingClientRect();
        const b = document.querySelector('.basins-layer').getBoundingClientRect();
        return a.width !== w && Math.abs(a.left - b.left) < 1.5 && Math.abs(a.top - b.top) < 1.5
            && Math.abs(a.width - b.width) < 1.5 && Math.abs(a.height - b.height) < 1.5; }""", arg=area["width"])
    assert page.errors == []


def test_refused_basins_say_why_and_leave_no_stale_colours(page):
    page.goto(f"{page.base}/?{HIMMELBLAU}&basins=momentum")
    wait_basins(page)
    n = basins_count(page)
    box = page.locator('input[type="number"][data-key="steps"]')
    box.fill("9000")  # more than a sweep may take
    box.press("Enter")
    announced = wait_basins(page, n)
    assert announced["error"] and not announced["done"]
    text = page.locator(".basins-status").inner_text()
    assert text.startswith("The server refused the basins: steps") and "5000" in text
    assert page.locator(".basins-status.bad").is_visible()
    assert "refused" in page.locator(".basins-name").text_content()
    assert set(page.evaluate("Array.from(new Set(window.gradscape.basins.shown))")) == {-3}
    assert page.evaluate("""(() => { const c = document.querySelector('.basins-layer');
        return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v > 0); })()""") is False


def test_an_embed_marks_the_tuned_runs_of_its_link(page):
    page.goto(f"{page.base}/embed?{RACE}&sgd.lr=0.002&adam.lr=0.08&tuned=adam&tuned.by=steps_to_tol")
    page.wait_for_function("() => document.querySelectorAll('#legend .tuned').length === 1")
    assert legend_marks(page) == ["Adam"]
    assert "steps to tolerance" in page.locator("#legend .tuned").get_attribute("title")
    assert page.errors == []
