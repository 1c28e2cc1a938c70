import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { trainedBlockKeys, type AdapterState, type NamedArray } from '../src/lora/adapter-state';
import { chooseRoundPlan, runGlobalRound, RoundContractError, type MemberAssignment } from '../src/federated/round';
import { STRATEGY_NAMES } from '../src/federated/strategy';
import { createStrategy } from '../src/federated/strategies';
import type { ClientUpdate, GroupPlan } from '../src/federated/types';
import { simulate } from '../src/sim';
import { planContext, state, syntheticFleet, toPlain, FixedPlanStrategy } from './federated-fixtures';

const numBlocks = 4;
const global0 = state({ '0': { a: [1, 1] }, '1': { a: [2, 2] }, '2': { a: [3, 3] }, '3': { a: [4, 4] }, head: { w: [5] } });

/** Every trained tensor + `step` (per member), exactly the assigned blocks. */
function plusDelta(a: MemberAssignment, step = 1, numSamples = 10): ClientUpdate {
  const delta: AdapterState = new Map();
  for (const key of a.blockKeys) {
    const tensors = new Map<string, NamedArray>();
    for (const [name, t] of a.adapter.get(key)!) tensors.set(name, { shape: t.shape, data: t.data.map(() => step) });
    delta.set(key, tensors);
  }
  return { deviceId: a.deviceId, numSamples, delta };
}

describe('runGlobalRound (engine contract)', () => {
  const groups: GroupPlan[] = [
    { groupId: 'A', deviceIds: ['a1', 'a2'], depth: 2, intraRounds: 2, localSteps: 1 },
    { groupId: 'B', deviceIds: ['b1'], depth: 1, intraRounds: 1, localSteps: 1 },
  ];

  it('hands each member its group depth, exactly trainedBlockKeys, and the group adapter of that intra round', async () => {
    const seen: MemberAssignment[] = [];
    await runGlobalRound({
      round: 3,
      strategy: new FixedPlanStrategy(groups),
      plan: { groups },
      global: global0,
      numBlocks,
      trainMember: async (a) => {
        seen.push(a);
        return plusDelta(a);
      },
    });
    const a = seen.filter((x) => x.groupId === 'A');
    const b = seen.filter((x) => x.groupId === 'B');
    assert.deepEqual(a.map((x) => `${x.intraRound}:${x.deviceId}`).sort(), ['0:a1', '0:a2', '1:a1', '1:a2']);
    assert.deepEqual(b.map((x) => `${x.intraRound}:${x.deviceId}`), ['0:b1']);
    for (const x of a) assert.deepEqual(x.blockKeys, trainedBlockKeys(numBlocks, 2));
    assert.deepEqual(b[0]!.blockKeys, ['3', 'head']);
    assert.ok(seen.every((x) => x.round === 3));
    // Intra round 0 starts from the global adapter; round 1 from A_g after one aggregation (+1).
    const first = a.filter((x) => x.intraRound === 0);
    const second = a.filter((x) => x.intraRound === 1);
    assert.ok(first.every((x) => x.adapter === global0));
    assert.equal(second[0]!.adapter, second[1]!.adapter);
    assert.deepEqual(toPlain(second[0]!.adapter)['2'], { a: [4, 4] });
    assert.deepEqual(toPlain(second[0]!.adapter)['1'], { a: [2, 2] });
    // Blocks below the group's depth are the global's own (not copied per group and intra round).
    assert.equal(second[0]!.adapter.get('0'), global0.get('0'));
    assert.equal(second[0]!.adapter.get('1'), global0.get('1'));
    assert.notEqual(second[0]!.adapter.get('2'), global0.get('2'));
  });

  it('aggregates block by block over the groups that trained each block; untrained blocks stay unchanged', async () => {
    const { global, delta, groups: outcomes } = await runGlobalRound({
      round: 1,
      strategy: new FixedPlanStrategy(groups),
      plan: { groups },
      global: global0,
      numBlocks,
      // Group A members weigh 10 each (20 in all), b1 weighs 60.
      trainMember: async (x) => plusDelta(x, 1, x.deviceId === 'b1' ? 60 : 10),
    });
    // A moved its blocks by +2 (two intra rounds of +1), B by +1. Block 2: only A → +2.
    // Block 3 and head: (2·20 + 1·60) / 80 = 1.25.
    assert.deepEqual(toPlain(delta), { '2': { a: [2, 2] }, '3': { a: [1.25, 1.25] }, head: { w: [1.25] } });
    assert.deepEqual(toPlain(global), { '0': { a: [1, 1] }, '1': { a: [2, 2] }, '2': { a: [5, 5] }, '3': { a: [5.25, 5.25] }, head: { w: [6.25] } });
    assert.deepEqual(outcomes.map((g) => [g.plan.groupId, g.result?.numSamples]), [['A', 20], ['B', 60]]);
    assert.deepEqual(toPlain(global0)['3'], { a: [4, 4] }, 'the input adapter is not mutated');
  });

  it('counts only members that delivered; a group with no delivery contributes nothing', async () => {
    const { delta, groups: outcomes } = await runGlobalRound({
      round: 1,
      strategy: new FixedPlanStrategy(groups),
      plan: { groups },
      global: global0,
      numBlocks,
      trainMember: async (x) => (x.deviceId === 'a2' || x.deviceId === 'b1' ? undefined : plusDelta(x)),
    });
    assert.deepEqual(outcomes.map((g) => g.contributors), [[['a1'], ['a1']], [[]]]);
    assert.equal(outcomes[0]!.result!.numSamples, 10);
    assert.equal(outcomes[1]!.result, undefined);
    assert.deepEqual([...delta.keys()], ['2', '3', 'head']);
  });

  it('rejects an update that carries other blocks than the depth trains, or names another device', async () => {
    const base = { round: 1, strategy: new FixedPlanStrategy(groups), plan: { groups }, global: global0, numBlocks };
    await assert.rejects(
      runGlobalRound({ ...base, trainMember: async (x) => plusDelta({ ...x, blockKeys: trainedBlockKeys(numBlocks, 3) }) }),
      RoundContractError,
    );
    await assert.rejects(runGlobalRound({ ...base, trainMember: async (x) => ({ ...plusDelta(x), deviceId: 'someone-else' }) }), /labelled/);
  });
});

describe('chooseRoundPlan', () => {
  const devices = syntheticFleet({ numDevices: 12, numClasses: 5, alpha: 0.3, numBlocks, seed: 2, tiers: [1, 3] });
  const ctx = planContext(numBlocks);
  const strategy = createStrategy('hierfedlora');

  it('keeps the plan while membership is unchanged, replans when a device leaves, rejects invalid plans', () => {
    const first = chooseRoundPlan(strategy, devices, ctx);
    assert.equal(first.replanned, true);
    const kept = chooseRoundPlan(strategy, devices, { ...ctx, round: 2 }, first.plan);
    assert.equal(kept.plan, first.plan);
    const fewer = devices.slice(1);
    const next = chooseRoundPlan(strategy, fewer, ctx, first.plan);
    assert.equal(next.replanned, true);
    assert.ok(next.plan.groups.every((g) => !g.deviceIds.includes(devices[0]!.id)));
    const broken = new FixedPlanStrategy([{ groupId: 'x', deviceIds: [devices[0]!.id], depth: 9, intraRounds: 1, localSteps: 1 }]);
    assert.throws(() => chooseRoundPlan(broken, devices, ctx), RoundContractError);
  });
});

describe('simulate with every strategy (stub trainer)', () => {
  const devices = syntheticFleet({ numDevices: 15, numClasses: 6, alpha: 0.2, numBlocks, seed: 5, tiers: [1, 2, 4] });
  const ctx = planContext(numBlocks);

  for (const name of STRATEGY_NAMES) {
    it(`${name}: uploads carry exactly the group's trained blocks, membership is the fleet every round`, async () => {
      const byRound = new Map<number, Map<string, Set<string>>>();
      const records = [];
      for await (const r of simulate({
        strategy: createStrategy(name, { planner: { localSteps: 2 } }),
        devices,
        context: { numBlocks, adapterBytes: ctx.adapterBytes, seed: 1 },
        initialAdapter: global0,
        trainMember: async (a) => {
          const update = plusDelta(a, 0.01);
          const perRound = byRound.get(a.round) ?? new Map<string, Set<string>>();
          byRound.set(a.round, perRound);
          perRound.set(`${a.groupId}/${a.intraRound}`, (perRound.get(`${a.groupId}/${a.intraRound}`) ?? new Set()).add(a.deviceId));
          assert.deepEqual([...update.delta.keys()], trainedBlockKeys(numBlocks, a.depth));
          return { update, trainLoss: 0 };
        },
        evaluate: async () => ({ accuracy: 0, loss: 0 }),
        maxRounds: 2,
      })) {
        records.push(r);
      }
      assert.deepEqual(records.map((r) => r.round), [0, 1, 2]);
      for (const [, perGroupRound] of byRound) {
        const everyone = new Set<string>();
        for (const [key, ids] of perGroupRound) {
          if (key.endsWith('/0')) for (const id of ids) everyone.add(id);
        }
        assert.equal(everyone.size, devices.length);
      }
      const r1 = records[1]!;
      assert.deepEqual(records[2]!.groups.map((g) => [g.groupId, g.depth, g.intraRounds]), r1.groups.map((g) => [g.groupId, g.depth, g.intraRounds]));
      assert.ok(r1.simulatedMs > 0 && r1.bytesUploaded > 0 && r1.computeSeconds > 0);
      if (name === 'fedlora') assert.deepEqual(r1.groups.map((g) => g.depth), [numBlocks]);
      if (name === 'depth-only') assert.ok(new Set(r1.groups.map((g) => g.depth)).size > 1, 'depths differ by speed');
      if (name === 'hierfedlora') assert.ok(new Set(r1.groups.map((g) => `${g.depth}/${g.intraRounds}`)).size > 1, 'plans (depth, τ) differ by speed');
    });
  }
});
