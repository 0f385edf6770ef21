// The "Custom…" surface: a text box for f(x, y), checked by the server as you type, and examples.

import { fetchFormulaGrid } from "./formula.js";
import { typeset } from "./math.js";
import { $, $$, debounce, put } from "./util.js";
import { t } from "./i18n.js";

const CHECK_MS = 60; // after the last keystroke: skips most half-typed words, and leaves room for the redraw

const sameDomain = (a, b) => (a === null && b === null) || (a !== null && b !== null && a.every((v, i) => v === b[i]));

/** Wire the formula box, the domain box and the examples to the scene. */
export function bindCustom(root, scene, catalog) {
  const panel = $("#custom-surface", root);
  if (!panel) return;
  const input = $("#formula", panel);
  const domainBox = $("#formula-domain", panel);
  const status = $("#formula-status", panel);
  const dflt = catalog.surface("custom").domain.flat();

  /** The domain typed: null for the default, undefined when it is not four numbers. */
  function readDomain() {
    const text = domainBox.value.trim();
    if (text === "") return null;
    const d = text.split(/[\s,]+/).filter(Boolean).map(Number);
    if (d.length !== 4 || !d.every(Number.isFinite)) return undefined;
    return d.every((v, i) => v === dflt[i]) ? null : d;
  }

  const say = (text, kind) => tell(status, text, kind);

  let asked = 0;
  async function check(changeAt) {
    const f = input.value;
    const domain = readDomain();
    if (domain === undefined) {
      domainBox.setAttribute("aria-invalid", "true");
      say(t("The domain must be four numbers: x min, x max, y min, y max."), "error");
      return;
    }
    domainBox.removeAttribute("aria-invalid");
    const ticket = ++asked;
    try {
      const grid = await fetchFormulaGrid(f, domain);
      if (ticket !== asked) return; // a newer keystroke has its own check
      input.removeAttribute("aria-invalid");
      say(found(grid), "ok");
      const s = scene.s;
      if (s.surface !== "custom" || (s.f === f && sameDomain(s.domain, domain))) return;
      const [[x0, x1], [y0, y1]] = grid.domain;
      const inside = s.start[0] >= x0 && s.start[0] <= x1 && s.start[1] >= y0 && s.start[1] <= y1;
      scene.update({ ...s, f, domain, start: inside && sameDomain(s.domain, domain) ? s.start : grid.start }, changeAt);
    } catch (err) {
      if (ticket !== asked) return;
      if (err.status === 422 && err.lines) {
        const domainError = err.lines[0].startsWith("domain");
        (domainError ? domainBox : input).setAttribute("aria-invalid", "true");
        say(err.lines.join(" ").replace(/^f: /, ""), "error");
        if (err.column && !domainError && document.activeElement !== input) input.setSelectionRange(err.column - 1, err.column);
      } else {
        say(t("Could not check the formula: {0}", err.message), "error");
      }
    }
  }

  const later = debounce((t) => check(t), CHECK_MS);
  input.addEventListener("input", (e) => later(e.timeStamp));
  // Enter checks at once; a formula is one line (a newline would only be a space).
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); check(e.timeStamp); } });
  domainBox.addEventListener("change", (e) => check(e.timeStamp));
  for (const button of $$("[data-example]", panel)) {
    button.addEventListener("click", (e) => {
      const ex = catalog.surface("custom").examples[Number(button.dataset.example)];
      input.value = ex.formula;
      domainBox.value = ex.domain.join(", ");
      check(e.timeStamp);
    });
  }
}

function tell(status, text, kind) {
  put(status, "textContent", text);
  put(status.dataset, "kind", kind);
}

function found(grid) {
  return t("✓ {0}, {1} found numerically", count(grid.minima.length, t("no minimum"), t("1 minimum"), t("{0} minima")),
    count(grid.saddles.length, t("no saddle point"), t("1 saddle point"), t("{0} saddle points")));
}

function count(n, none, one, many) {
  return n === 0 ? none : n === 1 ? one : many.replace("{0}", n);
}

let shownFormula = null;

/** Show a custom state in the boxes (unless being typed in) and its formula in LaTeX under "Surface". */
export function syncCustom(root, s, catalog) {
  if (s.surface !== "custom") { shownFormula = null; return; }
  const input = $("#formula", root);
  const domainBox = $("#formula-domain", root);
  if (!input) return;
  if (document.activeElement !== input) put(input, "value", s.f);
  if (document.activeElement !== domainBox) put(domainBox, "value", (s.domain ?? catalog.surface("custom").domain.flat()).join(", "));
  const key = JSON.stringify([s.f, s.domain]);
  if (key === shownFormula) return;
  shownFormula = key;
  fetchFormulaGrid(s.f, s.domain).then((grid) => {
    if (shownFormula !== key) return;
    if (document.activeElement !== input) tell($("#formula-status", root), found(grid), "ok");
    const box = $(".surface-formula", root);
    typeset(box, grid.formula).catch(() => { box.textContent = grid.formula; });
  }, (err) => {
    // A link with a bad formula: the scene keeps the alert, the box says where.
    if (shownFormula === key && err.lines) tell($("#formula-status", root), err.lines.join(" ").replace(/^f: /, ""), "error");
  });
}
