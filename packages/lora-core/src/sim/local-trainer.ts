/**
 * Real local training for virtual devices, frugally: ONE LoraClassifier per depth, reused by every
 * device (setAdapter + resetOptimizerState per job instead of new variables), and a stateless
 * choice of batches — device d's k-th local step always sees the same rows, whichever process or
 * order runs it — so a pool of workers gives the same results as one process.
 *
 * Jobs on one LocalTrainer are serialized: its classifiers are shared state, and concurrent
 * callers (runGlobalRound starts groups and members concurrently) would interleave on them.
 */
import { createRng } from '../data/random';
import type { LabeledDataset } from '../data/types';
import type { TextEncoder } from '../model/family';
import type { AdapterState } from '../lora/adapter-state';
import { makeBatch } from '../lora/batching';
import { LoraClassifier, type EvalResult, type LabeledBatch } from '../lora/classifier';
import type { LoraConfig } from '../lora/config';
import { subtractAdapters } from '../federated/aggregate';
import { PrefixCache, prefixFingerprints, type PrefixCacheStats } from './prefix-cache';

export interface LocalTrainerConfig {
  readonly encoder: TextEncoder;
  /** The training split every device's rows index into. */
  readonly train: LabeledDataset;
  readonly numClasses: number;
  readonly lora: LoraConfig;
  readonly learningRate: number;
  readonly headLearningRate: number;
  readonly batchSize: number;
  readonly seed: number;
  /** The fixed evaluation set (see lengthSortedSubset). */
  readonly evaluation?: LabeledDataset;
  readonly evaluationBatchSize?: number;
  /** Bytes for the frozen-prefix cache (prefix-cache.ts); 0 or absent = no cache. Results do not change. */
  readonly prefixCacheBytes?: number;
}

export interface LocalTrainingJob {
  readonly deviceId: string;
  /** The device's rows of the training split. */
  readonly rows: ArrayLike<number>;
  readonly depth: number;
  readonly localSteps: number;
  /** Local steps this device has taken before this job in the run (selects its next batches). */
  readonly firstStep: number;
  /** Full adapter to start from; blocks below the depth run frozen at these values. */
  readonly adapter: AdapterState;
}

export interface LocalTrainingResult {
  /** after − before, exactly the trained blocks of the depth and the head. */
  readonly delta: AdapterState;
  readonly trainLoss: number;
  /** Real ms spent training. */
  readonly ms: number;
}

export class LocalTrainer {
  private readonly classifiers = new Map<number, LoraClassifier>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly prefix: PrefixCache;
  /** Per-level fingerprints of the last two distinct adapters evaluated (picks the evaluation's cache level). */
  private evalFingerprints: { current: string[]; previous: string[] } = { current: [], previous: [] };
  private readonly evalLevels = new Set<string>();

  constructor(readonly config: LocalTrainerConfig) {
    if (!(Number.isInteger(config.batchSize) && config.batchSize >= 1)) throw new RangeError(`batchSize must be a positive integer, got ${config.batchSize}`);
    this.prefix = new PrefixCache(config.prefixCacheBytes ?? 0);
  }

  /** Frozen-prefix cache counters (batches served whole from the cache vs computed). */
  get prefixCacheStats(): PrefixCacheStats {
    return { ...this.prefix.stats };
  }

  get numBlocks(): number {
    return this.config.encoder.blocks.length;
  }

  get evaluationSize(): number {
    return this.config.evaluation?.texts.length ?? 0;
  }

  train(job: LocalTrainingJob): Promise<LocalTrainingResult> {
    return this.serialized(async () => {
      const t0 = performance.now();
      const clf = this.classifierAt(job.depth);
      clf.setAdapter(job.adapter);
      clf.resetOptimizerState();
      const f = clf.frozenBlocks;
      const level = f > 0 && this.prefix.maxBytes > 0 ? `t${prefixFingerprints(job.adapter, this.numBlocks)[f - 1]}` : undefined;
      let lossSum = 0;
      for (let k = 0; k < job.localSteps; k++) {
        const rows = deviceBatchRows(job.rows, this.config.batchSize, this.config.seed, job.deviceId, job.firstStep + k);
        const batch = makeBatch(this.config.encoder, this.config.train, rows);
        const frozen = level === undefined ? undefined : this.prefix.batch(level, rows.map(String), batch.tokens, (t) => clf.frozenOutput(t));
        lossSum += (await clf.trainStep(batch, frozen)).loss;
      }
      const delta = subtractAdapters(clf.getAdapter(), job.adapter, clf.trainedKeys);
      return { delta, trainLoss: lossSum / job.localSteps, ms: performance.now() - t0 };
    });
  }

  /**
   * Accuracy and loss of `adapter` on rows [start, end) of the evaluation set (default: all of it).
   * Forward only; any depth's classifier computes the same function of a full adapter.
   */
  evaluate(adapter: AdapterState, start = 0, end = this.evaluationSize): Promise<EvalResult> {
    return this.serialized(async () => {
      const data = this.config.evaluation;
      if (data === undefined) throw new Error('LocalTrainer has no evaluation set');
      if (!(start >= 0 && end <= data.texts.length && start <= end)) throw new RangeError(`evaluation range ${start}..${end} outside 0..${data.texts.length}`);
      if (start === end) return { accuracy: 0, loss: 0, count: 0 };
      const f = this.evaluationPrefixLevel(adapter);
      const clf = this.classifierAt(this.numBlocks - f);
      clf.setAdapter(adapter);
      const size = this.config.evaluationBatchSize ?? 64;
      const batches: LabeledBatch[] = [];
      const rowsOf = new Map<LabeledBatch, string[]>();
      for (let s = start; s < end; s += size) {
        const rows = Array.from({ length: Math.min(size, end - s) }, (_, i) => s + i);
        const batch = makeBatch(this.config.encoder, data, rows);
        batches.push(batch);
        rowsOf.set(batch, rows.map(String));
      }
      if (f === 0) return clf.evaluate(batches);
      const level = `e${prefixFingerprints(adapter, this.numBlocks)[f - 1]}`;
      this.evalLevels.add(level);
      return clf.evaluate(batches, (batch) => this.prefix.batch(level, rowsOf.get(batch)!, batch.tokens, (t) => clf.frozenOutput(t)));
    });
  }

  /**
   * Measured ms per local step at each depth 1..numBlocks, on batches drawn from `rows` — the base
   * table the device classes scale. Depths are timed in interleaved passes (one step per depth on
   * the same batch per pass, after `warmup` untimed passes) so that a change of machine load
   * touches every depth alike; per depth the fastest of `runs` steps is kept (other processes only
   * ever add time), then the table is made non-decreasing in depth (a deeper step does strictly
   * more work; a smaller number is noise).
   */
  measureMsPerStep(rows: ArrayLike<number>, runs = 5, warmup = 1): Promise<number[]> {
    if (!(Number.isInteger(runs) && runs >= 1 && Number.isInteger(warmup) && warmup >= 0)) {
      throw new RangeError(`runs must be ≥ 1 and warmup ≥ 0 (integers), got ${runs} and ${warmup}`);
    }
    return this.serialized(async () => {
      const best = new Array<number>(this.numBlocks).fill(Number.POSITIVE_INFINITY);
      for (let pass = 0; pass < warmup + runs; pass++) {
        // One batch per pass, the same for every depth: batches differ in padded length.
        const batch = makeBatch(this.config.encoder, this.config.train, deviceBatchRows(rows, this.config.batchSize, this.config.seed, 'measure', pass));
        for (let depth = 1; depth <= this.numBlocks; depth++) {
          const t0 = performance.now();
          await this.classifierAt(depth).trainStep(batch);
          if (pass >= warmup) best[depth - 1] = Math.min(best[depth - 1]!, performance.now() - t0);
        }
      }
      for (let d = 1; d < best.length; d++) best[d] = Math.max(best[d]!, best[d - 1]!);
      return best;
    });
  }

  /**
   * How many bottom blocks evaluation runs through the prefix cache: the deepest level already
   * cached for this adapter's lower blocks; else the deepest level whose blocks equal those of the
   * previous distinct adapter evaluated (they were stable once, so they may be again); else none.
   * Any depth's classifier computes the same function of a full adapter, so this only moves time.
   */
  private evaluationPrefixLevel(adapter: AdapterState): number {
    if (this.prefix.maxBytes === 0) return 0;
    // Levels 1..numBlocks−1, then one over every block: it tells a new adapter from another chunk of the same one.
    const all = prefixFingerprints(adapter, this.numBlocks + 1);
    const fps = all.slice(0, this.numBlocks - 1);
    const e = this.evalFingerprints;
    if (all[all.length - 1] !== e.current[e.current.length - 1]) this.evalFingerprints = { current: all, previous: e.current };
    for (let L = fps.length; L >= 1; L--) if (this.evalLevels.has(`e${fps[L - 1]}`)) return L;
    for (let L = fps.length; L >= 1; L--) if (this.evalFingerprints.previous[L - 1] === fps[L - 1]) return L;
    return 0;
  }

  dispose(): void {
    this.prefix.clear();
    for (const clf of this.classifiers.values()) clf.dispose();
    this.classifiers.clear();
  }

  private classifierAt(depth: number): LoraClassifier {
    let clf = this.classifiers.get(depth);
    if (clf === undefined) {
      const c = this.config;
      clf = new LoraClassifier(c.encoder, {
        numClasses: c.numClasses,
        depth,
        lora: c.lora,
        learningRate: c.learningRate,
        headLearningRate: c.headLearningRate,
        seed: c.seed,
      });
      this.classifiers.set(depth, clf);
    }
    return clf;
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * Rows of a device's `step`-th local batch: epochs of `rows` in a fresh seeded order each, cut
 * into batches of `batchSize` (the last one of an epoch may be smaller). Pure function of its inputs.
 */
export function deviceBatchRows(rows: ArrayLike<number>, batchSize: number, seed: number, deviceId: string, step: number): number[] {
  if (rows.length === 0) throw new RangeError(`device ${deviceId} has no rows`);
  if (!(Number.isInteger(step) && step >= 0)) throw new RangeError(`step must be a non-negative integer, got ${step}`);
  const perEpoch = Math.ceil(rows.length / batchSize);
  const epoch = Math.floor(step / perEpoch);
  const b = step % perEpoch;
  const order = createRng(hashSeed(seed, deviceId, epoch)).shuffle(Array.from(rows));
  return order.slice(b * batchSize, Math.min((b + 1) * batchSize, order.length));
}

/** FNV-1a over the parts' text: a 32-bit seed that differs for every (seed, device, epoch). */
export function hashSeed(...parts: readonly (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('\u0001')) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/**
 * A fixed evaluation subset: `count` rows drawn by seed from `data`, then ordered by token length
 * so that each evaluation batch pads little (evaluation is order-free; padding is most of its cost).
 */
export function lengthSortedSubset(encoder: TextEncoder, data: LabeledDataset, count: number, seed: number): LabeledDataset {
  const picked = createRng(seed)
    .shuffle(Array.from({ length: data.texts.length }, (_, i) => i))
    .slice(0, Math.min(count, data.texts.length));
  const length = new Map(picked.map((row) => [row, encoder.tokenize([data.texts[row]!]).seqLen]));
  picked.sort((a, b) => length.get(a)! - length.get(b)! || a - b);
  return { texts: picked.map((r) => data.texts[r]!), labels: Int32Array.from(picked, (r) => data.labels[r]!), classNames: data.classNames };
}
