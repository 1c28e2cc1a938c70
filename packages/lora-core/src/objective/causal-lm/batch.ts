/**
 * Encoded rows → a right-padded TokenBatch plus next-token targets. Position i of a row predicts
 * token i+1; `targets[r·t + i]` is that token when it carries loss, else −1. Padding uses id 0
 * (any valid id: padded positions are masked out of attention and loss).
 */
import type { TokenBatch } from '../../model/family';
import type { EncodedRow } from './examples';

export interface LmBatch {
  readonly tokens: TokenBatch;
  /** [batch·seqLen] next-token ids with loss, −1 elsewhere. */
  readonly targets: Int32Array;
  /** Number of targets ≥ 0. */
  readonly lossTokens: number;
}

export function makeLmBatch(rows: readonly EncodedRow[], padId = 0): LmBatch {
  if (rows.length === 0) throw new Error('an LM batch needs at least one row');
  const seqLen = Math.max(...rows.map((r) => r.ids.length));
  const b = rows.length;
  const ids = new Int32Array(b * seqLen).fill(padId);
  const lengths = new Int32Array(b);
  const targets = new Int32Array(b * seqLen).fill(-1);
  let lossTokens = 0;
  rows.forEach((r, row) => {
    ids.set(r.ids, row * seqLen);
    lengths[row] = r.ids.length;
    for (let i = 0; i + 1 < r.ids.length; i++) {
      if (r.loss[i + 1]) {
        targets[row * seqLen + i] = r.ids[i + 1]!;
        lossTokens++;
      }
    }
  });
  return { tokens: { ids, lengths, batch: b, seqLen }, targets, lossTokens };
}

/** Batches of `batchSize` rows in the given order, each padded to its own longest row. */
export function* lmBatches(rows: readonly EncodedRow[], batchSize: number, padId = 0): Generator<LmBatch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  for (let i = 0; i < rows.length; i += batchSize) yield makeLmBatch(rows.slice(i, i + batchSize), padId);
}
