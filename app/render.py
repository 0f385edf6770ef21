"""Trajectories as files a teacher can put in slides: GIF, MP4, HTML, PNG and SVG.

Frames are drawn with matplotlib's Agg renderer. Everything that does not move
(the contours or the 3-D surface, the landmarks, the axes, the legend) is drawn
once and kept as a pixel buffer; each frame restores that buffer and draws
only the trajectory lines, their heads and the title over it. GIF frames are
mapped onto one palette taken from the last frame and written one by one, each
cropped to what changed; MP4 frames go as raw RGBA to the ffmpeg binary that
ships inside the imageio-ffmpeg wheel (libx264, yuv420p). The HTML file inlines
the page's own plotly.js (static/vendor/plotly) and the data, and plays them
with a small script of its own.
"""

from __future__ import annotations

import html
import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np
import orjson
from PIL import GifImagePlugin, Image

from app import palette
from core import OPTIMIZERS, InvalidInput, surface_grid
from core.engine import resolve_surface
from core.explore import DIVERGED

MEDIA_TYPES = {
    "gif": "image/gif",
    "mp4": "video/mp4",
    "html": "text/html; charset=utf-8",
    "png": "image/png",
    "svg": "image/svg+xml",
}
FORMATS = tuple(MEDIA_TYPES)
STILLS = ("png", "svg")
PATH_VIEWS = ("contour", "surface3d", "loss")  # the views that draw the runs, step by step
MAP = "map"  # one optimizer over a grid of two settings: a still of where each run ends (app/maps.py)
VIEWS = (*PATH_VIEWS, MAP)
MAP_FORMATS = ("png", "svg", "html")

# Inclusive ranges of what an export may ask for; the web app may narrow them.
LIMITS = {"frames": (1, 1000), "fps": (1, 60), "width": (320, 1920), "height": (240, 1080)}
GIF_MAX_FPS = 50  # GIF delays count hundredths of a second; browsers slow anything under 2 to 10
DEFAULT_FPS = 30
DEFAULT_SIZE = (1280, 720)  # 16:9, the shape of a slide
DEFAULT_MAX_FRAMES = 300

# At 800 x 600 the figure is drawn at 100 dpi; other sizes scale the dpi so text
# and lines keep their proportions (1280 x 720: 120 dpi, 1920 x 1080: 180 dpi).
BASE_DPI, BASE_SIZE = 100, (800, 600)
LINE_WIDTH = 2.0  # points
HEAD_SIZE = 8.0  # points: a run's head, the point it has reached
RING_STEP, RING_WIDTH = 5.0, 1.8  # points: rings around a shared spot, each one a size larger
# A run that leaves the frame is marked on the edge by a triangle pointing out of it.
EXIT_SIZE = 11.0  # points
EXIT_MARKERS = {"left": "<", "right": ">", "bottom": "v", "top": "^"}
LEGEND_ROWS = 12  # legend entries in one column beside the plot; more take two
LEGEND_SHARE = 0.4  # the most of the frame's width a legend beside the plot may take; a wider one goes below
# The 3-D view's camera in degrees, and its box's height over its sides: the page's.
ELEVATION, AZIMUTH, BOX_HEIGHT = 44.0, -59.0, 0.6
BOX_ZOOM = 1.2
GRID_RESOLUTION = {"contour": 200, "surface3d": 60, "html": 120}
# plotly.js with only the trace types Gradscape draws, built by scripts/build-plotly; the page loads it too.
PLOTLY_JS = Path(__file__).resolve().parent.parent / "static" / "vendor" / "plotly" / "plotly-gradscape-4.1.1.min.js"

Progress = Callable[[float], None]


# --- options -------------------------------------------------------------------

@dataclass(frozen=True)
class Options:
    """What to export: the format, the view, and the animation's frames and size."""

    format: str
    view: str = "contour"
    frames: int | None = None  # None: one per step, at most DEFAULT_MAX_FRAMES
    fps: int = DEFAULT_FPS
    width: int = DEFAULT_SIZE[0]
    height: int = DEFAULT_SIZE[1]
    step: int | None = None  # the step a PNG or SVG shows; None: the last
    loop: bool = True
    autoplay: bool = True

    def frame_count(self, steps: int) -> int:
        return self.frames if self.frames is not None else min(steps + 1, DEFAULT_MAX_FRAMES)


def _whole(field: str, value, low: int, high: int) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise InvalidInput(field, f"{value!r} is not a whole number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise InvalidInput(field, f"{value!r} is not a whole number")
    value = int(value)
    if not low <= value <= high:
        raise InvalidInput(field, f"{field} = {value} is outside [{low}, {high}]")
    return value


def _choice(field: str, value, allowed) -> str:
    if value not in allowed:
        raise InvalidInput(field, f"unknown {field} {value!r}; allowed: {', '.join(allowed)}")
    return value


def make_options(format, view=None, frames=None, fps=None, width=None, height=None, step=None,
                 loop=True, autoplay=True, limits: dict | None = None) -> Options:
    """Validated Options; raises InvalidInput naming the field and what is allowed."""
    limits = {**LIMITS, **(limits or {})}
    fmt = _choice("format", format, FORMATS)
    view = _choice("view", view if view is not None else "contour", VIEWS)
    if view == MAP and fmt not in MAP_FORMATS:
        # The map does not move: a video of one still frame would only hide that.
        raise InvalidInput("view", f"view = map is a still picture (where every run of its sweep ends): it exports "
                                   f"as {', '.join(MAP_FORMATS)}; a {fmt} animates view {', '.join(PATH_VIEWS)}")
    if view == MAP and step is not None:
        raise InvalidInput("step", "step picks the step the contour, surface3d or loss view shows; "
                                   "the map shows where each run ends")
    if frames is not None:
        frames = _whole("frames", frames, *limits["frames"])
    fps = _whole("fps", fps if fps is not None else DEFAULT_FPS, *limits["fps"])
    if fmt == "gif" and fps > GIF_MAX_FPS:
        raise InvalidInput("fps", f"fps = {fps} is more than a GIF can show; allowed: [1, {GIF_MAX_FPS}]")
    width = _whole("width", width if width is not None else DEFAULT_SIZE[0], *limits["width"])
    height = _whole("height", height if height is not None else DEFAULT_SIZE[1], *limits["height"])
    if fmt == "mp4":
        # yuv420p stores colour at half resolution, so H.264 players need even sizes.
        for name, v in (("width", width), ("height", height)):
            if v % 2:
                raise InvalidInput(name, f"{name} = {v} must be even for mp4 (H.264 with yuv420p)")
    if step is not None:
        if fmt not in STILLS:
            raise InvalidInput("step", f"step picks the step of a still ({', '.join(STILLS)}); "
                                       "an animation shows every step")
        step = _whole("step", step, 0, 10**9)
    return Options(fmt, view, frames, fps, width, height, step, bool(loop), bool(autoplay))


def frame_steps(steps: int, frames: int) -> np.ndarray:
    """The step each of `frames` frames shows: 0 to `steps`, evenly spaced; one frame shows the last."""
    if frames == 1:
        return np.array([steps])
    return np.rint(np.linspace(0, steps, frames)).astype(int)


# --- the scene -----------------------------------------------------------------

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

    @classmethod
    def from_runs(cls, runs, labels=()) -> "Scene":
        if not runs:
            raise InvalidInput("optimizers", "choose at least one optimizer")
        return cls({"name": runs[0].surface, **runs[0].surface_params}, list(runs), tuple(labels))

    def name(self, run) -> str:
        """The run's own label when the state gives one, else its optimizer's."""
        i = next(i for i, r in enumerate(self.runs) if r is run)
        own = self.labels[i] if i < len(self.labels) else None
        return own or OPTIMIZERS[run.optimizer].label

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

    def legend_label(self, run, view: str = "contour", newline: str = " ") -> str:
        """The run's name, and when it leaves the view or diverges, at which step (after `newline`)."""
        label = self.name(run)
        notes = []
        left = self.exit(run, view)
        if left is not None and not (view == "loss" and run.diverged_at is not None):
            notes.append(f"left the frame at step {left[0]}")
        if run.diverged_at is not None:
            notes.append(f"diverged at step {run.diverged_at}")
        return f"{label}{newline}({'; '.join(notes)})" if notes else label

    def title(self, step: int | str) -> str:
        return f"{self.spec.label} — step {step} / {self.steps}"

    def loss_gap(self, run) -> np.ndarray:
        """What the loss view plots: f - f* (for a log axis) when f* is known, else f."""
        fmin = self.landmarks[2]
        return run.losses if fmin is None else np.maximum(run.losses - fmin, 1e-16)

    def markers(self, three_d: bool) -> list["Marker"]:
        """The landmarks as drawn: minima, saddle points and the start, in legend order."""
        minima, saddles, _ = self.landmarks
        out = []
        found = " (found numerically)" if self.spec.source else ""  # a typed formula's
        if minima:
            # Plotly's 3-D markers have no star, so a 3-D minimum is a diamond, on the page and here.
            out.append(Marker("minimum" + found, np.asarray(minima, dtype=float), *(("D", "diamond", 7) if three_d else
                                                                          ("*", palette.MINIMUM_SYMBOL, 14))))
        if saddles:
            out.append(Marker("saddle point" + found, np.asarray(saddles, dtype=float), "X", palette.SADDLE_SYMBOL, 9))
        out.append(Marker("start", np.asarray([self.runs[0].start], dtype=float), "o", "circle-open", 9, hollow=True))
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
        fmin = self.landmarks[2]
        if fmin is None:
            return "loss f"
        return "loss f (log)" if fmin == 0 else f"f − f* (log), f* = {fmin:.5g}"

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

# matplotlib is imported where it is used: it is a third of the server's start-up otherwise,
# and only exports need it.

def _cmap():
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("gradscape", palette.CONTOUR_COLOURS)


def _dpi(width: int, height: int) -> float:
    return BASE_DPI * min(max(min(width / BASE_SIZE[0], height / BASE_SIZE[1]), 0.5), 3.0)


def view_coords(scene: Scene, view: str, run) -> tuple[np.ndarray, ...]:
    """The run's line in a view's coordinates, one entry per point."""
    if view == "loss":
        return np.arange(len(run.losses), dtype=float), scene.loss_gap(run)
    if view == "contour":
        return run.points[:, 0], run.points[:, 1]
    # mplot3d and Plotly's 3-D scenes do not clip to the axes box: points off the domain are hidden.
    x = np.where(scene.in_domain(run.points), run.points[:, 0], np.nan)
    return x, run.points[:, 1], scene.height(run.losses)


class Frames:
    """A scene drawn in one view at one size; `frame(step)` gives that step's RGBA pixels."""

    def __init__(self, scene: Scene, view: str, width: int, height: int):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.scene, self.view = scene, view
        self.width, self.height = width, height
        dpi = _dpi(width, height)
        # A hundredth of a pixel more: Agg truncates the figure size to whole pixels.
        self.fig = Figure(figsize=((width + 0.01) / dpi, (height + 0.01) / dpi), dpi=dpi, layout="constrained")
        self.canvas = FigureCanvasAgg(self.fig)
        self._three_d = view == "surface3d"
        self.ax = self.fig.add_subplot(projection="3d" if self._three_d else None)
        getattr(self, f"_draw_{view}")()
        self.coords = [view_coords(scene, view, run) for run in scene.runs]
        self.lines, self.heads, self.dashes, self.exits = [], [], [], []
        # Where each run leaves the plotted frame: (step, the point on the edge in view coordinates).
        self.exit_points = [self._exit_point(run) for run in scene.runs]
        for run, exit_point in zip(scene.runs, self.exit_points):
            colour = palette.colour_for(run.optimizer)
            empty = ([], [], []) if self._three_d else ([], [])
            dash = palette.MPL_DASHES[palette.dash_for(run.optimizer)]
            # Round ends: a trail drawn piece by piece then shows no notch where pieces meet.
            line, = self.ax.plot(*empty, color=colour, lw=LINE_WIDTH, label=scene.legend_label(run, view, "\n"),
                                 linestyle=dash, solid_capstyle="round")
            head, = self.ax.plot(*empty, "o", color=colour, ms=HEAD_SIZE, mec=palette.LANDMARK_COLOUR, mew=1.2)
            marker = EXIT_MARKERS[exit_point[2]] if exit_point else "o"
            # clip_on=False: a marker centred on the edge would otherwise lose its outer half.
            exit_marker, = self.ax.plot(*empty, marker, color=colour, ms=EXIT_SIZE, mec=palette.LANDMARK_COLOUR, mew=1.2,
                                        clip_on=False, zorder=6)
            for artist in (line, head, exit_marker):
                artist.set_in_layout(False)  # drawn per frame; empty when the layout is made
            self.lines.append(line)
            self.heads.append(head)
            self.exits.append(exit_marker)
            self.dashes.append(None if isinstance(dash, str) else dash[1])
        handles = self._legend_handles()
        # The legend hangs on the plot's right edge, not the figure's: next to the plot at any size
        # and shape, however the plot's own aspect narrows it. A long one goes in two columns.
        self.legend = self.ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                                     frameon=False, ncols=1 if len(handles) <= LEGEND_ROWS else 2)
        wide = self.legend.get_window_extent(self.canvas.get_renderer())
        self._legend_below = wide.width > LEGEND_SHARE * width or wide.height > height - 4 * dpi / 72 * 10
        if self._legend_below:  # beside the plot it would leave the plot a sliver: below it, in columns
            self.legend.remove()
            # As many columns as fit the frame's width, in smaller type if even one column does not.
            for fontsize, ncols in [(f, n) for f in ("small", "x-small") for n in (4, 3, 2)] + [("x-small", 1)]:
                self.legend = self.fig.legend(handles=handles, loc="outside lower center", frameon=False,
                                              ncols=ncols, fontsize=fontsize)
                if self.legend.get_window_extent(self.canvas.get_renderer()).width <= 0.98 * width:
                    break
                self.legend.remove()
        # The longest title the animation will show, so the layout leaves room for it.
        # Padded so an exit marker on the top edge stays clear of the title.
        self.title = self.ax.set_title(scene.title(scene.steps), pad=EXIT_SIZE)
        self.dynamic = [*self.lines, *self.exits, *self.heads, self.title]
        for artist in self.dynamic:
            artist.set_animated(True)
        self.canvas.draw()
        self.fig.set_layout_engine("none")  # freeze the layout: later draws must not move the background
        self._centre()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        self._trails = self.background  # the background with the trails drawn so far
        self._drawn = [0] * len(self.lines)  # points of each trail in _trails
        self._last_step = -1
        self._lengths = [self._display_lengths(c) for c in self.coords]
        self._landmarks_px = self._to_pixels(self._landmark_coords())
        self.exit_points = self._spread(self.exit_points)

    def _centre(self) -> None:
        """Hang the legend just right of the plot as drawn, and centre plot, title and legend as a block.

        Constrained layout leaves the room a fixed aspect (the contour's equal axes) takes from the
        plot on both sides of it, and a 3-D plot draws its z axis outside its own box: both would
        leave the legend away from the plot and the block off-centre.
        """
        from matplotlib.transforms import Bbox

        if self._legend_below:
            return  # constrained layout sets plot and legend one above the other, centred
        renderer = self.canvas.get_renderer()
        margin = self.fig.dpi / 72 * 4
        gap = self.fig.dpi / 72 * 8
        for _ in range(3):
            self.legend.set_visible(False)
            plot = self.ax.get_tightbbox(renderer)  # pixels: the plot, its ticks, labels and title
            self.legend.set_visible(True)
            legend = self.legend.get_window_extent(renderer)
            box = self.ax.get_position(original=False)
            too_wide = plot.width + gap + legend.width - (self.width - 2 * margin)
            too_high = plot.height - (self.height - 2 * margin)
            if too_wide <= 0.5 and too_high <= 0.5:
                break
            # Shrink the plot about its centre until the block fits (its labels keep their size).
            scale = min((plot.width - max(too_wide, 0)) / plot.width, (plot.height - max(too_high, 0)) / plot.height)
            w, h = box.width * scale, box.height * scale
            self.ax.set_position(Bbox.from_bounds(box.x0 + (box.width - w) / 2, box.y0 + (box.height - h) / 2, w, h))
            self.canvas.draw()
        top = self.ax.get_window_extent(renderer).y1
        left, right = plot.x0, plot.x1 + gap + legend.width
        bottom, upper = plot.y0, max(plot.y1, top)
        dx = (self.width - (left + right)) / 2
        dy = (self.height - (bottom + upper)) / 2
        self.ax.set_position(self.ax.get_position(original=False).translated(dx / self.width, dy / self.height))
        anchor = ((plot.x1 + gap + dx) / self.width, (top + dy) / self.height)
        self.legend.set_bbox_to_anchor(Bbox.from_bounds(*anchor, 0, 0), transform=self.fig.transFigure)
        self.canvas.draw()

    # Static parts, one method per view.

    def _draw_contour(self):
        xs, ys, z = self.scene.grid(GRID_RESOLUTION["contour"])
        zt = self.scene.height(z)
        levels = self.scene.levels(zt)
        self.ax.contourf(xs, ys, zt, levels=levels, cmap=_cmap(), extend="max")
        self.ax.contour(xs, ys, zt, levels=levels, colors=palette.CONTOUR_LINE_COLOUR, linewidths=0.4)
        for m in self.scene.markers(False):
            self.ax.plot(m.points[:, 0], m.points[:, 1], m.mpl, **m.style())
        (x0, x1), (y0, y1) = self.scene.spec.domain
        self.ax.set_xlim(x0, x1)
        self.ax.set_ylim(y0, y1)
        self.ax.set_aspect("equal")  # so a gradient meets the contours at a right angle
        self.ax.set_xlabel("x")
        self.ax.set_ylabel("y")

    def _draw_surface3d(self):
        xs, ys, z = self.scene.grid(GRID_RESOLUTION["surface3d"])
        from matplotlib.colors import LightSource

        zt = self.scene.height(z)
        X, Y = np.meshgrid(xs, ys)
        # Landmarks are drawn after the surface, not depth-sorted into it: they would vanish in a valley.
        self.ax.computed_zorder = False
        self.ax.plot_surface(X, Y, zt, cmap=_cmap(), rstride=1, cstride=1, linewidth=0, antialiased=False,
                             vmin=0, vmax=float(np.nanmax(zt)), shade=True,
                             lightsource=LightSource(azdeg=315, altdeg=45), zorder=1)
        for m in self.scene.markers(True):
            z = self.scene.landmark_heights(m.points, GRID_RESOLUTION["surface3d"])
            self.ax.plot(m.points[:, 0], m.points[:, 1], z, m.mpl, **m.style())
        (x0, x1), (y0, y1) = self.scene.spec.domain
        self.ax.set_xlim(x0, x1)
        self.ax.set_ylim(y0, y1)
        self.ax.set_zlim(0, float(np.nanmax(zt)))
        self.ax.set_xlabel("x")
        self.ax.set_ylabel("y")
        self.ax.set_zlabel(r"$\log(1 + f - f_{\min})$")
        self.ax.view_init(elev=ELEVATION, azim=AZIMUTH)
        # zoom: mplot3d leaves a wide margin round the box; the plot should fill its frame.
        self.ax.set_box_aspect((1, 1, BOX_HEIGHT), zoom=BOX_ZOOM)

    def _draw_loss(self):
        lo, hi, log = self.scene.loss_range()
        if log:
            self.ax.set_yscale("log")
        self.ax.set_ylim(lo, hi)
        self.ax.set_ylabel(self.scene.loss_title())
        self.ax.set_xlim(0, self.scene.steps)
        self.ax.set_xlabel("step")
        self.ax.grid(True, color="#dddddd", linewidth=0.6)

    def _legend_handles(self):
        from matplotlib.lines import Line2D

        if self.view == "loss":
            return list(self.lines)
        return [*self.lines, *(Line2D([], [], marker=m.mpl, label=m.name, **m.style())
                               for m in self.scene.markers(self._three_d))]

    def _display_lengths(self, coords) -> np.ndarray:
        """Length in pixels of each run's line from its start to each point, for dashes that continue."""
        if self._three_d:
            from mpl_toolkits.mplot3d import proj3d

            xs, ys, _ = proj3d.proj_transform(*coords, self.ax.get_proj())
        else:
            xs, ys = coords
        xy = self.ax.transData.transform(np.column_stack([xs, ys]))
        steps = np.nan_to_num(np.hypot(*np.diff(xy, axis=0).T), nan=0.0, posinf=0.0)
        return np.concatenate([[0.0], np.cumsum(steps)])

    def _trail(self, i: int, start: int, stop: int) -> None:
        """Set line i to points start..stop-1, its dashes continuing from where point `start` lies."""
        line, coords, dashes = self.lines[i], self.coords[i], self.dashes[i]
        if self._three_d:
            line.set_data_3d(*(c[start:stop] for c in coords))
        else:
            line.set_data(*(c[start:stop] for c in coords))
        if dashes is not None:
            # matplotlib counts a dash pattern in points times the line width.
            offset = self._lengths[i][start] * 72 / self.fig.dpi / LINE_WIDTH
            line.set_linestyle((offset % sum(dashes), dashes))

    def _exit_point(self, run) -> tuple[int, tuple, str] | None:
        """The run's exit from the frame in this view's coordinates (3-D: on the surface at the edge)."""
        left = self.scene.exit(run, self.view)
        if left is None:
            return None
        k, point, side = left
        if self._three_d:
            z = self.scene.landmark_heights(point[None, :], GRID_RESOLUTION["surface3d"])[0]
            return k, (point[0], point[1], z), side
        return k, tuple(point), side

    def _spread(self, exits: list) -> list:
        """Exit markers moved apart along their edge where they would cover one another.

        Runs often leave by the same spot (Momentum and Nesterov up the same side of a saddle);
        each marker that meets earlier ones moves one marker's width along the edge per marker met.
        """
        width = self.fig.dpi / 72 * EXIT_SIZE
        if self._three_d:
            # An edge in 3-D has no direction on the screen to move along: ring them instead.
            shown = [i for i, e in enumerate(exits) if e is not None]
            pixels = self._to_pixels([exits[i][1] for i in shown])
            for j, (i, p) in enumerate(zip(shown, pixels)):
                under = int((np.hypot(*(pixels[:j] - p).T) < width).sum()) if j else 0
                if under:
                    marker = self.exits[i]
                    marker.set_markersize(EXIT_SIZE + RING_STEP * under)
                    marker.set_markerfacecolor("none")
                    marker.set_markeredgecolor(marker.get_color())
                    marker.set_markeredgewidth(RING_WIDTH)
            return exits
        placed, out = [], []
        for e in exits:
            if e is None:
                out.append(None)
                continue
            k, point, side = e
            p0 = self._to_pixels([point])[0]
            along = np.array([1.0, 0.0]) if side in ("top", "bottom") else np.array([0.0, 1.0])
            lo, hi = np.sort(self.ax.transData.transform(self.ax.viewLim.get_points()), axis=0)
            # The nearest free spot along the edge: 0, +1, -1, +2, -2, ... widths away, on the edge.
            for shift in (0, *(sign * n for n in range(1, 2 * len(exits) + 1) for sign in (1, -1))):
                p = p0 + shift * 1.05 * width * along
                on_edge = lo @ along <= p @ along <= hi @ along
                if on_edge and all(np.hypot(*(p - q)) >= width for q in placed):
                    break
            else:
                p = p0
            placed.append(p)
            out.append((k, tuple(self.ax.transData.inverted().transform(p)), side))
        return out

    def _landmark_coords(self) -> list[tuple]:
        if self.view == "loss":
            return []
        out = []
        for m in self.scene.markers(self._three_d):
            if self._three_d:
                z = self.scene.landmark_heights(m.points, GRID_RESOLUTION["surface3d"])
                out += [(x, y, h) for (x, y), h in zip(m.points, z)]
            else:
                out += [tuple(p) for p in m.points]
        return out

    def _to_pixels(self, points: list[tuple]) -> np.ndarray:
        """Display pixels of points in view coordinates, shape (n, 2)."""
        if not points:
            return np.zeros((0, 2))
        cols = [np.asarray(c, dtype=float) for c in zip(*points)]
        if self._three_d:
            from mpl_toolkits.mplot3d import proj3d

            cols = proj3d.proj_transform(*cols, self.ax.get_proj())[:2]
        return self.ax.transData.transform(np.column_stack(cols))

    def _heads(self, step: int) -> None:
        """Each run's head at `step`, and its exit marker once it has left the frame.

        Heads on the same spot would hide each other and the landmark under them: a head that
        meets a landmark or earlier heads becomes a ring, one size larger per head it meets, so
        every run at the spot stays visible (a bullseye when all arrive at the minimum).
        """
        points = []
        for head, coords in zip(self.heads, self.coords):
            n = min(step + 1, len(coords[0]))
            point = tuple(c[n - 1] for c in coords)
            points.append(point)
            if self._three_d:
                head.set_data_3d(*(np.array([v]) for v in point))
            else:
                head.set_data(*([v] for v in point))
        pixels = self._to_pixels(points)
        near = self.fig.dpi / 72 * HEAD_SIZE  # two heads closer than a head's width overlap
        for i, (head, colour) in enumerate(zip(self.heads, (palette.colour_for(r.optimizer) for r in self.scene.runs))):
            p = pixels[i]
            ok = np.isfinite(p).all()
            under = int((np.hypot(*(pixels[:i] - p).T) < near).sum()) if ok and i else 0
            on_landmark = ok and bool((np.hypot(*(self._landmarks_px - p).T) < near).any())
            if under or on_landmark:
                head.set_markersize(HEAD_SIZE + RING_STEP * under)
                head.set_markerfacecolor("none")
                head.set_markeredgecolor(colour)
                head.set_markeredgewidth(RING_WIDTH)
            else:
                head.set_markersize(HEAD_SIZE)
                head.set_markerfacecolor(colour)
                head.set_markeredgecolor(palette.LANDMARK_COLOUR)
                head.set_markeredgewidth(1.2)
        for marker, exit_point in zip(self.exits, self.exit_points):
            shown = exit_point is not None and step >= exit_point[0]
            coords = [np.array([v]) for v in exit_point[1]] if shown else [np.array([])] * (3 if self._three_d else 2)
            if self._three_d:
                marker.set_data_3d(*coords)
            else:
                marker.set_data(*coords)
        self.title.set_text(self.scene.title(step))

    def frame(self, step: int) -> np.ndarray:
        """The (height, width, 4) pixels at `step`; a view that the next call overwrites.

        Steps asked in increasing order (an animation) draw each trail only
        from where the previous frame left it: the work per frame is the new
        points, not the whole run. An earlier step starts again from the background.
        """
        if step < self._last_step:
            self._trails, self._drawn = self.background, [0] * len(self.lines)
        self._last_step = step
        self.canvas.restore_region(self._trails)
        grew = False
        for i, coords in enumerate(self.coords):
            n = min(step + 1, len(coords[0]))
            start = max(self._drawn[i] - 1, 0)  # from the last point drawn, so the pieces join
            if n - start >= 2:
                self._trail(i, start, n)
                self.ax.draw_artist(self.lines[i])
                self._drawn[i], grew = n, True
        if grew:
            self._trails = self.canvas.copy_from_bbox(self.fig.bbox)
        self._heads(step)
        shown = [m for m, e in zip(self.exits, self.exit_points) if e is not None and step >= e[0]]
        for artist in (*shown, *self.heads, self.title):
            self.ax.draw_artist(artist)
        return np.asarray(self.canvas.buffer_rgba())

    def svg(self, step: int) -> bytes:
        """The figure at `step` as SVG (vector paths, text as outlines)."""
        for i, coords in enumerate(self.coords):
            self._trail(i, 0, min(step + 1, len(coords[0])))
        self._heads(step)
        for artist in self.dynamic:
            artist.set_animated(False)
        import matplotlib

        buf = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "gradscape"}):
            self.fig.savefig(buf, format="svg")
        return buf.getvalue()


# --- encoders ------------------------------------------------------------------

def rgb_image(rgba: np.ndarray) -> Image.Image:
    """An RGB image of an (height, width, 4) RGBA frame, dropping alpha in C rather than in numpy."""
    h, w = rgba.shape[:2]
    return Image.frombuffer("RGBA", (w, h), np.ascontiguousarray(rgba), "raw", "RGBA", 0, 1).convert("RGB")


class GifWriter:
    """Writes a GIF frame by frame in bounded memory.

    Pillow's own writer keeps every frame until the end; this one maps each frame
    onto one shared palette, crops it to the pixels that changed since the last
    and marks the unchanged ones transparent, then hands it to Pillow's GIF
    block encoder. A frame equal to the last is a one-pixel transparent patch,
    so the file keeps one frame per frame asked for.
    """

    TRANSPARENT = 255

    def __init__(self, fh, key_frame: np.ndarray, fps: int, loop: bool, colours=()):
        self.fh, self.fps = fh, fps
        # The palette: the given colours exactly (thin lines are too few pixels for
        # median cut to keep their hue), then median cut of the frame that holds all
        # the others. Index 255 is kept for "unchanged".
        exact = [int(c[i:i + 2], 16) for c in dict.fromkeys(colours) for i in (1, 3, 5)]
        rgb = rgb_image(key_frame)
        cut = rgb.quantize(colors=self.TRANSPARENT - len(exact) // 3, method=Image.Quantize.MEDIANCUT)
        entries = (exact + cut.getpalette())[: 3 * self.TRANSPARENT]
        # The spare entries repeat entry 0; a pixel mapped to 255 is moved back to 0.
        self.entries = entries + entries[:3] * (256 - len(entries) // 3)
        self.palette = Image.new("P", (1, 1))
        self.palette.putpalette(self.entries)
        self.count = 0
        self.previous = None
        info = {"loop": 0} if loop else {"duration": 1}  # no loop extension: play once
        header, _ = GifImagePlugin.getheader(self._image(np.zeros(key_frame.shape[:2], np.uint8)), None, info)
        for chunk in header:
            fh.write(chunk)

    def _image(self, pixels: np.ndarray) -> Image.Image:
        im = Image.frombytes("P", (pixels.shape[1], pixels.shape[0]), np.ascontiguousarray(pixels).tobytes())
        im.putpalette(self.entries)
        return im

    def add(self, frame: np.ndarray) -> None:
        rgb = rgb_image(frame)
        indexed = np.array(rgb.quantize(palette=self.palette, dither=Image.Dither.NONE))
        indexed[indexed >= self.TRANSPARENT] = 0
        # Delays are whole hundredths, rounded per frame so the total keeps to fps (30 fps: 3, 3, 4, ...).
        delay = round((self.count + 1) * 100 / self.fps) - round(self.count * 100 / self.fps)
        params = {"duration": delay * 10, "disposal": 1}
        if self.previous is None:
            patch, offset = indexed, (0, 0)
        else:
            changed = indexed != self.previous
            rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
            if rows.size:
                y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
                patch = np.where(changed[y0:y1, x0:x1], indexed[y0:y1, x0:x1], self.TRANSPARENT).astype(np.uint8)
                offset = (int(x0), int(y0))
            else:
                patch, offset = np.full((1, 1), self.TRANSPARENT, np.uint8), (0, 0)
            params["transparency"] = self.TRANSPARENT
        for chunk in GifImagePlugin.getdata(self._image(patch), offset, **params):
            self.fh.write(chunk)
        self.previous = indexed
        self.count += 1

    def close(self) -> None:
        self.fh.write(b";")


def _ffmpeg(path: str, width: int, height: int, fps: int):
    import imageio_ffmpeg

    writer = imageio_ffmpeg.write_frames(
        path, (width, height), pix_fmt_in="rgba", pix_fmt_out="yuv420p", fps=fps, codec="libx264",
        quality=None, macro_block_size=1, ffmpeg_log_level="error",
        # -tune animation suits flat colour and thin lines; faststart lets slides play before the end arrives.
        output_params=["-preset", "veryfast", "-tune", "animation", "-crf", "20", "-profile:v", "high",
                       "-movflags", "+faststart", "-f", "mp4"],
    )
    writer.send(None)
    return writer


def _animate(scene: Scene, opts: Options, path: str, progress: Progress | None) -> None:
    frames = Frames(scene, opts.view, opts.width, opts.height)
    steps = frame_steps(scene.steps, opts.frame_count(scene.steps))

    def each_frame():
        for i, step in enumerate(steps):
            yield frames.frame(int(step))
            if progress:
                progress((i + 1) / len(steps))

    if opts.format == "gif":
        colours = [palette.colour_for(r.optimizer) for r in scene.runs] + [palette.LANDMARK_COLOUR, "#ffffff"]
        with open(path, "wb") as fh:
            writer = GifWriter(fh, frames.frame(int(steps[-1])).copy(), opts.fps, opts.loop, colours)
            for frame in each_frame():
                writer.add(frame)
            writer.close()
        return
    writer = _ffmpeg(path, opts.width, opts.height, opts.fps)
    try:
        for frame in each_frame():
            writer.send(frame)
    finally:
        writer.close()


def check(scene: Scene, opts: Options) -> None:
    """What Options alone cannot check: that a still's step is one the runs have."""
    if opts.step is not None and opts.step > scene.steps:
        raise InvalidInput("step", f"step = {opts.step} is outside [0, {scene.steps}]")


def _still(scene: Scene, opts: Options, path: str) -> None:
    frames = Frames(scene, opts.view, opts.width, opts.height)
    step = scene.steps if opts.step is None else opts.step
    if opts.format == "png":
        rgb_image(frames.frame(step)).save(path, format="PNG")
    else:
        Path(path).write_bytes(frames.svg(step))


# --- HTML ----------------------------------------------------------------------

def _plotly_js() -> str:
    return PLOTLY_JS.read_text(encoding="utf-8")


def _eye(elevation: float, azimuth: float, distance: float = 2.44) -> tuple[float, float, float]:
    """Plotly's camera eye for matplotlib's view angles."""
    e, a = np.radians(elevation), np.radians(azimuth)
    return distance * np.cos(e) * np.cos(a), distance * np.cos(e) * np.sin(a), distance * np.sin(e)


def _colourscale() -> list:
    n = len(palette.CONTOUR_COLOURS)
    return [[i / (n - 1), c] for i, c in enumerate(palette.CONTOUR_COLOURS)]


def _landmark_traces(scene: Scene, three_d: bool) -> list[dict]:
    traces = []
    for m in scene.markers(three_d):
        rim = {"color": palette.LANDMARK_COLOUR, "width": 2.5} if m.hollow else {"color": "white", "width": 1}
        trace = {"type": "scatter3d" if three_d else "scatter", "mode": "markers", "name": m.name, "legendrank": 2000,
                 "x": m.points[:, 0], "y": m.points[:, 1], "hoverinfo": "name+x+y",
                 "marker": {"symbol": m.plotly, "size": m.size * (1 if three_d else 1.15),
                            "color": palette.LANDMARK_COLOUR, "line": rim}}
        if three_d:
            trace["z"] = scene.landmark_heights(m.points, GRID_RESOLUTION["html"])
        traces.append(trace)
    return traces


HTML_EXIT_WIDTH = 0.025  # an exit marker's width as a fraction of the plot's side, roughly, at any size
_PLOTLY_EXIT = {"left": "triangle-left", "right": "triangle-right", "bottom": "triangle-down", "top": "triangle-up"}


def _exit_traces(scene: Scene, view: str) -> list[dict]:
    """A marker on the edge where each run leaves the frame, named with the step; each trace carries
    `step` and `at` (its point), and starts empty: the file's player shows it from that step on."""
    three_d = view == "surface3d"
    traces = []
    if view == "loss":
        lo, hi, _ = scene.loss_range()
        spans = ((0.0, float(scene.steps)), (lo, hi))
    else:
        spans = scene.spec.domain
    placed: list[tuple[str, float]] = []  # (side, position along it as a fraction of the edge)
    for run in scene.runs:
        left = scene.exit(run, view)
        if left is None:
            continue
        k, point, side = left
        if not three_d:  # runs leaving by one spot are set side by side, as in the other formats
            axis = 0 if side in ("top", "bottom") else 1
            (a, b), width = spans[axis], HTML_EXIT_WIDTH
            f0 = (point[axis] - a) / (b - a)
            for shift in (0, *(sign * n for n in range(1, 2 * len(scene.runs) + 1) for sign in (1, -1))):
                f = f0 + shift * 1.05 * width
                if 0 <= f <= 1 and all(s != side or abs(f - g) >= width for s, g in placed):
                    break
            else:
                f = f0
            placed.append((side, f))
            point = point.copy()
            point[axis] = a + f * (b - a)
        what = f"diverged at step {run.diverged_at}" if view == "loss" and run.diverged_at is not None \
            else f"left the frame at step {k}"
        trace = {"type": "scatter3d" if three_d else "scatter", "mode": "markers", "showlegend": False,
                 "legendgroup": run.optimizer, "name": f"{scene.name(run)}: {what}",
                 "hoverinfo": "name", "cliponaxis": False, "x": [], "y": [], "step": k,
                 "at": {"x": [point[0]], "y": [point[1]]},
                 "marker": {"symbol": "diamond" if three_d else _PLOTLY_EXIT[side], "size": 7 if three_d else 13,
                            "color": palette.colour_for(run.optimizer),
                            "line": {"color": palette.LANDMARK_COLOUR, "width": 1.2}}}
        if three_d:
            trace.pop("cliponaxis")
            trace["z"] = []
            trace["at"]["z"] = scene.landmark_heights(point[None, :], GRID_RESOLUTION["html"])
        traces.append(trace)
    return traces


def _figure(scene: Scene, view: str) -> tuple[dict, list[dict]]:
    """The Plotly figure without the moving parts, and each run's full line in view coordinates."""
    three_d = view == "surface3d"
    (x0, x1), (y0, y1) = scene.spec.domain
    layout = {"title": {"text": scene.title(scene.steps), "xref": "paper"}, "paper_bgcolor": "white", "plot_bgcolor": "white",
              "margin": {"l": 60, "r": 20, "t": 50, "b": 50}, "legend": {"x": 1.02, "y": 1, "xanchor": "left"},
              "font": {"family": "DejaVu Sans, Arial, sans-serif"}}
    data: list[dict] = []
    grid = scene.grid(GRID_RESOLUTION["html"]) if view != "loss" else None
    if view == "contour":
        xs, ys, z = grid
        zt = scene.height(z)
        levels = scene.levels(zt)
        data.append({"type": "contour", "x": xs, "y": ys, "z": zt, "colorscale": _colourscale(), "showscale": False,
                     "autocontour": False, "hoverinfo": "skip",
                     "contours": {"start": levels[0], "end": levels[-1], "size": levels[1] - levels[0],
                                  "coloring": "fill", "showlines": True},
                     "line": {"color": palette.CONTOUR_LINE_COLOUR, "width": 0.5}})
        layout["xaxis"] = {"range": [x0, x1], "title": {"text": "x"}, "constrain": "domain"}
        layout["yaxis"] = {"range": [y0, y1], "title": {"text": "y"}, "scaleanchor": "x", "constrain": "domain"}
    elif three_d:
        xs, ys, z = grid
        data.append({"type": "surface", "x": xs, "y": ys, "z": scene.height(z), "colorscale": _colourscale(),
                     "showscale": False, "hoverinfo": "skip"})
        layout["scene"] = {"xaxis": {"range": [x0, x1], "title": {"text": "x"}},
                           "yaxis": {"range": [y0, y1], "title": {"text": "y"}},
                           "zaxis": {"title": {"text": "log(1 + f − f_min)"}},
                           "camera": {"eye": dict(zip("xyz", _eye(ELEVATION, AZIMUTH)))},
                           "aspectmode": "manual", "aspectratio": {"x": 1, "y": 1, "z": BOX_HEIGHT}}
    else:
        lo, hi, log = scene.loss_range()
        layout["xaxis"] = {"range": [0, scene.steps], "title": {"text": "step"}}
        # A fixed range, or Plotly would rescale the axis as the lines grow.
        layout["yaxis"] = {"type": "log" if log else "linear", "title": {"text": scene.loss_title()},
                           "range": [np.log10(lo), np.log10(hi)] if log else [lo, hi]}
    if view != "loss":
        data.extend(_landmark_traces(scene, three_d))
    data.extend(_exit_traces(scene, view))
    runs = []
    for run in scene.runs:
        colour, dash = palette.colour_for(run.optimizer), palette.dash_for(run.optimizer)
        # Seven digits are more than a screen shows, and half the bytes of full precision; a run
        # heading off to 1e300 is clipped far off-screen, not turned into infinity (a gap).
        coords = zip("xyz", view_coords(scene, view, run))
        runs.append({a: np.clip(c, -1e30, 1e30).astype(np.float32) for a, c in coords})
        kind = "scatter3d" if three_d else "scatter"
        data.append({"type": kind, "mode": "lines", "name": scene.legend_label(run, view, "<br>"), "legendgroup": run.optimizer,
                     "x": [], "y": [], **({"z": []} if three_d else {}),
                     "line": {"color": colour, "dash": dash, "width": 5 if three_d else 2.5}})
        data.append({"type": kind, "mode": "markers", "showlegend": False, "legendgroup": run.optimizer,
                     "hoverinfo": "skip", "x": [], "y": [], **({"z": []} if three_d else {}),
                     "marker": {"color": colour, "size": 6 if three_d else 12,
                                "line": {"color": palette.LANDMARK_COLOUR, "width": 1.5}}})
    return {"data": data, "layout": layout}, runs


# A plot keeping x and y to scale (the contour, a map of starts) narrows its plot area: hang the legend
# on that area's right edge (unless it lies below the plot) and centre the title over it, at any window
# size, instead of the page's edges.
_HUG = """
function hug(gd) {
  const full = gd._fullLayout;
  if (!full || !full.xaxis) return;
  const [a, b] = full.xaxis.domain, x = b + 0.01, middle = (a + b) / 2, update = {};
  if (full.showlegend && full.legend.orientation !== "h" && Math.abs(full.legend.x - x) > 1e-3) {
    Object.assign(update, {"legend.x": x, "legend.xanchor": "left"});
  }
  if (Math.abs(full.title.x - middle) > 1e-3) Object.assign(update, {"title.x": middle, "title.xanchor": "center"});
  if (Object.keys(update).length) Plotly.relayout(gd, update);
  // A colour bar too (the map's): beside the plot, not at the page's edge.
  const bars = gd._fullData.filter((t) => t.showscale && t.colorbar && Math.abs(t.colorbar.x - x) > 1e-3);
  if (bars.length) Plotly.restyle(gd, {"colorbar.x": x, "colorbar.xanchor": "left"}, bars.map((t) => t.index));
}
"""

_PLAYER = _HUG + """
(() => {
  const D = JSON.parse(document.getElementById("gradscape-data").textContent);
  const gd = document.getElementById("plot");
  const scrub = document.getElementById("scrub"), play = document.getElementById("play");
  const label = document.getElementById("step");
  const axes = D.three_d ? ["x", "y", "z"] : ["x", "y"];
  const traces = D.runs.flatMap((_, j) => [D.first + 2 * j, D.first + 2 * j + 1]).concat(D.exits.map(e => e.trace));
  let shown = 0, playing = false, last = -Infinity;
  function show(i) {
    shown = i;
    const k = D.frames[i], update = {};
    axes.forEach(a => update[a] = []);
    D.runs.forEach(run => {
      const n = Math.min(k + 1, run.x.length);
      axes.forEach(a => { update[a].push(run[a].slice(0, n)); update[a].push(run[a].slice(n - 1, n)); });
    });
    // A run's exit marker appears at the step it leaves the frame, not before.
    D.exits.forEach(e => axes.forEach(a => update[a].push(k >= e.step ? e[a] : [])));
    Plotly.update(gd, update, {"title.text": D.title.replace("{step}", k)}, traces);
    scrub.value = i;
    label.textContent = "step " + k;
  }
  function tick(t) {
    if (!playing) return;
    if (t - last >= 1000 / D.fps) {
      last = t;
      if (shown + 1 < D.frames.length) show(shown + 1);
      else if (D.loop) show(0);
      else { setPlaying(false); return; }
    }
    requestAnimationFrame(tick);
  }
  function setPlaying(on) {
    playing = on;
    play.textContent = on ? "Pause" : "Play";
    if (on) {
      if (shown + 1 >= D.frames.length) show(0);
      last = -Infinity;
      requestAnimationFrame(tick);
    }
  }
  play.addEventListener("click", () => setPlaying(!playing));
  scrub.addEventListener("input", () => { setPlaying(false); show(Number(scrub.value)); });
  document.addEventListener("keydown", e => {
    if (e.key === " " && e.target === document.body) { e.preventDefault(); setPlaying(!playing); }
  });
  const hugs = () => { if (!D.three_d) hug(gd); };
  Plotly.newPlot(gd, D.figure.data, D.figure.layout, D.config).then(() => {
    hugs();
    gd.on("plotly_afterplot", hugs);
    show(D.autoplay ? 0 : D.frames.length - 1);  // paused, it opens on the whole paths
    setPlaying(D.autoplay);
  });
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="Gradscape">
<title>{title}</title>
<style>
html, body {{ margin: 0; height: 100%; background: #fff; font-family: system-ui, sans-serif; }}
body {{ display: flex; flex-direction: column; }}
#plot {{ flex: 1; min-height: 0; }}
{style}
</style>
</head>
<body>
<div id="plot"></div>
{below}
<script>{plotly}</script>
<script id="gradscape-data" type="application/json">{data}</script>
<script>{script}</script>
</body>
</html>
"""
_PLAYER_STYLE = """#controls { display: flex; align-items: center; gap: 0.75em; padding: 0.4em 1em 0.6em; }
#scrub { flex: 1; }
#play { font: inherit; min-width: 5.5em; }
#step { min-width: 7em; font-variant-numeric: tabular-nums; }"""
_PLAYER_CONTROLS = """<div id="controls">
<button id="play" type="button">Play</button>
<input id="scrub" type="range" min="0" max="{last}" value="0" step="1" aria-label="Frame">
<output id="step" for="scrub"></output>
</div>"""


def _html_page(title: str, payload: dict, script: str, style: str = "", below: str = "") -> str:
    """A page of one plot filling the window, with plotly.js, the data and `script` inline."""
    # Inlined scripts end at the first "</script"; plotly.js has none today, and an escaped one means the same.
    plotly_js = _plotly_js().replace("</script", "<\\/script")
    return _PAGE.format(title=html.escape(title), style=style, below=below, plotly=plotly_js, data=_json(payload),
                        script=script)


def _json(obj) -> str:
    # "<" only occurs inside JSON strings, where \\u003c means the same and cannot close the script.
    text = orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY, default=np.ndarray.tolist).decode()
    return text.replace("<", "\\u003c")


def html_document(scene: Scene, opts: Options) -> str:
    """A self-contained page: plotly.js, the data and the player inline, no external reference."""
    figure, runs = _figure(scene, opts.view)
    # Exit markers: which trace, the step from which it shows, and its point.
    exits = [{"trace": i, "step": t.pop("step"), **t.pop("at")} for i, t in enumerate(figure["data"]) if "at" in t]
    payload = {
        "exits": exits,
        "figure": figure,
        "config": {"displaylogo": False, "responsive": True},
        "runs": runs,
        "first": len(figure["data"]) - 2 * len(runs),
        "three_d": opts.view == "surface3d",
        "frames": frame_steps(scene.steps, opts.frame_count(scene.steps)),
        "title": scene.title("{step}"),
        "fps": opts.fps,
        "loop": opts.loop,
        "autoplay": opts.autoplay,
    }
    return _html_page(scene.title(scene.steps), payload, _PLAYER, _PLAYER_STYLE,
                      _PLAYER_CONTROLS.format(last=len(payload["frames"]) - 1))


# --- the map -------------------------------------------------------------------

MAP_MINIMUM_SIZE = 15.0  # points: a minimum's star on a map of starts
MAP_RING_SIZE = 13.0  # points: the ring round the link's own settings


def _map_cmap():
    """The page's viridis, light for the low end of the scale (a low loss, few steps)."""
    from matplotlib.colors import LinearSegmentedColormap

    from app import maps

    return LinearSegmentedColormap.from_list("gradscape-map", maps.VIRIDIS[::-1])


def _power_label(label: str) -> str:
    """A tick label of Scale.ticks as mathtext: 10^-3 as a raised power."""
    base, _, power = label.partition("^")
    return f"$10^{{{power}}}$" if power else base


class MapFigure:
    """The map as a still: cells coloured as on the page, its axes (log where the registry says), the
    link's own settings ringed, the minima starred on a map of starts, a colour bar or a key, and a title."""

    def __init__(self, data, width: int, height: int):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        self.data, self.width, self.height = data, width, height
        m = data.settings
        dpi = _dpi(width, height)
        self.fig = Figure(figsize=((width + 0.01) / dpi, (height + 0.01) / dpi), dpi=dpi, layout="constrained")
        self.canvas = FigureCanvasAgg(self.fig)
        ax = self.ax = self.fig.add_subplot()
        xe, ye = data.edges("x"), data.edges("y")
        if m.x.log:
            ax.set_xscale("log")
        if m.y.log:
            ax.set_yscale("log")
        # Rasterized in an SVG: 16,384 cells as vector squares would weigh megabytes and show seams.
        self.mesh = ax.pcolormesh(xe, ye, data.colours().transpose(1, 0, 2) / 255.0, shading="flat",
                                  rasterized=True, antialiased=False, linewidth=0)
        ax.set_xlim(xe[0], xe[-1])
        ax.set_ylim(ye[0], ye[-1])
        ax.set_xlabel(m.x.label)
        ax.set_ylabel(m.y.label)
        if m.of_starts:
            ax.set_aspect("equal")  # a map of starts is a map of the plane, as on the contour
        handles = []
        if m.color == "basin":
            for i, (colour, label, _) in enumerate(data.key()[:len(data.minima)]):
                # A dark rim: the star stands on cells of its own colour.
                style = {"color": colour, "ms": MAP_MINIMUM_SIZE, "mec": palette.LANDMARK_COLOUR, "mew": 1.2,
                         "linestyle": "none"}
                if m.of_starts:
                    ax.plot(*data.minima[i], "*", zorder=5, **style)
                handles.append(Line2D([], [], marker="*", label=label, **style))
            rest = data.key()[len(data.minima):]
        else:
            rest = data.key()
            if m.of_starts and data.minima:
                points = np.asarray(data.minima, dtype=float)
                style = {"color": palette.LANDMARK_COLOUR, "ms": MAP_MINIMUM_SIZE, "mec": "white", "mew": 1.2,
                         "linestyle": "none"}
                ax.plot(points[:, 0], points[:, 1], "*", zorder=5, **style)
                handles.append(Line2D([], [], marker="*", label="minimum", **style))
        handles += [Patch(facecolor=colour, edgecolor="#888888", linewidth=0.5, label=label) for colour, label, _ in rest]
        cx, cy = data.current
        ax.plot([cx], [cy], "o", ms=MAP_RING_SIZE, mfc="none", mec="white", mew=4.5, zorder=6)
        ring = {"marker": "o", "ms": MAP_RING_SIZE, "mfc": "none", "mec": "black", "mew": 1.8, "linestyle": "none"}
        ax.plot([cx], [cy], zorder=7, **ring)
        handles.append(Line2D([], [], label=data.current_label(), **ring))
        # Over the whole block (plot and colour bar or key), which is centred in the frame.
        self.title = self.fig.suptitle(data.title())
        self.colorbar = None
        if m.color != "basin":
            sc = data.scale()
            self.colorbar = self.fig.colorbar(ScalarMappable(Normalize(sc.lo, sc.hi), _map_cmap()), ax=ax,
                                              fraction=0.05, pad=0.02)
            self.colorbar.set_label(sc.title)
            if sc.log:
                ticks = sc.ticks()
                self.colorbar.set_ticks([t for t, _ in ticks], labels=[_power_label(label) for _, label in ticks])
            self.colorbar.outline.set_visible(False)
            # Beside a colour bar, the key goes below the plot.
            self.legend = self.fig.legend(handles=handles, loc="outside lower center", frameon=False,
                                          ncols=len(handles), fontsize="small")
            if self.legend.get_window_extent(self.canvas.get_renderer()).width > 0.98 * width:
                self.legend.remove()
                self.legend = self.fig.legend(handles=handles, loc="outside lower center", frameon=False,
                                              ncols=max(1, (len(handles) + 1) // 2), fontsize="small")
        else:
            self.legend = self.fig.legend(handles=handles, loc="outside right upper", frameon=False)
        self.canvas.draw()
        self._centre(handles)

    def _centre(self, handles) -> None:
        """Hang the colour bar or the key just right of the plot as drawn, and centre them as a block:
        constrained layout leaves the width an equal-aspect plot does not use between them."""
        from matplotlib.transforms import Bbox

        renderer = self.canvas.get_renderer()
        self.fig.set_layout_engine("none")
        gap, margin = self.fig.dpi / 72 * 10, self.fig.dpi / 72 * 4
        plot = self.ax.get_tightbbox(renderer)
        if self.colorbar is None:
            # Constrained layout left the key its room beside the plot's box, which labels on a long axis
            # may overrun: narrow the plot (its labels keep their size) until both fit the frame.
            for _ in range(3):
                key = self.legend.get_window_extent(renderer)
                too_wide = plot.width + gap + key.width - (self.width - 2 * margin)
                if too_wide <= 0.5:
                    break
                box = self.ax.get_position(original=False)
                self.ax.set_position([box.x0, box.y0, box.width - too_wide / self.width, box.height])
                self.canvas.draw()
                plot = self.ax.get_tightbbox(renderer)
        if self.colorbar is not None:
            cax, box = self.colorbar.ax, self.ax.get_position(original=False)
            bar = cax.get_position(original=False)
            cax.set_position([box.x1 + gap / self.width, box.y0, bar.width, box.height])
            right = cax.get_tightbbox(renderer).x1
            dx = (self.width - (right - plot.x0)) / 2 - plot.x0
            for a in (self.ax, cax):
                a.set_position(a.get_position(original=False).translated(dx / self.width, 0))
            self.canvas.draw()
            return
        key = self.legend.get_window_extent(renderer)
        dx = (self.width - (plot.width + gap + key.width)) / 2 - plot.x0
        self.ax.set_position(self.ax.get_position(original=False).translated(dx / self.width, 0))
        box = self.ax.get_window_extent(renderer)
        self.legend.remove()
        anchor = Bbox.from_bounds((plot.x1 + dx + gap) / self.width, box.y1 / self.height, 0, 0)
        self.legend = self.fig.legend(handles=handles, loc="upper left", bbox_to_anchor=anchor, frameon=False,
                                      borderaxespad=0)
        self.canvas.draw()

    def rgba(self) -> np.ndarray:
        return np.asarray(self.canvas.buffer_rgba())

    def svg(self) -> bytes:
        import matplotlib

        buf = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "gradscape"}):
            self.fig.savefig(buf, format="svg")
        return buf.getvalue()


def _map_traces(data) -> list[dict]:
    """The map as Plotly traces: heatmaps of the cells (hover: the page's words for a cell), the minima,
    the link's own settings, and legend entries for the categorical colours."""
    from app import maps

    m = data.settings
    nx, ny = data.shape
    text = [["<br>".join(data.describe(i, j).split("\n")) for i in range(nx)] for j in range(ny)]
    hover = {"text": text, "hovertemplate": "%{text}<extra></extra>", "hoverongaps": False}
    cells = {"type": "heatmap", "x": data.edges("x"), "y": data.edges("y"), "xgap": 0, "ygap": 0, **hover}

    def grid(values) -> list:
        """(nx, ny) values as Plotly's z, a row per y; NaN as a gap (null)."""
        return [[None if not np.isfinite(v) else float(v) for v in row] for row in np.asarray(values, float).T]

    traces = []
    if m.color == "basin":
        labels = data.labels()
        codes = list(range(DIVERGED, len(data.minima)))  # -2 diverged, -1 not converged, then minima
        colours = [maps.DIVERGED_COLOUR, maps.NOT_CONVERGED_COLOUR,
                   *(maps.BASIN_COLOURS[b % len(maps.BASIN_COLOURS)] for b in range(len(data.minima)))]
        n = len(codes)
        scale = [stop for k, c in enumerate(colours) for stop in ([k / n, c], [(k + 1) / n, c])]
        traces.append({**cells, "name": "basin", "z": grid(labels), "zmin": codes[0] - 0.5, "zmax": codes[-1] + 0.5,
                       "colorscale": scale, "showscale": False})
    else:
        sc = data.scale()
        shown = np.where(data.diverged, np.nan, sc.values)
        n = len(maps.VIRIDIS)
        colourbar = {"title": {"text": sc.title, "side": "right"}, "thickness": 14, "len": 0.9, "outlinewidth": 0}
        if sc.log:
            ticks = sc.ticks()
            colourbar.update(tickvals=[t for t, _ in ticks],
                             ticktext=[re.sub(r"\^(.+)", r"<sup>\1</sup>", label) for _, label in ticks])
        traces.append({**cells, "name": sc.title, "z": grid(shown), "zmin": sc.lo, "zmax": sc.hi,
                       "colorscale": [[i / (n - 1), c] for i, c in enumerate(maps.VIRIDIS)], "reversescale": True,
                       "colorbar": colourbar})
        # Diverged cells (1) and those never converging (0), in the key's colours, over the gaps above.
        special = np.where(data.diverged, 1.0, np.where(np.isfinite(sc.values), np.nan, 0.0))
        if np.isfinite(special).any():
            traces.append({**cells, "name": "diverged or not converged", "z": grid(special), "zmin": 0, "zmax": 1,
                           "showscale": False, "colorscale": [[0, maps.NOT_CONVERGED_COLOUR], [0.5, maps.NOT_CONVERGED_COLOUR],
                                                              [0.5, maps.DIVERGED_COLOUR], [1, maps.DIVERGED_COLOUR]]})

    def marker(name, x, y, symbol, colour, size, line="white", width=1.2, legend=True) -> dict:
        return {"type": "scatter", "mode": "markers", "name": name, "x": x, "y": y, "showlegend": legend,
                "hoverinfo": "name" if x[0] is not None else "skip", "cliponaxis": False,
                "marker": {"symbol": symbol, "size": size, "color": colour, "line": {"color": line, "width": width}}}

    key = data.key()
    if m.color == "basin":
        for i, (colour, label, _) in enumerate(key[:len(data.minima)]):
            at = data.minima[i] if m.of_starts else (None, None)
            traces.append(marker(label, [at[0]], [at[1]], palette.MINIMUM_SYMBOL, colour, MAP_MINIMUM_SIZE * 1.15,
                                  line=palette.LANDMARK_COLOUR))
        key = key[len(data.minima):]
    elif m.of_starts and data.minima:
        points = np.asarray(data.minima, dtype=float)
        traces.append(marker("minimum", list(points[:, 0]), list(points[:, 1]), palette.MINIMUM_SYMBOL,
                             palette.LANDMARK_COLOUR, MAP_MINIMUM_SIZE * 1.15))
    for colour, label, _ in key:
        traces.append(marker(label, [None], [None], "square", colour, 12, line="#888888", width=0.5))
    cx, cy = data.current
    traces.append(marker("", [cx], [cy], "circle-open", "#ffffff", 19, line="#ffffff", width=5, legend=False))
    traces.append(marker(data.current_label(), [cx], [cy], "circle-open", "#000000", 17, line="#000000", width=2))
    return traces


def map_plotly_figure(data) -> dict:
    """The map as a Plotly figure: the page's colours, axes, ring and key, with hover on every cell."""
    m = data.settings

    def axis(a, edges) -> dict:
        lo, hi = float(edges[0]), float(edges[-1])
        return {"title": {"text": a.label}, "type": "log" if a.log else "linear", "showgrid": False,
                "zeroline": False, "ticks": "outside", "mirror": True, "linecolor": "#444",
                "exponentformat": "power", "range": [np.log10(lo), np.log10(hi)] if a.log else [lo, hi]}

    layout = {"title": {"text": data.title(), "x": 0.5, "xanchor": "center"}, "paper_bgcolor": "white",
              "plot_bgcolor": "#f3f5f7", "font": {"family": "DejaVu Sans, Arial, sans-serif"},
              "xaxis": axis(m.x, data.edges("x")), "yaxis": axis(m.y, data.edges("y")), "hovermode": "closest",
              "margin": {"l": 70, "r": 20, "t": 60, "b": 60}}
    if m.of_starts:
        layout["yaxis"].update(scaleanchor="x", constrain="domain")
        layout["xaxis"]["constrain"] = "domain"
    if m.color == "basin":
        layout["legend"] = {"x": 1.02, "y": 1, "xanchor": "left"}
    else:
        # The colour bar takes the right; the key goes under the plot.
        layout["legend"] = {"orientation": "h", "x": 0.5, "xanchor": "center", "yref": "container", "y": 0,
                            "yanchor": "bottom"}
        layout["margin"]["b"] = 95
    return {"data": _map_traces(data), "layout": layout}


_MAP_NOTE = ('<p id="note">Hover a cell for its settings and where its run ended; drag to zoom, double-click for '
             'the whole map.</p>')
_MAP_SCRIPT = _HUG + """
(() => {
  const D = JSON.parse(document.getElementById("gradscape-data").textContent);
  const gd = document.getElementById("plot");
  Plotly.newPlot(gd, D.figure.data, D.figure.layout, D.config).then(() => {
    hug(gd);
    gd.on("plotly_afterplot", () => hug(gd));
  });
})();
"""


def map_html_document(data) -> str:
    """The map as a self-contained interactive page: plotly.js and the data inline, no external reference."""
    payload = {"figure": map_plotly_figure(data), "config": {"displaylogo": False, "responsive": True}}
    return _html_page(data.title(), payload, _MAP_SCRIPT, "#note { margin: 0; padding: 0.3em 1em 0.6em; color: #444; }",
                      _MAP_NOTE)


def _map_file(data, opts: Options, path: str) -> None:
    if opts.format == "html":
        Path(path).write_text(map_html_document(data), encoding="utf-8")
        return
    figure = MapFigure(data, opts.width, opts.height)
    if opts.format == "png":
        rgb_image(figure.rgba()).save(path, format="PNG")
    else:
        Path(path).write_bytes(figure.svg())


# --- entry point ---------------------------------------------------------------

def export(scene, opts: Options, out: str | os.PathLike, progress: Progress | None = None) -> Path:
    """Write `scene` (a Scene, or for the map view an app.maps.MapData) to `out` in `opts.format`;
    the file appears whole or not at all."""
    out = Path(out)
    check(scene, opts)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    os.close(fd)
    try:
        if opts.view == MAP:
            _map_file(scene, opts, tmp)
        elif opts.format == "html":
            Path(tmp).write_text(html_document(scene, opts), encoding="utf-8")
        elif opts.format in STILLS:
            _still(scene, opts, tmp)
        else:
            _animate(scene, opts, tmp, progress)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if progress:
        progress(1.0)
    return out
