"""`GET /api/grid`: a typed formula's grid, LaTeX and landmarks; a bad formula is a 422 naming the column.

core.formula parses and checks a formula; here its errors become 422s whose
loc ends in f (or domain), under this server's limits.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from app.http.routing import ERRORS, JSONRoute
from app.serialize import JSONBytes
from app.services.compute import in_pool
from app.services.formulas import formula_grid_json
from app.services.validation import Invalid, limited
from app.settings import SettingsDep
from core import formula as _formula


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


router = APIRouter(prefix="/api", tags=["api"], default_response_class=JSONBytes, route_class=JSONRoute)


@router.get("/grid", response_model=FormulaGridResponse, responses={422: ERRORS[422]})
async def formula_grid(
    request: Request,
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
        body = await in_pool(request, formula_grid_json, f, bounds, resolution)
    except _formula.FormulaError as e:
        raise Invalid(["query", "f"], str(e)) from None
    return Response(body, media_type="application/json", headers={"cache-control": "public, max-age=3600"})
