"""A run's own label: read from a link, carried in the API's run spec, echoed in every answer."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.state import LABEL_MAX, query_from_request, request_from_query


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


def test_a_label_in_a_link_is_read_trimmed_and_written_back():
    q = "surface=saddle&start=-1.5,0.001&steps=10&opt=adam,adamw&adamw.eps=1&adamw.weight_decay=0&adamw.label=Adam%20%CE%B5%20%3D%201"
    body = request_from_query(q)
    assert [r.get("label") for r in body["runs"]] == [None, "Adam ε = 1"]
    assert query_from_request(body) == q
    long = request_from_query("opt=adam&adam.label=" + "x" * (LABEL_MAX + 5))
    assert long["runs"][0]["label"] == "x" * LABEL_MAX


@pytest.mark.parametrize("path", ["/api/trajectories", "/api/trajectories/stream"])
def test_the_api_echoes_a_runs_label(client, path):
    body = {"surface": "saddle", "steps": 5, "runs": [{"optimizer": "adam"}, {"optimizer": "adamw", "label": "<i>eps 1</i>"}]}
    resp = client.post(path, json=body)
    assert resp.status_code == 200
    runs = resp.json()["runs"] if path.endswith("trajectories") else json.loads(resp.text.splitlines()[0])["runs"]
    assert "label" not in runs[0] and runs[1]["label"] == "<i>eps 1</i>"


def test_a_label_longer_than_the_limit_is_refused_by_name(client):
    body = {"surface": "saddle", "steps": 5, "runs": [{"optimizer": "adam", "label": "x" * (LABEL_MAX + 1)}]}
    resp = client.post("/api/trajectories", json=body)
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"][-3:] == ["runs", 0, "label"]
