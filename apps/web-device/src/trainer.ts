/**
 * Local training in the page: load USE-lite from the coordinator, time training steps (backend
 * benchmark, per-depth profile), and run an assignment's local steps from the adapter the
 * coordinator sent, returning the change (after − before) of the trained blocks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { bucketedTrainingBatches, DataParallelClassifier, DEFAULT_LORA, LoraClassifier, loadUseLiteModel, makeBatch, median, subtractAdapters, timeRuns, toDataset, trainingLoop, withMaxTokens } from './core';
import type { AdapterState, Assignment, LabeledDataset, LoraConfig, LoraTarget, ShardRunner, StepModel, TaskInfo, TextEncoder } from './core';
import { waitAfterStep } from './slowdown';
import { yieldToEventLoop } from './yield';

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

export function benchDataset(batchSize: number, numClasses: number): LabeledDataset {
  const items = Array.from({ length: batchSize }, (_, i) => ({ text: BENCH_TEXTS[i % BENCH_TEXTS.length] as string, label: `c${i % numClasses}` }));
  return toDataset(items, Array.from({ length: numClasses }, (_, c) => `c${c}`));
}

/** A step slower than this is timed once: software GPUs take 10-30 s per step, and repeating adds nothing. */
const SLOW_STEP_MS = 1000;

/**
 * Median wall ms of training steps on one fixed batch: `warmup` untimed steps (shader compilation,
 * allocation), one timed step, and two more when that one was fast.
 */
async function timeSteps(clf: Pick<StepModel, 'trainStep'>, encoder: TextEncoder, data: LabeledDataset, warmup: number, slowdown = 1): Promise<number> {
  const batch = makeBatch(encoder, data, Array.from({ length: data.texts.length }, (_, i) => i));
  const step = async () => {
    await yieldToEventLoop();
    const t0 = performance.now();
    const loss = await clf.trainStep(batch);
    await waitAfterStep(performance.now() - t0, slowdown);
    return loss;
  };
  const first = await timeRuns(step, { warmup, runs: 1 });
  if ((first[0] as number) >= SLOW_STEP_MS) return first[0] as number;
  return median([...first, ...(await timeRuns(step, { warmup: 0, runs: 2 }))]);
}

function loraFor(task: TaskInfo, rank: number): LoraConfig {
  return { ...DEFAULT_LORA, rank, alpha: task.lora.alpha, targets: task.lora.targets as LoraTarget[], dropout: 0 };
}

/**
 * One training step at depth 1 on the current backend, median of a few (backend choice); with
 * shard runners, the data-parallel step split across them (what the device trains with then).
 */
export async function benchmarkCurrentBackend(fetchAsset: FetchAsset, batchSize = 8, runners: readonly ShardRunner[] = []): Promise<number> {
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
    let model: Pick<StepModel, 'trainStep'> = clf;
    if (runners.length > 0) {
      const parallel = new DataParallelClassifier(clf, runners);
      await parallel.setAdapter(clf.getAdapter());
      model = parallel;
    }
    return await timeSteps(model, encoder, benchDataset(batchSize, 4), 1);
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
    /** Emulated slowdown factor (slowdown.ts); 1 = none. */
    readonly slowdown: number,
    /** Data-parallel replicas (Web Workers): with any, every training step is split across them. */
    private shardRunners: readonly ShardRunner[],
    /** Told when a replica failed; steps then run on this thread's classifier (the same step). */
    private readonly onDataParallelFailure: (err: Error) => void,
  ) {}

  static async load(
    fetchAsset: FetchAsset,
    task: TaskInfo,
    slowdown = 1,
    /** Started alongside the model load here (the workers load their replicas meanwhile). */
    shardRunners: readonly ShardRunner[] | Promise<readonly ShardRunner[]> = [],
    onDataParallelFailure: (err: Error) => void = () => {},
  ): Promise<LocalTrainer> {
    const [encoder, runners] = await Promise.all([loadUseLiteModel(fetchAsset), shardRunners]);
    return new LocalTrainer(task.maxTokens === undefined ? encoder : withMaxTokens(encoder, task.maxTokens), task, slowdown, runners, onDataParallelFailure);
  }

  /** Shards of each training step: the data-parallel workers, or 1 (this thread's own step). */
  get dataParallelShards(): number {
    return Math.max(this.shardRunners.length, 1);
  }

  /** The step model training runs (the data-parallel one when there are workers), with `start` loaded everywhere. */
  private async stepModel(clf: LoraClassifier, start: AdapterState): Promise<StepModel> {
    if (this.shardRunners.length === 0) {
      clf.setAdapter(start);
      return clf;
    }
    const parallel = new DataParallelClassifier(clf, this.shardRunners, (err) => {
      this.shardRunners = [];
      this.onDataParallelFailure(err);
    });
    await parallel.setAdapter(start);
    return parallel;
  }

  get numBlocks(): number {
    return this.encoder.blocks.length;
  }

  /**
   * msPerStep[d - 1] for every depth (the resource profile), on a batch of the device's own data at
   * the run's batch size, so sequence lengths match training. One warm-up step at full depth
   * compiles every kernel the shallower depths use, so each depth is then timed without its own.
   */
  async measureStepTimes(own: LabeledDataset, onDepth: (depth: number, ms: number) => void = () => {}): Promise<number[]> {
    const rows = Array.from({ length: this.task.batchSize }, (_, i) => Math.floor((i * own.texts.length) / this.task.batchSize));
    const data: LabeledDataset = {
      texts: rows.map((r) => own.texts[r] as string),
      labels: Int32Array.from(rows, (r) => own.labels[r] as number),
      classNames: own.classNames,
    };
    const out: number[] = [];
    for (let depth = this.numBlocks; depth >= 1; depth--) {
      const clf = this.freshClassifier(depth);
      try {
        // The step the device will run: with data-parallel workers, theirs.
        const model = await this.stepModel(clf, clf.getAdapter());
        const ms = await timeSteps(model, this.encoder, data, depth === this.numBlocks ? 1 : 0, this.slowdown);
        out[depth - 1] = Math.max(ms, 0.01);
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
    /** Awaited between steps: where a paused device waits. */
    betweenSteps: () => Promise<void> = async () => {},
  ): Promise<LocalResult> {
    const clf = this.classifierFor(a);
    const model = await this.stepModel(clf, start);
    clf.resetOptimizerState();
    const before = await clf.readAdapter();
    const rows = Array.from({ length: data.texts.length }, (_, i) => i);
    const seed = this.task.seed * 7919 + a.round * 131 + a.intraRound;
    const batches = bucketedTrainingBatches(this.encoder, data, rows, a.batchSize, seed);
    let meanLoss = Number.NaN;
    let trainMs = 0;
    let waitedMs = 0;
    for await (const ev of trainingLoop(model, { epochsPerRound: 1, batchesPerEpoch: a.localSteps, batches })) {
      if (ev.kind === 'batch') {
        if (!Number.isFinite(ev.loss)) throw new Error(`loss became ${ev.loss} at step ${ev.step}`);
        onStep(ev.step, ev.loss);
        waitedMs += await waitAfterStep(ev.ms, this.slowdown);
        await yieldToEventLoop();
        await betweenSteps();
      } else if (ev.kind === 'round') {
        meanLoss = ev.meanLoss;
        trainMs = ev.ms + waitedMs;
      }
    }
    const delta = subtractAdapters(await clf.readAdapter(), before);
    return { delta, meanLoss, trainMs };
  }

  /**
   * Loss of one training step from the task's initial adapter on the given batch, with a fresh
   * classifier (the same on every device and backend: tests compare backends with it).
   */
  async probeStepLoss(texts: readonly string[], labels: readonly number[], depth: number, steps = 2): Promise<number> {
    const classNames = this.task.classNames;
    const data = toDataset(
      texts.map((text, i) => ({ text, label: classNames[labels[i] as number] as string })),
      classNames,
    );
    const clf = this.freshClassifier(depth);
    try {
      const batch = makeBatch(this.encoder, data, Array.from({ length: texts.length }, (_, i) => i));
      // The head starts at zero, so the first step's loss is ln(classes) on any backend; the loss
      // after two steps depends on the forward pass, the gradients through the trained blocks and Adam.
      for (let i = 0; i < steps; i++) await clf.trainStep(batch);
      return await clf.loss(batch);
    } finally {
      clf.dispose();
    }
  }

  /** A classifier from the task's initial adapter (identical on every device and backend). */
  private freshClassifier(depth: number): LoraClassifier {
    return new LoraClassifier(this.encoder, {
      numClasses: this.task.classNames.length,
      depth,
      lora: loraFor(this.task, this.task.lora.rank),
      learningRate: 1e-3,
      headLearningRate: 1e-2,
      seed: this.task.seed,
    });
  }

  /** Frees this trainer's model; the shard runners belong to whoever made them. */
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
