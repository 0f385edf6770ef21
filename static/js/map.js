// The map view: one optimizer's runs over a grid of two settings (two hyperparameters, or the start x × y),
// each cell coloured by where its run ends. Rows stream in from the sweep endpoints; a click on a cell
// puts its settings into the state, so the contour beside the map shows that run.
//
// The cells are painted on a canvas that Plotly lays under its axes as an image, so a 128 × 128 map costs
// one image, not 16,384 SVG shapes (the bundle's heatmap serves the exported HTML map).

import { ApiError, describe, readLines } from "./api.js";
import { BASIN_COLOURS, DIVERGED_COLOUR, NOT_CONVERGED_COLOUR, VIRIDIS } from "./generated/palette.js";
import { requestBody, scheduleOf, valueOf, withValue } from "./state.js";
import { announce, fmt, oncePerFrame, put } from "./util.js";
import { CONFIG, FONT, View, fontSize } from "./views.js";
import { t, withLang } from "./i18n.js";

export const SIZES = [32, 64, 128];
export const COLOURINGS = { loss: "final loss", steps: "steps to tolerance", basin: "basin" };
// Their names as the menu shows them, in the page's language.
const COLOURING_LABELS = { loss: t("final loss"), steps: t("steps to tolerance"), basin: t("basin") };
// A cell has converged once its loss is within this of the surface's minimum value (the sweep's default).
const TOL = 1e-3;
// The map's colours are app/palette.py's, as the exports colour the same cells.
export { BASIN_COLOURS, DIVERGED_COLOUR, NOT_CONVERGED_COLOUR } from "./generated/palette.js";
const MAX_CANVAS = 640;

export function rgb(hex) {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
const VIRIDIS_RGB = VIRIDIS.map(rgb);

/** viridis at t in [0, 1], as [r, g, b]. */
function ramp(t) {
  const u = Math.max(0, Math.min(1, t)) * (VIRIDIS_RGB.length - 1);
  const i = Math.min(VIRIDIS_RGB.length - 2, Math.floor(u)), f = u - i;
  return VIRIDIS_RGB[i].map((c, k) => Math.round(c + f * (VIRIDIS_RGB[i + 1][k] - c)));
}

/** A start's colour by the basin it ends in (the index of a minimum, -1 elsewhere, -2 diverged), as [r, g, b]. */
export function basinColour(b, diverged) {
  if (diverged || b === -2) return rgb(DIVERGED_COLOUR);
  return b < 0 ? rgb(NOT_CONVERGED_COLOUR) : rgb(BASIN_COLOURS[b % BASIN_COLOURS.length]);
}

/**
 * The contour's minima take their basins' colours while `who` ("map", "basins") shows basins, and their
 * landmark colour again once nothing does.
 */
export function colourMinima(scene, who, on) {
  const asking = (scene.minimaColouredBy ??= new Set());
  if (on) asking.add(who);
  else asking.delete(who);
  const surface = scene.surface;
  const colours = asking.size ? BASIN_COLOURS : null;
  if (!surface || (surface.minimaColours ?? null) === colours) return;
  if (colours) surface.minimaColours = colours;
  else delete surface.minimaColours;
  scene.views.contour.schedule("full");
}

/** The settings a map can vary for an optimizer: its float hyperparameters with a range, then the start. */
export function axisChoices(opt, surface, domain = surface.domain) {
  const hps = opt.hyperparameters.filter((h) => h.kind === "float" && h.high > h.low)
    .map((h) => ({ name: h.name, label: h.name, low: h.low, high: h.high, log: h.log }));
  const [[x0, x1], [y0, y1]] = domain;
  return [...hps, { name: "x", label: t("start x"), low: x0, high: x1, log: false, start: 0 },
    { name: "y", label: t("start y"), low: y0, high: y1, log: false, start: 1 }];
}

/** The map keys of a state with the automatic ones ("") filled in. */
export function mapSettings(s, catalog) {
  const optId = catalog.optimizer(s["map.opt"]) ? s["map.opt"] : (s.opt[0] ?? catalog.raw.optimizers[0].id);
  // A typed formula may have a domain of its own.
  const domain = s.surface === "custom" && s.domain ? [s.domain.slice(0, 2), s.domain.slice(2)] : undefined;
  const axes = axisChoices(catalog.optimizer(optId), catalog.surface(s.surface), domain);
  const byName = new Map(axes.map((a) => [a.name, a]));
  const x = byName.has(s["map.x"]) ? s["map.x"] : "lr";
  const other = (not) => (not === "x" ? "y" : not === "y" ? "x" : axes.find((a) => a.name !== not && a.start === undefined)?.name ?? "y");
  const y = byName.has(s["map.y"]) && s["map.y"] !== x ? s["map.y"] : other(x);
  const startMap = byName.get(x).start !== undefined && byName.get(y).start !== undefined;
  const color = s["map.color"] in COLOURINGS ? s["map.color"] : startMap ? "basin" : "loss";
  const n = SIZES.includes(Number(s["map.n"])) ? Number(s["map.n"]) : 64;
  return { opt: optId, x: zoomed(byName.get(x), s["map.xr"]), y: zoomed(byName.get(y), s["map.yr"]), axes, color, n };
}

/** An axis narrowed to a "low,high" range inside its own (from a zoom); the whole axis for anything else. */
export function zoomed(axis, text) {
  const [lo, hi] = String(text ?? "").split(",").map(Number);
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && axis.low <= lo && lo < hi && hi <= axis.high)) return axis;
  return { ...axis, low: lo, high: hi, zoomed: true };
}

/** The sweep request of a map, and the endpoint that answers it. */
export function mapRequest(s, m) {
  const base = requestBody(s);
  const hp = { ...(s.hp[m.opt] ?? {}) };
  delete hp[m.x.name];
  delete hp[m.y.name];
  const range = (a) => ({ low: a.low, high: a.high, num: m.n, log: a.log });
  return {
    url: m.color === "basin" ? "/api/basins/stream" : "/api/sweeps/stream",
    body: {
      surface: base.surface, optimizer: m.opt, start: base.start, steps: base.steps,
      grid: { [m.x.name]: range(m.x), [m.y.name]: range(m.y) },
      hyperparameters: hp, schedule: scheduleOf(s, m.opt), noise: base.noise, seed: base.seed, tol: TOL,
    },
  };
}

/** Colour-bar ticks at whole powers of ten when the scale is log10 of a value. */
function powerTicks(sc) {
  if (!sc.log) return {};
  const a = Math.ceil(sc.lo), b = Math.floor(sc.hi);
  if (b < a) return {};
  const step = Math.max(1, Math.ceil((b - a) / 6));
  const tickvals = [];
  for (let k = a; k <= b; k += step) tickvals.push(k);
  return { tickvals, ticktext: tickvals.map((k) => (k === 0 ? "1" : `10<sup>${k}</sup>`)) };
}

/** Cell centres' edges on an axis, in Plotly's coordinates (log10 on a log axis). */
function edges(values, log) {
  const v = log ? values.map(Math.log10) : values;
  const d = v.length > 1 ? (v[v.length - 1] - v[0]) / (v.length - 1) : 1;
  return [v[0] - d / 2, v[v.length - 1] + d / 2];
}

/** The arrays a streamed sweep fills, for a body whose grid varies `x` across and `y` up. */
export function sweepData(body, x, y) {
  const [nx, ny] = [body.grid[x].num, body.grid[y].num];
  return {
    steps: body.steps, nx, ny, rows: 0, progress: 0, done: false, error: null, refused: false, xs: null, ys: null,
    fmin: null, minima: [], loss: new Float64Array(nx * ny).fill(NaN), hit: new Float64Array(nx * ny).fill(NaN),
    diverged: new Uint8Array(nx * ny), basin: new Int8Array(nx * ny), known: new Uint8Array(nx * ny),
  };
}

/** One line of /api/sweeps/stream or /api/basins/stream, into `data` (from sweepData). */
function takeLine(data, msg) {
  const ny = data.ny;
  if (msg.type === "meta") {
    [data.xs, data.ys] = msg.values;
    data.fmin = msg.minimum_value;
    data.minima = msg.minima ?? [];
  } else if (msg.type === "rows") {
    for (let i = msg.row0; i < msg.row1; i++) {
      const r = i - msg.row0;
      for (let j = 0; j < ny; j++) {
        const c = i * ny + j;
        data.loss[c] = msg.final_losses[r][j] ?? NaN;
        data.hit[c] = msg.steps_to_tol[r][j] ?? NaN;
        data.diverged[c] = msg.diverged[r][j] ? 1 : 0;
        if (msg.basin) data.basin[c] = msg.basin[r][j];
        data.known[c] = 1;
      }
    }
    data.rows = msg.row1;
    data.progress = msg.progress ?? data.rows / data.nx;
  } else if (msg.type === "progress") {
    // Inside a row too wide for one piece of work: no new cells yet, but the bar moves.
    data.progress = msg.progress;
  } else if (msg.type === "done") {
    data.done = true;
  } else if (msg.type === "error") {
    data.error = msg.message;
  }
}

/**
 * Stream a sweep into `data`, calling `onChunk()` after each piece read; it returns false to stop
 * reading. A refusal or a lost connection ends up in data.error (data.refused for a refusal); an abort
 * just returns.
 */
export async function streamSweep(url, body, signal, data, onChunk) {
  try {
    const resp = await fetch(withLang(url), { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal });
    if (!resp.ok) {
      const detail = await resp.json().then((b) => b.detail, () => null);
      throw new ApiError(detail ? describe(detail) : [t("The server answered {0}.", resp.status)], resp.status);
    }
    let stopped = false;
    await readLines(resp, (msg) => takeLine(data, msg), () => {
      stopped = !onChunk();
      return !stopped;
    });
    if (stopped) return;
    if (!data.done && !data.error) data.error = t("the stream ended early");
  } catch (err) {
    if (err.name === "AbortError" || signal.aborted) return;
    data.refused = err instanceof ApiError;
    data.error = data.refused ? err.lines.join(" ") : t("could not reach the server: {0}", err.message);
  }
}

/** An element with attributes and, if given, its text. */
export function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

export class MapView extends View {
  /** `panel` is the empty .panel-map section; `scene` the page's scene, whose state the map reads and sets. */
  constructor(panel, scene) {
    super(scene.ctx);
    this.scene = scene;
    this.catalog = scene.catalog;
    this.panel = panel;
    this.data = null;
    this.controller = null;
    this.cursor = null;
    this.build();
  }

  build() {
    const bar = el("div", { class: "map-bar" });
    const select = (key, label) => {
      const wrap = el("label", { class: "field" }, label);
      const s = el("select", { "data-map": key });
      s.addEventListener("change", () => this.choose(key, s.value));
      wrap.append(s);
      bar.append(wrap);
      return s;
    };
    this.optSelect = select("map.opt", t("Optimizer"));
    for (const o of this.catalog.raw.optimizers) this.optSelect.append(el("option", { value: o.id }, o.label));
    this.xSelect = select("map.x", t("Across"));
    this.ySelect = select("map.y", t("Up"));
    this.colorSelect = select("map.color", t("Colour"));
    for (const id of Object.keys(COLOURINGS)) this.colorSelect.append(el("option", { value: id }, COLOURING_LABELS[id]));
    this.nSelect = select("map.n", t("Cells"));
    for (const n of SIZES) this.nSelect.append(el("option", { value: String(n) }, `${n} × ${n}`));
    this.unzoom = el("button", { type: "button", class: "small", hidden: "" }, t("Whole range"));
    this.unzoom.title = t("Back to each axis's whole range (or double-click the map)");
    this.unzoom.addEventListener("click", () => this.zoom({ "map.xr": "", "map.yr": "" }));
    bar.append(this.unzoom);
    // The export box saves the contour, 3-D or loss view; the map saves itself.
    for (const format of ["png", "svg"]) {
      const save = el("button", { type: "button", class: "small", "data-map-save": format }, format.toUpperCase());
      save.title = t("Save the map as {0}, with its title and colour key", format.toUpperCase());
      save.addEventListener("click", () => this.save(format));
      bar.append(save);
    }
    this.progress = el("progress", { max: "1", value: "0", "aria-label": t("Map progress") });
    this.status = el("span", { class: "map-status", role: "status", "aria-live": "polite" });
    const statusRow = el("div", { class: "map-status-row" });
    statusRow.append(this.progress, this.status);

    this.stack = el("div", { class: "map-stack" });
    this.plot = el("div", { class: "plot map-plot", tabindex: "0", role: "application", "aria-label":
      t("Map: arrow keys move between cells, Enter runs the settings of the cell; drag a box to zoom, double-click for the whole range") });
    this.tip = el("div", { class: "map-tip", hidden: "" });
    this.stack.append(this.plot, this.tip);
    this.key = el("div", { class: "map-key", role: "group", "aria-label": t("Colour key") });
    this.panel.append(bar, statusRow, this.stack, this.key);

    this.plot.addEventListener("mousemove", (e) => this.hover(this.cellAt(e)));
    this.plot.addEventListener("mouseleave", () => this.hover(null));
    // Dragging a box zooms (Plotly's), so a click is a press and release in about the same place.
    this.plot.addEventListener("mousedown", (e) => { this.pressed = [e.clientX, e.clientY]; });
    this.plot.addEventListener("click", (e) => {
      const [x, y] = this.pressed ?? [e.clientX, e.clientY];
      const c = Math.hypot(e.clientX - x, e.clientY - y) < 5 && this.cellAt(e);
      if (c) this.apply(c);
    });
    this.plot.addEventListener("keydown", (e) => this.onKey(e));
    this.plot.addEventListener("blur", () => this.hover(null));
  }

  /** Plotly zoomed the axes (a dragged box) or reset them (a double click): the map follows, at full resolution. */
  relayout(e) {
    const m = this.data?.m;
    if (!m) return;
    const keys = {};
    for (const [axis, name, key] of [[m.x, "xaxis", "map.xr"], [m.y, "yaxis", "map.yr"]]) {
      if (e[`${name}.autorange`]) keys[key] = "";
      const lo = e[`${name}.range[0]`], hi = e[`${name}.range[1]`];
      if (lo === undefined || hi === undefined) continue;
      const v = [lo, hi].map((t) => (axis.log ? 10 ** t : t)).map((t) => Number(t.toPrecision(4)));
      keys[key] = `${Math.max(v[0], axis.low)},${Math.min(v[1], axis.high)}`;
    }
    if (Object.keys(keys).length) this.zoom(keys);
  }

  zoom(keys) {
    this.scene.update({ ...this.scene.s, ...keys });
    this.schedule("full");
  }

  /** A map control changed: an optimizer change resets the axes to that optimizer's. */
  choose(key, value) {
    const s = this.scene.s;
    let n = { ...s, [key]: value };
    if (key !== "map.color" && key !== "map.n") n = { ...n, "map.xr": "", "map.yr": "" }; // new axes, whole ranges
    if (key === "map.opt") n = { ...n, "map.x": "", "map.y": "" };
    const m = this.m;
    if (key === "map.x" && value === m.y.name) n["map.y"] = m.x.name; // picking the other axis swaps them
    if (key === "map.y" && value === m.x.name) n["map.x"] = m.y.name;
    this.scene.update(n);
    this.schedule("full");
  }

  setActive(on) {
    if (!on && this.active) {
      this.controller?.abort();
      colourMinima(this.scene, "map", false);
    }
    return super.setActive(on);
  }

  ready() { return this.surface !== null; }

  drawStep() { return Promise.resolve(); }

  syncControls() {
    const m = this.m;
    put(this.optSelect, "value", m.opt);
    for (const [sel, axis] of [[this.xSelect, m.x], [this.ySelect, m.y]]) {
      const names = m.axes.map((a) => a.name).join();
      if (sel.dataset.names !== names) {
        sel.dataset.names = names;
        sel.replaceChildren(...m.axes.map((a) => el("option", { value: a.name }, a.label)));
      }
      put(sel, "value", axis.name);
    }
    put(this.colorSelect, "value", m.color);
    put(this.nSelect, "value", String(m.n));
  }

  async draw() {
    const s = this.scene.s;
    this.m = mapSettings(s, this.catalog);
    this.syncControls();
    const { url, body } = mapRequest(s, this.m);
    const key = JSON.stringify([url, body]);
    if (this.data?.key !== key) this.fetch(key, url, body);
    else this.data.m = this.m; // the same cells, coloured by something else
    colourMinima(this.scene, "map", this.m.color === "basin");
    await this.render();
  }

  async fetch(key, url, body) {
    this.controller?.abort();
    const controller = (this.controller = new AbortController());
    const data = (this.data = { key, m: this.m, ...sweepData(body, this.m.x.name, this.m.y.name) });
    this.setStatus(0, t("Computing the map…"));
    await streamSweep(url, body, controller.signal, data, () => {
      if (this.data !== data) return false;
      this.requestRender();
      return true;
    });
    if (this.data === data) this.requestRender();
  }

  /** Render at most once per frame, however many rows arrive: the timeline keeps its frames. */
  requestRender = oncePerFrame(() => {
    if (this.active) this.schedule("full");
  });

  setStatus(progress, text, bad = false) {
    put(this.progress, "value", progress);
    put(this.progress, "hidden", progress >= 1);
    put(this.status, "textContent", text);
    this.status.classList.toggle("bad", bad);
  }

  /** What a cell is coloured by: a value on the ramp (0 bad .. 1 good), or a fixed colour. */
  scale(data) {
    const m = data.m;
    if (m.color === "steps") return { lo: 0, hi: data.steps, title: t("steps until f − f* ≤ {0}", TOL), value: (c) => data.hit[c], log: false };
    const hasMin = data.fmin !== null && data.fmin !== undefined;
    const value = hasMin ? (c) => Math.log10(Math.max(data.loss[c] - data.fmin, 1e-16)) : (c) => data.loss[c];
    const seen = [];
    for (let c = 0; c < data.loss.length; c++) {
      if (!data.known[c] || data.diverged[c]) continue;
      const v = value(c);
      if (Number.isFinite(v)) seen.push(v);
    }
    // The 2nd to 98th percentiles: a few runs on the edge of blowing up (losses of 1e300) would
    // otherwise stretch the scale until every other cell looks the same.
    seen.sort((a, b) => a - b);
    let lo = seen.length ? seen[Math.floor(0.02 * (seen.length - 1))] : 0;
    let hi = seen.length ? seen[Math.ceil(0.98 * (seen.length - 1))] : 1;
    // Worse than where the runs started is all one colour: the loss at the start, or the surface's highest.
    const top = hasMin && this.worst(data);
    if (Number.isFinite(top)) hi = Math.min(hi, Math.max(top, lo + 1));
    if (!(hi > lo)) { lo -= 1; hi = lo + 2; }
    return { lo, hi, value, log: hasMin, title: hasMin ? (data.fmin === 0 ? t("final loss f") : t("final f − f*, f* = {0}", fmt(data.fmin, 5))) : t("final loss f") };
  }

  /** log10 of the loss above f* where the runs start (the grid's highest for a map of starts). */
  worst(data) {
    const m = data.m, grid = this.surface.grid;
    const f = m.x.start !== undefined || m.y.start !== undefined ? grid.z_max : this.surface.valueAt(this.scene.s.start);
    return Math.log10(f - data.fmin);
  }

  colourOf(data, c, sc) {
    if (!data.known[c]) return null;
    if (data.diverged[c]) return rgb(DIVERGED_COLOUR);
    if (data.m.color === "basin") return basinColour(data.basin[c], false);
    const v = sc.value(c);
    if (!Number.isFinite(v)) return rgb(NOT_CONVERGED_COLOUR);
    return ramp(1 - (v - sc.lo) / (sc.hi - sc.lo));
  }

  /**
   * The cells as a PNG data URL, `k` pixels a side each. On the page one pixel per cell is enough (CSS keeps
   * the edges sharp) and encodes in a millisecond instead of tens; a saved image has no CSS, so it gets more.
   */
  image(data, sc, k = 1) {
    const canvas = (this.canvas ??= document.createElement("canvas"));
    canvas.width = data.nx * k;
    canvas.height = data.ny * k;
    const g = canvas.getContext("2d");
    const img = g.createImageData(canvas.width, canvas.height);
    for (let i = 0; i < data.nx; i++) {
      for (let j = 0; j < data.ny; j++) {
        const col = this.colourOf(data, i * data.ny + j, sc);
        if (!col) continue;
        for (let b = 0; b < k; b++) {
          let p = (((data.ny - 1 - j) * k + b) * canvas.width + i * k) * 4;
          for (let a = 0; a < k; a++, p += 4) {
            img.data[p] = col[0]; img.data[p + 1] = col[1]; img.data[p + 2] = col[2]; img.data[p + 3] = 255;
          }
        }
      }
    }
    g.putImageData(img, 0, 0);
    return canvas.toDataURL();
  }

  /** The plot's size now: the status above it may have wrapped onto another line since the last draw. */
  size() {
    const r = this.plot.getBoundingClientRect();
    return { width: Math.max(200, Math.round(r.width)), height: Math.max(160, Math.round(r.height)) };
  }

  /** Where the state's own settings sit on the map. */
  current() {
    const s = this.scene.s, m = this.m;
    const at = (a) => (a.start !== undefined ? s.start[a.start] : valueOf(`${m.opt}.${a.name}`, s, this.catalog));
    return [at(m.x), at(m.y)];
  }

  async save(format) {
    if (!this.data?.xs) return;
    const { nx, ny, steps } = this.data;
    await Plotly.downloadImage(this.figure(), {
      format, width: 1280, height: 720, filename: `gradscape-map-${this.scene.s.surface}-${this.data.m.opt}-${nx}x${ny}x${steps}`,
    });
  }

  /** The map as one figure with a title and its colour key, for a PNG or SVG (the page shows both in HTML). */
  figure() {
    const { data, layout } = this.plotFigure(Math.max(1, Math.floor(MAX_CANVAS / Math.max(this.data.nx, this.data.ny))));
    const d = this.data, m = d.m;
    const spec = this.catalog.surface(this.scene.s.surface);
    const title = t("{0} on {1}: {2} × {3} runs of {4} steps", this.catalog.optimizer(m.opt).label, spec.label, d.nx, d.ny, d.steps);
    const key = [...this.key.querySelectorAll(".map-key-item")].map((item) => {
      const colour = item.querySelector(".map-swatch").style.background;
      return `<span style="color:${colour}">■</span> ${item.textContent}`;
    }).join("   ");
    return { data, layout: { ...layout, margin: { ...layout.margin, t: 40, b: layout.margin.b + 30 }, title: { text: title, x: 0.02 },
      annotations: [{ text: key, xref: "paper", yref: "paper", x: 0, y: 0, yshift: -layout.margin.b - 14, showarrow: false, xanchor: "left", yanchor: "top" }] } };
  }

  plotFigure(k = 1) {
    const data = this.data, m = data.m;
    const sc = this.scale(data);
    const axis = (a, values) => ({
      title: { text: a.label }, type: a.log ? "log" : "linear", range: values ? edges(values, a.log) : undefined,
      showgrid: false, zeroline: false, ticks: "outside", mirror: true, linecolor: "#444", exponentformat: "power",
    });
    const layout = {
      ...this.size(), margin: { l: Math.round(4.6 * fontSize()), r: 10, t: 10, b: Math.round(3.4 * fontSize()) },
      font: { family: FONT, size: fontSize() }, showlegend: false, xaxis: axis(m.x, data.xs), yaxis: axis(m.y, data.ys),
      paper_bgcolor: "#ffffff", plot_bgcolor: "#f3f5f7", hovermode: false, dragmode: "zoom",
    };
    if (m.x.start !== undefined && m.y.start !== undefined) {
      // A map of starts is a map of the plane: equal scales, as on the contour.
      layout.yaxis.scaleanchor = "x";
      layout.xaxis.constrain = layout.yaxis.constrain = "domain";
    }
    const traces = [];
    if (data.xs) {
      const [x0, x1] = edges(data.xs, m.x.log), [y0, y1] = edges(data.ys, m.y.log);
      layout.images = [{
        source: this.image(data, sc, k), xref: "x", yref: "y", x: x0, y: y1, sizex: x1 - x0, sizey: y1 - y0,
        xanchor: "left", yanchor: "top", sizing: "stretch", layer: "below",
      }];
      if (m.color !== "basin") {
        // One invisible point carries the colour bar: the image has none of its own.
        traces.push({
          type: "scatter", mode: "markers", x: [data.xs[0]], y: [data.ys[0]], hoverinfo: "skip",
          marker: { opacity: 0, color: [sc.lo], cmin: sc.lo, cmax: sc.hi, reversescale: true, showscale: true,
            colorscale: VIRIDIS.map((c, i) => [i / (VIRIDIS.length - 1), c]),
            colorbar: { title: { text: sc.title, side: "right" }, thickness: 12, len: 0.9, outlinewidth: 0, ...powerTicks(sc) } },
        });
      }
    }
    if (m.x.start !== undefined && m.y.start !== undefined) {
      const mins = data.minima.length ? data.minima : this.surface.minima;
      traces.push({
        type: "scatter", mode: "markers", x: mins.map((p) => p[m.x.start]), y: mins.map((p) => p[m.y.start]), hoverinfo: "skip",
        marker: { symbol: this.catalog.palette.minimum_symbol, size: 16, line: { color: "#ffffff", width: 1.5 },
          color: mins.map((_, i) => (m.color === "basin" ? BASIN_COLOURS[i % BASIN_COLOURS.length] : this.catalog.palette.landmark_colour)) },
      });
    }
    const [cx, cy] = this.current();
    const mark = (size, width, colour) => ({
      type: "scatter", mode: "markers", x: [cx], y: [cy], hoverinfo: "skip",
      marker: { symbol: "circle-open", size, color: colour, line: { width, color: colour } },
    });
    traces.push(mark(19, 5, "#ffffff"), mark(17, 2, "#000000"));
    if (this.cursor) {
      const [i, j] = this.cursor;
      traces.push({ type: "scatter", mode: "markers", x: [data.xs[i]], y: [data.ys[j]], hoverinfo: "skip",
        marker: { symbol: "square-open", size: 14, color: "#000000", line: { width: 2 } } });
    }
    return { data: traces, layout };
  }

  async render() {
    const data = this.data;
    if (!data) return;
    if (!data.rows && !data.error && !data.done) {
      // Until the first rows come, the last map stays: redrawing an empty one costs a frame or more.
      this.setStatus(data.progress, t("Computing the map…"));
      return;
    }
    // Text and buttons first: they may take another line, and the plot is sized to what is left.
    const rows = t("{0} of {1} columns", data.rows, data.nx);
    const size = t("{0} × {1} runs of {2} steps", data.nx, data.ny, data.steps);
    if (data.refused) this.setStatus(1, t("The server refused this map: {0}", data.error), true);
    else if (data.error) this.setStatus(1, t("Stopped after {0}: {1}", rows, data.error), true);
    else if (data.done) this.setStatus(1, t("{0}: hover, click to run, drag to zoom.", size));
    else this.setStatus(data.progress, t("Computing {0}… {1}", size, rows));
    put(this.unzoom, "hidden", !(data.m.x.zoomed || data.m.y.zoomed));
    this.renderKey(data);
    const { data: traces, layout } = this.plotFigure();
    await Plotly.react(this.plot, traces, layout, { ...CONFIG, displayModeBar: false, staticPlot: false, doubleClick: false });
    if (!this.listening) {
      this.listening = true;
      this.plot.on("plotly_relayout", (e) => this.relayout(e));
      // Plotly takes the double click for itself (its drag layer), and says so with this event.
      this.plot.on("plotly_doubleclick", () => this.zoom({ "map.xr": "", "map.yr": "" }));
    }
    announce("map", { rows: data.rows, done: data.done, error: data.error });
  }


  renderKey(data) {
    const items = [];
    const swatch = (colour, label, shape = "square") => {
      const item = el("span", { class: "map-key-item" });
      const sw = el("span", { class: `map-swatch ${shape}` });
      sw.style.background = colour;
      item.append(sw, document.createTextNode(label));
      items.push(item);
    };
    if (data.m.color === "basin") {
      const mins = data.minima.length ? data.minima : this.surface.minima;
      mins.forEach((p, i) => swatch(BASIN_COLOURS[i % BASIN_COLOURS.length], t("ends at ({0}, {1})", fmt(p[0]), fmt(p[1])), "star"));
      swatch(NOT_CONVERGED_COLOUR, t("ends elsewhere (not converged)"));
    } else if (data.m.color === "steps") {
      swatch(NOT_CONVERGED_COLOUR, t("never within {0} of f*", TOL));
    }
    swatch(DIVERGED_COLOUR, t("diverged"));
    const sig = items.map((i) => i.textContent).join("|");
    if (this.key.dataset.sig !== sig) {
      this.key.dataset.sig = sig;
      this.key.replaceChildren(...items);
    }
  }

  /** The cell under a pointer event, or null off the cells. */
  cellAt(e) {
    const full = this.plot._fullLayout, data = this.data;
    const area = this.plot.querySelector(".nsewdrag");
    if (!full || !area || !data?.xs) return null;
    const r = area.getBoundingClientRect();
    const index = (ax, px, values, log) => {
      const [a, b] = edges(values, log);
      const t = (ax.p2l(px) - a) / (b - a);
      return t < 0 || t >= 1 ? null : Math.floor(t * values.length);
    };
    const i = index(full.xaxis, e.clientX - r.left, data.xs, data.m.x.log);
    const j = index(full.yaxis, e.clientY - r.top, data.ys, data.m.y.log);
    return i === null || j === null ? null : [i, j];
  }

  describeCell([i, j]) {
    const data = this.data, m = data.m, c = i * data.ny + j;
    const head = `${m.x.label} = ${fmt(data.xs[i], 4)}, ${m.y.label} = ${fmt(data.ys[j], 4)}`;
    if (!data.known[c]) return `${head}\n${t("not computed yet")}`;
    if (data.diverged[c]) return `${head}\n${t("diverged")}`;
    const lines = [head];
    const hasMin = data.fmin !== null && data.fmin !== undefined;
    lines.push(hasMin ? t("final f − f* = {0}", fmt(data.loss[c] - data.fmin)) : t("final loss = {0}", fmt(data.loss[c])));
    if (hasMin) lines.push(Number.isFinite(data.hit[c]) ? t("within {0} of f* at step {1}", TOL, data.hit[c]) : t("not within {0} of f* in {1} steps", TOL, data.steps));
    if (m.color === "basin") {
      const b = data.basin[c], p = data.minima[b];
      lines.push(b >= 0 ? t("ends at the minimum ({0}, {1})", fmt(p[0]), fmt(p[1])) : t("ends at no known minimum"));
    }
    return lines.join("\n");
  }

  hover(cell) {
    if (!cell) { put(this.tip, "hidden", true); return; }
    const full = this.plot._fullLayout, data = this.data;
    const [i, j] = cell;
    this.tip.textContent = this.describeCell(cell);
    const px = full.xaxis.l2p(data.m.x.log ? Math.log10(data.xs[i]) : data.xs[i]) + full.margin.l;
    const py = full.yaxis.l2p(data.m.y.log ? Math.log10(data.ys[j]) : data.ys[j]) + full.margin.t;
    const right = px > full.width / 2;
    this.tip.style.left = right ? "" : `${px + 14}px`;
    this.tip.style.right = right ? `${full.width - px + 14}px` : "";
    this.tip.style.top = `${Math.max(0, py - 10)}px`;
    put(this.tip, "hidden", false);
  }

  onKey(e) {
    const data = this.data;
    if (!data?.xs) return;
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
    if (moves[e.key]) {
      e.preventDefault();
      const [di, dj] = moves[e.key], step = e.shiftKey ? 8 : 1;
      const [i, j] = this.cursor ?? [data.nx >> 1, data.ny >> 1];
      this.cursor = [Math.max(0, Math.min(data.nx - 1, i + di * step)), Math.max(0, Math.min(data.ny - 1, j + dj * step))];
      this.schedule("full").then(() => this.hover(this.cursor));
    } else if (e.key === "Enter" && this.cursor) {
      e.preventDefault();
      this.apply(this.cursor);
    }
  }

  /** Put a cell's settings (or start) into the state and run it from step 0 beside the map. */
  apply([i, j]) {
    const data = this.data, m = data.m, catalog = this.catalog;
    let n = this.scene.s;
    for (const [a, v] of [[m.x, data.xs[i]], [m.y, data.ys[j]]]) {
      if (a.start !== undefined) {
        const start = [...n.start];
        start[a.start] = v;
        n = withValue("start", start, n, catalog);
      } else {
        n = withValue(`${m.opt}.${a.name}`, v, n, catalog);
      }
    }
    if (!n.opt.includes(m.opt)) n = { ...n, opt: [...n.opt, m.opt] };
    this.scene.update(n);
    this.scene.replay();
  }
}
