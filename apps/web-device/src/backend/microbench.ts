/**
 * Raw-kernel figures for `npm run bench:device`: how fast the active backend multiplies matrices
 * (GFLOP/s), through tfjs's matMul and through the 1×1 conv2d that computes the same product, so
 * "are the wasm threads working?" can be told apart from "is our training step parallel?".
 * Loaded on demand (window.__tabfleet.microbench); nothing here runs during normal use.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DataParallelClassifier, DEFAULT_LORA, LoraClassifier, loadUseLiteModel, makeBatch } from '../core';
import { startShardWorkers } from '../parallel/worker-pool';
import { benchDataset, cachedModelFetch } from '../trainer';
import { WASM_PATH } from './register';
import type { FetchAsset } from '../trainer';
import type { ShardRunner } from '../core';

export interface KernelRate {
  readonly op: 'matMul' | 'conv1x1';
  readonly n: number;
  readonly ms: number;
  readonly gflops: number;
}

/** Median ms of `runs` calls of `f` (after one warm-up), each finished with a read of its result. */
async function medianMs(f: () => tf.Tensor, runs: number): Promise<number> {
  const once = async () => {
    const t0 = performance.now();
    const y = f();
    await y.data();
    y.dispose();
    return performance.now() - t0;
  };
  await once();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) ms.push(await once());
  ms.sort((a, b) => a - b);
  return ms[ms.length >> 1] as number;
}

/** GFLOP/s of an n×n by n×n product (2n³ flops) as tf.matMul and as a 1×1 conv2d. */
export async function matMulRates(n = 1024, runs = 5): Promise<KernelRate[]> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be a positive integer, got ${n}`);
  const a = tf.randomUniform([n, n], -1, 1, 'float32', 1);
  const b = tf.randomUniform([n, n], -1, 1, 'float32', 2);
  // The same product as NHWC conv: n pixels of n channels, a 1×1 filter of n→n channels.
  const a4 = tf.reshape(a, [1, 1, n, n]) as tf.Tensor4D;
  const b4 = tf.reshape(b, [1, 1, n, n]) as tf.Tensor4D;
  try {
    const flops = 2 * n ** 3;
    const out: KernelRate[] = [];
    const mm = await medianMs(() => tf.matMul(a, b), runs);
    out.push({ op: 'matMul', n, ms: mm, gflops: flops / mm / 1e6 });
    const cv = await medianMs(() => tf.conv2d(a4, b4, 1, 'valid'), runs);
    out.push({ op: 'conv1x1', n, ms: cv, gflops: flops / cv / 1e6 });
    return out;
  } finally {
    tf.dispose([a, b, a4, b4]);
  }
}

export interface KernelShare {
  readonly kernel: string;
  readonly calls: number;
  readonly ms: number;
}

/** Wall time per tfjs kernel (summed over calls) while `work` runs, largest first. */
export async function kernelProfile(work: () => Promise<unknown>): Promise<{ totalMs: number; kernels: KernelShare[] }> {
  const t0 = performance.now();
  const info = await tf.profile(async () => {
    await work();
  });
  const totalMs = performance.now() - t0;
  const byName = new Map<string, { calls: number; ms: number }>();
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const e = byName.get(k.name) ?? { calls: 0, ms: 0 };
    e.calls += 1;
    e.ms += ms;
    byName.set(k.name, e);
  }
  const kernels = [...byName].map(([kernel, e]) => ({ kernel, ...e })).sort((x, y) => y.ms - x.ms);
  return { totalMs, kernels };
}

/**
 * Runs `use` with a warmed-up classifier at `depth` (the page's model and classifier) and one fixed
 * batch; with shard runners each step is split across them (data-parallel workers).
 */
async function withBenchStep<T>(depth: number, batchSize: number, fetchAsset: FetchAsset, runners: readonly ShardRunner[], use: (step: () => Promise<unknown>) => Promise<T>): Promise<T> {
  const encoder = await loadUseLiteModel(fetchAsset);
  const clf = new LoraClassifier(encoder, {
    numClasses: 4,
    depth,
    lora: { ...DEFAULT_LORA, dropout: 0 },
    learningRate: 1e-3,
    headLearningRate: 1e-2,
    seed: 1,
  });
  try {
    const data = benchDataset(batchSize, 4);
    const batch = makeBatch(encoder, data, Array.from({ length: data.texts.length }, (_, i) => i));
    let model: Pick<DataParallelClassifier, 'trainStep'> = clf;
    if (runners.length > 0) {
      const parallel = new DataParallelClassifier(clf, runners);
      await parallel.setAdapter(clf.getAdapter());
      model = parallel;
    }
    const step = () => model.trainStep(batch);
    for (let i = 0; i < 2; i++) await step();
    return await use(step);
  } finally {
    clf.dispose();
    encoder.dispose();
  }
}

/**
 * Median ms of `runs` training steps at each depth 1..maxDepth (more runs than the page's quick
 * profile), split across `workers` data-parallel workers when more than 1.
 */
export async function trainingStepMs(maxDepth: number, runs = 5, batchSize = 16, workers = 1, fetchAsset: FetchAsset = cachedModelFetch()): Promise<number[]> {
  const runners = workers > 1 ? await startShardWorkers(workers, fetchAsset, new URL(WASM_PATH, globalThis.location.href).href) : [];
  const out: number[] = [];
  try {
    for (let depth = 1; depth <= maxDepth; depth++) {
      out.push(
        await withBenchStep(depth, batchSize, fetchAsset, runners, async (step) => {
          const ms: number[] = [];
          for (let i = 0; i < runs; i++) {
            const t0 = performance.now();
            await step();
            ms.push(performance.now() - t0);
          }
          ms.sort((a, b) => a - b);
          return ms[ms.length >> 1] as number;
        }),
      );
    }
    return out;
  } finally {
    for (const r of runners) r.dispose();
  }
}

export interface InterleavedStep {
  /** Median ms of the page's own step (this tab's wasm threads). */
  readonly pageMs: number;
  /** Median ms of the step split across the workers. */
  readonly parallelMs: number;
  /** Median over pairs of page ms / parallel ms, each pair's two steps run back to back. */
  readonly speedup: number;
}

/**
 * At each depth 1..maxDepth, the page's own training step and the step split across `workers`
 * data-parallel workers, alternated `pairs` times in this tab (which goes first alternates too),
 * after two warm-up steps of each. Why: other processes on the machine change its speed within
 * seconds; two steps a few ms apart see the same machine, two tabs a minute apart may not.
 */
export async function interleavedStepMs(maxDepth: number, pairs = 10, batchSize = 16, workers = 2, fetchAsset: FetchAsset = cachedModelFetch()): Promise<InterleavedStep[]> {
  if (!Number.isInteger(workers) || workers < 2) throw new RangeError(`interleaving needs at least 2 workers, got ${workers}`);
  const runners = await startShardWorkers(workers, fetchAsset, new URL(WASM_PATH, globalThis.location.href).href);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
  const timed = async (step: () => Promise<unknown>) => {
    const t0 = performance.now();
    await step();
    return performance.now() - t0;
  };
  const out: InterleavedStep[] = [];
  try {
    for (let depth = 1; depth <= maxDepth; depth++) {
      out.push(
        await withBenchStep(depth, batchSize, fetchAsset, [], (pageStep) =>
          withBenchStep(depth, batchSize, fetchAsset, runners, async (parallelStep) => {
            const page: number[] = [];
            const parallel: number[] = [];
            for (let i = 0; i < pairs; i++) {
              if (i % 2 === 0) {
                page.push(await timed(pageStep));
                parallel.push(await timed(parallelStep));
              } else {
                parallel.push(await timed(parallelStep));
                page.push(await timed(pageStep));
              }
            }
            return { pageMs: median(page), parallelMs: median(parallel), speedup: median(page.map((p, i) => p / (parallel[i] as number))) };
          }),
        ),
      );
    }
    return out;
  } finally {
    for (const r of runners) r.dispose();
  }
}

/** Kernel profile of one training step at `depth` on a fixed batch: where the step's time goes on this backend. */
export async function trainingStepProfile(depth: number, batchSize = 16, fetchAsset: FetchAsset = cachedModelFetch()): Promise<{ totalMs: number; kernels: KernelShare[] }> {
  return withBenchStep(depth, batchSize, fetchAsset, [], (step) => kernelProfile(step));
}
