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
 * x·w where w is a constant (a frozen weight): the gradient flows to x only (dx = dy·wᵀ with an
 * explicit transpose), so backpropagating through a frozen linear never computes the weight's
 * gradient, which matMul's two-sided gradient would (as many FLOPs as the forward product).
 */
export function matMulConst<T extends tf.Tensor>(x: T, w: tf.Tensor2D): T {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    return { value: tf.matMul(input, w), gradFunc: (dy: tf.Tensor) => [tf.matMul(dy, tf.transpose(w))] };
  }) as (x: tf.Tensor) => tf.Tensor;
  return op(x) as T;
}
