"""Every surface: value, gradient and Hessian against the oracle and against finite differences, and its landmarks."""

from __future__ import annotations

import inspect
import math

import mpmath
import numpy as np
import pytest

import core
import oracles

SURFACES = list(core.SURFACES.values())
surfaces = pytest.mark.parametrize("spec", SURFACES, ids=[s.id for s in SURFACES])
POINTS = 24


def default_params(spec) -> dict:
    params = {h.name: h.default for h in spec.params}
    if "batch_size" in params:
        params["batch_size"] = params["n_points"]  # the exact, full-batch gradient
    return params


def random_params(spec, rng) -> dict:
    params = {}
    for h in spec.params:
        if h.kind == "int":
            params[h.name] = int(rng.integers(h.low, h.high + 1))
        elif h.log:
            params[h.name] = float(np.exp(rng.uniform(np.log(h.low), np.log(h.high))))
        else:
            params[h.name] = float(rng.uniform(h.low, h.high))
    if "batch_size" in params:
        params["batch_size"] = params["n_points"]
    return params


def evaluator(spec, params: dict):
    """(x, y) -> (f, df/dx, df/dy) from the jitted kernel, fed as the engine feeds it."""
    if spec.prepare is None:
        consts = [float(params[h.name]) for h in spec.params]
    else:
        P, batches, Q = spec.prepare(params, 0)
        assert batches is None, "a full batch needs no per-step rows"
        consts = list(P) + list(Q[0])
    return lambda x, y: np.array(spec.kernel(float(x), float(y), *consts))


def random_points(spec, rng, n=POINTS) -> np.ndarray:
    (x0, x1), (y0, y1) = spec.domain
    return np.stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)], axis=1)


def param_cases():
    cases = []
    for spec in SURFACES:
        cases.append(pytest.param(spec, default_params(spec), id=f"{spec.id}-defaults"))
        if spec.params:
            params = random_params(spec, np.random.default_rng(spec.code))
            cases.append(pytest.param(spec, params, id=f"{spec.id}-random-params"))
    return cases


@surfaces
def test_every_surface_has_an_oracle(spec):
    assert spec.id in oracles.SURFACES, f"tests/oracles.py has no reference for {spec.id!r}"


@pytest.mark.parametrize("spec,params", param_cases())
def test_value_and_gradient_match_the_oracle(spec, params):
    assert spec.id in oracles.SURFACES, f"tests/oracles.py has no reference for {spec.id!r}"
    rng = np.random.default_rng([spec.code, 1])
    f = evaluator(spec, params)
    pts = random_points(spec, rng)
    ours = np.array([f(x, y) for x, y in pts])
    values = np.array([oracles.surface_value(spec.id, x, y, params) for x, y in pts])
    grads = np.array([oracles.surface_gradient(spec.id, x, y, params) for x, y in pts])
    np.testing.assert_allclose(ours[:, 0], values, rtol=1e-12, atol=1e-12 * np.max(np.abs(values)))
    np.testing.assert_allclose(ours[:, 1:], grads, rtol=1e-10, atol=1e-12 * np.max(np.abs(grads)))


@pytest.mark.parametrize("spec,params", param_cases())
def test_gradient_matches_central_differences(spec, params):
    rng = np.random.default_rng([spec.code, 2])
    f = evaluator(spec, params)
    (x0, x1), (y0, y1) = spec.domain
    h = 1e-6 * max(x1 - x0, y1 - y0)
    pts = random_points(spec, rng)
    analytic = np.array([f(x, y)[1:] for x, y in pts])
    numeric = np.array([
        [(f(x + h, y)[0] - f(x - h, y)[0]) / (2 * h), (f(x, y + h)[0] - f(x, y - h)[0]) / (2 * h)] for x, y in pts
    ])
    scale = np.max(np.abs(analytic))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6 * scale)


@surfaces
def test_engine_reports_the_kernel_values(spec):
    """The generated loop passes constants and batch columns in the kernel's order."""
    params = default_params(spec)
    f = evaluator(spec, params)
    for x, y in random_points(spec, np.random.default_rng([spec.code, 3]), 4):
        t = core.trajectory({"name": spec.id, **params}, "sgd", (x, y), 1, {"lr": 1e-6})
        np.testing.assert_array_equal(np.r_[t.losses[0], t.gradients[0]], f(x, y))


def gradient_scale(spec, f) -> float:
    """A typical gradient size over the domain, to judge what "zero" means there.

    Landmarks found numerically (Himmelblau's, the six-hump camel's) are listed
    to 16 digits but lie within ~1e-10 of the true points, where the gradient
    is ~1e-9: "zero" is 1e-7 of this scale.
    """
    pts = random_points(spec, np.random.default_rng([spec.code, 4]), 64)
    return float(np.median([np.max(np.abs(f(x, y)[1:])) for x, y in pts]))


def hessian(f, x, y, h=1e-5) -> np.ndarray:
    """Central differences of the analytic gradient, symmetrised."""
    H = np.array([
        (f(x + h, y)[1:] - f(x - h, y)[1:]) / (2 * h),
        (f(x, y + h)[1:] - f(x, y - h)[1:]) / (2 * h),
    ])
    return (H + H.T) / 2


def ring(f, x, y, r=1e-3, n=16) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.array([f(x + r * np.cos(t), y + r * np.sin(t))[0] for t in a])


@pytest.mark.parametrize("spec,params", param_cases())
def test_minima(spec, params):
    minima, _, fmin = spec.resolved_landmarks(params)
    if not minima:
        assert fmin is None or spec.prepare is not None
        return
    f = evaluator(spec, params)
    scale = gradient_scale(spec, f)
    for x, y in minima:
        value = f(x, y)
        assert np.max(np.abs(value[1:])) <= 1e-7 * scale, f"gradient {value[1:]} at the minimum ({x}, {y})"
        assert value[0] == pytest.approx(fmin, rel=1e-12, abs=1e-12), f"f({x}, {y}) = {value[0]}, minimum_value {fmin}"
        assert np.all(np.linalg.eigvalsh(hessian(f, x, y)) > 0), f"({x}, {y}) is not a strict minimum"
        assert np.all(ring(f, x, y) > value[0])
    # No sampled point lies below the listed minimum value.
    pts = random_points(spec, np.random.default_rng([spec.code, 5]), 256)
    assert min(f(x, y)[0] for x, y in pts) >= fmin - 1e-12


@surfaces
def test_saddles(spec):
    params = default_params(spec)
    _, saddles, _ = spec.resolved_landmarks(params)
    f = evaluator(spec, params)
    scale = gradient_scale(spec, f)
    for x, y in saddles:
        value = f(x, y)
        assert np.max(np.abs(value[1:])) <= 1e-7 * scale, f"gradient {value[1:]} at the saddle ({x}, {y})"
        # Neither a minimum nor a maximum: f is both above and below f(x, y) close by.
        around = ring(f, x, y)
        assert np.any(around > value[0]) and np.any(around < value[0]), f"({x}, {y}) is an extremum"
        eig = np.linalg.eigvalsh(hessian(f, x, y))
        if np.max(np.abs(eig)) <= 1e-6 * scale:
            # A degenerate saddle (the monkey saddle's Hessian vanishes): the ring test above decides.
            continue
        assert eig[0] < 0 < eig[1], f"Hessian eigenvalues {eig} at the saddle ({x}, {y}) are not of both signs"


# --- the Hessian --------------------------------------------------------------

def hessian_evaluator(spec, params: dict):
    """(x, y) -> (fxx, fxy, fyy) from the jitted Hessian kernel, fed what the value kernel is fed."""
    if spec.prepare is None:
        consts = [float(params[h.name]) for h in spec.params]
    else:
        P, _, Q = spec.prepare(params, 0)
        consts = list(P) + list(Q[0])
    return lambda x, y: np.array(spec.hessian(float(x), float(y), *consts))


def kernel_args(kernel) -> list[str]:
    return list(inspect.signature(oracles.python_function(kernel)).parameters)


def oracle_hessian(name: str, x: float, y: float, params: dict) -> np.ndarray:
    """(fxx, fxy, fyy) of oracles.surface_hessian: 50-digit central differences of the oracle's value."""
    h = oracles.surface_hessian(name, x, y, params)
    return np.array([h[0, 0], h[0, 1], h[1, 1]])


def matrix(h) -> np.ndarray:
    fxx, fxy, fyy = h
    return np.array([[fxx, fxy], [fxy, fyy]])


@surfaces
def test_every_surface_has_a_hessian_kernel(spec):
    assert spec.hessian is not None, f"{spec.id} has no Hessian kernel"
    # Jitted as the value kernel is (both plain functions with NUMBA_DISABLE_JIT=1), and fed the same arguments.
    assert type(spec.hessian) is type(spec.kernel)
    assert kernel_args(spec.hessian) == kernel_args(spec.kernel)


@pytest.mark.parametrize("spec,params", param_cases())
def test_hessian_matches_50_digit_central_differences_of_the_oracle(spec, params):
    rng = np.random.default_rng([spec.code, 6])
    H = hessian_evaluator(spec, params)
    minima, saddles, _ = spec.resolved_landmarks(params)
    for x, y in [*random_points(spec, rng, 8), *minima, *saddles]:
        ours = H(x, y)
        # Symmetric by construction: the kernel gives fxy once.
        assert ours.shape == (3,) and np.all(np.isfinite(ours))
        want = oracle_hessian(spec.id, x, y, params)
        # The reference is exact to double precision, so the difference is the kernel's own rounding:
        # a few ulps of its largest intermediate term, at worst ~4e-15 of the largest entry here
        # (Goldstein-Price's terms cancel). 1e-12 of the largest entry leaves a factor of hundreds for
        # other points and params and still catches a wrong term or coefficient.
        np.testing.assert_allclose(ours, want, rtol=1e-12, atol=1e-12 * np.max(np.abs(want)),
                                   err_msg=f"{spec.id} at ({x}, {y})")


@pytest.mark.parametrize("spec,params", param_cases())
def test_hessian_is_semidefinite_at_minima_and_indefinite_at_saddles(spec, params):
    minima, saddles, _ = spec.resolved_landmarks(params)
    H = hessian_evaluator(spec, params)
    for x, y in minima:
        eig = np.linalg.eigvalsh(matrix(H(x, y)))
        assert eig[0] >= -1e-12 * abs(eig[1]), f"Hessian eigenvalues {eig} at the minimum ({x}, {y})"
    for x, y in saddles:
        h = H(x, y)
        if np.all(h == 0):
            # A degenerate saddle (the monkey saddle's): test_saddles' ring decides.
            continue
        eig = np.linalg.eigvalsh(matrix(h))
        assert eig[0] < 0 < eig[1], f"Hessian eigenvalues {eig} at the saddle ({x}, {y}) are not of both signs"


def test_the_rotated_quadratic_is_the_quadratic_turned():
    spec, plain = core.SURFACES["rotated_quadratic"], core.SURFACES["quadratic"]
    rng = np.random.default_rng(spec.code)
    for kappa, angle in ((10.0, 0.0), (10.0, 30.0), (250.0, 90.0), (3.0, 71.5)):
        a = math.radians(angle)
        for x, y in random_points(spec, rng, 4):
            u, v = math.cos(a) * x + math.sin(a) * y, -math.sin(a) * x + math.cos(a) * y
            f = spec.kernel(x, y, kappa, angle)[0]
            assert f == pytest.approx(plain.kernel(u, v, kappa)[0], rel=1e-13, abs=1e-15)
            # The same curvatures 1 and kappa at every angle, along the turned axes.
            eig = np.linalg.eigvalsh(matrix(spec.hessian(x, y, kappa, angle)))
            np.testing.assert_allclose(eig, [1.0, kappa], rtol=1e-12)


def test_sgd_falls_into_the_sharp_minimum_and_sam_ends_on_the_flat_side():
    spec = core.SURFACES["sharp_flat"]
    sharp, flat = spec.minima
    lr, steps = 0.1, 1500
    assert lr * np.max(np.linalg.eigvalsh(matrix(spec.hessian(*sharp)))) < 2, "SGD should be stable in the sharp well"
    sgd = core.trajectory(spec.id, "sgd", spec.start, steps, {"lr": lr}).points[-1]
    assert math.dist(sgd, sharp) < 1e-6
    grad = lambda p: np.array(spec.kernel(p[0], p[1])[1:])
    for rho in (0.8, 1.0, 1.2, 1.4):
        # SAM (Foret et al. 2021, Algorithm 1): step along the gradient taken at x + rho g / |g|.
        x = np.array(spec.start)
        for _ in range(steps):
            g = grad(x)
            x = x - lr * grad(x + rho * g / np.linalg.norm(g))
        # SAM comes to rest where the gradient rho uphill vanishes, not at a minimum: here rho from the
        # sharp minimum, past the ridge. Gradient descent from there reaches the flat minimum.
        assert math.dist(x, sharp) > 0.5, f"SAM with rho = {rho} stayed in the sharp well"
        end = core.trajectory(spec.id, "sgd", tuple(x), steps, {"lr": lr}).points[-1]
        assert math.dist(end, flat) < 1e-3, f"SAM with rho = {rho} ended at {x}, in the sharp minimum's basin"


# --- the stochastic regression surface --------------------------------------

REGRESSION = core.SURFACES["regression"]


def test_regression_is_stochastic():
    assert REGRESSION.prepare is not None and REGRESSION.batch_columns == 4


def test_minibatch_gradients_average_to_the_full_gradient_over_an_epoch():
    spec = REGRESSION
    params = {h.name: h.default for h in spec.params}
    n, batch = int(params["n_points"]), int(params["batch_size"])
    assert n % batch == 0 and batch < n, "the defaults should split the data into whole minibatches"
    P, batches, _ = spec.prepare(params, 123)
    per_epoch = n // batch
    rows = batches.rows(0, 3 * per_epoch)
    full = evaluator(spec, {**params, "batch_size": n})
    for x, y in random_points(spec, np.random.default_rng(spec.code), 4):
        grads = np.array([spec.kernel(x, y, *P, *row)[1:] for row in rows])
        assert np.ptp(grads[:, 0]) > 1e-3, "minibatch gradients should differ from batch to batch"
        # Drawn without replacement, an epoch's batches cover every point once.
        for epoch in grads.reshape(3, per_epoch, 2):
            np.testing.assert_allclose(epoch.mean(axis=0), full(x, y)[1:], rtol=1e-12, atol=1e-12)
        # The loss reported alongside a minibatch gradient is the full-data loss.
        np.testing.assert_allclose(spec.kernel(x, y, *P, *rows[0])[0], oracles.surface_value(spec.id, x, y, params), rtol=1e-12)


def test_minibatch_gradient_is_the_gradient_over_its_points():
    """Fed the moments of a set of points, the kernel gives the oracle's MSE gradient over those points."""
    spec = REGRESSION
    params = {h.name: h.default for h in spec.params}
    xs, ys = oracles.regression_data(params)
    P, _, _ = spec.prepare(params, 0)
    columns = list(inspect.signature(oracles.python_function(spec.kernel)).parameters)[-spec.batch_columns:]
    rng = np.random.default_rng(spec.code)
    for x, y in random_points(spec, rng, 4):
        rows = rng.choice(len(xs), size=int(params["batch_size"]), replace=False)
        bx, by = xs[rows], ys[rows]
        moments = {"batch_xx": np.mean(bx * bx), "batch_x": np.mean(bx), "batch_xy": np.mean(bx * by), "batch_y": np.mean(by)}
        assert sorted(columns) == sorted(moments), f"unexpected batch columns {columns}"
        grad = spec.kernel(x, y, *P, *[moments[c] for c in columns])[1:]
        np.testing.assert_allclose(grad, oracles.surface_gradient(spec.id, x, y, params, rows=rows), rtol=1e-10, atol=1e-12)


def test_minibatch_rows_are_moments_of_data_points():
    spec = REGRESSION
    params = {h.name: h.default for h in spec.params}
    slope, intercept = params["slope"], params["intercept"]
    P, batches, _ = spec.prepare(params, 11)
    columns = list(inspect.signature(oracles.python_function(spec.kernel)).parameters)[-spec.batch_columns:]
    rows = dict(zip(columns, batches.rows(0, 40).T))
    # The data lie on the line y = slope·x + intercept, and x in [-1, 1].
    np.testing.assert_allclose(rows["batch_y"], slope * rows["batch_x"] + intercept, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rows["batch_xy"], slope * rows["batch_xx"] + intercept * rows["batch_x"], rtol=1e-12, atol=1e-12)
    assert np.all(np.abs(rows["batch_x"]) <= 1) and np.all(rows["batch_xx"] <= 1)
    assert np.all(rows["batch_xx"] >= rows["batch_x"] ** 2 - 1e-12)


def test_minibatches_are_reproducible_for_a_seed():
    spec = REGRESSION
    params = {h.name: h.default for h in spec.params}
    surface = {"name": spec.id, **params}
    a = core.trajectory(surface, "sgd", spec.start, 50, {"lr": 0.05}, seed=3)
    b = core.trajectory(surface, "sgd", spec.start, 50, {"lr": 0.05}, seed=3)
    c = core.trajectory(surface, "sgd", spec.start, 50, {"lr": 0.05}, seed=4)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.gradients, b.gradients)
    assert np.max(np.abs(a.gradients - c.gradients)) > 1e-6
    exact = core.trajectory({**surface, "batch_size": params["n_points"]}, "sgd", spec.start, 50, {"lr": 0.05}, seed=3)
    d = core.trajectory({**surface, "batch_size": params["n_points"]}, "sgd", spec.start, 50, {"lr": 0.05}, seed=4)
    np.testing.assert_array_equal(exact.points, d.points)  # the full batch does not depend on the seed
