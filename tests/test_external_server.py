"""Torch optimizer classes the server's operator offers by name (GRADSCAPE_EXTERNAL_OPTIMIZERS), and no others."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import core
from core import external
from test_api import client_with, post

pytest.importorskip("torch")

OFFERED = "custom_optimizers:SignDescent"


@pytest.fixture
def offered():
    """A client whose server offers the test module's SignDescent; the offer is taken back afterwards."""
    try:
        with client_with(external_optimizers=OFFERED) as c:
            yield c
    finally:
        external.OFFERED.clear()


def test_an_offered_class_is_in_the_catalog_and_the_page(offered):
    entry = next(o for o in offered.get("/api/catalog").json()["optimizers"] if o["id"] == OFFERED)
    assert entry["group"] == "external" and [h["name"] for h in entry["hyperparameters"]][0] == "lr"
    page = offered.get("/").text
    assert f'data-opt-toggle="{OFFERED}"' in page and "Loaded by name" in page


def test_an_offered_class_runs_from_a_request_as_the_core_runs_it(offered):
    body = {"surface": "beale", "start": [1.0, 1.5], "steps": 30,
            "runs": [{"optimizer": OFFERED, "hyperparameters": {"lr": 0.05}}, {"optimizer": "adam"}]}
    r = post(offered, "/api/trajectories", body)
    assert r.status_code == 200, r.text
    ours = core.trajectory("beale", OFFERED, (1.0, 1.5), 30, {"lr": 0.05})
    np.testing.assert_array_equal(np.array(r.json()["runs"][0]["points"]), ours.points)
    stream = post(offered, "/api/trajectories/stream", body)
    assert stream.status_code == 200 and '"type":"done"' in stream.text.replace(" ", "")


def test_a_sweep_of_an_offered_class_is_a_422_naming_the_optimizer(offered):
    r = post(offered, "/api/sweeps/stream", {"surface": "rosenbrock", "optimizer": OFFERED, "steps": 10,
                                             "grid": {"lr": [0.01, 0.1], "shrink": [0.9, 0.99]}})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][-1] == "optimizer"


@pytest.mark.parametrize("name", ["custom_optimizers:NotAnOptimizer", "os:system", "importlib:import_module"])
def test_a_request_naming_a_class_nobody_offered_imports_nothing(name):
    sys.modules.pop("custom_optimizers", None)
    with client_with() as c:
        body = {"surface": "beale", "start": [1.0, 1.5], "steps": 5, "runs": [{"optimizer": name}]}
        for path in ("/api/trajectories", "/api/trajectories/stream"):
            r = post(c, path, body)
            assert r.status_code == 422, r.text
            assert r.json()["detail"][0]["loc"] == ["body", "runs", 0, "optimizer"]
        r = post(c, "/api/exports", {"state": f"opt={name}", "format": "png"})
        assert r.status_code == 422, r.text
    assert "custom_optimizers" not in sys.modules


def test_the_command_line_exports_an_optimizer_given_by_its_class(tmp_path, capsys):
    from app.cli import main

    out = tmp_path / "race.png"
    try:
        code = main(["export", "--optimizers", f"adam,{OFFERED}", "--surface", "beale", "--steps", "20",
                     "--hyper", f"{OFFERED}.lr=0.05", "--out", str(out)])
    finally:
        external.OFFERED.clear()
    assert code == 0, capsys.readouterr().err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_command_line_names_a_class_it_cannot_load(tmp_path, capsys):
    from app.cli import main

    with pytest.raises(SystemExit) as e:
        main(["export", "--optimizers", "adam,custom_optimizers:NotAnOptimizer", "--out", str(tmp_path / "x.png")])
    assert e.value.code == 2
    assert "not a torch.optim.Optimizer subclass" in capsys.readouterr().err
    external.OFFERED.clear()
