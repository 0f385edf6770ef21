"""The URL keys of the explore features: `basins` (basins under the contour) and `tuned`, `tuned.by` ("Tune lr")."""

from __future__ import annotations

import pytest

import core
from app.state import EXPLORE_DISPLAY, query_from_request, request_from_query
from core.explore import CRITERIA

BASE = "surface=himmelblau&start=0,0&steps=300&opt=sgd,momentum&sgd.lr=0.01"


def test_the_keys_read_and_round_trip():
    query = f"{BASE}&basins=momentum&tuned=momentum,sgd&tuned.by=steps_to_tol"
    body = request_from_query(query)
    assert (body["basins"], body["tuned"], body["tuned.by"]) == ("momentum", "momentum,sgd", "steps_to_tol")
    assert query_from_request(body) == query


def test_without_them_nothing_is_written():
    body = request_from_query(BASE)
    assert all(body.get(k, "") == "" for k in EXPLORE_DISPLAY)
    assert query_from_request(body) == BASE


@pytest.mark.parametrize("criterion", CRITERIA)
def test_a_tuning_always_names_its_criterion(criterion):
    given = f"&tuned.by={criterion}" if criterion != CRITERIA[0] else ""
    body = request_from_query(f"{BASE}&tuned=sgd{given}")
    assert body["tuned.by"] == criterion
    assert query_from_request(body).endswith(f"&tuned=sgd&tuned.by={criterion}")


def test_only_ticked_optimizers_count_as_the_page_reads_them():
    # The page drops what names an optimizer the link does not run: its settings are not in the link either.
    body = request_from_query(f"{BASE}&basins=adam&tuned=adam,sgd,sgd&tuned.by=final_loss")
    assert "basins" not in body and body["tuned"] == "sgd"
    assert "tuned.by" not in request_from_query(f"{BASE}&tuned=adam&tuned.by=final_loss")


@pytest.mark.parametrize("query, field", [("basins=nope", "basins"), ("tuned=sgd,nope", "tuned"),
                                          ("tuned=sgd&tuned.by=fastest", "tuned.by")])
def test_a_bad_value_names_its_key_and_what_is_allowed(query, field):
    with pytest.raises(core.InvalidInput) as e:
        request_from_query(f"{BASE}&{query}")
    assert e.value.field == field
    assert "allowed" in e.value.reason
    assert ("final_loss" if field == "tuned.by" else "momentum") in e.value.reason


def test_an_export_takes_the_keys_and_names_a_bad_one():
    from fastapi.testclient import TestClient

    from app.main import create_app

    with TestClient(create_app()) as client:
        r = client.post("/api/exports", json={"state": f"{BASE}&tuned=sgd,nope", "format": "gif"})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "state", "tuned"] and "nope" in r.json()["detail"][0]["msg"]
    from app.exports.link import read_state

    body, display = read_state(f"{BASE}&basins=momentum&tuned=sgd&tuned.by=steps_to_tol")
    assert (display["basins"], display["tuned"], display["tuned.by"]) == ("momentum", "sgd", "steps_to_tol")
    assert not set(EXPLORE_DISPLAY) & set(body)  # display keys, not part of the runs' request
