import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { createRng } from '../src/data/random';
import { LoraClassifier, type LabeledBatch } from '../src/lora/classifier';
import { DEFAULT_LORA } from '../src/lora/config';
import { HEAD, cloneAdapterState, type AdapterState } from '../src/lora/adapter-state';
import { matMul, matMulConst, TransposeCache } from '../src/ops/matmul';
import { SENTENCES, realEncoder } from './helpers';

const NUM_CLASSES = 3;
const LABELS = new Int32Array([0, 1, 2, 0, 1, 2]);

async function setup(depth: number, seed = 3) {
  const encoder = await realEncoder('wasm');
  const clf = new LoraClassifier(encoder, {
    numClasses: NUM_CLASSES,
    depth,
    lora: { ...DEFAULT_LORA, rank: 4 },
    learningRate: 1e-3,
    headLearningRate: 1e-2,
    seed,
  });
  const batch: LabeledBatch = { tokens: encoder.tokenize(SENTENCES), labels: LABELS };
  return { encoder, clf, batch };
}

/** Random values everywhere (B and the head start at zero, which would hide gradient paths). */
function randomized(state: AdapterState, seed: number, scale = 0.05): AdapterState {
  const rng = createRng(seed);
  const out = cloneAdapterState(state);
  for (const tensors of out.values()) for (const t of tensors.values()) for (let i = 0; i < t.data.length; i++) t.data[i] = (2 * rng.next() - 1) * scale;
  return out;
}

function axpy(state: AdapterState, dir: AdapterState, eps: number): AdapterState {
  const out = cloneAdapterState(state);
  for (const [k, tensors] of out) for (const [n, t] of tensors) {
    const d = dir.get(k)?.get(n);
    if (d) for (let i = 0; i < t.data.length; i++) t.data[i] = (t.data[i] as number) + eps * (d.data[i] as number);
  }
  return out;
}

function dot(a: AdapterState, b: AdapterState): number {
  let s = 0;
  for (const [k, tensors] of a) for (const [n, t] of tensors) {
    const u = b.get(k)?.get(n);
    if (u) for (let i = 0; i < t.data.length; i++) s += (t.data[i] as number) * (u.data[i] as number);
  }
  return s;
}

function only(state: AdapterState, key: string, name: string): AdapterState {
  const out: AdapterState = new Map();
  for (const [k, tensors] of state) {
    const m = new Map();
    for (const [n, t] of tensors) m.set(n, k === key && n === name ? t : { shape: t.shape, data: new Float32Array(t.data.length) });
    out.set(k, m);
  }
  return out;
}

test('custom-gradient matMul equals tfjs matMul and its gradient (2-D and batched)', async () => {
  await realEncoder('wasm');
  for (const [sa, sb] of [[[5, 7], [7, 3]], [[2, 3, 4, 6], [2, 3, 6, 5]]] as const) {
    const a = tf.randomNormal([...sa], 0, 1, 'float32', 1);
    const b = tf.randomNormal([...sb], 0, 1, 'float32', 2);
    const w = tf.randomNormal([...sa.slice(0, -1), sb[sb.length - 1]!], 0, 1, 'float32', 3);
    const ours = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(matMul(x, y), w)))([a, b]);
    const ref = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y), w)))([a, b]);
    assert.ok(tf.max(tf.abs(tf.sub(matMul(a, b), tf.matMul(a, b)))).dataSync()[0]! < 1e-5);
    for (let i = 0; i < 2; i++) assert.ok(tf.max(tf.abs(tf.sub(ours[i]!, ref[i]!))).dataSync()[0]! < 1e-4, `grad ${i} of ${sa}×${sb}`);
  }
});

test('matMulConst with a TransposeCache: same gradient bits, one kept transpose per weight, budget and dispose honoured', async () => {
  await realEncoder('wasm');
  const x = tf.randomNormal([6, 5], 0, 1, 'float32', 4);
  const w1 = tf.randomNormal([5, 4], 0, 1, 'float32', 5) as tf.Tensor2D;
  const w2 = tf.randomNormal([4, 3], 0, 1, 'float32', 6) as tf.Tensor2D;
  const loss = (cache?: TransposeCache) => (a: tf.Tensor) => tf.sum(tf.square(matMulConst(matMulConst(a, w1, cache), w2, cache)));
  const plain = tf.grad(loss())(x).dataSync();
  const cache = new TransposeCache();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) assert.deepEqual(tf.grad(loss(cache))(x).dataSync(), plain);
  assert.equal(cache.bytes, (20 + 12) * 4, 'both transposes kept, once each');
  assert.equal(tf.memory().numTensors - before, 3 + 2, 'three gradients returned, two kept transposes, nothing else');
  const small = new TransposeCache(60); // room for w2ᵀ (48 bytes) but not also w1ᵀ (80)
  assert.deepEqual(tf.grad(loss(small))(x).dataSync(), plain);
  assert.equal(small.bytes, 48);
  cache.dispose();
  small.dispose();
  assert.equal(cache.bytes, 0);
  assert.throws(() => new TransposeCache(-1), /non-negative/);
});

test('training-step gradients match central finite differences (depth 2: attention + FFN of the top layer, head)', async () => {
  const { clf, batch } = await setup(2);
  const theta = randomized(clf.getAdapter(), 11);
  clf.setAdapter(theta);
  const { gradients } = await clf.computeGradients(batch);
  const direction = randomized(theta, 12, 1);
  const eps = 2e-3;
  const lossAt = async (s: AdapterState) => (clf.setAdapter(s), clf.loss(batch));
  const checks: Array<[string, AdapterState]> = [
    ['all trained tensors', direction],
    ['block 2 qkv.A', only(direction, '2', 'qkv.A')],
    ['block 2 attn_out.B', only(direction, '2', 'attn_out.B')],
    ['block 3 ffn_in.A', only(direction, '3', 'ffn_in.A')],
    ['block 3 ffn_out.B', only(direction, '3', 'ffn_out.B')],
    ['head W', only(direction, HEAD, 'W')],
  ];
  for (const [what, dir] of checks) {
    const numeric = ((await lossAt(axpy(theta, dir, eps))) - (await lossAt(axpy(theta, dir, -eps)))) / (2 * eps);
    const analytic = dot(gradients, dir);
    assert.ok(Math.abs(analytic) > 1e-4, `${what}: gradient along the direction is not trivially zero (${analytic})`);
    // float32 losses and ReLU kinks in the FFN limit how well a difference quotient resolves a single
    // small slice of the gradient; the full direction is held tighter.
    const tolerance = dir === direction ? 2e-2 : 6e-2;
    const rel = Math.abs(numeric - analytic) / Math.max(Math.abs(analytic), 1e-3);
    assert.ok(rel < tolerance, `${what}: analytic ${analytic} vs numeric ${numeric} (rel ${rel})`);
  }
  clf.dispose();
});

test('depth d trains exactly the top d blocks and the head; lower blocks hold no variables', async () => {
  const encoder = await realEncoder('wasm');
  const counts: number[] = [];
  for (const depth of [1, 2, 3, 4]) {
    const before = tf.memory().numTensors;
    const { clf, batch } = await setup(depth);
    counts.push(tf.memory().numTensors - before);
    assert.deepEqual([...clf.getAdapter().keys()], [...encoder.blocks.slice(4 - depth).map((b) => `${b.index}`), HEAD]);
    const start = clf.getAdapter();
    // The head starts at zero, so the first step moves only the head; the second reaches every block.
    await clf.trainStep(batch);
    await clf.trainStep(batch);
    const after = clf.getAdapter();
    for (const [key, tensors] of after) {
      const changed = [...tensors].some(([n, t]) => t.data.some((v, i) => v !== start.get(key)!.get(n)!.data[i]));
      assert.ok(changed, `block ${key} changed after a step at depth ${depth}`);
    }
    clf.dispose();
  }
  // Each extra block adds its LoRA variables (A, B per target): memory grows strictly with depth.
  for (let i = 1; i < counts.length; i++) assert.ok(counts[i]! > counts[i - 1]!, `variables grow with depth: ${counts}`);
});

test('frozen blocks apply a loaded global adapter as constants (changes the output, gets no gradient)', async () => {
  const deep = await setup(4);
  const global = randomized(deep.clf.getAdapter(), 5, 0.2);
  deep.clf.dispose();
  const { clf, batch } = await setup(1);
  const plain = await clf.loss(batch);
  clf.setAdapter(global); // blocks 0..2 become frozen constants, block 3 + head load into variables
  const withFrozen = await clf.loss(batch);
  assert.notEqual(plain, withFrozen);
  assert.deepEqual([...clf.getAdapter().keys()], ['3', HEAD]);
  // Same function as the depth-4 model holding the same adapter.
  const full = await setup(4);
  full.clf.setAdapter(global);
  assert.ok(Math.abs((await full.clf.loss(batch)) - withFrozen) < 1e-5);
  full.clf.dispose();
  clf.dispose();
});

test('setAdapter rejects wrong shapes and unknown tensors with a clear error', async () => {
  const { clf } = await setup(2);
  const bad = clf.getAdapter();
  bad.get('3')!.set('ffn_in.A', { shape: [2, 2], data: new Float32Array(4) });
  assert.throws(() => clf.setAdapter(bad), /3\/ffn_in\.A has shape \[2,2\]/);
  const unknown: AdapterState = new Map([['9', new Map()]]);
  assert.throws(() => clf.setAdapter(unknown), /block 9 does not exist/);
  clf.dispose();
});

test('no tensor leaks: numTensors stays flat across training steps, evaluation and gradient calls', async () => {
  const { clf, batch } = await setup(3);
  await clf.trainStep(batch); // Adam creates its moment variables on the first step
  const start = tf.memory().numTensors;
  const after: Record<string, number> = {};
  for (let i = 0; i < 4; i++) {
    await clf.trainStep(batch);
    after.trainStep = tf.memory().numTensors - start;
    await clf.evaluate([batch]);
    after.evaluate = tf.memory().numTensors - start;
    await clf.computeGradients(batch);
    after.computeGradients = tf.memory().numTensors - start;
    clf.setAdapter(clf.getAdapter());
    after.setAdapter = tf.memory().numTensors - start;
  }
  assert.deepEqual(after, { trainStep: 0, evaluate: 0, computeGradients: 0, setAdapter: 0 });
  const beforeDispose = tf.memory().numTensors;
  clf.dispose();
  assert.ok(tf.memory().numTensors < beforeDispose);
});

test('a few steps on one batch lower its loss (the step really descends)', async () => {
  const { clf, batch } = await setup(2);
  const first = await clf.loss(batch);
  for (let i = 0; i < 15; i++) await clf.trainStep(batch);
  const last = await clf.loss(batch);
  assert.ok(last < first * 0.5, `loss ${first} → ${last}`);
  clf.dispose();
});
