"""Any torch.optim.Optimizer subclass, named "module:Class", stepped in float64 on any surface.

`load("pytorch_optimizer:Tiger")` imports the class and describes it as an
OptimizerSpec whose hyperparameters are its constructor's numeric arguments
(a tuple default such as `betas` becomes `beta1`, `beta2`, ...). Runs of such
a spec step the class itself, one `step(closure)` per step, with the
surface's analytic gradient, so the points are what the class computes.

Only `load` imports anything: `core.engine.optimizer_spec`, which every
request's optimizer name goes through, never does, so a web request cannot
make the server import a module. torch is needed only here, on first use.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
from dataclasses import dataclass

import numpy as np

from core.spec import Hyperparameter, OptimizerSpec, tuple_parts

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# An integer default is a count (kind "int") only under such a name; torch writes weight_decay=0 too.
COUNTS = re.compile(r"(^k$|^n_|_size$|_iter$|_steps?$|_freq(uency)?$|_eval$|^num_)")
# Constructor arguments that select machinery rather than arithmetic, kept at the class's default.
SKIPPED = {"foreach", "fused", "capturable", "differentiable", "maximize"}


class ExternalError(ValueError):
    """A "module:Class" that cannot be loaded or is not an optimizer; `field` names the input."""

    def __init__(self, message: str, field: str = "optimizer"):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


@dataclass
class _Argument:
    name: str  # the constructor's argument
    parts: tuple[str, ...]  # hyperparameter names, one per tuple element (one for a number)
    kind: str
    is_tuple: bool = False


def is_external(name) -> bool:
    return isinstance(name, str) and ":" in name


# Classes an operator chose to offer (a server setting, the CLI's own arguments), by name. Requests may
# name these and no others: `core.engine.optimizer_spec` looks names up here and imports nothing.
OFFERED: dict[str, OptimizerSpec] = {}


def offer(names) -> list[OptimizerSpec]:
    """Load each "module:Class" in `names` and offer it to later look-ups by name; returns their specs."""
    specs = []
    for name in names:
        spec = OFFERED.get(name) or load(name)
        OFFERED[name] = spec
        specs.append(spec)
    return specs


def load(name: str) -> OptimizerSpec:
    """The spec of the optimizer class `module:Class`, importing its module."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ExternalError(f"{name!r} is not 'module:Class', e.g. 'pytorch_optimizer:Tiger'")
    try:
        import torch
    except ImportError:
        raise ExternalError("an optimizer given as module:Class needs torch (pip install 'gradscape[torch]')") from None
    module, _, attr = name.partition(":")
    try:
        cls = importlib.import_module(module)
        for part in attr.split("."):
            cls = getattr(cls, part)
    except (ImportError, AttributeError) as e:
        raise ExternalError(f"cannot load {name!r}: {e}") from None
    if not (inspect.isclass(cls) and issubclass(cls, torch.optim.Optimizer)):
        raise ExternalError(f"{name!r} is not a torch.optim.Optimizer subclass")
    arguments = _arguments(cls)
    hps = tuple(_hyperparameter(part, default, a.kind) for a in arguments for part, default in zip(a.parts, _defaults(cls, a)))
    if not hps or hps[0].name != "lr":
        raise ExternalError(f"{name!r} takes no numeric lr argument, which the schedule scales")
    spec = OptimizerSpec(
        id=name,
        label=cls.__name__,
        hyperparameters=hps,
        rule=r"\text{" + cls.__name__ + r"}",
        reference=f"{name} (loaded by name)",
        help=(inspect.getdoc(cls) or cls.__name__).strip().splitlines()[0],
        group="external",
        package=(name, {}),
    )
    spec.external = (cls, arguments)
    return spec


def _defaults(cls, a: _Argument) -> tuple:
    value = inspect.signature(cls.__init__).parameters[a.name].default
    return tuple(value) if isinstance(value, tuple) else (value,)


def _arguments(cls) -> list[_Argument]:
    out = []
    for p in list(inspect.signature(cls.__init__).parameters.values())[2:]:
        d = p.default
        if p.name in SKIPPED or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if isinstance(d, bool):
            out.append(_Argument(p.name, (p.name,), "bool"))
        elif isinstance(d, (int, float)) and math.isfinite(d):
            out.append(_Argument(p.name, (p.name,), "int" if isinstance(d, int) and COUNTS.search(p.name) else "float"))
        elif isinstance(d, tuple) and d and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in d):
            parts = tuple_parts(p.name, len(d))
            out.append(_Argument(p.name, parts, "float", is_tuple=True))
    # The schedule scales the first hyperparameter, so lr leads.
    out.sort(key=lambda a: a.name != "lr")
    return out


def _hyperparameter(name: str, default, kind: str) -> Hyperparameter:
    if kind == "bool":
        return Hyperparameter(name, name, float(default), 0.0, 1.0, f"the class's {name} (0 or 1)", kind="bool")
    value = float(default)
    if name == "lr":
        return Hyperparameter(name, r"\eta", value, min(1e-12, value), max(1e3, value), "learning rate", log=value > 0)
    span = max(1e6, abs(value))
    return Hyperparameter(name, name, value, -span, span, f"the class's {name}", kind=kind)


class Stepper:
    """One run of a loaded class: a float64 tensor parameter, the surface's gradient as its closure."""

    def __init__(self, spec: OptimizerSpec, hyperparameters: dict, start, gradient):
        """`gradient(point, out) -> f` evaluates the surface; the class steps a copy of `start`."""
        import torch

        cls, arguments = spec.external
        kwargs = {}
        for a in arguments:
            values = [hyperparameters[part] for part in a.parts]
            values = [bool(v) if a.kind == "bool" else int(v) if a.kind == "int" else float(v) for v in values]
            kwargs[a.name] = tuple(values) if a.is_tuple else values[0]
        self.torch = torch
        self.gradient = gradient  # (point, out) -> f
        self.p = torch.tensor(np.array(start, dtype=float), dtype=torch.float64, requires_grad=True)
        try:
            self.opt = cls([self.p], **kwargs)
        except Exception as e:  # a class's own check of its arguments: say what it said
            raise ExternalError(f"{spec.id} refused these hyperparameters: {e}", "hyperparameters") from None
        self.g = np.zeros(len(start))
        self.noise = np.zeros(len(start))

    def closure(self):
        x = self.p.detach().numpy()
        with np.errstate(all="ignore"):
            f = self.gradient(x.copy(), self.g)
        self.g += self.noise
        self.p.grad = self.torch.tensor(self.g.copy())
        return self.torch.tensor(f, dtype=self.torch.float64)

    def step(self, lr_t: float, noise: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """One step at learning rate lr_t, `noise` added to every gradient it asks for.

        Returns the loss and gradient at the point before the step and the point after it.
        """
        for group in self.opt.param_groups:
            group["lr"] = lr_t
        self.noise = noise
        f = float(self.closure())
        g = self.g.copy()
        with np.errstate(all="ignore"):
            self.opt.step(self.closure)
        return f, g, self.p.detach().numpy().copy()
