// The whole UI state and its URL form, read and written by the link grammar the catalog gives (`links`, the
// table in app/linkgrammar.py), as app/state.py reads and writes it in Python: a new key is a row there.
//
//   surface=beale  surface.kappa=100  start=1,1.5  steps=300  opt=adam,sgd
//   surface=custom  f=(1-x)^2 + 100*(y-x^2)^2  domain=-2,2,-1,3 (a typed formula; domain when not -5,5,-5,5)
//   adam.lr=0.01 (overrides only)  sched=cosine  sched.t_max=500
//   adam.sched=cosine  adam.sched.t_max=500 (Adam's own schedule instead of the shared one)
//   noise=0.1  noise_seed=0  seed=0
//   display: view=contour|surface3d|loss|map  speed=1  autoplay=0|1  loop=0|1  inspect=adam  large=1  extras=1  lang=zh-CN
//   adam.label=eps 1 (a run's own name in the legend, at most the grammar's max_length characters)
//   basins=momentum (its basins of attraction under the contour)
//   tuned=sgd,adam  tuned.by=final_loss|steps_to_tol (the learning rates "Tune lr" chose, and how)
//   basins and tuned name ticked optimizers only; a link's others are dropped, as their settings are.
//
// Every name below comes from the catalog: there is no list of optimizers here.

import { t } from "./i18n.js";

/** The registry the page embeds, indexed by id. */
export class Catalog {
  constructor(raw) {
    this.raw = raw;
    this.optimizers = new Map(raw.optimizers.map((o, i) => [o.id, { ...o, order: i, style: raw.palette.optimizers[o.id] }]));
    this.surfaces = new Map(raw.surfaces.map((s) => [s.id, s]));
    this.schedules = new Map(raw.schedules.map((s) => [s.id, s]));
    this.runSettings = new Map(raw.run_settings.map((s) => [s.name, s]));
    this.presets = raw.presets;
    this.palette = raw.palette;
    // The link's grammar by key. A run setting's row takes the limits this server holds it to (steps stop at
    // its limit), so a link never puts in the state a run the server would refuse.
    this.links = new Map(raw.links.map((k) => [k.key, this.runSettings.has(k.key)
      ? { ...k, low: this.runSettings.get(k.key).low, high: this.runSettings.get(k.key).high } : k]));
    // The keys that say how a state is shown rather than what is computed, and their defaults.
    this.display = Object.fromEntries(raw.links.filter((k) => SHOWN.has(k.part)).map((k) => [k.key, k.default]));
    this.flags = new Set(raw.links.filter((k) => k.kind === "bool").map((k) => k.key)); // written 0 or 1
  }

  static fromPage() {
    return new Catalog(JSON.parse(document.getElementById("catalog").textContent));
  }

  optimizer(id) { return this.optimizers.get(id); }
  surface(id) { return this.surfaces.get(id); }
  schedule(id) { return this.schedules.get(id); }
  defaultSchedule() { return this.raw.schedules[0].id; }
  preset(id) { return this.presets.find((p) => p.id === id); }
}

// The network's keys (part "network") are kept in every state as the display keys are; only surface=network
// trains what they describe (network.js).
const SHOWN = new Set(["display", "map", "explore", "network"]);

function param(list, name) {
  return list.find((h) => h.name === name);
}

// What a link's number may be, as app/state.py reads it: ASCII decimal digits only, so "0x10", "" and
// "1_0" mean nothing on either side, and the whitespace JavaScript's Number() trims around it.
const DECIMAL = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const JS_SPACE = /^[\s\uFEFF]+|[\s\uFEFF]+$/g;

/** A number as Python's "%g" prints it (core's messages): 1e-06, 0.9999, 10, 1.5e+07. */
export function pyG(v) {
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const [mantissa, exp] = v.toExponential(5).split("e");
  const e = Number(exp);
  if (e < -4 || e >= 6) {
    const m = mantissa.replace(/\.?0+$/, "");
    return `${m}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  return String(Number(v.toPrecision(6)));
}

/** A value as Python's repr echoes a link's text in an error: quoted, and cut short. */
function shown(text) {
  const q = text.includes("'") && !text.includes('"') ? '"' : "'";
  return text.length <= 40 ? `${q}${text}${q}` : `${q}${text.slice(0, 40)}${q}... (${text.length} characters)`;
}

/**
 * A link's text for the setting `key` with spec `h`: {value} when it is allowed, else {reason}, in the
 * words core and app/state.py use for the same text ("adam.lr = -1 is outside [1e-06, 10]").
 */
export function readSetting(key, text, h) {
  const read = readNumber(text);
  if (read.reason) return read;
  const v = read.value;
  if (h.kind === "bool" && v !== 0 && v !== 1) return { reason: t("{0} must be 0 or 1 (false or true)", pyG(v)) };
  if (h.kind === "int" && !Number.isInteger(v)) return { reason: t("{0} must be a whole number", pyG(v)) };
  if (!(v >= h.low && v <= h.high)) return { reason: t("{0} = {1} is outside [{2}, {3}]", key, pyG(v), pyG(h.low), pyG(h.high)) };
  return { value: v };
}

/** The values an enum or list key of the grammar may take: its own, or its registry's ids. */
function choicesOf(k, catalog) {
  if (k.choices === "optimizers") return [...catalog.optimizers.keys()];
  if (k.choices === "surfaces") return [...catalog.surfaces.keys()];
  if (k.choices === "schedules") return [...catalog.schedules.keys()];
  return k.choices;
}

const FLAG_TEXTS = { 0: false, 1: true, false: false, true: true };

/** A number of a link as app/linkgrammar.py's `number` reads it: {value} or {reason}. */
function readNumber(text) {
  const trimmed = text.replace(JS_SPACE, "");
  if (!DECIMAL.test(trimmed)) {
    const finite = !["Infinity", "inf", "nan", "NaN", "infinity"].includes(trimmed.replace(/^[+-]/, ""));
    return { reason: finite ? t("{0} is not a number", shown(text)) : t("{0} is not a finite number", shown(text)) };
  }
  const v = Number(trimmed);
  return Number.isFinite(v) ? { value: v } : { reason: t("{0} is not a finite number", shown(text)) };
}

/**
 * A link's text for a row `k` of the grammar (read for key `name`, for a row of a family): {value} when it
 * is allowed, else {reason}, in app/linkgrammar.py's `read`'s words.
 */
export function readKey(k, text, catalog, name = k.key) {
  if (k.kind === "int" || k.kind === "number") {
    const read = readNumber(text);
    if (read.reason) return read;
    const v = read.value;
    if (k.kind === "int") {
      if (!Number.isInteger(v)) return { reason: t("{0} is not a whole number", shown(text)) };
      // The text as given: a seed past 2**53 is refused as written, not as the double it rounds to.
      const given = text.replace(JS_SPACE, "");
      if (!(v >= k.low && v <= k.high)) return { reason: t("{0} = {1} is outside [{2}, {3}]", name, given.length <= 40 ? given : shown(given), k.low, k.high) };
      return read;
    }
    if (k.above && !(v > k.low)) return { reason: t("{0} = {1} must be more than {2}", name, pyG(v), pyG(k.low)) };
    if (!((k.above || k.low === null || v >= k.low) && (k.high === null || v <= k.high))) {
      return { reason: t("{0} = {1} is outside [{2}, {3}]", name, pyG(v), pyG(k.low), pyG(k.high)) };
    }
    return read;
  }
  if (k.kind === "bool") {
    return Object.hasOwn(FLAG_TEXTS, text) ? { value: FLAG_TEXTS[text] } : { reason: t("{0} = {1} must be 0 or 1", name, shown(text)) };
  }
  const allowed = choicesOf(k, catalog);
  if (k.kind === "enum") {
    return allowed.includes(text) ? { value: text } : { reason: t("unknown {0} {1}; allowed: {2}", k.noun, shown(text), allowed.join(", ")) };
  }
  if (k.kind === "text") return { value: k.max_length ? text.trim().slice(0, k.max_length) : text };
  if (k.kind === "list" && k.item === "int") {
    // Every item, in order: a network's widths "16,16" ("": no hidden layer).
    const items = text.replace(JS_SPACE, "") === "" ? [] : text.split(",");
    if (items.length > k.max_length) return { reason: t("{0} = {1} has {2} items, more than the limit of {3}", name, shown(text), items.length, k.max_length) };
    const values = [];
    for (const item of items) {
      const read = readKey({ ...k, kind: "int" }, item, catalog, name);
      if (read.reason) return read;
      values.push(read.value);
    }
    return { value: values };
  }
  if (k.kind === "list" && k.item === "enum") {
    const items = text.split(",").filter((item, i, all) => item && all.indexOf(item) === i);
    const bad = items.find((item) => !allowed.includes(item));
    return bad === undefined ? { value: items } : readKey({ ...k, kind: "enum" }, bad, catalog, name);
  }
  throw new Error(`${name}: a ${k.kind} of ${k.item} is read by state.js itself`);
}

/** One line for each run a state leaves undrawn for a value it may not have, naming the key and its limit. */
export function notDrawn(s, catalog) {
  return s.opt.filter((id) => badKeys(id, s).length)
    .map((id) => t("{0} is not drawn: {1}. The other runs are.", runName(id, s, catalog), badReasons(id, s, catalog).join("; ")));
}

/** The keys of a run the link gave values it may not have ({"adam.lr": "-1"}), by optimizer. */
export function badKeys(id, s) {
  return Object.keys(s.bad ?? {}).filter((key) => key.slice(0, key.lastIndexOf(".")) === id);
}

/** Why a run is not drawn: each of its link's values that is not allowed, in core's words. */
export function badReasons(id, s, catalog) {
  const opt = catalog.optimizer(id);
  return badKeys(id, s).map((key) => readSetting(key, s.bad[key], param(opt.hyperparameters, key.slice(key.lastIndexOf(".") + 1))).reason);
}

/** How "Tune lr" may pick the best lr (core.explore.CRITERIA), the first being the default. */
export const TUNE_CRITERIA = { final_loss: "final loss", steps_to_tol: "steps to tolerance" };

/**
 * The state in the page's URL. A link that holds no run, only display settings (`?large=1`,
 * `?view=surface3d`), shows the first preset (what the page shows first) with those settings.
 */
export function initialState(catalog, search = location.search) {
  return parse(withDefaultRun(search, catalog), catalog);
}

/** A query with the first preset's run put in front when it names no run of its own. */
export function withDefaultRun(query, catalog) {
  const keys = [...new URLSearchParams(query).keys()];
  if (keys.some((k) => !(k in catalog.display))) return query;
  const own = query.replace(/^\?/, "");
  return own ? `${catalog.presets[0].query}&${own}` : catalog.presets[0].query;
}

/** A fresh state for a surface: its default start, defaults everywhere else. */
export function blank(catalog, surfaceId = catalog.raw.surfaces[0].id) {
  const surface = catalog.surface(surfaceId);
  return {
    surface: surface.id, surfaceParams: {}, start: [...surface.start], ...formulaOf(surface),
    opt: [], hp: {}, labels: {}, bad: {}, sched: null, schedParams: {}, runSched: {},
    ...Object.fromEntries(catalog.raw.links.filter((k) => k.plain && k.part === "problem").map((k) => [k.key, k.default])),
    ...catalog.display,
  };
}

/** Read a query string. Unknown names are reported, not fatal: a shared link should still open. */
export function parse(query, catalog) {
  const q = new URLSearchParams(query);
  const warnings = [];
  const surfaceId = q.get("surface");
  if (surfaceId && !catalog.surface(surfaceId)) warnings.push(t("unknown surface \"{0}\"", surfaceId));
  const s = blank(catalog, catalog.surface(surfaceId) ? surfaceId : undefined);
  const surface = catalog.surface(s.surface);
  if (q.has("sched")) {
    if (catalog.schedule(q.get("sched"))) s.sched = q.get("sched");
    else warnings.push(t("unknown schedule \"{0}\"", q.get("sched")));
  }
  for (const [key, text] of q) { // a run's own schedule first, so its parameters find it whatever the order
    const owner = key.endsWith(".sched") && catalog.optimizer(key.slice(0, -".sched".length)) && key.slice(0, -".sched".length);
    if (!owner || !text) continue;
    if (catalog.schedule(text)) s.runSched[owner] = { name: text };
    else warnings.push(t("unknown schedule \"{0}\" in {1}", text, key));
  }
  for (const [key, text] of q) {
    const dot = key.lastIndexOf("."); // an optimizer named module:Class may hold dots; a setting's own name never does
    if (key === "surface" || key === "sched") continue;
    if (runScheduleOwner(key, catalog)) continue;
    if (key === "f" || key === "domain") { readFormulaKey(s, key, text, warnings); continue; }
    if (key === "start") {
      const xy = text.split(",").map((v) => readSetting("start", v, { low: -Infinity, high: Infinity }).value);
      if (xy.length === 2 && xy.every((v) => v !== undefined)) s.start = xy;
      else warnings.push(t("start must be two numbers, got \"{0}\"", text));
    } else if (key === "opt") {
      for (const id of text.split(",").filter(Boolean)) {
        if (catalog.optimizer(id) && !s.opt.includes(id)) s.opt.push(id);
        else if (!catalog.optimizer(id)) warnings.push(t("unknown optimizer \"{0}\"", id));
      }
    } else if (catalog.links.get(key)?.plain) {
      // A bad value is named and the key keeps its default: the address never holds NaN.
      const k = catalog.links.get(key);
      const read = text === "" && k.default === "" ? { value: "" } : readKey(k, text, catalog);
      if (read.reason) warnings.push(read.reason);
      else s[key] = read.value;
    } else if (key in catalog.display) {
      s[key] = text; // basins and tuned, read below once the ticked optimizers are known
    } else if (dot > 0) {
      const [owner, name] = [key.slice(0, dot), key.slice(dot + 1)];
      const opt = catalog.optimizer(owner);
      if (opt && name === "label") {
        const label = catalog.links.get("{opt}.label");
        if (text.length > label.max_length) warnings.push(t("{0} was cut to {1} characters", key, label.max_length));
        const read = readKey(label, text, catalog, key);
        if (read.value) s.labels[owner] = read.value;
        continue;
      }
      const runSched = runScheduleOwner(owner, catalog) && s.runSched[runScheduleOwner(owner, catalog)];
      const h = owner === "surface" ? param(surface.params, name)
        : owner === "sched" ? s.sched && param(catalog.schedule(s.sched).params, name)
        : runSched ? param(catalog.schedule(runSched.name).params, name)
        : opt && param(opt.hyperparameters, name);
      if (!h) { warnings.push(t("unknown setting \"{0}\"", key)); continue; }
      const read = readSetting(key, text, h);
      // A run with a value it may not have is kept, with the link's text, and left undrawn; the rest
      // of the link is drawn. A bad value of the surface or the schedule is ignored, for every run.
      if (read.reason && opt) { s.bad[key] = text; continue; }
      if (read.reason) { warnings.push(read.reason); continue; }
      const v = read.value;
      if (owner === "surface") s.surfaceParams[name] = v;
      else if (owner === "sched") s.schedParams[name] = v;
      else if (runSched) runSched[name] = v;
      else (s.hp[owner] ??= {})[name] = v;
    } else {
      warnings.push(t("unknown setting \"{0}\"", key));
    }
  }
  if (s.surface === "custom" && q.has("f") && !q.has("domain")) s.domain = null;
  if (s.surface === "custom" && !q.has("start")) s.start = formulaStart(s.domain ?? surface.domain.flat());
  for (const id of Object.keys(s.labels)) if (!s.opt.includes(id)) delete s.labels[id];
  for (const id of Object.keys(s.runSched)) if (!s.opt.includes(id)) delete s.runSched[id];
  for (const key of Object.keys(s.bad)) if (!s.opt.includes(key.slice(0, key.lastIndexOf(".")))) delete s.bad[key];
  // basins, tuned and tuned.by, as app/state.py reads them: a bad one is named and left out.
  for (const key of ["basins", "tuned"]) {
    const read = s[key] ? readKey(catalog.links.get(key), s[key], catalog) : { value: "" };
    if (read.reason) warnings.push(read.reason);
    s[key] = read.reason ? "" : [read.value].flat().join(",");
  }
  const by = catalog.links.get("tuned.by");
  const read = s.tuned && s["tuned.by"] ? readKey(by, s["tuned.by"], catalog) : { value: "" };
  if (read.reason) warnings.push(read.reason);
  s["tuned.by"] = s.tuned ? read.value || choicesOf(by, catalog)[0] : ""; // the first criterion unless one is named
  return { state: s, warnings };
}

// Keep commas readable: they separate the two numbers of start and the list of optimizers.
const enc = (v) => encodeURIComponent(String(v)).replace(/%2C/g, ",");

/**
 * The query string of a state: the grammar's keys in order, the run in full, then only the settings that
 * differ from their defaults (app/state.py's query_from_request writes the same).
 */
export function serialize(s, catalog) {
  // The keys whose value shapes the runs are written by code of their own; a null one is written with the
  // row before it (a formula with the surface's parameters, every key of a run together).
  const own = {
    surface: () => [["surface", s.surface]],
    "surface.{param}": () => (s.surface === "custom"
      ? [["f", s.f], ...(s.domain ? [["domain", s.domain.join(",")]] : [])]
      : Object.entries(s.surfaceParams).map(([k, v]) => [`surface.${k}`, v])),
    f: null,
    domain: null,
    start: () => (s.surface === "network" ? [] : [["start", s.start.join(",")]]), // a network starts from its initial weights
    opt: () => [["opt", s.opt.join(",")]],
    "{opt}.{hp}": () => s.opt.flatMap((id) => runQuery(id, s)),
    "{opt}.label": null,
    "{opt}.sched": null,
    "{opt}.sched.{param}": null,
    sched: () => (s.sched ? [["sched", s.sched], ...Object.entries(s.schedParams).map(([k, v]) => [`sched.${k}`, v])] : []),
    "sched.{param}": null,
  };
  const shown = { ...s, basins: basinsOf(s), tuned: tunedOf(s).join(",") };
  if (!shown.tuned) shown["tuned.by"] = "";
  const parts = [];
  const written = new Set();
  for (const k of catalog.raw.links) {
    if (k.key in own) {
      if (own[k.key]) parts.push(...own[k.key]());
      continue;
    }
    const v = shown[k.key] ?? k.default;
    const [rule, after] = k.write.split(":");
    if (rule === "always" || (rule === "with" && written.has(after)) || (rule === "changed" && !isDefault(k, v))) {
      parts.push([k.key, k.kind === "bool" ? Number(v) : v]);
      written.add(k.key);
    }
  }
  return parts.map(([k, v]) => `${k}=${enc(v)}`).join("&");
}

function isDefault(k, v) {
  if (Array.isArray(v) && Array.isArray(k.default) && k.default.length) return v.join(",") === k.default.join(",");
  return v === k.default || ((k.default === "" || k.default === null) && !v);
}

/** A run's keys: its hyperparameters that differ from the defaults, a bad value as given, its label, its own schedule. */
function runQuery(id, s) {
  const parts = Object.entries(s.hp[id] ?? {}).map(([k, v]) => [`${id}.${k}`, v]);
  for (const key of badKeys(id, s)) parts.push([key, s.bad[key]]); // as the link gave it, until it is changed
  if (s.labels?.[id]) parts.push([`${id}.label`, s.labels[id]]);
  const own = s.runSched?.[id];
  if (own) for (const [k, v] of Object.entries(own)) parts.push([k === "name" ? `${id}.sched` : `${id}.sched.${k}`, v]);
  return parts;
}

/** The spec (range, default, kind) behind a setting's key, or undefined. */
export function specOf(key, s, catalog) {
  const row = catalog.links.get(key);
  if (row?.part === "network") return row; // its limits are core's, in the grammar's row
  const dot = key.lastIndexOf(".");
  if (dot < 0) return catalog.runSettings.get(key);
  const [owner, name] = [key.slice(0, dot), key.slice(dot + 1)];
  if (owner === "surface") return param(catalog.surface(s.surface).params, name);
  if (owner === "sched") return param(catalog.schedule(s.sched ?? catalog.defaultSchedule()).params, name);
  const run = runScheduleOwner(owner, catalog);
  if (run) return s.runSched?.[run] && param(catalog.schedule(s.runSched[run].name).params, name);
  const opt = catalog.optimizer(owner);
  return opt && param(opt.hyperparameters, name);
}

/** The value a control shows for a key: the override if there is one, else the default. */
export function valueOf(key, s, catalog) {
  if (key in catalog.display || key === "surface" || key === "start") return s[key];
  if (key === "sched") return s.sched ?? catalog.defaultSchedule();
  const run = runScheduleOwner(key, catalog);
  if (run) return s.runSched?.[run]?.name ?? "";
  const dot = key.lastIndexOf(".");
  if (dot < 0) return s[key];
  const [owner, name] = [key.slice(0, dot), key.slice(dot + 1)];
  const own = runScheduleOwner(owner, catalog);
  const given = owner === "surface" ? s.surfaceParams[name] : owner === "sched" ? s.schedParams[name]
    : own ? s.runSched?.[own]?.[name] : s.hp[owner]?.[name];
  return given ?? specOf(key, s, catalog)?.default;
}

/** The optimizer whose basins colour the contour: only a ticked one, whose settings are in the state. */
export function basinsOf(s) {
  return s.basins && s.opt.includes(s.basins) ? s.basins : "";
}

/** The ticked optimizers whose lr is the one "Tune lr" chose. */
export function tunedOf(s) {
  return (s.tuned ?? "").split(",").filter((id) => id && s.opt.includes(id));
}

/** A state in which optimizer `id` (every optimizer, for null) no longer counts as tuned. */
export function untuned(s, id = null) {
  const tuned = id === null ? [] : (s.tuned ?? "").split(",").filter((t) => t && t !== id);
  return { ...s, tuned: tuned.join(","), "tuned.by": tuned.length ? s["tuned.by"] : "" };
}

/**
 * A new state with one setting changed. Picking another surface or schedule resets what belonged to the old one.
 * A learning rate "Tune lr" chose stays marked tuned only while the problem it was chosen on and the
 * optimizer's own settings stay as they were.
 */
export function withValue(key, value, s, catalog) {
  const n = changed(key, value, s, catalog);
  if (!s.tuned || JSON.stringify(valueOf(key, s, catalog)) === JSON.stringify(valueOf(key, n, catalog))) return n;
  const owner = key.includes(".") ? key.slice(0, key.lastIndexOf(".")) : "";
  // A tuning was measured on the problem: changing any of it but which optimizers run leaves no lr tuned.
  if ((catalog.links.get(key)?.part === "problem" && key !== "opt") || owner === "surface" || owner === "sched") return untuned(n);
  const run = runScheduleOwner(owner, catalog);
  if (run) return untuned(n, run);
  if (catalog.optimizer(owner) && !key.endsWith(".label")) return untuned(n, owner);
  return n;
}

function changed(key, value, s, catalog) {
  const n = structuredClone(s);
  if (key === "surface") {
    if (value === s.surface) return n;
    n.surface = value;
    n.surfaceParams = {};
    n.start = [...catalog.surface(value).start];
    Object.assign(n, formulaOf(catalog.surface(value)));
    // A learning rate suits one surface: another surface starts each run at the rate it gives.
    for (const id of n.opt) Object.assign(n, withSurfaceLr(n, id, catalog));
  } else if (key === "sched") {
    n.sched = value === catalog.defaultSchedule() ? null : value;
    n.schedParams = {};
  } else if (key === "start" || key === "f" || key === "domain") {
    n[key] = value;
  } else if (key in catalog.display || catalog.runSettings.has(key)) {
    n[key] = value;
  } else if (runScheduleOwner(key, catalog)) {
    const id = runScheduleOwner(key, catalog);
    n.runSched ??= {};
    if (value && catalog.schedule(value)) n.runSched[id] = { name: value };
    else delete n.runSched[id];
  } else if (key.endsWith(".label")) {
    const id = key.slice(0, -".label".length);
    const text = readKey(catalog.links.get("{opt}.label"), String(value ?? ""), catalog).value;
    n.labels ??= {};
    if (text) n.labels[id] = text;
    else delete n.labels[id];
  } else {
    const dot = key.lastIndexOf(".");
    const [owner, name] = [key.slice(0, dot), key.slice(dot + 1)];
    const run = runScheduleOwner(owner, catalog);
    if (run && !n.runSched?.[run]) return n; // no schedule of its own: nothing to set a parameter of
    const bag = owner === "surface" ? n.surfaceParams : owner === "sched" ? n.schedParams
      : run ? n.runSched[run] : (n.hp[owner] ??= {});
    if (n.bad) delete n.bad[key];
    if (owner === "sched" && !n.sched) n.sched = catalog.defaultSchedule();
    if (value === specOf(key, s, catalog)?.default) delete bag[name];
    else bag[name] = value;
  }
  return n;
}

/**
 * A state whose run `id` has the learning rate its surface gives it (the surface's registry block,
 * else the optimizer's default), in place of the rate it had.
 */
export function withSurfaceLr(s, id, catalog) {
  const opt = catalog.optimizer(id);
  const lr = opt && param(opt.hyperparameters, "lr");
  if (!lr) return s;
  const { lr: _, ...rest } = s.hp[id] ?? {};
  const given = catalog.surface(s.surface)?.lr?.[id];
  const own = given !== undefined && given !== lr.default ? { ...rest, lr: given } : rest;
  const hp = { ...s.hp, [id]: own };
  if (!Object.keys(own).length) delete hp[id];
  const bad = { ...(s.bad ?? {}) };
  delete bad[`${id}.lr`];
  return { ...s, hp, bad };
}

/** The body of POST /api/trajectories(/stream) for a state. */
export function requestBody(s) {
  const hasParams = Object.keys(s.surfaceParams).length > 0;
  return {
    surface: s.surface === "custom" ? formulaSurface(s) : hasParams ? { name: s.surface, ...s.surfaceParams } : s.surface,
    start: s.start,
    steps: s.steps,
    runs: s.opt.filter((id) => !badKeys(id, s).length).map((id) => {
      const run = { optimizer: id, hyperparameters: { ...(s.hp[id] ?? {}) } };
      if (s.labels?.[id]) run.label = s.labels[id];
      if (s.runSched?.[id]) run.schedule = { ...s.runSched[id] };
      return run;
    }),
    schedule: s.sched ? { name: s.sched, ...s.schedParams } : null,
    noise: s.noise > 0 ? { sigma: s.noise, seed: s.noise_seed } : null,
    seed: s.seed,
  };
}

/** The optimizer whose own schedule a key chooses (`adam.sched`), or "". */
export function runScheduleOwner(key, catalog) {
  const id = key.endsWith(".sched") ? key.slice(0, -".sched".length) : "";
  return id && catalog.optimizer(id) ? id : "";
}

/** The schedule optimizer `id` runs with: its own, else the one every run shares (null: constant). */
export function scheduleOf(s, id) {
  if (s.runSched?.[id]) return { ...s.runSched[id] };
  return s.sched ? { name: s.sched, ...s.schedParams } : null;
}

/** The name a run goes by: its own label if the link gives one, else its optimizer's. */
export function runName(id, s, catalog) {
  return s.labels?.[id] || catalog.optimizer(id).label;
}

/** What the grid endpoint needs: the surface and its own parameters. */
export function surfaceKey(s) {
  return JSON.stringify([s.surface, s.surfaceParams, s.f, s.domain]);
}

/** A typed formula as the API takes it: {formula, domain}, the domain only when it is not the default. */
export function formulaSurface(s) {
  return s.domain ? { formula: s.f, domain: s.domain } : { formula: s.f };
}

/** The formula keys of a fresh state: the first example for "Custom…", none for a built-in surface. */
function formulaOf(surface) {
  const first = surface.examples?.[0];
  if (!first) return { f: "", domain: null };
  const dflt = surface.domain.flat();
  return { f: first.formula, domain: first.domain.every((v, i) => v === dflt[i]) ? null : [...first.domain] };
}

/** A formula's default start: up and to the left of its domain's centre, as core.formula places it. */
export function formulaStart([x0, x1, y0, y1]) {
  const round = (v) => Math.round(v * 1e6) / 1e6;
  return [round(x0 + 0.3 * (x1 - x0)), round(y0 + 0.7 * (y1 - y0))];
}

function readFormulaKey(s, key, text, warnings) {
  if (key === "f") { s.f = text; return; }
  const d = text.split(",").map(Number);
  if (d.length === 4 && d.every(Number.isFinite)) s.domain = d;
  else warnings.push(t("domain must be four numbers x_min,x_max,y_min,y_max, got \"{0}\"", text));
}
