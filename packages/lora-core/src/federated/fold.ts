/**
 * The inner loops of aggregation, as small monomorphic functions over typed arrays that V8
 * optimises once and reuses for every tensor (one shape of call site: Float64Array accumulator,
 * Float32Array values). They allocate nothing and create no closures: under tsx every closure
 * made in a hot loop also pays a `__name` property definition (esbuild's keepNames), which was
 * half of a cosine-mean aggregation's time. The sorting networks for the usual group sizes (here
 * and in robust.ts) are written out per size on purpose: on locals they ran 3–4× faster per value
 * than any loop over a scratch array, and JavaScript has no way to share them without one.
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

/** sums[0] and sums[1] each += Σ x[i]², in index order: two chains of sumOfSquares in one pass. */
export function sumOfSquaresTwice(x: Float32Array, sums: Float64Array): void {
  let a = sums[0]!;
  let b = sums[1]!;
  const n = x.length;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    const sq = v * v;
    a += sq;
    b += sq;
  }
  sums[0] = a;
  sums[1] = b;
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
 * sorted[0..m) = values[0..m) ascending (no NaN among them): sorting networks on locals for the
 * usual group sizes 3–6, an insertion sort otherwise; `sorted` may be `values` itself. Equal
 * values (-0 and +0 among them) may come out in any order: for sums that start at +0 the order of
 * zeros changes no bit.
 */
export function sortFew(values: Float64Array, sorted: Float64Array, m: number): void {
  let a: number, b: number, c: number, d: number, e: number, f: number, t: number;
  switch (m) {
    case 3:
      a = values[0]!; b = values[1]!; c = values[2]!;
      if (a > b) { t = a; a = b; b = t; }
      if (b > c) { t = b; b = c; c = t; }
      if (a > b) { t = a; a = b; b = t; }
      sorted[0] = a; sorted[1] = b; sorted[2] = c;
      return;
    case 4:
      a = values[0]!; b = values[1]!; c = values[2]!; d = values[3]!;
      if (a > b) { t = a; a = b; b = t; }
      if (c > d) { t = c; c = d; d = t; }
      if (a > c) { t = a; a = c; c = t; }
      if (b > d) { t = b; b = d; d = t; }
      if (b > c) { t = b; b = c; c = t; }
      sorted[0] = a; sorted[1] = b; sorted[2] = c; sorted[3] = d;
      return;
    case 5:
      a = values[0]!; b = values[1]!; c = values[2]!; d = values[3]!; e = values[4]!;
      if (a > b) { t = a; a = b; b = t; }
      if (d > e) { t = d; d = e; e = t; }
      if (c > e) { t = c; c = e; e = t; }
      if (c > d) { t = c; c = d; d = t; }
      if (a > d) { t = a; a = d; d = t; }
      if (a > c) { t = a; a = c; c = t; }
      if (b > e) { t = b; b = e; e = t; }
      if (b > d) { t = b; b = d; d = t; }
      if (b > c) { t = b; b = c; c = t; }
      sorted[0] = a; sorted[1] = b; sorted[2] = c; sorted[3] = d; sorted[4] = e;
      return;
    case 6:
      a = values[0]!; b = values[1]!; c = values[2]!; d = values[3]!; e = values[4]!; f = values[5]!;
      if (a > b) { t = a; a = b; b = t; }
      if (c > d) { t = c; c = d; d = t; }
      if (e > f) { t = e; e = f; f = t; }
      if (a > c) { t = a; a = c; c = t; }
      if (b > e) { t = b; b = e; e = t; }
      if (d > f) { t = d; d = f; f = t; }
      if (a > b) { t = a; a = b; b = t; }
      if (c > d) { t = c; c = d; d = t; }
      if (e > f) { t = e; e = f; f = t; }
      if (b > c) { t = b; b = c; c = t; }
      if (d > e) { t = d; d = e; e = t; }
      if (c > d) { t = c; c = d; d = t; }
      sorted[0] = a; sorted[1] = b; sorted[2] = c; sorted[3] = d; sorted[4] = e; sorted[5] = f;
      return;
    default:
      for (let j = 0; j < m; j++) {
        const v = values[j]!;
        let k = j;
        while (k > 0 && sorted[k - 1]! > v) {
          sorted[k] = sorted[k - 1]!;
          k--;
        }
        sorted[k] = v;
      }
  }
}

/**
 * For every coordinate i of the equally long columns: the mean of the column values at i left
 * after sorting them and dropping `trim` at each end, rounded to float32 into out[i].
 */
export function trimmedMeanOfColumns(columns: readonly Float32Array[], trim: number, out: Float32Array): void {
  if (columns.length === 5 && trim === 2) return medianOfFive(columns, out);
  if (columns.length === 2 && trim === 0) return meanOfTwo(columns, out);
  if (columns.length === 3 && trim === 1) return medianOfThree(columns, out);
  if (columns.length === 4 && trim === 1) return medianOfFour(columns, out);
  if (columns.length === 6 && trim === 2) return medianOfSix(columns, out);
  const column = new Float64Array(columns.length);
  const len = out.length;
  for (let i = 0; i < len; i++) out[i] = trimmedMeanAt(columns, i, trim, column);
}

/** trimmedMeanOfColumns at coordinate i alone (any count, NaN included), with `column` (length n) as scratch. */
function trimmedMeanAt(columns: readonly Float32Array[], i: number, trim: number, column: Float64Array): number {
  const n = columns.length;
  let nan = false;
  for (let j = 0; j < n; j++) {
    const v = columns[j]![i]!;
    column[j] = v;
    if (v !== v) nan = true;
  }
  // The sum starts at 0, so the order of -0 and +0 does not matter and any sort will do.
  if (n <= 32 && !nan) sortFew(column, column, n);
  else sortSmall(column, n);
  let sum = 0;
  for (let j = trim; j < n - trim; j++) sum += column[j]!;
  return sum / (n - 2 * trim);
}

/** trimmedMeanOfColumns for two columns and trim 0: (0 + a) + b has the bits of (0 + b) + a, so no sort (a NaN gives NaN either way). */
function meanOfTwo(columns: readonly Float32Array[], out: Float32Array): void {
  const c0 = columns[0]!, c1 = columns[1]!;
  const len = out.length;
  for (let i = 0; i < len; i++) out[i] = (0 + c0[i]! + c1[i]!) / 2;
}

/** trimmedMeanOfColumns for three columns and trim 1: 0 + the middle value. A NaN at a coordinate takes the native sort. */
function medianOfThree(columns: readonly Float32Array[], out: Float32Array): void {
  const c0 = columns[0]!, c1 = columns[1]!, c2 = columns[2]!;
  const len = out.length;
  let column: Float64Array | undefined;
  for (let i = 0; i < len; i++) {
    const a = c0[i]!, b = c1[i]!, c = c2[i]!;
    if (a !== a || b !== b || c !== c) {
      out[i] = trimmedMeanAt(columns, i, 1, (column ??= new Float64Array(3)));
      continue;
    }
    const lo = a < b ? a : b, hi = a < b ? b : a;
    out[i] = 0 + (c < lo ? lo : c > hi ? hi : c);
  }
}

/**
 * trimmedMeanOfColumns for four columns and trim 1 (a group of four's median): the two middle
 * values are the larger of the pairs' minima and the smaller of their maxima, and (0 + p) + q has
 * the bits of (0 + q) + p, so their order does not matter. A NaN at a coordinate takes the native sort.
 */
function medianOfFour(columns: readonly Float32Array[], out: Float32Array): void {
  const c0 = columns[0]!, c1 = columns[1]!, c2 = columns[2]!, c3 = columns[3]!;
  const len = out.length;
  let column: Float64Array | undefined;
  for (let i = 0; i < len; i++) {
    const a = c0[i]!, b = c1[i]!, c = c2[i]!, d = c3[i]!;
    if (a !== a || b !== b || c !== c || d !== d) {
      out[i] = trimmedMeanAt(columns, i, 1, (column ??= new Float64Array(4)));
      continue;
    }
    const p = (a < b ? a : b) > (c < d ? c : d) ? (a < b ? a : b) : c < d ? c : d;
    const q = (a < b ? b : a) < (c < d ? d : c) ? (a < b ? b : a) : c < d ? d : c;
    out[i] = (0 + p + q) / 2;
  }
}

/** trimmedMeanOfColumns for six columns and trim 2: a 12-comparator network on locals, then (0 + s2 + s3) / 2. */
function medianOfSix(columns: readonly Float32Array[], out: Float32Array): void {
  const c0 = columns[0]!, c1 = columns[1]!, c2 = columns[2]!, c3 = columns[3]!, c4 = columns[4]!, c5 = columns[5]!;
  const len = out.length;
  let column: Float64Array | undefined;
  for (let i = 0; i < len; i++) {
    let a = c0[i]!, b = c1[i]!, c = c2[i]!, d = c3[i]!, e = c4[i]!, f = c5[i]!, t: number;
    if (a !== a || b !== b || c !== c || d !== d || e !== e || f !== f) {
      out[i] = trimmedMeanAt(columns, i, 2, (column ??= new Float64Array(6)));
      continue;
    }
    if (a > b) { t = a; a = b; b = t; }
    if (c > d) { t = c; c = d; d = t; }
    if (e > f) { t = e; e = f; f = t; }
    if (a > c) { t = a; a = c; c = t; }
    if (b > e) { t = b; b = e; e = t; }
    if (d > f) { t = d; d = f; f = t; }
    // The last six comparators keep only what the two middle values need.
    if (a > b) b = a;
    if (e > f) e = f;
    if (c > d) { t = c; c = d; d = t; }
    if (b > c) c = b;
    if (d > e) d = e;
    if (c > d) { t = c; c = d; d = t; }
    out[i] = (0 + c + d) / 2;
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
      out[i] = trimmedMeanAt(columns, i, 2, (column ??= new Float64Array(5)));
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
