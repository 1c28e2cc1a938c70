/**
 * Tiny random Hugging Face checkpoints written with our own safetensors writer: both families,
 * few layers, small widths, GQA with fewer KV heads than heads, tied and untied embeddings,
 * Qwen2 q/k/v biases, a sharded set with an index, and F16 / BF16 storage. Weights come from a
 * seeded uniform PRNG (integer arithmetic only), so every run writes byte-identical files; the
 * PyTorch reference (reference.py) reads these same files.
 *
 * The tokenizer is a byte-level BPE (GPT-2's byte↔unicode map, 256 byte symbols + a few merges)
 * so that the checkpoints also work end to end with text (generate, training on JSONL).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRng, type Rng } from '../../src/data/random';
import { writeSafetensors, type FloatDtype, type TensorToWrite } from '../../src/model/safetensors';

export interface TinySpec {
  readonly name: string;
  readonly config: Record<string, unknown>;
  readonly dtype: FloatDtype;
  /** Split the tensors over this many shards with model.safetensors.index.json (1 = model.safetensors). */
  readonly shards: number;
  readonly tensors: (rng: Rng) => Array<{ name: string; shape: number[]; data: Float32Array }>;
  readonly bos: boolean;
}

const MERGES = ['Ġ t', 'h e', 'Ġt he', 'i n', 'e r', 'a n', 'Ġ a', 'o n', 'r e', 'Ġ s', 'e n', 'a t', 'Ġ o', 'Ġ w', 'o r'];
export const EOT = '<|endoftext|>';
export const BOS = '<|begin_of_text|>';
/** Byte symbols + merges + two special tokens. */
export const TINY_TOKENIZER_SIZE = 256 + MERGES.length + 2;
/** Larger than the tokenizer, as real checkpoints often pad the vocabulary. */
export const TINY_VOCAB = 288;

function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const map = new Array<string>(256);
  for (const b of bs) map[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCodePoint(256 + n++);
  return map;
}

export function tinyTokenizerJson(bos: boolean): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((ch, i) => (vocab[ch] = i));
  MERGES.forEach((m, i) => (vocab[m.replace(' ', '')] = 256 + i));
  const eotId = 256 + MERGES.length;
  const bosId = eotId + 1;
  const added = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(eotId, EOT), added(bosId, BOS)],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: bos
      ? {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: BOS, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [{ SpecialToken: { id: BOS, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: { [BOS]: { id: BOS, ids: [bosId], tokens: [BOS] } },
        }
      : { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges: MERGES },
  };
}

function uniform(rng: Rng, n: number, scale: number, offset = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = offset + (2 * rng.next() - 1) * scale;
  return a;
}

function gpt2Tensors(o: { d: number; layers: number; inner: number; positions: number; prefix: string; tied: boolean; buffers: boolean }) {
  return (rng: Rng) => {
    const t: Array<{ name: string; shape: number[]; data: Float32Array }> = [];
    const add = (name: string, shape: number[], scale: number, offset = 0) => t.push({ name: o.prefix + name, shape, data: uniform(rng, shape.reduce((a, b) => a * b, 1), scale, offset) });
    const { d, inner } = o;
    add('wte.weight', [TINY_VOCAB, d], 0.5);
    add('wpe.weight', [o.positions, d], 0.3);
    for (let i = 0; i < o.layers; i++) {
      add(`h.${i}.ln_1.weight`, [d], 0.2, 1);
      add(`h.${i}.ln_1.bias`, [d], 0.1);
      add(`h.${i}.attn.c_attn.weight`, [d, 3 * d], 0.3);
      add(`h.${i}.attn.c_attn.bias`, [3 * d], 0.1);
      add(`h.${i}.attn.c_proj.weight`, [d, d], 0.3);
      add(`h.${i}.attn.c_proj.bias`, [d], 0.1);
      add(`h.${i}.ln_2.weight`, [d], 0.2, 1);
      add(`h.${i}.ln_2.bias`, [d], 0.1);
      add(`h.${i}.mlp.c_fc.weight`, [d, inner], 0.3);
      add(`h.${i}.mlp.c_fc.bias`, [inner], 0.1);
      add(`h.${i}.mlp.c_proj.weight`, [inner, d], 0.2);
      add(`h.${i}.mlp.c_proj.bias`, [d], 0.1);
      if (o.buffers) {
        // The causal-mask buffers some exports keep: must be ignored.
        const tril = new Float32Array(o.positions * o.positions);
        for (let q = 0; q < o.positions; q++) for (let k = 0; k <= q; k++) tril[q * o.positions + k] = 1;
        t.push({ name: `${o.prefix}h.${i}.attn.bias`, shape: [1, 1, o.positions, o.positions], data: tril });
        t.push({ name: `${o.prefix}h.${i}.attn.masked_bias`, shape: [], data: Float32Array.of(-1e4) });
      }
    }
    add('ln_f.weight', [d], 0.2, 1);
    add('ln_f.bias', [d], 0.1);
    if (!o.tied) t.push({ name: 'lm_head.weight', shape: [TINY_VOCAB, d], data: uniform(rng, TINY_VOCAB * d, 0.5) });
    return t;
  };
}

function llamaTensors(o: { d: number; layers: number; heads: number; kvHeads: number; headDim: number; inter: number; qkvBias: boolean; tied: boolean; prefix: string; oBias?: boolean; mlpBias?: boolean }) {
  return (rng: Rng) => {
    const t: Array<{ name: string; shape: number[]; data: Float32Array }> = [];
    const add = (name: string, shape: number[], scale: number, offset = 0) => t.push({ name: o.prefix + name, shape, data: uniform(rng, shape.reduce((a, b) => a * b, 1), scale, offset) });
    const { d, inter } = o;
    const q = o.heads * o.headDim;
    const kv = o.kvHeads * o.headDim;
    add('embed_tokens.weight', [TINY_VOCAB, d], 0.5);
    for (let i = 0; i < o.layers; i++) {
      const l = `layers.${i}`;
      add(`${l}.input_layernorm.weight`, [d], 0.2, 1);
      add(`${l}.self_attn.q_proj.weight`, [q, d], 0.3);
      add(`${l}.self_attn.k_proj.weight`, [kv, d], 0.3);
      add(`${l}.self_attn.v_proj.weight`, [kv, d], 0.3);
      if (o.qkvBias) {
        add(`${l}.self_attn.q_proj.bias`, [q], 0.2);
        add(`${l}.self_attn.k_proj.bias`, [kv], 0.2);
        add(`${l}.self_attn.v_proj.bias`, [kv], 0.2);
      }
      add(`${l}.self_attn.o_proj.weight`, [d, q], 0.3);
      if (o.oBias) add(`${l}.self_attn.o_proj.bias`, [d], 0.2);
      add(`${l}.post_attention_layernorm.weight`, [d], 0.2, 1);
      add(`${l}.mlp.gate_proj.weight`, [inter, d], 0.3);
      add(`${l}.mlp.up_proj.weight`, [inter, d], 0.3);
      add(`${l}.mlp.down_proj.weight`, [d, inter], 0.2);
      if (o.mlpBias) {
        add(`${l}.mlp.gate_proj.bias`, [inter], 0.2);
        add(`${l}.mlp.up_proj.bias`, [inter], 0.2);
        add(`${l}.mlp.down_proj.bias`, [d], 0.2);
      }
    }
    add('norm.weight', [d], 0.2, 1);
    if (!o.tied) t.push({ name: 'lm_head.weight', shape: [TINY_VOCAB, d], data: uniform(rng, TINY_VOCAB * d, 0.5) });
    return t;
  };
}

export const TINY_SPECS: readonly TinySpec[] = [
  {
    name: 'gpt2-tied',
    dtype: 'F32',
    shards: 1,
    bos: false,
    config: { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: TINY_VOCAB, n_positions: 64, n_embd: 32, n_layer: 3, n_head: 4, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, _name_or_path: 'tabfleet/tiny-gpt2' },
    tensors: gpt2Tensors({ d: 32, layers: 3, inner: 128, positions: 64, prefix: 'transformer.', tied: true, buffers: true }),
  },
  {
    name: 'gpt2-untied-f16',
    dtype: 'F16',
    shards: 1,
    bos: false,
    config: { model_type: 'gpt2', vocab_size: TINY_VOCAB, n_positions: 32, n_embd: 24, n_layer: 2, n_head: 3, n_inner: 40, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, tie_word_embeddings: false },
    tensors: gpt2Tensors({ d: 24, layers: 2, inner: 40, positions: 32, prefix: '', tied: false, buffers: false }),
  },
  {
    name: 'llama-gqa-bf16-sharded',
    dtype: 'BF16',
    shards: 2,
    bos: true,
    config: {
      model_type: 'llama',
      architectures: ['LlamaForCausalLM'],
      vocab_size: TINY_VOCAB,
      hidden_size: 32,
      intermediate_size: 48,
      num_hidden_layers: 3,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 128,
      rms_norm_eps: 1e-5,
      rope_theta: 500000,
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 },
      tie_word_embeddings: true,
      _name_or_path: 'tabfleet/tiny-llama',
    },
    tensors: llamaTensors({ d: 32, layers: 3, heads: 4, kvHeads: 2, headDim: 8, inter: 48, qkvBias: false, tied: true, prefix: 'model.' }),
  },
  {
    name: 'qwen2-bias-headdim',
    dtype: 'F32',
    shards: 1,
    bos: false,
    config: {
      model_type: 'qwen2',
      vocab_size: TINY_VOCAB,
      hidden_size: 32,
      intermediate_size: 40,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 1,
      head_dim: 12,
      max_position_embeddings: 64,
      rms_norm_eps: 1e-6,
      rope_parameters: { rope_type: 'default', rope_theta: 1000000 },
      tie_word_embeddings: false,
      use_sliding_window: false,
    },
    tensors: llamaTensors({ d: 32, layers: 2, heads: 4, kvHeads: 1, headDim: 12, inter: 40, qkvBias: true, tied: false, prefix: 'model.' }),
  },
  {
    // Bare LlamaModel keys (no "model." prefix) + lm_head, attention_bias and mlp_bias, linear rope scaling, F16.
    name: 'llama-bias-linear-rope-f16',
    dtype: 'F16',
    shards: 1,
    bos: true,
    config: {
      model_type: 'llama',
      vocab_size: TINY_VOCAB,
      hidden_size: 24,
      intermediate_size: 36,
      num_hidden_layers: 2,
      num_attention_heads: 2,
      max_position_embeddings: 64,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      rope_scaling: { type: 'linear', factor: 4 },
      attention_bias: true,
      mlp_bias: true,
    },
    tensors: llamaTensors({ d: 24, layers: 2, heads: 2, kvHeads: 2, headDim: 12, inter: 36, qkvBias: true, tied: false, prefix: '', oBias: true, mlpBias: true }),
  },
];

/** Writes every spec (or those named) under `root/<name>/`; returns the directories. */
export function writeTinyCheckpoints(root: string, names?: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const spec of TINY_SPECS) {
    if (names && !names.includes(spec.name)) continue;
    const dir = join(root, spec.name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(spec.config, null, 2));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tinyTokenizerJson(spec.bos)));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: EOT, ...(spec.bos ? { bos_token: BOS } : {}) }));
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: 256 + MERGES.length }));
    const tensors: TensorToWrite[] = spec.tensors(createRng(0x5eed + spec.name.length * 7919)).map((t) => ({ ...t, dtype: spec.dtype }));
    if (spec.shards === 1) {
      writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors, { format: 'pt' }));
    } else {
      const per = Math.ceil(tensors.length / spec.shards);
      const weightMap: Record<string, string> = {};
      for (let s = 0; s < spec.shards; s++) {
        const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(spec.shards).padStart(5, '0')}.safetensors`;
        const part = tensors.slice(s * per, (s + 1) * per);
        for (const t of part) weightMap[t.name] = file;
        writeFileSync(join(dir, file), writeSafetensors(part, { format: 'pt' }));
      }
      writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2));
    }
    out.set(spec.name, dir);
  }
  return out;
}
