/**
 * Batches of similar token length. A batch is padded to its longest row, and WordNet glosses run
 * from a few tokens to dozens (median ~17, p99 ~57), so random batches spend most of their compute
 * on padding. Grouping rows by length keeps each batch's padding small.
 */
import { createRng } from '../data/random';
import type { LabeledDataset } from '../data/types';
import type { TextEncoder } from '../model/family';
import { makeBatch } from './batching';
import type { LabeledBatch } from './classifier';

/** Token count of each listed row (after the encoder's own truncation). */
export function tokenLengths(encoder: TextEncoder, data: LabeledDataset, rows: ArrayLike<number>): Int32Array {
  const out = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const text = data.texts[rows[i] as number];
    if (text === undefined) throw new Error(`row ${rows[i]} is outside the dataset (${data.texts.length} rows)`);
    out[i] = encoder.tokenize([text]).lengths[0] as number;
  }
  return out;
}

/** `rows` ordered by token length (stable), cut into batches of `batchSize` row indices. */
export function lengthSortedRowBatches(encoder: TextEncoder, data: LabeledDataset, rows: ArrayLike<number>, batchSize: number): number[][] {
  checkBatchSize(batchSize);
  const lengths = tokenLengths(encoder, data, rows);
  const order = Array.from({ length: rows.length }, (_, i) => i).sort((x, y) => (lengths[x] as number) - (lengths[y] as number) || x - y);
  const sorted = order.map((i) => rows[i] as number);
  const out: number[][] = [];
  for (let start = 0; start < sorted.length; start += batchSize) out.push(sorted.slice(start, start + batchSize));
  return out;
}

/** Every row of `data` once, in batches of similar length (for evaluation: accuracy does not depend on order). */
export function* lengthSortedBatches(encoder: TextEncoder, data: LabeledDataset, batchSize: number): Generator<LabeledBatch> {
  const rows = Array.from({ length: data.texts.length }, (_, i) => i);
  for (const batch of lengthSortedRowBatches(encoder, data, rows, batchSize)) yield makeBatch(encoder, data, batch);
}

/**
 * Endless seeded training stream like trainingBatches, but length-bucketed: each epoch shuffles
 * `rows`, sorts every window of `bucketBatches` × batchSize rows by length, cuts it into batches and
 * shuffles the order of all the epoch's batches. An epoch is still ceil(rows / batchSize) batches
 * and every row appears once per epoch.
 */
export function* bucketedTrainingBatches(
  encoder: TextEncoder,
  data: LabeledDataset,
  rows: ArrayLike<number>,
  batchSize: number,
  seed: number,
  bucketBatches = 8,
): Generator<LabeledBatch> {
  checkBatchSize(batchSize);
  if (!Number.isInteger(bucketBatches) || bucketBatches < 1) throw new RangeError(`bucketBatches must be a positive integer, got ${bucketBatches}`);
  if (rows.length === 0) throw new Error('no training rows');
  const lengthOf = new Map<number, number>();
  const all = Array.from(rows);
  tokenLengths(encoder, data, all).forEach((n, i) => lengthOf.set(all[i] as number, n));
  const rng = createRng(seed);
  const window = batchSize * bucketBatches;
  for (;;) {
    rng.shuffle(all);
    const batches: number[][] = [];
    for (let start = 0; start < all.length; start += window) {
      const chunk = all.slice(start, start + window).sort((x, y) => (lengthOf.get(x) as number) - (lengthOf.get(y) as number));
      for (let b = 0; b < chunk.length; b += batchSize) batches.push(chunk.slice(b, b + batchSize));
    }
    rng.shuffle(batches);
    for (const batch of batches) yield makeBatch(encoder, data, batch);
  }
}

function checkBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
}
