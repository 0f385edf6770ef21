// The interactive page: the scene plus the controls, presets, inspector, sharing and exports.

import { bindControls, bindOptimizerSearch, syncControls } from "./controls.js";
import { bindCustom, syncCustom } from "./custom.js";
import { bindExports } from "./exports.js";
import { Inspector } from "./inspector.js";
import { BasinsLayer } from "./basins.js";
import { MapView } from "./map.js";
import { TunePanel } from "./tune.js";
import { typeset } from "./math.js";
import { Scene } from "./scene.js";
import { Catalog, initialState, notDrawn, parse, runName, serialize, surfaceKey } from "./state.js";
import { $, $$, debounce, put } from "./util.js";
import { showAlert, warnIgnored, watchErrors } from "./alert.js";
import { t, withPageLang } from "./i18n.js";
import { pageUrl } from "./api.js";

const catalog = Catalog.fromPage();
watchErrors();

const first = initialState(catalog);
warnIgnored(first.warnings, notDrawn(first.state, catalog));

function showShare(s, query) {
  $("#share-url").value = `${pageUrl()}?${serialize(withPageLang(s), catalog)}`;
  $("#embed-snippet").value = embedSnippet(pageUrl("embed"), s);
  exportBox?.show(s);
}

// The URL always holds the whole state. Small changes (a slider) rewrite it, and the links and
// snippets of "Share & export", once they settle: Chromium limits how often the URL may be
// rewritten, and each rewrite costs a few milliseconds a drag need not wait for. A preset, a surface, a start point or a view gets its own history entry, so
// Back returns to what was on screen before it.
// The query this page last put in the address: a history step that leaves it as it is only moved
// to a part of the page ("Share & export"), and must leave the state and its timeline alone.
let written = location.search.slice(1);

const replaceUrl = debounce((s, query) => {
  if (location.search.slice(1) !== query) history.replaceState(null, "", `?${query}`);
  written = query;
  showShare(s, query);
}, 120);

function writeUrl(s, how) {
  const query = serialize(s, catalog);
  if (how === "push") {
    replaceUrl.flush(); // the entry being left keeps its last slider values
    if (location.search.slice(1) !== query) history.pushState(null, "", `?${query}`);
    written = query;
    showShare(s, query);
  } else if (how === "replace") {
    replaceUrl(s, query);
  } else {
    showShare(s, query);
  }
}

const scene = new Scene(catalog, first.state, document.body, {
  onState: showState,
  onError: (err) => showAlert(err?.lines ?? null, "error"),
  extraViews: [(ctx) => new Inspector($("#inspector"), ctx)],
  empty: t("No optimizer in this link: tick one under Optimizers (☰ Settings), or choose a preset."),
});

let shownSurface = null;
let shownLarge = null;

/** The preset a state is, if any: the same run, whatever the speed, view, looping, text size or language. */
function presetOf(s) {
  const query = serialize({ ...s, view: "contour", speed: 1, autoplay: true, loop: false, large: false, lang: "" }, catalog);
  return catalog.presets.find((p) => p.query.replace(/&view=[^&]*/, "") === query);
}

// The preset whose question is on screen and the surface it asks it on. A class tries a slider or
// another optimizer to answer the question, so it stays, marked changed, until the surface changes.
let asked = null;

function questionOf(s) {
  const exact = presetOf(s);
  if (exact) asked = { preset: exact, problem: surfaceKey(s) };
  else if (asked?.problem !== surfaceKey(s)) asked = null;
  return asked && { preset: asked.preset, changed: !exact };
}

let synced = null;

/** The one optimizer whose hyperparameters alone differ between two states, if that is all that does. */
function onlyHpOf(before, s) {
  if (!before) return null;
  for (const key of new Set([...Object.keys(before), ...Object.keys(s)])) {
    if (key !== "hp" && JSON.stringify(before[key]) !== JSON.stringify(s[key])) return null;
  }
  const ids = new Set([...Object.keys(before.hp), ...Object.keys(s.hp)]);
  const differ = [...ids].filter((id) => JSON.stringify(before.hp[id]) !== JSON.stringify(s.hp[id]));
  return differ.length === 1 ? differ[0] : null;
}

function showState(s, how = "replace") {
  writeUrl(s, how);
  syncControls(document.body, s, catalog, onlyHpOf(synced, s));
  synced = s;
  // Reading the sidebar's style forces a style pass: only when large text may have folded it.
  if (s.large !== shownLarge) {
    shownLarge = s.large;
    syncSidebar();
  }
  document.documentElement.classList.toggle("inspecting", Boolean(s.inspect && s.opt.includes(s.inspect)));
  const asking = questionOf(s);
  const preset = asking?.preset;
  put($("#preset"), "value", asking && !asking.changed ? preset.id : "");
  const question = $("#question");
  put(question, "hidden", !preset);
  // The title in full, whatever the menu has room for, then the question it asks.
  const shown = preset ? `${preset.id}${asking.changed ? " changed" : ""}` : "";
  if (question.dataset.preset !== shown) {
    question.dataset.preset = shown;
    const title = document.createElement("strong");
    title.textContent = preset ? preset.title : "";
    const mark = document.createElement("em");
    mark.className = "changed";
    mark.textContent = asking?.changed ? t(" (changed)") : "";
    question.replaceChildren(title, mark, preset ? ` – ${preset.question}` : "");
  }
  if (shownSurface !== s.surface) showSurface(s.surface);
  syncCustom(document.body, s, catalog);
  tunePanel?.sync(s);
  basinsLayer?.sync();
}

/** An iframe for slides of the embed view at `embed`: the same state, playing and looping, at the 16:9 size chosen. */
function embedSnippet(embed, s) {
  const query = serialize(withPageLang({ ...s, autoplay: true, loop: true }), catalog);
  const [width, height] = $("#embed-size").value.split("x");
  const on = s.surface === "custom" ? `f(x, y) = ${s.f}` : catalog.surface(s.surface).label;
  const title = `Gradscape: ${t("{0} on {1}", s.opt.map((id) => runName(id, s, catalog)).join(", "), on)}`;
  const attr = (v) => v.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
  return `<iframe src="${attr(`${embed}?${query}`)}" width="${width}" height="${height}" style="border:0" title="${attr(title)}" loading="lazy" allowfullscreen></iframe>`;
}

// --- the settings sidebar: folded away while presenting and on narrow screens -------

const sidebar = $("#sidebar");
const sidebarToggle = $("#sidebar-toggle");

function syncSidebar() {
  const shown = getComputedStyle(sidebar).display !== "none";
  put(sidebarToggle, "ariaExpanded", String(shown));
}

sidebarToggle.addEventListener("click", () => {
  const open = getComputedStyle(sidebar).display === "none";
  document.documentElement.classList.toggle("sidebar-open", open);
  document.documentElement.classList.toggle("sidebar-closed", !open);
  syncSidebar();
  if (open) sidebar.querySelector("input, select, button")?.focus({ preventScroll: true });
});

// Escape folds away settings the toggle opened over or beside the plots, as it closes any overlay.
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape" || e.defaultPrevented || !document.documentElement.classList.contains("sidebar-open")) return;
  const inside = sidebar.contains(document.activeElement);
  document.documentElement.classList.remove("sidebar-open");
  syncSidebar();
  if (inside) sidebarToggle.focus({ preventScroll: true });
});

// A narrow screen opens the settings over the plots, just under the top bar.
const topbar = $(".topbar");
new ResizeObserver(() => {
  document.documentElement.style.setProperty("--topbar", `${topbar.offsetHeight}px`);
  syncSidebar();
}).observe(topbar);
$('input[data-key="large"]').addEventListener("change", () => {
  // Turning large text on or off returns the settings to that mode's default (folded when large).
  document.documentElement.classList.remove("sidebar-open", "sidebar-closed");
});

function showSurface(id) {
  shownSurface = id;
  const spec = catalog.surface(id);
  $(".surface-help").textContent = spec.help;
  $(".surface-ref").textContent = spec.reference;
  // KaTeX loads after the first frame is on screen. A typed formula's LaTeX comes with its grid (custom.js).
  if (id !== "custom") requestIdleCallback(() => typeset($(".surface-formula"), spec.formula).catch(() => {
    $(".surface-formula").textContent = spec.formula;
  }));
}

function applyPreset(id) {
  const preset = catalog.preset(id);
  if (!preset) return;
  const { state } = parse(preset.query, catalog);
  state.large = scene.s.large;
  scene.update(state, performance.now(), "push");
  scene.replay();
  // A preset that asks to watch the inspector brings it on screen.
  if (state.inspect) $("#inspector").scrollIntoView({ block: "nearest", behavior: "smooth" });
}

// Back and Forward show the state the address now holds. A slider's rewrite still waiting belongs
// to the entry just left: written now it would overwrite the entry returned to.
window.addEventListener("popstate", () => {
  if (location.search.slice(1) === written) return;
  written = location.search.slice(1);
  replaceUrl.cancel();
  const { state, warnings } = initialState(catalog);
  warnIgnored(warnings, notDrawn(state, catalog));
  scene.update(state, performance.now(), "none");
  scene.replay();
});

bindControls(document.body, scene, catalog, (msg) => showAlert([msg], "error"));
bindOptimizerSearch(document.body);
bindCustom(document.body, scene, catalog);
$("#preset").addEventListener("change", (e) => applyPreset(e.target.value));
const exportBox = bindExports(scene, catalog, (lines) => showAlert(lines, "error"));

for (const button of $$("[data-copy]")) {
  button.addEventListener("click", async () => {
    const field = document.getElementById(button.dataset.copy);
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
    } catch {
      document.execCommand("copy");
    }
    $("#export-status").textContent = t("Copied to the clipboard.");
  });
}

// Space plays and pauses, arrows step, Home and End jump: unless a control has the keyboard.
document.addEventListener("keydown", (e) => {
  if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
  if (e.target.closest("input, select, textarea, button, a, [contenteditable]")) return;
  const p = scene.player;
  const actions = {
    " ": () => p.toggle(),
    ArrowLeft: () => p.step(e.shiftKey ? -10 : -1),
    ArrowRight: () => p.step(e.shiftKey ? 10 : 1),
    Home: () => p.step(-p.length),
    End: () => p.step(p.length),
  };
  if (actions[e.key]) {
    e.preventDefault();
    actions[e.key]();
  }
});

$("#embed-size").addEventListener("change", () => showShare(scene.s, serialize(scene.s, catalog)));

// The language switches: the chosen language is remembered for the next visit (the cookie), and the link
// followed is the current state's, so the page comes back in the other language with every setting kept.
for (const a of $$("a[data-lang]")) {
  a.addEventListener("click", () => {
    const lang = a.dataset.lang;
    document.cookie = `lang=${encodeURIComponent(lang)}; path=/; max-age=31536000; SameSite=Lax`;
    replaceUrl.cancel();
    a.href = `${pageUrl("", lang)}?${serialize({ ...scene.s, lang }, catalog)}${location.hash}`;
  });
}
scene.views.map = new MapView($(".panel-map"), scene);
const tunePanel = new TunePanel($("#tune-lr"), scene, (lines) => showAlert(lines, "error"));
const basinsLayer = new BasinsLayer(scene, $("#basins-ctl"));
showState(first.state, "replace");
scene.start();
window.gradscape = { scene, catalog, basins: basinsLayer };
