import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DeviceGroup } from '../src/federated/grouping';
import { PlanningError, intraRoundMs, maxFeasibleDepth, planGroups } from '../src/federated/planner';
import { shouldReplan } from '../src/federated/replan';
import type { DeviceInfo, GroupPlan, PlanContext } from '../src/federated/types';
import { planContext, syntheticFleet } from './federated-fixtures';

const numBlocks = 8;
const tiers = [1, 1.3, 1.7, 2.2, 3, 4];

/** 24 devices, 6 speed tiers; group t holds the 4 devices of tier t (tier 0 fastest). */
function tieredGroups(memoryBytes?: (i: number) => number): { devices: DeviceInfo[]; groups: DeviceGroup[] } {
  const devices = syntheticFleet({ numDevices: 24, numClasses: 10, alpha: 0.5, numBlocks, seed: 1, tiers, memoryBytes });
  const groups = tiers.map((_, t) => ({
    groupId: `tier${t}`,
    deviceIds: devices.filter((_, i) => i % tiers.length === t).map((d) => d.id),
  }));
  return { devices, groups };
}

const membersOf = (g: { deviceIds: readonly string[] }, devices: readonly DeviceInfo[]) =>
  g.deviceIds.map((id) => devices.find((d) => d.id === id)!);

describe('planner', () => {
  it('gives a fast group a deeper and/or more frequent plan than a slow group', () => {
    const { devices, groups } = tieredGroups();
    const { plan } = planGroups(groups, devices, planContext(numBlocks));
    const byId = new Map(plan.groups.map((g) => [g.groupId, g]));
    const fast = byId.get('tier0')!;
    const slow = byId.get('tier5')!;
    assert.ok(fast.depth >= slow.depth && fast.intraRounds >= slow.intraRounds, JSON.stringify({ fast, slow }));
    assert.ok(fast.depth > slow.depth || fast.intraRounds > slow.intraRounds);
    assert.ok(fast.depth * fast.intraRounds > slow.depth * slow.intraRounds);
    assert.ok(slow.depth < numBlocks, 'the slowest group trains shallower than full depth');
  });

  it('fits every group into the budget T and within 20% of it (groups finish together) when τ is not capped', () => {
    const { devices, groups } = tieredGroups();
    const { plan, budgetMs } = planGroups(groups, devices, planContext(numBlocks), { maxIntraRounds: 8 });
    for (const g of plan.groups) {
      const predicted = plan.predictedGroupMs![g.groupId]!;
      assert.equal(predicted, g.intraRounds * intraRoundMs(membersOf(g, devices), g.depth, planContext(numBlocks), g.localSteps));
      assert.ok(predicted <= budgetMs * (1 + 1e-9), `${g.groupId}: ${predicted} > T = ${budgetMs}`);
      assert.ok(predicted >= 0.8 * budgetMs, `${g.groupId}: ${predicted} far below T = ${budgetMs}`);
    }
  });

  it('picks Pareto-optimal plans: no feasible plan is at least as deep and as frequent and better in one', () => {
    const { devices, groups } = tieredGroups();
    const ctx = planContext(numBlocks);
    const { plan, budgetMs } = planGroups(groups, devices, ctx, { maxIntraRounds: 6 });
    for (const g of plan.groups) {
      const members = membersOf(g, devices);
      for (let d = 1; d <= numBlocks; d++) {
        for (let tau = 1; tau <= 6; tau++) {
          const dominates = d >= g.depth && tau >= g.intraRounds && (d > g.depth || tau > g.intraRounds);
          if (dominates) assert.ok(tau * intraRoundMs(members, d, ctx, g.localSteps) > budgetMs, `${g.groupId}: (${d}, ${tau}) also fits`);
        }
      }
    }
  });

  it('respects memory ceilings, even where time would allow deeper', () => {
    // Peak memory 100 MB + 50 MB per depth; every third device has 260 MB (depth ≤ 3).
    const memoryBytesByDepth = Array.from({ length: numBlocks }, (_, d) => 100e6 + 50e6 * (d + 1));
    const { devices, groups } = tieredGroups((i) => (i % 3 === 0 ? 260e6 : 8e9));
    const ctx: PlanContext = planContext(numBlocks, { memoryBytesByDepth });
    assert.equal(maxFeasibleDepth(devices[0]!.profile, ctx), 3);
    assert.equal(maxFeasibleDepth(devices[1]!.profile, ctx), numBlocks);
    // A depth-valuing proxy, so that time alone would put some groups deeper than memory allows.
    const proxy = { depthExponent: 1, frequencyExponent: 0.5 };
    const { plan } = planGroups(groups, devices, ctx, proxy);
    const unconstrained = planGroups(groups, devices, planContext(numBlocks), proxy).plan;
    let capped = 0;
    for (const g of plan.groups) {
      const ceiling = Math.min(...membersOf(g, devices).map((m) => maxFeasibleDepth(m.profile, ctx)));
      assert.ok(g.depth <= ceiling, `${g.groupId}: depth ${g.depth} above memory ceiling ${ceiling}`);
      for (const m of membersOf(g, devices)) assert.ok(memoryBytesByDepth[g.depth - 1]! <= m.profile.memoryBytes);
      if (unconstrained.groups.find((u) => u.groupId === g.groupId)!.depth > ceiling) capped++;
    }
    assert.ok(capped > 0, 'the test must include a group that memory, not time, limits');
  });

  it('throws when a device cannot train at depth 1', () => {
    const { devices, groups } = tieredGroups((i) => (i === 5 ? 1e6 : 8e9));
    const ctx = planContext(numBlocks, { memoryBytesByDepth: Array.from({ length: numBlocks }, (_, d) => 100e6 * (d + 1)) });
    assert.throws(() => planGroups(groups, devices, ctx), (e: unknown) => e instanceof PlanningError && /dev-005/.test(e.message));
  });

  it('budgetQuantile 1 reproduces FedLoRA round length: the slowest group gets full depth', () => {
    const { devices, groups } = tieredGroups();
    const { plan, budgetMs } = planGroups(groups, devices, planContext(numBlocks), { budgetRule: 'group', budgetQuantile: 1, depthExponent: 0.5, frequencyExponent: 0.5 });
    const slow = plan.groups.find((g) => g.groupId === 'tier5')!;
    assert.equal(slow.depth, numBlocks);
    assert.equal(slow.intraRounds, 1);
    assert.equal(budgetMs, intraRoundMs(membersOf(slow, devices), numBlocks, planContext(numBlocks), 10));
  });

  it('falls back to the cheapest plan when an explicit budget is too small, and honours fixed knobs', () => {
    const { devices, groups } = tieredGroups();
    const tight = planGroups(groups, devices, planContext(numBlocks), { budgetMs: 1 });
    for (const g of tight.plan.groups) {
      assert.deepEqual([g.depth, g.intraRounds], [1, 1]);
      assert.ok(tight.plan.predictedGroupMs![g.groupId]! > 1);
    }
    const fixed = planGroups(groups, devices, planContext(numBlocks), { fixedDepth: 5, fixedIntraRounds: 3, localSteps: 7 });
    for (const g of fixed.plan.groups) assert.deepEqual([g.depth, g.intraRounds, g.localSteps], [5, 3, 7]);
  });
});

describe('shouldReplan', () => {
  const { devices, groups } = tieredGroups();
  const { plan } = planGroups(groups, devices, planContext(numBlocks));
  const depthOf = (id: string) => plan.groups.find((g: GroupPlan) => g.deviceIds.includes(id))!.depth;
  const onProfile = new Map(devices.map((d) => [d.id, d.profile.msPerStep[depthOf(d.id) - 1]! * 1.1]));

  it('says no while membership is unchanged and times stay near the profile', () => {
    assert.deepEqual(shouldReplan(plan, devices, onProfile), { replan: false, reasons: [] });
    assert.equal(shouldReplan(plan, devices).replan, false);
  });

  it('says yes without a previous plan, on joins and leaves, and on drift beyond the threshold', () => {
    assert.equal(shouldReplan(undefined, devices).replan, true);
    const left = shouldReplan(plan, devices.slice(1), onProfile);
    assert.equal(left.replan, true);
    assert.match(left.reasons.join(';'), /left: dev-000/);
    const extra = { ...devices[0]!, id: 'newcomer' };
    assert.match(shouldReplan(plan, [...devices, extra]).reasons.join(';'), /joined: newcomer/);

    const slowed = Object.fromEntries(onProfile);
    const d3 = devices[3]!;
    slowed[d3.id] = d3.profile.msPerStep[depthOf(d3.id) - 1]! * 1.4;
    const drift = shouldReplan(plan, devices, slowed);
    assert.equal(drift.replan, true);
    assert.match(drift.reasons.join(';'), /dev-003/);
    assert.equal(shouldReplan(plan, devices, slowed, { driftThreshold: 0.5 }).replan, false);
  });
});
