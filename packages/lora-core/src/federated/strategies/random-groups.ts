/** Ablation: seeded random groups (same count and size bounds as near-IID grouping), planned depth and frequency. */
import { randomGroups } from '../grouping';
import { planGroups } from '../planner';
import type { DeviceInfo, PlanContext, RoundPlan } from '../types';
import { BlockwiseFedAvgStrategy } from './blockwise-fedavg';

export class RandomGroupsStrategy extends BlockwiseFedAvgStrategy {
  readonly name = 'random-groups' as const;

  plan(devices: readonly DeviceInfo[], ctx: PlanContext): RoundPlan {
    const groups = randomGroups(devices, { ...this.options.grouping, seed: ctx.seed });
    return planGroups(groups, devices, ctx, this.options.planner).plan;
  }
}
