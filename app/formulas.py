"""Typed formulas in the API: this server's limits, the answer's header, and the grid of a formula.

core.formula parses and checks a formula; here its errors become 422s whose
loc ends in surface.formula (or f, in a query) and whose message names the column.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

import anyio
import numpy as np
from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

import core
from app.api import ERRORS, Invalid, limited
from app.api import router as api_router
from app.serialize import dumps
from app.settings import Settings, SettingsDep
from core import formula as _formula
from core.engine import resolve_surface


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


def describe(spec) -> dict:
    """A formula surface as the catalog describes a built-in one, its landmarks found numerically."""
    minima, saddles, fmin = spec.resolved_landmarks({})
    (x0, x1), (y0, y1) = spec.domain
    return {
        "id": "custom", "label": spec.label, "formula": spec.formula, "source": spec.source,
        "domain": [[x0, x1], [y0, y1]], "start": list(spec.start),
        "minima": [list(p) for p in minima], "saddles": [list(p) for p in saddles],
        "minimum_value": fmin, "landmarks_found_numerically": True, "stochastic": False, "params": [],
    }


@lru_cache(maxsize=16)  # a 500 x 500 answer is ~5 MB, and anyone can ask for new formulas
def formula_grid_json(text: str, domain: tuple, resolution: int) -> bytes:
    spec = _formula.custom_surface(text, domain)
    xs, ys, z = core.surface_grid({"formula": text, "domain": list(domain)}, resolution=resolution)
    finite = z[np.isfinite(z)]
    if not finite.size:
        # Nothing to draw or to descend: say so, as for any other unusable formula.
        raise _formula.FormulaError("is undefined or infinite everywhere on the domain", 1)
    return dumps({
        "surface": "custom", "surface_params": {}, **describe(spec), "x": xs, "y": ys, "z": z,
        "z_min": float(finite.min()) if finite.size else None,
        "z_max": float(finite.max()) if finite.size else None,
    })


# The page's examples: a classic typed out, two wells of different depths, concentric ripples.
EXAMPLES = (
    {"label": "Himmelblau, typed out", "formula": "(x^2 + y - 11)^2 + (x + y^2 - 7)^2", "domain": [-5, 5, -5, 5]},
    {"label": "Two Gaussian wells", "formula": "-2*exp(-((x - 1)^2 + y^2)) - exp(-((x + 1.5)^2 + (y - 1)^2)) "
     "+ 0.05*(x^2 + y^2)", "domain": [-4, 4, -3, 3]},
    {"label": "A ripple", "formula": "0.1*(x^2 + y^2) - cos(3*sqrt(x^2 + y^2 + 0.01))", "domain": [-4, 4, -4, 4]},
)


def custom_surface_entry() -> dict:
    """The page catalog's "Custom…" surface: what a formula is before one is typed, and the examples."""
    first = EXAMPLES[0]
    spec = _formula.custom_surface(first["formula"], _formula.resolve_domain(first["domain"]))
    return {**_formula.CUSTOM.as_dict(), "start": list(spec.start), "examples": list(EXAMPLES),
            "functions": list(_formula.FUNCTIONS), "max_chars": _formula.MAX_CHARS}


class FormulaGridResponse(BaseModel):
    surface: str
    formula: str = Field(description="the formula in LaTeX")
    source: str = Field(description="the formula as typed")
    domain: list[list[float]]
    start: list[float]
    minima: list[list[float]] = Field(description="found numerically: Newton from a grid of starts, de-duplicated")
    saddles: list[list[float]]
    minimum_value: float | None
    x: list[float]
    y: list[float]
    z: list[list[float | None]] = Field(description="one row per y; null where the formula overflows or is undefined")
    z_min: float | None
    z_max: float | None


router = APIRouter()


@router.get("/grid", response_model=FormulaGridResponse, responses={422: ERRORS[422]})
async def formula_grid(
    settings: SettingsDep,
    f: Annotated[str, Query(description="f(x, y), e.g. (1-x)^2 + 100*(y-x^2)^2", max_length=100_000)],
    domain: Annotated[str | None, Query(description="x_min,x_max,y_min,y_max; -5,5,-5,5 when omitted")] = None,
    resolution: Annotated[int, Query(description="points per axis")] = 100,
) -> Response:
    """A typed formula's values on a grid, its LaTeX, default start, and minima and saddle points found numerically.

    A bad formula is a 422 naming the column, so the page validates as you type with this one request.
    """
    limited("resolution", resolution, 2, settings.max_grid_resolution, ["query"])
    try:
        _formula.parse(f, settings.max_formula_chars, settings.max_formula_depth, settings.max_formula_nodes)
    except _formula.FormulaError as e:
        raise Invalid(["query", "f"], str(e)) from None
    values = None
    if domain is not None:
        try:
            values = [float(v) for v in domain.split(",")]
        except ValueError:
            raise Invalid(["query", "domain"], f"domain = {domain!r} must be four numbers x_min,x_max,y_min,y_max") from None
    try:
        bounds = _formula.resolve_domain(values)
        _formula.custom_surface(f, bounds)
    except _formula.FormulaError as e:
        raise Invalid(["query", "f" if e.field == "formula" else "domain"], str(e)) from None
    try:
        body = await anyio.to_thread.run_sync(formula_grid_json, f, bounds, resolution)
    except _formula.FormulaError as e:
        raise Invalid(["query", "f"], str(e)) from None
    return Response(body, media_type="application/json", headers={"cache-control": "public, max-age=3600"})


api_router.include_router(router)
