"""Slow, obviously correct references for every optimizer, surface and schedule.

Each one is written from the published update rule of the framework it names
(torch.optim 2.13, TensorFlow 1 training_ops.cc, the CS231n notes, the
google/automl Lion reference) in the plainest NumPy, and shares no code with
core's kernels: powers are `beta ** t` rather than running products, NAdam's
momentum product is recomputed from t, and gradients come from complex-step
differentiation of the value rather than from hand-derived formulas. Moving
averages are written the way each framework's source writes them (torch's
lerp and addcmul, TF's `ms += (g^2 - ms)(1 - rho)`), so that where a rule
subtracts nearly equal numbers the references round as the frameworks do.

The tables are keyed by registry id. A registry entry without an oracle here
makes the suite fail, so a new optimizer or surface cannot go untested.
"""

from __future__ import annotations

import math

import numpy as np

OPTIMIZERS: dict = {}  # id -> step(x, g, t, lr_t, hp, state) -> new x; `state` is updated in place
SURFACES: dict = {}  # id -> f(x, y, params), written so that complex x and y work
SCHEDULES: dict = {}  # id -> lr at 0-based step t of the schedule proper: fn(t, lr, params)


def _optimizer(fn):
    OPTIMIZERS[fn.__name__] = fn
    return fn


def _surface(fn):
    SURFACES[fn.__name__] = fn
    return fn


def _schedule(fn):
    SCHEDULES[fn.__name__] = fn
    return fn


def _zeros(x):
    return np.zeros_like(x)


def _lerp(a, b, w):
    """torch.lerp, with which torch writes its averages (m.lerp_(g, 1 - beta1)).

    Its CPU kernel switches form at w = 0.5 to stay exact at both ends. The
    reference follows it because centered RMSprop subtracts the square of such
    an average from a nearly equal number, which magnifies its last bit.
    """
    return a + w * (b - a) if w < 0.5 else b - (b - a) * (1 - w)


# --- optimizers ------------------------------------------------------------
# step(x, g, t, lr, hp, s): x and g are float arrays of shape (2,), t is the
# 1-based step, lr the scheduled learning rate at this step and hp the
# hyperparameters by name. The state dict `s` uses the registry's public slot
# names, so the references also check what the inspector shows.
# Squares of gradients are written (1 - beta) * g * g, in the order of torch's
# addcmul(g, g, value=1 - beta): centered RMSprop's v - g_avg^2 cancels and
# would magnify a different last bit.


@_optimizer
def sgd(x, g, t, lr, hp, s):
    return x - lr * (g + hp["weight_decay"] * x)


def _torch_momentum_buffer(s, d, t, momentum, dampening):
    # torch.optim.SGD: the buffer is a copy of the first gradient, undampened.
    s["b"] = d.copy() if t == 1 else momentum * s["b"] + (1 - dampening) * d
    return s["b"]


@_optimizer
def momentum(x, g, t, lr, hp, s):
    d = g + hp["weight_decay"] * x
    if hp["momentum"] == 0:  # torch.optim.SGD: `if momentum != 0:` guards the whole buffer
        return x - lr * d
    b = _torch_momentum_buffer(s, d, t, hp["momentum"], hp["dampening"])
    return x - lr * b


@_optimizer
def nesterov(x, g, t, lr, hp, s):
    d = g + hp["weight_decay"] * x
    b = _torch_momentum_buffer(s, d, t, hp["momentum"], 0.0)
    return x - lr * (d + hp["momentum"] * b)


@_optimizer
def adagrad(x, g, t, lr, hp, s):
    d = g + hp["weight_decay"] * x
    s["sum"] = s.get("sum", np.full_like(x, hp["initial_accumulator_value"])) + d**2
    clr = lr / (1 + (t - 1) * hp["lr_decay"])
    return x - clr * d / (np.sqrt(s["sum"]) + hp["eps"])


@_optimizer
def rmsprop(x, g, t, lr, hp, s):
    alpha = hp["alpha"]
    d = g + hp["weight_decay"] * x
    s["v"] = alpha * s.get("v", _zeros(x)) + (1 - alpha) * d * d
    s["g_avg"] = s.get("g_avg", _zeros(x))
    s["b"] = s.get("b", _zeros(x))
    if hp["centered"]:
        s["g_avg"] = _lerp(s["g_avg"], d, 1 - alpha)
        denom = np.sqrt(s["v"] - s["g_avg"] ** 2) + hp["eps"]  # eps outside the root
    else:
        denom = np.sqrt(s["v"]) + hp["eps"]
    if hp["momentum"] > 0:
        s["b"] = hp["momentum"] * s["b"] + d / denom
        return x - lr * s["b"]
    return x - lr * d / denom


@_optimizer
def adadelta(x, g, t, lr, hp, s):
    rho, eps = hp["rho"], hp["eps"]
    d = g + hp["weight_decay"] * x
    s["square_avg"] = rho * s.get("square_avg", _zeros(x)) + (1 - rho) * d * d
    acc_delta = s.get("acc_delta", _zeros(x))
    delta = np.sqrt(acc_delta + eps) / np.sqrt(s["square_avg"] + eps) * d
    s["acc_delta"] = rho * acc_delta + (1 - rho) * delta * delta
    return x - lr * delta


def _adam_moments(x, d, hp, s):
    b1, b2 = hp["beta1"], hp["beta2"]
    s["m"] = _lerp(s.get("m", _zeros(x)), d, 1 - b1)
    s["v"] = b2 * s.get("v", _zeros(x)) + (1 - b2) * d * d
    return s["m"], s["v"]


def _adam_step(x, lr, t, hp, m, v):
    # Kingma & Ba Algorithm 1 as torch writes it: eps added to sqrt of the corrected v.
    m_hat = m / (1 - hp["beta1"] ** t)
    v_hat = v / (1 - hp["beta2"] ** t)
    return x - lr * m_hat / (np.sqrt(v_hat) + hp["eps"])


@_optimizer
def adam(x, g, t, lr, hp, s):
    m, v = _adam_moments(x, g + hp["weight_decay"] * x, hp, s)
    return _adam_step(x, lr, t, hp, m, v)


@_optimizer
def adamw(x, g, t, lr, hp, s):
    x = x * (1 - lr * hp["weight_decay"])  # decoupled, multiplied by lr, pre-update x
    m, v = _adam_moments(x, g, hp, s)
    return _adam_step(x, lr, t, hp, m, v)


@_optimizer
def amsgrad(x, g, t, lr, hp, s):
    m, v = _adam_moments(x, g + hp["weight_decay"] * x, hp, s)
    s["v_max"] = np.maximum(s.get("v_max", _zeros(x)), v)  # max over the raw v
    return _adam_step(x, lr, t, hp, m, s["v_max"])


@_optimizer
def adamax(x, g, t, lr, hp, s):
    b1 = hp["beta1"]
    d = g + hp["weight_decay"] * x
    s["m"] = _lerp(s.get("m", _zeros(x)), d, 1 - b1)
    s["u"] = np.maximum(hp["beta2"] * s.get("u", _zeros(x)), np.abs(d) + hp["eps"])  # eps inside the max
    return x - lr / (1 - b1**t) * s["m"] / s["u"]


@_optimizer
def nadam(x, g, t, lr, hp, s):
    b1, b2, psi = hp["beta1"], hp["beta2"], hp["momentum_decay"]

    def mu(i):
        return b1 * (1 - 0.5 * 0.96 ** (i * psi))

    product = math.prod(mu(i) for i in range(1, t + 1))
    d = g + hp["weight_decay"] * x
    s["m"] = _lerp(s.get("m", _zeros(x)), d, 1 - b1)
    s["v"] = b2 * s.get("v", _zeros(x)) + (1 - b2) * d * d
    denom = np.sqrt(s["v"] / (1 - b2**t)) + hp["eps"]
    x = x - lr * (1 - mu(t)) / (1 - product) * d / denom
    return x - lr * mu(t + 1) / (1 - product * mu(t + 1)) * s["m"] / denom


@_optimizer
def radam(x, g, t, lr, hp, s):
    b1, b2 = hp["beta1"], hp["beta2"]
    m, v = _adam_moments(x, g + hp["weight_decay"] * x, hp, s)
    m_hat = m / (1 - b1**t)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho_t > 5:
        r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        return x - lr * m_hat * r * math.sqrt(1 - b2**t) / (np.sqrt(v) + hp["eps"])  # eps on the raw sqrt(v)
    return x - lr * m_hat


@_optimizer
def lion(x, g, t, lr, hp, s):
    # google/automl lion/lion_pytorch.py, in its order: decay, sign step, then m.
    m = s.get("m", _zeros(x))
    x = x * (1 - lr * hp["weight_decay"])
    x = x - lr * np.sign(hp["beta1"] * m + (1 - hp["beta1"]) * g)
    s["m"] = hp["beta2"] * m + (1 - hp["beta2"]) * g
    return x


@_optimizer
def adam_tf(x, g, t, lr, hp, s):
    # TF1 ApplyAdam: the bias corrections live in lr_t, eps ("epsilon hat") on the raw sqrt(v).
    b1, b2 = hp["beta1"], hp["beta2"]
    lr_t = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
    m, v = s.get("m", _zeros(x)), s.get("v", _zeros(x))
    s["m"] = m + (g - m) * (1 - b1)
    s["v"] = v + (g**2 - v) * (1 - b2)
    return x - lr_t * s["m"] / (np.sqrt(s["v"]) + hp["eps"])


@_optimizer
def rmsprop_tf(x, g, t, lr, hp, s):
    # TF1 ApplyRMSProp / ApplyCenteredRMSProp: ms starts at 1, eps inside the root, lr inside mom.
    # The averages are written as training_ops.cc writes them: ms += (g^2 - ms)(1 - rho).
    rho = hp["alpha"]
    ms = s.get("ms", np.ones_like(x))
    s["ms"] = ms + (g**2 - ms) * (1 - rho)
    s["mg"] = s.get("mg", _zeros(x))
    if hp["centered"]:
        s["mg"] = s["mg"] + (g - s["mg"]) * (1 - rho)
    s["mom"] = hp["momentum"] * s.get("mom", _zeros(x)) + lr * g / np.sqrt(s["ms"] - s["mg"] ** 2 + hp["eps"])
    return x - s["mom"]


@_optimizer
def momentum_cs231n(x, g, t, lr, hp, s):
    s["v"] = hp["momentum"] * s.get("v", _zeros(x)) - lr * g
    return x + s["v"]


@_optimizer
def swats(x, g, t, lr, hp, s):
    s["b"] = s.get("b", _zeros(x))
    if t <= hp["switch_step"]:
        m, v = _adam_moments(x, g, hp, s)
        return _adam_step(x, lr, t, hp, m, v)
    s.setdefault("m", _zeros(x))
    s.setdefault("v", _zeros(x))
    # torch SGD(momentum) from the switch on: its buffer starts at the first SGD-phase
    # gradient, and its lr follows the schedule in proportion to lr.
    s["b"] = g.copy() if t == hp["switch_step"] + 1 else hp["momentum"] * s["b"] + g
    return x - hp["sgd_lr"] * (lr / hp["lr"]) * s["b"]


# --- whole-vector optimizers without a reference package -------------------
# step(x, g, t, lr, hp, s, surface): `surface.hessian(p)` is the exact Hessian
# at p from these oracles' own surfaces (test_surfaces checks the kernels'
# Hessians against it).

WHOLE: set = set()


def _whole(fn):
    WHOLE.add(fn.__name__)
    return _optimizer(fn)


@_whole
def sophia(x, g, t, lr, hp, s, surface):
    """Liu et al. (2023), Algorithm 3, with the exact diagonal Hessian as the estimate."""
    m = s["m"] = hp["beta1"] * s.get("m", _zeros(x)) + (1 - hp["beta1"]) * g
    h = s.setdefault("h", _zeros(x))
    if t % hp["k"] == 1 or hp["k"] == 1:
        h = s["h"] = hp["beta2"] * h + (1 - hp["beta2"]) * np.diag(surface.hessian(x))
    x = x * (1 - lr * hp["weight_decay"])
    return x - lr * np.clip(m / np.maximum(hp["gamma"] * h, hp["eps"]), -1.0, 1.0)


@_whole
def newton(x, g, t, lr, hp, s, surface):
    """x - lr (H + damping I)^-1 g."""
    step = s["step"] = np.linalg.solve(surface.hessian(x) + hp["damping"] * np.eye(len(x)), g)
    return x - lr * step

# pytorch_optimizer 4.1 (optimizer/*.py): its weight decay, written as base/optimizer.py's apply_weight_decay.
def _pto_weight_decay(x, g, lr, hp):
    wd = hp["weight_decay"]
    if wd == 0:
        return x, g
    if hp["weight_decouple"]:
        return x * (1 - wd * (1 if hp["fixed_decay"] else lr)), g
    return x, g + wd * x


@_optimizer
def adabelief(x, g, t, lr, hp, s):
    b1, b2, eps = hp["beta1"], hp["beta2"], hp["eps"]
    step_size, sgd_phase = lr, False
    if hp["rectify"]:
        # get_rectify_step_size, threshold 5
        rho_inf = 2 / (1 - b2) - 1
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho >= 5:
            step_size = lr * math.sqrt((1 - b2**t) * (rho - 4) / (rho_inf - 4) * (rho - 2) / rho * rho_inf / (rho_inf - 2))
        elif hp["degenerated_to_sgd"]:
            sgd_phase = True
        else:
            step_size = -lr
            sgd_phase = True
    step_size = step_size / (1 - b1**t)
    x, d = _pto_weight_decay(x, g, lr, hp)
    s["m"] = _lerp(s.get("m", _zeros(x)), d, 1 - b1)
    s["s"] = b2 * s.get("s", _zeros(x)) + (1 - b2) * (d - s["m"]) * (d - s["m"]) + eps
    s["s_max"] = np.maximum(s.get("s_max", _zeros(x)), s["s"]) if hp["ams_bound"] else s.get("s_max", _zeros(x))
    root = np.sqrt(s["s_max"] if hp["ams_bound"] else s["s"])
    if not hp["rectify"]:
        return x - step_size * s["m"] / (root / math.sqrt(1 - b2**t) + eps)
    if sgd_phase:
        return x - step_size * s["m"] if step_size > 0 else x
    return x - step_size * s["m"] / (root + eps)


@_optimizer
def adan(x, g, t, lr, hp, s):
    b1, b2, b3 = hp["beta1"], hp["beta2"], hp["beta3"]
    diff = g - s.get("g_prev", g)  # the first step's difference is 0
    s["m"] = _lerp(s.get("m", _zeros(x)), g, 1 - b1)
    s["m_diff"] = _lerp(s.get("m_diff", _zeros(x)), diff, 1 - b2)
    c = g + b2 * diff
    s["n"] = b3 * s.get("n", _zeros(x)) + (1 - b3) * c * c
    s["g_prev"] = g.copy()
    denom = np.sqrt(s["n"]) / math.sqrt(1 - b3**t) + hp["eps"]
    wd = hp["weight_decay"]
    if wd and hp["weight_decouple"]:
        x = x * (1 - lr * wd)
    # Two addcdiv steps in the reference's order: late in a run m_diff, an average of
    # differences of nearly equal gradients, magnifies any other rounding of x.
    x = x - lr / (1 - b1**t) * s["m"] / denom
    x = x - lr * b2 / (1 - b2**t) * s["m_diff"] / denom
    return x / (1 + lr * wd) if wd and not hp["weight_decouple"] else x


@_optimizer
def adopt(x, g, t, lr, hp, s):
    x, d = _pto_weight_decay(x, g, lr, hp)
    v, m = s.get("v", _zeros(x)), s.get("m", _zeros(x))
    if t == 1:
        s["v"], s["m"] = d * d, m
        return x
    clip = t**0.25
    s["m"] = _lerp(m, np.clip(d / np.maximum(np.sqrt(v), hp["eps"]), -clip, clip), 1 - hp["beta1"])
    s["v"] = hp["beta2"] * v + (1 - hp["beta2"]) * d * d
    return x - lr * s["m"]


@_optimizer
def ademamix(x, g, t, lr, hp, s):
    b1, b2, b3, alpha, T = hp["beta1"], hp["beta2"], hp["beta3"], hp["alpha"], hp["t_alpha_beta3"]
    if T:
        alpha = min(t * alpha / T, alpha)
        l1, l3 = math.log(b1), math.log(b3)
        b3 = min(math.exp(l1 * l3 / ((1 - t / T) * l3 + (t / T) * l1)), b3)
    x, d = _pto_weight_decay(x, g, lr, hp)
    s["m"] = _lerp(s.get("m", _zeros(x)), d, 1 - b1)
    s["v"] = b2 * s.get("v", _zeros(x)) + (1 - b2) * d * d
    s["m_slow"] = _lerp(s.get("m_slow", _zeros(x)), d, 1 - b3)
    denom = np.sqrt(s["v"]) / math.sqrt(1 - b2**t) + hp["eps"]
    return x - lr * (s["m"] / (1 - b1**t) + alpha * s["m_slow"]) / denom


@_optimizer
def lookahead(x, g, t, lr, hp, s):
    if t == 1:
        s["slow"] = x.copy()  # the slow weights start at the start
    m, v = _adam_moments(x, g + hp["weight_decay"] * x, hp, s)
    x = x - lr / (1 - hp["beta1"] ** t) * m / (np.sqrt(v) / math.sqrt(1 - hp["beta2"] ** t) + hp["eps"])
    if t % hp["k"] == 0:
        s["slow"] = _lerp(x, s["slow"], 1 - hp["alpha"])
        x = s["slow"].copy()
    return x


@_optimizer
def rprop(x, g, t, lr, hp, s):
    # torch.optim.Rprop: the step size starts at the constructor's lr; a schedule never reaches it.
    prev = s.get("prev", _zeros(x))
    size = s.get("step_size", np.full_like(x, hp["lr"]))
    sign = np.sign(g * prev)
    factor = np.where(sign > 0, hp["eta_plus"], np.where(sign < 0, hp["eta_minus"], 1.0))
    size = np.minimum(np.maximum(size * factor, hp["step_size_min"]), hp["step_size_max"])
    g = np.where(sign < 0, 0.0, g)
    s["prev"], s["step_size"] = g, size
    return x - np.sign(g) * size


@_optimizer
def asgd(x, g, t, lr, hp, s):
    # torch.optim.ASGD: the eta used at step t was computed at the end of step t - 1 (with that
    # step's lr), the first one is the constructor's lr; mu is 1 / max(1, (t - 1) - t0).
    lambd, alpha, t0 = hp["lambd"], hp["alpha"], hp["t0"]
    eta = s.get("eta", np.full_like(x, hp["lr"]))
    mu = 1.0 if t == 1 else 1.0 / max(1.0, (t - 1) - t0)
    d = g + hp["weight_decay"] * x
    x = x * (1 - lambd * eta) - eta * d
    s["ax"] = x.copy() if mu == 1 else s.get("ax", _zeros(x)) + mu * (x - s.get("ax", _zeros(x)))
    s["eta"] = np.full_like(x, lr / (1 + lambd * lr * t) ** alpha)
    return x


# --- surfaces --------------------------------------------------------------
# f(x, y, params) from each surface's published formula; np.cos accepts the
# complex arguments of the complex-step gradient below, and _cos and _exp also
# accept mpmath's numbers, which the Hessian tests difference at 50 digits.


def _elementary(name):
    """numpy's function `name`, or mpmath's for an mpmath number (numpy's ufuncs reject those)."""
    numpy_fn = getattr(np, name)

    def fn(z):
        if type(z).__module__.startswith("mpmath"):
            import mpmath

            return getattr(mpmath, name)(z)
        return numpy_fn(z)

    return fn


_cos = _elementary("cos")
_exp = _elementary("exp")


@_surface
def rosenbrock(x, y, p):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


@_surface
def beale(x, y, p):
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


@_surface
def saddle(x, y, p):
    return x**2 - y**2


@_surface
def monkey_saddle(x, y, p):
    return x**3 - 3 * x * y**2


@_surface
def himmelblau(x, y, p):
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


@_surface
def rastrigin(x, y, p):
    return 2 * 10 + (x**2 - 10 * _cos(2 * np.pi * x)) + (y**2 - 10 * _cos(2 * np.pi * y))


@_surface
def booth(x, y, p):
    return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2


@_surface
def goldstein_price(x, y, p):
    a = 1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2)
    b = 30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2)
    return a * b


@_surface
def six_hump_camel(x, y, p):
    return (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2


@_surface
def quadratic(x, y, p):
    return 0.5 * (x**2 + p["kappa"] * y**2)


def regression_data(p):
    """The regression surface's data set: n evenly spaced x in [-1, 1] on the line slope·x + intercept."""
    xs = np.linspace(-1.0, 1.0, int(p["n_points"]))
    return xs, p["slope"] * xs + p["intercept"]


@_surface
def regression(a, b, p, rows=None):
    """Mean squared error of the line a·x + b over the data, or over the data points `rows`."""
    xs, ys = regression_data(p)
    if rows is not None:
        xs, ys = xs[rows], ys[rows]
    return np.mean((a * xs + b - ys) ** 2)


@_surface
def rotated_quadratic(x, y, p):
    """(u^2 + kappa v^2) / 2 where (u, v) are (x, y) in axes turned by `angle` degrees."""
    angle = np.deg2rad(p["angle"])
    u = np.cos(angle) * x + np.sin(angle) * y
    v = -np.sin(angle) * x + np.cos(angle) * y
    return 0.5 * (u**2 + p["kappa"] * v**2)


@_surface
def sharp_flat(x, y, p):
    """A Gaussian well of width 0.2 at (-1, 0) times one of width 2.5 at (1, 0), each 1 - exp(-r^2 / 2 width^2)."""
    sharp = 1 - _exp(-((x + 1) ** 2 + y**2) / (2 * 0.2**2))
    flat = 1 - _exp(-((x - 1) ** 2 + y**2) / (2 * 2.5**2))
    return sharp * flat


def surface_value(name, x, y, params):
    return float(np.real(SURFACES[name](x, y, params)))


def surface_hessian(name, x, y, params):
    """The 2 x 2 Hessian by central second differences of the value in 50-digit arithmetic.

    With h = 1e-12 the truncation error is ~h^2 |d^4 f| / 12 and the rounding error
    ~1e-50 |f| / h^2 = 1e-26 |f|: exact to double precision for every surface here.
    """
    import mpmath

    f = SURFACES[name]
    with mpmath.workdps(50):
        X, Y, h = mpmath.mpf(float(x)), mpmath.mpf(float(y)), mpmath.mpf("1e-12")
        f0 = f(X, Y, params)
        fxx = (f(X + h, Y, params) - 2 * f0 + f(X - h, Y, params)) / h**2
        fyy = (f(X, Y + h, params) - 2 * f0 + f(X, Y - h, params)) / h**2
        fxy = (f(X + h, Y + h, params) - f(X + h, Y - h, params) - f(X - h, Y + h, params)
               + f(X - h, Y - h, params)) / (4 * h**2)
        return np.array([[float(fxx), float(fxy)], [float(fxy), float(fyy)]])


def surface_gradient(name, x, y, params, **kw):
    """Complex-step derivative: Im f(x + ih) / h, exact to rounding with no cancellation."""
    h = 2.0**-100  # a power of two, so that dividing by it adds no rounding of its own
    f = SURFACES[name]
    return np.array([
        np.imag(f(np.complex128(x, h), y, params, **kw)) / h,
        np.imag(f(x, np.complex128(y, h), params, **kw)) / h,
    ])


# --- schedules -------------------------------------------------------------
# The learning rate at 0-based step t, closed forms of torch's StepLR,
# ExponentialLR and CosineAnnealingLR stepped after every optimizer step.


@_schedule
def constant(t, lr, q):
    return lr


@_schedule
def step(t, lr, q):
    return lr * q["gamma"] ** (t // q["step_size"])


@_schedule
def exponential(t, lr, q):
    return lr * q["gamma"] ** t


@_schedule
def cosine(t, lr, q):
    return q["eta_min"] + (lr - q["eta_min"]) * (1 + math.cos(math.pi * t / q["t_max"])) / 2


def scheduled_lr(schedule, lr, steps):
    """The lr of each of `steps` steps: linear warmup lr·(t+1)/w for t < w, then the schedule at t - w."""
    schedule = schedule or {"name": "constant"}
    w = schedule.get("warmup_steps", 0)
    fn = SCHEDULES[schedule["name"]]
    return np.array([lr * (t + 1) / w if t < w else fn(t - w, lr, schedule) for t in range(steps)])


# --- runs ------------------------------------------------------------------

def trajectory(surface, params, optimizer, start, steps, hp, lrs=None):
    """Points (steps+1, 2) and public state {slot: (steps, 2)} of the reference optimizer."""
    step_fn = OPTIMIZERS[optimizer]
    lrs = np.full(steps, hp["lr"]) if lrs is None else lrs
    x = np.array(start, dtype=float)
    state: dict = {}
    points, states = [x], []
    for t in range(1, steps + 1):
        g = surface_gradient(surface, x[0], x[1], params)
        x = step_fn(x, g, t, lrs[t - 1], hp, state)
        points.append(x)
        states.append({k: np.array(v, dtype=float) for k, v in state.items()})
    names = states[0].keys() if states else ()
    return np.array(points), {k: np.array([s[k] for s in states]) for k in names}


def python_function(kernel):
    """The plain Python function behind a jitted core kernel (the kernel itself with NUMBA_DISABLE_JIT=1).

    Not a reference: the tests read a kernel's argument names from it, and hand
    torch the same analytic gradient the engine uses.
    """
    return getattr(kernel, "py_func", kernel)
