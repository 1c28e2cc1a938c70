/** Per-connection limits and revocation: the pure counters, then a live gateway over real sockets. */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Server } from 'socket.io';
import { ConnectionGuard, connectionLimits, StrikeCounter, TokenBucket } from '../src/connection-limits';
import type { ConnectionLimits } from '../src/connection-limits';
import { PROTOCOL_VERSION } from '../src/core';
import type { RunStatus, ServerError, Upload, UploadOffer } from '../src/core';
import { FleetSlots } from '../src/fleet-slots';
import { DeviceGateway } from '../src/gateway';
import type { CoordinatorServer } from '../src/gateway';
import { DeviceRegistry } from '../src/registry';
import { MemoryState } from '../src/state';
import { fakeTask, joinMessage, next, openSocket } from './support/fakes';
import type { DeviceClient } from './support/fakes';

const TOKEN = 'limits-token';
const RUN = 'run-limits';

describe('TokenBucket', () => {
  it('lets a burst through, then refills at the sustained rate', () => {
    const b = new TokenBucket(3, 2, 0);
    assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
    assert.equal(b.take(400), false, '0.8 of a token after 400 ms');
    assert.equal(b.take(500), true, 'one token after 500 ms at 2/s');
    assert.equal(b.take(500), false);
    assert.deepEqual([b.take(60_000), b.take(60_000), b.take(60_000), b.take(60_000)], [true, true, true, false], 'capacity caps the refill');
  });
});

describe('StrikeCounter', () => {
  it('trips past the maximum inside the window, and forgets strikes that left it', () => {
    const s = new StrikeCounter(2, 1000);
    assert.equal(s.add(0), false);
    assert.equal(s.add(10), false);
    assert.equal(s.add(20), true);
    const t = new StrikeCounter(2, 1000);
    t.add(0);
    t.add(10);
    assert.equal(t.add(1005), false, 'the strike at 0 left the window');
    assert.equal(t.count, 2);
  });
});

describe('connectionLimits', () => {
  it('fills defaults and refuses nonsense', () => {
    assert.equal(connectionLimits({ burst: 5 }).burst, 5);
    assert.ok(connectionLimits().perSecond > 0);
    assert.throws(() => connectionLimits({ perSecond: 0 }), /perSecond must be a positive number/);
    assert.throws(() => connectionLimits({ maxStrikes: Number.NaN }), /maxStrikes/);
  });

  it('a guard admits by rate and trips by strikes independently', () => {
    const g = new ConnectionGuard(connectionLimits({ burst: 1, perSecond: 1, maxStrikes: 1 }), 0);
    assert.equal(g.admit(0), true);
    assert.equal(g.admit(0), false);
    assert.equal(g.strike(0), false);
    assert.equal(g.strike(0), true);
  });
});

interface Harness {
  readonly url: string;
  readonly gateway: DeviceGateway;
  readonly registry: DeviceRegistry;
  readonly uploads: string[];
  readonly left: string[];
  close(): Promise<void>;
}

async function startGateway(limits: Partial<ConnectionLimits>): Promise<Harness> {
  const state = new MemoryState();
  state.createRun({ id: RUN, createdAt: 0, strategy: 'fedlora', config: {}, status: 'waiting', finishedAt: null });
  const task = fakeTask([2, 2, 2, 2]);
  const registry = new DeviceRegistry();
  const http = createServer();
  const io: CoordinatorServer = new Server(http, { transports: ['websocket'], serveClient: false });
  const gateway = new DeviceGateway(io, { runId: RUN, token: TOKEN, task: task.info, registry, state, fleet: new FleetSlots(RUN, state, task.fleet), limits });
  const uploads: string[] = [];
  const left: string[] = [];
  const status: RunStatus = { runId: RUN, state: 'running', strategy: 'fedlora', round: 0, totalRounds: 1, devicesJoined: 0, devicesExpected: 1, lastAccuracy: null };
  gateway.attachEngine({
    acceptUpload: (deviceId: string, u: Upload) => {
      uploads.push(deviceId);
      return { ok: true, bytes: u.payload.byteLength };
    },
    offerUpload: (_deviceId: string, o: UploadOffer) => ({ ok: true, bytes: o.bytes }),
    deviceLeft: (deviceId: string) => void left.push(deviceId),
    deviceRejoined: () => {},
    status: () => status,
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return {
    url,
    gateway,
    registry,
    uploads,
    left,
    close: () => new Promise<void>((resolve) => io.close(() => resolve())),
  };
}

/** Collects every serverError of a socket and says when the server closed it. */
function watch(socket: DeviceClient): { errors: ServerError[]; closed: Promise<string> } {
  const errors: ServerError[] = [];
  socket.on('serverError', (e) => void errors.push(e as ServerError));
  const closed = new Promise<string>((resolve) => socket.on('disconnect', (reason) => resolve(reason)));
  return { errors, closed };
}

const hello = (deviceId: string, dataMode: 'fleet' | 'own' = 'fleet') => ({ protocolVersion: PROTOCOL_VERSION, token: TOKEN, deviceId, dataMode });
const progress = { runId: RUN, round: 1, intraRound: 0, step: 1, localSteps: 4, loss: 0.5 };
const upload = { runId: RUN, round: 1, intraRound: 0, groupId: 'all', numSamples: 1, payload: new Uint8Array([1, 2, 3, 4]) };

async function joined(h: Harness, sockets: DeviceClient[], deviceId: string): Promise<DeviceClient> {
  const s = openSocket(h.url);
  sockets.push(s);
  const welcome = next(s, 'welcome');
  s.emit('hello', hello(deviceId));
  const slot = (await welcome).fleet!.index;
  const ok = next(s, 'joined');
  s.emit('join', joinMessage(deviceId, TOKEN, slot, 2));
  await ok;
  return s;
}

describe('gateway limits over real sockets', () => {
  let h: Harness;
  const sockets: DeviceClient[] = [];
  before(async () => {
    h = await startGateway({ burst: 10, perSecond: 5, maxStrikes: 6, strikeWindowMs: 60_000, helloTimeoutMs: 400 });
  });
  after(async () => {
    for (const s of sockets) s.close();
    await h.close();
  });

  it('a well-behaved device (hello, join, a progress per step, an upload) meets no limit', async () => {
    const s = await joined(h, sockets, 'dev-limits-ok');
    const w = watch(s);
    for (let step = 1; step <= 4; step++) {
      s.emit('progress', { ...progress, step });
      await new Promise((r) => setTimeout(r, 200));
    }
    const accepted = next(s, 'uploadAccepted');
    s.emit('upload', upload);
    await accepted;
    assert.deepEqual(w.errors, []);
    assert.deepEqual(h.uploads, ['dev-limits-ok']);
  });

  it('answers a flood with rate-limited, then closes the connection with too-many-errors', async () => {
    const s = await joined(h, sockets, 'dev-limits-flood');
    const w = watch(s);
    for (let i = 0; i < 50; i++) s.emit('progress', { ...progress, step: i });
    assert.equal(await w.closed, 'io server disconnect');
    const codes = w.errors.map((e) => e.code);
    assert.ok(codes.filter((c) => c === 'rate-limited').length >= 6, codes.join(','));
    assert.equal(codes.at(-1), 'too-many-errors');
    assert.equal(codes.filter((c) => c === 'too-many-errors').length, 1);
    assert.ok(codes.length < 20, `the rest of the flood is not answered (${codes.length} answers)`);
    assert.equal(h.registry.isConnected('dev-limits-flood'), false);
  });

  it('closes a connection that keeps sending invalid messages, answering each until then', async () => {
    const s = openSocket(h.url);
    sockets.push(s);
    const w = watch(s);
    s.emit('hello', hello('dev-limits-bad'));
    await next(s, 'welcome');
    for (let i = 0; i < 7; i++) {
      s.emit('progress', { ...progress, loss: 'NaN' } as never);
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(await w.closed, 'io server disconnect');
    assert.deepEqual(
      w.errors.map((e) => e.code),
      [...Array(7).fill('invalid-message'), 'too-many-errors'],
    );
  });

  it('refuses every event but hello before hello, with a clear message', async () => {
    const s = openSocket(h.url);
    sockets.push(s);
    for (const [event, msg] of [['progress', progress], ['upload', upload], ['deviceError', { code: 'internal', message: 'x' }]] as const) {
      const err = next(s, 'serverError');
      s.emit(event as 'progress', msg as never);
      const e = await err;
      assert.equal(e.code, 'not-joined');
      assert.equal(e.event, event);
      assert.match(e.message, new RegExp(`say "hello" on this connection before "${event}"`));
    }
    assert.deepEqual(h.uploads.filter((d) => d !== 'dev-limits-ok'), [], 'no upload reached the engine');
  });

  it('closes a connection that never says hello', async () => {
    const s = openSocket(h.url);
    sockets.push(s);
    const w = watch(s);
    assert.equal(await w.closed, 'io server disconnect');
    assert.equal(w.errors[0]?.code, 'not-joined');
    assert.match(w.errors[0]?.message ?? '', /no accepted "hello" within 400 ms/);
  });
});

describe('revocation over real sockets', () => {
  let h: Harness;
  const sockets: DeviceClient[] = [];
  before(async () => {
    h = await startGateway({});
  });
  after(async () => {
    for (const s of sockets) s.close();
    await h.close();
  });

  it('a revoked device is told why, disconnected, dropped from the round and refused on its way back', async () => {
    const s = await joined(h, sockets, 'dev-revoke-me');
    const w = watch(s);
    assert.equal(h.gateway.revoke('dev-revoke-me'), true);
    assert.equal(await w.closed, 'io server disconnect');
    assert.equal(w.errors[0]?.code, 'revoked');
    assert.deepEqual(h.left, ['dev-revoke-me'], 'its work in flight is dropped');
    assert.deepEqual(h.registry.joinedConnected().map((d) => d.deviceId), []);

    // Back on a fresh connection: hello is refused and closed.
    const again = openSocket(h.url);
    sockets.push(again);
    const w2 = watch(again);
    again.emit('hello', hello('dev-revoke-me'));
    assert.equal(await w2.closed, 'io server disconnect');
    assert.deepEqual(w2.errors.map((e) => [e.code, e.event]), [['revoked', 'hello']]);
  });

  it('a connection that said hello before the revocation gets revoked on its next message, and its upload never reaches the engine', async () => {
    const s = await joined(h, sockets, 'dev-revoke-2');
    const w = watch(s);
    h.registry.revoke('dev-revoke-2', Date.now()); // registry only: the socket is still open
    s.emit('upload', upload);
    assert.equal(await w.closed, 'io server disconnect');
    assert.deepEqual(w.errors.map((e) => [e.code, e.event]), [['revoked', 'upload']]);
    assert.equal(h.uploads.includes('dev-revoke-2'), false);
  });

  it('a revoked device cannot join on a connection that said hello as another device', async () => {
    const s = openSocket(h.url);
    sockets.push(s);
    const w = watch(s);
    const welcome = next(s, 'welcome');
    s.emit('hello', hello('dev-revoke-other', 'own'));
    await welcome;
    s.emit('join', { ...joinMessage('dev-revoke-me', TOKEN, 0, 2), dataMode: 'own', partitionIndex: undefined });
    assert.equal(await w.closed, 'io server disconnect');
    assert.deepEqual(w.errors.map((e) => [e.code, e.event]), [['revoked', 'join']]);
  });

  it('revoking a device that is not connected still refuses it later', async () => {
    assert.equal(h.gateway.revoke('dev-never-seen'), false);
    const s = openSocket(h.url);
    sockets.push(s);
    const err = next(s, 'serverError');
    s.emit('hello', hello('dev-never-seen'));
    assert.equal((await err).code, 'revoked');
  });
});
