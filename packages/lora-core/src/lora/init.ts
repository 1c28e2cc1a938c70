/**
 * The initial adapter of a run, as plain arrays, deterministic by seed (every device and the
 * coordinator build the same one). LoRA A ~ U(-1/√in, 1/√in) (Kaiming-uniform with a = √5, as in
 * the LoRA reference code), B = 0 so the adapted model starts equal to the pretrained one; the
 * classification head starts at zero.
 */
import { createRng } from '../data/random';
import type { BlockSpec } from '../model/family';
import { HEAD, blockKey, type AdapterState, type BlockKey, type NamedArray } from './adapter-state';
import type { LoraConfig } from './config';

/** LoRA tensor shapes of every block (no head): `${target}.A` [in, r], `${target}.B` [r, out]. */
export function blockTensorShapes(blocks: readonly BlockSpec[], lora: LoraConfig): Map<BlockKey, Map<string, number[]>> {
  const out = new Map<BlockKey, Map<string, number[]>>();
  for (const b of blocks) {
    const m = new Map<string, number[]>();
    for (const l of b.linears) {
      if (!lora.targets.includes(l.target)) continue;
      m.set(`${l.target}.A`, [l.inDim, lora.rank]);
      m.set(`${l.target}.B`, [lora.rank, l.outDim]);
    }
    out.set(blockKey(b.index), m);
  }
  return out;
}

export function adapterTensorShapes(
  blocks: readonly BlockSpec[],
  featureDim: number,
  numClasses: number,
  lora: LoraConfig,
): Map<BlockKey, Map<string, number[]>> {
  const out = blockTensorShapes(blocks, lora);
  out.set(HEAD, new Map([['W', [featureDim, numClasses]], ['b', [numClasses]]]));
  return out;
}

export function initialAdapter(
  blocks: readonly BlockSpec[],
  featureDim: number,
  numClasses: number,
  lora: LoraConfig,
  seed: number,
): AdapterState {
  return initialFrom(adapterTensorShapes(blocks, featureDim, numClasses, lora), seed);
}

/** The initial LoRA blocks of a model without a head (a causal LM); same values as initialAdapter's blocks. */
export function initialBlockAdapter(blocks: readonly BlockSpec[], lora: LoraConfig, seed: number): AdapterState {
  return initialFrom(blockTensorShapes(blocks, lora), seed);
}

function initialFrom(allShapes: Map<BlockKey, Map<string, number[]>>, seed: number): AdapterState {
  const rng = createRng(seed);
  const state: AdapterState = new Map();
  for (const [key, shapes] of allShapes) {
    const tensors = new Map<string, NamedArray>();
    for (const [name, shape] of shapes) {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      if (name.endsWith('.A')) {
        const bound = 1 / Math.sqrt(shape[0] as number);
        for (let i = 0; i < data.length; i++) data[i] = (2 * rng.next() - 1) * bound;
      }
      tensors.set(name, { shape, data });
    }
    state.set(key, tensors);
  }
  return state;
}
