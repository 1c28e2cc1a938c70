/**
 * Centralized LoRA fine-tuning of a Hugging Face decoder on a JSONL file of {prompt, response} or
 * {text} rows, on this machine: the single-device baseline of a federated causal-LM run, and the
 * quickest way to get a PEFT adapter from tabfleet's training code.
 *
 *   npm run finetune:lm -- --model DIR --data train.jsonl --out PEFT_DIR
 *       [--eval eval.jsonl | --eval-fraction 0.1] [--depth 2] [--rank 8] [--alpha 16]
 *       [--targets default|all|q_proj,v_proj,...] [--steps 100] [--batch 8] [--max-tokens 256]
 *       [--lr 2e-4] [--template sft|"…{prompt}…"] [--init-adapter PEFT_DIR] [--seed 1]
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { directoryReader, loadHfModelFromDir, useBackend, type NodeBackend } from '../node';
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  DEFAULT_SFT_TEMPLATE,
  LoraCausalLm,
  createRng,
  encodeRows,
  exportPeft,
  lmBatches,
  loadPeftAdapter,
  parseCausalLmJsonl,
  type CausalDecoder,
  type LoraConfig,
  type LoraTarget,
  type SftTemplate,
} from '../src';
import { num } from './format-table';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    data: { type: 'string' },
    eval: { type: 'string' },
    'eval-fraction': { type: 'string', default: '0.1' },
    out: { type: 'string' },
    depth: { type: 'string', default: '2' },
    rank: { type: 'string', default: '8' },
    alpha: { type: 'string' },
    targets: { type: 'string', default: 'default' },
    steps: { type: 'string', default: '100' },
    batch: { type: 'string', default: '8' },
    'max-tokens': { type: 'string', default: '256' },
    lr: { type: 'string', default: '2e-4' },
    template: { type: 'string' },
    'init-adapter': { type: 'string' },
    'eval-every': { type: 'string', default: '25' },
    backend: { type: 'string', default: 'wasm' },
    seed: { type: 'string', default: '1' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

function resolveTargets(decoder: CausalDecoder, spec: string): LoraTarget[] {
  const all = decoder.blocks[0]!.linears.map((l) => l.target);
  if (spec === 'default') return [...decoder.defaultLoraTargets];
  if (spec === 'all') return all;
  return spec.split(',').map((s) => {
    const t = s.trim();
    const hit = all.filter((x) => x === t || x.endsWith(`.${t}`));
    if (hit.length !== 1) throw new Error(`--targets: "${t}" ${hit.length ? 'is ambiguous' : 'is not a linear'} of ${decoder.family} (${all.join(', ')})`);
    return hit[0]!;
  });
}

async function main(): Promise<void> {
  if (a.help || !a.model || !a.data || !a.out) {
    console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*?|^ \* ?/gm, ''));
    if (!a.help) process.exit(2);
    return;
  }
  if (existsSync(a.out) && readdirSync(a.out).length > 0) throw new Error(`${a.out} exists and is not empty`);
  await useBackend(a.backend as NodeBackend);
  const { decoder, tokenizer, nameOrPath } = await loadHfModelFromDir(a.model);
  const tok = tokenizer!;
  const maxTokens = num('max-tokens', a['max-tokens']);
  const template: SftTemplate = a.template === undefined || a.template === 'sft' ? DEFAULT_SFT_TEMPLATE : { prompt: a.template, appendEos: true };
  const rows = parseCausalLmJsonl(readFileSync(a.data, 'utf8'), a.data);
  const seed = num('seed', a.seed);
  let train = rows;
  let evalRows = a.eval ? parseCausalLmJsonl(readFileSync(a.eval, 'utf8'), a.eval) : [];
  if (!a.eval) {
    const shuffled = createRng(seed).shuffle([...rows]);
    const k = Math.max(1, Math.round(num('eval-fraction', a['eval-fraction'], false) * rows.length));
    if (k >= rows.length) throw new Error(`${a.data}: too few rows (${rows.length}) to hold out ${k} for evaluation; pass --eval`);
    evalRows = shuffled.slice(0, k);
    train = shuffled.slice(k);
  }
  const enc = encodeRows(tok, train, maxTokens, template);
  const encEval = encodeRows(tok, evalRows, maxTokens, template);
  if (enc.dropped) console.log(`note: ${enc.dropped} training rows had no response token within --max-tokens ${maxTokens} and were skipped`);
  const padId = tok.special.pad ?? 0;
  let lora: LoraConfig;
  let init;
  if (a['init-adapter']) {
    init = await loadPeftAdapter(decoder, directoryReader(a['init-adapter']));
    lora = init.lora;
    console.log(`starting from ${a['init-adapter']}: layers ${init.layers.join(', ')}, targets ${lora.targets.join(', ')}, r ${lora.rank}`);
  } else {
    const rank = num('rank', a.rank);
    lora = { rank, alpha: a.alpha === undefined ? 2 * rank : num('alpha', a.alpha, false), targets: resolveTargets(decoder, a.targets), dropout: 0.05 };
  }
  const depth = num('depth', a.depth);
  const lm = new LoraCausalLm(decoder, { depth, lora, learningRate: num('lr', a.lr, false), seed });
  if (init) lm.setAdapter(init.state);
  const batchSize = num('batch', a.batch);
  const steps = num('steps', a.steps);
  const every = num('eval-every', a['eval-every']);
  const evaluate = () => lm.evaluate(lmBatches(encEval.rows, batchSize, padId));
  const e0 = await evaluate();
  console.log(`${decoder.family} · ${decoder.blocks.length} layers · depth ${depth} · ${lm.trainableParameters.toLocaleString('en')} trainable · ${enc.rows.length} train / ${encEval.rows.length} eval rows`);
  console.log(`step 0: eval loss ${e0.loss.toFixed(4)} · perplexity ${e0.perplexity.toFixed(2)}`);
  const rng = createRng(seed + 1);
  let order: number[] = [];
  let trainLoss = 0;
  let tokens = 0;
  const t0 = performance.now();
  for (let s = 1; s <= steps; s++) {
    if (order.length < batchSize) order = [...order, ...rng.shuffle(enc.rows.map((_, i) => i))];
    const pick = order.splice(0, batchSize).map((i) => enc.rows[i]!);
    const [batch] = lmBatches(pick, batchSize, padId);
    const r = await lm.trainStep(batch!);
    trainLoss += r.loss * r.tokens;
    tokens += r.tokens;
    if (s % every === 0 || s === steps) {
      const e = await evaluate();
      console.log(`step ${s}: train loss ${(trainLoss / tokens).toFixed(4)} · eval loss ${e.loss.toFixed(4)} · perplexity ${e.perplexity.toFixed(2)} · ${((performance.now() - t0) / s).toFixed(0)} ms/step`);
      trainLoss = 0;
      tokens = 0;
    }
  }
  // Layers of --init-adapter below --depth were applied frozen: keep them in the output too.
  const state = new Map([...(init?.state ?? new Map()), ...lm.getAdapter()]);
  const exp = exportPeft(decoder, lora, state, { baseModelNameOrPath: nameOrPath ?? a.model });
  mkdirSync(a.out, { recursive: true });
  writeFileSync(join(a.out, ADAPTER_CONFIG_FILE), JSON.stringify(exp.config, null, 2) + '\n');
  writeFileSync(join(a.out, ADAPTER_WEIGHTS_FILE), exp.weights);
  console.log(`wrote PEFT adapter to ${a.out} (layers ${exp.layers.join(', ')})`);
  lm.dispose();
  decoder.dispose();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
