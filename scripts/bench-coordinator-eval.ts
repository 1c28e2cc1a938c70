/**
 * Coordinator responsiveness during evaluation: a real coordinator (in this process) with a real
 * task and its evaluation worker scores global adapters back to back while a prober measures
 * HTTP (GET /api/status) and Socket.IO (the dashboard namespace's listRuns, with an ack) round
 * trips. Prints evaluation rows/s and latency p50 / p99 / max for each. Goal: p99 < 100 ms.
 *
 *   npm run bench:coordinator-eval [-- --task wordnet --eval-rows 2000|all --evaluations 3]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { io as connect } from 'socket.io-client';
import { describeTask, loadTask } from '../apps/coordinator/src/core-node';
import { createFederatedTask } from '../apps/coordinator/src/federated-task';
import { startCoordinator } from '../apps/coordinator/src/server';
import { MemoryState } from '../apps/coordinator/src/state';

const { values } = parseArgs({
  options: {
    task: { type: 'string', default: 'wordnet' },
    'eval-rows': { type: 'string', default: '2000' },
    evaluations: { type: 'string', default: '3' },
    'probe-ms': { type: 'string', default: '25' },
  },
});
const evalRows = values['eval-rows'] === 'all' ? 'all' : Number(values['eval-rows']);
const evaluations = Number(values.evaluations);

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.min(s.length - 1, Math.floor(q * s.length))] as number);
};
const fmt = (xs: number[]) => `p50 ${quantile(xs, 0.5).toFixed(1)} ms · p99 ${quantile(xs, 0.99).toFixed(1)} ms · max ${Math.max(...xs).toFixed(1)} ms (${xs.length} probes)`;

const loaded = loadTask(values.task, { seed: 42, evalRows });
for (const line of describeTask(loaded)) console.log(line);
const task = await createFederatedTask(loaded, { partitions: 4, dirichletAlpha: 0.5, seed: 42, batchSize: 16 });
if (!task.evaluate) throw new Error('this task has no evaluation set');
const state = new MemoryState();
// Waits for 1000 devices after round 0: the process just serves while the bench evaluates.
const coordinator = await startCoordinator({
  config: { port: 0, host: '127.0.0.1', token: 'bench-token', adminToken: 'bench-admin', rounds: 1, devicesExpected: 1000, seed: 42, batchSize: 16, learningRate: 1e-3, headLearningRate: 1e-2, roundTimeoutMs: 600_000 },
  task,
  state,
});
while (state.listRounds(coordinator.runId).length === 0) await new Promise((r) => setTimeout(r, 50));

const socket = connect(`${coordinator.localUrl}/dashboard`, { transports: ['websocket'] });
await new Promise<void>((resolve) => socket.once('connect', () => resolve()));

const http: number[] = [];
const sio: number[] = [];
let evaluating = false;
const probeMs = Number(values['probe-ms']);
const probe = async (): Promise<void> => {
  while (evaluating) {
    let t0 = performance.now();
    const res = await fetch(`${coordinator.localUrl}/api/status`);
    await res.arrayBuffer();
    if (evaluating) http.push(performance.now() - t0);
    t0 = performance.now();
    await new Promise<void>((resolve) => socket.emit('listRuns', () => resolve()));
    if (evaluating) sio.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, probeMs));
  }
};

const rows = loaded.data.evalSample?.texts.length ?? 0;
const times: number[] = [];
evaluating = true;
const prober = probe();
for (let i = 0; i < evaluations; i++) {
  const t0 = performance.now();
  await task.evaluate(task.initialAdapter);
  times.push(performance.now() - t0);
  console.log(`evaluation ${i + 1}/${evaluations}: ${rows} rows in ${(times[i] as number / 1000).toFixed(1)} s`);
}
evaluating = false;
await prober;
const totalS = times.reduce((a, b) => a + b, 0) / 1000;
console.log('');
console.log(`evaluation: ${rows} rows × ${evaluations} in ${totalS.toFixed(1)} s → ${((rows * evaluations) / totalS).toFixed(0)} rows/s (worker thread, tfjs wasm)`);
console.log(`HTTP GET /api/status during evaluation: ${fmt(http)}`);
console.log(`Socket.IO round trip (dashboard listRuns ack) during evaluation: ${fmt(sio)}`);
const p99 = Math.max(quantile(http, 0.99), quantile(sio, 0.99));
console.log(`goal p99 < 100 ms: ${p99 < 100 ? 'met' : 'NOT met'} (worst p99 ${p99.toFixed(1)} ms)`);
socket.close();
await coordinator.close();
process.exit(0);
