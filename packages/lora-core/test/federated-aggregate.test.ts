import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { trainedBlockKeys } from '../src/lora/adapter-state';
import { AggregationError, applyDelta, subtractAdapters, weightedMeanByBlock } from '../src/federated/aggregate';
import { createStrategy } from '../src/federated/strategies';
import type { ClientUpdate } from '../src/federated/types';
import { state, toPlain } from './federated-fixtures';

function assertClose(actual: Record<string, Record<string, number[]>>, expected: Record<string, Record<string, number[]>>): void {
  assert.deepEqual(Object.keys(actual), Object.keys(expected), 'same blocks, same order');
  for (const [key, tensors] of Object.entries(expected)) {
    assert.deepEqual(Object.keys(actual[key]!), Object.keys(tensors), `tensors of ${key}`);
    for (const [name, values] of Object.entries(tensors)) {
      const got = actual[key]![name]!;
      assert.equal(got.length, values.length);
      values.forEach((v, i) => assert.ok(Math.abs(got[i]! - v) < 1e-6, `${key}/${name}[${i}]: ${got[i]} vs ${v}`));
    }
  }
}

const update = (deviceId: string, numSamples: number, delta: Record<string, Record<string, number[]>>): ClientUpdate => ({
  deviceId,
  numSamples,
  delta: state(delta),
});

describe('weightedMeanByBlock', () => {
  it('is the sample-weighted mean', () => {
    const mean = weightedMeanByBlock([update('a', 1, { head: { W: [1, 2] } }), update('b', 3, { head: { W: [5, 6] } })]);
    assertClose(toPlain(mean), { head: { W: [4, 5] } });
  });

  it('averages each block over exactly the updates that contain it; untouched blocks are absent', () => {
    const mean = weightedMeanByBlock([
      update('shallow', 2, { '3': { A: [8] }, head: { W: [4] } }),
      update('deep', 6, { head: { W: [0] }, '2': { A: [5] }, '3': { A: [0] } }),
    ]);
    // block 2: only "deep" trained it -> its value, not diluted; block 3 and head: 2:6 weights.
    assertClose(toPlain(mean), { '2': { A: [5] }, '3': { A: [2] }, head: { W: [1] } });
    assert.equal(mean.has('0'), false);
  });

  it('averages LoRA A and B separately (so the product of means is not the mean of products)', () => {
    const mean = weightedMeanByBlock([update('a', 1, { '0': { A: [1], B: [1] } }), update('b', 1, { '0': { A: [3], B: [3] } })]);
    assertClose(toPlain(mean), { '0': { A: [2], B: [2] } });
    const meanOfProducts = (1 * 1 + 3 * 3) / 2;
    assert.notEqual(mean.get('0')!.get('A')!.data[0]! * mean.get('0')!.get('B')!.data[0]!, meanOfProducts);
  });

  it('rejects disagreeing shapes, disagreeing tensor sets, bad weights and empty input', () => {
    assert.throws(() => weightedMeanByBlock([update('a', 1, { head: { W: [1, 2] } }), update('b', 1, { head: { W: [1, 2, 3] } })]), /shape mismatch/);
    assert.throws(() => weightedMeanByBlock([update('a', 1, { head: { W: [1] } }), update('b', 1, { head: { V: [1] } })]), AggregationError);
    assert.throws(() => weightedMeanByBlock([update('a', 1, { head: { W: [1] } }), update('b', 1, { head: { W: [1], V: [1] } })]), AggregationError);
    assert.throws(() => weightedMeanByBlock([update('a', 0, { head: { W: [1] } })]), /weight/);
    assert.throws(() => weightedMeanByBlock([update('a', NaN, { head: { W: [1] } })]), /weight/);
    assert.throws(() => weightedMeanByBlock([]), AggregationError);
  });

  it('does not depend on the order updates arrive in', () => {
    const us = [update('a', 1, { '1': { A: [1] }, head: { W: [2] } }), update('b', 2, { head: { W: [5] } }), update('c', 3, { '1': { A: [7] }, head: { W: [-1] } })];
    assert.deepEqual(toPlain(weightedMeanByBlock(us)), toPlain(weightedMeanByBlock([...us].reverse())));
  });
});

describe('applyDelta / subtractAdapters', () => {
  it('adds the delta where present, copies other blocks, and leaves the base untouched', () => {
    const base = state({ '0': { A: [1, 1] }, '1': { A: [2, 2] }, head: { W: [3] } });
    const out = applyDelta(base, state({ '1': { A: [0.5, -1] }, head: { W: [1] } }));
    assertClose(toPlain(out), { '0': { A: [1, 1] }, '1': { A: [2.5, 1] }, head: { W: [4] } });
    assertClose(toPlain(base), { '0': { A: [1, 1] }, '1': { A: [2, 2] }, head: { W: [3] } });
    assert.notEqual(out.get('0')!.get('A')!.data, base.get('0')!.get('A')!.data);
  });

  it('shareUntouched: blocks absent from the delta are the base\'s own maps, touched blocks are new arrays', () => {
    const base = state({ '0': { A: [1, 1] }, '1': { A: [2, 2] }, head: { W: [3] } });
    const out = applyDelta(base, state({ head: { W: [1] } }), { shareUntouched: true });
    assertClose(toPlain(out), { '0': { A: [1, 1] }, '1': { A: [2, 2] }, head: { W: [4] } });
    assert.equal(out.get('0'), base.get('0'));
    assert.equal(out.get('1'), base.get('1'));
    assert.notEqual(out.get('head')!.get('W')!.data, base.get('head')!.get('W')!.data);
    assertClose(toPlain(base), { '0': { A: [1, 1] }, '1': { A: [2, 2] }, head: { W: [3] } });
    // Without it every block is a copy.
    const copied = applyDelta(base, state({ head: { W: [1] } }));
    assert.notEqual(copied.get('0'), base.get('0'));
  });

  it('rejects deltas that do not fit the base', () => {
    const base = state({ head: { W: [3] } });
    assert.throws(() => applyDelta(base, state({ '0': { A: [1] } })), /lacks/);
    assert.throws(() => applyDelta(base, state({ head: { V: [1] } })), /lacks/);
    assert.throws(() => applyDelta(base, state({ head: { W: [1, 2] } })), /shape mismatch/);
  });

  it('subtractAdapters restricted to the trained blocks recovers the sum of the intra-group deltas', () => {
    const global = state({ '0': { A: [1] }, '1': { A: [1] }, '2': { A: [1] }, '3': { A: [1] }, head: { W: [0] } });
    const d1 = state({ '2': { A: [0.5] }, '3': { A: [1] }, head: { W: [2] } });
    const d2 = state({ '2': { A: [0.25] }, '3': { A: [-3] }, head: { W: [1] } });
    const groupAdapter = applyDelta(applyDelta(global, d1), d2);
    const delta = subtractAdapters(groupAdapter, global, trainedBlockKeys(4, 2));
    assertClose(toPlain(delta), { '2': { A: [0.75] }, '3': { A: [-2] }, head: { W: [3] } });
  });
});

describe('hierarchical aggregation (hierfedlora strategy), checked by hand', () => {
  it('intra-group means, then block-by-block global mean over the groups that trained each block', () => {
    const strategy = createStrategy('hierfedlora');
    // Group X at depth 2 of 4 (blocks 2, 3, head); members weigh 10 and 30 samples.
    const deltaX = strategy.aggregateGroup([
      update('x1', 10, { '2': { A: [1, 0], B: [2] }, '3': { A: [4, 4], B: [0] }, head: { A: [1, 1], B: [1] } }),
      update('x2', 30, { '2': { A: [5, 4], B: [-2] }, '3': { A: [0, 8], B: [4] }, head: { A: [3, 3], B: [-1] } }),
    ]);
    assertClose(toPlain(deltaX), { '2': { A: [4, 3], B: [-1] }, '3': { A: [1, 7], B: [3] }, head: { A: [2.5, 2.5], B: [-0.5] } });
    // Group Y at depth 1 (block 3, head); members weigh 20 and 60.
    const deltaY = strategy.aggregateGroup([
      update('y1', 20, { '3': { A: [2, 2], B: [2] }, head: { A: [-1, 1], B: [3] } }),
      update('y2', 60, { '3': { A: [0, 0], B: [0] }, head: { A: [1, 1], B: [1] } }),
    ]);
    assertClose(toPlain(deltaY), { '3': { A: [0.5, 0.5], B: [0.5] }, head: { A: [0.5, 1], B: [1.5] } });

    // Global: X weighs 40, Y 80. Block 2 only X trained: X's value, undiluted.
    const global = strategy.aggregateGlobal([
      { groupId: 'X', numSamples: 40, delta: deltaX },
      { groupId: 'Y', numSamples: 80, delta: deltaY },
    ]);
    assertClose(toPlain(global), {
      '2': { A: [4, 3], B: [-1] },
      '3': { A: [2 / 3, 8 / 3], B: [4 / 3] },
      head: { A: [7 / 6, 1.5], B: [5 / 6] },
    });
    assert.equal(global.has('0') || global.has('1'), false, 'blocks no group trained are absent');

    const before = state({ '0': { A: [1, 1], B: [1] }, '1': { A: [1, 1], B: [1] }, '2': { A: [1, 1], B: [1] }, '3': { A: [1, 1], B: [1] }, head: { A: [0, 0], B: [0] } });
    const after = toPlain(applyDelta(before, global));
    assert.deepEqual(after['0'], { A: [1, 1], B: [1] });
    assert.deepEqual(after['1'], { A: [1, 1], B: [1] });
    assertClose({ '2': after['2']! }, { '2': { A: [5, 4], B: [0] } });
  });

  it('with one intra-round and full depth it equals flat FedAvg over all devices (FedLoRA)', () => {
    const updates = [
      update('a', 10, { '0': { A: [1] }, head: { W: [2] } }),
      update('b', 30, { '0': { A: [5] }, head: { W: [-2] } }),
      update('c', 20, { '0': { A: [-4] }, head: { W: [7] } }),
    ];
    const hier = createStrategy('hierfedlora');
    const g1 = hier.aggregateGroup(updates.slice(0, 2));
    const g2 = hier.aggregateGroup(updates.slice(2));
    const twoLevel = hier.aggregateGlobal([
      { groupId: 'g1', numSamples: 40, delta: g1 },
      { groupId: 'g2', numSamples: 20, delta: g2 },
    ]);
    const flat = createStrategy('fedlora').aggregateGroup(updates);
    assertClose(toPlain(twoLevel), toPlain(flat));
  });
});
