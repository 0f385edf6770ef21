"""Frames drawn with matplotlib's Agg renderer.

Everything that does not move (the contours or the 3-D surface, the landmarks,
the axes, the legend) is drawn once and kept as a pixel buffer; each frame
restores that buffer and draws only the trajectory lines, their heads and the
title over it.
"""

from __future__ import annotations

import io

import numpy as np

from app import palette
from app.exports.scene import AZIMUTH, BOX_HEIGHT, ELEVATION, GRID_RESOLUTION, Scene, view_coords

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
BOX_ZOOM = 1.2


# matplotlib is imported where it is used: it is a third of the server's start-up otherwise,
# and only exports need it.

def _cmap():
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("gradscape", palette.CONTOUR_COLOURS)


def dpi_for(width: int, height: int) -> float:
    return BASE_DPI * min(max(min(width / BASE_SIZE[0], height / BASE_SIZE[1]), 0.5), 3.0)


class Frames:
    """A scene drawn in one view at one size; `frame(step)` gives that step's RGBA pixels."""

    def __init__(self, scene: Scene, view: str, width: int, height: int, tolerance: float | None = None,
                 subtitle: str = "", last_step: int | None = None):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.scene, self.view = scene, view
        # What each run's legend entry says, and from which step: it left the frame, diverged, or (with a
        # tolerance) came within it of a minimum.
        self.events = [scene.events(run, view, tolerance) for run in scene.runs]
        # The last step drawn (a still's own step): the legend is laid out for what its labels say by then.
        self.last_step = last_step
        self.names = [scene.name(run) for run in scene.runs]
        self.width, self.height = width, height
        dpi = dpi_for(width, height)
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
            line, = self.ax.plot(*empty, color=colour, lw=LINE_WIDTH, label=self._label(len(self.lines), None),
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
        # Padded so an exit marker on the top edge stays clear of the title (and of the subtitle under it).
        pad = EXIT_SIZE
        if subtitle:
            # parse_math=False: a teacher's "$" is a dollar, not the start of mathtext.
            self.subtitle = self.ax.annotate(subtitle, (0.5, 1.0), xycoords="axes fraction", xytext=(0, EXIT_SIZE),
                                             textcoords="offset points", ha="center", va="bottom", fontsize="medium",
                                             color="#333333", parse_math=False)
            pad += 1.6 * self.subtitle.get_fontsize()
        self.title = self.ax.set_title(scene.title(scene.steps), pad=pad, fontsize="large")
        # The legend says what has happened by the step shown: its texts are drawn with each frame.
        self.legend_texts = list(self.legend.get_texts())[:len(scene.runs)]
        self.dynamic = [*self.lines, *self.exits, *self.heads, self.title]
        for artist in self.dynamic:
            artist.set_animated(True)
        self.canvas.draw()
        self.fig.set_layout_engine("none")  # freeze the layout: later draws must not move the background
        self._centre()
        # Hidden from the background only once the layout is made: the layout leaves room for the longest labels.
        renderer = self.canvas.get_renderer()
        self._legend_px = self._pixel_box([t.get_window_extent(renderer) for t in self.legend_texts])
        for text in self.legend_texts:
            text.set_visible(False)
        self.canvas.draw()
        self._labels_drawn = None  # the legend texts in _trails
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
        self.ax.set_xlabel(self.scene.axes[0])
        self.ax.set_ylabel(self.scene.axes[1])

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
        self.ax.set_xlabel(self.scene.axes[0])
        self.ax.set_ylabel(self.scene.axes[1])
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
        self.ax.set_xlabel(self.scene.t("step"))
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

    def _label(self, i: int, step: int | None) -> str:
        label = self.scene.label_at(self.names[i], self.events[i], "\n", self.last_step if step is None else step)
        if step is None:
            return label
        # As many lines as the label at the end, whose lines the legend was laid out for: a shorter
        # one would sit on the last line's baseline, away from its line sample.
        missing = self._label(i, None).count("\n") - label.count("\n")
        return label + "\n " * missing

    def _pixel_box(self, boxes) -> tuple[int, int, int, int] | None:
        """The pixels round display boxes as Agg's regions count them: x0, y0, x1, y1 from the top left."""
        if not boxes:
            return None
        x0 = max(int(np.floor(min(b.x0 for b in boxes))) - 2, 0)
        x1 = min(int(np.ceil(max(b.x1 for b in boxes))) + 2, self.width)
        y0 = max(self.height - int(np.ceil(max(b.y1 for b in boxes))) - 2, 0)
        y1 = min(self.height - int(np.floor(min(b.y0 for b in boxes))) + 2, self.height)
        return x0, y0, x1, y1

    def _legend_at(self, step: int) -> bool:
        """Draw the legend texts as they read at `step` if they read otherwise in the canvas; True if drawn.

        Their labels change at a few steps only, and drawing text is most of a frame's time: they are
        drawn into the cached trails when they change, not every frame.
        """
        labels = [self._label(i, step) for i in range(len(self.legend_texts))]
        if labels == self._labels_drawn:
            return False
        if self._labels_drawn is not None and self._legend_px is not None:
            # The old texts go: their pixels from the background, which has none.
            self.canvas.restore_region(self.background, bbox=self._legend_px, xy=(0, 0))  # xy: where the region starts
        for text, label in zip(self.legend_texts, labels):
            text.set_text(label)
            text.set_visible(True)
            self.fig.draw_artist(text)
            text.set_visible(False)
        self._labels_drawn = labels
        return True

    def frame(self, step: int) -> np.ndarray:
        """The (height, width, 4) pixels at `step`; a view that the next call overwrites.

        Steps asked in increasing order (an animation) draw each trail only
        from where the previous frame left it: the work per frame is the new
        points, not the whole run. An earlier step starts again from the background.
        """
        if step < self._last_step:
            self._trails, self._drawn, self._labels_drawn = self.background, [0] * len(self.lines), None
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
        if self._legend_at(step):
            grew = True
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
        for i, text in enumerate(self.legend_texts):
            text.set_text(self._label(i, step))
            text.set_visible(True)
        import matplotlib

        buf = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "gradscape"}):
            self.fig.savefig(buf, format="svg")
        return buf.getvalue()

