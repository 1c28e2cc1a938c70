/**
 * Universal Sentence Encoder Lite re-implemented as tfjs ops, so it can be trained with LoRA.
 *
 * Read from the shipped graph (and checked against it in test/use-lite-parity.test.ts):
 * - input = 2·E[ids] + sinusoidal timing signal (sin | cos of position × inverse timescales);
 *   the graph adds the scattered embeddings to (gathered embeddings + timing), hence the factor 2;
 * - pre-LN transformer layers (LayerNorm ε read from the graph), attention then ReLU FFN, each with
 *   a residual; layer 0 projects the residual stream from the embedding width (256) to 512;
 * - no final LayerNorm; output = masked mean pool → tanh dense → L2 normalisation.
 * Block i (as counted by fine-tuning depth): layer ⌊i/2⌋, attention when i is even, FFN when odd.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BatchContext, BlockSpec, LinearAdapter, LoraTarget, TextEncoder, TokenBatch } from '../family';
import { matMul, matMulConst, TransposeCache } from '../../ops/matmul';
import type { UseLiteWeights } from './weights';

interface LayerTensors {
  lnAttnScale: tf.Tensor1D;
  lnAttnBias: tf.Tensor1D;
  qkvKernel: tf.Tensor2D;
  qkvBias: tf.Tensor1D;
  outKernel: tf.Tensor2D;
  outBias: tf.Tensor1D;
  residualKernel?: tf.Tensor2D;
  residualBias?: tf.Tensor1D;
  lnFfnScale: tf.Tensor1D;
  lnFfnBias: tf.Tensor1D;
  ffnInKernel: tf.Tensor2D;
  ffnInBias: tf.Tensor1D;
  ffnOutKernel: tf.Tensor2D;
  ffnOutBias: tf.Tensor1D;
  heads: number;
  headDim: number;
  queryScale: number;
  attnWidth: number;
}

export type Tokenize = (texts: readonly string[], maxLen: number) => TokenBatch;

export class UseLiteEncoder implements TextEncoder {
  readonly family = 'use-lite';
  readonly blocks: readonly BlockSpec[];
  readonly featureDim: number;
  readonly maxSeqLen: number;
  private readonly embeddings: tf.Tensor2D;
  private readonly invTimescales: tf.Tensor1D;
  private readonly layers: LayerTensors[];
  private readonly tanhKernel: tf.Tensor2D;
  private readonly tanhBias: tf.Tensor1D;
  private readonly epsilon: number;
  private readonly vocabRows: number;
  private readonly transposes = new TransposeCache();

  constructor(
    w: UseLiteWeights,
    private readonly tokenizeFn: Tokenize,
  ) {
    this.maxSeqLen = w.maxSeqLen;
    this.epsilon = w.layerNormEpsilon;
    this.vocabRows = w.vocabRows;
    this.embeddings = tf.tensor2d(w.embeddings, [w.vocabRows, w.embDim]);
    this.invTimescales = tf.tensor1d(w.invTimescales);
    this.layers = w.layers.map((l) => {
      const headDim = Math.round(1 / (l.queryScale * l.queryScale));
      if (l.attnWidth % headDim !== 0) throw new Error(`attention width ${l.attnWidth} is not a multiple of head dim ${headDim}`);
      return {
        lnAttnScale: tf.tensor1d(l.lnAttnScale),
        lnAttnBias: tf.tensor1d(l.lnAttnBias),
        qkvKernel: tf.tensor2d(l.qkvKernel, [l.inDim, 3 * l.attnWidth]),
        qkvBias: tf.tensor1d(l.qkvBias),
        outKernel: tf.tensor2d(l.outKernel, [l.attnWidth, l.modelDim]),
        outBias: tf.tensor1d(l.outBias),
        residualKernel: l.residualKernel ? tf.tensor2d(l.residualKernel, [l.inDim, l.modelDim]) : undefined,
        residualBias: l.residualBias ? tf.tensor1d(l.residualBias) : undefined,
        lnFfnScale: tf.tensor1d(l.lnFfnScale),
        lnFfnBias: tf.tensor1d(l.lnFfnBias),
        ffnInKernel: tf.tensor2d(l.ffnInKernel, [l.modelDim, l.ffnDim]),
        ffnInBias: tf.tensor1d(l.ffnInBias),
        ffnOutKernel: tf.tensor2d(l.ffnOutKernel, [l.ffnDim, l.modelDim]),
        ffnOutBias: tf.tensor1d(l.ffnOutBias),
        heads: l.attnWidth / headDim,
        headDim,
        queryScale: l.queryScale,
        attnWidth: l.attnWidth,
      };
    });
    this.tanhKernel = tf.tensor2d(w.tanhKernel, [w.tanhBias.length, w.tanhBias.length]);
    this.tanhBias = tf.tensor1d(w.tanhBias);
    this.featureDim = w.tanhBias.length;
    const blocks: BlockSpec[] = [];
    w.layers.forEach((l, i) => {
      blocks.push({
        index: 2 * i,
        kind: 'attention',
        linears: [
          { target: 'qkv', inDim: l.inDim, outDim: 3 * l.attnWidth },
          { target: 'attn_out', inDim: l.attnWidth, outDim: l.modelDim },
        ],
      });
      blocks.push({
        index: 2 * i + 1,
        kind: 'ffn',
        linears: [
          { target: 'ffn_in', inDim: l.modelDim, outDim: l.ffnDim },
          { target: 'ffn_out', inDim: l.ffnDim, outDim: l.modelDim },
        ],
      });
    });
    this.blocks = blocks;
  }

  tokenize(texts: readonly string[]): TokenBatch {
    return this.tokenizeFn(texts, this.maxSeqLen);
  }

  prepare(batch: TokenBatch): BatchContext {
    return tf.tidy(() => {
      const positions = tf.expandDims(tf.range(0, batch.seqLen, 1, 'int32'), 0) as tf.Tensor2D;
      const lengths = tf.tensor2d(batch.lengths, [batch.batch, 1], 'int32');
      const mask = tf.cast(tf.less(positions, lengths), 'float32') as tf.Tensor2D;
      const attentionBias = tf.reshape(tf.mul(tf.sub(1, mask), -1e9), [batch.batch, 1, 1, batch.seqLen]) as tf.Tensor4D;
      return { mask, attentionBias };
    });
  }

  embed(batch: TokenBatch): tf.Tensor3D {
    if (batch.ids.length !== batch.batch * batch.seqLen) throw new Error('token batch ids do not match batch × seqLen');
    if (batch.seqLen > this.maxSeqLen) throw new Error(`sequence length ${batch.seqLen} exceeds the model's ${this.maxSeqLen}`);
    for (const id of batch.ids) {
      if (id < 0 || id >= this.vocabRows) throw new Error(`token id ${id} outside the embedding table (0..${this.vocabRows - 1})`);
    }
    return tf.tidy(() => {
      const ids = tf.tensor1d(batch.ids, 'int32');
      const e = tf.reshape(tf.gather(this.embeddings, ids), [batch.batch, batch.seqLen, -1]);
      const pos = tf.expandDims(tf.range(0, batch.seqLen, 1, 'float32'), 1);
      const scaled = tf.mul(pos, tf.expandDims(this.invTimescales, 0));
      const timing = tf.expandDims(tf.concat([tf.sin(scaled), tf.cos(scaled)], 1), 0);
      return tf.add(tf.add(e, e), timing) as tf.Tensor3D;
    });
  }

  runBlock(index: number, x: tf.Tensor3D, ctx: BatchContext, adapter?: LinearAdapter): tf.Tensor3D {
    const layer = this.layers[index >> 1];
    if (!layer) throw new Error(`block ${index} does not exist (model has ${this.blocks.length} blocks)`);
    return index % 2 === 0 ? this.attention(layer, x, ctx, adapter) : this.ffn(layer, x, adapter);
  }

  pool(x: tf.Tensor3D, ctx: BatchContext): tf.Tensor2D {
    return tf.tidy(() => {
      const summed = tf.sum(tf.mul(x, tf.expandDims(ctx.mask, 2)), 1);
      const lengths = tf.maximum(tf.sum(ctx.mask, 1, true), 1);
      const mean = tf.div(summed, lengths) as tf.Tensor2D;
      const h = tf.tanh(tf.add(matMulConst(mean, this.tanhKernel, this.transposes), this.tanhBias)) as tf.Tensor2D;
      return tf.mul(h, tf.rsqrt(tf.maximum(tf.sum(tf.square(h), 1, true), 1e-12))) as tf.Tensor2D;
    });
  }

  dispose(): void {
    this.transposes.dispose();
    tf.dispose([this.embeddings, this.invTimescales, this.tanhKernel, this.tanhBias]);
    for (const l of this.layers) {
      for (const v of Object.values(l)) if (v instanceof tf.Tensor) v.dispose();
    }
  }

  private layerNorm(x: tf.Tensor3D, scale: tf.Tensor1D, bias: tf.Tensor1D): tf.Tensor3D {
    const mean = tf.mean(x, -1, true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), -1, true);
    return tf.add(tf.mul(tf.mul(scale, tf.rsqrt(tf.add(variance, this.epsilon))), centered), bias) as tf.Tensor3D;
  }

  // Frozen kernels go through matMulConst: backpropagation computes dx only, never the kernel's
  // (unused) gradient, which costs as many FLOPs as the forward product.
  private linear(target: LoraTarget, x2d: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D, adapter?: LinearAdapter): tf.Tensor2D {
    const y = tf.add(matMulConst(x2d, kernel, this.transposes), bias) as tf.Tensor2D;
    const extra = adapter?.(target, x2d);
    return extra ? (tf.add(y, extra) as tf.Tensor2D) : y;
  }

  private attention(l: LayerTensors, x: tf.Tensor3D, ctx: BatchContext, adapter?: LinearAdapter): tf.Tensor3D {
    const [b, t, inDim] = x.shape;
    const h = tf.reshape(this.layerNorm(x, l.lnAttnScale, l.lnAttnBias), [b * t, inDim]) as tf.Tensor2D;
    const qkv = this.linear('qkv', h, l.qkvKernel, l.qkvBias, adapter);
    const [q, k, v] = tf.split(qkv, 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    const heads = (m: tf.Tensor2D) => tf.transpose(tf.reshape(m, [b, t, l.heads, l.headDim]), [0, 2, 1, 3]) as tf.Tensor4D;
    const qh = tf.mul(heads(q), l.queryScale) as tf.Tensor4D;
    const kT = tf.transpose(tf.reshape(k, [b, t, l.heads, l.headDim]), [0, 2, 3, 1]) as tf.Tensor4D;
    const scores = tf.add(matMul(qh, kT), ctx.attentionBias);
    const weights = tf.softmax(scores) as tf.Tensor4D;
    const context = tf.reshape(tf.transpose(matMul(weights, heads(v)), [0, 2, 1, 3]), [b * t, l.attnWidth]) as tf.Tensor2D;
    const out = this.linear('attn_out', context, l.outKernel, l.outBias, adapter);
    const x2d = tf.reshape(x, [b * t, inDim]) as tf.Tensor2D;
    const residual = l.residualKernel && l.residualBias ? tf.add(matMulConst(x2d, l.residualKernel, this.transposes), l.residualBias) : x2d;
    return tf.reshape(tf.add(out, residual), [b, t, -1]) as tf.Tensor3D;
  }

  private ffn(l: LayerTensors, x: tf.Tensor3D, adapter?: LinearAdapter): tf.Tensor3D {
    const [b, t, d] = x.shape;
    const h = tf.reshape(this.layerNorm(x, l.lnFfnScale, l.lnFfnBias), [b * t, d]) as tf.Tensor2D;
    const inner = tf.relu(this.linear('ffn_in', h, l.ffnInKernel, l.ffnInBias, adapter)) as tf.Tensor2D;
    const out = this.linear('ffn_out', inner, l.ffnOutKernel, l.ffnOutBias, adapter);
    return tf.reshape(tf.add(out, tf.reshape(x, [b * t, d])), [b, t, d]) as tf.Tensor3D;
  }
}
