// surface=network: a small real network trained on the server by every run, drawn on a plane through its
// weights (the plane's loss as the contour and 3-D surface, each path projected on it, the loss curves), and
// each run's decision regions over the data at the timeline's step, from its streamed weights.

import { ApiError, decodeArray, readLines, refusal } from "./api.js";
import { requestBody } from "./state.js";
import { View, plotSize, fontSize } from "./views.js";
import { fmt } from "./util.js";
import { t, withLang } from "./i18n.js";

export const NETWORK = "network";

/** A state's network keys as core's network spec (static/js/state.js keeps them as app/state.py reads them). */
export function networkSpec(s) {
  const spec = {
    data: s["net.data"], samples: s["net.samples"], hidden: [...s["net.hidden"]], activation: s["net.act"],
    seed: s["net.seed"], noise: s["net.noise"],
  };
  if (s["net.batch"]) spec.batch_size = s["net.batch"];
  return spec;
}

// The decision regions need a run's weights; at most this many points' worth of them is sent per run
// (a 500-step race of 2-16-16-2 nets is 11 MB at every step, 2.3 MB at every fifth).
const WEIGHT_ROWS = 100;

/**
 * The body of POST /api/networks/stream for a state: app/state.py's network_request, with the runs' weights
 * at every k-th point where the data has the two inputs the decision regions are drawn over.
 */
export function networkBody(s, catalog) {
  const { surface: _s, start: _x, ...rest } = requestBody(s);
  const plane = { kind: s.plane, centre: s["plane.centre"], resolution: s["plane.res"] };
  if (s["plane.span"]) plane.span = s["plane.span"];
  const data = catalog?.surface(NETWORK)?.datasets?.find((d) => d.id === s["net.data"]);
  if (data && data.features !== 2) return { network: networkSpec(s), ...rest, plane };
  return { network: networkSpec(s), ...rest, plane, weights: true, weights_every: Math.max(1, Math.ceil(s.steps / WEIGHT_ROWS)) };
}

const datasets = new Map();

/** POST /api/networks/data: the inputs and labels a spec trains on, remembered per spec. */
export function fetchNetworkData(spec, signal) {
  const { batch_size: _, hidden: __, activation: ___, ...data } = spec;
  const key = JSON.stringify(data);
  if (!datasets.has(key)) {
    const pending = fetch(withLang("/api/networks/data"), {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data), signal,
    }).then(async (resp) => {
      if (!resp.ok) throw await refusal(resp);
      return resp.json();
    });
    datasets.set(key, pending);
    pending.catch(() => datasets.delete(key));
  }
  return datasets.get(key);
}

/**
 * POST /api/networks/stream and assemble its answer: per run the training losses, lr and flat weights
 * (steps + 1 rows of `parameters`), then the plane. `onProgress(share)` hears how much of the training is done.
 */
export async function streamNetwork(body, { signal, onProgress = () => {}, runNames = [] } = {}) {
  const resp = await fetch(withLang("/api/networks/stream"), {
    method: "POST", headers: { "Content-Type": "application/json" }, signal,
    body: JSON.stringify({ ...body, encoding: "base64" }),
  });
  if (!resp.ok) throw await refusal(resp, runNames);
  let meta = null, plane = null, runs = [], done = false;
  await readLines(resp, (msg) => {
    if (msg.type === "meta") {
      meta = msg;
      const rows = msg.steps + 1;
      runs = msg.runs.map((r) => ({
        index: r.index, optimizer: r.optimizer, hyperparameters: r.hyperparameters, trainLosses: new Float64Array(rows).fill(NaN),
        lr: new Float64Array(rows - 1), weights: new Float64Array(rows * msg.parameters), weightPoints: [], points: 0,
        diverged_at: null, done: false,
      }));
    } else if (msg.type === "chunk") {
      const run = runs[msg.run];
      run.trainLosses.set(decodeArray(msg.losses), msg.from);
      if (msg.lr) run.lr.set(decodeArray(msg.lr), msg.step_from);
      const n = decodeArray(msg.losses).length;
      if (msg.weights) {
        // Rows of weights, one per point named in weights_points (every point when it is left out).
        const w = decodeArray(msg.weights);
        const at = msg.weights_points ?? Array.from({ length: n }, (_, i) => msg.from + i);
        run.weights.set(w, run.weightPoints.length * meta.parameters);
        run.weightPoints.push(...at);
      }
      run.points = msg.from + n;
    } else if (msg.type === "end") {
      Object.assign(runs[msg.run], { diverged_at: msg.diverged_at, done: true, points: msg.points });
    } else if (msg.type === "plane") {
      plane = msg;
    } else if (msg.type === "done") {
      done = true;
    } else if (msg.type === "error") {
      throw new ApiError([msg.message]);
    }
  }, () => {
    if (meta && !done) onProgress(runs.reduce((n, r) => n + r.points, 0) / (runs.length * (meta.steps + 1)), plane !== null);
  });
  if (!done) throw new ApiError([t("The network's stream ended early; try again.")]);
  return { meta, runs, plane };
}

/**
 * The stream's answer as the page's views take a surface and its runs: the plane's grid as x, y and z,
 * each path's projected points as xs and ys, and its true (full-data) loss as `losses`. The surface keeps
 * the plane's centre and directions (`basis`), so later runs can be put on the same plane (`heldPlaneBody`).
 */
export function networkScene(answer, key) {
  const { meta, plane } = answer;
  const alphas = Array.from(decodeArray(plane.alphas)), betas = Array.from(decodeArray(plane.betas));
  const flat = decodeArray(plane.losses);
  const z = betas.map((_, j) => Array.from(flat.subarray(j * alphas.length, (j + 1) * alphas.length)));
  let lo = Infinity, hi = -Infinity;
  for (const v of flat) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const domain = [[alphas[0], alphas.at(-1)], [betas[0], betas.at(-1)]];
  const grid = { x: alphas, y: betas, z, z_min: lo, z_max: hi };
  const directions = decodeArray(plane.directions), P = meta.parameters;
  return {
    surface: {
      key, network: meta.network, shapes: meta.shapes, parameters: P, plane: plane.kind,
      basis: { centre: decodeArray(plane.centre), directions: [directions.subarray(0, P), directions.subarray(P, 2 * P)] },
      // Cross-entropy is never below 0: the loss view's axis is logarithmic, as for a surface whose minimum is 0.
      // The plane's coordinates: weights = centre + α d1 + β d2.
      spec: { id: NETWORK, domain, minimum_value: 0, minima: [], saddles: [], axes: ["α", "β"] },
      grid, floor: lo, minima: [], saddles: [], valueAt: bilinear(grid),
    },
    runs: networkRuns(answer),
  };
}

/** The runs of a stream's answer, each with its path on the answer's plane (xs, ys), true losses and share off it. */
export function networkRuns({ runs, plane }) {
  return runs.map((run, i) => {
    const path = plane.paths[i];
    const points = decodeArray(path.points);
    const n = points.length / 2;
    const xs = new Array(n), ys = new Array(n);
    for (let k = 0; k < n; k++) { xs[k] = points[2 * k]; ys[k] = points[2 * k + 1]; }
    return {
      ...run, xs, ys, losses: Array.from(decodeArray(path.true_losses)), offPlane: path.off_plane, state: {},
      gx: [], gy: [], effx: [], effy: [], stepSize: null,
    };
  });
}

/**
 * The plane of a request body put to a plane already drawn: the surface's own centre and directions, without
 * the grid, so only the paths come back (POST /api/networks/stream with plane kind "given").
 */
export function heldPlaneBody(surface) {
  const { centre, directions } = surface.basis;
  return { kind: "given", centre: Array.from(centre), directions: directions.map((d) => Array.from(d)), grid: false };
}

/**
 * Whether a plane is the same whatever the runs do: random directions through the initial weights. Any other
 * plane is made of the runs (the PCA of their weights, their ends, a run's end as the centre).
 */
export function planeOfRuns(plane) {
  return !(plane.kind === "random" && plane.centre === "initial");
}

function bilinear({ x, y, z }) {
  const at = (axis, v) => {
    const u = ((v - axis[0]) / (axis.at(-1) - axis[0])) * (axis.length - 1);
    const i = Math.max(0, Math.min(axis.length - 2, Math.floor(u)));
    return [i, Math.max(0, Math.min(1, u - i))];
  };
  return ([px, py]) => {
    const [i, u] = at(x, px), [j, v] = at(y, py);
    return (1 - v) * ((1 - u) * z[j][i] + u * z[j][i + 1]) + v * ((1 - u) * z[j + 1][i] + u * z[j + 1][i + 1]);
  };
}

/**
 * The network's outputs (logits, n rows of the last width) at `n` inputs (row-major), for flat weights `w`
 * laid out as torch's nn.Linear layers (weight (out, in) then bias (out,), each row-major), in core/mlp.py's
 * order of operations: each output summed over its inputs in order, then its bias, then the activation.
 */
export function forward(w, shapes, activation, inputs, n, offset = 0) {
  let a = inputs, width = shapes[0][1], at = offset;
  const layers = shapes.length / 2;
  for (let layer = 0; layer < layers; layer++) {
    const [out, inp] = shapes[2 * layer];
    const z = new Float64Array(n * out);
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < inp; i++) {
        const v = a[b * width + i];
        for (let j = 0; j < out; j++) z[b * out + j] += v * w[at + j * inp + i];
      }
    }
    const bias = at + out * inp;
    const hidden = layer < layers - 1;
    for (let b = 0; b < n; b++) {
      for (let j = 0; j < out; j++) {
        let v = z[b * out + j] + w[bias + j];
        if (hidden) v = activation === "tanh" ? Math.tanh(v) : Math.max(v, 0);
        z[b * out + j] = v;
      }
    }
    a = z;
    width = out;
    at = bias + out;
  }
  return a;
}

/** The class (argmax of the logits, the first on a tie as torch's argmax) of each of n rows of c. */
export function classes(logits, n, c) {
  const out = new Uint8Array(n);
  for (let b = 0; b < n; b++) {
    let best = 0;
    for (let j = 1; j < c; j++) if (logits[b * c + j] > logits[b * c + best]) best = j;
    out[b] = best;
  }
  return out;
}

// Okabe and Ito's colours, told apart with any colour vision: one per class.
const CLASS_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000", "#999999", "#882255"];
const REGION_CELLS = 64;

function rgb(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

/** The decision regions of every run at the timeline's step: small multiples, one per run, over the data. */
export class BoundaryView extends View {
  constructor(el, ctx) {
    super(ctx);
    this.el = el;
    this.data = null; // {X, y, features, classes} of the network shown
    this.memo = new WeakMap(); // a run's weights -> its regions at one row of them
  }

  ready() { return this.surface !== null && this.surface.network !== undefined; }

  /** The grid of inputs the regions are drawn over: the data's box with a margin, REGION_CELLS a side. */
  box() {
    const { X } = this.data;
    const lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
    for (const [x, y] of X) { lo[0] = Math.min(lo[0], x); hi[0] = Math.max(hi[0], x); lo[1] = Math.min(lo[1], y); hi[1] = Math.max(hi[1], y); }
    const pad = [0, 1].map((a) => 0.08 * (hi[a] - lo[a] || 1));
    const range = [0, 1].map((a) => [lo[a] - pad[a], hi[a] + pad[a]]);
    const inputs = new Float64Array(REGION_CELLS * REGION_CELLS * 2);
    for (let j = 0; j < REGION_CELLS; j++) {
      for (let i = 0; i < REGION_CELLS; i++) {
        const k = (j * REGION_CELLS + i) * 2;
        inputs[k] = range[0][0] + ((i + 0.5) / REGION_CELLS) * (range[0][1] - range[0][0]);
        inputs[k + 1] = range[1][1] - ((j + 0.5) / REGION_CELLS) * (range[1][1] - range[1][0]);
      }
    }
    return { range, inputs };
  }

  /** The row of a run's weights drawn at step k: the newest sent at or before it (its last finite past a divergence). */
  weightsRow(run, k) {
    const m = Math.max(0, Math.min(k, run.points - 1));
    const at = run.weightPoints;
    let lo = 0, hi = at.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (at[mid] <= m) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  /**
   * A run's predicted class over the grid of inputs at step k, from the weights of weightsRow. Remembered per
   * run's weights and row, so a redraw after one run changed computes that run's regions alone.
   */
  regions(run, k) {
    const row = this.weightsRow(run, k);
    const known = this.memo.get(run.weights);
    if (known?.row === row && known.inputs === this.grid.inputs) return known.cells;
    const P = this.surface.parameters;
    const logits = forward(run.weights, this.surface.shapes, this.surface.network.activation, this.grid.inputs,
      REGION_CELLS * REGION_CELLS, row * P);
    const cells = classes(logits, REGION_CELLS * REGION_CELLS, this.data.classes);
    this.memo.set(run.weights, { row, inputs: this.grid.inputs, cells });
    return cells;
  }

  async draw() {
    const network = this.surface.network;
    this.data = await fetchNetworkData(network).catch(() => null);
    const runs = this.runs;
    if (!this.data) return this.note(t("The data could not be fetched."));
    if (this.data.features !== 2) {
      return this.note(t("{0} has {1} inputs per sample, not 2: there is no plane of inputs to draw decision regions on. The loss curves say how each run trains.", network.data, this.data.features));
    }
    if (this.gridOf !== this.data) {  // the same data keep their grid, and the regions remembered over it
      this.grid = this.box();
      this.gridOf = this.data;
    }
    const size = plotSize(this.el);
    const across = Math.max(1, Math.ceil(Math.sqrt((runs.length * size.width) / Math.max(size.height, 1))));
    const side = Math.max(60, Math.floor(Math.min(size.width / across - 8, size.height / Math.ceil(runs.length / across) - fontSize() * 2.8)));
    this.el.style.setProperty("--cols", String(across));
    this.el.replaceChildren(...runs.map((run) => {
      const figure = document.createElement("figure");
      figure.className = "boundary";
      figure.style.setProperty("--c", this.style(run.optimizer).colour);
      const caption = document.createElement("figcaption");
      caption.textContent = this.label(run.optimizer);
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = Math.round(side * devicePixelRatio);
      canvas.style.width = canvas.style.height = `${side}px`;
      canvas.dataset.optimizer = run.optimizer;
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", t("{0}: decision regions over the data", this.label(run.optimizer)));
      figure.append(caption, canvas);
      return figure;
    }));
    this.drawStep();
  }

  note(text) {
    const p = document.createElement("p");
    p.className = "boundary-note";
    p.textContent = text;
    this.el.replaceChildren(p);
  }

  async drawStep() {
    if (!this.grid || this.data?.features !== 2) return;
    const canvases = this.el.querySelectorAll("canvas");
    this.predicted = [];
    this.runs.forEach((run, r) => {
      const canvas = canvases[r];
      if (!canvas) return;
      const cells = this.regions(run, this.k);
      this.predicted.push(cells);
      this.paint(canvas, cells);
    });
    this.el.dataset.step = String(this.k);
  }

  /** Regions as pale blocks, then the samples as dots of their class's colour, ringed in white. */
  paint(canvas, cells) {
    const ctx = canvas.getContext("2d");
    const image = new ImageData(REGION_CELLS, REGION_CELLS);
    for (let i = 0; i < cells.length; i++) {
      const [r, g, b] = rgb(CLASS_COLOURS[cells[i] % CLASS_COLOURS.length]);
      image.data.set([r + (255 - r) * 0.65, g + (255 - g) * 0.65, b + (255 - b) * 0.65, 255], 4 * i);
    }
    const small = new OffscreenCanvas(REGION_CELLS, REGION_CELLS);
    small.getContext("2d").putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
    const [[x0, x1], [y0, y1]] = this.grid.range;
    const dot = Math.max(2, canvas.width / 90);
    for (let s = 0; s < this.data.X.length; s++) {
      const [x, y] = this.data.X[s];
      const px = ((x - x0) / (x1 - x0)) * canvas.width, py = ((y1 - y) / (y1 - y0)) * canvas.height;
      ctx.beginPath();
      ctx.arc(px, py, dot, 0, 2 * Math.PI);
      ctx.fillStyle = CLASS_COLOURS[this.data.y[s] % CLASS_COLOURS.length];
      ctx.fill();
      ctx.lineWidth = Math.max(1, dot / 3);
      ctx.strokeStyle = "#ffffff";
      ctx.stroke();
    }
  }
}

/**
 * What the plane's caption says: which plane, and that the 3-D view lifts the paths on their true loss; for a
 * plane made of the runs, that it stays while the settings change (the caption's length stays too, so the
 * panels beside it keep their size and are not drawn again).
 */
export function planeCaption(surface, runs) {
  const kinds = { random: t("two random filter-normalized directions"), pca: t("the paths' two principal directions"), points: t("the start and two runs' ends") };
  const off = runs.map((r) => fmt(100 * r.offPlane, 2)).join(", ");
  const caption = t("Plane through the weights along {0}; paths projected on it (share of each path off the plane: {1} %). In 3-D the paths are lifted on their true loss, which the plane under them need not show.",
    kinds[surface.plane] ?? surface.plane, off);
  return surface.ofRuns ? `${caption} ${t("The plane stays while the settings change; it is fitted to the new paths once they stop.")}` : caption;
}
