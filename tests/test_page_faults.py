"""The page's smaller faults a lecturer met preparing a class, each as a teacher would check it: at
1280×720, 1920×1080 and 800×600, and in a slide's iframe where the embed shows the same thing.

Helpers and the `open_at` fixture are tests/test_page_classroom.py's; every wait is for a condition.
"""

from __future__ import annotations

import math
from urllib.parse import parse_qsl

import pytest

import core
from app.state import js_number, request_from_query
from browser_helpers import BROWSER_MARKS, PLOT_TRACES_JS, wait_drawn, watch
from test_browser import alert_text, label, lines, plot_data, query_of
from test_page_classroom import SIZES, box, framed, open_at  # noqa: F401 (open_at is a fixture)

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = BROWSER_MARKS

WHERE = ["1280x720", "1920x1080", "800x600", "embed"]
EMBED = (800, 450)


@pytest.fixture
def shown(browser, live_server, open_at):  # noqa: F811
    """shown(query, where) -> the document that draws it: a page at a screen size, or the embed in an iframe."""
    hosts = []

    def go(query: str, where: str):
        if where == "embed":
            host, frame = framed(browser, live_server, query, EMBED)
            hosts.append(host)
            frame.errors = host.errors
            return frame
        w, h = map(int, where.split("x"))
        return open_at(query, size=(w, h))

    yield go
    for host in hosts:
        host.context.close()


def settings_open(page):
    if not page.locator("#sidebar").is_visible():
        page.locator("#sidebar-toggle").click()
        page.locator("#sidebar").wait_for(state="visible")


def type_value(page, name: str, value: str):
    field = page.get_by_label(f"{name} value", exact=True)
    field.fill(value)
    field.press("Enter")


# --- decay rates on log(1 - beta) --------------------------------------------------------------

DECAYS = {f"{o.id}.{h.name}": h for o in core.OPTIMIZERS.values() for h in o.hyperparameters if h.scale == "log1m"}
USUAL = [0.9, 0.99, 0.999, 0.9999, 0.99999]

SEEN_JS = """(key) => {
  const el = document.querySelector(`input[type=range][data-key="${key}"]`);
  const box = el.parentElement.querySelector('input[type=number]');
  window.__seen = [];
  el.addEventListener('input', () => window.__seen.push(Number(box.value)));
  const r = el.getBoundingClientRect();
  return { x: r.x, y: r.y + r.height / 2, width: r.width };
}"""


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_decay_rate_sliders_reach_the_usual_values_by_dragging(open_at, size):  # noqa: F811
    page = open_at("surface=quadratic&steps=100&opt=adam,momentum&autoplay=0" + "&large=1" * (size == (1920, 1080)), size=size)
    settings_open(page)
    for name in ("Adam", label("momentum")):
        page.get_by_role("button", name=f"{name} hyperparameters", exact=True).click()
    scales = page.evaluate("() => Object.fromEntries([...document.querySelectorAll('input[type=range][data-key]')].map((el) => [el.dataset.key, el.dataset.scale]))")
    assert {k for k, v in scales.items() if v == "log1m"} == set(DECAYS)
    for key in ("adam.beta2", "adam.beta1", "momentum.momentum"):
        h = DECAYS[key]
        page.locator(f'input[type=range][data-key="{key}"]').scroll_into_view_if_needed()
        track = page.evaluate(SEEN_JS, key)
        # Even in decades of 1 - beta: no pixel moves it by more than a tenth, whatever the screen.
        decades = math.log10(1 - h.low) - math.log10(1 - h.high)
        assert 10 ** (decades / (track["width"] - 16)) <= 1.1, (key, track)
        page.mouse.move(track["x"] + 2, track["y"])
        page.mouse.down()
        for dx in range(0, int(track["width"]) + 4):
            page.mouse.move(track["x"] + dx, track["y"])
        page.mouse.up()
        seen = page.evaluate("window.__seen")
        wanted = [0.0, *(v for v in USUAL if v <= h.high), h.high]
        assert all(v in seen for v in wanted), (key, wanted, sorted(set(seen)))
        # The usual values are a sixth of a β2 track apart, not the last hundredth of it.
        first = {v: seen.index(v) for v in wanted}
        assert first[0.99] - first[0.9] >= len(seen) / (decades + 1), (key, first, len(seen))
        wait_drawn(page, "data")
        page.wait_for_function("([k, v]) => new URLSearchParams(location.search).get(k) === v", arg=[key, str(h.high)])
    assert alert_text(page) is None
    assert page.errors == []


# --- each surface's learning rates ------------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_another_surface_starts_each_run_at_the_rate_it_gives(open_at, size):  # noqa: F811
    # The saddle's rates for a class on escaping it; on Rosenbrock the same SGD rate diverges at step 6.
    page = open_at("surface=saddle&start=-1.5,0.001&steps=300&opt=sgd,asgd,adam&sgd.lr=0.1&asgd.lr=0.1&adam.lr=0.05&autoplay=0",
                   size=size)
    for surface in ("rosenbrock", "goldstein_price", "booth"):
        spec = core.SURFACES[surface]
        count = page.evaluate("window.__drawn.filter((e) => e.kind === 'data').length")
        page.locator("#surface").select_option(surface)
        wait_drawn(page, "data", after=count)
        page.wait_for_function("(s) => location.search.startsWith(`?surface=${s}&`)", arg=surface)
        q = dict(parse_qsl(query_of(page)))
        for opt in ("sgd", "asgd", "adam"):
            lr = spec.lr.get(opt, core.OPTIMIZERS[opt].hyper("lr").default)
            assert float(q.get(f"{opt}.lr", core.OPTIMIZERS[opt].hyper("lr").default)) == lr, (surface, opt, q)
            assert core.trajectory(surface, opt, spec.start, 300, {"lr": lr}).diverged_at is None
        page.wait_for_function("() => document.querySelectorAll('#legend .legend-item').length === 3")
        assert "diverged" not in page.locator("#legend").inner_text()
    # A run ticked afresh on a surface that names its rate starts at it too.
    page.locator("#surface").select_option("goldstein_price")
    page.wait_for_function("() => location.search.startsWith('?surface=goldstein_price&')")
    settings_open(page)
    page.locator("#opt-momentum").check()
    page.wait_for_function("(v) => new URLSearchParams(location.search).get('momentum.lr') === v",
                           arg=js_number(core.SURFACES["goldstein_price"].lr["momentum"]))
    assert page.errors == []


# --- a bad value in a link -----------------------------------------------------------------------------

BAD = [("-1", "adam.lr = -1 is outside [1e-06, 10]"), ("abc", "'abc' is not a number")]


@pytest.mark.parametrize(("text", "reason"), BAD, ids=[t for t, _ in BAD])
@pytest.mark.parametrize("where", WHERE)
def test_a_bad_value_in_a_link_marks_that_run_and_draws_the_others(shown, where, text, reason):
    query = f"surface=beale&start=0.7,1.4&steps=200&opt=adam,sgd&adam.lr={text}&sgd.lr=0.01&autoplay=0"
    doc = shown(query, where)
    doc.wait_for_function(f"(id) => ({PLOT_TRACES_JS})(id).some((t) => t.mode === 'lines')", arg="contour-fg")
    assert sorted(lines(doc)) == [label("sgd")]
    items = doc.locator("#legend .legend-item").all_inner_texts()
    assert len(items) == 2 and items[0].startswith(label("sgd")) and "loss" in items[0]
    assert items[1].replace("\n", " ").startswith(f"{label('adam')} not drawn: {reason}")
    doc.get_by_role("alert").wait_for(state="visible")
    assert f"{label('adam')} is not drawn: {reason}" in doc.locator("#alert").inner_text()
    if where != "embed":
        # The address keeps what the link said, never NaN, until the value is changed.
        page = doc
        page.wait_for_function("() => location.search.includes('opt=')")
        assert dict(parse_qsl(query_of(page)))["adam.lr"] == text and "NaN" not in query_of(page)
        settings_open(page)
        page.get_by_role("button", name="Adam hyperparameters", exact=True).click()
        count = page.evaluate("window.__drawn.filter((e) => e.kind === 'data').length")
        type_value(page, "Adam lr", "0.05")
        wait_drawn(page, "data", after=count)
        page.wait_for_function("() => new URLSearchParams(location.search).get('adam.lr') === '0.05'")
        page.wait_for_function("(n) => document.querySelectorAll('#legend .legend-item .value.bad').length === 0")
        assert sorted(lines(page)) == sorted([label("adam"), label("sgd")])
    assert doc.errors == []


LINK_VALUES = ["-1", "abc", "", " 0.5 ", "0x10", "1e400", "Infinity", "1_0", "1e-7", "1e-6", "10", "10.5", "+3", ".5", "5.",
               "1e1", "\u0661"]


def test_the_page_reads_a_links_values_as_python_does(open_at):  # noqa: F811
    page = open_at("surface=booth&steps=20&opt=sgd&autoplay=0")
    for key, values in [("adam.lr", LINK_VALUES), ("adam.beta2", ["0.999999", "1", "0.5"]), ("lbfgs.history_size", ["3", "3.5", "2.0"])]:
        opt, name = key.split(".")
        spec = core.OPTIMIZERS[opt].hyper(name).as_dict()
        page_says = page.evaluate("""async ([key, values, spec]) => {
            const { readSetting } = await import('/static/js/state.js');
            return values.map((v) => readSetting(key, v, spec).reason ?? null); }""", [key, values, spec])
        for text, said in zip(values, page_says):
            try:
                request_from_query(f"surface=booth&opt={opt}&{key}={text}")
                python_says = None
            except core.InvalidInput as e:
                python_says = e.reason
            assert said == python_says, (key, text)


# --- a preset's question -------------------------------------------------------------------------

QUESTION_LINK = "surface=quadratic&start=-1.8,1&steps=200&opt=sgd,momentum,adam&sgd.lr=0.01&momentum.lr=0.01&adam.lr=0.05"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_presets_question_stays_marked_changed_until_the_surface_changes(open_at, size):  # noqa: F811
    from app.presets import PRESETS

    preset = next(p for p in PRESETS if "inspect=" not in p.query and "view=" not in p.query and "surface=beale" in p.query)
    page = open_at("surface=booth&steps=20&opt=sgd&autoplay=0", size=size)
    page.locator("#preset").select_option(preset.id)
    question = page.locator("#question")
    page.wait_for_function("(t) => document.querySelector('#question strong').textContent === t", arg=preset.title)
    assert question.is_visible() and "changed" not in question.inner_text()
    opt = dict(parse_qsl(preset.query))["opt"].split(",")[0]
    settings_open(page)
    page.get_by_role("button", name=f"{label(opt)} hyperparameters", exact=True).click()
    type_value(page, f"{label(opt)} lr", "0.0042")
    page.wait_for_function(f"() => new URLSearchParams(location.search).get('{opt}.lr') === '0.0042'")
    page.wait_for_function("() => document.getElementById('question').textContent.includes('(changed)')")
    text = question.inner_text()
    assert question.is_visible() and text.startswith(f"{preset.title} (changed) – ") and preset.question in text
    b = box(page, "#question")
    assert b["y"] >= 0 and b["y"] + b["height"] <= size[1]
    # Ticking another optimizer is still an answer to the question; another surface is another problem.
    page.locator(f"#opt-{'adam' if opt != 'adam' else 'sgd'}").check()
    page.wait_for_function("() => window.gradscape.scene.s.opt.length > 1")
    assert question.is_visible()
    page.locator("#surface").select_option("booth")
    question.wait_for(state="hidden")
    assert page.locator("#preset").input_value() == ""
    assert page.errors == []


# --- heads: small rings, inside the plot ----------------------------------------------------------------

ON_MINIMUM = ("surface=booth&steps=400&opt=adam,amsgrad,sgd,nadam,adamax,momentum&adam.lr=0.5&amsgrad.lr=0.5&sgd.lr=0.05"
              "&nadam.lr=0.5&adamax.lr=0.5&momentum.lr=0.02&autoplay=0")
RING_MAX_PX = 36


@pytest.mark.parametrize("large", [False, True], ids=["normal", "large"])
@pytest.mark.parametrize("where", WHERE)
def test_rings_of_heads_on_one_point_stay_small_and_show_the_minimum(shown, where, large):
    doc = shown(ON_MINIMUM + "&large=1" * large, where)
    doc.wait_for_function("""() => { const t = (document.getElementById('contour-marks').data || []).find((t) => t.name === 'now');
        return t && t.marker.symbol.every((s) => s === 'circle-open'); }""")
    heads = doc.evaluate("""() => { const t = document.getElementById('contour-marks').data.find((t) => t.name === 'now');
        return { size: Array.from(t.marker.size), width: Array.from(t.marker.line.width) }; }""")
    star = doc.evaluate("""() => { const m = document.getElementById('contour-fg').data.find((t) => t.name === 'landmarks');
        return m.marker.size[Array.from(m.text).indexOf('minimum')]; }""")
    sizes = sorted(heads["size"])
    assert len(sizes) == 6
    # Outside the star, the outermost ring's outer edge no wider than RING_MAX_PX and its stroke.
    assert sizes[0] > star and sizes[-1] <= RING_MAX_PX, (sizes, star)
    assert all(b > a for a, b in zip(sizes, sizes[1:])) and min(heads["width"]) >= 1.5
    assert doc.errors == []


# SGD's fifth step on the quadratic lands a third of a unit below the bottom edge, on the x axis's labels.
LEAVES = "surface=quadratic&start=-1.8,1&steps=50&opt=sgd,adam&sgd.lr=0.2183&adam.lr=0.05&autoplay=0"

MARGIN_INK_JS = """() => {
  const gd = document.getElementById('contour-fg'), c = document.getElementById('contour-marks');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, ratio = c.width / c.clientWidth;
  const arrows = c.data.find((t) => t.name === 'left the frame');
  const near = Array.from(arrows.x).map((x, i) => [xa._offset + xa.l2p(x), ya._offset + ya.l2p(arrows.y[i]), arrows.marker.size]);
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let j = 0; j < c.height; j++) for (let i = 0; i < c.width; i++) {
    const x = i / ratio, y = j / ratio;
    if (px[(j * c.width + i) * 4 + 3] === 0) continue;
    if (x >= xa._offset - 1 && x <= xa._offset + xa._length + 1 && y >= ya._offset - 1 && y <= ya._offset + ya._length + 1) continue;
    if (near.some(([ax, ay, s]) => Math.hypot(x - ax, y - ay) <= s)) continue;
    ink += 1;
  }
  return ink;
}"""


@pytest.mark.parametrize("where", WHERE)
def test_a_head_past_the_edge_is_cut_at_the_plot_not_drawn_in_the_margin(shown, where):
    doc = shown(LEAVES, where)
    run = core.trajectory("quadratic", "sgd", (-1.8, 1), 50, {"lr": 0.2183})
    y0, _ = core.SURFACES["quadratic"].domain[1]
    step = next(i for i, (_, y) in enumerate(run.points) if y < y0)
    assert y0 - 0.4 < run.points[step][1] < y0 - 0.25  # clear of the arrow on the edge, and on the canvas
    doc.evaluate(f"window.gradscape.scene.player.seek({step})")
    doc.wait_for_function("(k) => window.gradscape.scene.player.k === k && document.getElementById('contour-marks').data"
                          ".find((t) => t.name === 'left the frame').x.length === 1", arg=step)
    doc.wait_for_function("() => new Promise((r) => requestAnimationFrame(() => r(true)))")
    # The head is on the canvas, in the margin, so drawing it there would show.
    head = doc.evaluate("""() => { const gd = document.getElementById('contour-fg'), ya = gd._fullLayout.yaxis;
        const t = document.getElementById('contour-marks').data.find((t) => t.name === 'now');
        return [ya._offset + ya._length, ya._offset + ya.l2p(t.y[0]), document.getElementById('contour-marks').clientHeight]; }""")
    assert head[0] + 20 < head[1] < head[2], head
    assert doc.evaluate(MARGIN_INK_JS) == 0
    assert doc.errors == []


# --- the 3-D view ----------------------------------------------------------------------------------

DIVERGES = "surface=quadratic&steps=100&opt=adam,sgd&adam.lr=0.05&sgd.lr=5&autoplay=0&view=surface3d"


# The axes' box as the camera projects it onto the 3-D view's canvas (gl-plot3d's own matrices).
BOX_ON_SCREEN_JS = """() => {
  const gd = document.getElementById('surface3d');
  const sc = gd._fullLayout.scene._scene, g = sc.glplot, s = gd.layout.scene;
  const { view, projection, model } = g.cameraParams;
  const mul = (m, v) => [0, 1, 2, 3].map((r) => m[r] * v[0] + m[4 + r] * v[1] + m[8 + r] * v[2] + m[12 + r] * v[3]);
  const w = g.canvas.width / g.pixelRatio, h = g.canvas.height / g.pixelRatio;
  const px = (p) => {
    const c = mul(projection, mul(view, mul(model, [0, 1, 2].map((a) => p[a] * sc.dataScale[a]).concat(1))));
    return [(c[0] / c[3] + 1) / 2 * w, (1 - c[1] / c[3]) / 2 * h];
  };
  const corners = [];
  for (const x of s.xaxis.range) for (const y of s.yaxis.range) for (const z of s.zaxis.range) corners.push(px([x, y, z]));
  return { width: w, height: h, corners, font: s.zaxis.title.font.size };
}"""


@pytest.mark.parametrize("where", WHERE)
def test_the_3d_view_cuts_a_diverged_run_where_it_leaves_the_box(shown, where):
    sgd = core.trajectory("quadratic", "sgd", core.SURFACES["quadratic"].start, 100, {"lr": 5})
    assert sgd.diverged_at is not None
    doc = shown(DIVERGES, where)
    doc.wait_for_function("() => (document.getElementById('surface3d').data || []).filter((t) => t.mode === 'lines').length === 4")
    got = doc.evaluate("""() => { const gd = document.getElementById('surface3d'), s = gd.layout.scene;
        return { ranges: [s.xaxis.range, s.yaxis.range, s.zaxis.range],
                 paths: gd.data.filter((t) => t.mode === 'lines' || t.name === 'now').map((t) => ({ name: t.name,
                   x: Array.from(t.x), y: Array.from(t.y), z: Array.from(t.z) })) }; }""")
    eps = 1e-9
    for path in got["paths"]:
        for axis, (lo, hi) in zip("xyz", got["ranges"]):
            assert all(lo - eps <= v <= hi + eps for v in path[axis]), (path["name"], axis, lo, hi)
    sgd_path = next(p for p in got["paths"] if p["name"] == label("sgd"))
    # It is drawn up to the box, ending on one of its faces, not dropped.
    assert len(sgd_path["x"]) >= 2
    end = [sgd_path[a][-1] for a in "xyz"]
    assert any(min(abs(v - lo), abs(v - hi)) < 1e-6 for v, (lo, hi) in zip(end, got["ranges"])), (end, got["ranges"])
    assert doc.errors == []


@pytest.mark.parametrize("large", [False, True], ids=["normal", "large"])
@pytest.mark.parametrize("where", WHERE)
def test_the_3d_views_box_leaves_room_for_the_height_title_and_its_labels_start_off_the_corner(shown, where, large):
    doc = shown(DIVERGES + "&large=1" * large, where)
    doc.wait_for_function("() => (document.getElementById('surface3d').data || []).filter((t) => t.mode === 'lines').length === 4")
    doc.wait_for_function("() => document.getElementById('surface3d')._fullLayout.scene._scene.glplot.cameraParams")
    box = doc.evaluate(BOX_ON_SCREEN_JS)
    f = box["font"]
    xs, ys = [c[0] for c in box["corners"]], [c[1] for c in box["corners"]]
    # The height's labels and its title, set along the box's left edge, need about three and a half
    # lines of text beside it; the canvas cut them off when the box ran to its edge.
    assert min(xs) >= 3.5 * f and box["width"] - max(xs) >= 3.5 * f, (box["width"], min(xs), max(xs), f)
    assert min(ys) >= 1.5 * f and box["height"] - max(ys) >= 1.5 * f, (box["height"], min(ys), max(ys), f)
    z = doc.evaluate("() => document.getElementById('surface3d').layout.scene.zaxis")
    # No height label at 0, the corner where x's first label is.
    assert z["tickmode"] == "array" and 2 <= len(z["tickvals"]) <= 4
    assert all(z["range"][0] < v <= z["range"][1] for v in z["tickvals"])
    assert doc.errors == []


# --- Escape -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_escape_folds_away_the_settings_opened_over_the_plots(open_at, size):  # noqa: F811
    # Presenting (and on a narrow screen) the settings are folded away; the toggle lays them over the plots.
    page = open_at("surface=booth&steps=20&opt=sgd&autoplay=0&large=1", size=size)
    sidebar, toggle = page.locator("#sidebar"), page.locator("#sidebar-toggle")
    assert not sidebar.is_visible()
    toggle.click()
    sidebar.wait_for(state="visible")
    page.locator("#opt-search").focus()
    page.keyboard.press("Escape")
    sidebar.wait_for(state="hidden")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.id") == "sidebar-toggle"
    # With the focus on the plots, too.
    toggle.click()
    sidebar.wait_for(state="visible")
    page.locator("#views").focus()
    page.keyboard.press("Escape")
    sidebar.wait_for(state="hidden")
    assert page.errors == []
