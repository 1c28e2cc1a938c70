/**
 * The planning worker thread: grouping and planning over thousands of devices takes hundreds of
 * milliseconds to seconds (bench:grouping), which on the coordinator's loop would stall every socket.
 */
import { parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { chooseRoundPlan, createStrategy } from '../core';
import type { Strategy } from '../core';
import type { PlanReply, PlanRequest } from './protocol';

const port = parentPort;
if (!port) throw new Error('planning worker: not started as a worker thread');

const strategies = new Map<string, Strategy>();

port.on('message', (req: PlanRequest) => {
  let reply: PlanReply;
  try {
    const t0 = performance.now();
    const key = JSON.stringify(req.spec);
    let strategy = strategies.get(key);
    if (!strategy) {
      strategy = createStrategy(req.spec.name, req.spec.options);
      strategies.set(key, strategy);
    }
    const choice = chooseRoundPlan(strategy, req.devices, req.ctx, req.previous, new Map(req.measured));
    reply = { id: req.id, ok: true, choice, ms: performance.now() - t0 };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    reply = { id: req.id, ok: false, name: err.name, message: err.message };
  }
  port.postMessage(reply);
});
