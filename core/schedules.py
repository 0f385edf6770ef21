"""Learning-rate schedules: torch's StepLR, ExponentialLR and CosineAnnealingLR.

A schedule turns the base learning rate into the rate applied at each step,
lr_t = a_t * lr + b_t, so one pair of arrays serves every run and every sweep
cell whatever its own lr. Schedulers step once after every optimizer step,
as torch's do; an optional linear warmup of `warmup_steps` steps comes first
(lr_t = lr * (t + 1) / w) and the schedule proper starts after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from core.spec import Hyperparameter


@dataclass(frozen=True)
class ScheduleSpec:
    id: str
    label: str
    help: str
    params: tuple[Hyperparameter, ...]
    factors: Callable[[np.ndarray, dict], tuple[np.ndarray, np.ndarray]]

    def as_dict(self) -> dict:
        return {"id": self.id, "label": self.label, "help": self.help, "params": [h.as_dict() for h in self.params]}


WARMUP = Hyperparameter("warmup_steps", "w", 0, 0, 1_000_000, "steps of linear warmup from lr/w up to lr before the schedule starts", kind="int")
GAMMA = Hyperparameter("gamma", r"\gamma", 0.5, 1e-6, 1.0, "factor the learning rate is multiplied by")


def _constant(t, q):
    return np.ones_like(t, dtype=float), np.zeros_like(t, dtype=float)


def _step(t, q):
    return q["gamma"] ** np.floor_divide(t, int(q["step_size"])).astype(float), np.zeros_like(t, dtype=float)


def _exponential(t, q):
    return q["gamma"] ** t.astype(float), np.zeros_like(t, dtype=float)


def _cosine(t, q):
    a = (1.0 + np.cos(np.pi * t / int(q["t_max"]))) / 2.0
    return a, q["eta_min"] * (1.0 - a)


SCHEDULES: dict[str, ScheduleSpec] = {
    s.id: s
    for s in (
        ScheduleSpec("constant", "Constant", "The same learning rate at every step.", (WARMUP,), _constant),
        ScheduleSpec(
            "step", "Step decay", "Multiply lr by gamma every step_size steps (torch StepLR).",
            (Hyperparameter("step_size", "k", 100, 1, 1_000_000, "steps between decays", kind="int"), GAMMA, WARMUP),
            _step,
        ),
        ScheduleSpec(
            "exponential", "Exponential decay", "Multiply lr by gamma after every step (torch ExponentialLR).",
            (Hyperparameter("gamma", r"\gamma", 0.99, 1e-6, 1.0, "factor the learning rate is multiplied by each step"), WARMUP),
            _exponential,
        ),
        ScheduleSpec(
            "cosine", "Cosine annealing", "Follow half a cosine from lr down to eta_min over t_max steps (torch CosineAnnealingLR).",
            (
                Hyperparameter("t_max", "T", 500, 1, 1_000_000, "steps from lr down to eta_min", kind="int"),
                Hyperparameter("eta_min", r"\eta_{min}", 0.0, 0.0, 10.0, "learning rate at the bottom of the cosine"),
                WARMUP,
            ),
            _cosine,
        ),
    )
}


# The constant schedule's factors, shared: building them costs ~6 µs, which a short run (an L-BFGS run stands
# still after a few dozen steps, ~10 µs of compiled work) would otherwise pay on every advance. Not marked
# read-only: numba compiles a read-only array argument as another type, a loop no warm-up has compiled.
_ONES = np.ones(0)
_ZEROS = np.zeros(0)


def _constant_factors(n: int) -> tuple[np.ndarray, np.ndarray]:
    global _ONES, _ZEROS
    if _ONES.shape[0] < n:
        _ONES, _ZEROS = np.ones(max(n, 1024)), np.zeros(max(n, 1024))
    return _ONES[:n], _ZEROS[:n]


def factors(schedule: dict, k0: int, k1: int) -> tuple[np.ndarray, np.ndarray]:
    """(a_t, b_t) for 0-based steps k0..k1-1 of a validated schedule; the caller must not write to them."""
    if schedule["name"] == "constant" and not schedule.get("warmup_steps", 0):
        return _constant_factors(k1 - k0)
    t = np.arange(k0, k1)
    w = int(schedule.get("warmup_steps", 0))
    a, b = SCHEDULES[schedule["name"]].factors(np.maximum(t - w, 0), schedule)
    if w > 0:
        warm = t < w
        a = np.where(warm, (t + 1) / w, a)
        b = np.where(warm, 0.0, b)
    return np.ascontiguousarray(a, dtype=float), np.ascontiguousarray(b, dtype=float)
