import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadIdentity } from '../src/identity';
import { poisonMultiplier } from '../src/poison';
import { MemoryStorage } from './support/memory-storage';


describe('loadIdentity', () => {
  it('creates a deviceId once and keeps it across reloads; remembers the token', () => {
    const storage = new MemoryStorage();
    const first = loadIdentity(storage, '?token=abc&mode=fleet');
    assert.match(first.deviceId, /^dev-[0-9a-f]{24}$/);
    assert.deepEqual([first.token, first.mode, first.forcedBackend], ['abc', 'fleet', undefined]);
    const reload = loadIdentity(storage, '');
    assert.equal(reload.deviceId, first.deviceId);
    assert.equal(reload.token, 'abc');
    assert.equal(reload.mode, undefined);
    assert.notEqual(loadIdentity(new MemoryStorage(), '').deviceId, first.deviceId);
  });

  it('makes a device key once, keeps it, and never takes it from the URL', () => {
    const storage = new MemoryStorage();
    const first = loadIdentity(storage, '?deviceKey=attacker-chosen-key-000');
    assert.match(first.deviceKey, /^[0-9a-f]{48}$/);
    assert.equal(loadIdentity(storage, '').deviceKey, first.deviceKey);
    assert.notEqual(loadIdentity(new MemoryStorage(), '').deviceKey, first.deviceKey);
  });

  it('reads a forced backend and rejects unknown ones', () => {
    assert.equal(loadIdentity(new MemoryStorage(), '?backend=webgpu').forcedBackend, 'webgpu');
    assert.throws(() => loadIdentity(new MemoryStorage(), '?backend=metal'), /\?backend=metal is not one of webgpu, webgl, wasm, cpu/);
  });

  it('reads an emulated slowdown factor (default 1) and rejects values below 1 or non-numbers', () => {
    assert.equal(loadIdentity(new MemoryStorage(), '').slowdown, 1);
    assert.equal(loadIdentity(new MemoryStorage(), '?slowdown=4').slowdown, 4);
    assert.throws(() => loadIdentity(new MemoryStorage(), '?slowdown=0.5'), /slowdown=0\.5 must be a number from 1/);
    assert.throws(() => loadIdentity(new MemoryStorage(), '?slowdown=fast'), /slowdown=fast/);
  });

  it('reads an attack-emulation ?poison= (default none) and rejects malformed ones', () => {
    assert.equal(loadIdentity(new MemoryStorage(), '').poison, undefined);
    assert.deepEqual(loadIdentity(new MemoryStorage(), '?poison=scale:100').poison, { kind: 'scale', factor: 100 });
    assert.deepEqual(loadIdentity(new MemoryStorage(), '?poison=signflip:10').poison, { kind: 'signflip', factor: 10 });
    for (const bad of ['flip:10', 'scale:', 'scale:-2', 'scale:0', 'signflip:1e9', 'scale:x']) {
      assert.throws(() => loadIdentity(new MemoryStorage(), `?poison=${bad}`), /must be scale:K or signflip:K/, bad);
    }
  });

  it('reads ?stall= seconds as ms (default 0) and rejects negative or non-numbers', () => {
    assert.equal(loadIdentity(new MemoryStorage(), '').stallMs, 0);
    assert.equal(loadIdentity(new MemoryStorage(), '?stall=2.5').stallMs, 2500);
    for (const bad of ['-1', 'soon', '99999']) {
      assert.throws(() => loadIdentity(new MemoryStorage(), `?stall=${bad}`), /must be a number of seconds/, bad);
    }
  });

  it('replaces a corrupted stored id', () => {
    const storage = new MemoryStorage();
    storage.setItem('tabfleet.deviceId', 'x');
    assert.match(loadIdentity(storage, '').deviceId, /^dev-/);
  });
});

describe('poisonMultiplier', () => {
  it('is K for scale:K and −K for signflip:K', () => {
    assert.equal(poisonMultiplier({ kind: 'scale', factor: 100 }), 100);
    assert.equal(poisonMultiplier({ kind: 'signflip', factor: 10 }), -10);
  });
});
