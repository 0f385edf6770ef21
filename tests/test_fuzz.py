"""Every field of every POST route, given every wrong type: a 422 whose loc names the field, never a 500.

The fields come from the request models, so a field added to a model is fuzzed with no edit here.
"""

from __future__ import annotations

import math

import pytest
from pydantic import BaseModel

from app.exports.jobs import get_jobs
from app.http.exports import ExportRequest
from app.schemas import BasinsRequest, SweepRequest, TrajectoryRequest, TuneRequest
from test_api import client_with

GRID = {"lr": {"low": 1e-3, "high": 1e-2, "num": 2, "log": True}, "beta1": [0.8, 0.9]}
# A small valid body per route; each case replaces one field (top level or nested) with a wrong value.
ROUTES = {
    "/api/trajectories": (TrajectoryRequest, {"surface": {"name": "beale"}, "start": [1.0, 1.0], "steps": 5,
                                              "runs": [{"optimizer": "adam", "hyperparameters": {"lr": 0.01},
                                                        "label": "A"}],
                                              "schedule": {"name": "constant"}, "noise": {"sigma": 0.0, "seed": 1},
                                              "seed": 0, "fields": ["points"], "encoding": "json"}),
    "/api/trajectories/stream": (TrajectoryRequest, None),
    "/api/sweeps/stream": (SweepRequest, {"surface": {"name": "quadratic"}, "optimizer": "adam", "start": [1.0, 1.0],
                                          "steps": 5, "grid": GRID, "hyperparameters": {"eps": 1e-8},
                                          "schedule": {"name": "constant"}, "tol": 1e-3, "seed": 0,
                                          "noise": {"sigma": 0.0}}),
    "/api/basins/stream": (BasinsRequest, None),
    "/api/tune": (TuneRequest, {"surface": {"name": "quadratic"}, "start": [1.0, 1.0], "steps": 5,
                                "optimizers": [{"optimizer": "momentum", "hyperparameters": {"momentum": 0.5}}],
                                "schedule": {"name": "constant"}, "noise": {"sigma": 0.1, "seed": 2}, "seed": 0,
                                "num": 3, "lr_range": [1e-3, 1e-1], "criterion": "final_loss", "tol": 1e-3,
                                "seeds": 2}),
    "/api/exports": (ExportRequest, {"state": "surface=beale&opt=adam&steps=3", "format": "png", "view": "contour",
                                     "frames": 2, "fps": 10, "width": 320, "height": 240, "step": 1}),
}
ROUTES["/api/trajectories/stream"] = (TrajectoryRequest, ROUTES["/api/trajectories"][1])
ROUTES["/api/basins/stream"] = (BasinsRequest, {**ROUTES["/api/sweeps/stream"][1], "optimizer": "sgd",
                                                "grid": {"x": [0.0, 1.0], "y": {"low": -1, "high": 1, "num": 2}},
                                                "hyperparameters": {}, "radius": 0.1})

WRONG = {
    "a string": "abc", "a numeric string": "1", "a NaN string": "NaN", "an Infinity string": "Infinity",
    "null": None, "a list": [1, 2], "an empty list": [], "an object": {"a": 1}, "true": True, "false": False,
    "a huge number": 1e308, "a huge integer": 10**30, "a negative number": -1,
}
# Numbers where a number is wanted are judged by core; these wrong values are right for some fields.
RIGHT_FOR = {"a negative number": {"start", "low", "high"}, "a numeric string": {"state", "label"},
             "a NaN string": {"label"}, "an Infinity string": {"label"}, "a string": {"state", "label"},
             "false": {"log"}, "true": {"log"}, "null": {"label"}, "an empty list": {"fields"},
             "a list": {"start", "lr_range", "lr", "beta1", "x", "y"}, "a huge integer": {"tol", "radius"}}


def paths(value, prefix=()):
    """Every place in a body: each key of each object, each first item of each list."""
    if isinstance(value, dict):
        for key, v in value.items():
            yield (*prefix, key)
            yield from paths(v, (*prefix, key))
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        yield from paths(value[0], (*prefix, 0))


def replaced(body, path, value):
    if not path:
        return value
    head, *rest = path
    out = list(body) if isinstance(body, list) else dict(body)
    out[head] = replaced(body[head], rest, value)
    return out


def optional(model: type[BaseModel], path) -> bool:
    """Whether null is a right value here: a top-level field whose default is None."""
    return len(path) == 1 and path[0] in model.model_fields and model.model_fields[path[0]].default is None


CASES = [(route, path, name) for route, (model, body) in ROUTES.items() for path in paths(body) for name in WRONG]


class NoJobs:
    """A job store that takes every export and makes none: the fuzz is about the request."""

    def submit(self, state, opts, filename, media_type, client, settings) -> dict:
        return {"id": "x", "status": "running", "progress": 0.0, "message": None, "filename": filename}


@pytest.fixture(scope="module")
def client():
    with client_with() as c:
        c.app.dependency_overrides[get_jobs] = NoJobs
        yield c


def test_every_route_takes_its_valid_body(client):
    for route, (_, body) in ROUTES.items():
        r = client.post(route, json=body)
        assert r.status_code in (200, 202), (route, r.text)


@pytest.mark.parametrize("route, path, name", CASES, ids=[f"{r}:{'.'.join(map(str, p))}:{n}" for r, p, n in CASES])
def test_a_wrong_type_is_a_422_naming_the_field(client, route, path, name):
    model, body = ROUTES[route]
    value = WRONG[name]
    r = client.post(route, json=replaced(body, path, value))
    assert r.status_code != 500, r.text
    if r.status_code in (200, 202):
        # Accepted only where the value is a right one: null for an optional field, a number core takes.
        assert value is None and optional(model, path) or path[-1] in RIGHT_FOR.get(name, ()) or \
            isinstance(value, (int, float)) and not isinstance(value, bool) and name != "a huge integer" and \
            math.isfinite(value) and route != "/api/exports", (path, value, r.text[:300])
        return
    assert r.status_code in (413, 422), r.text
    if r.status_code == 422:
        # The field, something inside it, or (for a choice between fields, as a surface's name or formula,
        # or a range's two ends) the object holding it.
        loc = r.json()["detail"][0]["loc"]
        assert loc[0] == "body" and (loc[1:len(path) + 1] == list(path) or loc[1:] == list(path[:-1])), \
            (path, r.json())
