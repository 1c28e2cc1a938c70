/**
 * Test page for tests/decoder-tab.spec.ts: a Hugging Face decoder in a real tab. Downloads the
 * checkpoint served under /hf-model/ through the page's model cache (Cache Storage), loads it,
 * greedy-decodes with the base model, fine-tunes LoRA for a few steps on wasm and reports
 * everything on `window.__decoderCheck`.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { LoraCausalLm, encodeRows, greedyGenerate, lmBatches, loadHfModel, modelManifestSchema, type CausalLmRow } from '@tabfleet/lora-core';
import { ensureCachedModel, type ModelCacheProgress } from '../../../apps/web-device/src/model-cache';

setWasmPaths('/tfjs-wasm/');

const ROWS: CausalLmRow[] = [
  { prompt: 'capital of france', response: 'paris' },
  { prompt: 'capital of italy', response: 'rome' },
  { prompt: 'colour of grass', response: 'green' },
  { prompt: 'opposite of up', response: 'down' },
];

async function run(): Promise<unknown> {
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend unavailable');
  await tf.ready();
  const manifest = modelManifestSchema.parse(await (await fetch('/hf-model/manifest.json')).json());
  const progress: ModelCacheProgress[] = [];
  const cached = await ensureCachedModel({ baseUrl: '/hf-model/', manifest, onProgress: (p) => progress.push(p) });
  const { decoder, tokenizer } = await loadHfModel(cached.read);
  // Same prompt and stopping rule as `npm run generate -- --prompt … --max-new-tokens 6` (the spec compares).
  const base = await greedyGenerate(decoder, tokenizer!.encode('the cat sat on the', true), { maxNewTokens: 6, stopIds: tokenizer!.special.eos });
  const { rows } = encodeRows(tokenizer!, ROWS, 48);
  const batches = [...lmBatches(rows, 4)];
  const lm = new LoraCausalLm(decoder, { depth: 2, lora: { rank: 4, alpha: 8, targets: ['self_attn.q_proj', 'self_attn.v_proj', 'mlp.down_proj'], dropout: 0 }, learningRate: 2e-2, seed: 3 });
  const before = await lm.evaluate(batches);
  await lm.trainStep(batches[0]!); // creates Adam's moment variables
  const tensors = tf.memory().numTensors;
  for (let s = 0; s < 11; s++) await lm.trainStep(batches[0]!);
  const after = await lm.evaluate(batches);
  const leaked = tf.memory().numTensors - tensors;
  lm.dispose();
  decoder.dispose();
  return {
    backend: tf.getBackend(),
    cacheStorage: typeof (globalThis as { caches?: unknown }).caches !== 'undefined',
    downloaded: cached.downloaded,
    totalBytes: progress.at(-1)?.totalBytes,
    loadedBytes: progress.at(-1)?.loadedBytes,
    base,
    lossBefore: before.loss,
    lossAfter: after.loss,
    leaked,
  };
}

// No DOM types here (the root tsconfig checks tests/ without them): reach window through globalThis.
const w = globalThis as unknown as { __decoderCheck?: unknown; document: { getElementById(id: string): { textContent: string } | null } };
run().then(
  (r) => {
    w.__decoderCheck = r;
    const out = w.document.getElementById('out');
    if (out) out.textContent = JSON.stringify(r, null, 2);
  },
  (e: unknown) => {
    w.__decoderCheck = { error: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) };
  },
);
