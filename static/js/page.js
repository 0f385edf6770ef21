// The interactive page: the scene plus the controls, presets, inspector, sharing and exports.

import { bindControls, syncControls } from "./controls.js";
import { bindCustom, syncCustom } from "./custom.js";
import { bindExports } from "./exports.js";
import { Inspector } from "./inspector.js";
import { MapView } from "./map.js";
import { TunePanel } from "./tune.js";
import { typeset } from "./math.js";
import { Scene } from "./scene.js";
import { Catalog, initialState, parse, serialize } from "./state.js";
import { $, $$, debounce, put } from "./util.js";
import { showAlert, warnIgnored, watchErrors } from "./alert.js";

const catalog = Catalog.fromPage();
watchErrors();

const first = initialState(catalog);
warnIgnored(first.warnings);

// The URL always holds the whole state. It is written once a change settles: Chromium limits how
// often it may be rewritten, and each rewrite costs a few milliseconds a slider drag need not wait for.
const writeUrl = debounce((s, query) => {
  history.replaceState(null, "", `?${query}`);
  $("#share-url").value = `${location.origin}/?${query}`;
  $("#embed-snippet").value = embedSnippet(location.origin, s);
}, 120);

const scene = new Scene(catalog, first.state, document.body, {
  onState: showState,
  onError: (err) => showAlert(err?.lines ?? null, "error"),
  extraViews: [(ctx) => new Inspector($("#inspector"), ctx)],
});

let shownSurface = null;

/** The preset a state is, if any: the same run, whatever the speed, view, looping or text size. */
function presetOf(s) {
  const query = serialize({ ...s, view: "contour", speed: 1, autoplay: true, loop: false, large: false }, catalog);
  return catalog.presets.find((p) => p.query.replace(/&view=[^&]*/, "") === query);
}

function showState(s) {
  const query = serialize(s, catalog);
  writeUrl(s, query);
  syncControls(document.body, s, catalog);
  const preset = presetOf(s);
  put($("#preset"), "value", preset?.id ?? "");
  const question = $("#question");
  put(question, "hidden", !preset);
  put(question, "textContent", preset ? preset.question : "");
  if (shownSurface !== s.surface) showSurface(s.surface);
  syncCustom(document.body, s, catalog);
}

/** An iframe for slides: the same state, playing and looping. */
function embedSnippet(base, s) {
  const query = serialize({ ...s, autoplay: true, loop: true }, catalog);
  const on = s.surface === "custom" ? `f(x, y) = ${s.f}` : catalog.surface(s.surface).label;
  const title = `Gradscape: ${s.opt.map((id) => catalog.optimizer(id).label).join(", ")} on ${on}`;
  return `<iframe src="${base}/embed?${query}" width="800" height="500" style="border:0" title="${title.replace(/"/g, "&quot;")}" loading="lazy" allowfullscreen></iframe>`;
}

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
  scene.update(state);
  scene.replay();
}

bindControls(document.body, scene, catalog, (msg) => showAlert([msg], "error"));
bindCustom(document.body, scene, catalog);
$("#preset").addEventListener("change", (e) => applyPreset(e.target.value));
bindExports(scene, catalog, (lines) => showAlert(lines, "error"));

for (const button of $$("[data-copy]")) {
  button.addEventListener("click", async () => {
    const field = document.getElementById(button.dataset.copy);
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
    } catch {
      document.execCommand("copy");
    }
    $("#export-status").textContent = "Copied to the clipboard.";
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

scene.views.map = new MapView($(".panel-map"), scene);
new TunePanel($("#tune-lr"), scene, (lines) => showAlert(lines, "error"));
showState(first.state);
scene.start();
window.gradscape = { scene, catalog };
