/**
 * GPT-2 (HF modeling_gpt2.py) as tfjs ops: x = wte[ids] + wpe[pos]; per layer (pre-LN)
 * x += c_proj(attn(c_attn(ln_1(x)))), x += mlp.c_proj(act(mlp.c_fc(ln_2(x)))); logits =
 * ln_f(x)·wteᵀ (tied) or ·lm_headᵀ. Attention is causal, scaled by 1/√head_dim when
 * scale_attn_weights, and also by 1/(layer+1) when scale_attn_by_inverse_layer_idx. c_attn's output
 * is [q | k | v] along the feature axis.
 */
import * as tf from '@tensorflow/tfjs-core';
import { TransposeCache } from '../../ops/matmul';
import { GPT2_LORA_TARGETS, type BatchContext, type BlockSpec, type CausalDecoder, type LayerKv, type LinearAdapter, type LoraTarget, type TokenBatch } from '../family';
import { attend, causalContext, checkTokenBatch, disposeAll, embedRows, linear, lmHead, lmHeadNll, mergeHeads, splitHeads, withCache } from '../decoder/common';
import { transpose2d } from '../hf/checkpoint';
import type { Gpt2Activation, Gpt2Config } from '../hf/config';
import type { Gpt2Weights } from './weights';

interface Layer {
  ln1w: tf.Tensor1D;
  ln1b: tf.Tensor1D;
  cAttnW: tf.Tensor2D;
  cAttnB: tf.Tensor1D;
  projW: tf.Tensor2D;
  projB: tf.Tensor1D;
  ln2w: tf.Tensor1D;
  ln2b: tf.Tensor1D;
  fcW: tf.Tensor2D;
  fcB: tf.Tensor1D;
  mlpProjW: tf.Tensor2D;
  mlpProjB: tf.Tensor1D;
}

export class Gpt2Decoder implements CausalDecoder {
  readonly kind = 'causal-lm';
  readonly family = 'gpt2';
  readonly blocks: readonly BlockSpec[];
  readonly maxSeqLen: number;
  readonly vocabSize: number;
  readonly hidden: number;
  readonly defaultLoraTargets = ['attn.c_attn'] as const;
  private readonly wte: tf.Tensor2D;
  private readonly wpe: tf.Tensor2D;
  private readonly headT: tf.Tensor2D;
  private readonly transposes = new TransposeCache();
  private readonly head: tf.Tensor2D;
  private readonly layers: Layer[];
  private readonly lnFw: tf.Tensor1D;
  private readonly lnFb: tf.Tensor1D;

  constructor(
    readonly config: Gpt2Config,
    w: Gpt2Weights,
  ) {
    const c = config;
    const d = c.hidden;
    this.maxSeqLen = c.maxPositions;
    this.vocabSize = c.vocabSize;
    this.hidden = d;
    this.wte = tf.tensor2d(w.wte, [c.vocabSize, d]);
    this.wpe = tf.tensor2d(w.wpe, [c.maxPositions, d]);
    this.head = w.lmHead ? tf.tensor2d(w.lmHead, [c.vocabSize, d]) : this.wte;
    this.headT = tf.tensor2d(transpose2d(w.lmHead ?? w.wte, c.vocabSize, d), [d, c.vocabSize]);
    this.layers = w.layers.map((l) => ({
      ln1w: tf.tensor1d(l.ln1[0]),
      ln1b: tf.tensor1d(l.ln1[1]),
      cAttnW: tf.tensor2d(l.cAttn[0], [d, 3 * d]),
      cAttnB: tf.tensor1d(l.cAttn[1]),
      projW: tf.tensor2d(l.attnProj[0], [d, d]),
      projB: tf.tensor1d(l.attnProj[1]),
      ln2w: tf.tensor1d(l.ln2[0]),
      ln2b: tf.tensor1d(l.ln2[1]),
      fcW: tf.tensor2d(l.cFc[0], [d, c.inner]),
      fcB: tf.tensor1d(l.cFc[1]),
      mlpProjW: tf.tensor2d(l.mlpProj[0], [c.inner, d]),
      mlpProjB: tf.tensor1d(l.mlpProj[1]),
    }));
    this.lnFw = tf.tensor1d(w.lnF[0]);
    this.lnFb = tf.tensor1d(w.lnF[1]);
    const dims: Record<(typeof GPT2_LORA_TARGETS)[number], [number, number]> = {
      'attn.c_attn': [d, 3 * d],
      'attn.c_proj': [d, d],
      'mlp.c_fc': [d, c.inner],
      'mlp.c_proj': [c.inner, d],
    };
    this.blocks = w.layers.map((_, index) => ({
      index,
      kind: 'decoder-layer',
      linears: GPT2_LORA_TARGETS.map((target) => ({ target, inDim: dims[target][0], outDim: dims[target][1] })),
    }));
  }

  modulePath(layer: number, target: LoraTarget): string {
    if (!(GPT2_LORA_TARGETS as readonly string[]).includes(target)) throw new Error(`GPT-2 has no LoRA target ${target}`);
    return `transformer.h.${layer}.${target}`;
  }

  prepare(batch: TokenBatch): BatchContext {
    return causalContext(batch);
  }

  prepareAt(batch: TokenBatch, past: number): BatchContext {
    return causalContext(batch, past);
  }

  embed(batch: TokenBatch): tf.Tensor3D {
    return this.embedAt(batch, 0);
  }

  embedAt(batch: TokenBatch, past: number): tf.Tensor3D {
    checkTokenBatch(batch, this.vocabSize, this.maxSeqLen - past);
    return tf.tidy(() => {
      const pos = tf.slice(this.wpe, [past, 0], [batch.seqLen, this.hidden]);
      return tf.add(embedRows(this.wte, batch), tf.expandDims(pos, 0)) as tf.Tensor3D;
    });
  }

  runBlock(index: number, x: tf.Tensor3D, ctx: BatchContext, adapter?: LinearAdapter, kv?: LayerKv): tf.Tensor3D {
    const l = this.layers[index];
    if (!l) throw new Error(`block ${index} does not exist (model has ${this.layers.length} layers)`);
    const c = this.config;
    const [b, t, d] = x.shape;
    const hd = d / c.heads;
    const x2 = tf.reshape(x, [b * t, d]) as tf.Tensor2D;
    const qkv = linear('attn.c_attn', this.layerNorm(x2, l.ln1w, l.ln1b), l.cAttnW, l.cAttnB, adapter, this.transposes);
    const [q, k, v] = tf.split(qkv, 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    let scale = c.scaleAttnWeights ? 1 / Math.sqrt(hd) : 1;
    if (c.scaleAttnByInverseLayerIdx) scale /= index + 1;
    const [kh, vh] = withCache(kv, splitHeads(k, b, t, c.heads, hd), splitHeads(v, b, t, c.heads, hd));
    const ctxOut = attend(splitHeads(q, b, t, c.heads, hd), kh, vh, scale, ctx.attentionBias);
    const h = tf.add(x2, linear('attn.c_proj', mergeHeads(ctxOut), l.projW, l.projB, adapter, this.transposes)) as tf.Tensor2D;
    const inner = activation(c.activation, linear('mlp.c_fc', this.layerNorm(h, l.ln2w, l.ln2b), l.fcW, l.fcB, adapter, this.transposes));
    const out = tf.add(h, linear('mlp.c_proj', inner, l.mlpProjW, l.mlpProjB, adapter, this.transposes));
    return tf.reshape(out, [b, t, d]);
  }

  finalNorm(x: tf.Tensor2D): tf.Tensor2D {
    return this.layerNorm(x, this.lnFw, this.lnFb);
  }

  lmHead(h: tf.Tensor2D): tf.Tensor2D {
    return lmHead(h, this.headT, this.head);
  }

  lmHeadNll(h: tf.Tensor2D, ids: Int32Array): tf.Tensor1D {
    return lmHeadNll(h, ids, this.headT, this.head);
  }

  outputRows(ids: Int32Array): tf.Tensor2D {
    return tf.tidy(() => tf.gather(this.head, tf.tensor1d(ids, 'int32')));
  }

  logits(x: tf.Tensor2D): tf.Tensor2D {
    return this.lmHead(this.finalNorm(x));
  }

  dispose(): void {
    this.transposes.dispose();
    tf.dispose([this.wte, this.wpe, this.headT, this.lnFw, this.lnFb]);
    if (this.head !== this.wte) this.head.dispose();
    for (const l of this.layers) disposeAll(l);
  }

  private layerNorm(x: tf.Tensor2D, w: tf.Tensor1D, bias: tf.Tensor1D): tf.Tensor2D {
    const mean = tf.mean(x, -1, true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), -1, true);
    return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, this.config.layerNormEps))), w), bias) as tf.Tensor2D;
  }
}

const GELU_C = Math.sqrt(2 / Math.PI);

export function activation(kind: Gpt2Activation, x: tf.Tensor2D): tf.Tensor2D {
  switch (kind) {
    case 'gelu_new':
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), GELU_C))));
    case 'gelu':
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case 'relu':
      return tf.relu(x);
    case 'silu':
      return tf.mul(x, tf.sigmoid(x));
  }
}
