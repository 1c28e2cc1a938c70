import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWordNetGlosses } from '../node/wordnet';
import { seededSplit } from '../src/data/dataset';
import { DirichletPartitioner, labelHistogram } from '../src/data/partition';
import { createStrategy } from '../src/federated/strategies';
import { DEFAULT_LORA } from '../src/lora/config';
import { initialAdapter } from '../src/lora/init';
import { withMaxTokens } from '../src/lora/max-tokens';
import { encodeAdapter } from '../src/protocol/adapter-codec';
import { trainedBlockKeys } from '../src/lora/adapter-state';
import { LocalTrainer, bindMembers, buildVirtualFleet, deviceBatchRows, lengthSortedSubset, simulate, type SimRoundRecord } from '../src/sim';
import { realEncoder } from './helpers';

describe('simulation with the real model (tiny)', async () => {
  const encoder = withMaxTokens(await realEncoder('wasm'), 16);
  const data = loadWordNetGlosses({ topK: 4, maxPerClass: 30, seed: 1 });
  const { train, test } = seededSplit(data, 0.2, 1);
  const numClasses = data.classNames.length;
  const lora = { ...DEFAULT_LORA, rank: 2, alpha: 4 };
  const trainer = new LocalTrainer({
    encoder,
    train,
    numClasses,
    lora,
    learningRate: 3e-3,
    headLearningRate: 5e-2,
    batchSize: 4,
    seed: 1,
    evaluation: lengthSortedSubset(encoder, test, 16, 1),
    evaluationBatchSize: 16,
  });
  after(() => trainer.dispose());
  const numBlocks = encoder.blocks.length;
  const init = initialAdapter(encoder.blocks, encoder.featureDim, numClasses, lora, 1);

  it('a training job is a pure function of the job (what lets a worker pool match one process)', async () => {
    const rows = Int32Array.from([0, 1, 2, 3, 4, 5, 6]);
    const job = { deviceId: 'dev-000', rows, depth: 1, localSteps: 1, firstStep: 1, adapter: init };
    const a = await trainer.train(job);
    await trainer.train({ ...job, deviceId: 'dev-001', depth: 2 });
    const b = await trainer.train(job);
    assert.deepEqual([...a.delta.keys()], trainedBlockKeys(numBlocks, 1));
    for (const [key, tensors] of a.delta) for (const [name, t] of tensors) assert.deepEqual(b.delta.get(key)!.get(name)!.data, t.data);
    assert.ok(Number.isFinite(a.trainLoss));
    // Batches walk through the device's rows one epoch at a time: steps 0 and 1 cover all 7 rows once.
    const epoch = [...deviceBatchRows(rows, 4, 1, 'dev-000', 0), ...deviceBatchRows(rows, 4, 1, 'dev-000', 1)];
    assert.deepEqual([...epoch].sort((x, y) => x - y), [...rows]);
    assert.notDeepEqual(deviceBatchRows(rows, 4, 1, 'dev-000', 2), deviceBatchRows(rows, 4, 1, 'dev-001', 2));
  });

  it('measures a step-time table per depth: positive and non-decreasing', async () => {
    const table = await trainer.measureMsPerStep(Int32Array.from({ length: 20 }, (_, i) => i), 1, 0);
    assert.equal(table.length, numBlocks);
    table.forEach((ms, d) => assert.ok(ms > 0 && (d === 0 || ms >= table[d - 1]!), `[${table.join(', ')}]`));
  });

  it('runs rounds on 3 devices of different speeds end to end and reports finite accuracies', async () => {
    const parts = new DirichletPartitioner({ numPartitions: 3, alpha: 0.5, seed: 1, minPerPartition: 4 }).partition(train.labels, numClasses);
    const fleet = buildVirtualFleet({
      labelHistograms: parts.map((p) => labelHistogram(train.labels, p, numClasses)),
      baseMsPerStep: [100, 140, 180, 220],
      classes: [
        // Fast devices are the majority, so the median-group budget is a fast device's full-depth
        // round and the slow one must train shallower to keep up.
        { name: 'fast', stepTimeRatio: 1, uploadBytesPerSec: 1e6, memoryBytes: 1e9, share: 2 },
        { name: 'slow', stepTimeRatio: 4, uploadBytesPerSec: 2.5e5, memoryBytes: 1e9, share: 1 },
      ],
      seed: 1,
    });
    const devices = fleet.map((d) => d.info);
    const adapterBytes = Array.from({ length: numBlocks }, (_, d) => {
      const keys = trainedBlockKeys(numBlocks, d + 1);
      return encodeAdapter(new Map([...init].filter(([k]) => keys.includes(k)))).byteLength;
    });
    const records: SimRoundRecord[] = [];
    for await (const r of simulate({
      strategy: createStrategy('depth-only', { planner: { localSteps: 1 } }),
      devices,
      context: { numBlocks, adapterBytes, seed: 1 },
      initialAdapter: init,
      trainMember: bindMembers(trainer, new Map(devices.map((d, i) => [d.id, parts[i]!]))),
      evaluate: (adapter) => trainer.evaluate(adapter),
      maxRounds: 2,
    })) {
      records.push(r);
    }
    assert.deepEqual(records.map((r) => r.round), [0, 1, 2]);
    for (const r of records) {
      assert.ok(r.accuracy >= 0 && r.accuracy <= 1 && Number.isFinite(r.loss), `round ${r.round}: ${r.accuracy} ${r.loss}`);
    }
    const r1 = records[1]!;
    assert.ok(new Set(r1.groups.map((g) => g.depth)).size > 1, 'fast and slow devices train different depths');
    // Every device uploaded the encoded size of its depth once per round.
    const expected = r1.groups.reduce((s, g) => s + adapterBytes[g.depth - 1]!, 0);
    assert.equal(r1.bytesUploaded, expected);
    assert.equal(records[2]!.bytesUploaded, 2 * expected);
    assert.ok(Number.isFinite(r1.trainLoss));
    assert.notDeepEqual(records[2]!.loss, records[0]!.loss, 'training changed the global adapter');
  });
});
