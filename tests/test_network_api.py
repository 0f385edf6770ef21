"""The network surface through the API: trajectories, streams and the plane, its 422s and its limits."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

import core
from test_api import client_with

NETWORK = {"data": "moons", "samples": 40, "hidden": [5], "seed": 1}
BODY = {"network": NETWORK, "steps": 30, "runs": [{"optimizer": "sgd", "hyperparameters": {"lr": 0.1}},
                                                 {"optimizer": "adam", "label": "Adam"}]}


@pytest.fixture(scope="module")
def client():
    with client_with() as c:
        yield c


def lines(response) -> list[dict]:
    return [json.loads(line) for line in response.text.splitlines()]


def decoded(arr: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(arr["base64"]), "<f8").reshape(arr["shape"])


def test_trajectories_are_core_runs_with_their_losses(client):
    r = client.post("/api/networks/trajectories", json={**BODY, "weights": True})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["parameters"] == 5 * 2 + 5 + 2 * 5 + 2 and data["shapes"] == [[5, 2], [5], [2, 5], [2]]
    ours = core.trajectory({"network": NETWORK}, "sgd", steps=30, hyperparameters={"lr": 0.1})
    assert np.array_equal(np.array(data["runs"][0]["weights"]), ours.weights)
    assert np.array_equal(np.array(data["runs"][0]["losses"]), ours.losses)
    assert data["runs"][1]["label"] == "Adam" and len(data["runs"][1]["lr"]) == 30


def test_soap_trains_a_network_through_the_api_as_core_does(client):
    body = {**BODY, "runs": [{"optimizer": "soap", "hyperparameters": {"precondition_frequency": 3}}], "weights": True}
    r = client.post("/api/networks/trajectories", json=body)
    assert r.status_code == 200, r.text
    ours = core.trajectory({"network": NETWORK}, "soap", steps=30, hyperparameters={"precondition_frequency": 3})
    assert np.array_equal(np.array(r.json()["runs"][0]["weights"]), ours.weights)
    assert not np.array_equal(ours.weights[-1], ours.weights[0])


@pytest.mark.parametrize("kind", ["random", "pca", "points"])
def test_the_plane_comes_with_the_runs(client, kind):
    body = {**BODY, "plane": {"kind": kind, "resolution": 7}, "encoding": "base64"}
    r = client.post("/api/networks/trajectories", json=body)
    assert r.status_code == 200, r.text
    plane = r.json()["plane"]
    assert decoded(plane["losses"]).shape == (7, 7) and np.all(np.isfinite(decoded(plane["losses"])))
    for path in plane["paths"]:
        assert decoded(path["points"]).shape == (31, 2) and 0 <= path["off_plane"] <= 1
        assert decoded(path["true_losses"]).shape == (31,)
    assert "weights" not in r.json()["runs"][0]


def test_the_stream_sends_chunks_then_the_plane(client):
    r = client.post("/api/networks/stream", json={**BODY, "plane": {"kind": "pca", "resolution": 5}})
    assert r.status_code == 200
    got = lines(r)
    assert got[0]["type"] == "meta" and got[0]["network"]["data"] == "moons"
    assert got[-1]["type"] == "done" and got[-2]["type"] == "plane"
    losses = [x for line in got if line["type"] == "chunk" and line["run"] == 1 for x in line["losses"]]
    assert len(losses) == 31
    assert {line["run"] for line in got if line["type"] == "end"} == {0, 1}


@pytest.mark.parametrize("every", [1, 4, 7, 30, 31, 1000])
def test_weights_every_k_points_and_the_last_in_json_and_stream(client, every):
    body = {**BODY, "weights": True, "weights_every": every, "encoding": "base64"}
    ours = [core.trajectory({"network": NETWORK}, "sgd", steps=30, hyperparameters={"lr": 0.1}),
            core.trajectory({"network": NETWORK}, "adam", steps=30)]
    points = sorted({*range(0, 31, every), 30})
    run = client.post("/api/networks/trajectories", json=body).json()["runs"][0]
    assert np.array_equal(decoded(run["weights"]), ours[0].weights[points])
    assert run.get("weights_points", points) == points and len(decoded(run["losses"])) == 31
    got = lines(client.post("/api/networks/stream", json=body))
    for i, mine in enumerate(ours):
        chunks = [line for line in got if line["type"] == "chunk" and line["run"] == i]
        rows = np.concatenate([decoded(c["weights"]) for c in chunks])
        sent = [p for c in chunks for p in c.get("weights_points", range(c["from"], c["from"] + len(decoded(c["losses"]))))]
        assert sent == points and np.array_equal(rows, mine.weights[points])


@pytest.mark.parametrize("every", [0, -3, 2.5, "2", None, True, 10**9])
def test_a_bad_weights_every_is_a_422_naming_it(client, every):
    r = client.post("/api/networks/trajectories", json={**BODY, "weights": True, "weights_every": every})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "weights_every"]


def test_the_plane_comes_with_its_centre_and_directions_and_a_given_plane_puts_new_runs_on_it(client):
    r = client.post("/api/networks/trajectories", json={**BODY, "plane": {"kind": "pca", "resolution": 5}})
    plane = r.json()["plane"]
    c, (d1, d2) = np.array(plane["centre"]), np.array(plane["directions"])
    # The grid's losses are the loss at centre + a d1 + b d2: the plane sent is the plane drawn.
    problem = core.network_problem(NETWORK)
    a, b = plane["alphas"][3], plane["betas"][1]
    assert plane["losses"][1][3] == pytest.approx(problem.loss(c + a * d1 + b * d2), rel=1e-12)
    moved = {"optimizer": "adam", "hyperparameters": {"lr": 0.05}}
    given = {"kind": "given", "centre": plane["centre"], "directions": plane["directions"], "grid": False}
    for path in ("/api/networks/trajectories", "/api/networks/stream"):
        r = client.post(path, json={**BODY, "runs": [moved], "plane": given})
        assert r.status_code == 200, r.text
        got = r.json()["plane"] if path.endswith("trajectories") else next(m for m in lines(r) if m["type"] == "plane")
        assert {"alphas", "betas", "losses"}.isdisjoint(got) and got["kind"] == "given"
        # The oracle: the run's weights (core), projected by least squares on the given plane, here.
        w = core.trajectory({"network": NETWORK}, "adam", steps=30, hyperparameters={"lr": 0.05}).weights
        coef, *_ = np.linalg.lstsq(np.stack([d1, d2], 1), (w - c).T, rcond=None)
        assert np.allclose(got["paths"][0]["points"], coef.T, rtol=1e-12, atol=1e-12)
        assert np.array_equal(got["centre"], c) and np.array_equal(got["directions"], [d1, d2])
    # A run that was in the first answer lands where it was.
    r = client.post("/api/networks/trajectories", json={**BODY, "runs": BODY["runs"][1:], "plane": given})
    assert np.array_equal(r.json()["plane"]["paths"][0]["points"], plane["paths"][1]["points"])
    assert r.json()["plane"]["paths"][0]["off_plane"] == plane["paths"][1]["off_plane"]


P = 5 * 2 + 5 + 2 * 5 + 2


@pytest.mark.parametrize("plane, loc, words", [
    ({"kind": "given"}, ["body", "plane", "directions"], "must be two lists of 27 numbers"),
    ({"kind": "given", "directions": [[1.0] * P]}, ["body", "plane", "directions"], "must be two lists of 27 numbers"),
    ({"kind": "given", "directions": [[1.0] * P, [2.0] * P]}, ["body", "plane", "directions"],
     "the two directions lie on one line"),
    ({"kind": "given", "directions": [[1.0] * P, [0.0] * P]}, ["body", "plane", "directions"],
     "the two directions lie on one line"),
    ({"kind": "given", "directions": [[1.0] * P, [1.0] * 3]}, ["body", "plane", "directions", "1"],
     "has 3 numbers; this network has 27 weights"),
    ({"kind": "given", "directions": [[1.0] * P, ["a"] * P]}, ["body", "plane", "directions", "1"],
     "must be a list of 27 numbers"),
    ({"kind": "given", "directions": [[1.0] * P, list(range(P))], "centre": [1.0]}, ["body", "plane", "centre"],
     "has 1 numbers; this network has 27 weights"),
    ({"kind": "pca", "directions": [[1.0] * P, list(range(P))]}, ["body", "plane", "directions"],
     "only a plane of kind 'given' takes directions"),
    ({"kind": "pca", "grid": "no"}, ["body", "plane", "grid"], "valid boolean"),
])
def test_a_bad_given_plane_is_a_422_naming_the_field(client, plane, loc, words):
    for path in ("/api/networks/trajectories", "/api/networks/stream"):
        r = client.post(path, json={**BODY, "plane": plane})
        assert r.status_code == 422, (path, r.text)
        [error] = r.json()["detail"]
        assert error["loc"] == loc and words in error["msg"], error


def test_an_export_draws_the_plane_so_it_refuses_one_without_its_grid(client):
    plane = {"kind": "random", "grid": False}
    r = client.post("/api/exports", json={"network": {**BODY, "plane": plane}, "format": "png"})
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "network", "plane", "grid"] and "grid must be true" in error["msg"]


@pytest.mark.parametrize("change, loc", [
    ({"network": {**NETWORK, "data": "mnist"}}, ["body", "network", "data"]),
    ({"network": {**NETWORK, "hidden": [0]}}, ["body", "network", "hidden", 0]),
    ({"network": {**NETWORK, "hidden": [999]}}, ["body", "network", "hidden", 0]),
    ({"network": {**NETWORK, "samples": 10**6}}, ["body", "network", "samples"]),
    ({"network": {**NETWORK, "activation": "gelu"}}, ["body", "network", "activation"]),
    ({"network": {**NETWORK, "batch_size": 1000}}, ["body", "network", "batch_size"]),
    ({"runs": [{"optimizer": "nope"}]}, ["body", "runs", 0, "optimizer"]),
    ({"runs": [{"optimizer": "adam", "hyperparameters": {"lr": -1}}]}, ["body", "runs", 0, "hyperparameters", "lr"]),
    ({"steps": 0}, ["body", "steps"]),
    ({"plane": {"kind": "pca", "resolution": 1000}}, ["body", "plane", "resolution"]),
    ({"plane": {"kind": "points", "through": [0, 0]}}, ["body", "plane", "through"]),
    ({"plane": {"kind": "tsne"}}, ["body", "plane", "kind"]),
])
def test_bad_requests_get_a_422_naming_the_field(client, change, loc):
    for path in ("/api/networks/trajectories", "/api/networks/stream"):
        r = client.post(path, json={**BODY, **change})
        if path.endswith("stream") and "plane" in change and change["plane"].get("kind") == "points":
            continue  # the plane is computed after the runs: a stream says so in-band
        assert r.status_code == 422, (path, r.text)
        assert r.json()["detail"][0]["loc"] == loc, r.json()


def test_limits_apply_as_everywhere():
    with client_with(max_steps=10, max_runs=1, max_request_memory_mb=1) as c:
        r = c.post("/api/networks/trajectories", json={**BODY, "runs": BODY["runs"][:1]})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "steps"]
        r = c.post("/api/networks/trajectories", json={**BODY, "steps": 5})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "runs"]
    with client_with(max_request_memory_mb=1) as c:
        big = {**BODY, "network": {**NETWORK, "hidden": [200, 200]}, "steps": 5000, "runs": BODY["runs"][:1]}
        r = c.post("/api/networks/trajectories", json=big)
        assert r.status_code == 413 and r.json()["detail"][0]["loc"] == ["body", "steps"]
    with client_with(max_compute_seconds=0.05) as c:
        long = {**BODY, "network": {**NETWORK, "samples": 2000, "hidden": [64, 64]}, "steps": 20000,
                "runs": BODY["runs"][:1]}
        r = c.post("/api/networks/trajectories", json=long)
        assert r.status_code == 413


def test_answers_hold_no_nan_even_when_a_run_diverges(client):
    body = {**BODY, "runs": [{"optimizer": "sgd", "hyperparameters": {"lr": 10}}], "steps": 200,
            "network": {**NETWORK, "activation": "relu", "hidden": [64]}}
    r = client.post("/api/networks/trajectories", json=body)
    assert r.status_code == 200 and "NaN" not in r.text and "Infinity" not in r.text


# --- the command line ------------------------------------------------------------------

def test_gradscape_network_writes_the_apis_answer(tmp_path, capsys):
    from app.cli import main

    out = tmp_path / "net.json"
    assert main(["network", "--samples", "40", "--hidden", "5", "--seed", "1", "--optimizers", "sgd,adam",
                 "--hyper", "sgd.lr=0.1", "--steps", "30", "--plane", "pca", "--resolution", "5",
                 "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    ours = core.trajectory({"network": NETWORK}, "sgd", steps=30, hyperparameters={"lr": 0.1})
    assert np.array_equal(np.array(data["runs"][0]["losses"]), ours.losses)
    assert np.array(data["plane"]["losses"]).shape == (5, 5)
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("argv, flag", [
    (["--data", "mnist"], "--data"),
    (["--hidden", "0"], "--hidden"),
    (["--optimizers", "nope"], "--optimizers"),
    (["--batch-size", "999"], "--batch-size"),
])
def test_gradscape_network_names_the_bad_flag(tmp_path, capsys, argv, flag):
    from app.cli import main

    with pytest.raises(SystemExit):
        main(["network", "--samples", "40", "--steps", "2", "--out", str(tmp_path / "x.json"), *argv])
    assert f"{flag}:" in capsys.readouterr().err
