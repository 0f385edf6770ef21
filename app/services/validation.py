"""Validation shared by every route and the exports: errors as FastAPI shapes them, and this server's limits.

Validation is one code path: pydantic checks shapes and names, core checks
every value, and `Invalid` carries either as a 422 in FastAPI's standard shape
{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}. Limits that make a
request too large to take on (body bytes, computation time, the size of a
whole answer, memory) answer 413 in the same shape.
"""

from __future__ import annotations

import math
import re

from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

import core
from app.schemas import GRID_AXIS_TAGS
from app.serialize import JSONBytes
from app.settings import Settings
from core import formula as _formula
from core.engine import resolve_surface


class Invalid(Exception):
    """A request the API refuses: `status` (422 or 413) and FastAPI-shaped error items."""

    def __init__(self, loc: list, msg: str, type: str = "value_error", status: int = 422, errors: list | None = None):
        super().__init__(msg)
        self.status = status
        self.errors = errors or [{"loc": loc, "msg": msg, "type": type}]

    @classmethod
    def from_core(cls, error: core.InvalidInput, prefix: list, run: int | None = None) -> "Invalid":
        loc = field_loc(error.field)
        if run is not None and loc and loc[0] in ("optimizer", "hyperparameters"):
            loc = ["runs", run] + loc
        return cls(prefix + loc, error.reason)

    @classmethod
    def from_pydantic(cls, error: ValidationError, prefix: list) -> "Invalid":
        errors = clean_errors(error.errors(), prefix)
        return cls(errors[0]["loc"], errors[0]["msg"], errors=errors)


_FIELD_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def field_loc(field: str) -> list:
    """core's dotted field as a loc: "hyperparameters.lr" -> ["hyperparameters", "lr"], "start[0]" -> ["start", 0]."""
    return [int(index) if index else name for name, index in _FIELD_PART.findall(field)]


def clean_errors(errors, prefix: list = ()) -> list[dict]:
    """loc, msg and type of pydantic's errors; their inputs may be huge, or NaN, which JSON lacks."""
    return [{"loc": [*prefix, *_untagged(e["loc"])], "msg": _msg(e), "type": e["type"]} for e in errors]


def _untagged(loc) -> list:
    loc = list(loc)
    at = loc.index("grid") + 2 if "grid" in loc else -1
    if 0 < at < len(loc) and loc[at] in GRID_AXIS_TAGS:
        del loc[at]
    return loc


def _msg(error: dict) -> str:
    if error["type"] == "json_invalid" and "error" in error.get("ctx", {}):
        return f"{error['msg']}: {error['ctx']['error']}"
    return error["msg"]


MAX_MSG = 400  # characters of an error message; a message echoing a 1 MB value is cut, not sent whole
MAX_KEY = 80  # characters of one part of an error's loc (a key given in the request)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters in all)"


def error_response(status: int, errors: list[dict], headers: dict | None = None) -> Response:
    errors = [{**e, "msg": _cut(str(e["msg"]), MAX_MSG),
               "loc": [_cut(p, MAX_KEY) if isinstance(p, str) else p for p in e["loc"]]} for e in errors[:20]]
    return JSONBytes({"detail": errors}, status_code=status, headers=headers)


def limited(field: str, value, low: int, high: int, prefix: list):
    """value, after checking it against this server's range; values core would reject pass on to core."""
    if isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and math.isfinite(value):
        if not low <= value <= high:
            shown = value if isinstance(value, int) else f"{value:g}"
            raise Invalid([*prefix, *field_loc(field)], f"{field} = {shown} is outside [{low}, {high}], this server's limit")
    return value


def whole_number(field: str, value, low: int, high: int, prefix: list) -> int:
    """value as an int within this server's range, for a number the server computes with before core sees it
    (as core reads one: 2 and 2.0 are whole, "2", 2.5, true and null are not); raises Invalid naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        shown = value if isinstance(value, (int, float)) else repr(value)[:40]
        raise Invalid([*prefix, *field_loc(field)], f"{field} = {shown} is not a whole number")
    return int(limited(field, value, low, high, prefix))


def parse(model: type[BaseModel], body, prefix: list):
    if isinstance(body, model):
        return body
    try:
        return model.model_validate(body)
    except ValidationError as e:
        raise Invalid.from_pydantic(e, prefix) from None


def start_of(request) -> tuple | list:
    if request.start is not None:
        return request.start
    if request.surface.formula is not None:
        return formula_start(request.surface.as_core())
    return core.SURFACES[request.surface.name.value].start


def check_formula(surface, settings: Settings, prefix: list) -> None:
    """A typed formula within this server's limits (core's own are the ceilings); raises Invalid."""
    text = getattr(surface, "formula", None)
    if not isinstance(text, str):
        return
    try:
        _formula.parse(text, settings.max_formula_chars, settings.max_formula_depth, settings.max_formula_nodes)
    except _formula.FormulaError as e:
        raise Invalid([*prefix, "surface", "formula"], str(e)) from None


def formula_start(surface: dict) -> tuple[float, float]:
    """A formula surface's default start; (0, 0) when the formula is bad, which core then explains."""
    try:
        spec, _ = resolve_surface(surface)
    except core.InvalidInput:
        return (0.0, 0.0)
    return spec.start
