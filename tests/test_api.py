"""The HTTP API through FastAPI's TestClient: answers equal core's, and bad input gets a 422 naming the field."""

from __future__ import annotations

import base64
import json
import os
import time

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

import core
from app.services import catalog, trajectories, validation
from app.main import create_app
from app.settings import Settings, get_settings


def client_with(**limits) -> TestClient:
    """A TestClient whose app sees these settings (kernels are loaded lazily, not warmed)."""
    app = create_app()
    settings = Settings(warm_on_startup=False, **limits)
    app.dependency_overrides[get_settings] = lambda: settings
    return TestClient(app)


@pytest.fixture(scope="module")
def client():
    with client_with() as c:
        yield c


def lines(response) -> list[dict]:
    return [json.loads(line) for line in response.text.splitlines()]


def post(client, path, body):
    return client.post(path, json=body)


# --- catalog and schema -----------------------------------------------------------------

def test_catalog_has_every_spec_with_all_its_metadata(client):
    r = client.get("/api/catalog")
    assert r.status_code == 200
    data = r.json()
    assert data["optimizers"] == [json.loads(orjson.dumps(s.as_dict())) for s in core.OPTIMIZERS.values()]
    assert data["surfaces"] == [json.loads(orjson.dumps(s.as_dict())) for s in core.SURFACES.values()]
    assert [s["id"] for s in data["schedules"]] == list(core.SCHEDULES)
    adam = next(o for o in data["optimizers"] if o["id"] == "adam")
    assert adam["rule"] and {"default", "low", "high", "log", "help"} <= set(adam["hyperparameters"][0])
    assert data["limits"]["max_steps"] == Settings().max_steps


def test_catalog_reports_the_limits_in_force():
    with client_with(max_steps=1234, max_runs=3) as c:
        limits = c.get("/api/catalog").json()["limits"]
    assert (limits["max_steps"], limits["max_runs"]) == (1234, 3)


def test_openapi_names_come_from_the_registry(client):
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    assert components["OptimizerName"]["enum"] == list(core.OPTIMIZERS)
    assert components["SurfaceName"]["enum"] == list(core.SURFACES)
    assert components["ScheduleName"]["enum"] == list(core.SCHEDULES)
    for path in ("/api/catalog", "/api/surfaces/{name}/grid", "/api/trajectories", "/api/trajectories/stream",
                 "/api/sweeps/stream"):
        assert path in schema["paths"]
    assert "application/x-ndjson" in schema["paths"]["/api/trajectories/stream"]["post"]["responses"]["200"]["content"]
    assert client.get("/docs").status_code == 200


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("GRADSCAPE_MAX_STEPS", "777")
    monkeypatch.setenv("GRADSCAPE_WARM_ON_STARTUP", "false")
    settings = Settings()
    assert (settings.max_steps, settings.warm_on_startup) == (777, False)


def test_lifespan_warms_the_kernels_before_the_first_request(monkeypatch):
    calls = []
    monkeypatch.setattr(core, "warm", lambda: calls.append("warm"))
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: Settings(warm_on_startup=True)
    with TestClient(app) as c:
        assert calls == ["warm"]
        assert c.get("/api/health").json()["status"] == "ok"


def test_a_slow_warm_up_says_it_is_compiling_and_for_how_long(monkeypatch, caplog):
    from app import main

    monkeypatch.setattr(main, "COMPILE_NOTICE_SECONDS", 0.05)
    monkeypatch.setattr(core, "warm", lambda: time.sleep(0.3))
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: Settings(warm_on_startup=True)
    with caplog.at_level("INFO", logger="uvicorn.error"), TestClient(app):
        pass
    said = [r.getMessage() for r in caplog.records if r.name == "uvicorn.error"]
    assert any(m.startswith("Compiling the numeric kernels") and "a few minutes" in m for m in said), said
    assert any(m.startswith("Kernels compiled in") for m in said), said


def test_a_cached_warm_up_says_nothing(monkeypatch, caplog):
    monkeypatch.setattr(core, "warm", lambda: None)
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: Settings(warm_on_startup=True)
    with caplog.at_level("INFO", logger="uvicorn.error"), TestClient(app):
        pass
    assert not [r for r in caplog.records if "ompil" in r.getMessage()]


# --- trajectories --------------------------------------------------------------------------

BODY = {"surface": "beale", "start": [1.0, 1.5], "steps": 120, "runs": [{"optimizer": "adam", "hyperparameters": {"lr": 0.01}}]}
RUN = [{"optimizer": "adam"}]


def assert_run_equals(run: dict, expected: core.Trajectory):
    assert run["optimizer"] == expected.optimizer
    assert run["hyperparameters"] == expected.hyperparameters
    assert run["diverged_at"] == expected.diverged_at
    for name in ("points", "losses", "lr", "gradients", "effective_lr"):
        assert np.array_equal(np.array(run[name], dtype=float).reshape(getattr(expected, name).shape), getattr(expected, name)), name
    assert run["state"].keys() == expected.state.keys()
    for name, values in expected.state.items():
        assert np.array_equal(np.array(run["state"][name]).reshape(values.shape), values), name
    if expected.step_size is None:
        assert run["step_size"] is None
    else:
        assert np.array_equal(run["step_size"], expected.step_size)


@pytest.mark.parametrize("optimizer", list(core.OPTIMIZERS))
def test_every_optimizer_answers_exactly_what_core_computes(client, optimizer):
    body = {"surface": {"name": "quadratic", "kappa": 20}, "start": [-1.8, 1.0], "steps": 150,
            "runs": [{"optimizer": optimizer}], "schedule": {"name": "cosine", "t_max": 100, "warmup_steps": 5},
            "noise": {"sigma": 0.05, "seed": 3}, "seed": 1}
    r = post(client, "/api/trajectories", body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert (data["surface"], data["surface_params"], data["start"], data["steps"]) == ("quadratic", {"kappa": 20.0}, [-1.8, 1.0], 150)
    expected = core.trajectory(body["surface"], optimizer, body["start"], 150, None, body["schedule"], body["noise"], 1)
    assert_run_equals(data["runs"][0], expected)


def test_a_run_with_its_own_schedule_keeps_it_beside_the_shared_one(client):
    own = {"name": "cosine", "t_max": 120}
    body = {**BODY, "schedule": {"name": "step", "step_size": 30},
            "runs": [{"optimizer": "adam", "schedule": own}, {"optimizer": "sgd"}, {"optimizer": "momentum",
                                                                                   "schedule": {"name": "constant"}}]}
    for path in ("/api/trajectories", "/api/trajectories/stream"):
        r = post(client, path, body)
        assert r.status_code == 200, r.text
    runs = post(client, "/api/trajectories", body).json()["runs"]
    for run, schedule in zip(runs, [own, body["schedule"], {"name": "constant"}]):
        expected = core.trajectory("beale", run["optimizer"], BODY["start"], BODY["steps"], None, schedule)
        assert_run_equals(run, expected)
    assert runs[0]["lr"][-1] < 1e-6 < runs[2]["lr"][-1] == runs[2]["lr"][0]


def test_the_default_start_and_steps_are_the_surfaces(client):
    r = post(client, "/api/trajectories", {"surface": "rosenbrock", "runs": [{"optimizer": "sgd"}]})
    data = r.json()
    assert data["start"] == list(core.SURFACES["rosenbrock"].start) and data["steps"] == 300
    assert len(data["runs"][0]["points"]) == 301


def test_a_diverged_run_ends_at_its_last_finite_point_and_says_so(client):
    body = {"surface": "quadratic", "steps": 500, "runs": [{"optimizer": "sgd", "hyperparameters": {"lr": 10}},
                                                         {"optimizer": "adam"}]}
    r = post(client, "/api/trajectories", body)
    assert r.status_code == 200
    assert b"NaN" not in r.content and b"Infinity" not in r.content
    bad, good = r.json()["runs"]
    assert bad["diverged_at"] is not None and len(bad["points"]) == bad["diverged_at"] == len(bad["losses"])
    assert len(bad["lr"]) == len(bad["points"]) - 1
    assert good["diverged_at"] is None and len(good["points"]) == 501
    assert_run_equals(bad, core.trajectory("quadratic", "sgd", core.SURFACES["quadratic"].start, 500, {"lr": 10}))


def test_fields_picks_the_arrays_returned(client):
    r = post(client, "/api/trajectories", {**BODY, "fields": ["points", "losses"]})
    run = r.json()["runs"][0]
    assert set(run) == {"optimizer", "hyperparameters", "points", "losses", "diverged_at"}


def test_the_response_carries_server_timing(client):
    r = post(client, "/api/trajectories", BODY)
    assert r.headers["server-timing"].startswith("app;dur=")


# --- streams -----------------------------------------------------------------------------

def assemble(records: list[dict]) -> dict[int, dict]:
    """Rebuild whole runs from chunk lines, checking each chunk continues where the last ended."""
    runs: dict[int, dict] = {}
    for rec in records:
        if rec["type"] != "chunk":
            continue
        run = runs.setdefault(rec["run"], {"points": [], "losses": [], "lr": [], "gradients": [], "effective_lr": [],
                                           "step_size": [], "state": {}})
        assert rec["from"] == len(run["points"])
        assert rec["step_from"] == len(run["lr"])
        assert len(rec["points"]) == len(rec["lr"]) + (1 if rec["from"] == 0 else 0)
        for name in ("points", "losses", "lr", "gradients", "effective_lr"):
            run[name] += rec[name]
        run["step_size"] = None if rec["step_size"] is None else run["step_size"] + rec["step_size"]
        for name, values in rec["state"].items():
            run["state"].setdefault(name, []).extend(values)
    return runs


def test_a_stream_carries_the_same_runs_in_step_order():
    body = {"surface": "rosenbrock", "steps": 700, "runs": [
        {"optimizer": "adam", "hyperparameters": {"lr": 0.02}}, {"optimizer": "momentum"},
        {"optimizer": "sgd", "hyperparameters": {"lr": 5}}, {"optimizer": "rmsprop"}]}
    with client_with(stream_first_chunk_steps=7, stream_chunk_steps=50) as c:
        r = post(c, "/api/trajectories/stream", body)
        whole = post(c, "/api/trajectories", body).json()
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    records = lines(r)
    assert records[0]["type"] == "meta" and records[-1]["type"] == "done"
    assert [run["optimizer"] for run in records[0]["runs"]] == ["adam", "momentum", "sgd", "rmsprop"]
    assert {k: records[0][k] for k in ("surface", "surface_params", "start", "steps")} == \
        {k: whole[k] for k in ("surface", "surface_params", "start", "steps")}
    chunks = [rec for rec in records if rec["type"] == "chunk"]
    assert len(chunks[0]["points"]) == 7  # the first chunk is the small one
    # Round-robin: a run's chunk never starts further ahead than another run's next one.
    starts = [rec["step_from"] for rec in chunks]
    assert starts == sorted(starts)
    ends = {rec["run"]: rec for rec in records if rec["type"] == "end"}
    for i, run in assemble(records).items():
        expected = whole["runs"][i]
        assert ends[i]["diverged_at"] == expected["diverged_at"] and ends[i]["points"] == len(expected["points"])
        for name in ("points", "losses", "lr", "gradients", "effective_lr", "state", "step_size"):
            assert run[name] == expected[name], (i, name)
    assert ends[2]["diverged_at"] is not None


def test_a_stream_with_fields_carries_only_those():
    with client_with() as c:
        records = lines(post(c, "/api/trajectories/stream", {**BODY, "fields": ["points"]}))
    chunk = next(rec for rec in records if rec["type"] == "chunk")
    assert set(chunk) == {"type", "run", "from", "step_from", "points"}


def test_a_stream_past_the_compute_limit_ends_with_an_error_line():
    with client_with(max_compute_seconds=1e-9, stream_first_chunk_steps=10, stream_chunk_steps=10) as c:
        records = lines(post(c, "/api/trajectories/stream", {**BODY, "steps": 5000}))
        health = c.get("/api/health").json()["streams"]
    assert records[0]["type"] == "meta" and records[-1]["type"] == "error"
    assert "1e-09 s" in records[-1]["message"]
    assert health["failed"] == 1 and health["active"] == 0


def test_a_whole_answer_past_the_compute_limit_is_a_413_naming_it():
    with client_with(max_compute_seconds=1e-9) as c:
        r = post(c, "/api/trajectories", {**BODY, "steps": 100_000})
    assert r.status_code == 413
    assert "limit of 1e-09 s" in r.json()["detail"][0]["msg"]


def test_a_whole_answer_too_large_to_build_is_a_413_pointing_to_the_stream(client):
    r = post(client, "/api/trajectories", {**BODY, "steps": 100_000, "runs": RUN * 3})
    assert r.status_code == 413
    msg = r.json()["detail"][0]["msg"]
    assert "3 runs x 100000 steps = 300000 steps is more than the limit of 240000" in msg and "stream" in msg
    assert post(client, "/api/trajectories/stream", {**BODY, "steps": 100_000, "runs": RUN * 3, "fields": []}).status_code == 200


# --- the base64 encoding -------------------------------------------------------------------

# Every optimizer (with and without state and step sizes), a schedule, noise, and a run that diverges.
# Every optimizer in one request: more runs than the default limit, so the tests that send it raise the limit.
EVERY = {"surface": {"name": "quadratic", "kappa": 20}, "start": [-1.8, 1.0], "steps": 150,
         "runs": [{"optimizer": o} for o in core.OPTIMIZERS] + [{"optimizer": "sgd", "hyperparameters": {"lr": 10}}],
         "schedule": {"name": "cosine", "t_max": 100, "warmup_steps": 5}, "noise": {"sigma": 0.05, "seed": 3}}


def decoded(value):
    """An answer with each {"dtype", "shape", "base64"} array object turned into its numpy array."""
    if isinstance(value, list):
        return [decoded(v) for v in value]
    if not isinstance(value, dict):
        return value
    if value.keys() == {"dtype", "shape", "base64"}:
        assert value["dtype"] == "float64"
        return np.frombuffer(base64.b64decode(value["base64"], validate=True), "<f8").reshape(value["shape"])
    return {k: decoded(v) for k, v in value.items()}


def assert_bitwise_equal(encoded, plain, where: str = "") -> int:
    """A decoded base64 answer is the JSON answer with every array as its exact bits; returns the arrays compared."""
    if isinstance(encoded, np.ndarray):
        expected = np.array(plain, dtype=float).reshape(encoded.shape)
        assert encoded.tobytes() == expected.tobytes(), where
        return 1
    if isinstance(encoded, dict):
        assert encoded.keys() == plain.keys(), where
        return sum(assert_bitwise_equal(encoded[k], plain[k], f"{where}.{k}") for k in encoded)
    if isinstance(encoded, list):
        assert len(encoded) == len(plain), where
        return sum(assert_bitwise_equal(a, b, f"{where}[{i}]") for i, (a, b) in enumerate(zip(encoded, plain)))
    assert encoded == plain, where
    return 0


def test_a_base64_answer_holds_the_json_answers_arrays_bit_for_bit():
    with client_with(max_runs=len(EVERY["runs"])) as client:
        plain = post(client, "/api/trajectories", EVERY).json()
        r = post(client, "/api/trajectories", {**EVERY, "encoding": "base64"})
    assert r.status_code == 200, r.text
    encoded = decoded(r.json())
    adam = encoded["runs"][list(core.OPTIMIZERS).index("adam")]
    assert adam["points"].shape == (151, 2) and adam["losses"].shape == (151,)
    assert adam["state"]["m"].shape == (150, 2) and adam["step_size"].shape == (150,)
    assert encoded["runs"][-1]["diverged_at"] is not None
    assert assert_bitwise_equal(encoded, plain) >= 5 * len(EVERY["runs"])  # points, losses, lr, gradients, effective_lr


def test_small_requests_answered_in_place_equal_those_answered_in_a_thread():
    """GRADSCAPE_INLINE_STEPS picks where an answer is computed, never what it holds."""
    from app.services.trajectories import answers_in_place
    from app.schemas import TrajectoryRequest

    small = {**EVERY, "steps": 40}
    bad = {**small, "runs": [{"optimizer": "adam", "hyperparameters": {"lr": -1}}]}
    answers = []
    for inline_steps in (0, 10**9):
        settings = Settings(inline_steps=inline_steps)
        assert answers_in_place(TrajectoryRequest.model_validate(small), settings) == (inline_steps > 0)
        with client_with(inline_steps=inline_steps, max_runs=len(EVERY["runs"])) as c:
            answers.append([(r.status_code, r.content) for r in
                            (post(c, "/api/trajectories", body) for body in (small, bad, {**small, "steps": 10**9}))])
    assert answers[0] == answers[1]
    assert [status for status, _ in answers[0]] == [200, 422, 422]


def test_a_base64_stream_holds_the_json_streams_lines_bit_for_bit():
    with client_with(stream_first_chunk_steps=7, stream_chunk_steps=50, max_runs=len(EVERY["runs"])) as c:
        plain = lines(post(c, "/api/trajectories/stream", EVERY))
        encoded = [decoded(rec) for rec in lines(post(c, "/api/trajectories/stream", {**EVERY, "encoding": "base64"}))]
    chunks = [rec["type"] for rec in encoded].count("chunk")
    assert chunks > 2 * len(EVERY["runs"])
    # meta, end and done lines are the same; each chunk's arrays hold the same bits in the same places.
    assert assert_bitwise_equal(encoded, plain) >= 5 * chunks


# --- sweeps ------------------------------------------------------------------------------

def test_a_sweep_streams_rows_with_progress_and_equals_cores_sweep(client):
    body = {"surface": "rosenbrock", "optimizer": "momentum", "steps": 200, "start": [-1.2, 1.0],
            "grid": {"lr": {"low": 1e-4, "high": 0.05, "num": 9, "log": True}, "momentum": [0.5, 0.9, 0.99]}, "tol": 0.5}
    r = post(client, "/api/sweeps/stream", body)
    assert r.status_code == 200 and b"NaN" not in r.content
    records = lines(r)
    meta, rows, done = records[0], records[1:-1], records[-1]
    assert meta["type"] == "meta" and done["type"] == "done"
    assert meta["names"] == ["lr", "momentum"] and meta["shape"] == [9, 3]
    assert meta["values"][0] == np.geomspace(1e-4, 0.05, 9).tolist()
    expected = core.sweep("rosenbrock", "momentum", (-1.2, 1.0), 200,
                          {"lr": np.geomspace(1e-4, 0.05, 9), "momentum": [0.5, 0.9, 0.99]}, tol=0.5)
    progress = [rec["progress"] for rec in rows]
    assert progress == sorted(progress) and progress[-1] == 1.0
    losses = [v for rec in rows for v in rec["final_losses"]]
    hit = [v for rec in rows for v in rec["steps_to_tol"]]
    diverged = [v for rec in rows for v in rec["diverged"]]
    assert np.array_equal(np.array(losses, dtype=float), expected.final_losses, equal_nan=True)
    assert hit == [[None if k < 0 else k for k in row] for row in expected.steps_to_tol.tolist()]
    assert diverged == expected.diverged.tolist()
    # A diverged cell holds null, and is flagged; a converged one says when.
    assert any(any(row) for row in diverged) and any(k is not None for row in hit for k in row)
    assert all(v is None for row, flags in zip(losses, diverged) for v, bad in zip(row, flags) if bad)


def test_a_sweep_over_start_points_makes_a_basin_map(client):
    body = {"surface": "himmelblau", "optimizer": "sgd", "steps": 100, "hyperparameters": {"lr": 0.01},
            "grid": {"x": {"low": -4, "high": 4, "num": 6}, "y": [-4, 0, 4]}}
    records = lines(post(client, "/api/sweeps/stream", body))
    points = [p for rec in records if rec["type"] == "rows" for p in rec["final_points"]]
    assert np.array(points).shape == (6, 3, 2)


# --- grids -------------------------------------------------------------------------------

def test_a_grid_holds_the_surfaces_values_and_is_cached(client):
    catalog.grid_json.cache_clear()
    url = "/api/surfaces/quadratic/grid?resolution=7&kappa=50&x_min=-1&x_max=1"
    r = client.get(url)
    assert r.status_code == 200 and "max-age" in r.headers["cache-control"]
    data = r.json()
    xs, ys, z = core.surface_grid({"name": "quadratic", "kappa": 50}, (-1, 1), None, 7)
    assert data["x"] == xs.tolist() and data["y"] == ys.tolist() and data["z"] == z.tolist()
    assert (data["z_min"], data["z_max"]) == (z.min(), z.max())
    assert data["surface_params"] == {"kappa": 50.0}
    client.get(url)
    assert catalog.grid_json.cache_info().hits == 1


def test_a_grid_defaults_to_the_surfaces_domain(client):
    data = client.get("/api/surfaces/beale/grid").json()
    assert len(data["x"]) == 100 and [data["x"][0], data["x"][-1]] == list(core.SURFACES["beale"].domain[0])


# --- bad input -----------------------------------------------------------------------------

TRAJECTORY_ERRORS = [
    # (body, loc, a piece of the message)
    ({"surface": "nowhere", "runs": RUN}, ["body", "surface", "name"], "'rosenbrock'"),
    ({"surface": {"name": "quadratic", "kappa": 0}, "runs": RUN}, ["body", "surface", "kappa"], "outside [1, 10000]"),
    ({"surface": {"name": "beale", "kappa": 1}, "runs": RUN}, ["body", "surface", "kappa"], "unknown name 'kappa'"),
    ({"surface": "beale", "runs": [{"optimizer": "adamm"}]}, ["body", "runs", 0, "optimizer"], "'adam'"),
    ({"surface": "beale", "runs": [{"optimizer": "sgd"}, {"optimizer": "adam", "hyperparameters": {"lr": -1}}]},
     ["body", "runs", 1, "hyperparameters", "lr"], "hyperparameters.lr = -1 is outside [1e-06, 10]"),
    ({"surface": "beale", "runs": [{"optimizer": "adam", "hyperparameters": {"beta1": 1.5}}]},
     ["body", "runs", 0, "hyperparameters", "beta1"], "outside [0, 0.9999]"),
    ({"surface": "beale", "runs": [{"optimizer": "adam", "hyperparameters": {"momentum": 0.9}}]},
     ["body", "runs", 0, "hyperparameters", "momentum"], "unknown name 'momentum'"),
    ({"surface": "beale", "runs": [{"optimizer": "adam", "hyperparameters": {"lr": "fast"}}]},
     ["body", "runs", 0, "hyperparameters", "lr"], "is not a number"),
    ({"surface": "beale", "runs": [{"optimizer": "adam", "hyperparams": {}}]}, ["body", "runs", 0, "hyperparams"], "Extra inputs"),
    ({"surface": "beale", "steps": 0, "runs": RUN}, ["body", "steps"], "steps = 0 is outside [1, 100000]"),
    ({"surface": "beale", "steps": 10**9, "runs": RUN}, ["body", "steps"], "steps = 1000000000 is outside [1, 100000]"),
    ({"surface": "beale", "steps": 2.5, "runs": RUN}, ["body", "steps"], "not a whole number"),
    ({"surface": "beale", "steps": "many", "runs": RUN}, ["body", "steps"], "not a whole number"),
    ({"surface": "beale", "start": [1e7, 0], "runs": RUN}, ["body", "start", 0], "outside [-1e+06, 1e+06]"),
    ({"surface": "beale", "start": [1], "runs": RUN}, ["body", "start"], "two numbers"),
    ({"surface": "beale", "start": "origin", "runs": RUN}, ["body", "start"], "two numbers"),
    ({"surface": "beale", "runs": []}, ["body", "runs"], "at least 1"),
    ({"surface": "beale", "runs": RUN * 25}, ["body", "runs"], "25 runs is more than the limit of 24"),
    ({"surface": "beale", "runs": "adam"}, ["body", "runs"], "valid list"),
    ({"runs": RUN}, ["body", "surface"], "Field required"),
    ({"surface": "beale", "runs": RUN, "schedule": {"name": "cosine", "t_max": 0}}, ["body", "schedule", "t_max"], "outside [1, 1000000]"),
    ({"surface": "beale", "runs": RUN, "schedule": {"name": "linear"}}, ["body", "schedule", "name"], "'cosine'"),
    ({"surface": "beale", "runs": [{"optimizer": "sgd"}, {"optimizer": "adam", "schedule": {"name": "cosine", "t_max": 0}}]},
     ["body", "runs", 1, "schedule", "t_max"], "outside [1, 1000000]"),
    ({"surface": "beale", "runs": [{"optimizer": "adam", "schedule": {"name": "linear"}}]},
     ["body", "runs", 0, "schedule", "name"], "'cosine'"),
    ({"surface": "beale", "runs": RUN, "noise": {"sigma": -0.1}}, ["body", "noise", "sigma"], "outside [0, 100]"),
    ({"surface": "beale", "runs": RUN, "seed": -1}, ["body", "seed"], "outside"),
    ({"surface": "beale", "runs": RUN, "fields": ["everything"]}, ["body", "fields", 0], "'points'"),
    ({"surface": "beale", "runs": RUN, "encoding": "hex"}, ["body", "encoding"], "'json' or 'base64'"),
]


@pytest.mark.parametrize("path", ["/api/trajectories", "/api/trajectories/stream"])
@pytest.mark.parametrize("body, loc, msg", TRAJECTORY_ERRORS)
def test_bad_input_gets_a_422_naming_the_field(client, path, body, loc, msg):
    r = post(client, path, body)
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == loc and msg in error["msg"], error


RAW_ERRORS = [
    # Python's json reads these literals, so they do arrive.
    ('{"surface": "beale", "runs": [{"optimizer": "adam", "hyperparameters": {"lr": NaN}}]}',
     ["body", "runs", 0, "hyperparameters", "lr"], "not a finite number"),
    ('{"surface": "beale", "runs": [{"optimizer": "adam", "hyperparameters": {"lr": -Infinity}}]}',
     ["body", "runs", 0, "hyperparameters", "lr"], "not a finite number"),
    ('{"surface": "beale", "start": [Infinity, 0], "runs": [{"optimizer": "adam"}]}', ["body", "start", 0], "not a finite number"),
    ('{"surface": "beale", "steps": NaN, "runs": [{"optimizer": "adam"}]}', ["body", "steps"], "not a whole number"),
    ('{"surface": {"name": "quadratic", "kappa": NaN}, "runs": [{"optimizer": "adam"}]}', ["body", "surface", "kappa"], "finite"),
    ('', ["body"], "Field required"),
    ('{"surface": "beale", "runs": [', ["body", 30], "JSON decode error"),
    # An integer too long for Python to convert still names its field.
    ('{"surface": "beale", "steps": 1' + "0" * 5000 + ', "runs": [{"optimizer": "adam"}]}', ["body", "steps"],
     "an integer of 5001 digits is not a whole number"),
    ('{"surface": "beale", "runs": [{"optimizer": "adam", "hyperparameters": {"lr": -' + "9" * 5000 + '}}]}',
     ["body", "runs", 0, "hyperparameters", "lr"], "not a finite number"),
    ('[' * 100_000 + ']' * 100_000, ["body", 0], "recursion"),
]


@pytest.mark.parametrize("raw, loc, msg", RAW_ERRORS)
def test_malformed_json_gets_a_422_too(client, raw, loc, msg):
    r = client.post("/api/trajectories", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    error = r.json()["detail"][0]
    assert error["loc"] == loc and msg in error["msg"], error


def test_a_body_that_is_not_json_is_told_so(client):
    r = client.post("/api/trajectories", content=json.dumps(BODY))  # no content-type
    assert r.status_code == 422 and "content-type: application/json" in r.json()["detail"][0]["msg"]


def test_a_body_over_the_limit_is_a_413_before_parsing():
    body = json.dumps({**BODY, "pad": "x" * 2000}).encode()
    with client_with(max_body_bytes=1000) as c:
        declared = c.post("/api/trajectories", content=body, headers={"content-type": "application/json"})
        chunked = c.post("/api/trajectories", content=iter([body[:600], body[600:]]),
                         headers={"content-type": "application/json"})
        fits = c.post("/api/trajectories", json=BODY)
    for r in (declared, chunked):
        assert r.status_code == 413
        assert r.json()["detail"][0]["msg"] == "the request body is more than the limit of 1000 bytes"
    assert "transfer-encoding" in chunked.request.headers
    assert fits.status_code == 200


SWEEP = {"surface": "rosenbrock", "optimizer": "adam", "steps": 50, "grid": {"lr": [0.001, 0.01], "beta1": [0.8, 0.9]}}
SWEEP_ERRORS = [
    ({**SWEEP, "grid": {"lr": [0.1]}}, ["body", "grid"], "exactly two names"),
    ({**SWEEP, "grid": {"lr": [0.1], "beta1": [0.9], "eps": [1e-8]}}, ["body", "grid"], "exactly two names"),
    ({**SWEEP, "grid": {"lr": [0.1], "momentum": [0.9]}}, ["body", "grid", "momentum"], "unknown name 'momentum'"),
    ({**SWEEP, "grid": {"lr": [0.1, -1], "beta1": [0.9]}}, ["body", "grid", "lr", 1], "outside [1e-06, 10]"),
    ({**SWEEP, "grid": {"lr": {"low": 1e-3, "high": 20, "num": 5}, "beta1": [0.9]}}, ["body", "grid", "lr", "high"], "outside [1e-06, 10]"),
    ({**SWEEP, "grid": {"lr": {"low": 0, "high": 1, "num": 5, "log": True}, "beta1": [0.9]}}, ["body", "grid", "lr"], "log range"),
    ({**SWEEP, "grid": {"lr": {"low": "a", "high": 1, "num": 5}, "beta1": [0.9]}}, ["body", "grid", "lr", "low"], "not a number"),
    ({**SWEEP, "grid": {"lr": {"low": 0.1, "high": 1, "num": 0}, "beta1": [0.9]}}, ["body", "grid", "lr", "num"], "outside [1, 250000]"),
    ({**SWEEP, "grid": {"lr": {"low": 0.1, "high": 1, "num": 10**12}, "beta1": [0.9]}}, ["body", "grid", "lr", "num"], "outside [1, 250000]"),
    ({**SWEEP, "grid": {"lr": {"low": 0.1, "high": 1, "num": 1000}, "beta1": {"low": 0, "high": 0.9, "num": 1000}}},
     ["body", "grid"], "1000 x 1000 = 1000000 cells is more than the limit of 250000"),
    ({**SWEEP, "steps": 6000}, ["body", "steps"], "steps = 6000 is outside [1, 5000]"),
    ({**SWEEP, "optimizer": "no_such_optimizer"}, ["body", "optimizer"], "'adam'"),
    ({**SWEEP, "tol": -1}, ["body", "tol"], "at least 0"),
    # No coercion and no key silently dropped.
    ({**SWEEP, "colour": "red"}, ["body", "colour"], "Extra inputs"),
    ({**SWEEP, "noise": {"sigma": -0.1}}, ["body", "noise", "sigma"], "outside [0, 100]"),
    ({**SWEEP, "grid": {"lr": {"low": 0.1, "high": 1, "num": 5, "log": "yes"}, "beta1": [0.9]}},
     ["body", "grid", "lr", "log"], "valid boolean"),
    ({**SWEEP, "grid": {"lr": {"low": 0.1, "high": 1, "num": 5, "log": 1}, "beta1": [0.9]}},
     ["body", "grid", "lr", "log"], "valid boolean"),
    ({**SWEEP, "grid": {"lr": [[0.1, 0.2], [0.3]], "beta1": [0.9]}}, ["body", "grid", "lr", 0], "not a list"),
]


@pytest.mark.parametrize("body, loc, msg", SWEEP_ERRORS)
def test_bad_sweeps_get_a_422_naming_the_field(client, body, loc, msg):
    r = post(client, "/api/sweeps/stream", body)
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == loc and msg in error["msg"], error


GRID_ERRORS = [
    ("/api/surfaces/flatland/grid", ["path", "name"], "'rosenbrock'"),
    ("/api/surfaces/beale/grid?resolution=1", ["query", "resolution"], "outside [2, 500]"),
    ("/api/surfaces/beale/grid?resolution=100000", ["query", "resolution"], "outside [2, 500]"),
    ("/api/surfaces/beale/grid?resolution=ten", ["query", "resolution"], "whole number"),
    ("/api/surfaces/beale/grid?x_min=nan", ["query", "x_min"], "not a finite number"),
    ("/api/surfaces/beale/grid?y_max=inf", ["query", "y_max"], "not a finite number"),
    ("/api/surfaces/beale/grid?x_min=2&x_max=1", ["query", "x_min"], "low < high"),
    ("/api/surfaces/beale/grid?kappa=10", ["query", "kappa"], "unknown name 'kappa'"),
    ("/api/surfaces/quadratic/grid?kappa=0", ["query", "kappa"], "outside [1, 10000]"),
    ("/api/surfaces/beale/grid?colour=red", ["query", "colour"], "Extra inputs"),
    ("/api/surfaces/beale/grid?resolution=2.0", ["query", "resolution"], "whole number written in digits"),
    ("/api/surfaces/beale/grid?resolution=1e2", ["query", "resolution"], "whole number written in digits"),
]


@pytest.mark.parametrize("url, loc, msg", GRID_ERRORS)
def test_bad_grid_queries_get_a_422_naming_the_parameter(client, url, loc, msg):
    r = client.get(url)
    assert r.status_code == 422, r.text
    error = r.json()["detail"][0]
    assert error["loc"] == loc and msg in error["msg"], error


def test_build_runs_is_the_one_path_from_a_body_to_runs():
    runs = trajectories.build_runs({"surface": "beale", "steps": 10, "runs": [{"optimizer": "adam"}, {"optimizer": "sgd"}]})
    assert [run.optimizer.id for run in runs] == ["adam", "sgd"] and not any(run.done_steps for run in runs)
    with pytest.raises(validation.Invalid) as info:
        trajectories.build_runs({"surface": "beale", "runs": [{"optimizer": "adam", "hyperparameters": {"lr": 99}}]},
                       prefix=["query"])
    assert info.value.errors[0]["loc"] == ["query", "runs", 0, "hyperparameters", "lr"]


def test_an_error_echoing_a_huge_value_is_cut_short(client):
    huge = "x" * 900_000
    for body in ({"surface": "beale", "runs": [{"optimizer": "adam", "hyperparameters": {huge: 1}}]},
                 {"surface": "beale", "runs": [{"optimizer": "adam", "hyperparameters": {"lr": huge}}]},
                 {**SWEEP, "grid": {huge: [1], "beta1": [0.9]}}):
        path = "/api/sweeps/stream" if "grid" in body else "/api/trajectories"
        r = post(client, path, body)
        assert r.status_code == 422 and len(r.content) < 2000, r.content[:300]
        assert "characters in all)" in r.text


@pytest.mark.parametrize("path", ["/", "/embed", "/api/catalog", "/api/health", "/static/js/state.js",
                                  "/api/surfaces/beale/grid?resolution=20", "/openapi.json"])
def test_head_answers_wherever_get_does(client, path):
    get, head = client.get(path), client.head(path)
    assert get.status_code == head.status_code == 200
    assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
    assert head.headers.get("content-length") == get.headers.get("content-length")


def test_export_requests_take_integers_not_strings(client):
    r = post(client, "/api/exports", {"state": "opt=adam&steps=5", "format": "gif", "frames": "10"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "frames"]


def test_an_export_given_a_whole_link_exports_that_link(client):
    r = post(client, "/api/exports", {"state": "http://127.0.0.1:8000/?surface=beale&opt=no_such_optimizer", "format": "png"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "state", "opt"]


def test_a_failed_export_does_not_show_the_servers_exception_text(tmp_path, monkeypatch):
    from app.exports import jobs, stores

    def broken(*args, **kwargs):
        raise RuntimeError("secret detail of the server: /srv/private/path")

    monkeypatch.setattr(jobs, "export", broken)
    records = stores.SqliteRecords(tmp_path / "jobs.sqlite3")
    records.add({"id": "j", "client": "c", "state": "surface=beale&opt=adam&steps=5", "status": "queued",
                 "options": json.dumps({"format": "png"}), "path": str(tmp_path / "j.png"), "created": 0, "beat": 0})
    jobs.make(records, "j")
    row = records.get("j")
    assert row["status"] == "error" and "failed" in row["message"]
    assert "secret" not in row["message"] and "RuntimeError" not in row["message"]


def test_serve_help_describes_every_option_with_its_default(capsys):
    from app.cli import build_parser

    parser = build_parser()
    serve = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "serve")[1]
    for action in serve._actions:
        if action.dest != "help":
            assert action.help, action.dest
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--help"])
    out = capsys.readouterr().out
    for option, default in (("--host", "127.0.0.1"), ("--port", "8000"), ("--log-level", "info"),
                            ("--workers", str(os.cpu_count() or 1))):
        assert option in out
        assert f"(default: {default})" in " ".join(out.split()), option
