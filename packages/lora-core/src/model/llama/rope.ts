/**
 * Rotary position embedding of the Llama family (HF modeling_rope_utils / modeling_llama):
 * inv_freq[i] = θ^(−2i/d) for i < d/2, adjusted by the scaling type; angle = pos·inv_freq;
 * cos/sin tables [t, d] repeat the d/2 angles twice (cat(freqs, freqs)), and
 * rope(x) = x·cos + rotate_half(x)·sin with rotate_half(x) = cat(−x₂, x₁) over the two halves.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RopeScaling } from '../hf/config';

export function inverseFrequencies(headDim: number, theta: number, scaling: RopeScaling): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(theta, (2 * i) / headDim);
  if (scaling.type === 'linear') for (let i = 0; i < half; i++) inv[i]! /= scaling.factor;
  if (scaling.type === 'llama3') {
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositions: old } = scaling;
    const lowFreqWavelen = old / lowFreqFactor;
    const highFreqWavelen = old / highFreqFactor;
    for (let i = 0; i < half; i++) {
      const f = inv[i]!;
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > lowFreqWavelen) inv[i] = f / factor;
      else if (wavelen >= highFreqWavelen) {
        const smooth = (old / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        inv[i] = (1 - smooth) * (f / factor) + smooth * f;
      }
    }
  }
  return inv;
}

/** cos and sin tables [t, headDim] for positions start..start+t-1 (angles in float64, then rounded). */
export function ropeTables(t: number, inv: Float64Array, start = 0): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const d = inv.length * 2;
  const cos = new Float32Array(t * d);
  const sin = new Float32Array(t * d);
  for (let p = 0; p < t; p++) {
    for (let i = 0; i < inv.length; i++) {
      // HF computes the angle in float32 (pos · inv_freq with float32 inv_freq); match that rounding.
      const angle = Math.fround((start + p) * Math.fround(inv[i]!));
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[p * d + i] = c;
      cos[p * d + i + inv.length] = c;
      sin[p * d + i] = s;
      sin[p * d + i + inv.length] = s;
    }
  }
  return { cos: tf.tensor2d(cos, [t, d]), sin: tf.tensor2d(sin, [t, d]) };
}

/** x [b, h, t, d] rotated: x·cos + rotate_half(x)·sin. */
export function applyRope(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  const d = x.shape[3];
  const [x1, x2] = tf.split(x, [d / 2, d / 2], 3);
  const rotated = tf.concat([tf.neg(x2!), x1!], 3);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
}
