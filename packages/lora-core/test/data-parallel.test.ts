/** Data-parallel steps (K shards' gradients combined, one optimizer step) equal full-batch steps on the real USE-lite model. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../src/data/random';
import { LoraClassifier, type ClassifierConfig, type LabeledBatch } from '../src/lora/classifier';
import { DEFAULT_LORA } from '../src/lora/config';
import { HEAD, type AdapterState } from '../src/lora/adapter-state';
import { combineShardGradients, DataParallelClassifier, ReplicaShardRunner, shardRanges, sliceBatch, type ShardRunner } from '../src/lora/data-parallel';
import { SENTENCES, realEncoder } from './helpers';

const NUM_CLASSES = 3;

function config(depth: number): ClassifierConfig {
  return { numClasses: NUM_CLASSES, depth, lora: { ...DEFAULT_LORA, rank: 4, dropout: 0 }, learningRate: 1e-3, headLearningRate: 1e-2, seed: 5 };
}

/** Random values in every block (frozen ones too), so that every gradient path and the frozen constants matter. */
function randomFullAdapter(clf: LoraClassifier, seed: number): AdapterState {
  const rng = createRng(seed);
  const out: AdapterState = new Map();
  for (const [k, tensors] of clf.getAdapter()) {
    out.set(k, new Map([...tensors].map(([n, t]) => [n, { shape: [...t.shape], data: Float32Array.from(t.data, () => (2 * rng.next() - 1) * 0.05) }])));
  }
  return out;
}

function maxAbsDiff(a: AdapterState, b: AdapterState): number {
  let m = 0;
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [k, tensors] of a) {
    for (const [n, t] of tensors) {
      const u = b.get(k)?.get(n);
      assert.ok(u, `${k}/${n} missing`);
      for (let i = 0; i < t.data.length; i++) m = Math.max(m, Math.abs((t.data[i] as number) - (u.data[i] as number)));
    }
  }
  return m;
}

test('shardRanges: contiguous, sizes as even as possible, empty shards left out', () => {
  assert.deepEqual(shardRanges(16, 2), [[0, 8], [8, 16]]);
  assert.deepEqual(shardRanges(7, 3), [[0, 3], [3, 5], [5, 7]]);
  assert.deepEqual(shardRanges(2, 4), [[0, 1], [1, 2]]);
  assert.deepEqual(shardRanges(5, 1), [[0, 5]]);
  assert.throws(() => shardRanges(5, 0), /shard count must be a positive integer/);
  assert.throws(() => shardRanges(-1, 2), /rows must be a non-negative integer/);
});

test('sliceBatch keeps the padded length; combineShardGradients weights by rows and refuses mismatched parts', async () => {
  const encoder = await realEncoder('wasm');
  const batch: LabeledBatch = { tokens: encoder.tokenize(SENTENCES), labels: new Int32Array([0, 1, 2, 0, 1, 2]) };
  const part = sliceBatch(batch, 4, 6);
  assert.equal(part.tokens.seqLen, batch.tokens.seqLen);
  assert.equal(part.tokens.batch, 2);
  assert.deepEqual([...part.tokens.ids], [...batch.tokens.ids.slice(4 * batch.tokens.seqLen)]);
  assert.deepEqual([...part.labels], [1, 2]);
  assert.throws(() => sliceBatch(batch, 3, 3), /not a non-empty range/);
  assert.throws(() => sliceBatch(batch, 2, 7), /not a non-empty range/);

  const g = (v: number): AdapterState => new Map([[HEAD, new Map([['b', { shape: [2], data: new Float32Array([v, -v]) }]])]]);
  const combined = combineShardGradients([{ rows: 3, gradients: g(1) }, { rows: 1, gradients: g(5) }]);
  assert.deepEqual([...(combined.get(HEAD)?.get('b')?.data ?? [])], [2, -2]);
  assert.throws(() => combineShardGradients([]), /no shard gradients/);
  assert.throws(() => combineShardGradients([{ rows: 0, gradients: g(1) }]), /positive row count/);
  const other: AdapterState = new Map([[HEAD, new Map([['W', { shape: [2], data: new Float32Array(2) }]])]]);
  assert.throws(() => combineShardGradients([{ rows: 1, gradients: g(1) }, { rows: 1, gradients: other }]), /shard 1 has no gradient head\/b/);
});

// USE-lite has 4 blocks: depth 4 trains all of them (no frozen LoRA values to carry).
for (const [depth, shards] of [[2, 2], [4, 3], [3, 4]] as const) {
  test(`depth ${depth}, ${shards} shards: combined gradients + one optimizer step equal the full-batch step (3 steps, 1e-5)`, async () => {
    const encoder = await realEncoder('wasm');
    // Rows of very different lengths ("x" is one token), so shards see padding the full batch has.
    const texts = [...SENTENCES, 'a second batch of words for the classifier', 'tiny'];
    const batch: LabeledBatch = { tokens: encoder.tokenize(texts), labels: new Int32Array([0, 1, 2, 0, 1, 2, 2, 0]) };
    const full = new LoraClassifier(encoder, config(encoder.blocks.length));
    const start = randomFullAdapter(full, 17 + depth);
    full.dispose();

    const reference = new LoraClassifier(encoder, config(depth));
    reference.setAdapter(start);
    const runners = Array.from({ length: shards }, () => new ReplicaShardRunner(encoder));
    const parallel = new DataParallelClassifier(new LoraClassifier(encoder, config(depth)), runners);
    await parallel.setAdapter(start);
    assert.equal(parallel.shards, shards);
    try {
      for (let step = 0; step < 3; step++) {
        const want = await reference.trainStep(batch);
        const got = await parallel.trainStep(batch);
        assert.ok(Math.abs(want.loss - got.loss) < 1e-5, `step ${step}: loss ${got.loss} vs ${want.loss}`);
        const diff = maxAbsDiff(parallel.clf.getAdapter(), reference.getAdapter());
        assert.ok(diff < 1e-5, `step ${step}: trained values differ by ${diff}`);
      }
      // The steps moved the values (a test of equal-but-unchanged values would prove nothing).
      assert.ok(maxAbsDiff(reference.getAdapter(), new Map([...start].filter(([k]) => reference.trainedKeys.includes(k)))) > 1e-3);
      // Frozen blocks reached the replicas: without them a replica's loss differs.
      if (depth === encoder.blocks.length) return;
      const plain = new ReplicaShardRunner(encoder);
      await plain.configure(config(depth), new Map([...start].filter(([k]) => reference.trainedKeys.includes(k))));
      const withFrozen = await runners[0]!.gradients(reference.getAdapter(), sliceBatch(batch, 0, 2));
      const withoutFrozen = await plain.gradients(reference.getAdapter(), sliceBatch(batch, 0, 2));
      assert.ok(Math.abs(withFrozen.loss - withoutFrozen.loss) > 1e-6, 'the frozen LoRA values change the replica');
      plain.dispose();
    } finally {
      reference.dispose();
      parallel.clf.dispose();
      for (const r of runners) r.dispose();
    }
  });
}

test('a runner that fails mid-run: that step and the later ones are the full-batch steps, and the failure is told', async () => {
  const encoder = await realEncoder('wasm');
  const batch: LabeledBatch = { tokens: encoder.tokenize(SENTENCES), labels: new Int32Array([0, 1, 2, 0, 1, 2]) };
  const reference = new LoraClassifier(encoder, config(2));
  const start = reference.getAdapter();
  const good = new ReplicaShardRunner(encoder);
  let calls = 0;
  // A transport whose worker dies at its second step (as a crashed Web Worker's requests reject).
  const dying = new ReplicaShardRunner(encoder);
  const flaky: ShardRunner = {
    configure: (c, a) => dying.configure(c, a),
    gradients: (t, b) => (++calls >= 2 ? Promise.reject(new Error('worker 2 crashed')) : dying.gradients(t, b)),
    dispose: () => dying.dispose(),
  };
  const failures: string[] = [];
  const parallel = new DataParallelClassifier(new LoraClassifier(encoder, config(2)), [good, flaky], (err) => failures.push(err.message));
  await parallel.setAdapter(start);
  try {
    for (let step = 0; step < 3; step++) {
      const want = await reference.trainStep(batch);
      const got = await parallel.trainStep(batch);
      assert.ok(Math.abs(want.loss - got.loss) < 1e-5, `step ${step}: loss ${got.loss} vs ${want.loss}`);
      assert.ok(maxAbsDiff(parallel.clf.getAdapter(), reference.getAdapter()) < 1e-5, `step ${step}`);
    }
    assert.deepEqual(failures, ['worker 2 crashed']);
    assert.equal(parallel.shards, 1);
  } finally {
    reference.dispose();
    parallel.clf.dispose();
    good.dispose();
    flaky.dispose();
  }
});

test('replicas refuse values of blocks they do not train; data-parallel steps refuse dropout', async () => {
  const encoder = await realEncoder('wasm');
  const full = new LoraClassifier(encoder, config(encoder.blocks.length));
  const shallow = new LoraClassifier(encoder, config(1));
  try {
    assert.throws(() => shallow.setTrainedValues(full.getAdapter()), /which this classifier does not train \(depth 1\)/);
    const trained = shallow.getAdapter();
    trained.delete(HEAD);
    assert.throws(() => shallow.setTrainedValues(trained), /values lack block head/);
    assert.throws(() => shallow.applyGradients(trained), /gradients lack block head/);
    const withDropout = new LoraClassifier(encoder, { ...config(1), lora: { ...DEFAULT_LORA, rank: 4, dropout: 0.1 } });
    assert.throws(() => new DataParallelClassifier(withDropout, [new ReplicaShardRunner(encoder)]), /need LoRA dropout 0/);
    assert.throws(() => new DataParallelClassifier(shallow, []), /at least one shard runner/);
    withDropout.dispose();
  } finally {
    full.dispose();
    shallow.dispose();
  }
});

test('warmUp leaves no trace: no tensors kept, the runner still unconfigured, later gradients those of a fresh runner', async () => {
  const encoder = await realEncoder('wasm');
  const tf = await import('@tensorflow/tfjs-core');
  const batch: LabeledBatch = { tokens: encoder.tokenize(SENTENCES), labels: new Int32Array([0, 1, 2, 0, 1, 2]) };
  const reference = new LoraClassifier(encoder, config(2));
  const warmed = new ReplicaShardRunner(encoder);
  const fresh = new ReplicaShardRunner(encoder);
  try {
    // The first warm-up may fill the model's own transpose cache (kept on purpose); a second one adds nothing.
    await warmed.warmUp(sliceBatch(batch, 0, 2), NUM_CLASSES, 1);
    const before = tf.memory().numTensors;
    await warmed.warmUp(sliceBatch(batch, 0, 2), NUM_CLASSES, 3);
    assert.equal(tf.memory().numTensors, before);
    await assert.rejects(warmed.gradients(reference.getAdapter(), batch), /used before configure/);
    await assert.rejects(warmed.warmUp(batch, NUM_CLASSES, -1), /warm-up steps must be a non-negative integer/);
    for (const r of [warmed, fresh]) await r.configure(reference.config, reference.getAdapter());
    const a = await warmed.gradients(reference.getAdapter(), batch);
    const b = await fresh.gradients(reference.getAdapter(), batch);
    assert.equal(a.loss, b.loss);
    assert.equal(maxAbsDiff(a.gradients, b.gradients), 0);
  } finally {
    reference.dispose();
    warmed.dispose();
    fresh.dispose();
  }
});
