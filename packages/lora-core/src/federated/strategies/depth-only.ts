/**
 * Ablation: no groups — every device is its own group with its own depth (the deepest it fits
 * into the round budget, τ = 1), so the global step is single-level FedAvg block by block over
 * devices (InclusiveFL/LEGEND-style layer allocation).
 */
import type { AdapterState } from '../../lora/adapter-state';
import { planGroups } from '../planner';
import { robustAggregateByBlock } from '../robust';
import type { GroupResult } from '../strategy';
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

  /**
   * A group here is one device, so the robust rule must act across groups: inside a group it sees a
   * single update. Caveat of 'auto' clipping here: devices of different depths carry different
   * blocks, so one bound (the median norm) favours the shallow ones.
   */
  override aggregateGlobal(groups: readonly GroupResult[]): AdapterState {
    if (!this.options.robust) return super.aggregateGlobal(groups);
    return robustAggregateByBlock(
      groups.map((g) => ({ id: g.groupId, numSamples: g.numSamples, delta: g.delta })),
      this.options.robust,
    );
  }
}
