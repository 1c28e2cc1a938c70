/** Across-seed statistics for the comparison: mean and a Student-t 95% confidence interval. */
import type { SimRoundRecord } from './engine';

/** Two-sided 97.5% quantiles of Student's t for df = 1..30 (df > 30: 1.96). */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

export interface MeanCi {
  readonly mean: number;
  /** Half-width of the 95% interval (NaN for fewer than two values). */
  readonly ci95: number;
  readonly n: number;
}

export function meanCi(values: readonly number[]): MeanCi {
  const n = values.length;
  if (n === 0) return { mean: Number.NaN, ci95: Number.NaN, n: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, ci95: Number.NaN, n };
  const variance = values.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
  const t = T975[n - 2] ?? 1.96;
  return { mean, ci95: t * Math.sqrt(variance / n), n };
}

/** Accuracy of a run at simulated time t: the last evaluation at or before t (a step function). */
export function accuracyAt(records: readonly SimRoundRecord[], tMs: number): number {
  let acc = records[0]?.accuracy ?? Number.NaN;
  for (const r of records) {
    if (r.simulatedMs <= tMs) acc = r.accuracy;
    else break;
  }
  return acc;
}

/** Mean curve and 95% band over seeds on a grid of `points` times in [0, horizonMs]. */
export function meanCurve(runs: readonly (readonly SimRoundRecord[])[], horizonMs: number, points = 48): Array<{ t: number; mean: number; lo: number; hi: number }> {
  const out: Array<{ t: number; mean: number; lo: number; hi: number }> = [];
  for (let k = 0; k <= points; k++) {
    const t = (k / points) * horizonMs;
    const s = meanCi(runs.map((r) => accuracyAt(r, t)));
    const half = Number.isFinite(s.ci95) ? s.ci95 : 0;
    out.push({ t, mean: s.mean, lo: s.mean - half, hi: s.mean + half });
  }
  return out;
}
