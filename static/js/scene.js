// A state, the data it asks for, and the views that draw it: what the page and the embed share.

import { ApiError, fetchGrid } from "./api.js";
import { Engines } from "./compute.js";
import { fetchFormulaGrid } from "./formula.js";
import { Player } from "./player.js";
import { badReasons, requestBody, runName, surfaceKey, withValue } from "./state.js";
import { $, announce, fmt, put } from "./util.js";
import { ContourView, LossView, SurfaceView, addDrawnPoints, forgetSizes, hasLeft, headIndex } from "./views.js";
import {
  BoundaryView, NETWORK, heldPlaneBody, networkBody, networkRuns, networkScene, planeCaption, planeOfRuns, streamNetwork,
} from "./network.js";
import { t } from "./i18n.js";

// A request of at most this many run-steps takes a few milliseconds: one in flight is let finish,
// and the newest state follows it, so a dragged slider redraws all along. A larger one (a long run
// still streaming) is given up for the newer state.
const FINISH_RUN_STEPS = 25000;
const RUN_CACHE_SIZE = 64;
const BUSY_AFTER_MS = 150; // a wait shorter than this is not shown
// A network's plane made of its runs is fitted again once the settings have been still this long: while a
// slider moves, each new run is put on the plane drawn, which stays, and only that run is trained.
const REFIT_AFTER_MS = 400;
const NETWORK_RUN_CACHE_SIZE = 24;
const HELD_PLANE_MAX_WEIGHTS = 10000;
// Changes a person may want to go Back from; slider moves and the like only rewrite the address.
const PUSHED = new Set(["surface", "start", "view"]);

/** The value of a surface at a point, read off the grid by bilinear interpolation (for landmark markers). */
function interpolator(grid) {
  const { x, y, z } = grid;
  const at = (axis, v) => {
    const t = ((v - axis[0]) / (axis[axis.length - 1] - axis[0])) * (axis.length - 1);
    const i = Math.max(0, Math.min(axis.length - 2, Math.floor(t)));
    return [i, Math.max(0, Math.min(1, t - i))];
  };
  return ([px, py]) => {
    const [i, u] = at(x, px), [j, v] = at(y, py);
    return (1 - v) * ((1 - u) * z[j][i] + u * z[j][i + 1]) + v * ((1 - u) * z[j + 1][i] + u * z[j + 1][i + 1]);
  };
}

export class Scene {
  /**
   * `root` holds the panels (templates/_panels.html) and the timeline.
   * `companions`: beside the contour or 3-D view, also show the loss (the page); the embed shows one view only.
   * `onState(state, history)` hears every change; `history` is "push" for a change worth a Back
   * (a surface, a start point, a view), "replace" for the rest, "none" when the address already holds it.
   * `empty` is what the legend says when the state has no optimizer.
   */
  constructor(catalog, state, root, { companions = true, onState = () => {}, onError = () => {}, extraViews = [], empty = "" } = {}) {
    this.catalog = catalog;
    this.empty = empty;
    this.s = state;
    this.companions = companions;
    this.onState = onState;
    this.onError = onError;
    this.ctx = {
      catalog, state: () => this.s, playing: () => this.player.playing, onStart: (xy) => this.set("start", xy),
    };
    this.views = {
      contour: new ContourView($("#contour-bg", root), $("#contour-fg", root), this.ctx),
      surface3d: new SurfaceView($("#surface3d", root), this.ctx),
      loss: new LossView($("#loss-bg", root), $("#loss-fg", root), this.ctx),
    };
    // surface=network: each run's decision regions at the current step, beside the plane and the loss.
    if ($("#boundaries", root)) this.views.boundaries = new BoundaryView($("#boundaries", root), this.ctx);
    this.extraViews = extraViews.map((make) => make(this.ctx));
    this.panels = $(".panels", root);
    this.legend = $("#legend", root);
    this.busyMark = $("#busy", root);
    this.surface = null;
    this.runs = [];
    this.computedKey = null;
    this.controller = null;
    this.firstFrame = true;
    this.player = new Player($(".timeline", root), (k) => this.drawStep(k));
    this.inflight = null; // the body being computed, while a compute runs
    this.queued = null; // when the newest change waiting for it was made
    this.deferred = null; // the task that will compute the newest change
    // Resizing inside the observer's callback changes the sizes it watches, which the browser reports
    // as an error ("ResizeObserver loop completed with undelivered notifications"); the next frame does not.
    const observer = new ResizeObserver(() => requestAnimationFrame(() => this.resize()));
    for (const panel of root.querySelectorAll(".panel")) observer.observe(panel);
    this.shownKey = null;
    // Which runs the page computes itself and which the server does (compute.js).
    this.engines = new Engines(catalog);
  }

  /** The trajectory request: only points and losses unless the inspector is showing a run. */
  body(s) {
    if (s.surface === NETWORK) return networkBody(s, this.catalog);
    const body = requestBody(s);
    const inspecting = this.extraViews.length > 0 && s.opt.includes(s.inspect);
    const extras = s.extras && s.opt.some((id) => this.catalog.optimizer(id)?.points?.length);
    if (!inspecting) body.fields = extras ? ["points", "losses", "state"] : ["points", "losses"];
    return body;
  }

  /** What the data drawn depends on: a state with the same key needs no new request. */
  dataKey(s) {
    return JSON.stringify([this.body(s), surfaceKey(s)]);
  }

  allViews() { return [...Object.values(this.views), ...this.extraViews]; }

  /** The views the current `view` key shows. */
  shown() {
    const v = this.s.view;
    if (this.s.surface === NETWORK) {
      // The map sweeps 2-D runs: a network's view shows its plane instead.
      const main = v === "map" ? "contour" : v;
      if (!this.companions) return [main];
      return main === "loss" ? ["loss", "boundaries"] : [main, "loss", "boundaries"];
    }
    if (!this.companions || v === "loss") return [v];
    if (v === "map") return [v, "contour"]; // a clicked cell's run is drawn beside the map
    return [v, "loss"];
  }

  applyDisplay() {
    const shown = this.shown();
    const shownKey = JSON.stringify([shown, this.s.large]);
    if (shownKey !== this.shownKey) {
      this.shownKey = shownKey;
      forgetSizes();
    }
    const view = this.s.surface === NETWORK && this.s.view === "map" ? "contour" : this.s.view;
    put(this.panels.dataset, "view", this.companions ? view : `${view} alone`);
    // Not data-surface: that attribute marks the sidebar blocks that only one surface shows (controls.js).
    put(this.panels.dataset, "problem", this.s.surface === NETWORK ? NETWORK : "");
    this.player.speed = this.s.speed;
    this.player.loop = this.s.loop;
    document.documentElement.classList.toggle("large", this.s.large);
    return Promise.all([
      ...Object.entries(this.views).map(([name, view]) => view.setActive(shown.includes(name))),
      ...this.extraViews.map((v) => v.refresh?.()),
    ]);
  }

  /** Change one setting; `changeAt` is when the user made the change (for the latency benchmark). */
  set(key, value, changeAt = performance.now()) {
    this.update(withValue(key, value, this.s, this.catalog), changeAt, PUSHED.has(key) ? "push" : "replace");
  }

  update(state, changeAt = performance.now(), history = "replace") {
    const before = this.s;
    this.s = state;
    // The request leaves first; the controls and the URL catch up while it is in flight.
    if (this.dataKey(state) !== this.computedKey) this.request(changeAt);
    this.onState(state, history);
    if (before.large !== state.large) this.allViews().forEach((v) => v.resize());
    this.applyDisplay();
  }

  /**
   * Compute in a task of its own, so the event that made the change returns at once: Chromium takes a
   * drag's next mouse move only when the page has handled the last, and moves that arrive before the
   * task runs are computed once, with the newest state.
   */
  request(changeAt) {
    if (this.deferred !== null) return;
    this.deferred = setTimeout(() => {
      this.deferred = null;
      if (this.dataKey(this.s) !== this.computedKey) this.requestNow(changeAt);
    }, 0);
  }

  /** Compute now, or after the small request in flight; a large one in flight is given up. */
  requestNow(changeAt) {
    if (this.inflight) {
      this.queued ??= changeAt;
      // A network's run-steps are a thousand times a 2-D one's: only a request that adds runs to the plane drawn
      // is let finish.
      const steps = this.inflight.runs.length * this.inflight.steps;
      const large = this.inflight.network ? this.inflight.plane?.kind !== "given" : steps > FINISH_RUN_STEPS;
      if (large) this.controller?.abort();
      return;
    }
    this.compute(changeAt);
  }

  /** Fetch what the state asks for and redraw; then the newest state, if it changed meanwhile. */
  async compute(changeAt, fit = false) {
    const s = this.s;
    const key = this.dataKey(s);
    this.controller?.abort();
    clearTimeout(this.refitTimer);
    const controller = (this.controller = new AbortController());
    this.inflight = s.surface === NETWORK ? this.networkBody(s, fit) : this.body(s);
    try {
      await this.fetchAndDraw(s, key, controller, changeAt);
    } finally {
      if (this.controller === controller) this.inflight = null;
      const queued = this.queued;
      this.queued = null;
      if (queued !== null && !this.inflight && this.dataKey(this.s) !== this.computedKey) this.compute(queued);
    }
  }

  async fetchAndDraw(s, key, controller, changeAt) {
    const { signal } = controller;
    // The mark spins for work a person waits for: the page's own engine answers within a frame, and a
    // mark switched on and off at every move of a drag would only flicker and restyle the page.
    const busy = setTimeout(() => this.busyMark?.classList.add("on"), BUSY_AFTER_MS);
    try {
      if (s.surface === NETWORK) {
        await this.fetchNetwork(s, key, signal, this.inflight);
        if (signal.aborted) return;
      } else {
        const gridRequest = this.surface?.key === surfaceKey(s) ? null
          : s.surface === "custom" ? fetchFormulaGrid(s.f, s.domain, signal)
            : this.engines.grid(s.surface, s.surfaceParams) ?? fetchGrid(s.surface, s.surfaceParams, signal);
        const runsRequest = this.fetchRuns(this.body(s), signal);
        const [grid, runs] = await Promise.allSettled([gridRequest, runsRequest]);
        if (signal.aborted) return;
        if (grid.status === "rejected") throw grid.reason;
        if (grid.value) {
          const spec = grid.value.source !== undefined ? grid.value : this.catalog.surface(s.surface);  // a formula's own
          this.surface = { key: surfaceKey(s), spec, grid: grid.value, floor: grid.value.z_min, valueAt: interpolator(grid.value),
            minima: grid.value.minima ?? spec.minima, saddles: grid.value.saddles ?? spec.saddles };
        }
        if (runs.status === "rejected") {
          // Refused runs leave the last good drawing; a new surface is still drawn, without runs.
          if (grid.value) {
            this.runs = [];
            await this.draw();
          }
          throw runs.reason;
        }
        this.runs = runs.value;
      }
      for (const run of this.runs) addDrawnPoints(run, this.surface.spec.domain);
      this.computedKey = key;
      this.good = s;
      this.player.setLength(s.steps);
      await this.draw();
      if (this.replayPending) this.replay();
      this.onError(null);
      if (s.surface === NETWORK && this.held.stale) {
        this.refitTimer = setTimeout(() => this.refit(), REFIT_AFTER_MS);
      }
      announce("data", {
        changeAt, runs: this.runs.length, step: this.player.k,
        ...(s.surface === NETWORK ? { plane: this.held.stale ? "held" : "fitted" } : {}),
      });
    } catch (err) {
      if (signal.aborted || err.name === "AbortError") return;
      this.onError(err instanceof ApiError ? err : new ApiError([t("Could not reach the server: {0}", err.message)]));
      // A refused change is taken back: the controls and the address return to the last state drawn.
      if (err instanceof ApiError && err.status === 422 && this.good && this.s === s) {
        // A network's keys are taken back with the runs: they are what the server refused.
        const shown = Object.keys(this.catalog.display).filter((k) => this.catalog.links.get(k)?.part !== NETWORK);
        const display = Object.fromEntries(shown.map((k) => [k, s[k]]));
        this.s = { ...this.good, ...display };
        this.computedKey = this.dataKey(this.s);
        this.onState(this.s, "replace");
      }
    } finally {
      clearTimeout(busy);
      if (this.controller === controller) this.busyMark?.classList.remove("on");
    }
  }

  /**
   * The request for a network state: all its runs with their plane, or, when the plane drawn has the same
   * network, steps and plane settings and holds some of the runs already, only the runs it lacks, put on that
   * plane (kind "given", no grid). `this.held` keeps that plane and the runs trained for it.
   */
  networkBody(s, fit = false) {
    const body = this.body(s);
    const { runs: specs, plane, ...shared } = body;
    const key = JSON.stringify([shared, plane]);
    const keys = specs.map((spec) => JSON.stringify(spec));
    // Past some ten thousand weights the plane itself would make the request too large to send.
    const held = this.held?.key === key && !fit && this.held.surface.parameters <= HELD_PLANE_MAX_WEIGHTS ? this.held : null;
    const missing = held ? specs.filter((_, i) => !held.runs.has(keys[i])) : specs;
    const onHeld = held !== null && missing.length < specs.length;
    return {
      ...shared, runs: onHeld ? missing : specs, plane: onHeld ? heldPlaneBody(held.surface) : plane,
      all: { key, keys, plane },
    };
  }

  /** Train the state's network on the server, saying how far it has got; the old picture stays until it is done. */
  async fetchNetwork(s, key, signal, request) {
    const { all, ...body } = request;
    const names = (specs) => specs.map((run) => run.label || this.catalog.optimizer(run.optimizer).label);
    const onProgress = (share, plane) => this.showNote(plane ? t("Drawing the plane…")
      : t("Training on the server: {0} %", Math.floor(100 * share)));
    // Only a change of the network or its plane says how far it has got: a run added to the plane drawn, or the
    // plane fitted again, keeps the caption (the busy mark spins), so the panels keep their size.
    const onHeld = body.plane.kind === "given";
    const quiet = onHeld || all.key === this.held?.key;
    const answer = body.runs.length || !onHeld
      ? await streamNetwork(body, { signal, runNames: names(body.runs), onProgress: quiet ? undefined : onProgress }) : null;
    if (signal.aborted) return;
    if (onHeld) {
      if (answer) networkRuns(answer).forEach((run, i) => this.held.runs.set(JSON.stringify(body.runs[i]), run));
      this.surface = this.held.surface;
    } else {
      const scene = networkScene(answer, key);
      scene.surface.ofRuns = planeOfRuns(all.plane);
      this.surface = scene.surface;
      this.held = { key: all.key, surface: scene.surface, fitted: JSON.stringify(all.keys), runs: new Map() };
      scene.runs.forEach((run, i) => this.held.runs.set(all.keys[i], run));
    }
    const runs = this.held.runs;
    this.runs = all.keys.map((k, i) => ({ ...runs.get(k), index: i }));
    // Least recently used first: the runs shown move to the end, and the oldest of the others go.
    all.keys.forEach((k) => { const run = runs.get(k); runs.delete(k); runs.set(k, run); });
    while (runs.size > Math.max(NETWORK_RUN_CACHE_SIZE, all.keys.length)) runs.delete(runs.keys().next().value);
    this.held.stale = planeOfRuns(all.plane) && JSON.stringify(all.keys) !== this.held.fitted;
  }

  /** Fit the plane to the runs shown, once the settings are still: the full request, trained again. */
  refit() {
    if (this.s.surface !== NETWORK || !this.held?.stale || this.inflight || this.dataKey(this.s) !== this.computedKey) return;
    this.compute(performance.now(), true);
  }

  /** A line at the end of the legend: what is being computed, or how the network's plane is drawn. */
  showNote(text) {
    if (!this.legend) return;
    this.engineNote ??= Object.assign(document.createElement("span"), { className: "engine-note", id: "engine-note" });
    put(this.engineNote, "textContent", text);
    put(this.engineNote, "hidden", !text);
    if (this.legend.lastElementChild !== this.engineNote) this.legend.append(this.engineNote);
  }

  /**
   * The runs a request body asks for. Runs already computed with the same surface, start, steps,
   * schedule and noise are reused, so moving one optimizer's slider fetches that optimizer's run only.
   */
  async fetchRuns(body, signal) {
    const { runs: specs, ...shared } = body;
    const sharedKey = JSON.stringify(shared);
    if (sharedKey !== this.cacheKey) {
      this.cache = new Map();
      this.cacheKey = sharedKey;
    }
    const keys = specs.map((spec) => JSON.stringify(spec));
    const missing = specs.filter((_, i) => !this.cache.has(keys[i]));
    if (missing.length) {
      const runs = await this.engines.runs({ ...shared, runs: missing }, {
        signal, runNames: missing.map((spec) => spec.label || this.catalog.optimizer(spec.optimizer).label),
        onWait: (pending) => this.showEngines(pending, t("Computing on the server")),
      });
      missing.forEach((spec, i) => this.cache.set(JSON.stringify(spec), runs[i]));
    }
    const found = keys.map((key) => this.cache.get(key));
    // Least recently used first: the runs just asked for move to the end, and the oldest go.
    keys.forEach((key, i) => { this.cache.delete(key); this.cache.set(key, found[i]); });
    while (this.cache.size > Math.max(RUN_CACHE_SIZE, keys.length)) this.cache.delete(this.cache.keys().next().value);
    return found;
  }

  async draw() {
    await Promise.all(this.allViews().map((v) => {
      v.surface = this.surface;
      v.runs = this.runs;
      v.k = this.player.k;
      return v.schedule("full");
    }));
    // Text changes after the plots have measured themselves, so they never force a layout first.
    this.renderLegend();
    this.showEngines();
  }

  /** Say which runs the server computes, and why, at the end of the legend (after its run items). */
  showEngines(runs = this.runs, lead = undefined) {
    if (!this.legend) return;
    if (this.surface?.network) return this.showNote(planeCaption(this.surface, this.runs));
    this.engineNote ??= Object.assign(document.createElement("span"), { className: "engine-note", id: "engine-note" });
    const text = this.engines.note(runs, lead);
    put(this.engineNote, "textContent", text);
    put(this.engineNote, "hidden", !text);
    if (this.legend.lastElementChild !== this.engineNote) this.legend.append(this.engineNote);
  }

  async drawStep(k) {
    await Promise.all(this.allViews().map((v) => v.setStep(k)));
    this.updateLegend();
    if (this.firstFrame && this.player.playing) {
      this.firstFrame = false;
      announce("first-frame", { step: k });
    }
    announce("frame", { step: k });
  }

  resize() {
    forgetSizes();
    return Promise.all(this.allViews().map((v) => v.resize()));
  }

  /** Start: draw the state in the URL, then play it if autoplay is on, else show where the runs end. */
  async start() {
    await this.applyDisplay();
    await this.compute(performance.now());
    if (this.s.autoplay) this.player.play();
    else this.player.seek(this.player.length);
  }

  /** Play from step 0 once the current state is drawn (after a preset). */
  replay() {
    const drawn = this.dataKey(this.s) === this.computedKey;
    this.replayPending = !drawn;
    if (!drawn) return;
    this.player.seek(0);
    if (this.s.autoplay) this.player.play();
  }

  renderLegend() {
    if (!this.legend) return;
    // Runs the link gives a value they may not have follow the drawn ones, each saying why it is not drawn.
    const undrawn = this.s.opt.map((id) => [id, badReasons(id, this.s, this.catalog)]).filter(([, why]) => why.length);
    const names = JSON.stringify([this.runs.map((r) => [r.optimizer, runName(r.optimizer, this.s, this.catalog)]), this.s.opt.length, undrawn]);
    if (names === this.legendNames) return this.updateLegend();
    this.legendNames = names;
    if (!this.s.opt.length) {
      const note = document.createElement("p");
      note.className = "legend-empty";
      note.textContent = this.empty;
      this.legend.replaceChildren(note);
      return;
    }
    const entry = (id) => {
      const o = this.catalog.optimizer(id);
      const item = document.createElement("span");
      item.className = "legend-item";
      item.style.setProperty("--c", o.style.colour);
      item.innerHTML = `<svg class="swatch" aria-hidden="true" viewBox="0 0 28 8"><line x1="1" y1="4" x2="27" y2="4" class="dash-${o.style.dash}"/></svg><span class="name"></span> <span class="value"></span>`;
      // A run's own label is the link's text: set as text, never as markup.
      item.querySelector(".name").textContent = runName(id, this.s, this.catalog);
      return item;
    };
    this.legend.replaceChildren(...this.runs.map((run) => entry(run.optimizer)), ...undrawn.map(([id, why]) => {
      const item = entry(id);
      item.classList.add("undrawn");
      const value = item.querySelector(".value");
      value.textContent = t("not drawn: {0}", why.join("; "));
      value.classList.add("bad");
      return item;
    }));
    this.updateLegend();
  }

  updateLegend() {
    if (!this.legend) return;
    this.runs.forEach((run, i) => {
      const value = this.legend.children[i]?.querySelector(".value");
      if (!value) return;
      const k = this.player.k;
      const m = headIndex(run, k);
      const diverged = run.diverged_at !== null && k >= run.xs.length - 1;
      const left = !diverged && hasLeft(run, k);
      put(value, "textContent", diverged ? t("diverged at step {0}", run.diverged_at)
        : left ? t("left the frame at step {0}", run.exit.step)
          : run.offPlane !== undefined ? t("loss {0}, {1} % off the plane", fmt(run.losses[m]), fmt(100 * run.offPlane, 2))
            : t("loss {0}", fmt(run.losses[m])));
      value.classList.toggle("bad", diverged || left);
    });
  }
}
