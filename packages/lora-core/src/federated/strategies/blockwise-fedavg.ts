/**
 * Shared aggregation of every strategy here: a weighted mean block by block, inside groups and
 * across groups (options.aggregation picks the weights and the LoRA rule, see AggregationOptions). The strategies differ only in how they plan (composition over copies, as Flower's
 * FedAdam reuses FedAvg's mean).
 *
 * options.robust replaces the mean over a group's device updates (robust.ts). Across groups the
 * mean stays: there are only a few groups (FedLoRA has one), a median of two or three group deltas
 * is mostly noise, and each group delta is already made of robustly combined device updates.
 * depth-only is the exception (its groups are single devices), see depth-only.ts.
 */
import type { AdapterState } from '../../lora/adapter-state';
import { weightedMeanByBlock, workNormalizedMeanByBlock, type WorkedDelta } from '../aggregate';
import { exactLoraBlocks } from '../exact-lora';
import { robustAggregateWithReport, validateRobustOptions } from '../robust';
import type { RobustOptions, RobustReport } from '../robust';
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
  readonly aggregation?: AggregationOptions;
}

/**
 * How results combine. Composable with `robust`: the robust rule (when set) combines a group's
 * device updates and takes precedence there; weighting and the LoRA rule apply wherever the mean is used.
 */
export interface AggregationOptions {
  /**
   * Across groups: 'samples' (default) — weights = samples; 'work' — FedNova-style normalisation
   * by each group's local steps τ_g · I (aggregate.ts workNormalizedMeanByBlock).
   */
  readonly weighting?: 'samples' | 'work';
  /**
   * 'separate' (default, FedLoRA's rule): A and B averaged separately. 'exact': the combined
   * product Σ c_i A_i B_i re-factorised at rank r (exact-lora.ts).
   */
  readonly lora?: 'separate' | 'exact';
}

export abstract class BlockwiseFedAvgStrategy implements Strategy {
  abstract readonly name: StrategyName;

  constructor(protected readonly options: StrategyOptions = {}) {
    if (options.robust) validateRobustOptions(options.robust);
  }

  abstract plan(devices: readonly DeviceInfo[], ctx: PlanContext): RoundPlan;

  aggregateGroup(updates: readonly ClientUpdate[], base?: AdapterState): AdapterState {
    return this.aggregateGroupWithReport(updates, base).delta;
  }

  aggregateGroupWithReport(updates: readonly ClientUpdate[], base?: AdapterState): { delta: AdapterState; robust?: RobustReport } {
    if (this.options.robust) {
      const { delta, report } = robustAggregateWithReport(updates, this.options.robust);
      return { delta, robust: report };
    }
    const mean = weightedMeanByBlock(updates);
    return { delta: this.exact(mean, base, updates.map((u) => ({ numSamples: u.numSamples, delta: u.delta, steps: 1 })), false) };
  }

  aggregateGlobal(groups: readonly GroupResult[], base?: AdapterState): AdapterState {
    const worked = groups.map((g) => ({ id: g.groupId, numSamples: g.numSamples, delta: g.delta, steps: g.steps ?? 1 }));
    const work = this.options.aggregation?.weighting === 'work';
    const mean = work ? workNormalizedMeanByBlock(worked) : weightedMeanByBlock(worked);
    return this.exact(mean, base, worked, work);
  }

  /** With aggregation.lora = 'exact' and a base, the LoRA pairs of `mean` replaced by the product-exact aggregate. */
  protected exact(mean: AdapterState, base: AdapterState | undefined, updates: readonly WorkedDelta[], work: boolean): AdapterState {
    if (this.options.aggregation?.lora !== 'exact' || base === undefined) return mean;
    return exactLoraBlocks(mean, base, (key) => {
      const carrying = updates.filter((u) => u.delta.has(key));
      const total = carrying.reduce((s, u) => s + u.numSamples, 0);
      const tauEff = carrying.reduce((s, u) => s + (u.numSamples / total) * u.steps, 0);
      return carrying.map((u) => ({ delta: u.delta, coefficient: (u.numSamples / total) * (work ? tauEff / u.steps : 1) }));
    });
  }
}
