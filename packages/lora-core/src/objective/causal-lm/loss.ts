/**
 * Next-token cross-entropy on the loss positions only. The rows that carry loss are picked with a
 * one-hot selection matrix product (gather has no gradient on wasm), so the LM head runs on those
 * rows alone, through the decoder's memory-bounded `lmHeadNll` (chunked, recomputed in backward;
 * no [rows, vocab] one-hot or logits tensor is kept). Returns the per-position NLL.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { CausalDecoder } from '../../model/family';
import { matMul } from '../../ops/matmul';

export interface Selection {
  /** [m, b·t] one-hot rows picking the loss positions. */
  readonly select: tf.Tensor2D;
  /** Target ids of those positions. */
  readonly ids: Int32Array;
}

export function selection(targets: Int32Array): Selection {
  const positions: number[] = [];
  for (let i = 0; i < targets.length; i++) if (targets[i]! >= 0) positions.push(i);
  const m = positions.length;
  const data = new Float32Array(m * targets.length);
  const ids = new Int32Array(m);
  positions.forEach((p, r) => {
    data[r * targets.length + p] = 1;
    ids[r] = targets[p]!;
  });
  return { select: tf.tensor2d(data, [m, targets.length]), ids };
}

/** Per-position NLL [m] of the selected positions of x [b, t, hidden]. */
export function tokenNll(decoder: CausalDecoder, x: tf.Tensor3D, sel: Selection): tf.Tensor1D {
  const [b, t, d] = x.shape;
  const rows = matMul(sel.select, tf.reshape(x, [b * t, d]) as tf.Tensor2D);
  return decoder.lmHeadNll(decoder.finalNorm(rows), sel.ids);
}
