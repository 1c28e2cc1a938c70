/**
 * Memory of a LoRA causal-LM training step, computed from the config (float32 everywhere): the
 * weights (plus the transposed LM-head copy), the activations the tape keeps for each trained layer,
 * one frozen layer's transient activations, and the LM-head work on the loss tokens. An estimate
 * for the planner (`memoryBytesByDepth`) so a device is never given a depth it cannot hold; bench
 * figures measure the real thing.
 */
import type { DecoderConfig } from '../hf/config';
import { HEAD_CHUNK_FLOATS } from './common';
import { TRANSPOSE_CACHE_BYTES } from '../../ops/matmul';

export interface StepShape {
  readonly batch: number;
  readonly seqLen: number;
  /** LoRA rank and the number of adapted matrices per layer. */
  readonly rank: number;
  readonly targetsPerLayer: number;
}

/** Parameters of one decoder layer. */
function layerParameterCount(c: DecoderConfig): number {
  const d = c.hidden;
  if (c.family === 'gpt2') return 4 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * c.inner + c.inner) + (c.inner * d + d);
  const q = c.heads * c.headDim;
  const kv = c.kvHeads * c.headDim;
  const bias = (c.qkvBias ? q + 2 * kv : 0) + (c.oBias ? d : 0) + (c.mlpBias ? 2 * c.intermediate + d : 0);
  return 2 * d + d * q + 2 * d * kv + q * d + 3 * d * c.intermediate + bias;
}

export function decoderParameterCount(c: DecoderConfig): number {
  const d = c.hidden;
  const embeddings = c.family === 'gpt2' ? c.vocabSize * d + c.maxPositions * d + 2 * d : c.vocabSize * d + d;
  return embeddings + c.layers * layerParameterCount(c) + (c.tieWordEmbeddings ? 0 : c.vocabSize * d);
}

/** Floats one layer's forward keeps for its backward pass. */
function layerActivationFloats(c: DecoderConfig, s: StepShape): number {
  const n = s.batch * s.seqLen;
  const scores = 3 * s.batch * c.heads * s.seqLen * s.seqLen; // scores, softmax, its gradient input
  // Per adapted matrix: x·A, its product with B and the scaled sum with the frozen output (≈ 3 widths).
  const lora = s.targetsPerLayer * n * (s.rank + 3 * c.hidden);
  if (c.family === 'gpt2') return n * (14 * c.hidden + 6 * c.inner) + scores + lora;
  const q = c.heads * c.headDim;
  const kv = c.kvHeads * c.headDim;
  return n * (10 * c.hidden + 4 * q + 6 * kv + 6 * c.intermediate) + scores + lora;
}

/**
 * Measured/estimated ratio of a trained layer's memory: tfjs keeps every taped forward tensor and
 * the gradients of the backward pass until the step's tidy ends, plus transient weight transposes.
 * Calibrated per family with bench:core (2 × 64 tokens, LoRA r 8): GPT-2-small shape ≈ 108 MiB per
 * trained layer measured vs ≈ 15.4 counted here; SmolLM2-135M shape ≈ 48 vs ≈ 11.6; rounded up
 * so the planner errs towards smaller depths.
 */
export const TAPED_LAYER_FACTOR: Record<DecoderConfig['family'], number> = { gpt2: 7, llama: 4.5 };

/** Estimated peak bytes of a training step at `depth` trained layers. */
export function decoderStepBytes(c: DecoderConfig, depth: number, s: StepShape): number {
  const weights = decoderParameterCount(c) + c.vocabSize * c.hidden; // + transposed head copy
  const n = s.batch * s.seqLen;
  const layer = layerActivationFloats(c, s);
  // lmHeadNll holds one chunk of logits (plus softmax and its product) at a time; the selection matrix is n × n.
  const head = 3 * Math.min(n, Math.max(1, Math.floor(HEAD_CHUNK_FLOATS / c.vocabSize))) * c.vocabSize + n * n;
  const adapter = 4 * depth * s.targetsPerLayer * s.rank * (2 * c.hidden); // A, B, Adam's two moments (≈ widths)
  // The trained layers' kernels, transposed once for the backward pass and kept up to the cache's budget (ops/matmul.ts).
  const transposes = Math.min(TRANSPOSE_CACHE_BYTES / 4, depth * layerParameterCount(c));
  return 4 * (weights + depth * TAPED_LAYER_FACTOR[c.family] * layer + layer + head + adapter + transposes);
}

/** memoryBytesByDepth for depths 1..layers. */
export function decoderMemoryBytesByDepth(c: DecoderConfig, s: StepShape): number[] {
  return Array.from({ length: c.layers }, (_, i) => decoderStepBytes(c, i + 1, s));
}
