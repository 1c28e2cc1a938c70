/**
 * Checks the coordinator runs on a decoded delta before it may reach aggregation: the right blocks,
 * the right tensors with the right shapes, and only finite numbers.
 */
import type { AdapterState, BlockKey } from '../lora/adapter-state';
import { sizeOf } from '../lora/adapter-state';

export type AdapterShapes = ReadonlyMap<BlockKey, ReadonlyMap<string, readonly number[]>>;

export interface AdapterExpectation {
  /** Exactly these blocks must be present (order irrelevant), e.g. trainedBlockKeys(numBlocks, depth). */
  readonly blockKeys: readonly BlockKey[];
  /** Every present block must hold exactly these tensors with these shapes (extra entries are fine). */
  readonly shapes: AdapterShapes;
}

/** The shape table of a reference state (typically the current global adapter). */
export function shapesOf(state: AdapterState): AdapterShapes {
  const out = new Map<BlockKey, Map<string, readonly number[]>>();
  for (const [key, tensors] of state) {
    const m = new Map<string, readonly number[]>();
    for (const [name, t] of tensors) m.set(name, [...t.shape]);
    out.set(key, m);
  }
  return out;
}

/** Every way `state` differs from what was expected, as readable sentences; empty means valid. */
export function validateAdapter(state: AdapterState, expected: AdapterExpectation): string[] {
  const problems: string[] = [];
  const wanted = new Set<string>(expected.blockKeys);
  for (const key of wanted) if (!state.has(key as BlockKey)) problems.push(`missing block "${key}"`);
  for (const [key, tensors] of state) {
    if (!wanted.has(key)) {
      problems.push(`unexpected block "${key}"`);
      continue;
    }
    const shapes = expected.shapes.get(key);
    if (shapes === undefined) {
      problems.push(`no expected shapes for block "${key}"`);
      continue;
    }
    for (const name of shapes.keys()) if (!tensors.has(name)) problems.push(`missing tensor "${key}/${name}"`);
    for (const [name, t] of tensors) {
      const shape = shapes.get(name);
      if (shape === undefined) {
        problems.push(`unexpected tensor "${key}/${name}"`);
      } else if (!sameShape(shape, t.shape)) {
        problems.push(`shape of "${key}/${name}" is [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
      } else if (t.data.length !== sizeOf(shape)) {
        problems.push(`"${key}/${name}" holds ${t.data.length} values, its shape needs ${sizeOf(shape)}`);
      }
    }
  }
  return problems;
}

export interface NonFiniteValue {
  readonly blockKey: BlockKey;
  readonly name: string;
  readonly index: number;
  readonly value: number;
}

/** Up to `limit` NaN/±Infinity entries, in state order; empty means every value is finite. */
export function findNonFinite(state: AdapterState, limit = 1): NonFiniteValue[] {
  const found: NonFiniteValue[] = [];
  for (const [blockKey, tensors] of state) {
    for (const [name, t] of tensors) {
      const data = t.data;
      for (let i = 0; i < data.length; i++) {
        const value = data[i]!;
        // value - value is 0 for finite numbers and NaN for NaN/±Infinity: one check, no call.
        if (value - value !== 0) {
          found.push({ blockKey, name, index: i, value });
          if (found.length >= limit) return found;
        }
      }
    }
  }
  return found;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
