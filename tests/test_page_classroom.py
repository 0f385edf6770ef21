"""The page as a teacher uses it: on a projector, in a slide's iframe, with links that carry a setting.

Each test drives Debian's Chromium against a real `gradscape serve` (see tests/test_browser.py for the
helpers) and checks what a person would see: where things are on the screen, what they say, what the
address bar holds.
"""

from __future__ import annotations

import html
import math
from urllib.parse import parse_qsl, quote

import numpy as np
import pytest

import core
from app.presets import PRESETS
from browser_helpers import BROWSER_MARKS, PLOT_TRACES_JS, wait_drawn, watch
from test_browser import alert_text, label, lines, plot_data, query_of

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = BROWSER_MARKS

FIRST = PRESETS[0]
FIRST_OPT = dict(parse_qsl(FIRST.query))["opt"].split(",")
SIZES = [(1280, 720), (1920, 1080), (800, 600)]
FRAMES = [(800, 500), (640, 360), (480, 300)]
TWO = "surface=beale&start=0.7,1.4&steps=200&opt=adam,sgd&adam.lr=0.05&sgd.lr=0.01&autoplay=0"


@pytest.fixture
def open_at(browser, live_server):
    """open_at(query, size=(w, h), path="/") -> a page that has drawn its data."""
    contexts = []

    def go(query: str = "", size=(1280, 720), path: str = "/", wait: bool = True):
        context = browser.new_context(viewport={"width": size[0], "height": size[1]}, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.errors = watch(page)
        page.base = live_server.url
        page.goto(f"{live_server.url}{path}{'?' + query if query else ''}")
        if wait:
            wait_drawn(page, "data")
        return page

    yield go
    for c in contexts:
        c.close()


def box(page, selector: str) -> dict | None:
    return page.evaluate("""(sel) => { const el = document.querySelector(sel); if (!el || !el.checkVisibility()) return null;
        const r = el.getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}; }""", selector)


def overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


TICK_BOXES_JS = """(id) => {
  const gd = document.getElementById(id);
  const out = {};
  for (const axis of ["xtick", "ytick"]) {
    out[axis] = [...gd.querySelectorAll(`g.${axis} text`)].map((t) => t.getBoundingClientRect())
      .filter((r) => r.width > 0).map((r) => ({x: r.x, y: r.y, width: r.width, height: r.height}));
  }
  return out;
}"""


def assert_ticks_apart(page, element_id: str):
    ticks = page.evaluate(TICK_BOXES_JS, element_id)
    for axis, boxes in ticks.items():
        assert len(boxes) >= 2, (element_id, axis, boxes)
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not overlap(a, b), f"{element_id} {axis} labels collide: {a} {b}"


# --- 1. display-only links ------------------------------------------------------------

DISPLAY_LINKS = [
    ("/", "large=1", "document.documentElement.classList.contains('large')"),
    ("/", "view=surface3d", "document.querySelector('input[name=view][value=surface3d]').checked"),
    ("/", "loop=1", "document.querySelector('input[data-key=loop]').checked"),
    ("/", "autoplay=0", "window.gradscape.scene.player.k === window.gradscape.scene.player.length"),
    ("/", "speed=2", "document.querySelector('select[data-key=speed]').value === '2'"),
    ("/embed", "view=surface3d", "window.gradscape.scene.s.view === 'surface3d'"),
    ("/embed", "large=1", "document.documentElement.classList.contains('large')"),
]


@pytest.mark.parametrize(("path", "query", "applied"), DISPLAY_LINKS, ids=[f"{p}?{q}" for p, q, _ in DISPLAY_LINKS])
def test_a_link_with_only_a_display_setting_opens_the_first_preset_with_it(open_at, path, query, applied):
    page = open_at(query, path=path)
    view = dict(parse_qsl(query)).get("view", "contour")
    shown = {"contour": "contour-fg", "surface3d": "surface3d"}[view]
    page.wait_for_function(f"(id) => ({PLOT_TRACES_JS})(id).length > 2", arg=shown)
    assert sorted(lines(page, shown)) == sorted(label(o) for o in FIRST_OPT)
    page.wait_for_function(applied)
    assert page.locator(".legend-empty").count() == 0
    if path == "/":
        # The address now holds the whole state: the preset's run and the setting.
        page.wait_for_function("() => location.search.includes('opt=')")
        q = dict(parse_qsl(query_of(page)))
        assert q["opt"] == ",".join(FIRST_OPT) and all(q[k] == v for k, v in parse_qsl(query))
    assert alert_text(page) is None
    assert page.errors == []


@pytest.mark.parametrize("path", ["/", "/embed"])
def test_a_link_with_no_optimizer_says_so(open_at, path):
    page = open_at("surface=booth&autoplay=0", path=path)
    note = page.locator(".legend-empty")
    note.wait_for(state="visible")
    assert "no optimizer" in note.inner_text().lower()
    assert page.errors == []


# --- 2. presenter mode ---------------------------------------------------------------

def plot_area(page, element_id: str = "contour-fg") -> dict:
    return box(page, f"#{element_id} .nsewdrag")


def test_large_text_folds_the_settings_away_and_enlarges_the_plots(open_at):
    normal = open_at(FIRST.query + "&autoplay=0")
    large = open_at(FIRST.query + "&autoplay=0&large=1")
    assert normal.locator("#sidebar").is_visible() and not large.locator("#sidebar").is_visible()
    a, b = plot_area(normal), plot_area(large)
    assert b["width"] * b["height"] > a["width"] * a["height"]
    toggle = large.locator("#sidebar-toggle")
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    large.locator("#sidebar").wait_for(state="visible")
    assert toggle.get_attribute("aria-expanded") == "true"
    toggle.click()
    large.locator("#sidebar").wait_for(state="hidden")
    assert large.errors == []


@pytest.mark.parametrize("size", [*SIZES, (960, 1080)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("large", [False, True], ids=["normal", "large"])
def test_the_first_screen_shows_a_plot_whose_tick_labels_never_collide(open_at, size, large):
    page = open_at(FIRST.query + "&autoplay=0" + ("&large=1" if large else ""), size=size)
    page.wait_for_function("() => document.querySelectorAll('#loss-bg g.ytick text').length > 1")
    area = plot_area(page)
    assert area["height"] >= 150 and area["y"] + area["height"] <= size[1], area
    for plot in ("contour-bg", "loss-bg"):
        assert_ticks_apart(page, plot)
    assert page.errors == []


def test_the_3d_view_asks_for_few_enough_ticks_to_read(open_at):
    page = open_at(FIRST.query + "&autoplay=0&large=1&view=surface3d")
    page.wait_for_function("() => (document.getElementById('surface3d').data || []).length > 2")
    scene = page.evaluate("() => document.getElementById('surface3d').layout.scene")
    assert all(scene[a]["nticks"] <= 5 for a in ("xaxis", "yaxis", "zaxis"))
    assert scene["zaxis"]["nticks"] <= 4


# --- 3. the embed in an iframe --------------------------------------------------------

def framed(browser, live_server, query: str, size):
    """A page holding only an iframe of the embed at this size; returns (page, frame)."""
    w, h = size
    context = browser.new_context(viewport={"width": w + 40, "height": h + 40})
    page = context.new_page()
    page.errors = watch(page)
    page.set_content(f'<link rel="icon" href="data:,"><body style="margin:20px"><iframe src="{html.escape(live_server.url + "/embed?" + query)}" '
                     f'width="{w}" height="{h}" style="border:0"></iframe></body>')
    frame = page.frames[1]
    frame.wait_for_function("() => window.__drawn && window.__drawn.some((e) => e.kind === 'data')")
    return page, frame


@pytest.mark.parametrize("large", [False, True], ids=["normal", "large"])
@pytest.mark.parametrize("view", ["contour", "loss", "surface3d"])
@pytest.mark.parametrize("size", FRAMES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_embed_fits_its_iframe_and_nothing_overlaps(browser, live_server, size, view, large):
    page, frame = framed(browser, live_server, f"{FIRST.query}&view={view}&autoplay=0{'&large=1' * large}", size)
    shown = {"contour": "contour-fg", "loss": "loss-fg", "surface3d": "surface3d"}[view]
    frame.wait_for_function(f"(id) => ({PLOT_TRACES_JS})(id).length > 2", arg=shown)
    parts = {name: box(frame, sel) for name, sel in [
        ("legend", "#legend"), ("panel", f".panel-{view}"), ("timeline", ".timeline"), ("play", "#play"),
        ("scrubber", "#scrubber"), ("link", "#open-full")]}
    w, h = size
    for name, b in parts.items():
        assert b is not None, f"{name} is not shown"
        assert b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["width"] <= w + 0.5 and b["y"] + b["height"] <= h + 0.5, (name, b)
    for a, b in [("legend", "panel"), ("legend", "link"), ("panel", "timeline"), ("panel", "link"), ("timeline", "link")]:
        assert not overlap(parts[a], parts[b]), (a, parts[a], b, parts[b])
    # Nothing is painted over the controls: each is what the frame finds at its own centre.
    for sel in ["#play", "#scrubber", "#open-full"]:
        assert frame.evaluate("""(sel) => { const el = document.querySelector(sel); const r = el.getBoundingClientRect();
            const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2); return el === top || el.contains(top); }""", sel), sel
    # Every run is named in the legend, and the plot has most of the frame.
    assert frame.locator("#legend .legend-item").count() == len(FIRST_OPT)
    assert parts["panel"]["height"] >= 0.55 * h and parts["panel"]["width"] >= 0.9 * w
    assert page.errors == []
    page.context.close()


def test_the_share_box_offers_16_9_iframe_sizes(open_at):
    page = open_at(TWO)
    sizes = page.locator("#embed-size option").evaluate_all("(os) => os.map((o) => o.value)")
    assert len(sizes) >= 3
    for value in sizes:
        w, h = map(int, value.split("x"))
        assert w * 9 == h * 16, value
        page.locator("#embed-size").select_option(value)
        snippet = page.locator("#embed-snippet").input_value()
        assert f'width="{w}" height="{h}"' in snippet


# --- 4. every run stays readable ------------------------------------------------------

def first_exit(surface: str, optimizer: str, start, steps: int, hp: dict) -> int:
    t = core.trajectory(surface, optimizer, start, steps, hp)
    (dx, dy) = core.SURFACES[surface].domain
    out = (t.points[:, 0] < dx[0]) | (t.points[:, 0] > dx[1]) | (t.points[:, 1] < dy[0]) | (t.points[:, 1] > dy[1])
    return int(np.argmax(out)) if out.any() else None


LEAVES = "surface=beale&start=0.7,1.4&steps=200&opt=momentum,adam&momentum.lr=0.01&adam.lr=0.05&autoplay=0"


def test_a_run_that_leaves_the_plot_is_marked_on_the_edge_in_2d_and_3d(open_at):
    step = first_exit("beale", "momentum", (0.7, 1.4), 200, {"lr": 0.01})
    assert step is not None
    page = open_at(LEAVES)
    page.wait_for_function("() => document.querySelector('#legend').textContent.includes('left the frame')")
    assert f"{label('momentum')} left the frame at step {step}" in page.locator("#legend").inner_text().replace("\n", " ")
    (x0, x1), (y0, y1) = core.SURFACES["beale"].domain
    marks = [t for t in plot_data(page, "contour-fg") if t["name"] == "left the frame"][0]
    assert len(marks["x"]) == 1
    x, y = marks["x"][0], marks["y"][0]
    assert min(abs(x - x0), abs(x - x1), abs(y - y0), abs(y - y1)) < 1e-9  # on the edge
    # Before that step the arrow is not there yet.
    page.evaluate(f"window.gradscape.scene.player.seek({step - 1})")
    page.wait_for_function("() => document.getElementById('contour-marks').data.find((t) => t.name === 'left the frame').x.length === 0")
    page.get_by_label("3-D surface", exact=True).check()
    page.evaluate(f"window.gradscape.scene.player.seek({step})")
    page.wait_for_function("""() => { const d = document.getElementById('surface3d').data || [];
        const t = d.find((t) => t.name === 'left the frame'); return t && t.x.length === 1; }""")
    mark3d = [t for t in plot_data(page, "surface3d") if t["name"] == "left the frame"][0]
    assert (mark3d["x"][0], mark3d["y"][0]) == (x, y)
    assert page.errors == []


HEADS_JS = """() => {
  const gd = document.getElementById('contour-fg');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const heads = document.getElementById('contour-marks').data.find((t) => t.name === 'now');
  const marks = gd.data.find((t) => t.name === 'landmarks');
  const px = (x, y) => [xa.l2p(x), ya.l2p(y)];
  const star = Array.from(marks.text).indexOf('minimum');
  return {
    heads: Array.from(heads.x).map((x, i) => ({ at: px(x, heads.y[i]), symbol: heads.marker.symbol[i], size: heads.marker.size[i] })),
    dot: 12, star: { at: px(marks.x[star], marks.y[star]), size: marks.marker.size[star] },
  };
}"""


def test_end_markers_on_the_same_point_hide_neither_each_other_nor_the_minimum(open_at):
    # Three runs that all finish on Booth's minimum (1, 3), where they really are.
    query = "surface=booth&steps=400&opt=adam,amsgrad,sgd&adam.lr=0.5&amsgrad.lr=0.5&sgd.lr=0.05&autoplay=0"
    ends = []
    for opt, lr in [("adam", 0.5), ("amsgrad", 0.5), ("sgd", 0.05)]:
        ends.append(core.trajectory("booth", opt, core.SURFACES["booth"].start, 400, {"lr": lr}).points[-1])
        assert np.allclose(ends[-1], (1, 3), atol=1e-3), opt
    page = open_at(query)
    page.wait_for_function("() => document.getElementById('contour-marks').data.find((t) => t.name === 'now').marker.symbol[0] === 'circle-open'")
    got = page.evaluate(HEADS_JS)
    heads, star = got["heads"], got["star"]
    # Drawn where they are, as open rings around the star, each a size apart: all of them show.
    assert all(h["symbol"] == "circle-open" for h in heads)
    sizes = sorted(h["size"] for h in heads)
    assert sizes[0] > star["size"] and all(b - a >= 6 for a, b in zip(sizes, sizes[1:]))
    assert all(math.dist(h["at"], star["at"]) < 2 for h in heads)
    assert page.errors == []


def test_a_diverged_run_leaves_the_loss_axis_to_the_finite_runs_and_is_marked(open_at):
    query = "surface=quadratic&steps=100&opt=adam,sgd&adam.lr=0.05&sgd.lr=5&autoplay=0"
    adam = core.trajectory("quadratic", "adam", core.SURFACES["quadratic"].start, 100, {"lr": 0.05})
    sgd = core.trajectory("quadratic", "sgd", core.SURFACES["quadratic"].start, 100, {"lr": 5})
    assert sgd.diverged_at is not None and adam.diverged_at is None
    page = open_at(query)
    page.wait_for_function("() => document.querySelector('#legend').textContent.includes('diverged')")
    top = page.evaluate("() => document.getElementById('loss-bg').layout.yaxis.range[1]")
    assert top <= math.log10(adam.losses.max()) + 1.5
    heads = page.evaluate("() => document.getElementById('loss-marks').data.find((t) => t.name === 'now').marker.symbol")
    assert list(heads) == ["circle", "triangle-up"]
    assert page.errors == []


# --- 9. bad values ------------------------------------------------------------------------

def test_a_value_out_of_range_is_said_plainly_beside_the_controls_and_the_address_keeps_the_good_state(open_at):
    page = open_at(TWO)
    wait = "(q) => location.search.slice(1) === q"
    page.wait_for_function(wait, arg=TWO)
    page.get_by_role("button", name="Adam hyperparameters", exact=True).click()
    field = page.get_by_label("Adam lr value", exact=True)
    field.fill("-1")
    field.press("Enter")
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible")
    assert alert.inner_text().splitlines()[0].strip() == "Adam's lr must be between 1e-06 and 10; you typed -1"
    a = box(page, "#alert")
    for control in ["#play", "#scrubber", "#preset", "#surface", "[aria-label='Adam lr value']", "[aria-label='Adam lr']",
                    "#sidebar-toggle", "#contour-fg .nsewdrag"]:
        b = box(page, control)
        assert b is None or not overlap(a, b), control
    assert field.input_value() == "0.05"
    assert sorted(lines(page)) == sorted([label("adam"), label("sgd")])  # the last good drawing stays
    page.wait_for_timeout(300)
    assert query_of(page) == TWO
    # A good value draws and clears the message.
    count = page.evaluate("window.__drawn.filter((e) => e.kind === 'data').length")
    field.fill("0.02")
    field.press("Enter")
    wait_drawn(page, "data", after=count)
    alert.wait_for(state="hidden")
    page.wait_for_function("() => new URLSearchParams(location.search).get('adam.lr') === '0.02'")
    assert page.errors == []


def test_a_link_with_a_bad_value_is_explained_in_words(open_at):
    page = open_at("surface=rosenbrock&opt=adam&adam.beta1=2&autoplay=0", wait=False)
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible")
    assert "Adam is not drawn: adam.beta1 = 2 is outside [0, 0.9999]" in alert.inner_text()


# --- 8. history ---------------------------------------------------------------------------

def test_back_returns_through_presets_and_surfaces_but_not_slider_ticks(open_at):
    page = open_at(TWO)
    page.wait_for_function("(q) => location.search.slice(1) === q", arg=TWO)
    length = page.evaluate("history.length")
    preset = PRESETS[1]
    page.locator("#preset").select_option(preset.id)
    page.wait_for_function("(q) => location.search.slice(1) === q", arg=preset.query)
    page.locator("#surface").select_option("booth")
    page.wait_for_function("() => location.search.startsWith('?surface=booth')")
    page.locator("#sidebar-toggle").click() if not page.locator("#sidebar").is_visible() else None
    page.get_by_role("button", name=f"{label('sgd')} hyperparameters", exact=True).click()
    slider = page.get_by_label(f"{label('sgd')} lr", exact=True)
    slider.focus()
    for _ in range(8):
        page.keyboard.press("ArrowRight")
    # The address settles on the last tick's value, not on one it showed between ticks.
    page.wait_for_function(
        "() => new URLSearchParams(location.search).get('sgd.lr') === String(window.gradscape.scene.s.hp.sgd.lr)")
    assert page.evaluate("history.length") == length + 2  # a preset and a surface; no slider tick
    booth = query_of(page)
    page.go_back()
    page.wait_for_function("(q) => location.search.slice(1) === q", arg=preset.query)
    page.wait_for_function("() => document.getElementById('surface').value === 'saddle'")
    expected = dict(parse_qsl(preset.query))["opt"].split(",")
    page.wait_for_function("(n) => window.gradscape.scene.runs.length === n && window.gradscape.scene.s.surface === 'saddle'",
                           arg=len(expected))
    page.wait_for_function("() => window.gradscape.scene.computedKey === window.gradscape.scene.dataKey(window.gradscape.scene.s)")
    assert sorted(lines(page)) == sorted(label(o) for o in expected)
    page.go_back()
    page.wait_for_function("(q) => location.search.slice(1) === q", arg=TWO)
    page.wait_for_function("() => document.getElementById('surface').value === 'beale'")
    page.go_forward()
    page.go_forward()
    page.wait_for_function("(q) => location.search.slice(1) === q", arg=booth)
    page.wait_for_function("() => document.getElementById('surface').value === 'booth'")
    assert page.errors == []


# --- 5. sliders a hand can use -----------------------------------------------------------

@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_log_sliders_move_at_most_a_factor_of_1_1_per_pixel(open_at, size):
    page = open_at(TWO + "&large=1" * (size == (1920, 1080)), size=size)
    if not page.locator("#sidebar").is_visible():
        page.locator("#sidebar-toggle").click()
    for tune in page.locator("button.tune").all():
        tune.click()
    sliders = page.evaluate("""() => [...document.querySelectorAll('input[type=range][data-scale=log]')]
        .filter((el) => /[.](\\w+_)?lr$/.test(el.dataset.key)).map((el) => ({
        key: el.dataset.key, low: Number(el.dataset.low), high: Number(el.dataset.high), width: el.getBoundingClientRect().width }))""")
    learning_rates = {f"{o.id}.{h.name}" for o in core.OPTIMIZERS.values() for h in o.hyperparameters if h.name.endswith("lr")}
    assert {s["key"] for s in sliders} == learning_rates
    for s in sliders:
        # The thumb travels the width less its own (about 16 px).
        factor = 10 ** (math.log10(s["high"] / s["low"]) / (s["width"] - 16))
        assert factor <= 1.1, (s, factor)
    # A typed value still reaches either end of the range.
    field = page.get_by_label("Adam lr value", exact=True)
    for typed, shown in [("10", "10"), ("1e-6", "0.000001")]:
        field.fill(typed)
        field.press("Enter")
        page.wait_for_function("(v) => new URLSearchParams(location.search).get('adam.lr') === v", arg=shown)
    assert alert_text(page) is None


# --- 6. the 3-D view ---------------------------------------------------------------------

def test_the_3d_view_is_a_coloured_height_map_framing_thick_paths(open_at):
    page = open_at(FIRST.query + "&autoplay=0&view=surface3d")
    page.wait_for_function("() => (document.getElementById('surface3d').data || []).length > 2")
    full = page.evaluate("""() => { const gd = document.getElementById('surface3d');
        return { scale: gd._fullData[0].colorscale, scene: gd.layout.scene,
                 paths: gd.data.filter((t) => t.mode === 'lines' && t.name !== 'casing').map((t) => ({ w: t.line.width, x: Array.from(t.x), y: Array.from(t.y) })),
                 casings: gd.data.filter((t) => t.name === 'casing').length }; }""")
    colours = [c.lower() for _, c in full["scale"]]
    assert colours[0] == "#440154" and colours[-1] == "#fde725"  # viridis
    assert all(p["w"] >= 5 for p in full["paths"]) and full["casings"] == len(full["paths"]) == len(FIRST_OPT)
    (dx0, dx1), (dy0, dy1) = core.SURFACES["beale"].domain
    xr, yr = full["scene"]["xaxis"]["range"], full["scene"]["yaxis"]["range"]
    assert (xr[1] - xr[0]) * (yr[1] - yr[0]) < 0.6 * (dx1 - dx0) * (dy1 - dy0)  # framed, not the whole domain
    inside = [(x, y) for p in full["paths"] for x, y in zip(p["x"], p["y"]) if dx0 <= x <= dx1 and dy0 <= y <= dy1]
    assert all(xr[0] <= x <= xr[1] and yr[0] <= y <= yr[1] for x, y in inside)
    title = full["scene"]["zaxis"]["title"]["text"]
    assert "f_min" not in title and "<sub>" in title


# --- 7. the inspector -----------------------------------------------------------------------

def test_a_preset_that_watches_the_inspector_brings_it_on_screen_readably(open_at):
    page = open_at(TWO)
    preset = next(p for p in PRESETS if "inspect=adam&" in p.query + "&")
    page.locator("#preset").select_option(preset.id)
    page.wait_for_selector(".rule-symbolic math")
    page.wait_for_function("""() => { const r = document.getElementById('insp-lr').getBoundingClientRect();
        return r.top >= 0 && r.bottom <= innerHeight; }""")
    lr = page.evaluate("() => document.getElementById('insp-lr').data.map((t) => ({ name: t.name, line: t.line }))")
    assert lr[0]["name"] == "lr applied" and lr[0]["line"]["dash"] not in (None, "solid")
    assert lr[0]["line"]["color"].lower() != lr[1]["line"]["color"].lower()
    for plot in ["insp-lr", "insp-eff"]:
        assert_ticks_apart(page, plot)
    assert page.errors == []


def test_on_a_wide_screen_a_watched_optimizer_has_its_inspector_beside_the_plots(open_at):
    preset = next(p for p in PRESETS if "inspect=" in p.query)
    page = open_at(preset.query + "&autoplay=0", size=(1920, 1080))
    page.wait_for_selector(".rule-symbolic math")
    page.wait_for_function("() => (document.getElementById('insp-lr').data || []).length > 0")
    inspector, plots = box(page, "#inspector"), box(page, ".panel-loss")
    assert inspector["x"] >= plots["x"] + plots["width"] and inspector["y"] < 100, (inspector, plots)
    lr = box(page, "#insp-lr")
    assert lr["y"] + lr["height"] <= 1080 and lr["x"] >= plots["x"] + plots["width"]
    assert page.errors == []


# --- 11. leftovers ---------------------------------------------------------------------------

def test_symbols_are_typeset_and_preset_titles_are_whole(open_at):
    page = open_at(TWO)
    raw = page.evaluate("() => [...document.querySelectorAll('.sym')].map((e) => e.textContent).filter((t) => t.includes('\\\\'))")
    assert raw == []
    assert page.locator("label[for='r-adam-weight_decay'] .sym").inner_text() == "λ"
    fits = page.evaluate("""() => { const sel = document.getElementById('preset'); const ctx = document.createElement('canvas').getContext('2d');
        ctx.font = getComputedStyle(sel).font;
        return [...sel.options].map((o) => [o.value, ctx.measureText(o.text).width + 28 <= sel.getBoundingClientRect().width]); }""")
    # Every title the menu has room for is shown whole; a longer one is whole at the head of the question.
    assert sum(ok for _, ok in fits) >= len(PRESETS) - 1, fits
    for preset in PRESETS:
        page.locator("#preset").select_option(preset.id)
        page.wait_for_function("(t) => document.querySelector('#question strong').textContent.startsWith(t)", arg=preset.title)


def test_a_run_carries_its_own_label_as_plain_text(open_at):
    text = "<b>Adam ε = 1</b>"
    query = f"surface=saddle&start=-1.5,0.001&steps=50&opt=adam,adamw&adamw.eps=1&adamw.weight_decay=0&adamw.label={quote(text)}&autoplay=0"
    page = open_at("", wait=False)
    page.goto(f"{page.base}/?{query}")
    wait_drawn(page, "data")
    names = page.locator("#legend .name").all_inner_texts()
    assert names == [label("adam"), text]
    assert page.locator("#legend b").count() == 0
    assert text in lines(page)
    # These runs are computed in the page; the body it would send the server names the run too.
    body = page.evaluate("JSON.stringify(window.gradscape.scene.body(window.gradscape.scene.s))")
    assert '"label":"<b>Adam ε = 1</b>"' in body
    page.wait_for_function("() => new URLSearchParams(location.search).get('adamw.label') !== null")
    assert dict(parse_qsl(query_of(page)))["adamw.label"] == text
    assert page.errors == []


# --- 12. the export box ------------------------------------------------------------------------

def test_the_export_box_offers_slide_sizes_and_the_view(open_at):
    page = open_at("surface=booth&steps=20&opt=sgd&sgd.lr=0.05&autoplay=0")
    sizes = page.locator("#export-size option").evaluate_all("(os) => os.map((o) => o.value)")
    assert sizes == ["1280x720", "1920x1080", "800x600"]
    assert page.locator("#export-size").input_value() == "1280x720"
    assert page.locator("#export-view").input_value() == "contour"
    page.get_by_label("Loss", exact=True).check()
    page.wait_for_function("() => document.getElementById('export-view').value === 'loss'")
    page.locator("#export-size").select_option("1920x1080")
    with page.expect_request(lambda r: r.url.endswith("/api/exports") and r.method == "POST") as request:
        with page.expect_download(timeout=60_000):
            page.get_by_role("button", name="HTML").click()
    body = request.value.post_data_json
    assert (body["width"], body["height"], body["view"]) == (1920, 1080, "loss")
    assert page.errors == []
