/**
 * Side-by-side comparison of the federated strategies in the simulation engine (src/sim): N virtual
 * devices with heterogeneous device classes, each training the real USE-lite + LoRA on its real
 * Dirichlet(α) partition of WordNet glosses (wasm backend), on a simulated clock from the
 * resource model.
 *
 *   npm run compare -- --quick                 the quick setting below
 *   npm run compare                            the full setting below
 *   npm run compare -- --alphas 0.1 --strategies fedlora,hierfedlora --rounds 6
 *
 * Fair by construction: every strategy runs on the same fleet (seeded device classes and
 * profiles), the same partition and the same initial adapter, for the same simulated time budget
 * H = rounds × FedLoRA's round length (FedLoRA runs exactly `rounds` rounds; the others as many of
 * their own rounds as fit in H — a round that would end past H is not started). The table reports
 * at the end of H: final test accuracy, simulated time until the accuracy first reached the target
 * (default 0.9 × FedLoRA's final accuracy at that α), bytes uploaded and device compute seconds,
 * each also as a ratio to FedLoRA. Curves go to <out>/curves.svg, every record to <out>/results.json.
 * Local training is deterministic per job, so a run is reproducible given the step-time table:
 * pin it with --ms-per-step (the run prints the measured one) to compare runs or to rerun one
 * strategy alone.
 *
 * Device classes (src/sim/device-classes.ts): new laptop 1× / old laptop 2× / phone 4× the step
 * times measured at start on this machine (a few interleaved steps per depth), 2.5 / 1 / 0.5 MB/s
 * upload, 25 / 35 / 40 % of the fleet, with σ 0.1 (step) and 0.2 (bandwidth) log-normal jitter.
 *
 * Settings (defaults; every one is a flag):
 *   full:  80 devices (the paper's testbed size), α ∈ {0.1, 0.5}, all five strategies, a budget
 *          of 8 FedLoRA rounds, I = 3 local steps, batch 8, max 32 tokens, ≤300 glosses/class of
 *          the top 20 classes (4,800 train rows), 400 fixed test rows evaluated after every
 *          round, groups of ~5, τ ≤ 4, 2 worker threads. Estimated 3–6 h on this 2-core machine:
 *          ≈ 19× the local-step work and ≈ 8× the evaluation work of --quick (scaled from its
 *          measured run), the lower end on an idle machine.
 *   quick: 16 devices, a budget of 4 FedLoRA rounds, I = 2, max 24 tokens, ≤100 glosses/class
 *          (1,600 train rows), 128 test rows, otherwise as full. Measured on this 2-core machine
 *          while other jobs kept its load average at 4–9: 17.5 min (1,049 s); the rounds that ran
 *          while the machine was quiet suggest 6–8 min on an idle one.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import {
  DirichletPartitioner,
  aggregationMs,
  applyDelta,
  isDegeneratePlan,
  resolveOverheads,
  STRATEGY_NAMES,
  createStrategy,
  encodeAdapter,
  initialAdapter,
  isStrategyName,
  labelHistogram,
  trainedBlockKeys,
} from '../src';
import type { AdapterState, RoundOverheads, StrategyName, StrategyOptions } from '../src';
import { bindMembers, buildVirtualFleet, meanCi, meanCurve, ratio, renderCurvesSvg, simulate, summarizeRun } from '../src/sim';
import type { MeanCi, PrefixCacheStats, RunSummary, SimEvaluation, SimRoundRecord, VirtualDevice } from '../src/sim';
import { InProcessBackend, WorkerPool, type SimBackend } from './compare/backends';
import { MemoBackend } from './compare/memo';
import { loadTask, type TaskSetting } from './compare/setup';
import { formatTable, num, pct, secs } from './format-table';

const HELP = `usage: npm run compare -- [options]
  --quick                 quick setting: 16 devices, 4 rounds of 2 local steps, max 24 tokens, ≤100/class, 128 eval rows
  --devices N             virtual devices (default 80; quick 16)
  --alphas A,B            Dirichlet concentrations (default 0.1,0.5)
  --strategies S,…        subset of ${STRATEGY_NAMES.join(',')} (default all)
  --rounds N              FedLoRA rounds; sets the simulated time budget for all (default 8; quick 4)
  --max-rounds N          safety cap on any strategy's rounds (default 8 × rounds)
  --local-steps N         I, local steps between intra-group aggregations (default 3; quick 2)
  --max-intra-rounds N    upper bound on τ for the planned strategies (default 4)
  --group-size N          target near-IID / random group size (default 5)
  --batch N               local batch size (default 8)
  --max-len N             tokens kept per gloss (default 32; quick 24)
  --task T                built-in task (wordnet) or a task file (JSON); default: WordNet as below
  --max-per-class N       glosses per class before the split (default 300; quick 250, so the test split holds 1,000 rows)
  --top-k N               classes (default 20)
  --eval-count N          fixed test rows evaluated after every round (default 1000)
  --rank N                LoRA rank (default 8, alpha = 2·rank)
  --lr F / --head-lr F    learning rates (default 3e-3 / 0.1: few local steps per round want larger
                          steps than centralized training's 1e-3 / 1e-2; the same for every strategy)
  --capability-tolerance F  grouping: label-divergence slack (bits) within which devices of similar
                          speed are put together (default: the grouping's own, 1e-3)
  --budget-quantile Q     planner: the round budget's quantile for the quantile rules (default: the planner's, 0.5)
  --budget-rule R         planner: group (default) or device (quantile rules), rate (T and the plans jointly, proxy per
                          unit time), or floor (T = the slowest group's depth-1 plan, the cheapest uniform round)
  --member-depth M        planner: group (one depth per group, default) or member (τ per group, each member the
                          deepest depth that fits T / τ)
  --target F              absolute target accuracy (default: target-fraction × centralized LoRA's accuracy)
  --target-fraction F     default 0.9
  --workers N             training worker threads (default 2; 0 = in this process)
  --ms-per-step a,b,…     base step times per depth instead of measuring them (reproducible clocks)
  --seed N                data split seed (default 42)
  --seeds A,B,…           partition, fleet and init seeds, one run each (default 3 seeds: seed, seed+1, seed+2)
  --centralized-steps N   steps of centralized LoRA (all rows, full depth) whose final accuracy × target-fraction
                          is the absolute target, fixed before any federated run (default 400; quick 200)
  --weighting W           across groups: samples (default) or work (FedNova-style, by τ_g·I)
  --lora-agg R            separate (default: A and B averaged apart) or exact (product re-factorised at rank r)
  --depth-exponent F / --frequency-exponent F   planner's accuracy proxy (d/D)^α · τ^γ (default 0.5 / 0.5; bin/sweep-proxy.ts measured 0.07 / 1.10 for one group)
  --max-speed-ratio F     grouping: slowest/fastest step-time bound within a group (default 1.6; inf = label-only)
  --min-band-size N       grouping: devices per speed band at least (smaller speed runs merge into a neighbour, so a
                          band pools enough label mass for near-IID groups; default one group's worth)
  --download-ratio F      download bandwidth = F × upload when not profiled (default 4)
  --sync-intra-ms N       barrier cost per intra-group round (default 150)
  --sync-global-ms N      barrier cost per global round (default 500)
  --agg-mbps F            server aggregation throughput, MB/s (default 500)
  --no-overheads          the old clock: no download, sync or aggregation time
  --prefix-cache-mb N     frozen-prefix cache per training worker, MB (default 256; 0 = off): the embedding and the
                          blocks below a device's depth are reused per row while their LoRA values are unchanged
                          (src/sim/prefix-cache.ts; bit-identical results, only wall time changes)
  --no-memo               recompute identical jobs instead of reusing them (same numbers, slower; compare/memo.ts)
  --out DIR               output folder (default .cache/compare/)
  --merge DIR,DIR,…       no training: merge the runs of earlier comparisons (results.json or results.partial.json
                          in each folder; e.g. one process per seed) into one table, results.json and curves.svg in --out`;

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    devices: { type: 'string' },
    alphas: { type: 'string', default: '0.1,0.5' },
    strategies: { type: 'string', default: STRATEGY_NAMES.join(',') },
    rounds: { type: 'string' },
    'max-rounds': { type: 'string' },
    'local-steps': { type: 'string' },
    'max-intra-rounds': { type: 'string', default: '4' },
    'group-size': { type: 'string', default: '5' },
    batch: { type: 'string', default: '8' },
    'max-len': { type: 'string' },
    'max-per-class': { type: 'string' },
    'top-k': { type: 'string', default: '20' },
    task: { type: 'string' },
    'eval-count': { type: 'string' },
    rank: { type: 'string', default: '8' },
    lr: { type: 'string', default: '3e-3' },
    'head-lr': { type: 'string', default: '0.1' },
    'capability-tolerance': { type: 'string' },
    'budget-quantile': { type: 'string' },
    'budget-rule': { type: 'string' },
    'member-depth': { type: 'string' },
    target: { type: 'string' },
    'target-fraction': { type: 'string', default: '0.9' },
    workers: { type: 'string', default: '2' },
    'ms-per-step': { type: 'string' },
    seed: { type: 'string', default: '42' },
    seeds: { type: 'string' },
    'centralized-steps': { type: 'string' },
    weighting: { type: 'string', default: 'samples' },
    'lora-agg': { type: 'string', default: 'separate' },
    'max-speed-ratio': { type: 'string' },
    'min-band-size': { type: 'string' },
    'depth-exponent': { type: 'string' },
    'frequency-exponent': { type: 'string' },
    'download-ratio': { type: 'string' },
    'sync-intra-ms': { type: 'string' },
    'sync-global-ms': { type: 'string' },
    'agg-mbps': { type: 'string' },
    'no-overheads': { type: 'boolean', default: false },
    'no-memo': { type: 'boolean', default: false },
    'prefix-cache-mb': { type: 'string', default: '256' },
    out: { type: 'string', default: '.cache/compare/' },
    merge: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const times = (x: number | undefined) => (x === undefined ? '-' : `${x.toFixed(2)}×`);

interface StrategyRun {
  readonly alpha: number;
  readonly seed: number;
  readonly strategy: StrategyName;
  readonly records: SimRoundRecord[];
  readonly wallMs: number;
  /** The simulated budget of this (α, seed). */
  readonly horizonMs?: number;
}

async function main(): Promise<void> {
  if (a.help) {
    console.log(HELP);
    return;
  }
  if (a.merge !== undefined) {
    await mergeRuns(a.merge.split(',').map((d) => resolve(d.trim())), resolve(a.out));
    return;
  }
  const t0 = performance.now();
  const quick = a.quick;
  const cfg = {
    devices: num('devices', a.devices ?? (quick ? '16' : '80')),
    alphas: a.alphas.split(',').map((x) => num('alphas', x.trim(), false)),
    strategies: a.strategies.split(',').map((s) => s.trim()),
    rounds: num('rounds', a.rounds ?? (quick ? '4' : '8')),
    localSteps: num('local-steps', a['local-steps'] ?? (quick ? '2' : '3')),
    maxIntraRounds: num('max-intra-rounds', a['max-intra-rounds']),
    groupSize: num('group-size', a['group-size']),
    targetFraction: num('target-fraction', a['target-fraction'], false),
    target: a.target === undefined ? undefined : num('target', a.target, false),
    workers: num('workers', a.workers),
    msPerStep: a['ms-per-step']?.split(',').map((x) => num('ms-per-step', x.trim(), false)),
    out: resolve(a.out),
  };
  const maxRounds = num('max-rounds', a['max-rounds'] ?? String(8 * cfg.rounds));
  for (const s of cfg.strategies) if (!isStrategyName(s)) throw new Error(`unknown strategy "${s}"; known: ${STRATEGY_NAMES.join(', ')}`);
  const strategies = cfg.strategies as StrategyName[];
  const setting: TaskSetting = {
    backend: 'wasm',
    topK: num('top-k', a['top-k']),
    maxPerClass: num('max-per-class', a['max-per-class'] ?? (quick ? '250' : '300')),
    testFraction: 0.2,
    maxLen: num('max-len', a['max-len'] ?? (quick ? '24' : '32')),
    rank: num('rank', a.rank),
    learningRate: num('lr', a.lr, false),
    headLearningRate: num('head-lr', a['head-lr'], false),
    batchSize: num('batch', a.batch),
    evalCount: num('eval-count', a['eval-count'] ?? '1000'),
    seed: num('seed', a.seed),
    prefixCacheMb: num('prefix-cache-mb', a['prefix-cache-mb'], false),
    ...(a.task === undefined ? {} : { task: a.task }),
  };
  const strategyOptions: { -readonly [K in keyof StrategyOptions]: StrategyOptions[K] } = {
    grouping: { targetGroupSize: cfg.groupSize },
    aggregation: { weighting: oneOf('weighting', a.weighting, ['samples', 'work'] as const), lora: oneOf('lora-agg', a['lora-agg'], ['separate', 'exact'] as const) },
    planner: {
      localSteps: cfg.localSteps,
      maxIntraRounds: cfg.maxIntraRounds,
      ...(a['budget-quantile'] !== undefined ? { budgetQuantile: num('budget-quantile', a['budget-quantile'], false) } : {}),
      ...(a['budget-rule'] !== undefined ? { budgetRule: oneOf('budget-rule', a['budget-rule'], ['floor', 'rate', 'group', 'device'] as const) } : {}),
      ...(a['member-depth'] !== undefined ? { memberDepth: oneOf('member-depth', a['member-depth'], ['group', 'member'] as const) } : {}),
      ...(a['depth-exponent'] !== undefined ? { depthExponent: num('depth-exponent', a['depth-exponent'], false) } : {}),
      ...(a['frequency-exponent'] !== undefined ? { frequencyExponent: num('frequency-exponent', a['frequency-exponent'], false) } : {}),
    },
  };
  if (a['max-speed-ratio'] !== undefined) {
    const r = a['max-speed-ratio'] === 'inf' ? Number.POSITIVE_INFINITY : num('max-speed-ratio', a['max-speed-ratio'], false);
    strategyOptions.grouping = { ...strategyOptions.grouping, maxSpeedRatio: r };
  }
  if (a['min-band-size'] !== undefined) strategyOptions.grouping = { ...strategyOptions.grouping, minBandSize: num('min-band-size', a['min-band-size']) };
  const baseSeed = num('seed', a.seed);
  const seeds = (a.seeds ?? `${baseSeed},${baseSeed + 1},${baseSeed + 2}`).split(',').map((x) => num('seeds', x.trim()));
  const centralizedSteps = num('centralized-steps', a['centralized-steps'] ?? (quick ? '200' : '400'));
  if (a['capability-tolerance'] !== undefined) {
    strategyOptions.grouping = { ...strategyOptions.grouping, capabilityTieTolerance: num('capability-tolerance', a['capability-tolerance'], false) };
  }

  const task = await loadTask(setting);
  const { encoder, train, evaluation, numClasses } = task;
  const numBlocks = encoder.blocks.length;
  const inner: SimBackend = cfg.workers > 0 ? await WorkerPool.start(cfg.workers, setting) : new InProcessBackend(task.trainer);
  const memo = new MemoBackend(inner);
  const backend: SimBackend = a['no-memo'] ? inner : memo;
  try {
    console.log(
      `USE-lite (${numBlocks} blocks), wasm, ${cfg.workers > 0 ? `${cfg.workers} worker threads` : 'in process'} · ` +
        `${setting.task === undefined ? 'WordNet' : `task ${setting.task}:`} ${numClasses} classes, ≤${setting.maxPerClass}/class → ${train.texts.length} train rows, ` +
        `${evaluation.texts.length} fixed test rows · ${cfg.devices} devices · batch ${setting.batchSize}, max ${setting.maxLen} tokens, ` +
        `I = ${cfg.localSteps}, τ ≤ ${cfg.maxIntraRounds}, groups of ~${cfg.groupSize}, lr ${setting.learningRate}/${setting.headLearningRate}`,
    );

    const allRows = Int32Array.from({ length: train.texts.length }, (_, i) => i);
    const baseMsPerStep = cfg.msPerStep ?? (await backend.measureMsPerStep(allRows, 5, 1));
    if (baseMsPerStep.length !== numBlocks) throw new Error(`--ms-per-step needs ${numBlocks} values`);
    console.log(
      `${cfg.msPerStep ? 'given' : 'measured'} ms per local step (batch ${setting.batchSize}) at depth 1..${numBlocks}: ` +
        `${baseMsPerStep.map((x) => x.toFixed(0)).join(',')} (the new-laptop class; pin it with --ms-per-step)`,
    );

    const initFor = (seed: number) => initialAdapter(encoder.blocks, encoder.featureDim, numClasses, { ...task.trainer.config.lora }, seed);
    const init0 = initFor(seeds[0]!);
    const adapterBytes = Array.from({ length: numBlocks }, (_, d) => encodeAdapter(restrict(init0, trainedBlockKeys(numBlocks, d + 1))).byteLength);
    const fullBytes = encodeAdapter(init0).byteLength;
    console.log(`upload bytes at depth 1..${numBlocks}: ${adapterBytes.map((b) => `${(b / 1000).toFixed(0)} kB`).join(' / ')} · download (whole adapter) ${(fullBytes / 1000).toFixed(0)} kB`);
    const overheads: RoundOverheads | undefined = a['no-overheads']
      ? undefined
      : {
          downloadBytes: fullBytes,
          ...(a['download-ratio'] !== undefined ? { downloadToUploadRatio: num('download-ratio', a['download-ratio'], false) } : {}),
          ...(a['sync-intra-ms'] !== undefined ? { syncMsPerIntraRound: num('sync-intra-ms', a['sync-intra-ms'], false) } : {}),
          ...(a['sync-global-ms'] !== undefined ? { syncMsPerGlobalRound: num('sync-global-ms', a['sync-global-ms'], false) } : {}),
          ...(a['agg-mbps'] !== undefined ? { aggregationBytesPerSec: 1e6 * num('agg-mbps', a['agg-mbps'], false) } : {}),
        };
    console.log(`clock overheads: ${overheads === undefined ? 'none (--no-overheads)' : JSON.stringify(resolveOverheads(overheads))}`);

    // The absolute target, fixed before any federated run: a fraction of centralized LoRA's accuracy.
    let target = cfg.target;
    let centralized: SimEvaluation | undefined;
    if (target === undefined) {
      const tc = performance.now();
      const job = { deviceId: 'centralized', rows: allRows, depth: numBlocks, localSteps: centralizedSteps, firstStep: 0, adapter: init0 };
      const { delta } = await backend.train(job);
      centralized = await backend.evaluate(applyDelta(init0, delta));
      target = cfg.targetFraction * centralized.accuracy;
      console.log(
        `centralized LoRA (all ${allRows.length} rows, full depth, ${centralizedSteps} steps of batch ${setting.batchSize}): ` +
          `accuracy ${pct(centralized.accuracy)} → target ${pct(target)} (${cfg.targetFraction} ×) · ${secs(performance.now() - tc)} wall`,
      );
    }

    const runs: StrategyRun[] = [];
    const horizons = new Map<number, number>();
    for (const alpha of cfg.alphas) {
      for (const seed of seeds) {
        const parts = new DirichletPartitioner({ numPartitions: cfg.devices, alpha, seed, minPerPartition: setting.batchSize }).partition(train.labels, numClasses);
        const fleet = buildVirtualFleet({ labelHistograms: parts.map((p) => labelHistogram(train.labels, p, numClasses)), baseMsPerStep, seed });
        const devices = fleet.map((d) => d.info);
        const rowsByDevice = new Map(fleet.map((d, i) => [d.info.id, parts[i]!]));
        const context = { numBlocks, adapterBytes, seed, ...(overheads ? { overheads } : {}) };
        const init = initFor(seed);
        const initialEvaluation: SimEvaluation = await backend.evaluate(init);
        const fedloraRoundMs = maxPredicted(createStrategy('fedlora', strategyOptions).plan(devices, { ...context, round: 1 }).predictedGroupMs);
        // FedLoRA's round as the clock counts it: its plan plus the global aggregation of its one group.
        const horizonMs = cfg.rounds * (fedloraRoundMs + aggregationMs(adapterBytes[numBlocks - 1]!, resolveOverheads(overheads)));
        horizons.set(alpha, Math.max(horizons.get(alpha) ?? 0, horizonMs));
        console.log(`\nα = ${alpha}, seed ${seed}: ${describeFleet(fleet)} · FedLoRA round ${secs(fedloraRoundMs)} simulated → budget ${secs(horizonMs)}`);

        for (const name of strategies) {
          const strategy = createStrategy(name, strategyOptions);
          const records: SimRoundRecord[] = [];
          const started = performance.now();
          const prefixBefore = backend.prefixStats?.();
          // Process CPU (this thread and the workers'): less sensitive than wall time to other load on the machine.
          const cpuBefore = process.cpuUsage();
          for await (const r of simulate({
            strategy,
            devices,
            context,
            initialAdapter: init,
            initialEvaluation,
            trainMember: bindMembers(backend, rowsByDevice),
            evaluate: (adapter) => backend.evaluate(adapter),
            maxRounds,
            maxSimulatedMs: horizonMs,
          })) {
            records.push(r);
            if (r.round === 1) {
              const groups = r.groups.map((g) => ({ groupId: g.groupId, deviceIds: [], depth: g.depth, intraRounds: g.intraRounds, localSteps: g.localSteps }));
              console.log(`  ${name}: ${describePlan(r)}${isDegeneratePlan({ groups }) ? '  [degenerate plan: every group the same depth and τ]' : ''}`);
            }
          }
          const last = records[records.length - 1]!;
          console.log(
            `    ${records.length - 1} rounds · final acc ${pct(last.accuracy)} at ${secs(last.simulatedMs)} · up ${mb(last.bytesUploaded)} down ${mb(last.bytesDownloaded)} · ` +
              `compute ${last.computeSeconds.toFixed(0)} s · wall ${secs(performance.now() - started)} · cpu ${cpuSeconds(cpuBefore).toFixed(1)} s${prefixLine(prefixBefore, backend.prefixStats?.())}`,
          );
          runs.push({ alpha, seed, strategy: name, records, wallMs: performance.now() - started, horizonMs });
          const hit = records.find((r) => r.accuracy >= target!);
          console.log(`    time to target ${pct(target)}: ${hit ? secs(hit.simulatedMs) : 'not reached'}`);
          // Partial results after every run, so an interrupted comparison keeps what it measured.
          await mkdir(cfg.out, { recursive: true });
          await writeFile(join(cfg.out, 'results.partial.json'), JSON.stringify({ command: process.argv.slice(2), task: task.name, devices: cfg.devices, seeds, target, runs }, null, 1));
        }
      }
    }

    const summaries = await report({ runs, alphas: cfg.alphas, strategies, seeds, target, horizons, devices: cfg.devices, taskName: task.name, out: cfg.out });
    await writeFile(
      join(cfg.out, 'results.json'),
      JSON.stringify({ command: process.argv.slice(2), task: task.name, setting, cfg, seeds, overheads: overheads ?? null, centralized, target, baseMsPerStep, adapterBytes, summaries, runs }, null, 1),
    );
    const m = memo.stats;
    if (!a['no-memo']) console.log(`\nreused identical work (exact, see compare/memo.ts): ${m.trainHits} of ${m.trainHits + m.trainMisses} first-step training jobs, ${m.evalHits} of ${m.evalHits + m.evalMisses} evaluations`);
    console.log(`\ncurves: ${join(cfg.out, 'curves.svg')} · records: ${join(cfg.out, 'results.json')} · wall time ${secs(performance.now() - t0)}`);
  } finally {
    await backend.close();
    task.trainer.dispose();
  }
}

interface ReportInput {
  readonly runs: readonly StrategyRun[];
  readonly alphas: readonly number[];
  readonly strategies: readonly StrategyName[];
  readonly seeds: readonly number[];
  readonly target: number;
  readonly horizons: ReadonlyMap<number, number>;
  readonly devices: number;
  readonly taskName: string;
  readonly out: string;
}

/** Prints the table and writes curves.svg; returns the per-strategy summaries. */
async function report(r: ReportInput): Promise<StrategySummary[]> {
  const { table, summaries } = comparisonTable(r.runs, r.alphas, r.strategies, r.target, r.horizons);
  console.log(`\ntarget ${pct(r.target)} (absolute, fixed before the runs) · mean ± 95% CI over ${r.seeds.length} seeds · time→target: mean over seeds, * = some seed missed (counted at the budget)\n${table}`);
  await mkdir(r.out, { recursive: true });
  const svg = renderCurvesSvg({
    title: `${r.taskName} · test accuracy vs simulated time · ${r.devices} devices · mean and 95% CI over ${r.seeds.length} seeds`,
    xLabel: 'simulated time (s)',
    yLabel: 'test accuracy',
    panels: r.alphas.map((alpha) => ({
      title: `Dirichlet α = ${alpha}`,
      target: r.target,
      series: r.strategies.map((name) => {
        const curve = meanCurve(
          r.runs.filter((x) => x.alpha === alpha && x.strategy === name).map((x) => x.records),
          r.horizons.get(alpha) ?? 0,
        );
        return { name, points: curve.map((c) => [c.t / 1000, c.mean] as const), band: curve.map((c) => [c.t / 1000, c.lo, c.hi] as const) };
      }),
    })),
  });
  await writeFile(join(r.out, 'curves.svg'), svg);
  return summaries;
}

/** --merge: the runs of several earlier comparisons (same task, target and fleet size) as one comparison. */
async function mergeRuns(dirs: readonly string[], out: string): Promise<void> {
  const files = await Promise.all(
    dirs.map(async (dir) => {
      for (const name of ['results.json', 'results.partial.json']) {
        try {
          return { dir, ...(JSON.parse(await readFile(join(dir, name), 'utf8')) as { target: number; task?: string; devices?: number; command?: string[]; runs: StrategyRun[] }) };
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${join(dir, name)}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
      }
      throw new Error(`${dir} holds neither results.json nor results.partial.json`);
    }),
  );
  const target = files[0]!.target;
  for (const f of files) if (f.target !== target) throw new Error(`${f.dir} has target ${f.target}, ${dirs[0]} has ${target}: not one comparison`);
  const seen = new Set<string>();
  const runs: StrategyRun[] = [];
  for (const f of files) {
    for (const run of f.runs) {
      const key = `${run.alpha}/${run.seed}/${run.strategy}`;
      if (seen.has(key)) throw new Error(`run ${key} appears twice (${f.dir})`);
      seen.add(key);
      runs.push(run);
    }
  }
  const alphas = [...new Set(runs.map((x) => x.alpha))].sort((x, y) => x - y);
  const strategies = STRATEGY_NAMES.filter((n) => runs.some((x) => x.strategy === n));
  const seeds = [...new Set(runs.map((x) => x.seed))].sort((x, y) => x - y);
  // The budget of an (α, seed) is FedLoRA's `rounds` rounds: stored with each run, else FedLoRA's last record.
  const horizons = new Map<number, number>();
  for (const x of runs) {
    const h = x.horizonMs ?? (x.strategy === 'fedlora' ? x.records[x.records.length - 1]!.simulatedMs : 0);
    horizons.set(x.alpha, Math.max(horizons.get(x.alpha) ?? 0, h));
  }
  // Files written before these fields existed: the --task of their command line, and round 1's group sizes.
  const first = files[0]!;
  const taskFlag = first.command?.indexOf('--task') ?? -1;
  const taskName = first.task ?? (taskFlag >= 0 ? first.command![taskFlag + 1]! : 'wordnet');
  const devices = first.devices ?? (runs[0]?.records[1]?.groups.reduce((n, g) => n + g.size, 0) ?? 0);
  console.log(`merged ${runs.length} runs from ${dirs.length} folders: α ${alphas.join(', ')} · seeds ${seeds.join(', ')} · ${strategies.join(', ')}`);
  const summaries = await report({ runs, alphas, strategies, seeds, target, horizons, devices, taskName, out });
  await writeFile(join(out, 'results.json'), JSON.stringify({ command: process.argv.slice(2), merged: dirs, task: taskName, seeds, target, summaries, runs }, null, 1));
  console.log(`curves: ${join(out, 'curves.svg')} · records: ${join(out, 'results.json')}`);
}

interface StrategySummary {
  readonly alpha: number;
  readonly strategy: StrategyName;
  readonly seeds: number[];
  readonly target: number;
  readonly finalAccuracy: MeanCi;
  /** Over seeds, a seed that never reached the target counted at the budget (censored); reached = how many did. */
  readonly timeToTargetMs: MeanCi & { readonly reached: number; readonly perSeed: (number | null)[] };
  readonly bytesUp: MeanCi;
  readonly bytesDown: MeanCi;
  readonly computeSeconds: MeanCi;
  readonly rounds: MeanCi;
  readonly perSeed: RunSummary[];
}

function comparisonTable(
  runs: readonly StrategyRun[],
  alphas: readonly number[],
  strategies: readonly StrategyName[],
  target: number,
  horizons: ReadonlyMap<number, number>,
): { table: string; summaries: StrategySummary[] } {
  const summaries: StrategySummary[] = [];
  for (const alpha of alphas) {
    for (const name of strategies) {
      const mine = runs.filter((r) => r.alpha === alpha && r.strategy === name);
      if (mine.length === 0) continue;
      const per = mine.map((r) => summarizeRun(r.records, target));
      const horizon = horizons.get(alpha) ?? 0;
      const ttt = per.map((s) => s.timeToTargetMs);
      summaries.push({
        alpha,
        strategy: name,
        seeds: mine.map((r) => r.seed),
        target,
        finalAccuracy: meanCi(per.map((s) => s.finalAccuracy)),
        timeToTargetMs: { ...meanCi(ttt.map((t) => t ?? horizon)), reached: ttt.filter((t) => t !== undefined).length, perSeed: ttt.map((t) => t ?? null) },
        bytesUp: meanCi(per.map((s) => s.bytesUploaded)),
        bytesDown: meanCi(per.map((s) => s.bytesDownloaded)),
        computeSeconds: meanCi(per.map((s) => s.computeSeconds)),
        rounds: meanCi(per.map((s) => s.rounds)),
        perSeed: per,
      });
    }
  }
  const ci = (m: MeanCi, f: (x: number) => string) => (Number.isFinite(m.ci95) ? `${f(m.mean)} ± ${f(m.ci95)}` : f(m.mean));
  const pt = (x: number) => `${(100 * x).toFixed(1)}`;
  const rows: string[][] = [
    ['α', 'strategy', 'final acc %', 'Δ FedLoRA', 'Δ best base', 'time→target s', 'seeds hit', '× FedLoRA', '× best base', 'up', 'down', 'compute s', 'rounds'],
  ];
  for (const alpha of alphas) {
    const here = summaries.filter((s) => s.alpha === alpha);
    const fed = here.find((s) => s.strategy === 'fedlora');
    const baselines = here.filter((s) => s.strategy !== 'hierfedlora');
    const bestAcc = baselines.length ? baselines.reduce((b, s) => (s.finalAccuracy.mean > b.finalAccuracy.mean ? s : b)) : undefined;
    const bestTime = baselines.length ? baselines.reduce((b, s) => (s.timeToTargetMs.mean < b.timeToTargetMs.mean ? s : b)) : undefined;
    for (const s of here) {
      const star = s.timeToTargetMs.reached < s.seeds.length ? '*' : '';
      rows.push([
        String(alpha),
        s.strategy + (s === bestAcc ? ' (best acc base)' : s === bestTime ? ' (best time base)' : ''),
        ci(s.finalAccuracy, pt),
        fed ? `${((s.finalAccuracy.mean - fed.finalAccuracy.mean) * 100).toFixed(1)} pt` : '-',
        bestAcc ? `${((s.finalAccuracy.mean - bestAcc.finalAccuracy.mean) * 100).toFixed(1)} pt` : '-',
        ci(s.timeToTargetMs, (x) => (x / 1000).toFixed(0)) + star,
        `${s.timeToTargetMs.reached}/${s.seeds.length}`,
        times(ratio(fed?.timeToTargetMs.mean, s.timeToTargetMs.mean)),
        times(ratio(bestTime?.timeToTargetMs.mean, s.timeToTargetMs.mean)),
        mb(s.bytesUp.mean),
        mb(s.bytesDown.mean),
        s.computeSeconds.mean.toFixed(0),
        s.rounds.mean.toFixed(1),
      ]);
    }
  }
  return { table: formatTable(rows, 2), summaries };
}

function oneOf<T extends string>(name: string, raw: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw)) throw new Error(`--${name} expects one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

function restrict(state: AdapterState, keys: readonly string[]): AdapterState {
  return new Map([...state].filter(([k]) => keys.includes(k)));
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}

/** The frozen-prefix cache's batches served / computed during one strategy's run, and its size now. */
function prefixLine(before: PrefixCacheStats | undefined, after: PrefixCacheStats | undefined): string {
  if (before === undefined || after === undefined || after.hits + after.partial + after.misses === 0) return '';
  const hits = after.hits - before.hits;
  const partial = after.partial - before.partial;
  const all = hits + partial + after.misses - before.misses;
  return ` · prefix cache: of ${all} batches ${hits} served whole, ${partial} in part (${(after.bytes / 1e6).toFixed(0)} MB held)`;
}

function maxPredicted(predicted: Readonly<Record<string, number>> | undefined): number {
  const values = Object.values(predicted ?? {});
  if (values.length === 0) throw new Error('the FedLoRA plan predicts no round time');
  return Math.max(...values);
}

function describeFleet(fleet: readonly VirtualDevice[]): string {
  const counts = new Map<string, number>();
  for (const d of fleet) counts.set(d.className, (counts.get(d.className) ?? 0) + 1);
  const samples = fleet.map((d) => d.info.numSamples);
  return `${[...counts].map(([c, n]) => `${n} ${c}`).join(', ')} · ${Math.min(...samples)}–${Math.max(...samples)} rows/device`;
}

function describePlan(r: SimRoundRecord): string {
  const tally = (f: (g: SimRoundRecord['groups'][number]) => number) => {
    const m = new Map<number, number>();
    for (const g of r.groups) m.set(f(g), (m.get(f(g)) ?? 0) + g.size);
    return [...m].sort((x, y) => x[0] - y[0]).map(([k, n]) => `${k}:${n}`).join(' ');
  };
  return `${r.groups.length} group(s) · devices by depth {${tally((g) => g.depth)}} · by τ {${tally((g) => g.intraRounds)}} · round ${secs(r.roundMs)} simulated`;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
