"""Questions about many runs at once: which learning rate is best, and which minimum a start ends in.

Both are sweeps (`core.engine.plan_sweep` / `sweep_rows`) read a particular way:
`tune_lr` sweeps each optimizer's lr over its registry range and picks the best
by a criterion; `basins` sweeps a grid of start points and labels each by the
known minimum its run ends nearest to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from core.spec import SurfaceSpec
from core.engine import (
    InvalidInput, MAX_STEPS, MAX_SWEEP_CELLS, MAX_SWEEP_WORK, _fmt, _integer, _number, optimizer_spec, plan_sweep,
    resolve_hyperparameters, resolve_noise, resolve_start, resolve_surface, sweep,
    sweep_rows,
)

CRITERIA = ("final_loss", "steps_to_tol")
MAX_SEEDS = 32
NOT_CONVERGED = -1
DIVERGED = -2


class TimeLimitExceeded(RuntimeError):
    """The work took longer than the `time_limit` it was given."""


@dataclass
class LrCurve:
    """One optimizer's results along its lr axis, and the lr the criterion picks.

    With several noise seeds, `final_losses` and `steps_to_tol` are means over
    the seeds; an lr counts as diverged if any seed diverged (its loss is NaN),
    and as never reaching the tolerance (NaN steps) if any seed never did.
    `met` is False when no lr reached the tolerance under "steps_to_tol" and
    the pick fell back to the lowest final loss.
    """

    optimizer: str
    hyperparameters: dict
    lr: np.ndarray
    final_losses: np.ndarray
    steps_to_tol: np.ndarray
    diverged: np.ndarray
    best_index: int | None
    met: bool

    @property
    def best_lr(self) -> float | None:
        return None if self.best_index is None else float(self.lr[self.best_index])


@dataclass
class Tuning:
    """`tune_lr`'s answer: one LrCurve per optimizer, and how they were measured."""

    surface: str
    start: tuple[float, float]
    steps: int
    criterion: str
    tol: float
    minimum_value: float | None
    noise: dict | None
    seeds: tuple[int, ...]  # the noise seeds averaged over; () without noise
    curves: list[LrCurve]


def lr_values(optimizer, num: int, lr_range=None) -> np.ndarray:
    """num learning rates across the optimizer's lr range (or lr_range), geometric where the registry says log."""
    spec = optimizer_spec(optimizer)
    h = spec.hyper("lr")
    if lr_range is None:
        low, high = h.low, h.high
    else:
        low, high = resolve_start(lr_range, "lr_range")
        for q, v in enumerate((low, high)):
            _number(f"lr_range[{q}]", v, h)
        if not low < high:
            raise InvalidInput("lr_range", f"lr_range = [{_fmt(low)}, {_fmt(high)}] must have low < high")
    return np.geomspace(low, high, num) if h.log else np.linspace(low, high, num)


def pick(final_losses: np.ndarray, steps_to_tol: np.ndarray, criterion: str) -> tuple[int | None, bool]:
    """The index the criterion picks, and whether it met it; None if every value diverged.

    "final_loss": the lowest final loss, ties to fewer steps to the tolerance.
    "steps_to_tol": the fewest steps, ties to the lower final loss; if no lr
    reached the tolerance, the lowest final loss (met is False).
    """
    loss = np.where(np.isfinite(final_losses), final_losses, np.inf)
    steps = np.where(np.isfinite(steps_to_tol), steps_to_tol, np.inf)
    if not np.isfinite(loss).any():
        return None, False
    if criterion == "steps_to_tol" and np.isfinite(steps).any():
        return int(np.lexsort((loss, steps))[0]), True
    return int(np.lexsort((steps, loss))[0]), criterion == "final_loss"


def _by_optimizer(field: str, given, ids: list[str], what: str) -> dict:
    """A mapping from some of the tuned optimizers to `what` (their settings...), {} for None."""
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise InvalidInput(field, f"must map optimizer names to {what}")
    for name in given:
        if name not in ids:
            raise InvalidInput(f"{field}.{name}", f"{name!r} is not one of the optimizers tuned: {', '.join(ids)}")
    return given


def tune_lr(surface, optimizers, start, steps, hyperparameters=None, schedule=None, noise=None, seed=0, num=64,
            criterion="final_loss", tol=1e-3, seeds=5, lr_range=None, time_limit=None, check=None,
            schedules=None) -> Tuning:
    """For each optimizer, sweep lr over its range (num values) and pick the best by `criterion`.

    `optimizers` is a list of ids; `hyperparameters` maps an id to its other
    settings (its lr is what is swept). Every lr sees the same surface, start,
    steps, schedule, minibatches and noise. With noise of sigma > 0 each lr is
    run with `seeds` noise seeds (noise["seed"], noise["seed"] + 1, ...) and
    judged by the mean. `time_limit` (seconds) raises TimeLimitExceeded once
    passed, and `check()`, when given, is called too (it may raise to stop),
    both between the bounded pieces `sweep_rows` yields. `schedules` maps an
    id to that optimizer's own schedule, used instead of `schedule`.
    """
    t0 = time.perf_counter()
    if isinstance(optimizers, str) or not isinstance(optimizers, (list, tuple)) or not optimizers:
        raise InvalidInput("optimizers", "must be a non-empty list of optimizer names")
    ids = []
    for i, name in enumerate(optimizers):
        try:
            ids.append(optimizer_spec(name).id)
        except InvalidInput as e:
            raise InvalidInput(f"optimizers[{i}]", e.reason) from None
        if ids.count(ids[-1]) > 1:
            raise InvalidInput(f"optimizers[{i}]", f"{name!r} is listed twice")
    hyperparameters = _by_optimizer("hyperparameters", hyperparameters, ids, "their settings")
    hps = {i: resolve_hyperparameters(optimizer_spec(i), hyperparameters.get(i), f"hyperparameters.{i}") for i in ids}
    schedules = _by_optimizer("schedules", schedules, ids, "their own schedules")
    if criterion not in CRITERIA:
        raise InvalidInput("criterion", f"unknown criterion {criterion!r}; allowed: {', '.join(CRITERIA)}")
    num = _integer("num", num, 2, MAX_SWEEP_CELLS)
    seed = _integer("seed", seed, 0, 2**63 - 1)
    noise = resolve_noise(noise, seed)
    n_seeds = _integer("seeds", seeds, 1, MAX_SEEDS)
    noisy = noise is not None and noise["sigma"] > 0
    noise_seeds = tuple((noise["seed"] + q) % 2**63 for q in range(n_seeds)) if noisy else ()
    sspec, sparams = resolve_surface(surface)
    start = resolve_start(start)
    _, _, fmin = sspec.resolved_landmarks(sparams)
    if criterion == "steps_to_tol" and fmin is None:
        raise InvalidInput("criterion", f"steps_to_tol needs a known minimum value, and {sspec.id} has none")
    steps = _integer("steps", steps, 1, MAX_STEPS)
    work = num * len(ids) * max(1, len(noise_seeds)) * steps
    if work > MAX_SWEEP_WORK:
        raise InvalidInput("num", f"{work} trajectory-steps is more than the limit of {MAX_SWEEP_WORK:.0e}")

    curves = []
    for i in ids:
        lrs = lr_values(i, num, lr_range)
        losses, hits, bad = [], [], np.zeros(num, dtype=bool)
        for s in noise_seeds or (None,):
            run_noise = None if s is None else {"sigma": noise["sigma"], "seed": s}
            # The start's x as a one-value second axis: a sweep is two-dimensional.
            plan = plan_sweep(surface, i, start, steps, {"lr": lrs, "x": [start[0]]}, hps[i],
                              schedules.get(i, schedule), tol, seed, run_noise)
            for rows in sweep_rows(plan):
                losses.append(rows.final_losses[:, 0])
                hits.append(np.where(rows.steps_to_tol[:, 0] < 0, np.nan, rows.steps_to_tol[:, 0]).astype(float))
                bad[rows.row0:rows.row1] |= rows.diverged[:, 0]
                if time_limit is not None and time.perf_counter() - t0 > time_limit:
                    raise TimeLimitExceeded(f"tuning took more than {time_limit:g} s")
                if check is not None:
                    check()
        # Every sweep covers all rows in order, so a seed's rows stack into one column per lr.
        loss = np.concatenate(losses).reshape(max(1, len(noise_seeds)), num).mean(axis=0)
        hit = np.concatenate(hits).reshape(max(1, len(noise_seeds)), num).mean(axis=0)
        loss[bad] = np.nan
        hit[bad] = np.nan
        best, met = pick(loss, hit, criterion)
        curves.append(LrCurve(i, {k: v for k, v in hps[i].items() if k != "lr"}, lrs, loss, hit, bad, best, met))
    return Tuning(sspec.id, start, plan.steps, criterion, plan.tol, fmin, noise if noisy else None, noise_seeds, curves)


# --- basins of attraction ---------------------------------------------------------

@dataclass
class Basins:
    """Which known minimum each start of an x × y grid ends at.

    `labels[i, j]` (start xs[i], ys[j]) is the index into `minima` of the
    minimum the run ends within `radius` of, NOT_CONVERGED (-1) if it ends
    elsewhere, or DIVERGED (-2).
    """

    surface: str
    optimizer: str
    xs: np.ndarray
    ys: np.ndarray
    minima: tuple[tuple[float, float], ...]
    radius: float
    labels: np.ndarray
    final_points: np.ndarray
    final_losses: np.ndarray


def default_radius(spec: SurfaceSpec) -> float:
    """How near a minimum a run must end to count as in its basin: 2% of the (resolved) surface's larger side."""
    (x0, x1), (y0, y1) = spec.domain
    return 0.02 * max(x1 - x0, y1 - y0)


def classify(final_points, minima, radius: float) -> np.ndarray:
    """Label points (..., 2) by the nearest of `minima` within `radius`; NOT_CONVERGED or DIVERGED otherwise."""
    radius = _number("radius", radius)
    if radius <= 0:
        raise InvalidInput("radius", f"radius = {_fmt(radius)} must be more than 0")
    p = np.asarray(final_points, dtype=float)
    finite = np.isfinite(p).all(axis=-1)
    labels = np.where(finite, NOT_CONVERGED, DIVERGED).astype(np.int64)
    if len(minima):
        m = np.asarray(minima, dtype=float)
        with np.errstate(invalid="ignore", over="ignore"):
            d = np.hypot(p[..., None, 0] - m[:, 0], p[..., None, 1] - m[:, 1])
        d = np.where(np.isfinite(d), d, np.inf)
        nearest = d.argmin(axis=-1)
        near = np.take_along_axis(d, nearest[..., None], axis=-1)[..., 0] <= radius
        labels = np.where(finite & near, nearest, labels)
    return labels


def basins(surface, optimizer, xs, ys, steps, hyperparameters=None, schedule=None, noise=None, seed=0,
           radius=None) -> Basins:
    """Run `optimizer` from every start of the grid xs × ys and label where each run ends (see Basins)."""
    spec, params = resolve_surface(surface)
    radius = default_radius(spec) if radius is None else radius
    minima, _, _ = spec.resolved_landmarks(params)
    result = sweep(surface, optimizer, spec.start, steps, {"x": xs, "y": ys}, hyperparameters, schedule, seed=seed,
                   noise=noise)
    labels = classify(result.final_points, minima, radius)
    return Basins(spec.id, result.optimizer, result.values[0], result.values[1], tuple(map(tuple, minima)),
                  float(radius), labels, result.final_points, result.final_losses)
