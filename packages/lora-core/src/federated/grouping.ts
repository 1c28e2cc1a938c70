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
  /** Upper bound on local-search improvements. Default 200. */
  readonly maxSwapPasses?: number;
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
  const tieTolerance = options.capabilityTieTolerance ?? 1e-3;
  const numClasses = fleet[0]!.labelHistogram.length;
  const globalCounts = new Array<number>(numClasses).fill(0);
  for (const d of fleet) addHistograms(globalCounts, d.labelHistogram);
  const global = normalize(globalCounts);
  const meanGroupSamples = globalCounts.reduce((a, b) => a + b, 0) / k;

  const random = seededRandom(options.seed ?? 0);
  const order = shuffled(fleet, random)
    .map((d) => ({ d, skew: countsDivergence(d.labelHistogram, global) }))
    .sort((a, b) => b.skew - a.skew)
    .map((x) => x.d);

  const members: DeviceInfo[][] = Array.from({ length: k }, () => []);
  const counts: number[][] = Array.from({ length: k }, () => new Array<number>(numClasses).fill(0));
  const toppedUpDivergence = (c: readonly number[]): number => {
    const n = c.reduce((a, b) => a + b, 0);
    const missing = Math.max(0, meanGroupSamples - n);
    return countsDivergence(c.map((x, i) => x + missing * global[i]!), global);
  };

  const greedyCapacity = Math.min(maxSize, Math.ceil(order.length / k));
  const meanGroupSize = order.length / k;
  const fleetCapability = mean(order.map(capability));
  order.forEach((device, position) => {
    const remainingAfter = order.length - position - 1;
    const deficit = members.reduce((s, m) => s + Math.max(0, minSize - m.length), 0);
    const mustFillShortGroup = remainingAfter < deficit;
    const candidates: Array<{ g: number; score: number }> = [];
    for (let g = 0; g < k; g++) {
      const size = members[g]!.length;
      if (size >= greedyCapacity) continue;
      if (mustFillShortGroup && size >= minSize) continue;
      const before = toppedUpDivergence(counts[g]!);
      const after = toppedUpDivergence(addHistograms([...counts[g]!], device.labelHistogram));
      candidates.push({ g, score: after - before });
    }
    const best = Math.min(...candidates.map((c) => c.score));
    const tied = candidates.filter((c) => c.score <= best + tieTolerance);
    const own = capability(device);
    const distance = (g: number): number => {
      const m = members[g]!;
      const missing = Math.max(0, meanGroupSize - m.length);
      const expected = (m.reduce((s, d) => s + capability(d), 0) + missing * fleetCapability) / (m.length + missing);
      return Math.abs(expected - own);
    };
    tied.sort((a, b) => distance(a.g) - distance(b.g) || a.score - b.score || a.g - b.g);
    const chosen = tied[0]!.g;
    members[chosen]!.push(device);
    addHistograms(counts[chosen]!, device.labelHistogram);
  });

  improveBySwaps(members, counts, global, minSize, maxSize, options.maxSwapPasses ?? 200);
  return toGroups(members);
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

function improveBySwaps(
  members: DeviceInfo[][],
  counts: number[][],
  global: readonly number[],
  minSize: number,
  maxSize: number,
  maxPasses: number,
): void {
  const k = members.length;
  const divergence = counts.map((c) => countsDivergence(c, global));
  const objective = (changed: ReadonlyMap<number, number>): [number, number] => {
    let max = 0;
    let sum = 0;
    for (let g = 0; g < k; g++) {
      const v = changed.get(g) ?? divergence[g]!;
      if (v > max) max = v;
      sum += v;
    }
    return [max, sum];
  };
  const better = (a: [number, number], b: [number, number]): boolean =>
    a[0] < b[0] - EPSILON || (Math.abs(a[0] - b[0]) <= EPSILON && a[1] < b[1] - EPSILON);

  for (let pass = 0; pass < maxPasses; pass++) {
    let current = objective(new Map());
    let bestMove: { g: number; h: number; i: number; j: number; dg: number; dh: number } | undefined;
    for (let g = 0; g < k; g++) {
      for (let h = 0; h < k; h++) {
        if (g === h) continue;
        const mg = members[g]!;
        const mh = members[h]!;
        for (let i = 0; i < mg.length; i++) {
          const a = mg[i]!.labelHistogram;
          // Move a from g to h (j = -1).
          if (mg.length > minSize && mh.length < maxSize) {
            const dg = countsDivergence(addHistograms([...counts[g]!], a, -1), global);
            const dh = countsDivergence(addHistograms([...counts[h]!], a), global);
            const candidate = objective(new Map([[g, dg], [h, dh]]));
            if (better(candidate, current)) {
              current = candidate;
              bestMove = { g, h, i, j: -1, dg, dh };
            }
          }
          // Swap a with b (each unordered pair once).
          if (g > h) continue;
          for (let j = 0; j < mh.length; j++) {
            const b = mh[j]!.labelHistogram;
            const dg = countsDivergence(addHistograms(addHistograms([...counts[g]!], a, -1), b), global);
            const dh = countsDivergence(addHistograms(addHistograms([...counts[h]!], b, -1), a), global);
            const candidate = objective(new Map([[g, dg], [h, dh]]));
            if (better(candidate, current)) {
              current = candidate;
              bestMove = { g, h, i, j, dg, dh };
            }
          }
        }
      }
    }
    if (bestMove === undefined) return;
    const { g, h, i, j, dg, dh } = bestMove;
    const a = members[g]![i]!;
    if (j < 0) {
      members[g]!.splice(i, 1);
      members[h]!.push(a);
      addHistograms(counts[g]!, a.labelHistogram, -1);
      addHistograms(counts[h]!, a.labelHistogram);
    } else {
      const b = members[h]![j]!;
      members[g]![i] = b;
      members[h]![j] = a;
      addHistograms(addHistograms(counts[g]!, a.labelHistogram, -1), b.labelHistogram);
      addHistograms(addHistograms(counts[h]!, b.labelHistogram, -1), a.labelHistogram);
    }
    divergence[g] = dg;
    divergence[h] = dh;
  }
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
