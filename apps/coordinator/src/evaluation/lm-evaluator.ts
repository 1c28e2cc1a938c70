/**
 * The coordinator's side of causal-LM evaluation: one worker thread (lm-worker.ts) per task holds
 * the decoder; the event loop posts adapter bytes and awaits held-out loss / perplexity / token
 * accuracy, or a PEFT export.
 */
import { decodeAdapter, encodeAdapter } from '../core';
import type { AdapterState, LoraConfig } from '../core';
import { spawnWorker } from './evaluator';
import type { LmInitRequest, LmWorkerReply, LmWorkerRequest } from './lm-protocol';

export interface LmEvaluation {
  readonly loss: number;
  readonly perplexity: number;
  readonly accuracy: number;
  readonly tokens: number;
  readonly rows: number;
  readonly ms: number;
}

export interface PeftFiles {
  readonly configJson: string;
  readonly weights: Uint8Array;
  readonly layers: readonly number[];
}

export interface LmEvaluationWorker {
  readonly numBlocks: number;
  readonly lora: LoraConfig;
  readonly initialAdapter: AdapterState;
  readonly memoryBytesByDepth: readonly number[];
  readonly evalTokens: number;
  readonly dropped: number;
  readonly importedLayers: readonly number[] | undefined;
  /** Present when init asked for topics. */
  readonly topics: { readonly centroids: number[][]; readonly sizes: number[]; readonly trainTopics: number[]; readonly ms: number } | undefined;
  evaluate(adapter: AdapterState): Promise<LmEvaluation>;
  exportPeft(adapter: AdapterState, baseModelNameOrPath: string): Promise<PeftFiles>;
  close(): Promise<void>;
}

type Answer = Exclude<LmWorkerReply, { type: 'ready' } | { type: 'error' }>;

export async function startLmEvaluationWorker(init: Omit<LmInitRequest, 'type'>): Promise<LmEvaluationWorker> {
  const worker = spawnWorker('./lm-worker.ts');
  const pending = new Map<number, { resolve: (r: Answer) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let failure: Error | undefined;
  let settleReady: { resolve: (m: Extract<LmWorkerReply, { type: 'ready' }>) => void; reject: (e: Error) => void } | undefined;
  const failAll = (err: Error) => {
    failure ??= err;
    settleReady?.reject(err);
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('message', (m: LmWorkerReply) => {
    if (m.type === 'ready') return settleReady?.resolve(m);
    if (m.type === 'error' && m.id === null) return failAll(new Error(m.message));
    const p = pending.get(m.id as number);
    if (!p) return;
    pending.delete(m.id as number);
    if (m.type === 'error') p.reject(new Error(m.message));
    else p.resolve(m);
  });
  worker.on('error', (err) => failAll(err));
  worker.on('exit', (code) => failAll(new Error(`causal-LM evaluation worker exited (code ${code})`)));
  const ready = new Promise<Extract<LmWorkerReply, { type: 'ready' }>>((resolve, reject) => (settleReady = { resolve, reject }));
  worker.postMessage({ type: 'init', ...init } satisfies LmWorkerRequest);
  const r = await ready.catch(async (err: unknown) => {
    await worker.terminate();
    throw err;
  });
  settleReady = undefined;
  const ask = (req: (id: number, bytes: Uint8Array) => LmWorkerRequest, adapter: AdapterState): Promise<Answer> => {
    if (failure) return Promise.reject(failure);
    const id = nextId++;
    const bytes = new Uint8Array(encodeAdapter(adapter));
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage(req(id, bytes), [bytes.buffer as ArrayBuffer]);
    });
  };
  let closed = false;
  return {
    numBlocks: r.numBlocks,
    lora: r.lora,
    initialAdapter: decodeAdapter(r.initialAdapter, { copy: true }),
    memoryBytesByDepth: r.memoryBytesByDepth,
    evalTokens: r.evalTokens,
    dropped: r.dropped,
    importedLayers: r.importedLayers,
    topics: r.topicCentroids === undefined ? undefined : { centroids: r.topicCentroids, sizes: r.topicSizes ?? [], trainTopics: r.trainTopics ?? [], ms: r.topicMs ?? 0 },
    async evaluate(adapter) {
      if (init.rows.length === 0) throw new Error('this task has no evaluation set');
      const m = await ask((id, b) => ({ type: 'evaluate', id, adapter: b }), adapter);
      if (m.type !== 'result') throw new Error(`unexpected worker reply ${m.type}`);
      return { loss: m.loss, perplexity: m.perplexity, accuracy: m.accuracy, tokens: m.tokens, rows: m.rows, ms: m.ms };
    },
    async exportPeft(adapter, baseModelNameOrPath) {
      const m = await ask((id, b) => ({ type: 'export', id, adapter: b, baseModelNameOrPath }), adapter);
      if (m.type !== 'exported') throw new Error(`unexpected worker reply ${m.type}`);
      return { configJson: m.configJson, weights: m.weights, layers: m.layers };
    },
    async close() {
      if (closed) return;
      closed = true;
      failure ??= new Error('causal-LM evaluation worker closed');
      await worker.terminate();
    },
  };
}
