"""Typed formulas: a formula surface described as the catalog describes a built-in one, its grid, and the
page's examples. core.formula parses and checks a formula."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

import core
from app.serialize import dumps
from core import formula as _formula


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
        # What the page's engine runs, as the server's formula kernel does (shortest decimals read back exactly).
        "tape": spec.constants,
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
