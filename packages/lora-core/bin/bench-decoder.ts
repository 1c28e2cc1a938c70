/**
 * Cost of a causal-LM LoRA training step per fine-tuning depth for a decoder (Node, wasm or cpu):
 * median ms per step (forward + backward + Adam), trainable parameters, adapter upload bytes, the
 * wasm heap high-water mark, and the computed step memory the planner would use.
 *
 *   npm run bench:core -- --shape gpt2-small            (random weights of that shape, built here)
 *   npm run bench:core -- --shape smollm2-135m
 *   npm run bench:core -- --model DIR [--depths 1,2,4] [--batch 2] [--seq 64] [--steps 3]
 *   npm run bench:core -- --shape gpt2-small --save DIR [--save-dtype BF16]   (writes an HF directory of that shape)
 *
 * Depths are warmed up in increasing order, so the heap high-water mark after a depth is that
 * depth's peak (memory grows with depth); timed steps then go round-robin over the depths so load
 * changes hit every depth alike. Figures on a shared machine are inflated by the other load.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { loadHfModelFromDir, useBackend, type NodeBackend } from '../node';
import {
  Gpt2Decoder,
  LlamaDecoder,
  LoraCausalLm,
  decoderParameterCount,
  decoderStepBytes,
  encodeAdapter,
  makeLmBatch,
  median,
  parseDecoderConfig,
  writeSafetensors,
  type CausalDecoder,
  type FloatDtype,
  type TensorToWrite,
  type DecoderConfig,
  type LoraTarget,
} from '../src';
import type { Gpt2Weights } from '../src/model/gpt2';
import type { LlamaWeights } from '../src/model/llama';
import { formatTable, num } from './format-table';

/** config.json contents of the published checkpoints these shapes copy. */
export const SHAPES: Record<string, Record<string, unknown>> = {
  'gpt2-small': { model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5 },
  'smollm2-135m': {
    model_type: 'llama',
    vocab_size: 49152,
    hidden_size: 576,
    intermediate_size: 1536,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 100000,
    tie_word_embeddings: true,
  },
};

/** Fast deterministic fill (xorshift) with values in [-scale, scale) + offset. */
function fill(n: number, scale: number, offset = 0, seed = { s: 0x9e3779b9 }): Float32Array {
  const a = new Float32Array(n);
  let x = seed.s;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    a[i] = offset + ((x >>> 0) / 4294967296 - 0.5) * 2 * scale;
  }
  seed.s = x;
  return a;
}

export function randomDecoder(c: DecoderConfig): CausalDecoder {
  const s = { s: 0x9e3779b9 };
  const w = (n: number, scale = 0.02) => fill(n, scale, 0, s);
  const ones = (n: number) => fill(n, 0.01, 1, s);
  if (c.family === 'gpt2') {
    const d = c.hidden;
    const pair = (i: number, o: number): [Float32Array, Float32Array] => [w(i * o), w(o)];
    const weights: Gpt2Weights = {
      wte: w(c.vocabSize * d),
      wpe: w(c.maxPositions * d),
      layers: Array.from({ length: c.layers }, () => ({
        ln1: [ones(d), w(d)],
        cAttn: pair(d, 3 * d),
        attnProj: pair(d, d),
        ln2: [ones(d), w(d)],
        cFc: pair(d, c.inner),
        mlpProj: pair(c.inner, d),
      })),
      lnF: [ones(d), w(d)],
      ...(c.tieWordEmbeddings ? {} : { lmHead: w(c.vocabSize * d) }),
    };
    return new Gpt2Decoder(c, weights);
  }
  const d = c.hidden;
  const q = c.heads * c.headDim;
  const kv = c.kvHeads * c.headDim;
  const lin = (i: number, o: number, bias: boolean) => ({ w: w(i * o), ...(bias ? { b: w(o) } : {}) });
  const weights: LlamaWeights = {
    embed: w(c.vocabSize * d),
    layers: Array.from({ length: c.layers }, () => ({
      inputNorm: ones(d),
      q: lin(d, q, c.qkvBias),
      k: lin(d, kv, c.qkvBias),
      v: lin(d, kv, c.qkvBias),
      o: lin(q, d, c.oBias),
      postNorm: ones(d),
      gate: lin(d, c.intermediate, c.mlpBias),
      up: lin(d, c.intermediate, c.mlpBias),
      down: lin(c.intermediate, d, c.mlpBias),
    })),
    norm: ones(d),
    ...(c.tieWordEmbeddings ? {} : { lmHead: w(c.vocabSize * d) }),
  };
  return new LlamaDecoder(c, weights);
}

/** HF tensor names and shapes of a config, filled like randomDecoder's weights. */
export function stateDict(c: DecoderConfig): TensorToWrite[] {
  const s = { s: 0x9e3779b9 };
  const out: TensorToWrite[] = [];
  const add = (name: string, shape: number[], scale = 0.02, offset = 0) => out.push({ name, shape, data: fill(shape.reduce((x, y) => x * y, 1), scale, offset, s) });
  const d = c.hidden;
  if (c.family === 'gpt2') {
    add('transformer.wte.weight', [c.vocabSize, d]);
    add('transformer.wpe.weight', [c.maxPositions, d]);
    for (let i = 0; i < c.layers; i++) {
      const p = `transformer.h.${i}.`;
      add(`${p}ln_1.weight`, [d], 0.01, 1);
      add(`${p}ln_1.bias`, [d]);
      add(`${p}attn.c_attn.weight`, [d, 3 * d]);
      add(`${p}attn.c_attn.bias`, [3 * d]);
      add(`${p}attn.c_proj.weight`, [d, d]);
      add(`${p}attn.c_proj.bias`, [d]);
      add(`${p}ln_2.weight`, [d], 0.01, 1);
      add(`${p}ln_2.bias`, [d]);
      add(`${p}mlp.c_fc.weight`, [d, c.inner]);
      add(`${p}mlp.c_fc.bias`, [c.inner]);
      add(`${p}mlp.c_proj.weight`, [c.inner, d]);
      add(`${p}mlp.c_proj.bias`, [d]);
    }
    add('transformer.ln_f.weight', [d], 0.01, 1);
    add('transformer.ln_f.bias', [d]);
    if (!c.tieWordEmbeddings) add('lm_head.weight', [c.vocabSize, d]);
    return out;
  }
  const q = c.heads * c.headDim;
  const kv = c.kvHeads * c.headDim;
  const lin = (name: string, i: number, o: number, bias: boolean) => {
    add(`${name}.weight`, [o, i]);
    if (bias) add(`${name}.bias`, [o]);
  };
  add('model.embed_tokens.weight', [c.vocabSize, d]);
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}.`;
    add(`${p}input_layernorm.weight`, [d], 0.01, 1);
    lin(`${p}self_attn.q_proj`, d, q, c.qkvBias);
    lin(`${p}self_attn.k_proj`, d, kv, c.qkvBias);
    lin(`${p}self_attn.v_proj`, d, kv, c.qkvBias);
    lin(`${p}self_attn.o_proj`, q, d, c.oBias);
    add(`${p}post_attention_layernorm.weight`, [d], 0.01, 1);
    lin(`${p}mlp.gate_proj`, d, c.intermediate, c.mlpBias);
    lin(`${p}mlp.up_proj`, d, c.intermediate, c.mlpBias);
    lin(`${p}mlp.down_proj`, c.intermediate, d, c.mlpBias);
  }
  add('model.norm.weight', [d], 0.01, 1);
  if (!c.tieWordEmbeddings) add('lm_head.weight', [c.vocabSize, d]);
  return out;
}

function wasmHeapBytes(): number | undefined {
  const b = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return b.wasm?.HEAPU8?.buffer.byteLength;
}

const mib = (b: number | undefined) => (b === undefined ? '-' : (b / 2 ** 20).toFixed(0));

export async function benchDecoder(argv: string[]): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      shape: { type: 'string' },
      depths: { type: 'string' },
      batch: { type: 'string', default: '2' },
      seq: { type: 'string', default: '64' },
      steps: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      rank: { type: 'string', default: '8' },
      targets: { type: 'string', default: 'default' },
      backend: { type: 'string', default: 'wasm' },
      save: { type: 'string' },
      'save-dtype': { type: 'string', default: 'F32' },
    },
    strict: true,
  });
  if (!!a.model === !!a.shape) throw new Error(`give exactly one of --model DIR or --shape ${Object.keys(SHAPES).join('|')}`);
  if (a.backend !== 'wasm' && a.backend !== 'cpu') throw new Error(`--backend: wasm or cpu, got "${a.backend}"`);
  const t0 = performance.now();
  await useBackend(a.backend as NodeBackend);
  let decoder: CausalDecoder;
  let config: DecoderConfig;
  let what: string;
  if (a.shape) {
    const raw = SHAPES[a.shape];
    if (!raw) throw new Error(`--shape: one of ${Object.keys(SHAPES).join(', ')}, got "${a.shape}"`);
    config = parseDecoderConfig(raw, a.shape);
    if (a.save) {
      // An HF directory of that shape (config.json + model.safetensors), to time loading with --model.
      const dtype = a['save-dtype'] as FloatDtype;
      if (!['F32', 'F16', 'BF16'].includes(dtype)) throw new Error(`--save-dtype: F32, F16 or BF16, got "${dtype}"`);
      if (existsSync(a.save) && readdirSync(a.save).length > 0) throw new Error(`${a.save} exists and is not empty`);
      mkdirSync(a.save, { recursive: true });
      writeFileSync(join(a.save, 'config.json'), JSON.stringify({ ...raw, _name_or_path: `tabfleet/random-${a.shape}` }, null, 2));
      writeFileSync(join(a.save, 'model.safetensors'), writeSafetensors(stateDict(config).map((t) => ({ ...t, dtype })), { format: 'pt' }));
      console.log(`wrote ${a.save} (${a.shape}, ${dtype}); time its loading with --model ${a.save}`);
      return;
    }
    decoder = randomDecoder(config);
    what = `${a.shape} shape, random weights`;
  } else {
    const m = await loadHfModelFromDir(a.model!, { tokenizer: false });
    decoder = m.decoder;
    config = m.config;
    what = a.model!;
  }
  const loadS = (performance.now() - t0) / 1000;
  const layers = decoder.blocks.length;
  const depths = a.depths
    ? a.depths.split(',').map((s) => num('depths', s.trim()))
    : [...new Set([1, 2, 4, 8, 16, 32, layers].filter((d) => d <= layers))].sort((x, y) => x - y);
  for (const d of depths) if (d < 1 || d > layers) throw new Error(`--depths: ${d} outside 1..${layers}`);
  const batch = num('batch', a.batch);
  const seq = num('seq', a.seq);
  const steps = num('steps', a.steps);
  const warmup = num('warmup', a.warmup);
  const rank = num('rank', a.rank);
  const targets: LoraTarget[] = a.targets === 'default' ? [...decoder.defaultLoraTargets] : a.targets === 'all' ? decoder.blocks[0]!.linears.map((l) => l.target) : (a.targets.split(',') as LoraTarget[]);
  if (seq > decoder.maxSeqLen) throw new Error(`--seq ${seq} exceeds the model's ${decoder.maxSeqLen} positions`);
  // A fixed batch of random ids; every position after the first carries loss (plain LM).
  let x = 12345;
  const rows = Array.from({ length: batch }, () => {
    const ids = Int32Array.from({ length: seq }, () => ((x = (x * 1103515245 + 12345) >>> 0) % decoder.vocabSize));
    const loss = new Uint8Array(seq).fill(1);
    loss[0] = 0;
    return { ids, loss };
  });
  const lmBatch = makeLmBatch(rows);
  console.log(`[${a.backend}] ${what}: ${decoderParameterCount(config).toLocaleString('en')} parameters, ${layers} layers, loaded in ${loadS.toFixed(1)} s · load ${loadavg()[0]?.toFixed(1)}`);
  const table: string[][] = [['depth', 'ms/step', 'range', '×top', 'trainable', 'adapter bytes', 'peak tensors MiB', 'computed MiB', 'wasm heap MiB']];
  const lms = depths.map((depth) => new LoraCausalLm(decoder, { depth, lora: { rank, alpha: 2 * rank, targets, dropout: 0 }, learningRate: 1e-4, seed: 1 }));
  const heap: Array<number | undefined> = [];
  const peak: number[] = [];
  const ms: number[][] = depths.map(() => []);
  try {
    // Warm-up in increasing depth: the heap high-water mark after depth d's warm-up is d's peak.
    // One profiled step per depth gives the exact peak of live tensor bytes during a step.
    for (const lm of lms) {
      for (let i = 0; i < warmup; i++) await lm.trainStep(lmBatch);
      peak.push((await tf.profile(() => lm.trainStep(lmBatch))).peakBytes);
      heap.push(wasmHeapBytes());
    }
    // Timed steps round-robin over the depths, so a change in machine load hits every depth alike.
    for (let i = 0; i < steps; i++) {
      for (const [k, lm] of lms.entries()) {
        const s = performance.now();
        await lm.trainStep(lmBatch);
        ms[k]!.push(performance.now() - s);
      }
      console.log(`[${a.backend}] round ${i + 1}/${steps}: ${ms.map((m, k) => `d${depths[k]} ${m[i]!.toFixed(0)}`).join(', ')} ms`);
    }
    const top = median(ms[ms.length - 1]!);
    lms.forEach((lm, k) => {
      const depth = depths[k]!;
      const m = ms[k]!;
      const computed = decoderStepBytes(config, depth, { batch, seqLen: seq, rank, targetsPerLayer: targets.length });
      table.push([
        `${depth}`,
        median(m).toFixed(0),
        m.length > 1 ? `${Math.min(...m).toFixed(0)}–${Math.max(...m).toFixed(0)}` : '-',
        (median(m) / top).toFixed(2),
        lm.trainableParameters.toLocaleString('en'),
        encodeAdapter(lm.getAdapter()).byteLength.toLocaleString('en'),
        mib(peak[k]),
        mib(computed),
        mib(heap[k]),
      ]);
    });
  } finally {
    for (const lm of lms) lm.dispose();
  }
  console.log(`\n${what} · LoRA rank ${rank} (alpha ${2 * rank}) on ${targets.join(', ')} · batch ${batch} × ${seq} tokens, plain-LM loss on ${lmBatch.lossTokens} tokens · Adam`);
  console.log(`ms/step = median wall ms of forward + backward + Adam over ${steps} round-robin step(s) after ${warmup} warm-up; ×top = ratio to depth ${depths[depths.length - 1]};`);
  console.log('peak tensors = tf.profile peakBytes of one step (weights included); wasm heap = the backend\'s reserved heap after that depth (high-water, depths warmed in increasing order);');
  console.log('computed = decoderStepBytes(config, depth, …): weights + taped activations + LM head on the loss tokens (the planner\'s memoryBytesByDepth)\n');
  console.log(formatTable(table, 1));
  console.log(`wall time ${((performance.now() - t0) / 1000).toFixed(0)} s · load average now ${loadavg().map((v) => v.toFixed(1)).join(' ')}`);
  decoder.dispose();
}
