/** Messages are validated where they enter: unit checks of the schemas, then the live gateway's answers. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createStrategy, encodeAdapter, parseDeviceMessage, parseServerMessage, PROTOCOL_VERSION } from '../src/core';
import { computeMaxHttpBufferSize } from '../src/config';
import { fullAdapterBytes } from '../src/engine/adapter-sizes';
import { startCoordinator } from '../src/server';
import type { RunningCoordinator } from '../src/server';
import { MemoryState } from '../src/state';
import { constantDelta, fakeTask, joinMessage, next, openSocket, startFakeDevice, tinyAdapter } from './support/fakes';
import type { DeviceClient } from './support/fakes';

const TOKEN = 'proto-token';

describe('deviceState', () => {
  it('accepts pause reasons and refuses unknown ones', () => {
    assert.equal(parseDeviceMessage('deviceState', { paused: true, reasons: ['hidden', 'battery'] }).ok, true);
    assert.equal(parseDeviceMessage('deviceState', { paused: false, reasons: [] }).ok, true);
    assert.equal(parseDeviceMessage('deviceState', { paused: true, reasons: ['bored'] }).ok, false);
    assert.equal(parseDeviceMessage('deviceState', { paused: 'yes', reasons: [] }).ok, false);
  });
});

describe('protocol schemas', () => {
  const join = joinMessage('dev-aaaaaaaa', TOKEN, 0, 4);

  it('accepts a well-formed join', () => {
    assert.equal(parseDeviceMessage('join', join).ok, true);
  });

  it('names the event and each offending field', () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['join', { ...join, numSamples: '4' }, /invalid "join" message: numSamples: .*expected number/],
      ['join', { ...join, deviceId: 'short' }, /deviceId: deviceId must be 8-64 characters/],
      ['join', { ...join, numSamples: 5 }, /labelHistogram: labelHistogram must sum to numSamples/],
      ['join', { ...join, backend: { ...join.backend, name: 'metal' } }, /backend\.name: /],
      ['join', { ...join, profile: { ...join.profile, msPerStep: [1, Number.NaN] } }, /profile\.msPerStep\.1: /],
      ['join', { ...join, partitionIndex: undefined }, /partitionIndex: fleet-mode join needs partitionIndex/],
      ['join', { ...join, extra: true }, /Unrecognized key: "extra"/],
      ['join', null, /invalid "join" message: \(message\): .*expected object/],
      ['upload', { runId: 'r', round: 1, intraRound: 0, groupId: 'g', numSamples: 1, payload: 'AAAA' }, /payload: expected binary data/],
      ['upload', { runId: 'r', round: 1, intraRound: 0, groupId: 'g', numSamples: 1, payload: new ArrayBuffer(0) }, /payload: binary payload is empty/],
      ['upload', { runId: 'r', round: -1, intraRound: 0, groupId: 'g', numSamples: 1, payload: new Uint8Array(1) }, /round: /],
      ['progress', { runId: 'r', round: 1, intraRound: 0, step: 1, localSteps: 2, loss: Infinity }, /loss: /],
      ['shutdown', {}, /unknown event "shutdown"/],
    ];
    for (const [event, msg, expected] of cases) {
      const r = parseDeviceMessage(event, msg);
      assert.equal(r.ok, false, `${event} ${JSON.stringify(msg)} was accepted`);
      if (!r.ok) assert.match(r.error, expected);
    }
  });

  it('turns any binary form into a Uint8Array over the same bytes', () => {
    const buf = Buffer.from([9, 8, 7, 6]).subarray(1, 3);
    const r = parseDeviceMessage('upload', { runId: 'r', round: 1, intraRound: 0, groupId: 'g', numSamples: 1, payload: buf });
    assert.ok(r.ok);
    if (r.ok) assert.deepEqual([...r.value.payload], [8, 7]);
    const s = parseServerMessage('globalAdapter', { runId: 'r', round: 1, intraRound: 0, payload: new Uint16Array([1]).buffer });
    assert.ok(s.ok && s.value.payload instanceof Uint8Array && s.value.payload.byteLength === 2);
  });
});

describe('gateway', () => {
  let coordinator: RunningCoordinator;
  const sockets: DeviceClient[] = [];
  const open = () => {
    const s = openSocket(coordinator.localUrl);
    sockets.push(s);
    return s;
  };
  const hello = (deviceId: string, token = TOKEN) => ({ protocolVersion: PROTOCOL_VERSION, token, deviceId, dataMode: 'fleet' as const });

  before(async () => {
    coordinator = await startCoordinator({
      config: { port: 0, host: '127.0.0.1', token: TOKEN, rounds: 1, devicesExpected: 2, seed: 1, batchSize: 2, learningRate: 0.1, headLearningRate: 0.05, roundTimeoutMs: 30_000, normBoundFactor: null },
      strategy: createStrategy('fedlora', { planner: { localSteps: 2 } }),
      task: fakeTask([2, 2, 2, 2, 2, 2]),
      state: new MemoryState(),
    });
  });

  after(async () => {
    for (const s of sockets) s.close();
    await coordinator.close();
  });

  it('sizes maxHttpBufferSize from the full adapter', () => {
    assert.equal(coordinator.maxHttpBufferSize, computeMaxHttpBufferSize(fullAdapterBytes(tinyAdapter())));
  });

  it('answers a malformed message with invalid-message naming the field, and stays up', async () => {
    const s = open();
    const err = next(s, 'serverError');
    s.emit('hello', { ...hello('dev-aaaaaaaa'), dataMode: 'cloud' } as never);
    const e = await err;
    assert.equal(e.code, 'invalid-message');
    assert.equal(e.event, 'hello');
    assert.match(e.message, /dataMode/);
    const welcome = next(s, 'welcome');
    s.emit('hello', hello('dev-aaaaaaaa'));
    assert.equal((await welcome).deviceId, 'dev-aaaaaaaa');
  });

  it('refuses unknown events', async () => {
    const s = open();
    const err = next(s, 'serverError');
    (s as unknown as { emit: (e: string, m: unknown) => void }).emit('becomeAdmin', {});
    const e = await err;
    assert.deepEqual([e.code, e.event], ['invalid-message', 'becomeAdmin']);
  });

  it('refuses a wrong token and disconnects', async () => {
    const s = open();
    const err = next(s, 'serverError');
    const closed = new Promise<string>((resolve) => s.on('disconnect', (reason) => resolve(reason)));
    s.emit('hello', hello('dev-cccccccc', 'guess'));
    assert.equal((await err).code, 'bad-token');
    assert.equal(await closed, 'io server disconnect');
  });

  it('binds a device id to the first device key it presents; an impostor is refused', async () => {
    const owner = open();
    let welcome = next(owner, 'welcome');
    owner.emit('hello', { ...hello('dev-keyed000'), deviceKey: 'owner-key-0123456789' });
    assert.equal((await welcome).deviceId, 'dev-keyed000');
    for (const deviceKey of ['impostor-key-0123456', undefined]) {
      const impostor = open();
      const err = next(impostor, 'serverError');
      const closed = new Promise<string>((resolve) => impostor.on('disconnect', (reason) => resolve(reason)));
      impostor.emit('hello', { ...hello('dev-keyed000'), ...(deviceKey ? { deviceKey } : {}) });
      const e = await err;
      assert.deepEqual([e.code, e.message], ['bad-token', 'device dev-keyed000 is bound to another device key']);
      assert.equal(await closed, 'io server disconnect');
    }
    const again = open();
    welcome = next(again, 'welcome');
    again.emit('hello', { ...hello('dev-keyed000'), deviceKey: 'owner-key-0123456789' });
    assert.equal((await welcome).deviceId, 'dev-keyed000', 'the owner itself reconnects with its key');
  });

  it('refuses join before hello, and uploads before join', async () => {
    const s = open();
    let err = next(s, 'serverError');
    s.emit('join', joinMessage('dev-dddddddd', TOKEN, 0, 2));
    assert.equal((await err).code, 'not-joined');
    err = next(s, 'serverError');
    s.emit('upload', { runId: coordinator.runId, round: 1, intraRound: 0, groupId: 'all', numSamples: 1, payload: new Uint8Array(4) });
    assert.equal((await err).code, 'not-joined');
  });

  it('checks a join against the task and the device’s fleet slot', async () => {
    const s = open();
    const welcome = next(s, 'welcome');
    s.emit('hello', hello('dev-eeeeeeee'));
    const slot = (await welcome).fleet!.index;
    let err = next(s, 'serverError');
    s.emit('join', { ...joinMessage('dev-eeeeeeee', TOKEN, slot, 2), labelHistogram: [1, 1, 0], numSamples: 2 });
    assert.match((await err).message, /labelHistogram has 3 classes; the task has 2/);
    err = next(s, 'serverError');
    s.emit('join', joinMessage('dev-eeeeeeee', TOKEN, slot + 1, 2));
    assert.match((await err).message, /partitionIndex \d+ is not this device's fleet slot/);
    err = next(s, 'serverError');
    s.emit('join', { ...joinMessage('dev-eeeeeeee', TOKEN, slot, 2), profile: { msPerStep: [1], uploadBytesPerSec: 1, memoryBytes: 1 } });
    assert.match((await err).message, /msPerStep has 1 depths; the model has 2 blocks/);
    s.close();
  });

  it('refuses uploads that do not match the assignment, and accepts the one that does', async () => {
    // Two devices fill the run; the second one checks the engine's upload verdicts by hand.
    const worker = await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-ffffffff', { numSamples: 2, value: 1 });
    sockets.push(worker.socket);
    const probe = await startFakeDevice(coordinator.localUrl, TOKEN, 'dev-gggggggg', { numSamples: 2, value: 1, autoTrain: false });
    sockets.push(probe.socket);
    while (probe.assignments.length === 0) await new Promise((r) => setTimeout(r, 10));
    const a = probe.assignments[0]!;
    const base = { runId: a.runId, round: a.round, intraRound: a.intraRound, groupId: a.groupId, numSamples: 2 };
    const full = ['0', '1', 'head'];
    const expectError = async (msg: object, code: string, pattern: RegExp) => {
      const err = next(probe.socket, 'serverError');
      probe.socket.emit('upload', msg as never);
      const e = await err;
      assert.equal(e.code, code, e.message);
      assert.match(e.message, pattern);
    };
    await expectError({ ...base, round: a.round + 1, payload: new Uint8Array(encodeAdapter(constantDelta(full, 1))) }, 'stale-round', /expected 1\.0/);
    await expectError({ ...base, payload: new Uint8Array([1, 2, 3, 4, 5]) }, 'bad-adapter', /.+/);
    await expectError({ ...base, payload: new Uint8Array(encodeAdapter(constantDelta(['1', 'head'], 1))) }, 'bad-adapter', /missing block "0"/);
    await expectError({ ...base, payload: new Uint8Array(encodeAdapter(constantDelta(full, Number.NaN))) }, 'bad-adapter', /non-finite/);
    await expectError({ ...base, numSamples: 3, payload: new Uint8Array(encodeAdapter(constantDelta(full, 1))) }, 'bad-adapter', /exceeds the 2 samples/);
    const accepted = next(probe.socket, 'uploadAccepted');
    probe.socket.emit('upload', { ...base, payload: new Uint8Array(encodeAdapter(constantDelta(full, 3))) });
    assert.ok((await accepted).bytes > 0);
    await expectError({ ...base, payload: new Uint8Array(encodeAdapter(constantDelta(full, 3))) }, 'unexpected-upload', /no work in progress/);
    assert.equal(await coordinator.done, 'finished');
    assert.equal(coordinator.loop.globalAdapter.get('head')?.get('b')?.data[1], 2, 'only the valid uploads were averaged: (1 + 3) / 2');
  });
});
