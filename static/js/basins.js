// Basins of attraction under the contour: every start of the plane coloured by the minimum that one
// optimizer's run from it ends at, in the colours of the map's basins and of the contour's minima; red
// where the run diverged, grey stripes where it ends at no minimum.
//
// It is a canvas of its own between the contour (#contour-bg) and the trajectories, placed from the
// contour's axes: the contour is never redrawn for it, it takes no click (a click on the contour sets the
// start), and while it is off nothing is asked of the server and nothing is drawn.

import { BASIN_COLOURS, DIVERGED_COLOUR, basinColour, colourMinima, el, streamSweep, sweepData } from "./map.js";
import { basinsOf, requestBody, runName, scheduleOf, surfaceKey } from "./state.js";
import { announce, debounce, fmt, oncePerFrame, put } from "./util.js";
import { t } from "./i18n.js";

/** Starts per side: 16,384 runs, a few tens of milliseconds of server time at 500 steps. */
export const CELLS = 128;
// Enough colour to read the basins, little enough that the contour's lines still show through.
const ALPHA = Math.round(0.35 * 255);
const STRIPE = { colour: [61, 70, 80], alpha: Math.round(0.45 * 255), period: 8, width: 3 };
const UNKNOWN = -3;

export class BasinsLayer {
  /** `control`, when given, is the empty element the choice, progress and colour key go in (the page's). */
  constructor(scene, control = null) {
    this.scene = scene;
    this.catalog = scene.catalog;
    this.bg = document.getElementById("contour-bg");
    this.canvas = el("canvas", { class: "basins-layer", "aria-hidden": "true", hidden: "" });
    this.bg.after(this.canvas);
    // The key's part the stars do not give, on the contour itself: the settings may be folded away.
    this.note = el("div", { class: "basins-note", hidden: "" });
    this.bg.parentElement.append(this.note);
    this.data = null; // the sweep being streamed (or last streamed)
    this.shown = null; // each cell's class as painted: the newest known, so a change repaints as it streams
    this.wanted = null;
    this.controller = null;
    this.waiting = false;
    // While a sweep streams, a newer state (a dragged slider) waits for the drag to pause.
    this.fetchSoon = debounce((key, body) => this.fetch(key, body), 120);
    if (control) this.build(control);
    document.addEventListener("gradscape:drawn", (e) => { if (e.detail.kind === "data") this.sync(); });
  }

  build(root) {
    const label = el("label", { class: "field" }, t("Basins under the contour"));
    this.select = el("select", { "data-basins": "" });
    this.select.title = t("Colour each start on the contour by the minimum this optimizer's run from it ends at");
    this.select.addEventListener("change", () => this.scene.update({ ...this.scene.s, basins: this.select.value }));
    label.append(this.select);
    this.progress = el("progress", { max: "1", value: "0", hidden: "", "aria-label": t("Basins progress") });
    this.status = el("span", { class: "basins-status", role: "status", "aria-live": "polite" });
    const row = el("div", { class: "basins-status-row" });
    row.append(this.progress, this.status);
    this.key = el("div", { class: "map-key basins-key", role: "group", "aria-label": t("Basin colours") });
    root.append(label, row, this.key);
  }

  /** The choice offers the ticked optimizers: their settings are the state's, so a link restores the same basins. */
  syncControl(s, opt) {
    if (!this.select) return;
    const ids = s.opt.join();
    if (this.select.dataset.ids !== ids) {
      this.select.dataset.ids = ids;
      this.select.replaceChildren(el("option", { value: "" }, "none"),
        ...s.opt.map((id) => el("option", { value: id }, runName(id, s, this.catalog))));
    }
    put(this.select, "value", opt);
  }

  /** Show the state: off, or the basins of its optimizer once the contour of its surface is drawn. */
  sync(again = true) {
    const s = this.scene.s;
    const opt = basinsOf(s);
    this.syncControl(s, opt);
    if (!opt) {
      this.off();
      return;
    }
    const surface = this.scene.surface;
    // The contour of another surface: its draw ("data") calls again. A state is shown before the views
    // it selects are: look again once they are.
    if (!surface || surface.key !== surfaceKey(s)) return;
    if (!this.scene.views.contour.active) {
      if (again) queueMicrotask(() => this.sync(false));
      return;
    }
    if (!this.hooked && this.bg.on) {
      this.hooked = true;
      this.bg.on("plotly_afterplot", () => this.place()); // a new size, new margins, large text
    }
    const body = this.body(s, opt, surface);
    const key = JSON.stringify(body);
    if (this.wanted !== key) {
      this.wanted = key;
      const busy = this.controller !== null || this.waiting;
      this.controller?.abort();
      this.controller = null;
      if (busy) {
        this.waiting = true;
        this.fetchSoon(key, body);
      } else {
        this.fetch(key, body);
      }
    }
    colourMinima(this.scene, "basins", true);
    this.place();
  }

  off() {
    this.fetchSoon.cancel();
    this.waiting = false;
    this.controller?.abort();
    this.controller = null;
    this.wanted = null;
    if (this.data) {
      this.data = this.shown = null;
      put(this.canvas, "hidden", true);
      put(this.note, "hidden", true);
      if (this.key) {
        this.key.replaceChildren();
        delete this.key.dataset.sig;
      }
      this.setStatus(1, "");
      announce("basins", { off: true });
    }
    colourMinima(this.scene, "basins", false);
  }

  /**
   * The basins stream of the state's problem for optimizer `opt`: cells that tile the contour's domain exactly.
   * No start: the cells are the starts, so a click that moves the start asks for nothing new.
   */
  body(s, opt, surface) {
    const base = requestBody(s);
    const [[x0, x1], [y0, y1]] = surface.spec.domain;
    const cells = (lo, hi) => ({ low: lo + (hi - lo) / (2 * CELLS), high: hi - (hi - lo) / (2 * CELLS), num: CELLS, log: false });
    return {
      surface: base.surface, optimizer: opt, steps: base.steps, grid: { x: cells(x0, x1), y: cells(y0, y1) },
      hyperparameters: { ...(s.hp[opt] ?? {}) }, schedule: scheduleOf(s, opt), noise: base.noise, seed: base.seed,
    };
  }

  async fetch(key, body) {
    this.waiting = false;
    if (key !== this.wanted) return;
    const controller = (this.controller = new AbortController());
    const surface = this.scene.surface;
    const data = (this.data = { key, body, surface, ...sweepData(body, "x", "y") });
    // Another surface's basins would mislead for the moment the new ones take: start from nothing.
    if (!this.shown || this.shownSurface !== surface.key) {
      this.shown = new Int8Array(CELLS * CELLS).fill(UNKNOWN);
      this.shownSurface = surface.key;
    }
    this.setStatus(0, t("Computing the basins of {0}…", runName(body.optimizer, this.scene.s, this.catalog)));
    this.requestPaint();
    await streamSweep("/api/basins/stream", body, controller.signal, data, () => {
      if (this.data !== data) return false;
      this.requestPaint();
      return true;
    });
    if (this.controller === controller) this.controller = null;
    if (this.data === data) this.requestPaint();
  }

  /** Paint at most once per frame, however many rows arrive. */
  requestPaint = oncePerFrame(() => {
    if (this.data) this.paint();
  });

  /**
   * The domain's box in the contour's pixels, from its laid-out axes; null before the contour is drawn,
   * and while it shows another surface than the basins (they are hidden until the new ones come).
   */
  box() {
    const full = this.bg._fullLayout;
    const { xaxis: xa, yaxis: ya } = full ?? {};
    if (this.data && this.data.surface !== this.scene.surface) {
      put(this.canvas, "hidden", true);
      put(this.note, "hidden", true);
      return null;
    }
    if (!xa?._length || !ya?._length || !this.data) return null;
    const [[x0, x1], [y0, y1]] = this.data.surface.spec.domain;
    const left = xa._offset + xa.l2p(x0), right = xa._offset + xa.l2p(x1);
    const top = ya._offset + ya.l2p(y1), bottom = ya._offset + ya.l2p(y0);
    return { left, top, width: right - left, height: bottom - top };
  }

  /** Put the canvas over the contour's plot area; repaint when its size in pixels changed. */
  place() {
    const b = this.box();
    if (!b) return;
    const ratio = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(b.width * ratio) || this.canvas.height !== Math.round(b.height * ratio)) this.paint();
    else this.lay(b);
  }

  lay(b) {
    for (const [k, v] of Object.entries(b)) this.canvas.style[k] = `${v}px`;
  }

  paint() {
    const data = this.data;
    const b = this.box();
    if (!data || !b) return;
    this.lay(b);
    const shown = this.shown;
    // A stopped or refused stream leaves what it computed, and none of the older settings' cells.
    for (let c = 0; c < shown.length; c++) {
      if (data.known[c]) shown[c] = data.diverged[c] ? -2 : data.basin[c];
      else if (data.error) shown[c] = UNKNOWN;
    }
    const ratio = window.devicePixelRatio || 1;
    const [w, h] = [Math.round(b.width * ratio), Math.round(b.height * ratio)];
    this.canvas.width = w;
    this.canvas.height = h;
    const g = this.canvas.getContext("2d");
    const img = g.createImageData(w, h);
    const colours = new Map([[-2, basinColour(-2, true)], [-1, null]]);
    data.minima.forEach((_, i) => colours.set(i, basinColour(i, false)));
    const period = STRIPE.period * ratio, stripe = STRIPE.width * ratio;
    const cols = Int32Array.from({ length: w }, (_, px) => Math.min(CELLS - 1, Math.floor(((px + 0.5) / w) * CELLS)));
    for (let py = 0; py < h; py++) {
      const j = CELLS - 1 - Math.min(CELLS - 1, Math.floor(((py + 0.5) / h) * CELLS));
      let p = py * w * 4;
      for (let px = 0; px < w; px++, p += 4) {
        const code = shown[cols[px] * CELLS + j];
        if (code === UNKNOWN) continue;
        const colour = colours.get(code);
        if (colour) {
          img.data[p] = colour[0]; img.data[p + 1] = colour[1]; img.data[p + 2] = colour[2]; img.data[p + 3] = ALPHA;
        } else if ((px + py) % period < stripe) {
          // Ends at no known minimum: stripes, which no basin's flat colour can be mistaken for.
          img.data[p] = STRIPE.colour[0]; img.data[p + 1] = STRIPE.colour[1]; img.data[p + 2] = STRIPE.colour[2]; img.data[p + 3] = STRIPE.alpha;
        }
      }
    }
    g.putImageData(img, 0, 0);
    put(this.canvas, "hidden", false);
    this.report(data);
    announce("basins", { rows: data.rows, done: data.done, error: data.error, optimizer: data.body.optimizer });
  }

  report(data) {
    const who = runName(data.body.optimizer, this.scene.s, this.catalog);
    this.renderNote(data, who);
    if (!this.status) return;
    const size = t("{0} × {1} starts, {2} steps each", CELLS, CELLS, data.body.steps);
    if (data.refused) this.setStatus(1, t("The server refused the basins: {0}", data.error), true);
    else if (data.error) this.setStatus(1, t("The basins stopped after {0} of {1} columns: {2}", data.rows, CELLS, data.error), true);
    else if (data.done) this.setStatus(1, t("Where {0} ends from each start ({1}).", who, size));
    else this.setStatus(data.progress, t("Computing the basins of {0}… {1} of {2} columns", who, data.rows, CELLS));
    this.renderKey(data);
  }

  setStatus(progress, text, bad = false) {
    if (!this.status) return;
    put(this.progress, "value", progress);
    put(this.progress, "hidden", progress >= 1);
    put(this.status, "textContent", text);
    this.status.classList.toggle("bad", bad);
  }

  renderNote(data, who) {
    const state = data.refused ? t("refused") : data.error ? t("stopped") : data.done ? "" : t("computing… {0}%", Math.round(100 * data.progress));
    const sig = JSON.stringify([who, state]);
    put(this.note, "hidden", false);
    this.note.classList.toggle("bad", Boolean(data.error));
    if (this.note.dataset.sig === sig) return this.fitNote();
    this.note.dataset.sig = sig;
    const swatch = (cls, style) => {
      const sw = el("span", { class: `map-swatch ${cls}` });
      Object.assign(sw.style, style);
      return sw;
    };
    // Whose basins on the left of the x axis's title, the key on its right.
    const name = el("span", { class: "basins-name" });
    name.append(el("strong", {}, t("Basins of {0}", who)), ...(state ? [el("span", { class: "basins-state" }, state)] : []));
    const key = el("span", { class: "basins-note-key" });
    key.append(swatch("", { background: DIVERGED_COLOUR }), t("diverged"), swatch("stripes", {}), t("not converged"));
    this.note.replaceChildren(name, key);
    this.fitNote();
  }

  /** On a narrow contour the two would hide the x axis's title: the key alone then takes the left. */
  fitNote() {
    const title = this.bg.querySelector(".xtitle")?.getBoundingClientRect();
    const [name, key] = this.note.children;
    if (!title || !key) return;
    this.note.classList.remove("compact");
    const left = name.getBoundingClientRect(), right = key.getBoundingClientRect();
    if (left.right > title.left - 6 || right.left < title.right + 6) this.note.classList.add("compact");
  }

  renderKey(data) {
    const items = [];
    const swatch = (label, style, shape = "") => {
      const item = el("span", { class: "map-key-item" });
      const sw = el("span", { class: `map-swatch ${shape}` });
      Object.assign(sw.style, style);
      item.append(sw, document.createTextNode(label));
      items.push(item);
    };
    data.minima.forEach((p, i) => swatch(t("ends at ({0}, {1})", fmt(p[0]), fmt(p[1])), { background: BASIN_COLOURS[i % BASIN_COLOURS.length] }, "star"));
    swatch(t("diverged"), { background: DIVERGED_COLOUR });
    swatch(t("ends at no minimum (not converged)"), {}, "stripes");
    const sig = items.map((i) => i.textContent).join("|");
    if (this.key.dataset.sig !== sig) {
      this.key.dataset.sig = sig;
      this.key.replaceChildren(...items);
    }
  }
}
