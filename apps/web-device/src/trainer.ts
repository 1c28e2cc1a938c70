/**
 * Local training in the page: load USE-lite from the coordinator, time training steps (backend
 * benchmark, per-depth profile), and run an assignment's local steps from the adapter the
 * coordinator sent, returning the change (after − before) of the trained blocks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_LORA, LoraClassifier, loadUseLiteModel, makeBatch, subtractAdapters, toDataset, trainingBatches } from './core';
import type { AdapterState, Assignment, LabeledDataset, LoraConfig, LoraTarget, TaskInfo, TextEncoder } from './core';

export type FetchAsset = (relPath: string) => Promise<ArrayBuffer>;

/** Fetches model files from the coordinator once per page, whatever the number of backends tried. */
export function cachedModelFetch(base = '/model/'): FetchAsset {
  const cache = new Map<string, Promise<ArrayBuffer>>();
  return (rel) => {
    let p = cache.get(rel);
    if (!p) {
      p = fetch(base + rel).then(async (res) => {
        if (!res.ok) throw new Error(`GET ${base}${rel}: HTTP ${res.status}`);
        return res.arrayBuffer();
      });
      cache.set(rel, p);
    }
    return p;
  };
}

const now = () => performance.now();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Fixed sentences for timing steps; their content does not matter, only their shape. */
const BENCH_TEXTS = [
  'a small domesticated carnivorous mammal with soft fur',
  'the act of moving something from one place to another',
  'a building where people live together as a family',
  'a feeling of great pleasure and happiness',
  'an instrument for measuring the passage of time',
  'the quality of being honest and having strong moral principles',
  'a long narrow passage or a way of getting somewhere',
  'the process of changing from one form to another',
];

function benchDataset(batchSize: number, numClasses: number): LabeledDataset {
  const items = Array.from({ length: batchSize }, (_, i) => ({ text: BENCH_TEXTS[i % BENCH_TEXTS.length] as string, label: `c${i % numClasses}` }));
  return toDataset(items, Array.from({ length: numClasses }, (_, c) => `c${c}`));
}

/** Median wall ms of `timed` training steps after one warm-up step (shader compilation, allocation). */
async function timeSteps(clf: LoraClassifier, encoder: TextEncoder, data: LabeledDataset, timed: number, budgetMs: number): Promise<number> {
  const rows = Array.from({ length: data.texts.length }, (_, i) => i);
  const batch = makeBatch(encoder, data, rows);
  const warm = now();
  await clf.trainStep(batch);
  const warmMs = now() - warm;
  const times: number[] = [];
  const start = now();
  while (times.length < timed && (times.length === 0 || now() - start < budgetMs)) {
    const t = now();
    await clf.trainStep(batch);
    times.push(now() - t);
  }
  return times.length > 0 ? median(times) : warmMs;
}

function loraFor(task: TaskInfo, rank: number): LoraConfig {
  return { ...DEFAULT_LORA, rank, alpha: task.lora.alpha, targets: task.lora.targets as LoraTarget[], dropout: 0 };
}

/** One training step at depth 1 on the current backend, median of a few (backend choice). */
export async function benchmarkCurrentBackend(fetchAsset: FetchAsset, batchSize = 8): Promise<number> {
  const encoder = await loadUseLiteModel(fetchAsset);
  const clf = new LoraClassifier(encoder, {
    numClasses: 4,
    depth: 1,
    lora: { ...DEFAULT_LORA, dropout: 0 },
    learningRate: 1e-3,
    headLearningRate: 1e-2,
    seed: 1,
  });
  try {
    return await timeSteps(clf, encoder, benchDataset(batchSize, 4), 3, 3000);
  } finally {
    clf.dispose();
    encoder.dispose();
  }
}

export interface LocalResult {
  readonly delta: AdapterState;
  readonly meanLoss: number;
  readonly trainMs: number;
}

export class LocalTrainer {
  private classifier: { key: string; clf: LoraClassifier } | undefined;

  private constructor(
    readonly encoder: TextEncoder,
    readonly task: TaskInfo,
  ) {}

  static async load(fetchAsset: FetchAsset, task: TaskInfo): Promise<LocalTrainer> {
    return new LocalTrainer(await loadUseLiteModel(fetchAsset), task);
  }

  get numBlocks(): number {
    return this.encoder.blocks.length;
  }

  /** msPerStep[d - 1] for every depth, at the run's batch size (the resource profile). */
  async measureStepTimes(onDepth: (depth: number, ms: number) => void = () => {}): Promise<number[]> {
    const data = benchDataset(this.task.batchSize, this.task.classNames.length);
    const out: number[] = [];
    for (let depth = 1; depth <= this.numBlocks; depth++) {
      const clf = new LoraClassifier(this.encoder, {
        numClasses: this.task.classNames.length,
        depth,
        lora: loraFor(this.task, this.task.lora.rank),
        learningRate: 1e-3,
        headLearningRate: 1e-2,
        seed: this.task.seed,
      });
      try {
        const ms = await timeSteps(clf, this.encoder, data, 2, 2000);
        out.push(Math.max(ms, 0.01));
        onDepth(depth, ms);
      } finally {
        clf.dispose();
      }
    }
    return out;
  }

  /** Runs the assignment's local steps from `start` (the adapter the coordinator sent). */
  async train(
    a: Assignment,
    start: AdapterState,
    data: LabeledDataset,
    onStep: (step: number, loss: number) => void,
  ): Promise<LocalResult> {
    const clf = this.classifierFor(a);
    clf.setAdapter(start);
    clf.resetOptimizerState();
    const before = clf.getAdapter();
    const rows = Array.from({ length: data.texts.length }, (_, i) => i);
    const batches = trainingBatches(this.encoder, data, rows, a.batchSize, this.task.seed * 7919 + a.round * 131 + a.intraRound);
    const t0 = now();
    let lossSum = 0;
    for (let step = 1; step <= a.localSteps; step++) {
      const batch = batches.next().value;
      if (!batch) throw new Error('training batches ran out');
      const { loss } = await clf.trainStep(batch);
      if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} at step ${step}`);
      lossSum += loss;
      onStep(step, loss);
    }
    const delta = subtractAdapters(clf.getAdapter(), before);
    return { delta, meanLoss: lossSum / a.localSteps, trainMs: now() - t0 };
  }

  dispose(): void {
    this.classifier?.clf.dispose();
    this.classifier = undefined;
    this.encoder.dispose();
  }

  private classifierFor(a: Assignment): LoraClassifier {
    const key = `${a.depth}/${a.rank}/${a.learningRate}/${a.headLearningRate}`;
    if (this.classifier?.key === key) return this.classifier.clf;
    this.classifier?.clf.dispose();
    const clf = new LoraClassifier(this.encoder, {
      numClasses: this.task.classNames.length,
      depth: a.depth,
      lora: loraFor(this.task, a.rank),
      learningRate: a.learningRate,
      headLearningRate: a.headLearningRate,
      seed: this.task.seed,
    });
    this.classifier = { key, clf };
    return clf;
  }
}

/** Bytes currently held by tfjs on the active backend (for the UI). */
export function tfMemoryBytes(): number {
  return tf.memory().numBytes;
}
