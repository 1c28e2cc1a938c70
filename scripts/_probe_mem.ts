import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, fetchUseLiteAsset, loadWordNetGlosses } from '../packages/lora-core/node';
import { loadUseLiteModel, withMaxTokens, LoraClassifier, DEFAULT_LORA, makeBatch } from '../packages/lora-core/src';
async function main() {
  await useBackend('wasm');
  const enc = withMaxTokens(await loadUseLiteModel(fetchUseLiteAsset), 48);
  const ds = loadWordNetGlosses({ topK: 20, maxPerClass: 10 });
  const batch = makeBatch(enc, ds, Array.from({ length: 32 }, (_, i) => i * 5));
  const clf = new LoraClassifier(enc, { numClasses: 20, depth: 4, lora: DEFAULT_LORA, learningRate: 1e-3, headLearningRate: 1e-2, seed: 1 });
  for (let s = 1; s <= 120; s++) {
    const t = performance.now(); await clf.trainStep(batch);
    if (s % 20 === 0) { const m = tf.memory() as tf.MemoryInfo & { numBytesInWASM?: number }; console.log(s, (performance.now() - t).toFixed(0), 'ms', m.numTensors, 'tensors', (m.numBytes / 1e6).toFixed(1), 'MB', m.numBytesInWASM ? (m.numBytesInWASM / 1e6).toFixed(0) + ' MB wasm heap' : '', loadavg()[0].toFixed(1)); }
  }
}
main();
