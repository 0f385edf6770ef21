"""The optimizer catalog on the page: grouped under the registry's headings, found by a search box,
and the extra points a whole-vector optimizer keeps (SAM's ascent point...) drawn when asked."""

from __future__ import annotations

import numpy as np
import pytest

import core
from browser_helpers import BROWSER_MARKS, PLOT_TRACES_JS, wait_drawn
from core.spec import GROUPS

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = BROWSER_MARKS

SAM = "surface=rosenbrock&start=-1.2,1&steps=60&opt=sam,adam&sam.lr=0.002&sam.rho=0.1&autoplay=0"


def open_page(page, query):
    page.goto(f"{page.base}/?{query}")
    wait_drawn(page)


def test_optimizers_are_grouped_under_the_registry_headings_in_order(page):
    open_page(page, SAM)
    groups = page.eval_on_selector_all(".opt-group", "els => els.map(g => [g.dataset.group, g.querySelector('h3').textContent, [...g.querySelectorAll('li.opt')].map(li => li.dataset.opt)])")
    expected = [g for g in GROUPS if any(o.group == g for o in core.OPTIMIZERS.values())]
    assert [g[0] for g in groups] == expected
    for gid, title, ids in groups:
        assert title == GROUPS[gid]
        assert ids == [o.id for o in core.OPTIMIZERS.values() if o.group == gid]
    assert page.errors == []


def test_the_search_box_finds_optimizers_by_name_help_or_group_and_escape_clears_it(page):
    open_page(page, SAM)
    box = page.locator("#opt-search")
    visible = lambda: page.eval_on_selector_all("li.opt", "els => els.filter(li => !li.hidden && !li.closest('.opt-group').hidden).map(li => li.dataset.opt)")
    box.fill("nesterov")
    words = "nesterov"
    expected = {o.id for o in core.OPTIMIZERS.values() if words in f"{o.id} {o.label} {o.help} {GROUPS[o.group]}".lower()}
    assert set(visible()) == expected | {"sam", "adam"}  # ticked ones stay, so they can be unticked
    assert "match" in page.locator("#opt-search-count").inner_text()
    box.fill("second-order")
    assert {o.id for o in core.OPTIMIZERS.values() if o.group == "second-order"} <= set(visible())
    box.fill("zzzz no such thing")
    assert set(visible()) == {"sam", "adam"}
    assert "No optimizer matches" in page.locator("#opt-search-count").inner_text()
    box.press("Escape")
    assert box.input_value() == "" and len(visible()) == len(core.OPTIMIZERS)
    assert page.errors == []


def marks(page):
    return page.evaluate(PLOT_TRACES_JS, "contour-fg")


def test_extra_points_are_drawn_where_the_run_keeps_them_when_asked(page):
    open_page(page, SAM)
    assert not [t for t in marks(page) if t.get("name") == "extra points"]
    page.check('input[data-key="extras"]')
    wait_drawn(page, after=1)
    page.wait_for_function("() => location.search.includes('extras=1')")
    page.keyboard.press("End")
    page.wait_for_timeout(300)
    k = page.evaluate("() => Number(document.getElementById('scrubber').value)")
    extra = [t for t in marks(page) if t.get("name") == "extra points"]
    assert len(extra) == 1
    run = core.trajectory("rosenbrock", "sam", (-1.2, 1.0), 60, {"lr": 0.002, "rho": 0.1})
    np.testing.assert_allclose([extra[0]["x"][0], extra[0]["y"][0]], run.state["ascent"][k - 1], rtol=1e-12)
    assert extra[0]["marker"]["symbol"] == "diamond-open"
    assert page.errors == []


NEW = [s.id for s in core.OPTIMIZERS.values() if s.whole or s.package is not None]


def test_every_modern_optimizer_runs_on_the_page_as_in_the_core(page):
    """The whole-vector kernels and the optimizers matched to other packages, ticked together, drawn as computed."""
    steps = 40
    query = f"surface=beale&start=1,1.5&steps={steps}&opt={','.join(NEW)}&autoplay=0"
    open_page(page, query)
    page.keyboard.press("End")
    page.wait_for_function(f"() => Number(document.getElementById('scrubber').value) === {steps}")
    page.wait_for_timeout(200)
    drawn = {t["name"]: t for t in page.evaluate(PLOT_TRACES_JS, "contour-fg") if t.get("mode") == "lines"}
    (x0, x1), (y0, y1) = core.SURFACES["beale"].domain
    for opt in NEW:
        spec = core.OPTIMIZERS[opt]
        run = core.trajectory("beale", opt, (1.0, 1.5), steps)
        line = drawn.get(spec.label)
        assert line is not None, f"{opt} is not drawn (lines: {sorted(drawn)})"
        inside = np.all((run.points >= (x0, y0)) & (run.points <= (x1, y1)), axis=1)
        n = int(np.argmin(inside)) if not inside.all() else len(run.points)
        assert len(line["x"]) >= n > 1, opt
        np.testing.assert_allclose(np.c_[line["x"], line["y"]][:n], run.points[:n], rtol=1e-12, atol=1e-12, err_msg=opt)
    assert page.errors == []
