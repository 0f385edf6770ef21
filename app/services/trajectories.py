"""Trajectory requests: validated into core Runs, computed whole, or stepped in turn for a stream."""

from __future__ import annotations

import core
from app.schemas import TrajectoryRequest
from app.serialize import FIELDS, Encoding, dumps, encode_arrays, ndjson
from app.services.compute import Work, run_all
from app.services.validation import Invalid, check_formula, field_loc, limited, parse, start_of
from app.settings import Settings, get_settings


def build_runs(body: TrajectoryRequest | dict, settings: Settings | None = None,
               prefix: list = ("body",)) -> list[core.Run]:
    """Validate a trajectory request and set up its runs, nothing computed yet; raises Invalid."""
    settings = settings or get_settings()
    prefix = list(prefix)
    request = parse(TrajectoryRequest, body, prefix)
    check_formula(request.surface, settings, prefix)
    if len(request.runs) > settings.max_runs:
        raise Invalid([*prefix, "runs"],
                      f"{len(request.runs)} runs is more than the limit of {settings.max_runs} per request")
    steps = limited("steps", request.steps, 1, settings.max_steps, prefix)
    surface = request.surface.as_core()
    schedule = None if request.schedule is None else request.schedule.as_core()
    noise = None if request.noise is None else request.noise.as_core()
    runs = []
    for i, spec in enumerate(request.runs):
        try:
            own = None if spec.schedule is None else spec.schedule.as_core()
            runs.append(core.Run(surface, spec.optimizer, start_of(request), steps, spec.hyperparameters,
                                 schedule if own is None else own, noise, request.seed))
            runs[-1].label = spec.label  # the run's own name, echoed in answers and drawn in legends
        except core.InvalidInput as e:
            if own is not None and e.field.startswith("schedule"):
                raise Invalid([*prefix, "runs", i, *field_loc(e.field)], e.reason) from None
            raise Invalid.from_core(e, prefix, run=i) from None
    return runs



# Bytes a Run holds per step: its point (2 floats), loss, gradient (2), lr, and 2 floats per state slot.
BYTES_PER_STEP = 8 * (2 + 1 + 2 + 1)
BYTES_PER_SLOT_STEP = 8 * 2


def run_memory(body: TrajectoryRequest, settings: Settings) -> int:
    """The bytes the request's runs will hold once built (core.Run allocates every step's arrays up
    front), estimated before anything is allocated; 0 for a request validation will refuse anyway, so
    it gets that 422 rather than a 413."""
    steps = body.steps
    if type(steps) is not int or not 1 <= steps <= settings.max_steps or len(body.runs) > settings.max_runs:
        return 0
    slots = sum(max(1, len(core.engine.optimizer_spec(spec.optimizer).state)) for spec in body.runs)
    return (steps + 1) * (len(body.runs) * BYTES_PER_STEP + slots * BYTES_PER_SLOT_STEP)


def label_of(run: core.Run) -> dict:
    """A run's own name, when its request gave one."""
    label = getattr(run, "label", None)
    return {"label": label} if label else {}


def header(runs: list[core.Run]) -> dict:
    first = runs[0]
    return {"surface": first.surface.id, "surface_params": first.surface_params, "start": list(first.start),
            "steps": first.steps}


def trajectories_json(body: TrajectoryRequest, settings: Settings, work: Work | None = None) -> bytes:
    """The whole non-streamed answer, as bytes; a request past the answer's size is refused before any run
    is allocated, and `work` stops it between blocks of steps."""
    steps = body.steps
    valid = type(steps) is int and 1 <= steps <= settings.max_steps and len(body.runs) <= settings.max_runs
    if valid and len(body.runs) * steps > settings.max_answer_steps:
        total = len(body.runs) * steps
        raise Invalid(["body"], f"{len(body.runs)} runs x {steps} steps = {total} steps is more than the limit of "
                      f"{settings.max_answer_steps} for one answer; /api/trajectories/stream streams it",
                      type="limit_exceeded", status=413)
    runs = build_runs(body, settings)
    run_all(runs, work or Work(settings))
    fields = body.field_names()
    return dumps({**header(runs), "runs": [
        {"optimizer": run.optimizer.id, **label_of(run), "hyperparameters": run.hyperparameters,
         **encode_arrays(run.window(0, run.valid_points, fields), body.encoding), "diverged_at": run.diverged_at}
        for run in runs
    ]})


class Interleave:
    """Steps runs in turn, a block of steps each, and writes each round's chunks as JSON Lines."""

    def __init__(self, runs: list[core.Run], fields=FIELDS, encoding: Encoding = "json"):
        self.runs = runs
        self.fields = fields
        self.encoding = encoding
        self.sent = [0] * len(runs)  # points of each run already sent
        self.pending = list(range(len(runs)))

    def round(self, steps: int) -> tuple[bytes, int]:
        """The lines of one round, and how many steps it took."""
        lines = []
        taken = 0
        for i in self.pending:
            run = self.runs[i]
            k0, k1 = run.advance(steps)
            taken += k1 - k0
            p0, p1 = self.sent[i], run.valid_points
            if p1 > p0:
                lines.append(ndjson({"type": "chunk", "run": i, "from": p0, "step_from": max(p0 - 1, 0),
                                     **encode_arrays(run.window(p0, p1, self.fields), self.encoding)}))
                self.sent[i] = p1
            if run.finished:
                lines.append(ndjson({"type": "end", "run": i, "diverged_at": run.diverged_at, "points": p1}))
        self.pending = [i for i in self.pending if not self.runs[i].finished]
        return b"".join(lines), taken



def trajectory_rounds(interleave: Interleave, settings: Settings):
    """Round sizes: small first, so the first chunk leaves at once, then growing to the chunk size."""
    steps = settings.stream_first_chunk_steps
    while interleave.pending:
        yield lambda steps=steps: interleave.round(steps)
        steps = min(steps * 4, settings.stream_chunk_steps)



def answers_in_place(body: TrajectoryRequest, settings: Settings) -> bool:
    """Whether a request is small enough to answer on the event loop (settings.inline_steps)."""
    steps = body.steps
    return type(steps) is int and len(body.runs) * steps <= settings.inline_steps

