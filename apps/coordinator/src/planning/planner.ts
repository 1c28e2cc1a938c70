/**
 * Round planning for the run loop: in process for small fleets, on a worker thread from
 * `workerFrom` devices up, so a 10,000-device grouping (~1.5 s) does not stall the loop's sockets.
 * Both give the same plan: strategies plan deterministically from (devices, ctx).
 */
import type { Worker } from 'node:worker_threads';
import { chooseRoundPlan, PlanningError, RoundContractError } from '../core';
import type { DeviceInfo, PlanChoice, PlanContext, RoundPlan, Strategy } from '../core';
import { spawnWorker } from '../evaluation/evaluator';
import type { PlanReply, PlanRequest, StrategySpec } from './protocol';

export type { StrategySpec } from './protocol';

export interface RoundPlanner {
  plan(devices: readonly DeviceInfo[], ctx: PlanContext, previous: RoundPlan | undefined, measured: ReadonlyMap<string, number>): Promise<PlanChoice>;
  close(): Promise<void>;
}

/** Plans on the calling thread (custom strategy objects, which a worker cannot rebuild). */
export function inProcessPlanner(strategy: Strategy): RoundPlanner {
  return {
    plan: (devices, ctx, previous, measured) => Promise.resolve().then(() => chooseRoundPlan(strategy, devices, ctx, previous, measured)),
    close: () => Promise.resolve(),
  };
}

export interface WorkerPlannerOptions {
  /** Fleets smaller than this are planned in process (a worker's start costs more than their plan). Default 300. */
  readonly workerFrom?: number;
}

function rebuildError(r: Extract<PlanReply, { ok: false }>): Error {
  const e = r.name === 'RoundContractError' ? new RoundContractError(r.message) : r.name === 'PlanningError' ? new PlanningError(r.message) : new Error(r.message);
  if (e.name !== r.name) e.name = r.name;
  return e;
}

/** Plans the strategy `spec` describes; from `workerFrom` devices up on one lazily started worker thread. */
export function workerPlanner(strategy: Strategy, spec: StrategySpec, options: WorkerPlannerOptions = {}): RoundPlanner {
  const local = inProcessPlanner(strategy);
  const workerFrom = options.workerFrom ?? 300;
  let worker: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, { resolve: (c: PlanChoice) => void; reject: (e: Error) => void }>();
  const failAll = (e: Error) => {
    for (const p of pending.values()) p.reject(e);
    pending.clear();
    worker = undefined;
  };
  const start = (): Worker => {
    const w = spawnWorker('../planning/worker.ts');
    w.unref();
    w.on('message', (r: PlanReply) => {
      const p = pending.get(r.id);
      if (!p) return;
      pending.delete(r.id);
      if (r.ok) p.resolve(r.choice);
      else p.reject(rebuildError(r));
    });
    w.on('error', (e) => failAll(new Error(`planning worker failed: ${e.message}`)));
    w.on('exit', (code) => {
      if (worker === w) failAll(new Error(`planning worker exited (code ${code})`));
    });
    return w;
  };
  return {
    plan(devices, ctx, previous, measured) {
      if (devices.length < workerFrom) return local.plan(devices, ctx, previous, measured);
      worker ??= start();
      const id = nextId++;
      const req: PlanRequest = { id, spec, devices, ctx, previous, measured: [...measured] };
      return new Promise<PlanChoice>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker!.postMessage(req);
      });
    },
    async close() {
      const w = worker;
      worker = undefined;
      failAll(new Error('planner closed'));
      if (w) await w.terminate();
    },
  };
}
