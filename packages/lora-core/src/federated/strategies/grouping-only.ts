/** Ablation: near-IID groups, but every group at the same full depth and the same τ (options.intraRounds, default 2). */
import { DEFAULT_MAX_SPEED_RATIO, nearIidGroups } from '../grouping';
import { deepestCommonDepth, planGroups } from '../planner';
import type { DeviceInfo, PlanContext, RoundPlan } from '../types';
import { BlockwiseFedAvgStrategy } from './blockwise-fedavg';

export class GroupingOnlyStrategy extends BlockwiseFedAvgStrategy {
  readonly name = 'grouping-only' as const;

  plan(devices: readonly DeviceInfo[], ctx: PlanContext): RoundPlan {
    const groups = nearIidGroups(devices, { maxSpeedRatio: DEFAULT_MAX_SPEED_RATIO, ...this.options.grouping, seed: ctx.seed });
    return planGroups(groups, devices, ctx, {
      localSteps: this.options.planner?.localSteps,
      fixedDepth: deepestCommonDepth(devices, ctx),
      fixedIntraRounds: this.options.intraRounds ?? 2,
    }).plan;
  }
}
