/**
 * Ablation: no groups — every device is its own group with its own depth (the deepest it fits
 * into the round budget, τ = 1), so the global step is single-level FedAvg block by block over
 * devices (InclusiveFL/LEGEND-style layer allocation).
 */
import { planGroups } from '../planner';
import type { DeviceInfo, PlanContext, RoundPlan } from '../types';
import { BlockwiseFedAvgStrategy } from './blockwise-fedavg';

export class DepthOnlyStrategy extends BlockwiseFedAvgStrategy {
  readonly name = 'depth-only' as const;

  plan(devices: readonly DeviceInfo[], ctx: PlanContext): RoundPlan {
    const solo = [...devices]
      .map((d) => d.id)
      .sort()
      .map((id) => ({ groupId: `solo:${id}`, deviceIds: [id] }));
    return planGroups(solo, devices, ctx, { ...this.options.planner, fixedIntraRounds: 1 }).plan;
  }
}
