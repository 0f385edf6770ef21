// What the generated kernels (static/js/generated/kernels.js) call where Python's or numba's meaning
// of an operation differs from JavaScript's: NaN, signed zeros and C's pow at its edges.

/** Python's truth of a number: NaN is true, as only 0 (and false) are false. */
export function truth(v) {
  return Boolean(v) || v !== v;
}

/** Python's min(a, b): a unless b is smaller, so min(NaN, 1) is NaN but min(1, NaN) is 1 (Math.min gives NaN). */
export function min(a, b) {
  return b < a ? b : a;
}

/** Python's max(a, b): a unless b is larger. */
export function max(a, b) {
  return b > a ? b : a;
}

/** np.sign: NaN for NaN, and a signed zero for a signed zero, as Math.sign. */
export const sign = Math.sign;

/** C's pow, which numba calls: pow(1, y) is 1 and pow(-1, ±inf) is 1 for any y, where Math.pow gives NaN. */
export function pow(a, b) {
  if (a === 1 || (a === -1 && (b === Infinity || b === -Infinity))) return 1;
  return Math.pow(a, b);
}

/** Python's a % b: the sign of the divisor, where JavaScript's % keeps the dividend's. */
export function mod(a, b) {
  const r = a % b;
  return r !== 0 && (r < 0) !== (b < 0) ? r + b : r;
}
