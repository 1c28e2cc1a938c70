/**
 * The value checks on an upload's delta in one pass over its values: the first non-finite value
 * (findNonFinite), each block's L2 norm against its bound (normBoundProblems) and each value against
 * its block's per-value bound (coordinateBoundProblems). Same results, same sentences as those three
 * functions (adapter-validation.ts) run one after another, which read every value three times (3.2 s of a
 * 1,000-device round's profile).
 */
import type { AdapterState, BlockKey } from '../lora/adapter-state';
import type { NonFiniteValue } from './adapter-validation';

export interface ValueBounds {
  /** The most a block's L2 norm may be (adamDeltaNormBound × factor). */
  readonly normOf: (key: BlockKey, numValues: number) => number;
  /** The most any one value of a block may move (adamCoordinateBound × factor). */
  readonly valueOf: (key: BlockKey) => number;
}

export type ValueCheck =
  | { readonly kind: 'ok' }
  | { readonly kind: 'non-finite'; readonly first: NonFiniteValue }
  /** Blocks over their norm bound (checked before the per-value bound, as before). */
  | { readonly kind: 'norm'; readonly problems: readonly string[] }
  | { readonly kind: 'value'; readonly problems: readonly string[] };

const SUM = 0;
const OVER = 1;
const WORST = 2;
const WORST_AT = 3;
const scan = new Float64Array(4);

/**
 * One tensor's pass (a monomorphic loop V8 optimises once for every tensor): the index of its first
 * non-finite value, or -1; else adds Σ x² to acc[SUM], counts the values over `bound` in acc[OVER],
 * and where one exceeds acc[WORST], records it there with its index in acc[WORST_AT].
 */
function scanValues(data: Float32Array, bound: number, acc: Float64Array): number {
  let sum = acc[SUM]!;
  let over = acc[OVER]!;
  let worst = acc[WORST]!;
  let worstAt = acc[WORST_AT]!;
  const n = data.length;
  for (let i = 0; i < n; i++) {
    const x = data[i]!;
    // x - x is 0 for finite numbers and NaN for NaN/±Infinity.
    if (x - x !== 0) return i;
    sum += x * x;
    const a = Math.abs(x);
    if (!(a <= bound)) {
      over += 1;
      if (!(a <= worst)) {
        worst = a;
        worstAt = i;
      }
    }
  }
  acc[SUM] = sum;
  acc[OVER] = over;
  acc[WORST] = worst;
  acc[WORST_AT] = worstAt;
  return -1;
}

/** Checks every value of `delta`; without `bounds`, finiteness only. */
export function checkDeltaValues(delta: AdapterState, bounds: ValueBounds | null): ValueCheck {
  const normProblems: string[] = [];
  const valueProblems: string[] = [];
  for (const [key, tensors] of delta) {
    const bound = bounds ? bounds.valueOf(key) : Number.POSITIVE_INFINITY;
    let sum = 0;
    let numValues = 0;
    let worst = 0;
    let where = '';
    let over = 0;
    for (const [name, t] of tensors) {
      const data = t.data;
      numValues += data.length;
      scan[SUM] = sum;
      scan[OVER] = over;
      scan[WORST] = worst;
      scan[WORST_AT] = -1;
      const bad = scanValues(data, bound, scan);
      if (bad >= 0) return { kind: 'non-finite', first: { blockKey: key, name, index: bad, value: data[bad]! } };
      sum = scan[SUM]!;
      over = scan[OVER]!;
      worst = scan[WORST]!;
      if (scan[WORST_AT]! >= 0) where = `${name}[${scan[WORST_AT]}]`;
    }
    if (!bounds) continue;
    const norm = Math.sqrt(sum);
    const normBound = bounds.normOf(key, numValues);
    if (!(norm <= normBound)) normProblems.push(`block "${key}" has L2 norm ${norm.toPrecision(4)}, above the bound ${normBound.toPrecision(4)}`);
    if (over > 0) {
      valueProblems.push(`block "${key}" has ${over} value(s) above the per-value bound ${bound.toPrecision(4)} (largest ${worst.toPrecision(4)} at ${where})`);
    }
  }
  if (normProblems.length > 0) return { kind: 'norm', problems: normProblems };
  if (valueProblems.length > 0) return { kind: 'value', problems: valueProblems };
  return { kind: 'ok' };
}
