/**
 * Near-IID grouping: partition devices so that each group's pooled label distribution is close to
 * the fleet's, using label histograms only.
 *
 * Objective: minimize, lexicographically, (max over groups of JS(P_g ‖ P), sum over groups of
 * JS(P_g ‖ P)), where P_g is the group's pooled label distribution and P the fleet's, JS the
 * Jensen–Shannon divergence in bits (see label-distribution.ts for why JS). Constraints: K groups
 * (from numGroups, or n / targetGroupSize clamped to what the size bounds allow) of sizes within
 * [minGroupSize, maxGroupSize].
 *
 * Algorithm:
 *  1. Greedy: devices sorted by their own skew JS(P_i ‖ P), most skewed first (ties in seeded
 *     random order). Each goes to the group whose divergence it raises least (or lowers most),
 *     where a partly filled group is scored as if its missing samples (up to the fleet's mean group
 *     sample count) followed P — otherwise empty groups look perfect or terrible and the greedy
 *     fills one group before it opens another. The greedy keeps sizes balanced: only groups below
 *     min(maxGroupSize, ceil(n / K)) are candidates (the local search may unbalance them within
 *     [minGroupSize, maxGroupSize] when that lowers the objective), and a
 *     group below minGroupSize must be chosen when the remaining devices are just enough to fill
 *     the groups still short. Candidates within capabilityTieTolerance of the best score are
 *     separated by capability similarity: the device joins the group whose mean log step time is
 *     closest to its own — a partly filled group's missing members (up to n / K) counted at the
 *     fleet's mean, the same top-up as for labels — then the lowest group index.
 *  2. Local search: steepest descent over single moves (within size bounds) and pairwise swaps
 *     between groups on the exact objective above, until no move improves it or maxSwapPasses.
 * Deterministic: the result depends on the device set and the seed, not on the input order.
 */
import type { DeviceInfo } from './types';
import { addHistograms, countsDivergence, normalize } from './label-distribution';
import { seededRandom, shuffled } from './random';

export interface DeviceGroup {
  readonly groupId: string;
  readonly deviceIds: readonly string[];
}

export interface GroupingOptions {
  /** Fixed number of groups; otherwise round(n / targetGroupSize) within the size bounds. */
  readonly numGroups?: number;
  /** Default 5. */
  readonly targetGroupSize?: number;
  /** Default 1. */
  readonly minGroupSize?: number;
  /** Default unbounded. */
  readonly maxGroupSize?: number;
  /** Default 0; strategies pass PlanContext.seed. */
  readonly seed?: number;
  /** Greedy candidates within this JS distance (bits) of the best count as tied. Default 1e-3. */
  readonly capabilityTieTolerance?: number;
  /** Upper bound on local-search passes. Default 200. */
  readonly maxSwapPasses?: number;
  /**
   * Speed coherence: upper bound on the slowest/fastest step-time ratio of the devices of one
   * group (devices are first cut into speed bands, see speedBands). Default ∞ (label-only).
   */
  readonly maxSpeedRatio?: number;
  /** Devices per speed band at most (bounds the greedy's and the search's cost at large n). Default 100. */
  readonly maxBandSize?: number;
  /**
   * Devices per speed band at least: a band pools the label mass its groups are drawn from, and a
   * few skewed devices cannot make near-IID groups (at α = 0.1 a device holds 1–3 labels), so a
   * speed run smaller than this merges into its closer neighbour (its ratio bound then gives way).
   * Default: one group's worth (max(minGroupSize, ⌈n / K⌉)); values below that change nothing.
   */
  readonly minBandSize?: number;
  /** Local search: 'bounded' (default, worst group only) or 'exhaustive' (every pair, O(n²) per pass). */
  readonly search?: 'bounded' | 'exhaustive';
  /** Wall-clock bound on the local search, ms (the greedy result is always complete). Default none; setting it makes results machine-dependent. */
  readonly searchBudgetMs?: number;
}

const EPSILON = 1e-12;

export function resolveGroupCount(numDevices: number, options: GroupingOptions = {}): number {
  const minSize = options.minGroupSize ?? 1;
  const maxSize = options.maxGroupSize ?? Number.POSITIVE_INFINITY;
  if (!(Number.isInteger(minSize) && minSize >= 1)) throw new Error(`minGroupSize must be an integer ≥ 1, got ${minSize}`);
  if (!(maxSize >= minSize)) throw new Error(`maxGroupSize (${maxSize}) must be ≥ minGroupSize (${minSize})`);
  if (numDevices < 1) throw new Error('cannot group zero devices');
  const lo = Math.max(1, Math.ceil(numDevices / maxSize));
  const hi = Math.floor(numDevices / minSize);
  if (lo > hi) {
    throw new Error(`no group count fits ${numDevices} devices into groups of ${minSize}..${maxSize} members`);
  }
  if (options.numGroups !== undefined) {
    const k = options.numGroups;
    if (!(Number.isInteger(k) && k >= lo && k <= hi)) {
      throw new Error(`numGroups ${k} impossible for ${numDevices} devices in groups of ${minSize}..${maxSize} (allowed ${lo}..${hi})`);
    }
    return k;
  }
  const target = options.targetGroupSize ?? 5;
  if (!(target > 0)) throw new Error(`targetGroupSize must be positive, got ${target}`);
  return Math.min(hi, Math.max(lo, Math.round(numDevices / target)));
}

export function nearIidGroups(devices: readonly DeviceInfo[], options: GroupingOptions = {}): DeviceGroup[] {
  const fleet = prepare(devices);
  const k = resolveGroupCount(fleet.length, options);
  const minSize = options.minGroupSize ?? 1;
  const maxSize = options.maxGroupSize ?? Number.POSITIVE_INFINITY;
  const ratio = options.maxSpeedRatio ?? Number.POSITIVE_INFINITY;
  if (!(ratio >= 1)) throw new Error(`maxSpeedRatio must be ≥ 1, got ${ratio}`);
  const numClasses = fleet[0]!.labelHistogram.length;
  const globalCounts = new Array<number>(numClasses).fill(0);
  for (const d of fleet) addHistograms(globalCounts, d.labelHistogram);
  const global = normalize(globalCounts);
  const deadline = options.searchBudgetMs !== undefined ? performance.now() + options.searchBudgetMs : Number.POSITIVE_INFINITY;
  const random = seededRandom(options.seed ?? 0);

  const bands = speedBands(fleet, k, minSize, maxSize, ratio, options.maxBandSize ?? DEFAULT_MAX_BAND_SIZE, options.minBandSize);
  const members: DeviceInfo[][] = [];
  for (const band of bands) {
    const groups = greedyGroups(band.devices, band.groups, minSize, maxSize, global, options.capabilityTieTolerance ?? 1e-3, random);
    const counts = groups.map((m) => {
      const c = new Float64Array(numClasses);
      for (const d of m) for (let i = 0; i < numClasses; i++) c[i]! += d.labelHistogram[i]!;
      return c;
    });
    const search = options.search ?? 'bounded';
    const large = fleet.length > FIRST_IMPROVEMENT_ABOVE;
    if (search === 'exhaustive') exhaustiveSearch(groups, counts, global, minSize, maxSize, options.maxSwapPasses ?? 200, deadline);
    else worstGroupSearch(groups, counts, global, minSize, maxSize, large ? Math.min(options.maxSwapPasses ?? 200, 4 * groups.length) : (options.maxSwapPasses ?? 200), deadline, large);
    members.push(...groups);
  }
  return toGroups(members);
}

const DEFAULT_MAX_BAND_SIZE = 100;
/**
 * Fleets larger than this take the first partner group that improves the max and cap the passes
 * per band at 4 × its groups (bounded cost); smaller ones take the best move over all partners
 * for up to maxSwapPasses passes (the quality of the exhaustive search at a fraction of its cost).
 */
const FIRST_IMPROVEMENT_ABOVE = 200;

/**
 * HierFedLoRA's default bound on a group's slowest/fastest step-time ratio: 1.6 keeps device
 * classes that differ by 2× apart (our fleet: 1× / 2× / 4×, σ 0.1 log-normal jitter, so one class
 * spans ≈ e^0.4 ≈ 1.5×) while leaving bands large enough for near-IID groups of 5. A bound of 2
 * would let a band that starts at a fast laptop swallow the quicker old laptops.
 */
export const DEFAULT_MAX_SPEED_RATIO = 1.6;

interface Band {
  readonly devices: DeviceInfo[];
  readonly groups: number;
}

/**
 * Speed bands: devices sorted by capability (log step time at their deepest depth), cut into
 * contiguous runs whose slowest/fastest ratio stays ≤ maxSpeedRatio and whose size stays ≤
 * maxBandSize; a run too small to hold one group merges into its closer neighbour (then the ratio
 * bound is exceeded for that band: a group cannot be smaller than minGroupSize). The k groups are
 * spread over the bands by largest remainder on their sizes, within what the size bounds allow.
 * With maxSpeedRatio = ∞ and n ≤ maxBandSize this is one band: label-only grouping.
 */
function speedBands(
  fleet: readonly DeviceInfo[],
  k: number,
  minSize: number,
  maxSize: number,
  maxRatio: number,
  maxBandSize: number,
  minBandSize = 1,
): Band[] {
  if (!(Number.isInteger(maxBandSize) && maxBandSize >= 1)) throw new Error(`maxBandSize must be a positive integer, got ${maxBandSize}`);
  if (!(Number.isInteger(minBandSize) && minBandSize >= 1)) throw new Error(`minBandSize must be a positive integer, got ${minBandSize}`);
  if (minBandSize > maxBandSize) throw new Error(`minBandSize (${minBandSize}) must be ≤ maxBandSize (${maxBandSize})`);
  const sorted = [...fleet].map((d) => ({ d, c: capability(d) })).sort((a, b) => a.c - b.c || (a.d.id < b.d.id ? -1 : 1));
  const logRatio = Math.log(maxRatio);
  const meanSize = fleet.length / k;
  // Big enough for one group, for whole groups of about the mean size, and for the caller's minimum.
  const minBand = Math.max(minSize, Math.ceil(meanSize), minBandSize);
  const runs: Array<typeof sorted> = [];
  let run: typeof sorted = [];
  for (const x of sorted) {
    if (run.length > 0 && (x.c - run[0]!.c > logRatio + 1e-12 || run.length >= maxBandSize)) {
      runs.push(run);
      run = [];
    }
    run.push(x);
  }
  if (run.length > 0) runs.push(run);
  // Merge runs below minBand into the neighbour whose capability is closer.
  for (let i = 0; runs.length > 1 && i < runs.length; ) {
    const r = runs[i]!;
    if (r.length >= minBand) {
      i++;
      continue;
    }
    const left = i > 0 ? runs[i - 1]! : undefined;
    const right = i + 1 < runs.length ? runs[i + 1]! : undefined;
    const gapLeft = left ? r[0]!.c - left[left.length - 1]!.c : Number.POSITIVE_INFINITY;
    const gapRight = right ? right[0]!.c - r[r.length - 1]!.c : Number.POSITIVE_INFINITY;
    if (gapLeft <= gapRight) {
      left!.push(...r);
      runs.splice(i, 1);
      i = Math.max(0, i - 1);
    } else {
      right!.unshift(...r);
      runs.splice(i, 1);
    }
  }
  // Largest-remainder split of k over the runs, each within its own size bounds.
  const lo = runs.map((r) => Math.max(1, Math.ceil(r.length / maxSize)));
  const hi = runs.map((r) => Math.max(1, Math.floor(r.length / minSize)));
  const exact = runs.map((r) => (r.length / fleet.length) * k);
  const counts = exact.map((x, i) => Math.min(hi[i]!, Math.max(lo[i]!, Math.floor(x))));
  let left = k - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, frac: x - Math.floor(x) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let guard = 0; left !== 0 && guard < 4 * k + 4; guard++) {
    let changed = false;
    for (const { i } of order) {
      if (left > 0 && counts[i]! < hi[i]!) {
        counts[i]! += 1;
        left--;
        changed = true;
      } else if (left < 0 && counts[i]! > lo[i]!) {
        counts[i]! -= 1;
        left++;
        changed = true;
      }
      if (left === 0) break;
    }
    if (!changed) break;
  }
  if (left !== 0 || counts.some((c, i) => c < lo[i]! || c > hi[i]!)) {
    // The bands cannot carry k groups within the size bounds: fall back to one band.
    if (runs.length === 1) throw new Error(`cannot place ${k} groups in ${fleet.length} devices`);
    return [{ devices: sorted.map((x) => x.d), groups: k }];
  }
  return runs.map((r, i) => ({ devices: r.map((x) => x.d), groups: counts[i]! }));
}

/** The speed bands nearIidGroups cuts the fleet into (device ids, fastest band first); for tests and logs. */
export function speedBandsOf(devices: readonly DeviceInfo[], options: GroupingOptions = {}): string[][] {
  const fleet = prepare(devices);
  const k = resolveGroupCount(fleet.length, options);
  const bands = speedBands(
    fleet,
    k,
    options.minGroupSize ?? 1,
    options.maxGroupSize ?? Number.POSITIVE_INFINITY,
    options.maxSpeedRatio ?? Number.POSITIVE_INFINITY,
    options.maxBandSize ?? DEFAULT_MAX_BAND_SIZE,
    options.minBandSize,
  );
  return bands.map((b) => b.devices.map((d) => d.id));
}

/** Step 1 (see the file comment): skew-ordered greedy with sizes kept balanced. */
function greedyGroups(
  band: readonly DeviceInfo[],
  k: number,
  minSize: number,
  maxSize: number,
  global: readonly number[],
  tieTolerance: number,
  random: () => number,
): DeviceInfo[][] {
  const numClasses = global.length;
  const meanGroupSamples = band.reduce((s, d) => s + d.labelHistogram.reduce((a, b) => a + b, 0), 0) / k;
  const order = shuffled(band, random)
    .map((d) => ({ d, skew: countsDivergence(d.labelHistogram, global) }))
    .sort((a, b) => b.skew - a.skew)
    .map((x) => x.d);
  const members: DeviceInfo[][] = Array.from({ length: k }, () => []);
  const counts: Float64Array[] = Array.from({ length: k }, () => new Float64Array(numClasses));
  const totals = new Float64Array(k);
  const scratch = new Float64Array(numClasses);
  const toppedUp = (c: Float64Array, total: number, add?: readonly number[], addTotal = 0): number => {
    const missing = Math.max(0, meanGroupSamples - total - addTotal);
    for (let i = 0; i < numClasses; i++) scratch[i] = c[i]! + (add ? add[i]! : 0) + missing * global[i]!;
    return divergenceOf(scratch, total + addTotal + missing, global);
  };
  const greedyCapacity = Math.min(maxSize, Math.ceil(order.length / k));
  const meanGroupSize = order.length / k;
  const fleetCapability = mean(order.map(capability));
  const capSums = new Float64Array(k);
  const before = Float64Array.from({ length: k }, (_, g) => toppedUp(counts[g]!, totals[g]!));
  const score = new Float64Array(k);
  let deficit = k * minSize;
  order.forEach((device, position) => {
    const remainingAfter = order.length - position - 1;
    const mustFillShortGroup = remainingAfter < deficit;
    const own = device.labelHistogram.reduce((a, b) => a + b, 0);
    let best = Number.POSITIVE_INFINITY;
    score.fill(Number.NaN);
    for (let g = 0; g < k; g++) {
      const size = members[g]!.length;
      if (size >= greedyCapacity) continue;
      if (mustFillShortGroup && size >= minSize) continue;
      score[g] = toppedUp(counts[g]!, totals[g]!, device.labelHistogram, own) - before[g]!;
      if (score[g]! < best) best = score[g]!;
    }
    const mine = capability(device);
    const distance = (g: number): number => {
      const size = members[g]!.length;
      const missing = Math.max(0, meanGroupSize - size);
      return Math.abs((capSums[g]! + missing * fleetCapability) / (size + missing) - mine);
    };
    // Among candidates within tieTolerance of the best: closest capability, then lower score, then index.
    let chosen = -1;
    let chosenDistance = Number.POSITIVE_INFINITY;
    for (let g = 0; g < k; g++) {
      const v = score[g]!;
      if (!(v <= best + tieTolerance)) continue;
      const dist = distance(g);
      if (chosen < 0 || dist < chosenDistance || (dist === chosenDistance && v < score[chosen]!)) {
        chosen = g;
        chosenDistance = dist;
      }
    }
    if (members[chosen]!.length < minSize) deficit--;
    members[chosen]!.push(device);
    for (let i = 0; i < numClasses; i++) counts[chosen]![i]! += device.labelHistogram[i]!;
    totals[chosen]! += own;
    capSums[chosen]! += mine;
    before[chosen] = toppedUp(counts[chosen]!, totals[chosen]!);
  });
  return members;
}

/** Seeded uniform partition into the same number of groups, sizes differing by at most one. */
export function randomGroups(devices: readonly DeviceInfo[], options: GroupingOptions = {}): DeviceGroup[] {
  const fleet = prepare(devices);
  const k = resolveGroupCount(fleet.length, options);
  const members: DeviceInfo[][] = Array.from({ length: k }, () => []);
  shuffled(fleet, seededRandom(options.seed ?? 0)).forEach((d, i) => members[i % k]!.push(d));
  return toGroups(members);
}

/** JS(P_g ‖ P) in bits for each group, in group order. */
export function groupDivergences(devices: readonly DeviceInfo[], groups: readonly DeviceGroup[]): number[] {
  const byId = new Map(devices.map((d) => [d.id, d]));
  const numClasses = devices[0]?.labelHistogram.length ?? 0;
  const globalCounts = new Array<number>(numClasses).fill(0);
  for (const d of devices) addHistograms(globalCounts, d.labelHistogram);
  const global = normalize(globalCounts);
  return groups.map((g) => {
    const c = new Array<number>(numClasses).fill(0);
    for (const id of g.deviceIds) {
      const d = byId.get(id);
      if (d === undefined) throw new Error(`group ${g.groupId} names unknown device ${id}`);
      addHistograms(c, d.labelHistogram);
    }
    return countsDivergence(c, global);
  });
}

/** JS(c / total ‖ global) in bits, allocation-free. */
function divergenceOf(c: ArrayLike<number>, total: number, global: readonly number[]): number {
  if (!(total > 0)) return 0;
  let js = 0;
  for (let i = 0; i < global.length; i++) {
    const p = c[i]! / total;
    const q = global[i]!;
    const m = (p + q) / 2;
    if (p > 0) js += 0.5 * p * Math.log2(p / m);
    if (q > 0) js += 0.5 * q * Math.log2(q / m);
  }
  return Math.max(0, js);
}

/** Divergence of counts c − remove + add (either may be undefined), via a scratch buffer. */
function divergenceAfter(
  c: Float64Array,
  remove: readonly number[] | undefined,
  add: readonly number[] | undefined,
  global: readonly number[],
  scratch: Float64Array,
): number {
  let total = 0;
  for (let i = 0; i < c.length; i++) {
    const v = c[i]! - (remove ? remove[i]! : 0) + (add ? add[i]! : 0);
    scratch[i] = v;
    total += v;
  }
  return divergenceOf(scratch, total, global);
}

interface Move {
  g: number;
  h: number;
  i: number;
  /** -1: move member i of g to h; otherwise swap it with member j of h. */
  j: number;
  dg: number;
  dh: number;
}

function applyMove(members: DeviceInfo[][], counts: Float64Array[], divergence: number[], m: Move): void {
  const a = members[m.g]![m.i]!;
  const sub = (c: Float64Array, x: readonly number[], sign: number) => {
    for (let t = 0; t < c.length; t++) c[t]! += sign * x[t]!;
  };
  if (m.j < 0) {
    members[m.g]!.splice(m.i, 1);
    members[m.h]!.push(a);
    sub(counts[m.g]!, a.labelHistogram, -1);
    sub(counts[m.h]!, a.labelHistogram, 1);
  } else {
    const b = members[m.h]![m.j]!;
    members[m.g]![m.i] = b;
    members[m.h]![m.j] = a;
    sub(counts[m.g]!, a.labelHistogram, -1);
    sub(counts[m.g]!, b.labelHistogram, 1);
    sub(counts[m.h]!, b.labelHistogram, -1);
    sub(counts[m.h]!, a.labelHistogram, 1);
  }
  divergence[m.g] = m.dg;
  divergence[m.h] = m.dh;
}

/**
 * Step 2, exhaustive (the original search, allocation-free): steepest descent over every single
 * move and pairwise swap on the lexicographic (max, sum) objective. O(n² · C) per pass — fine for
 * a few hundred devices per band, kept as the reference the bounded search is measured against.
 */
function exhaustiveSearch(
  members: DeviceInfo[][],
  counts: Float64Array[],
  global: readonly number[],
  minSize: number,
  maxSize: number,
  maxPasses: number,
  deadline: number,
): void {
  const k = members.length;
  const divergence = counts.map((c) => divergenceOf(c, sumOf(c), global));
  const s1 = new Float64Array(global.length);
  const s2 = new Float64Array(global.length);
  for (let pass = 0; pass < maxPasses && performance.now() < deadline; pass++) {
    // Objective after replacing divergence of g and h: max over others is needed; precompute top-2.
    let curMax = 0;
    let curSum = 0;
    for (const v of divergence) {
      curMax = Math.max(curMax, v);
      curSum += v;
    }
    let best: [number, number] = [curMax, curSum];
    let bestMove: Move | undefined;
    const maxExcept = topTwoExcept(divergence);
    for (let g = 0; g < k; g++) {
      for (let h = 0; h < k; h++) {
        if (g === h) continue;
        const mg = members[g]!;
        const mh = members[h]!;
        const others = maxExcept(g, h);
        const baseSum = curSum - divergence[g]! - divergence[h]!;
        for (let i = 0; i < mg.length; i++) {
          const a = mg[i]!.labelHistogram;
          if (mg.length > minSize && mh.length < maxSize) {
            const dg = divergenceAfter(counts[g]!, a, undefined, global, s1);
            const dh = divergenceAfter(counts[h]!, undefined, a, global, s2);
            const cand: [number, number] = [Math.max(others, dg, dh), baseSum + dg + dh];
            if (lexBetter(cand, best)) {
              best = cand;
              bestMove = { g, h, i, j: -1, dg, dh };
            }
          }
          if (g > h) continue;
          for (let j = 0; j < mh.length; j++) {
            const b = mh[j]!.labelHistogram;
            const dg = divergenceAfter(counts[g]!, a, b, global, s1);
            const dh = divergenceAfter(counts[h]!, b, a, global, s2);
            const cand: [number, number] = [Math.max(others, dg, dh), baseSum + dg + dh];
            if (lexBetter(cand, best)) {
              best = cand;
              bestMove = { g, h, i, j, dg, dh };
            }
          }
        }
      }
    }
    if (bestMove === undefined) return;
    applyMove(members, counts, divergence, bestMove);
  }
}

/**
 * Step 2, bounded (the default; scales to 10⁴ devices): only a move involving the group of
 * maximal divergence can lower the maximum, so each pass scans the moves and swaps between that
 * group and the other groups — O(s · n · C) per pass at worst for groups of size s, instead of
 * O(n² · C); it applies the best such move (ties: the sum). Above 200 devices, partners are tried
 * in order of ascending divergence and the pass stops at the first partner offering a move that
 * lowers the max (cheaper, slightly worse). It stops when the worst group
 * cannot be improved, after maxPasses (per band: min(maxSwapPasses, 4 · groups in the band), so the
 * cost is bounded and the result deterministic), or at the optional wall-clock deadline.
 */
function worstGroupSearch(
  members: DeviceInfo[][],
  counts: Float64Array[],
  global: readonly number[],
  minSize: number,
  maxSize: number,
  maxPasses: number,
  deadline: number,
  firstImprovement: boolean,
): void {
  const k = members.length;
  if (k < 2) return;
  const divergence = counts.map((c) => divergenceOf(c, sumOf(c), global));
  const s1 = new Float64Array(global.length);
  const s2 = new Float64Array(global.length);
  // Small fleets: when the worst group is stuck, the next-worst groups are tried for sum-lowering
  // moves (that keep the max), which can unlock the worst group later.
  const blocked = new Set<number>();
  for (let pass = 0; pass < maxPasses && performance.now() < deadline; pass++) {
    let g = -1;
    for (let x = 0; x < k; x++) if (!blocked.has(x) && (g < 0 || divergence[x]! > divergence[g]!)) g = x;
    if (g < 0) return;
    let curMax = 0;
    let curSum = 0;
    for (const v of divergence) {
      curMax = Math.max(curMax, v);
      curSum += v;
    }
    const maxExcept = topTwoExcept(divergence);
    let best: [number, number] = [curMax, curSum];
    let bestMove: Move | undefined;
    const mg = members[g]!;
    // First improvement of the max: partners in order of ascending divergence (the likeliest to
    // absorb the worst group's excess), the best candidate within the first partner that has one.
    const partners = Array.from({ length: k }, (_, x) => x)
      .filter((x) => x !== g)
      .sort((x, y) => divergence[x]! - divergence[y]! || x - y);
    for (const h of partners) {
      const mh = members[h]!;
      const others = maxExcept(g, h);
      const baseSum = curSum - divergence[g]! - divergence[h]!;
      for (let i = 0; i < mg.length; i++) {
        const a = mg[i]!.labelHistogram;
        if (mg.length > minSize && mh.length < maxSize) {
          const dg = divergenceAfter(counts[g]!, a, undefined, global, s1);
          const dh = divergenceAfter(counts[h]!, undefined, a, global, s2);
          const cand: [number, number] = [Math.max(others, dg, dh), baseSum + dg + dh];
          if (lexBetter(cand, best)) {
            best = cand;
            bestMove = { g, h, i, j: -1, dg, dh };
          }
        }
        for (let j = 0; j < mh.length; j++) {
          const b = mh[j]!.labelHistogram;
          const dg = divergenceAfter(counts[g]!, a, b, global, s1);
          const dh = divergenceAfter(counts[h]!, b, a, global, s2);
          const cand: [number, number] = [Math.max(others, dg, dh), baseSum + dg + dh];
          if (lexBetter(cand, best)) {
            best = cand;
            bestMove = { g, h, i, j, dg, dh };
          }
        }
      }
      if (firstImprovement && bestMove !== undefined && best[0] < curMax - EPSILON) break;
    }
    // The worst group is stuck: no single move or swap lowers the max (or, at equal max, the sum).
    if (bestMove === undefined) {
      if (firstImprovement) return;
      blocked.add(g);
      continue;
    }
    applyMove(members, counts, divergence, bestMove);
    blocked.clear();
  }
}

function lexBetter(a: readonly [number, number], b: readonly [number, number]): boolean {
  return a[0] < b[0] - EPSILON || (Math.abs(a[0] - b[0]) <= EPSILON && a[1] < b[1] - EPSILON);
}

/** maxExcept(g, h) = max over groups other than g and h, from the top three values. */
function topTwoExcept(values: readonly number[]): (g: number, h: number) => number {
  const top: number[] = [];
  for (let x = 0; x < values.length; x++) {
    top.push(x);
    top.sort((p, q) => values[q]! - values[p]!);
    if (top.length > 3) top.pop();
  }
  return (g, h) => {
    for (const x of top) if (x !== g && x !== h) return values[x]!;
    return 0;
  };
}

function sumOf(c: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < c.length; i++) s += c[i]!;
  return s;
}

/** Checks the fleet and returns it sorted by id, so results do not depend on input order. */
function prepare(devices: readonly DeviceInfo[]): DeviceInfo[] {
  if (devices.length === 0) throw new Error('cannot group zero devices');
  const ids = new Set<string>();
  const numClasses = devices[0]!.labelHistogram.length;
  for (const d of devices) {
    if (ids.has(d.id)) throw new Error(`duplicate device id ${d.id}`);
    ids.add(d.id);
    if (d.labelHistogram.length !== numClasses) {
      throw new Error(`device ${d.id} reports ${d.labelHistogram.length} classes, others ${numClasses}`);
    }
    if (d.labelHistogram.some((c) => !(Number.isFinite(c) && c >= 0))) {
      throw new Error(`device ${d.id} has an invalid label histogram`);
    }
  }
  return [...devices].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Log of the device's step time at its deepest measured depth: similar values mean similar speed. */
function capability(device: DeviceInfo): number {
  const ms = device.profile.msPerStep[device.profile.msPerStep.length - 1];
  return ms !== undefined && ms > 0 ? Math.log(ms) : 0;
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Members sorted by id, groups ordered by their first member, ids g0, g1, … */
function toGroups(members: readonly DeviceInfo[][]): DeviceGroup[] {
  return members
    .map((m) => m.map((d) => d.id).sort())
    .sort((a, b) => (a[0]! < b[0]! ? -1 : 1))
    .map((deviceIds, i) => ({ groupId: `g${i}`, deviceIds }));
}

/** slowest/fastest step time (at each device's deepest depth) inside each group, in group order. */
export function groupSpeedRatios(devices: readonly DeviceInfo[], groups: readonly DeviceGroup[]): number[] {
  const byId = new Map(devices.map((d) => [d.id, d]));
  return groups.map((g) => {
    const caps = g.deviceIds.map((id) => capability(byId.get(id)!));
    return Math.exp(Math.max(...caps) - Math.min(...caps));
  });
}
