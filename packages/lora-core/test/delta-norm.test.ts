/** Norms of adapter deltas, and the bound no honest Adam run can exceed (checked against tfjs's own Adam). */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../node/backend';
import { seededRandom } from '../src/federated/random';
import type { AdapterState, BlockKey, NamedArray } from '../src/lora/adapter-state';
import { deltaNorm } from '../src/federated';
import { adamDeltaNormBound, blockL2Norms, normBoundProblems } from '../src/protocol';

const arr = (values: number[]): NamedArray => ({ shape: [values.length], data: Float32Array.from(values) });

describe('delta norms', () => {
  const state: AdapterState = new Map<BlockKey, Map<string, NamedArray>>([
    ['1', new Map([['A', arr([3, 0])], ['B', arr([0, 4])]])],
    ['head', new Map([['W', arr([1, 2, 2])]])],
  ]);

  it('measures each block over all its tensors, and the whole state', () => {
    assert.deepEqual([...blockL2Norms(state)], [['1', 5], ['head', 3]]);
    assert.equal(deltaNorm(state), Math.sqrt(34));
  });

  it('names each block above its bound, and NaN never passes', () => {
    assert.deepEqual(normBoundProblems(state, () => 5), []);
    assert.deepEqual(normBoundProblems(state, (key, n) => (key === 'head' ? 2 : n * 10)), ['block "head" has L2 norm 3.000, above the bound 2.000']);
    const nan: AdapterState = new Map([['head', new Map([['W', arr([Number.NaN])]])]]) as AdapterState;
    assert.equal(normBoundProblems(nan, () => 1e9).length, 1);
  });
});

describe('adamDeltaNormBound', () => {
  before(async () => {
    await useBackend('cpu');
  });

  /** Runs tfjs Adam on `n` zero-initialised values with the given gradients; returns the L2 norm moved. */
  function adamNorm(lr: number, gradients: Float32Array[]): number {
    return tf.tidy(() => {
      const v = tf.variable(tf.zeros([gradients[0]!.length]));
      const opt = tf.train.adam(lr);
      for (const g of gradients) opt.applyGradients([{ name: v.name, tensor: tf.tensor1d(g) }]);
      const norm = tf.norm(v).dataSync()[0]!;
      opt.dispose();
      v.dispose();
      return norm;
    });
  }

  it('is exactly lr·√n for one step', () => {
    assert.ok(Math.abs(adamDeltaNormBound(0.01, 1, 100) - 0.1) < 1e-12);
  });

  it('is nearly reached by gradients of constant sign, and never exceeded by any sequence tried', () => {
    const lr = 0.03;
    const n = 64;
    const random = seededRandom(5);
    for (const steps of [1, 2, 4, 8, 10]) {
      const bound = adamDeltaNormBound(lr, steps, n);
      const constant = Array.from({ length: steps }, () => Float32Array.from({ length: n }, (_, i) => (i % 2 ? 1 : -2)));
      const honest = adamNorm(lr, constant);
      assert.ok(honest <= bound * (1 + 1e-5), `${steps} steps: ${honest} > ${bound}`);
      assert.ok(honest > 0.95 * bound, `${steps} steps: constant-sign gradients move ${honest}, far below the bound ${bound}`);
      // Gradients that grow, shrink, flip and spike: the worst cases of Adam's ratio.
      for (let trial = 0; trial < 20; trial++) {
        const grads = Array.from({ length: steps }, (_, t) =>
          Float32Array.from({ length: n }, () => (random() - 0.3) * 10 ** (6 * random() - 3) * (trial % 2 ? 1 : 10 ** t)),
        );
        const moved = adamNorm(lr, grads);
        assert.ok(moved <= bound * (1 + 1e-5), `${steps} steps, trial ${trial}: ${moved} > ${bound}`);
      }
    }
  });
});
