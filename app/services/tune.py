"""Tuning: each optimizer's lr swept across its range, validated under this server's limits."""

from __future__ import annotations

import core
from app.schemas import TuneRequest
from app.serialize import dumps
from app.services.compute import Work
from app.services.validation import Invalid, field_loc, limited, parse, start_of, whole_number
from app.settings import Settings


def tune_json(body: TuneRequest, settings: Settings, work: Work | None = None) -> bytes:
    """Validate, tune and write the answer; raises Invalid, and stops between the sweeps' pieces once
    `work` (the time limit, or the client leaving) says so."""
    work = work or Work(settings)
    prefix = ["body"]
    request = parse(TuneRequest, body, prefix)
    if len(request.optimizers) > settings.max_runs:
        raise Invalid([*prefix, "optimizers"], f"{len(request.optimizers)} optimizers is more than the limit of "
                      f"{settings.max_runs} per request")
    steps = limited("steps", request.steps, 1, settings.max_sweep_steps, prefix)
    num = whole_number("num", request.num, 2, settings.max_sweep_cells, prefix)
    seeds = request.seeds
    noisy = request.noise is not None and request.noise.sigma not in (0, 0.0, None)
    if noisy:  # its range is core's to check
        seeds = whole_number("seeds", seeds, -(2**63), 2**63, prefix)
    cells = num * len(request.optimizers) * (seeds if noisy else 1)
    # Two whole sentences rather than one with an optional clause, so each can be translated whole.
    if cells > settings.max_sweep_cells and noisy:
        raise Invalid([*prefix, "num"], f"{num} learning rates x {len(request.optimizers)} optimizers x {seeds} seeds"
                      f" = {cells} runs is more than the limit of {settings.max_sweep_cells} per request")
    if cells > settings.max_sweep_cells:
        raise Invalid([*prefix, "num"], f"{num} learning rates x {len(request.optimizers)} optimizers = {cells} runs "
                      f"is more than the limit of {settings.max_sweep_cells} per request")
    ids = [spec.optimizer for spec in request.optimizers]
    for n, spec in enumerate(request.optimizers):
        if spec.schedule is None:
            continue
        try:  # here, so that an optimizer's own schedule is named by its place in the list
            core.engine.resolve_schedule(spec.schedule.as_core())
        except core.InvalidInput as e:
            raise Invalid([*prefix, "optimizers", n, *field_loc(e.field)], e.reason) from None
    try:
        tuning = core.tune_lr(
            request.surface.as_core(), ids, start_of(request), steps,
            {spec.optimizer: spec.hyperparameters for spec in request.optimizers},
            None if request.schedule is None else request.schedule.as_core(),
            None if request.noise is None else request.noise.as_core(), request.seed, num, request.criterion,
            request.tol, request.seeds, request.lr_range, check=work.check,
            schedules={spec.optimizer: spec.schedule.as_core() for spec in request.optimizers if spec.schedule},
        )
    except core.InvalidInput as e:
        loc = field_loc(e.field)
        # core names an optimizer's settings by its id; the request, by its place in the list.
        if loc[0] in ("hyperparameters", "optimizers") and len(loc) > 1:
            index = loc[1] if isinstance(loc[1], int) else ids.index(loc[1])
            loc = ["optimizers", index, *(["hyperparameters", *loc[2:]] if loc[0] == "hyperparameters" else [])]

        raise Invalid([*prefix, *loc], e.reason) from None
    return dumps({
        "surface": tuning.surface, "start": list(tuning.start), "steps": tuning.steps, "criterion": tuning.criterion,
        "tol": tuning.tol, "minimum_value": tuning.minimum_value, "noise": tuning.noise, "seeds": list(tuning.seeds),
        "results": [{
            "optimizer": c.optimizer, "hyperparameters": c.hyperparameters, "lr": c.lr,
            "final_losses": c.final_losses, "steps_to_tol": c.steps_to_tol, "diverged": c.diverged,
            "best_index": c.best_index, "best_lr": c.best_lr, "met": c.met,
        } for c in tuning.curves],
    })
