/**
 * Label distributions and the divergence grouping minimizes.
 *
 * We use the Jensen–Shannon divergence (base 2, so it lies in [0, 1]) rather than KL: it is
 * symmetric (no choice of which side is the "true" distribution), finite when a group lacks a
 * class the fleet has — the common case for skewed devices and partly filled groups — and bounded,
 * so one pathological group cannot dominate a sum or a threshold.
 */
export function normalize(counts: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new Error('label histogram has no samples');
  return counts.map((c) => c / total);
}

export function addHistograms(target: number[], counts: readonly number[], sign: 1 | -1 = 1): number[] {
  if (target.length !== counts.length) throw new Error(`histograms of different lengths: ${target.length} vs ${counts.length}`);
  for (let i = 0; i < counts.length; i++) target[i]! += sign * counts[i]!;
  return target;
}

/** JS(P‖Q) in bits for two probability vectors of equal length. */
export function jensenShannon(p: readonly number[], q: readonly number[]): number {
  if (p.length !== q.length) throw new Error(`distributions of different lengths: ${p.length} vs ${q.length}`);
  let js = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i]!;
    const qi = q[i]!;
    const m = (pi + qi) / 2;
    if (pi > 0) js += 0.5 * pi * Math.log2(pi / m);
    if (qi > 0) js += 0.5 * qi * Math.log2(qi / m);
  }
  return Math.max(0, js);
}

/** JS divergence between the distribution of pooled label counts and a reference distribution (0 for no samples). */
export function countsDivergence(counts: readonly number[], reference: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  return total > 0 ? jensenShannon(normalize(counts), reference) : 0;
}
