/**
 * HierFedLoRA: near-IID groups (grouping.ts), per-group depth and intra-group frequency planned
 * jointly against one round budget (planner.ts), hierarchical block-by-block aggregation.
 */
import { DEFAULT_MAX_SPEED_RATIO, nearIidGroups } from '../grouping';
import { planGroups } from '../planner';
import type { DeviceInfo, PlanContext, RoundPlan } from '../types';
import { BlockwiseFedAvgStrategy } from './blockwise-fedavg';

export class HierFedLoraStrategy extends BlockwiseFedAvgStrategy {
  readonly name = 'hierfedlora' as const;

  plan(devices: readonly DeviceInfo[], ctx: PlanContext): RoundPlan {
    const groups = nearIidGroups(devices, { maxSpeedRatio: DEFAULT_MAX_SPEED_RATIO, ...this.options.grouping, seed: ctx.seed });
    return planGroups(groups, devices, ctx, this.options.planner).plan;
  }
}
