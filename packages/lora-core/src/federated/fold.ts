/**
 * The inner loops of aggregation, as small monomorphic functions over typed arrays that V8
 * optimises once and reuses for every tensor (one shape of call site: Float64Array accumulator,
 * Float32Array values). They allocate nothing and create no closures: under tsx every closure
 * made in a hot loop also pays a `__name` property definition (esbuild's keepNames), which was
 * half of a cosine-mean aggregation's time.
 */

/** acc[i] += w · x[i] for every i (acc and x of the same length). */
export function addScaled(acc: Float64Array, w: number, x: Float32Array): void {
  const n = x.length;
  for (let i = 0; i < n; i++) acc[i]! += w * x[i]!;
}

/** start + Σ x[i]², in float64, added in index order (so chained calls round as one loop would). */
export function sumOfSquares(x: Float32Array, start = 0): number {
  let s = start;
  const n = x.length;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    s += v * v;
  }
  return s;
}

/** x · factor as a new Float32Array (each product rounded to float32, as Float32Array.map would). */
export function scaledCopy(x: Float32Array, factor: number): Float32Array {
  const n = x.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = x[i]! * factor;
  return out;
}

/**
 * Sorts values[0..n) ascending in place, in exactly Float64Array.prototype.sort's order (-0
 * before +0). Insertion sort for the small counts a group has (no native call per coordinate);
 * the native sort itself for large counts or when a NaN is present.
 */
export function sortSmall(values: Float64Array, n: number): void {
  if (n > 32) {
    values.subarray(0, n).sort();
    return;
  }
  for (let j = 1; j < n; j++) {
    const v = values[j]!;
    if (v !== v) {
      values.subarray(0, n).sort();
      return;
    }
    let k = j;
    while (k > 0) {
      const a = values[k - 1]!;
      // The native sort orders -0 before +0.
      if (!(a > v || (a === v && v === 0 && 1 / v < 0 && 1 / a > 0))) break;
      values[k] = a;
      k--;
    }
    values[k] = v;
  }
  // A NaN in slot 0 was never the `v` above: the native sort puts it last.
  if (n > 1 && values[0]! !== values[0]!) values.subarray(0, n).sort();
}

/**
 * For every coordinate i of the equally long columns: the mean of the column values at i left
 * after sorting them and dropping `trim` at each end, rounded to float32 into out[i].
 */
export function trimmedMeanOfColumns(columns: readonly Float32Array[], trim: number, out: Float32Array): void {
  if (columns.length === 5 && trim === 2) return medianOfFive(columns, out);
  const n = columns.length;
  const kept = n - 2 * trim;
  const len = out.length;
  const column = new Float64Array(n);
  for (let i = 0; i < len; i++) {
    for (let j = 0; j < n; j++) column[j] = columns[j]![i]!;
    sortSmall(column, n);
    let sum = 0;
    for (let j = trim; j < n - trim; j++) sum += column[j]!;
    out[i] = sum / kept;
  }
}

/**
 * trimmedMeanOfColumns for five columns and trim 2 (the median of a group of five, the planner's
 * usual group size): a 9-comparator sorting network on locals instead of an insertion sort through
 * an array, about twice as fast. The result is 0 + the middle value, as the general path's sum
 * makes it, so -0 and +0 need no ordering here. A NaN at a coordinate takes the native sort there.
 */
function medianOfFive(columns: readonly Float32Array[], out: Float32Array): void {
  const c0 = columns[0]!, c1 = columns[1]!, c2 = columns[2]!, c3 = columns[3]!, c4 = columns[4]!;
  const len = out.length;
  let column: Float64Array | undefined;
  for (let i = 0; i < len; i++) {
    let a = c0[i]!, b = c1[i]!, c = c2[i]!, d = c3[i]!, e = c4[i]!, t: number;
    if (a !== a || b !== b || c !== c || d !== d || e !== e) {
      column ??= new Float64Array(5);
      column[0] = a;
      column[1] = b;
      column[2] = c;
      column[3] = d;
      column[4] = e;
      column.sort();
      out[i] = 0 + column[2]!;
      continue;
    }
    if (a > b) { t = a; a = b; b = t; }
    if (d > e) { t = d; d = e; e = t; }
    if (c > e) { t = c; c = e; e = t; }
    if (c > d) { t = c; c = d; d = t; }
    if (a > d) { t = a; a = d; d = t; }
    // The last four comparators keep only the side the middle value can be on.
    if (a > c) c = a;
    if (b > e) b = e;
    if (b > d) b = d;
    if (b > c) c = b;
    out[i] = 0 + c;
  }
}
