// The embed: one view of a shared state with minimal chrome, for an iframe in slides.

import { showAlert, warnIgnored, watchErrors } from "./alert.js";
import { pageUrl } from "./api.js";
import { bindControls, syncControls } from "./controls.js";
import { BasinsLayer } from "./basins.js";
import { MapView } from "./map.js";
import { TunedMarks } from "./tune.js";
import { Scene } from "./scene.js";
import { Catalog, initialState, notDrawn } from "./state.js";
import { $ } from "./util.js";
import { t } from "./i18n.js";

const catalog = Catalog.fromPage();
watchErrors();
const { state, warnings } = initialState(catalog);
warnIgnored(warnings, notDrawn(state, catalog));

const timeline = $(".timeline");
const scene = new Scene(catalog, state, document.body, {
  companions: false,
  onState: (s) => syncControls(timeline, s, catalog),
  onError: (err) => showAlert(err?.lines ?? null, "error"),
  empty: t("This link names no optimizer: open it in Gradscape to choose some."),
});
scene.views.map = new MapView($(".panel-map"), scene);
new BasinsLayer(scene);
new TunedMarks(scene);
bindControls(timeline, scene, catalog, (msg) => showAlert([msg], "error"));
syncControls(timeline, state, catalog);
$("#open-full").href = `${pageUrl()}${location.search}`;
document.addEventListener("keydown", (e) => {
  if (e.key === " " && !e.target.closest("input, select, button, a")) {
    e.preventDefault();
    scene.player.toggle();
  }
});
scene.start();
window.gradscape = { scene, catalog };
