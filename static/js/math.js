// Update rules and formulas from the registry's LaTeX, typeset as MathML by a local KaTeX.

import { texNumber } from "./util.js";
import { t } from "./i18n.js";

let loading = null;

/** KaTeX, loaded on first use: the first frame never waits for it. */
export function katex() {
  loading ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    // Beside this module wherever the page is served from: the server's /static, or a static site's sub-path.
    script.src = new URL("../vendor/katex/katex.min.js", import.meta.url).href;
    script.onload = () => resolve(window.katex);
    script.onerror = () => reject(new Error(t("could not load KaTeX")));
    document.head.append(script);
  });
  return loading;
}

/** Typeset `tex` into `el`; a rule's lines (split by \\) stack in a gathered block. */
export async function typeset(el, tex) {
  const k = await katex();
  el.innerHTML = k.renderToString(`\\begin{gathered}${tex}\\end{gathered}`, { output: "mathml", displayMode: true, throwOnError: false });
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * The rule with each hyperparameter's symbol replaced by its value, coloured.
 * A symbol matches only as a whole token: \eta but not \eta_t, c but not the c
 * of \text{centered}. An accent on a symbol (TensorFlow's \hat\epsilon) goes with it.
 */
export function fillIn(rule, hyperparameters, values, colour) {
  const bySymbol = new Map(hyperparameters.map((h) => [h.symbol, h]));
  const alternatives = [...bySymbol.keys()]
    .sort((a, b) => b.length - a.length)
    .map((sym) => `${sym.startsWith("\\") ? "(?<!\\\\)" : "(?<![A-Za-z\\\\])"}${escape(sym)}(?![A-Za-z_])`);
  if (!alternatives.length) return rule;
  const pattern = new RegExp(`(?:\\\\hat\\s*)?(?:${alternatives.map((a) => `(${a})`).join("|")})`, "g");
  const symbols = [...bySymbol.keys()].sort((a, b) => b.length - a.length);
  return rule.replace(pattern, (...m) => {
    const i = m.slice(1, symbols.length + 1).findIndex((g) => g !== undefined);
    const h = bySymbol.get(symbols[i]);
    const offset = m[symbols.length + 1];
    // A number written straight after a letter or another number needs a dot: 2t·0.999, η·λ.
    const times = /[A-Za-z0-9})]/.test(rule[offset - 1] ?? "") ? "\\cdot " : "";
    return `${times}{\\color{${colour}}${texNumber(values[h.name] ?? h.default)}}`;
  });
}
