import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Server } from 'socket.io';
import { io as connect } from 'socket.io-client';
import type { Socket as ClientSocket } from 'socket.io-client';
import type { DashboardState, DeviceRowView, RunParams, RunSummary } from '../src/dashboard/contract';
import type { DevicesPatch } from '../src/dashboard/devices-patch';
import { DASHBOARD_NAMESPACE } from '../src/dashboard/contract';
import type { DashboardNamespace, DashboardSource } from '../src/dashboard/namespace';
import { ADMIN_TOKEN_REQUIRED, attachDashboardNamespace, INVALID_ADMIN_TOKEN } from '../src/dashboard/namespace';

const ADMIN_TOKEN = 'admin-secret-123';
const PUSH_INTERVAL_MS = 200;

const PARAMS: RunParams = {
  strategy: 'hierfedlora',
  rounds: 3,
  devicesExpected: 2,
  groups: 2,
  localSteps: 4,
  batchSize: 8,
  learningRate: 0.01,
  headLearningRate: 0.03,
  seed: 1,
  roundTimeoutS: 120,
  minReportFraction: 0.5,
  robust: 'mean',
  trimFraction: 0.1,
  clipNorm: null,
};

/** A hand-written source: `version` goes into serverTime so a test can tell which state it got. */
class FakeSource implements DashboardSource {
  version = 0;
  listeners = new Set<() => void>();
  started: RunParams[] = [];
  stops = 0;
  revoked: string[] = [];
  startError: string | undefined;
  devices: DeviceRowView[] = [];

  view(admin: boolean): DashboardState {
    return {
      serverTime: this.version,
      admin,
      deviceUrl: admin ? 'http://10.0.0.2:8080/?token=join-secret' : 'http://10.0.0.2:8080/',
      deviceUrlHasToken: admin,
      tlsFingerprint: null,
      strategies: ['fedlora', 'hierfedlora'],
      defaultParams: PARAMS,
      classNames: ['a', 'b'],
      numBlocks: 4,
      run: null,
      status: null,
      globalDistribution: [0.5, 0.5],
      devices: this.devices.map((d) => (admin ? d : { ...d, numSamples: null })),
      groups: [],
      rounds: [],
      timeline: [],
    };
  }
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  change(): void {
    this.version++;
    for (const l of this.listeners) l();
  }
  listRuns(): RunSummary[] {
    return [{ run: { id: 'run-1', strategy: 'fedlora', status: 'finished', createdAt: 1, finishedAt: 2, config: {} }, rounds: [] }];
  }
  async startRun(params: RunParams): Promise<string> {
    if (this.startError) throw new Error(this.startError);
    this.started.push(params);
    return 'run-2';
  }
  async stopRun(): Promise<void> {
    this.stops++;
  }
  revokeDevice(deviceId: string): void {
    this.revoked.push(deviceId);
  }
  isAdminToken(token: string): boolean {
    return token === ADMIN_TOKEN;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Client {
  socket: ClientSocket;
  states: DashboardState[];
  patches: DevicesPatch[];
}

function deviceRow(id: string, step: number): DeviceRowView {
  return {
    deviceId: id, activity: 'training', connected: true, revoked: false, joins: 1, dataMode: 'fleet', backend: 'wasm',
    gpuAdapter: null, fallbackAdapter: null, msPerStep: [5], uploadBytesPerSec: 1, memoryBytes: 1, numSamples: 10,
    groupId: 'g0', depth: 1, localSteps: 4, progress: { round: 1, intraRound: 0, step, localSteps: 4, loss: 1 },
    lastSeen: 0, bytesUp: 0, bytesDown: 0, lastError: null, paused: null,
  };
}

describe('dashboard namespace', () => {
  let io: Server;
  let url: string;
  let source: FakeSource;
  let dashboard: DashboardNamespace;
  const clients: ClientSocket[] = [];

  // A fresh server per test: a namespace keeps its middleware for the server's lifetime.
  beforeEach(async () => {
    const http = createServer();
    io = new Server(http, { transports: ['websocket'], serveClient: false });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}${DASHBOARD_NAMESPACE}`;
    source = new FakeSource();
    dashboard = attachDashboardNamespace(io, source, { minPushIntervalMs: PUSH_INTERVAL_MS });
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    dashboard.detach();
    await new Promise<void>((resolve) => io.close(() => resolve()));
  });

  /** Connects and waits for the first state push. */
  async function open(adminToken?: unknown): Promise<Client> {
    const socket = connect(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: adminToken === undefined ? {} : { adminToken } });
    clients.push(socket);
    const states: DashboardState[] = [];
    const patches: DevicesPatch[] = [];
    socket.on('state', (s: DashboardState) => states.push(s));
    socket.on('devicesPatch', (p: DevicesPatch) => patches.push(p));
    await new Promise<void>((resolve, reject) => {
      socket.once('state', () => resolve());
      socket.once('connect_error', reject);
    });
    return { socket, states, patches };
  }

  function call<T>(socket: ClientSocket, event: string, ...args: unknown[]): Promise<T> {
    return socket.timeout(2_000).emitWithAck(event, ...args) as Promise<T>;
  }

  it('pushes the viewer view to sockets without a token and the admin view to the admin', async () => {
    const viewer = await open();
    const admin = await open(ADMIN_TOKEN);
    assert.equal(viewer.states[0]?.admin, false);
    assert.equal(viewer.states[0]?.deviceUrlHasToken, false);
    assert.doesNotMatch(viewer.states[0]?.deviceUrl ?? '', /token/);
    assert.equal(admin.states[0]?.admin, true);
    source.change();
    await sleep(PUSH_INTERVAL_MS * 2);
    assert.equal(viewer.states.at(-1)?.admin, false, 'later pushes keep the viewer view');
    assert.equal(admin.states.at(-1)?.admin, true);
    assert.equal(viewer.states.at(-1)?.serverTime, 1);
  });

  it('sends the device list as a snapshot at connect, then only the rows that changed, per audience; a snapshot on resync', async () => {
    source.devices = [deviceRow('dev-a', 0), deviceRow('dev-b', 0), deviceRow('dev-c', 0)];
    const admin = await open(ADMIN_TOKEN);
    const viewer = await open();
    assert.equal(admin.states[0] && 'devices' in admin.states[0], false, 'state pushes carry no device list');
    const [snap] = admin.patches;
    assert.equal(snap?.base, null);
    assert.deepEqual(snap?.upserts.map((r) => r.deviceId), ['dev-a', 'dev-b', 'dev-c']);
    assert.equal(viewer.patches[0]?.upserts[0]?.numSamples, null, "the viewer's rows are the viewer view");

    // One device makes progress, one leaves: the next patch names just those.
    source.devices = [deviceRow('dev-a', 0), deviceRow('dev-b', 1)];
    source.change();
    await sleep(PUSH_INTERVAL_MS * 2);
    const delta = admin.patches.at(-1);
    assert.deepEqual(delta && { base: delta.base, seq: delta.seq, upserts: delta.upserts.map((r) => r.deviceId), removed: delta.removed }, {
      base: snap?.seq,
      seq: (snap?.seq ?? 0) + 1,
      upserts: ['dev-b'],
      removed: ['dev-c'],
    });
    assert.deepEqual(viewer.patches.at(-1)?.upserts.map((r) => r.deviceId), ['dev-b']);
    // Nothing changed in the devices: the next push sends no patch.
    const before = admin.patches.length;
    source.change();
    await sleep(PUSH_INTERVAL_MS * 2);
    assert.equal(admin.patches.length, before);
    assert.ok(admin.states.length >= 2);

    // A page that lost track asks; it gets the whole list at the current seq.
    admin.socket.emit('resyncDevices');
    await sleep(200);
    const resync = admin.patches.at(-1);
    assert.equal(resync?.base, null);
    assert.equal(resync?.seq, delta?.seq);
    assert.deepEqual(resync?.upserts.map((r) => [r.deviceId, r.progress?.step]), [['dev-a', 0], ['dev-b', 1]]);
  });

  it('refuses a connection with a wrong or malformed admin token', async () => {
    for (const bad of ['wrong', 42, { token: ADMIN_TOKEN }]) {
      await assert.rejects(open(bad), (err: Error) => err.message === INVALID_ADMIN_TOKEN, `token ${JSON.stringify(bad)}`);
    }
  });

  it('coalesces a burst of changes into at most one push per interval, ending on the latest state', async () => {
    const viewer = await open();
    const initial = viewer.states.length;
    const burstMs = 1_000;
    const started = Date.now();
    while (Date.now() - started < burstMs) {
      source.change();
      await sleep(5);
    }
    await sleep(PUSH_INTERVAL_MS * 2);
    const pushes = viewer.states.length - initial;
    assert.ok(source.version > 100, `the burst made ${source.version} changes`);
    assert.ok(pushes >= 2, `some pushes during the burst (${pushes})`);
    assert.ok(pushes <= burstMs / PUSH_INTERVAL_MS + 2, `${pushes} pushes for ${source.version} changes`);
    assert.equal(viewer.states.at(-1)?.serverTime, source.version, 'the last push carries the last change');
  });

  it('sends nothing when nothing changes', async () => {
    const viewer = await open();
    await sleep(PUSH_INTERVAL_MS * 2);
    assert.equal(viewer.states.length, 1);
  });

  it('refuses every admin action from a viewer and never calls the source', async () => {
    const viewer = await open();
    assert.deepEqual(await call(viewer.socket, 'startRun', PARAMS), { ok: false, error: ADMIN_TOKEN_REQUIRED });
    assert.deepEqual(await call(viewer.socket, 'stopRun'), { ok: false, error: ADMIN_TOKEN_REQUIRED });
    assert.deepEqual(await call(viewer.socket, 'revokeDevice', 'dev-111111'), { ok: false, error: ADMIN_TOKEN_REQUIRED });
    assert.deepEqual([source.started, source.stops, source.revoked], [[], 0, []]);
    const runs = await call<RunSummary[]>(viewer.socket, 'listRuns');
    assert.deepEqual(runs.map((r) => r.run.id), ['run-1'], 'listing past runs is allowed read-only');
  });

  it('validates run parameters before starting a run and reports the source’s refusal', async () => {
    const admin = await open(ADMIN_TOKEN);
    const bad = await call<{ ok: boolean; error?: string }>(admin.socket, 'startRun', { ...PARAMS, rounds: 0, strategy: 'nope' });
    assert.equal(bad.ok, false);
    assert.match(bad.error ?? '', /invalid run parameters: .*strategy/);
    assert.match(bad.error ?? '', /rounds/);
    const extra = await call<{ ok: boolean }>(admin.socket, 'startRun', { ...PARAMS, evil: true });
    assert.equal(extra.ok, false, 'unknown keys are refused');
    assert.equal(source.started.length, 0);

    assert.deepEqual(await call(admin.socket, 'startRun', PARAMS), { ok: true, runId: 'run-2' });
    assert.deepEqual(source.started, [PARAMS]);

    source.startError = 'a run is in progress';
    assert.deepEqual(await call(admin.socket, 'startRun', PARAMS), { ok: false, error: 'a run is in progress' });

    assert.deepEqual(await call(admin.socket, 'stopRun'), { ok: true });
    assert.equal(source.stops, 1);
    assert.deepEqual(await call(admin.socket, 'revokeDevice', 'dev-abcdef'), { ok: true });
    const badId = await call<{ ok: boolean }>(admin.socket, 'revokeDevice', { id: 'dev-abcdef' });
    assert.equal(badId.ok, false);
    assert.deepEqual(source.revoked, ['dev-abcdef']);
  });

  it('survives malformed messages and keeps answering', async () => {
    const admin = await open(ADMIN_TOKEN);
    admin.socket.emit('startRun');
    admin.socket.emit('startRun', PARAMS);
    admin.socket.emit('startRun', null, 'not a function');
    admin.socket.emit('revokeDevice', 'dev-x');
    admin.socket.emit('listRuns', 1, 2, 3);
    admin.socket.emit('stopRun', { x: 1 });
    admin.socket.emit('unknownEvent', { a: 1 });
    admin.socket.emit('state', { fake: true });
    const missing = await call<{ ok: boolean; error?: string }>(admin.socket, 'startRun');
    assert.equal(missing.ok, false, 'startRun with only an ack has no parameters');
    const missingId = await call<{ ok: boolean }>(admin.socket, 'revokeDevice');
    assert.equal(missingId.ok, false);
    assert.deepEqual(source.started, [], 'an action without an ack does nothing');
    assert.deepEqual(source.revoked, []);
    assert.equal(source.stops, 0);
    assert.equal(admin.socket.connected, true);
    assert.deepEqual(await call(admin.socket, 'revokeDevice', 'dev-okokok'), { ok: true });
  });

  it('keeps the namespace alive when the source throws', async () => {
    const viewer = await open();
    source.listRuns = () => {
      throw new Error('database is locked');
    };
    assert.deepEqual(await call(viewer.socket, 'listRuns'), []);
    source.view = () => {
      throw new Error('view failed');
    };
    source.change();
    await sleep(PUSH_INTERVAL_MS * 2);
    assert.equal(viewer.socket.connected, true);
    assert.equal(viewer.states.length, 1);
  });

  it('detach stops listening to the source and disconnects the dashboards', async () => {
    const viewer = await open();
    const disconnected = new Promise<void>((resolve) => viewer.socket.once('disconnect', () => resolve()));
    dashboard.detach();
    await disconnected;
    assert.equal(source.listeners.size, 0);
  });
});
