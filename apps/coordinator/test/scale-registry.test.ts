/** What keeps a large fleet cheap: the joined count kept incrementally, eviction of gone devices, and the status broadcast coalesced. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Join, RunStatus } from '../src/core';
import { DeviceRegistry } from '../src/registry';
import { StatusThrottle } from '../src/status-throttle';

const join = (deviceId: string): Join => ({
  protocolVersion: 1,
  token: 't',
  deviceId,
  dataMode: 'own',
  backend: { name: 'wasm', forced: false, benchmarkMs: { wasm: 10 } },
  profile: { msPerStep: [5, 9], uploadBytesPerSec: 1e6, memoryBytes: 2e9 },
  labelHistogram: [2, 1],
  numSamples: 3,
});

describe('DeviceRegistry at scale', () => {
  it('joinedConnectedCount always equals joinedConnected().length', () => {
    const r = new DeviceRegistry();
    const check = () => assert.equal(r.joinedConnectedCount(), r.joinedConnected().length);
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const sockets = new Map<string, string>();
    for (let step = 0; step < 3000; step++) {
      const id = `dev-${String(Math.floor(random() * 40)).padStart(8, '0')}`;
      const action = Math.floor(random() * 5);
      const socket = sockets.get(id);
      if (action <= 1) {
        const s = `s${step}`;
        r.hello(id, s, 'own', step);
        sockets.set(id, s);
      } else if (action === 2 && socket && r.bySocket(socket)?.deviceId === id) r.join(socket, join(id), step);
      else if (action === 3 && socket) r.disconnect(socket, step);
      else if (action === 4 && random() < 0.1) r.revoke(id, step);
      else if (random() < 0.05) r.evictGone(10, step);
      check();
    }
  });

  it('evicts devices gone for the grace period, keeps connected and recently gone ones and key bindings', () => {
    const r = new DeviceRegistry();
    assert.equal(r.admitsKey('dev-aaaaaaaa', 'key-a'), true);
    r.hello('dev-aaaaaaaa', 'sa', 'own', 0);
    r.join('sa', join('dev-aaaaaaaa'), 0);
    r.hello('dev-bbbbbbbb', 'sb', 'own', 0);
    r.join('sb', join('dev-bbbbbbbb'), 0);
    r.hello('dev-cccccccc', 'sc', 'own', 0);
    r.disconnect('sa', 100);
    r.disconnect('sc', 900);
    assert.deepEqual(r.evictGone(1000, 1050), []);
    assert.deepEqual(r.evictGone(1000, 1100), ['dev-aaaaaaaa']);
    assert.equal(r.get('dev-aaaaaaaa'), undefined);
    assert.ok(r.get('dev-bbbbbbbb'), 'a connected device is never evicted');
    assert.ok(r.get('dev-cccccccc'));
    assert.equal(r.admitsKey('dev-aaaaaaaa', 'other-key'), false, 'the key binding outlives eviction');
    // It comes back: a fresh record, its first join in this process.
    r.hello('dev-aaaaaaaa', 'sa2', 'own', 2000);
    assert.equal(r.join('sa2', join('dev-aaaaaaaa'), 2000).rejoin, false);
    assert.equal(r.joinedConnectedCount(), 2);
  });
});

const status = (over: Partial<RunStatus> = {}): RunStatus => ({
  runId: 'run-20260101-000000-abcd',
  state: 'waiting',
  strategy: 'fedlora',
  round: 0,
  totalRounds: 3,
  devicesJoined: 0,
  devicesExpected: 10,
  lastAccuracy: null,
  ...over,
});

describe('StatusThrottle', () => {
  it('sends changes of state or round at once, coalesces counts to the latest, loses none at the end', async () => {
    const sent: RunStatus[] = [];
    let t = 0;
    const throttle = new StatusThrottle((s) => sent.push(s), { minIntervalMs: 30, now: () => t });
    throttle.push(status());
    for (let i = 1; i <= 100; i++) throttle.push(status({ devicesJoined: i }));
    assert.equal(sent.length, 1, 'a hundred count changes within the interval: none sent yet');
    throttle.push(status({ state: 'running', devicesJoined: 100 }));
    assert.equal(sent.length, 2);
    assert.equal(sent[1]!.state, 'running');
    throttle.push(status({ state: 'running', devicesJoined: 99 }));
    throttle.push(status({ state: 'running', devicesJoined: 98 }));
    t = 30;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(sent.length, 3);
    assert.equal(sent[2]!.devicesJoined, 98, 'the trailing broadcast carries the latest status');
    throttle.push(status({ state: 'running', round: 1, devicesJoined: 98 }));
    assert.equal(sent.length, 4, 'a new round goes out at once');
  });

  it('spaces count updates further apart for a large audience', () => {
    const sent: RunStatus[] = [];
    let t = 0;
    const throttle = new StatusThrottle((s) => sent.push(s), { minIntervalMs: 250, audience: () => 10_000, now: () => t });
    throttle.push(status());
    t = 500;
    throttle.push(status({ devicesJoined: 1 }));
    assert.equal(sent.length, 1, '500 ms is within the 1 s interval of 10,000 sockets');
    t = 1000;
    throttle.push(status({ devicesJoined: 2 }));
    assert.equal(sent.length, 2);
    throttle.cancel();
  });

  it('tells the sender which broadcasts are milestones (cluster-wide) and which are count-only (this node\'s sockets)', async () => {
    const sent: Array<[number, string, boolean]> = [];
    let t = 0;
    const throttle = new StatusThrottle((s, milestone) => sent.push([s.devicesJoined, s.state, milestone]), { minIntervalMs: 20, now: () => t });
    throttle.push(status());
    t = 5;
    throttle.push(status({ devicesJoined: 1 }));
    throttle.push(status({ devicesJoined: 2 }));
    t = 30;
    await new Promise((r) => setTimeout(r, 40));
    throttle.push(status({ devicesJoined: 2, state: 'running' }));
    t = 100;
    throttle.push(status({ devicesJoined: 3, state: 'running' }));
    assert.deepEqual(sent, [
      [0, 'waiting', true],
      [2, 'waiting', false],
      [2, 'running', true],
      [3, 'running', false],
    ]);
    throttle.cancel();
  });

  it('spaces count updates at least 20 times the last broadcast\'s own duration apart (a slow, loaded loop)', () => {
    const sent: RunStatus[] = [];
    let t = 0;
    // Each broadcast takes 100 ms of the loop.
    const throttle = new StatusThrottle(
      (s) => {
        sent.push(s);
        t += 100;
      },
      { minIntervalMs: 250, audience: () => 10, now: () => t },
    );
    throttle.push(status());
    assert.equal(t, 100);
    t = 1500;
    throttle.push(status({ devicesJoined: 1 }));
    assert.equal(sent.length, 1, '1.4 s after a 100 ms broadcast is within its 2 s spacing');
    t = 2100;
    throttle.push(status({ devicesJoined: 2 }));
    assert.equal(sent.length, 2);
    assert.equal(sent[1]!.devicesJoined, 2, 'the latest count goes out');
    // A milestone (new state) is never held back.
    throttle.push(status({ state: 'running', devicesJoined: 2 }));
    assert.equal(sent.length, 3);
    throttle.cancel();
  });
});
