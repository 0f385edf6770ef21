"""The page's generated engine: the module in static/ is the registry's, and the translator refuses with reasons.

The engines' parity, point for point in Chromium, is tests/test_page_engine.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

import core
from app.main import create_app
from app.settings import STATIC, Settings, get_settings
from app import jsgen
from core.formula import CUSTOM

MODULE = STATIC / "js" / "generated" / "kernels.js"


@pytest.fixture(scope="module")
def generated() -> jsgen.Generated:
    return jsgen.generate()


def test_the_checked_in_module_is_the_registrys(generated):
    assert MODULE.read_text() == generated.source, (
        "static/js/generated/kernels.js differs from the registry's kernels: run `python -m app.jsgen "
        "static/js/generated/kernels.js` and commit the result")


def test_the_served_module_is_the_registrys(generated):
    app = create_app()
    settings = Settings(warm_on_startup=False)
    app.dependency_overrides[get_settings] = lambda: settings
    with TestClient(app) as client:
        for path, text in (("/static/js/generated/kernels.js", generated.source),
                           ("/static/js/runtime.js", (STATIC / "js" / "runtime.js").read_text())):
            response = client.get(path)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/javascript")
            assert response.text == text


def test_every_scalar_kernel_and_every_surface_without_numpy_data_is_translated(generated):
    scalar = {o.id for o in core.OPTIMIZERS.values() if not o.whole}
    assert set(generated.optimizers) == scalar
    assert set(generated.refused["optimizers"]) == {o.id for o in core.OPTIMIZERS.values() if o.whole}
    plain = {s.id for s in core.SURFACES.values() if s.prepare is None} | {CUSTOM.id}
    assert set(generated.surfaces) == plain
    assert set(generated.refused["surfaces"]) == {s.id for s in core.SURFACES.values() if s.prepare is not None}
    assert set(generated.source.split("export const SCHEDULES")[1].split("};")[0].split()) >= {
        f"{s}:" for s in core.SCHEDULES}
    for reason in [*generated.refused["optimizers"].values(), *generated.refused["surfaces"].values()]:
        assert len(reason) > 20


def test_the_module_calls_nothing_the_page_forbids(generated):
    # The page's CSP has no 'unsafe-eval': generated code must never need it.
    for word in ("eval(", "new Function", "Function(", "import(", "fetch(", "document", "window"):
        assert word not in generated.source


def test_the_libm_functions_a_kernel_calls_are_known(generated):
    # A kernel free of libm calls gives the server's bits: the parity test holds those to equality.
    assert generated.libm["k_sgd"] == set()
    assert generated.libm["k_adam"] == set()
    assert generated.libm["s_rosenbrock"] == set()
    assert generated.libm["k_nadam"] == {"pow"}
    assert generated.libm["s_rastrigin"] == {"sin", "cos"}
    assert generated.libm["f_cosine"] == {"cos"}


# --- what the translator refuses, and that it says why ------------------------------------

def fma_user(x, g):
    return core.optimizers.fma(x, g, 1.0)


def loops_while(x, g):
    while x > 0.0:
        x = x - g
    return x


def makes_an_array(x, g):
    a = np.zeros(2)
    return a[0] + x


def keeps_a_list(x, g):
    return [x, g]


def reads_a_string(x, g):
    return x if "a" else g


def calls_python(x, g):
    return float(sorted((x, g)))


def test_fma_is_refused_because_javascript_has_none():
    with pytest.raises(jsgen.Refused, match=r"fma_user \(line \d+\): calls fma .*no fused multiply-add"):
        jsgen._Function(fma_user, jsgen._Module(), "k").translate()


@pytest.mark.parametrize("fn, what", [
    (loops_while, "a While statement"),
    (makes_an_array, "the call np.zeros"),
    (keeps_a_list, "a List expression"),
    (reads_a_string, "the constant 'a'"),
    (calls_python, "the call sorted"),
])
def test_whatever_falls_outside_the_whitelist_is_refused_naming_it(fn, what):
    with pytest.raises(jsgen.Refused) as e:
        jsgen._Function(fn, jsgen._Module(), "k").translate()
    assert fn.__name__ in e.value.reason and what in e.value.reason


def test_a_tuple_assignment_reads_every_value_before_writing(generated):
    def swap(x, g):
        x, g = g, x
        return x - g

    text = jsgen._Function(swap, jsgen._Module(), "k").translate()
    # Written one target at a time, `x = g; g = x` would lose x.
    assert text.index("const t2_ = x;") < text.index("x = t1_;") < text.index("g = t2_;")
