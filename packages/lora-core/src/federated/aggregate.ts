/**
 * Block-by-block weighted averaging of adapter deltas, and applying a delta to an adapter.
 *
 * LoRA factors are averaged separately, as FedLoRA/FedIT do: the aggregate of a block's A and B is
 * (Σ w_i A_i / Σ w_i, Σ w_i B_i / Σ w_i). This is biased with respect to the weight update the
 * clients actually made: mean(B_i A_i) ≠ mean(B_i) · mean(A_i) in general (the cross terms
 * B_i A_j, i ≠ j, enter the product of means). The bias shrinks as the clients' factors agree,
 * which is one reason near-IID groups help; whether it matters at our scale is to be measured.
 */
import type { AdapterState, BlockKey, NamedArray } from '../lora/adapter-state';
import { addScaled, scaledCopy } from './fold';
import type { ClientUpdate } from './types';

export class AggregationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AggregationError';
  }
}

/** Anything carrying a sample count and a (partial) adapter: a device's update or a group's aggregate. */
export interface WeightedDelta {
  readonly numSamples: number;
  readonly delta: AdapterState;
  /** For error messages only. */
  readonly id?: string;
}

/** Updates with a name for error messages; throws unless every weight is positive and finite. */
export function labelledUpdates(
  updates: readonly (ClientUpdate | WeightedDelta)[],
): { readonly label: string; readonly numSamples: number; readonly delta: AdapterState }[] {
  const labelled = updates.map((u, i) => ({ label: 'deviceId' in u ? u.deviceId : (u.id ?? `#${i}`), numSamples: u.numSamples, delta: u.delta }));
  for (const u of labelled) {
    if (!(Number.isFinite(u.numSamples) && u.numSamples > 0)) {
      throw new AggregationError(`update ${u.label} has weight ${u.numSamples}; weights must be positive and finite`);
    }
  }
  return labelled;
}

/**
 * For each block key present in any update: the numSamples-weighted mean of that block over
 * exactly the updates containing it. Blocks nobody sent are absent from the result, so applying
 * the result leaves them unchanged. Throws when updates disagree on a block's tensor names or
 * shapes, or a weight is not a positive finite number.
 */
export function weightedMeanByBlock(updates: readonly (ClientUpdate | WeightedDelta)[]): AdapterState {
  if (updates.length === 0) throw new AggregationError('cannot aggregate zero updates');
  const labelled = labelledUpdates(updates);

  const result: AdapterState = new Map();
  for (const key of sortedBlockKeys(labelled.map((u) => u.delta))) {
    const contributors = labelled.filter((u) => u.delta.has(key));
    const reference = contributors[0]!;
    const referenceTensors = reference.delta.get(key)!;
    let totalWeight = 0;
    for (const u of contributors) totalWeight += u.numSamples;

    const sums = new Map<string, Float64Array>();
    for (const [name, t] of referenceTensors) {
      if (t.data.length !== t.shape.reduce((a, b) => a * b, 1)) {
        throw new AggregationError(`update ${reference.label}: ${key}/${name} data length does not match its shape`);
      }
      sums.set(name, new Float64Array(t.data.length));
    }
    // One pass over each upload's values, in upload order (the sums' rounding is that order's).
    for (const u of contributors) {
      const tensors = u.delta.get(key)!;
      checkSameTensors(key, referenceTensors, reference.label, tensors, u.label);
      const w = u.numSamples / totalWeight;
      for (const [name, t] of tensors) addScaled(sums.get(name)!, w, t.data);
    }
    const block = new Map<string, NamedArray>();
    for (const [name, t] of referenceTensors) block.set(name, { shape: [...t.shape], data: new Float32Array(sums.get(name)!) });
    result.set(key, block);
  }
  return result;
}

export interface ApplyDeltaOptions {
  /**
   * Blocks absent from the delta are the base's own block maps (shared, not copied). For states
   * nobody mutates, such as a group's adapter within a round: a shallow group's update touches one
   * or two blocks, and copying the frozen rest for each of 2,000 groups and intra-rounds was a
   * tenth of a 10,000-device round.
   */
  readonly shareUntouched?: boolean;
}

/**
 * base + delta, as a new state: blocks absent from the delta are copied unchanged. Throws when the
 * delta holds a block or tensor the base lacks, or a shape differs.
 */
export function applyDelta(base: AdapterState, delta: AdapterState, options: ApplyDeltaOptions = {}): AdapterState {
  for (const [key, tensors] of delta) {
    const baseTensors = base.get(key);
    if (baseTensors === undefined) throw new AggregationError(`delta has block "${key}" that the base adapter lacks`);
    for (const [name, t] of tensors) {
      const b = baseTensors.get(name);
      if (b === undefined) throw new AggregationError(`delta has tensor "${key}/${name}" that the base adapter lacks`);
      if (!sameShape(b.shape, t.shape) || b.data.length !== t.data.length) {
        throw new AggregationError(
          `shape mismatch for "${key}/${name}": base [${b.shape.join(', ')}], delta [${t.shape.join(', ')}]`,
        );
      }
    }
  }
  const out: AdapterState = new Map();
  for (const [key, tensors] of base) {
    const d = delta.get(key);
    if (d === undefined && options.shareUntouched === true) {
      out.set(key, tensors);
      continue;
    }
    const block = new Map<string, NamedArray>();
    for (const [name, t] of tensors) {
      const dt = d?.get(name);
      const data = dt === undefined ? new Float32Array(t.data) : sumOf(t.data, dt.data);
      block.set(name, { shape: [...t.shape], data });
    }
    out.set(key, block);
  }
  return out;
}

/**
 * after − before, for the given blocks (default: every block of `after`). A group's delta for the
 * global aggregation is subtractAdapters(groupAdapter, globalAdapter, trainedBlockKeys(numBlocks,
 * depth)): leaving the untrained blocks out matters, their zero deltas would otherwise dilute the
 * blocks' global mean.
 */
export function subtractAdapters(after: AdapterState, before: AdapterState, keys?: readonly BlockKey[]): AdapterState {
  const out: AdapterState = new Map();
  for (const key of keys ?? [...after.keys()]) {
    const tensors = after.get(key);
    if (tensors === undefined) throw new AggregationError(`block "${key}" missing from the state to subtract from`);
    const b = before.get(key);
    if (b === undefined) throw new AggregationError(`block "${key}" missing from the state to subtract`);
    const block = new Map<string, NamedArray>();
    for (const [name, t] of tensors) {
      const bt = b.get(name);
      if (bt === undefined || !sameShape(bt.shape, t.shape)) {
        throw new AggregationError(`tensor "${key}/${name}" missing or of another shape in the state to subtract`);
      }
      const data = differenceOf(t.data, bt.data);
      block.set(name, { shape: [...t.shape], data });
    }
    out.set(key, block);
  }
  return out;
}

/** a + b as a new Float32Array, each sum rounded to float32. */
function sumOf(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < out.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

/** a − b as a new Float32Array, each difference rounded to float32. */
function differenceOf(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < out.length; i++) out[i] = a[i]! - b[i]!;
  return out;
}

/** Numeric blocks ascending, then "head" — a stable order whatever order the updates arrived in. */
export function sortedBlockKeys(states: readonly AdapterState[]): BlockKey[] {
  const keys = new Set<BlockKey>();
  for (const s of states) for (const k of s.keys()) keys.add(k);
  return [...keys].sort((a, b) => rank(a) - rank(b));
}

function rank(key: BlockKey): number {
  return key === 'head' ? Number.POSITIVE_INFINITY : Number(key);
}

/** Throws unless `actual` holds exactly `expected`'s tensor names with the same shapes. */
export function checkSameTensors(
  key: BlockKey,
  expected: ReadonlyMap<string, NamedArray>,
  expectedLabel: string,
  actual: ReadonlyMap<string, NamedArray>,
  actualLabel: string,
): void {
  if (actual.size !== expected.size) {
    throw new AggregationError(
      `block "${key}": update ${actualLabel} has tensors [${[...actual.keys()].join(', ')}], ` +
        `update ${expectedLabel} has [${[...expected.keys()].join(', ')}]`,
    );
  }
  for (const [name, t] of actual) {
    const e = expected.get(name);
    if (e === undefined) throw new AggregationError(`block "${key}": update ${actualLabel} has unexpected tensor "${name}"`);
    if (!sameShape(e.shape, t.shape) || e.data.length !== t.data.length) {
      throw new AggregationError(
        `shape mismatch for "${key}/${name}": update ${actualLabel} [${t.shape.join(', ')}], ` +
          `update ${expectedLabel} [${e.shape.join(', ')}]`,
      );
    }
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A group's (or device's) result with the local steps each member took to produce it. */
export interface WorkedDelta extends WeightedDelta {
  /** Local steps behind the delta (τ_g · I for a group's round result). */
  readonly steps: number;
}

/**
 * FedNova-style work normalisation (Wang et al., 2020), block by block: with p_i the sample weights
 * of the updates carrying the block and τ_i their local steps,
 *     Δ = τ_eff · Σ_i p_i Δ_i / τ_i,   τ_eff = Σ_i p_i τ_i.
 * A group that ran 4× the steps no longer pulls the mean 4× as far: each update counts as its
 * per-step direction, rescaled to the mean amount of work. Equals the sample-weighted mean when
 * every τ_i is equal.
 */
export function workNormalizedMeanByBlock(updates: readonly WorkedDelta[]): AdapterState {
  for (const u of updates) {
    if (!(Number.isFinite(u.steps) && u.steps > 0)) throw new AggregationError(`update ${u.id ?? '?'} reports ${u.steps} local steps; must be > 0`);
  }
  const perStep = weightedMeanByBlock(updates.map((u) => ({ id: u.id, numSamples: u.numSamples, delta: scaleState(u.delta, 1 / u.steps) })));
  const out: AdapterState = new Map();
  for (const [key, tensors] of perStep) {
    const carrying = updates.filter((u) => u.delta.has(key));
    const total = carrying.reduce((s, u) => s + u.numSamples, 0);
    const tauEff = carrying.reduce((s, u) => s + (u.numSamples / total) * u.steps, 0);
    const block = new Map<string, NamedArray>();
    for (const [name, t] of tensors) block.set(name, { shape: [...t.shape], data: scaledCopy(t.data, tauEff) });
    out.set(key, block);
  }
  return out;
}

function scaleState(state: AdapterState, factor: number): AdapterState {
  const out: AdapterState = new Map();
  for (const [key, tensors] of state) {
    const block = new Map<string, NamedArray>();
    for (const [name, t] of tensors) block.set(name, { shape: [...t.shape], data: scaledCopy(t.data, factor) });
    out.set(key, block);
  }
  return out;
}

/**
 * ‖Σ c_i A_i B_i − A B‖_F / ‖Σ c_i A_i B_i − A_0 B_0‖_F summed over the LoRA pairs of every block:
 * how far an aggregate (base + `aggregated`) is from the combined product the updates made. 0 for
 * an exact aggregate; sample weights c_i.
 */
export function productAggregationError(base: AdapterState, updates: readonly WeightedDelta[], aggregated: AdapterState): number {
  let errSq = 0;
  let refSq = 0;
  for (const [key, tensors] of aggregated) {
    const b = base.get(key);
    if (b === undefined) continue;
    const carrying = updates.filter((u) => u.delta.has(key));
    const total = carrying.reduce((s, u) => s + u.numSamples, 0);
    for (const name of tensors.keys()) {
      if (!name.endsWith('.A')) continue;
      const bName = `${name.slice(0, -2)}.B`;
      const a0 = b.get(name);
      const b0 = b.get(bName);
      if (a0 === undefined || b0 === undefined || a0.shape.length !== 2) continue;
      const [inDim, rank] = a0.shape as [number, number];
      const outDim = b0.shape[1]!;
      const product = (A: ArrayLike<number>, B: ArrayLike<number>): Float64Array => {
        const P = new Float64Array(inDim * outDim);
        for (let i = 0; i < inDim; i++) for (let r = 0; r < rank; r++) {
          const v = A[i * rank + r]!;
          if (v === 0) continue;
          for (let o = 0; o < outDim; o++) P[i * outDim + o]! += v * B[r * outDim + o]!;
        }
        return P;
      };
      const add = (x: ArrayLike<number>, d: ArrayLike<number>) => Float64Array.from(x as ArrayLike<number>, (v, i) => v + d[i]!);
      const target = new Float64Array(inDim * outDim);
      for (const u of carrying) {
        const t = u.delta.get(key)!;
        const P = product(add(a0.data, t.get(name)!.data), add(b0.data, t.get(bName)!.data));
        const c = u.numSamples / total;
        for (let i = 0; i < P.length; i++) target[i]! += c * P[i]!;
      }
      const P0 = product(a0.data, b0.data);
      const Pagg = product(add(a0.data, tensors.get(name)!.data), add(b0.data, tensors.get(bName)!.data));
      for (let i = 0; i < target.length; i++) {
        errSq += (target[i]! - Pagg[i]!) ** 2;
        refSq += (target[i]! - P0[i]!) ** 2;
      }
    }
  }
  return refSq > 0 ? Math.sqrt(errSq / refSq) : 0;
}
