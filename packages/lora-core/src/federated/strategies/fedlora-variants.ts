/**
 * What a practitioner tries before HierFedLoRA: FedLoRA at the cheapest uniform depth, and
 * FedLoRA with a round deadline that drops stragglers.
 */
import { intraRoundMs, planGroups } from '../planner';
import type { DeviceInfo, PlanContext, RoundPlan } from '../types';
import { BlockwiseFedAvgStrategy, type StrategyOptions } from './blockwise-fedavg';
import { deepestCommonDepth } from '../planner';

/** FedLoRA at depth 1 for everyone: the shortest uniform round (only the top block and the head train). */
export class FedLoraDepth1Strategy extends BlockwiseFedAvgStrategy {
  readonly name = 'fedlora-depth1' as const;

  plan(devices: readonly DeviceInfo[], ctx: PlanContext): RoundPlan {
    const group = { groupId: 'all', deviceIds: devices.map((d) => d.id).sort() };
    return planGroups([group], devices, ctx, { localSteps: this.options.planner?.localSteps, fixedDepth: 1, fixedIntraRounds: 1 }).plan;
  }
}

export interface DeadlineOptions extends StrategyOptions {
  /**
   * The deadline is this quantile of the devices' own full-depth intra-round times: the round
   * waits for that share of the fleet and drops the rest. Default 0.75.
   */
  readonly deadlineQuantile?: number;
}

/** FedLoRA at full depth with a straggler deadline: members predicted past it are dropped from the round. */
export class FedLoraDeadlineStrategy extends BlockwiseFedAvgStrategy {
  readonly name = 'fedlora-deadline' as const;

  constructor(private readonly deadlineOptions: DeadlineOptions = {}) {
    super(deadlineOptions);
    const q = deadlineOptions.deadlineQuantile ?? 0.75;
    if (!(q > 0 && q <= 1)) throw new RangeError(`deadlineQuantile must be in (0, 1], got ${q}`);
  }

  plan(devices: readonly DeviceInfo[], ctx: PlanContext): RoundPlan {
    const depth = deepestCommonDepth(devices, ctx);
    const localSteps = this.options.planner?.localSteps ?? 10;
    const times = devices.map((d) => intraRoundMs([d], depth, ctx, localSteps)).sort((a, b) => a - b);
    const q = this.deadlineOptions.deadlineQuantile ?? 0.75;
    const deadlineMs = times[Math.max(0, Math.ceil(q * times.length) - 1)]!;
    const group = { groupId: 'all', deviceIds: devices.map((d) => d.id).sort() };
    const base = planGroups([group], devices, ctx, { localSteps, fixedDepth: depth, fixedIntraRounds: 1 }).plan;
    const syncGlobal = (base.predictedGroupMs?.all ?? 0) - intraRoundMs(devices, depth, ctx, localSteps);
    return {
      groups: base.groups.map((g) => ({ ...g, deadlineMs })),
      predictedGroupMs: { all: deadlineMs + Math.max(0, syncGlobal) },
    };
  }
}
