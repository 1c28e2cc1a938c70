/** Pieces every decoder family shares: causal masks, checked token ids, linears with LoRA, the LM head. */
import * as tf from '@tensorflow/tfjs-core';
import type { BatchContext, LayerKv, LinearAdapter, LoraTarget, TokenBatch } from '../family';
import { matMul, matMulConst, type TransposeCache } from '../../ops/matmul';

/** Masked attention logits get this added (exp underflows to exactly 0 in float32). */
export const MASKED = -1e9;

/**
 * mask [b, t] (1 = real token) and attentionBias [b, 1, t, t]: query i sees key j iff j ≤ i and j is
 * a real token. With right padding the causal part alone already hides padding from real tokens;
 * the key-padding part keeps padded query rows finite too.
 */
export function causalContext(batch: TokenBatch, past = 0): BatchContext {
  return tf.tidy(() => {
    const t = batch.seqLen;
    const positions = tf.range(0, t, 1, 'int32');
    const lengths = tf.tensor2d(batch.lengths, [batch.batch, 1], 'int32');
    const mask = tf.cast(tf.less(tf.expandDims(positions, 0), lengths), 'float32') as tf.Tensor2D;
    if (past > 0) {
      // New queries at positions past..past+t-1 over keys 0..past+t-1 (the cached ones are all real).
      if (batch.lengths.some((n) => n !== t)) throw new Error('incremental decoding needs unpadded rows');
      const keys = tf.range(0, past + t, 1, 'int32');
      const allowed = tf.cast(tf.lessEqual(tf.expandDims(keys, 0), tf.expandDims(tf.add(positions, past), 1)), 'float32');
      return { mask, attentionBias: tf.reshape(tf.mul(tf.sub(1, allowed), MASKED), [1, 1, t, past + t]) as tf.Tensor4D };
    }
    const causal = tf.cast(tf.lessEqual(tf.expandDims(positions, 0), tf.expandDims(positions, 1)), 'float32'); // [t(q), t(k)]
    const allowed = tf.mul(tf.expandDims(causal, 0), tf.expandDims(mask, 1)); // [b, t, t]
    const attentionBias = tf.reshape(tf.mul(tf.sub(1, allowed), MASKED), [batch.batch, 1, t, t]) as tf.Tensor4D;
    return { mask, attentionBias };
  });
}

/** With a cache: past + new keys/values (kept, the old ones freed); without: the new ones unchanged. */
export function withCache(kv: LayerKv | undefined, k: tf.Tensor4D, v: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] {
  if (!kv) return [k, v];
  const k2 = tf.keep(kv.k ? tf.concat([kv.k, k], 2) : k);
  const v2 = tf.keep(kv.v ? tf.concat([kv.v, v], 2) : v);
  kv.k?.dispose();
  kv.v?.dispose();
  kv.k = k2;
  kv.v = v2;
  return [k2, v2];
}

export function checkTokenBatch(batch: TokenBatch, vocabSize: number, maxSeqLen: number): void {
  if (batch.ids.length !== batch.batch * batch.seqLen) throw new Error('token batch ids do not match batch × seqLen');
  if (batch.seqLen > maxSeqLen) throw new Error(`sequence length ${batch.seqLen} exceeds the model's ${maxSeqLen} positions`);
  for (const id of batch.ids) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new Error(`token id ${id} outside the vocabulary (0..${vocabSize - 1})`);
  }
  for (const n of batch.lengths) if (n < 0 || n > batch.seqLen) throw new Error(`row length ${n} outside 0..${batch.seqLen}`);
}

/**
 * x·W (+ b) (+ the adapter's term) on a 2-D input; W is [in, out] and frozen (no gradient for it;
 * its transpose for the backward pass comes from `transposes` when given).
 */
export function linear(
  target: LoraTarget,
  x: tf.Tensor2D,
  kernel: tf.Tensor2D,
  bias: tf.Tensor1D | undefined,
  adapter?: LinearAdapter,
  transposes?: TransposeCache,
): tf.Tensor2D {
  let y = matMulConst(x, kernel, transposes);
  if (bias) y = tf.add(y, bias);
  const extra = adapter?.(target, x);
  return extra ? (tf.add(y, extra) as tf.Tensor2D) : y;
}

/** [b·t, heads·hd] → [b, heads, t, hd]. */
export function splitHeads(m: tf.Tensor2D, b: number, t: number, heads: number, hd: number): tf.Tensor4D {
  return tf.transpose(tf.reshape(m, [b, t, heads, hd]), [0, 2, 1, 3]);
}

/** [b, heads, t, hd] → [b·t, heads·hd]. */
export function mergeHeads(m: tf.Tensor4D): tf.Tensor2D {
  const [b, h, t, hd] = m.shape;
  return tf.reshape(tf.transpose(m, [0, 2, 1, 3]), [b * t, h * hd]);
}

/** softmax(q·kᵀ·scale + bias)·v on [b, h, t, hd] tensors. */
export function attend(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number, bias: tf.Tensor4D): tf.Tensor4D {
  const kT = tf.transpose(k, [0, 1, 3, 2]);
  const scores = tf.add(tf.mul(matMul(q, kT), scale), bias);
  return matMul(tf.softmax(scores) as tf.Tensor4D, v);
}

/**
 * Frozen LM head x·Wᵀ with W = [vocab, hidden]. Both orientations are kept: [hidden, vocab] for the
 * forward product and [vocab, hidden] (the embedding, when tied) for the input gradient, so neither
 * direction needs matMul's transpose flags (slow on wasm) nor a per-step transpose of the matrix.
 */
export function lmHead(x: tf.Tensor2D, weightT: tf.Tensor2D, weight: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor2D;
    return { value: tf.matMul(input, weightT), gradFunc: (dy: tf.Tensor) => [tf.matMul(dy as tf.Tensor2D, weight)] };
  }) as (x: tf.Tensor2D) => tf.Tensor2D;
  return op(x);
}

/** Rows `ids` of an embedding table [vocab, hidden] → [b, t, hidden] (frozen: gather has no wasm gradient). */
export function embedRows(table: tf.Tensor2D, batch: TokenBatch): tf.Tensor3D {
  return tf.tidy(() => tf.reshape(tf.gather(table, tf.tensor1d(batch.ids, 'int32')), [batch.batch, batch.seqLen, -1]) as tf.Tensor3D);
}

export function disposeAll(o: object): void {
  for (const v of Object.values(o)) {
    if (v instanceof tf.Tensor) v.dispose();
    else if (Array.isArray(v)) for (const x of v) if (x && typeof x === 'object') disposeAll(x);
  }
}

/** Rows of logits the head computes at once when the vocabulary is large (≈ 64 MiB of float32 per chunk). */
export const HEAD_CHUNK_FLOATS = 16 * 2 ** 20;

/**
 * Next-token NLL of normed rows h [m, hidden] for target ids: logsumexp(h·Wᵀ) − h·W[id], as one op
 * whose backward recomputes the logits chunk by chunk (dh = (softmax − onehot)·W, scaled by the
 * incoming gradient), so no [m, vocab] tensor is kept for the backward pass and at most
 * HEAD_CHUNK_FLOATS logits exist at once. W = [vocab, hidden], weightT = Wᵀ.
 */
export function lmHeadNll(h: tf.Tensor2D, ids: Int32Array, weightT: tf.Tensor2D, weight: tf.Tensor2D, chunkRows?: number): tf.Tensor1D {
  const [m] = h.shape;
  if (ids.length !== m) throw new Error(`lmHeadNll: ${m} rows but ${ids.length} target ids`);
  const vocab = weight.shape[0];
  const chunk = chunkRows ?? Math.max(1, Math.floor(HEAD_CHUNK_FLOATS / vocab));
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    save([x]);
    const value = tf.tidy(() => {
      const parts: tf.Tensor1D[] = [];
      for (let r = 0; r < m; r += chunk) {
        const n = Math.min(chunk, m - r);
        const xc = tf.slice(x, [r, 0], [n, -1]);
        const rows = tf.gather(weight, tf.tensor1d(ids.subarray(r, r + n), 'int32'));
        parts.push(tf.sub(tf.logSumExp(tf.matMul(xc, weightT), 1), tf.sum(tf.mul(xc, rows), 1)));
      }
      return parts.length === 1 ? parts[0]! : tf.concat(parts);
    });
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const xs = saved[0] as tf.Tensor2D;
      const g = dy as tf.Tensor1D;
      const parts: tf.Tensor2D[] = [];
      for (let r = 0; r < m; r += chunk) {
        const n = Math.min(chunk, m - r);
        parts.push(
          tf.tidy(() => {
            const xc = tf.slice(xs, [r, 0], [n, -1]);
            const gc = tf.reshape(tf.slice(g, [r], [n]), [n, 1]);
            const p = tf.softmax(tf.matMul(xc, weightT));
            const rows = tf.gather(weight, tf.tensor1d(ids.subarray(r, r + n), 'int32'));
            return tf.sub(tf.matMul(tf.mul(p, gc), weight), tf.mul(rows, gc)) as tf.Tensor2D;
          }),
        );
      }
      return [parts.length === 1 ? parts[0]! : tf.concat(parts)];
    };
    return { value, gradFunc };
  }) as (x: tf.Tensor2D) => tf.Tensor1D;
  return op(h);
}
