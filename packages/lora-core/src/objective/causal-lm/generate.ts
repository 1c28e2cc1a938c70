/**
 * Greedy decoding with the log-probability of every generated token. With the KV cache (default)
 * the prompt runs once and each new token attends over cached keys/values; without it every step
 * reruns the whole sequence (the reference the cached path is tested against).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { CausalDecoder, LayerKv, TokenBatch } from '../../model/family';
import type { LoraStack } from '../../lora/stack';

export interface GeneratedToken {
  readonly id: number;
  /** log p(token | everything before it), natural log. */
  readonly logProb: number;
}

export interface GenerateOptions {
  readonly maxNewTokens: number;
  /** Stop after emitting any of these (the EOS itself is returned). */
  readonly stopIds?: readonly number[];
  /** Runs the blocks with LoRA; without it, the pretrained model. */
  readonly stack?: LoraStack;
  /** Reuse keys/values of earlier positions (default true). */
  readonly kvCache?: boolean;
}

export async function greedyGenerate(decoder: CausalDecoder, promptIds: readonly number[], o: GenerateOptions): Promise<GeneratedToken[]> {
  if (promptIds.length === 0) throw new Error('generation needs at least one prompt token');
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 0) throw new RangeError(`maxNewTokens must be a non-negative integer, got ${o.maxNewTokens}`);
  if (promptIds.length >= decoder.maxSeqLen) throw new Error(`the prompt has ${promptIds.length} tokens; the model holds ${decoder.maxSeqLen} positions`);
  if (o.kvCache ?? true) return cachedGenerate(decoder, promptIds, o);
  const ids = [...promptIds];
  const out: GeneratedToken[] = [];
  const stop = new Set(o.stopIds ?? []);
  for (let step = 0; step < o.maxNewTokens && ids.length < decoder.maxSeqLen; step++) {
    const tokens: TokenBatch = { ids: Int32Array.from(ids), lengths: Int32Array.of(ids.length), batch: 1, seqLen: ids.length };
    const logProbs = tf.tidy(() => {
      const ctx = decoder.prepare(tokens);
      let x: tf.Tensor3D;
      if (o.stack) x = o.stack.runTrained(o.stack.runFrozen(tokens, ctx), ctx);
      else {
        x = decoder.embed(tokens);
        for (const b of decoder.blocks) x = decoder.runBlock(b.index, x, ctx);
      }
      const last = tf.reshape(tf.slice(x, [0, ids.length - 1, 0], [1, 1, decoder.hidden]), [1, decoder.hidden]) as tf.Tensor2D;
      return tf.logSoftmax(decoder.logits(last));
    });
    const lp = (await logProbs.data()) as Float32Array;
    logProbs.dispose();
    let best = 0;
    for (let i = 1; i < lp.length; i++) if (lp[i]! > lp[best]!) best = i;
    out.push({ id: best, logProb: lp[best]! });
    ids.push(best);
    if (stop.has(best)) break;
  }
  return out;
}

async function cachedGenerate(decoder: CausalDecoder, promptIds: readonly number[], o: GenerateOptions): Promise<GeneratedToken[]> {
  const kv: LayerKv[] = decoder.blocks.map(() => ({}));
  const out: GeneratedToken[] = [];
  const stop = new Set(o.stopIds ?? []);
  let next = [...promptIds];
  let past = 0;
  try {
    for (let step = 0; step < o.maxNewTokens && past + next.length <= decoder.maxSeqLen; step++) {
      const tokens: TokenBatch = { ids: Int32Array.from(next), lengths: Int32Array.of(next.length), batch: 1, seqLen: next.length };
      const logProbs = tf.tidy(() => {
        const ctx = decoder.prepareAt(tokens, past);
        let x = decoder.embedAt(tokens, past);
        for (const b of decoder.blocks) x = decoder.runBlock(b.index, x, ctx, o.stack?.blockAdapter(b.index), kv[b.index]);
        const last = tf.reshape(tf.slice(x, [0, next.length - 1, 0], [1, 1, decoder.hidden]), [1, decoder.hidden]) as tf.Tensor2D;
        return tf.logSoftmax(decoder.logits(last));
      });
      const lp = (await logProbs.data()) as Float32Array;
      logProbs.dispose();
      let best = 0;
      for (let i = 1; i < lp.length; i++) if (lp[i]! > lp[best]!) best = i;
      out.push({ id: best, logProb: lp[best]! });
      past += next.length;
      next = [best];
      if (stop.has(best)) break;
    }
  } finally {
    for (const l of kv) tf.dispose([l.k, l.v].filter((t): t is tf.Tensor4D => t !== undefined));
  }
  return out;
}
