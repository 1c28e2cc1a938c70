/**
 * One global round of the engine contract (strategy.ts), independent of where training happens:
 * the simulation passes a callback that trains a virtual device in-process, the coordinator one
 * that sends work to a tab and awaits its upload. The engine keeps only the WHEN that is its own
 * (membership, clocks, timeouts, persistence); this file owns steps 2–4 of the contract.
 */
import { adapterTrainedKeys, type AdapterState, type BlockKey } from '../lora/adapter-state';
import { applyDelta, subtractAdapters } from './aggregate';
import type { RobustReport } from './robust';
import { validateRoundPlan } from './plan-validation';
import { blendMeasuredProfiles, shouldReplan, type ReplanOptions } from './replan';
import type { GroupResult, Strategy } from './strategy';
import type { ClientUpdate, DeviceInfo, GroupPlan, PlanContext, RoundPlan } from './types';

export class RoundContractError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RoundContractError';
  }
}

/** What one member is asked to do in one intra-group round. */
export interface MemberAssignment {
  readonly round: number;
  readonly groupId: string;
  /** 0-based within the global round. */
  readonly intraRound: number;
  readonly deviceId: string;
  readonly depth: number;
  readonly localSteps: number;
  /** Exactly the blocks the update's delta must hold: adapterTrainedKeys(global, numBlocks, depth) (no head for decoder adapters). */
  readonly blockKeys: readonly BlockKey[];
  /** The group's current adapter A_g, every block (those below the depth run frozen). Shared: do not mutate. */
  readonly adapter: AdapterState;
  /** The group's straggler deadline (GroupPlan.deadlineMs), ms from the work's dispatch; absent = none. */
  readonly deadlineMs?: number;
}

/**
 * Trains one member; resolves to its update, or to undefined when the device dropped out of the
 * round (left, timed out, sent an invalid upload). A rejection aborts the whole round.
 */
export type TrainMember = (assignment: MemberAssignment) => Promise<ClientUpdate | undefined>;

export interface GroupOutcome {
  readonly plan: GroupPlan;
  /** contributors[k] = ids of the members whose update counted in intra-group round k, in plan order. */
  readonly contributors: readonly (readonly string[])[];
  /** Absent when no member of the group delivered anything this round. */
  readonly result?: GroupResult;
}

export interface GlobalRoundOutcome {
  /** The global adapter after the round (the input itself when no group produced an update). */
  readonly global: AdapterState;
  /** The applied global delta; empty when no group produced an update. */
  readonly delta: AdapterState;
  readonly groups: readonly GroupOutcome[];
}

export interface GlobalRoundInput {
  readonly round: number;
  readonly strategy: Strategy;
  readonly plan: RoundPlan;
  readonly global: AdapterState;
  readonly numBlocks: number;
  readonly trainMember: TrainMember;
  /** Called each time a group has aggregated an intra-group round (or found it empty: contributors 0). */
  readonly onGroupAggregated?: (event: GroupAggregation) => void;
  /**
   * Where the strategy's aggregations run, when not on the calling thread (the coordinator's
   * worker thread): the same strategy's aggregateGroupWithReport / aggregateGlobal, same results.
   */
  readonly aggregator?: RoundAggregator;
}

/** The strategy's two aggregations, asynchronous (e.g. on a worker thread). */
export interface RoundAggregator {
  group(updates: readonly ClientUpdate[], base: AdapterState): Promise<{ readonly delta: AdapterState; readonly robust?: RobustReport }>;
  global(groups: readonly GroupResult[], base: AdapterState): Promise<AdapterState>;
}

export interface GroupAggregation {
  readonly groupId: string;
  readonly intraRound: number;
  /** Members whose update counted. */
  readonly contributors: number;
  /** Members the plan gave the group. */
  readonly planned: number;
  /** What the strategy's robust rule decided about each update, when it reports that. */
  readonly robust?: RobustReport;
}

/**
 * Steps 3–4 of the contract: every group concurrently runs its intra-group rounds from a copy of
 * the global adapter, then the groups' results are aggregated block by block and applied.
 * Members of a group train concurrently too; a callback that cannot (one shared model) serializes
 * itself. Updates are aggregated in plan order whatever order they arrive in, so results do not
 * depend on scheduling. An update whose delta does not hold exactly the group's trained blocks,
 * or that names another device, is a contract violation and throws.
 */
export async function runGlobalRound(input: GlobalRoundInput): Promise<GlobalRoundOutcome> {
  const { round, strategy, plan, global, numBlocks, trainMember, onGroupAggregated, aggregator } = input;
  const groups = await Promise.all(plan.groups.map((g) => runGroup(round, g, strategy, global, numBlocks, trainMember, onGroupAggregated, aggregator)));
  const results = groups.flatMap((g) => (g.result === undefined ? [] : [g.result]));
  if (results.length === 0) return { global, delta: new Map(), groups };
  const delta = aggregator ? await aggregator.global(results, global) : strategy.aggregateGlobal(results, global);
  return { global: applyDelta(global, delta), delta, groups };
}

async function runGroup(
  round: number,
  plan: GroupPlan,
  strategy: Strategy,
  global: AdapterState,
  numBlocks: number,
  trainMember: TrainMember,
  onGroupAggregated: GlobalRoundInput['onGroupAggregated'],
  aggregator: RoundAggregator | undefined,
): Promise<GroupOutcome> {
  const blockKeys = adapterTrainedKeys(global, numBlocks, plan.depth);
  const memberDepth = (id: string) => plan.memberDepths?.[id] ?? plan.depth;
  const keysByDepth = new Map<number, readonly BlockKey[]>([[plan.depth, blockKeys]]);
  const memberKeys = (id: string) => {
    const d = memberDepth(id);
    let keys = keysByDepth.get(d);
    if (keys === undefined) keysByDepth.set(d, (keys = adapterTrainedKeys(global, numBlocks, d)));
    return keys;
  };
  let adapter = global;
  const contributors: string[][] = [];
  const samplesByDevice = new Map<string, number>();
  let stepsTaken = 0;
  for (let intraRound = 0; intraRound < plan.intraRounds; intraRound++) {
    const current = adapter;
    const received = await Promise.all(
      plan.deviceIds.map((deviceId) =>
        trainMember({
          round,
          groupId: plan.groupId,
          intraRound,
          deviceId,
          depth: memberDepth(deviceId),
          localSteps: plan.localSteps,
          blockKeys: memberKeys(deviceId),
          adapter: current,
          ...(plan.deadlineMs === undefined ? {} : { deadlineMs: plan.deadlineMs }),
        }),
      ),
    );
    const updates: ClientUpdate[] = [];
    received.forEach((u, i) => {
      if (u === undefined) return;
      checkUpdate(u, plan.deviceIds[i]!, memberKeys(plan.deviceIds[i]!), plan.groupId);
      updates.push(u);
    });
    contributors.push(updates.map((u) => u.deviceId));
    let robust: RobustReport | undefined;
    if (updates.length > 0) {
      for (const u of updates) samplesByDevice.set(u.deviceId, u.numSamples);
      const aggregated = aggregator
        ? await aggregator.group(updates, current)
        : strategy.aggregateGroupWithReport
          ? strategy.aggregateGroupWithReport(updates, current)
          : { delta: strategy.aggregateGroup(updates, current) };
      robust = aggregated.robust;
      // The group's adapter is never mutated (members get it read-only): frozen blocks stay shared with the global.
      adapter = applyDelta(adapter, aggregated.delta, { shareUntouched: true });
      stepsTaken += plan.localSteps;
    }
    onGroupAggregated?.({ groupId: plan.groupId, intraRound, contributors: updates.length, planned: plan.deviceIds.length, ...(robust ? { robust } : {}) });
  }
  if (samplesByDevice.size === 0) return { plan, contributors };
  const numSamples = [...samplesByDevice.values()].reduce((a, b) => a + b, 0);
  return { plan, contributors, result: { groupId: plan.groupId, numSamples, steps: stepsTaken, delta: subtractAdapters(adapter, global, blockKeys) } };
}

function checkUpdate(update: ClientUpdate, deviceId: string, blockKeys: readonly BlockKey[], groupId: string): void {
  if (update.deviceId !== deviceId) throw new RoundContractError(`group ${groupId}: update for ${deviceId} is labelled ${update.deviceId}`);
  if (!(Number.isFinite(update.numSamples) && update.numSamples > 0)) {
    throw new RoundContractError(`group ${groupId}: update of ${deviceId} has weight ${update.numSamples}`);
  }
  const keys = [...update.delta.keys()];
  const expected = new Set(blockKeys);
  if (keys.length !== expected.size || keys.some((k) => !expected.has(k))) {
    throw new RoundContractError(
      `group ${groupId}: update of ${deviceId} holds blocks [${keys.join(', ')}], expected exactly [${blockKeys.join(', ')}]`,
    );
  }
}

export interface PlanChoice {
  readonly plan: RoundPlan;
  readonly replanned: boolean;
  readonly reasons: readonly string[];
}

/**
 * Step 2 of the contract: keep the previous plan while shouldReplan says no, otherwise ask the
 * strategy; a plan that fails validateRoundPlan against this round's membership throws.
 * @param measured device id → measured ms per local step at its planned depth (drift detection).
 */
export function chooseRoundPlan(
  strategy: Strategy,
  devices: readonly DeviceInfo[],
  ctx: PlanContext,
  previous?: RoundPlan,
  measured?: ReadonlyMap<string, number>,
  options?: ReplanOptions,
): PlanChoice {
  const decision = shouldReplan(previous, devices, measured, options);
  // Measured step times enter every replan (blended with the profiles), so a replan on drift
  // plans for the speeds seen, not the join-time claims.
  const plan =
    decision.replan || previous === undefined
      ? strategy.plan(blendMeasuredProfiles(devices, previous, measured, options?.blendWeight), ctx)
      : previous;
  const problems = validateRoundPlan(plan, devices, ctx.numBlocks);
  if (problems.length > 0) throw new RoundContractError(`${strategy.name} produced an invalid plan: ${problems.join('; ')}`);
  return { plan, replanned: decision.replan, reasons: decision.reasons };
}
