// The one place messages appear: a refused request, an unreadable link, a script error.
// The plots are left as they were, so the page never goes blank.

import { $ } from "./util.js";
import { t } from "./i18n.js";

/** Show `lines` as a message of this kind ("error" or "warning"); null hides a message of that kind. */
export function showAlert(lines, kind) {
  const box = $("#alert");
  if (!box) return;
  if (!lines) {
    if (box.dataset.kind === kind) box.hidden = true;
    return;
  }
  box.dataset.kind = kind;
  $(".alert-text", box).textContent = lines.join("\n");
  box.hidden = false;
}

/**
 * Say which parts of a link could not be read (they were skipped), and which runs are not drawn
 * because the link gives them a value they may not have (`notDrawn`: one line each).
 */
export function warnIgnored(warnings, notDrawn = []) {
  const lines = [...notDrawn, ...(warnings.length ? [t("Parts of this link were ignored: {0}.", warnings.join("; "))] : [])];
  if (lines.length) showAlert(lines, "warning");
}

/** Show uncaught script errors too, and let the reader dismiss any message. */
export function watchErrors() {
  $("#alert .alert-close")?.addEventListener("click", () => { $("#alert").hidden = true; });
  window.addEventListener("error", (e) => showAlert([t("Something went wrong: {0}", e.message)], "error"));
  window.addEventListener("unhandledrejection", (e) => showAlert([t("Something went wrong: {0}", e.reason?.message ?? e.reason)], "error"));
}
