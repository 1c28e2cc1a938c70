/** Frozen sentence features: the pretrained encoder's pooled output, no LoRA, forward only. */
import * as tf from '@tensorflow/tfjs-core';
import type { LabeledDataset } from '../data/types';
import type { TextEncoder } from '../model/family';
import { evaluationBatches } from './batching';

/** Row-major [count, dim] features with one label per row. */
export interface FeatureSet {
  readonly features: Float32Array;
  readonly labels: Int32Array;
  readonly dim: number;
  readonly count: number;
}

/** Pooled features of every row of `data`, in order, computed `batchSize` rows at a time. */
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
  let row = 0;
  for (const batch of evaluationBatches(encoder, data, batchSize)) {
    const pooled = tf.tidy(() => {
      const ctx = encoder.prepare(batch.tokens);
      let x = encoder.embed(batch.tokens);
      for (const block of encoder.blocks) x = encoder.runBlock(block.index, x, ctx);
      return encoder.pool(x, ctx);
    });
    features.set((await pooled.data()) as Float32Array, row * dim);
    pooled.dispose();
    row += batch.labels.length;
    onProgress(row, count);
  }
  return { features, labels: new Int32Array(data.labels), dim, count };
}
