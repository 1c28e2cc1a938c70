/**
 * What a lie about the resource profile can do to the plan (issue 13), measured and bounded.
 * A device's memoryBytes and step times are its own claims. FedLoRA's depth is the deepest at least
 * half the devices hold (majorityDepth), so a device declaring almost no memory trains shallow in
 * a group of its own and every honest device keeps the depth and the group it had without it.
 * HierFedLoRA plans each group for its members, so a memory lie lowers the depth of the liar's
 * own group only: measured against one more honest device (any newcomer regroups a combinatorial
 * grouping), and bounded by the size of the group the liar lands in.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createStrategy, majorityDepth } from '../src/federated/strategies';
import { maxFeasibleDepth } from '../src/federated/planner';
import type { DeviceInfo, PlanContext, RoundPlan } from '../src/federated/types';
import { planContext, syntheticFleet } from './federated-fixtures';

const numBlocks = 6;
/** 100 MB + 50 MB per trained block: 8 GB holds every depth, 180 MB depth 1. */
const ctx: PlanContext = planContext(numBlocks, { memoryBytesByDepth: Array.from({ length: numBlocks }, (_, d) => 100e6 + 50e6 * (d + 1)) });
const honest = syntheticFleet({ numDevices: 20, numClasses: 10, alpha: 0.3, numBlocks, seed: 9, tiers: [1, 1.5, 2] });
const liar = (memoryBytes: number): DeviceInfo => ({ ...honest[0]!, id: 'dev-liar', profile: { ...honest[0]!.profile, memoryBytes } });
const extra = { ...syntheticFleet({ numDevices: 21, numClasses: 10, alpha: 0.3, numBlocks, seed: 9, tiers: [1, 1.5, 2] })[20]!, id: 'dev-extra' };

function depthOf(plan: RoundPlan): Map<string, number> {
  return new Map(plan.groups.flatMap((g) => g.deviceIds.map((id) => [id, g.depth] as const)));
}

/** Honest devices planned shallower than in the clean plan. */
function honestLowered(clean: RoundPlan, other: RoundPlan): string[] {
  const before = depthOf(clean);
  const after = depthOf(other);
  return honest.map((d) => d.id).filter((id) => after.get(id)! < before.get(id)!);
}

describe('resource-profile lies and the plan', () => {
  it('majorityDepth: the deepest depth half the devices hold; the others listed with their own', () => {
    assert.deepEqual(majorityDepth(honest, ctx), { depth: numBlocks, below: new Map() });
    const fleet = [...honest, liar(180e6)];
    assert.deepEqual(majorityDepth(fleet, ctx), { depth: numBlocks, below: new Map([['dev-liar', 1]]) });
    // A majority of weak devices does set the depth: a minority cannot be outvoted by claims.
    const weak = honest.map((d, i) => (i < 11 ? { ...d, profile: { ...d.profile, memoryBytes: 260e6 } } : d));
    assert.equal(majorityDepth(weak, ctx).depth, 3);
    assert.equal(majorityDepth(weak, ctx).below.size, 0, 'the strong ones train at the common depth too');
    assert.throws(() => majorityDepth([...honest, liar(1)], ctx), /dev-liar cannot train at depth 1/);
  });

  it('fedlora: a device declaring almost no memory trains alone at its depth; every honest device keeps its depth and group', () => {
    const fedlora = createStrategy('fedlora');
    const clean = fedlora.plan(honest, ctx);
    const lied = fedlora.plan([...honest, liar(180e6)], ctx);
    assert.deepEqual(
      lied.groups.map((g) => [g.groupId, g.depth, g.deviceIds.length]),
      [['all', numBlocks, honest.length], ['depth-1', 1, 1]],
    );
    assert.deepEqual(lied.groups[0]!.deviceIds, clean.groups[0]!.deviceIds);
    assert.deepEqual(honestLowered(clean, lied), []);
  });

  it("hierfedlora: a memory lie lowers only the liar's own group, about what one more honest device moves", () => {
    const hier = createStrategy('hierfedlora', { grouping: { targetGroupSize: 5 } });
    const clean = hier.plan(honest, ctx);
    const lied = hier.plan([...honest, liar(180e6)], ctx);
    const withExtra = hier.plan([...honest, extra], ctx);
    const liarGroup = lied.groups.find((g) => g.deviceIds.includes('dev-liar'))!;
    const lowered = honestLowered(clean, lied);
    const loweredByExtra = honestLowered(clean, withExtra);
    console.log(
      `memory lie (20 honest, hierfedlora, groups of ~5): ${lowered.length} honest devices planned shallower (liar's group: ${liarGroup.deviceIds.length} devices at depth ${liarGroup.depth}); ` +
        `one more honest device: ${loweredByExtra.length}`,
    );
    assert.equal(liarGroup.depth, 1);
    for (const g of lied.groups) for (const id of g.deviceIds) assert.ok(g.depth <= maxFeasibleDepth([...honest, liar(180e6)].find((d) => d.id === id)!.profile, ctx));
    // Bounded by the liar's own group: honest devices elsewhere are not pulled down by its claim.
    const outside = lowered.filter((id) => !liarGroup.deviceIds.includes(id));
    assert.ok(outside.length <= loweredByExtra.length, `lowered outside the liar's group: ${outside.join(', ')} (one more honest device: ${loweredByExtra.length})`);
    assert.ok(lowered.length <= liarGroup.deviceIds.length - 1 + loweredByExtra.length);
  });
});
