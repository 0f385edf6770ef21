"""The page and the embed in Simplified Chinese, in Chromium at 1280 x 720: every word a person sees is the
catalog's Chinese (names as the field writes them, numbers and formulas aside), nothing overflows its box, the
switch keeps the view, and the link's lang holds through a reload, a share and an embed."""

from __future__ import annotations

import re

import pytest

from app import i18n
from app.http import pages
from browser_helpers import BROWSER_MARKS, VIEWPORT, wait_drawn, watch

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = BROWSER_MARKS

ZH = "zh-CN"
TWO = "surface=beale&start=0.7,1.4&steps=200&opt=adam,sgd,momentum&adam.lr=0.05&sgd.lr=0.01&autoplay=0"
TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_'.-]*")
# Names of products and file types, written as their makers write them in Chinese too.
PRODUCTS = {"Gradscape", "GIF", "MP4", "HTML", "PPTX", "Beamer", "PNG", "SVG", "iframe", "Quarto", "revealjs", "Jupyter",
            "reveal.js"}


def _strings(obj, keys=("id", "name", "label", "symbol")):
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in ([v] if k in keys and isinstance(v, str) else _strings(v, keys))]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v, keys)]
    return []


def allowed_words() -> set[str]:
    """Latin words a Chinese page may show: those the translations themselves keep (Adam, SGD, lr, Beale,
    a paper's author), and the registry's ids, names, labels and symbols as the catalog sends them."""
    texts = [*i18n.messages(ZH).values(), *_strings(pages.catalog(ZH)), *PRODUCTS]
    return {w.strip("'.-") for text in texts for w in TOKEN.findall(text)}


# Visible text, except what is not in a language: references, formulas, code, what a person typed.
VISIBLE_TEXT_JS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || !el.getClientRects().length || !el.checkVisibility({ visibilityProperty: true })) continue;
    if (el.closest("script, style, code, .math, .katex, .surface-ref, .rule-ref, .js-plotly-plot .xtick, .js-plotly-plot .ytick")) continue;
    const text = n.textContent.trim();
    if (text) out.push(text);
  }
  for (const el of document.querySelectorAll("[aria-label], [title], [placeholder]")) {
    if (!el.getClientRects().length) continue;
    for (const a of ["aria-label", "title", "placeholder"]) if (el.getAttribute(a)) out.push(el.getAttribute(a));
  }
  return out;
}"""


def leftovers(page, allowed: set[str]) -> list[str]:
    """Visible texts holding an English word of three letters or more that no translation keeps."""
    out = []
    for text in page.evaluate(VISIBLE_TEXT_JS):
        words = [w.strip("'.-") for w in TOKEN.findall(text)]
        if any(len(re.sub(r"[^A-Za-z]", "", w)) >= 3 and w not in allowed for w in words):
            out.append(text[:120])
    return sorted(set(out))


# Controls whose text does not fit their box, and anything past the window's right edge.
OVERFLOW_JS = """() => {
  const out = [];
  const sel = ".topbar > *, .topbar .tab, .sidebar h2, .sidebar h3, .sidebar label, .sidebar button, .sidebar .lang-switch,"
    + " .timeline > *, .legend-item, .share button, .share label, .inspector h2, .inspector label, .embed-bar > *";
  for (const el of document.querySelectorAll(sel)) {
    const r = el.getBoundingClientRect();
    if (r.width <= 1) continue; // hidden, or kept for screen readers only
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== "visible")
      out.push(`${el.className || el.tagName}: ${el.scrollWidth} > ${el.clientWidth}`);
    if (r.right > innerWidth + 0.5) out.push(`${el.className || el.tagName} ends at ${r.right}`);
  }
  if (document.documentElement.scrollWidth > innerWidth) out.push(`page ${document.documentElement.scrollWidth} wide`);
  return out;
}"""


@pytest.fixture
def open_page(browser, live_server):
    contexts = []

    def go(query: str, path: str = "/", locale: str = "en-US"):
        context = browser.new_context(viewport=VIEWPORT, locale=locale)
        contexts.append(context)
        page = context.new_page()
        page.errors = watch(page)
        page.base = live_server.url
        page.goto(f"{live_server.url}{path}?{query}")
        wait_drawn(page, "data")
        return page

    yield go
    for c in contexts:
        c.close()


def lang_of(page) -> str:
    return page.evaluate("document.documentElement.lang")


def test_the_chinese_page_shows_no_english_and_nothing_overflows(open_page):
    allowed = allowed_words()
    page = open_page(f"{TWO}&inspect=adam&lang={ZH}")
    page.click('li[data-opt="adam"] button.tune')  # Adam's sliders and their help
    page.wait_for_function("() => !document.querySelector('#hp-adam').hidden")
    wait_drawn(page, "data")
    assert lang_of(page) == ZH
    assert leftovers(page, allowed) == []
    assert page.evaluate(OVERFLOW_JS) == []
    # The top bar stays one line, as in English.
    assert page.evaluate("document.querySelector('.topbar').getBoundingClientRect().height") < 50
    assert page.locator("#counter").inner_text().startswith("第 ")
    assert page.errors == []


def test_the_english_page_is_what_the_check_for_leftovers_would_find(open_page):
    page = open_page(TWO)
    assert lang_of(page) == "en"
    found = leftovers(page, allowed_words())
    assert "Optimizers" in found and "Share & export" in found


def test_the_chinese_embed_shows_no_english(open_page):
    page = open_page(f"{TWO}&lang={ZH}", path="/embed")
    assert lang_of(page) == ZH
    assert leftovers(page, allowed_words()) == []
    assert page.evaluate(OVERFLOW_JS) == []
    assert page.locator("#open-full").inner_text() == "在 Gradscape 中打开 ↗"
    assert "lang=zh-CN" in page.locator("#open-full").get_attribute("href")


def test_the_switch_keeps_the_view_and_the_choice_outlives_a_reload(open_page):
    page = open_page(TWO)
    page.click('li[data-opt="adam"] button.tune')
    page.locator('input[type="number"][data-key="adam.lr"]').fill("0.02")
    page.locator('input[type="number"][data-key="adam.lr"]').press("Enter")
    wait_drawn(page, "data", after=1)
    switch = page.locator('a[data-lang="zh-CN"]')
    switch.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")  # a link: the keyboard reaches it and follows it
    wait_drawn(page, "data")
    assert lang_of(page) == ZH
    query = page.evaluate("location.search")
    assert "adam.lr=0.02" in query and "opt=adam,sgd,momentum" in query and query.endswith("lang=zh-CN")
    assert page.locator("h2#h-opt").inner_text() == "优化器"
    page.reload()
    wait_drawn(page, "data")
    assert lang_of(page) == ZH
    # The choice is remembered: a link without lang opens in Chinese in this browser.
    page.goto(f"{page.base}/?{TWO}")
    wait_drawn(page, "data")
    assert lang_of(page) == ZH
    # And switching back is the same link the other way.
    with page.expect_navigation():
        page.click('a[data-lang="en"]')
    wait_drawn(page, "data")
    assert lang_of(page) == "en" and "lang=en" in page.evaluate("location.search")
    assert page.errors == []


def test_a_chinese_browser_gets_the_chinese_page_and_its_links_carry_the_language(open_page):
    page = open_page(TWO, locale="zh-CN")
    assert lang_of(page) == ZH
    page.wait_for_function("() => document.getElementById('share-url').value.includes('lang=zh-CN')")
    assert "/embed?" in page.locator("#embed-snippet").input_value()
    assert "lang=zh-CN" in page.locator("#embed-snippet").input_value()
    assert "lang=zh-CN" in page.locator("#slide-snippet").input_value()
    # The page's own address is the reader's: it names no language until one is chosen.
    assert "lang=" not in page.evaluate("location.search")


def test_a_chinese_page_asks_for_chinese_errors(open_page):
    page = open_page(f"{TWO}&lang={ZH}")
    box = page.locator('input[type="number"][data-key="steps"]')
    box.fill("0")
    box.press("Enter")
    page.wait_for_function("() => !document.getElementById('alert').hidden")
    text = page.locator("#alert .alert-text").inner_text()
    assert "必须在" in text and "you typed" not in text


def test_what_the_server_computes_is_said_in_chinese(open_page):
    page = open_page(f"surface=beale&opt=adam,sam&steps=50&lang={ZH}")
    note = page.locator("#engine-note")
    page.wait_for_function("() => document.getElementById('engine-note')?.textContent.length > 0")
    assert note.inner_text() == "由服务器计算：SAM（对整个参数向量迭代，这种循环只有服务器有）。"
    assert leftovers(page, allowed_words()) == []


def test_a_bad_link_is_explained_in_chinese(open_page):
    # A run with a value it may not have, an unknown setting and a bad display value: each named in Chinese.
    page = open_page(f"{TWO}&adam.lr=-1&adam.zeta=2&speed=0&lang={ZH}")
    page.wait_for_function("() => !document.getElementById('alert').hidden")
    text = page.locator("#alert .alert-text").inner_text()
    assert "Adam 未绘制：adam.lr = -1 超出了允许范围" in text
    assert '未知的设置 "adam.zeta"' in text and "speed = 0 必须大于 0" in text
    # The link's own keys stay as the link writes them; none of the English sentences around them is left.
    assert not re.search(r"is not drawn|unknown setting|must be more than|other runs", text)
    assert page.errors == []
