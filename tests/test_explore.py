"""Exploring many runs: noisy sweeps, lr tuning and basins of attraction, in core and through the API.

The oracle throughout is core.trajectory, one run at a time: a different code
path (the single-run loop) from the sweep kernel that tuning and basins use.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import core
from core.explore import DIVERGED, NOT_CONVERGED, TimeLimitExceeded, lr_values

OPTIMIZERS = list(core.OPTIMIZERS.values())


def final_of(t: core.Trajectory) -> tuple[float, np.ndarray]:
    """A run's final loss and point, NaN when it diverged (as a sweep reports it)."""
    if t.diverged_at is not None:
        return np.nan, np.array([np.nan, np.nan])
    return float(t.losses[-1]), t.points[-1]


def steps_to(t: core.Trajectory, fmin: float, tol: float) -> float:
    hits = np.nonzero(t.losses - fmin <= tol)[0]
    return float(hits[0]) if hits.size and t.diverged_at is None else np.nan


# --- noise in sweeps ----------------------------------------------------------------

@pytest.mark.parametrize("spec", OPTIMIZERS, ids=lambda s: s.id)
def test_noisy_sweep_repeats_each_noisy_trajectory(spec):
    noise = {"sigma": 0.3, "seed": 11}
    lrs = [1e-3, 1e-2]
    sw = core.sweep("beale", spec.id, (1.0, 1.5), 80, {"lr": lrs, "y": [1.5, -1.0]}, noise=noise, tol=0.5)
    for i, lr in enumerate(lrs):
        for j, y in enumerate((1.5, -1.0)):
            t = core.trajectory("beale", spec.id, (1.0, y), 80, {"lr": lr}, noise=noise)
            loss, point = final_of(t)
            np.testing.assert_array_equal(sw.final_losses[i, j], loss)
            np.testing.assert_array_equal(sw.final_points[i, j], point)
            expected = steps_to(t, 0.0, 0.5)
            assert sw.steps_to_tol[i, j] == (-1 if np.isnan(expected) else expected)


def test_noise_changes_a_sweep_and_its_seed_matters():
    grid = {"lr": [0.01], "beta1": [0.9]}
    quiet = core.sweep("beale", "adam", (1.0, 1.5), 50, grid)
    a = core.sweep("beale", "adam", (1.0, 1.5), 50, grid, noise={"sigma": 0.5, "seed": 1})
    b = core.sweep("beale", "adam", (1.0, 1.5), 50, grid, noise={"sigma": 0.5, "seed": 2})
    zero = core.sweep("beale", "adam", (1.0, 1.5), 50, grid, noise={"sigma": 0.0, "seed": 2})
    assert not np.array_equal(quiet.final_points, a.final_points)
    assert not np.array_equal(a.final_points, b.final_points)
    np.testing.assert_array_equal(zero.final_points, quiet.final_points)


def test_sweep_noise_is_validated_like_a_trajectorys():
    with pytest.raises(core.InvalidInput) as e:
        core.sweep("beale", "adam", (1.0, 1.5), 5, {"lr": [0.01], "x": [1.0]}, noise={"sigma": -1})
    assert e.value.field == "noise.sigma"


# --- tuning the learning rate -----------------------------------------------------

@pytest.mark.parametrize("spec", OPTIMIZERS, ids=lambda s: s.id)
def test_tuning_picks_the_lowest_final_loss_of_single_runs(spec):
    steps, num = 60, 12
    tuning = core.tune_lr("beale", [spec.id], (1.0, 1.5), steps, num=num)
    curve = tuning.curves[0]
    h = spec.hyper("lr")
    np.testing.assert_allclose(curve.lr, np.geomspace(h.low, h.high, num), rtol=1e-15)
    brute = np.array([final_of(core.trajectory("beale", spec.id, (1.0, 1.5), steps, {"lr": float(lr)}))[0]
                      for lr in curve.lr])
    np.testing.assert_array_equal(curve.final_losses, brute)
    np.testing.assert_array_equal(curve.diverged, np.isnan(brute))
    assert curve.best_index == int(np.nanargmin(brute)) or brute[curve.best_index] == np.nanmin(brute)
    assert curve.met and curve.best_lr == curve.lr[curve.best_index]
    assert tuning.seeds == () and tuning.noise is None


def test_tuning_by_steps_to_tolerance_picks_the_fewest_steps():
    tol = 1e-2
    tuning = core.tune_lr("quadratic", ["sgd", "momentum"], (-1.8, 1.0), 200, num=16, criterion="steps_to_tol", tol=tol)
    for curve in tuning.curves:
        runs = [core.trajectory("quadratic", curve.optimizer, (-1.8, 1.0), 200, {"lr": float(lr)}) for lr in curve.lr]
        steps = np.array([steps_to(t, 0.0, tol) for t in runs])
        np.testing.assert_array_equal(curve.steps_to_tol, steps)
        best = np.nanmin(steps)
        assert curve.met and steps[curve.best_index] == best
        # Ties on steps go to the lower final loss.
        tied = np.nonzero(steps == best)[0]
        losses = np.array([final_of(runs[i])[0] for i in tied])
        assert final_of(runs[curve.best_index])[0] == losses.min()


def test_tuning_with_noise_averages_over_several_seeds():
    noise = {"sigma": 0.2, "seed": 40}
    tuning = core.tune_lr("beale", ["adam"], (1.0, 1.5), 50, noise=noise, num=6, seeds=3)
    assert tuning.seeds == (40, 41, 42) and tuning.noise == {"sigma": 0.2, "seed": 40}
    curve = tuning.curves[0]
    for i in (0, 2, 4):
        per_seed = [final_of(core.trajectory("beale", "adam", (1.0, 1.5), 50, {"lr": float(curve.lr[i])},
                                             noise={"sigma": 0.2, "seed": s}))[0] for s in (40, 41, 42)]
        np.testing.assert_allclose(curve.final_losses[i], np.mean(per_seed), rtol=1e-14)


def test_tuning_keeps_the_other_hyperparameters_and_an_lr_range():
    tuning = core.tune_lr("beale", ["momentum"], (1.0, 1.5), 40, {"momentum": {"momentum": 0.5}}, num=4,
                          lr_range=(1e-3, 1e-1))
    curve = tuning.curves[0]
    np.testing.assert_allclose(curve.lr, [1e-3, 1e-3 ** (2 / 3) * 1e-1 ** (1 / 3), 1e-3 ** (1 / 3) * 1e-1 ** (2 / 3), 1e-1])
    assert curve.hyperparameters["momentum"] == 0.5
    t = core.trajectory("beale", "momentum", (1.0, 1.5), 40, {"lr": float(curve.lr[2]), "momentum": 0.5})
    assert curve.final_losses[2] == final_of(t)[0]


def test_tuning_when_everything_diverges_picks_nothing():
    tuning = core.tune_lr("rosenbrock", ["sgd"], (-1.2, 1.0), 300, num=3, lr_range=(5.0, 10.0))
    curve = tuning.curves[0]
    assert curve.diverged.all() and curve.best_index is None and curve.best_lr is None


def test_steps_to_tol_falls_back_to_final_loss_when_never_reached():
    tuning = core.tune_lr("rosenbrock", ["sgd"], (-1.2, 1.0), 5, num=8, criterion="steps_to_tol", tol=1e-9)
    curve = tuning.curves[0]
    assert np.isnan(curve.steps_to_tol).all()
    assert not curve.met and curve.final_losses[curve.best_index] == np.nanmin(curve.final_losses)


def test_tuning_stops_at_its_time_limit():
    with pytest.raises(TimeLimitExceeded):
        core.tune_lr("beale", ["sgd", "adam"], (1.0, 1.5), 100, num=8, time_limit=0.0)


@pytest.mark.parametrize("kwargs, field", [
    ({"optimizers": []}, "optimizers"),
    ({"optimizers": ["adam", "nope"]}, "optimizers[1]"),
    ({"optimizers": ["adam", "adam"]}, "optimizers[1]"),
    ({"hyperparameters": {"sgd": {}}}, "hyperparameters.sgd"),
    ({"hyperparameters": {"adam": {"beta1": 2.0}}}, "hyperparameters.adam.beta1"),
    ({"criterion": "fastest"}, "criterion"),
    ({"num": 1}, "num"),
    ({"seeds": 0}, "seeds"),
    ({"lr_range": (1e-3, 1e-4)}, "lr_range"),
    ({"lr_range": (1e-3, 100.0)}, "lr_range[1]"),
    ({"surface": "saddle", "criterion": "steps_to_tol"}, "criterion"),
    ({"noise": {"sigma": "a"}}, "noise.sigma"),
    ({"steps": 0}, "steps"),
    ({"steps": 10**9}, "steps"),
    ({"num": 10**6, "steps": 10**5}, "num"),
])
def test_tuning_names_the_bad_field(kwargs, field):
    args = {"surface": "beale", "optimizers": ["adam"], "start": (1.0, 1.5), "steps": 10, **kwargs}
    with pytest.raises(core.InvalidInput) as e:
        core.tune_lr(**args)
    assert e.value.field == field


def test_lr_values_follow_the_registry():
    for spec in OPTIMIZERS:
        h = spec.hyper("lr")
        v = lr_values(spec.id, 5)
        assert v[0] == pytest.approx(h.low) and v[-1] == pytest.approx(h.high)
        ratios = v[1:] / v[:-1] if h.log else np.diff(v)
        np.testing.assert_allclose(ratios, ratios[0], rtol=1e-12)


# --- basins of attraction ---------------------------------------------------------

def test_classify_by_nearest_minimum_within_the_radius():
    minima = ((0.0, 0.0), (3.0, 0.0))
    points = np.array([[0.05, 0.0], [2.9, 0.1], [1.5, 0.0], [np.nan, 1.0], [np.inf, 0.0], [1e308, 1e308]])
    np.testing.assert_array_equal(core.classify(points, minima, 0.2), [0, 1, NOT_CONVERGED, DIVERGED, DIVERGED,
                                                                        NOT_CONVERGED])
    np.testing.assert_array_equal(core.classify(points[:3], (), 0.2), [NOT_CONVERGED] * 3)
    with pytest.raises(core.InvalidInput) as e:
        core.classify(points, minima, 0.0)
    assert e.value.field == "radius"


HIMMELBLAU_AXIS = list(np.linspace(-4.8, 4.8, 16))


def test_himmelblau_has_four_basins_each_checked_against_single_runs():
    b = core.basins("himmelblau", "sgd", HIMMELBLAU_AXIS, HIMMELBLAU_AXIS, 300, {"lr": 0.01})
    assert set(np.unique(b.labels)) >= {0, 1, 2, 3}
    minima = np.array(core.SURFACES["himmelblau"].minima)
    for i, j in [(0, 0), (0, 15), (15, 0), (15, 15), (7, 8), (3, 11)]:
        t = core.trajectory("himmelblau", "sgd", (HIMMELBLAU_AXIS[i], HIMMELBLAU_AXIS[j]), 300, {"lr": 0.01})
        d = np.hypot(*(t.points[-1] - minima).T)
        expected = int(d.argmin()) if d.min() <= b.radius else NOT_CONVERGED
        assert b.labels[i, j] == expected, (i, j)
    # The corners of the domain each lie in the basin of the minimum in their quadrant.
    quadrant = {(1, 1): 0, (-1, 1): 1, (-1, -1): 2, (1, -1): 3}
    for i, j in [(0, 0), (0, 15), (15, 0), (15, 15)]:
        assert b.labels[i, j] == quadrant[(np.sign(HIMMELBLAU_AXIS[i]), np.sign(HIMMELBLAU_AXIS[j]))]


def test_momentum_ends_in_other_basins_than_sgd_somewhere():
    sgd = core.basins("himmelblau", "sgd", HIMMELBLAU_AXIS, HIMMELBLAU_AXIS, 500, {"lr": 0.01})
    heavy = core.basins("himmelblau", "momentum", HIMMELBLAU_AXIS, HIMMELBLAU_AXIS, 500, {"lr": 0.01, "momentum": 0.9})
    converged = (sgd.labels >= 0) & (heavy.labels >= 0)
    assert (converged & (sgd.labels != heavy.labels)).any()


def test_a_diverging_start_is_labelled_diverged():
    b = core.basins("himmelblau", "sgd", [4.8], [4.8, 0.0], 100, {"lr": 0.5})
    t = core.trajectory("himmelblau", "sgd", (4.8, 4.8), 100, {"lr": 0.5})
    assert t.diverged_at is not None and b.labels[0, 0] == DIVERGED


# --- the API -----------------------------------------------------------------------

from test_api import client_with  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with client_with() as c:
        yield c


def ndjson_lines(response) -> list[dict]:
    assert "NaN" not in response.text and "Infinity" not in response.text
    return [json.loads(line) for line in response.text.splitlines()]


TUNE = {"surface": "beale", "start": [1.0, 1.5], "steps": 80, "num": 10,
        "optimizers": [{"optimizer": "sgd"}, {"optimizer": "momentum", "hyperparameters": {"momentum": 0.5}}]}


def test_tune_answers_what_single_runs_give(client):
    r = client.post("/api/tune", json=TUNE)
    assert r.status_code == 200 and "NaN" not in r.text
    data = r.json()
    assert data["criterion"] == "final_loss" and data["seeds"] == [] and data["noise"] is None
    for result, spec in zip(data["results"], TUNE["optimizers"]):
        assert result["optimizer"] == spec["optimizer"]
        brute = []
        for lr in result["lr"]:
            t = core.trajectory("beale", spec["optimizer"], (1.0, 1.5), 80, {**spec.get("hyperparameters", {}), "lr": lr})
            brute.append(None if t.diverged_at is not None else float(t.losses[-1]))
        assert result["final_losses"] == brute
        finite = [v for v in brute if v is not None]
        assert brute[result["best_index"]] == min(finite) and result["best_lr"] == result["lr"][result["best_index"]]
        assert result["diverged"] == [v is None for v in brute]
    assert data["results"][1]["hyperparameters"]["momentum"] == 0.5


def test_tune_with_noise_says_which_seeds_it_averaged(client):
    body = {**TUNE, "noise": {"sigma": 0.1, "seed": 7}, "seeds": 4, "criterion": "steps_to_tol", "tol": 0.1}
    data = client.post("/api/tune", json=body).json()
    assert data["seeds"] == [7, 8, 9, 10] and data["noise"] == {"sigma": 0.1, "seed": 7}
    assert data["criterion"] == "steps_to_tol"
    expected = core.tune_lr("beale", ["sgd", "momentum"], (1.0, 1.5), 80, {"momentum": {"momentum": 0.5}},
                            noise={"sigma": 0.1, "seed": 7}, num=10, seeds=4, criterion="steps_to_tol", tol=0.1)
    assert [r["best_index"] for r in data["results"]] == [c.best_index for c in expected.curves]


def test_tune_sweeps_each_optimizer_under_its_own_schedule(client):
    cosine = {"name": "cosine", "t_max": 80}
    body = {**TUNE, "schedule": {"name": "exponential", "gamma": 0.99},
            "optimizers": [{"optimizer": "sgd", "schedule": cosine}, TUNE["optimizers"][1]]}
    data = client.post("/api/tune", json=body).json()
    for result, spec, schedule in zip(data["results"], body["optimizers"], [cosine, body["schedule"]]):
        brute = []
        for lr in result["lr"]:
            t = core.trajectory("beale", spec["optimizer"], (1.0, 1.5), 80, {**spec.get("hyperparameters", {}), "lr": lr},
                                schedule)
            brute.append(None if t.diverged_at is not None else float(t.losses[-1]))
        assert result["final_losses"] == brute


@pytest.mark.parametrize("change, loc", [
    ({"optimizers": [{"optimizer": "sgd"}, {"optimizer": "adam", "schedule": {"name": "cosine", "t_max": 0}}]},
     ["body", "optimizers", 1, "schedule", "t_max"]),
    ({"optimizers": [{"optimizer": "adam", "schedule": {"name": "linear"}}]}, ["body", "optimizers", 0, "schedule", "name"]),
    ({"criterion": "fastest"}, ["body", "criterion"]),
    ({"optimizers": []}, ["body", "optimizers"]),
    ({"optimizers": [{"optimizer": "nope"}]}, ["body", "optimizers", 0, "optimizer"]),
    ({"optimizers": [{"optimizer": "adam"}, {"optimizer": "adam"}]}, ["body", "optimizers", 1]),
    ({"optimizers": [{"optimizer": "sgd"}, {"optimizer": "adam", "hyperparameters": {"beta1": 2}}]},
     ["body", "optimizers", 1, "hyperparameters", "beta1"]),
    ({"optimizers": [{"optimizer": "adam", "hyperparameters": {"nope": 1}}]}, ["body", "optimizers", 0, "hyperparameters", "nope"]),
    ({"steps": 10**6}, ["body", "steps"]),
    ({"num": 1}, ["body", "num"]),
    ({"num": 10**6}, ["body", "num"]),
    ({"seeds": 0, "noise": {"sigma": 0.1}}, ["body", "seeds"]),
    ({"lr_range": [1.0, 0.1]}, ["body", "lr_range"]),
    ({"lr_range": [1.0]}, ["body", "lr_range"]),
    ({"surface": "saddle", "criterion": "steps_to_tol"}, ["body", "criterion"]),
    ({"noise": {"sigma": -1}}, ["body", "noise", "sigma"]),
    ({"start": [1e9, 0]}, ["body", "start", 0]),
])
def test_tune_refuses_bad_input_naming_the_field(client, change, loc):
    r = client.post("/api/tune", json={**TUNE, **change})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc


def test_tune_past_the_compute_limit_is_a_413():
    with client_with(max_compute_seconds=1e-9) as c:
        r = c.post("/api/tune", json=TUNE)
    assert r.status_code == 413 and r.json()["detail"][0]["type"] == "limit_exceeded"
    assert "limit" in r.json()["detail"][0]["msg"]


def test_tune_with_more_runs_than_a_sweep_may_have_is_refused():
    with client_with(max_sweep_cells=100) as c:
        r = c.post("/api/tune", json={**TUNE, "num": 64})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "num"]
    assert "100" in r.json()["detail"][0]["msg"]


def test_the_explore_routes_are_documented(client):
    spec = client.get("/openapi.json").json()
    tune = spec["paths"]["/api/tune"]["post"]
    assert tune["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/TuneResponse")
    assert {"422", "413"} <= set(tune["responses"])
    assert "criterion" in spec["components"]["schemas"]["TuneRequest"]["properties"]
    assert "/api/basins/stream" in spec["paths"]
    assert "noise" in spec["components"]["schemas"]["SweepRequest"]["properties"]


BASINS = {"surface": "himmelblau", "optimizer": "sgd", "steps": 300, "hyperparameters": {"lr": 0.01},
          "grid": {"x": {"low": -4.8, "high": 4.8, "num": 16}, "y": {"low": -4.8, "high": 4.8, "num": 16}}}


def test_basins_stream_labels_every_cell_as_core_does(client):
    r = client.post("/api/basins/stream", json=BASINS)
    assert r.status_code == 200
    out = ndjson_lines(r)
    meta = out[0]
    assert meta["type"] == "meta" and meta["radius"] == pytest.approx(0.2)
    assert meta["minima"] == [list(p) for p in core.SURFACES["himmelblau"].minima]
    assert out[-1]["type"] == "done"
    labels = np.concatenate([np.array(line["basin"]) for line in out if line["type"] == "rows"])
    b = core.basins("himmelblau", "sgd", HIMMELBLAU_AXIS, HIMMELBLAU_AXIS, 300, {"lr": 0.01})
    np.testing.assert_array_equal(labels, b.labels)


def test_basins_stream_refuses_a_bad_radius_and_a_bad_grid(client):
    r = client.post("/api/basins/stream", json={**BASINS, "radius": 0})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "radius"]
    r = client.post("/api/basins/stream", json={**BASINS, "grid": {"x": [0.0], "nope": [1.0]}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "grid", "nope"]


def test_basins_stream_stopped_by_the_compute_limit_ends_with_an_error_line():
    # Many pieces of work: the limit is checked between them.
    body = {**BASINS, "steps": 2000, "grid": {"x": {"low": -4.8, "high": 4.8, "num": 400}, "y": {"low": -4.8, "high": 4.8, "num": 64}}}
    with client_with(max_compute_seconds=1e-9) as c:
        out = ndjson_lines(c.post("/api/basins/stream", json=body))
    assert out[-1]["type"] == "error" and "limit" in out[-1]["message"]
    assert not any(line["type"] == "done" for line in out)


def test_the_sweep_stream_takes_noise(client):
    body = {"surface": "beale", "optimizer": "adam", "start": [1.0, 1.5], "steps": 60,
            "grid": {"lr": [0.01, 0.1], "beta1": [0.5, 0.9]}, "noise": {"sigma": 0.4, "seed": 5}}
    out = ndjson_lines(client.post("/api/sweeps/stream", json=body))
    rows = [line for line in out if line["type"] == "rows"]
    got = np.concatenate([np.array(r["final_losses"], dtype=float) for r in rows])
    for i, lr in enumerate((0.01, 0.1)):
        for j, beta1 in enumerate((0.5, 0.9)):
            t = core.trajectory("beale", "adam", (1.0, 1.5), 60, {"lr": lr, "beta1": beta1}, noise=body["noise"])
            assert got[i, j] == final_of(t)[0]


# --- the map's URL keys ----------------------------------------------------------------

def test_the_map_keys_round_trip_through_a_link_and_are_absent_by_default():
    from app.state import MAP_DISPLAY, query_from_request, request_from_query

    query = ("surface=quadratic&start=-1.8,1&steps=300&opt=momentum&view=map"
             "&map.opt=momentum&map.x=lr&map.y=momentum&map.color=steps&map.n=128&map.xr=0.001,0.1&map.yr=0,0.9")
    body = request_from_query(query)
    assert body["view"] == "map"
    assert {k: body[k] for k in MAP_DISPLAY} == {"map.opt": "momentum", "map.x": "lr", "map.y": "momentum",
                                                  "map.color": "steps", "map.n": "128", "map.xr": "0.001,0.1",
                                                  "map.yr": "0,0.9"}
    assert query_from_request(body) == query
    assert not set(MAP_DISPLAY) & set(request_from_query("surface=beale&opt=adam"))


# --- what the map and tuning presets say ------------------------------------------------------

def preset_body(preset_id: str) -> dict:
    from app.presets import PRESETS
    from app.state import request_from_query

    return request_from_query(next(p for p in PRESETS if p.id == preset_id).query)


def run_of(body: dict, optimizer: str) -> core.Trajectory:
    hp = next(r["hyperparameters"] for r in body["runs"] if r["optimizer"] == optimizer)
    return core.trajectory(body["surface"], optimizer, body["start"], body["steps"], hp, body["schedule"], body["noise"])


def test_momentum_map_preset_momentum_widens_the_band_of_converging_learning_rates():
    body = preset_body("momentum_map")
    spec = core.OPTIMIZERS["momentum"]
    lr, mu = lr_values("momentum", 64), np.linspace(spec.hyper("momentum").low, spec.hyper("momentum").high, 64)
    sw = core.sweep(body["surface"], "momentum", body["start"], body["steps"], {"lr": lr, "momentum": mu})
    converges = sw.steps_to_tol >= 0
    band = {j: np.nonzero(converges[:, j])[0] for j in (0, int(np.searchsorted(mu, 0.9)))}
    plain, heavy = band.values()
    assert heavy.size > 3 * plain.size and lr[heavy.max()] > 2 * lr[plain.max()]
    # The preset's own run sits near the band's edge and swings across the valley floor on its way in.
    t = run_of(body, "momentum")
    assert t.diverged_at is None and t.losses[-1] < 1e-6
    assert np.sum(np.diff(np.sign(t.points[:, 1])) != 0) > 20


def test_basins_preset_sgds_four_basins_are_tidy_and_momentums_are_tangled():
    body = preset_body("himmelblau_basins")
    axis = np.linspace(-5, 5, 64)
    edges = {}
    for opt in ("sgd", "momentum"):
        hp = next(r["hyperparameters"] for r in body["runs"] if r["optimizer"] == opt)
        labels = core.basins(body["surface"], opt, axis, axis, body["steps"], hp).labels
        assert {0, 1, 2, 3} <= set(np.unique(labels))
        edges[opt] = int((labels[1:] != labels[:-1]).sum() + (labels[:, 1:] != labels[:, :-1]).sum())
    assert edges["momentum"] > 5 * edges["sgd"]


def test_adam_preset_wins_at_common_learning_rates_and_sgd_wins_once_tuned():
    body = preset_body("adam_or_tuning")
    ids = [r["optimizer"] for r in body["runs"]]

    def first_within(t):
        hits = np.nonzero(t.losses <= 1e-3)[0]
        return hits[0] if hits.size else None

    before = {o: first_within(run_of(body, o)) for o in ids}
    assert before["sgd"] is None and before["adam"] < before["momentum"]
    tuned = core.tune_lr(body["surface"], ids, body["start"], body["steps"])  # the page's default criterion
    after = {c.optimizer: first_within(core.trajectory(body["surface"], c.optimizer, body["start"], body["steps"],
                                                       {"lr": c.best_lr})) for c in tuned.curves}
    assert after["sgd"] < min(after["adam"], after["momentum"])


def test_basins_and_tuning_on_a_typed_formula(client):
    himmelblau = {"formula": "(x^2 + y - 11)^2 + (x + y^2 - 7)^2", "domain": [-5, 5, -5, 5]}
    out = ndjson_lines(client.post("/api/basins/stream", json={**BASINS, "surface": himmelblau}))
    assert out[-1]["type"] == "done"
    minima = np.array(out[0]["minima"])
    assert len(minima) == 4 and out[0]["radius"] == pytest.approx(0.2)
    rows = [line for line in out if line["type"] == "rows"]
    labels = np.concatenate([np.array(r["basin"]) for r in rows])
    points = np.concatenate([np.array(r["final_points"], dtype=float) for r in rows])
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    near = np.hypot(*(points - minima[labels]).transpose(2, 0, 1))
    assert (near <= 0.2).all()
    r = client.post("/api/tune", json={**TUNE, "surface": himmelblau, "start": [0, 0]})
    assert r.status_code == 200 and all(res["best_lr"] is not None for res in r.json()["results"])


WHOLE = [s.id for s in core.OPTIMIZERS.values() if s.whole]


def test_tune_takes_whole_vector_optimizers_as_single_runs_give_them(client):
    body = {"surface": "beale", "start": [1.0, 1.5], "steps": 40, "num": 4,
            "optimizers": [{"optimizer": o} for o in WHOLE[:6]]}
    r = client.post("/api/tune", json=body)
    assert r.status_code == 200, r.text
    for result in r.json()["results"]:
        for lr, loss in zip(result["lr"], result["final_losses"]):
            t = core.trajectory("beale", result["optimizer"], (1.0, 1.5), 40, {"lr": lr})
            assert loss == (None if t.diverged_at is not None else float(t.losses[-1])), result["optimizer"]


@pytest.mark.parametrize("optimizer", WHOLE)
def test_basins_of_a_whole_vector_optimizer_are_where_its_runs_end(client, optimizer):
    spec = core.OPTIMIZERS[optimizer]
    hp = {"lr": min(max(spec.defaults["lr"], 0.01), spec.hyper("lr").high)}
    body = {**BASINS, "optimizer": optimizer, "steps": 60, "hyperparameters": hp,
            "grid": {"x": {"low": -4.0, "high": 4.0, "num": 4}, "y": {"low": -4.0, "high": 4.0, "num": 3}}}
    r = client.post("/api/basins/stream", json=body)
    assert r.status_code == 200, r.text
    out = ndjson_lines(r)
    assert out[-1]["type"] == "done", out[-1]
    sweep = core.sweep("himmelblau", optimizer, (0.0, 0.0), 60, {"x": np.linspace(-4, 4, 4), "y": np.linspace(-4, 4, 3)}, hp)
    one = core.trajectory("himmelblau", optimizer, (4.0, -4.0), 60, hp)
    if one.diverged_at is None:
        np.testing.assert_array_equal(sweep.final_points[-1, 0], one.points[-1])
