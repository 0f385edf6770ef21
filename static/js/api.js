// The API as the page uses it: surface grids (cached) and streamed trajectories.

import { LANG, t, withLang } from "./i18n.js";

/**
 * A copy of the page on a static host (`gradscape build-site`) has no server behind it: whatever needs one
 * says so instead of asking. The site marks its pages with the class "static-site", and lists in
 * data-languages the languages it holds each page in (index.html, index.zh-CN.html, embed.html, ...).
 */
export const STATIC_SITE = document.documentElement.classList.contains("static-site");
export const NEEDS_SERVER = t("needs the Gradscape server");
const SITE_LANGUAGES = (document.documentElement.dataset.languages ?? "").split(" ").filter(Boolean);

/**
 * One of the app's pages beside this one ("" the page, "embed" the embed view), in `lang`: the server
 * renders each in the language the link asks, a static site has a file per language.
 */
export function pageUrl(name = "", lang = LANG) {
  if (!STATIC_SITE) return new URL(`./${name}`, location.href).href;
  const file = lang === "en" ? `${name || "index"}.html` : `${name || "index"}.${lang}.html`;
  return new URL(!name && lang === "en" ? "./" : file, location.href).href;
}

/** A request the server refused or could not answer; `lines` are what to show the user. */
export class ApiError extends Error {
  constructor(lines, status = 0) {
    super(lines.join("\n"));
    this.lines = lines;
    this.status = status;
  }
}

if (STATIC_SITE) {
  // A link in another language (a switch followed, a link shared from a page in that language) opens
  // that language's file with the same state.
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked && asked !== LANG && SITE_LANGUAGES.includes(asked)) {
    const embed = /(^|\/)embed(\.[^/]*)?\.html$/.test(location.pathname);
    location.replace(`${pageUrl(embed ? "embed" : "", asked)}${location.search}${location.hash}`);
  }
  // Every API call of the page goes to api/...: refused here, never sent, with the sentence to show.
  const send = window.fetch.bind(window);
  window.fetch = (url, init) => (/(^|\/)api\//.test(String(url))
    ? Promise.reject(new ApiError([t("This {0}: the copy on this site computes ordinary runs only.", NEEDS_SERVER)]))
    : send(url, init));
}

/** A number as Python prints it, as the help beside each control does: 1e-06, 0.001, 10. */
export function pyNumber(v) {
  if (v !== 0 && Math.abs(v) < 1e-4) {
    const [m, e] = v.toExponential().split("e");
    return `${m}e${e[0] === "-" ? "-" : "+"}${e.replace(/^[-+]/, "").padStart(2, "0")}`;
  }
  return String(v);
}

/** "Adam's lr must be between 1e-06 and 10; you typed -1". */
export function mustBeBetween(name, low, high, given) {
  return t("{0} must be between {1} and {2}; {3}", name, pyNumber(low), pyNumber(high), given);
}

// core's range message, "hyperparameters.lr = -1 is outside [1e-06, 10]".
const OUTSIDE = /^(?:[\w.[\]]*?)([\w]+) = (\S+) is outside \[([^,\]]+), ([^\]]+)\]$/;

/** Turn FastAPI's 422 detail list into readable lines, naming the optimizer a run index points at. */
export function describe(detail, runNames = []) {
  if (!Array.isArray(detail)) return [String(detail ?? t("The server refused the request."))];
  return detail.map((d) => {
    const loc = (d.loc ?? []).filter((p) => p !== "body" && p !== "query");
    const range = OUTSIDE.exec(d.msg ?? "");
    const run = loc.indexOf("runs");
    if (range) {
      const whose = run >= 0 && runNames[loc[run + 1]] ? t("{0}'s ", runNames[loc[run + 1]]) : "";
      return mustBeBetween(`${whose}${range[1]}`, Number(range[3]), Number(range[4]), t("the link asks for {0}", range[2]));
    }
    // runs › 0 reads better as the optimizer's name.
    const named = loc.flatMap((p, i) => (p === "runs" && runNames[loc[i + 1]] ? [] : loc[i - 1] === "runs" && runNames[p] ? [runNames[p]] : [p]));
    const where = named.join(" › ");
    return where ? `${where}: ${d.msg}` : d.msg;
  });
}

export async function refusal(resp, runNames) {
  let body = null;
  try { body = await resp.json(); } catch { /* not JSON: fall through to the status line */ }
  if (body && body.detail !== undefined) return new ApiError(describe(body.detail, runNames), resp.status);
  return new ApiError([t("The server answered {0} {1}.", resp.status, resp.statusText)], resp.status);
}

const grids = new Map();

/** GET /api/surfaces/{name}/grid, remembered per surface and parameters. */
export async function fetchGrid(surface, params, signal) {
  const q = new URLSearchParams({ resolution: "100", ...params });
  const url = `/api/surfaces/${encodeURIComponent(surface)}/grid?${q}`;
  if (!grids.has(url)) {
    const pending = fetch(withLang(url), { signal }).then(async (resp) => {
      if (!resp.ok) throw await refusal(resp);
      return resp.json();
    });
    grids.set(url, pending);
    pending.catch(() => grids.delete(url));
  }
  return grids.get(url);
}

function newRun(meta) {
  return {
    index: meta.index, optimizer: meta.optimizer, hyperparameters: meta.hyperparameters,
    xs: [], ys: [], losses: [], lr: [], gx: [], gy: [], state: {}, effx: [], effy: [], stepSize: null,
    diverged_at: null, done: false,
  };
}

/**
 * An array the server sent with "encoding": "base64" ({dtype: "float64", shape, base64}), as a flat
 * Float64Array in row-major order: exact to the bit, and far cheaper than parsing decimal text.
 * Float64Array reads the platform's byte order, little-endian wherever browsers run.
 */
export function decodeArray({ dtype, base64 }) {
  if (dtype !== "float64") throw new ApiError([t("The server sent an array of {0}, not float64.", dtype)]);
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return new Float64Array(bytes.buffer);
}

function addChunk(run, c) {
  // Flat arrays go to `a` from index `at`; [n, 2] ones to `ax` and `ay`.
  const values = (src, a, at) => {
    const v = decodeArray(src);
    for (let i = 0; i < v.length; i++) a[at + i] = v[i];
  };
  const pairs = (src, ax, ay, at) => {
    const v = decodeArray(src);
    for (let i = 0; i < v.length / 2; i++) { ax[at + i] = v[2 * i]; ay[at + i] = v[2 * i + 1]; }
  };
  pairs(c.points, run.xs, run.ys, c.from);
  values(c.losses, run.losses, c.from);
  // A request may ask for points and losses only; the per-step arrays are then absent.
  const k0 = c.step_from;
  if (c.lr) values(c.lr, run.lr, k0);
  if (c.gradients) pairs(c.gradients, run.gx, run.gy, k0);
  if (c.effective_lr) pairs(c.effective_lr, run.effx, run.effy, k0);
  for (const [name, src] of Object.entries(c.state ?? {})) {
    const slot = (run.state[name] ??= { x: [], y: [] });
    pairs(src, slot.x, slot.y, k0);
  }
  if (c.step_size) values(c.step_size, (run.stepSize ??= []), k0);
}

/**
 * POST /api/trajectories/stream, its arrays in base64, and assemble the runs as NDJSON lines arrive.
 * `onProgress(runs)` is called after each batch of lines; resolves with the runs when the stream is done.
 * `runNames` label the runs in error messages.
 */
export async function streamTrajectories(body, { signal, onProgress, runNames = [] } = {}) {
  // Without a server the runs the page cannot step are left out, and the legend's note says why.
  if (STATIC_SITE) return body.runs.map((run, index) => ({ ...newRun({ index, ...run }), done: true }));
  const resp = await fetch(withLang("/api/trajectories/stream"), {
    method: "POST", headers: { "Content-Type": "application/json" }, signal,
    body: JSON.stringify({ ...body, encoding: "base64" }),
  });
  if (!resp.ok) throw await refusal(resp, runNames);
  let runs = [], done = false;
  await readLines(resp, (msg) => {
    if (msg.type === "meta") runs = msg.runs.map(newRun);
    else if (msg.type === "chunk") addChunk(runs[msg.run], msg);
    else if (msg.type === "end") Object.assign(runs[msg.run], { diverged_at: msg.diverged_at, done: true });
    else if (msg.type === "done") done = true;
    else if (msg.type === "error") throw new ApiError([msg.message]);
  }, () => { if (onProgress && !done) onProgress(runs); });
  if (!done) throw new ApiError([t("The trajectory stream ended early; try again.")]);
  return runs;
}

/**
 * A JSON Lines answer read as it arrives: `handle(message)` for each line, then `after()` after each piece of
 * the body (the last included); reading stops early when `after` returns false.
 */
export async function readLines(resp, handle, after = () => true) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done: eof } = await reader.read();
    if (value) buffer += decoder.decode(value, { stream: true });
    const lines = buffer.split("\n");
    buffer = eof ? "" : lines.pop();
    for (const line of lines) if (line) handle(JSON.parse(line));
    if (after() === false || eof) return;
  }
}
