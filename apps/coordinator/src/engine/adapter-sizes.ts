/** Encoded adapter sizes, the numbers behind PlanContext.adapterBytes and the socket's buffer limit. */
import { adapterTrainedKeys, encodeAdapter } from '../core';
import type { AdapterState, BlockKey } from '../core';

export function restrictToBlocks(state: AdapterState, keys: readonly BlockKey[]): AdapterState {
  const out: AdapterState = new Map();
  for (const key of keys) {
    const tensors = state.get(key);
    if (tensors === undefined) throw new Error(`adapter has no block "${key}"`);
    out.set(key, tensors);
  }
  return out;
}

/** bytes[d - 1] = encoded size of the delta a device uploads at depth d (its d blocks + the head, where the adapter has one). */
export function uploadBytesByDepth(state: AdapterState, numBlocks: number): number[] {
  const bytes: number[] = [];
  for (let d = 1; d <= numBlocks; d++) bytes.push(encodeAdapter(restrictToBlocks(state, adapterTrainedKeys(state, numBlocks, d))).byteLength);
  return bytes;
}

/** The largest binary payload of a run: the full adapter the coordinator sends down. */
export function fullAdapterBytes(state: AdapterState): number {
  return encodeAdapter(state).byteLength;
}
