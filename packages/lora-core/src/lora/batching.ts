import type { LabeledDataset } from '../data/types';
import { createRng } from '../data/random';
import type { TextEncoder } from '../model/family';
import type { LabeledBatch } from './classifier';

/** Tokenizes rows `indices` of a dataset into one labeled batch. */
export function makeBatch(encoder: TextEncoder, data: LabeledDataset, indices: ArrayLike<number>): LabeledBatch {
  const texts: string[] = [];
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const row = indices[i] as number;
    const text = data.texts[row];
    if (text === undefined) throw new Error(`row ${row} is outside the dataset (${data.texts.length} rows)`);
    texts.push(text);
    labels[i] = data.labels[row] as number;
  }
  return { tokens: encoder.tokenize(texts), labels };
}

/** Consecutive batches over all rows, in order (for evaluation). */
export function* evaluationBatches(encoder: TextEncoder, data: LabeledDataset, batchSize: number): Generator<LabeledBatch> {
  for (let start = 0; start < data.texts.length; start += batchSize) {
    const end = Math.min(start + batchSize, data.texts.length);
    yield makeBatch(encoder, data, Array.from({ length: end - start }, (_, i) => start + i));
  }
}

/** Endless seeded stream of training batches: a fresh shuffle of `rows` per epoch. */
export function* trainingBatches(
  encoder: TextEncoder,
  data: LabeledDataset,
  rows: ArrayLike<number>,
  batchSize: number,
  seed: number,
): Generator<LabeledBatch> {
  if (rows.length === 0) throw new Error('no training rows');
  const rng = createRng(seed);
  const order = Array.from(rows);
  for (;;) {
    rng.shuffle(order);
    for (let start = 0; start < order.length; start += batchSize) {
      yield makeBatch(encoder, data, order.slice(start, Math.min(start + batchSize, order.length)));
    }
  }
}
