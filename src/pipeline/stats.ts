/*
 * Small descriptive statistics shared by the data-quality report, the
 * preprocessing and the metrics. Inputs are plain arrays; none is modified.
 */

/** Arithmetic mean; NaN for an empty list. */
export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return sum / values.length;
}

/** Population standard deviation (divides by n, as a standard scaler does). */
export function standardDeviation(values: ArrayLike<number>): number {
  const average = mean(values);
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += (values[i]! - average) ** 2;
  return Math.sqrt(sum / values.length);
}

/**
 * Quantile by linear interpolation between order statistics (type 7, the default of R and NumPy).
 * @param sorted values in ascending order
 * @param q the probability, 0..1
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}

/** Median (type-7 quantile 0.5). */
export function median(values: ArrayLike<number>): number {
  return quantileSorted(ascending(values), 0.5);
}

/** An ascending copy (a typed array: sorting it is numeric, fast and needs no spreading). */
export function ascending(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

/** How many values satisfy the test. */
export function countWhere(values: ArrayLike<number>, test: (value: number) => boolean): number {
  let count = 0;
  for (let i = 0; i < values.length; i++) if (test(values[i]!)) count += 1;
  return count;
}

/** Counts of each value, most frequent first (ties in first-seen order). */
export function frequencies<T>(values: readonly T[]): { value: T; count: number }[] {
  const counts = new Map<T, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].map(([value, count]) => ({ value, count })).sort((a, b) => b.count - a.count);
}

/**
 * The positions of each key, in order, in one pass.
 * @param keys one key per position
 */
export function groupPositions<K>(keys: readonly K[]): Map<K, number[]> {
  const groups = new Map<K, number[]>();
  keys.forEach((key, position) => {
    const group = groups.get(key);
    if (group) group.push(position);
    else groups.set(key, [position]);
  });
  return groups;
}

/**
 * A number for people to read: `digits` significant digits, no exponent for
 * everyday magnitudes, no trailing zeros; empty for NaN and infinities.
 */
export function formatNumber(value: number, digits = 3): string {
  return Number.isFinite(value) ? String(Number(value.toPrecision(digits))) : '';
}

/**
 * Solves A x = b by Gaussian elimination with partial pivoting.
 * @param a a square, non-singular matrix (not modified)
 * @param b the right-hand side
 */
export function solveLinearSystem(a: readonly number[][], b: readonly number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let row = col + 1; row < n; row++) if (Math.abs(m[row]![col]!) > Math.abs(m[pivot]![col]!)) pivot = row;
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    for (let row = col + 1; row < n; row++) {
      const factor = m[row]![col]! / m[col]![col]!;
      for (let k = col; k <= n; k++) m[row]![k]! -= factor * m[col]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let row = n - 1; row >= 0; row--) {
    let sum = m[row]![n]!;
    for (let k = row + 1; k < n; k++) sum -= m[row]![k]! * x[k]!;
    x[row] = sum / m[row]![row]!;
  }
  return x;
}
