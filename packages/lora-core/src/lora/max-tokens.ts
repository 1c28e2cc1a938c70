/**
 * Token truncation for speed: batches are padded to their longest row, so one long gloss makes the
 * whole batch slow. Keeping the first `maxLen` tokens bounds the step time.
 */
import type { BatchContext, LinearAdapter, TextEncoder, TokenBatch } from '../model/family';
import type * as tf from '@tensorflow/tfjs-core';

/** The first `maxLen` tokens of every row, re-padded to the longest remaining row. */
export function truncateTokens(batch: TokenBatch, maxLen: number): TokenBatch {
  if (!Number.isInteger(maxLen) || maxLen < 1) throw new RangeError(`maxLen must be a positive integer, got ${maxLen}`);
  if (batch.seqLen <= maxLen) return batch;
  const lengths = batch.lengths.map((n) => Math.min(n, maxLen));
  const seqLen = Math.max(1, ...lengths);
  const ids = new Int32Array(batch.batch * seqLen);
  for (let r = 0; r < batch.batch; r++) ids.set(batch.ids.subarray(r * batch.seqLen, r * batch.seqLen + seqLen), r * seqLen);
  return { ids, lengths, batch: batch.batch, seqLen };
}

/** `encoder` with its tokenizer capped at `maxLen` tokens per text; everything else delegates. */
export function withMaxTokens(encoder: TextEncoder, maxLen: number): TextEncoder {
  if (!Number.isInteger(maxLen) || maxLen < 1) throw new RangeError(`maxLen must be a positive integer, got ${maxLen}`);
  if (maxLen >= encoder.maxSeqLen) return encoder;
  return {
    family: encoder.family,
    blocks: encoder.blocks,
    featureDim: encoder.featureDim,
    maxSeqLen: maxLen,
    tokenize: (texts: readonly string[]) => truncateTokens(encoder.tokenize(texts), maxLen),
    prepare: (batch: TokenBatch) => encoder.prepare(batch),
    embed: (batch: TokenBatch) => encoder.embed(batch),
    runBlock: (index: number, x: tf.Tensor3D, ctx: BatchContext, adapter?: LinearAdapter) => encoder.runBlock(index, x, ctx, adapter),
    pool: (x: tf.Tensor3D, ctx: BatchContext) => encoder.pool(x, ctx),
    dispose: () => encoder.dispose(),
  };
}
