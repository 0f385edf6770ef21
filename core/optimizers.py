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

A whole kernel may also have a cells form (`@OPTIMIZERS.cells`), the same step
for m runs on the plane at once, each per-run number an array over them:

    cells(m, x0, x1, g0, g1, f, t, lr_t, <hyperparameters>, state)

`state` is a tuple of arrays, one per state number (each slot's entries in
order, for n = 2). The whole kernel calls it with m = 1; a sweep calls it once
per step for a block of cells, which it then steps side by side (SIMD).

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
def _power(x, beta):
    """beta**t from beta**(t-1), flushed to 0 once it cannot change 1 - beta**t.

    A repeated product would otherwise stick at the smallest denormal
    (5e-324 * 0.9 rounds back to 5e-324) and make every later step ~10x slower.
    """
    x = x * beta
    return x if x > 1e-30 else 0.0


def _at(v, j):
    """Cell j's value in a cells form: v[j] of a per-cell array, or v itself, the one number a whole kernel passes."""
    return v[j] if isinstance(v, np.ndarray) else v


@overload(_at, inline="always")
def _at_compiled(v, j):
    if isinstance(v, types.Array):
        return lambda v, j: v[j]
    return lambda v, j: v


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


# --- muon ------------------------------------------------------------------
# torch's Newton-Schulz coefficients (a, b, c), as float32: torch's bfloat16 matmuls take their scalars so.
MUON_A = float(np.float32(3.4445))
MUON_B = float(np.float32(-4.7750))
MUON_C = float(np.float32(2.0315))

MUON = OPTIMIZERS.add(OptimizerSpec(
    id="muon",
    label="Muon",
    help="Momentum whose step is orthogonalised by a few Newton-Schulz iterations; for a 1×2 or 2×1 matrix that is about its direction at a fixed length.",
    hyperparameters=(
        lr(1e-3),
        weight_decay(0.1, "decoupled decay: x shrinks by lr·λ each step"),
        momentum(0.95, "decay of the momentum buffer"),
        Hyperparameter("nesterov", r"N", 1.0, 0.0, 1.0, "orthogonalise g + μ(b − g) (Nesterov) instead of the buffer b", kind="bool"),
        eps(1e-7, "floor of the norm the step is divided by before the iterations"),
        Hyperparameter("ns_steps", r"k", 5, 0, 20, "Newton-Schulz iterations (torch allows fewer than 100)", kind="int"),
        Hyperparameter("adjust_lr_fn", r"s", 0, 0, 1, "0: original, lr·√max(1, A/B); 1: match_rms_adamw, lr·0.2·√max(A, B)", kind="int"),
        Hyperparameter("shape", r"A{\times}B", 0, 0, 1, "the parameter as a 1×2 (0) or a 2×1 (1) matrix: the lr adjustment sees the difference", kind="bool"),
    ),
    rule=(
        r"b_t = \mu b_{t-1} + (1-\mu) g_t,\; \tilde b_t = g_t + \mu (b_t - g_t) \;(\text{Nesterov}) \\ "
        r"O_t = \mathrm{NS}^{(a,b,c)}_k\big(\tilde b_t / \max(\lVert \tilde b_t \rVert, \epsilon)\big),\; X \leftarrow aX + (bXX^\top + c(XX^\top)^2)X \\ "
        r"x_t = x_{t-1}(1 - \eta\lambda) - \eta\, s(A, B)\, O_t"
    ),
    reference="Jordan et al. (2024), Muon: An optimizer for hidden layers in neural networks (kellerjordan.github.io/posts/muon); "
              "Liu et al. (2025), Muon is Scalable for LLM Training, arXiv:2502.16982 (match_rms_adamw); torch.optim.Muon",
    # _work: room for the iteration's float32 values, so it runs eight cells to a vector instead of four.
    state=("b", "update", "_work"),
    whole=True,
    group="modern",
    torch=("Muon", {}),
))


@njit(inline="always")
def _f32(a):
    # One float32 rounding, as torch rounds each float32 operation.
    return float(np.float32(a))


def _bfloat16(v):
    """v as torch rounds a float64 to bfloat16: to float32 first, then to nearest-even in 8 significant bits.

    This Python body runs when numba is disabled; compiled code rounds the float32's bits
    (`_bfloat16_bits`), as torch's own conversion does: frexp, rint and ldexp are calls into
    libm, and Muon rounds some thirty values a step.
    """
    v = float(np.float32(v))
    if v - v != 0.0:
        return v
    if abs(v) < 2.0 ** -126:
        # bfloat16's subnormals are float32's with 16 fewer bits: a quantum of 2**-133.
        return np.rint(v * 2.0 ** 133) * 2.0 ** -133
    m, e = math.frexp(v)
    r = math.ldexp(np.rint(m * 256.0), e - 8)
    return r if abs(r) < 2.0 ** 128 else r * np.inf


@intrinsic
def _bfloat16_bits(typingctx, v):
    """float32(v)'s bits rounded to nearest-even at bit 16; a carry into the exponent gives the next binade or inf."""
    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        x = context.cast(builder, args[0], signature.args[0], types.float64)
        bits = builder.bitcast(builder.fptrunc(x, ir.FloatType()), i32)
        odd = builder.and_(builder.lshr(bits, ir.Constant(i32, 16)), ir.Constant(i32, 1))
        bits = builder.add(builder.add(bits, ir.Constant(i32, 0x7FFF)), odd)
        bits = builder.and_(bits, ir.Constant(i32, 0xFFFF0000))
        return builder.fpext(builder.bitcast(bits, ir.FloatType()), ir.DoubleType())

    return types.float64(v), codegen


@overload(_bfloat16)
def _bfloat16_compiled(v):
    def impl(v):
        if v - v != 0.0:
            # A NaN's payload could carry into its sign bit.
            return float(np.float32(v))
        return _bfloat16_bits(v)

    return impl


# The Newton-Schulz coefficients as float32 numbers, for the iteration run in float32 arithmetic.
MUON_A32, MUON_B32, MUON_C32 = np.float32(MUON_A), np.float32(MUON_B), np.float32(MUON_C)


def _bfloat16_32(v):
    """A float32 rounded to bfloat16 (`_bfloat16` of its value), kept a float32."""
    return np.float32(_bfloat16(float(v)))


@intrinsic
def _bfloat16_bits32(typingctx, v):
    """`_bfloat16_bits` of a float32: its bits rounded to nearest-even at bit 16, with no conversion."""
    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        bits = builder.bitcast(args[0], i32)
        odd = builder.and_(builder.lshr(bits, ir.Constant(i32, 16)), ir.Constant(i32, 1))
        bits = builder.add(builder.add(bits, ir.Constant(i32, 0x7FFF)), odd)
        bits = builder.and_(bits, ir.Constant(i32, 0xFFFF0000))
        return builder.bitcast(bits, ir.FloatType())

    return types.float32(types.float32), codegen


@overload(_bfloat16_32)
def _bfloat16_32_compiled(v):
    def impl(v):
        if v - v != 0.0:
            return v
        return _bfloat16_bits32(v)

    return impl


@OPTIMIZERS.cells(MUON)
@njit(inline="always")
def muon_cells(m, x0, x1, g0, g1, f, t, lr_t, lr, weight_decay, momentum, nesterov, eps, ns_steps, adjust_lr_fn, shape,
               state):
    """Muon's step on cells 0..m-1 of the plane: torch Muon on a 1×2 or 2×1 matrix, its Newton-Schulz iteration in
    bfloat16 as torch runs it on the CPU.

    torch casts the step to bfloat16 and computes every norm, quotient and matmul
    in float32, rounding each result to bfloat16; a 2×1 step is transposed to 1×2
    first, so both shapes iterate on the same row vector. Each phase loops over the
    cells innermost, so a sweep's cells go through the iteration side by side (SIMD).
    """
    b0, b1, u0, u1, work0, work1 = state
    # Each `_work` row holds at least 2m float32 numbers (m float64): the iteration's two coordinates.
    w0s, w1s = work0.view(np.float32), work1.view(np.float32)
    # One array written per loop where it costs nothing: before it vectorizes a loop LLVM checks at run time
    # that no array it writes overlaps another it touches, and gives up past a few such checks.
    for j in range(m):
        b0[j] = _lerp(b0[j], g0[j], 1.0 - _at(momentum, j))
    for j in range(m):
        b1[j] = _lerp(b1[j], g1[j], 1.0 - _at(momentum, j))
    for j in range(m):
        mu = _at(momentum, j)
        v0 = _bfloat16(_lerp(g0[j], b0[j], mu) if _at(nesterov, j) != 0.0 else b0[j])
        v1 = _bfloat16(_lerp(g1[j], b1[j], mu) if _at(nesterov, j) != 0.0 else b1[j])
        # float32 sums from 0 in order, as torch's norm and matmul reduce; v * v is never -0, so 0 + v * v is v * v.
        norm = _bfloat16(np.sqrt(_f32(_f32(v0 * v0) + v1 * v1)))
        floor = _bfloat16(_at(eps, j))
        if norm < floor:
            norm = floor
        w0s[j] = np.float32(_bfloat16(v0 / norm))
        w1s[j] = np.float32(_bfloat16(v1 / norm))
    iterations = 0
    for j in range(m):
        iterations = max(iterations, int(_at(ns_steps, j)))
    # The iteration in float32 arithmetic: its operands are bfloat16 values and float32 coefficients, so each
    # float32 operation rounds what torch's float32 accumulation rounds (double rounding through float64 is
    # innocuous for one operation on float32 operands). The Gram sum is a fused multiply-add, its second product
    # added unrounded: a float32 product would round it below float32's normal range, so that sum is taken in
    # float64.
    for k in range(iterations):
        for j in range(m):
            w0, w1 = w0s[j], w1s[j]
            gram = _bfloat16_32(np.float32(float(w0 * w0) + float(w1) * float(w1)))
            gram_update = _bfloat16_32(MUON_B32 * gram + MUON_C32 * (gram * gram))
            # A cell with fewer iterations than another keeps its result: a select, so the loop stays SIMD.
            going = k < int(_at(ns_steps, j))
            w0s[j] = _bfloat16_32(MUON_A32 * w0 + gram_update * w0) if going else w0
            w1s[j] = _bfloat16_32(MUON_A32 * w1 + gram_update * w1) if going else w1
    for j in range(m):
        u0[j] = float(w0s[j])
    for j in range(m):
        u1[j] = float(w1s[j])
    for j in range(m):
        rows, cols = (2.0, 1.0) if _at(shape, j) != 0.0 else (1.0, 2.0)
        if _at(adjust_lr_fn, j) != 0.0:
            ratio = 0.2 * np.sqrt(max(rows, cols))
        else:
            ratio = np.sqrt(max(1.0, rows / cols))
        lr_j = _at(lr_t, j)
        adjusted_lr = lr_j * ratio
        x0[j] = fma(-adjusted_lr, u0[j], x0[j] * (1.0 - lr_j * _at(weight_decay, j)))
        x1[j] = fma(-adjusted_lr, u1[j], x1[j] * (1.0 - lr_j * _at(weight_decay, j)))


@OPTIMIZERS.kernel(MUON)
@whole_kernel
def muon(x, g, f, t, lr_t, lr, weight_decay, momentum, nesterov, eps, ns_steps, adjust_lr_fn, shape, b, update, _work,
         surf):
    """torch Muon on a 1×2 or 2×1 matrix (`muon_cells`; a network's matrices take core.tensors.muon_matrix)."""
    muon_cells(1, x[0:1], x[1:2], g[0:1], g[1:2], f, t, lr_t, lr, weight_decay, momentum, nesterov, eps, ns_steps,
               adjust_lr_fn, shape, (b[0:1], b[1:2], update[0:1], update[1:2], _work[0:1], _work[1:2]))


# --- adafactor -------------------------------------------------------------
ADAFACTOR = OPTIMIZERS.add(OptimizerSpec(
    id="adafactor",
    label="Adafactor",
    help="Adam-like steps without momentum, sized relative to the parameters' own RMS and clipped in RMS; a matrix would keep only row and column averages.",
    hyperparameters=(
        lr(1e-2),
        Hyperparameter("beta2_decay", r"c", -0.8, -1.0, 0.0, "the second-moment average weighs the new gradient by t^c (torch: c ≤ 0)"),
        Hyperparameter("eps1", r"\epsilon_1", float(np.finfo(np.float64).eps), 1e-30, 1e-3,
                       "floor of the root second moment (torch's eps[0]; None there means float64's machine epsilon)", log=True),
        Hyperparameter("eps2", r"\epsilon_2", 1e-3, 1e-12, 1.0, "floor of the parameters' RMS in the step size (torch's eps[1])", log=True),
        Hyperparameter("d", r"d", 1.0, 1.0, 10.0, "clipping threshold: the update's RMS is cut down to d"),
        weight_decay(0.0, "decoupled decay: x shrinks by lr·λ each step"),
    ),
    rule=(
        r"\rho_t = \min(\eta, 1/\sqrt t),\; \alpha_t = \max(\epsilon_2, \mathrm{RMS}(x_{t-1}))\, \rho_t \\ "
        r"v_t = v_{t-1} + t^{c} (g_t^2 - v_{t-1}) \\ "
        r"u_t = g_t / \sqrt{\max(v_t, \epsilon_1^2)} \\ "
        r"x_t = x_{t-1} - \frac{\alpha_t}{\max(1, \mathrm{RMS}(u_t)/d)}\, u_t"
    ),
    reference="Shazeer & Stern (2018), Adafactor: Adaptive Learning Rates with Sublinear Memory Cost, ICML, arXiv:1804.04235, "
              "Algorithm 4 (vector form); torch.optim.Adafactor",
    state=("variance", "update"),
    whole=True,
    group="modern",
    torch=("Adafactor", {}),
))


@OPTIMIZERS.kernel(ADAFACTOR)
@whole_kernel
def adafactor(x, g, f, t, lr_t, lr, beta2_decay, eps1, eps2, d, weight_decay, variance, update, surf):
    """torch Adafactor on a vector parameter (unfactored second moment)."""
    n = x.shape[0]
    tf = float(t)
    one_minus_beta2_t = tf ** beta2_decay
    # torch uses Python's min and max here, which keep the first argument on ties.
    inv_sqrt_t = 1.0 / (tf ** 0.5)
    rho_t = inv_sqrt_t if inv_sqrt_t < lr_t else lr_t
    sq = 0.0
    for i in range(n):
        sq += x[i] * x[i]
    rms = np.sqrt(sq) / (n ** 0.5)
    alpha = (rms if rms > eps2 else eps2) * rho_t
    if weight_decay != 0.0:
        for i in range(n):
            x[i] = x[i] * (1.0 - lr_t * weight_decay)
    sq = 0.0
    for i in range(n):
        variance[i] = _lerp(variance[i], g[i] * g[i], one_minus_beta2_t)
        update[i] = 1.0 / np.sqrt(max(variance[i], eps1 * eps1)) * g[i]
        sq += update[i] * update[i]
    ratio = np.sqrt(sq) / ((n ** 0.5) * d)
    denom = ratio if ratio > 1.0 else 1.0
    step = -alpha / denom
    for i in range(n):
        x[i] = fma(step, update[i], x[i])


# --- rprop -----------------------------------------------------------------
RPROP = OPTIMIZERS.add(OptimizerSpec(
    id="rprop",
    group="classic",
    label="Rprop",
    help="Ignores the gradient's size: each coordinate's own step grows while the gradient's sign holds and shrinks when it flips.",
    hyperparameters=(
        lr(1e-2),
        Hyperparameter("eta_minus", r"\eta^-", 0.5, 0.01, 0.99, "factor a step size shrinks by when the gradient's sign flips (torch: 0 < η⁻ < 1)"),
        Hyperparameter("eta_plus", r"\eta^+", 1.2, 1.01, 5.0, "factor a step size grows by while the gradient's sign holds (torch: η⁺ > 1)"),
        Hyperparameter("step_size_min", r"\Delta_{min}", 1e-6, 1e-12, 1e-2, "smallest step size", log=True),
        Hyperparameter("step_size_max", r"\Delta_{max}", 50.0, 1e-3, 1e3, "largest step size", log=True),
    ),
    rule=(
        r"\Delta_t = \mathrm{clip}\big(\Delta_{t-1} \cdot \{\eta^+, \eta^-, 1\}[\mathrm{sign}(g_t g_{t-1})],\, \Delta_{min}, \Delta_{max}\big),\; \Delta_0 = \eta \\ "
        r"g_t \leftarrow 0 \text{ where the sign flipped} \\ "
        r"x_t = x_{t-1} - \Delta_t\, \mathrm{sign}(g_t)"
    ),
    reference="Riedmiller & Braun (1993), A Direct Adaptive Method for Faster Backpropagation Learning: the RPROP Algorithm, IEEE ICNN; torch.optim.Rprop",
    state=("prev", "step_size"),
    torch=("Rprop", {}),
    init={"step_size": "lr"},
))


@OPTIMIZERS.kernel(RPROP)
@kernel
def rprop(x, g, t, lr_t, lr, eta_minus, eta_plus, step_size_min, step_size_max, prev, step_size):
    """torch Rprop: lr only sets the first step size, so a schedule does not reach it."""
    s = g * prev
    # torch maps sign(s) to eta_plus, eta_minus or 1 in place: a NaN stays NaN.
    factor = eta_plus if s > 0.0 else (eta_minus if s < 0.0 else (1.0 if s == 0.0 else s))
    step_size = min(max(step_size * factor, step_size_min), step_size_max)
    # torch zeroes the gradient where the factor it chose equals eta_minus, i.e. where the sign flipped.
    d = 0.0 if factor == eta_minus else g
    return x + (-1.0) * (np.sign(d) * step_size), d, step_size


# --- asgd ------------------------------------------------------------------
ASGD = OPTIMIZERS.add(OptimizerSpec(
    id="asgd",
    group="classic",
    label="ASGD",
    help="SGD with a slowly shrinking step that also keeps a running average of its iterates (from step t0 on).",
    hyperparameters=(
        lr(1e-2),
        Hyperparameter("lambd", r"\lambda", 1e-4, 0.0, 1.0, "decay term: shrinks x by η_t·λ each step and slows the decay of η_t"),
        Hyperparameter("alpha", r"\alpha", 0.75, 0.0, 2.0, "power of the step-size decay η_t = η / (1 + λ η t)^α"),
        Hyperparameter("t0", r"t_0", 1e6, 0.0, 1e6, "step after which the average starts (before it, ax just follows x)"),
        weight_decay(),
    ),
    rule=(
        r"x_t = x_{t-1}(1 - \lambda \eta_t) - \eta_t (g_t + w x_{t-1}) \\ "
        r"\bar x_t = \bar x_{t-1} + \mu_t (x_t - \bar x_{t-1}) \\ "
        r"\eta_{t+1} = \eta / (1 + \lambda \eta t)^\alpha,\; \mu_{t+1} = 1 / \max(1, t - t_0)"
    ),
    reference="Polyak & Juditsky (1992), SIAM J. Control Optim. 30(4); Bottou (2012), Stochastic Gradient Descent Tricks; torch.optim.ASGD",
    state=("ax", "eta", "_mu"),
    torch=("ASGD", {}),
    init={"eta": "lr", "_mu": 1.0},
))


@OPTIMIZERS.kernel(ASGD)
@kernel
def asgd(x, g, t, lr_t, lr, lambd, alpha, t0, weight_decay, ax, eta, _mu):
    """torch ASGD (single-tensor path): eta and mu for the next step come from this step's lr and count."""
    d = g + weight_decay * x if weight_decay != 0.0 else g
    x = x * (1.0 - lambd * eta)
    x = x + (-eta) * d
    if _mu != 1.0:
        ax = ax + (x - ax) * _mu
    else:
        ax = x
    tf = float(t)
    eta = lr_t / ((1.0 + lambd * lr_t * tf) ** alpha)
    _mu = 1.0 / max(1.0, tf - t0)
    return x, ax, eta, _mu



# --- lbfgs -----------------------------------------------------------------
LBFGS_HISTORY = 100  # the history_size slider's high end: the history slots hold that many pairs

LBFGS = OPTIMIZERS.add(OptimizerSpec(
    id="lbfgs",
    label="L-BFGS",
    help="Quasi-Newton: builds a curvature estimate from the last few steps and gradient changes, one iteration per step.",
    hyperparameters=(
        lr(1.0),
        Hyperparameter("max_eval", r"n_{eval}", 1, 1, 25,
                       "evaluations per step, the first included: the line search gets max_eval − 1 (torch's default for one iteration: 1)",
                       kind="int"),
        Hyperparameter("tolerance_grad", r"\tau_g", 1e-7, 1e-12, 1.0, "stop when every |g| is this small", log=True),
        Hyperparameter("tolerance_change", r"\tau_c", 1e-9, 1e-12, 1.0, "skip the step when the slope along d, g·d, is above −τ (the line search keeps torch's own 1e-9)", log=True),
        Hyperparameter("history_size", r"m", 100, 1, LBFGS_HISTORY, "how many past (step, gradient change) pairs the estimate keeps", kind="int"),
        Hyperparameter("line_search", r"LS", 0.0, 0.0, 1.0, "1: torch's strong-Wolfe line search (line_search_fn='strong_wolfe'); 0: step lr·d", kind="bool"),
    ),
    rule=(
        r"s_k = x_{k} - x_{k-1},\; y_k = g_k - g_{k-1},\; \text{kept if } y_k^\top s_k > 10^{-10} \\ "
        r"d_t = -H_t g_t \text{ (two-loop recursion over the last } m \text{ pairs, } H_0 = \tfrac{y^\top s}{y^\top y}) \\ "
        r"x_t = x_{t-1} + \alpha_t d_t,\; \alpha_1 = \eta \min(1, 1/\lVert g_1 \rVert_1),\; \alpha_t = \eta \text{ or strong Wolfe}"
    ),
    reference="Liu & Nocedal (1989), Math. Programming 45, On the limited memory BFGS method; Nocedal & Wright (2006), "
              "Numerical Optimization, Algorithms 7.4 and 3.5; torch.optim.LBFGS(max_iter=1)",
    state=("d", "step_length", "trial", "_old_dirs", "_old_stps", "_ro", "_al", "_head", "_num_old", "_H_diag",
           "_prev_g", "_n_iter", "_g_new"),
    shapes={
        "step_length": (1,), "_old_dirs": (LBFGS_HISTORY, "n"), "_old_stps": (LBFGS_HISTORY, "n"), "_ro": (LBFGS_HISTORY,),
        "_al": (LBFGS_HISTORY,), "_head": (1,), "_num_old": (1,), "_H_diag": (1,), "_n_iter": (1,),
    },
    points=("trial",),
    whole=True,
    group="second-order",
    torch=("LBFGS", {"max_iter": 1}),
))


@njit(inline="always")
def _py_max(a, b):
    # Python's max keeps the first argument unless the second is greater; torch's L-BFGS uses it on tensors.
    return b if b > a else a


@njit(inline="always")
def _py_min(a, b):
    return b if b < a else a


@njit(inline="always")
def _dot(a, b, n):
    s = 0.0
    for i in range(n):
        s += a[i] * b[i]
    return s


# torch's line search mixes Python floats and 0-d tensors, and `float / tensor` is computed as
# reciprocal(tensor) * float: two roundings where a float division has one. So each step length
# below carries whether torch holds it as a tensor (`..._tensor`); the losses are always floats
# and the directional derivatives always tensors.
@njit(inline="always")
def _cubic_interpolate(x1, f1, g1, x2, f2, g2, xmin_bound, xmax_bound, x_tensor, xmin_tensor, xmax_tensor):
    """torch.optim.lbfgs._cubic_interpolate: the minimiser of the cubic through two points and slopes, clipped.

    `x_tensor`: x1 - x2 is a tensor. Returns the point and whether it is a tensor.
    """
    if x_tensor:
        q = (1.0 / (x1 - x2)) * (3.0 * (f1 - f2))
    else:
        q = 3.0 * (f1 - f2) / (x1 - x2)
    d1 = g1 + g2 - q
    d2_square = d1 * d1 - g1 * g2
    if d2_square >= 0.0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        # Python's min(max(min_pos, xmin), xmax), which returns one of the objects.
        v, v_tensor = (xmin_bound, xmin_tensor) if xmin_bound > min_pos else (min_pos, True)
        return (xmax_bound, xmax_tensor) if xmax_bound < v else (v, v_tensor)
    return (xmin_bound + xmax_bound) / 2.0, xmin_tensor or xmax_tensor


@njit(inline="always")
def _directional(n, x, t, d, trial, g_new, surf):
    for i in range(n):
        trial[i] = fma(t, d[i], x[i])
    f_new = probe.gradient(surf, trial, g_new)
    return f_new, _dot(g_new, d, n)


@njit(inline="always")
def _strong_wolfe(n, x, t, t_tensor, d, f, gtd, max_ls, trial, g_new, surf):
    """torch.optim.lbfgs._strong_wolfe (c1 = 1e-4, c2 = 0.9), returning the step it settles on.

    torch's LBFGS.step does not pass its tolerance_change on: the search keeps its own default, 1e-9.

    The gradient it would return is not needed: with one iteration per step the
    next step evaluates the gradient afresh. `trial` ends at the last point it evaluated.
    """
    c1 = 1e-4
    c2 = 0.9
    tolerance_change = 1e-9
    d_norm = abs(d[0])
    for i in range(1, n):
        d_norm = _py_max(d_norm, abs(d[i]))
    f_new, gtd_new = _directional(n, x, t, d, trial, g_new, surf)
    t_prev, f_prev, gtd_prev = 0.0, f, gtd
    tp_tensor = False  # torch's t_prev starts as the int 0
    done = False
    ls_iter = 0
    # The bracket [b0, b1], its losses and directional derivatives; a one-point bracket holds its point twice.
    b0, b1, bf0, bf1, bg0, bg1 = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    b0_tensor, b1_tensor = False, False
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            b0, b1, bf0, bf1, bg0, bg1, b0_tensor, b1_tensor = t_prev, t, f_prev, f_new, gtd_prev, gtd_new, tp_tensor, t_tensor
            break
        if abs(gtd_new) <= -c2 * gtd:
            b0, b1, bf0, bf1, b0_tensor, b1_tensor = t, t, f_new, f_new, t_tensor, t_tensor
            done = True
            break
        if gtd_new >= 0.0:
            b0, b1, bf0, bf1, bg0, bg1, b0_tensor, b1_tensor = t_prev, t, f_prev, f_new, gtd_prev, gtd_new, tp_tensor, t_tensor
            break
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10.0
        tmp, tmp_tensor = t, t_tensor
        t, t_tensor = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, min_step, max_step,
                                         tp_tensor or t_tensor, tp_tensor or t_tensor, t_tensor)
        t_prev, tp_tensor = tmp, tmp_tensor
        f_prev = f_new
        gtd_prev = gtd_new
        f_new, gtd_new = _directional(n, x, t, d, trial, g_new, surf)
        ls_iter += 1
    if ls_iter == max_ls:
        b0, b1, bf0, bf1, b0_tensor, b1_tensor = 0.0, t, f, f_new, False, t_tensor
    insuf_progress = False
    low = 0 if bf0 <= bf1 else 1
    while not done and ls_iter < max_ls:
        if abs(b1 - b0) * d_norm < tolerance_change:
            break
        either = b0_tensor or b1_tensor
        if b0 <= b1:
            t, t_tensor = _cubic_interpolate(b0, bf0, bg0, b1, bf1, bg1, b0, b1, either, b0_tensor, b1_tensor)
        else:
            t, t_tensor = _cubic_interpolate(b0, bf0, bg0, b1, bf1, bg1, b1, b0, either, b1_tensor, b0_tensor)
        hi = _py_max(b0, b1)
        lo = _py_min(b0, b1)
        eps = 0.1 * (hi - lo)
        if _py_min(hi - t, t - lo) < eps:
            if insuf_progress or t >= hi or t <= lo:
                if abs(t - hi) < abs(t - lo):
                    t = hi - eps
                else:
                    t = lo + eps
                t_tensor = either
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, gtd_new = _directional(n, x, t, d, trial, g_new, surf)
        ls_iter += 1
        f_low = bf0 if low == 0 else bf1
        if f_new > (f + c1 * t * gtd) or f_new >= f_low:
            if low == 0:
                b1, bf1, bg1, b1_tensor = t, f_new, gtd_new, t_tensor
            else:
                b0, bf0, bg0, b0_tensor = t, f_new, gtd_new, t_tensor
            low = 0 if bf0 <= bf1 else 1
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * ((b1 - b0) if low == 0 else (b0 - b1)) >= 0.0:
                if low == 0:
                    b1, bf1, bg1, b1_tensor = b0, bf0, bg0, b0_tensor
                else:
                    b0, bf0, bg0, b0_tensor = b1, bf1, bg1, b1_tensor
            if low == 0:
                b0, bf0, bg0, b0_tensor = t, f_new, gtd_new, t_tensor
            else:
                b1, bf1, bg1, b1_tensor = t, f_new, gtd_new, t_tensor
    return b0 if low == 0 else b1


@OPTIMIZERS.kernel(LBFGS)
@whole_kernel
def lbfgs(x, g, f, t, lr_t, lr, max_eval, tolerance_grad, tolerance_change, history_size, line_search,
          d, step_length, trial, _old_dirs, _old_stps, _ro, _al, _head, _num_old, _H_diag, _prev_g, _n_iter, _g_new, surf):
    """torch LBFGS(max_iter=1).step(closure): one quasi-Newton iteration, its history kept across steps."""
    # The plane's two coordinates get a copy of the step with n a constant: its many loops over n then unroll
    # (the C loop of bench/lbfgs_rosenbrock.c has them unrolled too); a network's weights take the general one.
    if x.shape[0] == 2:
        _lbfgs_step(2, x, g, f, lr_t, max_eval, tolerance_grad, tolerance_change, history_size, line_search, d,
                    step_length, trial, _old_dirs, _old_stps, _ro, _al, _head, _num_old, _H_diag, _prev_g, _n_iter,
                    _g_new, surf)
    else:
        _lbfgs_step(x.shape[0], x, g, f, lr_t, max_eval, tolerance_grad, tolerance_change, history_size, line_search,
                    d, step_length, trial, _old_dirs, _old_stps, _ro, _al, _head, _num_old, _H_diag, _prev_g, _n_iter,
                    _g_new, surf)


@njit(inline="always")
def _lbfgs_step(n, x, g, f, lr_t, max_eval, tolerance_grad, tolerance_change, history_size, line_search,
                d, step_length, trial, _old_dirs, _old_stps, _ro, _al, _head, _num_old, _H_diag, _prev_g, _n_iter,
                _g_new, surf):
    for i in range(n):
        trial[i] = x[i]
    g_max = abs(g[0])
    for i in range(1, n):
        g_max = _py_max(g_max, abs(g[i]))
    # torch returns before counting the iteration: a converged run stands still.
    if g_max <= tolerance_grad:
        return
    _n_iter[0] += 1
    m = int(history_size)
    if _n_iter[0] == 1:
        for i in range(n):
            d[i] = -g[i]
        _head[0] = 0.0
        _num_old[0] = 0.0
        _H_diag[0] = 1.0
    else:
        # The last step, s = d·t, and the change in gradient since it, y (torch keeps t even when it did not move).
        tau = step_length[0]
        ys = 0.0
        for i in range(n):
            ys += (g[i] - _prev_g[i]) * (d[i] * tau)
        head, num = int(_head[0]), int(_num_old[0])
        if ys > 1e-10:
            if num == m:
                head = (head + 1) % m
                num -= 1
            k = (head + num) % m
            yy = 0.0
            for i in range(n):
                _old_dirs[k, i] = g[i] - _prev_g[i]
                _old_stps[k, i] = d[i] * tau
                yy += _old_dirs[k, i] * _old_dirs[k, i]
            _ro[k] = 1.0 / ys
            num += 1
            _H_diag[0] = ys / yy
            _head[0], _num_old[0] = head, num
        for i in range(n):
            d[i] = -g[i]
        # The ring's index wraps by a subtraction: m is a run-time value, and a division per pair
        # cost more than the rest of the recursion.
        for j in range(num - 1, -1, -1):
            k = head + j if head + j < m else head + j - m
            _al[j] = _dot(_old_stps[k], d, n) * _ro[k]
            for i in range(n):
                d[i] = fma(-_al[j], _old_dirs[k, i], d[i])
        for i in range(n):
            d[i] = d[i] * _H_diag[0]
        for j in range(num):
            k = head + j if head + j < m else head + j - m
            be_j = _dot(_old_dirs[k], d, n) * _ro[k]
            for i in range(n):
                d[i] = fma(_al[j] - be_j, _old_stps[k, i], d[i])
    for i in range(n):
        _prev_g[i] = g[i]
    # torch: min(1.0, 1.0 / sum|g|) * lr, a tensor when the tensor is the smaller; lr alone is a float.
    tau_tensor = False
    if _n_iter[0] == 1:
        g_sum = 0.0
        for i in range(n):
            g_sum += abs(g[i])
        inv = 1.0 / g_sum
        tau_tensor = inv < 1.0
        tau = (inv if tau_tensor else 1.0) * lr_t
    else:
        tau = lr_t
    step_length[0] = tau
    gtd = _dot(g, d, n)
    if gtd > -tolerance_change:
        return
    if line_search != 0.0:
        tau = _strong_wolfe(n, x, tau, tau_tensor, d, f, gtd, int(max_eval) - 1, trial, _g_new, surf)
        step_length[0] = tau
    for i in range(n):
        x[i] = fma(tau, d[i], x[i])
    if line_search == 0.0:
        for i in range(n):
            trial[i] = x[i]


# === pytorch_optimizer's elementwise family ===================================
# (adabelief, lamb, adan, adopt, ademamix, mars, lookahead)


def decouple(default: float, help: str = "decoupled: x shrinks by lr·λ each step; off: λx is added to the gradient") -> Hyperparameter:
    return Hyperparameter("weight_decouple", r"d", default, 0.0, 1.0, help, kind="bool")


def fixed_decay() -> Hyperparameter:
    return Hyperparameter("fixed_decay", r"\phi", 0.0, 0.0, 1.0, "decoupled decay shrinks x by λ itself, not by lr·λ", kind="bool")


def ams_bound() -> Hyperparameter:
    return Hyperparameter("ams_bound", r"a", 0.0, 0.0, 1.0, "divide by the running maximum of the second moment (AMSGrad)", kind="bool")


def rectify() -> Hyperparameter:
    return Hyperparameter("rectify", r"r", 0.0, 0.0, 1.0, "RAdam's rectification: no adaptive step until rho_t ≥ 5", kind="bool")


def degenerated_to_sgd(default: float) -> Hyperparameter:
    return Hyperparameter(
        "degenerated_to_sgd", r"\sigma", default, 0.0, 1.0,
        "with rectify: momentum steps while rho_t < 5 (off: no step at all)", kind="bool",
    )


@njit(inline="always")
def _weight_decay(x, d, lr_t, weight_decay, weight_decouple, fixed_decay):
    """pytorch_optimizer's apply_weight_decay: shrink x (decoupled) or add λx to the gradient d (coupled)."""
    if weight_decay == 0.0:
        return x, d
    if weight_decouple != 0.0:
        return x * (1.0 - weight_decay * (1.0 if fixed_decay != 0.0 else lr_t)), d
    if weight_decay > 0.0:
        d = d + weight_decay * x
    return x, d


@njit(inline="always")
def _rectified_step_size(lr_t, t, beta2, beta2_power, degenerated_to_sgd):
    """pytorch_optimizer's get_rectify_step_size: lr·r_t and the SMA length rho_t (threshold 5).

    Below the threshold r_t is 1 with degenerated_to_sgd (a momentum-SGD step) and -1
    without it, which the callers read as "no step".
    """
    n_sma_max = 2.0 / (1.0 - beta2) - 1.0
    n_sma = n_sma_max - 2.0 * t * beta2_power / (1.0 - beta2_power)
    if n_sma >= 5.0:
        rt = np.sqrt(
            (1.0 - beta2_power) * (n_sma - 4.0) / (n_sma_max - 4.0) * (n_sma - 2.0) / n_sma * n_sma_max / (n_sma_max - 2.0)
        )
    elif degenerated_to_sgd != 0.0:
        rt = 1.0
    else:
        rt = -1.0
    return lr_t * rt, n_sma


RECTIFY_RULE = (
    r"\text{rectify: } \rho_t = \tfrac{2}{1-\beta_2} - 1 - \tfrac{2t\beta_2^t}{1-\beta_2^t},\;"
    r"\text{RAdam's } r_t \text{ once } \rho_t \ge 5"
)


# --- adabelief -------------------------------------------------------------
ADABELIEF = OPTIMIZERS.add(OptimizerSpec(
    id="adabelief",
    group="modern",
    label="AdaBelief",
    help="Adam that divides by how far the gradient strays from its own running mean (its 'belief'), not by its size.",
    hyperparameters=(
        lr(1e-3),
        beta1(),
        Hyperparameter("beta2", r"\beta_2", 0.999, 0.0, 0.999999, "decay of the average squared deviation of g from m"),
        weight_decay(0.0, "weight decay: shrinks x (decoupled) or is added to the gradient"),
        decouple(1.0),
        fixed_decay(),
        rectify(),
        degenerated_to_sgd(1.0),
        ams_bound(),
        Hyperparameter("eps", r"\epsilon", 1e-16, 1e-20, 10.0, "added to s each step and to the denominator", log=True),
    ),
    rule=(
        r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t \\ "
        r"s_t = \beta_2 s_{t-1} + (1-\beta_2)(g_t - m_t)^2 + \epsilon \\ "
        r"x_t = x_{t-1} - \frac{\eta}{1-\beta_1^t} \cdot \frac{m_t}{\sqrt{s_t}/\sqrt{1-\beta_2^t} + \epsilon} \\ "
        + RECTIFY_RULE
    ),
    reference=(
        "Zhuang et al. (2020), AdaBelief Optimizer, NeurIPS, arXiv:2010.07468, Algorithm 2; "
        "pytorch_optimizer.AdaBelief (n_sma_threshold 5; adanorm, a keyword it passes through, left off)"
    ),
    state=("m", "s", "s_max", "_beta1_power", "_beta2_power"),
    init=ADAM_INIT,
    package=("pytorch_optimizer:AdaBelief", {"n_sma_threshold": 5}),
))


@OPTIMIZERS.kernel(ADABELIEF)
@kernel
def adabelief(x, g, t, lr_t, lr, beta1, beta2, weight_decay, weight_decouple, fixed_decay, rectify,
              degenerated_to_sgd, ams_bound, eps, m, s, s_max, _beta1_power, _beta2_power):
    """pytorch_optimizer's AdaBelief: eps added to s every step as well as to the denominator."""
    _beta1_power = _power(_beta1_power, beta1)
    _beta2_power = _power(_beta2_power, beta2)
    step_size, n_sma = lr_t, 0.0
    if rectify != 0.0:
        step_size, n_sma = _rectified_step_size(lr_t, t, beta2, _beta2_power, degenerated_to_sgd)
    step_size = step_size / (1.0 - _beta1_power)
    x, d = _weight_decay(x, g, lr_t, weight_decay, weight_decouple, fixed_decay)
    m = _lerp(m, d, 1.0 - beta1)
    r = d - m
    s = s * beta2 + (1.0 - beta2) * r * r
    s = s + eps
    if ams_bound != 0.0:
        s_max = max(s_max, s)
        denom = np.sqrt(s_max)
    else:
        denom = np.sqrt(s)
    if rectify == 0.0:
        denom = denom / np.sqrt(1.0 - _beta2_power) + eps
        return x + (-step_size) * m / denom, m, s, s_max, _beta1_power, _beta2_power
    # Rectified, the reference leaves 1 - beta2^t inside r_t and divides by the raw sqrt(s).
    denom = denom + eps
    if n_sma >= 5.0:
        x = x + (-step_size) * m / denom
    elif step_size > 0.0:
        x = x + (-step_size) * m
    return x, m, s, s_max, _beta1_power, _beta2_power


# --- lamb ------------------------------------------------------------------
# pytorch_optimizer's Lamb clamps the weight norm at this value.
LAMB_WEIGHT_NORM_CLAMP = 10.0

LAMB = OPTIMIZERS.add(OptimizerSpec(
    id="lamb",
    group="modern",
    label="LAMB",
    help="Adam rescaled by a trust ratio ‖x‖/‖step‖: on a single layer each step has length about lr·‖x‖.",
    hyperparameters=(
        lr(1e-3),
        beta1(),
        beta2(),
        weight_decay(0.0, "weight decay: shrinks x (decoupled) or λx is added to the Adam step"),
        decouple(1.0, "decoupled: x shrinks by lr·λ; off: λx is added to the step before the trust ratio"),
        fixed_decay(),
        rectify(),
        degenerated_to_sgd(0.0),
        Hyperparameter("grad_averaging", r"\gamma", 1.0, 0.0, 1.0, "scale the new gradient by 1 - beta1 in m", kind="bool"),
        Hyperparameter(
            "max_grad_norm", r"G", 1.0, 0.0, 100.0, "with pre_norm: the gradient is scaled down to this norm (0: never)",
        ),
        Hyperparameter("adam", r"A", 0.0, 0.0, 1.0, "trust ratio fixed at 1: plain Adam without bias-corrected v", kind="bool"),
        Hyperparameter("pre_norm", r"p", 0.0, 0.0, 1.0, "clip the gradient to norm max_grad_norm first", kind="bool"),
        eps(1e-6),
    ),
    rule=(
        r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\; v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\ "
        r"u_t = \frac{m_t}{\sqrt{v_t} + \epsilon},\; \tau_t = \frac{\min(\lVert x_{t-1} \rVert, 10)}{\lVert u_t \rVert + \epsilon} \\ "
        r"x_t = x_{t-1} - \frac{\eta}{1-\beta_1^t}\, \tau_t\, u_t"
    ),
    reference=(
        "You et al. (2020), Large Batch Optimization for Deep Learning: Training BERT in 76 minutes, ICLR, "
        "arXiv:1904.00962, Algorithm 2; pytorch_optimizer.Lamb (n_sma_threshold 5; adanorm, a keyword it passes through, left off)"
    ),
    state=("m", "v", "trust_ratio"),
    shapes={"trust_ratio": (1,)},
    init={"trust_ratio": 1.0},
    whole=True,
    package=("pytorch_optimizer:Lamb", {"n_sma_threshold": 5}),
))


@njit(inline="always")
def _norm(a):
    sq = 0.0
    for i in range(a.shape[0]):
        sq += a[i] * a[i]
    return np.sqrt(sq)


@njit(inline="always")
def _float32_clip(g, max_grad_norm, eps):
    """pytorch_optimizer's get_global_gradient_norm clip factor, min(G / (‖g‖ + eps), 1).

    The reference squares and sums the norm in float32, so the factor carries float32 rounding.
    """
    norm = np.float32(_norm(g))
    norm = np.float32(np.sqrt(np.float32(norm * norm))) + np.float32(eps)
    return float(min(np.float32(np.float32(1.0) / norm) * np.float32(max_grad_norm), np.float32(1.0)))


@njit(inline="always")
def _lamb_update(xi, mi, vi, step_size, rectify, adaptive, coupled, eps):
    """What Lamb measures against ‖x‖: the Adam step, or (rectified) the would-be new point."""
    if rectify == 0.0:
        # The batched path multiplies m by the reciprocal of the denominator.
        u = mi * (1.0 / (np.sqrt(vi) + eps))
        return u + coupled * xi if coupled > 0.0 else u
    # The rectified path measures the norm of x - step itself, not of the step.
    if adaptive:
        return xi + (-step_size) * mi / (np.sqrt(vi) + eps)
    return xi + (-step_size) * mi


@OPTIMIZERS.kernel(LAMB)
@whole_kernel
def lamb(x, g, f, t, lr_t, lr, beta1, beta2, weight_decay, weight_decouple, fixed_decay, rectify, degenerated_to_sgd,
         grad_averaging, max_grad_norm, adam, pre_norm, eps, m, v, trust_ratio, surf):
    """pytorch_optimizer's Lamb: its batched path, or its per-parameter one when rectified."""
    n = x.shape[0]
    scale = 1.0
    if pre_norm != 0.0 and max_grad_norm != 0.0:
        scale = _float32_clip(g, max_grad_norm, eps)
    beta3 = 1.0 - beta1 if grad_averaging != 0.0 else 1.0
    step_size, n_sma = lr_t, 0.0
    if rectify != 0.0:
        step_size, n_sma = _rectified_step_size(lr_t, t, beta2, beta2 ** float(t), degenerated_to_sgd)
    step_size = step_size / (1.0 - beta1 ** float(t))
    shrink, coupled = 1.0, 0.0
    if weight_decouple != 0.0 and weight_decay != 0.0:
        shrink = 1.0 - weight_decay * (1.0 if fixed_decay != 0.0 else lr_t)
    elif weight_decouple == 0.0 and weight_decay > 0.0 and rectify == 0.0:
        # Coupled decay joins the batched path's step; the rectified path drops it.
        coupled = weight_decay
    for i in range(n):
        d = g[i] * scale
        m[i] = m[i] * beta1 + beta3 * d
        v[i] = v[i] * beta2 + (1.0 - beta2) * d * d
        x[i] = x[i] * shrink
    if rectify != 0.0 and step_size <= 0.0:
        return
    adaptive = rectify == 0.0 or n_sma >= 5.0
    sq = 0.0
    for i in range(n):
        u = _lamb_update(x[i], m[i], v[i], step_size, rectify, adaptive, coupled, eps)
        sq += u * u
    weight_norm = min(_norm(x), LAMB_WEIGHT_NORM_CLAMP)
    update_norm = np.sqrt(sq)
    ratio = weight_norm / (update_norm + eps) if weight_norm != 0.0 and update_norm != 0.0 else 1.0
    trust_ratio[0] = ratio
    if adam != 0.0:
        ratio = 1.0
    for i in range(n):
        if rectify == 0.0:
            x[i] = x[i] + (-step_size) * (_lamb_update(x[i], m[i], v[i], step_size, rectify, adaptive, coupled, eps) * ratio)
        elif adaptive:
            x[i] = x[i] + (-step_size * ratio) * m[i] / (np.sqrt(v[i]) + eps)
        else:
            x[i] = x[i] + (-step_size * ratio) * m[i]


# --- adan ------------------------------------------------------------------
ADAN = OPTIMIZERS.add(OptimizerSpec(
    id="adan",
    group="modern",
    label="Adan",
    help="Adam plus a second momentum on the change of the gradient, a cheap look-ahead (Nesterov) estimate.",
    hyperparameters=(
        lr(1e-3),
        Hyperparameter("beta1", r"\beta_1", 0.98, 0.0, 0.9999, "decay of the gradient average m"),
        Hyperparameter("beta2", r"\beta_2", 0.92, 0.0, 0.9999, "decay of the gradient-difference average m_diff"),
        Hyperparameter("beta3", r"\beta_3", 0.99, 0.0, 0.999999, "decay of the squared corrected gradient n"),
        weight_decay(0.0, "weight decay: proximal x/(1 + lr·λ) after the step, or decoupled x(1 - lr·λ)"),
        decouple(0.0, "decoupled: x shrinks by lr·λ first; off: the step is divided by 1 + lr·λ (proximal)"),
        eps(1e-8),
    ),
    rule=(
        r"\Delta_t = g_t - g_{t-1} \;(\Delta_1 = 0) \\ "
        r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\; d_t = \beta_2 d_{t-1} + (1-\beta_2) \Delta_t \\ "
        r"n_t = \beta_3 n_{t-1} + (1-\beta_3)(g_t + \beta_2 \Delta_t)^2 \\ "
        r"x_t = x_{t-1} - \eta\,\frac{m_t/(1-\beta_1^t) + \beta_2 d_t/(1-\beta_2^t)}{\sqrt{n_t/(1-\beta_3^t)} + \epsilon}"
    ),
    reference=(
        "Xie et al. (2024), Adan: Adaptive Nesterov Momentum Algorithm, IEEE TPAMI, arXiv:2208.06677, Algorithm 1; "
        "pytorch_optimizer.Adan (its max_grad_norm clipping, off by default, left off)"
    ),
    state=("m", "m_diff", "n", "g_prev", "_beta1_power", "_beta2_power", "_beta3_power"),
    init={"_beta1_power": 1.0, "_beta2_power": 1.0, "_beta3_power": 1.0},
    package=("pytorch_optimizer:Adan", {"max_grad_norm": 0.0}),
))


@OPTIMIZERS.kernel(ADAN)
@kernel
def adan(x, g, t, lr_t, lr, beta1, beta2, beta3, weight_decay, weight_decouple, eps,
         m, m_diff, n, g_prev, _beta1_power, _beta2_power, _beta3_power):
    """pytorch_optimizer's Adan without gradient clipping."""
    _beta1_power = _power(_beta1_power, beta1)
    _beta2_power = _power(_beta2_power, beta2)
    _beta3_power = _power(_beta3_power, beta3)
    # The reference starts its previous gradient at the first gradient, so the first difference is 0.
    if t == 1:
        g_prev = g
    diff = g - g_prev
    m = _lerp(m, g, 1.0 - beta1)
    m_diff = _lerp(m_diff, diff, 1.0 - beta2)
    c = diff * beta2 + g
    n = n * beta3 + (1.0 - beta3) * c * c
    denom = np.sqrt(n) / np.sqrt(1.0 - _beta3_power) + eps
    if weight_decay != 0.0 and weight_decouple != 0.0:
        x = x * (1.0 - lr_t * weight_decay)
    x = x + (-(lr_t / (1.0 - _beta1_power))) * m / denom
    x = x + (-(lr_t * beta2 / (1.0 - _beta2_power))) * m_diff / denom
    if weight_decay != 0.0 and weight_decouple == 0.0:
        x = x / (1.0 + lr_t * weight_decay)
    return x, m, m_diff, n, g, _beta1_power, _beta2_power, _beta3_power


# --- adopt -----------------------------------------------------------------
ADOPT = OPTIMIZERS.add(OptimizerSpec(
    id="adopt",
    group="modern",
    label="ADOPT",
    help="Adam that normalises each gradient by the second moment of the steps before it, then averages: converges for any beta2.",
    hyperparameters=(
        lr(1e-3),
        beta1(),
        beta2(0.9999),
        weight_decay(0.0, "weight decay: added to the gradient, or decoupled (x shrinks by lr·λ)"),
        decouple(0.0),
        fixed_decay(),
        eps(1e-6, "lower bound of the denominator sqrt(v)"),
    ),
    rule=(
        r"t = 1:\; v_1 = g_1^2,\ \text{no step} \\ "
        r"m_t = \beta_1 m_{t-1} + (1-\beta_1)\, \mathrm{clip}_{t^{1/4}}\!\left(\frac{g_t}{\max(\sqrt{v_{t-1}}, \epsilon)}\right) \\ "
        r"x_t = x_{t-1} - \eta\, m_t,\; v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2"
    ),
    reference=(
        "Taniguchi et al. (2024), ADOPT: Modified Adam Can Converge with Any beta2 with the Optimal Rate, NeurIPS, "
        "arXiv:2411.02853, Algorithm 2 (clipped); pytorch_optimizer.ADOPT (clip_lambda at its default step**0.25)"
    ),
    state=("m", "v"),
    package=("pytorch_optimizer:ADOPT", {}),
))


@OPTIMIZERS.kernel(ADOPT)
@kernel
def adopt(x, g, t, lr_t, lr, beta1, beta2, weight_decay, weight_decouple, fixed_decay, eps, m, v):
    """pytorch_optimizer's ADOPT: the first step only sets v (after the weight decay)."""
    x, d = _weight_decay(x, g, lr_t, weight_decay, weight_decouple, fixed_decay)
    if t == 1:
        return x, m, v + d * d
    clip = float(t) ** 0.25
    normed = min(max(d / max(np.sqrt(v), eps), -clip), clip)
    m = _lerp(m, normed, 1.0 - beta1)
    x = x + (-lr_t) * m
    v = v * beta2 + (1.0 - beta2) * d * d
    return x, m, v


# --- ademamix --------------------------------------------------------------
ADEMAMIX = OPTIMIZERS.add(OptimizerSpec(
    id="ademamix",
    group="modern",
    label="AdEMAMix",
    help="Adam whose step adds alpha times a very slow momentum, which remembers gradients from thousands of steps back.",
    hyperparameters=(
        lr(1e-3),
        # The warm-up of beta3 takes log(beta1) and log(beta3), where the reference's math.log raises at 0,
        # and with beta1 > beta3 its exponent's denominator crosses 0 after T steps, where math.exp overflows
        # and raises: the ranges keep 0 < beta1 <= 0.99 <= beta3.
        Hyperparameter("beta1", r"\beta_1", 0.9, 1e-3, 0.99, "decay of the fast momentum m1"),
        beta2(),
        Hyperparameter("beta3", r"\beta_3", 0.9999, 0.99, 0.999999, "decay of the slow momentum m2"),
        weight_decay(0.0, "weight decay: added to the gradient, or decoupled (x shrinks by lr·λ)"),
        decouple(0.0),
        fixed_decay(),
        Hyperparameter("alpha", r"\alpha", 5.0, 0.0, 20.0, "weight of the slow momentum in the step"),
        Hyperparameter(
            "t_alpha_beta3", r"T_{\alpha,\beta_3}", 0, 0, 1_000_000,
            "steps over which alpha and beta3 warm up (0: none, the reference's None)", kind="int",
        ),
        eps(1e-8),
    ),
    rule=(
        r"m_{1,t} = \beta_1 m_{1,t-1} + (1-\beta_1) g_t,\; v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\ "
        r"m_{2,t} = \beta_{3,t} m_{2,t-1} + (1-\beta_{3,t}) g_t \\ "
        r"x_t = x_{t-1} - \eta\, \frac{m_{1,t}/(1-\beta_1^t) + \alpha_t m_{2,t}}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon} \\ "
        r"\alpha_t = \min(\tfrac{t\alpha}{T}, \alpha),\; "
        r"\beta_{3,t} = \min\!\left(\exp \tfrac{\ln\beta_1 \ln\beta_3}{(1-t/T)\ln\beta_3 + (t/T)\ln\beta_1}, \beta_3\right)"
    ),
    reference=(
        "Pagliardini, Ablin & Grangier (2024), The AdEMAMix Optimizer: Better, Faster, Older, arXiv:2409.03137, "
        "Algorithm 1; pytorch_optimizer.AdEMAMix"
    ),
    state=("m", "v", "m_slow", "_beta1_power", "_beta2_power"),
    init=ADAM_INIT,
    package=("pytorch_optimizer:AdEMAMix", {}),
))


@OPTIMIZERS.kernel(ADEMAMIX)
@kernel
def ademamix(x, g, t, lr_t, lr, beta1, beta2, beta3, weight_decay, weight_decouple, fixed_decay, alpha,
             t_alpha_beta3, eps, m, v, m_slow, _beta1_power, _beta2_power):
    """pytorch_optimizer's AdEMAMix with its alpha and beta3 warm-up schedules."""
    _beta1_power = _power(_beta1_power, beta1)
    _beta2_power = _power(_beta2_power, beta2)
    alpha_t, beta3_t = alpha, beta3
    if t_alpha_beta3 != 0.0:
        alpha_t = min(t * alpha / t_alpha_beta3, alpha)
        log_beta1, log_beta3 = np.log(beta1), np.log(beta3)
        r = t / t_alpha_beta3
        beta3_t = min(np.exp(log_beta1 * log_beta3 / ((1.0 - r) * log_beta3 + r * log_beta1)), beta3)
    x, d = _weight_decay(x, g, lr_t, weight_decay, weight_decouple, fixed_decay)
    m = _lerp(m, d, 1.0 - beta1)
    v = v * beta2 + (1.0 - beta2) * d * d
    m_slow = _lerp(m_slow, d, 1.0 - beta3_t)
    denom = np.sqrt(v) / np.sqrt(1.0 - _beta2_power) + eps
    update = m / (1.0 - _beta1_power) + alpha_t * m_slow
    return x + (-lr_t) * update / denom, m, v, m_slow, _beta1_power, _beta2_power


# --- mars ------------------------------------------------------------------
# What the reference runs on a 1-D parameter when optimize_1d is off: AdamW with these betas.
MARS_BETAS_1D = (0.9, 0.95)

MARS = OPTIMIZERS.add(OptimizerSpec(
    id="mars",
    group="modern",
    label="MARS",
    help="AdamW on a variance-reduced gradient: g plus gamma·beta1/(1-beta1) times its change since the last step, clipped to norm 1.",
    hyperparameters=(
        lr(3e-3),
        Hyperparameter("beta1", r"\beta_1", 0.95, 0.0, 0.9999, "decay of the momentum of the corrected gradient"),
        Hyperparameter("beta2", r"\beta_2", 0.99, 0.0, 0.999999, "decay of the second moment of the corrected gradient"),
        Hyperparameter("gamma", r"\gamma", 0.025, 0.0, 1.0, "strength of the gradient correction"),
        Hyperparameter(
            "optimize_1d", r"o", 1.0, 0.0, 1.0,
            "on: MARS on this 1-D parameter; off (the reference's default): AdamW with lr_1d, betas (0.9, 0.95)", kind="bool",
        ),
        Hyperparameter("lr_1d", r"\eta_{1d}", 3e-3, 1e-6, 10.0, "with optimize_1d off: the AdamW learning rate", log=True),
        weight_decay(0.0, "weight decay: x shrinks by lr·λ (decoupled), or λx is added to the stored gradient"),
        Hyperparameter("weight_decay_1d", r"\lambda_{1d}", 0.1, 0.0, 1.0, "with optimize_1d off: the AdamW weight decay"),
        decouple(1.0, "decoupled: x shrinks by lr·λ; off: λx only enters the gradient kept for the next correction"),
        fixed_decay(),
        ams_bound(),
        Hyperparameter("cautious", r"c", 0.0, 0.0, 1.0, "drop step coordinates whose sign disagrees with g, rescale the rest", kind="bool"),
        eps(1e-8),
    ),
    rule=(
        r"c_t = g_t + \gamma \tfrac{\beta_1}{1-\beta_1}(g_t - g_{t-1}),\; c_t \leftarrow c_t / \max(\lVert c_t \rVert, 1) \\ "
        r"m_t = \beta_1 m_{t-1} + (1-\beta_1) c_t,\; v_t = \beta_2 v_{t-1} + (1-\beta_2) c_t^2 \\ "
        r"x_t = x_{t-1}(1-\eta\lambda) - \eta\, \frac{m_t/(1-\beta_1^t)}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}"
    ),
    reference=(
        "Yuan et al. (2024), MARS: Unleashing the Power of Variance Reduction for Training Large Models, "
        "arXiv:2411.10438, Algorithm 2 (MARS-AdamW); pytorch_optimizer.MARS (mars_type 'adamw', optimize_1d passed explicitly)"
    ),
    state=("m", "v", "v_max", "last_grad"),
    whole=True,
    package=("pytorch_optimizer:MARS", {"mars_type": "adamw", "betas_1d": MARS_BETAS_1D}),
))


@OPTIMIZERS.kernel(MARS)
@whole_kernel
def mars(x, g, f, t, lr_t, lr, beta1, beta2, gamma, optimize_1d, lr_1d, weight_decay, weight_decay_1d,
         weight_decouple, fixed_decay, ams_bound, cautious, eps, m, v, v_max, last_grad, surf):
    """pytorch_optimizer's MARS-AdamW, batched path; with optimize_1d off, its AdamW for 1-D parameters."""
    n = x.shape[0]
    if optimize_1d != 0.0:
        b1, b2, step_lr, decay = beta1, beta2, lr_t, weight_decay
        k = gamma * beta1 / (1.0 - beta1)
        sq = 0.0
        for i in range(n):
            c = (g[i] - last_grad[i]) * k + g[i]
            sq += c * c
        norm = max(np.sqrt(sq), 1.0)
    else:
        b1, b2, step_lr, decay = MARS_BETAS_1D[0], MARS_BETAS_1D[1], lr_t * (lr_1d / lr), weight_decay_1d
        k, norm = 0.0, 1.0
    agree = 0.0
    for i in range(n):
        c = g[i]
        if optimize_1d != 0.0:
            c = ((g[i] - last_grad[i]) * k + g[i]) / norm
        m[i] = _lerp(m[i], c, 1.0 - b1)
        v[i] = v[i] * b2 + (1.0 - b2) * c * c
        if m[i] * g[i] > 0.0:
            agree += 1.0
    # apply_cautious: numel / (mask.sum() + 1), which torch computes as a reciprocal times numel.
    rescale = (1.0 / (agree + 1.0)) * n
    bias_correction1 = 1.0 - b1 ** float(t)
    bias_correction2_sq = np.sqrt(1.0 - b2 ** float(t))
    shrink = 1.0
    if weight_decouple != 0.0 and decay != 0.0:
        shrink = 1.0 - decay * (1.0 if fixed_decay != 0.0 else step_lr)
    for i in range(n):
        u = m[i]
        if cautious != 0.0:
            u = u * (rescale if m[i] * g[i] > 0.0 else 0.0)
        # apply_ams_bound_foreach adds 1e-15 under the root.
        if ams_bound != 0.0:
            v_max[i] = max(v_max[i], v[i])
            denom = np.sqrt(v_max[i] + 1e-15) + eps
        else:
            denom = np.sqrt(v[i] + 1e-15) + eps
        u = u / (denom / bias_correction2_sq * bias_correction1)
        d = g[i]
        # Coupled decay is added to the gradient after the step is formed: it only reaches last_grad.
        if weight_decouple == 0.0 and decay > 0.0:
            d = d + decay * x[i]
        x[i] = x[i] * shrink + (-step_lr) * u
        last_grad[i] = d


# --- lookahead -------------------------------------------------------------
LOOKAHEAD = OPTIMIZERS.add(OptimizerSpec(
    id="lookahead",
    group="modern",
    label="Lookahead (Adam)",
    help="Adam explores k steps ahead, then the slow weights move alpha of the way toward it and Adam restarts from there.",
    hyperparameters=(
        lr(1e-3), beta1(), beta2(), eps(1e-8), weight_decay(),
        Hyperparameter("k", r"k", 5, 1, 100, "Adam steps between two syncs of the slow weights", kind="int"),
        # The reference requires alpha < 1.
        Hyperparameter("alpha", r"\alpha", 0.5, 0.0, 0.99, "fraction of the way the slow weights move toward Adam's point"),
    ),
    rule=(
        r"x_t = \text{Adam}(x_{t-1}) \\ "
        r"t \bmod k = 0:\; \phi \leftarrow \phi + \alpha (x_t - \phi),\; x_t \leftarrow \phi"
    ),
    reference=(
        "Zhang, Lucas, Hinton & Ba (2019), Lookahead Optimizer: k steps forward, 1 step back, NeurIPS, "
        "arXiv:1907.08610, Algorithm 1; pytorch_optimizer.Lookahead over torch.optim.Adam (pullback_momentum 'none')"
    ),
    state=ADAM_STATE[:2] + ("slow",) + ADAM_STATE[2:],
    points=("slow",),
    init=ADAM_INIT,
    package=("pytorch_optimizer:Lookahead", {"optimizer": "torch.optim:Adam"}),
))


@OPTIMIZERS.kernel(LOOKAHEAD)
@kernel
def lookahead(x, g, t, lr_t, lr, beta1, beta2, eps, weight_decay, k, alpha, m, v, slow, _beta1_power, _beta2_power):
    """pytorch_optimizer's Lookahead around torch Adam: the plotted point is the fast weights."""
    # The reference copies the slow weights at construction, i.e. the start.
    if t == 1:
        slow = x
    x, m, v, p1, p2, _ = _adam_core(x, g + weight_decay * x, lr_t, beta1, beta2, eps, m, v, _beta1_power, _beta2_power, 0.0, False)
    if t % k == 0:
        x = _lerp(x, slow, 1.0 - alpha)
        slow = x
    return x, m, v, slow, p1, p2


# === preconditioners and schedule-free ========================================
# (soap, shampoo, prodigy, schedulefree_adamw, schedulefree_sgd)


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
def _lasv2(f, g, h):
    """SVD of the upper triangular [[f, g], [0, h]] (LAPACK dlasv2): ssmin, ssmax, snr, csr, snl, csl.

    Every branch of dlasv2 is computed and the one it takes is selected, in its own arithmetic, so a
    loop over cells holds no branch and vectorizes; a quotient of a branch not taken may be inf or NaN.
    """
    fa0, ha0 = abs(f), abs(h)
    swap = ha0 > fa0
    ft = h if swap else f
    ht = f if swap else h
    fa = ha0 if swap else fa0
    ha = fa0 if swap else ha0
    gt, ga = g, abs(g)
    zero = ga == 0.0
    big = ga > fa
    fa_ga = fa / ga
    tiny = big and fa_ga < 2.0**-53
    d = fa - ha
    el = 1.0 if d == fa else d / fa
    m = gt / ft
    t = 2.0 - el
    mm = m * m
    s = np.sqrt(t * t + mm)
    r_sq = np.sqrt(el * el + mm)
    r = abs(m) if el == 0.0 else r_sq
    a = 0.5 * (s + r)
    t_zero = _sign(2.0, ft) * _sign(1.0, gt)
    t_el = gt / _sign(d, ft) + m / t
    t_m0 = t_zero if el == 0.0 else t_el
    t_m = (m / (s + t) + m / (r + el)) * (1.0 + a)
    tt = t_m0 if mm == 0.0 else t_m
    el2 = np.sqrt(tt * tt + 4.0)
    crt_g = 2.0 / el2
    srt_g = tt / el2
    clt_g = (crt_g + srt_g * m) / a
    slt_g = (ht / ft) * srt_g / a
    ssmin_g = ha / a
    ssmax_g = fa * a
    # Where g dwarfs f (tiny), dlasv2 takes g as the larger singular value: the general formulas would overflow.
    ssmin_t1 = fa / (ga / ha)
    ssmin_t2 = fa_ga * ha
    ssmin_t = ssmin_t1 if ha > 1.0 else ssmin_t2
    slt_t = ht / gt
    crt_t = ft / gt
    ssmin = ha if zero else (ssmin_t if tiny else ssmin_g)
    ssmax = fa if zero else (ga if tiny else ssmax_g)
    clt = 1.0 if zero else (1.0 if tiny else clt_g)
    crt = 1.0 if zero else (crt_t if tiny else crt_g)
    slt = 0.0 if zero else (slt_t if tiny else slt_g)
    srt = 0.0 if zero else (1.0 if tiny else srt_g)
    csl = srt if swap else clt
    snl = crt if swap else slt
    csr = slt if swap else crt
    snr = clt if swap else srt
    p2 = big and not zero
    tsign1 = _sign(1.0, csr) * _sign(1.0, csl) * _sign(1.0, f)
    tsign2 = _sign(1.0, snr) * _sign(1.0, csl) * _sign(1.0, g)
    tsign3 = _sign(1.0, snr) * _sign(1.0, snl) * _sign(1.0, h)
    tsign = tsign2 if p2 else (tsign3 if swap else tsign1)
    return _sign(ssmin, tsign * _sign(1.0, f) * _sign(1.0, h)), _sign(ssmax, tsign), snr, csr, snl, csl


@njit(inline="always")
def _lapy2(x, y):
    """sqrt(x^2 + y^2) without overflow (LAPACK dlapy2)."""
    w = max(abs(x), abs(y))
    z = min(abs(x), abs(y))
    r = w * np.sqrt(1.0 + (z / w) ** 2)
    return w if z == 0.0 else r


@njit(inline="always")
def _inverse_root(a11, a12, a21, a22):
    """U diag(s^(-1/2)) Vᵀ from torch.linalg.svd of [[a11, a12], [a21, a22]], as LAPACK's dgesdd computes it on this size.

    dgebrd's Householder reflection (dlarfg: beta from dlapy2, v scaled by a reciprocal; none when a21
    is 0), dbdsqr's 2 x 2 step (dlasv2, or a split when the off-diagonal is negligible), signs made
    positive, sorted, U reflected back (dormbr). Bit for bit torch's result over thousands of draws,
    where a closed-form eigendecomposition was off by its own rounding: on ill-conditioned statistics,
    up to 1e-9. Branch-free, as `_lasv2`.
    """
    hh = a21 != 0.0
    beta = -_sign(_lapy2(a11, abs(a21)), a11)
    tau_h = (beta - a11) / beta
    v_h = a21 * (1.0 / (a11 - beta))
    w_h = -tau_h * (a12 + a22 * v_h)
    e1_h = a12 + w_h
    d2_h = a22 + v_h * w_h
    tau = tau_h if hh else 0.0
    v = v_h if hh else 0.0
    d1 = beta if hh else a11
    e1 = e1_h if hh else a12
    d2 = d2_h if hh else a22
    eps = 2.0**-53
    tol = max(10.0, min(100.0, eps**-0.125)) * eps
    mu = abs(d2) * (abs(d1) / (abs(d1) + abs(e1)))
    thresh = max(tol * (min(abs(d1), mu) / np.sqrt(2.0)), 24.0 * 2.2250738585072014e-308)
    rot = abs(e1) > thresh
    ssmin, ssmax, snr, csr, snl, csl = _lasv2(d1, e1, d2)
    s1 = ssmax if rot else d1
    s2 = ssmin if rot else d2
    u00 = csl if rot else 1.0
    u01 = -snl if rot else 0.0
    u10 = snl if rot else 0.0
    u11 = csl if rot else 1.0
    v00 = csr if rot else 1.0
    v01 = snr if rot else 0.0
    v10 = -snr if rot else 0.0
    v11 = csr if rot else 1.0
    # Vᵀ's rows carry the signs of negative singular values; then the larger first.
    n1 = s1 < 0.0
    s1 = -s1 if n1 else s1
    v00 = -v00 if n1 else v00
    v01 = -v01 if n1 else v01
    n2 = s2 < 0.0
    s2 = -s2 if n2 else s2
    v10 = -v10 if n2 else v10
    v11 = -v11 if n2 else v11
    sw = s2 > s1
    s1, s2 = (s2 if sw else s1), (s1 if sw else s2)
    v00, v01, v10, v11 = (v10 if sw else v00), (v11 if sw else v01), (v00 if sw else v10), (v01 if sw else v11)
    u00, u01, u10, u11 = (u01 if sw else u00), (u00 if sw else u01), (u11 if sw else u10), (u10 if sw else u11)
    w0 = -tau * (u00 + u10 * v)
    w1 = -tau * (u01 + u11 * v)
    r00, r10 = u00 + w0, u10 + v * w0
    r01, r11 = u01 + w1, u11 + v * w1
    u00 = r00 if hh else u00
    u10 = r10 if hh else u10
    u01 = r01 if hh else u01
    u11 = r11 if hh else u11
    # torch raises the singular values to -1/2 as 1/sqrt, then (U * s) @ Vᵀ.
    r1 = 1.0 / np.sqrt(s1)
    r2 = 1.0 / np.sqrt(s2)
    return ((u00 * r1) * v00 + (u01 * r2) * v10, (u00 * r1) * v01 + (u01 * r2) * v11,
            (u10 * r1) * v00 + (u11 * r2) * v10, (u10 * r1) * v01 + (u11 * r2) * v11)


@njit(inline="always")
def _inverse_root2(A, out):
    """U diag(s^(-1/2)) Vᵀ of the 2 x 2 A into out (`_inverse_root`)."""
    out[0, 0], out[0, 1], out[1, 0], out[1, 1] = _inverse_root(A[0, 0], A[0, 1], A[1, 0], A[1, 1])


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


@njit(inline="always")
def _root_due(t, preconditioning_compute_steps):
    # An integer remainder (a float one calls numba's runtime, fmod), its divisor at least 1 where LLVM can see it.
    return t % max(int(preconditioning_compute_steps), 1) == 0


@njit(inline="always")
def _shampoo_gradient(x0, x1, g0, g1, t, lr_t, momentum, weight_decay, weight_decouple, fixed_decay, matrix_eps,
                      b0, b1, G00, G01, G10, G11):
    """The gradient Shampoo preconditions (blended with the last step, weight decay in it or applied to x) and G."""
    if t == 1:
        G00 = matrix_eps
        G11 = matrix_eps
        # The buffer starts as the first gradient, so the first blend leaves it unchanged.
        b0 = g0
        b1 = g1
    if momentum > 0.0:
        g0 = _lerp_fused(g0, b0, momentum)
        g1 = _lerp_fused(g1, b1, momentum)
    if weight_decay != 0.0:
        if weight_decouple != 0.0:
            shrink = 1.0 - weight_decay * (1.0 if fixed_decay != 0.0 else lr_t)
            x0 = x0 * shrink
            x1 = x1 * shrink
        elif weight_decay > 0.0:
            g0 = fma(weight_decay, x0, g0)
            g1 = fma(weight_decay, x1, g1)
    return x0, x1, g0, g1, G00 + g0 * g0, G01 + g0 * g1, G10 + g1 * g0, G11 + g1 * g1


@OPTIMIZERS.cells(SHAMPOO)
@njit(inline="always")
def shampoo_cells(m, x0, x1, g0, g1, f, t, lr_t, lr, momentum, weight_decay, weight_decouple, fixed_decay,
                  preconditioning_compute_steps, matrix_eps, state):
    """Shampoo's step on cells 0..m-1 of the plane: pytorch_optimizer's Shampoo on a parameter of order 1, one
    preconditioner G (its inverse root R), the root 2 * order = 2.

    In phases over the cells, each branch-free or a select, so a sweep's cells go through them side by side;
    the momentum buffer holds the preconditioned gradient between the first and the last.
    """
    b0, b1, G00, G01, G10, G11, R00, R01, R10, R11 = state
    for j in range(m):
        x0[j], x1[j], b0[j], b1[j], G00[j], G01[j], G10[j], G11[j] = _shampoo_gradient(
            x0[j], x1[j], g0[j], g1[j], t, _at(lr_t, j), _at(momentum, j), _at(weight_decay, j),
            _at(weight_decouple, j), _at(fixed_decay, j), _at(matrix_eps, j), b0[j], b1[j], G00[j], G01[j], G10[j],
            G11[j])
    due_all, due_any = True, False
    for j in range(m):
        due = _root_due(t, _at(preconditioning_compute_steps, j))
        due_all, due_any = due_all and due, due_any or due
    if due_all:
        # With no branch in the root, and no condition in the loop, the loop runs four cells to a vector.
        for j in range(m):
            R00[j], R01[j], R10[j], R11[j] = _inverse_root(G00[j], G01[j], G10[j], G11[j])
    elif due_any:
        for j in range(m):
            if _root_due(t, _at(preconditioning_compute_steps, j)):
                R00[j], R01[j], R10[j], R11[j] = _inverse_root(G00[j], G01[j], G10[j], G11[j])
    for j in range(m):
        u0 = b0[j] * R00[j] + b1[j] * R10[j]
        u1 = b0[j] * R01[j] + b1[j] * R11[j]
        b0[j], b1[j] = u0, u1
        x0[j] = fma(-_at(lr_t, j), u0, x0[j])
        x1[j] = fma(-_at(lr_t, j), u1, x1[j])


@OPTIMIZERS.kernel(SHAMPOO)
@whole_kernel
def shampoo(x, g, f, t, lr_t, lr, momentum, weight_decay, weight_decouple, fixed_decay, preconditioning_compute_steps,
            matrix_eps, momentum_buffer, _pre_cond, _inv_pre_cond, surf):
    """pytorch_optimizer's Shampoo on a parameter of order 1 (`shampoo_cells`)."""
    b, P, R = momentum_buffer, _pre_cond, _inv_pre_cond
    shampoo_cells(1, x[0:1], x[1:2], g[0:1], g[1:2], f, t, lr_t, lr, momentum, weight_decay, weight_decouple,
                  fixed_decay, preconditioning_compute_steps, matrix_eps,
                  (b[0:1], b[1:2], P[0, 0:1], P[0, 1:2], P[1, 0:1], P[1, 1:2], R[0, 0:1], R[0, 1:2], R[1, 0:1], R[1, 1:2]))


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


@njit(inline="always")
def _soap_first(g0, g1, shampoo_beta, precondition_1d, G00, G01, G10, G11):
    """The reference's first step, which only gathers statistics: G, and Q its eigenbasis (the identity unpreconditioned)."""
    Q00, Q01, Q10, Q11 = 1.0, 0.0, 0.0, 1.0
    if precondition_1d != 0.0:
        G00 = _lerp_fused(G00, g0 * g0, 1.0 - shampoo_beta)
        G01 = _lerp_fused(G01, g0 * g1, 1.0 - shampoo_beta)
        G10 = _lerp_fused(G10, g1 * g0, 1.0 - shampoo_beta)
        G11 = _lerp_fused(G11, g1 * g1, 1.0 - shampoo_beta)
        # torch.linalg.eigh(GG + 1e-30 I), its columns flipped to descending order. Q's signs cancel in every use.
        # GG is positive semidefinite, so the eigenvalue of larger magnitude is the larger one.
        _, _, cs, sn = _eigh2(G00 + 1e-30, G01, G11 + 1e-30)
        Q00, Q10, Q01, Q11 = cs, sn, -sn, cs
    return G00, G01, G10, G11, Q00, Q01, Q10, Q11


@njit(inline="always")
def _soap_step(x0, x1, g0, g1, lr_t, bias_correction, beta1, beta2, shampoo_beta, weight_decay, precondition_1d,
               normalize_gradient, eps, m0, m1, v0, v1, G00, G01, G10, G11, Q00, Q01, Q10, Q11):
    """Adam in Q's basis, then G's update GG.lerp_(g gᵀ, 1 - shampoo_beta), each outer product entry rounded once."""
    step_size = lr_t * bias_correction
    # The gradient projected onto Q's columns, then the step before it is projected back.
    p0 = g0 * Q00 + g1 * Q10
    p1 = g0 * Q01 + g1 * Q11
    m0 = _lerp_fused(m0, g0, 1.0 - beta1)
    m1 = _lerp_fused(m1, g1, 1.0 - beta1)
    v0 = _lerp_fused(v0, p0 * p0, 1.0 - beta2)
    v1 = _lerp_fused(v1, p1 * p1, 1.0 - beta2)
    u0 = (m0 * Q00 + m1 * Q10) / (np.sqrt(v0) + eps)
    u1 = (m0 * Q01 + m1 * Q11) / (np.sqrt(v1) + eps)
    n0 = u0 * Q00 + u1 * Q01
    n1 = u0 * Q10 + u1 * Q11
    if normalize_gradient != 0.0:
        rms = np.sqrt((n0 * n0 + n1 * n1) / 2.0) + eps
        n0 = n0 / rms
        n1 = n1 / rms
    x0 = fma(-step_size, n0, x0)
    x1 = fma(-step_size, n1, x1)
    if weight_decay != 0.0:
        shrink = 1.0 - weight_decay * lr_t
        x0 = x0 * shrink
        x1 = x1 * shrink
    if precondition_1d != 0.0:
        G00 = _lerp_fused(G00, g0 * g0, 1.0 - shampoo_beta)
        G01 = _lerp_fused(G01, g0 * g1, 1.0 - shampoo_beta)
        G10 = _lerp_fused(G10, g1 * g0, 1.0 - shampoo_beta)
        G11 = _lerp_fused(G11, g1 * g1, 1.0 - shampoo_beta)
    return x0, x1, m0, m1, v0, v1, G00, G01, G10, G11


@njit(inline="always")
def _soap_refresh(v0, v1, G00, G01, G10, G11, Q00, Q01, Q10, Q11):
    """One power iteration GG Q, its columns sorted by the Rayleigh quotients (v follows them), then QR in float32."""
    a0 = G00 * Q00 + G01 * Q10
    a1 = G00 * Q01 + G01 * Q11
    c0 = G10 * Q00 + G11 * Q10
    c1 = G10 * Q01 + G11 * Q11
    e0 = Q00 * a0 + Q10 * c0
    e1 = Q01 * a1 + Q11 * c1
    if e1 > e0:
        Q00, Q01, Q10, Q11 = _qr2_float32(a1, c1)
        return v1, v0, Q00, Q01, Q10, Q11
    Q00, Q01, Q10, Q11 = _qr2_float32(a0, c0)
    return v0, v1, Q00, Q01, Q10, Q11


@OPTIMIZERS.cells(SOAP)
@njit(inline="always")
def soap_cells(m, x0, x1, g0, g1, f, t, lr_t, lr, beta1, beta2, shampoo_beta, weight_decay, precondition_frequency,
               precondition_1d, correct_bias, normalize_gradient, eps, state):
    """SOAP's step on cells 0..m-1 of the plane: pytorch_optimizer's SOAP on a parameter of order 1; Q is the identity
    when it is not preconditioned. The `_work` slot's first row holds each cell's bias correction for the step.

    Each phase loops over the cells; what may differ from cell to cell only through a hyperparameter (the bias
    correction's two pow calls, whether Q is refreshed: an integer division) is computed again only when a cell's
    values differ from the cell's before (in a sweep over starts or lr, once per step).
    """
    m0, m1, v0, v1, G00, G01, G10, G11, Q00, Q01, Q10, Q11, bias, _, _, _ = state
    if t == 1:
        for j in range(m):
            G00[j], G01[j], G10[j], G11[j], Q00[j], Q01[j], Q10[j], Q11[j] = _soap_first(
                g0[j], g1[j], _at(shampoo_beta, j), _at(precondition_1d, j), G00[j], G01[j], G10[j], G11[j])
        return
    step = float(t - 1)
    last1, last2, last_on, bias_correction = -1.0, -1.0, -1.0, 1.0
    for j in range(m):
        beta1_j, beta2_j, on = _at(beta1, j), _at(beta2, j), _at(correct_bias, j)
        if beta1_j != last1 or beta2_j != last2 or on != last_on:
            last1, last2, last_on = beta1_j, beta2_j, on
            # Adam's bias correction, sqrt(1 - beta2^(t-1)) / (1 - beta1^(t-1)).
            bias_correction = np.sqrt(1.0 - beta2_j ** step) / (1.0 - beta1_j ** step) if on != 0.0 else 1.0
        bias[j] = bias_correction
    for j in range(m):
        x0[j], x1[j], m0[j], m1[j], v0[j], v1[j], G00[j], G01[j], G10[j], G11[j] = _soap_step(
            x0[j], x1[j], g0[j], g1[j], _at(lr_t, j), bias[j], _at(beta1, j), _at(beta2, j), _at(shampoo_beta, j),
            _at(weight_decay, j), _at(precondition_1d, j), _at(normalize_gradient, j), _at(eps, j), m0[j], m1[j],
            v0[j], v1[j], G00[j], G01[j], G10[j], G11[j], Q00[j], Q01[j], Q10[j], Q11[j])
    last_frequency, due = -1.0, False
    for j in range(m):
        frequency = _at(precondition_frequency, j)
        if frequency != last_frequency:
            last_frequency = frequency
            due = (t - 1) % int(frequency) == 0  # an integer remainder: a float one calls fmod
        if due and _at(precondition_1d, j) != 0.0:
            v0[j], v1[j], Q00[j], Q01[j], Q10[j], Q11[j] = _soap_refresh(
                v0[j], v1[j], G00[j], G01[j], G10[j], G11[j], Q00[j], Q01[j], Q10[j], Q11[j])


@OPTIMIZERS.kernel(SOAP)
@whole_kernel
def soap(x, g, f, t, lr_t, lr, beta1, beta2, shampoo_beta, weight_decay, precondition_frequency, precondition_1d,
         correct_bias, normalize_gradient, eps, m, v, _GG, _Q, _work, surf):
    """pytorch_optimizer's SOAP on a parameter of order 1 (`soap_cells`)."""
    G, Q, w = _GG, _Q, _work
    soap_cells(1, x[0:1], x[1:2], g[0:1], g[1:2], f, t, lr_t, lr, beta1, beta2, shampoo_beta, weight_decay,
               precondition_frequency, precondition_1d, correct_bias, normalize_gradient, eps,
               (m[0:1], m[1:2], v[0:1], v[1:2], G[0, 0:1], G[0, 1:2], G[1, 0:1], G[1, 1:2], Q[0, 0:1], Q[0, 1:2],
                Q[1, 0:1], Q[1, 1:2], w[0, 0:1], w[0, 1:2], w[1, 0:1], w[1, 1:2]))


# === curvature ================================================================
# (sophia, newton)

# --- sophia ----------------------------------------------------------------
SOPHIA = OPTIMIZERS.add(OptimizerSpec(
    id="sophia",
    label="Sophia",
    group="second-order",
    help="Momentum divided by a running diagonal Hessian, clipped per coordinate; the curvature is refreshed every k steps.",
    hyperparameters=(
        lr(1e-4),
        beta1(0.96),
        beta2(0.99),
        Hyperparameter("gamma", r"\gamma", 0.01, 1e-6, 10.0, "scale of the curvature in the denominator", log=True),
        eps(1e-12, "floor of the denominator, so flat or concave directions take a clipped step"),
        weight_decay(0.0, "decoupled decay: x shrinks by lr·λ each step"),
        Hyperparameter("k", r"k", 10, 1, 1000, "steps between two refreshes of the diagonal Hessian", kind="int"),
    ),
    rule=(
        r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t \\ "
        r"h_t = \beta_2 h_{t-k} + (1-\beta_2)\, \mathrm{diag}\,\nabla^2 f(x_t) \;\text{if } t \bmod k = 1 \text{, else } h_{t-1} \\ "
        r"x_t = x_{t-1}(1 - \eta\lambda) - \eta\, \mathrm{clip}\!\left(\frac{m_t}{\max(\gamma h_t, \epsilon)}, 1\right)"
    ),
    reference=(
        "Liu, Li, Hall, Liang & Ma (2023), Sophia: A Scalable Stochastic Second-order Optimizer, arXiv:2305.14342, "
        "Algorithm 3, with the surface's exact diagonal Hessian as the estimator"
    ),
    state=("m", "h", "_hessian"),
    shapes={"_hessian": ("n", "n")},
    whole=True,
))


@OPTIMIZERS.kernel(SOPHIA)
@whole_kernel
def sophia(x, g, f, t, lr_t, lr, beta1, beta2, gamma, eps, weight_decay, k, m, h, _hessian, surf):
    """Sophia's Algorithm 3; the Hutchinson or Gauss-Newton estimate replaced by the exact diagonal."""
    n = x.shape[0]
    refresh = (t - 1) % int(k) == 0  # an integer remainder: a float one calls fmod
    if refresh:
        probe.hessian(surf, x, _hessian)
    for i in range(n):
        m[i] = beta1 * m[i] + (1.0 - beta1) * g[i]
        if refresh:
            h[i] = beta2 * h[i] + (1.0 - beta2) * _hessian[i, i]
        x[i] = x[i] * (1.0 - lr_t * weight_decay)
        step = m[i] / max(gamma * h[i], eps)
        x[i] = x[i] - lr_t * min(max(step, -1.0), 1.0)


# --- newton ----------------------------------------------------------------
NEWTON = OPTIMIZERS.add(OptimizerSpec(
    id="newton",
    label="Newton",
    group="second-order",
    help="Steps to the minimum of the local quadratic model: the gradient multiplied by the inverse Hessian.",
    hyperparameters=(
        Hyperparameter("lr", r"\eta", 1.0, 1e-6, 10.0, "fraction of the Newton step taken (1: the full step)", log=True),
        Hyperparameter("damping", r"\lambda", 0.0, 0.0, 100.0, "added to the Hessian's diagonal (Levenberg–Marquardt)"),
    ),
    rule=r"x_t = x_{t-1} - \eta\, \left(\nabla^2 f(x_{t-1}) + \lambda I\right)^{-1} g_t",
    reference="Newton's method, damped as in Levenberg (1944) and Marquardt (1963); Nocedal & Wright, Numerical Optimization (2006), ch. 3",
    state=("step", "_hessian"),
    shapes={"_hessian": ("n", "n")},
    whole=True,
))


@OPTIMIZERS.kernel(NEWTON)
@whole_kernel
def newton(x, g, f, t, lr_t, lr, damping, step, _hessian, surf):
    """x minus lr times the solution of (H + damping·I) d = g."""
    n = x.shape[0]
    probe.hessian(surf, x, _hessian)
    for i in range(n):
        _hessian[i, i] += damping
        step[i] = g[i]
    # Gaussian elimination with partial pivoting, in place: np.linalg would need SciPy at run time. A
    # singular Hessian divides by zero, and the run stops at the non-finite point as any divergence does.
    for c in range(n):
        p = c
        for r in range(c + 1, n):
            if abs(_hessian[r, c]) > abs(_hessian[p, c]):
                p = r
        if p != c:
            for k in range(n):
                _hessian[c, k], _hessian[p, k] = _hessian[p, k], _hessian[c, k]
            step[c], step[p] = step[p], step[c]
        for r in range(c + 1, n):
            w = _hessian[r, c] / _hessian[c, c]
            for k in range(c, n):
                _hessian[r, k] -= w * _hessian[c, k]
            step[r] -= w * step[c]
    for c in range(n - 1, -1, -1):
        acc = step[c]
        for k in range(c + 1, n):
            acc -= _hessian[c, k] * step[k]
        step[c] = acc / _hessian[c, c]
    for i in range(n):
        x[i] = x[i] - lr_t * step[i]