/**
 * Cost of one training step per fine-tuning depth and tfjs backend (Node): median ms per step and
 * per forward pass on one fixed batch of real WordNet glosses, trainable parameters, upload bytes.
 *
 *   npm run bench:core
 *   npm run bench:core -- --backends wasm --steps 20 --batch 32
 *
 *   npm run bench:core -- --shape gpt2-small | --shape smollm2-135m | --model DIR   (decoders: bin/bench-decoder.ts)
 *
 * Depths are timed round-robin (one step of depth 1, 2, 3, 4, then again), so a change in machine
 * load hits every depth alike and the ratios to depth 4 stay meaningful on a shared machine.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fetchUseLiteAsset, loadWordNetGlosses, useBackend } from '../node';
import type { NodeBackend } from '../node';
import { createRng } from '../src/data/random';
import { DEFAULT_LORA, LoraClassifier, encodeAdapter, loadUseLiteModel, makeBatch, median, timeRuns, withMaxTokens } from '../src';
import type { LabeledBatch, TextEncoder } from '../src';
import { formatTable } from './format-table';

const HELP = `usage: npm run bench:core -- [options]
  --backends LIST   comma-separated, from wasm,cpu (default wasm,cpu)
  --steps N         timed steps (and forward passes) per depth (default: wasm 10, cpu 1; cpu is ~20-40× slower)
  --warmup N        untimed training steps per depth first (default: wasm 2, cpu 0), after one untimed
                    step at full depth that runs every kernel once
  --batch N         rows in the fixed batch (default 16)
  --max-len N       token cap per gloss (default: the model's 128)
  --rank N          LoRA rank (default 8, alpha 2·rank, all four targets)
  --seed N          which glosses form the batch (default 42)`;

// --model / --shape select the decoder bench (bin/bench-decoder.ts), which parses its own flags.
const DECODER = process.argv.slice(2).some((x) => /^--(model|shape)(=|$)/.test(x));

const { values: a } = parseArgs({
  options: {
    backends: { type: 'string', default: 'wasm,cpu' },
    steps: { type: 'string' },
    warmup: { type: 'string' },
    batch: { type: 'string', default: '16' },
    'max-len': { type: 'string' },
    rank: { type: 'string', default: '8' },
    seed: { type: 'string', default: '42' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
  args: DECODER ? [] : process.argv.slice(2),
});

const DEFAULT_STEPS: Record<NodeBackend, number> = { wasm: 10, cpu: 1 };
const DEFAULT_WARMUP: Record<NodeBackend, number> = { wasm: 2, cpu: 0 };

function int(name: string, raw: string, min: number): number {
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} expects an integer ≥ ${min}, got "${raw}"`);
  return v;
}

interface DepthResult {
  depth: number;
  stepMs: number[];
  forwardMs: number[];
  params: number;
  adapterBytes: number;
}

/** Times `rounds` calls per classifier, taking the classifiers in turn each round, after `warmup` untimed calls each. */
async function roundRobin(clfs: LoraClassifier[], work: (c: LoraClassifier) => Promise<unknown>, warmup: number, rounds: number): Promise<number[][]> {
  for (let w = 0; w < warmup; w++) for (const c of clfs) await work(c);
  const out = clfs.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < clfs.length; i++) {
      const [ms] = await timeRuns(() => work(clfs[i] as LoraClassifier), { warmup: 0, runs: 1 });
      out[i]?.push(ms as number);
    }
  }
  return out;
}

async function benchBackend(backend: NodeBackend, batch: LabeledBatch, numClasses: number, o: { steps: number; warmup: number; rank: number; maxLen?: number }): Promise<DepthResult[]> {
  await useBackend(backend);
  const base = await loadUseLiteModel(fetchUseLiteAsset);
  const encoder: TextEncoder = o.maxLen === undefined ? base : withMaxTokens(base, o.maxLen);
  const lora = { ...DEFAULT_LORA, rank: o.rank, alpha: 2 * o.rank };
  const depths = encoder.blocks.map((_, i) => i + 1);
  const clfs = depths.map(
    (depth) => new LoraClassifier(encoder, { numClasses, depth, lora, learningRate: 1e-3, headLearningRate: 1e-2, seed: 1 }),
  );
  try {
    await clfs[clfs.length - 1]?.trainStep(batch);
    const stepMs = await roundRobin(clfs, (c) => c.trainStep(batch), o.warmup, o.steps);
    // The training steps above already ran every forward kernel: no separate warm-up.
    const forwardMs = await roundRobin(clfs, (c) => c.loss(batch), 0, o.steps);
    return clfs.map((c, i) => ({
      depth: depths[i] as number,
      stepMs: stepMs[i] as number[],
      forwardMs: forwardMs[i] as number[],
      params: c.trainableParameters,
      adapterBytes: encodeAdapter(c.getAdapter()).byteLength,
    }));
  } finally {
    for (const c of clfs) c.dispose();
    encoder.dispose();
  }
}

async function main(): Promise<void> {
  if (DECODER) return (await import('./bench-decoder')).benchDecoder(process.argv.slice(2));
  if (a.help) {
    console.log(HELP);
    return;
  }
  const t0 = performance.now();
  const backends = a.backends.split(',').map((s) => s.trim());
  for (const b of backends) if (b !== 'wasm' && b !== 'cpu') throw new Error(`--backends: unknown backend "${b}" (wasm, cpu)`);
  const batchSize = int('batch', a.batch, 1);
  const rank = int('rank', a.rank, 1);
  const seed = int('seed', a.seed, 0);
  const maxLen = a['max-len'] === undefined ? undefined : int('max-len', a['max-len'], 1);

  // The batch: `batchSize` seeded glosses of the default 20-class task; tokenized per backend below.
  const data = loadWordNetGlosses({ topK: 20, seed });
  const rows = createRng(seed).shuffle(Array.from({ length: data.texts.length }, (_, i) => i)).slice(0, batchSize);
  const results = new Map<NodeBackend, DepthResult[]>();
  let batchInfo = '';
  for (const backend of backends as NodeBackend[]) {
    const steps = a.steps === undefined ? DEFAULT_STEPS[backend] : int('steps', a.steps, 1);
    const warmup = a.warmup === undefined ? DEFAULT_WARMUP[backend] : int('warmup', a.warmup, 0);
    await useBackend(backend);
    const tokenizer = await loadUseLiteModel(fetchUseLiteAsset);
    const batch = makeBatch(maxLen === undefined ? tokenizer : withMaxTokens(tokenizer, maxLen), data, rows);
    tokenizer.dispose();
    const meanLen = batch.tokens.lengths.reduce((s, n) => s + n, 0) / batch.tokens.batch;
    batchInfo = `batch of ${batchSize} WordNet glosses (seed ${seed}), padded to ${batch.tokens.seqLen} tokens (mean ${meanLen.toFixed(1)})`;
    const tb = performance.now();
    console.log(
      `[${backend}] ${steps} timed step(s) and forward pass(es) per depth after 1 + ${warmup} warm-up, depths round-robin · ` +
        `load ${loadavg()[0]?.toFixed(1)}`,
    );
    results.set(backend, await benchBackend(backend, batch, data.classNames.length, { steps, warmup, rank, ...(maxLen === undefined ? {} : { maxLen }) }));
    console.log(`[${backend}] done in ${((performance.now() - tb) / 1000).toFixed(0)} s · load ${loadavg()[0]?.toFixed(1)}`);
  }

  const header = ['backend', 'depth', 'ms/step', '×d4', 'range', 'fwd ms', '×d4', 'step/fwd', 'trainable', 'adapter bytes'];
  const table: string[][] = [header];
  for (const [backend, rs] of results) {
    const top = rs[rs.length - 1] as DepthResult;
    const topStep = median(top.stepMs);
    const topFwd = median(top.forwardMs);
    for (const r of rs) {
      const step = median(r.stepMs);
      const fwd = median(r.forwardMs);
      table.push([
        backend,
        `${r.depth}`,
        step.toFixed(0),
        (step / topStep).toFixed(2),
        r.stepMs.length > 1 ? `${Math.min(...r.stepMs).toFixed(0)}–${Math.max(...r.stepMs).toFixed(0)}` : '-',
        fwd.toFixed(0),
        (fwd / topFwd).toFixed(2),
        (step / fwd).toFixed(2),
        r.params.toLocaleString('en'),
        r.adapterBytes.toLocaleString('en'),
      ]);
    }
  }
  console.log(`\nUSE-lite + LoRA rank ${rank} (alpha ${2 * rank}, all four targets), 20 classes, Adam · ${batchInfo}`);
  console.log('ms/step = median wall ms of forward + backward + Adam; fwd = forward + loss only; ×d4 = ratio to depth 4 on the same backend');
  console.log('adapter bytes = encodeAdapter(getAdapter()) in float32: what a device at that depth uploads\n');
  console.log(formatTable(table, 1));
  const wasm = results.get('wasm');
  const cpu = results.get('cpu');
  if (wasm && cpu) {
    const ratios = wasm.map((w, i) => (median((cpu[i] as DepthResult).stepMs) / median(w.stepMs)).toFixed(1));
    console.log(`\ncpu / wasm ms per step, depth 1..${wasm.length}: ${ratios.join(', ')}`);
  }
  console.log(`\nwall time ${((performance.now() - t0) / 1000).toFixed(0)} s · load average now ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
