import type { AdapterState, ClientUpdate, GroupResult, RobustReport } from '../core';
import type { StrategySpec } from '../planning/protocol';

/** One aggregation for the worker: a group's device updates, or the groups' results of a round (base: only when the strategy reads it). */
export type AggregateRequest =
  | { readonly id: number; readonly spec: StrategySpec; readonly kind: 'group'; readonly updates: readonly ClientUpdate[]; readonly base?: AdapterState }
  | { readonly id: number; readonly spec: StrategySpec; readonly kind: 'global'; readonly groups: readonly GroupResult[]; readonly base?: AdapterState };

export type AggregateReply =
  | { readonly id: number; readonly ok: true; readonly delta: AdapterState; readonly robust?: RobustReport; readonly ms: number }
  | { readonly id: number; readonly ok: false; readonly name: string; readonly message: string };
