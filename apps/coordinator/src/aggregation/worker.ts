/**
 * The aggregation worker thread: a group's robust rule (cosine-mean's pairwise agreement and
 * coordinate-wise medians) takes tens of milliseconds for five uploads and seconds for fifty, and
 * a 10,000-device round's global mean folds hundreds of MiB; on the coordinator's loop either
 * would stall every socket. The strategy is rebuilt from its spec, so the results are the same
 * functions' on the same values.
 */
import { parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { createStrategy } from '../core';
import type { Strategy } from '../core';
import type { AggregateReply, AggregateRequest } from './protocol';

const port = parentPort;
if (!port) throw new Error('aggregation worker: not started as a worker thread');

const strategies = new Map<string, Strategy>();

port.on('message', (req: AggregateRequest) => {
  let reply: AggregateReply;
  try {
    const t0 = performance.now();
    const key = JSON.stringify(req.spec);
    let strategy = strategies.get(key);
    if (!strategy) {
      strategy = createStrategy(req.spec.name, req.spec.options);
      strategies.set(key, strategy);
    }
    if (req.kind === 'group') {
      const out = strategy.aggregateGroupWithReport
        ? strategy.aggregateGroupWithReport(req.updates, req.base)
        : { delta: strategy.aggregateGroup(req.updates, req.base) };
      reply = { id: req.id, ok: true, delta: out.delta, ...(out.robust ? { robust: out.robust } : {}), ms: performance.now() - t0 };
    } else {
      reply = { id: req.id, ok: true, delta: strategy.aggregateGlobal(req.groups, req.base), ms: performance.now() - t0 };
    }
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    reply = { id: req.id, ok: false, name: err.name, message: err.message };
  }
  port.postMessage(reply);
});
