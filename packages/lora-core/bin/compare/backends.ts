/**
 * Where the compare CLI's training runs: in this process (one LocalTrainer), or in a pool of
 * worker threads, one LocalTrainer each — tfjs' wasm backend in Node is single-threaded, so on a
 * multi-core machine a pool trains that many members at once. Both give identical numbers:
 * a job's result depends only on the job (see LocalTrainer).
 */
import { Worker } from 'node:worker_threads';
import type { AdapterState, EvalResult } from '../../src';
import type { LocalTrainer, LocalTrainingJob, LocalTrainingResult, PrefixCacheStats, SimEvaluation, TrainingService } from '../../src/sim';
import type { WorkerReply, WorkerRequest } from './messages';
import type { TaskSetting } from './setup';

export interface SimBackend extends TrainingService {
  evaluate(adapter: AdapterState): Promise<SimEvaluation>;
  measureMsPerStep(rows: Int32Array, runs: number, warmup: number): Promise<number[]>;
  /** Frozen-prefix cache counters, summed over the trainers. */
  prefixStats?(): PrefixCacheStats;
  close(): Promise<void>;
}

export class InProcessBackend implements SimBackend {
  constructor(private readonly trainer: LocalTrainer) {}
  train(job: LocalTrainingJob): Promise<LocalTrainingResult> {
    return this.trainer.train(job);
  }
  evaluate(adapter: AdapterState): Promise<SimEvaluation> {
    return this.trainer.evaluate(adapter);
  }
  measureMsPerStep(rows: Int32Array, runs: number, warmup: number): Promise<number[]> {
    return this.trainer.measureMsPerStep(rows, runs, warmup);
  }
  prefixStats(): PrefixCacheStats {
    return this.trainer.prefixCacheStats;
  }
  async close(): Promise<void> {}
}

type Pending = { request: WorkerRequest; resolve: (v: unknown) => void; reject: (e: Error) => void };
type Distributive<T> = T extends unknown ? Omit<T, 'id'> : never;

export class WorkerPool implements SimBackend {
  private readonly idle: Worker[] = [];
  private readonly queue: Pending[] = [];
  private readonly inFlight = new Map<number, { worker: Worker; pending: Pending }>();
  private readonly prefixByWorker = new Map<Worker, PrefixCacheStats>();
  private nextId = 1;

  private constructor(
    private readonly workers: readonly Worker[],
    private readonly evaluationSize: number,
    private readonly evaluationChunk: number,
  ) {
    for (const w of workers) {
      w.on('message', (m: WorkerReply) => this.onReply(w, m));
      w.on('error', (e) => this.failAll(e));
      this.idle.push(w);
    }
  }

  static async start(size: number, setting: TaskSetting): Promise<WorkerPool> {
    const url = new URL('./worker.ts', import.meta.url).href;
    // Node 20 does not apply tsx's hooks to a worker's entry file; register them (ESM, and CJS for
    // node/backend.ts's require of the gradients) first, then import.
    const boot =
      `Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')])` +
      `.then(([esm, cjs]) => { esm.register(); cjs.register(); return import(${JSON.stringify(url)}); })`;
    const workers = Array.from({ length: size }, () => new Worker(boot, { eval: true, workerData: setting }));
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const onMessage = (m: WorkerReply) => {
              if (m.kind === 'ready') resolve();
              else if (m.kind === 'failed') reject(new Error(`worker failed to start: ${m.error}`));
              else return;
              w.off('message', onMessage);
            };
            w.on('message', onMessage);
            w.once('error', reject);
          }),
      ),
    ).catch(async (e: unknown) => {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    });
    return new WorkerPool(workers, setting.evalCount, 64);
  }

  train(job: LocalTrainingJob): Promise<LocalTrainingResult> {
    return this.request({ kind: 'train', job }) as Promise<LocalTrainingResult>;
  }

  /** The evaluation set in chunks spread over the workers, merged count-weighted. */
  async evaluate(adapter: AdapterState): Promise<SimEvaluation> {
    const chunks: Promise<EvalResult>[] = [];
    for (let start = 0; start < this.evaluationSize; start += this.evaluationChunk) {
      const end = Math.min(this.evaluationSize, start + this.evaluationChunk);
      chunks.push(this.request({ kind: 'evaluate', adapter, start, end }) as Promise<EvalResult>);
    }
    const results = await Promise.all(chunks);
    const count = results.reduce((s, r) => s + r.count, 0);
    if (count === 0) return { accuracy: 0, loss: 0 };
    return {
      accuracy: results.reduce((s, r) => s + r.accuracy * r.count, 0) / count,
      loss: results.reduce((s, r) => s + r.loss * r.count, 0) / count,
    };
  }

  measureMsPerStep(rows: Int32Array, runs: number, warmup: number): Promise<number[]> {
    return this.request({ kind: 'measure', rows, runs, warmup }) as Promise<number[]>;
  }

  prefixStats(): PrefixCacheStats {
    const sum: PrefixCacheStats = { hits: 0, partial: 0, misses: 0, bytes: 0, entries: 0 };
    for (const s of this.prefixByWorker.values()) for (const k of ['hits', 'partial', 'misses', 'bytes', 'entries'] as const) sum[k] += s[k];
    return sum;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private request(body: Distributive<WorkerRequest>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request: { ...body, id: this.nextId++ } as WorkerRequest, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.shift()!;
      const pending = this.queue.shift()!;
      this.inFlight.set(pending.request.id, { worker, pending });
      worker.postMessage(pending.request);
    }
  }

  private onReply(worker: Worker, m: WorkerReply): void {
    if (m.kind !== 'done' && m.kind !== 'error') return;
    const entry = this.inFlight.get(m.id);
    if (entry === undefined) return;
    this.inFlight.delete(m.id);
    this.idle.push(worker);
    if (m.kind === 'done' && m.prefix !== undefined) this.prefixByWorker.set(worker, m.prefix);
    if (m.kind === 'done') entry.pending.resolve(m.result);
    else entry.pending.reject(new Error(`worker: ${m.error}`));
    this.dispatch();
  }

  private failAll(e: Error): void {
    for (const { pending } of this.inFlight.values()) pending.reject(e);
    this.inFlight.clear();
    for (const p of this.queue.splice(0)) p.reject(e);
  }
}
