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
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import {
  DirichletPartitioner,
  STRATEGY_NAMES,
  createStrategy,
  encodeAdapter,
  initialAdapter,
  isStrategyName,
  labelHistogram,
  trainedBlockKeys,
} from '../src';
import type { AdapterState, StrategyName, StrategyOptions } from '../src';
import { bindMembers, buildVirtualFleet, ratio, renderCurvesSvg, simulate, summarizeRun } from '../src/sim';
import type { RunSummary, SimEvaluation, SimRoundRecord, VirtualDevice } from '../src/sim';
import { InProcessBackend, WorkerPool, type SimBackend } from './compare/backends';
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
  --max-per-class N       glosses per class before the split (default 300; quick 100)
  --task T                built-in task (wordnet) or a task file (JSON); default: WordNet as below
  --top-k N               classes (default 20)
  --eval-count N          fixed test rows evaluated after every round (default 400; quick 128)
  --rank N                LoRA rank (default 8, alpha = 2·rank)
  --lr F / --head-lr F    learning rates (default 3e-3 / 0.1: few local steps per round want larger
                          steps than centralized training's 1e-3 / 1e-2; the same for every strategy)
  --capability-tolerance F  grouping: label-divergence slack (bits) within which devices of similar
                          speed are put together (default: the grouping's own, 1e-3)
  --budget-quantile Q     planner: the round budget's quantile over devices (default: the planner's, 0.5)
  --target F              target accuracy for time-to-target (default: target-fraction × FedLoRA's final)
  --target-fraction F     default 0.9
  --workers N             training worker threads (default 2; 0 = in this process)
  --ms-per-step a,b,…     base step times per depth instead of measuring them (reproducible clocks)
  --seed N                data, partition, fleet and init seed (default 42)
  --out DIR               output folder (default .cache/compare/)`;

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
    target: { type: 'string' },
    'target-fraction': { type: 'string', default: '0.9' },
    workers: { type: 'string', default: '2' },
    'ms-per-step': { type: 'string' },
    seed: { type: 'string', default: '42' },
    out: { type: 'string', default: '.cache/compare/' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const times = (x: number | undefined) => (x === undefined ? '-' : `${x.toFixed(2)}×`);

interface StrategyRun {
  readonly alpha: number;
  readonly strategy: StrategyName;
  readonly records: SimRoundRecord[];
  readonly wallMs: number;
}

async function main(): Promise<void> {
  if (a.help) {
    console.log(HELP);
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
    maxPerClass: num('max-per-class', a['max-per-class'] ?? (quick ? '100' : '300')),
    testFraction: 0.2,
    maxLen: num('max-len', a['max-len'] ?? (quick ? '24' : '32')),
    rank: num('rank', a.rank),
    learningRate: num('lr', a.lr, false),
    headLearningRate: num('head-lr', a['head-lr'], false),
    batchSize: num('batch', a.batch),
    evalCount: num('eval-count', a['eval-count'] ?? (quick ? '128' : '400')),
    seed: num('seed', a.seed),
    ...(a.task === undefined ? {} : { task: a.task }),
  };
  const strategyOptions: { -readonly [K in keyof StrategyOptions]: StrategyOptions[K] } = {
    grouping: { targetGroupSize: cfg.groupSize },
    planner: {
      localSteps: cfg.localSteps,
      maxIntraRounds: cfg.maxIntraRounds,
      ...(a['budget-quantile'] !== undefined ? { budgetQuantile: num('budget-quantile', a['budget-quantile'], false) } : {}),
    },
  };
  if (a['capability-tolerance'] !== undefined) {
    strategyOptions.grouping = { ...strategyOptions.grouping, capabilityTieTolerance: num('capability-tolerance', a['capability-tolerance'], false) };
  }

  const task = await loadTask(setting);
  const { encoder, train, evaluation, numClasses } = task;
  const numBlocks = encoder.blocks.length;
  const backend: SimBackend = cfg.workers > 0 ? await WorkerPool.start(cfg.workers, setting) : new InProcessBackend(task.trainer);
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

    const init = initialAdapter(encoder.blocks, encoder.featureDim, numClasses, { ...task.trainer.config.lora }, setting.seed);
    const adapterBytes = Array.from({ length: numBlocks }, (_, d) => encodeAdapter(restrict(init, trainedBlockKeys(numBlocks, d + 1))).byteLength);
    console.log(`upload bytes at depth 1..${numBlocks}: ${adapterBytes.map((b) => `${(b / 1000).toFixed(0)} kB`).join(' / ')}`);
    const initialEvaluation: SimEvaluation = await backend.evaluate(init);

    const runs: StrategyRun[] = [];
    for (const alpha of cfg.alphas) {
      const parts = new DirichletPartitioner({ numPartitions: cfg.devices, alpha, seed: setting.seed, minPerPartition: setting.batchSize }).partition(
        train.labels,
        numClasses,
      );
      const fleet = buildVirtualFleet({
        labelHistograms: parts.map((p) => labelHistogram(train.labels, p, numClasses)),
        baseMsPerStep,
        seed: setting.seed,
      });
      const devices = fleet.map((d) => d.info);
      const rowsByDevice = new Map(fleet.map((d, i) => [d.info.id, parts[i]!]));
      const context = { numBlocks, adapterBytes, seed: setting.seed };
      const fedloraRoundMs = maxPredicted(createStrategy('fedlora', strategyOptions).plan(devices, { ...context, round: 1 }).predictedGroupMs);
      const horizonMs = cfg.rounds * fedloraRoundMs;
      console.log(`\nα = ${alpha}: ${describeFleet(fleet)} · FedLoRA round ${secs(fedloraRoundMs)} simulated → budget ${secs(horizonMs)}`);

      for (const name of strategies) {
        const strategy = createStrategy(name, strategyOptions);
        const records: SimRoundRecord[] = [];
        const started = performance.now();
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
          if (r.round === 1) console.log(`  ${name}: ${describePlan(r)}`);
          if (r.round > 0) {
            console.log(
              `    r${r.round}  t ${secs(r.simulatedMs)}  acc ${pct(r.accuracy)}  loss ${r.loss.toFixed(3)}  train ${r.trainLoss.toFixed(3)}  ` +
                `up ${mb(r.bytesUploaded)}  compute ${r.computeSeconds.toFixed(0)} s  (wall ${secs(r.wallMs)})`,
            );
          }
        }
        runs.push({ alpha, strategy: name, records, wallMs: performance.now() - started });
      }
    }

    const { table, summaries } = comparisonTable(runs, cfg.alphas, strategies, cfg.target, cfg.targetFraction);
    console.log(`\n${table}`);
    await mkdir(cfg.out, { recursive: true });
    const svg = renderCurvesSvg({
      title: `Test accuracy vs simulated time · ${cfg.devices} devices · USE-lite + LoRA on WordNet`,
      xLabel: 'simulated time (s)',
      yLabel: 'test accuracy',
      panels: cfg.alphas.map((alpha) => ({
        title: `Dirichlet α = ${alpha}`,
        target: summaries.find((s) => s.alpha === alpha)?.target,
        series: runs
          .filter((r) => r.alpha === alpha)
          .map((r) => ({ name: r.strategy, points: r.records.map((x) => [x.simulatedMs / 1000, x.accuracy] as const) })),
      })),
    });
    await writeFile(join(cfg.out, 'curves.svg'), svg);
    await writeFile(
      join(cfg.out, 'results.json'),
      JSON.stringify({ command: process.argv.slice(2), setting, cfg, baseMsPerStep, adapterBytes, summaries, runs }, null, 1),
    );
    console.log(`\ncurves: ${join(cfg.out, 'curves.svg')} · records: ${join(cfg.out, 'results.json')} · wall time ${secs(performance.now() - t0)}`);
  } finally {
    await backend.close();
    task.trainer.dispose();
  }
}

function comparisonTable(
  runs: readonly StrategyRun[],
  alphas: readonly number[],
  strategies: readonly StrategyName[],
  fixedTarget: number | undefined,
  targetFraction: number,
): { table: string; summaries: Array<{ alpha: number; strategy: StrategyName; target: number; summary: RunSummary; wallMs: number }> } {
  const rows: string[][] = [
    ['α', 'strategy', 'final acc', 'Δ acc', 'target', 'time→target', 'speed-up', 'uploaded', '× bytes', 'compute', '× compute', 'rounds', 'wall'],
  ];
  const summaries: Array<{ alpha: number; strategy: StrategyName; target: number; summary: RunSummary; wallMs: number }> = [];
  for (const alpha of alphas) {
    const fed = runs.find((r) => r.alpha === alpha && r.strategy === 'fedlora');
    const fedFinal = fed?.records[fed.records.length - 1]?.accuracy;
    const target = fixedTarget ?? (fedFinal !== undefined ? targetFraction * fedFinal : Number.NaN);
    const base = fed === undefined ? undefined : summarizeRun(fed.records, target);
    for (const name of strategies) {
      const run = runs.find((r) => r.alpha === alpha && r.strategy === name);
      if (run === undefined) continue;
      const s = summarizeRun(run.records, target);
      summaries.push({ alpha, strategy: name, target, summary: s, wallMs: run.wallMs });
      rows.push([
        String(alpha),
        name,
        pct(s.finalAccuracy),
        base === undefined ? '-' : `${((s.finalAccuracy - base.finalAccuracy) * 100).toFixed(1)} pt`,
        Number.isFinite(target) ? pct(target) : '-',
        s.timeToTargetMs === undefined ? 'not reached' : secs(s.timeToTargetMs),
        times(ratio(base?.timeToTargetMs, s.timeToTargetMs)),
        mb(s.bytesUploaded),
        times(ratio(s.bytesUploaded, base?.bytesUploaded)),
        `${s.computeSeconds.toFixed(0)} s`,
        times(ratio(s.computeSeconds, base?.computeSeconds)),
        String(s.rounds),
        secs(run.wallMs),
      ]);
    }
  }
  return { table: formatTable(rows, 2), summaries };
}

function restrict(state: AdapterState, keys: readonly string[]): AdapterState {
  return new Map([...state].filter(([k]) => keys.includes(k)));
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
