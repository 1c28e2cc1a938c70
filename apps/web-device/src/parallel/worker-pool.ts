/**
 * The page's side of the data-parallel Web Workers: start K of them (each loads the model through
 * the page's fetch), and drive each as a ShardRunner over postMessage.
 */
import type { AdapterState, ClassifierConfig, LabeledBatch, ShardGradients, ShardRunner } from '../core';
import type { FetchAsset } from '../trainer';
import type { FromWorker, ToWorker } from './messages';

/** A worker that has not loaded the model by then is given up (a slow phone takes ~10 s). */
const START_TIMEOUT_MS = 120_000;
/**
 * A request unanswered this long means the worker is gone (it hangs, or closed itself: a closed
 * worker fires no error event): it is stopped and the page trains on without it. A request gets
 * MIN_ANSWER_MS or STRAGGLER_FACTOR × the slowest answer so far, whichever is longer.
 */
const MIN_ANSWER_MS = 30_000;
const STRAGGLER_FACTOR = 10;

type Pending = { resolve: (r: ShardGradients | undefined) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> };

export class WorkerShardRunner implements ShardRunner {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private dead: Error | undefined;
  private slowestAnswerMs = 0;
  /** How long the worker's warm-up steps took (ReplicaShardRunner.warmUp), once it is ready. */
  warmUpMs = 0;

  private constructor(
    private readonly worker: Worker,
    readonly index: number,
    private readonly fetchAsset: FetchAsset,
  ) {}

  /** Starts one worker and waits until its model is loaded. */
  static start(index: number, fetchAsset: FetchAsset, wasmPath: string): Promise<WorkerShardRunner> {
    const worker = new Worker(new URL('./shard-worker.ts', import.meta.url), { type: 'module', name: `tabfleet-shard-${index}` });
    const runner = new WorkerShardRunner(worker, index, fetchAsset);
    return new Promise<WorkerShardRunner>((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        runner.dispose();
        reject(new Error(`data-parallel worker ${index}: ${why}`));
      };
      const timer = setTimeout(() => fail(`not ready after ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
      worker.onerror = (e) => fail(e.message || 'the worker script failed to load');
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        const m = e.data;
        if (m.kind === 'asset') runner.answerAsset(m.id, m.path);
        else if (m.kind === 'init-failed') fail(m.error);
        else if (m.kind === 'ready') {
          clearTimeout(timer);
          if (m.backend !== 'wasm') return fail(`tfjs runs ${m.backend} there, not wasm`);
          runner.warmUpMs = m.warmUpMs;
          runner.listen();
          resolve(runner);
        }
      };
      runner.send({ kind: 'init', wasmPath });
    });
  }

  configure(config: ClassifierConfig, adapter: AdapterState): Promise<void> {
    return this.request((id) => ({ kind: 'configure', id, config, adapter })).then(() => undefined);
  }

  async gradients(trained: AdapterState, shard: LabeledBatch): Promise<ShardGradients> {
    const r = await this.request((id) => ({ kind: 'gradients', id, trained, shard }));
    if (!r) throw new Error(`data-parallel worker ${this.index} returned no gradients`);
    return r;
  }

  dispose(): void {
    this.worker.terminate();
    this.die(new Error(`data-parallel worker ${this.index} was stopped`));
  }

  private listen(): void {
    this.worker.onerror = (e) => this.die(new Error(`data-parallel worker ${this.index} crashed: ${e.message}`));
    this.worker.onmessage = (e: MessageEvent<FromWorker>) => {
      const m = e.data;
      if (m.kind === 'asset') return this.answerAsset(m.id, m.path);
      if (m.kind !== 'done' && m.kind !== 'failed') return;
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (p) clearTimeout(p.timer);
      if (m.kind === 'done') p?.resolve(m.result);
      else p?.reject(new Error(`data-parallel worker ${this.index}: ${m.error}`));
    };
  }

  private die(err: Error): void {
    this.dead ??= err;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  private request(make: (id: number) => ToWorker): Promise<ShardGradients | undefined> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    const deadlineMs = Math.max(MIN_ANSWER_MS, STRAGGLER_FACTOR * this.slowestAnswerMs);
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.worker.terminate();
        this.die(new Error(`data-parallel worker ${this.index} gave no answer in ${Math.round(deadlineMs / 1000)} s`));
      }, deadlineMs);
      const answered = () => {
        this.slowestAnswerMs = Math.max(this.slowestAnswerMs, performance.now() - t0);
      };
      this.pending.set(id, {
        resolve: (r) => {
          answered();
          resolve(r);
        },
        reject,
        timer,
      });
      this.send(make(id));
    });
  }

  private answerAsset(id: number, path: string): void {
    this.fetchAsset(path).then(
      // A copy: the page's cache keeps its buffer.
      (bytes) => {
        const copy = bytes.slice(0);
        this.send({ kind: 'asset', id, bytes: copy }, [copy]);
      },
      (err: unknown) => this.send({ kind: 'asset', id, error: (err as Error).message }),
    );
  }

  private send(m: ToWorker, transfer: Transferable[] = []): void {
    this.worker.postMessage(m, transfer);
  }
}

/** Starts `count` workers; all or none (a failure stops the others and throws the first error). */
export async function startShardWorkers(count: number, fetchAsset: FetchAsset, wasmPath: string): Promise<WorkerShardRunner[]> {
  if (typeof Worker !== 'function') throw new Error('this browser has no Web Workers');
  const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => WorkerShardRunner.start(i + 1, fetchAsset, wasmPath)));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    for (const s of started) if (s.status === 'fulfilled') s.value.dispose();
    throw failed.reason as Error;
  }
  return started.map((s) => (s as PromiseFulfilledResult<WorkerShardRunner>).value);
}
