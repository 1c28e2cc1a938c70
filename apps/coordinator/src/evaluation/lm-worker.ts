/**
 * The causal-LM evaluation worker thread: loads the task's Hugging Face checkpoint on its own tfjs
 * (wasm) backend, builds the run's initial adapter (optionally from a PEFT adapter), scores global
 * adapters on the held-out rows (mean token NLL = loss, perplexity, top-1 next-token accuracy) and
 * writes PEFT exports. Loading and scoring a decoder are long synchronous tfjs work: never on the
 * coordinator's event loop.
 */
import { parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { decodeAdapter, decoderMemoryBytesByDepth, embedRowsForTopics, encodeAdapter, encodeRows, exportPeft, kMeans, lmBatches, loadPeftAdapter, loadUseLiteModel, LoraCausalLm, topicHistogram } from '../core';
import type { AdapterState, CausalDecoder, LoraConfig } from '../core';
import { directoryReader, fetchUseLiteAsset, loadHfModelFromDir, useBackend } from '../core-node';
import type { LmInitRequest, LmWorkerReply, LmWorkerRequest } from './lm-protocol';

const port = parentPort;
if (!port) throw new Error('causal-LM evaluation worker: not started as a worker thread');

interface Ready {
  readonly decoder: CausalDecoder;
  readonly lm: LoraCausalLm;
  readonly lora: LoraConfig;
  readonly batches: () => ReturnType<typeof lmBatches>;
  readonly rows: number;
}

let ready: Promise<Ready> | undefined;

const reply = (m: LmWorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

function resolveLora(decoder: CausalDecoder, req: LmInitRequest): LoraConfig {
  const available = new Set(decoder.blocks[0]?.linears.map((l) => l.target as string) ?? []);
  const targets = req.lora.targets ?? decoder.defaultLoraTargets;
  const unknown = targets.filter((t) => !available.has(t));
  if (unknown.length > 0) throw new Error(`lora.targets: ${unknown.join(', ')} are not modules of this ${decoder.family} checkpoint (it has ${[...available].join(', ')})`);
  return { rank: req.lora.rank, alpha: req.lora.alpha, targets: [...targets] as LoraConfig['targets'], dropout: 0 };
}

/** Once per task: centroids of `topics` clusters of the evaluation rows in USE-lite's space. */
async function topicClusters(req: LmInitRequest, k: number): Promise<{ topicCentroids: number[][]; topicSizes: number[]; trainTopics: number[]; topicMs: number }> {
  const t0 = performance.now();
  const encoder = await loadUseLiteModel(fetchUseLiteAsset);
  try {
    const e = await embedRowsForTopics(encoder, req.rows, req.maxTokens);
    const topicCentroids = kMeans(e, k, req.seed);
    const train = await embedRowsForTopics(encoder, req.trainRows ?? [], req.maxTokens);
    const trainTopics = Array.from({ length: train.count }, (_, i) => topicHistogram({ values: train.values.subarray(i * train.dim, (i + 1) * train.dim), count: 1, dim: train.dim }, topicCentroids).indexOf(1));
    return { topicCentroids, topicSizes: topicHistogram(e, topicCentroids), trainTopics, topicMs: performance.now() - t0 };
  } finally {
    encoder.dispose();
  }
}

async function init(req: LmInitRequest): Promise<Ready> {
  await useBackend('wasm');
  const { decoder, tokenizer, config } = await loadHfModelFromDir(req.modelDir);
  if (!tokenizer) throw new Error(`${req.modelDir}: no tokenizer.json`);
  let lora = resolveLora(decoder, req);
  let imported: { state: AdapterState; layers: readonly number[] } | undefined;
  if (req.initAdapterDir !== undefined) {
    const peft = await loadPeftAdapter(decoder, directoryReader(req.initAdapterDir)).catch((e: unknown) => {
      throw new Error(`--init-adapter ${req.initAdapterDir}: ${(e as Error).message}`, { cause: e });
    });
    // The run trains the adapter it starts from: its rank, alpha and targets.
    lora = { ...peft.lora, dropout: 0 };
    imported = peft;
  }
  const lm = new LoraCausalLm(decoder, { depth: decoder.blocks.length, lora, learningRate: 1e-3, seed: req.seed });
  const start = lm.getAdapter();
  if (imported) for (const [key, block] of imported.state) start.set(key, block);
  lm.setAdapter(start);
  const { rows, dropped } = encodeRows(tokenizer, req.rows, req.maxTokens, req.template);
  const padId = tokenizer.special.pad ?? 0;
  // Length-sorted batches pad least.
  const sorted = [...rows].sort((a, b) => a.ids.length - b.ids.length);
  const memoryBytesByDepth = decoderMemoryBytesByDepth(config, { batch: req.trainBatchSize, seqLen: req.maxTokens, rank: lora.rank, targetsPerLayer: lora.targets.length });
  const topics = req.topics === undefined ? undefined : await topicClusters(req, req.topics);
  const bytes = new Uint8Array(encodeAdapter(start));
  reply(
    {
      type: 'ready',
      numBlocks: decoder.blocks.length,
      lora,
      initialAdapter: bytes,
      memoryBytesByDepth,
      evalTokens: rows.reduce((n, r) => n + r.loss.reduce((s, v) => s + v, 0), 0),
      dropped,
      ...(imported ? { importedLayers: [...imported.layers] } : {}),
      ...(topics ?? {}),
    },
    [bytes.buffer as ArrayBuffer],
  );
  return { decoder, lm, lora, batches: () => lmBatches(sorted, req.batchSize, padId), rows: rows.length };
}

port.on('message', (req: LmWorkerRequest) => {
  if (req.type === 'init') {
    ready = init(req);
    ready.catch((err: unknown) => reply({ type: 'error', id: null, message: (err as Error).message }));
    return;
  }
  const id = req.id;
  void (async () => {
    try {
      if (!ready) throw new Error(`${req.type} before init`);
      const r = await ready;
      const adapter = decodeAdapter(req.adapter, { copy: true });
      if (req.type === 'export') {
        const out = exportPeft(r.decoder, r.lora, adapter, { baseModelNameOrPath: req.baseModelNameOrPath });
        const weights = new Uint8Array(out.weights);
        reply({ type: 'exported', id, configJson: JSON.stringify(out.config, null, 2), weights, layers: [...out.layers] }, [weights.buffer as ArrayBuffer]);
        return;
      }
      const t0 = performance.now();
      r.lm.setAdapter(adapter);
      const e = await r.lm.evaluate(r.batches());
      reply({ type: 'result', id, loss: e.loss, perplexity: e.perplexity, accuracy: e.accuracy, tokens: e.tokens, rows: r.rows, ms: performance.now() - t0 });
    } catch (err) {
      reply({ type: 'error', id, message: (err as Error).message });
    }
  })();
});
