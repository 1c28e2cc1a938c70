import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { groupDivergences, nearIidGroups, randomGroups, resolveGroupCount, speedBandsOf } from '../src/federated/grouping';
import type { DeviceGroup } from '../src/federated/grouping';
import { jensenShannon } from '../src/federated/label-distribution';
import { seededRandom, shuffled } from '../src/federated/random';
import type { DeviceInfo } from '../src/federated/types';
import { syntheticFleet } from './federated-fixtures';

function assertPartition(devices: readonly DeviceInfo[], groups: readonly DeviceGroup[]): void {
  const all = groups.flatMap((g) => g.deviceIds).sort();
  assert.deepEqual(all, devices.map((d) => d.id).sort(), 'every device in exactly one group');
  assert.equal(new Set(groups.map((g) => g.groupId)).size, groups.length);
}

describe('Jensen–Shannon divergence', () => {
  it('is 0 for equal distributions, 1 bit for disjoint ones, symmetric and finite with zeros', () => {
    assert.equal(jensenShannon([0.5, 0.5], [0.5, 0.5]), 0);
    assert.ok(Math.abs(jensenShannon([1, 0], [0, 1]) - 1) < 1e-12);
    const p = [0.7, 0.3, 0];
    const q = [0.2, 0.2, 0.6];
    assert.equal(jensenShannon(p, q), jensenShannon(q, p));
    assert.ok(jensenShannon(p, q) > 0 && jensenShannon(p, q) < 1);
  });
});

describe('near-IID grouping', () => {
  it('gives much lower max divergence than random groups on a Dirichlet(0.1) split', () => {
    for (const seed of [1, 2, 3, 4]) {
      const devices = syntheticFleet({ numDevices: 40, numClasses: 10, alpha: 0.1, numBlocks: 8, seed, tiers: [1, 2, 4] });
      const options = { numGroups: 8, minGroupSize: 4, maxGroupSize: 6 };
      const near = Math.max(...groupDivergences(devices, nearIidGroups(devices, { ...options, seed })));
      const random = [1, 2, 3, 4, 5].map((s) => Math.max(...groupDivergences(devices, randomGroups(devices, { ...options, seed: s }))));
      const meanRandom = random.reduce((a, b) => a + b, 0) / random.length;
      assert.ok(near <= 0.45 * Math.min(...random), `seed ${seed}: near-IID max JS ${near}, best random ${Math.min(...random)}`);
      assert.ok(meanRandom / near >= 3, `seed ${seed}: random/near-IID = ${meanRandom / near}`);
    }
  });

  it('respects group count and size bounds', () => {
    const devices = syntheticFleet({ numDevices: 23, numClasses: 6, alpha: 0.1, numBlocks: 4, seed: 9 });
    for (const options of [
      { numGroups: 4, minGroupSize: 5, maxGroupSize: 6 },
      { numGroups: 3, minGroupSize: 3, maxGroupSize: 12 },
      { targetGroupSize: 4, minGroupSize: 2, maxGroupSize: 7 },
      { minGroupSize: 11 },
    ]) {
      for (const group of [nearIidGroups, randomGroups]) {
        const groups = group(devices, { ...options, seed: 3 });
        assertPartition(devices, groups);
        assert.equal(groups.length, resolveGroupCount(devices.length, options));
        for (const g of groups) {
          assert.ok(g.deviceIds.length >= (options.minGroupSize ?? 1), `${JSON.stringify(options)}: size ${g.deviceIds.length}`);
          assert.ok(g.deviceIds.length <= (options.maxGroupSize ?? Infinity), `${JSON.stringify(options)}: size ${g.deviceIds.length}`);
        }
      }
    }
    assert.equal(resolveGroupCount(23, { minGroupSize: 11 }), 2);
    assert.equal(resolveGroupCount(23, { targetGroupSize: 4, minGroupSize: 2, maxGroupSize: 7 }), 6);
  });

  it('rejects impossible bounds', () => {
    assert.throws(() => resolveGroupCount(10, { minGroupSize: 4, maxGroupSize: 4 }), /no group count/);
    assert.throws(() => resolveGroupCount(10, { numGroups: 6, minGroupSize: 2 }), /impossible/);
    assert.throws(() => resolveGroupCount(0), /zero devices/);
  });

  it('is deterministic by seed and independent of the input order', () => {
    const devices = syntheticFleet({ numDevices: 30, numClasses: 10, alpha: 0.1, numBlocks: 8, seed: 5 });
    const options = { numGroups: 6, seed: 42 };
    const a = nearIidGroups(devices, options);
    assert.deepEqual(nearIidGroups(devices, options), a);
    assert.deepEqual(nearIidGroups(shuffled(devices, seededRandom(1)), options), a);
    assert.deepEqual(randomGroups(shuffled(devices, seededRandom(2)), options), randomGroups(devices, options));
    assert.notDeepEqual(randomGroups(devices, { ...options, seed: 43 }), randomGroups(devices, options));
  });

  it('uses capability similarity to break ties: identical label mixes end up grouped by speed', () => {
    const device = (id: string, ms: number): DeviceInfo => ({
      id,
      numSamples: 40,
      labelHistogram: [10, 10, 10, 10],
      profile: { msPerStep: [ms, 2 * ms], uploadBytesPerSec: 1e6, memoryBytes: 1e9 },
    });
    const devices = [
      device('a', 10), device('b', 100), device('c', 11), device('d', 95),
      device('e', 9), device('f', 105), device('g', 12), device('h', 98),
    ];
    for (const seed of [1, 2, 3]) {
      const groups = nearIidGroups(devices, { numGroups: 2, minGroupSize: 4, maxGroupSize: 4, seed });
      assert.deepEqual(groups.map((g) => g.deviceIds), [['a', 'c', 'e', 'g'], ['b', 'd', 'f', 'h']]);
    }
  });

  it('minBandSize: speed runs smaller than it merge into the closer neighbour, and groups stay inside bands', () => {
    // 4 devices at 1×, 4 at 2×, 12 at 4×: with the 1.6 ratio bound, three speed runs of 4 / 4 / 12.
    const fleet = syntheticFleet({ numDevices: 20, numClasses: 6, alpha: 0.1, numBlocks: 4, seed: 5, tiers: [1, 2, 4, 4, 4] });
    const tier = (id: string) => [1, 2, 4, 4, 4][Number(id.slice(4)) % 5]!;
    const opts = { targetGroupSize: 2, maxSpeedRatio: 1.6, seed: 5 };
    const tiersOf = (bands: string[][]) => bands.map((b) => [...new Set(b.map(tier))].sort((x, y) => x - y));
    assert.deepEqual(tiersOf(speedBandsOf(fleet, opts)), [[1], [2], [4]]);
    assert.deepEqual(speedBandsOf(fleet, opts).map((b) => b.length), [4, 4, 12]);
    // 8: the 1× run (only a right neighbour) joins the 2× run; the 4× run is big enough.
    assert.deepEqual(tiersOf(speedBandsOf(fleet, { ...opts, minBandSize: 8 })), [[1, 2], [4]]);
    // 13: the 8 fast devices are still too few, and merge into the slow band: one band.
    assert.deepEqual(speedBandsOf(fleet, { ...opts, minBandSize: 13 }).map((b) => b.length), [20]);
    // Below one group's worth it changes nothing.
    assert.deepEqual(speedBandsOf(fleet, { ...opts, minBandSize: 2 }), speedBandsOf(fleet, opts));
    for (const minBandSize of [undefined, 8]) {
      const o = { ...opts, ...(minBandSize === undefined ? {} : { minBandSize }) };
      const bandOf = new Map(speedBandsOf(fleet, o).flatMap((b, i) => b.map((id) => [id, i] as const)));
      const groups = nearIidGroups(fleet, o);
      assertPartition(fleet, groups);
      for (const g of groups) assert.equal(new Set(g.deviceIds.map((id) => bandOf.get(id))).size, 1, `group ${g.groupId} spans bands`);
    }
    assert.throws(() => nearIidGroups(fleet, { ...opts, minBandSize: 0 }), /minBandSize must be a positive integer/);
    assert.throws(() => nearIidGroups(fleet, { ...opts, minBandSize: 2.5 }), /minBandSize must be a positive integer/);
    assert.throws(() => nearIidGroups(fleet, { ...opts, minBandSize: 200 }), /minBandSize \(200\) must be ≤ maxBandSize/);
  });
});
