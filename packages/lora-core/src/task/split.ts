/** Seeded, stratified selections of a dataset: the evaluation sample (and, through seededSplit, the holdout). */
import { indicesByClass, subsetDataset } from '../data/dataset';
import { createRng } from '../data/random';
import type { LabeledDataset } from '../data/types';

/**
 * At most `maxRows` rows, each label keeping its share (largest remainders; every label present in
 * the input keeps at least one row when maxRows allows). Same input, same seed: same rows. Rows keep
 * input order. The whole dataset when it already fits.
 */
export function stratifiedSample(dataset: LabeledDataset, maxRows: number, seed: number): LabeledDataset {
  if (!Number.isInteger(maxRows) || maxRows < 1) throw new RangeError(`maxRows must be a positive integer, got ${maxRows}`);
  const n = dataset.texts.length;
  if (n <= maxRows) return dataset;
  const byClass = indicesByClass(dataset.labels, dataset.classNames.length);
  const present = byClass.map((m, c) => ({ c, m })).filter((x) => x.m.length > 0);
  // Every present label gets one row first (when there is room), then shares of the rest.
  const base = present.length <= maxRows ? 1 : 0;
  const quota = new Map<number, number>(present.map((x) => [x.c, base]));
  const rest = maxRows - base * present.length;
  const pool = n - base * present.length;
  const shares = present.map((x) => {
    const exact = ((x.m.length - base) * rest) / pool;
    return { c: x.c, floor: Math.floor(exact), frac: exact - Math.floor(exact) };
  });
  let left = rest;
  for (const s of shares) {
    quota.set(s.c, (quota.get(s.c) as number) + s.floor);
    left -= s.floor;
  }
  shares.sort((a, b) => b.frac - a.frac || a.c - b.c);
  for (let i = 0; left > 0 && i < shares.length; i++, left--) {
    const c = (shares[i] as { c: number }).c;
    quota.set(c, (quota.get(c) as number) + 1);
  }
  const rng = createRng(seed);
  const keep: number[] = [];
  for (const { c, m } of present) {
    rng.shuffle(m);
    keep.push(...m.slice(0, quota.get(c)));
  }
  keep.sort((a, b) => a - b);
  return subsetDataset(dataset, keep);
}
