import { useBackend } from '../packages/lora-core/node/backend';
import { fetchUseLiteAsset } from '../packages/lora-core/node/model-files';
import { loadWordNetGlosses } from '../packages/lora-core/node/wordnet';
import { loadUseLiteModel } from '../packages/lora-core/src/model/use-lite';
async function main() {
  let t = Date.now();
  await useBackend('wasm');
  const enc = await loadUseLiteModel(fetchUseLiteAsset);
  console.log('load ms', Date.now() - t); t = Date.now();
  const ds = loadWordNetGlosses({ topK: 20, maxPerClass: 150 });
  console.log('data ms', Date.now() - t, ds.texts.length);
  const lens = ds.texts.map((s) => enc.tokenize([s]).seqLen).sort((a, b) => a - b);
  const q = (p: number) => lens[Math.floor(p * (lens.length - 1))];
  console.log('tokens p50', q(0.5), 'p90', q(0.9), 'p99', q(0.99), 'max', q(1), 'maxSeqLen', enc.maxSeqLen);
}
main();
