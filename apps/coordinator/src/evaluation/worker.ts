/**
 * The evaluation worker thread: holds its own tfjs (wasm) backend, the encoder and a classifier, and
 * scores global adapters on the task's evaluation rows in length-sorted batches. tfjs-wasm reads
 * are synchronous, so this work must not run on the coordinator's event loop.
 */
import { parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { decodeAdapter, encodeAdapter, initialAdapter, lengthSortedBatches, LoraClassifier, loadUseLiteModel, withMaxTokens } from '../core';
import type { LabeledDataset } from '../core';
import { fetchUseLiteAsset, useBackend } from '../core-node';
import type { InitRequest, WorkerReply, WorkerRequest } from './protocol';

const port = parentPort;
if (!port) throw new Error('evaluation worker: not started as a worker thread');

let ready: Promise<{ evaluator: LoraClassifier; data: LabeledDataset; batches: () => ReturnType<typeof lengthSortedBatches> }> | undefined;

const reply = (m: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

async function init(req: InitRequest) {
  await useBackend('wasm');
  const encoder = withMaxTokens(await loadUseLiteModel(fetchUseLiteAsset), req.maxTokens);
  const evaluator = new LoraClassifier(encoder, {
    numClasses: req.numClasses,
    depth: encoder.blocks.length,
    lora: req.lora,
    learningRate: 1e-3,
    headLearningRate: 1e-2,
    seed: req.seed,
  });
  const classNames = Array.from({ length: req.numClasses }, (_, i) => String(i));
  const data: LabeledDataset = { texts: [...req.texts], labels: req.labels, classNames };
  const bytes = new Uint8Array(encodeAdapter(initialAdapter(encoder.blocks, encoder.featureDim, req.numClasses, req.lora, req.seed)));
  reply({ type: 'ready', numBlocks: encoder.blocks.length, featureDim: encoder.featureDim, initialAdapter: bytes }, [bytes.buffer as ArrayBuffer]);
  return { evaluator, data, batches: () => lengthSortedBatches(encoder, data, req.batchSize) };
}

port.on('message', (req: WorkerRequest) => {
  if (req.type === 'init') {
    ready = init(req);
    ready.catch((err: unknown) => reply({ type: 'error', id: null, message: (err as Error).stack ?? String(err) }));
    return;
  }
  const id = req.id;
  void (async () => {
    try {
      if (!ready) throw new Error('evaluate before init');
      const { evaluator, data, batches } = await ready;
      const t0 = performance.now();
      evaluator.setAdapter(decodeAdapter(req.adapter, { copy: true }));
      const r = await evaluator.evaluate(batches());
      reply({ type: 'result', id, accuracy: r.accuracy, loss: r.loss, rows: data.texts.length, ms: performance.now() - t0 });
    } catch (err) {
      reply({ type: 'error', id, message: (err as Error).stack ?? String(err) });
    }
  })();
});
