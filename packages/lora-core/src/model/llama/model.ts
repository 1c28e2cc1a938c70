/**
 * Llama family (HF modeling_llama.py; Qwen2 = Llama + q/k/v biases): x = embed[ids]; per layer
 * x += o_proj(attn(rope(q), rope(k), v)) on RMSNorm(x), then x += down(silu(gate(h))·up(h)) on
 * RMSNorm(x); logits = RMSNorm(x)·lm_headᵀ (or the embedding when tied). Grouped-query attention:
 * query head i reads key/value head ⌊i / (heads / kv_heads)⌋. RMSNorm(x) = x·rsqrt(mean(x²) + ε)·w.
 */
import * as tf from '@tensorflow/tfjs-core';
import { TransposeCache } from '../../ops/matmul';
import { LLAMA_LORA_TARGETS, type BatchContext, type BlockSpec, type CausalDecoder, type LayerKv, type LinearAdapter, type LoraTarget, type TokenBatch } from '../family';
import { attend, causalContext, checkTokenBatch, disposeAll, embedRows, linear, lmHead, lmHeadNll, mergeHeads, splitHeads, withCache } from '../decoder/common';
import { transpose2d } from '../hf/checkpoint';
import type { LlamaConfig } from '../hf/config';
import { applyRope, inverseFrequencies, ropeTables } from './rope';
import type { Linear, LlamaWeights } from './weights';

interface Lin {
  w: tf.Tensor2D;
  b?: tf.Tensor1D;
}

interface Layer {
  inputNorm: tf.Tensor1D;
  q: Lin;
  k: Lin;
  v: Lin;
  o: Lin;
  postNorm: tf.Tensor1D;
  gate: Lin;
  up: Lin;
  down: Lin;
}

interface LlamaContext extends BatchContext {
  readonly cos: tf.Tensor2D;
  readonly sin: tf.Tensor2D;
}

export class LlamaDecoder implements CausalDecoder {
  readonly kind = 'causal-lm';
  readonly family: string;
  readonly blocks: readonly BlockSpec[];
  readonly maxSeqLen: number;
  readonly vocabSize: number;
  readonly hidden: number;
  readonly defaultLoraTargets = ['self_attn.q_proj', 'self_attn.v_proj'] as const;
  private readonly embedding: tf.Tensor2D;
  private readonly head: tf.Tensor2D;
  private readonly headT: tf.Tensor2D;
  private readonly transposes = new TransposeCache();
  private readonly layers: Layer[];
  private readonly norm: tf.Tensor1D;
  private readonly invFreq: Float64Array;

  constructor(
    readonly config: LlamaConfig,
    w: LlamaWeights,
  ) {
    const c = config;
    this.family = c.modelType;
    this.maxSeqLen = c.maxPositions;
    this.vocabSize = c.vocabSize;
    this.hidden = c.hidden;
    this.invFreq = inverseFrequencies(c.headDim, c.ropeTheta, c.ropeScaling);
    this.embedding = tf.tensor2d(w.embed, [c.vocabSize, c.hidden]);
    this.head = w.lmHead ? tf.tensor2d(w.lmHead, [c.vocabSize, c.hidden]) : this.embedding;
    this.headT = tf.tensor2d(transpose2d(w.lmHead ?? w.embed, c.vocabSize, c.hidden), [c.hidden, c.vocabSize]);
    const lin = (l: Linear, inDim: number, outDim: number): Lin => ({
      w: tf.tensor2d(l.w, [inDim, outDim]),
      ...(l.b ? { b: tf.tensor1d(l.b) } : {}),
    });
    const d = c.hidden;
    const qDim = c.heads * c.headDim;
    const kvDim = c.kvHeads * c.headDim;
    this.layers = w.layers.map((l) => ({
      inputNorm: tf.tensor1d(l.inputNorm),
      q: lin(l.q, d, qDim),
      k: lin(l.k, d, kvDim),
      v: lin(l.v, d, kvDim),
      o: lin(l.o, qDim, d),
      postNorm: tf.tensor1d(l.postNorm),
      gate: lin(l.gate, d, c.intermediate),
      up: lin(l.up, d, c.intermediate),
      down: lin(l.down, c.intermediate, d),
    }));
    this.norm = tf.tensor1d(w.norm);
    const dims: Record<(typeof LLAMA_LORA_TARGETS)[number], [number, number]> = {
      'self_attn.q_proj': [d, qDim],
      'self_attn.k_proj': [d, kvDim],
      'self_attn.v_proj': [d, kvDim],
      'self_attn.o_proj': [qDim, d],
      'mlp.gate_proj': [d, c.intermediate],
      'mlp.up_proj': [d, c.intermediate],
      'mlp.down_proj': [c.intermediate, d],
    };
    this.blocks = w.layers.map((_, index) => ({
      index,
      kind: 'decoder-layer',
      linears: LLAMA_LORA_TARGETS.map((target) => ({ target, inDim: dims[target][0], outDim: dims[target][1] })),
    }));
  }

  modulePath(layer: number, target: LoraTarget): string {
    if (!(LLAMA_LORA_TARGETS as readonly string[]).includes(target)) throw new Error(`${this.family} has no LoRA target ${target}`);
    return `model.layers.${layer}.${target}`;
  }

  prepare(batch: TokenBatch): BatchContext {
    return this.prepareAt(batch, 0);
  }

  prepareAt(batch: TokenBatch, past: number): BatchContext {
    const base = causalContext(batch, past);
    const { cos, sin } = ropeTables(batch.seqLen, this.invFreq, past);
    const ctx: LlamaContext = { ...base, cos, sin };
    return ctx;
  }

  embed(batch: TokenBatch): tf.Tensor3D {
    return this.embedAt(batch, 0);
  }

  embedAt(batch: TokenBatch, past: number): tf.Tensor3D {
    checkTokenBatch(batch, this.vocabSize, this.maxSeqLen - past);
    return embedRows(this.embedding, batch);
  }

  runBlock(index: number, x: tf.Tensor3D, ctx: BatchContext, adapter?: LinearAdapter, kv?: LayerKv): tf.Tensor3D {
    const l = this.layers[index];
    if (!l) throw new Error(`block ${index} does not exist (model has ${this.layers.length} layers)`);
    const { cos, sin } = ctx as LlamaContext;
    if (!cos || !sin) throw new Error('batch context lacks rotary tables: build it with this model\'s prepare()');
    const c = this.config;
    const [b, t, d] = x.shape;
    const x2 = tf.reshape(x, [b * t, d]) as tf.Tensor2D;
    const h = this.rmsNorm(x2, l.inputNorm);
    const q = applyRope(splitHeads(linear('self_attn.q_proj', h, l.q.w, l.q.b, adapter, this.transposes), b, t, c.heads, c.headDim), cos, sin);
    const k = applyRope(splitHeads(linear('self_attn.k_proj', h, l.k.w, l.k.b, adapter, this.transposes), b, t, c.kvHeads, c.headDim), cos, sin);
    const v = splitHeads(linear('self_attn.v_proj', h, l.v.w, l.v.b, adapter, this.transposes), b, t, c.kvHeads, c.headDim);
    const [kc, vc] = withCache(kv, k, v);
    const ctxOut = attend(q, this.repeatKv(kc), this.repeatKv(vc), 1 / Math.sqrt(c.headDim), ctx.attentionBias);
    const r = tf.add(x2, linear('self_attn.o_proj', mergeHeads(ctxOut), l.o.w, l.o.b, adapter, this.transposes)) as tf.Tensor2D;
    const m = this.rmsNorm(r, l.postNorm);
    const gate = linear('mlp.gate_proj', m, l.gate.w, l.gate.b, adapter, this.transposes);
    const up = linear('mlp.up_proj', m, l.up.w, l.up.b, adapter, this.transposes);
    const act = tf.mul(tf.mul(gate, tf.sigmoid(gate)), up) as tf.Tensor2D;
    const out = tf.add(r, linear('mlp.down_proj', act, l.down.w, l.down.b, adapter, this.transposes));
    return tf.reshape(out, [b, t, d]);
  }

  finalNorm(x: tf.Tensor2D): tf.Tensor2D {
    return this.rmsNorm(x, this.norm);
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
    tf.dispose([this.embedding, this.headT, this.norm]);
    if (this.head !== this.embedding) this.head.dispose();
    for (const l of this.layers) {
      for (const v of Object.values(l)) {
        if (v instanceof tf.Tensor) v.dispose();
        else disposeAll(v as object);
      }
    }
  }

  private rmsNorm(x: tf.Tensor2D, w: tf.Tensor1D): tf.Tensor2D {
    const ms = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, this.config.rmsNormEps))), w) as tf.Tensor2D;
  }

  /** [b, kv, t, hd] → [b, kv·rep, t, hd], each kv head repeated rep times in place (HF repeat_kv). */
  private repeatKv(x: tf.Tensor4D): tf.Tensor4D {
    const rep = this.config.heads / this.config.kvHeads;
    if (rep === 1) return x;
    const [b, kv, t, hd] = x.shape;
    // Rank-3 tile: tfjs has no tile gradient above rank 4.
    return tf.reshape(tf.tile(tf.reshape(x, [b * kv, 1, t * hd]), [1, rep, 1]), [b, kv * rep, t, hd]);
  }
}
