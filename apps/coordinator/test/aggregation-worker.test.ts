import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { AggregationError, createStrategy, seededRandom } from '@tabfleet/lora-core';
import type { AdapterState, BlockKey, ClientUpdate, NamedArray } from '@tabfleet/lora-core';
import { workerAggregator } from '../src/aggregation/aggregator';
import type { StrategySpec } from '../src/planning/planner';

function delta(seed: number, blocks: readonly BlockKey[], scale: number): AdapterState {
  const random = seededRandom(seed);
  const state: AdapterState = new Map();
  for (const key of blocks) {
    const tensors = new Map<string, NamedArray>();
    for (const name of ['qkv.A', 'qkv.B']) tensors.set(name, { shape: [40, 4], data: Float32Array.from({ length: 160 }, () => (random() - 0.3) * scale) });
    state.set(key, tensors);
  }
  return state;
}

const bits = (s: AdapterState) => [...s].map(([k, t]) => [k, [...t].map(([n, a]) => [n, a.shape, [...new Uint32Array(a.data.buffer, a.data.byteOffset, a.data.length)]])]);

test('the aggregation worker gives the in-process strategy’s bits, keeps the callers’ tensors, and reports bad input', async () => {
  const spec: StrategySpec = { name: 'hierfedlora', options: { planner: { localSteps: 5 }, robust: { rule: 'cosine-mean', clipNorm: 'auto' } } };
  const strategy = createStrategy(spec.name, spec.options);
  let computed = 0;
  const aggregator = workerAggregator(spec, { workers: 2, onCompute: () => (computed += 1) });
  try {
    const base = delta(99, ['0', '1', 'head'], 1);
    // Five uploads, one of them sign-flipped and scaled up: the rule drops or clips it.
    const updates: ClientUpdate[] = [1, 2, 3, 4, 5].map((i) => ({ deviceId: `d${i}`, numSamples: 10 * i, delta: delta(i, ['1', 'head'], i === 3 ? -8 : 1) }));
    const local = strategy.aggregateGroupWithReport!(updates, base);
    const remote = await aggregator.group(updates, base);
    assert.deepEqual(bits(remote.delta), bits(local.delta));
    assert.deepEqual(remote.robust, local.robust);
    assert.equal(remote.robust!.updates.find((u) => u.label === 'd3')!.kept, false, 'the flipped upload is left out');
    // The uploads' buffers moved to the worker; the base (the group's adapter) was copied.
    assert.equal(updates[0]!.delta.get('head')!.get('qkv.A')!.data.length, 0);
    assert.equal(base.get('head')!.get('qkv.A')!.data.length, 160);

    const groups = [
      { groupId: 'g0', numSamples: 30, delta: delta(7, ['0', '1', 'head'], 1), steps: 5 },
      { groupId: 'g1', numSamples: 50, delta: delta(8, ['1', 'head'], 1), steps: 10 },
    ];
    const expectedGlobal = bits(strategy.aggregateGlobal(groups, base));
    assert.deepEqual(bits(await aggregator.global(groups, base)), expectedGlobal);
    assert.equal(groups[0]!.delta.get('0')!.get('qkv.A')!.data.length, 0, 'the group results moved too');
    // Several groups at once spread over the two workers; each gets its own group's result.
    const batches = [10, 20, 30].map((seed) => [1, 2, 3].map((i) => ({ deviceId: `e${i}`, numSamples: i, delta: delta(seed + i, ['1', 'head'], 1) })));
    const expected = batches.map((b) => bits(strategy.aggregateGroup(b, base)));
    const got = await Promise.all(batches.map((b) => aggregator.group(b, base)));
    assert.deepEqual(got.map((g) => bits(g.delta)), expected);
    assert.equal(computed, 5);

    // An update of another shape is refused there with the strategy's own error.
    const bad: ClientUpdate = { deviceId: 'bad', numSamples: 5, delta: new Map([['1', new Map([['qkv.A', { shape: [3], data: new Float32Array(3) }]])]]) };
    const fresh: ClientUpdate = { deviceId: 'd1', numSamples: 10, delta: delta(1, ['1', 'head'], 1) };
    await assert.rejects(aggregator.group([fresh, bad], base), (e: Error) => e instanceof AggregationError && /bad/.test(e.message));
  } finally {
    await aggregator.close();
  }
  await assert.rejects(aggregator.group([], new Map()), /aggregator closed/);
});

test('the product-exact LoRA rule gets its base on the worker', async () => {
  const spec: StrategySpec = { name: 'fedlora', options: { planner: { localSteps: 5 }, aggregation: { lora: 'exact' } } };
  const strategy = createStrategy(spec.name, spec.options);
  const aggregator = workerAggregator(spec, { workers: 1 });
  try {
    const base = delta(50, ['1', 'head'], 1);
    const make = () => [1, 2, 3].map((i) => ({ deviceId: `x${i}`, numSamples: 5 * i, delta: delta(60 + i, ['1', 'head'], 0.1) }));
    const expected = bits(strategy.aggregateGroup(make(), base));
    assert.notDeepEqual(expected, bits(createStrategy('fedlora', { planner: { localSteps: 5 } }).aggregateGroup(make(), base)), 'exact differs from the separate mean');
    assert.deepEqual(bits((await aggregator.group(make(), base)).delta), expected);
  } finally {
    await aggregator.close();
  }
});
