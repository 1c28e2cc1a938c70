/**
 * A data-parallel Web Worker: its own tfjs (wasm, one thread) and its own replica of the encoder
 * and classifier, computing the gradients of the shards the page sends (ReplicaShardRunner).
 * One thread on purpose: the parallelism is the workers, and a worker needs no cross-origin
 * isolation for it (no SharedArrayBuffer), so this also runs on plain http://<LAN address> pages.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { loadUseLiteModel, makeBatch, ReplicaShardRunner } from '../core';
import { benchDataset } from '../trainer';
import type { FromWorker, ToWorker } from './messages';

const scope = globalThis as unknown as { postMessage(m: FromWorker): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
const post = (m: FromWorker) => scope.postMessage(m);

/**
 * Gradient steps a worker runs before it says it is ready (ReplicaShardRunner.warmUp), on this
 * many rows: ~0.8 s per worker here (30 steps of 4 rows took 2.2 s and were not clearly better).
 */
const WARM_UP_STEPS = 10;
const WARM_UP_ROWS = 2;

let runner: ReplicaShardRunner | undefined;
let nextAsset = 0;
const assets = new Map<number, { resolve: (b: ArrayBuffer) => void; reject: (e: Error) => void }>();
// Requests run one at a time, in order (configure before the gradients that need it).
let queue: Promise<void> = Promise.resolve();

function fetchAsset(path: string): Promise<ArrayBuffer> {
  const id = nextAsset++;
  return new Promise((resolve, reject) => {
    assets.set(id, { resolve, reject });
    post({ kind: 'asset', id, path });
  });
}

async function init(wasmPath: string): Promise<void> {
  try {
    // Under cross-origin isolation tfjs would pick its threaded binary, whose pthreads would be
    // workers of this worker: one thread is the point here.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    setWasmPaths(wasmPath);
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend did not initialise');
    await tf.ready();
    const encoder = await loadUseLiteModel(fetchAsset);
    const replica = new ReplicaShardRunner(encoder);
    const data = benchDataset(WARM_UP_ROWS, 2);
    const t0 = performance.now();
    await replica.warmUp(makeBatch(encoder, data, Array.from({ length: WARM_UP_ROWS }, (_, i) => i)), 2, WARM_UP_STEPS);
    runner = replica;
    post({ kind: 'ready', backend: tf.getBackend(), warmUpMs: performance.now() - t0 });
  } catch (err) {
    post({ kind: 'init-failed', error: (err as Error).message });
  }
}

scope.onmessage = (e) => {
  const m = e.data;
  if (m.kind === 'init') {
    void init(m.wasmPath);
  } else if (m.kind === 'asset') {
    const waiter = assets.get(m.id);
    assets.delete(m.id);
    if (m.bytes) waiter?.resolve(m.bytes);
    else waiter?.reject(new Error(m.error ?? 'asset not available'));
  } else {
    queue = queue.then(async () => {
      try {
        if (!runner) throw new Error('worker not initialised');
        if (m.kind === 'configure') {
          await runner.configure(m.config, m.adapter);
          post({ kind: 'done', id: m.id });
        } else {
          post({ kind: 'done', id: m.id, result: await runner.gradients(m.trained, m.shard) });
        }
      } catch (err) {
        post({ kind: 'failed', id: m.id, error: (err as Error).message });
      }
    });
  }
};
