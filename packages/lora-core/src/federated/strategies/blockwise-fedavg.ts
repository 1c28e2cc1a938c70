/**
 * Shared aggregation of every strategy here: sample-weighted mean block by block, inside groups and
 * across groups. The strategies differ only in how they plan (composition over copies, as Flower's
 * FedAdam reuses FedAvg's mean).
 *
 * options.robust replaces the mean over a group's device updates (robust.ts). Across groups the
 * mean stays: there are only a few groups (FedLoRA has one), a median of two or three group deltas
 * is mostly noise, and each group delta is already made of robustly combined device updates.
 * depth-only is the exception (its groups are single devices), see depth-only.ts.
 */
import type { AdapterState } from '../../lora/adapter-state';
import { weightedMeanByBlock } from '../aggregate';
import { robustAggregateByBlock, validateRobustOptions } from '../robust';
import type { RobustOptions } from '../robust';
import type { GroupingOptions } from '../grouping';
import type { PlannerOptions } from '../planner';
import type { GroupResult, Strategy, StrategyName } from '../strategy';
import type { ClientUpdate, DeviceInfo, PlanContext, RoundPlan } from '../types';

export interface StrategyOptions {
  /** Near-IID / random grouping bounds; the seed always comes from PlanContext.seed. */
  readonly grouping?: Omit<GroupingOptions, 'seed'>;
  /** Depth/frequency planning (localSteps is used by every strategy). */
  readonly planner?: PlannerOptions;
  /** grouping-only: τ of every group. Default 2 (with τ = 1 it would equal FedLoRA exactly). */
  readonly intraRounds?: number;
  /** Robust combination of device updates (clipping, median, trimmed mean). Default: the weighted mean. */
  readonly robust?: RobustOptions;
}

export abstract class BlockwiseFedAvgStrategy implements Strategy {
  abstract readonly name: StrategyName;

  constructor(protected readonly options: StrategyOptions = {}) {
    if (options.robust) validateRobustOptions(options.robust);
  }

  abstract plan(devices: readonly DeviceInfo[], ctx: PlanContext): RoundPlan;

  aggregateGroup(updates: readonly ClientUpdate[]): AdapterState {
    return this.options.robust ? robustAggregateByBlock(updates, this.options.robust) : weightedMeanByBlock(updates);
  }

  aggregateGlobal(groups: readonly GroupResult[]): AdapterState {
    return weightedMeanByBlock(groups.map((g) => ({ id: g.groupId, numSamples: g.numSamples, delta: g.delta })));
  }
}
