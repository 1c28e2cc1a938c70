/**
 * FedLoRA (FedIT-style FedAvg of LoRA adapters): one group with every device, full depth, one
 * aggregation per round. "Full" is numBlocks, or the deepest depth every device can hold when
 * PlanContext.memoryBytesByDepth is given (a depth some device cannot run is no baseline).
 */
import { deepestCommonDepth, planGroups } from '../planner';
import type { DeviceInfo, PlanContext, RoundPlan } from '../types';
import { BlockwiseFedAvgStrategy } from './blockwise-fedavg';

export class FedLoraStrategy extends BlockwiseFedAvgStrategy {
  readonly name = 'fedlora' as const;

  plan(devices: readonly DeviceInfo[], ctx: PlanContext): RoundPlan {
    const group = { groupId: 'all', deviceIds: devices.map((d) => d.id).sort() };
    return planGroups([group], devices, ctx, {
      localSteps: this.options.planner?.localSteps,
      fixedDepth: deepestCommonDepth(devices, ctx),
      fixedIntraRounds: 1,
    }).plan;
  }
}
