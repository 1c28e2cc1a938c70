/**
 * config.json of a Hugging Face checkpoint → a normalised, validated config per family. Only
 * architectures we implement exactly are accepted; every field that changes the function computed
 * and that we do not implement is refused by name rather than ignored.
 */
import { z } from 'zod';

export type Gpt2Activation = 'gelu_new' | 'gelu' | 'relu' | 'silu';

export interface Gpt2Config {
  readonly family: 'gpt2';
  readonly modelType: 'gpt2';
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly hidden: number;
  readonly layers: number;
  readonly heads: number;
  readonly inner: number;
  readonly activation: Gpt2Activation;
  readonly layerNormEps: number;
  readonly scaleAttnWeights: boolean;
  readonly scaleAttnByInverseLayerIdx: boolean;
  readonly tieWordEmbeddings: boolean;
}

export type RopeScaling =
  | { readonly type: 'default' }
  | { readonly type: 'linear'; readonly factor: number }
  | {
      readonly type: 'llama3';
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositions: number;
    };

export interface LlamaConfig {
  readonly family: 'llama';
  readonly modelType: 'llama' | 'qwen2';
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly hidden: number;
  readonly intermediate: number;
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling;
  /** Biases on q/k/v (Qwen2 always; Llama with attention_bias). */
  readonly qkvBias: boolean;
  /** Bias on o_proj (Llama with attention_bias; never Qwen2). */
  readonly oBias: boolean;
  readonly mlpBias: boolean;
  readonly tieWordEmbeddings: boolean;
}

export type DecoderConfig = Gpt2Config | LlamaConfig;

export const SUPPORTED_MODEL_TYPES = ['gpt2', 'llama', 'qwen2'] as const;

const posInt = z.number().int().positive();
const posNum = z.number().positive();

const gpt2Schema = z.object({
  model_type: z.literal('gpt2'),
  vocab_size: posInt,
  n_positions: posInt.default(1024),
  n_embd: posInt,
  n_layer: posInt,
  n_head: posInt,
  n_inner: posInt.nullish(),
  activation_function: z.string().default('gelu_new'),
  layer_norm_epsilon: posNum.default(1e-5),
  scale_attn_weights: z.boolean().default(true),
  scale_attn_by_inverse_layer_idx: z.boolean().default(false),
  tie_word_embeddings: z.boolean().default(true),
  add_cross_attention: z.boolean().default(false),
});

const ropeSchema = z
  .object({
    type: z.string().optional(),
    rope_type: z.string().optional(),
    rope_theta: posNum.optional(),
    factor: posNum.optional(),
    low_freq_factor: posNum.optional(),
    high_freq_factor: posNum.optional(),
    original_max_position_embeddings: posInt.optional(),
  })
  .nullish();

const llamaSchema = z.object({
  model_type: z.enum(['llama', 'qwen2']),
  vocab_size: posInt,
  hidden_size: posInt,
  intermediate_size: posInt,
  num_hidden_layers: posInt,
  num_attention_heads: posInt,
  num_key_value_heads: posInt.nullish(),
  head_dim: posInt.nullish(),
  hidden_act: z.string().default('silu'),
  max_position_embeddings: posInt.default(2048),
  rms_norm_eps: posNum.default(1e-6),
  rope_theta: posNum.optional(),
  rope_scaling: ropeSchema,
  rope_parameters: ropeSchema,
  attention_bias: z.boolean().default(false),
  mlp_bias: z.boolean().default(false),
  tie_word_embeddings: z.boolean().default(false),
  use_sliding_window: z.boolean().default(false),
  partial_rotary_factor: posNum.optional(),
});

function issues(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Parses config.json (text or object). `file` names the source in errors. */
export function parseDecoderConfig(raw: unknown, file = 'config.json'): DecoderConfig {
  let json = raw;
  if (typeof raw === 'string') {
    try {
      json = JSON.parse(raw);
    } catch (e) {
      throw new Error(`${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  if (typeof json !== 'object' || json === null) throw new Error(`${file} is not a JSON object`);
  const modelType = (json as { model_type?: unknown }).model_type;
  if (typeof modelType !== 'string') throw new Error(`${file} has no "model_type"`);
  if (!(SUPPORTED_MODEL_TYPES as readonly string[]).includes(modelType)) {
    throw new Error(`${file}: model_type "${modelType}" is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`);
  }
  return modelType === 'gpt2' ? parseGpt2(json, file) : parseLlama(json, file);
}

function parseGpt2(json: object, file: string): Gpt2Config {
  const r = gpt2Schema.safeParse(json);
  if (!r.success) throw new Error(`${file}: ${issues(r.error)}`);
  const c = r.data;
  if (c.add_cross_attention) throw new Error(`${file}: add_cross_attention=true (encoder-decoder GPT-2) is not supported`);
  if (c.n_embd % c.n_head !== 0) throw new Error(`${file}: n_embd ${c.n_embd} is not divisible by n_head ${c.n_head}`);
  const act = c.activation_function === 'gelu_pytorch_tanh' ? 'gelu_new' : c.activation_function;
  if (!['gelu_new', 'gelu', 'relu', 'silu'].includes(act)) {
    throw new Error(`${file}: activation_function "${c.activation_function}" is not supported (gelu_new, gelu_pytorch_tanh, gelu, relu, silu)`);
  }
  return {
    family: 'gpt2',
    modelType: 'gpt2',
    vocabSize: c.vocab_size,
    maxPositions: c.n_positions,
    hidden: c.n_embd,
    layers: c.n_layer,
    heads: c.n_head,
    inner: c.n_inner ?? 4 * c.n_embd,
    activation: act as Gpt2Activation,
    layerNormEps: c.layer_norm_epsilon,
    scaleAttnWeights: c.scale_attn_weights,
    scaleAttnByInverseLayerIdx: c.scale_attn_by_inverse_layer_idx,
    tieWordEmbeddings: c.tie_word_embeddings,
  };
}

function parseLlama(json: object, file: string): LlamaConfig {
  const r = llamaSchema.safeParse(json);
  if (!r.success) throw new Error(`${file}: ${issues(r.error)}`);
  const c = r.data;
  if (c.hidden_act !== 'silu') throw new Error(`${file}: hidden_act "${c.hidden_act}" is not supported (silu)`);
  if (c.use_sliding_window) throw new Error(`${file}: use_sliding_window=true is not supported`);
  if (c.partial_rotary_factor !== undefined && c.partial_rotary_factor !== 1) throw new Error(`${file}: partial_rotary_factor ${c.partial_rotary_factor} is not supported`);
  const kvHeads = c.num_key_value_heads ?? c.num_attention_heads;
  if (c.num_attention_heads % kvHeads !== 0) throw new Error(`${file}: num_attention_heads ${c.num_attention_heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  if (!Number.isInteger(headDim)) throw new Error(`${file}: hidden_size ${c.hidden_size} is not divisible by num_attention_heads ${c.num_attention_heads} and head_dim is not given`);
  if (headDim % 2 !== 0) throw new Error(`${file}: head_dim ${headDim} must be even for rotary embeddings`);
  // transformers ≥ 5 moves rope_theta and the scaling into rope_parameters; older files use rope_scaling.
  const rope = c.rope_parameters ?? c.rope_scaling ?? undefined;
  const ropeTheta = rope?.rope_theta ?? c.rope_theta ?? 10000;
  return {
    family: 'llama',
    modelType: c.model_type,
    vocabSize: c.vocab_size,
    maxPositions: c.max_position_embeddings,
    hidden: c.hidden_size,
    intermediate: c.intermediate_size,
    layers: c.num_hidden_layers,
    heads: c.num_attention_heads,
    kvHeads,
    headDim,
    rmsNormEps: c.rms_norm_eps,
    ropeTheta,
    ropeScaling: parseRopeScaling(rope ?? undefined, file),
    qkvBias: c.model_type === 'qwen2' ? true : c.attention_bias,
    oBias: c.model_type === 'qwen2' ? false : c.attention_bias,
    mlpBias: c.model_type === 'qwen2' ? false : c.mlp_bias,
    tieWordEmbeddings: c.tie_word_embeddings,
  };
}

function parseRopeScaling(r: z.infer<typeof ropeSchema>, file: string): RopeScaling {
  if (!r) return { type: 'default' };
  const type = r.rope_type ?? r.type ?? 'default';
  const need = <T>(v: T | undefined, name: string): T => {
    if (v === undefined) throw new Error(`${file}: rope scaling "${type}" needs "${name}"`);
    return v;
  };
  switch (type) {
    case 'default':
      return { type: 'default' };
    case 'linear':
      return { type: 'linear', factor: need(r.factor, 'factor') };
    case 'llama3': {
      const s = {
        type: 'llama3' as const,
        factor: need(r.factor, 'factor'),
        lowFreqFactor: need(r.low_freq_factor, 'low_freq_factor'),
        highFreqFactor: need(r.high_freq_factor, 'high_freq_factor'),
        originalMaxPositions: need(r.original_max_position_embeddings, 'original_max_position_embeddings'),
      };
      if (!(s.highFreqFactor > s.lowFreqFactor)) throw new Error(`${file}: rope scaling needs high_freq_factor > low_freq_factor`);
      return s;
    }
    default:
      throw new Error(`${file}: rope scaling type "${type}" is not supported (default, linear, llama3)`);
  }
}
