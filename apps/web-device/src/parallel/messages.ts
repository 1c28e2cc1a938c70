/** What the page and its data-parallel Web Workers (shard-worker.ts) say to each other. */
import type { AdapterState, ClassifierConfig, LabeledBatch, ShardGradients } from '../core';

export type ToWorker =
  | { readonly kind: 'init'; readonly wasmPath: string }
  | { readonly kind: 'asset'; readonly id: number; readonly bytes?: ArrayBuffer; readonly error?: string }
  | { readonly kind: 'configure'; readonly id: number; readonly config: ClassifierConfig; readonly adapter: AdapterState }
  | { readonly kind: 'gradients'; readonly id: number; readonly trained: AdapterState; readonly shard: LabeledBatch };

export type FromWorker =
  | { readonly kind: 'ready'; readonly backend: string; readonly warmUpMs: number }
  | { readonly kind: 'init-failed'; readonly error: string }
  /** The worker reads model files through the page (the page's fetch cache, one download per page). */
  | { readonly kind: 'asset'; readonly id: number; readonly path: string }
  | { readonly kind: 'done'; readonly id: number; readonly result?: ShardGradients }
  | { readonly kind: 'failed'; readonly id: number; readonly error: string };
