"""The "Custom…" surface on the page, in a real Chromium against a real `gradscape serve`.

Speed (a keystroke to a redraw) is measured in bench/formula_bench.py --page, not here.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import numpy as np
import pytest

import core
from browser_helpers import PLOT_TRACES_JS, drawn_count, wait_drawn
# The page tests' page and marks (the browser fixture is in conftest): a fresh context per test.
from test_browser import open_page, page, pytestmark  # noqa: F401

HIMMELBLAU = "(x^2 + y - 11)^2 + (x + y^2 - 7)^2"
CUSTOM = "surface=custom&f=x%5E2%20%2B%203*y%5E2&start=-2,2&steps=100&opt=adam,sgd&adam.lr=0.1&sgd.lr=0.005&autoplay=0"


def traces(page, element_id: str) -> list[dict]:
    return page.evaluate(f"""(id) => ({PLOT_TRACES_JS})(id).map((t) => ({{
        mode: t.mode, name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || []),
        text: Array.from(t.text || []) }}))""", element_id)


def query(page) -> dict:
    return dict(parse_qsl(page.evaluate("location.search.slice(1)")))


def run_lines(page) -> dict:
    return {t["name"]: t for t in traces(page, "contour-fg") if t["mode"] == "lines"}


def test_a_link_to_a_formula_draws_its_runs_and_its_numerical_landmarks(page):
    open_page(page, CUSTOM)
    assert page.locator("#surface").input_value() == "custom"
    assert page.locator("#custom-surface").is_visible()
    assert page.locator("#formula").input_value() == "x^2 + 3*y^2"
    want = core.trajectory({"formula": "x^2 + 3*y^2"}, "adam", (-2, 2), 100, {"lr": 0.1})
    adam = run_lines(page)[core.OPTIMIZERS["adam"].label]
    np.testing.assert_allclose(adam["x"], want.points[:, 0], rtol=1e-12)
    landmarks = next(t for t in traces(page, "contour-fg") if t["name"] == "landmarks")
    assert "minimum (found numerically)" in landmarks["text"]
    assert landmarks["x"][0] == pytest.approx(0, abs=1e-9)
    page.wait_for_function("() => document.getElementById('formula-status').textContent.includes('found numerically')")
    assert page.errors == []


def test_typing_checks_the_formula_and_a_valid_one_redraws(page):
    open_page(page, CUSTOM)
    box = page.locator("#formula")
    box.fill("")
    box.press_sequentially("x^2 + [y]", delay=10)
    status = page.locator("#formula-status")
    # Under load the emptied box may be checked first ("is empty"): wait for the check of the whole text.
    page.wait_for_function("() => document.getElementById('formula-status').textContent.includes('column 7')")
    assert status.inner_text() == "unexpected '[' at column 7"
    assert box.get_attribute("aria-invalid") == "true"
    # A bad formula never reaches the link (a valid prefix typed on the way, such as "x^2", may).
    assert "[" not in query(page)["f"]
    count = drawn_count(page, "data")
    box.fill("")
    box.press_sequentially(HIMMELBLAU, delay=5)
    wait_drawn(page, "data", after=count)
    page.wait_for_function("(f) => new URLSearchParams(location.search).get('f') === f", arg=HIMMELBLAU)
    assert "4 minima, 4 saddle points found numerically" in status.inner_text()
    assert box.get_attribute("aria-invalid") is None
    want = core.trajectory({"formula": HIMMELBLAU}, "sgd", (-2, 2), 100, {"lr": 0.005})
    sgd = run_lines(page)[core.OPTIMIZERS["sgd"].label]
    assert want.diverged_at is None
    np.testing.assert_allclose(sgd["y"], want.points[:, 1], rtol=1e-12)
    # Chromium logs every refused request; the 422s of the checks are the only errors.
    assert all("status of 422" in e for e in page.errors), page.errors


def test_an_example_sets_the_formula_and_its_domain(page):
    open_page(page, CUSTOM)
    count = drawn_count(page, "data")
    page.get_by_role("button", name="A ripple").click()
    wait_drawn(page, "data", after=count)
    page.wait_for_function("() => new URLSearchParams(location.search).get('domain') === '-4,4,-4,4'")
    q = query(page)
    assert q["f"].startswith("0.1*(x^2 + y^2)") and q["start"] == "-1.6,1.6"
    assert page.locator("#formula-domain").input_value() == "-4, 4, -4, 4"
    assert page.errors == []


def test_custom_from_the_surface_menu_starts_with_an_example(page):
    open_page(page, "surface=booth&opt=adam&autoplay=0")
    assert not page.locator("#custom-surface").is_visible()
    count = drawn_count(page, "data")
    page.locator("#surface").select_option("custom")
    wait_drawn(page, "data", after=count)
    assert page.locator("#custom-surface").is_visible()
    assert page.locator("#formula").input_value() == HIMMELBLAU
    assert query(page)["f"] == HIMMELBLAU
    assert page.errors == []


def test_the_embed_draws_a_formula(page):
    open_page(page, CUSTOM.replace("&autoplay=0", ""), path="/embed")
    assert run_lines(page)
    assert page.errors == []
