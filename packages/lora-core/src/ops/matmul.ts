import * as tf from '@tensorflow/tfjs-core';

/**
 * a·b for 2-D or batched (rank ≥ 3, same batch dims) operands, with a gradient that transposes
 * explicitly instead of passing transposeA/transposeB to matMul.
 *
 * Why: on the wasm backend, matMul with transpose flags is 10–20× slower than an explicit
 * transpose followed by a plain matMul, and tfjs's built-in matMul gradient uses the flags.
 */
export const matMul = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  const value = tf.matMul(a, b);
  const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
    const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
    return [tf.matMul(dy, swapLastTwo(sb)), tf.matMul(swapLastTwo(sa), dy)];
  };
  return { value, gradFunc };
}) as <T extends tf.Tensor>(a: T, b: tf.Tensor) => T;

export function swapLastTwo<T extends tf.Tensor>(x: T): T {
  const r = x.rank;
  if (r < 2) throw new Error(`swapLastTwo needs rank >= 2, got ${r}`);
  const perm = [...Array(r).keys()];
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(x, perm);
}

/**
 * Transposes of frozen weights for matMulConst's backward pass, made once per weight and kept
 * (up to `maxBytes`; past it each backward transposes afresh, as without a cache). The owner of
 * the weights (a model) owns the cache and disposes it with them. Why: a training step at full
 * depth transposed every frozen kernel it backpropagated through, a cost that does not shrink
 * with the batch (~10 ms of a USE-lite step here), so it weighed most on small per-worker shards.
 */
/** Default budget of a model's TransposeCache. */
export const TRANSPOSE_CACHE_BYTES = 32 * 2 ** 20;

export class TransposeCache {
  private readonly byId = new Map<number, tf.Tensor2D>();
  private heldBytes = 0;

  constructor(readonly maxBytes = TRANSPOSE_CACHE_BYTES) {
    if (!(Number.isFinite(maxBytes) && maxBytes >= 0)) throw new RangeError(`transpose cache budget must be a non-negative number of bytes, got ${maxBytes}`);
  }

  get bytes(): number {
    return this.heldBytes;
  }

  /** wᵀ: the kept one, or (over budget) a fresh one owned by the caller's tidy scope. */
  of(w: tf.Tensor2D): tf.Tensor2D {
    const held = this.byId.get(w.id);
    if (held && !held.isDisposed) return held;
    const t = tf.transpose(w);
    const size = t.size * 4;
    if (this.heldBytes + size > this.maxBytes) return t;
    this.byId.set(w.id, tf.keep(t));
    this.heldBytes += size;
    return t;
  }

  dispose(): void {
    for (const t of this.byId.values()) t.dispose();
    this.byId.clear();
    this.heldBytes = 0;
  }
}

/**
 * x·w where w is a constant (a frozen weight): the gradient flows to x only (dx = dy·wᵀ with an
 * explicit transpose, taken from `transposes` when given), so backpropagating through a frozen
 * linear never computes the weight's gradient, which matMul's two-sided gradient would (as many
 * FLOPs as the forward product).
 */
export function matMulConst<T extends tf.Tensor>(x: T, w: tf.Tensor2D, transposes?: TransposeCache): T {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    return { value: tf.matMul(input, w), gradFunc: (dy: tf.Tensor) => [tf.matMul(dy, transposes ? transposes.of(w) : tf.transpose(w))] };
  }) as (x: tf.Tensor) => tf.Tensor;
  return op(x) as T;
}
