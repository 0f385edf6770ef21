// Where each run is computed: in the page by the generated engine (engine.js) whenever it can take the
// run, else by the server, which stays the reference and takes what the page cannot: the optimizers the
// translator refused, surfaces whose data numpy draws, gradient noise (numpy's generator), long runs,
// and any value out of range (the server's answer names it, as for any request).

import { NEEDS_SERVER, STATIC_SITE, streamTrajectories } from "./api.js";
import { fetchFormulaGrid } from "./formula.js";
import { hasStepSize, optimizerRefusal, outOfRange, surfaceGrid, surfaceRefusal, trajectory, validParams, validStart } from "./engine.js";
import { t } from "./i18n.js";

// Run-steps the page computes in one go. 6 runs x 500 steps take about 1 ms in Chromium (bench/page_bench.py),
// so this is about 20 ms: a longer request would hold the page for frames, and is streamed from the server.
export const PAGE_RUN_STEPS = 60_000;

function surfaceOf(body) {
  const s = body.surface;
  if (typeof s === "string") return { id: s, params: {} };
  if (s && typeof s === "object" && "formula" in s) return { id: "custom", params: {}, formula: s };
  const { name, ...params } = s ?? {};
  return { id: name, params };
}

function plural(items) {
  return items.length < 2 ? items.join("") : t("{0} and {1}", items.slice(0, -1).join(", "), items.at(-1));
}

export class Engines {
  constructor(catalog) {
    this.catalog = catalog;
    // Off: every run from the server, as before the page had an engine (the benchmark's baseline).
    this.page = true;
  }

  /** Why nothing in this request can be computed in the page (noise, the surface, a limit), or "". */
  sharedRefusal(body) {
    if (!this.page) return t("the page's engine is off");
    const { id, params } = surfaceOf(body);
    const surface = this.catalog.surface(id);
    if (!surface) return t("an unknown surface");
    const refusal = surfaceRefusal(id);
    if (refusal) return `${surface.label} ${refusal}`;
    if (!validParams(surface.params ?? [], params)) return t("a surface parameter is out of range");
    if (body.noise && body.noise.sigma > 0) return t("gradient noise is drawn by numpy's generator");
    const steps = this.catalog.runSettings.get("steps");
    if (outOfRange(steps, body.steps)) return t("steps is out of range");
    if (!validStart(body.start, this.catalog.raw.max_start)) return t("the start is out of range");
    if (body.runs.length > (this.catalog.raw.max_runs ?? Infinity)) return t("more runs than one request may have");
    if (body.runs.length * body.steps > PAGE_RUN_STEPS) return t("a long request is streamed");
    if (body.schedule && !this.validSchedule(body.schedule)) return t("a schedule setting is out of range");
    return "";
  }

  validSchedule(schedule) {
    const { name, ...params } = schedule;
    const spec = this.catalog.schedule(name);
    return Boolean(spec) && validParams(spec.params, params);
  }

  /** Why one run goes to the server, or "" when the page computes it. */
  runRefusal(run, fields) {
    const o = this.catalog.optimizer(run.optimizer);
    if (!o) return t("an unknown optimizer");
    const refusal = optimizerRefusal(run.optimizer);
    if (refusal) return refusal;
    if (!validParams(o.hyperparameters, run.hyperparameters)) return t("a hyperparameter is out of range");
    if (run.schedule && !this.validSchedule(run.schedule)) return t("a schedule setting is out of range");
    if (fields === null && o.has_step_size && !hasStepSize(run.optimizer)) return t("its step size is the server's");
    return "";
  }

  /**
   * The runs a trajectory request body asks for, in its order: those the page can take computed here,
   * the rest streamed from the server (`options` as streamTrajectories takes them).
   */
  async runs(body, options = {}) {
    const fields = body.fields ?? null;
    const shared = this.sharedRefusal(body);
    const reasons = body.runs.map((run) => shared || this.runRefusal(run, fields));
    let P = null;
    const { id, params, formula } = surfaceOf(body);
    if (reasons.some((r) => !r)) {
      try {
        P = await this.constants(id, params, formula);
      } catch {
        // The formula's grid was refused: the server's answer to the runs says why.
        reasons.forEach((r, i) => { if (!r) reasons[i] = t("the formula was refused"); });
      }
    }
    const remote = body.runs.filter((_, i) => reasons[i]);
    const remoteReasons = reasons.filter(Boolean);
    const { onWait, ...streaming } = options;
    // Said before the stream is awaited: a change the server computes shows at once what it waits for.
    if (remote.length) onWait?.(remote.map((r, i) => ({ optimizer: r.optimizer, engine: "server", serverReason: remoteReasons[i] })));
    const pending = remote.length ? streamTrajectories({ ...body, runs: remote }, {
      ...streaming, runNames: options.runNames?.filter((_, i) => reasons[i]),
    }) : Promise.resolve([]);
    const out = body.runs.map((run, i) => (reasons[i] ? null : this.compute(body, run, i, id, P, fields)));
    const streamed = await pending;
    let next = 0;
    const runs = out.map((run) => run ?? streamed[next++]);
    runs.forEach((run, i) => Object.assign(run, { index: i, engine: reasons[i] ? "server" : "page", serverReason: reasons[i] }));
    return runs;
  }

  compute(body, run, i, surface, P, fields) {
    const o = this.catalog.optimizer(run.optimizer);
    const hp = {};
    for (const h of o.hyperparameters) hp[h.name] = run.hyperparameters?.[h.name] ?? h.default;
    const scheduleSpec = run.schedule ?? body.schedule;
    let schedule = null;
    if (scheduleSpec) {
      const { name, ...given } = scheduleSpec;
      schedule = { name };
      for (const h of this.catalog.schedule(name).params) schedule[h.name] = given[h.name] ?? h.default;
    }
    return trajectory({ surface, P, optimizer: o, hp, start: body.start, steps: body.steps, schedule, fields });
  }

  /** A surface's constants as core.engine._prepare_surface gives them: its params, or a formula's tape. */
  async constants(id, params, formula) {
    if (formula) return Float64Array.from((await fetchFormulaGrid(formula.formula, formula.domain)).tape);
    const spec = this.catalog.surface(id);
    const P = (spec.params ?? []).map((h) => params[h.name] ?? h.default);
    return Float64Array.from(P.length ? P : [0]);
  }

  /** The contour's grid computed here when the page has the surface's kernel, else null. */
  grid(surface, params) {
    const spec = this.catalog.surface(surface);
    if (!this.page || !spec || surfaceRefusal(surface) || surface === "custom" || !validParams(spec.params ?? [], params)) {
      return null;
    }
    const P = (spec.params ?? []).map((h) => params[h.name] ?? h.default);
    return { surface, surface_params: { ...params }, ...surfaceGrid(surface, Float64Array.from(P.length ? P : [0]), spec.domain) };
  }

  /**
   * A sentence on which of these runs the server computes and why ("Computed by the server: …", or
   * `lead` instead), or "" when the page computes them all.
   */
  note(runs, lead = t("Computed by the server")) {
    const byReason = new Map();
    for (const run of runs) {
      if (run.engine !== "server") continue;
      const label = this.catalog.optimizer(run.optimizer)?.label ?? run.optimizer;
      byReason.set(run.serverReason, [...(byReason.get(run.serverReason) ?? []), label]);
    }
    if (!byReason.size) return "";
    if (STATIC_SITE) lead = t("Not drawn here, each {0}", NEEDS_SERVER);
    const each = [...byReason].map(([reason, labels]) => t("{0} ({1})", plural(labels), reason));
    return t("{0}: {1}.", lead, each.join(t("; ")));
  }
}
