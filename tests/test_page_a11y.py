"""axe-core finds no serious or critical accessibility violation on the page's views, presenter mode,
the map and the embed, at the sizes a class uses.

axe-core comes from the axe-playwright-python package (its bundled axe.min.js, a test dependency only),
injected into the page by Playwright: the page itself never loads it, and nothing is fetched.
"""

from __future__ import annotations

import pytest

from browser_helpers import BROWSER_MARKS
from test_page_classroom import SIZES, framed, open_at  # noqa: F401 (open_at is a fixture)

playwright = pytest.importorskip("playwright.sync_api")
axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")

pytestmark = BROWSER_MARKS

RUN = "surface=beale&start=0.7,1.4&steps=200&opt=adam,sgd,momentum&adam.lr=0.05&sgd.lr=0.01&momentum.lr=0.01&autoplay=0"
MAP = "&view=map&map.opt=adam&map.x=lr&map.y=beta1&map.n=12"
STATES = {
    "contour": RUN,
    "surface3d": RUN + "&view=surface3d",
    "loss": RUN + "&view=loss",
    "map": RUN + MAP,
    "inspector": RUN + "&inspect=adam",
    "presenter": RUN + "&large=1",
    "presenter-map": RUN + MAP + "&large=1",
}
SERIOUS = {"serious", "critical"}


def drawn(doc, state: str):
    """Wait until the view the state shows has drawn: the map's cells as well as the runs."""
    doc.wait_for_function("() => window.__drawn && window.__drawn.some((e) => e.kind === 'data')")
    if "view=map" in state:
        doc.wait_for_function("() => document.querySelectorAll('.map-key .map-key-item').length > 0")
    if "view=surface3d" in state:
        doc.wait_for_function("() => (document.getElementById('surface3d').data || []).length > 2")
    if "inspect=" in state:
        doc.wait_for_function("() => (document.getElementById('insp-lr').data || []).length > 0")


def violations(doc) -> list[dict]:
    found = axe_playwright.Axe().run(doc).response["violations"]
    return [{"id": v["id"], "impact": v["impact"], "where": [n["target"] for n in v["nodes"]][:3]} for v in found]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_page_has_no_serious_accessibility_violation(open_at, size, state):  # noqa: F811
    page = open_at(STATES[state], size=size)
    drawn(page, STATES[state])
    found = violations(page)
    assert [v for v in found if v["impact"] in SERIOUS] == [], found
    # Its name is the page's level-one heading at every width, even where the bar has no room to show it.
    assert "page-has-heading-one" not in {v["id"] for v in found}
    assert page.errors == []


def test_the_settings_opened_over_the_plots_have_no_serious_violation(open_at):  # noqa: F811
    page = open_at(RUN + "&large=1", size=(800, 600))
    page.locator("#sidebar-toggle").click()
    page.locator("#sidebar").wait_for(state="visible")
    for button in page.locator("button.tune").all()[:3]:
        button.click()
    assert [v for v in violations(page) if v["impact"] in SERIOUS] == []


@pytest.mark.parametrize("state", ["contour", "surface3d", "loss", "map", "presenter"])
def test_the_embed_in_an_iframe_has_no_serious_accessibility_violation(browser, live_server, state):
    host, frame = framed(browser, live_server, STATES[state], (800, 450))
    drawn(frame, STATES[state])
    found = violations(frame)
    assert [v for v in found if v["impact"] in SERIOUS] == [], found
    assert host.errors == []
    host.context.close()
