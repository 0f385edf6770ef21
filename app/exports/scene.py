"""The scene an export draws: a surface, its landmarks and the runs on it, in each view's coordinates."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from app import i18n, palette
from core import OPTIMIZERS, InvalidInput, surface_grid
from core.engine import optimizer_spec, resolve_surface

GRID_RESOLUTION = {"contour": 200, "surface3d": 60, "html": 120}
# The 3-D view's camera in degrees, and its box's height over its sides: the page's.
ELEVATION, AZIMUTH, BOX_HEIGHT = 44.0, -59.0, 0.6


@dataclass(frozen=True)
class Marker:
    """A kind of landmark: its legend label, its points, and its marker in matplotlib and in Plotly."""

    name: str
    points: np.ndarray  # (n, 2)
    mpl: str
    plotly: str
    size: float  # points
    hollow: bool = False

    def style(self) -> dict:
        """matplotlib keywords: filled black with a white rim, or a black ring."""
        if self.hollow:
            rim = {"mfc": "none", "mec": palette.LANDMARK_COLOUR, "mew": 1.8}
        else:
            rim = {"mec": "white", "mew": 0.8}
        return {"color": palette.LANDMARK_COLOUR, "ms": self.size, "linestyle": "none", "zorder": 5, **rim}


@dataclass
class Scene:
    """A surface and the runs drawn on it, in legend order."""

    surface: dict  # {"name": id, param: value, ...}, as core.surface_grid takes it
    runs: list  # core.Trajectory
    labels: tuple = ()  # each run's own name in legends, or None for its optimizer's label
    query: str = ""  # the shared link's query string, when the scene came from one
    preset: object = None  # the app.presets.Preset the link is, if it is one
    lang: str = i18n.DEFAULT  # the language of every word the export draws (app.i18n.LANGUAGES)
    axes = ("x", "y")  # the surface views' axis titles

    @classmethod
    def from_runs(cls, runs, labels=(), lang: str = i18n.DEFAULT) -> "Scene":
        if not runs:
            raise InvalidInput("optimizers", "choose at least one optimizer")
        return cls({"name": runs[0].surface, **runs[0].surface_params}, list(runs), tuple(labels), lang=lang)

    @property
    def t(self) -> i18n.Translator:
        """The scene's words in its language: t("English text", values...)."""
        return i18n.translator(self.lang)

    def name(self, run) -> str:
        """The run's own label when the state gives one, else its optimizer's."""
        i = next(i for i, r in enumerate(self.runs) if r is run)
        own = self.labels[i] if i < len(self.labels) else None
        return own or self.t(optimizer_spec(run.optimizer).label)

    @property
    def spec(self):
        return resolve_surface(self.surface)[0]  # a typed formula too

    @property
    def steps(self) -> int:
        return max(r.steps for r in self.runs)

    @cached_property
    def landmarks(self) -> tuple[tuple, tuple, float | None]:
        params = {k: v for k, v in self.surface.items() if k != "name"}
        return self.spec.resolved_landmarks(params)

    def grid(self, resolution: int):
        if resolution not in self._grids:
            self._grids[resolution] = surface_grid(self.surface, resolution=resolution)
        return self._grids[resolution]

    _grids: dict = field(default_factory=dict, repr=False)

    @cached_property
    def floor(self) -> float:
        """f_min of the log-ish height scale: the grid's minimum, as the page takes it."""
        return float(np.nanmin(self.grid(GRID_RESOLUTION["contour"])[2]))

    def height(self, values) -> np.ndarray:
        return palette.contour_values(values, self.floor)

    def levels(self, zt: np.ndarray) -> np.ndarray:
        top = float(np.nanmax(zt))
        return np.linspace(0.0, top if top > 0 else 1.0, palette.CONTOUR_LEVELS + 1)

    def legend_label(self, run, view: str = "contour", newline: str = " ", step: int | None = None,
                     tolerance: float | None = None) -> str:
        """The run's name, and what has happened to it by `step` (all of its run when None), after `newline`:
        when it left the view or diverged, and with a `tolerance`, when it came within it of a minimum."""
        return self.label_at(self.name(run), self.events(run, view, tolerance), newline, step)

    @staticmethod
    def label_at(name: str, events: list, newline: str, step: int | None) -> str:
        notes = [note for k, note in events if step is None or k <= step]
        return f"{name}{newline}({'; '.join(notes)})" if notes else name

    def events(self, run, view: str, tolerance: float | None = None) -> list[tuple[int, str]]:
        """What a legend may say of a run, each with the step it happens at."""
        t = self.t
        events = []
        if tolerance is not None:
            arrived = self.arrival(run, tolerance)
            if arrived is not None:
                events.append((arrived, t("reached a minimum at step {0}", arrived)))
        left = self.exit(run, view)
        if left is not None and not (view == "loss" and run.diverged_at is not None):
            events.append((left[0], t("left the frame at step {0}", left[0])))
        if run.diverged_at is not None:
            events.append((run.diverged_at, t("diverged at step {0}", run.diverged_at)))
        return events

    def arrival(self, run, tolerance: float) -> int | None:
        """The first step at which the run is within `tolerance` of a minimum, or None."""
        minima = self.landmarks[0]
        if not minima:
            return None
        gaps = np.linalg.norm(run.points[:, None, :] - np.asarray(minima, dtype=float)[None, :, :], axis=-1).min(axis=1)
        near = np.flatnonzero(gaps <= tolerance)
        return int(near[0]) if near.size else None

    def title(self, step: int | str) -> str:
        t = self.t
        return t("{0} — step {1} / {2}", t(self.spec.label), step, self.steps)

    def loss_gap(self, run) -> np.ndarray:
        """What the loss view plots: f - f* (for a log axis) when f* is known, else f."""
        fmin = self.landmarks[2]
        return run.losses if fmin is None else np.maximum(run.losses - fmin, 1e-16)

    def markers(self, three_d: bool) -> list["Marker"]:
        """The landmarks as drawn: minima, saddle points and the start, in legend order."""
        minima, saddles, _ = self.landmarks
        out = []
        t = self.t
        found = t(" (found numerically)") if self.spec.source else ""  # a typed formula's
        if minima:
            # Plotly's 3-D markers have no star, so a 3-D minimum is a diamond, on the page and here.
            out.append(Marker(t("minimum") + found, np.asarray(minima, dtype=float), *(("D", "diamond", 7) if three_d else
                                                                          ("*", palette.MINIMUM_SYMBOL, 14))))
        if saddles:
            out.append(Marker(t("saddle point") + found, np.asarray(saddles, dtype=float), "X", palette.SADDLE_SYMBOL, 9))
        out.append(Marker(t("start"), np.asarray([self.runs[0].start], dtype=float), "o", "circle-open", 9, hollow=True))
        return out

    def landmark_heights(self, points: np.ndarray, resolution: int) -> np.ndarray:
        """The 3-D height of landmark points, read off the grid (landmarks carry no value of their own)."""
        xs, ys, z = self.grid(resolution)
        i = np.clip(np.searchsorted(ys, points[:, 1]), 0, len(ys) - 1)
        j = np.clip(np.searchsorted(xs, points[:, 0]), 0, len(xs) - 1)
        return self.height(z[i, j])

    def loss_range(self) -> tuple[float, float, bool]:
        """The loss view's y range and whether its axis is logarithmic (as on the page).

        The range covers the losses of points inside the plotted domain only: a run that leaves
        the domain (or diverges) would otherwise stretch the axis to 1e300 and flatten every other
        run; it runs off the edge instead, where `exit` marks it.
        """
        log = self.landmarks[2] is not None
        shown = [self.loss_gap(run)[self.in_domain(run.points)] for run in self.runs]
        values = np.concatenate(shown)
        values = values[np.isfinite(values)]
        if not values.size:  # every run starts outside the domain: the surface's own range
            z = self.grid(GRID_RESOLUTION["contour"])[2]
            fmin = self.landmarks[2]
            values = np.maximum(z - fmin, 1e-16) if log else z
            values = values[np.isfinite(values)]
        lo, hi = float(values.min()), float(values.max())
        if log:
            return lo / 2, min(hi, 1e300) * 2, log
        pad = 0.05 * (hi - lo or 1.0)
        return lo - pad, hi + pad, log

    @cached_property
    def _loss_range(self) -> tuple[float, float, bool]:
        return self.loss_range()

    def exit(self, run, view: str) -> tuple[int, np.ndarray, str] | None:
        """Where a run first leaves what `view` plots: (step, the point on the edge, the edge's side).

        The point is in the view's coordinates (x, y for the surface views; step, loss for the loss
        view); the side is "left", "right", "bottom" or "top". In the loss view a diverged run
        leaves by the top at the latest at the step it diverged. None if the run stays in view.
        """
        if view == "loss":
            lo, hi, log = self._loss_range
            y = self.loss_gap(run)
            t, a, b = (np.log10(y), np.log10(lo), np.log10(hi)) if log else (y, lo, hi)
            out = np.flatnonzero((t < a) | (t > b))
            if not out.size:
                if run.diverged_at is None:
                    return None
                return run.diverged_at, np.array([float(run.diverged_at), hi]), "top"
            k = int(out[0])
            side, edge = ("top", b) if t[k] > b else ("bottom", a)
            x = float(k) if k == 0 else k - 1 + (edge - t[k - 1]) / (t[k] - t[k - 1])
            return k, np.array([x, 10**edge if log else edge]), side
        (x0, x1), (y0, y1) = self.spec.domain
        pts = run.points
        out = np.flatnonzero(~self.in_domain(pts))
        if not out.size:
            return None
        k = int(out[0])
        lo, hi = np.array([x0, y0]), np.array([x1, y1])
        if k == 0:
            p = np.clip(pts[0], lo, hi)
            return 0, p, _side(p, lo, hi)
        a, b = pts[k - 1], pts[k]
        d = b - a
        with np.errstate(divide="ignore", invalid="ignore"):
            # How far along the step each coordinate may go before it crosses its bound.
            room = np.where(d > 0, (hi - a) / d, np.where(d < 0, (lo - a) / d, np.inf))
        f = float(np.clip(room.min(), 0.0, 1.0))
        p = np.clip(a + f * d, lo, hi)
        return k, p, _side(p, lo, hi, int(room.argmin()), d)

    def loss_title(self) -> str:
        """The loss view's y-axis title, the page's words."""
        fmin, t = self.landmarks[2], self.t
        if fmin is None:
            return t("loss f")
        return t("loss f (log)") if fmin == 0 else t("f − f* (log), f* = {0}", f"{fmin:.5g}")

    def in_domain(self, points: np.ndarray) -> np.ndarray:
        (x0, x1), (y0, y1) = self.spec.domain
        return (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)


def _side(p, lo, hi, axis: int | None = None, d=None) -> str:
    """The edge of the box lo..hi that p lies on (along `axis`, moving by d, when known)."""
    if axis is None:
        gaps = np.abs(np.concatenate([p - lo, hi - p]))
        axis, upper = int(gaps.argmin()) % 2, int(gaps.argmin()) >= 2
    else:
        upper = d[axis] > 0
    return (("left", "right"), ("bottom", "top"))[axis][int(upper)]


# --- frames --------------------------------------------------------------------


def view_coords(scene: Scene, view: str, run) -> tuple[np.ndarray, ...]:
    """The run's line in a view's coordinates, one entry per point."""
    if view == "loss":
        return np.arange(len(run.losses), dtype=float), scene.loss_gap(run)
    if view == "contour":
        return run.points[:, 0], run.points[:, 1]
    # mplot3d and Plotly's 3-D scenes do not clip to the axes box: points off the domain are hidden.
    x = np.where(scene.in_domain(run.points), run.points[:, 0], np.nan)
    return x, run.points[:, 1], scene.height(run.losses)


@dataclass
class Deck:
    """Several scenes for one file, each with the view its slide draws (None: the export's view)."""

    slides: list  # (Scene, view)

    @property
    def steps(self) -> int:
        return max(scene.steps for scene, _ in self.slides)


# --- a network's plane -------------------------------------------------------------

@dataclass(frozen=True)
class PlaneSpec:
    """What a scene asks of its surface's spec, for the plane through a network's weight space."""

    label: str
    domain: tuple  # ((a0, a1), (b0, b1)): the plane's grid
    source: None = None  # not a typed formula

    @staticmethod
    def resolved_landmarks(params) -> tuple[tuple, tuple, None]:
        return (), (), None  # a plane shows no known minimum or saddle of the network's loss


@dataclass
class NetworkScene(Scene):
    """The runs of a network drawn on a plane of its landscape (core.landscape).

    Each run's points are its path projected on the plane and its losses the full-data loss at
    its weights (for a minibatch run, not its batches' losses); the legend gives the share of
    its movement that leaves the plane, which the contour under the path does not show.
    """

    plane: object = None  # core.network.Landscape
    label: str = ""
    axes = ("α, along the plane's first direction", "β, along its second")

    @classmethod
    def from_landscape(cls, runs, land, label: str, labels=()) -> "NetworkScene":
        flat = [replace(run, points=path, losses=true, start=tuple(path[0]))
                for run, path, true in zip(runs, land.paths, land.path_losses)]
        return cls({"name": "network"}, flat, tuple(labels), plane=land, label=label)

    @classmethod
    def from_request(cls, body: dict, settings, prefix=("network",), seconds: float | None = None) -> "NetworkScene":
        """The scene of a network request (as /api/networks/trajectories takes it), its runs trained and its plane
        computed under `settings`' limits (a random plane at 51 x 51 when it asks for none); raises Invalid."""
        import math

        from app.services import networks
        from app.services.compute import Work, run_all

        body = dict(body)
        body.setdefault("plane", {"kind": "random", "resolution": 51})
        request, problem, runs = networks.build(body, settings, prefix, drawn=True)
        run_all(runs, Work(settings, math.inf if seconds is None else seconds))
        found = networks.landscape(request, problem, runs, prefix)
        sizes = " x ".join(map(str, problem.sizes))
        return cls.from_landscape([run.result() for run in runs], found, f"MLP {sizes} on {problem.spec['data']}",
                                  [run.label for run in runs])

    @property
    def spec(self) -> PlaneSpec:
        a, b = self.plane.alphas, self.plane.betas
        return PlaneSpec(self.label, ((float(a[0]), float(a[-1])), (float(b[0]), float(b[-1]))))

    @cached_property
    def landmarks(self) -> tuple[tuple, tuple, None]:
        return self.spec.resolved_landmarks({})

    def grid(self, resolution: int):
        """The plane's own grid whatever the view asks: each of its points is a pass over the data."""
        return self.plane.alphas, self.plane.betas, self.plane.losses

    def name(self, run) -> str:
        i = next(i for i, r in enumerate(self.runs) if r is run)
        share = self.plane.off_plane[i]
        return f"{super().name(run)}, {share:.0%} of its movement off the plane"

    def title(self, step: int | str) -> str:
        return f"{self.label}, {self.plane.plane} plane — step {step} / {self.steps}"
