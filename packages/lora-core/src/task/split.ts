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
  // Largest remainders of the proportional shares...
  const shares = present.map((x) => {
    const exact = (x.m.length * maxRows) / n;
    return { c: x.c, floor: Math.floor(exact), frac: exact - Math.floor(exact) };
  });
  const quota = new Map<number, number>(shares.map((s) => [s.c, s.floor]));
  let left = maxRows - shares.reduce((sum, s) => sum + s.floor, 0);
  for (const s of [...shares].sort((a, b) => b.frac - a.frac || a.c - b.c)) {
    if (left-- <= 0) break;
    quota.set(s.c, (quota.get(s.c) as number) + 1);
  }
  // ...then every present label keeps a row, taken from the label with the most (when there is room).
  if (present.length <= maxRows) {
    for (const { c } of present) {
      if ((quota.get(c) as number) > 0) continue;
      const [richest] = [...quota].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
      quota.set((richest as [number, number])[0], (richest as [number, number])[1] - 1);
      quota.set(c, 1);
    }
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
