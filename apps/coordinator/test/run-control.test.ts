/**
 * The coordinator under faults and admin control, over real sockets with fake devices: rounds with
 * too few reports are rerun, a device that drops mid-round gets its work back when it returns,
 * an interrupted run resumes from its last completed round, and an admin can stop a run and start
 * another (devices are welcomed into it).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { createStrategy } from '../src/core';
import type { RunParams } from '../src/dashboard/contract';
import type { RunConfig, RunningCoordinator } from '../src/server';
import { startCoordinator } from '../src/server';
import { MemoryState, SqliteState } from '../src/state';
import type { CoordinatorState } from '../src/state';
import type { FakeDevice } from './support/fakes';
import { fakeTask, next, startFakeDevice } from './support/fakes';

const TOKEN = 'test-token';

function config(overrides: Partial<RunConfig> = {}): RunConfig {
  return {
    port: 0,
    host: '127.0.0.1',
    token: TOKEN,
    adminToken: 'admin-token-1',
    rounds: 1,
    devicesExpected: 2,
    seed: 1,
    batchSize: 4,
    learningRate: 0.01,
    headLearningRate: 0.05,
    roundTimeoutMs: 10_000,
    // Fake devices upload constant deltas far larger than real Adam steps: no norm check here.
    normBoundFactor: null,
    localSteps: 3,
    ...overrides,
  };
}

const waitFor = async (what: string, ok: () => boolean, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('run control and faults', () => {
  let coordinator: RunningCoordinator | undefined;
  let devices: FakeDevice[] = [];
  afterEach(async () => {
    for (const d of devices) d.close();
    devices = [];
    await coordinator?.close();
    coordinator = undefined;
  });

  it('reruns a round in which fewer than the minimum fraction of devices reported', async () => {
    const state = new MemoryState();
    coordinator = await startCoordinator({ config: config({ roundTimeoutMs: 300, minReportFraction: 1 }), task: fakeTask([2, 2]), state });
    devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-aaaaaaaa', { numSamples: 2, value: 2 }));
    // Misses the deadline of its first assignment, answers the second (the rerun).
    devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-bbbbbbbb', { numSamples: 2, value: 4, ignoreFirst: 1 }));
    assert.equal(await coordinator.done, 'finished');
    assert.equal(coordinator.loop.retriedRounds, 1);
    const rounds = state.listRounds(coordinator.runId);
    assert.deepEqual(rounds.map((r) => [r.round, r.participants]), [[0, []], [1, ['dev-aaaaaaaa', 'dev-bbbbbbbb']]]);
    assert.equal(coordinator.loop.globalAdapter.get('0')?.get('qkv.A')?.data[0], 3, 'only the rerun counted: (2 + 4) / 2');
  });

  it('keeps a round with enough reports and leaves the straggler out of it', async () => {
    const state = new MemoryState();
    coordinator = await startCoordinator({ config: config({ roundTimeoutMs: 300, minReportFraction: 0.5 }), task: fakeTask([2, 2]), state });
    devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-aaaaaaaa', { numSamples: 2, value: 2 }));
    devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-bbbbbbbb', { numSamples: 2, value: 4, ignoreFirst: 1 }));
    assert.equal(await coordinator.done, 'finished');
    assert.equal(coordinator.loop.retriedRounds, 0);
    assert.deepEqual(state.listRounds(coordinator.runId)[1]?.participants, ['dev-aaaaaaaa']);
  });

  it('refuses an upload larger than the assigned Adam steps can move the adapter, naming the block', async () => {
    const state = new MemoryState();
    // lr 0.01, 3 steps: each value moves by at most ~0.03, so a 4-value block by at most ~0.06.
    coordinator = await startCoordinator({ config: config({ normBoundFactor: 1.01, roundTimeoutMs: 2000 }), task: fakeTask([2, 2]), state });
    devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-aaaaaaaa', { numSamples: 2, value: 0.01 }));
    const big = await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-bbbbbbbb', { numSamples: 2, value: 1 });
    devices.push(big);
    const refused = next(big.socket, 'serverError', 5000);
    const e = await refused;
    assert.equal(e.code, 'bad-adapter');
    assert.match(e.message, /larger than 3 Adam steps can move it: block "0" has L2 norm 2\.000/);
    assert.equal(await coordinator.done, 'finished');
    assert.deepEqual(state.listRounds(coordinator.runId)[1]?.participants, ['dev-aaaaaaaa']);
    assert.ok(Math.abs(coordinator.loop.globalAdapter.get('0')!.get('qkv.A')!.data[0]! - 0.01) < 1e-6);
  });

  it('gives a device that drops mid-round and comes back within the grace its work again', async () => {
    const state = new MemoryState();
    coordinator = await startCoordinator({ config: config({ rejoinGraceMs: 5000 }), task: fakeTask([2, 2]), state });
    devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-aaaaaaaa', { numSamples: 2, value: 2 }));
    const flaky = await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-bbbbbbbb', { numSamples: 2, value: 4, autoTrain: false });
    await waitFor('the first assignment', () => flaky.assignments.length > 0);
    const first = flaky.assignments[0]!;
    flaky.close();
    await new Promise((r) => setTimeout(r, 200));
    const back = await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-bbbbbbbb', { numSamples: 2, value: 4 });
    devices.push(back);
    assert.equal(await coordinator.done, 'finished');
    assert.deepEqual(
      back.assignments.map((a) => [a.runId, a.round, a.intraRound, a.groupId]),
      [[first.runId, first.round, first.intraRound, first.groupId]],
      'the same work, sent again',
    );
    assert.deepEqual(state.listRounds(coordinator.runId)[1]?.participants, ['dev-aaaaaaaa', 'dev-bbbbbbbb']);
    assert.equal(coordinator.loop.globalAdapter.get('0')?.get('qkv.A')?.data[0], 3);
  });

  it('drops the work of a device that does not come back within the grace', async () => {
    const state = new MemoryState();
    coordinator = await startCoordinator({ config: config({ rejoinGraceMs: 200 }), task: fakeTask([2, 2]), state });
    devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-aaaaaaaa', { numSamples: 2, value: 2 }));
    const gone = await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-bbbbbbbb', { numSamples: 2, value: 4, autoTrain: false });
    await waitFor('the first assignment', () => gone.assignments.length > 0);
    gone.close();
    assert.equal(await coordinator.done, 'finished');
    assert.deepEqual(state.listRounds(coordinator.runId)[1]?.participants, ['dev-aaaaaaaa']);
  });

  it('resumes an interrupted run from its last completed round, losing no round', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabfleet-resume-'));
    const file = join(dir, 'state.sqlite');
    let state: CoordinatorState | undefined;
    try {
      const cfg = config({ rounds: 4, alpha: 0.5, topK: 2 });
      state = new SqliteState(file);
      coordinator = await startCoordinator({ config: cfg, task: fakeTask([2, 2]), state });
      assert.equal(coordinator.resumed, false);
      const runId = coordinator.runId;
      const first = coordinator;
      devices.push(await startFakeDevice(first.localUrl, TOKEN, 'dev-aaaaaaaa', { numSamples: 2, value: 1 }));
      devices.push(await startFakeDevice(first.localUrl, TOKEN, 'dev-bbbbbbbb', { numSamples: 2, value: 1 }));
      await waitFor('round 1', () => (state?.listRounds(runId).length ?? 0) >= 2);
      await first.close();
      coordinator = undefined;
      const afterInterrupt = state.listRounds(runId).length - 1;
      assert.ok(afterInterrupt >= 1 && afterInterrupt < 4, `interrupted after round ${afterInterrupt}`);
      assert.equal(state.getRun(runId)?.status, 'interrupted');
      state.close();
      for (const d of devices) d.close();
      devices = [];

      state = new SqliteState(file);
      coordinator = await startCoordinator({ config: cfg, task: fakeTask([2, 2]), state });
      assert.equal(coordinator.resumed, true);
      assert.equal(coordinator.runId, runId);
      devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-aaaaaaaa', { numSamples: 2, value: 1 }));
      devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-bbbbbbbb', { numSamples: 2, value: 1 }));
      assert.equal(await coordinator.done, 'finished');
      assert.deepEqual(state.listRounds(runId).map((r) => r.round), [0, 1, 2, 3, 4]);
      assert.deepEqual(state.listMetrics(runId).map((m) => m.round), [0, 1, 2, 3, 4]);
      assert.equal(coordinator.loop.globalAdapter.get('0')?.get('qkv.A')?.data[0], 4, 'four rounds of +1, continued from the checkpoint');
      assert.equal(state.listRuns().length, 1, 'no new run was created');
    } finally {
      for (const d of devices) d.close();
      devices = [];
      await coordinator?.close();
      coordinator = undefined;
      state?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not resume a run made for other task settings, nor with resume off', async () => {
    const state = new MemoryState();
    const first = await startCoordinator({ config: config({ alpha: 0.5 }), task: fakeTask([2, 2]), state });
    await first.close();
    coordinator = await startCoordinator({ config: config({ alpha: 0.1 }), task: fakeTask([2, 2]), state });
    assert.equal(coordinator.resumed, false);
    assert.notEqual(coordinator.runId, first.runId);
    await coordinator.close();
    coordinator = await startCoordinator({ config: config({ alpha: 0.1, resume: false }), task: fakeTask([2, 2]), state });
    assert.equal(coordinator.resumed, false);
    assert.equal(state.listRuns().length, 3);
  });

  it('lets the admin stop a run and start another; connected devices are welcomed into it', async () => {
    const state = new MemoryState();
    coordinator = await startCoordinator({
      config: config({ devicesExpected: 3 }),
      strategy: createStrategy('fedlora', { planner: { localSteps: 3 } }),
      task: fakeTask([2, 2, 2]),
      state,
    });
    const device = await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-aaaaaaaa', { numSamples: 2, value: 1 });
    devices.push(device);
    const firstRun = coordinator.runId;
    const params: RunParams = {
      strategy: 'hierfedlora',
      rounds: 2,
      devicesExpected: 1,
      groups: 1,
      localSteps: 2,
      batchSize: 4,
      learningRate: 0.01,
      headLearningRate: 0.05,
      seed: 3,
      roundTimeoutS: 10,
      minReportFraction: 0.5,
      robust: 'median',
      trimFraction: 0.2,
      clipNorm: 'auto',
    };
    await assert.rejects(coordinator.startRun(params), /still going/);
    await coordinator.stopRun();
    assert.equal(await coordinator.done, 'stopped');
    assert.equal(state.getRun(firstRun)?.status, 'stopped');
    await assert.rejects(coordinator.stopRun(), /not running/);

    const welcome = next(device.socket, 'welcome');
    const secondRun = await coordinator.startRun(params);
    assert.notEqual(secondRun, firstRun);
    assert.equal((await welcome).runId, secondRun);
    assert.equal(state.getRun(secondRun)?.strategy, 'hierfedlora');
    assert.deepEqual(state.getRun(secondRun)?.config.robust, 'median');
    device.close();
    devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-aaaaaaaa', { numSamples: 2, value: 1 }));
    assert.equal(await coordinator.done, 'finished');
    assert.equal(state.listRounds(secondRun).length, 3);
  });
});
