// The interactive HTML export's player (app/exports/html.py bundles it with the page's engine into one
// classic script, after plotly.js and hug.js): the timeline of the frames-only player, and each run's own
// hyperparameter sliders, which recompute that run in the page with the same generated kernels the page
// uses. A file opened from disk asks nothing of any server.

import { optimizerRefusal, surfaceRefusal, trajectory } from "../engine.js";
import { fromPosition, toPosition } from "../slider.js";

const D = JSON.parse(document.getElementById("gradscape-data").textContent);

// Every sentence this file shows, in the export's language (app/exports/html.py writes them, {0} the value).
const fill = (text) => (value) => text.replace("{0}", value);
const WORDS = {
  play: D.words.play,
  pause: D.words.pause,
  step: fill(D.words.step),
  left: fill(D.words.left),
  diverged: fill(D.words.diverged),
  fixed: fill(D.words.fixed),
};
const L = D.live;
const gd = document.getElementById("plot");
const scrub = document.getElementById("scrub"), play = document.getElementById("play");
const label = document.getElementById("step");
const axes = D.three_d ? ["x", "y", "z"] : ["x", "y"];
const lineTraces = D.runs.map((_, j) => D.first + 2 * j);
const exitOf = new Map(D.exits.map((e) => [e.run, e]));
const EXIT_SYMBOL = { left: "triangle-left", right: "triangle-right", bottom: "triangle-down", top: "triangle-up" };
let shown = 0, playing = false, last = -Infinity;
// Legend names and exit symbols a recompute changed, by trace: drawn with the next frame, in its one update.
const pending = { name: new Map(), "marker.symbol": new Map() };

function announce(kind) {
  document.dispatchEvent(new CustomEvent("gradscape:drawn", { detail: { kind } }));
}

function show(i) {
  shown = i;
  const k = D.frames[i], update = {}, traces = [];
  axes.forEach((a) => { update[a] = []; });
  D.runs.forEach((run, j) => {
    const n = Math.min(k + 1, run.x.length);
    traces.push(D.first + 2 * j, D.first + 2 * j + 1);
    axes.forEach((a) => { update[a].push(run[a].slice(0, n)); update[a].push(run[a].slice(n - 1, n)); });
  });
  // A run's exit marker appears at the step it leaves the frame, not before.
  D.exits.forEach((e) => {
    traces.push(e.trace);
    axes.forEach((a) => update[a].push(e.step !== null && k >= e.step ? e[a] : []));
  });
  for (const [attr, changed] of Object.entries(pending)) {
    // undefined leaves a trace's attribute as it is.
    if (changed.size) update[attr] = traces.map((t) => changed.get(t));
    changed.clear();
  }
  Plotly.update(gd, update, { "title.text": D.title.replace("{step}", k) }, traces);
  scrub.value = i;
  label.textContent = WORDS.step(k);
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
  play.textContent = on ? WORDS.pause : WORDS.play;
  if (on) {
    if (shown + 1 >= D.frames.length) show(0);
    last = -Infinity;
    requestAnimationFrame(tick);
  }
}

const inDomain = (x, y) => x >= L.domain[0][0] && x <= L.domain[0][1] && y >= L.domain[1][0] && y <= L.domain[1][1];
const clip = (v) => Math.max(-1e30, Math.min(1e30, v));

/** What the loss view plots: f - f* when f* is known (for its log axis), else f (Scene.loss_gap). */
const lossGap = (f) => (L.fmin === null ? f : Math.max(f - L.fmin, 1e-16));

/** A computed run in the view's coordinates, as app/exports/scene.py's view_coords gives them. */
function viewCoords(run) {
  const n = run.xs.length;
  if (L.view === "loss") {
    return { x: Float64Array.from({ length: n }, (_, k) => k), y: Float64Array.from(run.losses, (f) => clip(lossGap(f))) };
  }
  if (L.view === "contour") return { x: Float64Array.from(run.xs, clip), y: Float64Array.from(run.ys, clip) };
  // Plotly's 3-D scenes do not clip to the box: points off the domain are hidden.
  return {
    x: Float64Array.from(run.xs, (x, k) => (inDomain(x, run.ys[k]) ? x : NaN)),
    y: Float64Array.from(run.ys, clip),
    z: Float64Array.from(run.losses, (f) => clip(Math.log1p(Math.max(f - L.floor, 0)))),
  };
}

/** Where a recomputed run first leaves what the view plots, as Scene.exit finds it: {step, point, side} or null. */
function exitOfRun(run, coords) {
  if (L.view === "loss") {
    const [lo, hi] = L.loss_range;
    const scale = (v) => (L.loss_log ? Math.log10(v) : v);
    const a = scale(lo), b = scale(hi);
    const k = coords.y.findIndex((v) => scale(v) < a || scale(v) > b);
    if (k < 0) return run.diverged_at === null ? null : { step: run.diverged_at, x: run.diverged_at, y: hi, side: "top" };
    const edge = scale(coords.y[k]) > b ? b : a;
    const x = k === 0 ? 0 : k - 1 + (edge - scale(coords.y[k - 1])) / (scale(coords.y[k]) - scale(coords.y[k - 1]));
    return { step: k, x, y: L.loss_log ? 10 ** edge : edge, side: edge === b ? "top" : "bottom" };
  }
  const k = run.xs.findIndex((x, i) => !inDomain(x, run.ys[i]));
  if (k < 0) return null;
  const lo = [L.domain[0][0], L.domain[1][0]], hi = [L.domain[0][1], L.domain[1][1]];
  const b = [run.xs[k], run.ys[k]];
  const a = k === 0 ? b : [run.xs[k - 1], run.ys[k - 1]];
  const d = [b[0] - a[0], b[1] - a[1]];
  // How far along the step each coordinate may go before it crosses its bound.
  const room = d.map((di, i) => (di > 0 ? (hi[i] - a[i]) / di : di < 0 ? (lo[i] - a[i]) / di : Infinity));
  const f = k === 0 ? 0 : Math.max(0, Math.min(1, Math.min(...room)));
  const p = a.map((ai, i) => Math.max(lo[i], Math.min(hi[i], ai + f * d[i])));
  let axis, upper;
  if (k === 0) {
    const gaps = [p[0] - lo[0], p[1] - lo[1], hi[0] - p[0], hi[1] - p[1]].map(Math.abs);
    const at = gaps.indexOf(Math.min(...gaps));
    [axis, upper] = [at % 2, at >= 2];
  } else {
    axis = room[0] <= room[1] ? 0 : 1;
    upper = d[axis] > 0;
  }
  const side = [["left", "right"], ["bottom", "top"]][axis][Number(upper)];
  return { step: k, x: p[0], y: p[1], side };
}

function legendName(j, run, left) {
  const notes = [];
  if (left && !(L.view === "loss" && run.diverged_at !== null)) notes.push([left.step, WORDS.left(left.step)]);
  if (run.diverged_at !== null) notes.push([run.diverged_at, WORDS.diverged(run.diverged_at)]);
  notes.sort((p, q) => p[0] - q[0]);
  return notes.length ? `${L.runs[j].name}<br>(${notes.map((n) => n[1]).join("; ")})` : L.runs[j].name;
}

/** Run j again with its sliders' values, in the page, and redraw the frame shown. */
function recompute(j) {
  const spec = L.runs[j];
  const run = trajectory({
    surface: L.surface, P: Float64Array.from(L.P), optimizer: { id: spec.optimizer }, hp: spec.hp,
    start: spec.start, steps: spec.steps, schedule: spec.schedule, fields: [],
  });
  const coords = viewCoords(run);
  D.runs[j] = coords;
  const left = exitOfRun(run, coords);
  const e = exitOf.get(j);
  if (e) {
    e.step = left ? left.step : null;
    if (left) {
      const what = L.view === "loss" && run.diverged_at !== null ? WORDS.diverged(run.diverged_at) : WORDS.left(left.step);
      pending.name.set(e.trace, `${spec.name}: ${what}`);
      e.x = [left.x];
      e.y = [left.y];
      // The height of the last point inside the box: the edge itself has no loss computed.
      if (D.three_d) e.z = [Math.log1p(Math.max(run.losses[Math.max(left.step - 1, 0)] - L.floor, 0))];
      else pending["marker.symbol"].set(e.trace, EXIT_SYMBOL[left.side]);
    }
  }
  pending.name.set(lineTraces[j], legendName(j, run, left));
  show(shown);
  announce("data");
}

function sliderRow(j, h) {
  const row = document.createElement("label");
  row.className = "hp";
  const name = document.createElement("span");
  name.textContent = h.name;
  name.title = h.help;
  const out = document.createElement("output");
  const input = document.createElement("input");
  const value = L.runs[j].hp[h.name];
  if (h.kind === "bool") {
    input.type = "checkbox";
    input.checked = Boolean(value);
  } else {
    input.type = "range";
    Object.assign(input.dataset, { low: h.low, high: h.high, scale: h.scale, kind: h.kind });
    Object.assign(input, { min: 0, max: h.positions, step: 1 });
    input.value = toPosition(input, value);
  }
  input.dataset.run = j;
  input.dataset.name = h.name;
  input.dataset.value = value;
  input.setAttribute("aria-label", `${L.runs[j].name} ${h.name}`);
  out.textContent = h.kind === "bool" ? "" : String(value);
  input.addEventListener("input", () => {
    const v = h.kind === "bool" ? Number(input.checked) : fromPosition(input);
    if (L.runs[j].hp[h.name] === v) return;
    L.runs[j].hp[h.name] = v;
    input.dataset.value = v;
    out.textContent = h.kind === "bool" ? "" : String(v);
    recompute(j);
  });
  row.append(name, input, out);
  return row;
}

function buildSliders() {
  const box = document.getElementById("sliders");
  const surfaceWhy = L.refusal || surfaceRefusal(L.surface);
  L.runs.forEach((spec, j) => {
    const set = document.createElement("fieldset");
    const head = document.createElement("legend");
    head.textContent = spec.name.replace(/<br>.*/, "");
    head.style.color = spec.colour;
    set.append(head);
    const why = surfaceWhy || spec.refusal || optimizerRefusal(spec.optimizer);
    const shown = D.words.reasons[why] ?? why;
    if (why) {
      const note = document.createElement("p");
      note.className = "note";
      note.textContent = WORDS.fixed(shown);
      set.append(note);
      set.disabled = true;
    } else {
      spec.sliders.forEach((h) => set.append(sliderRow(j, h)));
    }
    box.append(set);
  });
}

play.addEventListener("click", () => setPlaying(!playing));
scrub.addEventListener("input", () => { setPlaying(false); show(Number(scrub.value)); });
document.addEventListener("keydown", (e) => {
  if (e.key === " " && e.target === document.body) { e.preventDefault(); setPlaying(!playing); }
});
const hugs = () => { if (!D.three_d) hug(gd); };
buildSliders();
Plotly.newPlot(gd, D.figure.data, D.figure.layout, D.config).then(() => {
  hugs();
  gd.on("plotly_afterplot", hugs);
  show(D.autoplay ? 0 : D.frames.length - 1);  // paused, it opens on the whole paths
  setPlaying(D.autoplay);
  announce("first-frame");
});
