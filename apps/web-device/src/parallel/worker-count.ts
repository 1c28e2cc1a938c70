/**
 * How many data-parallel Web Workers a page starts (worker-pool.ts): as many as chooseThreadCount
 * would give kernel threads (all cores on 1-2, one left for the page from 3 on, at most 4), and no
 * more than the memory the page may use holds model replicas (one per worker, beside the page's
 * own). ?workers=N overrides; ?threads=N alone means kernel threads instead (1 worker: none).
 */
import { chooseThreadCount, WASM_PTHREAD_POOL } from '../backend/threads';

/** Memory one replica takes while training: USE-lite's 28 MB of weights, their tfjs copies and a batch's activations, with room. */
export const REPLICA_BYTES = 256 * 2 ** 20;

export interface WorkerChoice {
  readonly workers: number;
  /** Why fewer than the cores would give; undefined when nothing held the count back. */
  readonly note?: string;
}

export function chooseWorkerCount(hardwareConcurrency: number | undefined, memoryBytes: number, requested: { workers?: number | undefined; threads?: number | undefined }): WorkerChoice {
  if (requested.workers !== undefined) return { workers: Math.min(Math.max(Math.floor(requested.workers), 1), WASM_PTHREAD_POOL) };
  if (requested.threads !== undefined) return { workers: 1 };
  const cores = chooseThreadCount(hardwareConcurrency);
  if (cores <= 1) return { workers: 1 };
  const byMemory = Math.max(Math.floor(memoryBytes / REPLICA_BYTES) - 1, 1);
  if (byMemory >= cores) return { workers: cores };
  return { workers: byMemory, note: `${byMemory === 1 ? 'no data-parallel workers' : `${byMemory} data-parallel workers, not ${cores},`} for the ${(memoryBytes / 2 ** 20).toFixed(0)} MiB this page may use (a model replica each)` };
}
