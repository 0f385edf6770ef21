// A typed formula's grid: GET /api/grid?f=...&domain=..., which also validates it (a 422 names the column)
// and carries its LaTeX, default start, and the minima and saddle points found numerically.

import { ApiError, describe } from "./api.js";
import { t, withLang } from "./i18n.js";

const grids = new Map();

export function formulaGridUrl(f, domain, resolution = 100) {
  const q = new URLSearchParams({ f, resolution: String(resolution) });
  if (domain) q.set("domain", domain.join(","));
  return `/api/grid?${q}`;
}

/**
 * The grid of a formula, remembered per formula and domain: the text box's validation and the scene's
 * drawing share one request. No abort signal: an aborted shared request would fail both.
 */
export function fetchFormulaGrid(f, domain) {
  const url = formulaGridUrl(f, domain);
  if (!grids.has(url)) {
    const pending = fetch(withLang(url)).then(async (resp) => {
      if (resp.ok) return resp.json();
      let body = null;
      try { body = await resp.json(); } catch { /* not JSON */ }
      const lines = body?.detail !== undefined ? describe(body.detail) : [t("The server answered {0}.", resp.status)];
      const err = new ApiError(lines, resp.status);
      err.column = Number(/column (\d+)/.exec(lines[0] ?? "")?.[1]) || null;
      throw err;
    });
    grids.set(url, pending);
    pending.catch(() => grids.delete(url));
    if (grids.size > 64) grids.delete(grids.keys().next().value);
  }
  return grids.get(url);
}
