/** The engine over real Socket.IO connections: fake devices, the real FedLoRA strategy, memory state. */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createStrategy, decodeAdapter } from '../src/core';
import { startCoordinator } from '../src/server';
import type { RunningCoordinator } from '../src/server';
import type { RoundPlan, Strategy } from '../src/core';
import { MemoryState } from '../src/state';
import { fakeTask, startFakeDevice } from './support/fakes';
import type { FakeDevice } from './support/fakes';

const TOKEN = 'test-token';

/** FedLoRA's plan with a fixed straggler deadline on its group (what fedlora-deadline plans, at a known value). */
function withDeadline(deadlineMs: number): Strategy {
  const inner = createStrategy('fedlora', { planner: { localSteps: 3 } });
  return Object.assign(Object.create(inner) as Strategy, {
    plan: (devices: Parameters<Strategy['plan']>[0], ctx: Parameters<Strategy['plan']>[1]): RoundPlan => {
      const p = inner.plan(devices, ctx);
      return { ...p, groups: p.groups.map((g) => ({ ...g, deadlineMs })) };
    },
  });
}

/** FedLoRA's one group, but a per-member depth: the first device (by id) at depth 2, the second at 1. */
function withMemberDepths(): Strategy {
  const inner = createStrategy('fedlora', { planner: { localSteps: 3 } });
  return Object.assign(Object.create(inner) as Strategy, {
    plan: (devices: Parameters<Strategy['plan']>[0], ctx: Parameters<Strategy['plan']>[1]): RoundPlan => {
      const p = inner.plan(devices, ctx);
      return { ...p, groups: p.groups.map((g) => ({ ...g, depth: 2, memberDepths: { [g.deviceIds[0]!]: 2, [g.deviceIds[1]!]: 1 } })) };
    },
  });
}

async function start(rounds: number, devicesExpected: number, partitionSizes: number[], roundTimeoutMs = 10_000, strategy?: Strategy) {
  const state = new MemoryState();
  const task = fakeTask(partitionSizes);
  const coordinator = await startCoordinator({
    config: { port: 0, host: '127.0.0.1', token: TOKEN, rounds, devicesExpected, seed: 1, batchSize: 4, learningRate: 0.01, headLearningRate: 0.05, roundTimeoutMs, rejoinGraceMs: 100, normBoundFactor: null },
    strategy: strategy ?? createStrategy('fedlora', { planner: { localSteps: 3 } }),
    task,
    state,
  });
  return { coordinator, state, task };
}

describe('run loop', () => {
  let coordinator: RunningCoordinator | undefined;
  let devices: FakeDevice[] = [];
  afterEach(async () => {
    for (const d of devices) d.close();
    devices = [];
    await coordinator?.close();
    coordinator = undefined;
  });

  it('waits for the expected devices, then aggregates sample-weighted deltas block by block each round', async () => {
    const s = await start(2, 2, [1, 3]);
    coordinator = s.coordinator;
    devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-aaaaaaaa', { numSamples: 1, value: 1 }));
    assert.equal(coordinator.loop.status().round, 0, 'no training before the second device joins');
    devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-bbbbbbbb', { numSamples: 3, value: 3 }));
    assert.equal(await coordinator.done, 'finished');

    // (1·1 + 3·3) / 4 = 2.5 per round, on every trained block (FedLoRA: full depth 2 + head).
    for (const key of ['0', '1', 'head'] as const) {
      for (const [name, t] of coordinator.loop.globalAdapter.get(key)!) {
        assert.ok(t.data.every((v) => Math.abs(v - 5) < 1e-6), `${key}/${name} = ${[...t.data]}`);
      }
    }
    for (const d of devices) {
      assert.deepEqual(d.assignments.map((a) => [a.round, a.intraRound, a.depth, a.localSteps, a.batchSize]), [
        [1, 0, 2, 3, 4],
        [2, 0, 2, 3, 4],
      ]);
      assert.equal(d.assignments[0]?.partitionIndex, d.partitionIndex);
    }
    assert.deepEqual(new Set(devices.map((d) => d.partitionIndex)), new Set([0, 1]));
    // The snapshot shows what was accepted from each device: its last upload's blocks and size.
    for (const row of coordinator.snapshot().devices) {
      assert.deepEqual(row.lastUpload?.blockKeys, ['0', '1', 'head']);
      assert.equal(row.lastUpload?.round, 2);
      assert.ok((row.lastUpload?.bytes ?? 0) > 0 && row.lastUpload!.bytes * 2 === row.bytesUp, `${row.lastUpload?.bytes} of ${row.bytesUp}`);
    }

    const rounds = s.state.listRounds(coordinator.runId);
    assert.deepEqual(rounds.map((r) => [r.round, r.participants.length]), [[0, 0], [1, 2], [2, 2]]);
    assert.ok(rounds[1]!.bytesUp > 0 && rounds[1]!.bytesDown > 0);
    assert.deepEqual(s.state.listMetrics(coordinator.runId).map((m) => m.accuracy), [0, 0.25, 0.5]);
    const cp = s.state.latestCheckpoint(coordinator.runId);
    assert.equal(cp?.round, 2);
    assert.equal(decodeAdapter(cp!.bytes).get('head')?.get('b')?.data[0], 5);
    assert.equal(s.state.getRun(coordinator.runId)?.status, 'finished');
    assert.equal(s.task.evaluated.length, 3);
  });

  it('drops a device that leaves mid-round and aggregates the others', async () => {
    const s = await start(1, 2, [2, 2]);
    coordinator = s.coordinator;
    devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-aaaaaaaa', { numSamples: 2, value: 4 }));
    const silent = await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-bbbbbbbb', { numSamples: 2, value: 100, autoTrain: false });
    devices.push(silent);
    while (silent.assignments.length === 0) await new Promise((r) => setTimeout(r, 10));
    silent.close();
    assert.equal(await coordinator.done, 'finished');
    assert.equal(coordinator.loop.globalAdapter.get('head')?.get('W')?.data[0], 4);
    assert.deepEqual(s.state.listRounds(coordinator.runId)[1]?.participants, ['dev-aaaaaaaa']);
  });

  it('leaves devices that miss the round deadline out of that round', async () => {
    const s = await start(1, 2, [2, 2], 300);
    coordinator = s.coordinator;
    devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-aaaaaaaa', { numSamples: 2, value: 2 }));
    devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-bbbbbbbb', { numSamples: 2, value: 100, autoTrain: false }));
    assert.equal(await coordinator.done, 'finished');
    assert.equal(coordinator.loop.globalAdapter.get('0')?.get('qkv.A')?.data[0], 2);
  });

  it("enforces the strategy's round deadline: a member slower than the group's deadlineMs is dropped well before the run's timeout", async () => {
    const s = await start(2, 2, [2, 2], 20_000, withDeadline(600));
    coordinator = s.coordinator;
    const started = Date.now();
    devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-aaaaaaaa', { numSamples: 2, value: 2 }));
    const slow = await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-bbbbbbbb', { numSamples: 2, value: 100, uploadDelayMs: 2_000 });
    devices.push(slow);
    assert.equal(await coordinator.done, 'finished');
    const rounds = s.state.listRounds(coordinator.runId);
    assert.deepEqual(rounds.map((r) => [r.round, r.participants]), [[0, []], [1, ['dev-aaaaaaaa']], [2, ['dev-aaaaaaaa']]]);
    // Only the fast device's +2 per round counts; the slow one's late uploads are not aggregated.
    assert.equal(coordinator.loop.globalAdapter.get('head')?.get('W')?.data[0], 4);
    assert.ok(Date.now() - started < 8_000, `two rounds ended by the 600 ms deadline, not the 20 s timeout (${Date.now() - started} ms)`);
    assert.equal(slow.assignments.length, 2, 'the straggler still gets the next round');
  });

  it('carries per-member depths: each device trains and uploads its own blocks; a block is averaged over the members that trained it', async () => {
    const s = await start(1, 2, [1, 3], 10_000, withMemberDepths());
    coordinator = s.coordinator;
    const deep = await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-aaaaaaaa', { numSamples: 1, value: 1 });
    const shallow = await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-bbbbbbbb', { numSamples: 3, value: 3 });
    devices.push(deep, shallow);
    assert.equal(await coordinator.done, 'finished');
    assert.deepEqual([deep.assignments[0]!.depth, shallow.assignments[0]!.depth], [2, 1]);
    // From zeros. Block '0' (below the shallow member's depth): only the deep member's +1; block '1'
    // and the head: (1·1 + 3·3) / 4 = 2.5.
    assert.equal(coordinator.loop.globalAdapter.get('0')?.get('qkv.A')?.data[0], 1);
    assert.ok(Math.abs(coordinator.loop.globalAdapter.get('1')!.get('qkv.A')!.data[0]! - 2.5) < 1e-6);
    assert.ok(Math.abs(coordinator.loop.globalAdapter.get('head')!.get('W')!.data[0]! - 2.5) < 1e-6);
  });
});
