/** Norms of adapter deltas, and the bound no honest Adam run can exceed (checked against tfjs's own Adam). */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../node/backend';
import { seededRandom } from '../src/federated/random';
import type { AdapterState, BlockKey, NamedArray } from '../src/lora/adapter-state';
import { deltaNorm } from '../src/federated';
import { adamCoordinateBound, adamDeltaNormBound, blockL2Norms, coordinateBoundProblems, normBoundProblems } from '../src/protocol';

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

describe('adamCoordinateBound', () => {
  before(async () => {
    await useBackend('cpu');
  });

  /** The largest |value| tfjs Adam moved, from zero, under these gradients. */
  function adamMaxMove(lr: number, gradients: Float32Array[]): number {
    return tf.tidy(() => {
      const v = tf.variable(tf.zeros([gradients[0]!.length]));
      const opt = tf.train.adam(lr);
      for (const g of gradients) opt.applyGradients([{ name: v.name, tensor: tf.tensor1d(g) }]);
      const max = tf.max(tf.abs(v)).dataSync()[0]!;
      opt.dispose();
      v.dispose();
      return max;
    });
  }

  it('is the L2 bound of one value, about lr per step', () => {
    assert.ok(Math.abs(adamCoordinateBound(0.01, 1) - 0.01) < 1e-15);
    assert.ok(Math.abs(adamDeltaNormBound(0.01, 7, 49) - 7 * adamCoordinateBound(0.01, 7)) < 1e-12);
    assert.ok(adamCoordinateBound(0.01, 10) < 0.0105 * 10);
  });

  it('is never exceeded by one value under any gradient sequence tried, and nearly reached by a constant sign', () => {
    const lr = 0.02;
    const random = seededRandom(9);
    for (const steps of [1, 3, 6, 10]) {
      const bound = adamCoordinateBound(lr, steps);
      const constant = Array.from({ length: steps }, () => Float32Array.from([1, -3, 0.5]));
      const moved = adamMaxMove(lr, constant);
      assert.ok(moved <= bound * (1 + 1e-5) && moved > 0.95 * bound, `${steps} steps: ${moved} vs ${bound}`);
      for (let trial = 0; trial < 20; trial++) {
        const grads = Array.from({ length: steps }, (_, t) => Float32Array.from({ length: 16 }, () => (random() - 0.4) * 10 ** (6 * random() - 3) * (trial % 2 ? 1 : 10 ** t)));
        assert.ok(adamMaxMove(lr, grads) <= bound * (1 + 1e-5));
      }
    }
  });

  it('refuses a delta that concentrates a block\'s L2 budget in a few values, by block and value', () => {
    const lr = 0.001;
    const steps = 6;
    const n = 400;
    const l2 = adamDeltaNormBound(lr, steps, n);
    const data = new Float32Array(n);
    data[17] = 0.9 * l2; // inside the L2 bound, √n·0.9 times what Adam can move one value
    const state: AdapterState = new Map([['3', new Map([['A', { shape: [n], data }]])]]) as AdapterState;
    assert.deepEqual(normBoundProblems(state, () => l2), []);
    const problems = coordinateBoundProblems(state, () => 1.01 * adamCoordinateBound(lr, steps));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /block "3" has 1 value\(s\) above the per-value bound .* at A\[17\]/);
    const spread: AdapterState = new Map([['3', new Map([['A', { shape: [n], data: new Float32Array(n).fill(0.9 * adamCoordinateBound(lr, steps)) }]])]]) as AdapterState;
    assert.deepEqual(coordinateBoundProblems(spread, () => 1.01 * adamCoordinateBound(lr, steps)), []);
  });
});
