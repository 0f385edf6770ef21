"""`gradscape build-site DIR` served by a plain static server under a sub-path, as a course's pages would be:
the race draws, a slider recomputes it in the browser (the server's points, within the page engine's
tolerance), a preset's link opens it, what needs the server says so, nothing asks for /api, and no file
the page names is missing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from urllib.parse import parse_qsl, urlsplit

import httpx
import numpy as np
import pytest

import core
from app.cli import main
from app.site import SiteError, static_page
from browser_helpers import BROWSER_MARKS, VIEWPORT, watch
from conftest import free_port

RTOL = 1e-9  # tests/test_page_engine.py's bound
SUB_PATH = "course/gradscape"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site written by the command into a sub-path of a folder a static server serves; its base URL."""
    root = tmp_path_factory.mktemp("host")
    assert main(["build-site", str(root / SUB_PATH)]) == 0
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/{SUB_PATH}/"
    try:
        for _ in range(100):
            try:
                httpx.get(base, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield {"base": base, "dir": root / SUB_PATH}
    finally:
        server.terminate()
        server.wait(timeout=10)


def open_site(browser, url: str, drawn: bool = True):
    """A page recording its errors, every request it sends and every answer that was not a success; drawn
    unless `drawn` is false."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.errors = watch(page)
    page.requests, page.failed = [], []
    page.on("request", lambda r: page.requests.append(r.url))
    page.on("response", lambda r: page.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("requestfailed", lambda r: page.failed.append(f"failed {r.url}"))
    page.goto(url)
    if drawn:
        page.wait_for_function("window.__drawn.some((e) => e.kind === 'data')", timeout=30_000)
    return page


def clean(page):
    assert page.errors == [] and page.failed == []
    assert [u for u in page.requests if "/api/" in u or not u.startswith(page.url.split(SUB_PATH)[0] + SUB_PATH)] == []


def page_run(page, optimizer: str) -> np.ndarray:
    xy = page.evaluate("""(id) => { const r = window.gradscape.scene.runs.find((run) => run.optimizer === id);
        return [Array.from(r.xs), Array.from(r.ys)]; }""", optimizer)
    return np.array(xy, dtype=float).T


pytestmark = BROWSER_MARKS


def test_the_pages_name_only_files_beside_them(site):
    files = {p.relative_to(site["dir"]).as_posix() for p in site["dir"].rglob("*") if p.is_file()}
    assert {"index.html", "embed.html", "catalog.json", "presets.json", "static/js/page.js",
            "static/js/generated/kernels.js", "static/vendor/katex/katex.min.js"} <= files
    assert not any(f.startswith(("static/vendor/swagger-ui", "static/vendor/redoc")) for f in files)
    assert {"index.zh-CN.html", "embed.zh-CN.html"} <= files  # each page in each language
    for page in ("index.html", "embed.html", "index.zh-CN.html", "embed.zh-CN.html"):
        text = (site["dir"] / page).read_text(encoding="utf-8")
        assert 'class="static-site"' in text
        for ref in re.findall(r'(?:src|href)="([^"#:]+)"', text):
            if ref not in ("./",):
                assert ref.split("?")[0] in files, f"{page} names {ref}"
    catalog = json.loads((site["dir"] / "catalog.json").read_text(encoding="utf-8"))
    assert {o["id"] for o in catalog["optimizers"]} == set(core.OPTIMIZERS)


def test_a_link_in_chinese_opens_the_chinese_file_and_the_switch_comes_back(browser, site):
    query = "surface=rosenbrock&opt=adam,sgd&steps=100&adam.lr=0.02&autoplay=0"
    page = open_site(browser, site["base"] + f"index.html?{query}&lang=zh-CN")
    assert page.url.startswith(site["base"] + "index.zh-CN.html?")
    # The English file's own loads still under way when it handed over are cut short: not a missing file.
    page.failed = [f for f in page.failed if not f.startswith("failed ")]
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page_run(page, "adam").shape == (101, 2)
    assert dict(parse_qsl(urlsplit(page.url).query))["adam.lr"] == "0.02"
    english = page.locator("a[data-lang='en']")
    english.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_function("window.__drawn.some((e) => e.kind === 'data')", timeout=30_000)
    assert urlsplit(page.url).path.endswith(f"/{SUB_PATH}/")  # the English page is the folder's own
    assert page.evaluate("document.documentElement.lang") == "en"
    assert dict(parse_qsl(urlsplit(page.url).query))["adam.lr"] == "0.02"  # the state came along
    clean(page)


def test_a_page_naming_the_server_s_root_is_refused():
    with pytest.raises(SiteError, match="/api/catalog"):
        static_page('<html lang="en"><a href="/api/catalog">catalog</a></html>')


def test_a_preset_link_draws_and_a_slider_recomputes_in_the_browser(browser, site):
    presets = json.loads((site["dir"] / "presets.json").read_text(encoding="utf-8"))
    preset = next(p for p in presets if p["id"] == "beale_race")
    page = open_site(browser, site["base"] + preset["href"])
    assert page.locator("#preset").input_value() == "beale_race"
    query = dict(parse_qsl(urlsplit(preset["href"]).query))
    count = page.evaluate("window.__drawn.filter((e) => e.kind === 'data').length")
    page.get_by_role("button", name="SGD hyperparameters", exact=True).click()
    slider = page.get_by_label("SGD lr", exact=True)
    slider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("(n) => window.__drawn.filter((e) => e.kind === 'data').length > n", arg=count)
    page.wait_for_function("""() => new URLSearchParams(location.search).get('sgd.lr')
        === document.querySelector('[aria-label="SGD lr value"]').value""")
    lr = float(page.get_by_label("SGD lr value", exact=True).input_value())
    assert lr != float(query["sgd.lr"])
    start = tuple(float(v) for v in query["start"].split(","))
    schedule = {"name": "cosine", "t_max": int(query["sched.t_max"])}
    expected = core.trajectory("beale", "sgd", start, int(query["steps"]), {"lr": lr}, schedule=schedule).points
    drawn = page_run(page, "sgd")
    assert drawn.shape == expected.shape
    assert (np.abs(drawn - expected) / np.maximum(1.0, np.abs(expected))).max() <= RTOL
    assert page.url.startswith(site["base"])  # the address keeps the site's sub-path
    clean(page)


def test_what_needs_the_server_says_so_and_asks_nothing(browser, site):
    page = open_site(browser, site["base"] + "index.html?surface=rosenbrock&opt=adam,lbfgs&steps=100&autoplay=0")
    note = page.locator("#engine-note")
    note.wait_for()
    assert "L-BFGS" in note.inner_text() and "needs the Gradscape server" in note.inner_text()
    assert page_run(page, "adam").shape == (101, 2)  # the run the page can step is drawn all the same
    page.get_by_role("link", name="Share & export").click()
    # The links it shares are this site's, under its sub-path.
    assert page.locator("#share-url").input_value().startswith(site["base"] + "?surface=rosenbrock")
    assert f'src="{site["base"]}embed.html?surface=rosenbrock' in page.locator("#embed-snippet").input_value()
    assert f'{site["base"]}embed.html?' in page.locator("#slide-snippet").input_value()
    page.locator('[data-export="html"]').click()
    alert = page.locator("#alert")
    alert.wait_for()
    assert "needs the Gradscape server" in alert.inner_text()
    clean(page)


def test_a_network_link_says_it_needs_the_server_and_asks_nothing(site, browser):
    page = open_site(browser, site["base"] + "index.html?surface=network&steps=50&opt=sgd,adam&autoplay=0", drawn=False)
    alert = page.locator("#alert")
    alert.wait_for()
    assert "needs the Gradscape server" in alert.inner_text(), alert.inner_text()
    clean(page)


def test_the_embed_view_draws_and_opens_the_page_beside_it(browser, site):
    page = open_site(browser, site["base"] + "embed.html?surface=beale&opt=adam&steps=200&autoplay=0")
    href = page.locator("#open-full").evaluate("(a) => a.href")
    assert href == site["base"] + "?surface=beale&opt=adam&steps=200&autoplay=0"
    clean(page)
