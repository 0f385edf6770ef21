"""One grammar for links: app/linkgrammar.py's table, read and written alike by app/state.py and the page.

Every case is generated from the table's rows (their defaults, limits, the values just outside them and texts
that are no value at all), so a new row is tested without a new case; the page runs in Chromium against a
server whose steps stop at core's limit, as app/state.py's do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest

import core
from app import linkgrammar as grammar
from app.exports.link import read_state
from app.http import pages
from app.linkgrammar import LinkKey
from app.state import choices, js_number, query_from_request, request_from_query
from browser_helpers import BROWSER_MARKS, VIEWPORT, watch
from conftest import LiveServer
from core.engine import MAX_STEPS

ROOT = Path(__file__).resolve().parent.parent
BASE = "surface=himmelblau&start=0,0&steps=300&opt=sgd,momentum&sgd.lr=0.01"
NOT_VALUES = ["", "abc", "Infinity", "1e400", "1_0", "0x10", "\u0661"]


def texts(k: LinkKey) -> list[str]:
    """What a link may hold for a row: its default, its limits, just outside them, and texts that are no value."""
    if k.kind == "int":
        return [str(k.default), str(k.low), str(k.high), str(k.low - 1), str(k.high + 1), " 7 ", "2.5", "2.0", "1e2",
                "+3", *NOT_VALUES]
    if k.kind == "number":
        limits = [v for v in (k.low, k.high) if v is not None]
        outside = ([js_number(k.low - 1)] if k.low is not None else ["-1e300"]) + (
            [js_number(k.high * 1.5 + 1)] if k.high is not None else ["1e300"])
        return [js_number(k.default), *map(js_number, limits), *outside, " 0.5 ", ".5", "5.", "-0", *NOT_VALUES]
    if k.kind == "bool":
        return ["0", "1", "true", "false", "yes", "2", "True", ""]
    if k.kind == "list" and k.item == "int":
        most = ",".join([str(k.high)] * k.max_length)
        return [",".join(map(str, k.default)), str(k.low), most, f"{most},{k.low}", f"{k.low - 1},8", "8,2.5", "8,",
                "", " 8 , 9 ", *NOT_VALUES[1:]]
    allowed = list(choices(k))
    if k.kind == "enum":
        return [*allowed[:3], allowed[-1], "nope", allowed[0].upper(), " " + allowed[0], ""]
    if k.kind == "text":
        return ["", "plain words", "  padded  ", "x" * ((k.max_length or 40) + 5), "a,b"]
    a, b = allowed[:2]
    return [a, f"{b},{a}", f"{a},{a}", f"{a},nope", f"{a},", "", ","]


def readable(k: LinkKey) -> bool:
    """A row the grammar's own readers read (a family of registry settings is read by its spec's kind and range)."""
    return k.kind in ("int", "number", "bool", "enum", "text") and ("{" not in k.key or k.kind != "number") \
        or k.kind == "list" and k.item in ("enum", "int")


def python_reads(k: LinkKey, text: str) -> dict:
    try:
        return {"value": grammar.read(k, text, choices(k))}
    except core.InvalidInput as e:
        assert e.field == k.key
        return {"reason": e.reason}


def link_with(k: LinkKey, text: str) -> str:
    # tuned.by means something only beside a tuning.
    base = f"{BASE}&tuned=sgd" if k.key == "tuned.by" else BASE
    return f"{base}&{k.key}={quote(text, safe=',')}"


def in_browser(test):
    for mark in BROWSER_MARKS:
        test = mark(test)
    return test


def python_link(link: str) -> dict:
    try:
        return {"query": query_from_request(request_from_query(link))}
    except core.InvalidInput as e:
        return {"reason": e.reason, "field": e.field}


# --- Python alone ------------------------------------------------------------------------------------------

def test_the_table_is_well_formed():
    names = [k.key for k in grammar.KEYS]
    assert len(names) == len(set(names))
    for k in grammar.KEYS:
        assert k.part in grammar.PARTS and k.kind in ("number", "int", "bool", "enum", "text", "list"), k
        rule, _, after = k.write.partition(":")
        assert rule in ("always", "changed", "with") and (rule != "with" or names.index(after) < names.index(k.key)), k
        if k.kind in ("int", "number", "bool", "enum") and k.plain:
            # Its default reads as a value (an enum whose default is "", none chosen: its first choice does).
            text = {"int": js_number, "number": js_number, "bool": lambda v: str(int(v))}.get(
                k.kind, lambda v: v or choices(k)[0])(k.default)
            assert "reason" not in python_reads(k, text), k


@pytest.mark.parametrize("k", [k for k in grammar.KEYS if readable(k)], ids=lambda k: k.key)
def test_each_text_python_reads_is_read_again_from_what_it_writes(k):
    for text in texts(k):
        read = python_reads(k, text)
        if "value" in read and k.kind not in ("list", "text"):
            written = grammar.write(k, read["value"])
            number = isinstance(written, (int, float)) and not isinstance(written, bool)
            again = js_number(written) if number else str(written)
            assert python_reads(k, again) == read, (k.key, text)


def test_the_page_gets_the_table_in_its_catalog_untranslated():
    assert pages.catalog()["links"] == grammar.as_dicts() == pages.catalog("zh-CN")["links"]
    assert json.loads(json.dumps(grammar.as_dicts())) == grammar.as_dicts()


def test_lang_is_a_display_key_written_only_when_set():
    body = request_from_query(f"{BASE}&lang=zh-CN")
    assert body["lang"] == "zh-CN" and query_from_request(body) == f"{BASE}&lang=zh-CN"
    assert query_from_request(request_from_query(BASE)) == BASE
    body, display = read_state(f"{BASE}&lang=en&view=loss")
    assert display["lang"] == "en" and "lang" not in body
    with pytest.raises(core.InvalidInput, match="unknown language 'fr'; allowed: en, zh-CN"):
        request_from_query(f"{BASE}&lang=fr")


# --- the page beside Python --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def core_limit_server():
    """A server whose steps stop where core's do, so its page and app/state.py hold every row to one limit."""
    server = LiveServer(env={"GRADSCAPE_MAX_STEPS": str(MAX_STEPS)})
    yield server
    server.stop()


@pytest.fixture
def state_page(browser, core_limit_server):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.errors = watch(page)
    page.goto(f"{core_limit_server.url}/?{BASE}&autoplay=0")
    page.wait_for_function("() => window.gradscape")
    yield page
    assert page.errors == []
    context.close()


READ_JS = """async ([rows, cases]) => {
  const { readKey } = await import('/static/js/state.js');
  const catalog = window.gradscape.catalog;
  return cases.map(([i, text]) => readKey(rows[i], text, catalog));
}"""

PARSE_JS = """async ([links, rows]) => {
  const { Catalog, parse, serialize } = await import('/static/js/state.js');
  const catalog = rows ? new Catalog({ ...window.gradscape.catalog.raw, links: rows }) : window.gradscape.catalog;
  return links.map((link) => {
    const { state, warnings } = parse(link, catalog);
    return { query: serialize(state, catalog), warnings, state: JSON.parse(JSON.stringify(state)) };
  });
}"""


@in_browser
def test_the_page_reads_each_rows_texts_as_python_does(state_page):
    rows = [k for k in grammar.KEYS if readable(k)]
    cases = [(i, text) for i, k in enumerate(rows) for text in texts(k)]
    page_says = state_page.evaluate(READ_JS, [[k.as_dict() for k in rows], cases])
    for (i, text), said in zip(cases, page_says):
        assert said == python_reads(rows[i], text), (rows[i].key, text)


def page_and_python_agree(said: dict, link: str, base: str) -> None:
    python = python_link(link)
    if "query" in python:
        assert said["warnings"] == [] and said["query"] == python["query"], link
    else:
        # The bad value is named in Python's words and only its key falls back: the rest of the link stays.
        assert python["reason"] in said["warnings"], (link, said["warnings"])
        assert said["query"] == python_link(base)["query"] and "NaN" not in said["query"], link


@in_browser
def test_a_link_with_each_rows_texts_opens_in_the_page_as_python_reads_it(state_page):
    rows = [k for k in grammar.KEYS if k.plain or k.part == "explore"]
    links = [(link_with(k, text), link_with(k, "").rsplit("&", 1)[0]) for k in rows for text in texts(k)]
    said = state_page.evaluate(PARSE_JS, [[link for link, _ in links], None])
    for (link, base), one in zip(links, said):
        page_and_python_agree(one, link, base)


@in_browser
def test_a_bad_value_leaves_the_address_with_the_rest_of_the_link_and_no_nan(state_page):
    state_page.goto(f"{state_page.url.split('?')[0]}?{BASE}&steps=abc&speed=-1&lang=fr&autoplay=maybe&loop=1")
    state_page.wait_for_function("() => new URLSearchParams(location.search).get('loop') === '1'")
    query = state_page.evaluate("location.search.slice(1)")
    assert query == query_from_request(request_from_query(f"{BASE}&loop=1")) and "NaN" not in query
    alert = state_page.locator("#alert").inner_text()
    for reason in ("'abc' is not a number", "speed = -1 must be more than 0", "unknown language 'fr'"):
        assert reason in alert


NEW_ROWS = (
    LinkKey("demo.n", "int", "display", default=0, low=0, high=9),
    LinkKey("demo.on", "bool", "display", default=False),
    LinkKey("demo.k", "number", "display", default=1.0, low=0.5, high=2.0),
    LinkKey("demo.pick", "enum", "map", choices=("a", "b"), noun="pick"),
    LinkKey("demo.note", "text", "map", max_length=5),
)


@in_browser
def test_a_new_row_is_read_and_written_by_both_without_another_edit(state_page, monkeypatch):
    monkeypatch.setattr(grammar, "KEYS", (*grammar.KEYS, *NEW_ROWS))
    links = [f"{BASE}&demo.note=hello%20world&demo.pick=b&demo.k=1.5&demo.on=1&demo.n=3", BASE]
    links += [link_with(k, text) for k in NEW_ROWS for text in texts(k)]
    said = state_page.evaluate(PARSE_JS, [links, grammar.as_dicts()])
    python = request_from_query(links[0])
    assert [python[k.key] for k in NEW_ROWS] == [3, True, 1.5, "b", "hello"]
    assert [said[0]["state"][k.key] for k in NEW_ROWS] == [3, True, 1.5, "b", "hello"]
    # Written in the table's order, after every key before them.
    written = f"{BASE}&demo.n=3&demo.on=1&demo.k=1.5&demo.pick=b&demo.note=hello"
    assert said[0]["query"] == query_from_request(python) == written
    assert "demo.n" in read_state(links[0])[1]  # a display key of the export's too
    for link, one in zip(links[1:], said[1:]):
        page_and_python_agree(one, link, BASE)


def test_the_page_names_no_key_the_table_holds():
    """state.js reads and writes the display and map keys by the table alone: none is spelled out there."""
    source = (ROOT / "static/js/state.js").read_text(encoding="utf-8")
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("//", "*", "/**")))
    for k in grammar.KEYS:
        if k.part in ("display", "map"):
            assert not re.search(rf"""["'`]{re.escape(k.key)}["'`]|\.{re.escape(k.key)}\b""", code), k.key



@in_browser
def test_lang_stays_in_the_address_the_share_link_and_the_embed_snippet(state_page):
    state_page.goto(f"{state_page.url.split('?')[0]}?{BASE}&lang=zh-CN&autoplay=0")
    state_page.wait_for_function("() => document.getElementById('embed-snippet').value.includes('lang=zh-CN')")
    query = query_from_request(request_from_query(f"{BASE}&lang=zh-CN&autoplay=0"))
    assert state_page.evaluate("location.search.slice(1)") == query
    assert state_page.locator("#share-url").input_value().endswith(f"/?{query}")
    assert "lang=zh-CN" in state_page.locator("#embed-snippet").input_value()
