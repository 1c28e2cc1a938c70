/**
 * Local training of a causal-LM task in the page: download the task's Hugging Face checkpoint
 * through the model cache (Cache Storage, progress, sha256 checks), check it is the checkpoint the
 * coordinator named, load it, time a step per depth, and run an assignment's local steps from the
 * global adapter, returning the change of the trained layers. Memory failures come back as
 * `OutOfMemoryError` with a message a person can act on.
 */
import { encodeRows, loadHfModel, LoraCausalLm, makeLmBatch, manifestKey, modelManifestSchema, modelMemoryShortfall, subtractAdapters } from './core';
import type { AdapterState, Assignment, CausalLmRow, EncodedRow, HfModel, LoraTarget, TaskInfo } from './core';
import { ensureCachedModel, type ModelCacheProgress } from './model-cache';
import type { LocalResult } from './trainer';
import { waitAfterStep } from './slowdown';
import { yieldToEventLoop } from './yield';

/** What wasm, WebGL/WebGPU and V8 say when memory runs out. */
const OOM = /out of memory|failed to allocate|allocation failed|array buffer allocation|invalid array length|memory access out of bounds|aborted\(oom\)|cannot enlarge memory/i;

export class OutOfMemoryError extends Error {
  constructor(what: string, cause: unknown) {
    super(`out of memory while ${what} (${(cause as Error).message ?? String(cause)}); close other tabs or apps, or use a device with more memory`, { cause });
    this.name = 'OutOfMemoryError';
  }
}

/** Memory exhaustion as OutOfMemoryError, other errors as they are. */
export function asMemoryError(what: string, err: unknown): unknown {
  return OOM.test((err as Error)?.message ?? '') ? new OutOfMemoryError(what, err) : err;
}

async function guarded<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw asMemoryError(what, err);
  }
}

async function sha256Hex(text: string): Promise<string | undefined> {
  const subtle = (globalThis as { crypto?: { subtle?: { digest(a: string, d: Uint8Array): Promise<ArrayBuffer> } } }).crypto?.subtle;
  if (!subtle) return undefined;
  const buf = await subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export interface LmLoadOptions {
  readonly onProgress?: (p: ModelCacheProgress) => void;
  /** Bytes the page may use; a checkpoint larger than this is refused before the download. */
  readonly memoryBytes?: number;
  readonly slowdown?: number;
}

export class LmLocalTrainer {
  private current: { key: string; lm: LoraCausalLm } | undefined;
  private readonly padId: number;

  private constructor(
    readonly model: HfModel,
    readonly task: TaskInfo,
    /** Files downloaded this visit (empty when all came from the cache). */
    readonly downloaded: readonly string[],
    readonly slowdown: number,
  ) {
    this.padId = model.tokenizer?.special.pad ?? 0;
  }

  static async load(task: TaskInfo, o: LmLoadOptions = {}): Promise<LmLocalTrainer> {
    const lm = task.causalLm;
    if (!lm) throw new Error('not a causal-LM task');
    const base = lm.modelUrl.endsWith('/') ? lm.modelUrl : `${lm.modelUrl}/`;
    const res = await fetch(`${base}manifest.json`, { cache: 'no-store' });
    if (!res.ok) throw new Error(`model manifest: HTTP ${res.status}`);
    const manifest = modelManifestSchema.parse(await res.json());
    const hash = await sha256Hex(manifestKey(manifest));
    if (hash !== undefined && hash !== lm.modelHash) throw new Error(`the coordinator serves another checkpoint than its task names (hash ${hash.slice(0, 12)}, task ${lm.modelHash.slice(0, 12)}): restart the coordinator`);
    // Its size after conversion: an F16 / BF16 checkpoint takes twice its download in memory.
    const shortfall = o.memoryBytes === undefined ? undefined : modelMemoryShortfall(manifest, o.memoryBytes);
    if (shortfall !== undefined) throw new OutOfMemoryError('checking the model size', new Error(shortfall));
    const cached = await ensureCachedModel({ baseUrl: base, manifest, ...(o.onProgress ? { onProgress: o.onProgress } : {}) });
    const model = await guarded('loading the model', () => loadHfModel(cached.read));
    if (!model.tokenizer) throw new Error('the checkpoint has no tokenizer.json');
    if (model.decoder.blocks.length !== task.numBlocks) throw new Error(`model has ${model.decoder.blocks.length} layers; the task says ${task.numBlocks}`);
    return new LmLocalTrainer(model, task, cached.downloaded, o.slowdown ?? 1);
  }

  get numBlocks(): number {
    return this.model.decoder.blocks.length;
  }

  /** Token rows; `dropped` counts rows truncation left without a response token (said in the status). */
  encode(rows: readonly CausalLmRow[]): { rows: EncodedRow[]; dropped: number } {
    const lm = this.task.causalLm!;
    const { rows: out, dropped } = encodeRows(this.model.tokenizer!, rows, this.task.maxTokens ?? 64, { prompt: lm.template.prompt, appendEos: lm.template.appendEos });
    if (out.length === 0) throw new Error(`none of the ${rows.length} rows keeps a response token within ${this.task.maxTokens} tokens`);
    return { rows: out, dropped };
  }

  /** msPerStep[d - 1] for every depth on a batch of the device's rows (one warm-up step at full depth first). */
  async measureStepTimes(rows: readonly EncodedRow[], onDepth: (depth: number, ms: number) => void = () => {}): Promise<number[]> {
    const pick = Array.from({ length: this.task.batchSize }, (_, i) => rows[Math.floor((i * rows.length) / this.task.batchSize)]!);
    const batch = makeLmBatch(pick, this.padId);
    const out: number[] = [];
    for (let depth = this.numBlocks; depth >= 1; depth--) {
      const lm = this.fresh(depth, 1e-3);
      try {
        const times: number[] = [];
        for (let i = 0; i < (depth === this.numBlocks ? 2 : 1); i++) {
          await yieldToEventLoop();
          const t0 = performance.now();
          await guarded(`timing a training step at depth ${depth}`, () => lm.trainStep(batch));
          const ms = performance.now() - t0;
          await waitAfterStep(ms, this.slowdown);
          times.push(ms * this.slowdown);
        }
        const ms = Math.max(times.at(-1)!, 0.01);
        out[depth - 1] = ms;
        onDepth(depth, ms);
      } finally {
        lm.dispose();
      }
    }
    return out;
  }

  async train(a: Assignment, start: AdapterState, rows: readonly EncodedRow[], onStep: (step: number, loss: number) => void, betweenSteps: () => Promise<void> = async () => {}): Promise<LocalResult> {
    const lm = this.forAssignment(a);
    lm.setAdapter(start);
    lm.resetOptimizerState();
    const before = lm.getAdapter();
    let order: number[] = [];
    let seed = this.task.seed * 7919 + a.round * 131 + a.intraRound;
    const next = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) | 0;
      return (seed >>> 0) / 2 ** 32;
    };
    let sum = 0;
    let tokens = 0;
    let trainMs = 0;
    for (let step = 1; step <= a.localSteps; step++) {
      if (order.length < a.batchSize) {
        const pass = rows.map((_, i) => i);
        for (let i = pass.length - 1; i > 0; i--) {
          const j = Math.floor(next() * (i + 1));
          [pass[i], pass[j]] = [pass[j]!, pass[i]!];
        }
        order = [...order, ...pass];
      }
      const pick = order.splice(0, Math.min(a.batchSize, rows.length)).map((i) => rows[i]!);
      const batch = makeLmBatch(pick, this.padId);
      const t0 = performance.now();
      const r = await guarded(`training at depth ${a.depth}`, () => lm.trainStep(batch));
      const ms = performance.now() - t0;
      if (!Number.isFinite(r.loss)) throw new Error(`loss became ${r.loss} at step ${step}`);
      trainMs += ms + (await waitAfterStep(ms, this.slowdown));
      sum += r.loss * r.tokens;
      tokens += r.tokens;
      onStep(step, r.loss);
      await yieldToEventLoop();
      await betweenSteps();
    }
    return { delta: subtractAdapters(lm.getAdapter(), before), meanLoss: tokens ? sum / tokens : Number.NaN, trainMs };
  }

  dispose(): void {
    this.current?.lm.dispose();
    this.current = undefined;
    this.model.decoder.dispose();
  }

  private fresh(depth: number, learningRate: number, rank = this.task.lora.rank): LoraCausalLm {
    const lora = { rank, alpha: this.task.lora.alpha, targets: this.task.lora.targets as LoraTarget[], dropout: 0 };
    return new LoraCausalLm(this.model.decoder, { depth, lora, learningRate, seed: this.task.seed });
  }

  private forAssignment(a: Assignment): LoraCausalLm {
    const key = `${a.depth}/${a.rank}/${a.learningRate}`;
    if (this.current?.key === key) return this.current.lm;
    this.current?.lm.dispose();
    const lm = this.fresh(a.depth, a.learningRate, a.rank);
    this.current = { key, lm };
    return lm;
  }
}
