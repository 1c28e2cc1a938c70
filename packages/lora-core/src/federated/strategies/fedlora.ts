/**
 * FedLoRA (FedIT-style FedAvg of LoRA adapters): one group with every device, full depth, one
 * aggregation per round. "Full" is numBlocks, or, when PlanContext.memoryBytesByDepth is given,
 * the deepest depth at least half the devices can hold (majorityDepth). A device's memory is its
 * own claim: taking the deepest depth EVERY device holds would let one device (a weak phone, or
 * anyone declaring memoryBytes 1) pull the whole fleet down to depth 1. The devices that cannot
 * hold the common depth train in a group of their own per depth they can hold ("depth-d"), also
 * τ = 1, so a lie about memory moves only the liar's own plan. Across groups the blocks combine as
 * always (each block over the groups that trained it). Caveat: a device alone in such a group is
 * outside the within-group robust rule (across groups the weighted mean stays); its upload is
 * still held by the coordinator's per-value and per-block Adam bounds and the sample-weight cap.
 */
import { maxFeasibleDepth, planGroups, PlanningError } from '../planner';
import type { DeviceInfo, PlanContext, RoundPlan } from '../types';
import { BlockwiseFedAvgStrategy } from './blockwise-fedavg';

export class FedLoraStrategy extends BlockwiseFedAvgStrategy {
  readonly name = 'fedlora' as const;

  plan(devices: readonly DeviceInfo[], ctx: PlanContext): RoundPlan {
    const { depth, below } = majorityDepth(devices, ctx);
    const localSteps = this.options.planner?.localSteps;
    const shallow = new Set(below.keys());
    const main = { groupId: 'all', deviceIds: devices.filter((d) => !shallow.has(d.id)).map((d) => d.id).sort() };
    const plans = [planGroups([main], devices, ctx, { localSteps, fixedDepth: depth, fixedIntraRounds: 1 }).plan];
    for (const d of [...new Set(below.values())].sort((a, b) => b - a)) {
      const ids = [...below].filter(([, x]) => x === d).map(([id]) => id).sort();
      plans.push(planGroups([{ groupId: `depth-${d}`, deviceIds: ids }], devices, ctx, { localSteps, fixedDepth: d, fixedIntraRounds: 1 }).plan);
    }
    return {
      groups: plans.flatMap((p) => p.groups),
      predictedGroupMs: Object.assign({}, ...plans.map((p) => p.predictedGroupMs)) as Record<string, number>,
    };
  }
}

/**
 * The deepest depth at least half the devices can hold (by maxFeasibleDepth), and the devices
 * below it with the depth each can hold. With memory the same for all (or no memoryBytesByDepth)
 * nobody is below and this is the deepest common depth. Throws when a device cannot train at
 * depth 1 at all (engines keep such devices out of the plan).
 */
export function majorityDepth(devices: readonly DeviceInfo[], ctx: PlanContext): { depth: number; below: Map<string, number> } {
  if (devices.length === 0) throw new PlanningError('no devices');
  const feasible = devices.map((d) => [d.id, maxFeasibleDepth(d.profile, ctx)] as const);
  const unable = feasible.filter(([, d]) => d < 1).map(([id]) => id);
  if (unable.length > 0) throw new PlanningError(`devices ${unable.join(', ')} cannot train at depth 1 (memory or missing step times)`);
  const descending = feasible.map(([, d]) => d).sort((a, b) => b - a);
  const depth = descending[Math.ceil(descending.length / 2) - 1]!;
  return { depth, below: new Map(feasible.filter(([, d]) => d < depth)) };
}
