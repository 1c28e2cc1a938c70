import type { DeviceInfo, PlanChoice, PlanContext, RoundPlan, StrategyName, StrategyOptions } from '../core';

/** What the planning worker needs to rebuild the run's strategy (plans are deterministic in devices and seed). */
export interface StrategySpec {
  readonly name: StrategyName;
  readonly options: StrategyOptions;
}

export interface PlanRequest {
  readonly id: number;
  readonly spec: StrategySpec;
  readonly devices: readonly DeviceInfo[];
  readonly ctx: PlanContext;
  readonly previous: RoundPlan | undefined;
  readonly measured: ReadonlyArray<readonly [string, number]>;
}

export type PlanReply =
  | { readonly id: number; readonly ok: true; readonly choice: PlanChoice; readonly ms: number }
  | { readonly id: number; readonly ok: false; readonly name: string; readonly message: string };
