// The export box: every file (GIF, MP4, HTML, PPTX, Beamer frames, and the PNG or SVG of the step shown)
// is made by the server from the URL state, drawn as the command line draws it; and the snippets
// that put the live view into slides and notebooks.

import { ApiError, describe, pageUrl } from "./api.js";
import { runName, serialize } from "./state.js";
import { $, $$ } from "./util.js";
import { t, withLang, withPageLang } from "./i18n.js";
import { NETWORK, networkBody } from "./network.js";

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
    const lines = body?.detail !== undefined ? describe(body.detail) : [t("The export failed: {0} {1}.", resp.status, resp.statusText)];
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

const escapeAttr = (v) => v.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");

/** What to paste into a slide tool or notebook so it shows the live view `url` at `width` × `height`. */
export function slideSnippet(tool, url, title, width, height) {
  const src = escapeAttr(url);
  const iframe = `<iframe src="${src}" width="${width}" height="${height}" style="border:0" title="${escapeAttr(title)}" loading="lazy" allowfullscreen></iframe>`;
  switch (tool) {
    case "reveal-background":
      // data-background-interactive: the timeline stays usable under the slide's own content.
      return `<section data-background-iframe="${src}" data-background-interactive>\n  <h2>${escapeAttr(title)}</h2>\n</section>`;
    case "quarto":
      return `## ${title}\n\n${iframe}`;
    case "jupyter":
      return `from IPython.display import IFrame\nIFrame(${JSON.stringify(url)}, width=${width}, height=${height})`;
    default:
      return `<section>\n  ${iframe}\n</section>`;
  }
}

/**
 * A network's export: the request the page trains, as POST /api/exports takes it (its `network`), without the
 * weights the page streams for its decision regions. A format that cannot draw a network is refused by the
 * server in words, which the page shows.
 */
function exportedNetwork(s) {
  const { weights: _, weights_every: __, ...body } = networkBody(s);
  return body;
}

/** Wire the export box; returns {show(state)}, which keeps its view choice on the view shown. */
export function bindExports(scene, catalog, onError) {
  const progress = $("#export-progress");
  const status = $("#export-status");
  const buttons = $$("[data-export], [data-still]");
  const busy = (on) => buttons.forEach((b) => { b.disabled = on; });

  /** Ask the server for a file, follow its job, and download it; the timeline is left where it is. */
  async function exportFile(format, fields, what) {
    const s = scene.s;
    busy(true);
    progress.hidden = false;
    progress.value = 0;
    status.textContent = t("Making the {0}…", what);
    const subtitle = $("#export-subtitle").value.trim();
    try {
      const job = await json(await fetch(withLang("/api/exports"), {
        method: "POST", headers: { "Content-Type": "application/json" },
        // Frames and rate are left to the server's defaults, which the export CLI shares.
        body: JSON.stringify(s.surface === NETWORK ? { network: exportedNetwork(s), format, ...fields, ...(subtitle ? { subtitle } : {}) } : {
          state: serialize(withPageLang(s), catalog), format, ...fields,
          annotate: $("#export-annotate").checked, ...(subtitle ? { subtitle } : {}),
          ...(format === "html" && $("#export-frames-only").checked ? { frames_only: true } : {}),
        }),
      }));
      for (;;) {
        const info = await json(await fetch(withLang(`/api/exports/${job.id}`)));
        progress.value = info.progress ?? 0;
        if (info.status === "done") break;
        if (info.status === "error") throw new ApiError([t("The export failed: {0}", info.message)]);
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      download(`/api/exports/${job.id}/file`, job.filename);
      status.textContent = t("{0} ready: downloading.", what);
    } catch (err) {
      status.textContent = "";
      onError(err instanceof ApiError ? err.lines : [t("The export failed: {0}", err.message)]);
    } finally {
      busy(false);
      progress.hidden = true;
    }
  }

  function exportAnimation(format) {
    return exportFile(format, chosen(scene, format), format.toUpperCase());
  }

  function exportStill(format) {
    const { width, height, view: picked } = chosen(scene);
    // A still taken while the map is shown is the map, where every run ends (it has no step).
    if (scene.s.view === "map") return exportFile(format, { width, height, view: "map" }, t("{0} of the map", format.toUpperCase()));
    const step = scene.player.k;
    return exportFile(format, { width, height, view: picked, step }, t("{0} of step {1}", format.toUpperCase(), step));
  }

  for (const b of $$("[data-export]")) b.addEventListener("click", () => exportAnimation(b.dataset.export));
  for (const b of $$("[data-still]")) b.addEventListener("click", () => exportStill(b.dataset.still));

  const tool = $("#slide-tool");
  function showSnippet(s) {
    const query = serialize(withPageLang({ ...s, autoplay: true, loop: true }), catalog);
    const [width, height] = $("#embed-size").value.split("x");
    const on = s.surface === "custom" ? `f(x, y) = ${s.f}` : catalog.surface(s.surface).label;
    const title = t("{0} on {1}", s.opt.map((id) => runName(id, s, catalog)).join(", "), on);
    $("#slide-snippet").value = slideSnippet(tool.value, `${pageUrl("embed")}?${query}`, title, width, height);
  }
  tool.addEventListener("change", () => showSnippet(scene.s));
  $("#embed-size").addEventListener("change", () => showSnippet(scene.s));

  // The view offered is the one on screen until another is chosen here.
  const viewSelect = $("#export-view");
  let chosenHere = false;
  viewSelect.addEventListener("change", () => { chosenHere = true; });
  return {
    show(s) {
      if (!chosenHere && viewSelect.value !== s.view) viewSelect.value = s.view;
      showSnippet(s);
    },
  };
}
