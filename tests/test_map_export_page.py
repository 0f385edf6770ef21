"""The page's export box on the map view, in Debian's Chromium against a real server."""

from __future__ import annotations

import json
import re

import pytest

from browser_helpers import BROWSER_MARKS, VIEWPORT, watch

pytest.importorskip("playwright.sync_api")

pytestmark = BROWSER_MARKS

MAP = ("surface=quadratic&surface.kappa=20&start=-1.8,1&steps=80&opt=momentum&view=map&autoplay=0"
       "&map.opt=momentum&map.x=lr&map.y=momentum&map.n=32")


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.errors = watch(page)
    page.goto(f"{live_server.url}/?{MAP}")
    page.wait_for_function("() => window.__drawn.some((e) => e.kind === 'map' && e.done)", timeout=30_000)
    yield page
    context.close()


def test_the_html_button_on_the_map_downloads_the_map(page, tmp_path):
    with page.expect_request(lambda r: r.url.endswith("/api/exports") and r.method == "POST") as sent:
        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name="HTML").click()
    assert sent.value.post_data_json["view"] == "map"
    assert download.value.suggested_filename == "gradscape-quadratic-map.html"
    path = tmp_path / "map.html"
    download.value.save_as(path)
    text = path.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script id="gradscape-data" type="application/json">(.*?)</script>', text, re.S)[1])
    assert [t["type"] for t in data["figure"]["data"]][:1] == ["heatmap"]
    assert data["figure"]["layout"]["title"]["text"] == "Momentum on Ill-conditioned quadratic: 32 × 32 runs of 80 steps"
    assert page.errors == []


@pytest.mark.parametrize("fmt", ["GIF", "MP4"])
def test_an_animation_asked_on_the_map_is_the_contours(page, fmt):
    # The map does not move, and the server refuses to animate it: the page asks for the contour.
    with page.expect_request(lambda r: r.url.endswith("/api/exports") and r.method == "POST") as sent:
        page.get_by_role("button", name=fmt).click()
    assert sent.value.post_data_json["view"] == "contour"
    page.wait_for_function("() => !document.querySelector('[data-export]').disabled", timeout=60_000)
    assert page.errors == []
