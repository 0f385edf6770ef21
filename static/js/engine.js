// The page's own engine: core.engine's scalar loop over the kernels translated from the registry
// (generated/kernels.js, written by app/jsgen.py). The server stays the reference; a test holds the two
// together point for point. Nothing here names an optimizer or a surface.

import { OPTIMIZERS, REFUSED, SCHEDULES, SURFACES } from "./generated/kernels.js";
import { t, translated } from "./i18n.js";

export { REFUSED };

/** Why the page cannot compute an optimizer itself, or "" when it can. */
export function optimizerRefusal(id) {
  if (OPTIMIZERS[id]) return "";
  return id in REFUSED.optimizers ? translated(REFUSED.optimizers[id]) : t("is not in the page's engine");
}

/** Whether the page computes the inspector's step size of an optimizer it steps. */
export function hasStepSize(id) {
  return Boolean(OPTIMIZERS[id]?.stepSize);
}

/** Why the page cannot compute on a surface itself, or "". */
export function surfaceRefusal(id) {
  if (SURFACES[id]) return "";
  return id in REFUSED.surfaces ? translated(REFUSED.surfaces[id]) : t("is not in the page's engine");
}

/** core.schedules.factors: (a_t, b_t) for steps 0..n-1, the linear warmup first. */
export function scheduleFactors(schedule, n) {
  const a = new Float64Array(n), b = new Float64Array(n);
  const sched = schedule ?? { name: "constant", warmup_steps: 0 };
  const w = Math.trunc(sched.warmup_steps ?? 0);
  const { factors } = SCHEDULES[sched.name];
  for (let t = 0; t < n; t++) {
    if (w > 0 && t < w) {
      a[t] = (t + 1) / w;
      b[t] = 0.0;
    } else {
      [a[t], b[t]] = factors(Math.max(t - w, 0), sched);
    }
  }
  return { a, b };
}

/**
 * One run, as core.engine's run_trajectory steps it: the loss and gradient at the point, the finite
 * check, the step of both coordinates, the record; a run that leaves finite numbers ends where it did.
 * `optimizer` is the catalog's entry, `hp` its hyperparameters (every one given), `P` the surface's
 * constants. Returns the run as api.js assembles a streamed one.
 */
export function trajectory({ surface, P, optimizer, hp, start, steps, schedule, fields = null }) {
  const kernel = OPTIMIZERS[optimizer.id];
  const value = SURFACES[surface].value;
  const nh = kernel.hyperparameters.length, ns = kernel.state.length;
  const h = new Float64Array(nh);
  kernel.hyperparameters.forEach((name, q) => { h[q] = hp[name]; });
  const s = new Float64Array(Math.max(ns, 1) * 2);
  for (const [slot, v] of Object.entries(kernel.init)) {
    const q = kernel.state.indexOf(slot);
    s[2 * q] = s[2 * q + 1] = typeof v === "string" ? hp[v] : v;
  }
  const { a: lrA, b: lrB } = scheduleFactors(schedule, steps);
  const p = Float64Array.from(start), g = new Float64Array(2);
  const points = new Float64Array(2 * (steps + 1)), losses = new Float64Array(steps + 1);
  const grads = new Float64Array(2 * steps), lrs = new Float64Array(steps);
  const states = new Float64Array(Math.max(ns, 1) * 2 * steps);
  points[0] = p[0];
  points[1] = p[1];
  let divergedAt = null;
  for (let k = 0; k <= steps; k++) {
    const [f, gx, gy] = value(p[0], p[1], P);
    losses[k] = f;
    if ((f - f) + (gx - gx) + (gy - gy) !== 0) {
      divergedAt = k;
      break;
    }
    if (k === steps) break;
    // The server adds its noise draw, 0 here: + 0 turns a gradient of -0 into 0 as it does.
    g[0] = gx + 0.0;
    g[1] = gy + 0.0;
    const lrT = lrA[k] * h[0] + lrB[k];
    kernel.step(p, g, k + 1, lrT, h, s);
    points[2 * k + 2] = p[0];
    points[2 * k + 3] = p[1];
    grads[2 * k] = g[0];
    grads[2 * k + 1] = g[1];
    lrs[k] = lrT;
    // v - v is 0 for a finite v and NaN otherwise, as in the server's loop.
    let z = (p[0] - p[0]) + (p[1] - p[1]);
    for (let q = 0; q < ns; q++) {
      states[(q * steps + k) * 2] = s[2 * q];
      states[(q * steps + k) * 2 + 1] = s[2 * q + 1];
      z += (s[2 * q] - s[2 * q]) + (s[2 * q + 1] - s[2 * q + 1]);
    }
    if (z !== 0) {
      divergedAt = k + 1;
      break;
    }
  }
  // Run.valid_points: every point up to the one that was not finite.
  const n = divergedAt ?? steps + 1;
  const taken = Math.max(n - 1, 0);
  const want = (name) => fields === null || fields.includes(name);
  const run = {
    optimizer: optimizer.id, hyperparameters: hp, xs: [], ys: [], losses: [], lr: [], gx: [], gy: [],
    state: {}, effx: [], effy: [], stepSize: null, diverged_at: divergedAt, done: true,
  };
  for (let i = 0; i < n; i++) {
    run.xs.push(points[2 * i]);
    run.ys.push(points[2 * i + 1]);
    run.losses.push(losses[i]);
  }
  if (want("lr")) for (let k = 0; k < taken; k++) run.lr.push(lrs[k]);
  if (want("gradients")) for (let k = 0; k < taken; k++) { run.gx.push(grads[2 * k]); run.gy.push(grads[2 * k + 1]); }
  if (want("effective_lr")) {
    // core.engine's effective_lr: -(step taken) / gradient, 0 where that is not a finite number.
    const eff = [run.effx, run.effy];
    for (let k = 0; k < taken; k++) {
      for (let i = 0; i < 2; i++) {
        const e = -(points[2 * k + 2 + i] - points[2 * k + i]) / grads[2 * k + i];
        eff[i].push(e - e === 0 && grads[2 * k + i] !== 0 ? e : 0);
      }
    }
  }
  if (want("state")) {
    kernel.state.forEach((name, q) => {
      if (name.startsWith("_")) return;
      const slot = (run.state[name] = { x: [], y: [] });
      for (let k = 0; k < taken; k++) {
        slot.x.push(states[(q * steps + k) * 2]);
        slot.y.push(states[(q * steps + k) * 2 + 1]);
      }
    });
  }
  if (want("step_size") && kernel.stepSize) {
    // Run._step_size: the rule over every slot's values at coordinate 0, 0 where it is not finite.
    run.stepSize = [];
    for (let k = 0; k < taken; k++) {
      const slots = Object.fromEntries(kernel.state.map((name, q) => [name, states[(q * steps + k) * 2]]));
      const v = kernel.stepSize(lrs[k], k + 1, hp, slots);
      run.stepSize.push(Number.isFinite(v) ? v : 0);
    }
  }
  return run;
}

/** The grid core.surface_grid computes: values on resolution x resolution points of the domain, one row per y. */
export function surfaceGrid(surface, P, domain, resolution = 100) {
  const { value } = SURFACES[surface];
  // numpy's linspace: start + i * step, the last point set to the end exactly.
  const axis = ([lo, hi]) => Array.from({ length: resolution }, (_, i) =>
    (i === resolution - 1 ? hi : i * ((hi - lo) / (resolution - 1)) + lo));
  const x = axis(domain[0]), y = axis(domain[1]);
  let zMin = Infinity, zMax = -Infinity;
  const z = y.map((yv) => x.map((xv) => {
    const f = value(xv, yv, P)[0];
    if (Number.isFinite(f)) {
      if (f < zMin) zMin = f;
      if (f > zMax) zMax = f;
    }
    return Number.isFinite(f) ? f : null;
  }));
  const finite = zMin <= zMax;
  return { x, y, z, z_min: finite ? zMin : null, z_max: finite ? zMax : null };
}

/** The problem with a number against a catalog range, or "" (core.engine._number's checks). */
export function outOfRange(h, v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return `${v} is not a finite number`;
  if (h.kind === "bool" && v !== 0 && v !== 1) return `${v} must be 0 or 1`;
  if (h.kind === "int" && !Number.isInteger(v)) return `${v} must be a whole number`;
  if (!(h.low <= v && v <= h.high)) return `${v} is outside [${h.low}, ${h.high}]`;
  return "";
}

/** Whether every given name is one of `specs` and every value within its range. */
export function validParams(specs, given) {
  if (given === null || given === undefined) return true;
  if (typeof given !== "object") return false;
  const byName = new Map(specs.map((h) => [h.name, h]));
  return Object.entries(given).every(([name, v]) => byName.has(name) && !outOfRange(byName.get(name), v));
}

/** Whether a start point is one the server takes: two finite numbers within ±maxStart (core.engine.MAX_START). */
export function validStart(start, maxStart) {
  return Array.isArray(start) && start.length === 2
    && start.every((v) => typeof v === "number" && Number.isFinite(v) && Math.abs(v) <= maxStart);
}

