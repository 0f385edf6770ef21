// Export buttons: GIF, MP4 and HTML are made by the server from the URL state;
// a PNG or SVG of the current frame is made here by Plotly.

import { ApiError, describe } from "./api.js";
import { serialize } from "./state.js";
import { $, $$ } from "./util.js";

const POLL_MS = 400;

/** The size and view chosen in the export box: {width, height, view}. */
function chosen(scene, format) {
  const [width, height] = $("#export-size").value.split("x").map(Number);
  const view = $("#export-view").value || scene.s.view;
  // The map does not move: beside it, the animation is the contour's; its HTML page is the map itself.
  return { width, height, view: view === "map" && format !== "html" ? "contour" : view };
}

async function json(resp) {
  const body = await resp.json().catch(() => null);
  if (!resp.ok) {
    const lines = body?.detail !== undefined ? describe(body.detail) : [`The export failed: ${resp.status} ${resp.statusText}.`];
    throw new ApiError(lines, resp.status);
  }
  return body;
}

function download(href, filename) {
  const a = document.createElement("a");
  a.href = href;
  if (filename) a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
}

/** Wire the export box; returns {show(state)}, which keeps its view choice on the view shown. */
export function bindExports(scene, catalog, onError) {
  const progress = $("#export-progress");
  const status = $("#export-status");
  const buttons = $$("[data-export], [data-still]");
  const busy = (on) => buttons.forEach((b) => { b.disabled = on; });

  async function exportAnimation(format) {
    const s = scene.s;
    busy(true);
    progress.hidden = false;
    progress.value = 0;
    status.textContent = `Making the ${format.toUpperCase()}…`;
    try {
      const job = await json(await fetch("/api/exports", {
        method: "POST", headers: { "Content-Type": "application/json" },
        // Frames and rate are left to the server's defaults, which the export CLI shares.
        body: JSON.stringify({ state: serialize(s, catalog), format, ...chosen(scene, format) }),
      }));
      for (;;) {
        const info = await json(await fetch(`/api/exports/${job.id}`));
        progress.value = info.progress ?? 0;
        if (info.status === "done") break;
        if (info.status === "error") throw new ApiError([`The export failed: ${info.message}`]);
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      download(`/api/exports/${job.id}/file`, job.filename);
      status.textContent = `${format.toUpperCase()} ready: downloading.`;
    } catch (err) {
      status.textContent = "";
      onError(err instanceof ApiError ? err.lines : [`The export failed: ${err.message}`]);
    } finally {
      busy(false);
      progress.hidden = true;
    }
  }

  async function exportStill(format) {
    const { width, height, view: picked } = chosen(scene);
    // A still taken while the map is shown is the map (it has no animation to choose a view for).
    const name = scene.s.view === "map" ? "map" : picked;
    const view = scene.views[name];
    if (name !== "map") {
      if (!view.surface) return;
      view.k = scene.player.k;
    }
    const target = view.figure({ width, height });
    const filename = `gradscape-${scene.s.surface}-${name}-step${scene.player.k}`;
    await Plotly.downloadImage(target, { format, filename, width, height });
    status.textContent = `${format.toUpperCase()} of step ${scene.player.k} downloaded.`;
  }


  for (const b of $$("[data-export]")) b.addEventListener("click", () => exportAnimation(b.dataset.export));
  for (const b of $$("[data-still]")) b.addEventListener("click", () => exportStill(b.dataset.still));

  // The view offered is the one on screen until another is chosen here.
  const viewSelect = $("#export-view");
  let chosenHere = false;
  viewSelect.addEventListener("change", () => { chosenHere = true; });
  return {
    show(s) {
      if (!chosenHere && viewSelect.value !== s.view) viewSelect.value = s.view;
    },
  };
}
