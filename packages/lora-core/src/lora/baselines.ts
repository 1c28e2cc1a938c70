/** Trivial reference points for a classifier's accuracy. */

/** The most frequent label of `train` (lowest id on ties) and the share of `test` that carries it. */
export function majorityClassAccuracy(train: Int32Array, test: Int32Array): { label: number; accuracy: number } {
  if (train.length === 0) throw new Error('no training labels');
  const counts = new Map<number, number>();
  for (const y of train) counts.set(y, (counts.get(y) ?? 0) + 1);
  let label = -1;
  let best = -1;
  for (const [y, n] of counts) if (n > best || (n === best && y < label)) [label, best] = [y, n];
  const hits = test.reduce((n, y) => n + (y === label ? 1 : 0), 0);
  return { label, accuracy: test.length ? hits / test.length : 0 };
}
