/**
 * Data-parallel training steps: a batch's rows are split into contiguous shards, each shard's
 * gradient of its mean loss is computed by a replica of the model (another thread, another Web
 * Worker, or this one), and the shard gradients, weighted by shard size, make the gradient of the
 * full batch's mean loss. One optimizer (the coordinating classifier's) then takes the step, so
 * the result equals a one-replica trainStep up to float rounding.
 *
 * Replicas get the trained values before every step (they never run an optimizer themselves), so
 * they cannot drift, whatever backend each runs on. Shards keep the batch's padded length: every
 * shard computes exactly the rows' part of the full-batch computation.
 *
 * The transport is a ShardRunner; ReplicaShardRunner is one in this thread (tests, and the body
 * of the page's Web Workers).
 */
import type { TextEncoder, TokenBatch } from '../model/family';
import { weightedMeanByBlock } from '../federated/aggregate';
import { sizeOf, type AdapterState } from './adapter-state';
import { DEFAULT_LORA } from './config';
import { LoraClassifier, type ClassifierConfig, type EvalResult, type LabeledBatch } from './classifier';
import type { StepModel } from './train-loop';

export interface ShardGradients {
  /** Mean loss over the shard's rows. */
  readonly loss: number;
  /** Gradient of that mean loss, keyed like LoraClassifier.computeGradients. */
  readonly gradients: AdapterState;
}

/** Computes shard gradients on a replica of the coordinating classifier. */
export interface ShardRunner {
  /**
   * (Re)builds the replica for `config` with `adapter` loaded (frozen blocks below the depth
   * included, as LoraClassifier.setAdapter takes it).
   */
  configure(config: ClassifierConfig, adapter: AdapterState): Promise<void>;
  /** Gradient of the mean loss of `shard` at the trained values `trained`. */
  gradients(trained: AdapterState, shard: LabeledBatch): Promise<ShardGradients>;
  dispose(): void;
}

/** [start, end) row ranges of `k` contiguous shards of `rows` rows, sizes differing by at most one; empty shards are left out. */
export function shardRanges(rows: number, k: number): Array<readonly [number, number]> {
  if (!Number.isInteger(rows) || rows < 0) throw new RangeError(`rows must be a non-negative integer, got ${rows}`);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`shard count must be a positive integer, got ${k}`);
  const out: Array<readonly [number, number]> = [];
  for (let i = 0, start = 0; i < k; i++) {
    const end = start + Math.floor(rows / k) + (i < rows % k ? 1 : 0);
    if (end > start) out.push([start, end]);
    start = end;
  }
  return out;
}

/** Rows [start, end) of a batch, at the batch's padded length. */
export function sliceBatch(batch: LabeledBatch, start: number, end: number): LabeledBatch {
  const t = batch.tokens;
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start < end && end <= t.batch)) {
    throw new RangeError(`rows [${start}, ${end}) are not a non-empty range of a ${t.batch}-row batch`);
  }
  const tokens: TokenBatch = { ids: t.ids.slice(start * t.seqLen, end * t.seqLen), lengths: t.lengths.slice(start, end), batch: end - start, seqLen: t.seqLen };
  return { tokens, labels: batch.labels.slice(start, end) };
}

/**
 * Σ (rowsᵢ / Σ rows) · gradientsᵢ: the gradient of the mean loss over all shards' rows. Every
 * part must hold the same tensors with the same shapes.
 */
export function combineShardGradients(parts: ReadonlyArray<{ readonly rows: number; readonly gradients: AdapterState }>): AdapterState {
  const first = parts[0];
  if (!first) throw new Error('no shard gradients to combine');
  if (!parts.every((p) => Number.isInteger(p.rows) && p.rows > 0)) throw new Error('every shard needs a positive row count');
  const expected = [...first.gradients.values()].reduce((n, m) => n + m.size, 0);
  for (const [i, p] of parts.entries()) {
    for (const [key, tensors] of first.gradients) {
      for (const [name, t] of tensors) {
        const g = p.gradients.get(key)?.get(name);
        if (!g || g.data.length !== sizeOf(t.shape)) throw new Error(`shard ${i} has no gradient ${key}/${name} of ${sizeOf(t.shape)} values`);
      }
    }
    const count = [...p.gradients.values()].reduce((n, m) => n + m.size, 0);
    if (count !== expected) throw new Error(`shard ${i} has ${count} gradient tensors, shard 0 has ${expected}`);
  }
  return weightedMeanByBlock(parts.map((p, i) => ({ id: `shard ${i}`, numSamples: p.rows, delta: p.gradients })));
}

/** A shard runner holding its own classifier on `encoder` (this thread's tfjs backend). */
export class ReplicaShardRunner implements ShardRunner {
  private clf: LoraClassifier | undefined;

  constructor(private readonly encoder: TextEncoder) {}

  async configure(config: ClassifierConfig, adapter: AdapterState): Promise<void> {
    this.clf?.dispose();
    this.clf = new LoraClassifier(this.encoder, config);
    this.clf.setAdapter(adapter);
  }

  async gradients(trained: AdapterState, shard: LabeledBatch): Promise<ShardGradients> {
    if (!this.clf) throw new Error('shard runner used before configure');
    this.clf.setTrainedValues(trained);
    return this.clf.computeGradients(shard);
  }

  /**
   * `steps` gradient computations of `batch` at full depth on a throw-away classifier (labels
   * 0..numClasses-1). Why: a new thread (a Web Worker) runs tfjs's JavaScript unoptimised at
   * first; measured here (2 workers, depth 1, batch 16), the median of a fresh pair's first 10
   * steps was 66-82 ms against 59-64 ms for the next 10, and the per-depth profile is measured on
   * those first steps.
   */
  async warmUp(batch: LabeledBatch, numClasses: number, steps: number): Promise<void> {
    if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`warm-up steps must be a non-negative integer, got ${steps}`);
    const clf = new LoraClassifier(this.encoder, { numClasses, depth: this.encoder.blocks.length, lora: { ...DEFAULT_LORA, dropout: 0 }, learningRate: 1e-3, headLearningRate: 1e-2, seed: 1 });
    try {
      const values = clf.getAdapter();
      for (let i = 0; i < steps; i++) {
        clf.setTrainedValues(values);
        await clf.computeGradients(batch);
      }
    } finally {
      clf.dispose();
    }
  }

  dispose(): void {
    this.clf?.dispose();
    this.clf = undefined;
  }
}

/**
 * Trains `clf` with data-parallel steps: one shard of each batch per runner (this thread only
 * combines and steps, so a page stays responsive). Needs LoRA dropout 0: computeGradients runs
 * without dropout, and per-shard masks could not match the full batch's anyway.
 *
 * A runner that fails (a crashed worker) leaves `clf` untouched, so the step is then taken by
 * `clf.trainStep` itself, as are all later ones; `onFailure` is told why.
 */
export class DataParallelClassifier implements StepModel {
  private failed: Error | undefined;

  constructor(
    readonly clf: LoraClassifier,
    private readonly runners: readonly ShardRunner[],
    private readonly onFailure: (err: Error) => void = () => {},
  ) {
    if (runners.length === 0) throw new Error('data-parallel steps need at least one shard runner');
    if (clf.config.lora.dropout !== 0) throw new Error(`data-parallel steps need LoRA dropout 0, got ${clf.config.lora.dropout}`);
  }

  /** Shards per step (at most; a batch of fewer rows has fewer); 1 once a runner failed. */
  get shards(): number {
    return this.failed ? 1 : this.runners.length;
  }

  /** Loads `adapter` here and into every replica (call whenever the classifier's adapter is set). */
  async setAdapter(adapter: AdapterState): Promise<void> {
    this.clf.setAdapter(adapter);
    if (this.failed) return;
    try {
      await Promise.all(this.runners.map((r) => r.configure(this.clf.config, adapter)));
    } catch (err) {
      this.fail(err as Error);
    }
  }

  async trainStep(batch: LabeledBatch): Promise<{ loss: number }> {
    if (this.failed) return this.clf.trainStep(batch);
    const ranges = shardRanges(batch.labels.length, this.shards);
    const trained = this.clf.getAdapter();
    const rows = ranges.map(([s, e]) => e - s);
    let results: ShardGradients[];
    try {
      results = await Promise.all(ranges.map(([s, e], i) => this.runners[i]!.gradients(trained, sliceBatch(batch, s, e))));
    } catch (err) {
      this.fail(err as Error);
      return this.clf.trainStep(batch);
    }
    this.clf.applyGradients(combineShardGradients(results.map((r, i) => ({ rows: rows[i]!, gradients: r.gradients }))));
    return { loss: results.reduce((sum, r, i) => sum + (r.loss * rows[i]!) / batch.labels.length, 0) };
  }

  evaluate(batches: Iterable<LabeledBatch>): Promise<EvalResult> {
    return this.clf.evaluate(batches);
  }

  private fail(err: Error): void {
    this.failed = err;
    this.onFailure(err);
  }
}
