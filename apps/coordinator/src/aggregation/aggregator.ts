/**
 * The run's aggregations on a worker thread (worker.ts), for runGlobalRound's `aggregator` hook.
 * The deltas to aggregate are MOVED to the worker: the ArrayBuffers under their tensors (each
 * upload's own payload, see engine/upload-decode.ts; each group result's fresh arrays) are
 * transferred, so they are detached here afterwards. runGlobalRound reads a delta only to
 * aggregate it; copying instead was 4 % of a 1,000-device round's loop (postMessage's structured
 * clone), and a 10,000-device round's group results are hundreds of MiB in one message. A caller
 * that still needs the group results after the global aggregation (a cluster node sends its
 * group's on) must not use this aggregator's `global`. Bases are copied, and only for the rule
 * that reads them. Requests run one at a time in the order sent on each worker.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { AggregationError } from '../core';
import type { AdapterState, RoundAggregator } from '../core';
import { spawnWorker } from '../evaluation/evaluator';
import type { StrategySpec } from '../planning/protocol';
import type { AggregateReply, AggregateRequest } from './protocol';

export interface WorkerAggregator extends RoundAggregator {
  close(): Promise<void>;
}

export interface WorkerAggregatorOptions {
  /** Worker threads (default defaultAggregationWorkers()). */
  readonly workers?: number;
  /** Called with the worker's own time for each aggregation (benches). */
  readonly onCompute?: (kind: 'group' | 'global', ms: number) => void;
}

type Ok = Extract<AggregateReply, { ok: true }>;

function rebuildError(r: Extract<AggregateReply, { ok: false }>): Error {
  const e = r.name === 'AggregationError' ? new AggregationError(r.message) : new Error(r.message);
  if (e.name !== r.name) e.name = r.name;
  return e;
}

/**
 * The distinct ArrayBuffers under the updates' tensors, leaving out any that a base tensor also
 * lives in (the base is copied, it is the group's adapter) and shared memory (not transferable).
 */
function movableBuffers(updates: readonly { readonly delta: AdapterState }[], base: AdapterState): ArrayBuffer[] {
  const keep = new Set<ArrayBufferLike>();
  for (const tensors of base.values()) for (const t of tensors.values()) keep.add(t.data.buffer);
  const out = new Set<ArrayBuffer>();
  for (const u of updates) {
    for (const tensors of u.delta.values()) {
      for (const t of tensors.values()) {
        const b = t.data.buffer;
        if (b instanceof ArrayBuffer && !keep.has(b)) out.add(b);
      }
    }
  }
  return [...out];
}

/** Workers by default: one per core beyond the loop's own, at most 4 (a group's aggregation is independent of the others'). */
export function defaultAggregationWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

/**
 * Aggregates as the strategy `spec` describes, on up to `workers` lazily started worker threads
 * (each request to the one with the fewest requests in flight; results do not depend on which).
 */
export function workerAggregator(spec: StrategySpec, options: WorkerAggregatorOptions = {}): WorkerAggregator {
  const size = options.workers ?? defaultAggregationWorkers();
  if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`aggregation workers must be a positive integer, got ${size}`);
  const workers: Array<{ worker: Worker; inFlight: number }> = [];
  let closed = false;
  let nextId = 0;
  const pending = new Map<number, { kind: 'group' | 'global'; slot: { inFlight: number }; resolve: (r: Ok) => void; reject: (e: Error) => void }>();
  const failAll = (e: Error) => {
    for (const p of pending.values()) p.reject(e);
    pending.clear();
    workers.length = 0;
  };
  const start = (): { worker: Worker; inFlight: number } => {
    const w = spawnWorker('../aggregation/worker.ts');
    const slot = { worker: w, inFlight: 0 };
    w.unref();
    w.on('message', (r: AggregateReply) => {
      const p = pending.get(r.id);
      if (!p) return;
      pending.delete(r.id);
      p.slot.inFlight -= 1;
      if (!r.ok) return p.reject(rebuildError(r));
      options.onCompute?.(p.kind, r.ms);
      p.resolve(r);
    });
    w.on('error', (e) => failAll(new Error(`aggregation worker failed: ${e.message}`)));
    w.on('exit', (code) => {
      if (workers.includes(slot)) failAll(new Error(`aggregation worker exited (code ${code})`));
    });
    return slot;
  };
  const pick = (): { worker: Worker; inFlight: number } => {
    let best = workers[0];
    for (const w of workers) if (w.inFlight < best!.inFlight) best = w;
    if (best === undefined || (best.inFlight > 0 && workers.length < size)) {
      best = start();
      workers.push(best);
    }
    return best;
  };
  // Only the product-exact LoRA rule reads the base (BlockwiseFedAvgStrategy.exact): copying the
  // group's 448 KiB adapter with every request was most of what the loop still spent on them.
  const baseOf = (base: AdapterState) => (spec.options.aggregation?.lora === 'exact' ? { base } : {});
  type Body = AggregateRequest extends infer R ? (R extends AggregateRequest ? Omit<R, 'id' | 'spec'> : never) : never;
  const send = (req: Body, transfer: ArrayBuffer[] = []): Promise<Ok> => {
    if (closed) return Promise.reject(new Error('aggregator closed'));
    const slot = pick();
    const id = nextId++;
    return new Promise<Ok>((resolve, reject) => {
      pending.set(id, { kind: req.kind, slot, resolve, reject });
      slot.inFlight += 1;
      slot.worker.postMessage({ ...req, id, spec } as AggregateRequest, transfer);
    });
  };
  return {
    async group(updates, base) {
      // Only what the strategy reads: device id, weight, delta.
      const r = await send(
        { kind: 'group', updates: updates.map((u) => ({ deviceId: u.deviceId, numSamples: u.numSamples, delta: u.delta })), ...baseOf(base) },
        movableBuffers(updates, base),
      );
      return r.robust ? { delta: r.delta, robust: r.robust } : { delta: r.delta };
    },
    async global(groups, base) {
      return (await send({ kind: 'global', groups, ...baseOf(base) }, movableBuffers(groups, base))).delta;
    },
    async close() {
      closed = true;
      const running = workers.map((w) => w.worker);
      failAll(new Error('aggregator closed'));
      await Promise.all(running.map((w) => w.terminate()));
    },
  };
}
