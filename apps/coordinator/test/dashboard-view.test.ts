/**
 * The state a live coordinator pushes to dashboards, read over a real `/dashboard` socket after a
 * short run with fake devices: devices, the plan's groups with their pooled label distributions,
 * the timeline of group aggregations, the rounds, and the join token shown to admins only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io as connect } from 'socket.io-client';
import { createStrategy } from '../src/core';
import type { DashboardPush, DashboardState } from '../src/dashboard/contract';
import { applyDevicesPatch, parseDevicesPatch, sortedRows } from '../src/dashboard/devices-patch';
import type { DeviceList } from '../src/dashboard/devices-patch';
import type { RunningCoordinator } from '../src/server';
import { startCoordinator } from '../src/server';
import { MemoryState } from '../src/state';
import type { FakeDevice } from './support/fakes';
import { fakeTask, startFakeDevice } from './support/fakes';

const TOKEN = 'join-token-1';
const ADMIN = 'admin-token-1';

/** The first push, with the device list from the snapshot that precedes it (as the page assembles them). */
function firstState(url: string, adminToken?: string): Promise<DashboardState> {
  const socket = connect(`${url}/dashboard`, { transports: ['websocket'], forceNew: true, reconnection: false, ...(adminToken ? { auth: { adminToken } } : {}) });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no state within 5 s')), 5000);
    let list: DeviceList | null = null;
    socket.on('devicesPatch', (raw: unknown) => {
      const patch = parseDevicesPatch(raw);
      const applied = patch ? applyDevicesPatch(list, patch) : undefined;
      if (applied?.ok) list = applied.list;
    });
    socket.once('state', (s: DashboardPush) => {
      clearTimeout(timer);
      socket.close();
      if (!list) reject(new Error('a state push before any device snapshot'));
      else resolve({ ...s, devices: sortedRows(list) });
    });
  });
}

describe('dashboard state of a live coordinator', () => {
  let coordinator: RunningCoordinator;
  const devices: FakeDevice[] = [];

  before(async () => {
    coordinator = await startCoordinator({
      config: {
        port: 0, host: '127.0.0.1', token: TOKEN, adminToken: ADMIN, rounds: 2, devicesExpected: 2, seed: 1,
        batchSize: 4, learningRate: 0.01, headLearningRate: 0.05, roundTimeoutMs: 10_000,
        // Fake devices upload constant deltas far larger than real Adam steps: no norm check here.
        normBoundFactor: null,
      },
      strategy: createStrategy('fedlora', { planner: { localSteps: 3 } }),
      task: fakeTask([2, 4]),
      state: new MemoryState(),
    });
    devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-aaaaaaaa', { numSamples: 2, value: 1 }));
    devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-bbbbbbbb', { numSamples: 4, value: 1 }));
    assert.equal(await coordinator.done, 'finished');
  });

  after(async () => {
    for (const d of devices) d.close();
    await coordinator.close();
  });

  it('shows devices, groups with pooled label distributions, the timeline and the rounds', async () => {
    const s = await firstState(coordinator.localUrl, ADMIN);
    assert.equal(s.admin, true);
    assert.equal(s.run?.id, coordinator.runId);
    assert.equal(s.status?.state, 'finished');
    assert.deepEqual(s.devices.map((d) => [d.deviceId, d.backend, d.depth, d.localSteps]), [
      ['dev-aaaaaaaa', 'cpu', 2, 3],
      ['dev-bbbbbbbb', 'cpu', 2, 3],
    ]);
    // Histograms from joinMessage: 2 samples → [1, 1], 4 samples → [2, 2]; pooled [3, 3].
    assert.deepEqual(s.globalDistribution, [0.5, 0.5]);
    assert.equal(s.groups.length, 1);
    assert.deepEqual(s.groups[0]?.deviceIds, ['dev-aaaaaaaa', 'dev-bbbbbbbb']);
    assert.deepEqual(s.groups[0]?.labelDistribution, [0.5, 0.5]);
    assert.equal(s.groups[0]?.divergence, 0);
    assert.deepEqual(s.timeline.map((e) => [e.round, e.groupId, e.intraRound, e.contributors, e.planned]), [
      [1, 'all', 0, 2, 2],
      [2, 'all', 0, 2, 2],
    ]);
    assert.deepEqual(s.rounds.map((r) => r.round), [0, 1, 2]);
    assert.ok(s.rounds.every((r) => r.accuracy !== null));
    assert.ok(s.rounds[2]!.finishedAt >= s.rounds[1]!.finishedAt);
    assert.equal(s.defaultParams.strategy, 'fedlora');
  });

  it('puts the join token into the device URL for admins only', async () => {
    const admin = await firstState(coordinator.localUrl, ADMIN);
    assert.ok(admin.deviceUrlHasToken);
    assert.match(admin.deviceUrl, new RegExp(`\\?token=${TOKEN}$`));
    const viewer = await firstState(coordinator.localUrl);
    assert.equal(viewer.admin, false);
    assert.equal(viewer.deviceUrlHasToken, false);
    assert.ok(!JSON.stringify(viewer).includes(TOKEN), 'the viewer state carries no join token');
    assert.ok(!JSON.stringify(viewer).includes(ADMIN), 'nor the admin token');
  });
});
