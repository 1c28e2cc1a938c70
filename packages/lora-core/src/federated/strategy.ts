/**
 * The strategy interface: a strategy decides WHAT (groups, depths, frequencies, how results
 * combine); an engine — the simulation or the coordinator — decides WHEN and carries it out.
 *
 * Engine contract, one global round r:
 *   1. Fix the round's membership: `devices` = the admitted devices connected now. A device that
 *      leaves during the round is not replaced and its missing update simply does not count.
 *   2. plan = strategy.plan(devices, ctx) with ctx.round = r and ctx.seed = the run's seed (not the
 *      round's: plans are deterministic in (devices, ctx.seed), so groups stay stable across
 *      rounds). The engine may keep the previous plan while shouldReplan(...) says no. It should
 *      reject a plan for which validateRoundPlan(plan, devices, numBlocks) reports problems.
 *   3. For every group g of the plan (groups run concurrently):
 *        A_g ← copy of the global adapter
 *        repeat g.intraRounds times:
 *          each member trains g.localSteps local steps at depth g.depth, starting from A_g (blocks
 *          below the depth run frozen at their global values), and returns a ClientUpdate whose
 *          delta holds exactly trainedBlockKeys(numBlocks, g.depth) (after − before);
 *          Δ_g ← strategy.aggregateGroup(updates received)      (skip if none arrived)
 *          A_g ← applyDelta(A_g, Δ_g)
 *        result_g = { groupId, numSamples: Σ samples of the members that contributed,
 *                     delta: subtractAdapters(A_g, global, trainedBlockKeys(numBlocks, g.depth)) }
 *   4. Δ ← strategy.aggregateGlobal(results of the groups that produced any update);
 *      global ← applyDelta(global, Δ). Blocks no group trained are absent from Δ and stay as they were.
 *   5. Evaluate / persist / next round.
 * Single-level algorithms fit the same loop: FedLoRA is one group with intraRounds 1; depth-only
 * is one group per device, so the global step is block-by-block FedAvg over devices.
 */
import type { AdapterState } from '../lora/adapter-state';
import type { RobustReport } from './robust';
import type { ClientUpdate, DeviceInfo, PlanContext, RoundPlan } from './types';

export type StrategyName =
  | 'fedlora'
  | 'hierfedlora'
  | 'grouping-only'
  | 'depth-only'
  | 'random-groups'
  | 'fedlora-depth1'
  | 'fedlora-deadline';

export const STRATEGY_NAMES: readonly StrategyName[] = [
  'fedlora',
  'hierfedlora',
  'grouping-only',
  'depth-only',
  'random-groups',
  'fedlora-depth1',
  'fedlora-deadline',
];

export function isStrategyName(value: unknown): value is StrategyName {
  return typeof value === 'string' && (STRATEGY_NAMES as readonly string[]).includes(value);
}

/** A group's outcome of one global round: its adapter's change over the round, for its trained blocks. */
export interface GroupResult {
  readonly groupId: string;
  readonly numSamples: number;
  readonly delta: AdapterState;
  /** Local steps each contributing member took this round (Σ over its intra-rounds of I); for work-normalised weighting. */
  readonly steps?: number;
}

export interface Strategy {
  readonly name: StrategyName;
  /** Groups with depth, τ and local steps for this round; every device in exactly one group. Pure. */
  plan(devices: readonly DeviceInfo[], ctx: PlanContext): RoundPlan;
  /**
   * The group's delta for one intra-group round, from its members' updates. `base` is the group
   * adapter the members started from (needed by product-exact LoRA aggregation; optional).
   */
  aggregateGroup(updates: readonly ClientUpdate[], base?: AdapterState): AdapterState;
  /** aggregateGroup, with what a robust rule decided about each update (engines log it); optional. */
  aggregateGroupWithReport?(updates: readonly ClientUpdate[], base?: AdapterState): { delta: AdapterState; robust?: RobustReport };
  /** The global delta for the round, from the groups' results; blocks no group trained are absent. `base`: the global adapter. */
  aggregateGlobal(groups: readonly GroupResult[], base?: AdapterState): AdapterState;
}
