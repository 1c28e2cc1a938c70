import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MAX_SPEED_RATIO, groupDivergences, groupSpeedRatios } from '../src/federated/grouping';
import { validateRoundPlan } from '../src/federated/plan-validation';
import { maxFeasibleDepth } from '../src/federated/planner';
import { STRATEGY_NAMES, isStrategyName } from '../src/federated/strategy';
import { createStrategy } from '../src/federated/strategies';
import type { PlanContext, RoundPlan } from '../src/federated/types';
import { planContext, syntheticFleet } from './federated-fixtures';

const numBlocks = 8;
const memoryBytesByDepth = Array.from({ length: numBlocks }, (_, d) => 100e6 + 50e6 * (d + 1));
const fleets = {
  plain: { devices: syntheticFleet({ numDevices: 30, numClasses: 10, alpha: 0.1, numBlocks, seed: 3, tiers: [1, 2, 4] }), ctx: planContext(numBlocks) },
  memoryBound: {
    devices: syntheticFleet({ numDevices: 30, numClasses: 10, alpha: 0.1, numBlocks, seed: 4, tiers: [1, 1.5, 3], memoryBytes: (i) => (i % 7 === 0 ? 420e6 : 8e9) }),
    ctx: planContext(numBlocks, { memoryBytesByDepth }) as PlanContext,
  },
};

describe('strategies', () => {
  it('registry knows exactly the seven names and rejects others', () => {
    assert.deepEqual([...STRATEGY_NAMES].sort(), ['depth-only', 'fedlora', 'fedlora-deadline', 'fedlora-depth1', 'grouping-only', 'hierfedlora', 'random-groups']);
    for (const name of STRATEGY_NAMES) assert.equal(createStrategy(name).name, name);
    assert.equal(isStrategyName('fedavg'), false);
    assert.throws(() => createStrategy('fedavg' as never), /unknown strategy/);
  });

  for (const [fleetName, { devices, ctx }] of Object.entries(fleets)) {
    for (const name of STRATEGY_NAMES) {
      it(`${name} on the ${fleetName} fleet: valid, deterministic, memory-safe plans`, () => {
        const plan = createStrategy(name, { grouping: { targetGroupSize: 5 } }).plan(devices, ctx);
        assert.deepEqual(validateRoundPlan(plan, devices, numBlocks), []);
        assert.deepEqual(createStrategy(name, { grouping: { targetGroupSize: 5 } }).plan([...devices].reverse(), ctx), plan);
        for (const g of plan.groups) {
          assert.ok(g.depth >= 1 && g.depth <= numBlocks);
          for (const id of g.deviceIds) {
            const d = devices.find((x) => x.id === id)!;
            assert.ok(g.depth <= maxFeasibleDepth(d.profile, ctx), `${name}: ${id} at depth ${g.depth} exceeds its memory`);
          }
          assert.ok(plan.predictedGroupMs![g.groupId]! > 0);
        }
      });
    }
  }

  const { devices, ctx } = fleets.plain;
  const plans = Object.fromEntries(STRATEGY_NAMES.map((n) => [n, createStrategy(n).plan(devices, ctx)])) as Record<string, RoundPlan>;

  it('fedlora: one group, full depth, one aggregation per round; common depth under memory limits', () => {
    const { groups } = plans['fedlora']!;
    assert.equal(groups.length, 1);
    assert.deepEqual([groups[0]!.depth, groups[0]!.intraRounds, groups[0]!.deviceIds.length], [numBlocks, 1, devices.length]);
    // Every 7th device holds only depth 6 (420 MB holds 100 + 50·6 MB): the others keep full
    // depth, and the weak ones train at depth 6 in a group of their own.
    const bound = createStrategy('fedlora').plan(fleets.memoryBound.devices, fleets.memoryBound.ctx);
    const weak = fleets.memoryBound.devices.filter((_, i) => i % 7 === 0).map((d) => d.id).sort();
    assert.deepEqual(
      bound.groups.map((g) => [g.groupId, g.depth, g.intraRounds, g.deviceIds.length]),
      [['all', numBlocks, 1, 30 - weak.length], ['depth-6', 6, 1, weak.length]],
    );
    assert.deepEqual(bound.groups[1]!.deviceIds, weak);
  });

  it('grouping-only: the same near-IID groups as hierfedlora, uniform full depth and uniform τ', () => {
    const g = plans['grouping-only']!.groups;
    assert.deepEqual(g.map((x) => x.deviceIds), plans['hierfedlora']!.groups.map((x) => x.deviceIds));
    assert.ok(g.every((x) => x.depth === numBlocks && x.intraRounds === 2));
    assert.ok(createStrategy('grouping-only', { intraRounds: 3 }).plan(devices, ctx).groups.every((x) => x.intraRounds === 3));
  });

  it('depth-only: one device per group, τ = 1, slower devices never deeper than faster ones', () => {
    const g = plans['depth-only']!.groups;
    assert.equal(g.length, devices.length);
    assert.ok(g.every((x) => x.deviceIds.length === 1 && x.intraRounds === 1));
    const speed = (id: string) => devices.find((d) => d.id === id)!.profile.msPerStep[0]!;
    for (const a of g) for (const b of g) if (speed(a.deviceIds[0]!) < speed(b.deviceIds[0]!)) assert.ok(a.depth >= b.depth);
    assert.ok(new Set(g.map((x) => x.depth)).size > 1, 'depths differ across tiers');
  });

  it('hierfedlora groups are closer to IID than random-groups, with planned depths that differ from full', () => {
    const hier = plans['hierfedlora']!;
    const random = plans['random-groups']!;
    assert.equal(hier.groups.length, random.groups.length);
    const maxJs = (p: RoundPlan) => Math.max(...groupDivergences(devices, p.groups));
    // Speed-coherent groups trade some label divergence for speed coherence: closer to IID than
    // random still, every group within the speed bound; label-only grouping halves random's.
    assert.ok(maxJs(hier) < maxJs(random), `${maxJs(hier)} vs ${maxJs(random)}`);
    assert.ok(Math.max(...groupSpeedRatios(devices, hier.groups)) <= DEFAULT_MAX_SPEED_RATIO + 1e-9);
    const labelOnly = createStrategy('hierfedlora', { grouping: { maxSpeedRatio: Infinity } }).plan(devices, ctx);
    assert.ok(maxJs(labelOnly) < 0.5 * maxJs(random), `${maxJs(labelOnly)} vs ${maxJs(random)}`);
    const fedloraMs = plans['fedlora']!.predictedGroupMs!['all']!;
    assert.ok(Math.max(...Object.values(hier.predictedGroupMs!)) < fedloraMs, 'hierfedlora rounds are shorter than fedlora rounds');
  });

  it('random-groups depends on the seed', () => {
    const other = createStrategy('random-groups').plan(devices, { ...ctx, seed: 99 });
    assert.notDeepEqual(other.groups.map((g) => g.deviceIds), plans['random-groups']!.groups.map((g) => g.deviceIds));
  });
});

describe('validateRoundPlan', () => {
  it('reports duplicates, missing and unknown devices, and out-of-range knobs', () => {
    const { devices } = fleets.plain;
    const ids = devices.map((d) => d.id);
    const plan: RoundPlan = {
      groups: [
        { groupId: 'a', deviceIds: [...ids.slice(0, 10), 'ghost'], depth: 0, intraRounds: 1, localSteps: 5 },
        { groupId: 'a', deviceIds: ids.slice(9, 29), depth: 9, intraRounds: 0.5, localSteps: 0 },
      ],
    };
    const problems = validateRoundPlan(plan, devices, numBlocks).join('\n');
    for (const expected of [/duplicate group id a/, /unknown device ghost/, /depth 0 outside/, /depth 9 outside/, /intraRounds 0.5/, /localSteps 0/, /dev-009 is in groups a and a/, /dev-029 is in no group/]) {
      assert.match(problems, expected);
    }
  });
});
