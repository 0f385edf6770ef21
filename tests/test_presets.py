"""The presets show what their questions say, on the trajectories the page gets for their links.

Each trajectory is computed from the preset's query through app.state, as the page's link is read,
and each behaviour a question states (who heads for the minimum, who settles by which step, who
overshoots and by how much more, who leaves the saddle by which step) is measured on the points.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import core
from app.presets import PRESETS
from app.state import query_from_request, request_from_query

ADAPTIVE = ("adagrad", "adadelta", "rmsprop")
NEAR = 0.1  # "within 0.1 of the minimum": about 1% of Beale's plotted width


def preset(id: str):
    return next(p for p in PRESETS if p.id == id)


def paths(id: str) -> dict[str, np.ndarray]:
    body = request_from_query(preset(id).query)
    out = {}
    for run in body["runs"]:
        t = core.trajectory(body["surface"], run["optimizer"], body["start"], body["steps"], run["hyperparameters"],
                            run.get("schedule", body["schedule"]), body["noise"], body["seed"])
        assert t.diverged_at is None, run["optimizer"]
        out[run["optimizer"]] = t.points
    return out


def settled_by(points: np.ndarray, target, radius: float = NEAR) -> int | None:
    """The step after which the path stays within `radius` of `target`; None if it ends outside."""
    far = np.nonzero(np.hypot(*(points - target).T) >= radius)[0]
    if len(far) and far[-1] == len(points) - 1:
        return None
    return int(far[-1]) + 1 if len(far) else 0


def overshoot(points: np.ndarray, target) -> float:
    """How far the path goes beyond `target` along the line from its start to `target`."""
    u = (np.asarray(target) - points[0]) / math.dist(points[0], target)
    return float(((points - target) @ u).max())


def heading(points: np.ndarray, target, fraction: float = 0.1) -> float:
    """Cosine between the first stretch of the path (a tenth of the way) and the direction to `target`."""
    moved = np.hypot(*(points - points[0]).T)
    k = int(np.argmax(moved >= fraction * math.dist(points[0], target)))
    assert k > 0, "the path never covers a tenth of the way"
    u = (np.asarray(target) - points[0]) / math.dist(points[0], target)
    return float((points[k] - points[0]) @ u / moved[k])


def first_step(points: np.ndarray, test) -> int | None:
    hits = np.nonzero(test(points))[0]
    return int(hits[0]) if len(hits) else None


@pytest.mark.parametrize("p", PRESETS, ids=[p.id for p in PRESETS])
def test_every_preset_is_the_canonical_link_the_page_writes(p):
    # The page rewrites its address to the canonical form; a preset in another form would not be recognised.
    assert query_from_request(request_from_query(p.query)) == p.query


@pytest.mark.parametrize("id", ["beale_race", "saddle_escape", "beale_race_defaults"])
def test_the_classic_figures_race_radfords_six_optimizers(id):
    assert list(paths(id)) == ["sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop"]


# --- the contour race ----------------------------------------------------------------------------

BEALE_MIN = core.SURFACES["beale"].minima[0]


def gaps(points: np.ndarray, target) -> np.ndarray:
    return np.hypot(*(points - target).T)


def test_race_runs_under_one_cosine_decay_to_its_last_step():
    body = request_from_query(preset("beale_race").query)
    assert body["schedule"] == {"name": "cosine", "t_max": body["steps"]} and body["steps"] == 500
    assert body["start"] == [1.0, -1.0] and all("schedule" not in run for run in body["runs"])


def test_race_reads_as_radfords_figure_from_its_first_tenth():
    p = paths("beale_race")
    tenth = (len(p["sgd"]) - 1) // 10
    adaptive = [gaps(p[opt], BEALE_MIN)[tenth] for opt in ADAPTIVE]
    others = [gaps(p[opt], BEALE_MIN)[tenth] for opt in ("sgd", "momentum", "nesterov")]
    assert max(adaptive) < min(others)  # the issue's own test of "at a glance"
    assert max(adaptive) < 0.11 and min(others) >= 0.4  # "within 0.11 ... 0.4 or more away"
    for opt in ADAPTIVE:
        assert heading(p[opt], BEALE_MIN) > 0.95, opt  # "head straight for (3, 0.5)"
        assert gaps(p[opt], BEALE_MIN)[tenth:].max() < 0.11, opt  # "from step 50 on ... stay within 0.11"
        assert gaps(p[opt], BEALE_MIN)[-1] < 0.01, opt


def test_race_momentum_and_nag_go_past_momentum_further_and_come_back():
    p = paths("beale_race")
    m, n = overshoot(p["momentum"], BEALE_MIN), overshoot(p["nesterov"], BEALE_MIN)
    assert round(m, 2) == 0.52 and round(n, 2) == 0.38
    for opt in ("momentum", "nesterov"):
        assert gaps(p[opt], BEALE_MIN)[-1] < 0.02, opt


def test_race_sgd_ends_last():
    p = paths("beale_race")
    end = {opt: gaps(pts, BEALE_MIN)[-1] for opt, pts in p.items()}
    assert max(end, key=end.get) == "sgd"
    assert round(end["sgd"], 2) == 0.16


@pytest.mark.parametrize("id", ["beale_race", "beale_race_defaults"])
def test_race_stays_inside_the_plotted_domain(id):
    (x0, x1), (y0, y1) = core.SURFACES["beale"].domain
    for opt, pts in paths(id).items():
        assert (x0 <= pts[:, 0]).all() and (pts[:, 0] <= x1).all() and (y0 <= pts[:, 1]).all() and (pts[:, 1] <= y1).all(), opt


# --- the race at torch's defaults ------------------------------------------------------------------

def test_defaults_preset_sets_no_hyperparameter_and_no_schedule_from_the_start_it_names():
    defaults = request_from_query(preset("beale_race_defaults").query)
    assert all(run["hyperparameters"] == {} for run in defaults["runs"]) and defaults["schedule"] is None
    assert (defaults["surface"], defaults["start"], defaults["steps"]) == ("beale", [-1.0, -1.25], 700)


def test_defaults_race_turns_round_as_its_question_says():
    p = paths("beale_race_defaults")
    for opt in ("momentum", "nesterov"):
        assert settled_by(p[opt], BEALE_MIN) <= 450, opt
    gap = {opt: math.dist(pts[-1], BEALE_MIN) for opt, pts in p.items()}
    assert gap["sgd"] == pytest.approx(1.0, abs=0.05)
    assert gap["adadelta"] == pytest.approx(1.5, abs=0.05)
    assert gap["adagrad"] == pytest.approx(3.8, abs=0.05)
    assert gap["rmsprop"] == pytest.approx(0.3, abs=0.05)
    assert min(gap[o] for o in ("sgd", *ADAPTIVE)) == gap["rmsprop"]


def test_defaults_race_adaptive_steps_have_the_sizes_the_question_gives():
    p = paths("beale_race_defaults")
    steps = {opt: np.abs(np.diff(pts, axis=0)) for opt, pts in p.items()}
    lr = {opt: core.OPTIMIZERS[opt].defaults["lr"] for opt in ADAPTIVE}
    # Adagrad: |g_1| / sqrt(g_1^2) = 1, so its first step is lr in each coordinate, and no step is larger.
    assert steps["adagrad"][0] == pytest.approx([lr["adagrad"]] * 2)
    assert (steps["adagrad"] <= lr["adagrad"] * (1 + 1e-12)).all()
    # RMSprop: |g_t| / sqrt(v_t) <= 1 / sqrt(1 - alpha), reached at the first step.
    alpha = core.OPTIMIZERS["rmsprop"].defaults["alpha"]
    assert steps["rmsprop"][0] == pytest.approx([lr["rmsprop"] / math.sqrt(1 - alpha)] * 2, rel=1e-6)
    assert (steps["rmsprop"] <= lr["rmsprop"] / math.sqrt(1 - alpha) * (1 + 1e-9)).all()
    # Adadelta: sqrt(eps) / sqrt((1 - rho) g_1^2 + eps) * |g_1| ~ sqrt(eps / (1 - rho)) once g_1^2 >> eps.
    d = core.OPTIMIZERS["adadelta"].defaults
    assert steps["adadelta"][0] == pytest.approx([math.sqrt(d["eps"] / (1 - d["rho"]))] * 2, rel=1e-3)


# --- the saddle ---------------------------------------------------------------------------------------

SADDLE = core.SURFACES["saddle"].saddles[0]


def escaped_at(points: np.ndarray) -> int | None:
    """The first step a path is more than 1 off the ridge y = 0: halfway to the edge of the plot."""
    return first_step(points, lambda p: np.abs(p[:, 1] - SADDLE[1]) > 1)


def left_frame_at(points: np.ndarray, surface: str) -> int | None:
    """The first step outside the plotted domain: the legend's "left the frame at step k"."""
    (x0, x1), (y0, y1) = core.SURFACES[surface].domain
    out = np.nonzero(~((x0 <= points[:, 0]) & (points[:, 0] <= x1) & (y0 <= points[:, 1]) & (points[:, 1] <= y1)))[0]
    return int(out[0]) if len(out) else None


def test_saddle_runs_leave_the_frame_at_the_steps_the_question_gives():
    p = paths("saddle_escape")
    left = {opt: left_frame_at(pts, "saddle") for opt, pts in p.items()}
    assert left == {"adadelta": 39, "rmsprop": 54, "adagrad": 57, "momentum": 212, "nesterov": 206, "sgd": None}


def test_saddle_momentum_and_nag_ride_up_to_the_saddle_and_sit_on_it_first():
    p = paths("saddle_escape")
    for opt in ("momentum", "nesterov"):
        pts = p[opt]
        k = left_frame_at(pts, "saddle")
        near = np.hypot(*(pts[:k] - SADDLE).T)
        assert near.min() < 0.05, opt  # they reach the saddle itself before they leave it
        assert (near < 0.3).sum() >= 50, opt  # and stay there for 50 steps or more
        assert escaped_at(pts) > 3 * max(escaped_at(p[o]) for o in ADAPTIVE), opt


def test_saddle_sgd_reaches_the_saddle_and_is_still_in_the_frame_close_to_the_ridge():
    sgd = paths("saddle_escape")["sgd"]
    assert np.hypot(*(sgd - SADDLE).T).min() < 0.1
    assert left_frame_at(sgd, "saddle") is None
    assert round(float(np.abs(sgd[:, 1]).max()), 2) == 0.38 and round(float(sgd[-1, 1]), 2) == 0.38


def test_saddle_adadelta_runs_at_torchs_defaults_as_the_question_says():
    runs = {r["optimizer"]: r["hyperparameters"] for r in request_from_query(preset("saddle_escape").query)["runs"]}
    assert runs["adadelta"] == {} and runs["rmsprop"] == {}
    assert core.OPTIMIZERS["rmsprop"].defaults["lr"] == 0.01  # the question names RMSprop's lr as 0.01


# --- Adam's ε ------------------------------------------------------------------------------------

def test_adam_eps_preset_labels_its_adamw_run_as_the_adam_it_is():
    body = request_from_query(preset("adam_eps").query)
    adam, adamw = body["runs"]
    assert adamw["optimizer"] == "adamw" and adamw["label"] == "Adam (ε = 1)"
    assert adam["label"] == "Adam (ε = 1e-8)"
    # The label is honest: AdamW with weight_decay = 0 steps exactly as Adam with the same eps.
    p = paths("adam_eps")
    same = core.trajectory(body["surface"], "adam", body["start"], body["steps"],
                           {k: v for k, v in adamw["hyperparameters"].items() if k != "weight_decay"})
    assert adamw["hyperparameters"]["weight_decay"] == 0 and adamw["hyperparameters"]["eps"] == 1
    np.testing.assert_array_equal(p["adamw"], same.points)


# --- the modern and second-order presets -------------------------------------

def test_newton_in_one_step_lbfgs_in_a_few():
    p = paths("newton_lbfgs")
    dist = {k: np.hypot(*v.T) for k, v in p.items()}
    assert dist["newton"][1] == 0.0 and np.all(dist["newton"][1:] == 0.0)
    assert dist["lbfgs"][5] < 0.002 and dist["lbfgs"][4] > 0.002
    assert dist["lbfgs"][7] < 3e-5 and dist["lbfgs"][6] > 3e-5
    assert np.all(p["lbfgs"][7:] == p["lbfgs"][7])  # standing still from step 7
    assert 0.01 < dist["sgd"][-1] < 0.015 and 0.25 < dist["adam"][-1] < 0.27


def test_sam_prefers_the_flat_minimum():
    p = paths("sam_flat")
    narrow, wide = (-1.0, 0.0), (1.0, 0.0)
    assert settled_by(p["sgd"], narrow, 0.05) == 49
    assert np.hypot(*(p["sam"] - narrow).T).min() > 0.5
    assert settled_by(p["sam"], wide, 0.05) == 185


def test_on_a_vector_muon_is_normalized_nesterov_momentum():
    body = request_from_query(preset("muon_vector").query)
    run = core.trajectory(body["surface"], "muon", body["start"], body["steps"], body["runs"][0]["hyperparameters"])
    lr = body["runs"][0]["hyperparameters"]["lr"]
    steps = np.diff(run.points, axis=0)
    length = np.hypot(*steps.T) / lr
    assert length.min() >= 0.68 and length.max() <= 0.72
    # torch's Muon: buf = lerp(buf, g, 1 - mu); Nesterov update = lerp(g, buf, mu).
    mu, buf = 0.95, np.zeros(2)
    for k, g in enumerate(run.gradients):
        buf = buf + (1 - mu) * (g - buf)
        nesterov = g + mu * (buf - g)
        cos = -steps[k] @ nesterov / (np.hypot(*steps[k]) * np.hypot(*nesterov))
        assert cos > 0.9999, k
    p = paths("muon_vector")
    assert settled_by(p["nesterov"], (0, 0), 0.01) == 140
    last = np.hypot(*np.diff(p["muon"][-31:], axis=0).T)
    assert last.min() > 0.013  # its last steps are as long as its first


def turned(angle: float, points):
    a = math.radians(angle)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return np.asarray(points) @ rot.T


def test_which_optimizers_care_which_way_the_valley_points():
    body = request_from_query(preset("rotated_valley").query)
    angle = body["surface"]["angle"]
    np.testing.assert_allclose(body["start"], turned(angle, [-1.5, 1.0]), atol=1e-8)
    back = tuple(turned(-angle, body["start"]))
    unturned = {**body["surface"], "angle": 0.0}
    for run in body["runs"]:
        opt, hp = run["optimizer"], run["hyperparameters"]
        here = core.trajectory(body["surface"], opt, body["start"], body["steps"], hp).points
        there = turned(angle, core.trajectory(unturned, opt, back, body["steps"], hp).points)
        gap = np.abs(here - there).max()
        if opt == "adam":
            assert gap > 0.1, "Adam's path should change shape with the angle"
        else:
            assert gap < 1e-9, f"{opt}'s path should only turn with the valley ({gap:.2g})"


def mean_distance(points: np.ndarray, k0: int, k1: int, target=(0.0, 0.0)) -> float:
    """The mean distance from `target` of the points of steps k0..k1 - 1."""
    return float(np.hypot(*(points[k0:k1] - target).T).mean())


def test_schedulefree_runs_without_a_schedule_beside_adam_with_cosine_decay_to_the_end():
    body = request_from_query(preset("schedulefree_no_schedule").query)
    runs = {run["optimizer"]: run for run in body["runs"]}
    assert body["schedule"] is None and body["noise"]["sigma"] == 0.5
    assert "schedule" not in runs["schedulefree_adamw"] and "schedule" not in runs["adamw"]
    assert runs["adam"]["schedule"] == {"name": "cosine", "t_max": body["steps"]} and body["steps"] == 500
    assert runs["adamw"]["hyperparameters"]["weight_decay"] == 0  # AdamW without decay is Adam
    assert {run["hyperparameters"]["lr"] for run in body["runs"]} == {0.1}


def test_schedulefree_needs_no_schedule_as_its_question_says():
    p = paths("schedulefree_no_schedule")
    constant, cosine, free = p["adamw"], p["adam"], p["schedulefree_adamw"]
    assert mean_distance(constant, 451, 501) > 0.1  # "never settles: jitters 0.14 from the minimum"
    assert round(mean_distance(constant, 451, 501), 2) == 0.14
    assert mean_distance(cosine, 451, 501) < 0.01  # "brings Adam within 0.01 by the end"
    assert round(mean_distance(cosine, 200, 301), 2) == 0.13 and round(mean_distance(constant, 200, 301), 2) == 0.16
    assert round(mean_distance(free, 200, 301), 2) == 0.03
    assert mean_distance(free, 451, 501) < 0.02


def test_schedulefree_story_is_not_one_lucky_noise_seed():
    body = request_from_query(preset("schedulefree_no_schedule").query)
    mid, end = {}, {}
    for seed in range(8):
        for run in body["runs"]:
            t = core.trajectory(body["surface"], run["optimizer"], body["start"], body["steps"],
                                run["hyperparameters"], run.get("schedule"), {**body["noise"], "seed": seed})
            mid.setdefault(run["optimizer"], []).append(mean_distance(t.points, 200, 301))
            end.setdefault(run["optimizer"], []).append(mean_distance(t.points, 451, 501))
    mid, end = {k: np.mean(v) for k, v in mid.items()}, {k: np.mean(v) for k, v in end.items()}
    assert mid["schedulefree_adamw"] < mid["adam"] < mid["adamw"]
    assert end["schedulefree_adamw"] < end["adamw"] / 3 and end["adam"] < end["adamw"] / 3
