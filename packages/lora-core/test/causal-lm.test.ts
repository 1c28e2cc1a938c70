/** Causal-LM objective on the tiny decoders: masks, padding, loss, gradients, leaks, learning, generation, PEFT refusals. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { loadHfModelFromDir, useBackend } from '../node';
import { createRng } from '../src/data/random';
import type { AdapterState } from '../src/lora/adapter-state';
import { exportPeft, importPeft, parsePeftConfig } from '../src/lora/peft';
import { LoraStack } from '../src/lora/stack';
import { activation } from '../src/model/gpt2';
import type { Gpt2Activation, HfModel } from '../src/model/hf';
import { lmHeadNll } from '../src/model/decoder/common';
import { decoderParameterCount } from '../src/model/decoder/memory';
import { writeSafetensors } from '../src/model/safetensors';
import {
  DEFAULT_SFT_TEMPLATE,
  LoraCausalLm,
  categoryHistogram,
  causalLmObjective,
  encodeRow,
  encodeRows,
  greedyGenerate,
  lmBatches,
  makeLmBatch,
  parseCausalLmJsonl,
  type CausalLmRow,
  type LmBatch,
} from '../src/objective';
import { PARITY_CASES, caseAdapter } from './hf/cases';
import { writeTinyCheckpoints } from './hf/tiny';

let models: Map<string, HfModel>;

before(async () => {
  await useBackend('wasm');
  const dirs = writeTinyCheckpoints(mkdtempSync(join(tmpdir(), 'tabfleet-clm-')));
  models = new Map();
  for (const [name, dir] of dirs) models.set(name, await loadHfModelFromDir(dir));
});

const gradReport: string[] = [];

after(() => {
  for (const m of models.values()) m.decoder.dispose();
  if (gradReport.length) console.log(`directional derivative, autodiff vs Richardson-extrapolated central differences:\n  ${gradReport.join('\n  ')}`);
});

const ROWS: CausalLmRow[] = [
  { prompt: 'capital of france', response: 'paris' },
  { prompt: 'two plus two', response: 'four, of course' },
  { text: 'the cat sat on the mat and then it went to sleep' },
  { prompt: 'colour of the sky at noon on a clear day', response: 'blue' },
];

test('SFT rows: loss on the response and EOS only; BOS from the tokenizer; truncation keeps the start', () => {
  const { tokenizer } = models.get('llama-gqa-bf16-sharded')!;
  const tok = tokenizer!;
  const eos = tok.special.eos[0]!;
  const e = encodeRow(tok, ROWS[0]!, 512);
  const prompt = tok.encode(DEFAULT_SFT_TEMPLATE.prompt.replace('{prompt}', 'capital of france'), true);
  assert.equal(prompt[0], tok.special.bos);
  const response = tok.encode('paris');
  assert.deepEqual([...e.ids], [...prompt, ...response, eos]);
  assert.deepEqual([...e.loss], [...prompt.map(() => 0), ...response.map(() => 1), 1]);
  const plain = encodeRow(tok, { text: 'hi there' }, 512);
  assert.deepEqual([...plain.loss], [0, ...Array(plain.ids.length - 1).fill(1)]);
  const prompt1 = tok.encode(DEFAULT_SFT_TEMPLATE.prompt.replace('{prompt}', 'two plus two'), true);
  const cut = encodeRow(tok, ROWS[1]!, prompt1.length + 2);
  assert.equal(cut.ids.length, prompt1.length + 2);
  assert.equal(cut.loss.reduce((a, b) => a + b, 0), 2);
  const { rows, dropped } = encodeRows(tok, ROWS, 8);
  assert.equal(dropped, 3, 'prompts longer than the limit leave no response token');
  assert.equal(rows.length, 1);
  assert.throws(() => encodeRows(tok, ROWS, 64, { prompt: 'no placeholder', appendEos: true }), /must contain "\{prompt\}"/);
  const custom = encodeRow(tok, ROWS[0]!, 64, { prompt: 'Q: {prompt}\nA: ', appendEos: false });
  assert.notEqual(custom.ids[custom.ids.length - 1], eos);
});

test('JSONL rows are parsed and bad lines are named', () => {
  assert.deepEqual(parseCausalLmJsonl('{"prompt":"a","response":"b"}\n\n{"text":"c"}\n'), [{ prompt: 'a', response: 'b' }, { text: 'c' }]);
  assert.throws(() => parseCausalLmJsonl('{"text":"c"}\n{"label":1}', 'd.jsonl'), /d\.jsonl:2: a row needs/);
  assert.throws(() => parseCausalLmJsonl('{"text":"c"}\nnot json', 'd.jsonl'), /d\.jsonl:2: not valid JSON/);
  assert.throws(() => parseCausalLmJsonl('\n', 'd.jsonl'), /no rows/);
  // Every bad row is named, none silently dropped: the whole file is refused.
  const many = ['{"text":"ok"}', '{"prompt":"p"}', 'nope', '{"text":"ok"}', '{"text":""}', ...Array.from({ length: 12 }, () => '[1]')].join('\n');
  assert.throws(
    () => parseCausalLmJsonl(many, 'm.jsonl'),
    (e: Error) => /^m\.jsonl: 15 bad rows \(the file is refused; fix them\): m\.jsonl:2: a row needs .*; m\.jsonl:3: not valid JSON .*; m\.jsonl:5: a row needs .*; m\.jsonl:6: .*; and 5 more$/.test(e.message),
  );
});

test('mixed-length batches: targets shift by one, padding never changes a row\'s loss', async () => {
  const { decoder, tokenizer } = models.get('gpt2-tied')!;
  const { rows } = encodeRows(tokenizer!, ROWS, 64);
  const batch = makeLmBatch(rows);
  assert.equal(batch.tokens.seqLen, Math.max(...rows.map((r) => r.ids.length)));
  const r0 = rows[0]!;
  for (let i = 0; i + 1 < r0.ids.length; i++) assert.equal(batch.targets[i], r0.loss[i + 1] ? r0.ids[i + 1] : -1);
  for (let i = r0.ids.length - 1; i < batch.tokens.seqLen; i++) assert.equal(batch.targets[i], -1);
  const lm = new LoraCausalLm(decoder, { depth: 2, lora: PARITY_CASES[0]!.lora, learningRate: 1e-3, seed: 3 });
  lm.setAdapter(caseAdapter(decoder, PARITY_CASES[0]!));
  try {
    const together = await lm.evaluate([batch]);
    const alone = await lm.evaluate(rows.map((r) => makeLmBatch([r])));
    assert.equal(together.tokens, alone.tokens);
    assert.ok(Math.abs(together.loss - alone.loss) < 1e-5, `${together.loss} vs ${alone.loss}`);
    assert.ok(Math.abs(together.perplexity - Math.exp(together.loss)) < 1e-9);
    // The selected-row loss equals log-softmax of the full logits at the target positions.
    const logits = lm.logits(batch.tokens);
    const lsm = tf.logSoftmax(logits);
    const values = (await lsm.data()) as Float32Array;
    tf.dispose([logits, lsm]);
    let sum = 0;
    batch.targets.forEach((t, p) => {
      if (t >= 0) sum -= values[p * decoder.vocabSize + t]!;
    });
    assert.ok(Math.abs(sum / batch.lossTokens - together.loss) < 1e-5);
  } finally {
    lm.dispose();
  }
});

function perturbed(state: AdapterState, dir: AdapterState, eps: number): AdapterState {
  const out: AdapterState = new Map();
  for (const [k, ts] of state) {
    out.set(k, new Map([...ts].map(([n, t]) => [n, { shape: t.shape, data: t.data.map((v, i) => v + eps * dir.get(k)!.get(n)!.data[i]!) }])));
  }
  return out;
}

for (const name of ['gpt2-tied', 'llama-gqa-bf16-sharded', 'qwen2-bias-headdim']) {
  test(`${name}: LoRA gradients agree with central finite differences`, async () => {
    const { decoder, tokenizer } = models.get(name)!;
    const c = PARITY_CASES.find((p) => p.model === name)!;
    const depth = Math.max(...c.layers) + 1 - Math.min(...c.layers);
    const lm = new LoraCausalLm(decoder, { depth, lora: c.lora, learningRate: 1e-3, seed: 1 });
    try {
      const state = caseAdapter(decoder, c);
      lm.setAdapter(state);
      const batch = makeLmBatch(encodeRows(tokenizer!, ROWS, 48).rows);
      const { loss, gradients } = await lm.computeGradients(batch);
      const rng = createRng(99);
      const dir: AdapterState = new Map([...state].map(([k, ts]) => [k, new Map([...ts].map(([n, t]) => [n, { shape: t.shape, data: t.data.map(() => 2 * rng.next() - 1) }]))]));
      let analytic = 0;
      for (const [k, ts] of gradients) for (const [n, g] of ts) g.data.forEach((v, i) => (analytic += v * dir.get(k)!.get(n)!.data[i]!));
      const central = async (eps: number) => {
        lm.setAdapter(perturbed(state, dir, eps));
        const up = await lm.loss(batch);
        lm.setAdapter(perturbed(state, dir, -eps));
        return (up - (await lm.loss(batch))) / (2 * eps);
      };
      // Richardson extrapolation of two central differences cancels their O(ε²) error (the loss is
      // strongly curved along a direction that moves every LoRA matrix at once).
      const [d1, d2] = [await central(4e-3), await central(2e-3)];
      const numeric = (4 * d2 - d1) / 3;
      gradReport.push(`${name}: ${analytic.toFixed(6)} vs ${numeric.toFixed(6)} (relative ${(Math.abs(numeric - analytic) / Math.abs(analytic)).toExponential(1)})`);
      assert.ok(Number.isFinite(loss) && Math.abs(analytic) > 1e-2, `degenerate direction (${analytic})`);
      assert.ok(Math.abs(numeric - analytic) <= 5e-3 * Math.abs(analytic) + 1e-3, `directional derivative: autodiff ${analytic}, finite differences ${numeric} (${d1}, ${d2})`);
      // Every trained tensor has a gradient of its own shape.
      for (const [k, ts] of state) for (const [n, t] of ts) assert.deepEqual(gradients.get(k)?.get(n)?.shape, t.shape, `${k}/${n}`);
    } finally {
      lm.dispose();
    }
  });
}

test('training steps leak no tensors, and training lowers the loss', async () => {
  const { decoder, tokenizer } = models.get('llama-gqa-bf16-sharded')!;
  const { rows } = encodeRows(tokenizer!, ROWS, 64);
  const lm = new LoraCausalLm(decoder, { depth: 2, lora: { rank: 4, alpha: 8, targets: ['self_attn.q_proj', 'self_attn.v_proj', 'mlp.down_proj'], dropout: 0.1 }, learningRate: 2e-2, seed: 5 });
  try {
    const batches: LmBatch[] = [...lmBatches(rows, 2)];
    const before = await lm.evaluate(batches);
    for (const b of batches) await lm.trainStep(b);
    const n = tf.memory().numTensors;
    for (let s = 0; s < 30; s++) await lm.trainStep(batches[s % batches.length]!);
    await lm.evaluate(batches);
    await greedyGenerate(decoder, [1, 2, 3], { maxNewTokens: 3, stack: lm.stack });
    assert.equal(tf.memory().numTensors, n, 'tensor count after 30 steps, an evaluation and a generation');
    const afterEval = await lm.evaluate(batches);
    assert.ok(afterEval.loss < before.loss - 0.5, `loss ${before.loss} → ${afterEval.loss}`);
    assert.equal(lm.getAdapter().size, 2);
    assert.deepEqual(lm.trainedKeys, ['1', '2']);
  } finally {
    lm.dispose();
  }
});

test('greedy generation: argmax of the full forward, with its log-probability, stops at EOS', async () => {
  const { decoder } = models.get('gpt2-untied-f16')!;
  const prompt = [5, 17, 200, 3];
  const out = await greedyGenerate(decoder, prompt, { maxNewTokens: 4 });
  assert.equal(out.length, 4);
  const ids = [...prompt, ...out.map((t) => t.id)];
  const tokens = { ids: Int32Array.from(ids), lengths: Int32Array.of(ids.length), batch: 1, seqLen: ids.length };
  const lsm = tf.tidy(() => {
    const ctx = decoder.prepare(tokens);
    let x = decoder.embed(tokens);
    for (const b of decoder.blocks) x = decoder.runBlock(b.index, x, ctx);
    return tf.logSoftmax(decoder.logits(tf.reshape(x, [ids.length, decoder.hidden]) as tf.Tensor2D));
  });
  const v = (await lsm.data()) as Float32Array;
  lsm.dispose();
  out.forEach((t, i) => {
    const row = v.subarray((prompt.length - 1 + i) * decoder.vocabSize, (prompt.length + i) * decoder.vocabSize);
    assert.equal(t.id, row.indexOf(Math.max(...row)));
    assert.ok(Math.abs(t.logProb - row[t.id]!) < 1e-5);
  });
  const stopped = await greedyGenerate(decoder, prompt, { maxNewTokens: 4, stopIds: [out[1]!.id] });
  assert.deepEqual(stopped.map((t) => t.id), out.slice(0, 2).map((t) => t.id));
});

test('PEFT import refuses what it does not implement, by name', () => {
  const { decoder } = models.get('llama-gqa-bf16-sharded')!;
  const base = { peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 2, lora_alpha: 4, target_modules: ['q_proj'], bias: 'none' };
  assert.throws(() => parsePeftConfig({ ...base, use_dora: true }), /DoRA \(use_dora: true\) is not supported/);
  assert.throws(() => parsePeftConfig({ ...base, rank_pattern: { q_proj: 4 } }), /rank_pattern/);
  assert.throws(() => parsePeftConfig({ ...base, alpha_pattern: { q_proj: 4 } }), /alpha_pattern/);
  assert.throws(() => parsePeftConfig({ ...base, lora_bias: true }), /lora_bias: true is not supported/);
  assert.throws(() => parsePeftConfig({ ...base, bias: 'all' }), /bias "all"/);
  assert.throws(() => parsePeftConfig({ ...base, peft_type: 'IA3' }), /peft_type "IA3"/);
  assert.throws(() => parsePeftConfig({ ...base, target_modules: '.*q_proj' }), /regular-expression target_modules/);
  assert.throws(() => parsePeftConfig({ ...base, modules_to_save: ['lm_head'] }), /modules_to_save \(lm_head/);
  assert.equal(parsePeftConfig({ ...base, use_rslora: true }).alpha, 4 * Math.sqrt(2));
  const w = (names: Array<[string, number[]]>) => writeSafetensors(names.map(([name, shape]) => ({ name, shape, data: new Float32Array(shape[0]! * shape[1]!) })));
  const key = 'base_model.model.model.layers.0.self_attn.q_proj';
  assert.throws(() => importPeft(decoder, base, w([[`${key}.lora_A.weight`, [2, 32]], [`${key}.lora_B.weight`, [32, 2]], [`${key}.lora_magnitude_vector`, [1, 32]]])), /lora_magnitude_vector" is not a LoRA matrix .* \(DoRA\)/);
  assert.throws(() => importPeft(decoder, base, w([[`${key}.lora_A.weight`, [3, 32]], [`${key}.lora_B.weight`, [32, 2]]])), /has shape \[3,32\], the model and r=2 imply \[2,32\]/);
  assert.throws(() => importPeft(decoder, base, w([[`${key}.lora_A.weight`, [2, 32]]])), /lacks self_attn\.q_proj's lora_B/);
  assert.throws(() => importPeft(decoder, { ...base, fan_in_fan_out: true }, w([[`${key}.lora_A.weight`, [2, 32]], [`${key}.lora_B.weight`, [32, 2]]])), /fan_in_fan_out=true does not fit llama/);
  const ok = importPeft(decoder, base, w([[`${key}.lora_A.weight`, [2, 32]], [`${key}.lora_B.weight`, [32, 2]]]));
  assert.deepEqual(ok.layers, [0]);
  assert.deepEqual(ok.lora.targets, ['self_attn.q_proj']);
});

test('the objective facade: categories, seeded passes over every row, planner memory per depth', async () => {
  const { decoder, tokenizer, config } = models.get('qwen2-bias-headdim')!;
  const jsonl = ROWS.map((r, i) => JSON.stringify({ ...r, topic: i % 2 ? 'math' : 'geo' })).join('\n');
  const rows = parseCausalLmJsonl(jsonl, 't.jsonl', { categoryField: 'topic' });
  assert.deepEqual(categoryHistogram(rows, ['geo', 'math']), [2, 2]);
  assert.throws(() => parseCausalLmJsonl('{"text":"a"}', 't.jsonl', { categoryField: 'topic' }), /t\.jsonl:1: field "topic" must be a string or number/);
  assert.throws(() => categoryHistogram(rows, ['geo']), /category "math" is not one of/);
  const obj = causalLmObjective(tokenizer!, { train: rows, evaluation: rows.slice(0, 2) }, { maxTokens: 64, batchSize: 3 });
  const it = obj.trainingBatches(7);
  const seen: number[] = [];
  for (let k = 0; k < 2; k++) seen.push(it.next().value!.tokens.batch);
  assert.deepEqual(seen, [3, 1], 'one pass = ceil(4 / 3) batches, the last one short');
  const lora = { rank: 2, alpha: 4, targets: ['self_attn.q_proj' as const], dropout: 0 };
  const mem = obj.memoryBytesByDepth(config, lora);
  assert.equal(mem.length, decoder.blocks.length);
  assert.ok(mem[1]! > mem[0]!);
  const lm = obj.trainer(decoder, { depth: 1, lora, learningRate: 1e-2, seed: 1 });
  const e = await lm.evaluate(obj.evaluationBatches());
  assert.ok(e.tokens > 0 && Number.isFinite(e.loss));
  lm.dispose();
});

test('computed parameter count equals the checkpoint\'s tensors', () => {
  for (const [name, m] of models) {
    const ours = decoderParameterCount(m.config);
    // Tied heads are stored once; our count has no mask buffers.
    const expected: Record<string, number> = {
      'gpt2-tied': 288 * 32 + 64 * 32 + 3 * (4 * 32 + 32 * 96 + 96 + 32 * 32 + 32 + 32 * 128 + 128 + 128 * 32 + 32) + 64,
      'gpt2-untied-f16': 2 * 288 * 24 + 32 * 24 + 2 * (4 * 24 + 24 * 72 + 72 + 24 * 24 + 24 + 24 * 40 + 40 + 40 * 24 + 24) + 48,
      'llama-gqa-bf16-sharded': 288 * 32 + 3 * (64 + 32 * 32 + 2 * 32 * 16 + 32 * 32 + 3 * 32 * 48) + 32,
      'qwen2-bias-headdim': 2 * 288 * 32 + 2 * (64 + 32 * 48 + 2 * 32 * 12 + 48 * 32 + 3 * 32 * 40 + 48 + 24) + 32,
      'llama-bias-linear-rope-f16': 2 * 288 * 24 + 2 * (48 + 4 * 24 * 24 + 3 * 24 * 36 + 72 + 24 + 2 * 36 + 24) + 24,
    };
    assert.equal(ours, expected[name], name);
  }
});

test('chunked LM-head NLL: same values and input gradients as the plain log-softmax, in any chunk size', () => {
  const rng = createRng(4);
  const [m, d, v] = [7, 5, 11];
  const W = tf.tensor2d(Float32Array.from({ length: v * d }, () => 2 * rng.next() - 1), [v, d]);
  const WT = tf.transpose(W) as tf.Tensor2D;
  const h = tf.tensor2d(Float32Array.from({ length: m * d }, () => 2 * rng.next() - 1), [m, d]);
  const ids = Int32Array.from({ length: m }, () => rng.int(v));
  const weights = tf.tensor1d(Float32Array.from({ length: m }, () => rng.next()));
  const plain = (x: tf.Tensor2D) => tf.neg(tf.sum(tf.mul(tf.logSoftmax(tf.matMul(x, WT)), tf.oneHot(tf.tensor1d(ids, 'int32'), v)), 1));
  const ref = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(plain(x as tf.Tensor2D), weights)))(h);
  const refV = plain(h).dataSync();
  for (const chunk of [1, 3, 7, 100]) {
    const vals = lmHeadNll(h, ids, WT, W, chunk).dataSync();
    refV.forEach((r, i) => assert.ok(Math.abs(r - vals[i]!) < 1e-5, `value ${i} chunk ${chunk}`));
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(lmHeadNll(x as tf.Tensor2D, ids, WT, W, chunk), weights)))(h).dataSync();
    ref.dataSync().forEach((r, i) => assert.ok(Math.abs(r - g[i]!) < 1e-5, `gradient ${i} chunk ${chunk}`));
  }
  tf.dispose([W, WT, h, weights, ref]);
});

test('train → PEFT export → import into a fresh model: identical greedy tokens and log-probabilities', async () => {
  const { decoder, tokenizer } = models.get('gpt2-tied')!;
  const lora = { rank: 4, alpha: 8, targets: ['attn.c_attn', 'mlp.c_fc'] as const, dropout: 0 };
  const lm = new LoraCausalLm(decoder, { depth: 2, lora: { ...lora, targets: [...lora.targets] }, learningRate: 2e-2, seed: 9 });
  const batch = makeLmBatch(encodeRows(tokenizer!, ROWS, 48).rows);
  for (let s = 0; s < 5; s++) await lm.trainStep(batch);
  const prompt = tokenizer!.encode('capital of france');
  const before = await greedyGenerate(decoder, prompt, { maxNewTokens: 6, stack: lm.stack });
  const exp = exportPeft(decoder, { ...lora, targets: [...lora.targets] }, lm.getAdapter());
  lm.dispose();
  const back = importPeft(decoder, exp.config, exp.weights);
  const stack = new LoraStack(decoder, decoder.blocks.length, back.lora, 0);
  stack.setBlocks(back.state);
  const after = await greedyGenerate(decoder, prompt, { maxNewTokens: 6, stack });
  stack.dispose();
  assert.deepEqual(after, before);
  const base = await greedyGenerate(decoder, prompt, { maxNewTokens: 6 });
  assert.notDeepEqual(base, before, 'the adapter changes the output');
});

test('KV-cached generation = full recomputation (tokens and log-probabilities), with and without LoRA, no leaks', async () => {
  for (const name of ['gpt2-tied', 'llama-gqa-bf16-sharded', 'qwen2-bias-headdim']) {
    const { decoder } = models.get(name)!;
    const c = PARITY_CASES.find((p) => p.model === name)!;
    const stack = new LoraStack(decoder, decoder.blocks.length, c.lora, 0);
    stack.setBlocks(caseAdapter(decoder, c));
    try {
      for (const s of [undefined, stack]) {
        const prompt = [3, 100, 7, 250, 12];
        const full = await greedyGenerate(decoder, prompt, { maxNewTokens: 8, kvCache: false, ...(s ? { stack: s } : {}) });
        const n = tf.memory().numTensors;
        const cached = await greedyGenerate(decoder, prompt, { maxNewTokens: 8, ...(s ? { stack: s } : {}) });
        assert.equal(tf.memory().numTensors, n, `${name}: the cache is freed`);
        assert.deepEqual(cached.map((t) => t.id), full.map((t) => t.id), name);
        cached.forEach((t, i) => assert.ok(Math.abs(t.logProb - full[i]!.logProb) < 1e-4, `${name} token ${i}: ${t.logProb} vs ${full[i]!.logProb}`));
      }
    } finally {
      stack.dispose();
    }
  }
});

test('GPT-2 activations: values and gradients (gelu_new, exact gelu, relu, silu)', () => {
  const xs = [-2.5, -1, -0.1, 0.3, 1, 3];
  const erf = (z: number) => {
    // Abramowitz–Stegun 7.1.26 is too coarse; integrate instead (Simpson, 2000 steps).
    const n = 2000;
    const h = z / n;
    let s = 0;
    for (let i = 0; i <= n; i++) s += (i === 0 || i === n ? 1 : i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
    return ((2 / Math.sqrt(Math.PI)) * s * h) / 3;
  };
  const ref: Record<Gpt2Activation, (x: number) => number> = {
    gelu_new: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
    gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
    relu: (x) => Math.max(0, x),
    silu: (x) => x / (1 + Math.exp(-x)),
  };
  const x = tf.tensor2d([xs]);
  for (const kind of Object.keys(ref) as Gpt2Activation[]) {
    const y = activation(kind, x).dataSync();
    const g = tf.grad((t: tf.Tensor) => tf.sum(activation(kind, t as tf.Tensor2D)))(x).dataSync();
    xs.forEach((v, i) => {
      assert.ok(Math.abs(y[i]! - ref[kind](v)) < 1e-5, `${kind}(${v})`);
      const fd = (ref[kind](v + 1e-4) - ref[kind](v - 1e-4)) / 2e-4;
      assert.ok(Math.abs(g[i]! - fd) < 1e-3, `${kind}'(${v}): ${g[i]} vs ${fd}`);
    });
  }
  x.dispose();
});
