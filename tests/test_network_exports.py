"""A network's runs drawn through the export formats: the plane's contour with the projected paths, the loss curves."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

import core
from app import palette
from app.cli import main
from app.exports import formats
from app.exports.scene import NetworkScene
from app.settings import Settings
from test_export import ffprobe, has_colour

SIZE = (480, 320)
FRAMES = 6
NETWORK = {"data": "moons", "samples": 40, "hidden": [4], "seed": 2}
BODY = {"network": NETWORK, "steps": 30, "plane": {"kind": "pca", "resolution": 15},
        "runs": [{"optimizer": "sgd", "hyperparameters": {"lr": 0.3}}, {"optimizer": "adam", "hyperparameters": {"lr": 0.02}}]}


@pytest.fixture(scope="module")
def scene():
    return NetworkScene.from_request(BODY, Settings())


def export(scene, tmp_path, fmt, view="contour", **kw):
    out = tmp_path / f"out.{fmt}"
    kw = {"width": SIZE[0], "height": SIZE[1], **({} if formats.FORMATS[fmt].still else {"frames": FRAMES}), **kw}
    formats.export(scene, formats.make_options(fmt, view, **kw), out)
    return out


def test_the_scene_is_the_plane_with_each_path_on_it_and_its_full_data_loss(scene):
    problem = core.network_problem(NETWORK)
    runs = [core.trajectory({"network": NETWORK}, r["optimizer"], steps=30, hyperparameters=r["hyperparameters"])
            for r in BODY["runs"]]
    land = core.landscape(problem, runs, "pca", resolution=15)
    assert scene.spec.domain == ((land.alphas[0], land.alphas[-1]), (land.betas[0], land.betas[-1]))
    xs, ys, z = scene.grid(200)
    assert np.array_equal(z, land.losses) and z.shape == (15, 15)
    for drawn, run, path in zip(scene.runs, runs, land.paths):
        assert np.array_equal(drawn.points, path) and drawn.points.shape == (31, 2)
        assert np.allclose(drawn.losses, [problem.loss(w) for w in run.weights], rtol=1e-13)
        # The projection is the least-squares one: what is left of each point is orthogonal to the plane.
        rest = run.weights - land.centre - path @ np.stack([land.d1, land.d2])
        assert np.allclose(rest @ np.stack([land.d1, land.d2]).T, 0, atol=1e-9)


@pytest.mark.parametrize("view", ["contour", "loss", "surface3d"])
def test_a_png_decodes_at_its_size_with_every_runs_colour(scene, tmp_path, view):
    im = Image.open(export(scene, tmp_path, "png", view))
    assert im.format == "PNG" and im.size == SIZE
    pixels = np.asarray(im.convert("RGB"))
    for run in scene.runs:
        assert has_colour(pixels, palette.colour_for(run.optimizer)), run.optimizer


def test_the_svg_legend_gives_each_runs_share_off_the_plane(scene, tmp_path):
    text = export(scene, tmp_path, "svg").read_text()
    ET.fromstring(text)
    for name, off in (("SGD", scene.plane.off_plane[0]), ("Adam", scene.plane.off_plane[1])):
        assert 0.0 < off < 1.0
        assert f"{name}, {off:.0%} of its movement off the plane" in text
    assert "pca plane" in text and "α, along the plane" in text


def test_a_gif_and_an_mp4_hold_the_frames_asked_for(scene, tmp_path):
    im = Image.open(export(scene, tmp_path, "gif"))
    assert im.format == "GIF" and im.size == SIZE and im.n_frames == FRAMES
    info = ffprobe(export(scene, tmp_path, "mp4"))
    assert (info["width"], info["height"], int(info["nb_read_frames"])) == (*SIZE, FRAMES)


def cli(*args) -> int:
    return main(["network", *map(str, args)])


def test_the_cli_draws_a_network_where_out_says(tmp_path, capsys):
    out = tmp_path / "net.png"
    assert cli("--samples", 30, "--hidden", "3", "--optimizers", "sgd,adam", "--steps", 10, "--resolution", 9,
               "--width", SIZE[0], "--height", SIZE[1], "--view", "loss", "--out", out) == 0
    assert Image.open(out).size == SIZE
    assert "loss view of 2 runs on a random plane" in capsys.readouterr().out


@pytest.mark.parametrize("args, flag", [
    (("--hidden", "0"), "--hidden: network.hidden[0] = 0 is outside [1, 256]"),
    (("--data", "mnist"), "--data: "),
    (("--optimizers", "nope"), "--optimizers: "),
    (("--width", "5"), "--width: width = 5 is outside"),
    (("--plane", "points", "--optimizers", "adam"), "--through"),
])
def test_the_cli_names_the_flag_of_a_bad_network_export(tmp_path, capsys, args, flag):
    with pytest.raises(SystemExit) as e:
        cli("--samples", 20, "--hidden", "2", "--steps", 3, *args, "--out", tmp_path / "x.gif")
    assert e.value.code == 2
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "x.gif").exists()


# --- the HTTP API ---------------------------------------------------------------

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


def test_the_export_api_draws_a_network_request_in_the_background(client, tmp_path):
    from test_export import wait_for

    r = client.post("/api/exports", json={"network": BODY, "format": "gif", "frames": FRAMES, "width": SIZE[0],
                                          "height": SIZE[1]})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["filename"] == "gradscape-network-moons-contour.gif"
    assert wait_for(client, f"/api/exports/{job['id']}")["status"] == "done"
    r = client.get(f"/api/exports/{job['id']}/file")
    path = tmp_path / job["filename"]
    path.write_bytes(r.content)
    im = Image.open(path)
    assert im.format == "GIF" and im.size == SIZE and im.n_frames == FRAMES


@pytest.mark.parametrize("change, loc, message", [
    ({"network": {**BODY, "network": {**NETWORK, "hidden": [0]}}}, ["body", "network", "network", "hidden", 0],
     "network.hidden[0] = 0 is outside [1, 256]"),
    ({"network": {**BODY, "runs": [{"optimizer": "nope"}]}}, ["body", "network", "runs", 0, "optimizer"], ""),
    ({"network": {**BODY, "plane": {"kind": "tsne"}}}, ["body", "network", "plane", "kind"], ""),
    ({"format": "html"}, ["body", "format"], "format = html cannot draw a network; allowed: gif, mp4, png, svg"),
    ({"format": "png", "view": "map"}, ["body", "view"], "view = map cannot draw a network"),
    ({"format": "png", "step": 31}, ["body", "step"], "step = 31 is outside [0, 30]"),
    ({"state": "surface=beale&opt=adam"}, ["body", "network"], "either a state (a link) or a network request"),
])
def test_a_bad_network_export_is_a_422_naming_the_field(client, change, loc, message):
    r = client.post("/api/exports", json={"network": BODY, "format": "gif", **change})
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == loc and message in error["msg"], error
