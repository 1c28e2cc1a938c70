/**
 * What the LoRA and federated layers need from a model family: the `Backbone`. A family exposes its
 * transformer as a stack of blocks numbered from the input, plus a frozen "embed" end. LoRA adapters
 * attach to named linear maps inside blocks; fine-tuning depth counts blocks from the output, and the
 * adapter state is keyed by block, so the federated code never sees the family.
 *
 * - `TextEncoder` (USE-lite): each attention sub-block and each FFN sub-block is one block; a frozen
 *   "pool" end feeds a classification head.
 * - `CausalDecoder` (GPT-2, Llama family): each decoder layer is one block, so depth counts decoder
 *   layers and block k is HF's layer k (PEFT's `layers_to_transform`); a frozen final norm + LM head
 *   gives next-token logits.
 */
import type * as tf from '@tensorflow/tfjs-core';

/** USE-lite's adapted matrices. */
export type EncoderLoraTarget = 'qkv' | 'attn_out' | 'ffn_in' | 'ffn_out';
export const ALL_LORA_TARGETS: readonly EncoderLoraTarget[] = ['qkv', 'attn_out', 'ffn_in', 'ffn_out'];
/** GPT-2's Conv1D modules, named by their path inside a layer (`h.<i>.` + name is the HF module). */
export const GPT2_LORA_TARGETS = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;
/** Llama-family linears, named by their path inside a layer (`model.layers.<i>.` + name). */
export const LLAMA_LORA_TARGETS = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.o_proj',
  'mlp.gate_proj',
  'mlp.up_proj',
  'mlp.down_proj',
] as const;
export type DecoderLoraTarget = (typeof GPT2_LORA_TARGETS)[number] | (typeof LLAMA_LORA_TARGETS)[number];
export type LoraTarget = EncoderLoraTarget | DecoderLoraTarget;
export const KNOWN_LORA_TARGETS: readonly LoraTarget[] = [...ALL_LORA_TARGETS, ...GPT2_LORA_TARGETS, ...LLAMA_LORA_TARGETS];

export interface LinearSpec {
  readonly target: LoraTarget;
  readonly inDim: number;
  readonly outDim: number;
}

export interface BlockSpec {
  readonly index: number;
  readonly kind: 'attention' | 'ffn' | 'decoder-layer';
  readonly linears: readonly LinearSpec[];
}

/** Token ids right-padded to [batch, seqLen]; lengths[i] = real tokens of row i. */
export interface TokenBatch {
  readonly ids: Int32Array;
  readonly lengths: Int32Array;
  readonly batch: number;
  readonly seqLen: number;
}

/** Per-batch tensors every block needs (masks), built once by `prepare`. */
export interface BatchContext {
  /** [batch, seqLen] 1 for real tokens, 0 for padding. */
  readonly mask: tf.Tensor2D;
  /** Additive attention bias (0 or a large negative number) broadcastable to [batch, heads, seqLen, seqLen]:
   *  [batch, 1, 1, seqLen] for the encoder (padding), [batch, 1, seqLen, seqLen] for decoders (causal + padding). */
  readonly attentionBias: tf.Tensor4D;
}

/** Extra term added to a linear map's output: LoRA's (alpha/r)·x·A·B, given the 2-D input x. */
export type LinearAdapter = (target: LoraTarget, x: tf.Tensor2D) => tf.Tensor2D | null;

/** The part every family shares: blocks, masks, frozen embedding, one block at a time. */
export interface Backbone {
  readonly family: string;
  readonly blocks: readonly BlockSpec[];
  readonly maxSeqLen: number;
  prepare(batch: TokenBatch): BatchContext;
  /** Frozen input embedding: [batch, seqLen, width of block 0's input]. */
  embed(batch: TokenBatch): tf.Tensor3D;
  runBlock(index: number, x: tf.Tensor3D, ctx: BatchContext, adapter?: LinearAdapter): tf.Tensor3D;
  dispose(): void;
}

export interface TextEncoder extends Backbone {
  /** Width of the pooled feature vector the classification head reads. */
  readonly featureDim: number;
  tokenize(texts: readonly string[]): TokenBatch;
  /** Frozen pooling from the last block's output to [batch, featureDim]. */
  pool(x: tf.Tensor3D, ctx: BatchContext): tf.Tensor2D;
}

/** One layer's cached keys and values for incremental decoding ([batch, kv heads, past, head dim]); updated in place. */
export interface LayerKv {
  k?: tf.Tensor4D;
  v?: tf.Tensor4D;
}

/** A decoder-only language model: blocks are decoder layers; `logits` is the frozen output end. */
export interface CausalDecoder extends Backbone {
  /** Context for `batch` placed after `past` cached positions (incremental decoding): causal over past + new. */
  prepareAt(batch: TokenBatch, past: number): BatchContext;
  /** Embedding of `batch` placed after `past` positions. */
  embedAt(batch: TokenBatch, past: number): tf.Tensor3D;
  /** runBlock that, given `kv`, attends over the cached keys/values too and appends this call's to it (kept tensors). */
  runBlock(index: number, x: tf.Tensor3D, ctx: BatchContext, adapter?: LinearAdapter, kv?: LayerKv): tf.Tensor3D;
  readonly kind: 'causal-lm';
  readonly vocabSize: number;
  /** Width of the residual stream. */
  readonly hidden: number;
  /** LoRA targets PEFT enables by default for this architecture. */
  readonly defaultLoraTargets: readonly DecoderLoraTarget[];
  /** HF module path of a target in layer `layer`, e.g. `transformer.h.3.attn.c_attn` (PEFT key names). */
  modulePath(layer: number, target: LoraTarget): string;
  /** Final norm (ln_f / RMSNorm) on rows of the last block's output: [n, hidden] → [n, hidden]. */
  finalNorm(x: tf.Tensor2D): tf.Tensor2D;
  /** Frozen LM head on normed rows: [n, hidden] → [n, vocabSize]. */
  lmHead(h: tf.Tensor2D): tf.Tensor2D;
  /** Rows of the LM head matrix for `ids`, [n, hidden] (a constant: the logit of token i is h·row(i)). */
  outputRows(ids: Int32Array): tf.Tensor2D;
  /** Next-token NLL [n] of normed rows for target ids, memory-bounded (no [n, vocab] tensor kept for backward). */
  lmHeadNll(h: tf.Tensor2D, ids: Int32Array): tf.Tensor1D;
  /** finalNorm then lmHead. */
  logits(x: tf.Tensor2D): tf.Tensor2D;
}
