/** Frozen sentence features: the pretrained encoder's pooled output, no LoRA, forward only. */
import * as tf from '@tensorflow/tfjs-core';
import type { LabeledDataset } from '../data/types';
import type { TextEncoder } from '../model/family';
import { makeBatch } from './batching';
import { lengthSortedRowBatches } from './length-buckets';

/** Row-major [count, dim] features with one label per row. */
export interface FeatureSet {
  readonly features: Float32Array;
  readonly labels: Int32Array;
  readonly dim: number;
  readonly count: number;
}

/** Pooled features of every row of `data`, in row order; computed in length-sorted batches of `batchSize`. */
export async function extractFeatures(
  encoder: TextEncoder,
  data: LabeledDataset,
  batchSize: number,
  onProgress: (done: number, total: number) => void = () => {},
): Promise<FeatureSet> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const count = data.texts.length;
  const dim = encoder.featureDim;
  const features = new Float32Array(count * dim);
  const allRows = Array.from({ length: count }, (_, i) => i);
  let done = 0;
  for (const rows of lengthSortedRowBatches(encoder, data, allRows, batchSize)) {
    const batch = makeBatch(encoder, data, rows);
    const pooled = tf.tidy(() => {
      const ctx = encoder.prepare(batch.tokens);
      let x = encoder.embed(batch.tokens);
      for (const block of encoder.blocks) x = encoder.runBlock(block.index, x, ctx);
      return encoder.pool(x, ctx);
    });
    const values = (await pooled.data()) as Float32Array;
    pooled.dispose();
    rows.forEach((row, i) => features.set(values.subarray(i * dim, (i + 1) * dim), row * dim));
    done += rows.length;
    onProgress(done, count);
  }
  return { features, labels: new Int32Array(data.labels), dim, count };
}
