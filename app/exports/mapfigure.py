"""The map view drawn: a matplotlib still (PNG, SVG) and the Plotly figure of its HTML export."""

from __future__ import annotations

import io
import re
from pathlib import Path

import matplotlib
import numpy as np

from app import i18n, palette
from app.exports import maps
from app.exports.frames import dpi_for
from core.explore import DIVERGED

MAP_MINIMUM_SIZE = 15.0  # points: a minimum's star on a map of starts
MAP_RING_SIZE = 13.0  # points: the ring round the link's own settings



def _map_cmap():
    """The page's viridis, light for the low end of the scale (a low loss, few steps)."""
    from matplotlib.colors import LinearSegmentedColormap

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
        dpi = dpi_for(width, height)
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
        ax.set_xlabel(data.axis_label(m.x))
        ax.set_ylabel(data.axis_label(m.y))
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
                handles.append(Line2D([], [], marker="*", label=data.t("minimum"), **style))
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
        buf = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "gradscape"}):
            self.fig.savefig(buf, format="svg")
        return buf.getvalue()


def _map_traces(data) -> list[dict]:
    """The map as Plotly traces: heatmaps of the cells (hover: the page's words for a cell), the minima,
    the link's own settings, and legend entries for the categorical colours."""
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
        return {"title": {"text": data.axis_label(a)}, "type": "log" if a.log else "linear", "showgrid": False,
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


def map_still(data, opts, path: str) -> None:
    """The map as a PNG or SVG file."""
    from app.exports.animation import rgb_image

    # Every text artist takes its fonts when made: Chinese glyphs from a CJK font, the rest as in English.
    with matplotlib.rc_context(i18n.font_rc(data.lang)):
        figure = MapFigure(data, opts.width, opts.height)
    if opts.format == "png":
        rgb_image(figure.rgba()).save(path, format="PNG")
    else:
        Path(path).write_bytes(figure.svg())
