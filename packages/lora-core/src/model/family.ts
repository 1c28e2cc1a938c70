/**
 * What the LoRA and federated layers need from a model family. A family exposes its transformer
 * as a stack of blocks (each attention sub-block and each FFN sub-block is one block, numbered from
 * the input) plus frozen "embed" and "pool" ends. LoRA adapters attach to named linear maps inside
 * blocks; fine-tuning depth counts blocks from the output. A second family (GPT-2-format decoders)
 * implements the same interface without touching the federated code.
 */
import type * as tf from '@tensorflow/tfjs-core';

export type LoraTarget = 'qkv' | 'attn_out' | 'ffn_in' | 'ffn_out';
export const ALL_LORA_TARGETS: readonly LoraTarget[] = ['qkv', 'attn_out', 'ffn_in', 'ffn_out'];

export interface LinearSpec {
  readonly target: LoraTarget;
  readonly inDim: number;
  readonly outDim: number;
}

export interface BlockSpec {
  readonly index: number;
  readonly kind: 'attention' | 'ffn';
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
  /** [batch, 1, 1, seqLen] additive attention bias (0 or a large negative number). */
  readonly attentionBias: tf.Tensor4D;
}

/** Extra term added to a linear map's output: LoRA's (alpha/r)·x·A·B, given the 2-D input x. */
export type LinearAdapter = (target: LoraTarget, x: tf.Tensor2D) => tf.Tensor2D | null;

export interface TextEncoder {
  readonly family: string;
  readonly blocks: readonly BlockSpec[];
  /** Width of the pooled feature vector the classification head reads. */
  readonly featureDim: number;
  readonly maxSeqLen: number;
  tokenize(texts: readonly string[]): TokenBatch;
  prepare(batch: TokenBatch): BatchContext;
  /** Frozen input embedding: [batch, seqLen, width of block 0's input]. */
  embed(batch: TokenBatch): tf.Tensor3D;
  runBlock(index: number, x: tf.Tensor3D, ctx: BatchContext, adapter?: LinearAdapter): tf.Tensor3D;
  /** Frozen pooling from the last block's output to [batch, featureDim]. */
  pool(x: tf.Tensor3D, ctx: BatchContext): tf.Tensor2D;
  dispose(): void;
}
