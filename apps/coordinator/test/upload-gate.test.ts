/** The upload window: offers are granted a bounded number of bytes at a time (unit), and a live coordinator holds back grants until earlier uploads arrive. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createStrategy, encodeAdapter } from '../src/core';
import type { ServerError } from '../src/core';
import { UploadGate } from '../src/engine/upload-gate';
import { startCoordinator } from '../src/server';
import type { RunningCoordinator } from '../src/server';
import { MemoryState } from '../src/state';
import { constantDelta, fakeTask, next, startFakeDevice } from './support/fakes';
import type { FakeDevice } from './support/fakes';

describe('UploadGate', () => {
  it('grants in offer order while the window has room, one upload always, and frees on receipt or cancel', () => {
    const gate = new UploadGate({ maxBytesInFlight: 100 });
    const granted: string[] = [];
    const offer = (id: string, bytes: number) => gate.offer(id, bytes, () => granted.push(id));
    offer('a', 60);
    offer('b', 50);
    offer('c', 10);
    assert.deepEqual(granted, ['a'], 'b does not fit, and c waits behind it');
    assert.deepEqual([gate.inFlightBytes, gate.queued], [60, 2]);
    gate.received('a');
    assert.deepEqual(granted, ['a', 'b', 'c']);
    gate.received('b');
    gate.cancel('c');
    assert.equal(gate.inFlightBytes, 0);
    offer('big', 500);
    assert.deepEqual(granted.at(-1), 'big', 'an upload larger than the window still goes when nothing else is in flight');
    offer('d', 1);
    gate.cancel('d');
    assert.equal(gate.queued, 0, 'a cancelled offer leaves the queue');
    gate.received('big');
    assert.equal(granted.includes('d'), false);
  });

  it('a repeated offer replaces the earlier grant, and a grant whose upload never comes expires', async () => {
    const gate = new UploadGate({ maxBytesInFlight: 10, grantTimeoutMs: 30 });
    const granted: string[] = [];
    gate.offer('a', 10, () => granted.push('a'));
    gate.offer('b', 10, () => granted.push('b'));
    gate.offer('a', 10, () => granted.push('a again'));
    assert.deepEqual(granted, ['a', 'b'], "a's re-offer freed its grant and queued behind b");
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(granted, ['a', 'b', 'a again'], "b's grant expired, so a got its turn");
    gate.clear();
  });

  it('refuses a window that is not positive', () => {
    assert.throws(() => new UploadGate({ maxBytesInFlight: 0 }), /maxBytesInFlight must be positive/);
  });
});

describe('upload window on a live coordinator', () => {
  const TOKEN = 'gate-token';
  let coordinator: RunningCoordinator;
  const devices: FakeDevice[] = [];

  before(async () => {
    coordinator = await startCoordinator({
      config: { port: 0, host: '127.0.0.1', token: TOKEN, rounds: 1, devicesExpected: 3, seed: 1, batchSize: 2, learningRate: 0.1, headLearningRate: 0.05, roundTimeoutMs: 30_000, normBoundFactor: null },
      strategy: createStrategy('fedlora', { planner: { localSteps: 2 } }),
      task: fakeTask([2, 2, 2, 2, 2, 2]),
      state: new MemoryState(),
      // One upload on its way at a time.
      uploadGate: { maxBytesInFlight: 1 },
    });
  });

  after(async () => {
    for (const d of devices) d.close();
    await coordinator.close();
  });

  it('grants one offered upload at a time, refuses offers that do not match the work, and the round completes', async () => {
    for (const id of ['dev-gate0001', 'dev-gate0002', 'dev-gate0003']) devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, id, { numSamples: 2, value: 1, autoTrain: false }));
    while (devices.some((d) => d.assignments.length === 0)) await new Promise((r) => setTimeout(r, 10));
    const grants: string[] = [];
    for (const d of devices) d.socket.on('uploadGrant', () => grants.push(d.deviceId));
    const uploadOf = (d: FakeDevice) => {
      const a = d.assignments[0]!;
      const payload = new Uint8Array(encodeAdapter(constantDelta(['0', '1', 'head'], 1)));
      return { ref: { runId: a.runId, round: a.round, intraRound: a.intraRound, groupId: a.groupId }, payload };
    };
    const [first, second, third] = devices as [FakeDevice, FakeDevice, FakeDevice];
    const u1 = uploadOf(first);
    let err = next(first.socket, 'serverError') as Promise<ServerError>;
    first.socket.emit('uploadOffer', { ...u1.ref, round: u1.ref.round + 1, bytes: u1.payload.byteLength });
    assert.equal((await err).code, 'stale-round');
    err = next(first.socket, 'serverError') as Promise<ServerError>;
    first.socket.emit('uploadOffer', { ...u1.ref, bytes: 1e9 });
    assert.match((await err).message, /offered upload of 1000000000 bytes exceeds the \d+ bytes of the assigned depth/);

    for (const d of devices) d.socket.emit('uploadOffer', { ...uploadOf(d).ref, bytes: uploadOf(d).payload.byteLength });
    while (grants.length < 1) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(grants, [first.deviceId], 'the others wait while the first upload is on its way');
    assert.deepEqual(coordinator.loop.uploadWindow, { inFlightBytes: u1.payload.byteLength, queued: 2 });

    for (const [i, d] of [first, second, third].entries()) {
      while (grants.length < i + 1) await new Promise((r) => setTimeout(r, 10));
      assert.equal(grants[i], d.deviceId);
      const accepted = next(d.socket, 'uploadAccepted');
      const u = uploadOf(d);
      d.socket.emit('upload', { ...u.ref, numSamples: 2, payload: u.payload });
      await accepted;
    }
    assert.equal(await coordinator.done, 'finished');
    assert.deepEqual(grants, [first.deviceId, second.deviceId, third.deviceId]);
    assert.deepEqual(coordinator.loop.uploadWindow, { inFlightBytes: 0, queued: 0 });
  });
});
