"""JSON out of numpy arrays with orjson, and the slice of a run that one response or chunk carries.

JSON has no NaN or Infinity: orjson writes every non-finite float, Python or
numpy, as null. A run's arrays never hold one where they are sent anyway,
since a diverged run ends at its last finite point.
"""

from __future__ import annotations

import numpy as np
import orjson
from fastapi.responses import JSONResponse

import core
from core.engine import _effective_lr

OPTIONS = orjson.OPT_SERIALIZE_NUMPY

# The arrays a run carries; a request may ask for fewer (see TrajectoryRequest.fields).
FIELDS = ("points", "losses", "lr", "gradients", "state", "effective_lr", "step_size")


def dumps(value) -> bytes:
    """JSON bytes of value; numpy arrays must be C-contiguous (every array built here is)."""
    return orjson.dumps(value, option=OPTIONS)


def ndjson(value) -> bytes:
    """One JSON Lines record."""
    return orjson.dumps(value, option=OPTIONS | orjson.OPT_APPEND_NEWLINE)


class JSONBytes(JSONResponse):
    """application/json rendered by orjson: numpy arrays as they are, non-finite floats as null."""

    def render(self, content) -> bytes:
        return dumps(content)


def window(run: core.Run, p0: int, p1: int, fields=FIELDS) -> dict:
    """Points [p0, p1) of a run and the steps [max(p0 - 1, 0), p1 - 1) that led to them.

    p1 is at most run.valid_points: an unfinished run's newest point waits
    for its loss, which the next advance computes.

    Step k moves point k to point k + 1, so a window that starts at the start
    point (p0 = 0) has one step fewer than points, and any other window as
    many steps as points.
    """
    k0, k1 = max(p0 - 1, 0), max(p1 - 1, 0)
    out = {}
    if "points" in fields:
        out["points"] = run._points[p0:p1]
    if "losses" in fields:
        out["losses"] = run._losses[p0:p1]
    lr = run._lrs[k0:k1]
    gradients = run._grads[k0:k1]
    if "lr" in fields:
        out["lr"] = lr
    if "gradients" in fields:
        out["gradients"] = gradients
    if "state" in fields:
        out["state"] = {
            name: np.ascontiguousarray(run._states[k0:k1, q])
            for q, name in enumerate(run.optimizer.state)
            if not name.startswith("_")
        }
    if "effective_lr" in fields:
        out["effective_lr"] = _effective_lr(run._points[k0:k1 + 1], gradients)
    if "step_size" in fields:
        out["step_size"] = step_size(run, lr, k0)
    return out


def step_size(run: core.Run, lr: np.ndarray, k0: int) -> np.ndarray | None:
    """The optimizer's bias-corrected step size for steps k0, k0 + 1, ... (None if it has none)."""
    rule = run.optimizer.step_size
    if rule is None:
        return None
    t = np.arange(k0 + 1, k0 + 1 + lr.size, dtype=float)
    with np.errstate(all="ignore"):
        s = np.asarray(rule(lr, t, run.hyperparameters), dtype=float)
    # Same guard as core's Trajectory: early steps of some rules divide by zero.
    return np.where(np.isfinite(s), s, 0.0)
