"""Exports of the map view: a link with view=map as PNG, SVG and an interactive HTML heatmap.

The oracle for the cells is the map API itself: the HTML's heatmap must hold
the values /api/sweeps/stream and /api/basins/stream send for a request these
tests build from the catalog, not from the export's code.
"""

from __future__ import annotations

import io
import json
import math
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.exports import jobs as export_jobs, link as links, maps
from app.exports import frames as framing, html as html_export, mapfigure
from app.services.validation import Invalid
from app.cli import main
from app.main import create_app
from app.settings import ROOT, Settings, get_settings

# lr x momentum on the ill-conditioned quadratic: converging, oscillating and diverging cells.
LR_MOMENTUM = ("surface=quadratic&surface.kappa=20&start=-1.8,1&steps=120&opt=momentum&momentum.lr=0.02"
               "&view=map&map.x=lr&map.y=momentum&map.n=32")
BASINS = "surface=himmelblau&start=0,0&steps=150&opt=sgd&sgd.lr=0.01&view=map&map.x=x&map.y=y&map.n=32"
SLIDES = [(1280, 720), (1920, 1080), (800, 600)]


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    # In a directory that outlives the module: the store's runner thread keeps reading its database.
    return export_jobs.JobStore(tmp_path_factory.mktemp("exports"))


@pytest.fixture(scope="module")
def client(jobs):
    app = create_app()
    app.dependency_overrides[export_jobs.get_jobs] = lambda: jobs
    with TestClient(app) as c:
        yield c


def export_file(client, state: str, fmt: str, **given) -> bytes:
    r = client.post("/api/exports", json={"state": state, "format": fmt, **given})
    assert r.status_code == 202, r.text
    job = r.json()
    deadline = time.monotonic() + 60
    while (status := client.get(f"/api/exports/{job['id']}").json())["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status["status"] == "done", status
    r = client.get(f"/api/exports/{job['id']}/file")
    assert r.status_code == 200
    return job["filename"], r.content


def ndjson(response) -> list[dict]:
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def stream(client, url: str, body: dict) -> tuple[dict, dict]:
    """The map API's answer gathered into (meta, {field: (nx, ny) array})."""
    lines = ndjson(client.post(url, json=body))
    meta = lines[0]
    assert lines[-1]["type"] == "done"
    rows = [line for line in lines if line["type"] == "rows"]
    fields = {k: np.array([v for line in rows for v in line[k]], dtype=object)
              for k in ("final_losses", "diverged", *(["basin"] if "basin" in rows[0] else []))}
    return meta, fields


def html_payload(text: str) -> dict:
    return json.loads(re.search(r'<script id="gradscape-data" type="application/json">(.*?)</script>', text, re.S)[1])


def hyper(client, opt: str, name: str) -> dict:
    spec = next(o for o in client.get("/api/catalog").json()["optimizers"] if o["id"] == opt)
    return next(h for h in spec["hyperparameters"] if h["name"] == name)


# --- the HTML map holds what the map API streams -----------------------------------

def test_the_html_heatmap_holds_the_final_losses_the_sweep_api_streams(client):
    name, content = export_file(client, LR_MOMENTUM, "html")
    assert name == "gradscape-quadratic-map.html"
    data = html_payload(content.decode())
    lr, momentum = hyper(client, "momentum", "lr"), hyper(client, "momentum", "momentum")
    body = {"surface": {"name": "quadratic", "kappa": 20}, "optimizer": "momentum", "start": [-1.8, 1], "steps": 120,
            "grid": {"lr": {"low": lr["low"], "high": lr["high"], "num": 32, "log": lr["log"]},
                     "momentum": {"low": momentum["low"], "high": momentum["high"], "num": 32,
                                  "log": momentum["log"]}}}
    meta, got = stream(client, "/api/sweeps/stream", body)
    fmin = meta["minimum_value"]
    assert fmin == 0
    [heatmap, *rest] = [t for t in data["figure"]["data"] if t["type"] == "heatmap"]
    # z holds a row per momentum (y), a column per lr (x): log10 of the loss above f*, diverged cells empty.
    want = [[None if got["diverged"][i, j] or got["final_losses"][i, j] is None
             else math.log10(max(got["final_losses"][i, j] - fmin, 1e-16)) for i in range(32)] for j in range(32)]
    assert [[v is None for v in row] for row in heatmap["z"]] == [[v is None for v in row] for row in want]
    assert np.allclose([v for row in heatmap["z"] for v in row if v is not None],
                       [v for row in want for v in row if v is not None], rtol=1e-12, atol=0)
    assert got["diverged"].astype(bool).any() and not got["diverged"].astype(bool).all()
    # The diverged cells are drawn by a second heatmap, in the key's red.
    [special] = rest
    assert [[v == 1 for v in row] for row in special["z"]] == [[bool(got["diverged"][i, j]) for i in range(32)]
                                                               for j in range(32)]
    assert maps.DIVERGED_COLOUR in json.dumps(special["colorscale"])
    # Cells are centred on the streamed values: geometric midpoints on the log lr axis.
    xs, ys = (np.array(v) for v in meta["values"])
    x, y = np.array(heatmap["x"]), np.array(heatmap["y"])
    assert len(x) == 33 and np.all((x[:-1] < xs) & (xs < x[1:]))
    assert np.allclose(x[1:-1], np.sqrt(xs[1:] * xs[:-1]), rtol=1e-12)
    assert np.allclose(y[1:-1], (ys[1:] + ys[:-1]) / 2, rtol=1e-12)
    layout = data["figure"]["layout"]
    assert layout["xaxis"]["type"] == "log" and layout["yaxis"]["type"] == "linear"
    assert layout["xaxis"]["title"]["text"] == "lr" and layout["yaxis"]["title"]["text"] == "momentum"
    assert layout["title"]["text"] == "Momentum on Ill-conditioned quadratic: 32 × 32 runs of 120 steps"
    # The link's own settings are ringed: its lr, and momentum's default.
    [ring] = [t for t in data["figure"]["data"] if t.get("name", "").startswith("this link's")]
    assert (ring["x"], ring["y"]) == ([0.02], [momentum["default"]])
    # Hover names a cell's settings and its final loss.
    assert heatmap["hovertemplate"] == "%{text}<extra></extra>"
    assert heatmap["text"][5][7].startswith(f"lr = {maps.fmt(xs[7], 4)}, momentum = {maps.fmt(ys[5], 4)}<br>")


def test_the_html_basins_heatmap_holds_the_labels_the_basins_api_streams(client):
    _, content = export_file(client, BASINS, "html")
    data = html_payload(content.decode())
    surface = next(s for s in client.get("/api/catalog").json()["surfaces"] if s["id"] == "himmelblau")
    (x0, x1), (y0, y1) = surface["domain"]
    body = {"surface": "himmelblau", "optimizer": "sgd", "start": [0, 0], "steps": 150, "hyperparameters": {"lr": 0.01},
            "grid": {"x": {"low": x0, "high": x1, "num": 32}, "y": {"low": y0, "high": y1, "num": 32}}}
    meta, got = stream(client, "/api/basins/stream", body)
    [heatmap] = [t for t in data["figure"]["data"] if t["type"] == "heatmap"]
    want = [[-2 if got["diverged"][i, j] else got["basin"][i, j] for i in range(32)] for j in range(32)]
    assert heatmap["z"] == want
    assert {v for row in want for v in row} >= {0, 1, 2, 3}  # Himmelblau's four basins
    # Each minimum is starred where it is, in its basin's colour, and named in the legend.
    stars = [t for t in data["figure"]["data"] if t.get("name", "").startswith("ends at (")]
    assert np.allclose([[t["x"][0], t["y"][0]] for t in stars], meta["minima"])
    assert [t["marker"]["color"] for t in stars] == list(maps.BASIN_COLOURS[:len(stars)])
    layout = data["figure"]["layout"]
    assert layout["yaxis"]["scaleanchor"] == "x"  # a map of starts keeps x and y to scale


def test_the_html_map_is_self_contained(client):
    _, content = export_file(client, BASINS, "html")
    text = content.decode()
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", text, re.S)
    markup = re.sub(r"(<script\b[^>]*>).*?(</script>)", r"\1\2", text, flags=re.S)
    assert not re.search(r"<link\b|<img\b|\bsrc\s*=|@import", markup, re.IGNORECASE)
    plotly_js, blob, player = scripts
    assert plotly_js == html_export.plotly_js(three_d=False)
    assert not re.search(r"https?:|//[a-z]", blob + player, re.IGNORECASE)


@pytest.mark.browser
def test_the_html_map_draws_a_heatmap_and_hovers_offline(client, tmp_path, browser):
    out = tmp_path / "map.html"
    out.write_bytes(export_file(client, LR_MOMENTUM, "html")[1])
    requests = []
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.on("request", lambda r: requests.append(r.url))
    page.goto(out.as_uri())
    page.wait_for_selector("#plot .hm image")  # Plotly paints a heatmap as one image
    # The bundle knows every trace type the file asks for (it would draw an unknown one as an empty scatter).
    types = page.evaluate("(gd => gd._fullData.map(t => [gd.data[t.index].type || 'scatter', t.type]))"
                          "(document.getElementById('plot'))")
    assert all(a == b for a, b in types) and ["heatmap", "heatmap"] in types
    box = page.locator("#plot .nsewdrag").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.wait_for_selector("#plot .hoverlayer .hovertext")
    assert "final f − f* =" in page.text_content("#plot .hoverlayer")
    page.close()
    assert all(url.startswith("file://") for url in requests), requests


# --- PNG and SVG -------------------------------------------------------------------

@pytest.mark.parametrize("size", SLIDES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_png_of_a_map_is_the_slide_size_and_shows_the_maps_colours(client, size):
    _, content = export_file(client, LR_MOMENTUM, "png", width=size[0], height=size[1])
    im = Image.open(io.BytesIO(content))
    assert im.format == "PNG" and im.size == size
    pixels = np.asarray(im.convert("RGB")).astype(int)

    def has(hex_colour: str) -> bool:
        rgb = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
        return bool((np.abs(pixels - rgb).max(axis=-1) <= 3).sum() > 100)

    # Diverged cells in red, converged ones at the light end of viridis, stalled ones at the dark end.
    assert has(maps.DIVERGED_COLOUR) and has(maps.VIRIDIS[-1]) and has(maps.VIRIDIS[0])


def test_the_png_of_basins_shows_each_basins_colour(client):
    _, content = export_file(client, BASINS, "png", width=800, height=600)
    pixels = np.asarray(Image.open(io.BytesIO(content)).convert("RGB")).astype(int)
    for colour in maps.BASIN_COLOURS[:4]:
        rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
        assert (np.abs(pixels - rgb).max(axis=-1) <= 3).sum() > 1000, colour


def test_the_svg_of_a_map_names_its_title_axes_and_colour_scale(client):
    name, content = export_file(client, LR_MOMENTUM, "svg")
    assert name == "gradscape-quadratic-map.svg"
    root = ET.fromstring(content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    _, _, w, h = map(float, root.get("viewBox").split())
    assert w / h == pytest.approx(1280 / 720, rel=1e-3)  # the default slide's shape
    text = content.decode()
    # matplotlib writes each text's words in a comment beside its outline.
    words = set(re.findall(r"<!-- (.*?) -->", text))
    assert {"Momentum on Ill-conditioned quadratic: 32 × 32 runs of 120 steps", "lr", "momentum", "final loss f",
            "diverged", "this link's lr = 0.02, momentum = 0.9"} <= words
    assert text.count("<image") == 2  # the cells and the colour bar, pictures under vector axes and text
    assert len(content) < 300_000


def test_the_cli_exports_a_map_link_and_a_map_of_a_contour_link(tmp_path, capsys):
    out = tmp_path / "map.svg"
    assert main(["export", "--state", "http://localhost:8000/?" + BASINS, "--out", str(out)]) == 0
    assert "map view" in capsys.readouterr().out
    assert "<!-- SGD on Himmelblau: 32 × 32 runs of 150 steps -->" in out.read_text()
    contour = BASINS.replace("&view=map", "")
    png = tmp_path / "map.png"
    assert main(["export", "--state", contour, "--view", "map", "--out", str(png), "--width", "800",
                 "--height", "600"]) == 0
    assert Image.open(png).size == (800, 600)


# --- what a map cannot export, and its limits ----------------------------------------

@pytest.mark.parametrize("fmt", ["gif", "mp4"])
def test_an_animation_of_a_map_is_refused_naming_view_and_the_formats_it_exports_to(client, fmt):
    for body in ({"state": LR_MOMENTUM, "format": fmt},
                 {"state": LR_MOMENTUM.replace("&view=map", ""), "format": fmt, "view": "map"}):
        r = client.post("/api/exports", json=body)
        assert r.status_code == 422, r.text
        [error] = r.json()["detail"]
        assert error["loc"] == ["body", "view"]
        assert "view = map is a still picture" in error["msg"] and "png, svg, html" in error["msg"]
    # The same link animates its contour when asked.
    name, _ = export_file(client, LR_MOMENTUM, fmt, view="contour", frames=2, width=320, height=240)
    assert name == f"gradscape-quadratic-contour.{fmt}"


def test_the_cli_refuses_a_gif_of_a_map_naming_view(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main(["export", "--state", LR_MOMENTUM, "--out", str(tmp_path / "x.gif")])
    assert err.value.code == 2
    assert "--view: view = map is a still picture" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_map_past_the_sweep_step_limit_is_refused_naming_steps(client):
    limit = get_settings().max_sweep_steps
    state = LR_MOMENTUM.replace("steps=120", f"steps={limit + 1}")
    r = client.post("/api/exports", json={"state": state, "format": "png"})
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "state", "steps"]
    assert f"steps = {limit + 1} is outside [1, {limit}], this server's limit" in error["msg"]
    assert "map" in error["msg"]
    # Trajectories may be longer than a sweep's runs: the contour of the same link is accepted.
    name, _ = export_file(client, state, "png", view="contour", width=320, height=240)
    assert name == "gradscape-quadratic-contour.png"


def test_a_map_past_the_sweep_cell_limit_is_refused_naming_map_n(jobs):
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: Settings(max_sweep_cells=1000)
    app.dependency_overrides[export_jobs.get_jobs] = lambda: jobs
    with TestClient(app) as c:
        r = c.post("/api/exports", json={"state": LR_MOMENTUM, "format": "png"})
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "state", "map.n"]
    assert "32 x 32 = 1024 cells is more than the limit of 1000 per sweep" in error["msg"]


def test_a_map_past_the_compute_time_limit_stops_with_the_apis_413():
    settings = Settings(max_compute_seconds=1e-6)
    with pytest.raises(Invalid) as err:
        links.scene_from_state(LR_MOMENTUM, settings, seconds=settings.max_compute_seconds)
    assert err.value.status == 413
    assert "took more than the limit of 1e-06 s" in err.value.errors[0]["msg"]


def test_a_bad_setting_of_the_maps_optimizer_is_named_by_its_link_key(client):
    state = "surface=beale&opt=sgd&view=map&map.opt=adam&adam.beta1=2"
    r = client.post("/api/exports", json={"state": state, "format": "png"})
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "state", "adam", "beta1"] and "adam.beta1 = 2 is outside" in error["msg"]


# --- the link's map, read as the page reads it ---------------------------------------

def settings_of(query: str) -> maps.MapSettings:
    body, display = links.read_state(query, need_runs=False)
    return maps.map_settings(body, display)


def test_a_link_without_map_keys_maps_lr_against_the_optimizers_next_setting():
    m = settings_of("surface=quadratic&opt=momentum,adam&view=map")
    assert (m.opt, m.x.name, m.y.name, m.color, m.n) == ("momentum", "lr", "momentum", "loss", maps.DEFAULT_N)
    assert m.x.log and not m.y.log


@pytest.mark.parametrize("keys, want", [
    ("map.x=x", ("x", "y", "basin")),
    ("map.x=y&map.y=y", ("y", "x", "basin")),
    ("map.x=nope&map.y=momentum", ("lr", "momentum", "loss")),
    ("map.x=momentum&map.y=x&map.color=steps", ("momentum", "x", "steps")),
    ("map.x=x&map.y=y&map.color=rainbow", ("x", "y", "basin")),
])
def test_map_keys_fall_back_as_the_page_does(keys, want):
    m = settings_of(f"surface=quadratic&opt=momentum&view=map&{keys}")
    assert (m.x.name, m.y.name, m.color) == want


@pytest.mark.parametrize("text, n", [("32", 32), ("128", 128), ("100", maps.DEFAULT_N), ("", maps.DEFAULT_N),
                                     ("a lot", maps.DEFAULT_N)])
def test_map_n_is_one_of_the_pages_sizes(text, n):
    assert settings_of(f"surface=beale&opt=adam&view=map&map.n={text}").n == n


def test_a_zoomed_axis_keeps_inside_its_own_range():
    m = settings_of("surface=quadratic&opt=momentum&view=map&map.xr=0.001,0.1&map.yr=0.5,2")
    assert (m.x.low, m.x.high, m.x.zoomed) == (0.001, 0.1, True)
    assert (m.y.low, m.y.high, m.y.zoomed) == (0.0, 0.999, False)  # past momentum's range: the whole axis


def test_the_map_colours_are_the_pages():
    """The exports colour a map as static/js/map.js does: the same constants (its colours from the palette's module)."""
    js = "".join((ROOT / "static" / "js" / name).read_text(encoding="utf-8") for name in ("map.js", "generated/palette.js"))

    def const(name: str) -> str:
        return re.search(rf"\bconst {name}\s*=\s*(.+?);", js, re.S)[1]

    assert json.loads(const("DIVERGED_COLOUR")) == maps.DIVERGED_COLOUR
    assert json.loads(const("NOT_CONVERGED_COLOUR")) == maps.NOT_CONVERGED_COLOUR
    assert json.loads(const("BASIN_COLOURS")) == list(maps.BASIN_COLOURS)
    assert json.loads(const("VIRIDIS")) == list(maps.VIRIDIS)
    assert json.loads(const("SIZES")) == list(maps.SIZES)
    assert float(const("TOL")) == maps.TOL
    assert list(json.loads(re.sub(r"(\w+):", r'"\1":', const("COLOURINGS")))) == list(maps.COLOURINGS)


def test_a_typed_formula_maps_starts_over_its_own_domain(tmp_path):
    link = "surface=custom&f=x%5E2%2B3*y%5E2&domain=-2,2,-1,1&opt=adam&view=map&map.x=x&map.y=y&map.n=32&steps=60"
    m = settings_of(link)
    assert (m.x.low, m.x.high, m.y.low, m.y.high, m.color) == (-2, 2, -1, 1, "basin")
    out = tmp_path / "formula.svg"
    assert main(["export", "--state", link, "--out", str(out)]) == 0
    assert "<!-- ends at (0, 0) -->" in out.read_text()


@pytest.fixture(scope="module")
def lr_map():
    body, display = links.read_state(LR_MOMENTUM)
    return maps.compute(LR_MOMENTUM, body, display, get_settings())


def test_each_cell_of_the_png_has_its_colour_and_the_links_settings_are_ringed(lr_map):
    figure = mapfigure.MapFigure(lr_map, 1280, 720)
    pixels = np.asarray(figure.rgba())[..., :3].astype(int)
    colours = lr_map.colours()
    assert (colours[lr_map.diverged] == [int(maps.DIVERGED_COLOUR[k:k + 2], 16) for k in (1, 3, 5)]).all()

    def pixel(x, y):
        px, py = figure.ax.transData.transform((x, y))
        return int(round(figure.height - py)), int(round(px))

    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, 32, size=(40, 2)):
        r, c = pixel(lr_map.xs[i], lr_map.ys[j])
        assert (pixels[r, c] == colours[i, j]).all(), (i, j)
    # A black ring round the link's own lr and momentum, a white one outside it.
    r, c = pixel(*lr_map.current)
    radius = mapfigure.MAP_RING_SIZE / 2 * figure.fig.dpi / 72
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    ring = pixels[np.rint(r + radius * np.sin(angles)).astype(int), np.rint(c + radius * np.cos(angles)).astype(int)]
    assert (ring.max(axis=-1) < 60).mean() > 0.8


@pytest.mark.browser
@pytest.mark.parametrize("link, beside", [(BASINS, "legend"), (BASINS.replace("&view=map", "&view=map&map.color=loss"),
                                                                "colorbar")])
def test_the_html_maps_key_or_colour_bar_hangs_beside_the_plot_at_every_size(client, tmp_path, browser, link, beside):
    out = tmp_path / "map.html"
    out.write_bytes(export_file(client, link, "html")[1])
    page = browser.new_page()
    page.goto(out.as_uri())
    page.wait_for_selector("#plot .hm image")
    for width, height in SLIDES:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)
        plot, key = page.evaluate("""(key) => [".nsewdrag", key].map((c) => {
            const r = document.querySelector("#plot " + c).getBoundingClientRect();
            return [r.left, r.right];
        })""", "." + beside)
        assert 0 <= key[0] - plot[1] <= 0.03 * width, (width, plot, key)
    page.close()


def test_a_log_colour_bar_is_ticked_at_powers_of_ten_or_between_them_when_it_spans_less_than_one():
    wide = maps.Scale(-16.0, 1.06, True, "", np.zeros(0))
    assert wide.ticks() == [(k, f"10^{k}") for k in (-16, -13, -10, -7, -4)] + [(-1, "10^-1")]
    narrow = maps.Scale(0.61, 0.86, True, "", np.zeros(0))
    values = [t for t, _ in narrow.ticks()]
    assert values[0] == 0.61 and values[-1] == 0.86 and len(values) == 4
    assert [label for _, label in narrow.ticks()] == [maps.fmt(10 ** t) for t in values]
    assert maps.Scale(0, 300, False, "", np.zeros(0)).ticks() == []


def test_a_map_link_needs_no_race_its_map_names_its_own_optimizer():
    link = "surface=himmelblau&view=map&map.opt=sgd&map.x=x&map.y=y&map.n=32&steps=50"
    data, display = links.scene_from_state(link, get_settings())
    assert isinstance(data, maps.MapData) and display["view"] == "map"
    assert data.title() == "SGD on Himmelblau: 32 × 32 runs of 50 steps"
    # Without a map, the same link is refused for racing nothing.
    with pytest.raises(Invalid, match="no optimizer chosen"):
        links.scene_from_state(link, get_settings(), view="contour")
