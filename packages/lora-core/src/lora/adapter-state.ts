/**
 * Adapter state: every trainable tensor of a LoRA fine-tune, keyed by block, as plain Float32Arrays.
 *
 * A "block" is one attention sub-block or one FFN sub-block of the transformer, numbered from the
 * input (0) upwards; the classification head is the block "head". Keeping the state block by block
 * lets aggregation average each block over exactly the devices (or groups) that trained it, which is
 * what per-device fine-tuning depths require. Values are plain arrays (no tfjs) so the coordinator
 * can aggregate and validate without a tfjs backend.
 */
export type BlockKey = `${number}` | 'head';

export interface NamedArray {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** blockKey -> tensor name (e.g. "qkv.A", "qkv.B", "W", "b") -> values. */
export type AdapterState = Map<BlockKey, Map<string, NamedArray>>;

export const HEAD: BlockKey = 'head';

export function blockKey(index: number): BlockKey {
  if (!Number.isInteger(index) || index < 0) throw new Error(`block index must be a non-negative integer, got ${index}`);
  return `${index}`;
}

/** The block keys trained at fine-tuning depth `depth` in a model of `numBlocks` blocks (head included). */
export function trainedBlockKeys(numBlocks: number, depth: number): BlockKey[] {
  if (!Number.isInteger(depth) || depth < 0 || depth > numBlocks) {
    throw new Error(`depth must be an integer in 0..${numBlocks}, got ${depth}`);
  }
  const keys: BlockKey[] = [];
  for (let b = numBlocks - depth; b < numBlocks; b++) keys.push(blockKey(b));
  keys.push(HEAD);
  return keys;
}

/**
 * The blocks of `state` trained at `depth`: trainedBlockKeys without the head when the state has
 * none (decoder adapters keep the LM head frozen, so their states hold layer blocks only).
 */
export function adapterTrainedKeys(state: AdapterState, numBlocks: number, depth: number): BlockKey[] {
  return trainedBlockKeys(numBlocks, depth).filter((k) => k !== HEAD || state.has(HEAD));
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function cloneAdapterState(state: AdapterState): AdapterState {
  const out: AdapterState = new Map();
  for (const [k, tensors] of state) {
    const m = new Map<string, NamedArray>();
    for (const [n, t] of tensors) m.set(n, { shape: [...t.shape], data: new Float32Array(t.data) });
    out.set(k, m);
  }
  return out;
}

export function countParameters(state: AdapterState): number {
  let n = 0;
  for (const tensors of state.values()) for (const t of tensors.values()) n += t.data.length;
  return n;
}
