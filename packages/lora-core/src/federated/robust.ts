/**
 * Robust aggregation of adapter deltas, for fleets where some device may upload a poisoned update
 * (scaled up, sign-flipped): L2-norm clipping of each update, then the coordinate-wise median or
 * trimmed mean block by block, over exactly the updates that carry the block (as
 * weightedMeanByBlock does), so devices of different depths still combine.
 *
 * Sample weights: the median and the trimmed mean ignore numSamples. A weight is what the device
 * declares, so a weighted median or trimmed mean hands a coordinate to whoever claims the most
 * samples; unweighted, one update can move a coordinate only within the range the others span,
 * whatever it claims (Yin et al., ICML 2018). The price: a device with many samples counts as much
 * as one with few. The rule 'mean' keeps the sample-weighted mean, of the clipped updates.
 *
 * One poisoner is outvoted only among three or more updates: with two, the median and the
 * trimmed mean are the plain mean and the 'auto' bound is half the poisoner's norm. Small groups
 * (many --groups for few devices) therefore weaken the defence.
 */
import type { AdapterState, BlockKey, NamedArray } from '../lora/adapter-state';
import { AggregationError, checkSameTensors, labelledUpdates, sortedBlockKeys, weightedMeanByBlock } from './aggregate';
import type { WeightedDelta } from './aggregate';
import { scaledCopy, sortFew, sumOfSquares, sumOfSquaresTwice, trimmedMeanOfColumns } from './fold';
import type { ClientUpdate } from './types';

export type RobustRule = 'mean' | 'median' | 'trimmed-mean' | 'cosine-mean';

export const ROBUST_RULES: readonly RobustRule[] = ['mean', 'median', 'trimmed-mean', 'cosine-mean'];

export interface RobustOptions {
  readonly rule: RobustRule;
  /** trimmed-mean: fraction β of the updates dropped at each end of every coordinate, in [0, 0.5). Default 0.2. */
  readonly trimFraction?: number;
  /**
   * Scale every update whose L2 norm (over all its tensors) exceeds this bound down to the bound.
   * 'auto': block by block, each block's bound is AUTO_CLIP_FACTOR × the median of that block's
   * norms over the updates being aggregated (blockClipBounds). Default: no clipping.
   */
  readonly clipNorm?: number | 'auto';
}

export const DEFAULT_TRIM_FRACTION = 0.2;

/**
 * A fixed bound is hard to pick: update norms depend on learning rates, local steps, depth and how
 * far training has come, and they shrink over a run. The median of the norms in the same
 * aggregation tracks all of that, and while fewer than half the updates are poisoned it is an
 * honest update's norm (adaptive clipping at the median quantile, as in Andrew et al., NeurIPS
 * 2021). Factor 1 clips half the honest updates, but only to a norm another honest device reached.
 * Within a group every update has the same depth, so the norms compare like with like.
 */
export const AUTO_CLIP_FACTOR = 1;

export function isRobustRule(value: unknown): value is RobustRule {
  return typeof value === 'string' && (ROBUST_RULES as readonly string[]).includes(value);
}

export function validateRobustOptions(o: RobustOptions): void {
  if (!isRobustRule(o.rule)) throw new AggregationError(`robust rule must be one of ${ROBUST_RULES.join(', ')}, got "${String(o.rule)}"`);
  const beta = o.trimFraction;
  if (beta !== undefined && !(Number.isFinite(beta) && beta >= 0 && beta < 0.5)) {
    throw new AggregationError(`trim fraction must be in [0, 0.5), got ${beta}`);
  }
  const clip = o.clipNorm;
  if (clip !== undefined && clip !== 'auto' && !(Number.isFinite(clip) && clip > 0)) {
    throw new AggregationError(`clip norm must be a positive number or "auto", got ${String(clip)}`);
  }
}

/** L2 norm over every value of every tensor of the delta. */
export function deltaNorm(delta: AdapterState): number {
  let sumSq = 0;
  for (const tensors of delta.values()) {
    for (const t of tensors.values()) sumSq = sumOfSquares(t.data, sumSq);
  }
  return Math.sqrt(sumSq);
}

/** deltaNorm and each block's own norm (deltaNorm of that block alone), from one pass over the values. */
export function deltaNorms(delta: AdapterState): { total: number; blocks: Map<BlockKey, number> } {
  const sums = new Float64Array(2);
  const blocks = new Map<BlockKey, number>();
  for (const [key, tensors] of delta) {
    sums[1] = 0;
    for (const t of tensors.values()) sumOfSquaresTwice(t.data, sums);
    blocks.set(key, Math.sqrt(sums[1]!));
  }
  return { total: Math.sqrt(sums[0]!), blocks };
}

/** The delta scaled by `factor`, as a new state. */
export function scaleDelta(delta: AdapterState, factor: number): AdapterState {
  const out: AdapterState = new Map();
  for (const [key, tensors] of delta) {
    const block = new Map<string, NamedArray>();
    for (const [name, t] of tensors) block.set(name, { shape: [...t.shape], data: scaledCopy(t.data, factor) });
    out.set(key, block);
  }
  return out;
}

/**
 * 'auto' clipping bounds: per block, AUTO_CLIP_FACTOR × the median of that block's norm over the
 * updates carrying it. Per block rather than over the whole update: the head holds most of an
 * update's norm (≈ 8 of 8.4 on USE-lite), so one bound over everything would let an update with
 * an ordinary head carry encoder blocks several times the honest size.
 */
export function blockClipBounds(updates: readonly Update[], blockNorms: ReadonlyMap<Update, ReadonlyMap<BlockKey, number>> = new Map()): Map<BlockKey, number> {
  const norms = new Map<BlockKey, number[]>();
  for (const u of updates) {
    const known = blockNorms.get(u);
    for (const [key, tensors] of u.delta) (norms.get(key) ?? norms.set(key, []).get(key)!).push(known?.get(key) ?? deltaNorm(new Map([[key, tensors]])));
  }
  return new Map([...norms].map(([key, n]) => [key, clipBound(n, 'auto')]));
}

/** The delta with each block over its bound scaled down to it; the delta itself when none is. `blockNorms`: the blocks' norms when known. */
export function clipBlocks(delta: AdapterState, bounds: ReadonlyMap<BlockKey, number>, blockNorms?: ReadonlyMap<BlockKey, number>): AdapterState {
  let out: AdapterState | undefined;
  for (const [key, tensors] of delta) {
    const bound = bounds.get(key);
    const block: AdapterState = new Map([[key, tensors]]);
    const norm = blockNorms?.get(key) ?? deltaNorm(block);
    if (bound === undefined || norm <= bound) continue;
    out ??= new Map(delta);
    out.set(key, scaleDelta(block, bound / norm).get(key)!);
  }
  return out ?? delta;
}

/** The delta itself when its norm is within `bound`, else a copy scaled down to norm `bound`. */
export function clipDelta(delta: AdapterState, bound: number, norm = deltaNorm(delta)): AdapterState {
  return norm <= bound ? delta : scaleDelta(delta, bound / norm);
}

/** The clip bound for updates with these norms: the fixed bound, or AUTO_CLIP_FACTOR × their median. */
export function clipBound(norms: readonly number[], clipNorm: number | 'auto'): number {
  if (clipNorm !== 'auto') return clipNorm;
  if (norms.length === 0) throw new AggregationError('no norms to take the median of');
  const sorted = [...norms].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return AUTO_CLIP_FACTOR * median;
}

/**
 * Values dropped at each end for n values and fraction β: ⌈βn⌉, so β > 0 trims at least one value
 * per side (βn attackers need ⌈βn⌉ trimmed; ⌊βn⌋ would trim nothing for 4 devices at β = 0.2),
 * capped so at least one value (odd n) or two (even n) remain.
 */
export function trimCount(n: number, beta: number): number {
  return Math.min(Math.ceil(beta * n - 1e-9), Math.floor((n - 1) / 2));
}

type Update = ClientUpdate | WeightedDelta;

/** Per coordinate, over the updates carrying the block: the mean of the values left after sorting and dropping trim(n) at each end. */
function trimmedByBlock(updates: readonly Update[], trim: (n: number) => number): AdapterState {
  if (updates.length === 0) throw new AggregationError('cannot aggregate zero updates');
  const labelled = labelledUpdates(updates);
  const result: AdapterState = new Map();
  for (const key of sortedBlockKeys(labelled.map((u) => u.delta))) {
    const contributors = labelled.filter((u) => u.delta.has(key));
    const reference = contributors[0]!;
    const referenceTensors = reference.delta.get(key)!;
    for (const u of contributors) checkSameTensors(key, referenceTensors, reference.label, u.delta.get(key)!, u.label);
    const n = contributors.length;
    const k = trim(n);
    const block = new Map<string, NamedArray>();
    for (const [name, t] of referenceTensors) {
      if (t.data.length !== t.shape.reduce((a, b) => a * b, 1)) {
        throw new AggregationError(`update ${reference.label}: ${key}/${name} data length does not match its shape`);
      }
      const columns = contributors.map((u) => u.delta.get(key)!.get(name)!.data);
      const out = new Float32Array(t.data.length);
      trimmedMeanOfColumns(columns, k, out);
      block.set(name, { shape: [...t.shape], data: out });
    }
    result.set(key, block);
  }
  return result;
}

/** Coordinate-wise median block by block (the mean of the two middle values for an even count); unweighted. */
export function coordinateMedianByBlock(updates: readonly Update[]): AdapterState {
  return trimmedByBlock(updates, (n) => Math.floor((n - 1) / 2));
}

/** Coordinate-wise β-trimmed mean block by block (trimCount values dropped at each end); unweighted. */
export function trimmedMeanByBlock(updates: readonly Update[], trimFraction = DEFAULT_TRIM_FRACTION): AdapterState {
  validateRobustOptions({ rule: 'trimmed-mean', trimFraction });
  return trimmedByBlock(updates, (n) => trimCount(n, trimFraction));
}

/** Clips the updates (when asked), then combines them block by block with the rule. */
export function robustAggregateByBlock(updates: readonly Update[], options: RobustOptions): AdapterState {
  return robustAggregateWithReport(updates, options).delta;
}

/** What the robust rule did with one update (for logs and tests). */
export interface RobustUpdateDecision {
  /** The device id (or the update's id / position). */
  readonly label: string;
  /** L2 norm of the update as uploaded. */
  readonly norm: number;
  /** cosine-mean: the update's last cosine with the coordinate-wise median of the agreement filter; null for the other rules. */
  readonly cosine: number | null;
  /** False when the rule left the update out entirely (cosine-mean's agreement filter). */
  readonly kept: boolean;
  /** Whether clipping scaled the update (or, for 'auto', one of its blocks) down. */
  readonly clipped: boolean;
}

export interface RobustReport {
  readonly rule: RobustRule;
  /** The clip bound applied (null: no clipping); for 'auto', √Σ of the per-block bounds² (the largest norm left). */
  readonly clipBound: number | null;
  /** One per update, in the order given. */
  readonly updates: readonly RobustUpdateDecision[];
}

/** robustAggregateByBlock, with a report of which updates were kept, their cosines and the clip bound. */
export function robustAggregateWithReport(updates: readonly Update[], options: RobustOptions): { delta: AdapterState; report: RobustReport } {
  validateRobustOptions(options);
  const labels = labelledUpdates(updates).map((u) => u.label);
  const normsOf = new Map(updates.map((u) => [u, deltaNorms(u.delta)] as const));
  const norms = updates.map((u) => normsOf.get(u)!.total);
  const blockNorms = new Map([...normsOf].map(([u, n]) => [u, n.blocks] as const));
  // cosine-mean: the updates that disagree with the majority leave before anything is computed
  // from the norms, so they cannot move the clip bound (nor, then, the honest updates' scale).
  const cosines = new Map<Update, number>();
  const agreeing = options.rule === 'cosine-mean' && updates.length > 0 ? agreeingUpdates(updates, cosines) : [...updates];
  const keptSet = new Set<Update>(agreeing);
  let bound: number | null = null;
  let clipped: Update[] = agreeing;
  const wasClipped = new Set<Update>();
  if (options.clipNorm === 'auto' && agreeing.length > 0) {
    const bounds = blockClipBounds(agreeing, blockNorms);
    bound = Math.sqrt([...bounds.values()].reduce((a, b) => a + b * b, 0));
    clipped = agreeing.map((u) => {
      const delta = clipBlocks(u.delta, bounds, blockNorms.get(u));
      if (delta !== u.delta) wasClipped.add(u);
      return { ...u, delta };
    });
  } else if (typeof options.clipNorm === 'number' && agreeing.length > 0) {
    const b = options.clipNorm;
    bound = b;
    clipped = agreeing.map((u) => {
      const norm = norms[updates.indexOf(u)]!;
      if (norm > b) wasClipped.add(u);
      return { ...u, delta: clipDelta(u.delta, b, norm) };
    });
  }
  const report: RobustReport = {
    rule: options.rule,
    clipBound: bound,
    updates: updates.map((u, i) => ({
      label: labels[i]!,
      norm: norms[i]!,
      cosine: cosines.get(u) ?? null,
      kept: keptSet.has(u),
      clipped: wasClipped.has(u),
    })),
  };
  return { delta: combine(clipped, options), report };
}

function combine(clipped: readonly Update[], options: RobustOptions): AdapterState {
  switch (options.rule) {
    case 'mean':
      return weightedMeanByBlock(clipped);
    case 'median':
      return coordinateMedianByBlock(clipped);
    case 'trimmed-mean':
      return trimmedMeanByBlock(clipped, options.trimFraction ?? DEFAULT_TRIM_FRACTION);
    case 'cosine-mean':
      return cosineWeightedMeanByBlock(clipped);
  }
}

/** One line for a log: `cosine-mean clip 0.0123: kept a (cos 0.41, norm 0.0150 clipped), b (…); dropped x (cos -0.52, norm 0.0140)`. */
export function formatRobustReport(r: RobustReport): string {
  const one = (d: RobustUpdateDecision) =>
    `${d.label} (${d.cosine === null ? '' : `cos ${d.cosine.toFixed(3)}, `}norm ${d.norm.toPrecision(6)}${d.clipped ? ' clipped' : ''})`;
  const kept = r.updates.filter((d) => d.kept);
  const dropped = r.updates.filter((d) => !d.kept);
  return (
    `${r.rule}${r.clipBound === null ? '' : ` clip ${r.clipBound.toPrecision(6)}`}: kept ${kept.length ? kept.map(one).join(', ') : 'none'}` +
    `; dropped ${dropped.length ? dropped.map(one).join(', ') : 'none'}`
  );
}

/** Cosine of the angle between two deltas over the tensors both carry; 0 when either is zero there. */
export function deltaCosine(a: AdapterState, b: AdapterState, skip?: (key: string) => boolean): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (const [key, tensors] of a) {
    const other = b.get(key);
    if (!other || skip?.(key)) continue;
    for (const [name, t] of tensors) {
      const u = other.get(name);
      if (!u || u.data.length !== t.data.length) continue;
      for (let i = 0; i < t.data.length; i++) {
        const x = t.data[i]!;
        const y = u.data[i]!;
        dot += x * y;
        na += x * x;
        nb += y * y;
      }
    }
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

/**
 * How many chance-level standard deviations a cosine must clear to count as agreement. An update
 * whose values had random signs (with its own magnitudes) would have, against a fixed reference r,
 * a cosine of mean 0 and standard deviation σ = √(Σ x_i² r_i²) / (‖x‖ ‖r‖): about 1/√n for n
 * values of one size, but ≈ 1/√(head size) when the head holds most of the norm, as it does here.
 * 3σ lets a random-sign update through once in ~700 aggregations; the honest uploads measured sat
 * at 5–25σ.
 */
export const AGREEMENT_Z = 3;

/** A cosine with a reference, and its chance level σ (see AGREEMENT_Z); cosine NaN when there is nothing to compare with. */
export interface Agreement {
  readonly cosine: number;
  readonly sigma: number;
}

/** Median of `sorted` (ascending, length n) with the value at rank `skip` left out. */
function medianWithout(sorted: Float64Array, n: number, skip: number): number {
  const m = n - 1;
  // Rank k of the values left is rank k (below skip) or k + 1 (from skip on) of all n.
  if (m % 2 === 1) {
    const k = (m - 1) >> 1;
    return sorted[k < skip ? k : k + 1]!;
  }
  const lo = m / 2 - 1;
  const hi = m / 2;
  return (sorted[lo < skip ? lo : lo + 1]! + sorted[hi < skip ? hi : hi + 1]!) / 2;
}

class AgreementSums {
  dot = 0;
  self = 0;
  ref = 0;
  cross = 0;
  add(x: number, r: number): void {
    this.dot += x * r;
    this.self += x * x;
    this.ref += r * r;
    this.cross += x * x * r * r;
  }
  /** Copies the four sums to acc[at…at+3] (dot, self, ref, cross), for a loop that adds to them there. */
  storeTo(acc: Float64Array, at: number): void {
    acc[at] = this.dot;
    acc[at + 1] = this.self;
    acc[at + 2] = this.ref;
    acc[at + 3] = this.cross;
  }
  loadFrom(acc: Float64Array, at: number): void {
    this.dot = acc[at]!;
    this.self = acc[at + 1]!;
    this.ref = acc[at + 2]!;
    this.cross = acc[at + 3]!;
  }
  result(): Agreement {
    if (!(this.self > 0 && this.ref > 0)) return { cosine: 0, sigma: 0 };
    const scale = Math.sqrt(this.self * this.ref);
    return { cosine: this.dot / scale, sigma: Math.sqrt(this.cross) / scale };
  }
}

/**
 * Each update's agreement with the coordinate-wise median of the OTHER updates, over every block
 * it shares with them (the classification head included); cosine NaN for an update with no other
 * to compare with. Leaving the update out matters: with few updates an update is one of the
 * middle values, hence part of the median, in a large share of the coordinates, so against the
 * median of all of them every update — a sign-flipped or a random-sign one too — has a cosine
 * near 1/2 (measured: 0.42 and 0.50 among four uploads, honest updates 0.48–0.52). The median of
 * the others per coordinate comes from one sort: removing the value at rank r shifts the ranks
 * above it by one.
 *
 * Why the head counts (measured on real uploads, USE-lite, 4 Adam steps, Dirichlet 0.5 over 20
 * classes): the honest encoder-LoRA blocks are nearly orthogonal to each other (leave-one-out
 * cosines 0.001–0.02 in round 1, −0.08 for one honest device in round 3), while the honest heads
 * agree clearly (0.06–0.30: every device lowers the classes it does not see) and hold most of
 * the update's norm (≈ 8 of 8.4), and with it most of what an attacker can do.
 */
export function leaveOneOutAgreement(updates: readonly Update[]): Agreement[] {
  const n = updates.length;
  const sums = updates.map(() => new AgreementSums());
  const keys = new Set<BlockKey>();
  for (const u of updates) for (const k of u.delta.keys()) keys.add(k);
  for (const key of keys) {
    const carriers = updates.map((u, i) => [i, u.delta.get(key)] as const).filter((x): x is readonly [number, Map<string, NamedArray>] => x[1] !== undefined);
    const m = carriers.length;
    if (m < 2) continue;
    const carrierSums = carriers.map(([i]) => sums[i]!);
    for (const name of carriers[0]![1].keys()) {
      const columns = carriers.map(([, t]) => t.get(name)?.data);
      if (columns.some((c) => c === undefined || c.length !== columns[0]!.length)) continue;
      leaveOneOutColumns(columns as Float32Array[], carrierSums);
    }
  }
  return sums.map((x) => (n < 2 ? { cosine: Number.NaN, sigma: 0 } : x.result()));
}

/**
 * Adds, for every coordinate of the m equally long columns, column j's value against the median of
 * the others to carrierSums[j]. The loops add to a flat Float64Array (4 sums per column) rather
 * than to the objects' fields: the same additions in the same order, so the same bits.
 *
 * Per coordinate the values are sorted (without their columns) and each value is compared with the
 * middle one: whether it lies below, at or above it says which two (odd m) or which one (even m)
 * of the middle order statistics the others' median is, as medianWithout's rank rule gives it;
 * where the value ties the middle, the candidates are equal. Equal values may be ordered otherwise
 * than a stable sort orders them, which only swaps -0 and +0: a median ±0 enters the sums as
 * x·(±0), r² and x²r², and sums that start at +0 cannot end at -0, so no bit changes. A coordinate
 * holding a NaN goes through the general path.
 */
function leaveOneOutColumns(columns: readonly Float32Array[], carrierSums: readonly AgreementSums[]): void {
  const m = columns.length;
  const acc = new Float64Array(4 * m);
  for (let j = 0; j < m; j++) carrierSums[j]!.storeTo(acc, 4 * j);
  const scratch = leaveOneOutScratch(m);
  if (m === 5) leaveOneOutFive(columns, acc, scratch);
  else if (m === 3) leaveOneOutThree(columns, acc, scratch);
  else if (m === 4) leaveOneOutFour(columns, acc, scratch);
  else if (m === 6) leaveOneOutSix(columns, acc, scratch);
  else leaveOneOutGeneral(columns, acc, scratch);
  for (let j = 0; j < m; j++) carrierSums[j]!.loadFrom(acc, 4 * j);
}

/** leaveOneOutColumns' loop for any m. */
function leaveOneOutGeneral(columns: readonly Float32Array[], acc: Float64Array, scratch: LeaveOneOutScratch): void {
  const m = columns.length;
  const { values, sorted } = scratch;
  const len = columns[0]!.length;
  const k = (m - 1) >> 1;
  for (let i = 0; i < len; i++) {
    let nan = false;
    for (let j = 0; j < m; j++) {
      const v = columns[j]![i]!;
      values[j] = v;
      if (v !== v) nan = true;
    }
    if (nan) {
      leaveOneOutAt(columns, acc, i, scratch);
      continue;
    }
    sortFew(values, sorted, m);
    if (m % 2 === 1) {
      // The others' median: (s[k]+s[k+1])/2 below rank k, (s[k-1]+s[k+1])/2 at it, (s[k-1]+s[k])/2 above.
      const lo = sorted[k - 1]!, mid = sorted[k]!, hi = sorted[k + 1]!;
      for (let j = 0; j < m; j++) {
        const x = values[j]!;
        addAgreement(acc, 4 * j, x, x < mid ? (mid + hi) / 2 : x > mid ? (lo + mid) / 2 : (lo + hi) / 2);
      }
    } else {
      // The others' median: s[k+1] for a value below it, else s[k].
      const lo = sorted[k]!, hi = sorted[k + 1]!;
      for (let j = 0; j < m; j++) {
        const x = values[j]!;
        addAgreement(acc, 4 * j, x, x < hi ? hi : lo);
      }
    }
  }
}

/** AgreementSums.add on the four sums at acc[at…at+3]. */
function addAgreement(acc: Float64Array, at: number, x: number, r: number): void {
  acc[at]! += x * r;
  acc[at + 1]! += x * x;
  acc[at + 2]! += r * r;
  acc[at + 3]! += x * x * r * r;
}

/**
 * leaveOneOutColumns for five columns (the planner's usual group size): a sorting network on
 * locals carrying each value's column, about twice as fast as the general loop. The medians of
 * the other four are (s2+s3)/2 for ranks 0–1, (s1+s3)/2 for rank 2 and (s1+s2)/2 for ranks 3–4 of
 * the sorted s0…s4, as medianWithout gives them (equal values in another order change no bit, as
 * for the general loop). A coordinate holding a NaN goes through leaveOneOutAt.
 */
function leaveOneOutFive(columns: readonly Float32Array[], acc: Float64Array, scratch: LeaveOneOutScratch): void {
  const c0 = columns[0]!, c1 = columns[1]!, c2 = columns[2]!, c3 = columns[3]!, c4 = columns[4]!;
  const len = c0.length;
  for (let i = 0; i < len; i++) {
    const x0 = c0[i]!, x1 = c1[i]!, x2 = c2[i]!, x3 = c3[i]!, x4 = c4[i]!;
    if (x0 !== x0 || x1 !== x1 || x2 !== x2 || x3 !== x3 || x4 !== x4) {
      leaveOneOutAt(columns, acc, i, scratch);
      continue;
    }
    let a = x0, b = x1, c = x2, d = x3, e = x4, t: number;
    if (a > b) { t = a; a = b; b = t; }
    if (d > e) { t = d; d = e; e = t; }
    if (c > e) { t = c; c = e; e = t; }
    if (c > d) { t = c; c = d; d = t; }
    if (a > d) { t = a; a = d; d = t; }
    // From here on only the three middle values are needed.
    if (a > c) c = a;
    if (b > e) b = e;
    if (b > d) { t = b; b = d; d = t; }
    if (b > c) { t = b; b = c; c = t; }
    // b ≤ c ≤ d are s1, s2, s3.
    const below = (c + d) / 2, at = (b + d) / 2, above = (b + c) / 2;
    addAgreement(acc, 0, x0, x0 < c ? below : x0 > c ? above : at);
    addAgreement(acc, 4, x1, x1 < c ? below : x1 > c ? above : at);
    addAgreement(acc, 8, x2, x2 < c ? below : x2 > c ? above : at);
    addAgreement(acc, 12, x3, x3 < c ? below : x3 > c ? above : at);
    addAgreement(acc, 16, x4, x4 < c ? below : x4 > c ? above : at);
  }
}

/** leaveOneOutGeneral's loop for three columns, on locals (the odd-m rule with s0, s1, s2). */
function leaveOneOutThree(columns: readonly Float32Array[], acc: Float64Array, scratch: LeaveOneOutScratch): void {
  const c0 = columns[0]!, c1 = columns[1]!, c2 = columns[2]!;
  const len = c0.length;
  for (let i = 0; i < len; i++) {
    const x0 = c0[i]!, x1 = c1[i]!, x2 = c2[i]!;
    if (x0 !== x0 || x1 !== x1 || x2 !== x2) {
      leaveOneOutAt(columns, acc, i, scratch);
      continue;
    }
    let a = x0, b = x1, c = x2, t: number;
    if (a > b) { t = a; a = b; b = t; }
    if (b > c) { t = b; b = c; c = t; }
    if (a > b) { t = a; a = b; b = t; }
    const below = (b + c) / 2, at = (a + c) / 2, above = (a + b) / 2;
    addAgreement(acc, 0, x0, x0 < b ? below : x0 > b ? above : at);
    addAgreement(acc, 4, x1, x1 < b ? below : x1 > b ? above : at);
    addAgreement(acc, 8, x2, x2 < b ? below : x2 > b ? above : at);
  }
}

/**
 * leaveOneOutGeneral's loop for four columns, on locals: the others' median is s2 for a value below
 * s2, else s1.
 */
function leaveOneOutFour(columns: readonly Float32Array[], acc: Float64Array, scratch: LeaveOneOutScratch): void {
  const c0 = columns[0]!, c1 = columns[1]!, c2 = columns[2]!, c3 = columns[3]!;
  const len = c0.length;
  for (let i = 0; i < len; i++) {
    const x0 = c0[i]!, x1 = c1[i]!, x2 = c2[i]!, x3 = c3[i]!;
    if (x0 !== x0 || x1 !== x1 || x2 !== x2 || x3 !== x3) {
      leaveOneOutAt(columns, acc, i, scratch);
      continue;
    }
    // The two middle values of four: the larger of the pairs' minima and the smaller of their maxima.
    const lo01 = x0 < x1 ? x0 : x1, hi01 = x0 < x1 ? x1 : x0;
    const lo23 = x2 < x3 ? x2 : x3, hi23 = x2 < x3 ? x3 : x2;
    const p = lo01 > lo23 ? lo01 : lo23, q = hi01 < hi23 ? hi01 : hi23;
    const s1 = p < q ? p : q, s2 = p < q ? q : p;
    addAgreement(acc, 0, x0, x0 < s2 ? s2 : s1);
    addAgreement(acc, 4, x1, x1 < s2 ? s2 : s1);
    addAgreement(acc, 8, x2, x2 < s2 ? s2 : s1);
    addAgreement(acc, 12, x3, x3 < s2 ? s2 : s1);
  }
}

/** leaveOneOutGeneral's loop for six columns, on locals: the others' median is s3 for a value below s3, else s2. */
function leaveOneOutSix(columns: readonly Float32Array[], acc: Float64Array, scratch: LeaveOneOutScratch): void {
  const c0 = columns[0]!, c1 = columns[1]!, c2 = columns[2]!, c3 = columns[3]!, c4 = columns[4]!, c5 = columns[5]!;
  const len = c0.length;
  for (let i = 0; i < len; i++) {
    const x0 = c0[i]!, x1 = c1[i]!, x2 = c2[i]!, x3 = c3[i]!, x4 = c4[i]!, x5 = c5[i]!;
    if (x0 !== x0 || x1 !== x1 || x2 !== x2 || x3 !== x3 || x4 !== x4 || x5 !== x5) {
      leaveOneOutAt(columns, acc, i, scratch);
      continue;
    }
    let a = x0, b = x1, c = x2, d = x3, e = x4, f = x5, t: number;
    if (a > b) { t = a; a = b; b = t; }
    if (c > d) { t = c; c = d; d = t; }
    if (e > f) { t = e; e = f; f = t; }
    if (a > c) { t = a; a = c; c = t; }
    if (b > e) { t = b; b = e; e = t; }
    if (d > f) { t = d; d = f; f = t; }
    // The last six comparators keep only what the two middle values need.
    if (a > b) b = a;
    if (c > d) { t = c; c = d; d = t; }
    if (e > f) e = f;
    if (b > c) c = b;
    if (d > e) d = e;
    if (c > d) { t = c; c = d; d = t; }
    // c ≤ d are s2 and s3.
    addAgreement(acc, 0, x0, x0 < d ? d : c);
    addAgreement(acc, 4, x1, x1 < d ? d : c);
    addAgreement(acc, 8, x2, x2 < d ? d : c);
    addAgreement(acc, 12, x3, x3 < d ? d : c);
    addAgreement(acc, 16, x4, x4 < d ? d : c);
    addAgreement(acc, 20, x5, x5 < d ? d : c);
  }
}

interface LeaveOneOutScratch {
  readonly values: Float64Array;
  readonly sorted: Float64Array;
  readonly order: Int32Array;
  readonly rank: Int32Array;
}

const leaveOneOutScratch = (m: number): LeaveOneOutScratch => ({ values: new Float64Array(m), sorted: new Float64Array(m), order: new Int32Array(m), rank: new Int32Array(m) });

/** leaveOneOutColumns' step for coordinate i alone (any number of columns), adding to acc as leaveOneOutColumns lays it out. */
function leaveOneOutAt(columns: readonly Float32Array[], acc: Float64Array, i: number, scratch: LeaveOneOutScratch): void {
  const m = columns.length;
  const { values, sorted, order, rank } = scratch;
  // Insertion sort of the m values (m is a group's size: small); ties keep column order.
  for (let j = 0; j < m; j++) {
    const v = columns[j]![i]!;
    values[j] = v;
    let k = j;
    while (k > 0 && sorted[k - 1]! > v) {
      sorted[k] = sorted[k - 1]!;
      order[k] = order[k - 1]!;
      k--;
    }
    sorted[k] = v;
    order[k] = j;
  }
  for (let k = 0; k < m; k++) rank[order[k]!] = k;
  for (let j = 0; j < m; j++) addAgreement(acc, 4 * j, values[j]!, medianWithout(sorted, m, rank[j]!));
}

/** leaveOneOutAgreement's cosines alone. */
export function leaveOneOutCosines(updates: readonly Update[]): number[] {
  return leaveOneOutAgreement(updates).map((a) => a.cosine);
}

/** The agreement of `delta` with `reference` over the tensors both carry. */
export function agreementWith(delta: AdapterState, reference: AdapterState): Agreement {
  const sums = new AgreementSums();
  for (const [key, tensors] of delta) {
    const other = reference.get(key);
    if (!other) continue;
    for (const [name, t] of tensors) {
      const r = other.get(name);
      if (!r || r.data.length !== t.data.length) continue;
      for (let i = 0; i < t.data.length; i++) sums.add(t.data[i]!, r.data[i]!);
    }
  }
  return sums.result();
}

/** Clear agreement (cosine > AGREEMENT_Z σ); else, when nobody clears it, any positive cosine; undefined when none has one. */
function agreeing<U>(scored: readonly { u: U; a: Agreement }[]): U[] | undefined {
  let next = scored.filter(({ a }) => clears(a));
  if (next.length === 0) next = scored.filter(({ a }) => a.cosine > 0);
  return next.length === 0 ? undefined : next.map(({ u }) => u);
}

/** Agreement of every pair of updates (symmetric; the diagonal is left empty). */
export function pairwiseAgreement(updates: readonly Update[]): Agreement[][] {
  const out = updates.map(() => new Array<Agreement>(updates.length));
  // Two updates of the same layout (blocks, tensors and lengths, in the same order: a group's
  // usual case) meet over all their values, so each one's Σx² in agreementWith is the same chain
  // of additions whatever the partner: computed once per update, and a pair sums only x·r and x²r².
  const layouts = updates.map((u) => layoutOf(u.delta));
  const selfSums = updates.map((u) => {
    let sum = 0;
    for (const tensors of u.delta.values()) for (const t of tensors.values()) sum = sumOfSquares(t.data, sum);
    return sum;
  });
  for (let i = 0; i < updates.length; i++) {
    for (let j = i + 1; j < updates.length; j++) {
      const a =
        layouts[i] === layouts[j]
          ? sameLayoutAgreement(updates[i]!.delta, updates[j]!.delta, selfSums[i]!, selfSums[j]!)
          : agreementWith(updates[i]!.delta, updates[j]!.delta);
      out[i]![j] = a;
      out[j]![i] = a;
    }
  }
  return out;
}

/** The delta's blocks, tensors and lengths in iteration order, as one string. */
function layoutOf(delta: AdapterState): string {
  const parts: string[] = [];
  for (const [key, tensors] of delta) for (const [name, t] of tensors) parts.push(`${key}/${name}/${t.data.length}`);
  return JSON.stringify(parts);
}

/** agreementWith(a, b) for two deltas of the same layout, given each one's Σx² over all its values. */
function sameLayoutAgreement(a: AdapterState, b: AdapterState, selfA: number, selfB: number): Agreement {
  const sums = new AgreementSums();
  const acc = new Float64Array(2);
  for (const [key, tensors] of a) {
    const other = b.get(key)!;
    for (const [name, t] of tensors) dotAndCross(t.data, other.get(name)!.data, acc);
  }
  sums.dot = acc[0]!;
  sums.cross = acc[1]!;
  sums.self = selfA;
  sums.ref = selfB;
  return sums.result();
}

/** acc[0] += Σ x·r, acc[1] += Σ x·x·r·r, in index order (AgreementSums.add's dot and cross). */
function dotAndCross(x: Float32Array, r: Float32Array, acc: Float64Array): void {
  let dot = acc[0]!;
  let cross = acc[1]!;
  const n = x.length;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    const w = r[i]!;
    dot += v * w;
    cross += v * v * w * w;
  }
  acc[0] = dot;
  acc[1] = cross;
}

const clears = (a: Agreement) => a.cosine > 0 && a.cosine > AGREEMENT_Z * a.sigma;

/**
 * The updates that agree with the majority. Pass 1 finds a core: the updates that clearly agree
 * (cosine above AGREEMENT_Z × its chance level) with at least half of the others, pair by pair.
 * Pairs rather than each update against the median of the others, because when honest updates
 * barely agree among themselves, one sign-flipped update among three others bends that median
 * enough that every honest update points away from it (measured: round 3 of a real run, every
 * leave-one-out cosine negative, while the honest pairs stayed positive). When no update has that
 * many partners, the core is those with a clearly positive (else any positive) cosine with the
 * median of the others. Pass 2: every update — also one pass 1 left out — against the
 * coordinate-wise median of the core (without itself when it is a member); kept when it clears,
 * or, when none does, when it is positive. All updates are kept only when nothing agrees with
 * anything; a single update is kept. `cosines`, when given, receives each update's cosine in the
 * pass that decided it.
 */
export function agreeingUpdates<U extends Update>(updates: readonly U[], cosines?: Map<Update, number>): U[] {
  const n = updates.length;
  if (n < 2) return [...updates];
  const pairs = pairwiseAgreement(updates);
  const partnersNeeded = Math.ceil((n - 1) / 2);
  let core: U[] | undefined = updates.filter((_, i) => pairs[i]!.filter((a) => a !== undefined && clears(a)).length >= partnersNeeded);
  let first: Agreement[] | undefined;
  if (core.length === 0) {
    first = leaveOneOutAgreement(updates);
    core = agreeing(updates.map((u, i) => ({ u, a: first![i]! })));
  }
  if (core === undefined) {
    updates.forEach((u, i) => cosines?.set(u, first![i]!.cosine));
    return [...updates];
  }
  const inCore = core.length > 1 ? leaveOneOutAgreement(core) : undefined;
  const median = core.length === n ? undefined : coordinateMedianByBlock(core);
  const second = updates.map((u) => {
    const k = core.indexOf(u);
    // A lone core member has no other to be judged against: it stays.
    const a = k >= 0 ? (inCore?.[k] ?? { cosine: 1, sigma: 0 }) : agreementWith(u.delta, median!);
    return { u, a };
  });
  second.forEach(({ u, a }) => cosines?.set(u, a.cosine));
  return agreeing(second) ?? core;
}

/**
 * The weighted mean of the updates, each update's weight multiplied by max(0, its cosine with
 * the coordinate-wise median of all of them): an update pointing against what the majority does
 * (a sign flip) or across it (random noise: cosine ≈ 0 in many dimensions) counts for nothing or
 * next to nothing, while honest updates, which share the majority's direction even under label
 * skew, keep nearly their sample weights — so an honest run loses little of the plain mean's
 * efficiency (the median alone discards the spread of honest updates). As for any rule built on
 * the median, it holds while attackers are fewer than half. When no update agrees with the
 * median (e.g. two updates that cancel), the median itself is returned.
 */
export function cosineWeightedMeanByBlock(updates: readonly Update[]): AdapterState {
  const reference = coordinateMedianByBlock(updates);
  const agreeing = updates
    .map((u) => ({ u, c: deltaCosine(u.delta, reference) }))
    .filter(({ c }) => c > 0)
    .map(({ u, c }) => ({ ...u, numSamples: u.numSamples * c }));
  return agreeing.length === 0 ? reference : weightedMeanByBlock(agreeing);
}

/**
 * A device as the planner should see it when its sample count is only its own claim: at most `cap`
 * samples, its label histogram scaled down to that total (largest remainders, so it still sums to
 * numSamples). A liar then pulls the fleet's pooled label distribution — and so everyone's
 * grouping — no harder than an honest device of the capped size; its class mix moves its own
 * placement. Devices within the cap are returned as they are.
 */
export function capDeclaredSamples<T extends { readonly numSamples: number; readonly labelHistogram: readonly number[] }>(device: T, cap: number): T {
  if (!(device.numSamples > cap) || !Number.isFinite(cap)) return device;
  const total = Math.max(1, Math.floor(cap));
  const scale = total / device.numSamples;
  const exact = device.labelHistogram.map((c) => c * scale);
  const hist = exact.map(Math.floor);
  let left = total - hist.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left <= 0) break;
    hist[i]! += 1;
    left -= 1;
  }
  return { ...device, numSamples: total, labelHistogram: hist };
}
