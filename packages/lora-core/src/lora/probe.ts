/**
 * Linear probe: the classifier's head (softmax regression on pooled features) trained with Adam on
 * frozen features. The baseline LoRA has to beat: what the pretrained features give without
 * touching the encoder. A probe trained to convergence overfits (10k parameters, a few thousand
 * rows), so fitProbe picks the epoch count on a held-out slice of the training features.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createRng } from '../data/random';
import { matMul } from '../ops/matmul';
import type { NamedArray } from './adapter-state';
import type { EvalResult } from './classifier';
import type { FeatureSet } from './features';

export interface ProbeOptions {
  readonly numClasses: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
  /** When given, evaluated after every epoch; the probe returned is the epoch with the lowest validation loss. */
  readonly validation?: FeatureSet;
  /** With validation: stop after this many epochs without a lower validation loss (default: never). */
  readonly patience?: number;
}

export interface LinearProbe {
  /** [dim, numClasses], same layout as the classifier's head W. */
  readonly W: NamedArray;
  readonly b: NamedArray;
  /** Mean training loss of each epoch. */
  readonly epochLosses: readonly number[];
  /** Epochs trained into W and b (the best validation epoch when validating). */
  readonly epochs: number;
  /** Validation loss after each epoch, when validating. */
  readonly validationLosses?: readonly number[];
}

export async function trainLinearProbe(train: FeatureSet, o: ProbeOptions): Promise<LinearProbe> {
  if (train.count === 0) throw new Error('no training features');
  for (const [name, v] of [['epochs', o.epochs], ['batchSize', o.batchSize]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  }
  checkLabels(train, o.numClasses);
  const X = tf.tensor2d(train.features, [train.count, train.dim]);
  const Y = tf.oneHot(tf.tensor1d(train.labels, 'int32'), o.numClasses);
  const W = tf.variable(tf.zeros([train.dim, o.numClasses]), true);
  const b = tf.variable(tf.zeros([o.numClasses]), true);
  const optimizer = tf.train.adam(o.learningRate);
  const rng = createRng(o.seed);
  const order = Array.from({ length: train.count }, (_, i) => i);
  const epochLosses: number[] = [];
  const validationLosses: number[] = [];
  let best: { epochs: number; loss: number; W: NamedArray; b: NamedArray } | undefined;
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      rng.shuffle(order);
      let lossSum = 0;
      for (let start = 0; start < order.length; start += o.batchSize) {
        const rows = order.slice(start, start + o.batchSize);
        const loss = tf.tidy(() => {
          const idx = tf.tensor1d(rows, 'int32');
          const xb = tf.gather(X, idx) as tf.Tensor2D;
          const yb = tf.gather(Y, idx);
          const { value, grads } = tf.variableGrads(() => crossEntropy(tf.add(matMul(xb, W), b) as tf.Tensor2D, yb), [W, b]);
          optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
          return value;
        });
        lossSum += ((await loss.data())[0] as number) * rows.length;
        loss.dispose();
      }
      epochLosses.push(lossSum / train.count);
      if (o.validation) {
        const { loss } = await evaluateProbe({ W: toArray(W), b: toArray(b), epochLosses, epochs: epoch + 1 }, o.validation);
        validationLosses.push(loss);
        if (!best || loss < best.loss) best = { epochs: epoch + 1, loss, W: toArray(W), b: toArray(b) };
        else if (o.patience !== undefined && epoch + 1 - best.epochs >= o.patience) break;
      }
    }
    if (best) return { W: best.W, b: best.b, epochLosses, epochs: best.epochs, validationLosses };
    return { W: toArray(W), b: toArray(b), epochLosses, epochs: o.epochs };
  } finally {
    tf.dispose([X, Y, W, b]);
    optimizer.dispose();
  }
}

export interface FitProbeOptions extends Omit<ProbeOptions, 'validation'> {
  /** Share of the training rows held out to choose the epoch count (default 0.1). */
  readonly validationFraction?: number;
}

/**
 * Early-stopped probe without looking at the test set: choose the epoch count by validation loss on
 * a seeded slice of `train`, then refit on all of `train` for that many epochs.
 */
export async function fitProbe(train: FeatureSet, o: FitProbeOptions): Promise<LinearProbe & { validationLosses: readonly number[] }> {
  const fraction = o.validationFraction ?? 0.1;
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`validationFraction must be in (0, 1), got ${fraction}`);
  const order = createRng(o.seed ^ 0x5eed).shuffle(Array.from({ length: train.count }, (_, i) => i));
  const nVal = Math.max(1, Math.round(train.count * fraction));
  if (nVal >= train.count) throw new Error(`too few rows (${train.count}) to hold out a validation slice`);
  const selection = await trainLinearProbe(subsetFeatures(train, order.slice(nVal)), { ...o, validation: subsetFeatures(train, order.slice(0, nVal)) });
  const final = await trainLinearProbe(train, { ...o, epochs: selection.epochs });
  return { ...final, validationLosses: selection.validationLosses ?? [] };
}

/** The rows of a feature set at `rows`, in that order. */
export function subsetFeatures(set: FeatureSet, rows: readonly number[]): FeatureSet {
  const features = new Float32Array(rows.length * set.dim);
  const labels = new Int32Array(rows.length);
  rows.forEach((row, i) => {
    if (!Number.isInteger(row) || row < 0 || row >= set.count) throw new RangeError(`row ${row} outside 0..${set.count - 1}`);
    features.set(set.features.subarray(row * set.dim, (row + 1) * set.dim), i * set.dim);
    labels[i] = set.labels[row] as number;
  });
  return { features, labels, dim: set.dim, count: rows.length };
}

/** Accuracy and mean cross-entropy of the probe on a feature set. */
export async function evaluateProbe(probe: LinearProbe, set: FeatureSet): Promise<EvalResult> {
  if (set.count === 0) return { accuracy: 0, loss: 0, count: 0 };
  const numClasses = probe.b.data.length;
  checkLabels(set, numClasses);
  if (probe.W.shape[0] !== set.dim) throw new Error(`probe expects ${probe.W.shape[0]}-d features, got ${set.dim}`);
  const [pred, losses] = tf.tidy(() => {
    const logits = tf.add(
      tf.matMul(tf.tensor2d(set.features, [set.count, set.dim]), tf.tensor2d(probe.W.data, [set.dim, numClasses])),
      tf.tensor1d(probe.b.data),
    );
    const onehot = tf.oneHot(tf.tensor1d(set.labels, 'int32'), numClasses);
    return [tf.argMax(logits, 1), tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))];
  });
  const p = await pred.data();
  const l = await losses.data();
  tf.dispose([pred, losses]);
  let correct = 0;
  let lossSum = 0;
  for (let i = 0; i < set.count; i++) {
    if (p[i] === set.labels[i]) correct++;
    lossSum += l[i] as number;
  }
  return { accuracy: correct / set.count, loss: lossSum / set.count, count: set.count };
}

function crossEntropy(logits: tf.Tensor2D, onehot: tf.Tensor): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
}

function checkLabels(set: FeatureSet, numClasses: number): void {
  if (set.labels.length !== set.count || set.features.length !== set.count * set.dim) {
    throw new Error(`feature set of ${set.count} rows × ${set.dim} has ${set.features.length} values and ${set.labels.length} labels`);
  }
  for (const y of set.labels) if (!Number.isInteger(y) || y < 0 || y >= numClasses) throw new Error(`label ${y} outside 0..${numClasses - 1}`);
}

function toArray(t: tf.Tensor): NamedArray {
  return { shape: [...t.shape], data: new Float32Array(t.dataSync() as Float32Array) };
}
