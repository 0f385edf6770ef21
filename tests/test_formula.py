"""Typed formulas: the parser, the tape's exact gradients and Hessians, trajectories, landmarks, and hostile input.

Oracles: Python's math for values, mpmath central differences at 40 digits
for gradients and at 50 for Hessians, torch autograd for whole trajectories,
the built-in kernels for the same function typed out.
"""

from __future__ import annotations

import json
import math
import os
import random
import time

import numpy as np
import pytest

import core
from core import formula as F
from core.engine import InvalidInput, _kernel_sources

mpmath = pytest.importorskip("mpmath")

ROSENBROCK = "(1-x)^2 + 100*(y-x^2)^2"
HIMMELBLAU = "(x^2 + y - 11)^2 + (x + y^2 - 7)^2"


def value(text: str, x: float = 0.3, y: float = -0.7) -> float:
    out = np.empty((1, 3))
    F.evaluate(F.compile_tape(F.parse(text)), np.array([[x, y]]), out)
    return float(out[0, 0])


def gradient(text: str, points) -> np.ndarray:
    out = np.empty((len(points), 3))
    with np.errstate(all="ignore"):
        F.evaluate(F.compile_tape(F.parse(text)), np.asarray(points, dtype=float), out)
    return out


# --- the language --------------------------------------------------------------

# Independent of core.formula's table: every function the language documents, by its math.
ORACLE = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos, "atan": math.atan,
    "sinh": math.sinh, "cosh": math.cosh, "tanh": math.tanh, "exp": math.exp, "log": math.log,
    "log10": math.log10, "sqrt": math.sqrt, "abs": abs, "atan2": math.atan2, "min": min, "max": max,
}


@pytest.mark.parametrize("name", F.FUNCTIONS)
def test_every_function_matches_math(name):
    fn = ORACLE[name]
    x, y = 0.3, -0.7
    text = f"{name}(x)" if name not in ("atan2", "min", "max") else f"{name}(x, y)"
    want = fn(x) if name not in ("atan2", "min", "max") else fn(x, y)
    assert value(text, x, y) == pytest.approx(want, rel=1e-15, abs=1e-300)


def test_the_language_is_what_the_docs_list():
    assert set(F.FUNCTIONS) == set(ORACLE)


@pytest.mark.parametrize("text, want", [
    ("2+3*4", 14), ("(2+3)*4", 20), ("2^3^2", 512), ("2**3**2", 512), ("2^3*2", 16), ("-2^2", -4),
    ("(-2)^2", 4), ("2^-1", 0.5), ("-x", -0.3), ("--x", 0.3), ("+x", 0.3), ("8-3-2", 3), ("12/3/2", 2),
    ("2*-3", -6), ("pi", math.pi), ("e", math.e), ("e^1", math.e), ("1e-3*1000", 1), ("1.5E+2", 150),
    (".5", 0.5), ("2.", 2), ("x*y", 0.3 * -0.7), ("x^2", 0.09), ("x**2 + y**2", 0.09 + 0.49),
    ("-x^2", -0.09), ("2^x", 2 ** 0.3), ("x^y", 0.3 ** -0.7), ("sin(pi/2)", 1), ("max(x, y) - min(x, y)", 1.0),
    ("atan2(y, x)", math.atan2(-0.7, 0.3)), ("  x\t+\ny ", -0.4), ("log(e)", 1),
])
def test_precedence_and_associativity(text, want):
    assert value(text) == pytest.approx(want, rel=1e-14)


def test_power_is_right_associative_and_binds_tighter_than_unary_minus():
    # -x^2 is -(x^2); x^-y^2 is x^(-(y^2)); both spellings of power are one operator.
    assert value("-x^2", 3, 0) == -9
    assert value("x^-y^2", 2, 1) == 0.5
    assert value("x**y**2", 2, 3) == value("x^(y^2)", 2, 3) == 512


@pytest.mark.parametrize("text, column, words", [
    ("x + [1]", 5, "unexpected '['"),
    ("os.system(1)", 1, "unknown name 'os'"),
    ("x.real", 2, "unexpected '.'"),
    ("2x", 2, "write '*'"),
    ("sin x", 1, "needs its argument in parentheses"),
    ("(x + y", 7, "ends too soon"),
    ("x + y)", 6, "unexpected ')'"),
    ("atan2(x)", 1, "takes 2 arguments"),
    ("sin(x, y)", 1, "takes 1 argument"),
    ("x +* y", 4, "unexpected '*'"),
    ("x; y", 2, "unexpected ';'"),
    ("1/0", 2, "division by zero"),
    ("log(-1)", 1, "undefined"),
    ("9**9**9", 2, "overflows"),
    ("exp(1000)", 1, "overflows"),
    ("x^1e10", 2, "exponent 1e+10"),
    ("1e999", 1, "too large"),
    ("\u0445^2", 1, "CYRILLIC SMALL LETTER HA"),
    ("x + \uff11", 5, "FULLWIDTH DIGIT ONE"),
])
def test_errors_name_the_column(text, column, words):
    with pytest.raises(F.FormulaError) as e:
        F.parse(text)
    assert e.value.column == column
    assert f"column {column}" in str(e.value) or "characters" in str(e.value)
    assert words in str(e.value)


def test_limits():
    with pytest.raises(F.FormulaError, match="limit is 500"):
        F.parse("x+" * 300 + "x")
    with pytest.raises(F.FormulaError, match="nested more than 32 deep"):
        F.parse("(" * 40 + "x" + ")" * 40)
    with pytest.raises(F.FormulaError, match="nested more than 32 deep"):
        F.parse("-" * 40 + "x")
    with pytest.raises(F.FormulaError, match="nested more than 32 deep"):
        F.parse("x^" * 40 + "x")
    with pytest.raises(F.FormulaError, match="limit is 200"):
        F.parse("+".join(["x"] * 120) + "+" + "+".join(["y"] * 120), max_chars=10_000)
    with pytest.raises(F.FormulaError, match="limit is 5"):
        F.parse("x+y+x+y", max_nodes=5)
    F.parse("(" * 31 + "x" + ")" * 31)  # just within


def test_the_stack_never_overflows_within_the_limits():
    # The deepest stack a formula can need: right-nested binary operations at the depth limit.
    text = "x+(" * 15 + "x" + ")" * 15
    assert value(text, 1, 0) == 16
    tree = F.parse("x*(" * 31 + "x" + ")" * 31)
    ops: list = []
    assert F._emit(tree, ops) <= F.MAX_STACK


# --- exact gradients -----------------------------------------------------------

def random_formula(rng: random.Random, depth: int):
    """(text, evaluator) of a random formula defined and smooth around [-2, 2]^2; the evaluator
    takes (x, y, namespace) so mpmath and torch evaluate the same tree."""
    if depth == 0 or rng.random() < 0.2:
        choice = rng.choice(["x", "y", "c", "pi", "e"])
        if choice == "c":
            c = round(rng.uniform(-3, 3), 3)
            return f"({c})" if c < 0 else f"{c}", lambda x, y, m, c=c: m.const(c)
        if choice in ("pi", "e"):
            return choice, lambda x, y, m, v={"pi": math.pi, "e": math.e}[choice]: m.const(v)
        return choice, (lambda x, y, m: x) if choice == "x" else (lambda x, y, m: y)
    a, fa = random_formula(rng, depth - 1)
    b, fb = random_formula(rng, depth - 1)
    kind = rng.choice(["+", "-", "*", "/", "^", "^c", "unary", "unary", "binary"])
    if kind in "+-*":
        op = {"+": lambda u, v: u + v, "-": lambda u, v: u - v, "*": lambda u, v: u * v}[kind]
        return f"({a}) {kind} ({b})", lambda x, y, m: op(fa(x, y, m), fb(x, y, m))
    if kind == "/":
        return f"({a}) / (1.5 + ({b})^2)", lambda x, y, m: fa(x, y, m) / (1.5 + fb(x, y, m) ** 2)
    if kind == "^":
        return f"1.3^(tanh({b}))", lambda x, y, m: m.const(1.3) ** m.tanh(fb(x, y, m))
    if kind == "^c":
        n = rng.choice([2, 3, 0.5, -1, 1.5])
        if n in (0.5, -1, 1.5):
            return f"(1 + ({a})^2)^{n}" if n > 0 else f"(1 + ({a})^2)^({n})", \
                lambda x, y, m: (1 + fa(x, y, m) ** 2) ** m.const(n)
        return f"({a})^{n}", lambda x, y, m: fa(x, y, m) ** n
    if kind == "unary":
        name = rng.choice([n for n in F.UNARY if n != "abs"] + ["abs"])
        wrap = {  # keep every argument inside the function's domain
            "asin": ("0.9*tanh({})", lambda u, m: 0.9 * m.tanh(u)), "acos": ("0.9*tanh({})", lambda u, m: 0.9 * m.tanh(u)),
            "tan": ("tanh({})", lambda u, m: m.tanh(u)), "sinh": ("tanh({})", lambda u, m: m.tanh(u)),
            "cosh": ("tanh({})", lambda u, m: m.tanh(u)), "exp": ("tanh({})", lambda u, m: m.tanh(u)),
            "log": ("1.5 + ({})^2", lambda u, m: 1.5 + u ** 2), "log10": ("1.5 + ({})^2", lambda u, m: 1.5 + u ** 2),
            "sqrt": ("0.5 + ({})^2", lambda u, m: 0.5 + u ** 2), "abs": ("{} + 0.25", lambda u, m: u + 0.25),
        }.get(name, ("{}", lambda u, m: u))
        return f"{name}({wrap[0].format(a)})", lambda x, y, m: getattr(m, name)(wrap[1](fa(x, y, m), m))
    name = rng.choice(["atan2", "min", "max"])
    if name == "atan2":
        return f"atan2({a}, 2 + ({b})^2)", lambda x, y, m: m.atan2(fa(x, y, m), 2 + fb(x, y, m) ** 2)
    return f"{name}({a}, {b})", lambda x, y, m: getattr(m, name)(fa(x, y, m), fb(x, y, m))


class MP:
    """mpmath under the formula language's names."""

    const = staticmethod(lambda v: mpmath.mpf(v))
    tanh = staticmethod(mpmath.tanh)
    log10 = staticmethod(lambda u: mpmath.log(u, 10))
    abs = staticmethod(abs)
    min = staticmethod(min)
    max = staticmethod(max)

    def __getattr__(self, name):
        return getattr(mpmath, name)


@pytest.mark.parametrize("seed", range(40))
def test_gradient_matches_40_digit_central_differences(seed):
    rng = random.Random(seed)
    text, fn = random_formula(rng, 4)
    pts = np.array([[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(8)])
    got = gradient(text, pts)
    m = MP()
    with mpmath.workdps(40):
        h = mpmath.mpf("1e-15")
        for (x, y), (f, gx, gy) in zip(pts, got):
            X, Y = mpmath.mpf(float(x)), mpmath.mpf(float(y))
            want_f = fn(X, Y, m)
            want_gx = (fn(X + h, Y, m) - fn(X - h, Y, m)) / (2 * h)
            want_gy = (fn(X, Y + h, m) - fn(X, Y - h, m)) / (2 * h)
            scale = 1 + abs(float(want_f))
            assert f == pytest.approx(float(want_f), rel=1e-12, abs=1e-12 * scale), text
            gscale = 1 + abs(float(want_gx)) + abs(float(want_gy))
            assert gx == pytest.approx(float(want_gx), abs=1e-10 * gscale), text
            assert gy == pytest.approx(float(want_gy), abs=1e-10 * gscale), text


def test_subgradients_of_abs_min_max_at_their_kinks():
    # sign(0) = 0 for abs; the first argument's derivative at a tie of min and max.
    assert gradient("abs(x)", [[0.0, 0.0]])[0, 1:].tolist() == [0.0, 0.0]
    assert gradient("min(x, 2*y)", [[0.0, 0.0]])[0, 1:].tolist() == [1.0, 0.0]
    assert gradient("max(2*y, x)", [[0.0, 0.0]])[0, 1:].tolist() == [0.0, 2.0]
    assert gradient("abs(x) + min(x, y)", [[-1.0, 2.0]])[0, 1:].tolist() == [0.0, 0.0]


# --- exact Hessians ------------------------------------------------------------

def hessian(text: str, points) -> np.ndarray:
    tape = F.compile_tape(F.parse(text))
    with np.errstate(all="ignore"):
        return np.array([F.formula_hessian(float(x), float(y), tape) for x, y in points])


MP_NAMES = {
    "sin": mpmath.sin, "cos": mpmath.cos, "tan": mpmath.tan, "asin": mpmath.asin, "acos": mpmath.acos,
    "atan": mpmath.atan, "sinh": mpmath.sinh, "cosh": mpmath.cosh, "tanh": mpmath.tanh, "exp": mpmath.exp,
    "log": mpmath.log, "log10": lambda u: mpmath.log(u, 10), "sqrt": mpmath.sqrt, "abs": abs,
    "atan2": mpmath.atan2, "min": min, "max": max,
}


def mp_function(text: str):
    """The formula as an mpmath function of (x, y): our own test strings, read by Python.

    Python's ** has the grammar's precedence (above unary minus, right-associative); pi and e
    are the doubles the parser folds, so both sides compute the same function.
    """
    code = compile(text.replace("^", "**"), "<formula>", "eval")
    names = {**MP_NAMES, "pi": mpmath.mpf(math.pi), "e": mpmath.mpf(math.e)}
    return lambda x, y: eval(code, {"__builtins__": {}}, {**names, "x": x, "y": y})


def mp_hessian(fn, x: float, y: float) -> np.ndarray:
    """(fxx, fxy, fyy) by central second differences at 50 digits: with h = 1e-12 the truncation
    (~h^2 |d^4 f|) and rounding (~1e-50 |f| / h^2) errors are far below double precision."""
    with mpmath.workdps(50):
        X, Y, h = mpmath.mpf(float(x)), mpmath.mpf(float(y)), mpmath.mpf("1e-12")
        f0 = fn(X, Y)
        fxx = (fn(X + h, Y) - 2 * f0 + fn(X - h, Y)) / h**2
        fyy = (fn(X, Y + h) - 2 * f0 + fn(X, Y - h)) / h**2
        fxy = (fn(X + h, Y + h) - fn(X + h, Y - h) - fn(X - h, Y + h) + fn(X - h, Y - h)) / (4 * h**2)
        return np.array([float(fxx), float(fxy), float(fyy)])


INNER = "(0.5*x*y + 0.3*x - 0.2*y)"  # a nonlinear argument, so every chain-rule term counts
IN_DOMAIN = {"asin": "(0.4*x*y + 0.3*x)", "acos": "(0.4*x*y + 0.3*x)",
             "log": "(2 + x*y + 0.5*x)", "log10": "(2 + x*y + 0.5*x)", "sqrt": "(2 + x*y + 0.5*x)"}
BINARY_FORMS = {
    "atan2": ["atan2(x*y + 0.5, 1 + x^2)", "atan2(1, 2 + x*y)"],
    "min": ["min(x^2, y^3 + x)", "min(x*y, 0.1)"],
    "max": ["max(x*y, x - y)", "max(0.1, x^2*y)"],
}
OPERATOR_FORMS = {
    # each operator between two functions of x and y, with a constant on the right and on the left
    op: [f"(x*y + x^2) {op} (2 + y^2 - x)", f"(x*y + x^2) {op} 3", f"3 {op} (2 + x*y + x^2)"]
    for op in F.OPERATORS
} | {
    "^": ["(2 + x*y)^(x - y)", "2^(x*y)", "(x + x*y)^2", "(2 + x*y)^1.5", "(x*y)^1 + x^2", "(x*y)^3",
          "(1.5 + x)^(y - y + 3)"],  # the last exponent is fixed but not a constant: POW without its log terms
    "neg": ["-(x*y^2)"],
}
GRAMMAR = [
    *[pytest.param(f"{name}({IN_DOMAIN.get(name, INNER)})", id=name) for name in F.UNARY],
    *[pytest.param(text, id=f"{name}-{k}") for name, forms in BINARY_FORMS.items() for k, text in enumerate(forms)],
    *[pytest.param(text, id=f"{op}-{k}") for op, forms in OPERATOR_FORMS.items() for k, text in enumerate(forms)],
]


def test_the_hessian_cases_cover_every_function_and_instruction():
    assert set(BINARY_FORMS) == set(F.BINARY_CALLS) and set(F.FUNCTIONS) == set(F.UNARY) | set(F.BINARY_CALLS)
    used = set()
    for case in GRAMMAR:
        tape = F.compile_tape(F.parse(case.values[0]))
        used |= {int(op) for op in tape[1::2]}
    assert used == set(range(F.X, F.MAX + 1)), f"no Hessian case for opcodes {set(range(F.X, F.MAX + 1)) - used}"


@pytest.mark.parametrize("text", GRAMMAR)
def test_hessian_of_every_instruction_matches_50_digit_central_differences(text):
    rng = random.Random(text)
    pts = [(rng.uniform(-1, 1), rng.uniform(-1, 1)) for _ in range(6)]
    fn = mp_function(text)
    for (x, y), got in zip(pts, hessian(text, pts)):
        want = mp_hessian(fn, x, y)
        # Each rule adds an ulp or two to terms of about the size of the result in these small formulas
        # (at worst ~1e-15 of the largest entry); 1e-12 of it still catches any wrong term.
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.max(np.abs(want)), err_msg=f"{text} at {x, y}")


@pytest.mark.parametrize("seed", range(40))
def test_hessian_of_random_formulas_matches_50_digit_central_differences(seed):
    rng = random.Random(seed)
    text, fn = random_formula(rng, 4)
    pts = [(rng.uniform(-2, 2), rng.uniform(-2, 2)) for _ in range(6)]
    m = MP()
    for (x, y), got in zip(pts, hessian(text, pts)):
        want = mp_hessian(lambda X, Y: fn(X, Y, m), x, y)
        # Deeper formulas chain a dozen rules, and where their terms cancel the rounding shows: at worst
        # ~7e-12 of the largest entry over these seeds, so 1e-9 of it. Where the Hessian vanishes (min
        # choosing a linear argument) the differences leave their own ~1e-26 |f|, hence the 1e-20.
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * np.max(np.abs(want)) + 1e-20, err_msg=text)


TYPED = {
    "rosenbrock": ROSENBROCK,
    "beale": "(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2",
    "saddle": "x^2 - y^2",
    "monkey_saddle": "x^3 - 3*x*y^2",
    "himmelblau": HIMMELBLAU,
    "rastrigin": "20 + x^2 - 10*cos(2*pi*x) + y^2 - 10*cos(2*pi*y)",
    "booth": "(x + 2*y - 7)^2 + (2*x + y - 5)^2",
    "goldstein_price": "(1 + (x+y+1)^2*(19 - 14*x + 3*x^2 - 14*y + 6*x*y + 3*y^2))"
                       " * (30 + (2*x - 3*y)^2*(18 - 32*x + 12*x^2 + 48*y - 36*x*y + 27*y^2))",
    "six_hump_camel": "(4 - 2.1*x^2 + x^4/3)*x^2 + x*y + (-4 + 4*y^2)*y^2",
    "quadratic": "0.5*(x^2 + 10*y^2)",
    "sharp_flat": "(1 - exp(-((x + 1)^2 + y^2)/(2*0.2^2))) * (1 - exp(-((x - 1)^2 + y^2)/(2*2.5^2)))",
}


@pytest.mark.parametrize("name", TYPED)
def test_a_typed_builtin_has_the_builtins_hessian(name):
    spec = core.SURFACES[name]
    typed = F.custom_surface(TYPED[name], (*spec.domain[0], *spec.domain[1]))
    assert typed.hessian is F.formula_hessian and F.CUSTOM.hessian is F.formula_hessian
    consts = [h.default for h in spec.params]
    rng = np.random.default_rng(spec.code)
    (x0, x1), (y0, y1) = spec.domain
    for x, y in [*zip(rng.uniform(x0, x1, 16), rng.uniform(y0, y1, 16)), *spec.minima, *spec.saddles]:
        # Called as the engine calls a surface's kernels: (x, y, constants), the tape for a formula.
        got = np.array(typed.hessian(float(x), float(y), typed.constants))
        want = np.array(spec.hessian(float(x), float(y), *consts))
        # The two round differently (the typed Goldstein-Price expands what its kernel factors): at
        # worst ~2e-15 of the largest entry.
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.max(np.abs(want)), err_msg=f"at {x, y}")


# --- trajectories --------------------------------------------------------------

TYPED_ROSENBROCK = {"formula": ROSENBROCK, "domain": [-2, 2, -1, 3]}


@pytest.mark.parametrize("optimizer", list(core.OPTIMIZERS))
def test_typed_rosenbrock_follows_the_builtin_kernel(optimizer):
    # Rounding differs (100*(b*b) against (100*b)*b), and some default step sizes amplify it
    # chaotically: the steps agree while the run is well-conditioned (at most the first 50; L-BFGS's
    # quasi-Newton steps amplify an ulp sooner), and every gradient does.
    from test_optimizers import conditioned_steps

    typed = core.trajectory(TYPED_ROSENBROCK, optimizer, (-1.2, 1.0), 50)
    builtin = core.trajectory("rosenbrock", optimizer, (-1.2, 1.0), 300)
    assert typed.surface == "custom"
    # An ulp of rounding (1e-16) amplified 1e4-fold stays far inside the 1e-9 compared.
    n = min(51, conditioned_steps(builtin, "rosenbrock", optimizer, (-1.2, 1.0), {}, 1e4))
    assert n > 1, f"{optimizer}: no well-conditioned step"
    np.testing.assert_allclose(typed.points[:n], builtin.points[:n], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(typed.losses[:n], builtin.losses[:n], rtol=1e-9, atol=1e-12)
    ours = gradient(ROSENBROCK, builtin.points)
    np.testing.assert_allclose(ours[:, 0], builtin.losses, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(ours[:-1, 1:], builtin.gradients, rtol=1e-12, atol=1e-12)


torch = pytest.importorskip("torch")


class TorchNS:
    const = staticmethod(lambda v: torch.tensor(v, dtype=torch.float64))
    abs = staticmethod(torch.abs)
    min = staticmethod(torch.minimum)
    max = staticmethod(torch.maximum)
    log10 = staticmethod(torch.log10)
    asin = staticmethod(torch.asin)
    acos = staticmethod(torch.acos)
    atan = staticmethod(torch.atan)
    atan2 = staticmethod(torch.atan2)

    def __getattr__(self, name):
        return getattr(torch, name)


@pytest.mark.parametrize("optimizer, hp", [("momentum", {"lr": 0.01, "momentum": 0.9}), ("adam", {"lr": 0.05})])
@pytest.mark.parametrize("text, fn, start", [
    ("sin(x)*cos(y) + 0.1*(x^2 + y^2)", lambda x, y: torch.sin(x) * torch.cos(y) + 0.1 * (x ** 2 + y ** 2), (1.0, 0.5)),
    ("log(1 + x^2) + sqrt(1 + y^2) + exp(-(x-1)^2) * atan(y)",
     lambda x, y: torch.log(1 + x ** 2) + torch.sqrt(1 + y ** 2) + torch.exp(-(x - 1) ** 2) * torch.atan(y), (2.0, -1.5)),
])
def test_trajectory_matches_torch_autograd(optimizer, hp, text, fn, start):
    spec = core.OPTIMIZERS[optimizer]
    ours = core.trajectory({"formula": text}, optimizer, start, 300, hp).points
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    kwargs = {**spec.torch[1], **{k: v for k, v in hp.items()}}
    opt = getattr(torch.optim, spec.torch[0])([p], **kwargs)
    ref = [p.detach().numpy().copy()]
    for _ in range(300):
        opt.zero_grad()
        fn(p[0], p[1]).backward()
        opt.step()
        ref.append(p.detach().numpy().copy())
    ref = np.array(ref)
    rel = np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-12)
    assert rel.max() <= 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_random_formula_trajectory_matches_torch_autograd(seed):
    rng = random.Random(100 + seed)
    text, fn = random_formula(rng, 3)
    ns = TorchNS()
    start = (rng.uniform(-1, 1), rng.uniform(-1, 1))
    ours = core.trajectory({"formula": text}, "adam", start, 300, {"lr": 0.01}).points
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.01)
    ref = [p.detach().numpy().copy()]
    for _ in range(300):
        opt.zero_grad()
        out = fn(p[0], p[1], ns)
        if out.requires_grad:
            out.backward()
        else:
            p.grad = torch.zeros(2, dtype=torch.float64)
        opt.step()
        ref.append(p.detach().numpy().copy())
    ref = np.array(ref)
    assert np.abs(ours - ref).max() <= 1e-9 * max(1.0, np.abs(ref).max()), text


def test_sweep_and_grid_of_a_formula_match_the_builtin_surface():
    grid = {"lr": [1e-3, 1e-2, 3e-2], "beta1": [0.5, 0.9]}
    typed = core.sweep(TYPED_ROSENBROCK, "adam", (-1.2, 1.0), 200, grid)
    builtin = core.sweep("rosenbrock", "adam", (-1.2, 1.0), 200, grid)
    np.testing.assert_allclose(typed.final_losses, builtin.final_losses, rtol=1e-9, atol=1e-12)
    assert typed.minimum_value == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_array_equal(typed.steps_to_tol, builtin.steps_to_tol)
    xs, ys, z = core.surface_grid(TYPED_ROSENBROCK, resolution=50)
    bx, by, bz = core.surface_grid("rosenbrock", resolution=50)
    np.testing.assert_array_equal(xs, bx)
    np.testing.assert_allclose(z, bz, rtol=1e-12)


def test_a_run_streams_a_formula_in_chunks_as_the_builtin():
    run = core.Run({"formula": ROSENBROCK}, "adam", (-1.2, 1.0), 1000)
    while not run.finished:
        run.advance(97)
    builtin = core.trajectory("rosenbrock", "adam", (-1.2, 1.0), 1000)
    np.testing.assert_allclose(run.result().points, builtin.points, rtol=1e-9)


@pytest.mark.parametrize("text, start", [("log(x)", (-1.0, 0.0)), ("1/x", (0.0, 1.0)), ("sqrt(x)", (-1, 1)),
                                         ("exp(x^2)", (3.0, 0.0)), ("x^y", (-2.0, 0.5))])
def test_undefined_or_overflowing_formulas_diverge_like_any_run(text, start):
    t = core.trajectory({"formula": text}, "sgd", start, 300, {"lr": 0.5})
    assert t.diverged_at is not None
    assert np.isfinite(t.points).all() and np.isfinite(t.losses).all()


# --- landmarks -----------------------------------------------------------------

def test_himmelblau_typed_out_has_the_builtin_minima_and_its_saddles():
    spec = core.SURFACES["himmelblau"]
    minima, saddles, fmin = F.custom_surface(HIMMELBLAU, (-5.0, 5.0, -5.0, 5.0)).resolved_landmarks({})
    assert len(minima) == len(spec.minima) == 4
    for want in spec.minima:
        assert min(math.dist(want, got) for got in minima) < 1e-5
    assert fmin == pytest.approx(0.0, abs=1e-9)
    assert len(saddles) == 4  # and the one maximum, near (-0.27, -0.92), is neither
    f = gradient(HIMMELBLAU, saddles)
    assert np.abs(f[:, 1:]).max() < 1e-6


@pytest.mark.parametrize("text, minima, saddles", [
    ("x^2 - y^2", [], [(0, 0)]),
    ("(x^2 - 1)^2 + y^2", [(-1, 0), (1, 0)], [(0, 0)]),
    (ROSENBROCK, [(1, 1)], []),
    ("-exp(-((x-1)^2 + y^2)) - exp(-((x+1)^2 + y^2))", [(-1.0, 0), (1.0, 0)], [(0, 0)]),
])
def test_landmarks_are_found_classified_and_deduplicated(text, minima, saddles):
    got_min, got_saddle, _ = F.custom_surface(text, (-2.0, 2.0, -1.5, 1.5)).resolved_landmarks({})
    # Two Gaussian wells one apart overlap: their minima sit a little inside +-1.
    tol = 0.1 if "exp" in text else 1e-6
    assert len(got_min) == len(minima) and len(got_saddle) == len(saddles)
    for want, got in ((minima, got_min), (saddles, got_saddle)):
        for w in want:
            assert min(math.dist(w, g) for g in got) < tol


@pytest.mark.parametrize("text, point, kind", [
    ("x^2 + 3*y^2", (0, 0), "minimum"),
    ("x^2 - y^2", (0, 0), "saddle"),
    ("-x^2 - y^2", (0, 0), "maximum"),
    ("x^4 + y^2", (0, 0), "degenerate"),  # the exact fxx is 0 there
    ("sqrt(x) + y^2", (-1, 0), "unknown"),
])
def test_critical_points_are_classified_by_the_exact_hessian(text, point, kind):
    got, value = F._classify(F.compile_tape(F.parse(text)), np.array(point, dtype=float))
    assert got == kind
    assert value == pytest.approx(value_or_nan(text, *point), nan_ok=True)


def value_or_nan(text: str, x: float, y: float) -> float:
    with np.errstate(all="ignore"):
        return value(text, x, y)


# --- the engine ----------------------------------------------------------------

def test_the_tape_kernel_is_part_of_the_cache_key():
    assert any(p.name == "formula.py" for p in _kernel_sources())


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="counts compiled signatures; nothing compiles with the JIT off")
def test_a_new_formula_compiles_nothing():
    loops = core.engine.kernels()
    core.trajectory({"formula": "x^2 + y^2"}, "adam", (1, 1), 2)
    before = len(loops.run_trajectory.signatures)
    core.trajectory({"formula": f"x^2 + {random.random()}*y^4 - cosh(x*y)/7"}, "adam", (1, 1), 2)
    assert len(loops.run_trajectory.signatures) == before


@pytest.mark.parametrize("surface, field, words", [
    ({"formula": "x +"}, "surface.formula", "column 4"),
    ({"formula": 3}, "surface.formula", "must be text"),
    ({"formula": "x", "domain": [1, 0, 0, 1]}, "surface.domain", "x_min < x_max"),
    ({"formula": "x", "domain": [0, 1, 0]}, "surface.domain", "four"),
    ({"formula": "x", "domain": "0,1,0,1"}, "surface.domain", "four"),
    ({"formula": "x", "kappa": 3}, "surface.kappa", "unknown name"),
    ({"name": "custom"}, "surface.formula", "required"),
    ({"name": "beale", "formula": "x"}, "surface.name", "a formula is the surface"),
])
def test_core_names_the_field(surface, field, words):
    with pytest.raises(InvalidInput) as e:
        core.trajectory(surface, "adam", (0, 0), 10)
    assert e.value.field == field and words in e.value.reason


# --- through the API -----------------------------------------------------------

HOSTILE = [
    "__import__('os').system('true')",
    "x.__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "lambda: 1",
    "(lambda x: x)(1)",
    "[x for x in (1, 2)]",
    "{x: 1}",
    "f'{x}'",
    "'{0.__class__}'.format(x)",
    "'%s' % x",
    "x if y else 1",
    "x; import os",
    "x = 1",
    "open('/etc/passwd')",
    "eval('1')",
    "x^1e308",
    "9**9**9",
    "2^2^2^2^2^2",
    "exp(exp(exp(10)))",
    "1e400 * x",
    "(" * 200 + "x" + ")" * 200,
    "-" * 300 + "x",
    "+".join(["x"] * 10_000),
    "x" * 100_000,
    "\u0445^2 + y^2",  # Cyrillic small letter ha
    "x^2 + \uff12",  # fullwidth digit two
    "\uff58 + y",  # fullwidth x
    "x\u200b+ y",  # zero-width space
    "x + y\x00",
    "",
    "   ",
    "sin",
    "x y",
]


def api_client(**limits):
    from test_api import client_with

    return client_with(**limits)


@pytest.fixture(scope="module")
def client():
    with api_client() as c:
        yield c


def body(surface, steps=50):
    return {"surface": surface, "steps": steps, "runs": [{"optimizer": "adam"}, {"optimizer": "sgd"}]}


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("path", ["/api/trajectories", "/api/trajectories/stream", "/api/sweeps/stream", "/api/grid"])
def test_hostile_formulas_get_a_422_naming_the_formula(client, path, text):
    if path == "/api/grid":
        if len(text) > 60_000:
            pytest.skip("longer than a URL may be")
        r = client.get(path, params={"f": text})
        loc_end = ["query", "f"]
    elif path == "/api/sweeps/stream":
        r = client.post(path, json={"surface": {"formula": text}, "optimizer": "adam", "steps": 10,
                                    "grid": {"lr": [0.1], "beta1": [0.9]}})
        loc_end = ["surface", "formula"]
    else:
        r = client.post(path, json=body({"formula": text}))
        loc_end = ["surface", "formula"]
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"][-2:] == loc_end, error
    assert "column" in error["msg"] or "limit" in error["msg"] or "empty" in error["msg"], error


def test_a_name_and_a_formula_together_are_a_422(client):
    r = client.post("/api/trajectories", json=body({"name": "beale", "formula": "x^2"}))
    assert r.status_code == 422 and "not both" in r.json()["detail"][0]["msg"]


def test_a_formula_that_is_not_text_is_a_422(client):
    r = client.post("/api/trajectories", json=body({"formula": {"$gt": 1}}))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "surface", "formula"]


def test_the_server_limits_come_from_settings():
    with api_client(max_formula_chars=10, max_formula_nodes=3, max_formula_depth=2) as c:
        limits = c.get("/api/catalog").json()["limits"]
        assert (limits["max_formula_chars"], limits["max_formula_nodes"], limits["max_formula_depth"]) == (10, 3, 2)
        for text, words in (("x^2 + y^2 + 1", "limit is 10"), ("x+y+x", "limit is 3"), ("((-x))", "limit is 2")):
            r = c.post("/api/trajectories", json=body({"formula": text}))
            assert r.status_code == 422 and words in r.json()["detail"][0]["msg"], r.text
            r = c.get("/api/grid", params={"f": text})
            assert r.status_code == 422 and words in r.json()["detail"][0]["msg"], r.text


def test_trajectories_on_a_formula_match_core_and_say_which_formula(client):
    r = client.post("/api/trajectories", json={**body({"formula": ROSENBROCK, "domain": [-2, 2, -1, 3]}, 100),
                                               "start": [-1.2, 1]})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["surface"] == "custom"
    assert data["surface_params"] == {"formula": ROSENBROCK, "domain": [-2, 2, -1, 3]}
    want = core.trajectory({"formula": ROSENBROCK}, "adam", (-1.2, 1), 100)
    np.testing.assert_array_equal(np.array(data["runs"][0]["points"]), want.points)


def test_the_default_start_and_domain_of_a_formula(client):
    r = client.post("/api/trajectories", json=body({"name": "custom", "formula": "x^2 + y^2"}, 5))
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["surface_params"]["domain"] == [-5, 5, -5, 5]
    assert data["start"] == [-2, 2]


@pytest.mark.parametrize("text", ["log(x)", "1/x", "sqrt(x) + y", "exp(x^2)"])
def test_an_undefined_formula_diverges_with_valid_json(client, text):
    for path in ("/api/trajectories", "/api/trajectories/stream"):
        r = client.post(path, json={**body({"formula": text}), "start": [0, 0]})
        assert r.status_code == 200
        for line in r.text.splitlines():
            json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    data = client.post("/api/trajectories", json={**body({"formula": "log(x)"}), "start": [-1, 0]}).json()
    assert data["runs"][0]["diverged_at"] == 0
    r = client.get("/api/grid", params={"f": "log(x) + 1/y", "resolution": 20})
    assert r.status_code == 200
    grid = json.loads(r.text, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert None in grid["z"][0] and grid["z_min"] is not None


def test_sweeps_take_a_formula(client):
    r = client.post("/api/sweeps/stream", json={"surface": {"formula": ROSENBROCK, "domain": [-2, 2, -1, 3]},
                                                 "optimizer": "adam", "start": [-1.2, 1], "steps": 100,
                                                 "grid": {"lr": [0.01, 0.1], "beta1": [0.8, 0.9]}})
    assert r.status_code == 200
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert lines[0]["minimum_value"] == pytest.approx(0.0, abs=1e-12)
    want = core.sweep("rosenbrock", "adam", (-1.2, 1), 100, {"lr": [0.01, 0.1], "beta1": [0.8, 0.9]})
    np.testing.assert_allclose(lines[1]["final_losses"], want.final_losses, rtol=1e-9)
    assert lines[-1]["type"] == "done"


def test_the_grid_of_a_formula_has_its_landmarks_found_numerically(client):
    r = client.get("/api/grid", params={"f": HIMMELBLAU, "resolution": 30})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["source"] == HIMMELBLAU and data["landmarks_found_numerically"] is True
    assert len(data["minima"]) == 4 and len(data["saddles"]) == 4
    assert data["domain"] == [[-5, 5], [-5, 5]] and len(data["x"]) == 30
    xs, ys, z = core.surface_grid({"formula": HIMMELBLAU}, resolution=30)
    np.testing.assert_array_equal(np.array(data["z"]), z)
    assert "\\left(" in data["formula"]
    r = client.get("/api/grid", params={"f": "sqrt(-1 - x^2)"})
    assert r.status_code == 422 and "undefined or infinite everywhere" in r.json()["detail"][0]["msg"]
    r = client.get("/api/grid", params={"f": "x^2", "domain": "0,1,2"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "domain"]
    r = client.get("/api/grid", params={"f": "x^2", "domain": "0,1,2,a"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "domain"]
    r = client.get("/api/grid", params={"f": "x^2", "domain": "-1,1,-2,2"})
    assert r.json()["domain"] == [[-1, 1], [-2, 2]]


# --- links, the CLI and exports ------------------------------------------------

def test_a_link_carries_the_formula_and_its_domain():
    from app.state import query_from_request, request_from_query

    body = {"surface": {"formula": ROSENBROCK, "domain": [-2, 2, -1, 3]}, "start": [-1.2, 1], "steps": 300,
            "runs": [{"optimizer": "adam", "hyperparameters": {}}]}
    query = query_from_request(body)
    assert query.startswith("surface=custom&f=(1-x)%5E2%20%2B%20100*(y-x%5E2)%5E2&domain=-2,2,-1,3&start=-1.2,1")
    back = request_from_query(query)
    assert back["surface"] == {"name": "custom", "formula": ROSENBROCK, "domain": [-2.0, 2.0, -1.0, 3.0]}
    assert query_from_request(back) == query
    # The default domain stays out of the link; the default start is the formula's.
    back = request_from_query("surface=custom&f=x%5E2&opt=adam")
    assert back["surface"] == {"name": "custom", "formula": "x^2"} and back["start"] == [-2.0, 2.0]
    assert "domain" not in query_from_request(back)


@pytest.mark.parametrize("query, key, words", [
    ("surface=custom&opt=adam", "f", "needs its formula"),
    ("surface=custom&f=x%2B%5B1%5D&opt=adam", "f", "unexpected '[' at column 3"),
    ("surface=custom&f=x&domain=1,2&opt=adam", "domain", "four numbers"),
    ("surface=custom&f=x&domain=2,1,0,1&opt=adam", "domain", "x_min < x_max"),
])
def test_a_bad_link_names_its_key(query, key, words):
    from app.state import request_from_query

    with pytest.raises(InvalidInput) as e:
        request_from_query(query)
    assert e.value.field == key and words in e.value.reason


def test_the_cli_exports_a_formula(tmp_path, capsys):
    from app import cli

    out = tmp_path / "custom.svg"
    assert cli.main(["export", "--formula", HIMMELBLAU, "--domain=-5,5,-5,5", "--optimizers", "adam,sgd",
                     "--start=-1,-1", "--steps", "40", "--out", str(out)]) == 0
    svg = out.read_text()
    assert "minimum (found numerically)" in svg and "saddle point (found numerically)" in svg
    assert "Himmelblau" not in svg and "f(x, y) = (x^2 + y - 11)^2" in svg
    with pytest.raises(SystemExit):
        cli.main(["export", "--formula", "x + [1]", "--optimizers", "adam", "--out", str(out)])
    assert "--formula: unexpected '[' at column 5" in capsys.readouterr().err


def test_core_trajectory_takes_a_formula_in_python():
    t = core.trajectory({"formula": "x^2 + 3*y^2"}, "sgd", (1.0, 1.0), 10, {"lr": 0.1})
    # Gradient descent on a quadratic: each coordinate shrinks by (1 - lr * curvature) per step.
    np.testing.assert_allclose(t.points[-1], [0.8 ** 10, 0.4 ** 10], rtol=1e-12)
    assert t.surface_params == {"formula": "x^2 + 3*y^2", "domain": [-5.0, 5.0, -5.0, 5.0]}


def test_the_page_exports_a_formula_as_mp4_and_html(tmp_path):
    import subprocess
    import time

    from app.exports.jobs import JobStore, get_jobs

    state = "surface=custom&f=x%5E2%20-%20y%5E2%20%2B%200.25*y%5E4&domain=-2,2,-2,2&start=-1.5,0.01&opt=adam,sgd&steps=20"
    jobs = JobStore(tmp_path / "jobs")
    with api_client() as c:
        c.app.dependency_overrides[get_jobs] = lambda: jobs
        r = c.post("/api/exports", json={"state": state + "&f=x%2B%5B1%5D", "format": "gif"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "state", "f"]
        assert "column 3" in r.json()["detail"][0]["msg"]
        files = {}
        for fmt in ("mp4", "html"):
            r = c.post("/api/exports", json={"state": state, "format": fmt, "frames": 10, "width": 320, "height": 240})
            assert r.status_code == 202, r.text
            job = r.json()
            assert job["filename"] == f"gradscape-custom-contour.{fmt}"
            deadline = time.monotonic() + 120
            while c.get(f"/api/exports/{job['id']}").json()["status"] == "running" and time.monotonic() < deadline:
                time.sleep(0.1)
            files[fmt] = c.get(f"/api/exports/{job['id']}/file").content
    path = tmp_path / "custom.mp4"
    path.write_bytes(files["mp4"])
    frames = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                             "stream=nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True)
    assert frames.stdout.strip() == "10"
    html = files["html"].decode()
    assert "saddle point (found numerically)" in html and "minimum (found numerically)" in html
