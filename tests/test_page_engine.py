"""The page's engine against the server's, in Chromium: every scalar optimizer on every surface the page
takes, typed formulas, and the page computing a dragged slider's runs without asking the server.

The tolerance, and why. The generated kernels perform the same IEEE float64 operations in the same
order as the numba kernels (the translator keeps every parenthesis, and numba contracts no a * b + c
into an fma), and sqrt is correctly rounded on both sides. So wherever no libm function is called
(no exp, log, pow, sin, cos in the optimizer, the surface or the schedule) the page's points are the
server's to the bit, and `test_same_bits_without_libm` asks for equality: it would catch a single
reordered addition. Where libm is called, glibc (under numba) and V8 (in Chromium) may round the same
call differently in the last bit; a run that contracts keeps such differences near the ulp, so every
point must agree to 1e-9 relative (|a - b| <= 1e-9 * max(1, |b|)), the bound the server's kernels
are held to against torch. A chaotic run (Rastrigin at lr 0.01, whose curvature ~400 makes every step
expand errors about fourfold) amplifies a last-bit difference to the size of the domain within a few
dozen steps; there no two libms could agree, and the server does not even agree with itself started
one ulp away. Such a run is compared for as long as float64 still determines it: the steps over which
the server's own run and its run from a start one ulp away stay within 1e-12 of each other.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import numpy as np
import pytest

import core
from app import jsgen
from app.state import request_from_query
from browser_helpers import BROWSER_MARKS, VIEWPORT, drawn_count, wait_drawn, watch
from core.formula import custom_surface, resolve_domain

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = BROWSER_MARKS

GENERATED = jsgen.generate()
SCALAR = [o for o in core.OPTIMIZERS.values() if o.id in GENERATED.optimizers]
SURFACES = [s for s in core.SURFACES.values() if s.id in GENERATED.surfaces]
STEPS = 500
COSINE = {"name": "cosine", "t_max": 400, "eta_min": 0.0, "warmup_steps": 10}
WARMUP = {"name": "constant", "warmup_steps": 10}
RTOL = 1e-9
# Formulas over every function and operator of the language, beside the page's examples.
FORMULAS = [
    ("(x^2 + y - 11)^2 + (x + y^2 - 7)^2", [-5, 5, -5, 5]),
    ("-2*exp(-((x - 1)^2 + y^2)) - exp(-((x + 1.5)^2 + (y - 1)^2)) + 0.05*(x^2 + y^2)", [-4, 4, -3, 3]),
    ("0.1*(x^2 + y^2) - cos(3*sqrt(x^2 + y^2 + 0.01))", [-4, 4, -4, 4]),
    ("log(1 + x^2) + atan2(y, 2) * tanh(y) + abs(x - y)/4 + min(x, 1)^2 + max(y, -1)^2", [-3, 3, -3, 3]),
    ("sinh(x/3)^2 + cosh(y/3) + sin(x)*tan(y/4) + atan(x) + asin(y/8) - acos(x/8) + log10(2 + y^2)", [-3, 3, -3, 3]),
    ("(1 + x^2)^(1 + y^2/10) + 2^(y/3) + 3/(2 + x^2) + (x - 1)/4 - y*2", [-2, 2, -2, 2]),
]
FORMULA_OPTIMIZERS = ["sgd", "momentum", "adam", "rmsprop", "nadam", "rprop"]

RUN_JS = """async (cases) => {
  const engine = await import("/static/js/engine.js");
  const tapes = new Map();
  const out = [];
  for (const c of cases) {
    let P = Float64Array.from(c.P ?? [0]);
    if (c.formula) {
      const q = new URLSearchParams({ f: c.formula, domain: c.domain.join(","), resolution: "2" });
      if (!tapes.has(c.formula)) tapes.set(c.formula, (await (await fetch(`/api/grid?${q}`)).json()).tape);
      P = Float64Array.from(tapes.get(c.formula));
    }
    const r = engine.trajectory({ ...c, P, optimizer: { id: c.optimizer } });
    out.push({ points: r.xs.map((x, i) => [x, r.ys[i]]), losses: r.losses, lr: r.lr,
      gradients: r.gx.map((x, i) => [x, r.gy[i]]), effective_lr: r.effx.map((x, i) => [x, r.effy[i]]),
      state: Object.fromEntries(Object.entries(r.state).map(([k, v]) => [k, v.x.map((x, i) => [x, v.y[i]])])),
      step_size: r.stepSize, diverged_at: r.diverged_at });
  }
  // As text: Playwright's own serialization of nested arrays is slow, and JSON's shortest decimals
  // read back as the same doubles.
  return JSON.stringify(out);
}"""


@pytest.fixture(scope="module")
def page(browser, live_server):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.errors = watch(page)
    page.base = live_server.url
    page.goto(f"{live_server.url}/?opt=sgd&autoplay=0")
    wait_drawn(page, "data")
    yield page
    assert not page.errors
    context.close()


def in_page(page, cases: list[dict]) -> list[dict]:
    return json.loads(page.evaluate(RUN_JS, cases))


def case(optimizer, surface, schedule, start=None, hp=None) -> dict:
    spec = core.SURFACES[surface]
    return {"optimizer": optimizer, "surface": surface, "P": [h.default for h in spec.params] or [0.0],
            "hp": {h.name: h.default for h in core.OPTIMIZERS[optimizer].hyperparameters} | (hp or {}),
            "start": list(start or spec.start), "steps": STEPS, "schedule": schedule}


def fields_of(t: core.Trajectory) -> dict:
    out = {name: getattr(t, name) for name in ("points", "losses", "lr", "gradients", "effective_lr")}
    out.update({f"state.{k}": v for k, v in t.state.items()})
    if t.step_size is not None:
        out["step_size"] = t.step_size
    return out


def page_fields(r: dict) -> dict:
    out = {name: np.array(r[name], dtype=float) for name in ("points", "losses", "lr", "gradients", "effective_lr")}
    out.update({f"state.{k}": np.array(v, dtype=float) for k, v in r["state"].items()})
    if r["step_size"] is not None:
        out["step_size"] = np.array(r["step_size"], dtype=float)
    return out


def determined_steps(surface, optimizer, start, hp, schedule, reference: core.Trajectory) -> int:
    """The points over which the server's run and its run from a start one ulp away agree to 1e-12."""
    nudged = [np.nextafter(start[0], np.inf), start[1]]
    other = core.trajectory(surface, optimizer, nudged, STEPS, hp, schedule).points
    a = reference.points
    n = min(len(a), len(other))
    apart = np.abs(a[:n] - other[:n]).max(axis=1) > 1e-12 * np.maximum(1.0, np.abs(a[:n]).max(axis=1))
    return int(np.argmax(apart)) if apart.any() else n


def assert_close(server: core.Trajectory, browser: dict, points: int | None = None, where: str = ""):
    ours, theirs = fields_of(server), page_fields(browser)
    assert set(theirs) == set(ours), where
    if points is None:
        assert browser["diverged_at"] == server.diverged_at, where
    for name, ref in ours.items():
        got = theirs[name]
        n = len(ref) if points is None else min(points, len(ref), len(got))
        if points is None:
            assert got.shape == ref.shape, f"{where} {name}: {got.shape} != {ref.shape}"
        err = np.abs(got[:n] - ref[:n]) / np.maximum(1.0, np.abs(ref[:n]))
        worst = float(err.max()) if err.size else 0.0
        assert worst <= RTOL, f"{where} {name}: relative difference {worst:.3g} at {np.unravel_index(err.argmax(), err.shape)}"


@pytest.mark.parametrize("optimizer", [o.id for o in SCALAR])
def test_every_surface_within_the_tolerance(page, optimizer):
    cases = [case(optimizer, s.id, COSINE) for s in SURFACES]
    for c, r in zip(cases, in_page(page, cases)):
        server = core.trajectory(c["surface"], optimizer, c["start"], STEPS, c["hp"], COSINE)
        n = determined_steps(c["surface"], optimizer, c["start"], c["hp"], COSINE, server)
        assert_close(server, r, None if n == len(server.points) else n, f"{optimizer} on {c['surface']}")


@pytest.mark.parametrize("optimizer", [o.id for o in SCALAR if not GENERATED.libm[GENERATED.optimizers[o.id]]])
def test_same_bits_without_libm(page, optimizer):
    plain = [s for s in SURFACES if not GENERATED.libm[GENERATED.surfaces[s.id]]]
    assert len(plain) >= 8
    cases = [case(optimizer, s.id, WARMUP) for s in plain]
    for c, r in zip(cases, in_page(page, cases)):
        server = core.trajectory(c["surface"], optimizer, c["start"], STEPS, c["hp"], WARMUP)
        for name, ref in fields_of(server).items():
            assert np.array_equal(page_fields(r)[name], ref), f"{optimizer} on {c['surface']}: {name} differs"
        assert r["diverged_at"] == server.diverged_at


def test_runs_that_leave_finite_numbers_end_where_the_servers_do(page):
    # Too large a step overflows: on Rosenbrock's quartic walls, on the monkey saddle's cubic slope.
    cases = [case("sgd", "rosenbrock", WARMUP, hp={"lr": 0.05}), case("momentum", "monkey_saddle", WARMUP, hp={"lr": 0.5}),
             case("momentum", "goldstein_price", WARMUP, hp={"lr": 0.1})]
    for c, r in zip(cases, in_page(page, cases)):
        server = core.trajectory(c["surface"], c["optimizer"], c["start"], STEPS, c["hp"], WARMUP)
        assert server.diverged_at is not None
        assert_close(server, r, where=f"{c['optimizer']} on {c['surface']}")


@pytest.mark.parametrize("schedule", [
    {"name": "step", "step_size": 37, "gamma": 0.7, "warmup_steps": 0},
    {"name": "exponential", "gamma": 0.995, "warmup_steps": 25},
    {"name": "cosine", "t_max": 123, "eta_min": 1e-4, "warmup_steps": 0},
], ids=lambda s: s["name"])
def test_every_schedule(page, schedule):
    cases = [case(o, "quadratic", schedule, hp={"lr": 0.05}) for o in ("sgd", "adam", "swats", "asgd")]
    for c, r in zip(cases, in_page(page, cases)):
        assert_close(core.trajectory("quadratic", c["optimizer"], c["start"], STEPS, c["hp"], schedule), r,
                     where=c["optimizer"])


@pytest.mark.parametrize("text, domain", FORMULAS, ids=[f"formula{i}" for i in range(len(FORMULAS))])
def test_typed_formulas_from_the_servers_tape(page, text, domain):
    spec = custom_surface(text, resolve_domain(domain))
    cases = [{"optimizer": o, "surface": "custom", "formula": text, "domain": domain,
              "hp": {h.name: h.default for h in core.OPTIMIZERS[o].hyperparameters} | {"lr": 0.01},
              "start": list(spec.start), "steps": STEPS, "schedule": COSINE} for o in FORMULA_OPTIMIZERS]
    for c, r in zip(cases, in_page(page, cases)):
        surface = {"formula": text, "domain": domain}
        server = core.trajectory(surface, c["optimizer"], c["start"], STEPS, c["hp"], COSINE)
        n = determined_steps(surface, c["optimizer"], c["start"], c["hp"], COSINE, server)
        assert n > 50, f"{c['optimizer']}: the test's run is chaotic from step {n}; choose a calmer one"
        assert_close(server, r, None if n == len(server.points) else n, f"{c['optimizer']} on {text}")


def test_pythons_meanings_where_javascripts_differ(page):
    got = page.evaluate("""async () => {
      const rt = await import("/static/js/runtime.js");
      return [rt.min(NaN, 1), rt.min(1, NaN), rt.max(NaN, 1), rt.max(1, NaN), rt.pow(1, NaN), rt.pow(-1, Infinity),
              rt.pow(2, 0.5), rt.mod(-1, 3), rt.mod(7, 3), rt.truth(NaN), rt.truth(0), rt.truth(false),
              Object.is(rt.sign(-0), -0), rt.sign(NaN)];
    }""")
    nan = float("nan")
    # Python's (and numba's) min, max, pow, % and truth on the same numbers.
    want = [min(nan, 1), min(1, nan), max(nan, 1), max(1, nan), 1.0 ** nan, (-1.0) ** float("inf"),
            2 ** 0.5, -1 % 3, 7 % 3, bool(nan), bool(0), False, True, nan]
    def same(values):
        return [v if isinstance(v, bool) else repr(float(v)) for v in values]

    assert same(got) == same(want)


# --- the page itself ------------------------------------------------------------------------

LINK = "surface=beale&start=0.7,1.4&steps=500&opt=sgd,momentum,adam,sam&sgd.lr=0.01&momentum.lr=0.01&adam.lr=0.05&autoplay=0"


def api_requests(page) -> list[str]:
    return page.evaluate("performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('/api/'))")


def test_the_pages_runs_are_the_servers_and_it_says_which_the_server_computed(browser, live_server):
    page = browser.new_page(viewport=VIEWPORT)
    errors = watch(page)
    page.goto(f"{live_server.url}/?{LINK}")
    wait_drawn(page, "data")
    runs = page.evaluate("window.gradscape.scene.runs.map((r) => ({ optimizer: r.optimizer, engine: r.engine, "
                         "points: r.xs.map((x, i) => [x, r.ys[i]]), losses: r.losses }))")
    assert [r["engine"] for r in runs] == ["page", "page", "page", "server"]
    request = request_from_query(LINK)
    for r, spec in zip(runs, request["runs"]):
        server = core.trajectory(request["surface"], spec["optimizer"], request["start"], request["steps"],
                                 spec["hyperparameters"], request["schedule"])
        assert np.array_equal(np.array(r["points"]), server.points), r["optimizer"]
        assert np.array_equal(np.array(r["losses"]), server.losses), r["optimizer"]
    note = page.locator("#engine-note")
    assert note.is_visible()
    assert note.inner_text().startswith("Computed by the server: SAM (steps the whole parameter vector")
    assert not errors
    page.close()


def test_a_dragged_slider_is_computed_in_the_page(browser, live_server):
    page = browser.new_page(viewport=VIEWPORT)
    errors = watch(page)
    page.goto(f"{live_server.url}/?{LINK.replace(',sam', '')}")
    wait_drawn(page, "data")
    before = api_requests(page)
    page.get_by_role("button", name="Adam hyperparameters", exact=True).click()
    slider = page.locator('input[type="range"][data-key="adam.lr"]')
    for position in (300, 420, 510):
        n = drawn_count(page, "data")
        slider.evaluate("(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input', { bubbles: true })); }",
                        position)
        wait_drawn(page, "data", n)
    assert api_requests(page) == before, "a slider move asked the server"
    assert page.locator("#engine-note").is_hidden()
    lr = page.evaluate("window.gradscape.scene.s.hp.adam.lr")
    adam = page.evaluate("window.gradscape.scene.runs.find((r) => r.optimizer === 'adam').xs")
    server = core.trajectory("beale", "adam", (0.7, 1.4), 500, {"lr": lr})
    assert np.array_equal(np.array(adam), server.points[:, 0])
    assert not errors
    page.close()


@pytest.mark.parametrize("key", ["surface.kappa", "surface.angle", "steps", "adam.beta1"])
def test_the_surfaces_own_sliders_and_the_steps_need_no_request_either(browser, live_server, key):
    # The contour of a built-in surface is computed in the page too, so a surface parameter redraws without the server.
    page = browser.new_page(viewport=VIEWPORT)
    errors = watch(page)
    page.goto(f"{live_server.url}/?surface=rotated_quadratic&steps=300&opt=adam,momentum&adam.lr=0.05&momentum.lr=0.02"
              "&autoplay=0")
    wait_drawn(page, "data")
    before = api_requests(page)
    # Each surface has sliders of its own: the shown surface's are the ones named after it.
    slider = (page.get_by_role("slider", name=f"Rotated ill-conditioned quadratic {key.split('.')[1]}", exact=True)
              if key.startswith("surface.") else page.locator(f'input[type="range"][data-key="{key}"]'))
    for position in (400, 600):  # kappa 10, the default, sits at 250
        n = drawn_count(page, "data")
        slider.evaluate("(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input', { bubbles: true })); }",
                        position)
        wait_drawn(page, "data", n)
    assert api_requests(page) == before, f"moving {key} asked the server"
    s = page.evaluate("window.gradscape.scene.s")
    surface = {"name": "rotated_quadratic", **s["surfaceParams"]}
    runs = page.evaluate("window.gradscape.scene.runs.map((r) => [r.optimizer, r.xs, r.ys])")
    for optimizer, xs, ys in runs:
        server = core.trajectory(surface, optimizer, s["start"], s["steps"], s["hp"].get(optimizer, {}))
        got = np.stack([xs, ys], axis=1)
        assert got.shape == server.points.shape
        assert np.abs(got - server.points).max() <= RTOL * max(1.0, np.abs(server.points).max()), optimizer
    zmin = page.evaluate("window.gradscape.scene.surface.grid.z_min")
    _, _, z = core.surface_grid(surface)
    assert zmin == pytest.approx(float(z.min()), rel=1e-12)
    assert not errors
    page.close()


def test_a_typed_formula_runs_in_the_page_from_the_servers_tape(browser, live_server):
    page = browser.new_page(viewport=VIEWPORT)
    errors = watch(page)
    text = "x^2 + 3*y^2 + sin(x)"
    page.goto(f"{live_server.url}/?surface=custom&f={quote(text)}&domain=-3,3,-3,3&start=2,1&steps=300&opt=adam,momentum"
              "&adam.lr=0.05&momentum.lr=0.01&autoplay=0")
    wait_drawn(page, "data")
    runs = page.evaluate("window.gradscape.scene.runs.map((r) => [r.optimizer, r.engine, r.xs, r.ys])")
    for optimizer, engine, xs, ys in runs:
        assert engine == "page"
        hp = {"lr": 0.05 if optimizer == "adam" else 0.01}
        server = core.trajectory({"formula": text, "domain": [-3, 3, -3, 3]}, optimizer, (2, 1), 300, hp)
        got = np.stack([xs, ys], axis=1)
        assert np.abs(got - server.points).max() <= RTOL * max(1.0, np.abs(server.points).max())
    assert not errors
    page.close()


@pytest.mark.parametrize("link, server_reason", [
    ("surface=regression&opt=adam&autoplay=0", "minibatches"),
    ("surface=booth&opt=adam&noise=0.5&autoplay=0", "gradient noise"),
])
def test_what_numpy_draws_comes_from_the_server(browser, live_server, link, server_reason):
    page = browser.new_page(viewport=VIEWPORT)
    errors = watch(page)
    page.goto(f"{live_server.url}/?{link}")
    wait_drawn(page, "data")
    assert page.evaluate("window.gradscape.scene.runs.map((r) => r.engine)") == ["server"]
    assert server_reason in page.locator("#engine-note").inner_text()
    assert not errors
    page.close()


def test_a_value_out_of_range_is_named_with_its_limit_in_the_servers_words(browser, live_server):
    # The page checks the same ranges as app/state.py, and says what is wrong as its 422 would.
    page = browser.new_page(viewport=VIEWPORT)
    watch(page)
    page.goto(f"{live_server.url}/?surface=rosenbrock&opt=adam&adam.beta1=2&autoplay=0")
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible")
    with pytest.raises(core.InvalidInput) as server:
        request_from_query("surface=rosenbrock&opt=adam&adam.beta1=2")
    assert f"Adam is not drawn: {server.value.reason}" in alert.inner_text()
    assert "adam.beta1 = 2 is outside [0, 0.9999]" in alert.inner_text()
    page.close()


NOTES_JS = """
window.__notes = [];
new MutationObserver(() => {
  const note = document.getElementById("engine-note");
  if (note && note.textContent !== window.__notes.at(-1)) window.__notes.push(note.textContent);
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


def test_a_long_request_is_streamed_from_the_server_and_says_so_while_it_waits(browser, live_server):
    page = browser.new_page(viewport=VIEWPORT)
    errors = watch(page)
    page.add_init_script(NOTES_JS)
    # 6 runs x 50,000 steps is past what the page computes in one go.
    page.goto(f"{live_server.url}/?surface=booth&steps=50000&opt=sgd,momentum,nesterov,adagrad,rmsprop,adam&autoplay=0")
    wait_drawn(page, "data")
    notes = page.evaluate("window.__notes")
    assert notes[0].startswith("Computing on the server: SGD, Momentum, Nesterov, Adagrad, RMSprop and Adam (a long")
    assert notes[-1].startswith("Computed by the server: SGD")
    assert page.evaluate("window.gradscape.scene.runs.map((r) => r.xs.length)") == [50001] * 6
    assert not errors
    page.close()
