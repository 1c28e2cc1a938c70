/**
 * The frozen-prefix cache changes no number: training jobs and evaluations with the cache give
 * bit-identical results to the same work without it, on the real model — including when the
 * cached rows are re-batched with other rows (other padding) and when the frozen blocks change.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { loadWordNetGlosses } from '../node/wordnet';
import { seededSplit } from '../src/data/dataset';
import { DirichletPartitioner, labelHistogram } from '../src/data/partition';
import { createStrategy } from '../src/federated/strategies';
import { DEFAULT_LORA } from '../src/lora/config';
import { initialAdapter } from '../src/lora/init';
import { withMaxTokens } from '../src/lora/max-tokens';
import { encodeAdapter } from '../src/protocol/adapter-codec';
import { blockKey, trainedBlockKeys, type AdapterState } from '../src/lora/adapter-state';
import { LocalTrainer, PrefixCache, bindMembers, buildVirtualFleet, lengthSortedSubset, prefixFingerprints, simulate, type SimRoundRecord } from '../src/sim';
import { realEncoder } from './helpers';

const sameAdapter = (a: AdapterState, b: AdapterState) => {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [key, tensors] of a) for (const [name, t] of tensors) assert.deepEqual(b.get(key)!.get(name)!.data, t.data, `${key}/${name}`);
};

/** Every LoRA B scaled up from its zero init so the frozen blocks' LoRA term is not zero. */
const perturbed = (a: AdapterState, x: number): AdapterState =>
  new Map([...a].map(([k, ts]) => [k, new Map([...ts].map(([n, t]) => [n, { shape: t.shape, data: t.data.map((v, i) => (n.endsWith('.B') ? Math.sin(i * x) * 0.05 : v)) }]))]));

describe('frozen-prefix cache (real model)', async () => {
  const encoder = withMaxTokens(await realEncoder('wasm'), 16);
  const data = loadWordNetGlosses({ topK: 4, maxPerClass: 30, seed: 1 });
  const { train, test } = seededSplit(data, 0.2, 1);
  const numClasses = data.classNames.length;
  const lora = { ...DEFAULT_LORA, rank: 2, alpha: 4 };
  const make = (prefixCacheBytes: number) =>
    new LocalTrainer({
      encoder,
      train,
      numClasses,
      lora,
      learningRate: 3e-3,
      headLearningRate: 5e-2,
      batchSize: 4,
      seed: 1,
      evaluation: lengthSortedSubset(encoder, test, 24, 1),
      evaluationBatchSize: 8,
      prefixCacheBytes,
    });
  const plain = make(0);
  const cached = make(64e6);
  after(() => {
    plain.dispose();
    cached.dispose();
  });
  const numBlocks = encoder.blocks.length;
  const init = perturbed(initialAdapter(encoder.blocks, encoder.featureDim, numClasses, lora, 1), 0.7);

  it('training over several epochs (rows re-batched, so served from other batches) is bit-identical', async () => {
    const rows = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const depth of [1, 2, numBlocks - 1]) {
      for (const firstStep of [0, 3, 6]) {
        const job = { deviceId: 'dev-000', rows, depth, localSteps: 3, firstStep, adapter: init };
        const [a, b] = [await plain.train(job), await cached.train(job)];
        sameAdapter(a.delta, b.delta);
        assert.equal(a.trainLoss, b.trainLoss);
      }
    }
    assert.ok(cached.prefixCacheStats.hits > 0, JSON.stringify(cached.prefixCacheStats));
    // Other frozen values: the old entries must not be used.
    const other = perturbed(init, 1.3);
    const hits = cached.prefixCacheStats.hits;
    const job = { deviceId: 'dev-000', rows, depth: 1, localSteps: 1, firstStep: 0, adapter: other };
    sameAdapter((await plain.train(job)).delta, (await cached.train(job)).delta);
    assert.equal(cached.prefixCacheStats.hits, hits, 'a changed prefix is a miss');
  });

  it('evaluation through a cached prefix equals the full-depth evaluation', async () => {
    // Two adapters that differ only in the top block: the second evaluation reuses the prefix.
    const top = blockKey(numBlocks - 1);
    const second = new Map(init);
    second.set(top, perturbed(new Map([[top, init.get(top)!]]), 2.1).get(top)!);
    for (const adapter of [init, second, init, second]) {
      assert.deepEqual(await cached.evaluate(adapter), await plain.evaluate(adapter));
      assert.deepEqual(await cached.evaluate(adapter, 8, 20), await plain.evaluate(adapter, 8, 20));
    }
    assert.ok(cached.prefixCacheStats.hits > 0);
  });

  it('a short simulation gives identical records with and without the cache', async () => {
    const parts = new DirichletPartitioner({ numPartitions: 4, alpha: 0.5, seed: 2, minPerPartition: 4 }).partition(train.labels, numClasses);
    const fleet = buildVirtualFleet({ labelHistograms: parts.map((p) => labelHistogram(train.labels, p, numClasses)), baseMsPerStep: [100, 140, 180, 220], seed: 2 });
    const devices = fleet.map((d) => d.info);
    const adapterBytes = Array.from({ length: numBlocks }, (_, d) => {
      const keys = trainedBlockKeys(numBlocks, d + 1);
      return encodeAdapter(new Map([...init].filter(([k]) => keys.includes(k)))).byteLength;
    });
    const run = async (trainer: LocalTrainer) => {
      const records: SimRoundRecord[] = [];
      for await (const r of simulate({
        strategy: createStrategy('hierfedlora', { planner: { localSteps: 2 }, grouping: { targetGroupSize: 2 } }),
        devices,
        context: { numBlocks, adapterBytes, seed: 2 },
        initialAdapter: init,
        trainMember: bindMembers(trainer, new Map(devices.map((d, i) => [d.id, parts[i]!]))),
        evaluate: (adapter) => trainer.evaluate(adapter),
        maxRounds: 3,
      })) {
        records.push(r);
      }
      return records.map((r) => ({ round: r.round, accuracy: r.accuracy, loss: r.loss, trainLoss: r.trainLoss }));
    };
    assert.deepEqual(await run(cached), await run(plain));
  });

  it('the LRU keeps within its byte budget and fingerprints follow the blocks', () => {
    // One row = 1 real position × width 4 = 16 bytes; a budget of 40 bytes holds two rows.
    const cache = new PrefixCache(40);
    const tokens = { ids: new Int32Array(2), lengths: Int32Array.from([1]), batch: 1, seqLen: 2 };
    const compute = (v: number) => () => tf.tensor3d([v, v, v, v, 0, 0, 0, 0], [1, 2, 4]);
    for (const [row, v] of [['a', 1], ['b', 2], ['a', 9], ['c', 3]] as const) cache.batch('L', [row], tokens, compute(v)).dispose();
    assert.deepEqual(cache.stats, { hits: 1, partial: 0, misses: 3, bytes: 32, entries: 2 }, 'a was a hit (kept fresh), b evicted');
    const a = cache.batch('L', ['a'], tokens, compute(7));
    assert.deepEqual([...a.dataSync()], [1, 1, 1, 1, 0, 0, 0, 0], 'served from the cache, padding zero');
    a.dispose();
    // A batch of a cached row and a new one: the new row alone is computed (a 1-row sub-batch).
    const two = { ids: new Int32Array(4), lengths: Int32Array.from([1, 1]), batch: 2, seqLen: 2 };
    let computedRows = 0;
    const mixed = cache.batch('L', ['a', 'd'], two, (t) => {
      computedRows = t.batch;
      return tf.tensor3d([5, 5, 5, 5, 0, 0, 0, 0], [1, 2, 4]);
    });
    assert.equal(computedRows, 1);
    assert.deepEqual([...mixed.dataSync()], [1, 1, 1, 1, 0, 0, 0, 0, 5, 5, 5, 5, 0, 0, 0, 0]);
    mixed.dispose();
    assert.equal(cache.stats.partial, 1);
    assert.throws(() => new PrefixCache(-1), /non-negative/);
    const fps = prefixFingerprints(init, numBlocks);
    assert.equal(fps.length, numBlocks - 1);
    const changed = new Map(init);
    changed.set('1', perturbed(new Map([['1', init.get('1')!]]), 3).get('1')!);
    const fps2 = prefixFingerprints(changed, numBlocks);
    assert.equal(fps2[0], fps[0], 'block 0 unchanged');
    assert.notEqual(fps2[1], fps[1], 'block 1 changed');
  });
});
