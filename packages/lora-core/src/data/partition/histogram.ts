/** hist[c] = how many of the samples at `indices` have label c. */
export function labelHistogram(labels: Int32Array, indices: ArrayLike<number>, numClasses: number): number[] {
  const hist = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < indices.length; i++) {
    const l = labels[indices[i] as number];
    if (l === undefined || l < 0 || l >= numClasses) {
      throw new RangeError(`index ${indices[i]} has no label in [0, ${numClasses})`);
    }
    hist[l] = (hist[l] as number) + 1;
  }
  return hist;
}

function normalize(counts: readonly number[]): number[] {
  const total = counts.reduce((s, x) => s + x, 0);
  if (total <= 0) throw new RangeError('cannot normalize an all-zero histogram');
  return counts.map((x) => x / total);
}

/** Jensen–Shannon divergence in bits (0 = same distribution, 1 = disjoint support). Inputs need not be normalized. */
export function jsDivergence(p: readonly number[], q: readonly number[]): number {
  if (p.length !== q.length) throw new RangeError(`length mismatch: ${p.length} vs ${q.length}`);
  const pn = normalize(p);
  const qn = normalize(q);
  let js = 0;
  for (let i = 0; i < pn.length; i++) {
    const a = pn[i] as number;
    const b = qn[i] as number;
    const m = (a + b) / 2;
    if (a > 0) js += 0.5 * a * Math.log2(a / m);
    if (b > 0) js += 0.5 * b * Math.log2(b / m);
  }
  return js;
}

/** Mean over devices of the JS divergence between a device's label distribution and the whole dataset's. */
export function meanLabelSkew(labels: Int32Array, partitions: readonly ArrayLike<number>[], numClasses: number): number {
  if (partitions.length === 0) return 0;
  const global = labelHistogram(labels, Array.from({ length: labels.length }, (_, i) => i), numClasses);
  let sum = 0;
  for (const part of partitions) sum += jsDivergence(labelHistogram(labels, part, numClasses), global);
  return sum / partitions.length;
}
