// Small helpers shared by the page and the embed: number formatting, DOM and events.

/** A number as people read it: 3 significant digits, exponent form when tiny or huge. */
export function fmt(v, digits = 3) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) {
    const [m, e] = v.toExponential(digits - 1).split("e");
    return `${trimZeros(m)}e${Number(e)}`;
  }
  return String(Number(v.toPrecision(digits)));
}

function trimZeros(s) {
  return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
}

/** A number as LaTeX: 1e-8 becomes 10^{-8}, 3e-4 becomes 3 \times 10^{-4}. */
export function texNumber(v) {
  const s = fmt(v);
  const m = /^(-?[\d.]+)e(-?\d+)$/.exec(s);
  if (!m) return s.replace("–", "\\text{–}").replace("∞", "\\infty");
  return m[1] === "1" ? `10^{${m[2]}}` : `${m[1]} \\times 10^{${m[2]}}`;
}

export const $ = (sel, root = document) => root.querySelector(sel);

/**
 * Set a property only if it differs. Writing even the same value to the DOM can
 * invalidate style, and the next plot that measures itself then pays for a
 * layout of the page: this keeps redraws cheap.
 */
export function put(el, prop, value) {
  if (el && el[prop] !== value) el[prop] = value;
}
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** Tell listeners (the tests, the benchmark) that something was drawn. */
export function announce(kind, detail = {}) {
  document.dispatchEvent(new CustomEvent("gradscape:drawn", { detail: { kind, at: performance.now(), ...detail } }));
}

/** A function that runs `fn` at the next animation frame, once however often it is called before then. */
export function oncePerFrame(fn) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      fn();
    });
  };
}

/**
 * Run fn once calls have stopped coming for `wait` ms; `.flush()` runs a pending call now and
 * `.cancel()` drops it.
 */
export function debounce(fn, wait) {
  let timer = null, pending = null;
  const run = () => {
    clearTimeout(timer);
    timer = null;
    const args = pending;
    pending = null;
    if (args) fn(...args);
  };
  const call = (...args) => {
    clearTimeout(timer);
    pending = args;
    timer = setTimeout(run, wait);
  };
  call.flush = run;
  call.cancel = () => {
    clearTimeout(timer);
    timer = null;
    pending = null;
  };
  return call;
}
