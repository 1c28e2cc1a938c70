import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { environmentKey, fnv1a, MeasurementCache, profileKey } from '../src/backend/profile-cache';
import { chooseThreadCount, MAX_WASM_THREADS, WASM_PTHREAD_POOL } from '../src/backend/threads';
import type { TaskInfo } from '../src/core';
import { MemoryStorage } from './support/memory-storage';


describe('chooseThreadCount', () => {
  it('uses every core on 1-2 cores, leaves one for the page from 3 on, and caps', () => {
    assert.deepEqual([1, 2, 3, 4, 8, 16].map((c) => chooseThreadCount(c)), [1, 2, 2, 3, MAX_WASM_THREADS, MAX_WASM_THREADS]);
    assert.equal(chooseThreadCount(undefined), 1);
    assert.equal(chooseThreadCount(Number.NaN), 1);
  });
  it('lets ?threads= override within the pthread pool', () => {
    assert.equal(chooseThreadCount(2, 1), 1);
    assert.equal(chooseThreadCount(2, 6), 6);
    assert.equal(chooseThreadCount(2, 99), WASM_PTHREAD_POOL);
    assert.equal(chooseThreadCount(2, 0), 1);
  });
});

const TASK: TaskInfo = { name: 'wordnet', classNames: ['a', 'b'], numBlocks: 4, lora: { rank: 8, alpha: 16, targets: ['q', 'v'] }, batchSize: 8, seed: 1 };

describe('MeasurementCache', () => {
  const env = environmentKey({ userAgent: 'UA/1', modelHash: fnv1a(new TextEncoder().encode('{"m":1}')), wasmThreads: 2, crossOriginIsolated: true });
  const report = { name: 'wasm' as const, forced: false, benchmarkMs: { webgpu: null, webgl: 40, wasm: 20 }, wasmThreads: 2, cached: true };

  it('gives the backend back only for the same browser, model and threads', () => {
    const cache = new MeasurementCache(new MemoryStorage());
    cache.saveBackend(env, report);
    assert.deepEqual(cache.backend(env), { name: 'wasm', forced: false, benchmarkMs: { webgpu: null, webgl: 40, wasm: 20 } });
    const otherBrowser = environmentKey({ userAgent: 'UA/2', modelHash: fnv1a(new TextEncoder().encode('{"m":1}')), wasmThreads: 2, crossOriginIsolated: true });
    const otherModel = environmentKey({ userAgent: 'UA/1', modelHash: fnv1a(new TextEncoder().encode('{"m":2}')), wasmThreads: 2, crossOriginIsolated: true });
    assert.equal(cache.backend(otherBrowser), undefined);
    assert.equal(cache.backend(otherModel), undefined);
    cache.dropBackend();
    assert.equal(cache.backend(env), undefined);
  });

  it('keeps profiles per backend, task and data, and forgets the oldest', () => {
    const cache = new MeasurementCache(new MemoryStorage());
    const key = profileKey(env, 'wasm', TASK, 'fleet:0');
    cache.saveProfile(key, [10, 20, 30, 40]);
    assert.deepEqual(cache.profile(key), [10, 20, 30, 40]);
    assert.equal(cache.profile(profileKey(env, 'wasm', { ...TASK, batchSize: 16 }, 'fleet:0')), undefined);
    assert.equal(cache.profile(profileKey(env, 'webgl', TASK, 'fleet:0')), undefined);
    for (let i = 1; i <= 8; i++) cache.saveProfile(profileKey(env, 'wasm', TASK, `fleet:${i}`), [i]);
    assert.equal(cache.profile(key), undefined);
    assert.deepEqual(cache.profile(profileKey(env, 'wasm', TASK, 'fleet:8')), [8]);
  });

  it('ignores garbage in storage and survives storage that throws', () => {
    const storage = new MemoryStorage();
    storage.setItem('tabfleet.measurements.v1', '{"backend":{"envKey":1},"profiles":"x"}');
    const cache = new MeasurementCache(storage);
    assert.equal(cache.backend(env), undefined);
    cache.saveBackend(env, report);
    assert.equal(cache.backend(env)?.name, 'wasm');
    const broken = new MemoryStorage();
    broken.setItem = () => {
      throw new Error('QuotaExceededError');
    };
    const c2 = new MeasurementCache(broken);
    c2.saveProfile('k', [1]);
    assert.equal(c2.profile('k'), undefined);
  });
});
