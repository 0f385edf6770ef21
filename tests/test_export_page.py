"""The page's Share & export box for slides, in Debian's Chromium against a real server: opening it leaves
the timeline where it is, a still is the step shown drawn as the exports draw it, and the snippets for
reveal.js, Quarto and Jupyter show the live view in a slide."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from browser_helpers import BROWSER_MARKS, watch
from app.presets import PRESETS

pytest.importorskip("playwright.sync_api")

pytestmark = BROWSER_MARKS

SADDLE = next(p for p in PRESETS if p.id == "saddle_escape")
SIZES = [(1280, 720), (1920, 1080), (800, 600)]
STEP = 150


def open_page(browser, live_server, size):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, accept_downloads=True)
    page = context.new_page()
    page.errors = watch(page)
    page.goto(f"{live_server.url}/?{SADDLE.query}&autoplay=0")
    page.wait_for_function("() => window.__drawn.some((e) => e.kind === 'data')", timeout=30_000)
    return context, page


def seek(page, step: int) -> None:
    page.evaluate("(k) => { const s = document.querySelector('#scrubber'); s.value = k; "
                  "s.dispatchEvent(new Event('input')); }", step)
    page.wait_for_function("(k) => document.querySelector('#counter').textContent.startsWith(`step ${k} /`)",
                           arg=step, timeout=10_000)


def export_still(page, button: str):
    with page.expect_request(lambda r: r.url.endswith("/api/exports") and r.method == "POST") as sent:
        with page.expect_download(timeout=90_000) as download:
            page.get_by_role("button", name=button).click()
    return sent.value.post_data_json, download.value


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_opening_share_leaves_the_timeline_and_the_png_is_the_step_shown(browser, live_server, tmp_path, size):
    context, page = open_page(browser, live_server, size)
    try:
        seek(page, STEP)
        page.get_by_role("link", name="Share & export").click()
        page.wait_for_function("() => location.hash === '#share'")
        page.wait_for_timeout(300)  # a reset would have redrawn by now
        assert page.text_content("#counter").startswith(f"step {STEP} /")
        share = page.locator("#share")
        box = share.bounding_box()
        assert box is not None and box["y"] < size[1] and box["x"] + box["width"] <= size[0] + 1
        page.select_option("#export-size", f"{size[0]}x{size[1]}")
        page.fill("#export-subtitle", "Who gets away from the saddle?")
        page.check("#export-annotate")
        body, download = export_still(page, "PNG frame")
        assert (body["step"], body["view"], body["width"], body["height"]) == (STEP, "contour", *size)
        assert body["subtitle"] == "Who gets away from the saddle?" and body["annotate"] is True
        assert download.suggested_filename == f"gradscape-saddle-contour-step{STEP}.png"
        path = tmp_path / "still.png"
        download.save_as(path)
        still = Image.open(path)
        assert still.size == size
        # Not a blank picture: the contours' colours and the title's ink are there.
        colours = still.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50
        assert page.text_content("#counter").startswith(f"step {STEP} /")  # exporting moved nothing either
        assert page.errors == []
    finally:
        context.close()


def test_the_3d_still_has_its_legend_and_the_step(browser, live_server, tmp_path):
    context, page = open_page(browser, live_server, SIZES[0])
    try:
        seek(page, STEP)
        page.select_option("#export-view", "surface3d")
        body, download = export_still(page, "SVG frame")
        assert (body["view"], body["step"]) == ("surface3d", STEP)
        path = tmp_path / "still.svg"
        download.save_as(path)
        ids = {el.get("id") for el in ET.parse(path).iter()}
        assert "legend_1" in ids and "axes_1" in ids
        assert page.errors == []
    finally:
        context.close()


def test_the_slide_snippets_name_the_live_view_for_each_tool(browser, live_server):
    context, page = open_page(browser, live_server, SIZES[0])
    try:
        page.select_option("#embed-size", "960x540")
        # The live view, playing and looping (the page itself was opened paused).
        embed = re.compile(re.escape(f"{live_server.url}/embed?") + r"surface=saddle[^\"]*&loop=1\b")
        snippets = {}
        for tool in ("reveal", "reveal-background", "quarto", "jupyter"):
            page.select_option("#slide-tool", tool)
            snippets[tool] = page.input_value("#slide-snippet")
            assert embed.search(snippets[tool].replace("&amp;", "&")), snippets[tool]
            assert "autoplay=0" not in snippets[tool]
        assert snippets["reveal"].startswith("<section>\n  <iframe ") and 'width="960" height="540"' in snippets["reveal"]
        assert snippets["reveal-background"].startswith("<section data-background-iframe=")
        assert "data-background-interactive" in snippets["reveal-background"]
        assert snippets["quarto"].startswith("## SGD, Momentum, Nesterov, Adagrad, Adadelta, RMSprop on Saddle")
        assert snippets["jupyter"].startswith("from IPython.display import IFrame\nIFrame(\"")
        assert snippets["jupyter"].endswith("width=960, height=540)")
        help_text = page.text_content("#slide-help")
        assert "Google Slides takes no iframe" in help_text and "MP4" in help_text and "GIF" in help_text
        # A change of state reaches the snippet.
        page.select_option("#slide-tool", "reveal")
        seek(page, 10)
        assert "steps=300" in page.input_value("#slide-snippet")
        assert page.errors == []
    finally:
        context.close()


def test_the_reveal_snippet_plays_the_view_inside_a_slide(browser, live_server):
    context, page = open_page(browser, live_server, SIZES[0])
    try:
        page.select_option("#slide-tool", "reveal")
        snippet = page.input_value("#slide-snippet")
        host = context.new_page()
        errors = watch(host)
        # A slide deck opened from a file: the snippet as reveal.js would hold it.
        host.set_content(f"<!doctype html><html><body><div class='reveal'><div class='slides'>{snippet}"
                         "</div></div></body></html>")
        frame = host.frame_locator("iframe")
        frame.locator("#counter").wait_for(timeout=30_000)
        [embedded] = [f for f in host.frames if "/embed?" in f.url]
        # It plays: its timeline leaves step 0 of its own accord.
        embedded.wait_for_function("() => !document.querySelector('#counter').textContent.startsWith('step 0 /')",
                                   timeout=30_000)
        assert errors == [] and page.errors == []
    finally:
        context.close()
