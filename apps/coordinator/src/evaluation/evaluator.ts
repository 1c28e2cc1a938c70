/**
 * The coordinator's side of evaluation: one worker thread (worker.ts) per task, asked to score one
 * adapter at a time. The event loop only posts bytes and awaits the answer, so HTTP and Socket.IO
 * stay responsive while thousands of rows are scored.
 */
import { Worker } from 'node:worker_threads';
import { decodeAdapter, encodeAdapter } from '../core';
import type { AdapterState, LabeledDataset, LoraConfig } from '../core';
import type { EvaluationResult } from '../task';
import type { WorkerReply, WorkerRequest } from './protocol';

export interface EvaluationWorkerOptions {
  readonly numClasses: number;
  readonly lora: LoraConfig;
  readonly seed: number;
  readonly maxTokens: number;
  /** Rows per batch inside the worker (default 64). */
  readonly batchSize?: number;
  /** The rows scored every time; null = the task has no evaluation set (the worker still builds the initial adapter). */
  readonly rows: LabeledDataset | null;
}

export interface EvaluationWorker {
  readonly numBlocks: number;
  readonly initialAdapter: AdapterState;
  /** Resolves with the adapter's score on the rows; rejects when the worker fails. */
  evaluate(adapter: AdapterState): Promise<EvaluationResult & { rows: number; ms: number }>;
  close(): Promise<void>;
}

/** A worker thread running `file` (next to this module), under tsx when the coordinator runs from source. */
export function spawnWorker(file = './worker.ts'): Worker {
  const url = new URL(file, import.meta.url);
  if (!url.pathname.endsWith('.ts')) return new Worker(url);
  // Under tsx (npm start, tests) a worker does not inherit the TypeScript loader: register it first.
  // Both hooks, as `--import tsx` installs them (tfjs's ESM build needs the CommonJS one too).
  const esm = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const cjs = JSON.stringify(import.meta.resolve('tsx/cjs/api'));
  const code = `Promise.all([import(${esm}), import(${cjs})]).then(([e, c]) => { e.register(); c.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(code, { eval: true });
}

export async function startEvaluationWorker(o: EvaluationWorkerOptions): Promise<EvaluationWorker> {
  const worker = spawnWorker();
  const pending = new Map<number, { resolve: (r: EvaluationResult & { rows: number; ms: number }) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let failure: Error | undefined;
  let onReady: ((m: Extract<WorkerReply, { type: 'ready' }>) => void) | undefined;
  let onInitError: ((e: Error) => void) | undefined;
  const failAll = (err: Error) => {
    failure ??= err;
    onInitError?.(err);
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('message', (m: WorkerReply) => {
    if (m.type === 'ready') return onReady?.(m);
    if (m.type === 'error' && m.id === null) return failAll(new Error(`evaluation worker failed to start: ${m.message}`));
    const id = m.id as number;
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    if (m.type === 'error') p.reject(new Error(`evaluation failed: ${m.message}`));
    else p.resolve({ accuracy: m.accuracy, loss: m.loss, rows: m.rows, ms: m.ms });
  });
  worker.on('error', (err) => failAll(err));
  worker.on('exit', (code) => failAll(new Error(`evaluation worker exited (code ${code})`)));

  const ready = new Promise<Extract<WorkerReply, { type: 'ready' }>>((resolve, reject) => {
    onReady = resolve;
    onInitError = reject;
  });
  const rows = o.rows;
  const init: WorkerRequest = {
    type: 'init',
    numClasses: o.numClasses,
    lora: o.lora,
    seed: o.seed,
    maxTokens: o.maxTokens,
    batchSize: o.batchSize ?? 64,
    texts: rows ? rows.texts : [],
    labels: rows ? rows.labels : new Int32Array(0),
  };
  worker.postMessage(init);
  const r = await ready.catch(async (err: unknown) => {
    await worker.terminate();
    throw err;
  });
  onInitError = undefined;
  let closed = false;
  return {
    numBlocks: r.numBlocks,
    initialAdapter: decodeAdapter(r.initialAdapter, { copy: true }),
    evaluate(adapter) {
      if (failure) return Promise.reject(failure);
      if (!rows || rows.texts.length === 0) return Promise.reject(new Error('this task has no evaluation set'));
      const id = nextId++;
      const bytes = new Uint8Array(encodeAdapter(adapter));
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ type: 'evaluate', id, adapter: bytes } satisfies WorkerRequest, [bytes.buffer as ArrayBuffer]);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      failure ??= new Error('evaluation worker closed');
      await worker.terminate();
    },
  };
}
