/**
 * Exact reuse of identical work across the strategies of one comparison. Every strategy of a seed
 * starts from the same initial adapter and each device's k-th local step sees the same rows
 * (LocalTrainer is a pure function of the job), so round 1's jobs of FedLoRA, its variants and the
 * ablations coincide wherever device, depth and step count do; likewise any adapter evaluated
 * twice. Keys are SHA-256 digests of the whole job (every adapter byte included), so a hit returns
 * exactly what the computation would have — results do not change, only wall time.
 *
 * Only jobs at a device's first local step are remembered for training (later jobs start from
 * adapters that differ between strategies, so they never coincide and would only hold memory);
 * at most `maxEntries` results per kind, oldest evicted first (insertion order).
 */
import { createHash, type Hash } from 'node:crypto';
import type { AdapterState } from '../../src';
import type { LocalTrainingJob, LocalTrainingResult, PrefixCacheStats, SimEvaluation } from '../../src/sim';
import type { SimBackend } from './backends';

export interface MemoStats {
  trainHits: number;
  trainMisses: number;
  evalHits: number;
  evalMisses: number;
}

export class MemoBackend implements SimBackend {
  readonly stats: MemoStats = { trainHits: 0, trainMisses: 0, evalHits: 0, evalMisses: 0 };
  private readonly trained = new Map<string, Promise<LocalTrainingResult>>();
  private readonly evaluated = new Map<string, Promise<SimEvaluation>>();

  constructor(
    private readonly inner: SimBackend,
    private readonly maxEntries = 2048,
  ) {}

  train(job: LocalTrainingJob): Promise<LocalTrainingResult> {
    if (job.firstStep !== 0) return this.inner.train(job);
    const h = createHash('sha256');
    h.update(`${job.deviceId}\u0000${job.depth}\u0000${job.localSteps}\u0000${job.firstStep}\u0000`);
    hashRows(h, job.rows);
    hashAdapter(h, job.adapter);
    return this.cached(this.trained, h.digest('hex'), () => this.inner.train(job), 'train');
  }

  evaluate(adapter: AdapterState): Promise<SimEvaluation> {
    const h = createHash('sha256');
    hashAdapter(h, adapter);
    return this.cached(this.evaluated, h.digest('hex'), () => this.inner.evaluate(adapter), 'eval');
  }

  measureMsPerStep(rows: Int32Array, runs: number, warmup: number): Promise<number[]> {
    return this.inner.measureMsPerStep(rows, runs, warmup);
  }

  prefixStats(): PrefixCacheStats {
    return this.inner.prefixStats?.() ?? { hits: 0, partial: 0, misses: 0, bytes: 0, entries: 0 };
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private cached<T>(map: Map<string, Promise<T>>, key: string, run: () => Promise<T>, kind: 'train' | 'eval'): Promise<T> {
    const hit = map.get(key);
    if (hit !== undefined) {
      this.stats[kind === 'train' ? 'trainHits' : 'evalHits']++;
      return hit;
    }
    this.stats[kind === 'train' ? 'trainMisses' : 'evalMisses']++;
    const value = run();
    map.set(key, value);
    // A failed computation is not remembered.
    value.catch(() => map.delete(key));
    while (map.size > this.maxEntries) map.delete(map.keys().next().value as string);
    return value;
  }
}

function hashRows(h: Hash, rows: ArrayLike<number>): void {
  const copy = Int32Array.from(rows as ArrayLike<number>);
  h.update(Buffer.from(copy.buffer));
}

/** Keys in sorted order, names and shapes included, then the raw float bytes. */
function hashAdapter(h: Hash, adapter: AdapterState): void {
  for (const key of [...adapter.keys()].sort()) {
    const tensors = adapter.get(key)!;
    for (const name of [...tensors.keys()].sort()) {
      const t = tensors.get(name)!;
      h.update(`${key}/${name}[${t.shape.join(',')}]`);
      h.update(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
  }
}
