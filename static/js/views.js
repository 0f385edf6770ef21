// The views on the one timeline: contour, 3-D surface and loss, drawn with Plotly.
//
// Speed comes from drawing as little as possible. The contour is a static plot
// drawn only when the surface changes; the landmarks live on a transparent plot
// laid exactly over it; the runs are stroked on canvases in the same stack,
// through the static plot's axes. A slider move or an animation frame redraws
// the canvases only, never a Plotly plot of the 2-D views.

import { runName } from "./state.js";
import { t } from "./i18n.js";

// The page's fonts (static/css/app.css), Chinese ones included, for the text Plotly draws.
export const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'PingFang SC', 'Hiragino Sans GB', 'Microsoft YaHei', "
  + "'Noto Sans CJK SC', 'Source Han Sans SC', 'WenQuanYi Micro Hei', sans-serif";

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

export function isLarge() {
  return document.documentElement.classList.contains("large");
}

export function fontSize() {
  return isLarge() ? 17 : 12;
}

/** Lines and markers grow with the text, so a projected figure reads from the back of the room. */
export function thickness() {
  return isLarge() ? 1.5 : 1;
}

/** Room for tick labels and an axis title, in proportion to the text. */
function margin() {
  const f = fontSize();
  return { l: Math.round(4.6 * f), r: Math.round(1.2 * f), t: Math.round(0.7 * f), b: Math.round(3.4 * f) };
}

/**
 * At most as many ticks as labels fit: side by side, a label of `chars` characters with a gap after
 * it; one above another, 2.2 lines apart. Large text gets fewer ticks rather than colliding labels.
 */
export function tickCount(pixels, across, chars = 4) {
  const f = fontSize();
  return Math.max(3, Math.floor(pixels / (across ? (0.62 * chars + 1.4) * f : 2.6 * f)));
}

/**
 * Evenly spaced ticks on a linear axis, as many as fit `pixels` without their labels touching:
 * the smallest step of 1, 2, 2.5, 4 or 5 times a power of ten whose labels fit, but at least two.
 */
export function linearTicks([lo, hi], pixels, across) {
  const f = fontSize();
  const fits = (dtick) => {
    const first = Math.ceil(lo / dtick - 1e-9), last = Math.floor(hi / dtick + 1e-9);
    const count = last - first + 1;
    const decimals = Math.max(0, -Math.floor(Math.log10(dtick) + 1e-9)) + (dtick * 4 % 10 === 0 ? 0 : 1);
    const chars = Math.max(...[first, last].map((i) => (i * dtick).toFixed(decimals).length));
    // Room per label: its characters and a gap across; three lines down (more would crowd a tall plot).
    const room = across ? Math.max(0.62 * chars + 1.2, 3.5) * f : 4.5 * f;
    return { count, ok: count * room <= pixels };
  };
  const base = 10 ** Math.floor(Math.log10((hi - lo) / 20));
  const steps = [];
  for (let p = base; p <= (hi - lo) * 10; p *= 10) for (const m of [1, 2, 2.5, 4, 5]) steps.push(p * m);
  const fitting = steps.find((d) => fits(d).ok && fits(d).count >= 2)
    ?? [...steps].reverse().find((d) => fits(d).count >= 2) ?? steps.at(-1);
  return { tickmode: "linear", tick0: 0, dtick: fitting };
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
 * a thousand domain widths, far out of sight. `run.exit` is where it first
 * crossed the edge of the plotted domain, if it did.
 */
export function addDrawnPoints(run, domain) {
  const hold = (v, [lo, hi]) => Math.max(lo - 1e3 * (hi - lo), Math.min(hi + 1e3 * (hi - lo), v));
  run.px = run.xs.map((v) => hold(v, domain[0]));
  run.py = run.ys.map((v) => hold(v, domain[1]));
  run.exit = exitOf(run.px, run.py, domain);
}

const inside = (v, [lo, hi]) => v >= lo && v <= hi;

/**
 * The first step that ends outside the domain, and the point on the edge where the
 * segment into it crosses: {step, x, y, side} with side one of left, right, down, up.
 */
export function exitOf(xs, ys, [dx, dy]) {
  for (let i = 1; i < xs.length; i++) {
    if (inside(xs[i], dx) && inside(ys[i], dy)) continue;
    const [x0, y0, x1, y1] = [xs[i - 1], ys[i - 1], xs[i], ys[i]];
    if (!inside(x0, dx) || !inside(y0, dy)) return { step: i, x: x0, y: y0, side: "up" }; // started outside
    // The earliest of the edges the segment crosses, as a fraction t of the segment.
    const cross = [
      [x1 < dx[0], (dx[0] - x0) / (x1 - x0), "left"], [x1 > dx[1], (dx[1] - x0) / (x1 - x0), "right"],
      [y1 < dy[0], (dy[0] - y0) / (y1 - y0), "down"], [y1 > dy[1], (dy[1] - y0) / (y1 - y0), "up"],
    ].filter(([hit]) => hit).sort((a, b) => a[1] - b[1])[0];
    const t = Math.max(0, Math.min(1, cross[1]));
    return { step: i, x: x0 + t * (x1 - x0), y: y0 + t * (y1 - y0), side: cross[2] };
  }
  return null;
}

/** Whether a run has left the plotted domain by step k. */
export function hasLeft(run, k) {
  return run.exit !== null && run.exit !== undefined && k >= run.exit.step;
}

const ARROW = { left: "triangle-left", right: "triangle-right", down: "triangle-down", up: "triangle-up" };

/** An arrow on the edge where each run left the plot, once the animation has got there. */
function exitsTrace(kind, runs, k, style, name, z) {
  const left = runs.filter((r) => hasLeft(r, k));
  const trace = {
    type: kind, mode: "markers", name: "left the frame", showlegend: false,
    x: left.map((r) => r.exit.x), y: left.map((r) => r.exit.y),
    text: left.map((r) => t("{0} left the frame at step {1}", name(r.optimizer), r.exit.step)),
    hovertemplate: "%{text}<extra></extra>",
    marker: kind === "scatter3d"
      ? { symbol: "diamond", size: 7 * thickness(), color: left.map((r) => style(r.optimizer).colour), line: { color: "#ffffff", width: 1 } }
      : {
        symbol: left.map((r) => ARROW[r.exit.side]), size: 15 * thickness(), color: left.map((r) => style(r.optimizer).colour),
        line: { color: "#ffffff", width: 1.5 },
      },
  };
  if (z) trace.z = left.map((r) => z(r));
  else trace.cliponaxis = false; // an arrow on the edge is drawn whole, not half
  return trace;
}

/** A number as Plotly's `.4g` shows it. */
const g4 = (v) => (Number.isFinite(v) ? String(Number(v.toPrecision(4))) : String(v));

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
  label(id) { return runName(id, this.ctx.state(), this.ctx.catalog); }

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
const found = (surface) => (surface.spec.landmarks_found_numerically ? t(" (found numerically)") : "");

/**
 * Minima, saddle points and the start as one marker trace (fewer traces draw faster).
 * `z`, when given, places them on the 3-D surface.
 */
function landmarksTrace(surface, palette, start, z) {
  const points = [
    // The map view colours the minima as it colours their basins.
    ...surface.minima.map((p, i) => [p, `${t("minimum")}${found(surface)}`, z ? "diamond" : palette.minimum_symbol, surface.minimaColours?.[i] ?? palette.landmark_colour, "minimum"]),
    ...surface.saddles.map((p) => [p, `${t("saddle point")}${found(surface)}`, palette.saddle_symbol, palette.landmark_colour, "saddle"]),
    [start, t("start"), "circle-open", "#000000", "start"],
  ];
  const scale = z ? 0.5 : 1;
  const trace = {
    type: z ? "scatter3d" : "scatter", mode: "markers", name: "landmarks", showlegend: false,
    x: points.map(([p]) => p[0]), y: points.map(([p]) => p[1]), text: points.map(([, name]) => name),
    hovertemplate: "%{text} (%{x:.4g}, %{y:.4g})<extra></extra>",
    marker: {
      symbol: points.map(([, , symbol]) => symbol), color: points.map(([, , , colour]) => colour),
      size: points.map(([, , , , kind]) => (kind === "minimum" ? STAR_PX : kind === "start" ? 14 : 12) * scale * thickness()),
      line: { width: points.map(([, , , , kind]) => (kind === "start" ? 2.5 : 1)), color: points.map(([, , , , kind]) => (kind === "start" ? "#000000" : "#ffffff")) },
    },
  };
  if (z) trace.z = points.map(([p]) => z(p));
  return trace;
}

/**
 * Every run's current position as one marker trace, each in its optimizer's colour.
 * `rings(points)`, when given, says which heads to draw as open rings and how large (see stack()).
 */
function headsTrace(kind, runs, k, style, coords, rings) {
  const at = runs.map((run) => coords(run, headIndex(run, k)));
  const size = (kind === "scatter3d" ? 6 : HEAD_PX) * thickness();
  const ring = rings ? rings(at) : at.map(() => null);
  const trace = {
    type: kind, mode: "markers", name: "now", hoverinfo: "skip", showlegend: false,
    x: at.map((p) => p[0]), y: at.map((p) => p[1]),
    marker: {
      color: runs.map((r) => style(r.optimizer).colour),
      symbol: ring.map((r) => (r ? "circle-open" : "circle")),
      size: ring.map((r) => r?.size ?? size),
      line: { color: "#000000", width: ring.map((r) => r?.width ?? 1.5) },
    },
  };
  if (kind === "scatter3d") {
    trace.z = at.map((p) => p[2]);
    trace.marker.symbol = "circle";
    trace.marker.size = size;
    trace.marker.line.width = 1.5;
  }
  return trace;
}

/**
 * With `extras=1`, each run's extra points at step k (the spec's `points` slots, read from the run's
 * state: row k - 1 is the state after step k) as open diamonds in the run's colour; points off the
 * plotted domain are left out. Null when the flag is off or no run has any.
 */
function extrasTrace(runs, k, ctx, style, label, domain) {
  if (!ctx.state().extras) return null;
  const [[x0, x1], [y0, y1]] = domain;
  const x = [], y = [], color = [], text = [];
  for (const run of runs) {
    const m = headIndex(run, k);
    for (const slot of ctx.catalog.optimizer(run.optimizer)?.points ?? []) {
      const s = run.state[slot];
      if (!s || m < 1 || m > s.x.length) continue;
      const [px, py] = [s.x[m - 1], s.y[m - 1]];
      if (!(px >= x0 && px <= x1 && py >= y0 && py <= y1)) continue;
      x.push(px); y.push(py); color.push(style(run.optimizer).colour); text.push(`${label(run.optimizer)}: ${slot.replaceAll("_", " ")}`);
    }
  }
  if (!x.length) return null;
  const size = HEAD_PX * 0.9 * thickness();
  return {
    type: "scatter", mode: "markers", name: "extra points", showlegend: false, hoverinfo: "text", text, x, y,
    marker: { symbol: "diamond-open", size, color, line: { color, width: 2 * thickness() } },
  };
}

const HEAD_PX = 12;
const STAR_PX = 16;
// The widest a stack of rings may grow, in every mode: wider, on a projector, they hid the minimum's
// surroundings and the paths arriving there.
export const RING_MAX_PX = 36;

/**
 * Heads that would hide each other or a minimum: those closer than a marker's width to another
 * head, or to a minimum, are drawn where they are as concentric open rings in the runs' order
 * (outside the star when on a minimum), one stroke apart, their strokes thinned so the outermost
 * stays within RING_MAX_PX. Returns each head's ring as {size, width} (diameter and stroke, in
 * pixels), null for a plain dot. `scale` is pixels per data unit.
 */
export function stack(points, minima, scale, size) {
  const near = (a, b) => Math.hypot((a[0] - b[0]) * scale[0], (a[1] - b[1]) * scale[1]) < size;
  const group = points.map((_, i) => i);
  const root = (i) => (group[i] === i ? i : (group[i] = root(group[i])));
  points.forEach((a, i) => points.forEach((b, j) => { if (j > i && near(a, b)) group[root(j)] = root(i); }));
  const rings = points.map(() => null);
  const members = new Map();
  points.forEach((_, i) => members.set(root(i), [...(members.get(root(i)) ?? []), i]));
  for (const idx of members.values()) {
    const onMinimum = minima.some((m) => idx.some((i) => near(points[i], m)));
    if (idx.length === 1 && !onMinimum) continue;
    const first = Math.min(onMinimum ? STAR_PX * thickness() + 4 : size, RING_MAX_PX);
    // Diameters two strokes apart: the rings touch and each shows as a band of its own colour.
    const width = Math.max(1.5, Math.min(3 * thickness(), idx.length > 1 ? (RING_MAX_PX - first) / (2 * (idx.length - 1)) : 3));
    const step = idx.length > 1 ? Math.min(2 * width, (RING_MAX_PX - first) / (idx.length - 1)) : 0;
    idx.forEach((i, j) => { rings[i] = { size: Math.round(first + j * step), width }; });
  }
  return rings;
}

/** Plotly's dash patterns (Drawing.dashStyle), in multiples of the line's width with a floor of 3 px. */
function dashPattern(dash, width) {
  const w = Math.max(width, 3);
  return { dot: [w, w], dash: [3 * w, 3 * w], longdash: [5 * w, 5 * w], dashdot: [3 * w, w, w, w], longdashdot: [5 * w, 2 * w, w, 2 * w] }[dash] ?? [];
}

/** A canvas of the plot's size laid in the stack, just before or after `el`. */
function canvasBeside(el, where, suffix) {
  const c = document.createElement("canvas");
  c.className = `plot runs-${suffix}`;
  c.id = el.id.replace(/-fg$/, `-${suffix}`);
  c.setAttribute("aria-hidden", "true");
  c.data = [];
  el[where](c);
  return c;
}

/** Clear a canvas at the plot's size (in CSS pixels, drawn at the screen's resolution). */
function clearCanvas(c, { width, height }) {
  const ratio = window.devicePixelRatio || 1;
  if (c.width !== Math.round(width * ratio) || c.height !== Math.round(height * ratio)) {
    c.width = Math.round(width * ratio);
    c.height = Math.round(height * ratio);
    c.style.width = `${width}px`;
    c.style.height = `${height}px`;
  }
  const ctx = c.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return ctx;
}

/** Plotly's marker outlines at size `s` (its diameter), centred on 0, as a canvas path. */
function markerPath(ctx, symbol, s) {
  const r = s / 2;
  ctx.beginPath();
  if (symbol.startsWith("circle")) {
    ctx.arc(0, 0, r, 0, 2 * Math.PI);
    return;
  }
  if (symbol.startsWith("diamond")) {
    [[0, -r], [r, 0], [0, r], [-r, 0]].forEach(([x, y], i) => ctx[i ? "lineTo" : "moveTo"](x, y));
    ctx.closePath();
    return;
  }
  // triangle-up as Plotly draws it, turned to face left, right or down.
  const turn = { "triangle-up": 0, "triangle-right": 0.5, "triangle-down": 1, "triangle-left": 1.5 }[symbol] ?? 0;
  const rt = (r * 2) / Math.sqrt(3);
  const [c, sn] = [Math.cos(turn * Math.PI), Math.sin(turn * Math.PI)];
  [[-rt, r / 2], [rt, r / 2], [0, -r]].forEach(([x, y], i) => ctx[i ? "lineTo" : "moveTo"](x * c - y * sn, x * sn + y * c));
  ctx.closePath();
}

/**
 * What moves with the runs, drawn on two canvases in the plot's stack: the lines (and the step rule)
 * between the static back plot and the Plotly front, which holds the landmarks; the heads and the
 * edge arrows above it. Drawing 3,000 points on a canvas takes well under a millisecond, where the
 * same lines as Plotly traces cost about 8 ms a view on every slider move and animation frame, and
 * even a few marker traces about 5. Each canvas keeps what it drew in `canvas.data`, in Plotly's
 * trace shape. Hovering a line is answered here: the nearest drawn point within a few pixels.
 */
class RunLayer {
  constructor(back, front) {
    this.back = back;
    this.under = canvasBeside(front, "before", "lines");
    this.over = canvasBeside(front, "after", "marks");
    this.tip = document.createElement("div");
    this.tip.className = "line-tip";
    this.tip.hidden = true;
    this.over.after(this.tip);
    this.lines = [];
    this.hovered = null;
    front.addEventListener("mousemove", (e) => {
      this.hovered ??= requestAnimationFrame(() => { this.hovered = null; this.hover(e); });
    });
    front.addEventListener("mouseleave", () => { this.tip.hidden = true; });
  }

  /** Data to canvas pixels, through the back plot's axes (the front's are the same). */
  axes() {
    const full = this.back._fullLayout;
    if (!full?.xaxis?._length) return null;
    const { xaxis: xa, yaxis: ya } = full;
    return { xa, ya, x: (v) => xa._offset + xa.c2p(v), y: (v) => ya._offset + ya.c2p(v) };
  }

  /**
   * `lines`: [{name, x, y, line: {color, dash, width}, hover(i)}], x left out for the step index;
   * `marks`: Plotly marker traces (heads, arrows); `rule`: a step to mark with a dotted vertical line.
   */
  draw({ lines, marks, rule = null }, size) {
    const under = clearCanvas(this.under, size), over = clearCanvas(this.over, size);
    this.lines = lines;
    this.under.data = lines.map(({ hover, ...t }) => ({ type: "scatter", mode: "lines", ...t }));
    this.over.data = marks;
    const a = this.axes();
    if (!a) return;
    under.save();
    under.beginPath();
    under.rect(a.xa._offset, a.ya._offset, a.xa._length, a.ya._length);
    under.clip();
    under.lineJoin = "round";
    for (const t of lines) {
      if (t.y.length < 2) continue;
      under.beginPath();
      for (let i = 0; i < t.y.length; i++) under[i ? "lineTo" : "moveTo"](a.x(t.x ? t.x[i] : i), a.y(t.y[i]));
      under.strokeStyle = t.line.color;
      under.lineWidth = t.line.width;
      under.setLineDash(dashPattern(t.line.dash, t.line.width));
      under.stroke();
    }
    if (rule !== null) {
      under.beginPath();
      under.moveTo(a.x(rule), a.ya._offset);
      under.lineTo(a.x(rule), a.ya._offset + a.ya._length);
      under.strokeStyle = "#666";
      under.lineWidth = 1;
      under.setLineDash(dashPattern("dot", 1));
      under.stroke();
    }
    under.restore();
    // Heads are cut at the plot's edge, as the lines are, so none sits on the axis labels; arrows
    // (cliponaxis: false) are drawn whole on the edge they mark.
    for (const t of marks) {
      const m = t.marker, each = (v, i) => (Array.isArray(v) ? v[i] : v);
      t.x.forEach((x, i) => {
        const symbol = each(m.symbol, i), open = symbol.endsWith("-open");
        over.save();
        if (t.cliponaxis !== false) {
          over.beginPath();
          over.rect(a.xa._offset, a.ya._offset, a.xa._length, a.ya._length);
          over.clip();
        }
        over.translate(a.x(x), a.y(t.y[i]));
        markerPath(over, symbol, each(m.size, i));
        over.lineWidth = each(m.line.width, i);
        if (open) {
          over.strokeStyle = each(m.color, i);
        } else {
          over.fillStyle = each(m.color, i);
          over.fill();
          over.strokeStyle = each(m.line.color, i);
        }
        over.stroke();
        over.restore();
      });
    }
  }

  hover(e) {
    const a = this.axes();
    if (!a || !this.lines.length) return;
    const r = this.under.getBoundingClientRect();
    const mx = e.clientX - r.left, my = e.clientY - r.top;
    let best = null, bestD = 8 * 8;
    for (const t of this.lines) {
      for (let i = 0; i < t.y.length; i++) {
        const dx = a.x(t.x ? t.x[i] : i) - mx, dy = a.y(t.y[i]) - my;
        const d = dx * dx + dy * dy;
        if (d < bestD) { bestD = d; best = [t, i]; }
      }
    }
    if (!best) { this.tip.hidden = true; return; }
    const [t, i] = best;
    this.tip.replaceChildren(...t.hover(i).flatMap((line, j) => (j ? [document.createElement("br"), line] : [line])));
    this.tip.style.setProperty("--c", t.line.color);
    this.tip.style.left = `${a.x(t.x ? t.x[i] : i) + 12}px`;
    this.tip.style.top = `${a.y(t.y[i]) - 12}px`;
    // Past two thirds of the way across, the tip opens to the left and stays inside the plot.
    this.tip.classList.toggle("flip", mx > r.width * 0.65);
    this.tip.hidden = false;
  }
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

  /**
   * `between()` draws what moves, once the back's axes are laid out. The front (the landmarks) is
   * redrawn only when it changed: a slider move leaves it as it was.
   */
  async draw(backKey, backFigure, frontFigure, between) {
    if (backKey !== this.backKey) {
      const { data, layout } = backFigure();
      await Plotly.react(this.back, data, layout, { ...CONFIG, staticPlot: true });
      this.backKey = backKey;
    }
    between();
    const { data, layout } = frontFigure();
    const frontKey = JSON.stringify([data, layout]);
    if (frontKey === this.frontKey) return;
    await Plotly.react(this.front, data, layout, { ...CONFIG, displayModeBar: false });
    this.frontKey = frontKey;
  }
}

/** The front layer's copy of an axis: the same range and domain, nothing drawn. */
function hidden(axis) {
  return { range: axis.range, type: axis.type, visible: false, fixedrange: true, domain: axis.domain };
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
    this.moving = new RunLayer(bg, fg);
    this.fg = fg;
    fg.addEventListener("click", (e) => this.click(e));
  }

  layout(size = plotSize(this.fg.parentElement)) {
    const [x, y] = this.surface.spec.domain;
    const m = margin();
    const across = size.width - m.l - m.r, down = size.height - m.t - m.b;
    const perUnit = Math.min(across / (x[1] - x[0]), down / (y[1] - y[0]));
    // Equal scales, so a circle in the plane looks like one: each axis takes the centred share of
    // its side that its range needs. Set here rather than by Plotly's scaleanchor, whose constraint
    // a redraw for another domain's shape does not always undo (the range grew instead).
    const axis = (range, title, pixels, isX) => {
      const share = Math.min(1, (perUnit * (range[1] - range[0])) / pixels);
      return {
        range, domain: [(1 - share) / 2, (1 + share) / 2], title: { text: title }, fixedrange: true, showgrid: false, zeroline: false,
        ticks: "outside", mirror: true, linecolor: "#444", ...linearTicks(range, perUnit * (range[1] - range[0]), isX),
      };
    };
    return {
      ...size, margin: m, showlegend: false, font: { family: FONT, size: fontSize() },
      xaxis: axis(x, this.surface.spec.axes?.[0] ?? "x", across, true), yaxis: axis(y, this.surface.spec.axes?.[1] ?? "y", down, false),
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
      customdata: run.losses, line: { color: colour, dash, width: 2.5 * thickness() },
      hovertemplate: `${label}<br>${t("step {0}", "%{pointNumber}")}<br>(%{x:.4g}, %{y:.4g})<br>${t("loss {0}", "%{customdata:.4g}")}<extra></extra>`,
    };
  }

  /** A run's line as the canvas draws it, up to the current step, with what hovering a point says. */
  lineData(run) {
    const { colour, dash } = this.style(run.optimizer);
    const m = headIndex(run, this.k);
    const label = this.label(run.optimizer);
    return {
      name: label, x: run.px.slice(0, m + 1), y: run.py.slice(0, m + 1), line: { color: colour, dash, width: 2.5 * thickness() },
      hover: (i) => [label, t("step {0}", i), `(${g4(run.xs[i])}, ${g4(run.ys[i])})`, t("loss {0}", g4(run.losses[i]))],
    };
  }

  /** Pixels per data unit on each axis, once Plotly has laid the plot out; null before. */
  scale() {
    const full = this.fg._fullLayout;
    if (!full?.xaxis?._length) return null;
    const { xaxis: xa, yaxis: ya } = full;
    return [xa._length / (xa.range[1] - xa.range[0]), ya._length / (ya.range[1] - ya.range[0])];
  }

  heads() {
    const scale = this.scale();
    const rings = scale ? (at) => stack(at, this.surface.minima, scale, HEAD_PX * thickness()) : undefined;
    return headsTrace("scatter", this.runs, this.k, (id) => this.style(id), (run, m) => [run.px[m], run.py[m]], rings);
  }

  exits() {
    return exitsTrace("scatter", this.runs, this.k, (id) => this.style(id), (id) => this.label(id));
  }

  /** The extra points of the runs whose spec names some (SAM's ascent point, ...) at the current step. */
  extras() {
    return extrasTrace(this.runs, this.k, this.ctx, (id) => this.style(id), (id) => this.label(id), this.surface.spec.domain);
  }

  /** The lines, then the landmarks (the front), then the extra points, the heads and the edge arrows on top. */
  drawRuns() {
    const marks = [this.extras(), this.heads(), this.exits()].filter(Boolean);
    this.moving.draw({ lines: this.runs.map((r) => this.lineData(r)), marks }, plotSize(this.fg.parentElement));
  }

  async draw() {
    const layout = this.layout();
    const scaled = this.scale() !== null;
    await this.layers.draw(
      JSON.stringify([this.surface.key, layout.width, layout.height, fontSize()]),
      () => ({ data: [this.contourTrace()], layout }),
      () => ({ data: [landmarksTrace(this.surface, this.ctx.catalog.palette, this.ctx.state().start)], layout: frontLayout(layout) }),
      () => this.drawRuns(),
    );
    // Which heads share a point needs the plot's scale, known only once it has been laid out.
    if (!scaled && this.runs.length) this.drawRuns();
  }

  async drawStep() {
    this.drawRuns();
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
  figure(size) {
    const landmarks = landmarksTrace(this.surface, this.ctx.catalog.palette, this.ctx.state().start);
    // A still is drawn afresh, with a legend that takes room of its own: Plotly keeps the scales equal.
    const layout = this.layout(size);
    const equal = (axis) => ({ ...axis, domain: [0, 1], constrain: "domain" });
    return {
      data: [this.contourTrace(), ...this.runs.map((r) => this.lineTrace(r)), landmarks, this.heads(), this.exits()],
      layout: { ...layout, xaxis: equal(layout.xaxis), yaxis: { ...equal(layout.yaxis), scaleanchor: "x" }, ...STILL_LEGEND },
    };
  }
}

// --- 3-D surface ----------------------------------------------------------------

/**
 * The part of the domain the runs cover, padded, so the camera frames the paths rather than a
 * corner of them; the whole domain when they cover most of it.
 */
export function frame(runs, start, domain) {
  const clip = (v, [lo, hi]) => Math.max(lo, Math.min(hi, v));
  const box = [[start[0], start[0]], [start[1], start[1]]];
  for (const run of runs) {
    const end = run.exit ? run.exit.step : run.px.length;
    for (let i = 0; i < end; i++) {
      const x = run.px[i], y = run.py[i];
      box[0][0] = Math.min(box[0][0], x); box[0][1] = Math.max(box[0][1], x);
      box[1][0] = Math.min(box[1][0], y); box[1][1] = Math.max(box[1][1], y);
    }
    if (run.exit) {
      box[0][0] = Math.min(box[0][0], run.exit.x); box[0][1] = Math.max(box[0][1], run.exit.x);
      box[1][0] = Math.min(box[1][0], run.exit.y); box[1][1] = Math.max(box[1][1], run.exit.y);
    }
  }
  return box.map(([lo, hi], a) => {
    const [dlo, dhi] = domain[a];
    const span = Math.max((hi - lo) * 1.3, (dhi - dlo) * 0.35);
    const mid = clip((lo + hi) / 2, [dlo + span / 2, dhi - span / 2]);
    if (span >= (dhi - dlo) * 0.8) return [dlo, dhi];
    return [clip(mid - span / 2, domain[a]), clip(mid + span / 2, domain[a])];
  });
}

/** At most `n` evenly spaced ticks in (0, top]: steps of 1, 2, 2.5 or 5 times a power of ten. */
export function heightTicks(top, n) {
  const base = 10 ** Math.floor(Math.log10(top / n));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * base).find((d) => Math.floor(top / d + 1e-9) <= n) ?? 10 * base;
  return Array.from({ length: Math.floor(top / step + 1e-9) }, (_, i) => Number(((i + 1) * step).toPrecision(12)));
}

// Viridis (van der Walt & Smith, matplotlib's default): perceptually uniform and readable in grey.
const HEIGHT_COLOURS = "Viridis";

export class SurfaceView extends View {
  constructor(el, ctx) {
    super(ctx);
    this.el = el;
  }

  height(f) { return lift(f, this.surface.floor); }

  z(run, i) { return this.height(run.losses[i]) + this.lift; }

  /**
   * A run's path up to step m as the 3-D view draws it: cut where it first leaves the box the axes
   * span, ending on the box's face. A run that blew up would otherwise stand as a bar far above
   * the surface (the 2-D views cut it at the plot's edge the same way).
   */
  path(run, m) {
    const [[x0, x1], [y0, y1], [, z1]] = this.box;
    const lo = [x0, y0, -Infinity], hi = [x1, y1, z1];
    const out = [[], [], []];
    for (let i = 0; i <= m; i++) {
      const p = [run.px[i], run.py[i], this.z(run, i)];
      if (p.every((v, a) => v >= lo[a] && v <= hi[a])) {
        p.forEach((v, a) => out[a].push(v));
        continue;
      }
      if (i === 0) p.forEach((v, a) => out[a].push(Math.max(lo[a], Math.min(hi[a], v))));
      else {
        const q = out.map((vs) => vs.at(-1));
        const t = Math.min(1, ...p.map((v, a) => (v > hi[a] ? (hi[a] - q[a]) / (v - q[a]) : v < lo[a] ? (lo[a] - q[a]) / (v - q[a]) : 1)));
        p.forEach((v, a) => out[a].push(q[a] + t * (v - q[a])));
      }
      break;
    }
    return out;
  }

  /** A path and, under it, a white casing: every colour, black included, stands out on any height colour. */
  lineTraces(run) {
    const { colour, dash } = this.style(run.optimizer);
    const [x, y, z] = this.path(run, headIndex(run, this.k));
    const w = 6 * thickness();
    return [
      { type: "scatter3d", mode: "lines", name: "casing", hoverinfo: "skip", showlegend: false, x, y, z, line: { color: "#ffffff", width: w + 5 } },
      { type: "scatter3d", mode: "lines", name: this.label(run.optimizer), hoverinfo: "name", x, y, z, line: { color: colour, width: w, dash } },
    ];
  }

  heads() {
    return headsTrace("scatter3d", this.runs, this.k, (id) => this.style(id), (run, m) => this.path(run, m).map((vs) => vs.at(-1)));
  }

  exits() {
    const z = (run) => this.height(this.surface.valueAt([run.exit.x, run.exit.y])) + this.lift;
    return exitsTrace("scatter3d", this.runs, this.k, (id) => this.style(id), (id) => this.label(id), z);
  }

  draw() {
    const { data, layout } = this.figure();
    return Plotly.react(this.el, data, layout, { ...CONFIG, displayModeBar: "hover" });
  }

  /** The surface, the paths and the camera as one figure (the page's, or a PNG or SVG of this frame). */
  figure(size = plotSize(this.el.parentElement)) {
    const { grid, spec } = this.surface;
    const zt = grid.z.map((row) => row.map((f) => this.height(f)));
    const [x, y] = frame(this.runs, this.ctx.state().start, spec.domain);
    // The height range of the framed part only, so a corner of the domain is not flattened by the rest.
    let top = 0;
    grid.y.forEach((gy, j) => {
      if (gy < y[0] || gy > y[1]) return;
      grid.x.forEach((gx, i) => { if (gx >= x[0] && gx <= x[1] && Number.isFinite(zt[j][i])) top = Math.max(top, zt[j][i]); });
    });
    top ||= 1;
    // Paths float a hair above the surface, so it never hides them where they hug a valley floor.
    this.lift = top * 0.015;
    this.box = [x, y, [0, top * 1.05]];
    const surface = {
      type: "surface", x: grid.x, y: grid.y, z: zt, colorscale: HEIGHT_COLOURS, cmin: 0, cmax: top,
      showscale: false, opacity: 0.9, hoverinfo: "skip",
      lighting: { ambient: 0.75, diffuse: 0.5, specular: 0.05, roughness: 0.9 },
      contours: { z: { show: true, usecolormap: false, color: "rgba(255,255,255,0.55)", width: 1, start: 0, end: top, size: top / 12 } },
    };
    const f = fontSize();
    const axis = (title, range, n) => ({
      title: { text: title, font: { size: f } }, range, nticks: n, tickfont: { size: Math.round(f * 0.9) },
      backgroundcolor: "#f4f6f8", showbackground: true,
    });
    // The height's labels start above 0: at 0 they sat on the corner where x's first label is.
    const zaxis = { ...axis("log(1 + f − f<sub>min</sub>)", this.box[2], 4), tickmode: "array", tickvals: heightTicks(this.box[2][1], 4) };
    // A view narrower than it is wide-enough for the box (a tall panel beside the loss) steps the
    // camera back, so the height's title and labels on the box's left edge stay on the canvas.
    const back = Math.max(1, 1.2 * (size.height / size.width));
    const eye = { x: 1.25 * back, y: -1.55 * back, z: 1.05 * back };
    const layout = {
      ...size, margin: { l: 0, r: 0, t: 0, b: 0 }, showlegend: false,
      font: { family: FONT, size: f }, uirevision: JSON.stringify([this.surface.key, x, y]),
      scene: {
        xaxis: axis(spec.axes?.[0] ?? "x", x, 5), yaxis: axis(spec.axes?.[1] ?? "y", y, 5),
        zaxis,
        aspectmode: "manual", aspectratio: { x: 1, y: 1, z: 0.55 }, camera: { eye, center: { x: 0, y: 0, z: -0.1 } },
      },
    };
    const landmarks = landmarksTrace(this.surface, this.ctx.catalog.palette, this.ctx.state().start, (p) => this.height(this.surface.valueAt(p)) + this.lift);
    return { data: [surface, landmarks, ...this.runs.flatMap((r) => this.lineTraces(r)), this.heads(), this.exits()], layout };
  }

  async drawStep() {
    const n = this.runs.length;
    if (!n) return;
    const lines = this.runs.flatMap((r) => this.lineTraces(r));
    const exits = this.exits();
    const all = [...lines, this.heads(), exits];
    await Plotly.restyle(this.el, {
      x: all.map((t) => t.x), y: all.map((t) => t.y), z: all.map((t) => t.z),
      text: [...all.slice(1).map(() => undefined), exits.text], "marker.color": [...all.slice(1).map(() => undefined), exits.marker.color],
    }, all.map((_, i) => i + 2));
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
    this.moving = new RunLayer(bg, fg);
    this.fg = fg;
    this.range = null;
  }

  /** Loss above the known minimum on a log axis; the raw loss on a linear one where there is no minimum. */
  measure() {
    const fStar = this.surface.spec.minimum_value;
    if (fStar === null || fStar === undefined) {
      const { z_min: lo, z_max: hi } = this.surface.grid;
      const far = 1e3 * (hi - lo);
      return { log: false, y: (f) => Math.max(lo - far, Math.min(hi + far, f)), title: t("loss f") };
    }
    return { log: true, y: (f) => Math.max(f - fStar, 1e-16), title: fStar === 0 ? t("loss f (log)") : t("f − f* (log), f* = {0}", fStar.toPrecision(5)) };
  }

  /**
   * The axis follows the runs that stayed finite: one that diverged would stretch it to 1e200 and
   * flatten the others, so it runs off the top instead and its head is marked there.
   */
  yRange(m) {
    let lo = Infinity, hi = -Infinity;
    const finite = this.runs.filter((r) => r.diverged_at === null);
    for (const run of finite.length ? finite : this.runs) for (const f of run.losses) {
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

  /** The top of the axis in data units: values past it are drawn just above it (off the plot). */
  ceiling() {
    return this.m.log ? 10 ** this.range[1] : this.range[1];
  }

  lineTrace(run) {
    const { colour, dash } = this.style(run.optimizer);
    const label = this.label(run.optimizer);
    const cap = this.ceiling() * (this.m.log ? 10 : 1) + (this.m.log ? 0 : this.range[1] - this.range[0]);
    return {
      type: "scatter", mode: "lines", name: label, y: run.losses.slice(0, headIndex(run, this.k) + 1).map((f) => Math.min(this.m.y(f), cap)),
      line: { color: colour, dash, width: 2 * thickness() }, hovertemplate: `${label}<br>${t("step {0}", "%{x}")}<br>%{y:.4g}<extra></extra>`,
    };
  }

  drawRuns() {
    const lines = this.runs.map((run) => {
      const { name, y, line } = this.lineTrace(run);
      return { name, y, line, hover: (i) => [name, t("step {0}", i), `${this.m.title.split(" (")[0].split("（")[0]} ${g4(this.m.y(run.losses[i]))}`] };
    });
    this.moving.draw({ lines, marks: [this.heads()], rule: this.k }, plotSize(this.fg.parentElement));
  }

  /** Heads above the axis sit on its top edge as an upward arrow: that run has run off (or diverged). */
  heads() {
    const top = this.ceiling();
    const trace = headsTrace("scatter", this.runs, this.k, (id) => this.style(id), (run, m) => [m, Math.min(this.m.y(run.losses[m]), top)]);
    trace.marker.symbol = this.runs.map((run) => (this.m.y(run.losses[headIndex(run, this.k)]) > top ? "triangle-up" : "circle"));
    trace.cliponaxis = false;
    return trace;
  }

  stepLine() {
    return [{ type: "line", xref: "x", yref: "paper", x0: this.k, x1: this.k, y0: 0, y1: 1, line: { color: "#666", width: 1, dash: "dot" } }];
  }

  layout(size = plotSize(this.fg.parentElement)) {
    const steps = this.ctx.state().steps;
    const m = margin();
    const down = tickCount(size.height - m.t - m.b, false);
    return {
      ...size, margin: m, showlegend: false, font: { family: FONT, size: fontSize() },
      xaxis: { title: { text: t("step") }, range: [0, steps], zeroline: false, fixedrange: true, ...linearTicks([0, steps], size.width - m.l - m.r, true) },
      yaxis: {
        title: { text: this.m.title }, type: this.m.log ? "log" : "linear", range: this.range, exponentformat: "power", fixedrange: true,
        // A label per decade, or per second or third, as many as fit, rather than Plotly's 2 and 5 between them.
        dtick: this.m.log ? Math.max(1, Math.ceil((this.range[1] - this.range[0]) / Math.max(1, down - 1))) : undefined,
        ...(this.m.log ? {} : linearTicks(this.range, size.height - m.t - m.b, false)),
      },
      paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff",
    };
  }

  draw() {
    this.m = this.measure();
    this.range = this.yRange(this.m);
    const layout = this.layout();
    return this.layers.draw(
      JSON.stringify([this.surface.key, layout.width, layout.height, fontSize(), layout.xaxis.range, this.range, this.m.title]),
      () => ({ data: [], layout }),
      () => ({ data: [], layout: frontLayout(layout) }),
      () => this.drawRuns(),
    );
  }

  async drawStep() {
    this.drawRuns();
  }

  /** The axes and the lines as one figure with a legend, for a PNG or SVG of this frame. */
  figure(size) {
    if (!this.m) {
      this.m = this.measure();
      this.range = this.yRange(this.m);
    }
    return { data: [...this.runs.map((r) => this.lineTrace(r)), this.heads()], layout: { ...this.layout(size), shapes: this.stepLine(), ...STILL_LEGEND } };
  }
}
