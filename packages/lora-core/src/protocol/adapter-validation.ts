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

/** L2 norm of each block over all its tensors (accumulated in float64), in state order. */
export function blockL2Norms(state: AdapterState): Map<BlockKey, number> {
  const out = new Map<BlockKey, number>();
  for (const [key, tensors] of state) {
    let sum = 0;
    for (const t of tensors.values()) for (let i = 0; i < t.data.length; i++) sum += t.data[i]! * t.data[i]!;
    out.set(key, Math.sqrt(sum));
  }
  return out;
}

const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;

/**
 * The largest L2 norm by which `steps` Adam steps of size `learningRate` (tfjs defaults β1 0.9,
 * β2 0.999; moments reset at the start of the work, as the device trainer does) can move
 * `numValues` parameters, whatever the gradients. Step t moves each value by at most
 * lr·|m̂_t|/√v̂_t, and by Cauchy–Schwarz |m̂_t|/√v̂_t ≤ (1−β1)/(1−β1^t) · √((1−β2^t)/(1−β2)) ·
 * √(Σ_{j<t} (β1²/β2)^j): exactly 1 at t = 1, under 1.05 up to t = 10 (it tends to 7.3 for long runs).
 * An honest device cannot exceed it; an upload above it did not come from the assigned training.
 */
export function adamDeltaNormBound(learningRate: number, steps: number, numValues: number): number {
  return adamCoordinateBound(learningRate, steps) * Math.sqrt(numValues);
}

/**
 * The most `steps` Adam steps of size `learningRate` can move ONE value, whatever the gradients
 * (the per-value sum of adamDeltaNormBound): lr·Σ_t c_t, about lr per step for short local runs.
 * The L2 bound alone lets an upload pour a whole block's budget into a few values (√n times what
 * Adam can move any one of them); this bound closes that.
 */
export function adamCoordinateBound(learningRate: number, steps: number): number {
  const ratio = (ADAM_BETA1 * ADAM_BETA1) / ADAM_BETA2;
  let perValue = 0;
  let geometric = 0;
  for (let t = 1; t <= steps; t++) {
    geometric += ratio ** (t - 1);
    perValue += ((1 - ADAM_BETA1) / (1 - ADAM_BETA1 ** t)) * Math.sqrt((1 - ADAM_BETA2 ** t) / (1 - ADAM_BETA2)) * Math.sqrt(geometric);
  }
  return learningRate * perValue;
}

/**
 * Every block holding a value whose magnitude exceeds `boundOf(key)` (the largest such value is
 * named), as readable sentences; empty means every value is within its block's bound.
 */
export function coordinateBoundProblems(state: AdapterState, boundOf: (key: BlockKey) => number): string[] {
  const problems: string[] = [];
  for (const [key, tensors] of state) {
    const bound = boundOf(key);
    let worst = 0;
    let where = '';
    let over = 0;
    for (const [name, t] of tensors) {
      const data = t.data;
      for (let i = 0; i < data.length; i++) {
        const a = Math.abs(data[i]!);
        if (!(a <= bound)) {
          over += 1;
          if (!(a <= worst)) {
            worst = a;
            where = `${name}[${i}]`;
          }
        }
      }
    }
    if (over > 0) {
      problems.push(`block "${key}" has ${over} value(s) above the per-value bound ${bound.toPrecision(4)} (largest ${worst.toPrecision(4)} at ${where})`);
    }
  }
  return problems;
}

/** Every block whose L2 norm exceeds `boundOf(key, numValues)`, as readable sentences; empty means within bounds. */
export function normBoundProblems(state: AdapterState, boundOf: (key: BlockKey, numValues: number) => number): string[] {
  const problems: string[] = [];
  for (const [key, norm] of blockL2Norms(state)) {
    let numValues = 0;
    for (const t of state.get(key)!.values()) numValues += t.data.length;
    const bound = boundOf(key, numValues);
    if (!(norm <= bound)) problems.push(`block "${key}" has L2 norm ${norm.toPrecision(4)}, above the bound ${bound.toPrecision(4)}`);
  }
  return problems;
}
