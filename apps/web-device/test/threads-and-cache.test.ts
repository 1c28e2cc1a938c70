import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { environmentKey, fnv1a, MeasurementCache, profileKey } from '../src/backend/profile-cache';
import { chooseThreadCount, MAX_WASM_THREADS, WASM_PTHREAD_POOL } from '../src/backend/threads';
import type { TaskInfo } from '../src/core';
import { chooseWorkerCount, REPLICA_BYTES } from '../src/parallel/worker-count';
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

describe('chooseWorkerCount', () => {
  const plenty = 64 * REPLICA_BYTES;
  it('gives as many data-parallel workers as chooseThreadCount gives threads, when memory holds a replica each', () => {
    assert.deepEqual([1, 2, 3, 4, 8, 16].map((c) => chooseWorkerCount(c, plenty, {}).workers), [1, 2, 2, 3, MAX_WASM_THREADS, MAX_WASM_THREADS]);
    assert.equal(chooseWorkerCount(undefined, plenty, {}).workers, 1);
    const tight = chooseWorkerCount(8, 3 * REPLICA_BYTES, {});
    assert.equal(tight.workers, 2);
    assert.match(tight.note ?? '', /2 data-parallel workers, not 4, for the 768 MiB this page may use/);
    assert.match(chooseWorkerCount(8, REPLICA_BYTES, {}).note ?? '', /no data-parallel workers/);
  });
  it('lets ?workers= override, and ?threads= alone mean kernel threads (no workers)', () => {
    assert.equal(chooseWorkerCount(2, plenty, { workers: 1 }).workers, 1);
    assert.equal(chooseWorkerCount(2, REPLICA_BYTES, { workers: 3 }).workers, 3);
    assert.equal(chooseWorkerCount(2, plenty, { workers: 99 }).workers, WASM_PTHREAD_POOL);
    assert.equal(chooseWorkerCount(8, plenty, { threads: 2 }).workers, 1);
    assert.equal(chooseWorkerCount(8, plenty, { threads: 1, workers: 2 }).workers, 2);
  });
});

const TASK: TaskInfo = { name: 'wordnet', classNames: ['a', 'b'], numBlocks: 4, lora: { rank: 8, alpha: 16, targets: ['q', 'v'] }, batchSize: 8, seed: 1 };

describe('MeasurementCache', () => {
  const env = environmentKey({ userAgent: 'UA/1', modelHash: fnv1a(new TextEncoder().encode('{"m":1}')), wasmThreads: 2, crossOriginIsolated: true, dataParallelWorkers: 2 });
  const report = { name: 'wasm' as const, forced: false, benchmarkMs: { webgpu: null, webgl: 40, wasm: 20 }, wasmThreads: 2, dataParallelWorkers: 2, cached: true };

  it('gives the backend back only for the same browser, model and threads', () => {
    const cache = new MeasurementCache(new MemoryStorage());
    cache.saveBackend(env, report);
    assert.deepEqual(cache.backend(env), { name: 'wasm', forced: false, benchmarkMs: { webgpu: null, webgl: 40, wasm: 20 } });
    const otherBrowser = environmentKey({ userAgent: 'UA/2', modelHash: fnv1a(new TextEncoder().encode('{"m":1}')), wasmThreads: 2, crossOriginIsolated: true, dataParallelWorkers: 2 });
    const otherModel = environmentKey({ userAgent: 'UA/1', modelHash: fnv1a(new TextEncoder().encode('{"m":2}')), wasmThreads: 2, crossOriginIsolated: true, dataParallelWorkers: 2 });
    assert.equal(cache.backend(otherBrowser), undefined);
    assert.equal(cache.backend(otherModel), undefined);
    assert.equal(cache.backend(environmentKey({ userAgent: 'UA/1', modelHash: fnv1a(new TextEncoder().encode('{"m":1}')), wasmThreads: 2, crossOriginIsolated: true, dataParallelWorkers: 1 })), undefined);
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
