import { useBackend } from '../packages/lora-core/node/backend';
import { fetchUseLiteAsset } from '../packages/lora-core/node/model-files';
import { loadWordNetGlosses } from '../packages/lora-core/node/wordnet';
import { seededSplit } from '../packages/lora-core/src/data/dataset';
import { loadUseLiteModel } from '../packages/lora-core/src/model/use-lite';
import { LoraClassifier } from '../packages/lora-core/src/lora/classifier';
import { DEFAULT_LORA } from '../packages/lora-core/src/lora/config';
import { trainingBatches, evaluationBatches } from '../packages/lora-core/src/lora/batching';
import * as tf from '@tensorflow/tfjs-core';
async function main() {
  await useBackend((process.argv[2] as 'wasm') ?? 'wasm');
  const depth = Number(process.argv[3] ?? 4); const steps = Number(process.argv[4] ?? 100);
  const enc = await loadUseLiteModel(fetchUseLiteAsset);
  const ds = loadWordNetGlosses({ topK: 20, maxPerClass: 300 });
  const { train, test } = seededSplit(ds, 0.2, 42);
  console.log('train', train.texts.length, 'test', test.texts.length);
  const clf = new LoraClassifier(enc, { numClasses: 20, depth, lora: DEFAULT_LORA, learningRate: 1e-3, headLearningRate: 1e-2, seed: 1 });
  const rows = Array.from({ length: train.texts.length }, (_, i) => i);
  const it = trainingBatches(enc, train, rows, 32, 7);
  let t0 = Date.now(); let n0 = tf.memory().numTensors;
  for (let s = 1; s <= steps; s++) {
    const { loss } = await clf.trainStep(it.next().value!);
    if (s % 20 === 0) { console.log(s, loss.toFixed(3), ((Date.now() - t0) / 20).toFixed(0), 'ms/step', 'tensors', tf.memory().numTensors - n0); t0 = Date.now(); }
  }
  const r = await clf.evaluate(evaluationBatches(enc, test, 64));
  console.log('test acc', r.accuracy.toFixed(3), 'loss', r.loss.toFixed(3), 'params', clf.trainableParameters);
}
main();
