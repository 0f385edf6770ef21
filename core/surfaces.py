"""Every loss surface: one block each, the spec followed by its kernel.

A kernel is a pure scalar function giving the value and analytic gradient,
and beside it a second one giving the analytic Hessian from the same arguments:

    kernel(x, y, <constants>, <batch columns>) -> (f, df/dx, df/dy)
    hessian(x, y, <constants>, <batch columns>) -> (fxx, fxy, fyy)

The constants are the surface's params in spec order, or what its `prepare`
derives from them; a stochastic surface's last `batch_columns` arguments are
this step's row of per-step data (minibatch moments). Kernels validate nothing.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from core.spec import Hyperparameter, Registry, SurfaceSpec

SURFACES: Registry = Registry()
kernel = njit(error_model="numpy", cache=True)


# --- rosenbrock ------------------------------------------------------------
ROSENBROCK = SURFACES.add(SurfaceSpec(
    id="rosenbrock",
    label="Rosenbrock",
    help="A curved, flat-bottomed valley: easy to find, slow to follow to the minimum at (1, 1).",
    formula=r"f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2",
    domain=((-2.0, 2.0), (-1.0, 3.0)),
    start=(-1.2, 1.0),
    minima=((1.0, 1.0),),
    minimum_value=0.0,
    reference="Rosenbrock (1960), The Computer Journal 3(3)",
    # ASGD's default (0.01) overshoots the valley's steep walls and diverges at step 6.
    lr={"asgd": 5e-3},
))


@SURFACES.kernel(ROSENBROCK)
@kernel
def rosenbrock(x, y):
    """Rosenbrock with a = 1, b = 100."""
    a = 1.0 - x
    b = y - x * x
    return a * a + 100.0 * b * b, -2.0 * a - 400.0 * x * b, 200.0 * b


@SURFACES.hessian(ROSENBROCK)
@kernel
def rosenbrock_hessian(x, y):
    """Second derivatives of Rosenbrock with a = 1, b = 100."""
    return 2.0 - 400.0 * (y - x * x) + 800.0 * x * x, -400.0 * x, 200.0


# --- beale -----------------------------------------------------------------
BEALE = SURFACES.add(SurfaceSpec(
    id="beale",
    label="Beale",
    help="Flat plateaus and sharp ridges around a narrow minimum at (3, 0.5); the classic optimizer race.",
    formula=r"f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
    domain=((-4.5, 4.5), (-4.5, 4.5)),
    start=(1.0, 1.5),
    minima=((3.0, 0.5),),
    saddles=((0.0, 1.0),),
    minimum_value=0.0,
    reference="Beale (1958), On an iterative method for finding a local minimum of a function of more than one variable",
))


@SURFACES.kernel(BEALE)
@kernel
def beale(x, y):
    """Beale's function."""
    y2 = y * y
    y3 = y2 * y
    a = 1.5 - x + x * y
    b = 2.25 - x + x * y2
    c = 2.625 - x + x * y3
    f = a * a + b * b + c * c
    gx = 2.0 * (a * (y - 1.0) + b * (y2 - 1.0) + c * (y3 - 1.0))
    gy = 2.0 * x * (a + 2.0 * b * y + 3.0 * c * y2)
    return f, gx, gy


@SURFACES.hessian(BEALE)
@kernel
def beale_hessian(x, y):
    """Second derivatives of Beale's function: each square (r^2)'' = 2 (r'^2 + r r'')."""
    y2 = y * y
    a = 1.5 - x + x * y
    b = 2.25 - x + x * y2
    c = 2.625 - x + x * y2 * y
    ax, bx, cx = y - 1.0, y2 - 1.0, y2 * y - 1.0
    ay, by, cy = x, 2.0 * x * y, 3.0 * x * y2
    fxx = 2.0 * (ax * ax + bx * bx + cx * cx)
    fxy = 2.0 * (ax * ay + a + bx * by + 2.0 * b * y + cx * cy + 3.0 * c * y2)
    fyy = 2.0 * (ay * ay + by * by + 2.0 * b * x + cy * cy + 6.0 * c * x * y)
    return fxx, fxy, fyy


# --- saddle ----------------------------------------------------------------
SADDLE = SURFACES.add(SurfaceSpec(
    id="saddle",
    label="Saddle x² − y²",
    help="A ridge along y = 0: plain SGD creeps off it slowly, adaptive methods escape at once.",
    formula=r"f(x, y) = x^2 - y^2",
    domain=((-2.0, 2.0), (-2.0, 2.0)),
    start=(-1.5, 1e-3),
    minima=(),
    saddles=((0.0, 0.0),),
    reference="The standard non-convex example; CS231n Neural Networks Part 3 (saddle point figure)",
))


@SURFACES.kernel(SADDLE)
@kernel
def saddle(x, y):
    """x^2 - y^2."""
    return x * x - y * y, 2.0 * x, -2.0 * y


@SURFACES.hessian(SADDLE)
@kernel
def saddle_hessian(x, y):
    """Second derivatives of x^2 - y^2."""
    return 2.0, 0.0, -2.0


# --- monkey_saddle ---------------------------------------------------------
MONKEY_SADDLE = SURFACES.add(SurfaceSpec(
    id="monkey_saddle",
    label="Monkey saddle",
    help="A saddle with three valleys: the gradient and the curvature both vanish at the origin.",
    formula=r"f(x, y) = x^3 - 3xy^2",
    domain=((-1.5, 1.5), (-1.5, 1.5)),
    start=(1.2, 0.05),
    minima=(),
    saddles=((0.0, 0.0),),
    reference="Hilbert & Cohn-Vossen (1932), Geometry and the Imagination",
))


@SURFACES.kernel(MONKEY_SADDLE)
@kernel
def monkey_saddle(x, y):
    """x^3 - 3 x y^2."""
    return x * x * x - 3.0 * x * y * y, 3.0 * x * x - 3.0 * y * y, -6.0 * x * y


@SURFACES.hessian(MONKEY_SADDLE)
@kernel
def monkey_saddle_hessian(x, y):
    """Second derivatives of x^3 - 3 x y^2: all zero at the origin."""
    return 6.0 * x, -6.0 * y, -6.0 * x


# --- himmelblau ------------------------------------------------------------
HIMMELBLAU = SURFACES.add(SurfaceSpec(
    id="himmelblau",
    label="Himmelblau",
    help="Four equal minima: which one an optimizer reaches depends on where it starts and how it moves.",
    formula=r"f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2",
    domain=((-5.0, 5.0), (-5.0, 5.0)),
    start=(0.0, 0.0),
    minima=(
        (3.0, 2.0),
        (-2.805118086935151, 3.131312518234717),
        (-3.7793102533597263, -3.283185991265516),
        (3.584428340314893, -1.8481265269354998),
    ),
    saddles=(
        (0.08667750454172413, 2.8842547011419604),
        (-3.0730257507343617, -0.08135304429695445),
        (3.385154183594716, 0.07385187983026366),
        (-0.12796134671977055, -1.9537149802438434),
    ),
    minimum_value=0.0,
    reference="Himmelblau (1972), Applied Nonlinear Programming",
))


@SURFACES.kernel(HIMMELBLAU)
@kernel
def himmelblau(x, y):
    """Himmelblau's function."""
    a = x * x + y - 11.0
    b = x + y * y - 7.0
    return a * a + b * b, 4.0 * x * a + 2.0 * b, 2.0 * a + 4.0 * y * b


@SURFACES.hessian(HIMMELBLAU)
@kernel
def himmelblau_hessian(x, y):
    """Second derivatives of Himmelblau's function."""
    a = x * x + y - 11.0
    b = x + y * y - 7.0
    return 4.0 * a + 8.0 * x * x + 2.0, 4.0 * (x + y), 2.0 + 4.0 * b + 8.0 * y * y


# --- rastrigin -------------------------------------------------------------
RASTRIGIN = SURFACES.add(SurfaceSpec(
    id="rastrigin",
    label="Rastrigin",
    help="A bowl covered in regular bumps: hundreds of local minima around the global one at the origin.",
    formula=r"f(x, y) = 20 + x^2 - 10\cos(2\pi x) + y^2 - 10\cos(2\pi y)",
    domain=((-5.12, 5.12), (-5.12, 5.12)),
    start=(-3.2, 2.7),
    minima=((0.0, 0.0),),
    minimum_value=0.0,
    reference="Rastrigin (1974), Systems of Extremal Control; A = 10",
))


@SURFACES.kernel(RASTRIGIN)
@kernel
def rastrigin(x, y):
    """Rastrigin with A = 10."""
    w = 2.0 * math.pi
    f = 20.0 + x * x - 10.0 * math.cos(w * x) + y * y - 10.0 * math.cos(w * y)
    return f, 2.0 * x + 10.0 * w * math.sin(w * x), 2.0 * y + 10.0 * w * math.sin(w * y)


@SURFACES.hessian(RASTRIGIN)
@kernel
def rastrigin_hessian(x, y):
    """Second derivatives of Rastrigin with A = 10: separable, so fxy = 0."""
    w = 2.0 * math.pi
    return 2.0 + 10.0 * w * w * math.cos(w * x), 0.0, 2.0 + 10.0 * w * w * math.cos(w * y)


# --- booth -----------------------------------------------------------------
BOOTH = SURFACES.add(SurfaceSpec(
    id="booth",
    label="Booth",
    help="A tilted quadratic bowl with its minimum at (1, 3): well conditioned, everything converges.",
    formula=r"f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2",
    domain=((-10.0, 10.0), (-10.0, 10.0)),
    start=(-8.0, -6.0),
    minima=((1.0, 3.0),),
    minimum_value=0.0,
    reference="Jamil & Yang (2013), A literature survey of benchmark functions for global optimization, f12",
))


@SURFACES.kernel(BOOTH)
@kernel
def booth(x, y):
    """Booth's function."""
    a = x + 2.0 * y - 7.0
    b = 2.0 * x + y - 5.0
    return a * a + b * b, 2.0 * a + 4.0 * b, 4.0 * a + 2.0 * b


@SURFACES.hessian(BOOTH)
@kernel
def booth_hessian(x, y):
    """Second derivatives of Booth's function: a constant matrix."""
    return 10.0, 8.0, 10.0


# --- goldstein_price -------------------------------------------------------
GOLDSTEIN_PRICE = SURFACES.add(SurfaceSpec(
    id="goldstein_price",
    label="Goldstein–Price",
    help="Values spanning six orders of magnitude, several local minima, the global one at (0, −1).",
    formula=(
        r"f = [1 + (x+y+1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)] \times "
        r"[30 + (2x-3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)]"
    ),
    domain=((-2.0, 2.0), (-2.0, 2.0)),
    start=(-1.0, 1.0),
    minima=((0.0, -1.0),),
    saddles=((-0.4, -0.6),),
    minimum_value=3.0,
    reference="Goldstein & Price (1971), Mathematics of Computation 25(115)",
    # Gradients near 1e5 at the start: plain gradient steps (and RAdam's first, momentum-only ones) at
    # their defaults leave finite numbers by step 3; these are the largest rates of 1, 2, 5 a decade that
    # stay finite for a thousand steps.
    lr={"sgd": 1e-5, "momentum": 2e-6, "nesterov": 2e-6, "momentum_cs231n": 2e-6, "asgd": 1e-5,
        "schedulefree_sgd": 1e-5, "sam": 5e-6, "radam": 2e-6},
))


@SURFACES.kernel(GOLDSTEIN_PRICE)
@kernel
def goldstein_price(x, y):
    """Goldstein-Price function."""
    s = x + y + 1.0
    u = 19.0 - 14.0 * x + 3.0 * x * x - 14.0 * y + 6.0 * x * y + 3.0 * y * y
    a = 1.0 + s * s * u
    d = 2.0 * x - 3.0 * y
    w = 18.0 - 32.0 * x + 12.0 * x * x + 48.0 * y - 36.0 * x * y + 27.0 * y * y
    b = 30.0 + d * d * w
    da_dx = 2.0 * s * u + s * s * (-14.0 + 6.0 * x + 6.0 * y)
    da_dy = 2.0 * s * u + s * s * (-14.0 + 6.0 * x + 6.0 * y)
    db_dx = 4.0 * d * w + d * d * (-32.0 + 24.0 * x - 36.0 * y)
    db_dy = -6.0 * d * w + d * d * (48.0 - 36.0 * x + 54.0 * y)
    return a * b, da_dx * b + a * db_dx, da_dy * b + a * db_dy


@SURFACES.hessian(GOLDSTEIN_PRICE)
@kernel
def goldstein_price_hessian(x, y):
    """Second derivatives of Goldstein-Price, as a product of a function of t = x + y and one of d = 2x - 3y."""
    # The first factor depends on x and y only through t, the second only through d
    # (its quadratic is 18 - 16 d + 3 d^2), so each has one first and one second derivative.
    t = x + y
    s = t + 1.0
    u = 19.0 - 14.0 * t + 3.0 * t * t
    ut = -14.0 + 6.0 * t
    a = 1.0 + s * s * u
    at = 2.0 * s * u + s * s * ut
    att = 2.0 * u + 4.0 * s * ut + 6.0 * s * s
    d = 2.0 * x - 3.0 * y
    w = 18.0 - 16.0 * d + 3.0 * d * d
    wd = -16.0 + 6.0 * d
    b = 30.0 + d * d * w
    bd = 2.0 * d * w + d * d * wd
    bdd = 2.0 * w + 4.0 * d * wd + 6.0 * d * d
    # dt/dx = dt/dy = 1, dd/dx = 2, dd/dy = -3
    fxx = att * b + 4.0 * at * bd + 4.0 * a * bdd
    fxy = att * b - at * bd - 6.0 * a * bdd
    fyy = att * b - 6.0 * at * bd + 9.0 * a * bdd
    return fxx, fxy, fyy


# --- six_hump_camel --------------------------------------------------------
SIX_HUMP_CAMEL = SURFACES.add(SurfaceSpec(
    id="six_hump_camel",
    label="Six-hump camel",
    help="Two global minima, four local ones and saddles between them, on a small domain.",
    formula=r"f(x, y) = (4 - 2.1x^2 + x^4/3)\,x^2 + xy + (-4 + 4y^2)\,y^2",
    domain=((-2.0, 2.0), (-1.2, 1.2)),
    start=(-1.5, 1.0),
    minima=((0.08984201310158792, -0.7126564029510262), (-0.08984201310158792, 0.7126564029510262)),
    saddles=((0.0, 0.0), (1.1092053368127026, -0.7682680924499766), (-1.1092053368127026, 0.7682680924499766)),
    minimum_value=-1.0316284534898774,
    reference="Dixon & Szegő (1978), Towards Global Optimisation 2",
))


@SURFACES.kernel(SIX_HUMP_CAMEL)
@kernel
def six_hump_camel(x, y):
    """Six-hump camel function."""
    x2 = x * x
    y2 = y * y
    f = (4.0 - 2.1 * x2 + x2 * x2 / 3.0) * x2 + x * y + (-4.0 + 4.0 * y2) * y2
    gx = 8.0 * x - 8.4 * x2 * x + 2.0 * x2 * x2 * x + y
    gy = x - 8.0 * y + 16.0 * y2 * y
    return f, gx, gy


@SURFACES.hessian(SIX_HUMP_CAMEL)
@kernel
def six_hump_camel_hessian(x, y):
    """Second derivatives of the six-hump camel function."""
    x2 = x * x
    return 8.0 - 25.2 * x2 + 10.0 * x2 * x2, 1.0, -8.0 + 48.0 * y * y


# --- quadratic -------------------------------------------------------------
QUADRATIC = SURFACES.add(SurfaceSpec(
    id="quadratic",
    label="Ill-conditioned quadratic",
    help="An elongated bowl: the y direction is kappa times steeper than x, so one lr cannot suit both.",
    formula=r"f(x, y) = \tfrac12 (x^2 + \kappa y^2)",
    domain=((-2.0, 2.0), (-2.0, 2.0)),
    start=(-1.8, 1.0),
    minima=((0.0, 0.0),),
    minimum_value=0.0,
    params=(Hyperparameter("kappa", r"\kappa", 10.0, 1.0, 1e4, "condition number: curvature in y over curvature in x", log=True),),
    reference="Goh (2017), Why Momentum Really Works, Distill; the model problem of convex optimization",
))


@SURFACES.kernel(QUADRATIC)
@kernel
def quadratic(x, y, kappa):
    """(x^2 + kappa y^2) / 2."""
    return 0.5 * (x * x + kappa * y * y), x, kappa * y


@SURFACES.hessian(QUADRATIC)
@kernel
def quadratic_hessian(x, y, kappa):
    """Second derivatives of (x^2 + kappa y^2) / 2."""
    return 1.0, 0.0, kappa


# --- regression ------------------------------------------------------------
class _Minibatches:
    """Per-step minibatch moments, drawn epoch by epoch without replacement.

    Steps are asked for in order, in chunks, so a long run streams without
    drawing every batch up front; the draws do not depend on the chunking.
    """

    def __init__(self, xs: np.ndarray, ys: np.ndarray, batch_size: int, seed: int):
        self.xs, self.ys, self.batch_size = xs, ys, batch_size
        self.per_epoch = len(xs) // batch_size
        self.rng = np.random.default_rng(seed)
        self.rows_done = np.empty((0, 4))

    def rows(self, k0: int, k1: int) -> np.ndarray:
        while self.rows_done.shape[0] < k1:
            need = k1 - self.rows_done.shape[0]
            epochs = min(max(1, -(-need // self.per_epoch)), max(1, 200_000 // len(self.xs)))
            order = np.argsort(self.rng.random((epochs, len(self.xs))), axis=1)
            idx = order[:, : self.per_epoch * self.batch_size].reshape(-1, self.batch_size)
            bx, by = self.xs[idx], self.ys[idx]
            moments = np.stack([(bx * bx).mean(1), bx.mean(1), (bx * by).mean(1), by.mean(1)], axis=1)
            self.rows_done = np.concatenate([self.rows_done, moments])
        return self.rows_done[k0:k1]


def _regression_data(params: dict) -> tuple[np.ndarray, np.ndarray]:
    xs = np.linspace(-1.0, 1.0, int(params["n_points"]))
    return xs, params["slope"] * xs + params["intercept"]


def _regression_prepare(params: dict, seed: int):
    xs, ys = _regression_data(params)
    (a, b), *_ = np.linalg.lstsq(np.stack([xs, np.ones_like(xs)], axis=1), ys, rcond=None)
    residual = float(np.mean((a * xs + b - ys) ** 2))
    P = np.array([np.mean(xs * xs), np.mean(xs), a, b, residual])
    batch_size = int(params["batch_size"])
    if batch_size >= len(xs):
        full = np.array([[np.mean(xs * xs), np.mean(xs), np.mean(xs * ys), np.mean(ys)]])
        return P, None, full
    return P, _Minibatches(xs, ys, batch_size, seed), None


def _regression_landmarks(params: dict):
    return ((params["slope"], params["intercept"]),), (), 0.0


REGRESSION = SURFACES.add(SurfaceSpec(
    id="regression",
    label="Linear regression (minibatch)",
    help="Mean squared error of fitting y = a·x + b; minibatches make each gradient a noisy estimate.",
    formula=r"f(a, b) = \frac1n \sum_i (a x_i + b - y_i)^2,\quad y_i = 2 x_i + 3,\; x_i \in [-1, 1]",
    domain=((-2.0, 6.0), (-1.0, 7.0)),
    start=(-1.0, 0.0),
    minima=((2.0, 3.0),),
    minimum_value=0.0,
    params=(
        Hyperparameter("slope", "a^*", 2.0, -10.0, 10.0, "slope of the line the data lie on"),
        Hyperparameter("intercept", "b^*", 3.0, -10.0, 10.0, "intercept of the line the data lie on"),
        Hyperparameter("n_points", "n", 100, 2, 1000, "number of data points, evenly spaced in [-1, 1]", kind="int"),
        Hyperparameter("batch_size", "B", 10, 1, 1000, "points per gradient estimate; n gives the exact gradient", kind="int"),
    ),
    reference="Robbins & Monro (1951); minibatch SGD on least squares",
    prepare=_regression_prepare,
    landmarks=_regression_landmarks,
    batch_columns=4,
))


@SURFACES.kernel(REGRESSION)
@kernel
def regression(x, y, mean_xx, mean_x, a_fit, b_fit, residual, batch_xx, batch_x, batch_xy, batch_y):
    """Full-data MSE (as a form centred on the least-squares fit) and the minibatch gradient."""
    da = x - a_fit
    db = y - b_fit
    # Centred on the fit so the loss cannot round below zero near the minimum.
    f = da * da * mean_xx + 2.0 * da * db * mean_x + db * db + residual
    gx = 2.0 * (x * batch_xx + y * batch_x - batch_xy)
    gy = 2.0 * (x * batch_x + y - batch_y)
    return f, gx, gy


@SURFACES.hessian(REGRESSION)
@kernel
def regression_hessian(x, y, mean_xx, mean_x, a_fit, b_fit, residual, batch_xx, batch_x, batch_xy, batch_y):
    """Hessian of the minibatch loss, the one whose gradient the kernel gives: 2 [[mean x^2, mean x], [mean x, 1]]."""
    return 2.0 * batch_xx, 2.0 * batch_x, 2.0


# --- rotated_quadratic -----------------------------------------------------
ROTATED_QUADRATIC = SURFACES.add(SurfaceSpec(
    id="rotated_quadratic",
    label="Rotated ill-conditioned quadratic",
    help="The elongated bowl turned by an angle: Newton's path turns with it, Adam's per-coordinate steps change shape.",
    formula=(
        r"f(x, y) = \tfrac12 (u^2 + \kappa v^2),\quad "
        r"u = x\cos\theta + y\sin\theta,\; v = y\cos\theta - x\sin\theta"
    ),
    domain=((-2.0, 2.0), (-2.0, 2.0)),
    start=(-1.8, 1.0),
    minima=((0.0, 0.0),),
    minimum_value=0.0,
    params=(
        Hyperparameter("kappa", r"\kappa", 10.0, 1.0, 1e4, "condition number: curvature along v over curvature along u", log=True),
        Hyperparameter("angle", r"\theta", 30.0, 0.0, 90.0, "angle in degrees from the x and y axes to the bowl's axes u and v"),
    ),
    reference="Goh (2017), Why Momentum Really Works, Distill; Nocedal & Wright (2006), Numerical Optimization, "
              "ch. 3 (Newton's method is invariant under rotation, Adam's diagonal scaling is not)",
))


@SURFACES.kernel(ROTATED_QUADRATIC)
@kernel
def rotated_quadratic(x, y, kappa, angle):
    """(u^2 + kappa v^2) / 2 in the axes (u, v) turned by angle degrees."""
    radians = angle * (math.pi / 180.0)
    c = math.cos(radians)
    s = math.sin(radians)
    u = c * x + s * y
    v = c * y - s * x
    return 0.5 * (u * u + kappa * v * v), c * u - s * kappa * v, s * u + c * kappa * v


@SURFACES.hessian(ROTATED_QUADRATIC)
@kernel
def rotated_quadratic_hessian(x, y, kappa, angle):
    """The constant Hessian R^T diag(1, kappa) R of the rotated quadratic."""
    radians = angle * (math.pi / 180.0)
    c = math.cos(radians)
    s = math.sin(radians)
    return c * c + kappa * s * s, (1.0 - kappa) * c * s, s * s + kappa * c * c


# --- sharp_flat ------------------------------------------------------------
# Two Gaussian wells multiplied, so each is exactly 0 at its centre: both minima
# are known in closed form and equally deep. The narrow well sits on the flank of
# the wide one, its ridge 0.43 from its centre. The start lies inside its basin, so
# gradient descent at any stable lr falls into it. SAM takes its gradient rho uphill
# and rests where that gradient vanishes: for rho from about 0.8 to 1.4 that is rho
# from the sharp minimum, past the ridge, in the flat minimum's basin (tested).
SHARP_WIDTH = 0.2
FLAT_WIDTH = 2.5

SHARP_FLAT = SURFACES.add(SurfaceSpec(
    id="sharp_flat",
    label="Sharp and flat minima",
    help="Two equally deep minima, narrow at (−1, 0) and wide at (1, 0): from the start SGD falls into "
         "the sharp one, while SAM ends on the flat one's side.",
    formula=(
        r"f(x, y) = \left(1 - e^{-\|p - a\|^2 / 2\sigma_1^2}\right)\left(1 - e^{-\|p - b\|^2 / 2\sigma_2^2}\right),"
        r"\quad p = (x, y),\; a = (-1, 0),\; b = (1, 0),\; \sigma_1 = 0.2,\; \sigma_2 = 2.5"
    ),
    domain=((-2.5, 2.5), (-2.0, 2.0)),
    start=(-0.7, 0.12),
    minima=((-1.0, 0.0), (1.0, 0.0)),
    # The pass between them, on the axis by symmetry: the root of df/dx(x, 0) in (-1, 1), found to 40 digits.
    saddles=((-0.5674802033527149, 0.0),),
    minimum_value=0.0,
    reference="Keskar et al. (2017), On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima, "
              "ICLR; Foret et al. (2021), Sharpness-Aware Minimization for Efficiently Improving Generalization, ICLR",
))


@njit(inline="always")
def _sharp_flat_wells(x, y):
    """Each well's offset from its centre, curvature 1/width^2, exp(-q) and 1 - exp(-q)."""
    ax, bx = x + 1.0, x - 1.0
    sharp_curv = 1.0 / (SHARP_WIDTH * SHARP_WIDTH)
    flat_curv = 1.0 / (FLAT_WIDTH * FLAT_WIDTH)
    sharp_e = math.exp(-0.5 * (ax * ax + y * y) * sharp_curv)
    flat_e = math.exp(-0.5 * (bx * bx + y * y) * flat_curv)
    # expm1 keeps 1 - exp(-q) exact to rounding near the centres, where q is tiny.
    sharp = -math.expm1(-0.5 * (ax * ax + y * y) * sharp_curv)
    flat = -math.expm1(-0.5 * (bx * bx + y * y) * flat_curv)
    return ax, bx, sharp_curv, flat_curv, sharp_e, flat_e, sharp, flat


@SURFACES.kernel(SHARP_FLAT)
@kernel
def sharp_flat(x, y):
    """A narrow well at (-1, 0) times a wide one at (1, 0), each 1 - exp(-r^2 / 2 width^2)."""
    ax, bx, sharp_curv, flat_curv, sharp_e, flat_e, sharp, flat = _sharp_flat_wells(x, y)
    gx = flat * sharp_e * sharp_curv * ax + sharp * flat_e * flat_curv * bx
    gy = (flat * sharp_e * sharp_curv + sharp * flat_e * flat_curv) * y
    return sharp * flat, gx, gy


@SURFACES.hessian(SHARP_FLAT)
@kernel
def sharp_flat_hessian(x, y):
    """Hessian of the product: flat H_sharp + sharp H_flat + the two cross terms of the gradients."""
    ax, bx, sharp_curv, flat_curv, sharp_e, flat_e, sharp, flat = _sharp_flat_wells(x, y)
    # Each well's gradient is e c (p - centre), its Hessian e c (I - c (p - centre)(p - centre)^T).
    sharp_x, sharp_y = sharp_e * sharp_curv * ax, sharp_e * sharp_curv * y
    flat_x, flat_y = flat_e * flat_curv * bx, flat_e * flat_curv * y
    sharp_xx = sharp_e * sharp_curv * (1.0 - sharp_curv * ax * ax)
    sharp_xy = -sharp_e * sharp_curv * sharp_curv * ax * y
    sharp_yy = sharp_e * sharp_curv * (1.0 - sharp_curv * y * y)
    flat_xx = flat_e * flat_curv * (1.0 - flat_curv * bx * bx)
    flat_xy = -flat_e * flat_curv * flat_curv * bx * y
    flat_yy = flat_e * flat_curv * (1.0 - flat_curv * y * y)
    fxx = flat * sharp_xx + sharp * flat_xx + 2.0 * sharp_x * flat_x
    fxy = flat * sharp_xy + sharp * flat_xy + sharp_x * flat_y + sharp_y * flat_x
    fyy = flat * sharp_yy + sharp * flat_yy + 2.0 * sharp_y * flat_y
    return fxx, fxy, fyy
