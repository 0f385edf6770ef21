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

import numpy as np
import pytest

import core
import oracles
from test_optimizers import (  # noqa: F401
    assert_close, conditioned_steps, draw, finite_prefix, float64_torch, surface_gradient,
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

}


def reference_points(spec, surface, start, steps, hp) -> np.ndarray:
    grad = surface_gradient(surface)
    value = core.SURFACES[surface["name"]]
    consts = [float(surface.get(h.name, h.default)) for h in value.params]
    fn = value.kernel.py_func if hasattr(value.kernel, "py_func") else value.kernel
    driver = DRIVERS.get(spec.id, Driver())
    shape = driver.parameter_shape(hp)
    p = torch.tensor(np.array(start, dtype=float).reshape(shape), dtype=torch.float64, requires_grad=True)
    opt = driver.build(spec, p, hp)

    def closure():
        x = p.detach().numpy().reshape(-1)
        with np.errstate(all="ignore"):
            p.grad = torch.tensor(grad(x[0], x[1]).reshape(shape))
        return torch.tensor(fn(x[0], x[1], *consts)[0])

    points = [driver.point(opt, p)]
    for _ in range(steps):
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
