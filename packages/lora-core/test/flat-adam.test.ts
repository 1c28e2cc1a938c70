/** FlatAdam takes the very steps tf.train.adam takes (bit for bit), with one set of kernels for all variables. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../node/backend';
import { createRng } from '../src/data/random';
import { FlatAdam } from '../src/lora/flat-adam';

const SHAPES: number[][] = [[8, 4], [4, 16], [16], [3, 5, 2], [1]];

function randomTensors(seed: number, scale: number): tf.Tensor[] {
  const rng = createRng(seed);
  return SHAPES.map((s) => tf.tensor(Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => (2 * rng.next() - 1) * scale), s));
}

for (const backend of ['wasm', 'cpu'] as const) {
  test(`FlatAdam equals tf.train.adam bit for bit over 25 steps (${backend})`, async () => {
    await useBackend(backend);
    const start = randomTensors(1, 1);
    const reference = start.map((t, i) => tf.variable(t.clone(), true, `ref_${backend}_${i}`));
    const flat = start.map((t, i) => tf.variable(t.clone(), true, `flat_${backend}_${i}`));
    const adam = tf.train.adam(3e-3);
    const flatAdam = new FlatAdam(3e-3);
    const before = tf.memory().numTensors;
    for (let step = 0; step < 25; step++) {
      // Gradients of very different sizes, zeros included (the bias correction and epsilon matter).
      const grads = randomTensors(100 + step, step % 5 === 0 ? 0 : 10 ** (-(step % 4)));
      adam.applyGradients(reference.map((v, i) => ({ name: v.name, tensor: grads[i] as tf.Tensor })));
      flatAdam.applyGradients(flat, grads);
      tf.dispose(grads);
      if (step > 0) assert.equal(tf.memory().numTensors, before + 2 + 10, 'no tensors leak (the two moment vectors stay)');
    }
    for (let i = 0; i < SHAPES.length; i++) {
      const a = reference[i]?.dataSync() as Float32Array;
      const b = flat[i]?.dataSync() as Float32Array;
      assert.deepEqual(flat[i]?.shape, SHAPES[i]);
      assert.deepEqual(Buffer.from(b.buffer, b.byteOffset, b.byteLength), Buffer.from(a.buffer, a.byteOffset, a.byteLength), `variable ${i}`);
    }
    assert.throws(() => flatAdam.applyGradients(flat.slice(1), randomTensors(9, 1).slice(1)), /holds moments for/);
    adam.dispose();
    const held = tf.memory().numTensors;
    flatAdam.dispose();
    assert.equal(tf.memory().numTensors, held - 4, 'dispose frees both moment vectors and both accumulators');
    tf.dispose([...start, ...reference, ...flat]);
  });
}
