/**
 * Joint fine-tuning depth / intra-group frequency planning from the resource model.
 *
 * Resource model. With I local steps between intra-group aggregations, one intra-group round of
 * group g at depth d takes (synchronous, set by the slowest member; download not modelled)
 *     t_g(d) = max_{m ∈ g} ( I · msPerStep_m[d-1] + adapterBytes[d-1] / uploadBytesPerSec_m · 1000 )
 * and the group's global round takes τ_g · t_g(d_g). Depth d is allowed for g when every member
 * has a measured step time at d and, if PlanContext.memoryBytesByDepth is given, every prefix
 * depth d' ≤ d fits the member's memoryBytes (D_g = the deepest allowed depth).
 *
 * Objective. Per group, maximize the accuracy proxy
 *     U(d, τ) = (d / numBlocks)^α · τ^γ,   0 < α, γ ≤ 1 (no increasing returns in either knob)
 * Defaults α = γ = 0.5 with the 'group' budget rule: the only configuration whose end-to-end result
 * is measured best so far. A trained measurement of the proxy (bin/sweep-proxy.ts: one near-IID
 * group of the quick setting, d ∈ {1, 2, 4} × τ ∈ {1, 2, 4}, 2 global rounds, least squares on log
 * accuracy gains) gave α 0.07, γ 1.10 — one group's own gain grows about linearly in τ and barely
 * with depth. With those exponents and the 'rate' rule, `compare --quick` planned depth 1 and
 * τ 2–4 everywhere and reached 37.1 / 49.6 / 46.7 % on seeds 42 / 43 / 44 against 47.0 / 46.7 % for
 * these defaults on seeds 42 / 43 (seed 42 lost a 5th round that missed the budget by 0.1 s):
 * not shown better, so the defaults stay. One group's gain leaves out what infrequent cross-group
 * mixing and 2–3× the downloads cost. Both stay available (depthExponent / frequencyExponent /
 * budgetRule: 'rate').
 * subject to τ · t_g(d) ≤ T, d ≤ D_g, τ ≤ maxIntraRounds. Ties go to the plan closer to T, then the
 * deeper one. Groups are independent given T, so the search is a plain enumeration of
 * (d, τ) ∈ [1, D_g] × [minIntraRounds, maxIntraRounds] per group.
 *
 * Budget T (the global round's length). Either options.budgetMs, or by budgetRule: 'rate'
 * chooses T jointly with the plans (see rateBudget: the fleet's proxy per unit of wall time, idle
 * waits at the global boundary included), or the quantile rules ('group' (default), 'device'):
 *     T = max( max_g τ_min · t_g(1),  Q_q { τ_min · t_{i}(D_i) : devices i } )
 * where t_i is device i's own intra-round time (as a group of one), D_i its deepest allowed depth,
 * and Q_q the q-quantile (linear interpolation) over devices, q = budgetQuantile (default 0.5).
 * The first term keeps every group feasible; the second sets the round to the time a "typical"
 * device needs for a full-depth intra-round. Groups slower than that train shallower instead of
 * holding the round back; faster ones spend the slack on depth and frequency, so all arrive near
 * T. The quantile is over devices, not groups, so T reflects the fleet's resources rather than
 * how the grouping happened to mix speeds (near-IID groups usually each contain a slow member;
 * a per-group quantile would then be the slowest device's full-depth time and buy nothing).
 * q = 1 gives FedLoRA's round length (slowest device at full depth). With fixedDepth /
 * fixedIntraRounds (ablations) the reference uses those values instead.
 *
 * If an explicit budgetMs is below a group's cheapest plan, that group gets its cheapest plan and
 * its predicted time exceeds T (visible in predictedGroupMs).
 */
import type { DeviceInfo, GroupPlan, PlanContext, ResourceProfile, RoundPlan } from './types';
import type { DeviceGroup } from './grouping';
import { aggregationMs, downloadMs, resolveOverheads, type RoundOverheads } from './overheads';

export interface PlannerOptions {
  /** I: local steps between two intra-group aggregations. Default 10. */
  readonly localSteps?: number;
  /** Default 1. */
  readonly minIntraRounds?: number;
  /** Default 8 (with γ = 1 and the 'rate' rule, a fast group's value per unit time rises with τ up to this cap). */
  readonly maxIntraRounds?: number;
  /** α in the proxy. Default DEFAULT_DEPTH_EXPONENT (measured, see the header). */
  readonly depthExponent?: number;
  /** γ in the proxy. Default DEFAULT_FREQUENCY_EXPONENT (measured, see the header). */
  readonly frequencyExponent?: number;
  /** Fixed global round budget T in ms; otherwise derived (see above). */
  readonly budgetMs?: number;
  /** q for the derived budget. Default 0.5. */
  readonly budgetQuantile?: number;
  /**
   * How T is derived. Quantile rules: 'group' (default) — each group's own full-depth intra-round time,
   * meaningful once groups are speed-coherent; 'device' — each device's as a group of one (the
   * first version's rule, which collapses to one plan for near-IID groups that each hold a slow device);
   * 'rate' — T chosen jointly with the plans to maximise the proxy per unit of time (see rateBudget);
   * 'floor' — T = the slowest group's cheapest plan (depth 1, τ_min): the round no group can
   * shorten, as short as the cheapest uniform plan (FedLoRA at depth 1); faster groups spend the
   * time they would otherwise wait at the barrier on depth and frequency.
   */
  readonly budgetRule?: 'floor' | 'rate' | 'group' | 'device';
  /**
   * Groups whose own full-depth reference is within (1 + slack) of the quantile raise T to it, so
   * a homogeneous fleet is not cut one depth below full by jitter. Default 0.15.
   */
  readonly budgetSlack?: number;
  /**
   * 'group' (default): one depth d_g per group, the paper's rule. 'member': τ_g stays per group, but
   * each member trains at the deepest depth d_m whose intra-round time fits T / τ_g (see
   * bestMemberPlan), so a group's fast members do not idle behind its slowest one; the intra-group
   * mean is block by block over the members that trained each block, as the global one is over
   * groups. The budget T comes from the budget rule as before (for 'rate', scored on group-level plans).
   */
  readonly memberDepth?: 'group' | 'member';
  /** Every group trains at this depth (ablations). Throws if memory rules it out for a group. */
  readonly fixedDepth?: number;
  /** Every group uses this τ (ablations). */
  readonly fixedIntraRounds?: number;
}

export interface PlannerResult {
  readonly plan: RoundPlan;
  /** The budget T the plans were fitted to. */
  readonly budgetMs: number;
}

export class PlanningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanningError';
  }
}

/** The deepest depth (0 if none) this device can train at: step time measured and memory within its ceiling. */
export function maxFeasibleDepth(profile: ResourceProfile, ctx: PlanContext): number {
  const limit = Math.min(ctx.numBlocks, profile.msPerStep.length, ctx.adapterBytes.length);
  let depth = 0;
  for (let d = 1; d <= limit; d++) {
    const memory = ctx.memoryBytesByDepth?.[d - 1];
    if (ctx.memoryBytesByDepth !== undefined && !(memory !== undefined && memory <= profile.memoryBytes)) break;
    const ms = profile.msPerStep[d - 1];
    if (!(ms !== undefined && Number.isFinite(ms) && ms >= 0)) break;
    depth = d;
  }
  return depth;
}

/** t_g(d): wall ms of one intra-group round at depth d (local steps + upload, slowest member). */
export function intraRoundMs(members: readonly DeviceInfo[], depth: number, ctx: PlanContext, localSteps: number): number {
  const bytes = adapterBytesAt(ctx, depth);
  const o = resolveOverheads(ctx.overheads);
  let slowest = 0;
  for (const m of members) slowest = Math.max(slowest, memberOwnMs(m, depth, ctx, localSteps, o));
  return slowest + o.syncMsPerIntraRound + aggregationMs(members.length * bytes, o);
}

function adapterBytesAt(ctx: PlanContext, depth: number): number {
  const bytes = ctx.adapterBytes[depth - 1];
  if (bytes === undefined) throw new PlanningError(`no adapterBytes for depth ${depth}`);
  return bytes;
}

/** One member's own part of an intra-group round at `depth`: download + I local steps + upload (no sync, no aggregation). */
function memberOwnMs(m: DeviceInfo, depth: number, ctx: PlanContext, localSteps: number, o: Required<RoundOverheads>): number {
  const ms = m.profile.msPerStep[depth - 1];
  if (ms === undefined) throw new PlanningError(`device ${m.id} has no step time for depth ${depth}`);
  const bytes = adapterBytesAt(ctx, depth);
  const upload = m.profile.uploadBytesPerSec > 0 ? (bytes / m.profile.uploadBytesPerSec) * 1000 : Number.POSITIVE_INFINITY;
  return downloadMs(m.profile, o.downloadBytes, o) + localSteps * ms + upload;
}

/**
 * A plan is degenerate when it has several groups and every group got the same depth and the same
 * τ: the two-level mean then equals the flat mean, and HierFedLoRA is uniform FedLoRA. Engines log
 * a warning (the fleet may be homogeneous, or the budget/grouping options leave no room).
 */
export function isDegeneratePlan(plan: RoundPlan): boolean {
  const g = plan.groups;
  if (g.length < 2) return false;
  const uniformDepth = (x: GroupPlan) => x.memberDepths === undefined || x.deviceIds.every((id) => (x.memberDepths![id] ?? x.depth) === x.depth);
  return g.every((x) => x.depth === g[0]!.depth && x.intraRounds === g[0]!.intraRounds && uniformDepth(x));
}

export const DEFAULT_DEPTH_EXPONENT = 0.5;
export const DEFAULT_FREQUENCY_EXPONENT = 0.5;

export function accuracyProxy(depth: number, intraRounds: number, numBlocks: number, options: PlannerOptions = {}): number {
  return Math.pow(depth / numBlocks, options.depthExponent ?? DEFAULT_DEPTH_EXPONENT) * Math.pow(intraRounds, options.frequencyExponent ?? DEFAULT_FREQUENCY_EXPONENT);
}

export function planGroups(
  groups: readonly DeviceGroup[],
  devices: readonly DeviceInfo[],
  ctx: PlanContext,
  options: PlannerOptions = {},
): PlannerResult {
  const localSteps = options.localSteps ?? 10;
  const tauMin = options.fixedIntraRounds ?? options.minIntraRounds ?? 1;
  const tauMax = options.fixedIntraRounds ?? options.maxIntraRounds ?? 8;
  if (!(Number.isInteger(localSteps) && localSteps >= 1)) throw new PlanningError(`localSteps must be an integer ≥ 1`);
  if (!(Number.isInteger(tauMin) && Number.isInteger(tauMax) && tauMin >= 1 && tauMax >= tauMin)) {
    throw new PlanningError(`intra-round bounds must be integers with 1 ≤ min ≤ max, got ${tauMin}..${tauMax}`);
  }
  if (groups.length === 0) throw new PlanningError('no groups to plan');
  const byId = new Map(devices.map((d) => [d.id, d]));

  const prepared = groups.map((group) => {
    const members = group.deviceIds.map((id) => {
      const d = byId.get(id);
      if (d === undefined) throw new PlanningError(`group ${group.groupId} names unknown device ${id}`);
      return d;
    });
    if (members.length === 0) throw new PlanningError(`group ${group.groupId} is empty`);
    const deepest = Math.min(...members.map((m) => maxFeasibleDepth(m.profile, ctx)));
    if (deepest < 1) {
      const unable = members.filter((m) => maxFeasibleDepth(m.profile, ctx) < 1).map((m) => m.id);
      throw new PlanningError(`devices ${unable.join(', ')} cannot train at depth 1 (memory or missing step times)`);
    }
    let depths: number[];
    if (options.fixedDepth !== undefined) {
      if (options.fixedDepth > deepest) {
        throw new PlanningError(`group ${group.groupId} cannot train at fixed depth ${options.fixedDepth} (deepest ${deepest})`);
      }
      depths = [options.fixedDepth];
    } else {
      depths = Array.from({ length: deepest }, (_, i) => i + 1);
    }
    const msAt = new Map(depths.map((d) => [d, intraRoundMs(members, d, ctx, localSteps)]));
    const ownReferenceMs =
      (options.budgetRule ?? 'group') === 'device'
        ? members.map((m) => {
            const depth = options.fixedDepth ?? maxFeasibleDepth(m.profile, ctx);
            return tauMin * intraRoundMs([m], depth, ctx, localSteps);
          })
        : [tauMin * msAt.get(depths[depths.length - 1]!)!];
    const samples = members.reduce((n, m) => n + m.numSamples, 0);
    return { group, members, depths, msAt, ownReferenceMs, samples };
  });

  const overheads = resolveOverheads(ctx.overheads);
  const perMember = options.memberDepth === 'member' && options.fixedDepth === undefined;
  const floorMs = Math.max(...prepared.map((p) => tauMin * (perMember ? memberFloorMs(p.members, ctx, localSteps) : p.msAt.get(p.depths[0]!)!)));
  const rule = options.budgetRule ?? 'group';
  let budgetMs: number;
  if (options.budgetMs !== undefined) {
    budgetMs = options.budgetMs;
  } else if (rule === 'floor') {
    budgetMs = floorMs;
  } else if (rule === 'rate') {
    budgetMs = rateBudget(prepared, floorMs, tauMin, tauMax, ctx, options, overheads.syncMsPerGlobalRound);
  } else {
    const references = prepared.flatMap((p) => p.ownReferenceMs);
    const q = quantile(references, options.budgetQuantile ?? 0.5);
    const slack = options.budgetSlack ?? 0.15;
    if (!(slack >= 0)) throw new PlanningError(`budgetSlack must be ≥ 0, got ${slack}`);
    const withinSlack = Math.max(q, ...references.filter((r) => r <= q * (1 + slack)));
    budgetMs = Math.max(floorMs, withinSlack);
  }
  if (!(budgetMs > 0)) throw new PlanningError(`round budget must be positive, got ${budgetMs}`);

  const predictedGroupMs: Record<string, number> = {};
  const plans: GroupPlan[] = prepared.map(({ group, members, depths, msAt }) => {
    if (perMember) {
      const best = bestMemberPlan(members, budgetMs, tauMin, tauMax, ctx, localSteps, options);
      predictedGroupMs[group.groupId] = best.ms + overheads.syncMsPerGlobalRound;
      const depth = Math.max(...Object.values(best.depths));
      return { groupId: group.groupId, deviceIds: [...group.deviceIds], depth, memberDepths: best.depths, intraRounds: best.tau, localSteps };
    }
    const best = bestGroupPlan(depths, msAt, budgetMs, tauMin, tauMax, ctx.numBlocks, options);
    predictedGroupMs[group.groupId] = best.ms + overheads.syncMsPerGlobalRound;
    return { groupId: group.groupId, deviceIds: [...group.deviceIds], depth: best.depth, intraRounds: best.tau, localSteps };
  });
  return { plan: { groups: plans, predictedGroupMs }, budgetMs };
}

interface GroupChoice {
  readonly depth: number;
  readonly tau: number;
  readonly ms: number;
  readonly utility: number;
}

/**
 * The group's (d, τ) of highest proxy within T; ties go to the plan closer to T, then the deeper
 * one. Nothing fits (an explicit T below the group's cheapest plan): the cheapest plan, utility 0.
 */
function bestGroupPlan(
  depths: readonly number[],
  msAt: ReadonlyMap<number, number>,
  budgetMs: number,
  tauMin: number,
  tauMax: number,
  numBlocks: number,
  options: PlannerOptions,
): GroupChoice {
  let best: GroupChoice | undefined;
  for (const depth of depths) {
    for (let tau = tauMin; tau <= tauMax; tau++) {
      const ms = tau * msAt.get(depth)!;
      if (ms > budgetMs * (1 + 1e-9)) break;
      const utility = accuracyProxy(depth, tau, numBlocks, options);
      if (
        best === undefined ||
        utility > best.utility + 1e-12 ||
        (Math.abs(utility - best.utility) <= 1e-12 && (ms > best.ms || (ms === best.ms && depth > best.depth)))
      ) {
        best = { depth, tau, ms, utility };
      }
    }
  }
  if (best === undefined) {
    const depth = depths[0]!;
    best = { depth, tau: tauMin, ms: tauMin * msAt.get(depth)!, utility: 0 };
  }
  return best;
}

/** The aggregation time a member-depth group reserves per intra-round: all members at the deepest depth any can train. */
function memberAggregationReserveMs(members: readonly DeviceInfo[], ctx: PlanContext): number {
  const deepest = Math.max(...members.map((m) => maxFeasibleDepth(m.profile, ctx)));
  return aggregationMs(members.length * (ctx.adapterBytes[deepest - 1] ?? 0), resolveOverheads(ctx.overheads));
}

/** memberDepth 'member': one intra-round with every member at depth 1, aggregation reserve included. */
function memberFloorMs(members: readonly DeviceInfo[], ctx: PlanContext, localSteps: number): number {
  const o = resolveOverheads(ctx.overheads);
  const slowest = Math.max(...members.map((m) => memberOwnMs(m, 1, ctx, localSteps, o)));
  return slowest + o.syncMsPerIntraRound + memberAggregationReserveMs(members, ctx);
}

interface MemberChoice {
  readonly tau: number;
  readonly depths: Record<string, number>;
  readonly ms: number;
  readonly utility: number;
}

/**
 * memberDepth 'member': for each τ, the intra-round may last R = T / τ; every member takes the
 * deepest depth whose own time (download + I steps + upload) plus the intra-round sync and the
 * aggregation reserve (every member uploading at the deepest depth any of them can train:
 * memberAggregationReserveMs) fits R. The 'floor' budget reserves the same, so the slowest group's
 * fast members are not held at depth 1 by the microseconds their deeper uploads add to the
 * aggregation. A τ where some member fits nothing is infeasible. Utility: the sample-weighted mean over members of
 * U(d_m, τ). Ties go to the plan closer to T, then the deeper one. Nothing fits: τ_min, depth 1.
 */
function bestMemberPlan(
  members: readonly DeviceInfo[],
  budgetMs: number,
  tauMin: number,
  tauMax: number,
  ctx: PlanContext,
  localSteps: number,
  options: PlannerOptions,
): MemberChoice {
  const o = resolveOverheads(ctx.overheads);
  const deepest = members.map((m) => maxFeasibleDepth(m.profile, ctx));
  const aggUpper = memberAggregationReserveMs(members, ctx);
  const ownMs = (m: DeviceInfo, d: number) => memberOwnMs(m, d, ctx, localSteps, o);
  const intraMs = (chosen: readonly number[]) => {
    let slowest = 0;
    let bytes = 0;
    chosen.forEach((d, i) => {
      slowest = Math.max(slowest, ownMs(members[i]!, d));
      bytes += ctx.adapterBytes[d - 1]!;
    });
    return slowest + o.syncMsPerIntraRound + aggregationMs(bytes, o);
  };
  const weight = members.map((m) => Math.max(1, m.numSamples));
  const totalWeight = weight.reduce((a, b) => a + b, 0);
  const pack = (tau: number, chosen: readonly number[], utility: number): MemberChoice => ({
    tau,
    depths: Object.fromEntries(members.map((m, i) => [m.id, chosen[i]!])),
    ms: tau * intraMs(chosen),
    utility,
  });
  let best: MemberChoice | undefined;
  let bestDepthSum = 0;
  for (let tau = tauMin; tau <= tauMax; tau++) {
    const room = (budgetMs * (1 + 1e-9)) / tau - o.syncMsPerIntraRound - aggUpper;
    const chosen: number[] = [];
    for (let i = 0; i < members.length; i++) {
      let d = 0;
      for (let c = 1; c <= deepest[i]!; c++) if (ownMs(members[i]!, c) <= room) d = c;
      if (d === 0) break;
      chosen.push(d);
    }
    if (chosen.length < members.length) break;
    const utility = chosen.reduce((u, d, i) => u + weight[i]! * accuracyProxy(d, tau, ctx.numBlocks, options), 0) / totalWeight;
    const candidate = pack(tau, chosen, utility);
    const depthSum = chosen.reduce((a, b) => a + b, 0);
    if (
      best === undefined ||
      utility > best.utility + 1e-12 ||
      (Math.abs(utility - best.utility) <= 1e-12 && (candidate.ms > best.ms || (candidate.ms === best.ms && depthSum > bestDepthSum)))
    ) {
      best = candidate;
      bestDepthSum = depthSum;
    }
  }
  return best ?? pack(tauMin, members.map(() => 1), 0);
}

/** Candidate budgets the 'rate' rule scores at most (evenly spaced in the sorted candidates beyond this). */
const MAX_BUDGET_CANDIDATES = 96;

/**
 * The 'rate' budget rule: T and every group's (d_g, τ_g) chosen jointly. Candidates are the times
 * of every group's feasible plans (τ · t_g(d), at least the floor that keeps every group feasible);
 * for each, every group takes its best plan within T, and T is scored by the fleet's proxy per
 * unit of wall time,
 *     rate(T) = Σ_g n_g · U_g(T) / (T + syncMsPerGlobalRound),
 * n_g = the group's samples. Every group waits for the global boundary at T, so a fast group's
 * idle time is paid by the rate, and the fleet buys depth and frequency for fast groups exactly
 * when the slow groups' shallower plans at that T cost less than what the fast groups gain.
 * Ties (within 1e-9 relative) go to the larger T (fewer global rounds for the same rate).
 */
function rateBudget(
  prepared: readonly { depths: number[]; msAt: Map<number, number>; samples: number }[],
  floorMs: number,
  tauMin: number,
  tauMax: number,
  ctx: PlanContext,
  options: PlannerOptions,
  globalMs: number,
): number {
  const all = new Set<number>([floorMs]);
  for (const p of prepared) for (const d of p.depths) for (let tau = tauMin; tau <= tauMax; tau++) {
    const ms = tau * p.msAt.get(d)!;
    if (ms >= floorMs) all.add(ms);
  }
  let candidates = [...all].sort((x, y) => x - y);
  if (candidates.length > MAX_BUDGET_CANDIDATES) {
    const step = (candidates.length - 1) / (MAX_BUDGET_CANDIDATES - 1);
    candidates = Array.from({ length: MAX_BUDGET_CANDIDATES }, (_, i) => candidates[Math.round(i * step)]!);
  }
  const weight = prepared.map((p) => Math.max(1, p.samples));
  let bestT = floorMs;
  let bestRate = Number.NEGATIVE_INFINITY;
  for (const T of candidates) {
    let value = 0;
    for (let i = 0; i < prepared.length; i++) {
      const p = prepared[i]!;
      value += weight[i]! * bestGroupPlan(p.depths, p.msAt, T, tauMin, tauMax, ctx.numBlocks, options).utility;
    }
    const rate = value / (T + globalMs);
    if (rate > bestRate * (1 + 1e-9) || (rate >= bestRate * (1 - 1e-9) && T > bestT)) {
      if (rate > bestRate) bestRate = rate;
      bestT = T;
    }
  }
  return bestT;
}

/** Linear-interpolation quantile (type 7). */
function quantile(values: readonly number[], q: number): number {
  if (!(q >= 0 && q <= 1)) throw new PlanningError(`budgetQuantile must be in [0, 1], got ${q}`);
  const sorted = [...values].sort((a, b) => a - b);
  const position = q * (sorted.length - 1);
  const lo = Math.floor(position);
  const hi = Math.ceil(position);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (position - lo);
}

/** The deepest depth every device can train at (a uniform depth for the ablations and FedLoRA). */
export function deepestCommonDepth(devices: readonly DeviceInfo[], ctx: PlanContext): number {
  if (devices.length === 0) throw new PlanningError('no devices');
  const depth = Math.min(...devices.map((d) => maxFeasibleDepth(d.profile, ctx)));
  if (depth < 1) throw new PlanningError('some device cannot train at depth 1');
  return depth;
}
