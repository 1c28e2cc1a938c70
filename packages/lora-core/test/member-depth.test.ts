/**
 * Per-member depth inside a group (planner memberDepth 'member') and the 'floor' budget rule:
 * planning, the round contract, plan validation and the simulated clock.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { trainedBlockKeys, type AdapterState, type NamedArray } from '../src/lora/adapter-state';
import { runGlobalRound, RoundContractError, type MemberAssignment } from '../src/federated/round';
import { createStrategy } from '../src/federated/strategies';
import { nearIidGroups } from '../src/federated/grouping';
import { intraRoundMs, isDegeneratePlan, maxFeasibleDepth, planGroups } from '../src/federated/planner';
import { validateRoundPlan } from '../src/federated/plan-validation';
import { groupComputeMs, groupRoundMs, memberRoundMs } from '../src/sim/clock';
import type { ClientUpdate, DeviceInfo, GroupPlan, RoundPlan } from '../src/federated/types';
import { planContext, state, syntheticFleet, toPlain, FixedPlanStrategy } from './federated-fixtures';

const numBlocks = 4;

function plusOne(a: MemberAssignment, numSamples = 10): ClientUpdate {
  const delta: AdapterState = new Map();
  for (const key of a.blockKeys) {
    const tensors = new Map<string, NamedArray>();
    for (const [name, t] of a.adapter.get(key)!) tensors.set(name, { shape: t.shape, data: t.data.map(() => 1) });
    delta.set(key, tensors);
  }
  return { deviceId: a.deviceId, numSamples, delta };
}

describe('planner: one depth per member (memberDepth member)', () => {
  const devices = syntheticFleet({ numDevices: 30, numClasses: 10, alpha: 0.3, numBlocks, seed: 5, tiers: [1, 2, 4] });
  const ctx = planContext(numBlocks, { overheads: { downloadBytes: 200_000 } });
  const options = { localSteps: 3, maxIntraRounds: 4, budgetRule: 'floor', memberDepth: 'member' } as const;
  // Label-only groups mix speeds, so members of one group can afford different depths.
  const groups = nearIidGroups(devices, { targetGroupSize: 5, seed: 1 });

  it('gives every member the deepest depth whose intra-round fits T / τ, and the group the deepest of them', () => {
    const { plan, budgetMs } = planGroups(groups, devices, ctx, options);
    assert.deepEqual(validateRoundPlan(plan, devices, numBlocks), []);
    const byId = new Map(devices.map((d) => [d.id, d]));
    let mixed = 0;
    let checked = 0;
    for (const g of plan.groups) {
      const depths = g.deviceIds.map((id) => g.memberDepths![id]!);
      assert.equal(g.depth, Math.max(...depths));
      if (new Set(depths).size > 1) mixed++;
      // Each member's own intra-round (sync included) plus the group's aggregation reserve (all
      // members at the deepest depth, 500 MB/s) fits T / τ at its depth and would not one deeper.
      const reserve = (g.deviceIds.length * ctx.adapterBytes[numBlocks - 1]!) / 500e3;
      const own = (id: string, d: number) => intraRoundMs([byId.get(id)!], d, ctx, 3) - ctx.adapterBytes[d - 1]! / 500e3 + reserve;
      for (const id of g.deviceIds) {
        const d = g.memberDepths![id]!;
        assert.ok(g.intraRounds * own(id, d) <= budgetMs * (1 + 1e-9), `${id} at ${d} does not fit`);
        if (d < maxFeasibleDepth(byId.get(id)!.profile, ctx)) assert.ok(g.intraRounds * own(id, d + 1) > budgetMs * (1 + 1e-9), `${id} could train at ${d + 1}`);
        checked++;
      }
    }
    assert.equal(checked, devices.length);
    assert.ok(mixed > 0, 'a 1×/2×/4× fleet has groups whose members train at different depths');
  });

  it('a member-depth plan is never worse on the proxy than the one-depth-per-group plan at the same T', () => {
    const per = planGroups(groups, devices, ctx, options);
    const one = planGroups(groups, devices, ctx, { ...options, memberDepth: 'group', budgetMs: per.budgetMs });
    const depthSum = (p: RoundPlan) => p.groups.reduce((s, g) => s + g.deviceIds.reduce((n, id) => n + (g.memberDepths?.[id] ?? g.depth) * g.intraRounds, 0), 0);
    assert.ok(depthSum(per.plan) >= depthSum(one.plan), `${depthSum(per.plan)} < ${depthSum(one.plan)}`);
  });
});

describe("planner: the 'floor' budget", () => {
  it('T is the slowest group at depth 1 and τ 1; faster groups spend the slack on depth or τ', () => {
    const devices = syntheticFleet({ numDevices: 30, numClasses: 10, alpha: 0.3, numBlocks, seed: 5, tiers: [1, 2, 4] });
    const ctx = planContext(numBlocks);
    const groups = createStrategy('hierfedlora', { grouping: { targetGroupSize: 5 } }).plan(devices, ctx).groups;
    const byId = new Map(devices.map((d) => [d.id, d]));
    const { plan, budgetMs } = planGroups(groups, devices, ctx, { localSteps: 3, maxIntraRounds: 4, budgetRule: 'floor' });
    const floor = Math.max(...groups.map((g) => intraRoundMs(g.deviceIds.map((id) => byId.get(id)!), 1, ctx, 3)));
    assert.equal(budgetMs, floor);
    assert.ok(plan.groups.some((g) => g.depth > 1 || g.intraRounds > 1), JSON.stringify(plan.groups.map((g) => [g.depth, g.intraRounds])));
    for (const g of plan.groups) assert.ok(g.intraRounds * intraRoundMs(g.deviceIds.map((id) => byId.get(id)!), g.depth, ctx, 3) <= budgetMs * (1 + 1e-9));
  });
});

describe('round contract and clock with member depths', () => {
  const global0 = state({ '0': { a: [1, 1] }, '1': { a: [2, 2] }, '2': { a: [3, 3] }, '3': { a: [4, 4] }, head: { w: [5] } });
  const group: GroupPlan = { groupId: 'A', deviceIds: ['a1', 'a2'], depth: 3, memberDepths: { a1: 3, a2: 1 }, intraRounds: 2, localSteps: 1 };

  it('assigns each member its own depth and blocks; the group mean is block by block over the members that trained each block', async () => {
    const seen: MemberAssignment[] = [];
    const { delta } = await runGlobalRound({
      round: 1,
      strategy: new FixedPlanStrategy([group]),
      plan: { groups: [group] },
      global: global0,
      numBlocks,
      trainMember: async (a) => {
        seen.push(a);
        return plusOne(a, a.deviceId === 'a1' ? 10 : 30);
      },
    });
    for (const a of seen) {
      assert.equal(a.depth, a.deviceId === 'a1' ? 3 : 1);
      assert.deepEqual(a.blockKeys, trainedBlockKeys(numBlocks, a.depth));
    }
    // Blocks 1 and 2: only a1 (+1 per intra-round); block 3 and head: both, +1 each → +1; two intra-rounds.
    assert.deepEqual(toPlain(delta), { '1': { a: [2, 2] }, '2': { a: [2, 2] }, '3': { a: [2, 2] }, head: { w: [2] } });
  });

  it("refuses a shallow member's update that carries the group's deeper blocks", async () => {
    await assert.rejects(
      runGlobalRound({
        round: 1,
        strategy: new FixedPlanStrategy([group]),
        plan: { groups: [group] },
        global: global0,
        numBlocks,
        trainMember: async (a) => plusOne({ ...a, blockKeys: trainedBlockKeys(numBlocks, 3) }),
      }),
      RoundContractError,
    );
  });

  it('a plan whose groups share depth and τ is degenerate only if every member trains at that depth', () => {
    const twin = { ...group, groupId: 'B', deviceIds: ['b1', 'b2'], memberDepths: { b1: 3, b2: 3 } };
    assert.equal(isDegeneratePlan({ groups: [{ ...group, memberDepths: { a1: 3, a2: 3 } }, twin] }), true);
    assert.equal(isDegeneratePlan({ groups: [group, twin] }), false);
  });

  it('plan validation refuses a member depth deeper than the group or a non-member', () => {
    const devices = [{ id: 'a1' }, { id: 'a2' }] as unknown as DeviceInfo[];
    assert.deepEqual(validateRoundPlan({ groups: [group] }, devices, numBlocks), []);
    const bad = validateRoundPlan({ groups: [{ ...group, memberDepths: { a1: 4, zz: 1 } }] }, devices, numBlocks);
    assert.equal(bad.length, 2, bad.join('; '));
  });

  it('the clock times each contribution at its own depth', () => {
    const fast = { msPerStep: [10, 20, 30, 40], uploadBytesPerSec: 1e6, memoryBytes: 1e9 };
    const slow = { msPerStep: [100, 200, 300, 400], uploadBytesPerSec: 1e6, memoryBytes: 1e9 };
    const round = [[{ profile: fast, uploadBytes: 1000, depth: 4 }, { profile: slow, uploadBytes: 1000, depth: 1 }]];
    assert.equal(groupRoundMs(round, 4, 2), Math.max(memberRoundMs(fast, 4, 2, 1000), memberRoundMs(slow, 1, 2, 1000)));
    assert.equal(groupComputeMs(round, 4, 2), 2 * 40 + 2 * 100);
    assert.equal(groupComputeMs([[{ profile: slow, uploadBytes: 1000 }]], 4, 2), 2 * 400, 'absent: the group depth');
  });
});
