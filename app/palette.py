"""The look the page and the exports share: optimizer colours, landmarks, contour levels, the map's colours.

Colours follow the registry's order, so an optimizer keeps its colour whichever
others are shown beside it, on the page, in an embed and in an exported file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from core import OPTIMIZERS
from core.external import OFFERED

# Okabe & Ito (2008), "Color Universal Design". Yellow (#F0E442) is left out:
# it is barely visible on white. Black comes last: it is the seventh colour the
# classic seven (SGD to Adam) need to be told apart by colour alone, and the
# black landmarks stay distinct by their shapes (star, cross).
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#000000"]

# Seven colours cannot tell forty optimizers apart, so each pass through the
# palette takes the next dash (Plotly's names; `MPL_DASHES` are matplotlib's,
# the page's canvas draws them with the same on-off ratios).
DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
MPL_DASHES = {"solid": "-", "dash": (0, (5, 3)), "dot": (0, (1, 2)), "dashdot": (0, (5, 2, 1, 2)),
              "longdash": (0, (9, 3)), "longdashdot": (0, (9, 2, 1, 2))}

LANDMARK_COLOUR = "#000000"
# Plotly marker symbols; matplotlib's are "*" and "x".
MINIMUM_SYMBOL = "star"
SADDLE_SYMBOL = "x"

# Filled contours run from white to a pale blue-grey, light enough that every
# palette colour and the black landmarks stay readable on top of them.
CONTOUR_COLOURS = ["#ffffff", "#e8eef4", "#cbd8e4", "#a9bccd"]
CONTOUR_LINE_COLOUR = "#8c9aa8"
CONTOUR_LEVELS = 30

# The map's cells and the basins under the contour. Red for a run that diverged; grey for one that ends near
# no minimum (or never within tolerance).
DIVERGED_COLOUR = "#d7191c"
NOT_CONVERGED_COLOUR = "#cfd5db"
# Okabe & Ito without the vermillion, which the red of "diverged" would be mistaken for.
BASIN_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
# viridis, dark to light: light is good (a low loss, few steps).
VIRIDIS = ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b",
           "#fde725")
MAP_MODULE = Path(__file__).resolve().parent.parent / "static" / "js" / "generated" / "palette.js"


def _ids() -> list[str]:
    # Classes the operator offered by name come after the registry, in the order offered.
    return [*OPTIMIZERS, *OFFERED]


def _code(optimizer_id: str) -> int:
    try:
        return _ids().index(optimizer_id)
    except ValueError:
        raise KeyError(f"unknown optimizer {optimizer_id!r}; allowed: {', '.join(_ids())}") from None


def colour_for(optimizer_id: str) -> str:
    """The optimizer's line colour: the palette entry at its registry position."""
    return OKABE_ITO[_code(optimizer_id) % len(OKABE_ITO)]


def dash_for(optimizer_id: str) -> str:
    """The optimizer's line dash (a Plotly name): the palette pass its registry position falls in."""
    return DASHES[(_code(optimizer_id) // len(OKABE_ITO)) % len(DASHES)]


def contour_values(z: np.ndarray, floor: float | None = None) -> np.ndarray:
    """log(1 + f - f_min): the log-ish scale contours and the 3-D height are drawn on.

    `floor` is f_min; by default the grid's own minimum, which also serves
    surfaces without a minimum (saddles). Values below it are clamped to 0.
    """
    z = np.asarray(z, dtype=float)
    if floor is None:
        finite = z[np.isfinite(z)]
        floor = float(finite.min()) if finite.size else 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        return np.log1p(np.maximum(z - floor, 0.0))


def as_dict() -> dict:
    """Everything above as JSON for the page's script."""
    return {
        "optimizers": {oid: {"colour": colour_for(oid), "dash": dash_for(oid)} for oid in _ids()},
        "landmark_colour": LANDMARK_COLOUR,
        "minimum_symbol": MINIMUM_SYMBOL,
        "saddle_symbol": SADDLE_SYMBOL,
        "contour_colours": CONTOUR_COLOURS,
        "contour_line_colour": CONTOUR_LINE_COLOUR,
        "contour_levels": CONTOUR_LEVELS,
    }


def map_module() -> str:
    """The map's colours as the ES module static/js/map.js imports: constants it needs before any catalog is read."""
    names = {"DIVERGED_COLOUR": DIVERGED_COLOUR, "NOT_CONVERGED_COLOUR": NOT_CONVERGED_COLOUR,
             "BASIN_COLOURS": list(BASIN_COLOURS), "VIRIDIS": list(VIRIDIS)}
    return ("// Generated from app/palette.py by `python -m app.palette static/js/generated/palette.js`: do not edit.\n"
            + "".join(f"export const {name} = {json.dumps(value)};\n" for name, value in names.items()))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m app.palette static/js/generated/palette.js")
    Path(sys.argv[1]).write_text(map_module(), encoding="utf-8")
