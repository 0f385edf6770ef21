"""Network requests: validated into core NetworkRuns on one problem, trained, and the plane of their landscape."""

from __future__ import annotations

import numpy as np

import core
from app import state
from app.schemas import NetworkRequest
from app.serialize import dumps, encode_arrays, ndjson
from app.services.compute import Work, run_all
from app.services.validation import Invalid, field_loc, limited, parse, whole_number
from app.settings import Settings, get_settings

# Numbers of weights (runs x (steps + 1) x P) one answer may carry when it asks for the weights.
MAX_ANSWER_WEIGHTS = 4_000_000
BYTES_PER_WEIGHT_STEP = 8 * 2  # weights and gradient


def build(body: NetworkRequest | dict, settings: Settings | None = None, prefix: list = ("body",), drawn: bool = False):
    """Validate a network request: (its problem, its runs, nothing trained yet); raises Invalid. `drawn`: the
    request is to be drawn (an export), so its plane must have its grid."""
    settings = settings or get_settings()
    prefix = list(prefix)
    request = parse(NetworkRequest, body, prefix)
    if len(request.runs) > settings.max_runs:
        raise Invalid([*prefix, "runs"], f"{len(request.runs)} runs is more than the limit of {settings.max_runs} per request")
    steps = limited("steps", request.steps, 1, settings.max_steps, prefix)
    try:
        problem = core.network_problem(request.network)
    except core.InvalidInput as e:
        raise Invalid.from_core(e, prefix) from None
    every = whole_number("weights_every", request.weights_every, 1, settings.max_steps, prefix)
    if request.weights and isinstance(steps, int):
        total = len(request.runs) * (steps // every + 2) * problem.n_params
        if total > MAX_ANSWER_WEIGHTS:
            raise Invalid([*prefix, "weights"], f"{len(request.runs)} runs x {steps // every + 2} points x {problem.n_params} "
                          f"weights = {total} numbers is more than the limit of {MAX_ANSWER_WEIGHTS} for one answer",
                          type="limit_exceeded", status=413)
    if drawn and request.plane is not None and not request.plane.grid:
        raise Invalid([*prefix, "plane", "grid"], "an export draws the loss on the plane: grid must be true")
    if request.plane is not None:
        limited("plane.resolution", request.plane.resolution, 2, min(settings.max_grid_resolution, 201), prefix)
        p = request.plane
        try:  # before a stream starts, so a bad plane is a 422 and never a stream's last line
            core.network.check_plane(problem, len(request.runs), p.kind, p.centre, p.resolution, p.span, p.seed,
                                     tuple(p.through), p.directions)
        except core.InvalidInput as e:
            raise Invalid([*prefix, "plane", *Invalid.from_core(e, []).errors[0]["loc"]], e.reason) from None
    schedule = None if request.schedule is None else request.schedule.as_core()
    noise = None if request.noise is None else request.noise.as_core()
    runs = []
    for i, spec in enumerate(request.runs):
        own = None if spec.schedule is None else spec.schedule.as_core()
        try:
            runs.append(core.NetworkRun(request.network, spec.optimizer, None, steps, spec.hyperparameters,
                                        schedule if own is None else own, noise, request.seed, problem=problem))
        except core.InvalidInput as e:
            if own is not None and e.field.startswith("schedule"):
                raise Invalid([*prefix, "runs", i, *field_loc(e.field)], e.reason) from None
            raise Invalid.from_core(e, prefix, run=i) from None
        runs[-1].label = spec.label
    return request, problem, runs


def memory(body: NetworkRequest, settings: Settings) -> int:
    """Bytes the runs will hold once built, before anything is allocated; 0 when validation refuses anyway."""
    steps = body.steps
    if type(steps) is not int or not 1 <= steps <= settings.max_steps or len(body.runs) > settings.max_runs:
        return 0
    try:
        problem = core.network_problem(body.network)
    except core.InvalidInput:
        return 0
    return len(body.runs) * (steps + 1) * problem.n_params * BYTES_PER_WEIGHT_STEP


def header(request: NetworkRequest, problem, runs) -> dict:
    return {"surface": "network", "network": problem.spec, "shapes": problem.shapes, "parameters": problem.n_params,
            "steps": runs[0].steps, "runs": [
                {"index": i, "optimizer": r.optimizer.id, **({"label": r.label} if r.label else {}),
                 "hyperparameters": r.hyperparameters} for i, r in enumerate(runs)]}


def fields(request: NetworkRequest) -> tuple[str, ...]:
    return ("losses", "lr") + (("weights",) if request.weights else ())


def window(request: NetworkRequest, run, p0: int, p1: int) -> dict:
    """Points [p0, p1) of a run as an answer sends them: with weights_every k, only the weights of the
    points that are multiples of k and of the run's last point, named in weights_points."""
    found = run.window(p0, p1, fields(request))
    every = request.weights_every
    if not request.weights or every == 1:
        return found
    last = run.valid_points - 1 if run.finished else -1
    points = [p for p in range(p0, p1) if p % every == 0 or p == last]
    found["weights"] = found["weights"][[p - p0 for p in points]]
    return {**found, "weights_points": points}


def landscape(request: NetworkRequest, problem, runs, prefix: list = ("body",)):
    """The core.network.Landscape of the request's plane; raises Invalid."""
    p = request.plane
    try:
        return core.landscape(problem, [r.result() for r in runs], p.kind, p.centre, p.resolution, p.span, p.seed,
                              tuple(p.through), p.directions, p.grid)
    except core.InvalidInput as e:
        raise Invalid([*prefix, "plane", *Invalid.from_core(e, []).errors[0]["loc"]], e.reason) from None


def plane(request: NetworkRequest, problem, runs, prefix: list = ("body",)) -> dict:
    """The plane (its centre and directions), its grid, each path on it, its share off the plane and its true
    loss; raises Invalid. The centre and directions let a caller put later runs on this plane (kind given)."""
    land = landscape(request, problem, runs, prefix)
    grid = {"alphas": land.alphas, "betas": land.betas, "losses": land.losses} if request.plane.grid else {}
    return {"kind": land.plane, "centre": land.centre, "directions": np.stack([land.d1, land.d2]), **grid,
            "paths": [{"run": i, "points": path, "off_plane": off, "true_losses": true}
                      for i, (path, off, true) in enumerate(zip(land.paths, land.off_plane, land.path_losses))]}


def network_json(body: NetworkRequest, settings: Settings, work: Work | None = None) -> bytes:
    """The whole answer: every run trained, then the plane when asked for."""
    work = work or Work(settings)
    request, problem, runs = build(body, settings)
    run_all(runs, work)
    answer = {**header(request, problem, runs), "runs": [
        {**meta, **encode_window(window(request, run, 0, run.valid_points), request.encoding),
         "diverged_at": run.diverged_at} for meta, run in zip(header(request, problem, runs)["runs"], runs)]}
    if request.plane is not None:
        work.check()
        answer["plane"] = encode_plane(plane(request, problem, runs), request.encoding)
    return dumps(answer)


def encode_window(found: dict, encoding) -> dict:
    points = found.pop("weights_points", None)
    return {**encode_arrays(found, encoding), **({} if points is None else {"weights_points": points})}


def encode_plane(found: dict, encoding) -> dict:
    paths = [{**path, **encode_arrays({"points": path["points"], "true_losses": path["true_losses"]}, encoding)}
             for path in found["paths"]]
    arrays = {k: found[k] for k in ("centre", "directions", "alphas", "betas", "losses") if k in found}
    return {**found, **encode_arrays(arrays, encoding), "paths": paths}


def stream_rounds(request: NetworkRequest, problem, runs, settings: Settings):
    """The stream's computations: rounds of steps of every run, then the plane; each gives (bytes, steps)."""
    sent = [0] * len(runs)
    steps = settings.stream_first_chunk_steps

    def round_(n):
        lines, taken = [], 0
        for i, run in enumerate(runs):
            if run.finished:
                continue
            k0, k1 = run.advance(n)
            taken += k1 - k0
            p0, p1 = sent[i], run.valid_points
            if p1 > p0:
                lines.append(ndjson({"type": "chunk", "run": i, "from": p0, "step_from": max(p0 - 1, 0),
                                     **encode_window(window(request, run, p0, p1), request.encoding)}))
                sent[i] = p1
            if run.finished:
                lines.append(ndjson({"type": "end", "run": i, "diverged_at": run.diverged_at, "points": p1}))
        return b"".join(lines), taken

    while not all(r.finished for r in runs):
        yield lambda n=steps: round_(n)
        steps = min(steps * 4, settings.stream_chunk_steps)
    if request.plane is not None:
        def plane_line():
            try:
                found = encode_plane(plane(request, problem, runs), request.encoding)
            except Invalid as e:
                return ndjson({"type": "error", "message": e.errors[0]["msg"]}), 0
            return ndjson({"type": "plane", **found}), 0
        yield plane_line


def network_surface_entry() -> dict:
    """The page catalog's network: a surface with no formula of x and y, whose plane the server computes."""
    return {
        "id": state.NETWORK, "label": "A small network",
        "help": "A multilayer perceptron trained on 2-D data (or 8x8 digits) by every optimizer from the same "
                "weights and batches; its loss is drawn on a plane through the weights, with the paths on it.",
        "formula": r"L(w) = -\frac{1}{n}\sum_{i} \log \operatorname{softmax}\big(f_w(x_i)\big)_{y_i}",
        "reference": "Li, Xu, Taylor, Studer and Goldstein (2018), Visualizing the Loss Landscape of Neural Nets, NeurIPS",
        "domain": [[-1.0, 1.0], [-1.0, 1.0]], "start": [0.0, 0.0], "minima": [], "saddles": [], "minimum_value": 0.0,
        "stochastic": True, "params": [], "lr": {},
        "datasets": [d.as_dict() for d in core.datasets.DATASETS.values()],
    }
