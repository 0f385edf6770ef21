"""The URL state: the same format as the page's script, and a round trip that loses nothing."""

from __future__ import annotations

import math
import random

import pytest

import core
from app.services import trajectories
from app.presets import PRESETS
from app.state import DISPLAY, js_number, query_from_request, request_from_query

FULL = ("surface=quadratic&surface.kappa=100&start=1,1.5&steps=400&opt=adam,sgd&adam.lr=0.01&adam.eps=1e-7"
        "&sched=cosine&sched.t_max=500&sched.warmup_steps=10&noise=0.1&noise_seed=3&seed=2"
        "&view=loss&speed=2&autoplay=0&loop=1")


def test_a_query_reads_into_a_request_body_and_display_keys():
    body = request_from_query("?" + FULL + "&unknown=1&sgd.nonsense=3")
    assert body == {
        "surface": {"name": "quadratic", "kappa": 100.0}, "start": [1.0, 1.5], "steps": 400,
        "runs": [{"optimizer": "adam", "hyperparameters": {"lr": 0.01, "eps": 1e-7}}, {"optimizer": "sgd", "hyperparameters": {}}],
        "schedule": {"name": "cosine", "t_max": 500, "warmup_steps": 10},
        "noise": {"sigma": 0.1, "seed": 3}, "seed": 2,
        "view": "loss", "speed": 2.0, "autoplay": False, "loop": True, "inspect": "", "large": False, "extras": False, "lang": "",
    }


def test_an_empty_query_is_the_default_state():
    body = request_from_query("")
    first = next(iter(core.SURFACES))
    assert body["surface"] == first and body["start"] == list(core.SURFACES[first].start)
    assert (body["steps"], body["runs"], body["schedule"], body["noise"], body["seed"]) == (300, [], None, None, 0)
    assert {k: body[k] for k in DISPLAY} == DISPLAY


def test_the_canonical_query_is_written_as_the_page_writes_it():
    assert query_from_request(request_from_query(FULL)) == FULL
    # Defaults are left out; numbers are printed as JavaScript's String() prints them.
    body = {"surface": "beale", "start": [0.7, 1.4], "steps": 300,
            "runs": [{"optimizer": "adam", "hyperparameters": {"lr": 0.001, "beta1": 0.5, "eps": 0.00001}}]}
    assert query_from_request(body) == "surface=beale&start=0.7,1.4&steps=300&opt=adam&adam.beta1=0.5&adam.eps=0.00001"


@pytest.mark.parametrize("value, text", [
    (0.01, "0.01"), (1e-5, "0.00001"), (1e-7, "1e-7"), (2.5e-7, "2.5e-7"), (100.0, "100"), (-0.5, "-0.5"),
    (1e21, "1e+21"), (1.5e21, "1.5e+21"), (123456.789, "123456.789"), (0.1 + 0.2, "0.30000000000000004"), (0.0, "0"), (7, "7"),
])
def test_numbers_are_printed_as_javascript_prints_them(value, text):
    assert js_number(value) == text


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.as_dict()["id"])
def test_every_preset_link_reads_and_round_trips(preset):
    query = preset.as_dict()["query"]
    body = request_from_query(query)
    canonical = query_from_request(body)
    again = request_from_query(canonical)
    assert query_from_request(again) == canonical
    assert resolved(again) == resolved(body)


def resolved(body: dict) -> list:
    """What the runs of a body compute from: everything after core fills in defaults."""
    if body["surface"] == "network":
        from app.services import networks
        from app.state import network_request

        _, problem, runs = networks.build(network_request(body))
        return [problem.spec, *[(r.optimizer.id, r.hyperparameters, r.steps) for r in runs]]
    return [(r.surface.id, r.surface_params, r.start, r.steps, r.optimizer.id, r.hyperparameters, r.schedule, r.noise, r.seed)
            for r in trajectories.build_runs(body)]


def random_body(rng: random.Random) -> dict:
    """A body with random non-default values drawn from the registry's ranges."""
    surface = rng.choice(list(core.SURFACES.values()))
    params = {h.name: draw(rng, h) for h in surface.params if rng.random() < 0.5}
    if surface.id == "regression" and "batch_size" in params:
        params["batch_size"] = min(params["batch_size"], params.get("n_points", 100))
    runs = []
    for spec in rng.sample(list(core.OPTIMIZERS.values()), rng.randint(1, 4)):
        runs.append({"optimizer": spec.id, "hyperparameters": {h.name: draw(rng, h) for h in spec.hyperparameters if rng.random() < 0.4}})
        if rng.random() < 0.3:
            runs[-1]["schedule"] = random_schedule(rng, rng.choice(list(core.SCHEDULES.values())))
    sched = rng.choice([None, *core.SCHEDULES.values()])
    return {
        "surface": {"name": surface.id, **params} if params else surface.id,
        "start": [round(rng.uniform(-3, 3), 3), round(rng.uniform(-3, 3), 3)],
        "steps": rng.randint(1, 5000),
        "runs": runs,
        "schedule": None if sched is None else random_schedule(rng, sched),
        "noise": None if rng.random() < 0.5 else {"sigma": round(rng.uniform(0.01, 2), 4), "seed": rng.randint(0, 99)},
        "seed": rng.choice([0, rng.randint(1, 2**31)]),
        "view": rng.choice(["contour", "surface3d", "loss"]), "speed": rng.choice([0.25, 1.0, 4.0]),
        "autoplay": rng.random() < 0.5, "loop": rng.random() < 0.5, "inspect": rng.choice(["", runs[0]["optimizer"]]),
        "large": rng.random() < 0.5, "extras": rng.random() < 0.5, "lang": rng.choice(["", "en", "zh-CN"]),
    }


def random_schedule(rng: random.Random, sched) -> dict:
    return {"name": sched.id, **{h.name: draw(rng, h) for h in sched.params if rng.random() < 0.5}}


def draw(rng: random.Random, h) -> float | int:
    if h.kind == "int":
        return rng.randint(int(h.low), int(min(h.high, h.low + 1000)))
    if h.kind == "bool":
        return float(rng.random() < 0.5)
    if h.log:
        return 10 ** rng.uniform(math.log10(h.low), math.log10(h.high))
    return rng.uniform(h.low, h.high)


@pytest.mark.parametrize("seed", range(40))
def test_a_body_round_trips_through_its_query(seed):
    body = random_body(random.Random(seed))
    back = request_from_query(query_from_request(body))
    # Overrides equal to a default are dropped from the link: they change nothing.
    for run in body["runs"]:
        defaults = core.OPTIMIZERS[run["optimizer"]].defaults
        run["hyperparameters"] = {k: v for k, v in run["hyperparameters"].items() if v != defaults[k]}
    assert back == body


@pytest.mark.parametrize("query, key, msg", [
    ("surface=nowhere", "surface", "unknown surface 'nowhere'"),
    ("surface=quadratic&surface.kappa=0", "surface.kappa", "surface.kappa = 0 is outside [1, 10000]"),
    ("surface=quadratic&surface.kappa=big", "surface.kappa", "'big' is not a number"),
    ("start=1", "start", "two numbers"),
    ("start=1,nan", "start", "not a finite number"),
    ("start=1,2e9", "start[1]", "outside [-1e+06, 1e+06]"),
    ("steps=0", "steps", "outside [1, 1000000]"),
    ("steps=2.5", "steps", "not a whole number"),
    ("opt=adam,no_such_optimizer", "opt", "unknown optimizer 'no_such_optimizer'"),
    ("opt=adam&adam.lr=-1", "adam.lr", "adam.lr = -1 is outside [1e-06, 10]"),
    ("opt=adam&adam.lr=inf", "adam.lr", "not a finite number"),
    ("sched=linear", "sched", "unknown schedule 'linear'"),
    ("sched=cosine&sched.t_max=0", "sched.t_max", "sched.t_max = 0 is outside [1, 1000000]"),
    ("opt=adam&adam.sched=linear", "adam.sched", "unknown schedule 'linear'"),
    ("opt=adam&adam.sched=cosine&adam.sched.t_max=0", "adam.sched.t_max", "adam.sched.t_max = 0 is outside [1, 1000000]"),
    ("opt=adam&adam.sched=step&adam.sched.gamma=x", "adam.sched.gamma", "'x' is not a number"),
    ("noise=-1", "noise", "noise = -1 is outside [0, 100]"),
    ("noise=0.1&noise_seed=-2", "noise_seed", "outside"),
    ("seed=x", "seed", "not a number"),
    ("view=side", "view", "unknown view 'side'"),
    ("speed=0", "speed", "more than 0"),
    ("autoplay=yes", "autoplay", "0 or 1"),
    ("inspect=no_such_optimizer", "inspect", "unknown optimizer 'no_such_optimizer'"),
    # JavaScript's Number() reads neither, so the page refuses them; so does the server.
    ("opt=adam&adam.lr=0.0_1", "adam.lr", "'0.0_1' is not a number"),
    ("steps=1_000", "steps", "not a number"),
    ("opt=adam&adam.lr=\u0660.\u0661", "adam.lr", "is not a number"),
    ("seed=\u0663", "seed", "is not a number"),
    ("seed=9007199254740992", "seed", "seed = 9007199254740992 is outside [0, 9007199254740991]"),
    ("opt=adam&adam.lr=" + "x" * 10_000, "adam.lr", "(10000 characters)"),
])
def test_a_bad_value_raises_naming_its_key(query, key, msg):
    with pytest.raises(core.InvalidInput) as info:
        request_from_query(query)
    assert info.value.field == key and msg in info.value.reason, (info.value.field, info.value.reason)


def test_seeds_are_read_as_integers_to_the_last_digit():
    # Up to the largest integer the page's numbers hold exactly, and one past it is refused, not rounded into range.
    body = request_from_query("seed=9007199254740991&noise=0.1&noise_seed=9007199254740990")
    assert body["seed"] == 2**53 - 1 and body["noise"]["seed"] == 2**53 - 2
    with pytest.raises(core.InvalidInput, match=r"noise_seed = 9007199254740993 is outside \[0, 9007199254740991\]"):
        request_from_query("noise=0.1&noise_seed=9007199254740993")


def test_numbers_are_read_as_javascripts_number_reads_them():
    body = request_from_query("opt=adam&adam.lr=.5e-2&adam.beta1=+0.5&adam.eps=1.&surface.kappa=3")
    assert body["runs"][0]["hyperparameters"] == {"lr": 0.005, "beta1": 0.5, "eps": 1.0}


@pytest.mark.parametrize("link", [
    "http://127.0.0.1:8000/?surface=beale&opt=adam&steps=40",
    "https://gradscape.example/embed?surface=beale&opt=adam&steps=40#top",
    "/?surface=beale&opt=adam&steps=40",
    "?surface=beale&opt=adam&steps=40",
])
def test_a_whole_link_reads_as_its_query(link):
    body = request_from_query(link)
    assert (body["surface"], body["steps"], body["runs"][0]["optimizer"]) == ("beale", 40, "adam")


def test_settings_of_unused_optimizers_and_unknown_keys_are_ignored():
    body = request_from_query("opt=adam&sgd.lr=0.5&adam.colour=red&sched.t_max=5&utm_source=mail")
    assert body["runs"] == [{"optimizer": "adam", "hyperparameters": {}}] and body["schedule"] is None


# --- surface=network ---------------------------------------------------------------------------------------

NET = ("surface=network&steps=200&opt=adam,sgd&adam.lr=0.01&net.data=spirals&net.samples=300&net.noise=0.2"
       "&net.hidden=32,8&net.act=relu&net.seed=4&net.batch=50&plane=random&plane.centre=final&plane.res=21"
       "&plane.span=2&view=loss")


def test_a_network_link_round_trips_and_is_the_network_request_body():
    from app.state import network_request
    from app.services.networks import build

    body = request_from_query(NET)
    assert query_from_request(body) == NET
    assert network_request(body) == {
        "network": {"data": "spirals", "samples": 300, "hidden": [32, 8], "activation": "relu", "seed": 4,
                    "noise": 0.2, "batch_size": 50},
        "steps": 200, "runs": [{"optimizer": "adam", "hyperparameters": {"lr": 0.01}},
                               {"optimizer": "sgd", "hyperparameters": {}}],
        "schedule": None, "noise": None, "seed": 0,
        "plane": {"kind": "random", "centre": "final", "resolution": 21, "span": 2.0}}
    build(network_request(body))  # the API takes it as it is
    # A network has no start, and its defaults are left out of the link.
    assert query_from_request(request_from_query("surface=network&opt=adam")) == "surface=network&steps=300&opt=adam"
    defaults = network_request(request_from_query("surface=network&opt=adam"))
    assert defaults["network"] == core.network.resolve_spec({"data": "moons", "noise": 0.1})
    assert defaults["plane"] == {"kind": "pca", "centre": "initial", "resolution": 51}


def test_network_keys_on_another_surface_are_kept_and_not_computed():
    body = request_from_query("surface=beale&opt=adam&net.data=xor")
    assert body["net.data"] == "xor" and "net.samples" not in body
    assert query_from_request(body) == "surface=beale&start=1,1.5&steps=300&opt=adam&net.data=xor"


@pytest.mark.parametrize("extra, key, words", [
    ("net.data=digits&net.samples=2000", "net.samples", "net.samples = 2000 is outside [4, 1797]"),
    ("net.samples=100&net.batch=101", "net.batch", "net.batch = 101 is outside [1, 100]"),
    ("net.samples=6000", "net.samples", "net.samples = 6000 is outside [4, 5000]"),
    ("net.hidden=16,0", "net.hidden", "net.hidden = 0 is outside [1, 256]"),
    ("net.hidden=8,8,8,8,8", "net.hidden", "net.hidden = '8,8,8,8,8' has 5 items, more than the limit of 4"),
    ("net.hidden=256,256,256,256", "net.hidden", "more than the limit of 100000"),
    ("net.noise=3", "net.noise", "net.noise = 3 is outside [0, 2]"),
    ("net.act=sigmoid", "net.act", "unknown activation 'sigmoid'; allowed: tanh, relu"),
    ("plane=side", "plane", "unknown plane 'side'; allowed: random, pca, points"),
    ("plane.res=500", "plane.res", "plane.res = 500 is outside [2, 201]"),
    ("plane.span=1001", "plane.span", "plane.span = 1001 is outside [0, 1000]"),
])
def test_a_bad_network_value_is_explained_naming_its_key_and_limit(extra, key, words):
    with pytest.raises(core.InvalidInput) as e:
        request_from_query(f"surface=network&opt=adam&{extra}")
    assert e.value.field == key and words in e.value.reason


def test_the_link_holds_a_planes_span_to_cores_limit():
    from app import linkgrammar

    problem = core.network_problem({"data": "moons", "samples": 8, "hidden": [2]})
    top = linkgrammar.key("plane.span").high
    core.network.check_plane(problem, 1, "random", "initial", 3, top, 0, (0, 0))
    with pytest.raises(core.InvalidInput, match="span"):
        core.network.check_plane(problem, 1, "random", "initial", 3, math.nextafter(top, math.inf), 0, (0, 0))
