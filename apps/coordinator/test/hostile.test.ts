/** Issue 13: what one holder of the join token can do, and restarts that need no flags. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createStrategy, PROTOCOL_VERSION } from '../src/core';
import { AddressLimits, clientAddress, connectionLimits } from '../src/connection-limits';
import { sampleWeightCap } from '../src/engine/run-loop';
import { startCoordinator } from '../src/server';
import type { RunConfig, RunningCoordinator } from '../src/server';
import { MemoryState, SqliteState } from '../src/state';
import { fakeTask, joinMessage, next, openSocket, startFakeDevice } from './support/fakes';
import type { DeviceClient } from './support/fakes';

const TOKEN = 'hostile-token';
const ADMIN = 'hostile-admin-token';
const base: RunConfig = {
  port: 0,
  host: '127.0.0.1',
  token: TOKEN,
  adminToken: ADMIN,
  rounds: 1,
  devicesExpected: 2,
  seed: 1,
  batchSize: 2,
  learningRate: 0.1,
  headLearningRate: 0.05,
  roundTimeoutMs: 30_000,
  normBoundFactor: null,
};
const hello = (deviceId: string, extra: Record<string, unknown> = {}) => ({ protocolVersion: PROTOCOL_VERSION, token: TOKEN, deviceId, dataMode: 'fleet' as const, ...extra });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('AddressLimits', () => {
  it('caps connections per address and in total, devices per address, and new hellos per minute', () => {
    const l = new AddressLimits(connectionLimits({ maxConnectionsPerAddress: 2, maxConnections: 3, maxDevicesPerAddress: 2, maxJoinsPerMinute: 3 }));
    assert.ok(l.open('a').ok && l.open('a').ok);
    const third = l.open('a');
    assert.ok(!third.ok && /address a has 2 open connections/.test(third.message));
    assert.ok(l.open('b').ok);
    const full = l.open('c');
    assert.ok(!full.ok && /maximum of 3 connections/.test(full.message));
    l.close('a');
    assert.ok(l.open('c').ok);
    assert.ok(l.hello('a', 'd1', 0).ok && l.hello('a', 'd2', 0).ok);
    const sybil = l.hello('a', 'd3', 0);
    assert.ok(!sybil.ok && /already speaks for 2 devices/.test(sybil.message));
    assert.ok(l.hello('b', 'd3', 0).ok, 'another address is not affected');
    l.release('a', 'd2');
    assert.equal(l.devicesOf('a'), 1);
    assert.ok(l.hello('a', 'd4', 0).ok);
    l.release('a', 'd4');
    const tooFast = l.hello('a', 'd5', 0); // a 4th new hello from a within the same instant
    assert.ok(!tooFast.ok && /more than 3 times a minute/.test(tooFast.message));
    assert.ok(l.hello('a', 'd5', 30_000).ok, 'the rate refills');
    assert.equal(clientAddress('::ffff:10.0.0.7'), '10.0.0.7');
  });
});

describe('sample weight cap', () => {
  it('is F × the median declared count, off with null', () => {
    assert.equal(sampleWeightCap([100, 120, 9_999_999], 2), 240);
    assert.equal(sampleWeightCap([100, 200], 1), 150);
    assert.equal(sampleWeightCap([100], null), Number.POSITIVE_INFINITY);
    assert.equal(sampleWeightCap([], 2), Number.POSITIVE_INFINITY);
  });
});

describe('gateway against one token holder', () => {
  let coordinator: RunningCoordinator;
  const sockets: DeviceClient[] = [];
  const open = () => {
    const s = openSocket(coordinator.localUrl);
    sockets.push(s);
    return s;
  };

  before(async () => {
    coordinator = await startCoordinator({
      config: { ...base, maxDevicesPerAddress: 3 },
      strategy: createStrategy('fedlora', { planner: { localSteps: 2 } }),
      task: fakeTask([2, 2, 2, 2, 2, 2]),
      state: new MemoryState(),
    });
  });
  after(async () => {
    for (const s of sockets) s.close();
    await coordinator.close();
  });

  it('sends no runStatus before an accepted hello, and parses nothing but hello before it', async () => {
    const s = open();
    let statuses = 0;
    s.on('runStatus', () => (statuses += 1));
    await new Promise<void>((r) => s.once('connect', () => r()));
    const err = next(s, 'serverError');
    // Malformed on purpose: refused as out of turn, never reaching the join schema.
    (s as unknown as { emit: (e: string, m: unknown) => void }).emit('join', { garbage: true });
    const e = await err;
    assert.equal(e.code, 'not-joined');
    await sleep(300);
    assert.equal(statuses, 0);
    const status = next(s, 'runStatus');
    s.emit('hello', hello('dev-status01'));
    assert.equal((await status).runId, coordinator.runId);
    s.close();
  });

  it('refuses a fleet device that lies about its partition, by name', async () => {
    const s = open();
    const welcome = next(s, 'welcome');
    s.emit('hello', hello('dev-liar0001'));
    const slot = (await welcome).fleet!.index;
    const err = next(s, 'serverError');
    s.emit('join', joinMessage('dev-liar0001', TOKEN, slot, 2_000_000));
    assert.match((await err).message, new RegExp(`numSamples 2000000 is not the size of fleet partition ${slot} \\(2\\)`));
    const err2 = next(s, 'serverError');
    s.emit('join', { ...joinMessage('dev-liar0001', TOKEN, slot, 2), labelHistogram: [2, 0] });
    assert.match((await err2).message, /labelHistogram is not the label histogram of fleet partition/);
    s.close();
    await sleep(100);
  });

  it('admits at most maxDevicesPerAddress devices from one address ("too-many-devices")', async () => {
    const answers: string[] = [];
    const held: DeviceClient[] = [];
    for (let i = 0; i < 5; i++) {
      const s = open();
      held.push(s);
      const got = Promise.race([next(s, 'welcome').then(() => 'welcome'), next(s, 'serverError').then((e) => e.code)]);
      s.emit('hello', { ...hello(`dev-sybil00${i}`), dataMode: 'own' });
      answers.push(await got);
    }
    assert.deepEqual(answers, ['welcome', 'welcome', 'welcome', 'too-many-devices', 'too-many-devices']);
    for (const s of held) s.close();
  });

  it('/api/status carries no per-device histogram or profile without the admin token', async () => {
    const d = await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-private1', { numSamples: 2, value: 0, autoTrain: false });
    sockets.push(d.socket);
    type Row = { deviceId: string; labelHistogram: number[] | null; msPerStep: number[] | null; numSamples: number | null };
    const anon = (await (await fetch(`${coordinator.localUrl}/api/status`)).json()) as { devices: Row[] };
    const row = anon.devices.find((x) => x.deviceId === 'dev-private1')!;
    assert.deepEqual([row.labelHistogram, row.msPerStep, row.numSamples], [null, null, null]);
    const admin = (await (await fetch(`${coordinator.localUrl}/api/status`, { headers: { Authorization: `Bearer ${ADMIN}` } })).json()) as { devices: Row[] };
    const full = admin.devices.find((x) => x.deviceId === 'dev-private1')!;
    assert.deepEqual(full.labelHistogram, [1, 1]);
    assert.deepEqual(full.msPerStep, [10, 20]);
    d.close();
  });
});

describe('single-use invites', () => {
  it('each invite admits one device (it may come back); with --invites-only the shared token admits nobody', async () => {
    const c = await startCoordinator({ config: { ...base, devicesExpected: 3, invitesOnly: true }, task: fakeTask([2, 2, 2]), state: new MemoryState() });
    const sockets: DeviceClient[] = [];
    const answer = async (token: string, deviceId: string) => {
      const s = openSocket(c.localUrl);
      sockets.push(s);
      const got = Promise.race([next(s, 'welcome').then(() => 'welcome'), next(s, 'serverError').then((e) => `${e.code}: ${e.message}`)]);
      s.emit('hello', { ...hello(deviceId), token });
      const r = await got;
      s.close();
      return r;
    };
    try {
      const unauthorized = await fetch(`${c.localUrl}/api/admin/invites`, { method: 'POST', body: '{"count":2}' });
      assert.equal(unauthorized.status, 401);
      const res = await fetch(`${c.localUrl}/api/admin/invites`, { method: 'POST', headers: { Authorization: `Bearer ${ADMIN}` }, body: '{"count":2}' });
      const { invites } = (await res.json()) as { invites: Array<{ invite: string; url: string }> };
      assert.equal(invites.length, 2);
      assert.ok(invites[0]!.url.includes(`?token=${encodeURIComponent(invites[0]!.invite)}`));
      assert.equal(await answer(invites[0]!.invite, 'dev-invited1'), 'welcome');
      assert.equal(await answer(invites[0]!.invite, 'dev-invited1'), 'welcome', 'the same device comes back with its invite');
      assert.match(await answer(invites[0]!.invite, 'dev-stranger'), /^bad-token: not a valid invite/);
      assert.match(await answer(TOKEN, 'dev-shared01'), /^bad-token/);
      assert.equal(await answer(invites[1]!.invite, 'dev-invited2'), 'welcome');
    } finally {
      for (const s of sockets) s.close();
      await c.close();
    }
  });
});

describe('restarts need no flags', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tabfleet-hostile-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('resumes with the stored join token; key bindings (hashed) and revocations survive the restart', async () => {
    const file = join(dir, 'state.sqlite');
    const task = fakeTask([2, 2, 2]);
    let state = new SqliteState(file);
    let c = await startCoordinator({ config: { ...base, devicesExpected: 3 }, task, state });
    const owner = openSocket(c.localUrl);
    const w = next(owner, 'welcome');
    owner.emit('hello', hello('dev-owner001', { deviceKey: 'secret-key-of-the-owner' }));
    await w;
    c.revokeDevice('dev-banned01');
    owner.close();
    const runId = c.runId;
    await c.close();
    state.close();

    state = new SqliteState(file);
    // Restarted without --token: a freshly generated one, which the stored token replaces.
    c = await startCoordinator({ config: { ...base, devicesExpected: 3, token: 'freshly-generated', tokenGenerated: true }, task, state });
    try {
      assert.equal(c.resumed, true);
      assert.equal(c.runId, runId);
      assert.equal(c.joinToken, TOKEN);
      const impostor = openSocket(c.localUrl);
      const refused = next(impostor, 'serverError');
      impostor.emit('hello', hello('dev-owner001', { deviceKey: 'a-guess-after-restart' }));
      assert.match((await refused).message, /bound to another device key/);
      impostor.close();
      const back = openSocket(c.localUrl);
      const again = next(back, 'welcome');
      back.emit('hello', hello('dev-owner001', { deviceKey: 'secret-key-of-the-owner' }));
      assert.equal((await again).deviceId, 'dev-owner001');
      back.close();
      const banned = openSocket(c.localUrl);
      const no = next(banned, 'serverError');
      banned.emit('hello', hello('dev-banned01'));
      assert.equal((await no).code, 'revoked');
      banned.close();
      assert.ok(!JSON.stringify(state.getDeviceKeyHash(runId, 'dev-owner001')).includes('secret-key'), 'only a hash is stored');
    } finally {
      await c.close();
      state.close();
    }
  });

  it('gives up a round that keeps missing its report fraction after the bounded attempts, with a message', async () => {
    const c = await startCoordinator({
      config: { ...base, devicesExpected: 1, roundTimeoutMs: 150, maxRoundAttempts: 2 },
      strategy: createStrategy('fedlora', { planner: { localSteps: 1 } }),
      task: fakeTask([2]),
      state: new MemoryState(),
    });
    try {
      const d = await startFakeDevice(c.localUrl, TOKEN, 'dev-silent01', { numSamples: 2, value: 0, autoTrain: false });
      assert.equal(await c.done, 'failed');
      assert.match(c.loop.status().message ?? '', /round 1: 2 attempts in a row had too few reports/);
      d.close();
    } finally {
      await c.close();
    }
  });

  it('frees the fleet slot of a device gone longer than the grace for a new tab', async () => {
    const c = await startCoordinator({ config: { ...base, devicesExpected: 2, slotGraceMs: 100 }, task: fakeTask([2]), state: new MemoryState() });
    try {
      const first = openSocket(c.localUrl);
      const w = next(first, 'welcome');
      first.emit('hello', hello('dev-gone0001'));
      assert.equal((await w).fleet?.index, 0);
      const other = openSocket(c.localUrl);
      const full = next(other, 'serverError');
      other.emit('hello', hello('dev-newtab01'));
      assert.equal((await full).code, 'no-partition');
      first.close();
      await sleep(300);
      const again = openSocket(c.localUrl);
      const got = next(again, 'welcome');
      again.emit('hello', hello('dev-newtab01'));
      assert.equal((await got).fleet?.index, 0);
      again.close();
    } finally {
      await c.close();
    }
  });
});
