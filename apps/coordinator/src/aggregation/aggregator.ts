/**
 * The run's aggregations on a worker thread (worker.ts), for runGlobalRound's `aggregator` hook.
 * Updates and bases are copied to the worker (structured clone: each upload's payload buffer once)
 * and nothing is detached here, so every caller's tensors stay valid; the result comes back the
 * same way. Requests run one at a time in the order sent.
 */
import type { Worker } from 'node:worker_threads';
import { AggregationError } from '../core';
import type { RoundAggregator } from '../core';
import { spawnWorker } from '../evaluation/evaluator';
import type { StrategySpec } from '../planning/protocol';
import type { AggregateReply, AggregateRequest } from './protocol';

export interface WorkerAggregator extends RoundAggregator {
  close(): Promise<void>;
}

export interface WorkerAggregatorOptions {
  /** Called with the worker's own time for each aggregation (benches). */
  readonly onCompute?: (kind: 'group' | 'global', ms: number) => void;
}

type Ok = Extract<AggregateReply, { ok: true }>;

function rebuildError(r: Extract<AggregateReply, { ok: false }>): Error {
  const e = r.name === 'AggregationError' ? new AggregationError(r.message) : new Error(r.message);
  if (e.name !== r.name) e.name = r.name;
  return e;
}

/** Aggregates as the strategy `spec` describes, on one lazily started worker thread. */
export function workerAggregator(spec: StrategySpec, options: WorkerAggregatorOptions = {}): WorkerAggregator {
  let worker: Worker | undefined;
  let closed = false;
  let nextId = 0;
  const pending = new Map<number, { kind: 'group' | 'global'; resolve: (r: Ok) => void; reject: (e: Error) => void }>();
  const failAll = (e: Error) => {
    for (const p of pending.values()) p.reject(e);
    pending.clear();
    worker = undefined;
  };
  const start = (): Worker => {
    const w = spawnWorker('../aggregation/worker.ts');
    w.unref();
    w.on('message', (r: AggregateReply) => {
      const p = pending.get(r.id);
      if (!p) return;
      pending.delete(r.id);
      if (!r.ok) return p.reject(rebuildError(r));
      options.onCompute?.(p.kind, r.ms);
      p.resolve(r);
    });
    w.on('error', (e) => failAll(new Error(`aggregation worker failed: ${e.message}`)));
    w.on('exit', (code) => {
      if (worker === w) failAll(new Error(`aggregation worker exited (code ${code})`));
    });
    return w;
  };
  type Body = AggregateRequest extends infer R ? (R extends AggregateRequest ? Omit<R, 'id' | 'spec'> : never) : never;
  const send = (req: Body): Promise<Ok> => {
    if (closed) return Promise.reject(new Error('aggregator closed'));
    worker ??= start();
    const id = nextId++;
    return new Promise<Ok>((resolve, reject) => {
      pending.set(id, { kind: req.kind, resolve, reject });
      worker!.postMessage({ ...req, id, spec } as AggregateRequest);
    });
  };
  return {
    async group(updates, base) {
      // Only what the strategy reads: device id, weight, delta.
      const r = await send({ kind: 'group', updates: updates.map((u) => ({ deviceId: u.deviceId, numSamples: u.numSamples, delta: u.delta })), base });
      return r.robust ? { delta: r.delta, robust: r.robust } : { delta: r.delta };
    },
    async global(groups, base) {
      return (await send({ kind: 'global', groups, base })).delta;
    },
    async close() {
      closed = true;
      const w = worker;
      failAll(new Error('aggregator closed'));
      if (w) await w.terminate();
    },
  };
}
