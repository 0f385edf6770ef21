// A slider's track, shared by the page's controls and the interactive HTML export's player: an
// <input type="range"> whose data-low, data-high, data-scale and data-kind are a setting's catalog entry.

/**
 * Where a value sits on a slider's track, from 0 to 1. A "log" slider is even in decades of the value;
 * a "log1m" one in decades of 1 − value, so a decay rate's 0.9, 0.99 and 0.999 lie equally far apart.
 */
const TRACK = {
  linear: { to: (v) => v, from: (u) => u },
  log: { to: (v) => Math.log10(v), from: (u) => 10 ** u },
  log1m: { to: (v) => Math.log10(1 - v), from: (u) => 1 - 10 ** u },
};

function trackOf(el) {
  const t = TRACK[el.dataset.scale] ?? TRACK.linear;
  return { t, lo: t.to(Number(el.dataset.low)), hi: t.to(Number(el.dataset.high)) };
}

// What 1 − v snaps to within a decade on a "log1m" slider: each value a person would type holds a
// dozen positions of the track, several pixels, so a drag stops on 0.99 or 0.999 itself.
const MANTISSAS = [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10];

/** 1 − (rest snapped to the nearest of MANTISSAS × a power of ten, by ratio). */
function nearOne(rest) {
  if (!(rest > 0)) return 1;
  const decade = 10 ** Math.floor(Math.log10(rest));
  const m = rest / decade;
  const best = MANTISSAS.reduce((a, b) => (Math.abs(Math.log(b / m)) < Math.abs(Math.log(a / m)) ? b : a));
  return Number((1 - best * decade).toPrecision(12));
}

/** Where a value sits on a slider of `max` positions. */
export function toPosition(el, v) {
  const { t, lo, hi } = trackOf(el);
  const low = Number(el.dataset.low), high = Number(el.dataset.high);
  const p = (t.to(Math.max(low, Math.min(high, v))) - lo) / (hi - lo);
  return Math.round(Math.max(0, Math.min(1, p)) * Number(el.max));
}

/** The value at a slider position, rounded to what a person would type (3 significant digits, or the range's grain). */
export function fromPosition(el) {
  const low = Number(el.dataset.low), high = Number(el.dataset.high);
  const { t, lo, hi } = trackOf(el);
  const v = t.from(lo + (Number(el.value) / Number(el.max)) * (hi - lo));
  if (el.dataset.kind === "int") return Math.round(Number(v.toPrecision(3)));
  if (el.dataset.scale === "log") return Number(v.toPrecision(3));
  if (el.dataset.scale === "log1m") return Math.max(low, Math.min(high, nearOne(1 - v)));
  const grain = 10 ** (Math.floor(Math.log10(high - low)) - 3);
  return Math.min(high, Number((Math.round(v / grain) * grain).toPrecision(12)));
}
