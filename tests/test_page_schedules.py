"""A run's own learning-rate schedule on the page: read from a link, chosen in the run's ⚙ panel, written
back to the address, and drawn as the core computes it."""

from __future__ import annotations

from urllib.parse import parse_qsl

import numpy as np
import pytest

import core
from app.presets import PRESETS
from browser_helpers import BROWSER_MARKS, PLOT_TRACES_JS, wait_drawn

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = BROWSER_MARKS

PRESET = next(p for p in PRESETS if p.id == "schedulefree_no_schedule")
STEPS = 120
QUERY = (f"surface=quadratic&start=-1.8,1&steps={STEPS}&opt=adamw,adam&adamw.lr=0.1&adamw.weight_decay=0"
         f"&adam.lr=0.1&adam.sched=cosine&adam.sched.t_max={STEPS}&sched=step&sched.step_size=40&autoplay=0")


def lines(page) -> dict:
    page.keyboard.press("End")
    page.wait_for_timeout(200)
    return {t["name"]: np.c_[t["x"], t["y"]] for t in page.evaluate(PLOT_TRACES_JS, "contour-fg")
            if t.get("mode") == "lines"}


def query(page) -> dict:
    return dict(parse_qsl(page.evaluate("() => location.search.slice(1)")))


def assert_drawn_as_computed(page, label: str, optimizer: str, hp: dict, schedule: dict | None):
    run = core.trajectory("quadratic", optimizer, (-1.8, 1.0), STEPS, hp, schedule)
    np.testing.assert_allclose(lines(page)[label], run.points, rtol=1e-12, atol=1e-12, err_msg=label)


def open_panel(page, optimizer: str):
    page.click(f'li.opt[data-opt="{optimizer}"] button.tune')
    page.wait_for_selector(f'#hp-{optimizer} select[data-key="{optimizer}.sched"]', state="visible")


def test_a_link_gives_one_run_its_own_schedule_beside_the_shared_one(page):
    page.goto(f"{page.base}/?{QUERY}")
    wait_drawn(page)
    assert_drawn_as_computed(page, "Adam", "adam", {"lr": 0.1}, {"name": "cosine", "t_max": STEPS})
    assert_drawn_as_computed(page, "AdamW", "adamw", {"lr": 0.1, "weight_decay": 0}, {"name": "step", "step_size": 40})
    open_panel(page, "adam")
    assert page.locator('select[data-key="adam.sched"]').input_value() == "cosine"
    assert page.locator('input[type="number"][data-key="adam.sched.t_max"]').input_value() == str(STEPS)
    ids = page.eval_on_selector_all("[data-run] [id]", "els => els.map((e) => e.id)")
    assert len(ids) == len(set(ids)) and all(page.locator(f'[id="{i}"]').count() == 1 for i in ids)
    assert page.locator('[data-run="adam"] [data-run-sched="cosine"]').is_visible()
    assert not page.locator('[data-run="adam"] [data-run-sched="step"]').is_visible()
    assert page.errors == []


def test_the_panel_sets_a_runs_own_schedule_and_its_parameters_and_gives_it_back(page):
    page.goto(f"{page.base}/?{QUERY}")
    wait_drawn(page)
    n = page.evaluate("() => window.__drawn.filter((e) => e.kind === 'data').length")
    open_panel(page, "adamw")
    assert page.locator('select[data-key="adamw.sched"]').input_value() == ""  # the shared one
    page.select_option('select[data-key="adamw.sched"]', "exponential")
    page.wait_for_function("() => location.search.includes('adamw.sched=exponential')")
    wait_drawn(page, after=n)
    assert_drawn_as_computed(page, "AdamW", "adamw", {"lr": 0.1, "weight_decay": 0}, {"name": "exponential"})

    box = page.locator('[data-run-sched="exponential"] input[type="number"][data-key="adamw.sched.gamma"]')
    box.fill("0.9")
    box.press("Enter")
    page.wait_for_function("() => location.search.includes('adamw.sched.gamma=0.9')")
    page.wait_for_function("() => window.__drawn.filter((e) => e.kind === 'data').length > %d" % (n + 1))
    assert_drawn_as_computed(page, "AdamW", "adamw", {"lr": 0.1, "weight_decay": 0},
                             {"name": "exponential", "gamma": 0.9})
    assert query(page)["adamw.sched"] == "exponential" and query(page)["sched"] == "step"

    page.select_option('select[data-key="adamw.sched"]', "")
    page.wait_for_function("() => !location.search.includes('adamw.sched')")
    page.wait_for_function("() => window.__drawn.filter((e) => e.kind === 'data').length > %d" % (n + 2))
    assert_drawn_as_computed(page, "AdamW", "adamw", {"lr": 0.1, "weight_decay": 0}, {"name": "step", "step_size": 40})
    assert page.errors == []


def test_a_typed_parameter_out_of_range_names_the_runs_schedule_and_changes_nothing(page):
    page.goto(f"{page.base}/?{QUERY}")
    wait_drawn(page)
    open_panel(page, "adam")
    before = page.evaluate("() => location.search")
    box = page.locator('input[type="number"][data-key="adam.sched.t_max"]')
    box.fill("0")
    box.press("Enter")
    alert = page.locator(".alert")
    alert.wait_for(state="visible")
    assert "Adam's cosine annealing t_max must be between 1 and 1000000" in alert.inner_text()
    assert page.evaluate("() => location.search") == before
    assert box.input_value() == str(STEPS)


def test_the_schedulefree_preset_opens_with_adams_cosine_decay_and_no_schedule_elsewhere(page):
    page.goto(f"{page.base}/?{PRESET.query}&autoplay=0")
    wait_drawn(page)
    assert query(page) == {**dict(parse_qsl(PRESET.query)), "autoplay": "0"}
    legend = page.locator("#legend").inner_text()
    for name in ("Adam (constant lr)", "Adam (cosine decay)", "Schedule-Free AdamW"):
        assert name in legend
    open_panel(page, "adam")
    assert page.locator('select[data-key="adam.sched"]').input_value() == "cosine"
    open_panel(page, "schedulefree_adamw")
    assert page.locator('select[data-key="schedulefree_adamw.sched"]').input_value() == ""
    assert page.errors == []
