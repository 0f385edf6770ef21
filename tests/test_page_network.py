"""surface=network on the page, in Chromium: the plane, the paths, the loss curves and each run's decision regions,
checked against what core computes from the same link; and a network link exported through the API."""

from __future__ import annotations

import re

import numpy as np
import pytest

import core
from app.presets import PRESETS
from app.services import networks
from app.services.compute import Work, run_all
from app.settings import get_settings
from app.state import network_request, request_from_query
from browser_helpers import BROWSER_MARKS, SLIDER_LATENCY_JS, drawn_count, wait_drawn
from core import mlp

NET = "surface=network&steps=60&opt=sgd,adam&sgd.lr=0.1&adam.lr=0.01&plane.res=21"


def served(query: str) -> tuple[dict, list, dict]:
    """What the server computes for a link: its request, each run trained, and the plane (paths projected)."""
    body = network_request(request_from_query(query))
    request, problem, runs = networks.build({**body, "weights": True})
    run_all(runs, Work(get_settings()))
    return body, runs, networks.plane(request, problem, runs)


def core_logits(body: dict, weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """core/mlp.py's forward pass at `inputs` (n x 2): the network packed with those inputs as its samples."""
    problem = core.network_problem(body["network"])
    n = len(inputs)
    sizes = problem.sizes
    P = np.concatenate([[len(sizes) - 1, mlp.ACTIVATIONS[problem.spec["activation"]]], sizes, [n], inputs.ravel(),
                        np.zeros(n)])
    acts = np.empty(n * sum(sizes))
    mlp.forward(P, np.ascontiguousarray(weights), np.arange(n, dtype=np.int64), acts)
    return acts[-n * sizes[-1]:].reshape(n, sizes[-1])


# --- a network link through the export API (no browser) -------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    from app.exports.jobs import JobStore, get_jobs
    from app.main import create_app

    app = create_app()
    jobs = JobStore()
    app.dependency_overrides[get_jobs] = lambda: jobs
    with TestClient(app) as client:
        yield client


def test_a_network_link_exports_as_its_network_request(client):
    from test_export import wait_for

    r = client.post("/api/exports", json={"state": f"{NET}&view=loss", "format": "png", "width": 320, "height": 240})
    assert r.status_code == 202, r.text
    assert r.json()["filename"] == "gradscape-network-moons-loss.png"
    assert wait_for(client, f"/api/exports/{r.json()['id']}")["status"] == "done"
    assert client.get(f"/api/exports/{r.json()['id']}/file").content[:4] == b"\x89PNG"


@pytest.mark.parametrize("change, loc, words", [
    ({"format": "html"}, ["body", "format"], "format = html cannot draw a network; allowed: gif, mp4, png, svg"),
    ({"state": f"{NET}&net.hidden=16,0"}, ["body", "state", "net", "hidden"], "net.hidden = 0 is outside [1, 256]"),
    ({"state": "surface=network&net.data=digits&net.samples=2000&opt=adam"}, ["body", "state", "net", "samples"],
     "net.samples = 2000 is outside [4, 1797]"),
])
def test_a_network_link_a_network_cannot_export_is_a_422_in_words(client, change, loc, words):
    r = client.post("/api/exports", json={"state": NET, "format": "gif", **change})
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == loc and words in error["msg"], error


# --- the page ----------------------------------------------------------------------------------------------------

def in_browser(test):
    for mark in BROWSER_MARKS:
        test = mark(test)
    return test


def open_network(page, query: str, path: str = "/"):
    page.goto(f"{page.base}{path}?{query}")
    wait_drawn(page, "data")


def drawn_lines(page, element_id: str) -> dict[str, dict]:
    return {t["name"]: t for t in page.evaluate("""(id) => {
        const el = document.getElementById(id);
        return (el?.data || []).map((t) => ({ name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || []) }));
    }""", element_id.replace("-fg", "-lines"))}


@in_browser
def test_a_network_link_draws_the_plane_with_each_runs_projected_path(page):
    open_network(page, f"{NET}&autoplay=0")
    contour = page.evaluate("document.getElementById('contour-bg').data.map((t) => [t.type, t.z.length, t.x.length])")
    assert contour == [["contour", 21, 21]]
    body, runs, plane = served(NET)
    lines = drawn_lines(page, "contour-fg")
    assert list(lines) == ["SGD", "Adam"]
    for line, path in zip(lines.values(), plane["paths"]):
        assert len(line["x"]) == len(path["points"]) == 61
        assert np.allclose(np.c_[line["x"], line["y"]], path["points"], rtol=1e-12, atol=1e-12)
    # The legend gives each run's share off the plane, the caption says how the plane is made.
    legend = page.locator("#legend").inner_text()
    shares = [float(v) for v in re.findall(r"([0-9.]+) % off the plane", legend)]
    assert np.allclose(shares, [100 * path["off_plane"] for path in plane["paths"]], rtol=0.05)
    assert "principal directions" in page.locator("#engine-note").inner_text()
    assert page.locator("#boundaries canvas").count() == 2
    assert page.errors == []


@in_browser
def test_scrubbing_moves_the_path_ends_and_the_decision_regions(page):
    open_network(page, f"{NET}&autoplay=0")
    page.wait_for_function("() => document.getElementById('boundaries').dataset.step === '60'")
    end = page.evaluate("Array.from(window.gradscape.scene.views.boundaries.predicted[1])")
    page.evaluate("window.gradscape.scene.player.seek(0)")
    page.wait_for_function("() => document.getElementById('boundaries').dataset.step === '0'")
    start = page.evaluate("Array.from(window.gradscape.scene.views.boundaries.predicted[1])")
    assert all(len(line["x"]) == 1 for line in drawn_lines(page, "contour-fg").values())
    assert start != end  # Adam's regions change shape as it trains
    page.evaluate("window.gradscape.scene.player.seek(30)")
    page.wait_for_function("() => document.getElementById('boundaries').dataset.step === '30'")
    assert all(len(line["x"]) == 31 for line in drawn_lines(page, "contour-fg").values())
    assert page.errors == []


FORWARD_JS = """async ([run, step]) => {
  const { forward } = await import('/static/js/network.js');
  const view = window.gradscape.scene.views.boundaries;
  const r = window.gradscape.scene.runs[run];
  const P = view.surface.parameters;
  const logits = forward(r.weights, view.surface.shapes, view.surface.network.activation, view.grid.inputs,
    view.grid.inputs.length / 2, step * P);
  return { inputs: Array.from(view.grid.inputs), weights: Array.from(r.weights.subarray(step * P, (step + 1) * P)),
           logits: Array.from(logits), predicted: Array.from(view.predicted[run]) };
}"""


@in_browser
@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_the_decision_regions_are_cores_forward_pass(page, act):
    query = f"{NET}&net.hidden=8,5&net.act={act}&autoplay=0"
    open_network(page, query)
    page.wait_for_function("() => document.getElementById('boundaries').dataset.step === '60'")
    body, runs, _ = served(query)
    for i, run in enumerate(runs):
        got = page.evaluate(FORWARD_JS, [i, 60])
        weights = np.asarray(got["weights"])
        assert np.array_equal(weights, run.result().weights[60])  # the streamed weights, to the bit
        inputs = np.asarray(got["inputs"]).reshape(-1, 2)
        expected = core_logits(body, weights, inputs)
        logits = np.asarray(got["logits"]).reshape(expected.shape)
        assert np.max(np.abs(logits - expected)) <= 1e-9 * max(1.0, np.max(np.abs(expected)))
        assert got["predicted"] == list(np.argmax(expected, axis=1))
    assert page.errors == []


@in_browser
def test_a_slider_move_trains_again_and_draws_cores_losses(page):
    open_network(page, f"{NET}&autoplay=0")
    before = drawn_count(page, "data")
    page.locator('button[aria-controls="hp-adam"]').click()
    page.evaluate(SLIDER_LATENCY_JS, ["adam.lr", 800])
    wait_drawn(page, "data", after=before)
    lr = page.evaluate("window.gradscape.scene.s.hp.adam.lr")
    assert lr != 0.01
    page.wait_for_function("(lr) => new URLSearchParams(location.search).get('adam.lr') === String(lr)", arg=lr)
    body = network_request(request_from_query(page.evaluate("location.search.slice(1)")))
    t = core.trajectory({"network": body["network"]}, "adam", steps=60, hyperparameters={"lr": lr})
    drawn = drawn_lines(page, "loss-fg")["Adam"]["y"]
    assert np.allclose(drawn, t.losses, rtol=1e-9, atol=0)
    assert page.errors == []


# Each redraw of a network's runs as it happens: whether its plane was held or fitted, and the contour's lines.
SNAPSHOTS_JS = """() => {
  window.__snapshots = [];
  document.addEventListener("gradscape:drawn", (e) => {
    if (e.detail.kind !== "data") return;
    const lines = (document.getElementById("contour-lines")?.data || []).map((t) => ({ name: t.name, x: Array.from(t.x), y: Array.from(t.y) }));
    window.__snapshots.push({ plane: e.detail.plane, lines });
  });
}"""


def network_requests(page) -> list[dict]:
    sent = []
    page.on("request", lambda r: sent.append(r.post_data_json) if r.url.split("?")[0].endswith("/api/networks/stream") else None)
    return sent


def projected(weights: np.ndarray, centre, directions) -> np.ndarray:
    """The least-squares (a, b) of each row of weights on the plane centre + a d1 + b d2."""
    coef, *_ = np.linalg.lstsq(np.stack(directions, 1), (weights - np.asarray(centre)).T, rcond=None)
    return coef.T


@in_browser
def test_a_slider_move_trains_the_moved_run_alone_onto_the_plane_drawn_then_fits_the_plane(page):
    open_network(page, f"{NET}&autoplay=0")
    page.evaluate(SNAPSHOTS_JS)
    sent = network_requests(page)
    _, _, before = served(NET)
    page.locator('button[aria-controls="hp-adam"]').click()
    page.evaluate(SLIDER_LATENCY_JS, ["adam.lr", 800])
    page.wait_for_function("() => window.__snapshots.some((s) => s.plane === 'fitted')")
    held, fitted = page.evaluate("window.__snapshots")[:2]
    assert (held["plane"], fitted["plane"]) == ("held", "fitted")
    lr = page.evaluate("window.gradscape.scene.s.hp.adam.lr")
    # First only Adam is trained, and put on the PCA plane already drawn, which the request carries.
    assert [run["optimizer"] for run in sent[0]["runs"]] == ["adam"]
    assert sent[0]["runs"][0]["hyperparameters"]["lr"] == lr
    assert sent[0]["plane"]["kind"] == "given" and sent[0]["plane"]["grid"] is False
    assert np.array_equal(sent[0]["plane"]["centre"], before["centre"])
    assert np.array_equal(sent[0]["plane"]["directions"], before["directions"])
    sgd, adam = held["lines"]
    assert np.array_equal(np.c_[sgd["x"], sgd["y"]], before["paths"][0]["points"])  # SGD stays where it was
    network = network_request(request_from_query(NET))["network"]
    weights = core.trajectory({"network": network}, "adam", steps=60, hyperparameters={"lr": lr}).weights
    assert np.allclose(np.c_[adam["x"], adam["y"]], projected(weights, before["centre"], before["directions"]),
                       rtol=1e-9, atol=1e-12)
    # Once the settings are still, the plane is fitted to the new runs: both trained, the picture a fresh link's.
    assert [run["optimizer"] for run in sent[1]["runs"]] == ["sgd", "adam"] and sent[1]["plane"]["kind"] == "pca"
    page.wait_for_function("(lr) => new URLSearchParams(location.search).get('adam.lr') === String(lr)", arg=lr)
    _, _, after = served(page.evaluate("location.search.slice(1)"))
    for line, path in zip(fitted["lines"], after["paths"]):
        assert np.allclose(np.c_[line["x"], line["y"]], path["points"], rtol=1e-12, atol=1e-12)
    assert "fitted to the new paths once they stop" in page.locator("#engine-note").inner_text()
    assert len(sent) == 2 and page.errors == []


@in_browser
def test_on_random_directions_through_the_start_a_moved_run_is_drawn_exactly_and_nothing_is_fitted(page):
    query = f"{NET}&plane=random"
    open_network(page, f"{query}&autoplay=0")
    page.evaluate(SNAPSHOTS_JS)
    sent = network_requests(page)
    page.locator('button[aria-controls="hp-sgd"]').click()
    page.evaluate(SLIDER_LATENCY_JS, ["sgd.lr", 300])
    [request] = sent
    assert [run["optimizer"] for run in request["runs"]] == ["sgd"] and request["plane"]["kind"] == "given"
    [shown] = page.evaluate("window.__snapshots")
    assert shown["plane"] == "fitted"  # the plane is the same whatever the runs do
    # What the page drew is what a fresh link of the new state draws.
    lr = page.evaluate("window.gradscape.scene.s.hp.sgd.lr")
    page.wait_for_function("(lr) => new URLSearchParams(location.search).get('sgd.lr') === String(lr)", arg=lr)
    _, _, fresh = served(page.evaluate("location.search.slice(1)"))
    for line, path in zip(shown["lines"], fresh["paths"]):
        assert np.allclose(np.c_[line["x"], line["y"]], path["points"], rtol=1e-12, atol=1e-12)
    assert "fitted to the new paths" not in page.locator("#engine-note").inner_text()
    page.wait_for_timeout(1500)  # longer than the page waits before it fits a plane made of the runs
    assert len(sent) == 1 and page.errors == []


@in_browser
def test_a_bad_network_link_value_is_explained_naming_the_key(page):
    open_network(page, "surface=network&steps=30&opt=adam&net.hidden=16,0&plane.res=11&autoplay=0")
    alert = page.locator("#alert").inner_text()
    assert "net.hidden = 0 is outside [1, 256]" in alert
    # Only that key falls back: the rest of the link is drawn.
    assert page.evaluate("window.gradscape.scene.surface.shapes[0]") == [16, 2]
    assert "net.hidden" not in page.evaluate("location.search")
    assert page.errors == []


@in_browser
def test_the_digits_have_no_plane_of_inputs_and_say_so(page):
    open_network(page, "surface=network&steps=10&opt=adam&net.data=digits&net.hidden=8&plane.res=5&autoplay=0")
    assert "64 inputs per sample" in page.locator(".boundary-note").inner_text()
    assert page.evaluate("document.getElementById('contour-bg').data[0].type") == "contour"
    assert page.errors == []


@in_browser
def test_the_embed_draws_a_network(page):
    open_network(page, f"{NET}&autoplay=0", path="/embed")
    assert page.evaluate("document.getElementById('contour-bg').data[0].type") == "contour"
    assert list(drawn_lines(page, "contour-fg")) == ["SGD", "Adam"]
    assert not page.locator(".panel-boundaries").is_visible()
    assert page.errors == []


@in_browser
def test_a_network_preset_opens_with_its_question(page):
    preset = next(p for p in PRESETS if p.id == "net_spirals_adam_sgd")
    open_network(page, f"{NET}&autoplay=0")
    before = drawn_count(page, "data")
    page.locator("#preset").select_option(preset.id)
    wait_drawn(page, "data", after=before, timeout=60_000)
    assert page.locator("#question").inner_text() == f"{preset.title} – {preset.question}"
    assert page.evaluate("window.gradscape.scene.surface.network.data") == "spirals"
    assert list(drawn_lines(page, "loss-fg")) == ["SGD", "Adam"]
    assert page.errors == []


@in_browser
def test_the_export_buttons_send_the_network_and_a_format_that_cannot_draw_one_says_so(browser, live_server, tmp_path):
    from PIL import Image

    context = browser.new_context(viewport={"width": 1280, "height": 720}, accept_downloads=True)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.add_init_script("window.__drawn = []; document.addEventListener('gradscape:drawn', (e) => window.__drawn.push(e.detail));")
    try:
        page.goto(f"{live_server.url}/?{NET}&autoplay=0")
        wait_drawn(page, "data")
        page.evaluate("window.gradscape.scene.player.seek(20)")
        with page.expect_request(lambda r: r.url.endswith("/api/exports") and r.method == "POST") as sent:
            with page.expect_download(timeout=90_000) as download:
                page.get_by_role("button", name="PNG frame").click()
        body = sent.value.post_data_json
        assert "state" not in body and body["step"] == 20 and body["view"] == "contour"
        assert body["network"] == {k: v for k, v in network_request(request_from_query(NET)).items()}
        assert download.value.suggested_filename == "gradscape-network-moons-contour-step20.png"
        path = tmp_path / "still.png"
        download.value.save_as(path)
        assert Image.open(path).size == (1280, 720)
        page.get_by_role("button", name="HTML", exact=True).click()
        page.locator("#alert").wait_for(state="visible")
        assert "format = html cannot draw a network; allowed: gif, mp4, png, svg" in page.locator("#alert").inner_text()
        assert page.errors == []
    finally:
        context.close()
