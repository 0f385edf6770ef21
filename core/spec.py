"""The dataclasses that describe an optimizer, a hyperparameter and a surface.

Everything the API, the page and the docs show about an optimizer or a surface
comes from these specs; nothing else keeps a list of names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


# The catalog's headings, in the order the page lists them.
GROUPS = {
    "classic": "Classic",
    "adaptive": "Adaptive",
    "dialects": "Framework dialects",
    "modern": "Modern",
    "second-order": "Second-order",
    "external": "Loaded by name",
}


# A reference constructor's tuple argument, spelt as separate hyperparameters (`betas` -> beta1, beta2).
TUPLE_PARTS = {
    "betas": ("beta1", "beta2", "beta3"),
    "etas": ("eta_minus", "eta_plus"),
    "step_sizes": ("step_size_min", "step_size_max"),
}


def tuple_parts(name: str, n: int) -> tuple[str, ...]:
    """The hyperparameter names of an n-tuple argument: TUPLE_PARTS', else name1, name2, ... (eps -> eps1, eps2)."""
    known = TUPLE_PARTS.get(name, ())
    return known[:n] if len(known) >= n else tuple(f"{name}{i + 1}" for i in range(n))


# How a slider spreads a range over its track: evenly, evenly in decades of the value, or evenly in
# decades of 1 - value, where a decay rate's usual values (0.9, 0.99, 0.999) lie a sixth of a track apart
# instead of crowded into its last hundredth.
SCALES = ("linear", "log", "log1m")


def default_scale(log: bool, low: float, high: float, default: float) -> str:
    """A decay rate (a float in [0, 1) defaulting to 0.9 or more) slides on log(1 - v); `log` ranges on log(v)."""
    if log:
        return "log"
    return "log1m" if 0 <= low < high < 1 and default >= 0.9 else "linear"


@dataclass(frozen=True)
class Hyperparameter:
    """One tunable number: its torch.optim name, its range and its slider.

    `scale` is the slider's (one of SCALES); left empty it follows from `log` and the range
    (default_scale), so a new beta gets the right slider without saying so.
    """

    name: str
    symbol: str  # LaTeX, e.g. r"\beta_1"
    default: float
    low: float
    high: float
    help: str
    log: bool = False
    kind: str = "float"  # "float", "int" or "bool"
    scale: str = ""

    def __post_init__(self):
        if not self.scale:
            object.__setattr__(self, "scale", default_scale(self.log, self.low, self.high, self.default)
                               if self.kind == "float" else ("log" if self.log else "linear"))
        if self.scale not in SCALES:
            raise ValueError(f"{self.name}: scale {self.scale!r} is not one of {', '.join(SCALES)}")
        if self.scale == "log1m" and not self.high < 1:
            raise ValueError(f"{self.name}: a log1m slider needs high < 1, got {self.high}")

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "symbol": self.symbol,
            "default": self.default,
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "scale": self.scale,
            "kind": self.kind,
            "help": self.help,
        }


@dataclass
class OptimizerSpec:
    """An optimizer: what it is called, what it takes, and the rule it applies.

    `state` names the per-coordinate buffers the kernel keeps, in slot order;
    names starting with "_" are bookkeeping the inspector does not show, and
    must depend on the step and hyperparameters alone (running powers such as
    beta1**t), never on the coordinate: a sweep keeps one copy per run.
    `init` gives a slot's starting value, a number or a hyperparameter name
    (every other slot starts at 0).
    `torch` says how to build the same optimizer with torch.optim (class name
    and fixed keyword arguments), or is None for a dialect torch lacks.
    `step_size`, when given, maps (lr per step, t, hyperparameters, state)
    to the bias-corrected step size the inspector plots; `state` maps every
    slot, bookkeeping included, to its values per step (coordinate 0).

    `whole`: the kernel takes the whole parameter vector and array state
    instead of one coordinate (see core/optimizers.py for its form). Then
    `shapes` gives a slot's shape, in numbers and "n" (the parameter count;
    default ("n",)); public slots are ("n",) or (1,), wider ones are "_"
    bookkeeping. `points` names the slots that hold a point of the surface
    (SAM's ascent point, Schedule-Free's y and z), which the page can draw.
    `cells`, when set, is the same whole kernel written for many runs on the
    plane at once, each per-run value an array over them (see
    core/optimizers.py); the whole kernel calls it for one, so the arithmetic
    exists once, and a sweep steps a block of cells side by side with it.
    `package` names a reference implementation outside torch.optim as
    ("module:Class", fixed keyword arguments); `group` is the catalog's
    heading for the optimizer. `external` holds what core.external loaded
    for an optimizer class given as "module:Class" (no kernel, no code).
    """

    id: str
    label: str
    hyperparameters: tuple[Hyperparameter, ...]
    rule: str
    reference: str
    help: str
    state: tuple[str, ...] = ()
    init: dict[str, float | str] = field(default_factory=dict)
    torch: tuple[str, dict] | None = None
    step_size: Callable[[np.ndarray, np.ndarray, dict, dict], np.ndarray] | None = None
    group: str = "classic"
    whole: bool = False
    shapes: dict[str, tuple] = field(default_factory=dict)
    points: tuple[str, ...] = ()
    package: tuple[str, dict] | None = None
    external: object = field(default=None, repr=False)
    kernel: Callable | None = field(default=None, repr=False)
    cells: Callable | None = field(default=None, repr=False)
    code: int = -1

    def shape(self, slot: str) -> tuple:
        return self.shapes.get(slot, ("n",))

    def hyper(self, name: str) -> Hyperparameter:
        for h in self.hyperparameters:
            if h.name == name:
                return h
        raise KeyError(name)

    @property
    def defaults(self) -> dict[str, float]:
        return {h.name: h.default for h in self.hyperparameters}

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "label": self.label,
            "help": self.help,
            "rule": self.rule,
            "reference": self.reference,
            "state": list(self.state),
            "torch": None if self.torch is None else {"class": self.torch[0], "kwargs": self.torch[1]},
            "package": None if self.package is None else {"class": self.package[0], "kwargs": self.package[1]},
            "group": self.group,
            "group_label": GROUPS.get(self.group, self.group),
            "group_order": list(GROUPS).index(self.group) if self.group in GROUPS else len(GROUPS),
            "whole": self.whole,
            "points": list(self.points),
            "has_step_size": self.step_size is not None,
            "hyperparameters": [h.as_dict() for h in self.hyperparameters],
        }


@dataclass
class SurfaceSpec:
    """A loss surface f(x, y) with its analytic gradient and its landmarks.

    `params` are the surface's own tunable numbers (a condition number, a batch
    size); the kernel receives them as a float array in this order.
    `prepare`, when given, turns (params, seed) into (constants, per-step
    batch source or None, fixed batch row or None) for the kernel; a
    stochastic surface reads `batch_columns` numbers per step from it.
    `whole_params`: the kernel takes the constants as one array argument
    (a typed formula's tape) instead of one argument each; `constants` is
    that fixed array and `source` the formula as typed.
    `lr` gives an optimizer the learning rate it starts with on this surface where its own default
    would not do (diverge, or barely move); the page sets it when the surface is chosen.
    """

    id: str
    label: str
    formula: str
    domain: tuple[tuple[float, float], tuple[float, float]]
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    reference: str
    help: str
    saddles: tuple[tuple[float, float], ...] = ()
    params: tuple[Hyperparameter, ...] = ()
    minimum_value: float | None = None
    prepare: Callable | None = field(default=None, repr=False)
    batch_columns: int = 0
    landmarks: Callable | None = field(default=None, repr=False)
    kernel: Callable | None = field(default=None, repr=False)
    hessian: Callable | None = field(default=None, repr=False)
    code: int = -1
    whole_params: bool = False
    constants: np.ndarray | None = field(default=None, repr=False)
    source: str | None = None
    lr: dict[str, float] = field(default_factory=dict)

    def param(self, name: str) -> Hyperparameter:
        for h in self.params:
            if h.name == name:
                return h
        raise KeyError(name)

    def resolved_landmarks(self, params: dict) -> tuple[tuple, tuple, float | None]:
        """Minima, saddle points and the minimum value for these params."""
        if self.landmarks is not None:
            return self.landmarks(params)
        return self.minima, self.saddles, self.minimum_value

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "label": self.label,
            "help": self.help,
            "formula": self.formula,
            "reference": self.reference,
            "domain": [list(self.domain[0]), list(self.domain[1])],
            "start": list(self.start),
            "minima": [list(p) for p in self.minima],
            "saddles": [list(p) for p in self.saddles],
            "minimum_value": self.minimum_value,
            "stochastic": self.prepare is not None,
            "params": [h.as_dict() for h in self.params],
            "lr": dict(self.lr),
        }


class Registry(dict):
    """An ordered name -> spec map that numbers its entries for the kernels."""

    def add(self, spec):
        if spec.id in self:
            raise ValueError(f"duplicate id {spec.id!r}")
        spec.code = len(self)
        self[spec.id] = spec
        return spec

    def kernel(self, spec):
        """Decorator: attach the jitted kernel that follows a spec to that spec."""

        def attach(fn):
            spec.kernel = fn
            return fn

        return attach

    def cells(self, spec):
        """Decorator: attach a whole kernel's form over many runs on the plane at once (inline='always')."""

        def attach(fn):
            spec.cells = fn
            return fn

        return attach

    def hessian(self, spec):
        """Decorator: attach a surface's second-derivative kernel, (x, y, ...) -> (fxx, fxy, fyy)."""

        def attach(fn):
            spec.hessian = fn
            return fn

        return attach
