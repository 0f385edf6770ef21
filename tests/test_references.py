"""Every optimizer with a reference implementation outside the scalar torch.optim table, step for step.

An optimizer whose spec names a `package` ("module:Class") or whose kernel
takes the whole parameter (`whole=True`) is run here against its authors'
own code in float64: the reference class is built from the spec (tuples such
as `betas` reassembled from `beta1`, `beta2`, ...), given the surface's
analytic gradient (the same the engine uses, checked against the oracles in
test_surfaces) and stepped as its README says to step it. `DRIVERS` holds
what differs per optimizer: the parameter's shape, a closure, train/eval.
"""

from __future__ import annotations

import importlib
import math
from fractions import Fraction

import numba
import numpy as np
import pytest

import core
import oracles
from test_optimizers import (  # noqa: F401
    QUADRATIC, assert_close, conditioned_steps, draw, finite_prefix, float64_torch, surface_gradient,
)

torch = pytest.importorskip("torch")

STEPS = 300
RTOL = 1e-9
# A tuple argument of a reference constructor, spelt as the registry's separate hyperparameters.
TUPLES = {
    "betas": ("beta1", "beta2", "beta3"),
    "etas": ("eta_minus", "eta_plus"),
    "step_sizes": ("step_size_min", "step_size_max"),
}
SURFACES = [
    {"name": "quadratic", "kappa": 10.0},
    {"name": "rosenbrock"},
    {"name": "beale"},
    {"name": "himmelblau"},
]


def referenced(spec) -> bool:
    return spec.package is not None or (spec.whole and spec.torch is not None)


REFERENCED = [s for s in core.OPTIMIZERS.values() if referenced(s)]
WHOLE = [s for s in core.OPTIMIZERS.values() if s.whole]


def resolve(name: str):
    module, _, attr = name.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def reference_class(spec):
    if spec.package is not None:
        return resolve(spec.package[0])
    return getattr(torch.optim, spec.torch[0])


def reference_kwargs(spec, hp: dict) -> dict:
    fixed = dict((spec.package or spec.torch)[1])
    for key, value in fixed.items():
        if isinstance(value, str) and ":" in value:
            fixed[key] = resolve(value)
    kinds = {h.name: h.kind for h in spec.hyperparameters}
    hp = {k: bool(v) if kinds[k] == "bool" else int(v) if kinds[k] == "int" else float(v) for k, v in hp.items()}
    for name, parts in TUPLES.items():
        present = [p for p in parts if p in hp]
        if present:
            fixed[name] = tuple(hp.pop(p) for p in present)
    return {**fixed, **hp}


class Driver:
    """How the reference is stepped: plain `step()` after setting the gradient."""

    shape = (2,)
    closure = False
    steps = STEPS

    def parameter_shape(self, hp) -> tuple:
        """The reference parameter's shape, which may follow a hyperparameter."""
        return self.shape

    def build(self, spec, p, hp):
        return reference_class(spec)([p], **reference_kwargs(spec, hp))

    def step(self, opt, closure):
        opt.step(closure) if self.closure else opt.step()

    def point(self, opt, p) -> np.ndarray:
        return p.detach().numpy().reshape(-1).copy()


class ClosureDriver(Driver):
    closure = True


class AdEMAMixDriver(Driver):
    def build(self, spec, p, hp):
        kwargs = reference_kwargs(spec, hp)
        # 0 on the slider is the reference's None (no warm-up); 0 itself would divide by zero there.
        kwargs["t_alpha_beta3"] = kwargs["t_alpha_beta3"] or None
        return reference_class(spec)([p], **kwargs)


class WrapperDriver(Driver):
    """A wrapper such as Lookahead: the fixed `optimizer` is built on [p] with the hyperparameters not in `own`."""

    def __init__(self, own: tuple[str, ...]):
        self.own = own

    def build(self, spec, p, hp):
        kwargs = reference_kwargs(spec, hp)
        base = kwargs.pop("optimizer")
        own = {name: kwargs.pop(name) for name in self.own}
        return reference_class(spec)(base([p], **kwargs), **own)

class MuonDriver(Driver):
    """torch.optim.Muon takes only matrices: the point is a 1×2 or 2×1 one, as `shape` says."""

    def parameter_shape(self, hp) -> tuple:
        return (2, 1) if hp.get("shape") else (1, 2)

    def build(self, spec, p, hp):
        kwargs = reference_kwargs(spec, {k: v for k, v in hp.items() if k != "shape"})
        kwargs["adjust_lr_fn"] = ("original", "match_rms_adamw")[kwargs["adjust_lr_fn"]]
        return reference_class(spec)([p], **kwargs)


class LBFGSDriver(ClosureDriver):
    """torch.optim.LBFGS: one iteration per step (max_iter=1 is fixed in the spec), its line search a switch.

    60 steps: L-BFGS converges within them on every surface, and from there on
    its tolerance checks keep it still or it moves by rounding alone.
    """

    steps = 60

    def build(self, spec, p, hp):
        kwargs = reference_kwargs(spec, hp)
        kwargs["line_search_fn"] = "strong_wolfe" if kwargs.pop("line_search") else None
        return reference_class(spec)([p], **kwargs)


class AdafactorDriver(Driver):
    """torch.optim.Adafactor takes its two epsilons as one tuple `eps`."""

    def build(self, spec, p, hp):
        kwargs = reference_kwargs(spec, hp)
        kwargs["eps"] = (kwargs.pop("eps1"), kwargs.pop("eps2"))
        return reference_class(spec)([p], **kwargs)

class ScheduleFreeDriver(Driver):
    """Steps in train mode (the parameter holds y); the plotted point is x, read in eval mode."""

    def build(self, spec, p, hp):
        opt = super().build(spec, p, hp)
        opt.train()
        return opt

    def point(self, opt, p) -> np.ndarray:
        opt.eval()
        x = super().point(opt, p)
        opt.train()
        return x


class ProdigyDriver(Driver):
    """Prodigy takes betas=(beta1, beta2) and beta3 apart."""

    def build(self, spec, p, hp):
        kwargs = reference_kwargs(spec, hp)
        beta1, beta2, beta3 = kwargs.pop("betas")
        return reference_class(spec)([p], **kwargs, betas=(beta1, beta2), beta3=beta3)


DRIVERS: dict[str, Driver] = {
    "sam": ClosureDriver(),
    # torch.optim's newer optimizers
    "muon": MuonDriver(),
    "adafactor": AdafactorDriver(),
    "lbfgs": LBFGSDriver(),

    # pytorch_optimizer's elementwise family
    "ademamix": AdEMAMixDriver(),
    "lookahead": WrapperDriver(("k", "alpha")),

    # preconditioners and schedule-free
    "schedulefree_adamw": ScheduleFreeDriver(),
    "schedulefree_sgd": ScheduleFreeDriver(),
    "prodigy": ProdigyDriver(),

}


def reference_points(spec, surface, start, steps, hp, noise=None) -> np.ndarray:
    """The reference's points; `noise[k]` is added to every gradient taken during step k + 1."""
    grad = surface_gradient(surface)
    value = core.SURFACES[surface["name"]]
    consts = [float(surface.get(h.name, h.default)) for h in value.params]
    fn = value.kernel.py_func if hasattr(value.kernel, "py_func") else value.kernel
    driver = DRIVERS.get(spec.id, Driver())
    shape = driver.parameter_shape(hp)
    p = torch.tensor(np.array(start, dtype=float).reshape(shape), dtype=torch.float64, requires_grad=True)
    opt = driver.build(spec, p, hp)

    step = [0]

    def closure():
        x = p.detach().numpy().reshape(-1)
        with np.errstate(all="ignore"):
            g = grad(x[0], x[1]) + (0.0 if noise is None else noise[step[0]])
            p.grad = torch.tensor(g.reshape(shape))
        return torch.tensor(fn(x[0], x[1], *consts)[0])

    points = [driver.point(opt, p)]
    for k in range(steps):
        step[0] = k
        closure()
        driver.step(opt, closure)
        points.append(driver.point(opt, p))
        if not np.all(np.isfinite(points[-1])):
            break
    return np.array(points)


@pytest.mark.parametrize("spec", WHOLE, ids=[s.id for s in WHOLE])
def test_every_whole_kernel_has_a_reference(spec):
    assert referenced(spec) or spec.id in oracles.OPTIMIZERS, f"{spec.id} has neither a reference package nor an oracle"


@pytest.mark.parametrize("spec", REFERENCED, ids=[s.id for s in REFERENCED])
@pytest.mark.parametrize("surface", SURFACES, ids=[s["name"] for s in SURFACES])
def test_matches_reference_at_defaults(spec, surface):
    hp = spec.defaults
    hp["lr"] = max(hp["lr"], 1e-3)
    start = core.SURFACES[surface["name"]].start
    steps = DRIVERS.get(spec.id, Driver()).steps
    ours = core.trajectory(surface, spec.id, start, steps, hp)
    ref = reference_points(spec, surface, start, steps, hp)
    n = min(len(ours.points), finite_prefix(ref))
    assert n == steps + 1, f"{spec.id} on {surface['name']}: only {n} finite points"
    assert_close(ours.points[:n], ref[:n], RTOL, f"{spec.id} on {surface['name']}")


@pytest.mark.parametrize("spec", REFERENCED, ids=[s.id for s in REFERENCED])
def test_matches_reference_with_gradient_noise(spec):
    """Every gradient a step takes, wherever the optimizer takes it (SAM's ascent point, Schedule-Free's y,
    L-BFGS's line-search trials), carries that step's noise draw, as a minibatch's gradient would."""
    hp = spec.defaults
    hp["lr"] = max(hp["lr"], 1e-3)
    surface, start, steps, sigma, seed = {"name": "quadratic", "kappa": 10.0}, (-1.8, 1.0), 100, 0.5, 7
    steps = min(steps, DRIVERS.get(spec.id, Driver()).steps)
    ours = core.trajectory(surface, spec.id, start, steps, hp, noise={"sigma": sigma, "seed": seed})
    draws = sigma * np.random.default_rng([seed, 1]).standard_normal((steps, 2))
    ref = reference_points(spec, surface, start, steps, hp, draws)
    n = min(len(ours.points), finite_prefix(ref))
    assert n == steps + 1, f"{spec.id}: only {n} finite points"
    assert_close(ours.points[:n], ref[:n], RTOL, f"{spec.id} with gradient noise")


@pytest.mark.parametrize("spec", REFERENCED, ids=[s.id for s in REFERENCED])
@pytest.mark.parametrize("seed", range(3))
def test_matches_reference_with_random_hyperparameters(spec, seed):
    surface = {"name": "quadratic", "kappa": 10.0}
    steps = DRIVERS.get(spec.id, Driver()).steps
    hp = draw(spec, np.random.default_rng([seed, spec.code, 7]), int_high=steps + 1)
    start = core.SURFACES["quadratic"].start
    ours = core.trajectory(surface, spec.id, start, steps, hp)
    ref = reference_points(spec, surface, start, steps, hp)
    # Compare while both runs are finite and the run is well-conditioned (see test_optimizers.FAR_START).
    n = min(len(ours.points), finite_prefix(ref), conditioned_steps(ours, surface, spec.id, start, hp, 1000))
    assert n > 1, f"{spec.id} {hp}: nothing to compare"
    assert_close(ours.points[:n], ref[:n], RTOL, f"{spec.id} {hp}")



# Branches that three random draws may miss, each held against the reference on the quadratic.
BRANCHES = {
    "adabelief": [{"rectify": 1}, {"rectify": 1, "degenerated_to_sgd": 0, "ams_bound": 1}, {"weight_decouple": 0, "weight_decay": 0.1}],
    "lamb": [
        {"weight_decouple": 0, "weight_decay": 0.1}, {"rectify": 1}, {"rectify": 1, "degenerated_to_sgd": 1},
        {"pre_norm": 1, "max_grad_norm": 0.5}, {"grad_averaging": 0, "adam": 1, "fixed_decay": 1, "weight_decay": 0.01},
    ],
    "adan": [{"weight_decay": 0.1}, {"weight_decay": 0.1, "weight_decouple": 1}],
    "ademamix": [{"t_alpha_beta3": 50}, {"t_alpha_beta3": 500, "beta1": 0.99, "beta3": 0.99}],
    "mars": [{"optimize_1d": 0}, {"cautious": 1, "ams_bound": 1}, {"weight_decouple": 0, "weight_decay": 0.3}],
    "lookahead": [{"k": 1}, {"k": 7, "alpha": 0.0}],
}
BRANCH_CASES = [(core.OPTIMIZERS[oid], hp) for oid, hps in BRANCHES.items() if oid in core.OPTIMIZERS for hp in hps]


@pytest.mark.parametrize("spec,extra", BRANCH_CASES, ids=[f"{s.id}-{'-'.join(f'{k}={v}' for k, v in h.items())}" for s, h in BRANCH_CASES])
def test_matches_reference_on_branches(spec, extra):
    surface = {"name": "quadratic", "kappa": 10.0}
    hp = {**spec.defaults, "lr": 0.01, **{k: float(v) for k, v in extra.items()}}
    start = core.SURFACES["quadratic"].start
    ours = core.trajectory(surface, spec.id, start, STEPS, hp)
    ref = reference_points(spec, surface, start, STEPS, hp)
    assert len(ours.points) == len(ref) == STEPS + 1
    assert_close(ours.points, ref, RTOL, f"{spec.id} {extra}")


# --- whole kernels held against an oracle of their own ----------------------

ORACLED = [s for s in WHOLE if not referenced(s)]


class OracleSurface:
    """What a whole-vector oracle may ask of the surface: its exact Hessian, from the oracles' own formula."""

    def __init__(self, name: str, params: dict):
        self.name, self.params = name, params

    def hessian(self, p):
        return oracles.surface_hessian(self.name, p[0], p[1], self.params)

    def tolerance(self, p, hp) -> float:
        """1e-9, or more where the step solves a linear system: two backward-stable solves of it agree to cond·eps."""
        if "damping" not in hp:
            return 1e-9
        return max(1e-9, 1e-14 * np.linalg.cond(self.hessian(p) + hp["damping"] * np.eye(len(p))))


@pytest.mark.parametrize("spec", ORACLED, ids=[s.id for s in ORACLED])
@pytest.mark.parametrize("surface", SURFACES, ids=[s["name"] for s in SURFACES])
def test_whole_kernel_matches_its_oracle_step_by_step(spec, surface):
    """Each step of the oracle starts from the engine's own point, gradient and public state."""
    step = oracles.OPTIMIZERS[spec.id]
    params = {h.name: float(surface.get(h.name, h.default)) for h in core.SURFACES[surface["name"]].params}
    where = OracleSurface(surface["name"], params)
    for seed in range(3):
        hp = spec.defaults if seed == 0 else draw(spec, np.random.default_rng([seed, spec.code, 11]), int_high=60)
        ours = core.trajectory(surface, spec.id, core.SURFACES[surface["name"]].start, 60, hp)
        assert len(ours.lr) > 0
        state: dict = {}
        for k in range(len(ours.lr)):
            x = step(ours.points[k].copy(), ours.gradients[k].copy(), k + 1, ours.lr[k], hp, state, where)
            rtol = where.tolerance(ours.points[k], hp)
            assert_close(ours.points[k + 1][None], x[None], rtol, f"{spec.id} {hp} step {k + 1}")
            for slot in ours.state:
                assert_close(ours.state[slot][k][None], state[slot][None], rtol, f"{spec.id} state {slot} step {k + 1}")
            state = {slot: ours.state[slot][k].copy() for slot in ours.state}

def grid_values(h) -> list[float]:
    """The default and one other value of a hyperparameter, inside its range."""
    if h.kind == "bool":
        return [0.0, 1.0]
    if h.kind == "int":
        return [h.default, h.default + 1 if h.default < h.high else h.default - 1]
    other = h.low if h.default != h.low else h.high
    return [h.default, float(np.sqrt(h.default * other) if h.log else (h.default + other) / 2)]


@pytest.mark.parametrize("spec", WHOLE, ids=[s.id for s in WHOLE])
def test_sweep_cells_match_trajectories(spec):
    # A sweep runs whole kernels one cell after another in a loop of its own; each cell must be that trajectory.
    lr, other = spec.hyperparameters[0], spec.hyperparameters[1]
    grid = {"lr": grid_values(lr), other.name: grid_values(other)}
    start, steps = (-1.2, 1.0), 200
    sweep = core.sweep("rosenbrock", spec.id, start, steps, grid)
    for a, lr_value in enumerate(grid["lr"]):
        for b, value in enumerate(grid[other.name]):
            run = core.trajectory("rosenbrock", spec.id, start, steps, {"lr": lr_value, other.name: value})
            assert sweep.diverged[a, b] == (run.diverged_at is not None), (spec.id, lr_value, value)
            if run.diverged_at is None:
                where = f"{spec.id} lr={lr_value} {other.name}={value}"
                np.testing.assert_array_equal(sweep.final_points[a, b], run.points[-1], err_msg=where)


# --- preconditioners and schedule-free: corners the parity runs above do not reach ---

@pytest.mark.parametrize("optimizer, hp, start", [
    pytest.param("prodigy", {"beta1": 0.0}, (-1.8, 1.0), id="prodigy-beta1-0"),
    pytest.param("prodigy", {"growth_rate": 1.05, "weight_decay": 0.1, "use_bias_correction": 1.0}, (-1.8, 1.0),
                 id="prodigy-growth"),
    # No gradient at the minimum: the reference returns before it counts the step or moves.
    pytest.param("prodigy", {}, (0.0, 0.0), id="prodigy-at-minimum"),
    # Statistics that stay diagonal: the SVD splits, then sorts its singular values.
    pytest.param("shampoo", {"lr": 0.01}, (0.0, 1.0), id="shampoo-diagonal"),
    pytest.param("soap", {"precondition_frequency": 1}, (1.5, 0.0), id="soap-diagonal"),
])
def test_matches_reference_in_corners(optimizer, hp, start):
    spec = core.OPTIMIZERS[optimizer]
    hp = {**spec.defaults, **hp}
    ours = core.trajectory(QUADRATIC, optimizer, start, STEPS, hp)
    ref = reference_points(spec, QUADRATIC, start, STEPS, hp)
    assert len(ours.points) == len(ref) == STEPS + 1
    assert_close(ours.points, ref, RTOL, f"{optimizer} {hp} from {start}")


def test_fma_rounds_once():
    from core.optimizers import fma
    fused = numba.njit(lambda a, b, c: fma(a, b, c))
    rng = np.random.default_rng(0)
    for a, b, c in rng.standard_normal((200, 3)):
        exact = float(Fraction(a) * Fraction(b) + Fraction(c))
        assert fma(a, b, c) == fused(a, b, c) == exact
    assert fma(0.1, 10.0, -1.0) == 2.0**-54 and 0.1 * 10.0 - 1.0 == 0.0
    assert fma(1e308, 10.0, 0.0) == math.inf and fma(-1e308, 10.0, 0.0) == -math.inf
    assert math.isnan(fma(math.inf, 0.0, 1.0)) and fma(math.inf, 1.0, 1.0) == math.inf


def random_matrices(rng, count):
    """Statistics as Shampoo gathers them (eps I + sums of g gᵀ, nearly rank one or not), and general matrices."""
    for k in range(count):
        g = rng.standard_normal(2) * 10 ** rng.uniform(-3, 3)
        eps = 10 ** rng.uniform(-12, 1)
        if k % 3 == 0:
            yield np.outer(g, g) + eps * np.eye(2)
        elif k % 3 == 1:
            h = g + rng.standard_normal(2) * 10 ** rng.uniform(-6, 0) * np.abs(g).max()
            yield np.outer(g, g) + np.outer(h, h) + eps * np.eye(2)
        else:
            yield rng.standard_normal((2, 2)) * 10 ** rng.uniform(-3, 3)


def test_inverse_root_is_torchs_svd_bit_for_bit():
    from pytorch_optimizer.optimizer.utils.matrix import compute_power_svd
    from core.optimizers import _inverse_root2
    # Every branch the root selects from: no reflection (a21 = 0), a split off-diagonal, a zero one, one that
    # dwarfs the diagonal (around 1 and not), swapped diagonals, equal ones, negative and zero entries.
    crafted = [np.diag([2.0, 3.0]), np.diag([3.0, 2.0]), np.array([[1e-17, 1.0], [0.0, 1e-17]]),
               np.array([[2.0, 1e20], [0.0, 3.0]]), np.array([[2.0, 1e20], [0.0, 0.5]]),
               np.array([[-1.0, 2.0], [3.0, -4.0]]), np.array([[0.0, 1.0], [2.0, 3.0]]),
               np.array([[1.0, 1e-200], [0.0, 1.0]]), np.array([[-2.0, 3.0], [0.0, -2.0]]),
               np.array([[1.0, 2.0], [0.0, -3.0]]), np.array([[0.5, -4.0], [0.0, 0.25]]),
               np.array([[0.0, 0.0], [1.0, 2.0]]), np.zeros((2, 2))]
    # As the kernels are compiled: a singular value of 0 (eps lost beside g gᵀ) gives inf, as in torch.
    root = numba.njit(error_model="numpy")(lambda A, out: _inverse_root2(A, out))
    for A in crafted + list(random_matrices(np.random.default_rng(1), 3000)):
        ours = np.empty((2, 2))
        with np.errstate(all="ignore"):
            root(A, ours)
            ref = compute_power_svd(torch.tensor(A), 2).numpy()
        np.testing.assert_array_equal(ours, ref, err_msg=str(A.tolist()))


def test_lasv2_diagonalizes_in_every_branch():
    from core.optimizers import _lasv2
    cases = [(1.0, 1e-200, 1.0), (2.0, 1e-200, 1.0), (1e-17, 1.0, 1e-17), (2.0, 1e20, 3.0), (3.0, 0.0, -2.0),
             (-1.0, 2.0, 3.0), (1.0, 2.0, -3.0), (0.5, -4.0, 0.25), (2.0, 1e20, 0.5), (-2.0, 3.0, -2.0)]
    # As the kernels are compiled, on float64 numbers: a branch not taken may divide by zero.
    lasv2 = numba.njit(error_model="numpy")(lambda f, g, h: _lasv2(f, g, h))
    for f, g, h in cases:
        with np.errstate(all="ignore"):
            ssmin, ssmax, snr, csr, snl, csl = lasv2(np.float64(f), np.float64(g), np.float64(h))
        left = np.array([[csl, snl], [-snl, csl]])
        right = np.array([[csr, -snr], [snr, csr]])
        out = left @ np.array([[f, g], [0.0, h]]) @ right
        scale = max(abs(f), abs(g), abs(h))
        np.testing.assert_allclose(out, np.diag([ssmax, ssmin]), rtol=0, atol=1e-15 * scale, err_msg=str((f, g, h)))
        assert abs(ssmax) >= abs(ssmin)


def test_float32_qr_is_torchs_bit_for_bit():
    from core.optimizers import _qr2_float32
    rng = np.random.default_rng(2)
    matrices = [np.array([[3.0, 1.0], [0.0, 2.0]]), np.array([[-3.0, 1.0], [0.0, 2.0]])]
    matrices += [rng.standard_normal((2, 2)) * 10 ** rng.uniform(-3, 3) for _ in range(3000)]
    for A in matrices:
        q00, q01, q10, q11 = _qr2_float32(A[0, 0], A[1, 0])
        ref = torch.linalg.qr(torch.tensor(A).to(torch.float32))[0].to(torch.float64).numpy()
        np.testing.assert_array_equal([[q00, q01], [q10, q11]], ref, err_msg=str(A.tolist()))


def test_eigh2_is_torchs_eigh():
    from core.optimizers import _eigh2
    rng = np.random.default_rng(3)
    crafted = [np.diag([1.0, -1.0]), np.diag([2.0, 1.0]), np.array([[1.0, 0.5], [0.5, 1.0]]),
               np.array([[-1.0, 0.1], [0.1, -2.0]]), np.zeros((2, 2)), np.array([[1.0, 3.0], [3.0, 2.0]])]
    firsts = [np.outer(g, g) * rng.uniform(0.05, 1) + 1e-30 * np.eye(2) for g in rng.standard_normal((1000, 2)) * 30]
    for k, M in enumerate(crafted + firsts):
        rt1, rt2, cs, sn = _eigh2(M[0, 0], M[0, 1], M[1, 1])
        values, vectors = torch.linalg.eigh(torch.tensor(M))
        big = int(np.argmax(np.abs(values.numpy())))
        np.testing.assert_allclose(sorted([rt1, rt2]), values.numpy(), rtol=1e-15, atol=1e-15)
        ref = vectors.numpy()[:, big]
        ours = np.array([cs, sn]) * np.sign(np.dot([cs, sn], ref) or 1.0)
        if k < len(crafted):
            # An eigenvector is defined (up to sign) when the magnitudes differ.
            if abs(rt1) != abs(rt2):
                np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-15)
        else:
            # SOAP's first eigenbasis: torch's bits, up to the sign that cancels in every use.
            np.testing.assert_array_equal(ours, ref)
