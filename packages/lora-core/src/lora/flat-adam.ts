/**
 * Adam over many small variables as one flat vector: the same arithmetic as tf.train.adam, op for
 * op and element for element (so the same values, bit for bit), but ~17 kernel calls per step
 * instead of 14 per variable. With LoRA's many small A/B matrices the per-variable form is some
 * 250 tiny kernels a step; on threaded wasm every one of them pays a thread-pool dispatch, which
 * costs more than the arithmetic.
 */
import * as tf from '@tensorflow/tfjs-core';

export class FlatAdam {
  private m: tf.Variable | undefined;
  private v: tf.Variable | undefined;
  private readonly accBeta1: tf.Variable;
  private readonly accBeta2: tf.Variable;
  private size = -1;

  constructor(
    readonly learningRate: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    /** tf.train.adam's default: the backend's epsilon (1e-7 in float32). */
    readonly epsilon = tf.backend().epsilon(),
  ) {
    [this.accBeta1, this.accBeta2] = tf.tidy(() => [tf.variable(tf.scalar(beta1), false), tf.variable(tf.scalar(beta2), false)]);
  }

  /** One Adam step of `variables` with `gradients` (same order and shapes); always the same variables. */
  applyGradients(variables: readonly tf.Variable[], gradients: readonly tf.Tensor[]): void {
    if (variables.length !== gradients.length) throw new Error(`${variables.length} variables but ${gradients.length} gradients`);
    const sizes = variables.map((x, i) => {
      const g = gradients[i] as tf.Tensor;
      if (g.size !== x.size) throw new Error(`gradient ${i} has ${g.size} values for variable ${x.name} of ${x.size}`);
      return x.size;
    });
    const total = sizes.reduce((a, b) => a + b, 0);
    if (this.size >= 0 && total !== this.size) throw new Error(`FlatAdam holds moments for ${this.size} values, got ${total}`);
    this.size = total;
    tf.tidy(() => {
      const flat = (ts: readonly tf.Tensor[]) => (ts.length === 1 ? tf.reshape(ts[0] as tf.Tensor, [-1]) : tf.concat(ts.map((t) => tf.reshape(t, [-1]))));
      const gradient = flat(gradients);
      const value = flat(variables);
      this.m ??= tf.variable(tf.zeros([total]), false);
      this.v ??= tf.variable(tf.zeros([total]), false);
      // (variables outlive the tidy; the zeros they were made from do not)
      const oneMinusAccBeta1 = tf.sub(1, this.accBeta1);
      const oneMinusAccBeta2 = tf.sub(1, this.accBeta2);
      const newFirstMoment = tf.add(tf.mul(this.m, this.beta1), tf.mul(gradient, 1 - this.beta1));
      const newSecondMoment = tf.add(tf.mul(this.v, this.beta2), tf.mul(tf.square(gradient), 1 - this.beta2));
      const biasCorrectedFirstMoment = tf.div(newFirstMoment, oneMinusAccBeta1);
      const biasCorrectedSecondMoment = tf.div(newSecondMoment, oneMinusAccBeta2);
      this.m.assign(newFirstMoment);
      this.v.assign(newSecondMoment);
      const newValue = tf.add(tf.mul(tf.div(biasCorrectedFirstMoment, tf.add(tf.sqrt(biasCorrectedSecondMoment), this.epsilon)), -this.learningRate), value);
      const parts = variables.length === 1 ? [newValue] : tf.split(newValue, sizes);
      variables.forEach((x, i) => x.assign(tf.reshape(parts[i] as tf.Tensor, x.shape)));
      this.accBeta1.assign(tf.mul(this.accBeta1, this.beta1));
      this.accBeta2.assign(tf.mul(this.accBeta2, this.beta2));
    });
  }

  dispose(): void {
    tf.dispose([this.accBeta1, this.accBeta2, ...(this.m ? [this.m] : []), ...(this.v ? [this.v] : [])]);
    this.m = undefined;
    this.v = undefined;
  }
}
