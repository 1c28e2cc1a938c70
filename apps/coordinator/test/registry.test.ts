import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Join } from '../src/core';
import { DeviceRegistry, toDeviceInfo } from '../src/registry';

const join = (deviceId: string, numSamples = 3): Join => ({
  protocolVersion: 1,
  token: 't',
  deviceId,
  dataMode: 'fleet',
  partitionIndex: 0,
  backend: { name: 'wasm', forced: false, benchmarkMs: { wasm: 10 } },
  profile: { msPerStep: [5, 9], uploadBytesPerSec: 1e6, memoryBytes: 2e9 },
  labelHistogram: [numSamples - 1, 1],
  numSamples,
});

describe('DeviceRegistry', () => {
  it('records a paused device and its reasons until it resumes or comes back on a new socket', () => {
    const r = new DeviceRegistry();
    r.hello('dev-aaaaaaaa', 's1', 'fleet', 1);
    r.join('s1', join('dev-aaaaaaaa'), 2);
    r.setPaused('dev-aaaaaaaa', ['hidden'], 3);
    r.setPaused('dev-aaaaaaaa', ['hidden', 'user'], 5);
    assert.deepEqual(r.get('dev-aaaaaaaa')?.paused, { reasons: ['hidden', 'user'], since: 3 });
    assert.equal(r.joinedConnected().length, 1, 'a paused device stays a member');
    r.setPaused('dev-aaaaaaaa', undefined, 6);
    assert.equal(r.get('dev-aaaaaaaa')?.paused, undefined);
    r.setPaused('dev-aaaaaaaa', ['user'], 7);
    r.hello('dev-aaaaaaaa', 's2', 'fleet', 8);
    assert.equal(r.get('dev-aaaaaaaa')?.paused, undefined, 'a reload starts active');
  });

  it('lists only connected devices that have joined, in id order', () => {
    const r = new DeviceRegistry();
    r.hello('dev-bbbbbbbb', 's1', 'fleet', 1);
    r.hello('dev-aaaaaaaa', 's2', 'fleet', 1);
    r.hello('dev-cccccccc', 's3', 'fleet', 1);
    assert.deepEqual(r.joinedConnected(), [], 'hello alone is not a join');
    r.join('s1', join('dev-bbbbbbbb'), 2);
    r.join('s2', join('dev-aaaaaaaa'), 2);
    assert.deepEqual(r.joinedConnected().map((d) => d.deviceId), ['dev-aaaaaaaa', 'dev-bbbbbbbb']);
    r.disconnect('s2', 3);
    assert.deepEqual(r.joinedConnected().map((d) => d.deviceId), ['dev-bbbbbbbb']);
    assert.equal(r.get('dev-aaaaaaaa')?.activity, 'gone');
  });

  it('keeps identity across a reconnect and reports it as a rejoin', () => {
    const r = new DeviceRegistry();
    r.hello('dev-aaaaaaaa', 'old', 'fleet', 1);
    assert.equal(r.join('old', join('dev-aaaaaaaa'), 1).rejoin, false);
    // Reload: the new socket says hello before the old one's disconnect arrives.
    r.hello('dev-aaaaaaaa', 'new', 'fleet', 2);
    assert.equal(r.disconnect('old', 3), undefined, 'a stale socket does not take the device down');
    assert.equal(r.isConnected('dev-aaaaaaaa'), true);
    const { device, rejoin } = r.join('new', join('dev-aaaaaaaa', 5), 4);
    assert.equal(rejoin, true);
    assert.equal(device.joins, 2);
    assert.equal(device.report?.numSamples, 5);
    assert.equal(r.bySocket('old'), undefined);
    assert.equal(r.bySocket('new')?.deviceId, 'dev-aaaaaaaa');
  });

  it('refuses a join from a socket that introduced itself as another device', () => {
    const r = new DeviceRegistry();
    r.hello('dev-aaaaaaaa', 's1', 'fleet', 1);
    assert.throws(() => r.join('s1', join('dev-bbbbbbbb'), 1), /has not said hello as dev-bbbbbbbb/);
    assert.throws(() => r.join('unknown', join('dev-aaaaaaaa'), 1), /has not said hello/);
  });

  it('tracks work, progress and bytes, and notifies listeners of membership changes', () => {
    const r = new DeviceRegistry();
    let changes = 0;
    const off = r.onChange(() => changes++);
    r.hello('dev-aaaaaaaa', 's1', 'own', 1);
    r.join('s1', join('dev-aaaaaaaa'), 1);
    r.setWork('dev-aaaaaaaa', { groupId: 'g0', depth: 2, localSteps: 10 });
    assert.equal(r.get('dev-aaaaaaaa')?.activity, 'training');
    assert.equal(r.get('dev-aaaaaaaa')?.localSteps, 10);
    r.setProgress('dev-aaaaaaaa', { round: 1, intraRound: 0, step: 3, localSteps: 10, loss: 1.5 }, 5);
    r.addBytes('dev-aaaaaaaa', 100, 400);
    r.addBytes('dev-aaaaaaaa', 50, 0);
    r.setWork('dev-aaaaaaaa', undefined);
    const d = r.get('dev-aaaaaaaa');
    assert.equal(d?.activity, 'idle');
    assert.equal(d?.progress, undefined);
    assert.deepEqual([d?.bytesUp, d?.bytesDown, d?.groupId, d?.depth], [150, 400, 'g0', 2]);
    assert.ok(changes >= 4, `expected a notification per change, got ${changes}`);
    off();
    const before = changes;
    r.disconnect('s1', 9);
    assert.equal(changes, before);
  });

  it('gives strategies the device as DeviceInfo', () => {
    const r = new DeviceRegistry();
    r.hello('dev-aaaaaaaa', 's1', 'fleet', 1);
    assert.throws(() => toDeviceInfo(r.get('dev-aaaaaaaa')!), /has not joined/);
    r.join('s1', join('dev-aaaaaaaa', 7), 1);
    assert.deepEqual(toDeviceInfo(r.get('dev-aaaaaaaa')!), {
      id: 'dev-aaaaaaaa',
      numSamples: 7,
      labelHistogram: [6, 1],
      profile: { msPerStep: [5, 9], uploadBytesPerSec: 1e6, memoryBytes: 2e9 },
    });
  });
});
