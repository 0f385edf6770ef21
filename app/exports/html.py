"""Self-contained HTML exports: the page's own plotly.js, the data and a small player, all inline.

The player's JavaScript lives in static/js/export/ and is read when a file is
written, so it is edited, linted and served as JavaScript, not as Python strings.
"""

from __future__ import annotations

import html
from functools import lru_cache

import numpy as np
import orjson

from app import i18n, palette
from app.exports.bundle import bundle
from app.exports.mapfigure import map_plotly_figure
from app.exports.options import Options, frame_steps
from app.exports.scene import AZIMUTH, BOX_HEIGHT, ELEVATION, GRID_RESOLUTION, Scene, view_coords
from app.settings import PLOTLY_2D_JS, PLOTLY_JS, STATIC
from core import OPTIMIZERS

PLAYER_JS = STATIC / "js" / "export"


def plotly_js(three_d: bool = True) -> str:
    """The vendored plotly.js; without its 3-D trace types unless `three_d`."""
    return (PLOTLY_JS if three_d else PLOTLY_2D_JS).read_text(encoding="utf-8")


@lru_cache(maxsize=4)
def player_script(name: str) -> str:
    """static/js/export/<name>.js, after the shared hug() every export's plot calls."""
    return "\n".join((PLAYER_JS / f"{part}.js").read_text(encoding="utf-8") for part in ("hug", name))

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


def _exit_traces(scene: Scene, view: str, every: bool = False) -> list[dict]:
    """A marker on the edge where each run leaves the frame, named with the step; each trace carries
    `step` and `at` (its point), and starts empty: the file's player shows it from that step on.
    `every`: a trace for each run, with no step where it stays in view, for a player that recomputes runs."""
    three_d = view == "surface3d"
    traces = []
    if every:
        hidden = [{"type": "scatter3d" if three_d else "scatter", "mode": "markers", "showlegend": False,
                   "legendgroup": run.optimizer, "name": scene.name(run), "hoverinfo": "name", "x": [], "y": [],
                   **({"z": []} if three_d else {"cliponaxis": False}), "step": None, "run": j,
                   "at": {a: [] for a in ("xyz" if three_d else "xy")},
                   "marker": {"symbol": "diamond" if three_d else "triangle-up", "size": 7 if three_d else 13,
                              "color": palette.colour_for(run.optimizer),
                              "line": {"color": palette.LANDMARK_COLOUR, "width": 1.2}}}
                  for j, run in enumerate(scene.runs)]
    if view == "loss":
        lo, hi, _ = scene.loss_range()
        spans = ((0.0, float(scene.steps)), (lo, hi))
    else:
        spans = scene.spec.domain
    placed: list[tuple[str, float]] = []  # (side, position along it as a fraction of the edge)
    for j, run in enumerate(scene.runs):
        left = scene.exit(run, view)
        if left is None:
            if every:
                traces.append(hidden[j])
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
                 "hoverinfo": "name", "cliponaxis": False, "x": [], "y": [], "step": k, "run": j,
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


def _figure(scene: Scene, view: str, live: bool = False) -> tuple[dict, list[dict]]:
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
    data.extend(_exit_traces(scene, view, every=live))
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


_PAGE = """<!DOCTYPE html>
<html lang="{lang}">
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
<button id="play" type="button">{play}</button>
<input id="scrub" type="range" min="0" max="{last}" value="0" step="1" aria-label="{frame}">
<output id="step" for="scrub"></output>
</div>"""


def _html_page(title: str, payload: dict, script: str, style: str = "", below: str = "", three_d: bool = False,
               lang: str = "en") -> str:
    """A page of one plot filling the window in `lang`, with plotly.js (its 3-D types only if `three_d`), the
    data and `script` inline."""
    # Inlined scripts end at the first "</script"; plotly.js has none today, and an escaped one means the same.
    inlined = plotly_js(three_d).replace("</script", "<\\/script")
    return _PAGE.format(lang=lang, title=html.escape(title), style=style, below=below, plotly=inlined,
                        data=_json(payload), script=script)


def _json(obj) -> str:
    # "<" only occurs inside JSON strings, where \\u003c means the same and cannot close the script.
    text = orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY, default=np.ndarray.tolist).decode()
    return text.replace("<", "\\u003c")


@lru_cache(maxsize=4)
def _reasons(lang: str) -> dict[str, str]:
    """The translator's reasons for leaving a kernel to the server (the bundled engine's REFUSED), in `lang`."""
    from app.services.messages import generated_texts

    t = i18n.translator(lang)
    return {m.id: t(m.id) for m in generated_texts() if t(m.id) != m.id}


def html_document(scene: Scene, opts: Options) -> str:
    """A self-contained page: plotly.js, the data and the player inline, no external reference; unless
    `opts.frames_only`, the page's engine too, and each run's hyperparameter sliders recompute it."""
    live = not opts.frames_only
    figure, runs = _figure(scene, opts.view, live)
    # Exit markers: which trace, which run's, the step from which it shows, and its point.
    exits = [{"trace": i, "step": t.pop("step"), "run": t.pop("run"), **t.pop("at")}
             for i, t in enumerate(figure["data"]) if "at" in t]
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
    t = scene.t
    # Every word the players show, in the scene's language; {0} is a step, or why a run keeps its frames.
    payload["words"] = {"play": t("Play"), "pause": t("Pause"), "step": t("step {0}"),
                        "left": t("left the frame at step {0}"), "diverged": t("diverged at step {0}"),
                        "fixed": t("Precomputed: {0}; its sliders need the Gradscape server."),
                        "reasons": _reasons(scene.lang)}
    controls = _PLAYER_CONTROLS.format(last=len(payload["frames"]) - 1, play=html.escape(t("Play")),
                                       frame=html.escape(t("Frame")))
    if not live:
        return _html_page(scene.title(scene.steps), payload, player_script("player"), _PLAYER_STYLE, controls,
                          three_d=payload["three_d"], lang=scene.lang)
    payload["live"] = _live(scene, opts.view)
    script = (PLAYER_JS / "hug.js").read_text(encoding="utf-8") + "\n" + live_script()
    return _html_page(scene.title(scene.steps), payload, script, _PLAYER_STYLE + _LIVE_STYLE,
                      controls + '\n<aside id="sliders"></aside>', three_d=payload["three_d"], lang=scene.lang)


_LIVE_STYLE = """
body { display: grid; grid-template-columns: minmax(0, 1fr) 15em; grid-template-rows: minmax(0, 1fr) auto; }
#plot { grid-area: 1 / 1; }
#controls { grid-area: 2 / 1; }
#sliders { grid-area: 1 / 2 / 3 / 3; overflow-y: auto; padding: 0.5em 0.75em; font-size: 0.85em; border-left: 1px solid #ddd; }
#sliders fieldset { border: 0; border-top: 1px solid #ddd; margin: 0 0 0.5em; padding: 0.3em 0 0; }
#sliders legend { font-weight: 600; padding: 0 0.3em 0 0; }
#sliders .hp { display: grid; grid-template-columns: 6.5em minmax(0, 1fr); align-items: center; column-gap: 0.4em; }
#sliders .hp output { grid-column: 2; font-variant-numeric: tabular-nums; color: #444; }
#sliders .hp input { width: 100%; margin: 0.15em 0; }
#sliders .note { margin: 0.2em 0; color: #555; }"""


@lru_cache(maxsize=1)
def live_script() -> str:
    """static/js/export/live.js and the page's engine it imports, as one classic script."""
    return bundle(STATIC / "js", ["export/live.js"], "gradscapeLive")


def _slider(h: dict) -> dict:
    """A hyperparameter's slider as the page's template lays it out (templates/_macros.html)."""
    wide = h["kind"] == "int" and h["high"] - h["low"] > 10000
    high = min(h["high"], h["low"] + 5000) if wide else h["high"]
    scale = "log" if (h["log"] or wide) and h["low"] > 0 else "log1m" if h["scale"] == "log1m" else "linear"
    positions = min(1000, int(high - h["low"])) if h["kind"] == "int" and scale == "linear" else 1000
    return {**h, "high": high, "scale": scale, "positions": positions}


def _live(scene: Scene, view: str) -> dict:
    """What the file's player needs to compute each run again: the surface's constants, each run's settings
    and sliders, and the view's frame; reasons where a run keeps its precomputed frames."""
    spec = scene.spec
    params = {k: v for k, v in scene.surface.items() if k != "name"}
    if spec.constants is not None:  # a typed formula's tape
        constants = np.asarray(spec.constants, dtype=float)
    else:
        constants = np.array([float(params.get(h.name, h.default)) for h in spec.params] or [0.0])
    lo, hi, log = scene.loss_range() if view == "loss" else (0.0, 0.0, False)
    runs = []
    for run in scene.runs:
        known = run.optimizer in OPTIMIZERS
        refusal = (scene.t("gradient noise is drawn by numpy's generator") if run.noise
                   else "" if known else scene.t("a class named by its module is stepped by the server"))
        runs.append({
            "optimizer": run.optimizer, "name": scene.name(run), "colour": palette.colour_for(run.optimizer),
            "hp": run.hyperparameters, "start": list(run.start), "steps": run.steps, "schedule": run.schedule,
            "refusal": refusal,
            "sliders": [_slider({**h.as_dict(), "help": scene.t(h.help)})
                        for h in OPTIMIZERS[run.optimizer].hyperparameters] if known else [],
        })
    return {"surface": spec.id, "P": constants, "domain": [list(d) for d in spec.domain], "floor": scene.floor,
            "fmin": scene.landmarks[2], "view": view, "loss_range": [lo, hi], "loss_log": log,
            "refusal": scene.t("its minibatches are drawn by numpy's generator") if spec.prepare is not None else "",
            "runs": runs}






def map_html_document(data) -> str:
    """The map as a self-contained interactive page: plotly.js and the data inline, no external reference."""
    payload = {"figure": map_plotly_figure(data), "config": {"displaylogo": False, "responsive": True}}
    note = data.t("Hover a cell for its settings and where its run ended; drag to zoom, double-click for the whole map.")
    return _html_page(data.title(), payload, player_script("map"), "#note { margin: 0; padding: 0.3em 1em 0.6em; color: #444; }",
                      f'<p id="note">{html.escape(note)}</p>', lang=data.lang)
