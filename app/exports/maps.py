"""The map view of a shared link, for the exports: the same settings, sweep and colours as the page's map.

A link's `map.*` keys are read as static/js/map.js reads them (an unknown or
missing value falls back the way the page's does, so a link exports what it
shows), the sweep is validated by the sweep endpoints' own code under this
server's limits (app.services.sweeps: plan_sweep, plan_basins), computed by
core.sweep_rows and, for basins, labelled by core.classify, as the map streams
do. `MapData` then holds every cell and colours it exactly as the page does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

import numpy as np

import core
from app.palette import BASIN_COLOURS, DIVERGED_COLOUR, NOT_CONVERGED_COLOUR, VIRIDIS
from app.schemas import BasinsRequest
from app.services.compute import Work
from app.services.sweeps import plan_basins, plan_sweep
from app.services.validation import Invalid, field_loc, parse
from app.state import link_query, request_from_query
from core.engine import optimizer_spec, resolve_hyperparameters, resolve_surface

SIZES = (32, 64, 128)
DEFAULT_N = 64
COLOURINGS = {"loss": "final loss", "steps": "steps to tolerance", "basin": "basin"}
TOL = 1e-3  # a cell has converged once its loss is within this of f* (the sweep's default)
SCALE_GRID = 100  # the page's grid, off which it reads the loss where the runs start


@dataclass(frozen=True)
class Axis:
    """A setting a map varies: a float hyperparameter with a range, or a coordinate of the start."""

    name: str
    label: str
    low: float
    high: float
    log: bool
    start: int | None = None  # 0 or 1 for the start's x or y
    zoomed: bool = False


@dataclass(frozen=True)
class MapSettings:
    opt: str
    x: Axis
    y: Axis
    color: str
    n: int

    @property
    def of_starts(self) -> bool:
        return self.x.start is not None and self.y.start is not None


def axis_choices(opt: str, domain) -> list[Axis]:
    """The settings a map can vary for an optimizer: its float hyperparameters with a range, then the start."""
    hps = [Axis(h.name, h.name, h.low, h.high, h.log) for h in optimizer_spec(opt).hyperparameters
           if h.kind == "float" and h.high > h.low]
    (x0, x1), (y0, y1) = domain
    return [*hps, Axis("x", "start x", x0, x1, False, 0), Axis("y", "start y", y0, y1, False, 1)]


def _js_number(text: str) -> float:
    """A string as JavaScript's Number() reads it: blank is 0, anything unreadable NaN."""
    text = text.strip()
    if not text:
        return 0.0
    try:
        return float(text) if text.lower().lstrip("+-") not in ("inf", "nan", "infinity") else math.nan
    except ValueError:
        return math.nan


def zoomed(axis: Axis, text: str | None) -> Axis:
    """An axis narrowed to a "low,high" range inside its own (from a zoom); the whole axis for anything else."""
    parts = [_js_number(p) for p in str(text or "").split(",")]
    lo, hi = (parts + [math.nan])[:2]
    if not (math.isfinite(lo) and math.isfinite(hi) and axis.low <= lo < hi <= axis.high):
        return axis
    return Axis(axis.name, axis.label, lo, hi, axis.log, axis.start, True)


def map_settings(body: dict, display: dict) -> MapSettings:
    """The map a link shows: its optimizer, axes, colouring and size, with the automatic ones filled in."""
    given = display.get("map.opt", "")
    opts = [run["optimizer"] for run in body["runs"]]
    opt = given if given in core.OPTIMIZERS else (opts[0] if opts else next(iter(core.OPTIMIZERS)))
    axes = axis_choices(opt, resolve_surface(body["surface"])[0].domain)
    by_name = {a.name: a for a in axes}
    x = display.get("map.x") if display.get("map.x") in by_name else "lr"

    def other(name: str) -> str:
        if name in ("x", "y"):
            return "y" if name == "x" else "x"
        return next((a.name for a in axes if a.name != name and a.start is None), "y")

    y = display["map.y"] if display.get("map.y") in by_name and display["map.y"] != x else other(x)
    of_starts = by_name[x].start is not None and by_name[y].start is not None
    color = display.get("map.color") if display.get("map.color") in COLOURINGS else "basin" if of_starts else "loss"
    n = _js_number(display.get("map.n", ""))
    n = int(n) if n in SIZES else DEFAULT_N
    return MapSettings(opt, zoomed(by_name[x], display.get("map.xr")), zoomed(by_name[y], display.get("map.yr")),
                       color, n)


def _hyperparameters(query: str, opt: str) -> dict:
    """The link's settings of the map's optimizer (it may be one the link does not race), read and checked
    as the runs' are."""
    q = dict(parse_qsl(link_query(query), keep_blank_values=True))
    q["opt"] = opt
    return request_from_query(urlencode(q, safe=","))["runs"][0]["hyperparameters"]


def sweep_request(body: dict, hp: dict, m: MapSettings) -> dict:
    """The body the page posts to /api/sweeps/stream (or /api/basins/stream) for this map."""
    axes = {a.name: {"low": a.low, "high": a.high, "num": m.n, "log": a.log} for a in (m.x, m.y)}
    return {"surface": body["surface"], "optimizer": m.opt, "start": body["start"], "steps": body["steps"],
            "grid": axes, "hyperparameters": {k: v for k, v in hp.items() if k not in axes},
            "schedule": body["schedule"], "noise": body["noise"], "seed": body["seed"], "tol": TOL}


def _state_loc(loc: list, m: MapSettings, prefix: list) -> list:
    """A sweep error's loc (["body", ...]) as the link key that set it."""
    rest = list(loc[1:])
    if rest[:1] == ["grid"]:
        if len(rest) > 2 and rest[2] in ("low", "high"):
            return [*prefix, "map.xr" if rest[1] == m.x.name else "map.yr"]
        return [*prefix, "map.n"]  # the number of cells
    if rest[:1] == ["hyperparameters"]:
        return [*prefix, m.opt, *rest[1:]]
    if rest[:1] == ["optimizer"]:
        return [*prefix, "map.opt"]
    return [*prefix, *rest]


def plan(query: str, body: dict, display: dict, settings, prefix=("state",)):
    """The map's settings and its validated sweep (nothing computed): (MapSettings, hp, plan, minima, radius).

    Raises app.services.validation.Invalid naming the link key, under the sweep endpoints' limits.
    """
    prefix = list(prefix)
    m = map_settings(body, display)
    try:
        hp = _hyperparameters(query, m.opt)
    except core.InvalidInput as e:
        raise Invalid([*prefix, *field_loc(e.field)], e.reason) from None
    request = sweep_request(body, hp, m)
    try:
        if m.color == "basin":
            sweep, minima, radius = plan_basins(parse(BasinsRequest, request, ["body"]), settings)
        else:
            sweep, minima, radius = plan_sweep(request, settings), None, None
    except Invalid as e:
        first = e.errors[0]
        raise Invalid(_state_loc(first["loc"], m, prefix), f"the map (view=map): {first['msg']}",
                      first["type"], e.status) from None
    return m, hp, sweep, minima, radius


def compute(query: str, body: dict, display: dict, settings, prefix=("state",),
            seconds: float | None = None) -> "MapData":
    """The link's map, every cell computed; past `seconds` raises the API's compute-limit error (413)."""
    m, hp, sweep, minima, radius = plan(query, body, display, settings, prefix)
    nx, ny = sweep.shape
    loss, hit = np.full((nx, ny), np.nan), np.full((nx, ny), np.nan)
    diverged = np.zeros((nx, ny), dtype=bool)
    basin = np.full((nx, ny), core.explore.NOT_CONVERGED, dtype=np.int64) if minima is not None else None
    work = Work(settings, math.inf if seconds is None else seconds)
    for rows in core.sweep_rows(sweep):
        if rows.row1 > rows.row0:
            s = slice(rows.row0, rows.row1)
            loss[s] = rows.final_losses
            hit[s] = np.where(rows.steps_to_tol < 0, np.nan, rows.steps_to_tol)
            diverged[s] = rows.diverged
            if basin is not None:
                basin[s] = core.classify(rows.final_points, minima, radius)
        work.check()
    spec, params = resolve_surface(body["surface"])
    full = resolve_hyperparameters(sweep.optimizer, hp)
    current = tuple(float(body["start"][a.start]) if a.start is not None else float(full[a.name]) for a in (m.x, m.y))
    return MapData(
        m, spec.label, sweep.optimizer.label, sweep.steps, *sweep.values, loss, hit, diverged, basin,
        [tuple(p) for p in (minima if minima is not None else spec.resolved_landmarks(params)[0])],
        sweep.minimum_value, current, _top(body, m, sweep.minimum_value),
    )


def _top(body: dict, m: MapSettings, fmin: float | None) -> float | None:
    """log10 of the loss above f* where the runs start, read as the page reads it off its grid (its highest
    value for a map of starts): worse than that is all one colour."""
    if fmin is None:
        return None
    xs, ys, z = core.surface_grid(body["surface"], resolution=SCALE_GRID)
    if m.x.start is not None or m.y.start is not None:
        finite = z[np.isfinite(z)]
        f = float(finite.max()) if finite.size else math.nan
    else:
        f = _bilinear(xs, ys, z, *body["start"])
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.log10(f - fmin))


def _bilinear(xs, ys, z, px: float, py: float) -> float:
    def at(axis, v):
        t = (v - axis[0]) / (axis[-1] - axis[0]) * (len(axis) - 1)
        i = int(max(0, min(len(axis) - 2, math.floor(t))))
        return i, max(0.0, min(1.0, t - i))

    (i, u), (j, v) = at(xs, px), at(ys, py)
    return float((1 - v) * ((1 - u) * z[j, i] + u * z[j, i + 1]) + v * ((1 - u) * z[j + 1, i] + u * z[j + 1, i + 1]))


def fmt(v, digits: int = 3) -> str:
    """A number as the page's util.js fmt writes it: 0.01, 1.5e-7, 3.14."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v == 0:
        return "0"
    if abs(v) < 1e-3 or abs(v) >= 1e5:
        mantissa, exponent = f"{v:.{digits - 1}e}".split("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exponent)}"
    return f"{float(f'{v:.{digits}g}'):g}"


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


_VIRIDIS_RGB = np.array([_rgb(c) for c in VIRIDIS], dtype=float)


def ramp(t) -> np.ndarray:
    """viridis at t in [0, 1] (array), as rgb bytes: the page's 10 stops, linear between them."""
    u = np.clip(np.asarray(t, dtype=float), 0, 1) * (len(VIRIDIS) - 1)
    i = np.minimum(len(VIRIDIS) - 2, np.floor(u)).astype(int)
    f = (u - i)[..., None]
    c = _VIRIDIS_RGB[i] + f * (_VIRIDIS_RGB[i + 1] - _VIRIDIS_RGB[i])
    return np.floor(c + 0.5).astype(np.uint8)  # JavaScript's Math.round


@dataclass(frozen=True)
class Scale:
    """What the cells of a loss or steps map are coloured by: `values` on [lo, hi], light for lo."""

    lo: float
    hi: float
    log: bool  # values are log10 of the loss above f*
    title: str
    values: np.ndarray  # (nx, ny)

    def ticks(self) -> list[tuple[float, str]]:
        """Colour-bar ticks of a log scale as (log10 value, label): whole powers of ten, at most about six;
        on a scale spanning less than one, a few values between, written out. [] on a linear scale."""
        if not self.log:
            return []
        a, b = math.ceil(self.lo), math.floor(self.hi)
        if b >= a:
            return [(k, "1" if k == 0 else f"10^{k}") for k in range(a, b + 1, max(1, math.ceil((b - a) / 6)))]
        return [(float(t), fmt(10 ** float(t))) for t in np.linspace(self.lo, self.hi, 4)]


@dataclass
class MapData:
    """One optimizer's runs over a grid of two settings: cell [i, j] is (xs[i], ys[j])."""

    settings: MapSettings
    surface_label: str
    optimizer_label: str
    steps: int
    xs: np.ndarray
    ys: np.ndarray
    final_losses: np.ndarray
    steps_to_tol: np.ndarray  # NaN: never within TOL of f*
    diverged: np.ndarray
    basin: np.ndarray | None  # an index into minima, NOT_CONVERGED or DIVERGED; None unless coloured by basin
    minima: list
    fmin: float | None
    current: tuple[float, float]  # the link's own settings (or start) on the two axes
    top: float | None
    lang: str = "en"  # the language of every word the map draws (app.i18n.LANGUAGES)

    @property
    def t(self):
        """The map's words in its language: t("English text", values...)."""
        from app import i18n

        return i18n.translator(self.lang)

    def axis_label(self, axis) -> str:
        """An axis's name: a hyperparameter's as the link writes it, "start x" in the map's language."""
        return self.t(axis.label)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.xs), len(self.ys)

    def title(self) -> str:
        nx, ny, t = *self.shape, self.t
        return t("{0} on {1}: {2} × {3} runs of {4} steps", t(self.optimizer_label), t(self.surface_label), nx, ny,
                 self.steps)

    def scale(self) -> Scale:
        """The page's colour scale: steps on [0, steps], or log10(f − f*) from its 2nd to 98th percentile,
        capped at the loss where the runs start."""
        if self.settings.color == "steps":
            return Scale(0.0, float(self.steps), False, self.t("steps until f − f* ≤ {0}", fmt(TOL)), self.steps_to_tol)
        has_min = self.fmin is not None
        with np.errstate(invalid="ignore"):
            values = np.log10(np.maximum(self.final_losses - self.fmin, 1e-16)) if has_min else self.final_losses
        seen = np.sort(values[~self.diverged & np.isfinite(values)])
        lo = float(seen[math.floor(0.02 * (len(seen) - 1))]) if len(seen) else 0.0
        hi = float(seen[math.ceil(0.98 * (len(seen) - 1))]) if len(seen) else 1.0
        # A few runs on the edge of blowing up (losses of 1e300) would otherwise stretch the scale.
        if has_min and self.top is not None and math.isfinite(self.top):
            hi = min(hi, max(self.top, lo + 1))
        if not hi > lo:
            lo -= 1
            hi = lo + 2
        t = self.t
        title = t("final loss f") if not has_min or self.fmin == 0 else t("final f − f*, f* = {0}", fmt(self.fmin, 5))
        return Scale(lo, hi, has_min, title, values)

    def colours(self) -> np.ndarray:
        """Each cell's colour as the page paints it: (nx, ny, 3) bytes."""
        out = np.empty((*self.shape, 3), dtype=np.uint8)
        if self.settings.color == "basin":
            out[:] = _rgb(NOT_CONVERGED_COLOUR)
            for b in range(len(self.minima)):
                out[self.basin == b] = _rgb(BASIN_COLOURS[b % len(BASIN_COLOURS)])
            out[self.basin == core.explore.DIVERGED] = _rgb(DIVERGED_COLOUR)
        else:
            sc = self.scale()
            finite = np.isfinite(sc.values)
            out[:] = ramp(1 - (np.where(finite, sc.values, sc.lo) - sc.lo) / (sc.hi - sc.lo))
            out[~finite] = _rgb(NOT_CONVERGED_COLOUR)
        out[self.diverged] = _rgb(DIVERGED_COLOUR)
        return out

    def labels(self) -> np.ndarray:
        """The basin of each cell, diverged cells as DIVERGED, as the page colours them."""
        return np.where(self.diverged, core.explore.DIVERGED, self.basin)

    def key(self) -> list[tuple[str, str, str]]:
        """The categorical key the page shows under the map: (colour, label, shape)."""
        items, t = [], self.t
        if self.settings.color == "basin":
            items += [(BASIN_COLOURS[i % len(BASIN_COLOURS)], t("ends at ({0}, {1})", fmt(p[0]), fmt(p[1])), "star")
                      for i, p in enumerate(self.minima)]
            items.append((NOT_CONVERGED_COLOUR, t("ends elsewhere (not converged)"), "square"))
        elif self.settings.color == "steps":
            items.append((NOT_CONVERGED_COLOUR, t("never within {0} of f*", fmt(TOL)), "square"))
        items.append((DIVERGED_COLOUR, t("diverged"), "square"))
        return items

    def current_label(self) -> str:
        m = self.settings
        return self.t("this link's {0} = {1}, {2} = {3}", self.axis_label(m.x), fmt(self.current[0], 4),
                      self.axis_label(m.y), fmt(self.current[1], 4))

    def describe(self, i: int, j: int) -> str:
        """A cell as the page's hover says it, one line each."""
        m, t = self.settings, self.t
        lines = [f"{self.axis_label(m.x)} = {fmt(float(self.xs[i]), 4)}, {self.axis_label(m.y)} = {fmt(float(self.ys[j]), 4)}"]
        if self.diverged[i, j]:
            return "\n".join([*lines, t("diverged")])
        loss = float(self.final_losses[i, j])
        if self.fmin is not None:
            lines.append(t("final f − f* = {0}", fmt(loss - self.fmin)))
            hit = self.steps_to_tol[i, j]
            lines.append(t("within {0} of f* at step {1}", fmt(TOL), int(hit)) if np.isfinite(hit)
                         else t("not within {0} of f* in {1} steps", fmt(TOL), self.steps))
        else:
            lines.append(t("final loss = {0}", fmt(loss)))
        if m.color == "basin":
            b = int(self.basin[i, j])
            lines.append(t("ends at the minimum ({0}, {1})", fmt(self.minima[b][0]), fmt(self.minima[b][1])) if b >= 0
                         else t("ends at no known minimum"))
        return "\n".join(lines)

    def edges(self, axis: str) -> np.ndarray:
        """The cells' edges along an axis: halfway between centres (geometrically on a log axis)."""
        a, values = (self.settings.x, self.xs) if axis == "x" else (self.settings.y, self.ys)
        v = np.log10(values) if a.log else np.asarray(values, dtype=float)
        d = (v[-1] - v[0]) / (len(v) - 1) if len(v) > 1 else 1.0
        e = np.concatenate([[v[0] - d / 2], (v[1:] + v[:-1]) / 2, [v[-1] + d / 2]])
        return 10 ** e if a.log else e
