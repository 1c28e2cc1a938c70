/**
 * What the coordinator's worker threads (planning, aggregation) share: requests carry the run's
 * strategy spec, each spec's Strategy is built once per thread, and a thrown error goes back by
 * name and message, so the caller can tell a refused input from a crash.
 */
import { parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { createStrategy } from './core';
import type { Strategy } from './core';
import type { StrategySpec } from './planning/protocol';

export type WorkerReply<Ok> = ({ readonly id: number; readonly ok: true; readonly ms: number } & Ok) | { readonly id: number; readonly ok: false; readonly name: string; readonly message: string };

/** Answers every request on this thread's parent port with `handle(strategy, request)` (timed), or the error it threw. */
export function serveStrategyRequests<Req extends { readonly id: number; readonly spec: StrategySpec }, Ok extends object>(
  what: string,
  handle: (strategy: Strategy, req: Req) => Ok,
): void {
  const port = parentPort;
  if (!port) throw new Error(`${what} worker: not started as a worker thread`);
  const strategies = new Map<string, Strategy>();
  port.on('message', (req: Req) => {
    let reply: WorkerReply<Ok>;
    try {
      const t0 = performance.now();
      const key = JSON.stringify(req.spec);
      let strategy = strategies.get(key);
      if (!strategy) {
        strategy = createStrategy(req.spec.name, req.spec.options);
        strategies.set(key, strategy);
      }
      const out = handle(strategy, req);
      reply = { id: req.id, ok: true, ...out, ms: performance.now() - t0 };
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      reply = { id: req.id, ok: false, name: err.name, message: err.message };
    }
    port.postMessage(reply);
  });
}
