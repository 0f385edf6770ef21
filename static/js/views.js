// The views on the one timeline: contour, 3-D surface and loss, drawn with Plotly.
//
// Speed comes from drawing as little as possible. The contour is a static plot
// drawn only when the surface changes; the trajectories live on a transparent
// plot laid exactly over it, so a slider move or an animation frame redraws a
// few line traces and never the contour. Animation restyles the existing
// traces at requestAnimationFrame pace; there are no Plotly frames.

export const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

/** Resolves once Plotly.js has run: the page's modules start before it, to get their requests out first. */
export const plotlyReady = window.Plotly
  ? Promise.resolve()
  : new Promise((resolve, reject) => {
    const script = document.getElementById("plotly");
    script.addEventListener("load", resolve, { once: true });
    script.addEventListener("error", () => reject(new Error("Plotly.js could not be loaded from this server")), { once: true });
  });

/** log(1 + f − f_min): the height contours and the 3-D surface use (app/palette.py's contour_values). */
export function lift(f, floor) {
  return Math.log1p(Math.max(f - floor, 0));
}

export function fontSize() {
  return document.documentElement.classList.contains("large") ? 17 : 12;
}

/** Room for tick labels and an axis title, in proportion to the text. */
function margin() {
  const f = fontSize();
  return { l: Math.round(4.6 * f), r: 12, t: 10, b: Math.round(3.7 * f) };
}

// Plot sizes are read once per layout change, not per draw: reading one forces a layout.
const sizes = new Map();

export function plotSize(el) {
  if (!sizes.has(el)) {
    const r = el.getBoundingClientRect();
    sizes.set(el, { width: Math.max(200, Math.round(r.width)), height: Math.max(160, Math.round(r.height)) });
  }
  return sizes.get(el);
}

/** Call when the panels may have changed size (a resize, another view, large text). */
export function forgetSizes() {
  sizes.clear();
}

function colourscale(colours) {
  return colours.map((c, i) => [i / (colours.length - 1), c]);
}

/**
 * A run's points as drawn: a run that blows up leaves the plot, but coordinates
 * like 1e150 would overflow the browser's pixel arithmetic, so they are held at
 * a thousand domain widths, far out of sight.
 */
export function addDrawnPoints(run, domain) {
  const hold = (v, [lo, hi]) => Math.max(lo - 1e3 * (hi - lo), Math.min(hi + 1e3 * (hi - lo), v));
  run.px = run.xs.map((v) => hold(v, domain[0]));
  run.py = run.ys.map((v) => hold(v, domain[1]));
}

/** How far along its path a run is at step k: runs that diverged stop at their last finite point. */
export function headIndex(run, k) {
  return Math.max(0, Math.min(k, run.xs.length - 1));
}

// A saved frame has no page around it to name the lines, so it carries its own legend.
const STILL_LEGEND = { showlegend: true, legend: { bgcolor: "rgba(255,255,255,0.85)", bordercolor: "#aab4be", borderwidth: 1 } };

export const CONFIG = { displaylogo: false, responsive: false, modeBarButtonsToRemove: ["select2d", "lasso2d", "toImage"] };

/**
 * One Plotly view. Draws happen one at a time in order; step updates that pile
 * up while a draw runs are merged into one, so a slow renderer drops frames
 * instead of falling behind.
 */
export class View {
  constructor(ctx) {
    this.ctx = ctx;
    this.active = false;
    this.drawn = false;
    this.surface = null;
    this.runs = [];
    this.k = 0;
    this.want = { full: false, step: false };
    this.running = null;
  }

  style(id) { return this.ctx.catalog.optimizer(id).style; }
  label(id) { return this.ctx.catalog.optimizer(id).label; }

  /** Show or hide; a view that was hidden may have missed draws, so showing it draws it. */
  setActive(on) {
    const shown = on && !this.active;
    this.active = on;
    return shown ? this.schedule("full") : Promise.resolve();
  }

  setStep(k) { this.k = k; return this.drawn ? this.schedule("step") : Promise.resolve(); }
  resize() { return this.schedule("full"); }

  schedule(kind) {
    if (!this.active || !this.ready()) return Promise.resolve();
    this.want[kind] = true;
    this.running ??= (async () => {
      try {
        await plotlyReady;
        while (this.want.full || this.want.step) {
          const full = this.want.full;
          this.want.full = this.want.step = false;
          if (full) { await this.draw(); this.drawn = true; } else await this.drawStep();
        }
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  ready() { return this.surface !== null; }
}

/** A typed formula's landmarks are found by Newton's method, not known: the label says so. */
const found = (surface) => (surface.spec.landmarks_found_numerically ? " (found numerically)" : "");

/**
 * Minima, saddle points and the start as one marker trace (fewer traces draw faster).
 * `z`, when given, places them on the 3-D surface.
 */
function landmarksTrace(surface, palette, start, z) {
  const points = [
    // The map view colours the minima as it colours their basins.
    ...surface.minima.map((p, i) => [p, `minimum${found(surface)}`, z ? "diamond" : palette.minimum_symbol, surface.minimaColours?.[i] ?? palette.landmark_colour]),
    ...surface.saddles.map((p) => [p, `saddle point${found(surface)}`, palette.saddle_symbol, palette.landmark_colour]),
    [start, "start", "circle-open", "#000000"],
  ];
  const scale = z ? 0.5 : 1;
  const trace = {
    type: z ? "scatter3d" : "scatter", mode: "markers", name: "landmarks", showlegend: false,
    x: points.map(([p]) => p[0]), y: points.map(([p]) => p[1]), text: points.map(([, name]) => name),
    hovertemplate: "%{text} (%{x:.4g}, %{y:.4g})<extra></extra>",
    marker: {
      symbol: points.map(([, , symbol]) => symbol), color: points.map(([, , , colour]) => colour),
      size: points.map(([, name]) => (name.startsWith("minimum") ? 16 : name === "start" ? 14 : 12) * scale),
      line: { width: points.map(([, name]) => (name === "start" ? 2.5 : 1)), color: points.map(([, name]) => (name === "start" ? "#000000" : "#ffffff")) },
    },
  };
  if (z) trace.z = points.map(([p]) => z(p));
  return trace;
}

/** Every run's current position as one marker trace, each in its optimizer's colour. */
function headsTrace(kind, runs, k, style, coords) {
  const at = runs.map((run) => coords(run, headIndex(run, k)));
  const trace = {
    type: kind, mode: "markers", name: "now", hoverinfo: "skip", showlegend: false,
    x: at.map((p) => p[0]), y: at.map((p) => p[1]),
    marker: { color: runs.map((r) => style(r.optimizer).colour), size: kind === "scatter3d" ? 6 : 12, line: { color: "#000000", width: 1.5 } },
  };
  if (kind === "scatter3d") trace.z = at.map((p) => p[2]);
  return trace;
}

/**
 * A static plot under a transparent one with the same size, margins and ranges.
 * The back (axes, contour) is redrawn only when its key changes; the front (the runs) on every change.
 */
class Layers {
  constructor(back, front) {
    this.back = back;
    this.front = front;
    this.backKey = null;
  }

  async draw(backKey, backFigure, frontFigure) {
    if (backKey !== this.backKey) {
      const { data, layout } = backFigure();
      await Plotly.react(this.back, data, layout, { ...CONFIG, staticPlot: true });
      this.backKey = backKey;
    }
    const { data, layout } = frontFigure();
    await Plotly.react(this.front, data, layout, { ...CONFIG, displayModeBar: false });
  }
}

/** The front layer's copy of an axis: the same range and constraints, nothing drawn. */
function hidden(axis) {
  return { range: axis.range, type: axis.type, visible: false, fixedrange: true, scaleanchor: axis.scaleanchor, constrain: axis.constrain };
}

function frontLayout(backLayout) {
  return {
    width: backLayout.width, height: backLayout.height, margin: backLayout.margin, showlegend: false,
    xaxis: hidden(backLayout.xaxis), yaxis: hidden(backLayout.yaxis), font: backLayout.font,
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", hovermode: "closest", dragmode: false,
  };
}

// --- contour ------------------------------------------------------------------

export class ContourView extends View {
  constructor(bg, fg, ctx) {
    super(ctx);
    this.layers = new Layers(bg, fg);
    this.fg = fg;
    fg.addEventListener("click", (e) => this.click(e));
  }

  layout() {
    const [x, y] = this.surface.spec.domain;
    const axis = (range, title) => ({
      range, title: { text: title }, fixedrange: true, showgrid: false, zeroline: false, ticks: "outside", mirror: true,
      linecolor: "#444", constrain: "domain",
    });
    return {
      ...plotSize(this.fg.parentElement), margin: margin(), showlegend: false, font: { family: FONT, size: fontSize() },
      // Equal scales, so a circle in the plane looks like one.
      xaxis: axis(x, "x"), yaxis: { ...axis(y, "y"), scaleanchor: "x" },
      paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff", hovermode: false, dragmode: false,
    };
  }

  /** The filled contour, drawn on a log-ish scale so plateaus and valleys both show. */
  contourTrace() {
    const { grid, floor } = this.surface;
    const palette = this.ctx.catalog.palette;
    return {
      type: "contour", x: grid.x, y: grid.y, z: grid.z.map((row) => row.map((f) => lift(f, floor))),
      ncontours: palette.contour_levels, colorscale: colourscale(palette.contour_colours),
      showscale: false, hoverinfo: "skip", line: { color: palette.contour_line_colour, width: 0.6 },
      contours: { coloring: "fill" },
    };
  }

  lineTrace(run) {
    const { colour, dash } = this.style(run.optimizer);
    const m = headIndex(run, this.k);
    const label = this.label(run.optimizer);
    return {
      type: "scatter", mode: "lines", name: label, x: run.px.slice(0, m + 1), y: run.py.slice(0, m + 1),
      customdata: run.losses, line: { color: colour, dash, width: 2.5 },
      hovertemplate: `${label}<br>step %{pointNumber}<br>(%{x:.4g}, %{y:.4g})<br>loss %{customdata:.4g}<extra></extra>`,
    };
  }

  /** Lines first, then the landmarks, then the heads on top. */
  runData() {
    return [
      ...this.runs.map((r) => this.lineTrace(r)),
      landmarksTrace(this.surface, this.ctx.catalog.palette, this.ctx.state().start),
      headsTrace("scatter", this.runs, this.k, (id) => this.style(id), (run, m) => [run.px[m], run.py[m]]),
    ];
  }

  draw() {
    const layout = this.layout();
    return this.layers.draw(
      JSON.stringify([this.surface.key, layout.width, layout.height, fontSize()]),
      () => ({ data: [this.contourTrace()], layout }),
      () => ({ data: this.runData(), layout: frontLayout(layout) }),
    );
  }

  async drawStep() {
    const n = this.runs.length;
    if (!n) return;
    const lines = this.runs.map((r) => this.lineTrace(r));
    const heads = headsTrace("scatter", this.runs, this.k, (id) => this.style(id), (run, m) => [run.px[m], run.py[m]]);
    await Plotly.restyle(this.fg, { x: [...lines.map((t) => t.x), heads.x], y: [...lines.map((t) => t.y), heads.y] },
      [...lines.keys(), n + 1]);
  }

  /** A click anywhere on the plot area sets the start point. */
  click(e) {
    const full = this.fg._fullLayout;
    const area = this.fg.querySelector(".nsewdrag");
    if (!full || !area || !this.ctx.onStart) return;
    const r = area.getBoundingClientRect();
    if (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom) return;
    const x = full.xaxis.p2c(e.clientX - r.left), y = full.yaxis.p2c(e.clientY - r.top);
    const round = (v) => Number(v.toPrecision(4));
    this.ctx.onStart([round(x), round(y)]);
  }

  /** The contour and the trajectories as one figure with a legend, for a PNG or SVG of this frame. */
  figure() {
    return { data: [this.contourTrace(), ...this.runData()], layout: { ...this.layout(), ...STILL_LEGEND } };
  }
}

// --- 3-D surface ----------------------------------------------------------------

export class SurfaceView extends View {
  constructor(el, ctx) {
    super(ctx);
    this.el = el;
  }

  height(f) { return lift(f, this.surface.floor); }

  lineTrace(run) {
    const { colour, dash } = this.style(run.optimizer);
    const m = headIndex(run, this.k);
    return {
      type: "scatter3d", mode: "lines", name: this.label(run.optimizer), hoverinfo: "name",
      x: run.px.slice(0, m + 1), y: run.py.slice(0, m + 1), z: run.losses.slice(0, m + 1).map((f) => this.height(f) + this.lift),
      line: { color: colour, width: 5, dash },
    };
  }

  heads() {
    return headsTrace("scatter3d", this.runs, this.k, (id) => this.style(id), (run, m) => [run.px[m], run.py[m], this.height(run.losses[m]) + this.lift]);
  }

  async draw() {
    const { grid, spec } = this.surface;
    const palette = this.ctx.catalog.palette;
    const zt = grid.z.map((row) => row.map((f) => this.height(f)));
    const top = Math.max(...zt.map((row) => Math.max(...row.filter(Number.isFinite))));
    // Paths float a hair above the surface, so it never hides them where they hug a valley floor.
    this.lift = top * 0.01;
    const surface = {
      type: "surface", x: grid.x, y: grid.y, z: zt, colorscale: colourscale(palette.contour_colours),
      showscale: false, opacity: 0.92, hoverinfo: "skip",
      contours: { z: { show: true, usecolormap: false, color: palette.contour_line_colour, width: 1, start: 0, end: top, size: top / 12 } },
    };
    const [x, y] = spec.domain;
    const title = (t) => ({ title: { text: t } });
    const layout = {
      ...plotSize(this.el.parentElement), margin: { l: 0, r: 0, t: 0, b: 0 }, showlegend: false,
      font: { family: FONT, size: fontSize() }, uirevision: this.surface.key,
      scene: {
        xaxis: { ...title("x"), range: x }, yaxis: { ...title("y"), range: y }, zaxis: { ...title("log(1 + f − f_min)"), range: [0, top * 1.02] },
        aspectmode: "manual", aspectratio: { x: 1, y: 1, z: 0.6 }, camera: { eye: { x: 0.9, y: -1.5, z: 1.7 } },
      },
    };
    const landmarks = landmarksTrace(this.surface, palette, this.ctx.state().start, (p) => this.height(this.surface.valueAt(p)));
    const traces = [surface, landmarks, ...this.runs.map((r) => this.lineTrace(r)), this.heads()];
    await Plotly.react(this.el, traces, layout, { ...CONFIG, displayModeBar: "hover" });
  }

  async drawStep() {
    const n = this.runs.length;
    if (!n) return;
    const lines = this.runs.map((r) => this.lineTrace(r));
    const heads = this.heads();
    const all = [...lines, heads];
    await Plotly.restyle(this.el, { x: all.map((t) => t.x), y: all.map((t) => t.y), z: all.map((t) => t.z) },
      all.map((_, i) => i + 2));
  }
}

// --- loss against step ------------------------------------------------------------

/**
 * An axis range that moves only when it must: a redraw whose data still fit,
 * and fill most of it, keeps the axes as they were, so only the lines are redrawn.
 */
function stickyRange(current, lo, hi, log) {
  if (log) {
    lo = Math.log10(lo);
    hi = Math.log10(hi);
  }
  const span = hi - lo || 1;
  if (current && lo >= current[0] && hi <= current[1] && current[1] - current[0] <= span * (log ? 1 : 1.5) + (log ? 2 : 0)) return current;
  if (log) return [Math.floor(lo), Math.ceil(hi) + (Math.ceil(hi) === hi ? 0.2 : 0)];
  const grain = 10 ** Math.floor(Math.log10(span)) / 2;
  return [Math.floor(lo / grain - 0.5) * grain, Math.ceil(hi / grain + 0.5) * grain];
}

export class LossView extends View {
  constructor(bg, fg, ctx) {
    super(ctx);
    this.layers = new Layers(bg, fg);
    this.fg = fg;
    this.range = null;
  }

  /** Loss above the known minimum on a log axis; the raw loss on a linear one where there is no minimum. */
  measure() {
    const fStar = this.surface.spec.minimum_value;
    if (fStar === null || fStar === undefined) {
      const { z_min: lo, z_max: hi } = this.surface.grid;
      const far = 1e3 * (hi - lo);
      return { log: false, y: (f) => Math.max(lo - far, Math.min(hi + far, f)), title: "loss f" };
    }
    return { log: true, y: (f) => Math.max(f - fStar, 1e-16), title: fStar === 0 ? "loss f (log)" : `f − f* (log), f* = ${fStar.toPrecision(5)}` };
  }

  yRange(m) {
    let lo = Infinity, hi = -Infinity;
    for (const run of this.runs) for (const f of run.losses) {
      const v = m.y(f);
      if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
    if (!Number.isFinite(lo)) return this.range ?? (m.log ? [-3, 1] : [0, 1]);
    if (!m.log) {
      // Runs that leave the surface can fall without bound: keep the view on the surface's own range.
      const { z_min: zmin, z_max: zmax } = this.surface.grid;
      lo = Math.max(lo, zmin - (zmax - zmin));
      hi = Math.min(hi, zmax);
    }
    return stickyRange(this.range, lo, hi, m.log);
  }

  lineTrace(run) {
    const { colour, dash } = this.style(run.optimizer);
    const label = this.label(run.optimizer);
    return {
      type: "scatter", mode: "lines", name: label, y: run.losses.slice(0, headIndex(run, this.k) + 1).map(this.m.y),
      line: { color: colour, dash, width: 2 }, hovertemplate: `${label}<br>step %{x}<br>%{y:.4g}<extra></extra>`,
    };
  }

  heads() {
    return headsTrace("scatter", this.runs, this.k, (id) => this.style(id), (run, m) => [m, this.m.y(run.losses[m])]);
  }

  stepLine() {
    return [{ type: "line", xref: "x", yref: "paper", x0: this.k, x1: this.k, y0: 0, y1: 1, line: { color: "#666", width: 1, dash: "dot" } }];
  }

  layout() {
    const steps = this.ctx.state().steps;
    return {
      ...plotSize(this.fg.parentElement), margin: margin(), showlegend: false, font: { family: FONT, size: fontSize() },
      xaxis: { title: { text: "step" }, range: [0, steps], zeroline: false, fixedrange: true },
      yaxis: {
        title: { text: this.m.title }, type: this.m.log ? "log" : "linear", range: this.range, exponentformat: "power", fixedrange: true,
        // A label per decade (or per second decade) rather than Plotly's 2 and 5 between them.
        dtick: this.m.log ? Math.max(1, Math.ceil((this.range[1] - this.range[0]) / 8)) : undefined,
      },
      paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff",
    };
  }

  runData() {
    return [...this.runs.map((r) => this.lineTrace(r)), this.heads()];
  }

  draw() {
    this.m = this.measure();
    this.range = this.yRange(this.m);
    const layout = this.layout();
    return this.layers.draw(
      JSON.stringify([this.surface.key, layout.width, layout.height, fontSize(), layout.xaxis.range, this.range, this.m.title]),
      () => ({ data: [], layout }),
      () => ({ data: this.runData(), layout: { ...frontLayout(layout), shapes: this.stepLine() } }),
    );
  }

  async drawStep() {
    const n = this.runs.length;
    const heads = this.heads();
    await Plotly.update(this.fg, { y: [...this.runs.map((r) => this.lineTrace(r).y), heads.y], x: [...this.runs.map(() => undefined), heads.x] },
      { shapes: this.stepLine() }, [...this.runs.keys(), n]);
  }

  /** The axes and the lines as one figure with a legend, for a PNG or SVG of this frame. */
  figure() {
    return { data: this.runData(), layout: { ...this.layout(), shapes: this.stepLine(), ...STILL_LEGEND } };
  }
}
