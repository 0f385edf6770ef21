"""Every optimizer: one block each, the spec followed by its kernel.

A kernel has one of two forms. Most are pure scalar functions that advance
one coordinate by one step:

    kernel(x, g, t, lr_t, <hyperparameters in spec order>, <state in spec order>)
        -> (x, <state in spec order>)      (just x when there is no state)

`g` is the gradient, `t` the 1-based step and `lr_t` the learning rate the
schedule applies at this step (the hyperparameter `lr` is the base rate).

An optimizer that looks at the whole parameter (a norm, a matrix, a history),
takes gradients elsewhere or needs curvature has `whole=True` and a kernel
that updates arrays in place and returns nothing:

    kernel(x, g, f, t, lr_t, <hyperparameters>, <state slots as arrays>, surf)

`x` and `g` are the parameter vector and its gradient, `f` the loss at x,
each state slot an array of its spec shape. `core.probe.gradient(surf, p, out)`
and `core.probe.hessian(surf, p, out)` evaluate the surface elsewhere (same
minibatch). Whole kernels are compiled with `whole_kernel` (no cache of their
own: the generated loop that calls them is cached, and knows every surface).

The engine generates the loops that call kernels from these names, and a test
checks that every kernel's arguments match its spec. Kernels validate nothing.

Arithmetic follows the operation order of torch.optim 2.13 (single-tensor
path) so that float64 trajectories agree with it to rounding. Bias corrections
use running products beta**t kept in state instead of pow(): that keeps the
step loop free of transcendental calls so sweeps vectorize, and it is what
TensorFlow's Adam does; it differs from torch's pow by at most t ulps.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from core import probe
from core.spec import Hyperparameter, OptimizerSpec, Registry

OPTIMIZERS: Registry = Registry()
kernel = njit(error_model="numpy", cache=True)
whole_kernel = njit(error_model="numpy")


# Hyperparameters shared by many optimizers; ranges are the sliders' ranges.
def lr(default: float) -> Hyperparameter:
    return Hyperparameter("lr", r"\eta", default, 1e-6, 10.0, "learning rate: the size of each step", log=True)


def eps(default: float, help: str = "added to the denominator so it is never zero") -> Hyperparameter:
    return Hyperparameter("eps", r"\epsilon", default, 1e-12, 10.0, help, log=True)


def beta1(default: float = 0.9) -> Hyperparameter:
    return Hyperparameter("beta1", r"\beta_1", default, 0.0, 0.9999, "decay of the first-moment (mean gradient) average")


def beta2(default: float = 0.999) -> Hyperparameter:
    return Hyperparameter("beta2", r"\beta_2", default, 0.0, 0.999999, "decay of the second-moment (squared gradient) average")


def momentum(default: float, help: str = "fraction of the previous step kept in the velocity") -> Hyperparameter:
    return Hyperparameter("momentum", r"\mu", default, 0.0, 0.999, help)


def weight_decay(default: float = 0.0, help: str = "L2 penalty added to the gradient (coupled)") -> Hyperparameter:
    return Hyperparameter("weight_decay", r"\lambda", default, 0.0, 1.0, help)


def adam_step_size(lr_t, t, hp, state):
    """lr_t·√(1−β2^t)/(1−β1^t) from the β powers the kernel itself used."""
    return lr_t * np.sqrt(1.0 - state["_beta2_power"]) / (1.0 - state["_beta1_power"])


@njit(inline="always")
def _lerp(a, b, w):
    # torch.lerp switches formula at w = 0.5 to stay exact at both ends.
    if w < 0.5:
        return a + w * (b - a)
    return b - (b - a) * (1.0 - w)


@njit(inline="always")
def _power(x, beta):
    """beta**t from beta**(t-1), flushed to 0 once it cannot change 1 - beta**t.

    A repeated product would otherwise stick at the smallest denormal
    (5e-324 * 0.9 rounds back to 5e-324) and make every later step ~10x slower.
    """
    x = x * beta
    return x if x > 1e-30 else 0.0


@njit(inline="always")
def _sgd_momentum(x, d, first, lr_t, momentum, dampening, nesterov, b):
    # torch keeps no buffer at momentum 0, so dampening changes nothing and the step is plain SGD.
    if momentum == 0.0:
        return x + (-lr_t) * d, b
    # torch: the buffer starts as the first gradient, undampened.
    if first:
        b = d
    else:
        b = b * momentum + (1.0 - dampening) * d
    if nesterov:
        d = d + momentum * b
    else:
        d = b
    return x + (-lr_t) * d, b


@njit(inline="always")
def _adam_core(x, d, lr_t, beta1, beta2, eps, m, v, beta1_power, beta2_power, v_max, amsgrad):
    m = _lerp(m, d, 1.0 - beta1)
    v = v * beta2 + (1.0 - beta2) * d * d
    beta1_power = _power(beta1_power, beta1)
    beta2_power = _power(beta2_power, beta2)
    bias_correction1 = 1.0 - beta1_power
    bias_correction2_sqrt = np.sqrt(1.0 - beta2_power)
    step_size = lr_t / bias_correction1
    if amsgrad:
        v_max = max(v_max, v)
        denom = np.sqrt(v_max) / bias_correction2_sqrt + eps
    else:
        denom = np.sqrt(v) / bias_correction2_sqrt + eps
    return x + (-step_size) * (m / denom), m, v, beta1_power, beta2_power, v_max


ADAM_STATE = ("m", "v", "_beta1_power", "_beta2_power")
ADAM_INIT = {"_beta1_power": 1.0, "_beta2_power": 1.0}
ADAM_RULE = (
    r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t \\ "
    r"v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\ "
    r"x_t = x_{t-1} - \frac{\eta}{1-\beta_1^t} \cdot \frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}"
)


# --- sgd -------------------------------------------------------------------
SGD = OPTIMIZERS.add(OptimizerSpec(
    id="sgd",
    label="SGD",
    help="Plain gradient descent: step against the gradient, scaled by the learning rate.",
    hyperparameters=(lr(1e-3), weight_decay()),
    rule=r"x_t = x_{t-1} - \eta\,(g_t + \lambda x_{t-1})",
    reference="Robbins & Monro (1951); torch.optim.SGD",
    torch=("SGD", {}),
))


@OPTIMIZERS.kernel(SGD)
@kernel
def sgd(x, g, t, lr_t, lr, weight_decay):
    """Plain SGD with coupled weight decay."""
    d = g + weight_decay * x
    return x + (-lr_t) * d


# --- momentum --------------------------------------------------------------
MOMENTUM = OPTIMIZERS.add(OptimizerSpec(
    id="momentum",
    label="Momentum",
    help="Heavy-ball momentum as torch writes it: a velocity buffer of past gradients, scaled by the current lr.",
    hyperparameters=(
        lr(1e-3),
        momentum(0.9),
        Hyperparameter("dampening", r"\tau", 0.0, 0.0, 1.0, "fraction of each new gradient left out of the buffer"),
        weight_decay(),
    ),
    rule=r"b_t = \mu b_{t-1} + (1-\tau) g_t \;(b_1 = g_1) \\ x_t = x_{t-1} - \eta\, b_t",
    reference="Polyak (1964); Sutskever et al. (2013); torch.optim.SGD(momentum=...)",
    state=("b",),
    torch=("SGD", {}),
))


@OPTIMIZERS.kernel(MOMENTUM)
@kernel
def momentum_sgd(x, g, t, lr_t, lr, momentum, dampening, weight_decay, b):
    """torch SGD with momentum and dampening."""
    return _sgd_momentum(x, g + weight_decay * x, t == 1, lr_t, momentum, dampening, False, b)


# --- nesterov --------------------------------------------------------------
NESTEROV = OPTIMIZERS.add(OptimizerSpec(
    id="nesterov",
    label="Nesterov",
    help="Nesterov momentum in torch's form: look ahead along the velocity before stepping.",
    hyperparameters=(lr(1e-3), momentum(0.9), weight_decay()),
    rule=r"b_t = \mu b_{t-1} + g_t \;(b_1 = g_1) \\ x_t = x_{t-1} - \eta\,(g_t + \mu b_t)",
    reference="Nesterov (1983); Sutskever et al. (2013); torch.optim.SGD(nesterov=True)",
    state=("b",),
    torch=("SGD", {"nesterov": True}),
))


@OPTIMIZERS.kernel(NESTEROV)
@kernel
def nesterov(x, g, t, lr_t, lr, momentum, weight_decay, b):
    """torch SGD with Nesterov momentum."""
    return _sgd_momentum(x, g + weight_decay * x, t == 1, lr_t, momentum, 0.0, True, b)


# --- adagrad ---------------------------------------------------------------
ADAGRAD = OPTIMIZERS.add(OptimizerSpec(
    id="adagrad",
    group="adaptive",
    label="Adagrad",
    help="Divides each coordinate's step by the root of its summed squared gradients, so steps only shrink.",
    hyperparameters=(
        lr(1e-2),
        Hyperparameter("lr_decay", r"\delta", 0.0, 0.0, 1.0, "learning rate divided by 1 + (t-1)·lr_decay"),
        weight_decay(),
        Hyperparameter("initial_accumulator_value", r"S_0", 0.0, 0.0, 10.0, "starting value of the squared-gradient sum"),
        eps(1e-10),
    ),
    rule=(
        r"S_t = S_{t-1} + g_t^2 \\ "
        r"x_t = x_{t-1} - \frac{\eta}{1+(t-1)\delta} \cdot \frac{g_t}{\sqrt{S_t} + \epsilon}"
    ),
    reference="Duchi, Hazan & Singer (2011), JMLR 12; torch.optim.Adagrad",
    state=("sum",),
    torch=("Adagrad", {}),
    init={"sum": "initial_accumulator_value"},
))


@OPTIMIZERS.kernel(ADAGRAD)
@kernel
def adagrad(x, g, t, lr_t, lr, lr_decay, weight_decay, initial_accumulator_value, eps, sum):
    """torch Adagrad: eps outside the square root, sum starts at initial_accumulator_value."""
    d = g + weight_decay * x
    clr = lr_t / (1.0 + (t - 1) * lr_decay)
    sum = sum + d * d
    std = np.sqrt(sum) + eps
    return x + (-clr) * (d / std), sum


# --- rmsprop ---------------------------------------------------------------
RMSPROP = OPTIMIZERS.add(OptimizerSpec(
    id="rmsprop",
    group="adaptive",
    label="RMSprop",
    help="Divides each step by a running root-mean-square of gradients (torch: alpha 0.99, eps outside the root).",
    hyperparameters=(
        lr(1e-2),
        Hyperparameter("alpha", r"\alpha", 0.99, 0.0, 0.9999, "decay of the squared-gradient average"),
        eps(1e-8),
        weight_decay(),
        momentum(0.0, "momentum on the normalised step"),
        Hyperparameter("centered", r"c", 0.0, 0.0, 1.0, "subtract the squared mean gradient (centered RMSprop)", kind="bool"),
    ),
    rule=(
        r"v_t = \alpha v_{t-1} + (1-\alpha) g_t^2 \\ "
        r"\bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g_t \;(\text{centered}) \\ "
        r"b_t = \mu b_{t-1} + \frac{g_t}{\sqrt{v_t - \bar g_t^2} + \epsilon} \\ "
        r"x_t = x_{t-1} - \eta\, b_t"
    ),
    reference="Hinton, Srivastava & Swersky, Neural Networks for ML, lecture 6e (2012); Graves (2013) for centered; torch.optim.RMSprop",
    state=("v", "g_avg", "b"),
    torch=("RMSprop", {}),
))


@OPTIMIZERS.kernel(RMSPROP)
@kernel
def rmsprop(x, g, t, lr_t, lr, alpha, eps, weight_decay, momentum, centered, v, g_avg, b):
    """torch RMSprop, optionally centered and with momentum."""
    d = g + weight_decay * x
    v = v * alpha + (1.0 - alpha) * d * d
    if centered != 0.0:
        g_avg = _lerp(g_avg, d, 1.0 - alpha)
        avg = np.sqrt(v + (-1.0) * g_avg * g_avg) + eps
    else:
        avg = np.sqrt(v) + eps
    if momentum > 0.0:
        b = b * momentum + d / avg
        return x + (-lr_t) * b, v, g_avg, b
    return x + (-lr_t) * (d / avg), v, g_avg, b


# --- adadelta --------------------------------------------------------------
ADADELTA = OPTIMIZERS.add(OptimizerSpec(
    id="adadelta",
    group="adaptive",
    label="Adadelta",
    help="Scales steps by the ratio of running RMS of past steps to RMS of gradients; torch keeps an lr (default 1).",
    hyperparameters=(
        lr(1.0),
        Hyperparameter("rho", r"\rho", 0.9, 0.0, 0.9999, "decay of both running averages"),
        eps(1e-6),
        weight_decay(),
    ),
    rule=(
        r"E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2 \\ "
        r"\Delta_t = \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\, g_t \\ "
        r"E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1-\rho) \Delta_t^2 \\ "
        r"x_t = x_{t-1} - \eta\, \Delta_t"
    ),
    reference="Zeiler (2012), arXiv:1212.5701, Algorithm 1; torch.optim.Adadelta",
    state=("square_avg", "acc_delta"),
    torch=("Adadelta", {}),
))


@OPTIMIZERS.kernel(ADADELTA)
@kernel
def adadelta(x, g, t, lr_t, lr, rho, eps, weight_decay, square_avg, acc_delta):
    """torch Adadelta."""
    d = g + weight_decay * x
    square_avg = square_avg * rho + (1.0 - rho) * d * d
    std = np.sqrt(square_avg + eps)
    delta = np.sqrt(acc_delta + eps) / std * d
    acc_delta = acc_delta * rho + (1.0 - rho) * delta * delta
    return x + (-lr_t) * delta, square_avg, acc_delta


# --- adam ------------------------------------------------------------------
ADAM = OPTIMIZERS.add(OptimizerSpec(
    id="adam",
    group="adaptive",
    label="Adam",
    help="Momentum on the gradient divided by the root of a running mean square, both bias-corrected (torch form).",
    hyperparameters=(lr(1e-3), beta1(), beta2(), eps(1e-8), weight_decay()),
    rule=ADAM_RULE,
    reference="Kingma & Ba (2015), arXiv:1412.6980, Algorithm 1; torch.optim.Adam",
    state=ADAM_STATE,
    torch=("Adam", {}),
    step_size=adam_step_size,
    init=ADAM_INIT,
))


@OPTIMIZERS.kernel(ADAM)
@kernel
def adam(x, g, t, lr_t, lr, beta1, beta2, eps, weight_decay, m, v, _beta1_power, _beta2_power):
    """torch Adam with coupled (L2) weight decay."""
    x, m, v, p1, p2, _ = _adam_core(x, g + weight_decay * x, lr_t, beta1, beta2, eps, m, v, _beta1_power, _beta2_power, 0.0, False)
    return x, m, v, p1, p2


# --- adamw -----------------------------------------------------------------
ADAMW = OPTIMIZERS.add(OptimizerSpec(
    id="adamw",
    group="adaptive",
    label="AdamW",
    help="Adam with decoupled weight decay: the parameters shrink by lr·weight_decay before each Adam step.",
    hyperparameters=(lr(1e-3), beta1(), beta2(), eps(1e-8), weight_decay(1e-2, "decoupled decay: x shrinks by lr·λ each step")),
    rule=r"x_{t-1} \leftarrow x_{t-1}(1 - \eta\lambda) \\ " + ADAM_RULE,
    reference="Loshchilov & Hutter (2019), arXiv:1711.05101, Algorithm 2; torch.optim.AdamW",
    state=ADAM_STATE,
    torch=("AdamW", {}),
    step_size=adam_step_size,
    init=ADAM_INIT,
))


@OPTIMIZERS.kernel(ADAMW)
@kernel
def adamw(x, g, t, lr_t, lr, beta1, beta2, eps, weight_decay, m, v, _beta1_power, _beta2_power):
    """torch AdamW: decay uses the pre-update x and is multiplied by lr."""
    x = x * (1.0 - lr_t * weight_decay)
    x, m, v, p1, p2, _ = _adam_core(x, g, lr_t, beta1, beta2, eps, m, v, _beta1_power, _beta2_power, 0.0, False)
    return x, m, v, p1, p2


# --- amsgrad ---------------------------------------------------------------
AMSGRAD = OPTIMIZERS.add(OptimizerSpec(
    id="amsgrad",
    group="adaptive",
    label="AMSGrad",
    help="Adam that never lets its denominator shrink: the max of all raw second moments so far (torch form).",
    hyperparameters=(lr(1e-3), beta1(), beta2(), eps(1e-8), weight_decay()),
    rule=(
        r"\hat v_t = \max(\hat v_{t-1}, v_t) \\ "
        r"x_t = x_{t-1} - \frac{\eta}{1-\beta_1^t} \cdot \frac{m_t}{\sqrt{\hat v_t}/\sqrt{1-\beta_2^t} + \epsilon}"
    ),
    reference="Reddi, Kale & Kumar (2018), ICLR, Algorithm 2; torch.optim.Adam(amsgrad=True)",
    state=ADAM_STATE + ("v_max",),
    torch=("Adam", {"amsgrad": True}),
    step_size=adam_step_size,
    init=ADAM_INIT,
))


@OPTIMIZERS.kernel(AMSGRAD)
@kernel
def amsgrad(x, g, t, lr_t, lr, beta1, beta2, eps, weight_decay, m, v, _beta1_power, _beta2_power, v_max):
    """torch Adam(amsgrad=True): max over the raw v, then bias-correct."""
    return _adam_core(x, g + weight_decay * x, lr_t, beta1, beta2, eps, m, v, _beta1_power, _beta2_power, v_max, True)


# --- adamax ----------------------------------------------------------------
ADAMAX = OPTIMIZERS.add(OptimizerSpec(
    id="adamax",
    group="adaptive",
    label="Adamax",
    help="Adam with the infinity norm: divides by a decaying max of |g| instead of a root mean square.",
    hyperparameters=(lr(2e-3), beta1(), beta2(), eps(1e-8), weight_decay()),
    rule=(
        r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t \\ "
        r"u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon) \\ "
        r"x_t = x_{t-1} - \frac{\eta}{1-\beta_1^t} \cdot \frac{m_t}{u_t}"
    ),
    reference="Kingma & Ba (2015), arXiv:1412.6980, Section 7.1, Algorithm 2; torch.optim.Adamax",
    state=("m", "u", "_beta1_power"),
    torch=("Adamax", {}),
    step_size=lambda lr_t, t, hp, state: lr_t / (1.0 - state["_beta1_power"]),
    init={"_beta1_power": 1.0},
))


@OPTIMIZERS.kernel(ADAMAX)
@kernel
def adamax(x, g, t, lr_t, lr, beta1, beta2, eps, weight_decay, m, u, _beta1_power):
    """torch Adamax: eps inside the max."""
    d = g + weight_decay * x
    m = _lerp(m, d, 1.0 - beta1)
    u = max(u * beta2, abs(d) + eps)
    _beta1_power = _power(_beta1_power, beta1)
    clr = lr_t / (1.0 - _beta1_power)
    return x + (-clr) * (m / u), m, u, _beta1_power


# --- nadam -----------------------------------------------------------------
NADAM = OPTIMIZERS.add(OptimizerSpec(
    id="nadam",
    group="adaptive",
    label="NAdam",
    help="Adam with Nesterov momentum; torch warms the momentum up through momentum_decay.",
    hyperparameters=(
        lr(2e-3), beta1(), beta2(), eps(1e-8), weight_decay(),
        Hyperparameter("momentum_decay", r"\psi", 4e-3, 0.0, 1.0, "speed at which the momentum schedule μ_t rises to β1"),
    ),
    rule=(
        r"\mu_t = \beta_1 (1 - \tfrac12 0.96^{t\psi}) \\ "
        r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\; v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\ "
        r"x_t = x_{t-1} - \eta \left[\frac{1-\mu_t}{1-\prod_{i\le t}\mu_i} g_t + \frac{\mu_{t+1}}{1-\prod_{i\le t+1}\mu_i} m_t\right] "
        r"\Big/ \left(\sqrt{v_t/(1-\beta_2^t)} + \epsilon\right)"
    ),
    reference="Dozat (2016), ICLR workshop, Algorithm 2; torch.optim.NAdam",
    state=("m", "v", "_mu_product", "_beta2_power"),
    torch=("NAdam", {}),
    init={"_mu_product": 1.0, "_beta2_power": 1.0},
))


@OPTIMIZERS.kernel(NADAM)
@kernel
def nadam(x, g, t, lr_t, lr, beta1, beta2, eps, weight_decay, momentum_decay, m, v, _mu_product, _beta2_power):
    """torch NAdam with the 0.96**(t*psi) momentum schedule."""
    d = g + weight_decay * x
    _beta2_power = _power(_beta2_power, beta2)
    bias_correction2 = 1.0 - _beta2_power
    tf = float(t)
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (tf * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((tf + 1.0) * momentum_decay))
    _mu_product = _power(_mu_product, mu)
    m = _lerp(m, d, 1.0 - beta1)
    v = v * beta2 + (1.0 - beta2) * d * d
    denom = np.sqrt(v / bias_correction2) + eps
    mu_product_next = _mu_product * mu_next
    x = x + (-lr_t * (1.0 - mu) / (1.0 - _mu_product)) * (d / denom)
    x = x + ((-lr_t * mu_next) / (1.0 - mu_product_next)) * (m / denom)
    return x, m, v, _mu_product, _beta2_power


# --- radam -----------------------------------------------------------------
RADAM = OPTIMIZERS.add(OptimizerSpec(
    id="radam",
    group="adaptive",
    label="RAdam",
    help="Adam whose adaptive step is switched on gradually, once the variance of v is trustworthy (rho_t > 5).",
    hyperparameters=(lr(1e-3), beta1(), beta2(), eps(1e-8), weight_decay()),
    rule=(
        r"\rho_\infty = \tfrac{2}{1-\beta_2} - 1,\; \rho_t = \rho_\infty - \tfrac{2t\beta_2^t}{1-\beta_2^t} \\ "
        r"r_t = \sqrt{\tfrac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}} \\ "
        r"x_t = x_{t-1} - \eta \frac{m_t}{1-\beta_1^t} \cdot \begin{cases} r_t \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon} & \rho_t > 5 \\ 1 & \text{otherwise} \end{cases}"
    ),
    reference="Liu et al. (2020), ICLR, arXiv:1908.03265, Algorithm 2; torch.optim.RAdam",
    state=ADAM_STATE,
    torch=("RAdam", {}),
    init=ADAM_INIT,
))


@OPTIMIZERS.kernel(RADAM)
@kernel
def radam(x, g, t, lr_t, lr, beta1, beta2, eps, weight_decay, m, v, _beta1_power, _beta2_power):
    """torch RAdam: eps on the raw sqrt(v), rectified only when rho_t > 5."""
    d = g + weight_decay * x
    m = _lerp(m, d, 1.0 - beta1)
    v = v * beta2 + (1.0 - beta2) * d * d
    _beta1_power = _power(_beta1_power, beta1)
    _beta2_power = _power(_beta2_power, beta2)
    bias_correction1 = 1.0 - _beta1_power
    bias_correction2 = 1.0 - _beta2_power
    m_hat = m / bias_correction1
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * float(t) * _beta2_power / bias_correction2
    if rho_t > 5.0:
        rect = np.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
        adaptive = np.sqrt(bias_correction2) / (np.sqrt(v) + eps)
        x = x + (-1.0) * (m_hat * lr_t * adaptive * rect)
    else:
        x = x + (-1.0) * (m_hat * lr_t)
    return x, m, v, _beta1_power, _beta2_power


# --- lion ------------------------------------------------------------------
LION = OPTIMIZERS.add(OptimizerSpec(
    id="lion",
    group="modern",
    label="Lion",
    help="Steps by exactly ±lr per coordinate: the sign of an interpolation between momentum and gradient.",
    hyperparameters=(
        lr(1e-4),
        beta1(0.9),
        Hyperparameter("beta2", r"\beta_2", 0.99, 0.0, 0.999999, "decay of the momentum that is carried forward"),
        weight_decay(0.0, "decoupled decay: x shrinks by lr·λ each step"),
    ),
    rule=(
        r"x_{t-1} \leftarrow x_{t-1}(1 - \eta\lambda) \\ "
        r"x_t = x_{t-1} - \eta\, \mathrm{sign}(\beta_1 m_{t-1} + (1-\beta_1) g_t) \\ "
        r"m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t"
    ),
    reference="Chen et al. (2023), Symbolic Discovery of Optimization Algorithms, arXiv:2302.06675, Program 1",
    state=("m",),
))


@OPTIMIZERS.kernel(LION)
@kernel
def lion(x, g, t, lr_t, lr, beta1, beta2, weight_decay, m):
    """Lion as in the reference implementation (google/automl lion_pytorch.py)."""
    x = x * (1.0 - lr_t * weight_decay)
    c = m * beta1 + g * (1.0 - beta1)
    x = x + (-lr_t) * np.sign(c)
    return x, m * beta2 + (1.0 - beta2) * g


# --- adam_tf ---------------------------------------------------------------
ADAM_TF = OPTIMIZERS.add(OptimizerSpec(
    id="adam_tf",
    group="dialects",
    label="Adam (TensorFlow)",
    help="TensorFlow 1 / Keras Adam: bias correction folded into lr_t, so eps ('epsilon hat') acts on the raw sqrt(v).",
    hyperparameters=(lr(1e-3), beta1(), beta2(), eps(1e-8, "epsilon hat: added to the raw, uncorrected sqrt(v)")),
    rule=(
        r"\eta_t = \eta \sqrt{1-\beta_2^t} / (1-\beta_1^t) \\ "
        r"m_t = m_{t-1} + (g_t - m_{t-1})(1-\beta_1),\; v_t = v_{t-1} + (g_t^2 - v_{t-1})(1-\beta_2) \\ "
        r"x_t = x_{t-1} - \eta_t \frac{m_t}{\sqrt{v_t} + \hat\epsilon}"
    ),
    reference="Kingma & Ba (2015), the formula before Section 2.1; TensorFlow training_ops.cc ApplyAdam",
    state=ADAM_STATE,
    step_size=adam_step_size,
    init=ADAM_INIT,
))


@OPTIMIZERS.kernel(ADAM_TF)
@kernel
def adam_tf(x, g, t, lr_t, lr, beta1, beta2, eps, m, v, _beta1_power, _beta2_power):
    """TF1 ApplyAdam with running beta powers."""
    _beta1_power = _power(_beta1_power, beta1)
    _beta2_power = _power(_beta2_power, beta2)
    alpha = lr_t * np.sqrt(1.0 - _beta2_power) / (1.0 - _beta1_power)
    m = m + (g - m) * (1.0 - beta1)
    v = v + (g * g - v) * (1.0 - beta2)
    return x - (m * alpha) / (np.sqrt(v) + eps), m, v, _beta1_power, _beta2_power


# --- rmsprop_tf ------------------------------------------------------------
RMSPROP_TF = OPTIMIZERS.add(OptimizerSpec(
    id="rmsprop_tf",
    group="dialects",
    label="RMSprop (TensorFlow 1)",
    help="TensorFlow 1 RMSprop: eps inside the square root, mean square starts at 1, lr inside the momentum buffer.",
    hyperparameters=(
        lr(1e-3),
        Hyperparameter("alpha", r"\rho", 0.9, 0.0, 0.9999, "decay of the squared-gradient average (TF calls it decay)"),
        eps(1e-10),
        momentum(0.0, "momentum on the step, with lr inside the buffer"),
        Hyperparameter("centered", r"c", 0.0, 0.0, 1.0, "subtract the squared mean gradient (centered RMSprop)", kind="bool"),
    ),
    rule=(
        r"ms_t = ms_{t-1} + (g_t^2 - ms_{t-1})(1-\rho),\; ms_0 = 1 \\ "
        r"mom_t = \mu\, mom_{t-1} + \frac{\eta\, g_t}{\sqrt{ms_t - \bar g_t^2 + \epsilon}} \\ "
        r"x_t = x_{t-1} - mom_t"
    ),
    reference="TensorFlow 1 tf.train.RMSPropOptimizer; training_ops.cc ApplyRMSProp and ApplyCenteredRMSProp",
    state=("ms", "mg", "mom"),
    init={"ms": 1.0},
))


@OPTIMIZERS.kernel(RMSPROP_TF)
@kernel
def rmsprop_tf(x, g, t, lr_t, lr, alpha, eps, momentum, centered, ms, mg, mom):
    """TF1 ApplyRMSProp / ApplyCenteredRMSProp."""
    ms = ms + (g * g - ms) * (1.0 - alpha)
    if centered != 0.0:
        mg = mg + (g - mg) * (1.0 - alpha)
        denom = ms - mg * mg + eps
    else:
        denom = ms + eps
    mom = mom * momentum + (g * lr_t) / np.sqrt(denom)
    return x - mom, ms, mg, mom


# --- momentum_cs231n -------------------------------------------------------
MOMENTUM_CS231N = OPTIMIZERS.add(OptimizerSpec(
    id="momentum_cs231n",
    group="dialects",
    label="Momentum (CS231n / Keras)",
    help="Momentum with lr folded into the velocity. Equal to torch's form at constant lr, different once lr changes.",
    hyperparameters=(lr(1e-3), momentum(0.9)),
    rule=r"v_t = \mu v_{t-1} - \eta_t g_t \\ x_t = x_{t-1} + v_t",
    reference="Stanford CS231n notes, Neural Networks Part 3; Keras SGD(momentum=...)",
    state=("v",),
))


@OPTIMIZERS.kernel(MOMENTUM_CS231N)
@kernel
def momentum_cs231n(x, g, t, lr_t, lr, momentum, v):
    """Velocity form: past learning rates stay inside v."""
    v = momentum * v - lr_t * g
    return x + v, v


# --- swats -----------------------------------------------------------------
SWATS = OPTIMIZERS.add(OptimizerSpec(
    id="swats",
    group="adaptive",
    label="Adam → SGD (SWATS-style)",
    help="Adam early, SGD with momentum late: hands over at a chosen step, as SWATS does at an estimated one.",
    hyperparameters=(
        lr(1e-3), beta1(), beta2(), eps(1e-8),
        Hyperparameter("switch_step", r"T_s", 100, 0, 1_000_000, "last step taken by Adam; SGD takes over after it", kind="int"),
        Hyperparameter("sgd_lr", r"\eta_{sgd}", 1e-2, 1e-6, 10.0, "learning rate of the SGD phase (scheduled like lr)", log=True),
        momentum(0.9, "momentum of the SGD phase"),
    ),
    rule=(
        r"t \le T_s:\; \text{Adam}(\eta, \beta_1, \beta_2, \epsilon) \\ "
        r"t > T_s:\; b_t = \mu b_{t-1} + g_t \;(b_{T_s+1} = g),\; x_t = x_{t-1} - \eta_{sgd} b_t"
    ),
    reference="Keskar & Socher (2017), Improving Generalization Performance by Switching from Adam to SGD, arXiv:1712.07628",
    state=ADAM_STATE + ("b",),
    step_size=lambda lr_t, t, hp, state: np.where(
        t <= hp["switch_step"], adam_step_size(lr_t, t, hp, state), lr_t * hp["sgd_lr"] / hp["lr"]
    ),
    init=ADAM_INIT,
))


@OPTIMIZERS.kernel(SWATS)
@kernel
def swats(x, g, t, lr_t, lr, beta1, beta2, eps, switch_step, sgd_lr, momentum, m, v, _beta1_power, _beta2_power, b):
    """Adam for t <= switch_step, then torch-form SGD with momentum."""
    if t <= switch_step:
        x, m, v, p1, p2, _ = _adam_core(x, g, lr_t, beta1, beta2, eps, m, v, _beta1_power, _beta2_power, 0.0, False)
        return x, m, v, p1, p2, b
    # The schedule scales the SGD phase's lr by the same factor as lr.
    x, b = _sgd_momentum(x, g, t == switch_step + 1, sgd_lr * (lr_t / lr), momentum, 0.0, False, b)
    return x, m, v, _beta1_power, _beta2_power, b

# --- sam -------------------------------------------------------------------
SAM = OPTIMIZERS.add(OptimizerSpec(
    id="sam",
    label="SAM",
    help="Sharpness-aware: takes its gradient at the worst point within rho of x, then steps from x with plain SGD.",
    hyperparameters=(
        lr(1e-3),
        Hyperparameter("rho", r"\rho", 0.05, 0.0, 10.0, "radius of the ascent step that looks for the worst nearby loss"),
        Hyperparameter("adaptive", r"a", 0.0, 0.0, 1.0, "ASAM: scale the ascent step by |x| per coordinate", kind="bool"),
        Hyperparameter("perturb_eps", r"\delta", 1e-12, 1e-16, 1e-2, "added to the gradient norm", log=True),
    ),
    rule=(
        r"e_t = \rho\, \frac{g_t}{\lVert g_t \rVert + \delta} \;(\text{ASAM: } x^2 g_t, \lVert |x| g_t \rVert) \\ "
        r"x_t = x_{t-1} - \eta\, \nabla f(x_{t-1} + e_t)"
    ),
    reference="Foret et al. (2021), Sharpness-Aware Minimization, ICLR, arXiv:2010.01412, Algorithm 1; pytorch_optimizer.SAM over torch.optim.SGD",
    state=("ascent", "ascent_grad"),
    points=("ascent",),
    whole=True,
    group="modern",
    package=("pytorch_optimizer:SAM", {"base_optimizer": "torch.optim:SGD"}),
))


@OPTIMIZERS.kernel(SAM)
@whole_kernel
def sam(x, g, f, t, lr_t, lr, rho, adaptive, perturb_eps, ascent, ascent_grad, surf):
    """pytorch_optimizer's SAM (first_step, then second_step) over torch SGD without momentum."""
    n = x.shape[0]
    sq = 0.0
    for i in range(n):
        w = g[i] * abs(x[i]) if adaptive != 0.0 else g[i]
        sq += w * w
    # The reference sums the squared norm in float32, so its scale carries float32 rounding.
    norm = np.float32(np.sqrt(sq))
    norm = np.float32(np.sqrt(np.float32(norm * norm))) + np.float32(perturb_eps)
    scale = float(np.float32(np.float32(1.0) / norm) * np.float32(rho))
    for i in range(n):
        e = (x[i] * x[i] if adaptive != 0.0 else 1.0) * g[i] * scale
        ascent[i] = x[i] + e
    probe.gradient(surf, ascent, ascent_grad)
    for i in range(n):
        x[i] = x[i] + (-lr_t) * ascent_grad[i]


# === torch.optim's newer optimizers ===========================================
# (muon, adafactor, rprop, asgd, lbfgs)


# === pytorch_optimizer's elementwise family ===================================
# (adabelief, lamb, adan, adopt, ademamix, mars, lookahead)


# === preconditioners and schedule-free ========================================
# (soap, shampoo, prodigy, schedulefree_adamw, schedulefree_sgd)


def fma(a, b, c):
    """a * b + c rounded once.

    torch's CPU kernels are built for AVX2 with floating-point contraction, so
    on such a CPU its lerp, addcmul and add/sub with alpha round a fused
    multiply-add (measured on torch 2.13: every one of thousands of draws).
    Where a reference amplifies the last bit (SOAP divides rounding-level
    projections by eps) only the fused rounding matches it. This Python body
    runs when numba is disabled; compiled code uses the instruction.
    """
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return a * b + c
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    try:
        return float(exact)
    except OverflowError:
        return math.inf if exact > 0 else -math.inf


@intrinsic
def _llvm_fma(typingctx, a, b, c):
    def codegen(context, builder, signature, args):
        args = [context.cast(builder, v, t, types.float64) for v, t in zip(args, signature.args)]
        double = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [double], ir.FunctionType(double, [double] * 3))
        return builder.call(fn, args)

    return types.float64(a, b, c), codegen


@overload(fma)
def _fma_compiled(a, b, c):
    return lambda a, b, c: _llvm_fma(a, b, c)


@njit(inline="always")
def _lerp_fused(a, b, w):
    # torch.lerp: its formula chosen by |w| (Schedule-Free moves to x with the negative weight 1 - 1/beta1), fused.
    if abs(w) < 0.5:
        return fma(w, b - a, a)
    return fma(w - 1.0, b - a, b)


@njit(inline="always")
def _schedulefree_weight(t, lr_t, warmup_steps, r, weight_lr_power, lr_max, weight_sum):
    """(warmed-up lr, c_{k+1}) of schedulefree 1.4, whose Python floats round as here; updates lr_max, weight_sum."""
    lr = lr_t * (float(t) / float(warmup_steps)) if t <= warmup_steps else lr_t
    if not lr_max[0] > lr:
        lr_max[0] = lr
    weight = float(t) ** r * lr_max[0] ** weight_lr_power
    weight_sum[0] = weight_sum[0] + weight
    # The reference guards against weight_sum = 0; lr > 0 at every step here, so the first weight is positive.
    ckp1 = weight / weight_sum[0]
    return lr, ckp1


@njit(inline="always")
def _schedulefree_start(x, y, z, t):
    # The reference's first step clones z from y, which is still x: train() has nothing to interpolate yet.
    if t == 1:
        for i in range(x.shape[0]):
            y[i] = x[i]
            z[i] = x[i]


@njit(inline="always")
def _schedulefree_move(y, z, i, d, weight_decay, lr, beta, ckp1):
    # Decay is taken at y; y moves in place, as the reference moves it, without forming x.
    if weight_decay != 0.0:
        d = fma(weight_decay, y[i], d)
    y[i] = _lerp_fused(y[i], z[i], ckp1)
    y[i] = fma(lr * (beta * (1.0 - ckp1) - 1.0), d, y[i])
    z[i] = fma(-lr, d, z[i])


@njit(inline="always")
def _schedulefree_points(x, y, z, beta):
    # eval() moves the parameter to x = y + (1 - 1/beta)(z - y), train() back to y = x + (1 - beta)(z - x);
    # the reference's next gradient is taken at that round trip's y, not at the y its step left.
    for i in range(x.shape[0]):
        x[i] = _lerp_fused(y[i], z[i], 1.0 - 1.0 / beta)
        y[i] = _lerp_fused(x[i], z[i], 1.0 - beta)


SCHEDULEFREE_HYPERPARAMETERS = (
    Hyperparameter("weight_decay", r"\lambda", 0.0, 0.0, 1.0, "L2 penalty, taken at y and added to the (normalised) gradient"),
    Hyperparameter("warmup_steps", r"T_w", 0, 0, 1000, "steps over which lr rises linearly from lr/T_w to lr", kind="int"),
    Hyperparameter("r", r"r", 0.0, 0.0, 4.0, "polynomial weighting: step t counts t^r in the average x"),
    Hyperparameter("weight_lr_power", r"p", 2.0, 0.0, 4.0, "step t also counts (max lr so far)^p in the average x"),
)
SCHEDULEFREE_RULE = (
    r"c_{t} = \frac{t^r \eta_{\max}^p}{\sum_{i \le t} i^r \eta_{\max,i}^p} \\ "
    r"z_t = z_{t-1} - \eta_t\, d_t,\quad x_t = (1 - c_t)\, x_{t-1} + c_t z_t \\ "
    r"y_t = (1 - \beta)\, z_t + \beta x_t,\quad d_t \text{ from } \nabla f(y_{t-1})"
)


# --- schedulefree_adamw ------------------------------------------------------
SCHEDULEFREE_ADAMW = OPTIMIZERS.add(OptimizerSpec(
    id="schedulefree_adamw",
    group="modern",
    label="Schedule-Free AdamW",
    help="No lr schedule: Adam-normalised steps move z, the plotted x averages the z's, gradients are taken at y between them.",
    hyperparameters=(
        lr(2.5e-3),
        Hyperparameter("beta1", r"\beta_1", 0.9, 0.01, 0.9999, "where y sits between x (1) and z (0); x is recovered from y by 1/beta1"),
        beta2(),
        eps(1e-8),
    ) + SCHEDULEFREE_HYPERPARAMETERS,
    rule=(
        r"v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\; g_t = \nabla f(y_{t-1}) \\ "
        r"d_t = g_t \big/ \left(\sqrt{v_t / (1-\beta_2^t)} + \epsilon\right) + \lambda y_{t-1} \\ "
    ) + SCHEDULEFREE_RULE.replace(r"\beta", r"\beta_1"),
    reference=(
        "Defazio et al. (2024), The Road Less Scheduled, arXiv:2405.15682, Algorithm 1; "
        "schedulefree.AdamWScheduleFree (train() before each step, x read after eval())"
    ),
    state=("y", "z", "v", "_grad", "_lr_max", "_weight_sum"),
    shapes={"_lr_max": (1,), "_weight_sum": (1,)},
    init={"_lr_max": -1.0},
    points=("y", "z"),
    whole=True,
    package=("schedulefree:AdamWScheduleFree", {}),
))


@OPTIMIZERS.kernel(SCHEDULEFREE_ADAMW)
@whole_kernel
def schedulefree_adamw(x, g, f, t, lr_t, lr, beta1, beta2, eps, weight_decay, warmup_steps, r, weight_lr_power,
                       y, z, v, _grad, _lr_max, _weight_sum, surf):
    """schedulefree's AdamWScheduleFree.step between train() and eval(); x is the plotted point, the gradient is taken at y."""
    _schedulefree_start(x, y, z, t)
    lr_k, ckp1 = _schedulefree_weight(t, lr_t, warmup_steps, r, weight_lr_power, _lr_max, _weight_sum)
    # The reference computes beta2 ** (k+1) with pow each step.
    bias_correction2 = 1.0 - beta2 ** float(t)
    probe.gradient(surf, y, _grad)
    for i in range(x.shape[0]):
        v[i] = fma((1.0 - beta2) * _grad[i], _grad[i], v[i] * beta2)
        denom = np.sqrt(v[i] / bias_correction2) + eps
        _schedulefree_move(y, z, i, _grad[i] / denom, weight_decay, lr_k, beta1, ckp1)
    _schedulefree_points(x, y, z, beta1)


# --- schedulefree_sgd --------------------------------------------------------
SCHEDULEFREE_SGD = OPTIMIZERS.add(OptimizerSpec(
    id="schedulefree_sgd",
    group="modern",
    label="Schedule-Free SGD",
    help="No lr schedule: plain gradient steps move z, the plotted x averages the z's, gradients are taken at y between them.",
    hyperparameters=(
        # The reference's default lr is 1.0, sized for normalised deep networks; on these surfaces it diverges at once.
        Hyperparameter("lr", r"\eta", 1e-3, 1e-6, 10.0, "learning rate of the z steps (the reference defaults to 1.0)", log=True),
        Hyperparameter("momentum", r"\beta", 0.9, 0.01, 0.999, "where y sits between x (1) and z (0); the reference needs 0 < momentum < 1"),
    ) + SCHEDULEFREE_HYPERPARAMETERS,
    rule=r"d_t = \nabla f(y_{t-1}) + \lambda y_{t-1} \\ " + SCHEDULEFREE_RULE,
    reference=(
        "Defazio et al. (2024), The Road Less Scheduled, arXiv:2405.15682, Algorithm 1; "
        "schedulefree.SGDScheduleFree (train() before each step, x read after eval())"
    ),
    state=("y", "z", "_grad", "_lr_max", "_weight_sum"),
    shapes={"_lr_max": (1,), "_weight_sum": (1,)},
    init={"_lr_max": -1.0},
    points=("y", "z"),
    whole=True,
    package=("schedulefree:SGDScheduleFree", {}),
))


@OPTIMIZERS.kernel(SCHEDULEFREE_SGD)
@whole_kernel
def schedulefree_sgd(x, g, f, t, lr_t, lr, momentum, weight_decay, warmup_steps, r, weight_lr_power,
                     y, z, _grad, _lr_max, _weight_sum, surf):
    """schedulefree's SGDScheduleFree.step between train() and eval(); x is the plotted point, the gradient is taken at y."""
    _schedulefree_start(x, y, z, t)
    lr_k, ckp1 = _schedulefree_weight(t, lr_t, warmup_steps, r, weight_lr_power, _lr_max, _weight_sum)
    probe.gradient(surf, y, _grad)
    for i in range(x.shape[0]):
        _schedulefree_move(y, z, i, _grad[i], weight_decay, lr_k, momentum, ckp1)
    _schedulefree_points(x, y, z, momentum)


# --- prodigy -----------------------------------------------------------------
PRODIGY = OPTIMIZERS.add(OptimizerSpec(
    id="prodigy",
    group="modern",
    label="Prodigy",
    help="Adam whose step size d is learnt: it grows from d0 while the gradients keep pointing away from the start.",
    hyperparameters=(
        lr(1.0),
        beta1(),
        beta2(),
        # The reference's beta3=None means sqrt(beta2); a slider needs a number, sqrt(0.999) at the default beta2.
        Hyperparameter("beta3", r"\beta_3", float(np.sqrt(0.999)), 0.0, 0.999999,
                       "decay of the sums behind d (the reference's None means sqrt(beta2), the default here)"),
        eps(1e-8, "added to sqrt(v), times d"),
        weight_decay(0.0, "weight decay; decoupled (x shrinks by d·lr·λ) or added to the gradient, as decouple says"),
        Hyperparameter("decouple", r"\mathrm{dec}", 1, 0, 1, "AdamW-style decoupled weight decay instead of L2", kind="bool"),
        Hyperparameter("use_bias_correction", r"\mathrm{bc}", 0, 0, 1, "Adam's bias correction on the step d·lr", kind="bool"),
        Hyperparameter("safeguard_warmup", r"\mathrm{sw}", 0, 0, 1, "leave lr out of the sum s behind d (for lr warmup)", kind="bool"),
        Hyperparameter("d0", r"d_0", 1e-6, 1e-12, 1.0, "initial step size d", log=True),
        Hyperparameter("d_coef", r"c_d", 1.0, 0.01, 100.0, "d is scaled by this; the paper's preferred knob", log=True),
        # The reference's default is inf (no limit), which a slider cannot hold: 1e12 acts alike here.
        Hyperparameter("growth_rate", r"\gamma", 1e12, 1.0, 1e12, "d may grow at most by this factor per step (the reference: inf)", log=True),
    ),
    rule=(
        r"m_t = \beta_1 m_{t-1} + (1-\beta_1) d_t g_t,\; v_t = \beta_2 v_{t-1} + (1-\beta_2) d_t^2 g_t^2 \\ "
        r"r_t = \beta_3 r_{t-1} + \tfrac{d_t}{d_0}\, d_t \eta\, \langle g_t, x_0 - x_{t-1}\rangle,\; "
        r"s_t = \beta_3 s_{t-1} + \tfrac{d_t}{d_0}\, d_t \eta\, g_t \\ "
        r"d_{t+1} = \min\!\left(\max_{i \le t} c_d\, r_i / \lVert s_i \rVert_1,\; \gamma d_t\right) \\ "
        r"x_t = x_{t-1} - d_t \eta\, m_t / (\sqrt{v_t} + d_{t+1} \epsilon)"
    ),
    reference=(
        "Mishchenko & Defazio (2024), Prodigy: An Expeditiously Adaptive Parameter-Free Learner, ICML, "
        "arXiv:2306.06101, Algorithm 4; prodigyopt.Prodigy (slice_p 1; fsdp_in_use left out)"
    ),
    state=("d", "m", "v", "s", "_p0", "_grad", "_d_max", "_d_numerator", "_k"),
    shapes={"d": (1,), "_d_max": (1,), "_d_numerator": (1,), "_k": (1,)},
    init={"d": "d0", "_d_max": "d0"},
    whole=True,
    package=("prodigyopt:Prodigy", {"slice_p": 1}),
))


@OPTIMIZERS.kernel(PRODIGY)
@whole_kernel
def prodigy(x, g, f, t, lr_t, lr, beta1, beta2, beta3, eps, weight_decay, decouple, use_bias_correction,
            safeguard_warmup, d0, d_coef, growth_rate, d, m, v, s, _p0, _grad, _d_max, _d_numerator, _k, surf):
    """prodigyopt's Prodigy.step on one parameter group holding the whole point."""
    n = x.shape[0]
    if t == 1:
        for i in range(n):
            _p0[i] = x[i]
    # The reference counts its own steps, and skips the count on a step it returns from early.
    k = _k[0]
    dk = d[0]
    if use_bias_correction != 0.0:
        bias_correction = (1.0 - beta2 ** (k + 1.0)) ** 0.5 / (1.0 - beta1 ** (k + 1.0))
    else:
        bias_correction = 1.0
    dlr = dk * lr_t * bias_correction
    d_numerator = _d_numerator[0] * beta3
    dot = 0.0
    for i in range(n):
        _grad[i] = fma(weight_decay, x[i], g[i]) if weight_decay != 0.0 and decouple == 0.0 else g[i]
        dot += _grad[i] * (_p0[i] - x[i])
    delta_numerator = dk / d0 * dlr * dot
    scale = dk / d0 * (dk if safeguard_warmup != 0.0 else dlr)
    d_denom = 0.0
    for i in range(n):
        if beta1 > 0.0:
            m[i] = fma(dk * (1.0 - beta1), _grad[i], m[i] * beta1)
        v[i] = fma(dk * dk * (1.0 - beta2) * _grad[i], _grad[i], v[i] * beta2)
        s[i] = fma(scale, _grad[i], s[i] * beta3)
        d_denom += abs(s[i])
    # Without any gradient so far the reference returns before it updates d or moves.
    if d_denom == 0.0:
        return
    d_numerator = d_numerator + delta_numerator
    d_hat = d_coef * d_numerator / d_denom
    # Python's max and min, which keep their first argument on ties.
    if dk == d0 and d_hat > dk:
        dk = d_hat
    if d_hat > _d_max[0]:
        _d_max[0] = d_hat
    if dk * growth_rate < _d_max[0]:
        dk = dk * growth_rate
    else:
        dk = _d_max[0]
    _d_numerator[0] = d_numerator
    d[0] = dk
    _k[0] = k + 1.0
    for i in range(n):
        denom = np.sqrt(v[i]) + dk * eps
        if weight_decay != 0.0 and decouple != 0.0:
            x[i] = fma(-weight_decay * dlr, x[i], x[i])
        # torch's addcdiv multiplies by the value before it divides.
        if beta1 > 0.0:
            x[i] = x[i] + (-dlr) * m[i] / denom
        else:
            x[i] = x[i] + (-dlr * dk) * _grad[i] / denom


# Shampoo's and SOAP's matrices are 2 x 2 here (the parameter is a point of the plane). They are
# decomposed in closed form, as LAPACK itself decomposes a 2 x 2 block, instead of through
# np.linalg, whose numba implementation needs SciPy at run time.
@njit(inline="always")
def _sign(a, b):
    # Fortran's SIGN(a, b).
    return abs(a) if b >= 0.0 else -abs(a)


@njit(inline="always")
def _lapy2(x, y):
    """sqrt(x^2 + y^2) without overflow (LAPACK dlapy2)."""
    w = max(abs(x), abs(y))
    z = min(abs(x), abs(y))
    if z == 0.0:
        return w
    return w * np.sqrt(1.0 + (z / w) ** 2)


@njit(inline="always")
def _lasv2(f, g, h):
    """SVD of the upper triangular [[f, g], [0, h]] (LAPACK dlasv2): ssmin, ssmax, snr, csr, snl, csl."""
    ft, fa, ht, ha = f, abs(f), h, abs(h)
    pmax = 1
    swap = ha > fa
    if swap:
        pmax = 3
        ft, ht = ht, ft
        fa, ha = ha, fa
    gt, ga = g, abs(g)
    if ga == 0.0:
        ssmin, ssmax = ha, fa
        clt, crt, slt, srt = 1.0, 1.0, 0.0, 0.0
    else:
        gasmal = True
        if ga > fa:
            pmax = 2
            if fa / ga < 2.0**-53:
                gasmal = False
                ssmax = ga
                ssmin = fa / (ga / ha) if ha > 1.0 else (fa / ga) * ha
                clt, slt, srt, crt = 1.0, ht / gt, 1.0, ft / gt
        if gasmal:
            d = fa - ha
            el = 1.0 if d == fa else d / fa
            m = gt / ft
            t = 2.0 - el
            mm = m * m
            s = np.sqrt(t * t + mm)
            r = abs(m) if el == 0.0 else np.sqrt(el * el + mm)
            a = 0.5 * (s + r)
            ssmin, ssmax = ha / a, fa * a
            if mm == 0.0:
                t = _sign(2.0, ft) * _sign(1.0, gt) if el == 0.0 else gt / _sign(d, ft) + m / t
            else:
                t = (m / (s + t) + m / (r + el)) * (1.0 + a)
            el = np.sqrt(t * t + 4.0)
            crt, srt = 2.0 / el, t / el
            clt = (crt + srt * m) / a
            slt = (ht / ft) * srt / a
    if swap:
        csl, snl, csr, snr = srt, crt, slt, clt
    else:
        csl, snl, csr, snr = clt, slt, crt, srt
    if pmax == 1:
        tsign = _sign(1.0, csr) * _sign(1.0, csl) * _sign(1.0, f)
    elif pmax == 2:
        tsign = _sign(1.0, snr) * _sign(1.0, csl) * _sign(1.0, g)
    else:
        tsign = _sign(1.0, snr) * _sign(1.0, snl) * _sign(1.0, h)
    return _sign(ssmin, tsign * _sign(1.0, f) * _sign(1.0, h)), _sign(ssmax, tsign), snr, csr, snl, csl


@njit(inline="always")
def _inverse_root2(A, out):
    """U diag(s^(-1/2)) Vᵀ from torch.linalg.svd of the 2 x 2 A, as LAPACK's dgesdd computes it on this size.

    dgebrd's Householder reflection (dlarfg: beta from dlapy2, v scaled by a reciprocal), dbdsqr's
    2 x 2 step (dlasv2, or a split when the off-diagonal is negligible), signs made positive, sorted,
    U reflected back (dormbr). Bit for bit torch's result over thousands of draws, where a closed-form
    eigendecomposition was off by its own rounding: on ill-conditioned statistics, up to 1e-9.
    """
    a11, a12, a21, a22 = A[0, 0], A[0, 1], A[1, 0], A[1, 1]
    tau, v = 0.0, 0.0
    d1, e1, d2 = a11, a12, a22
    if a21 != 0.0:
        beta = -_sign(_lapy2(a11, abs(a21)), a11)
        tau = (beta - a11) / beta
        v = a21 * (1.0 / (a11 - beta))
        d1 = beta
        w = -tau * (a12 + a22 * v)
        e1 = a12 + w
        d2 = a22 + v * w
    eps = 2.0**-53
    tol = max(10.0, min(100.0, eps**-0.125)) * eps
    mu = abs(d2) * (abs(d1) / (abs(d1) + abs(e1)))
    thresh = max(tol * (min(abs(d1), mu) / np.sqrt(2.0)), 24.0 * 2.2250738585072014e-308)
    if abs(e1) > thresh:
        ssmin, ssmax, snr, csr, snl, csl = _lasv2(d1, e1, d2)
        s1, s2 = ssmax, ssmin
        u00, u01, u10, u11 = csl, -snl, snl, csl
        v00, v01, v10, v11 = csr, snr, -snr, csr
    else:
        s1, s2 = d1, d2
        u00, u01, u10, u11 = 1.0, 0.0, 0.0, 1.0
        v00, v01, v10, v11 = 1.0, 0.0, 0.0, 1.0
    # Vᵀ's rows carry the signs of negative singular values; then the larger first.
    if s1 < 0.0:
        s1, v00, v01 = -s1, -v00, -v01
    if s2 < 0.0:
        s2, v10, v11 = -s2, -v10, -v11
    if s2 > s1:
        s1, s2 = s2, s1
        v00, v01, v10, v11 = v10, v11, v00, v01
        u00, u01, u10, u11 = u01, u00, u11, u10
    if tau != 0.0:
        w = -tau * (u00 + u10 * v)
        u00, u10 = u00 + w, u10 + v * w
        w = -tau * (u01 + u11 * v)
        u01, u11 = u01 + w, u11 + v * w
    # torch raises the singular values to -1/2 as 1/sqrt, then (U * s) @ Vᵀ.
    r1 = 1.0 / np.sqrt(s1)
    r2 = 1.0 / np.sqrt(s2)
    out[0, 0] = (u00 * r1) * v00 + (u01 * r2) * v10
    out[0, 1] = (u00 * r1) * v01 + (u01 * r2) * v11
    out[1, 0] = (u10 * r1) * v00 + (u11 * r2) * v10
    out[1, 1] = (u10 * r1) * v01 + (u11 * r2) * v11


# --- shampoo -----------------------------------------------------------------
SHAMPOO = OPTIMIZERS.add(OptimizerSpec(
    id="shampoo",
    group="second-order",
    label="Shampoo",
    help="On a vector parameter, full-matrix AdaGrad: the gradient times the inverse square root of the summed g gᵀ.",
    hyperparameters=(
        lr(1e-3),
        momentum(0.0, "blend of the previous preconditioned step into the new gradient"),
        weight_decay(),
        Hyperparameter("weight_decouple", r"\mathrm{dec}", 0, 0, 1, "decoupled decay: x shrinks by lr·λ instead of λx joining g", kind="bool"),
        Hyperparameter("fixed_decay", r"\mathrm{fix}", 0, 0, 1, "decoupled decay by λ alone, not lr·λ", kind="bool"),
        Hyperparameter("preconditioning_compute_steps", r"T_p", 1, 1, 1000,
                       "recompute the inverse root every T_p steps (it is zero until the first time)", kind="int"),
        Hyperparameter("matrix_eps", r"\epsilon", 1e-6, 1e-12, 10.0, "the statistics start at this times the identity", log=True),
    ),
    rule=(
        r"\tilde g_t = \mu\, u_{t-1} + (1-\mu) g_t \\ "
        r"G_t = G_{t-1} + \tilde g_t \tilde g_t^\top,\; G_0 = \epsilon I \\ "
        r"u_t = G_t^{-1/2} \tilde g_t \;(\text{SVD}),\quad x_t = x_{t-1} - \eta\, u_t"
    ),
    reference=(
        "Gupta, Koren & Singer (2018), Shampoo: Preconditioned Stochastic Tensor Optimization, ICML, "
        "arXiv:1802.09568, Algorithm 1 (order 1); pytorch_optimizer.Shampoo"
    ),
    state=("momentum_buffer", "_pre_cond", "_inv_pre_cond"),
    shapes={"_pre_cond": ("n", "n"), "_inv_pre_cond": ("n", "n")},
    whole=True,
    package=("pytorch_optimizer:Shampoo", {}),
))


@OPTIMIZERS.kernel(SHAMPOO)
@whole_kernel
def shampoo(x, g, f, t, lr_t, lr, momentum, weight_decay, weight_decouple, fixed_decay, preconditioning_compute_steps,
            matrix_eps, momentum_buffer, _pre_cond, _inv_pre_cond, surf):
    """pytorch_optimizer's Shampoo on a parameter of order 1: one preconditioner, the root 2 * order = 2."""
    if t == 1:
        _pre_cond[0, 0] = matrix_eps
        _pre_cond[1, 1] = matrix_eps
        # The buffer starts as the first gradient, so the first blend leaves it unchanged.
        momentum_buffer[0] = g[0]
        momentum_buffer[1] = g[1]
    g0, g1 = g[0], g[1]
    if momentum > 0.0:
        g0 = _lerp_fused(g0, momentum_buffer[0], momentum)
        g1 = _lerp_fused(g1, momentum_buffer[1], momentum)
    if weight_decay != 0.0:
        if weight_decouple != 0.0:
            shrink = 1.0 - weight_decay * (1.0 if fixed_decay != 0.0 else lr_t)
            x[0] = x[0] * shrink
            x[1] = x[1] * shrink
        elif weight_decay > 0.0:
            g0 = fma(weight_decay, x[0], g0)
            g1 = fma(weight_decay, x[1], g1)
    _pre_cond[0, 0] = _pre_cond[0, 0] + g0 * g0
    _pre_cond[0, 1] = _pre_cond[0, 1] + g0 * g1
    _pre_cond[1, 0] = _pre_cond[1, 0] + g1 * g0
    _pre_cond[1, 1] = _pre_cond[1, 1] + g1 * g1
    if t % preconditioning_compute_steps == 0:
        _inverse_root2(_pre_cond, _inv_pre_cond)
    u0 = g0 * _inv_pre_cond[0, 0] + g1 * _inv_pre_cond[1, 0]
    u1 = g0 * _inv_pre_cond[0, 1] + g1 * _inv_pre_cond[1, 1]
    momentum_buffer[0] = u0
    momentum_buffer[1] = u1
    x[0] = fma(-lr_t, u0, x[0])
    x[1] = fma(-lr_t, u1, x[1])


@njit(inline="always")
def _eigh2(a, b, c):
    """Eigenvalues of [[a, b], [b, c]], larger magnitude first, and the first one's unit eigenvector (LAPACK dlaev2).

    On SOAP's first statistics (rank one, plus 1e-30 I) these are torch.linalg.eigh's bits, up to sign.
    """
    sm = a + c
    df = a - c
    adf = abs(df)
    tb = b + b
    ab = abs(tb)
    if abs(a) > abs(c):
        acmx, acmn = a, c
    else:
        acmx, acmn = c, a
    if adf > ab:
        rt = adf * np.sqrt(1.0 + (ab / adf) ** 2)
    elif adf < ab:
        rt = ab * np.sqrt(1.0 + (adf / ab) ** 2)
    else:
        rt = ab * np.sqrt(2.0)
    if sm < 0.0:
        rt1 = 0.5 * (sm - rt)
        sgn1 = -1
        rt2 = (acmx / rt1) * acmn - (b / rt1) * b
    elif sm > 0.0:
        rt1 = 0.5 * (sm + rt)
        sgn1 = 1
        rt2 = (acmx / rt1) * acmn - (b / rt1) * b
    else:
        rt1 = 0.5 * rt
        rt2 = -0.5 * rt
        sgn1 = 1
    if df >= 0.0:
        cs = df + rt
        sgn2 = 1
    else:
        cs = df - rt
        sgn2 = -1
    if abs(cs) > ab:
        ct = -tb / cs
        sn1 = 1.0 / np.sqrt(1.0 + ct * ct)
        cs1 = ct * sn1
    elif ab == 0.0:
        cs1 = 1.0
        sn1 = 0.0
    else:
        tn = -cs / tb
        cs1 = 1.0 / np.sqrt(1.0 + tn * tn)
        sn1 = tn * cs1
    if sgn1 == sgn2:
        tn = cs1
        cs1 = -sn1
        sn1 = tn
    return rt1, rt2, cs1, sn1


@njit(inline="always")
def _f32(a):
    return float(np.float32(a))


@njit(inline="always")
def _qr2_float32(a, b):
    """Q of torch.linalg.qr in float32 of a 2 x 2 matrix whose first column is (a, b): one Householder reflection.

    Each operation is rounded to float32 as LAPACK's sgeqrf/sorgqr round it (slarfg's beta from
    slapy2, v = x / (alpha - beta)); for the second column a reflection of length 1 is the identity.
    Rounding float64 results of single float32 operations to float32 is exact (53 >= 2 * 24 + 2).
    The same Q comes from (a, b) and (-a, -b), so the signs of the eigenbasis it refines never matter.
    """
    alpha, x = _f32(a), _f32(b)
    if x == 0.0:
        return 1.0, 0.0, 0.0, 1.0
    w, z = max(abs(alpha), abs(x)), min(abs(alpha), abs(x))
    q = _f32(z / w)
    norm = _f32(w * _f32(np.sqrt(_f32(1.0 + _f32(q * q)))))
    beta = -norm if alpha >= 0.0 else norm
    tau = _f32(_f32(beta - alpha) / beta)
    v = _f32(x / _f32(alpha - beta))
    q10 = _f32(-tau * v)
    return _f32(1.0 - tau), q10, q10, _f32(1.0 + _f32(v * q10))


@njit(inline="always")
def _soap_outer(GG, g, w):
    # GG.lerp_(g gᵀ, 1 - shampoo_beta), the outer product itself rounded once per entry.
    for i in range(2):
        for j in range(2):
            GG[i, j] = _lerp_fused(GG[i, j], g[i] * g[j], w)


# --- soap --------------------------------------------------------------------
SOAP = OPTIMIZERS.add(OptimizerSpec(
    id="soap",
    group="second-order",
    label="SOAP",
    help="Adam run in the eigenbasis of Shampoo's gradient statistics, that basis refreshed every few steps.",
    hyperparameters=(
        lr(3e-3),
        beta1(0.95),
        beta2(0.95),
        # The reference's shampoo_beta=None means beta2; a slider needs a number, beta2's default.
        Hyperparameter("shampoo_beta", r"\beta_s", 0.95, 0.0, 0.9999,
                       "decay of the statistics G whose eigenbasis is used (the reference's None means beta2)"),
        weight_decay(1e-2, "decoupled decay: x shrinks by lr·λ after each step"),
        Hyperparameter("precondition_frequency", r"T_Q", 10, 1, 1000, "steps between refreshes of the eigenbasis Q", kind="int"),
        # Off in the reference, where a vector parameter then gets plain Adam; on here, passed explicitly.
        Hyperparameter("precondition_1d", r"\mathrm{1d}", 1, 0, 1,
                       "precondition this vector parameter (off: plain Adam; the reference's default is off)", kind="bool"),
        Hyperparameter("correct_bias", r"\mathrm{bc}", 1, 0, 1, "Adam's bias correction", kind="bool"),
        Hyperparameter("normalize_gradient", r"\mathrm{norm}", 0, 0, 1, "divide the step by its root mean square", kind="bool"),
        eps(1e-8),
    ),
    rule=(
        r"G_t = \beta_s G_{t-1} + (1-\beta_s) g_t g_t^\top,\; Q \text{ from } \mathrm{eigh}(G_1), "
        r"\text{then } \mathrm{qr}(G_t Q) \text{ every } T_Q \\ "
        r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\; v_t = \beta_2 v_{t-1} + (1-\beta_2) (Q^\top g_t)^2 \\ "
        r"x_t = x_{t-1} - \eta \tfrac{\sqrt{1-\beta_2^{t-1}}}{1-\beta_1^{t-1}}\, Q \frac{Q^\top m_t}{\sqrt{v_t} + \epsilon} "
        r"\;(\text{no step at } t = 1)"
    ),
    reference=(
        "Vyas et al. (2025), SOAP: Improving and Stabilizing Shampoo using Adam, ICLR, arXiv:2409.11321, "
        "Algorithm 3; pytorch_optimizer.SOAP (precondition_1d passed; max_precondition_dim, merge_dims, data_format left out)"
    ),
    state=("m", "v", "_GG", "_Q", "_work"),
    shapes={"_GG": ("n", "n"), "_Q": ("n", "n"), "_work": ("n", "n")},
    whole=True,
    package=("pytorch_optimizer:SOAP", {}),
))


@OPTIMIZERS.kernel(SOAP)
@whole_kernel
def soap(x, g, f, t, lr_t, lr, beta1, beta2, shampoo_beta, weight_decay, precondition_frequency, precondition_1d,
         correct_bias, normalize_gradient, eps, m, v, _GG, _Q, _work, surf):
    """pytorch_optimizer's SOAP on a parameter of order 1; Q is the identity when it is not preconditioned."""
    if t == 1:
        _Q[0, 0] = 1.0
        _Q[1, 1] = 1.0
        if precondition_1d != 0.0:
            _soap_outer(_GG, g, 1.0 - shampoo_beta)
            # torch.linalg.eigh(GG + 1e-30 I), its columns flipped to descending order. Q's signs cancel in every use.
            # GG is positive semidefinite, so the eigenvalue of larger magnitude is the larger one.
            _, _, cs, sn = _eigh2(_GG[0, 0] + 1e-30, _GG[0, 1], _GG[1, 1] + 1e-30)
            _Q[0, 0], _Q[1, 0], _Q[0, 1], _Q[1, 1] = cs, sn, -sn, cs
        # The reference's first step only gathers statistics.
        return
    step = float(t - 1)
    step_size = lr_t
    if correct_bias != 0.0:
        step_size = step_size * (np.sqrt(1.0 - beta2 ** step) / (1.0 - beta1 ** step))
    # _work's rows: the projected gradient, then the step before it is projected back.
    p = _work[0]
    u = _work[1]
    for k in range(2):
        p[k] = g[0] * _Q[0, k] + g[1] * _Q[1, k]
    for k in range(2):
        m[k] = _lerp_fused(m[k], g[k], 1.0 - beta1)
        v[k] = _lerp_fused(v[k], p[k] * p[k], 1.0 - beta2)
    for k in range(2):
        u[k] = (m[0] * _Q[0, k] + m[1] * _Q[1, k]) / (np.sqrt(v[k]) + eps)
    n0 = u[0] * _Q[0, 0] + u[1] * _Q[0, 1]
    n1 = u[0] * _Q[1, 0] + u[1] * _Q[1, 1]
    if normalize_gradient != 0.0:
        rms = np.sqrt((n0 * n0 + n1 * n1) / 2.0) + eps
        n0 = n0 / rms
        n1 = n1 / rms
    x[0] = fma(-step_size, n0, x[0])
    x[1] = fma(-step_size, n1, x[1])
    if weight_decay != 0.0:
        shrink = 1.0 - weight_decay * lr_t
        x[0] = x[0] * shrink
        x[1] = x[1] * shrink
    if precondition_1d == 0.0:
        return
    _soap_outer(_GG, g, 1.0 - shampoo_beta)
    if (t - 1) % precondition_frequency == 0:
        # One power iteration GG Q, its columns sorted by the Rayleigh quotients (v follows them), then QR in float32.
        a = _work[0]
        b = _work[1]
        for k in range(2):
            a[k] = _GG[0, 0] * _Q[0, k] + _GG[0, 1] * _Q[1, k]
            b[k] = _GG[1, 0] * _Q[0, k] + _GG[1, 1] * _Q[1, k]
        e0 = _Q[0, 0] * a[0] + _Q[1, 0] * b[0]
        e1 = _Q[0, 1] * a[1] + _Q[1, 1] * b[1]
        first = 1 if e1 > e0 else 0
        if first == 1:
            v[0], v[1] = v[1], v[0]
        _Q[0, 0], _Q[0, 1], _Q[1, 0], _Q[1, 1] = _qr2_float32(a[first], b[first])


# === curvature ================================================================
# (sophia, newton)
