/**
 * The simulation engine: N virtual devices carried through the engine contract (strategy.ts) by
 * runGlobalRound — the same round logic the coordinator follows — with real training delegated to
 * a callback and time taken from the simulated clock (clock.ts) instead of the wall.
 *
 * Membership is fixed for the whole run (no churn is simulated), so the plan is made once and kept
 * while shouldReplan says no. One record per global round, as an async generator, so a CLI can
 * print as it goes, a test can stop after one round, and a consumer can stop at any point.
 */
import type { AdapterState } from '../lora/adapter-state';
import { encodeAdapter } from '../protocol/adapter-codec';
import { chooseRoundPlan, runGlobalRound, type MemberAssignment } from '../federated/round';
import type { Strategy } from '../federated/strategy';
import type { ClientUpdate, DeviceInfo, PlanContext, RoundPlan } from '../federated/types';
import { globalRoundMs, groupComputeMs, groupRoundMs, memberRoundMs, type Contribution } from './clock';
import { aggregationMs, resolveOverheads } from '../federated/overheads';

export interface MemberTrainingResult {
  readonly update: ClientUpdate;
  /** Mean training loss over the member's local steps. */
  readonly trainLoss: number;
}

/** Trains one virtual device for one intra-group round (really: on its data, with the real model). */
export type SimTrainMember = (assignment: MemberAssignment) => Promise<MemberTrainingResult>;

export interface SimEvaluation {
  readonly accuracy: number;
  readonly loss: number;
}

export interface SimulationOptions {
  readonly strategy: Strategy;
  readonly devices: readonly DeviceInfo[];
  /** Everything of the PlanContext but the round number. */
  readonly context: Omit<PlanContext, 'round'>;
  readonly initialAdapter: AdapterState;
  readonly trainMember: SimTrainMember;
  readonly evaluate: (adapter: AdapterState) => Promise<SimEvaluation>;
  /** Upper bound on global rounds. */
  readonly maxRounds: number;
  /**
   * Simulated time budget: a round whose planned length (max of the plan's predictedGroupMs) would
   * end past it is not started, so every strategy stops at or before the same simulated time.
   */
  readonly maxSimulatedMs?: number;
  /** Round 0's evaluation when already known (the initial adapter is the same for every strategy). */
  readonly initialEvaluation?: SimEvaluation;
  /** Bytes a delta costs on the wire; default: its encoded size (encodeAdapter, float32). */
  readonly uploadBytes?: (delta: AdapterState) => number;
  /** Real clock, for wallMs only. */
  readonly now?: () => number;
}

export interface SimGroupRecord {
  readonly groupId: string;
  readonly size: number;
  readonly depth: number;
  readonly intraRounds: number;
  readonly localSteps: number;
  /** Simulated ms this group needed for the round. */
  readonly ms: number;
  /** The plan's prediction (equal to ms when every member delivered the planned bytes). */
  readonly predictedMs?: number;
}

export interface SimRoundRecord {
  /** 0 = the initial adapter, before any training. */
  readonly round: number;
  /** Simulated clock at the end of the round, ms. */
  readonly simulatedMs: number;
  readonly roundMs: number;
  readonly accuracy: number;
  readonly loss: number;
  /** Sample-weighted mean of the members' training losses this round (NaN for round 0). */
  readonly trainLoss: number;
  /** Cumulative encoded bytes uploaded by devices. */
  readonly bytesUploaded: number;
  /** Cumulative bytes downloaded by devices (the group adapter before each intra-group round; 0 without overheads). */
  readonly bytesDownloaded: number;
  /** Members dropped by a straggler deadline this round (member × intra-round). */
  readonly dropped: number;
  /** Cumulative simulated device compute, seconds (Σ over members of their local steps' time). */
  readonly computeSeconds: number;
  readonly groups: readonly SimGroupRecord[];
  /** Whether this round's plan was freshly made (vs kept from the previous round). */
  readonly replanned: boolean;
  /** Real ms this round took to simulate (training and evaluation). */
  readonly wallMs: number;
}

export async function* simulate(o: SimulationOptions): AsyncGenerator<SimRoundRecord, AdapterState> {
  const now = o.now ?? (() => performance.now());
  const uploadBytes = o.uploadBytes ?? ((delta: AdapterState) => encodeAdapter(delta).byteLength);
  const byId = new Map(o.devices.map((d) => [d.id, d]));
  if (byId.size !== o.devices.length) throw new Error('duplicate device ids in the fleet');
  if (!(Number.isInteger(o.maxRounds) && o.maxRounds >= 0)) throw new RangeError(`maxRounds must be a non-negative integer, got ${o.maxRounds}`);

  let t0 = now();
  const initial = o.initialEvaluation ?? (await o.evaluate(o.initialAdapter));
  yield {
    round: 0,
    simulatedMs: 0,
    roundMs: 0,
    accuracy: initial.accuracy,
    loss: initial.loss,
    trainLoss: Number.NaN,
    bytesUploaded: 0,
    bytesDownloaded: 0,
    dropped: 0,
    computeSeconds: 0,
    groups: [],
    replanned: false,
    wallMs: now() - t0,
  };

  let global = o.initialAdapter;
  let plan: RoundPlan | undefined;
  let clockMs = 0;
  let bytesTotal = 0;
  let bytesDownTotal = 0;
  let computeMsTotal = 0;
  const overheads = o.context.overheads;
  const downloadBytes = resolveOverheads(overheads).downloadBytes;
  for (let round = 1; round <= o.maxRounds; round++) {
    t0 = now();
    const ctx: PlanContext = { ...o.context, round };
    const choice = chooseRoundPlan(o.strategy, o.devices, ctx, plan);
    plan = choice.plan;
    const predicted = plan.predictedGroupMs;
    if (o.maxSimulatedMs !== undefined && predicted !== undefined) {
      // The plan's longest group plus the global aggregation the clock will add (clock.ts globalRoundMs).
      const resultBytes = plan.groups.reduce((sum, g) => sum + (o.context.adapterBytes[g.depth - 1] ?? 0), 0);
      const planned = Math.max(0, ...plan.groups.map((g) => predicted[g.groupId] ?? 0)) + aggregationMs(resultBytes, resolveOverheads(overheads));
      if (clockMs + planned > o.maxSimulatedMs * (1 + 1e-9)) break;
    }

    // (group, intra round, device) → bytes, and the round's training losses.
    const uploads = new Map<string, number>();
    let lossSum = 0;
    let lossWeight = 0;
    let dropped = 0;
    const planById = new Map(plan.groups.map((g) => [g.groupId, g]));
    const deadlineHit = new Map<string, Set<number>>();
    const outcome = await runGlobalRound({
      round,
      strategy: o.strategy,
      plan,
      global,
      numBlocks: o.context.numBlocks,
      trainMember: async (a) => {
        const deadline = planById.get(a.groupId)?.deadlineMs;
        if (deadline !== undefined) {
          const bytes = o.context.adapterBytes[a.depth - 1] ?? 0;
          if (memberRoundMs(byId.get(a.deviceId)!.profile, a.depth, a.localSteps, bytes, overheads) > deadline) {
            dropped++;
            if (!deadlineHit.has(a.groupId)) deadlineHit.set(a.groupId, new Set());
            deadlineHit.get(a.groupId)!.add(a.intraRound);
            return undefined;
          }
        }
        const { update, trainLoss } = await o.trainMember(a);
        uploads.set(uploadKey(a.groupId, a.intraRound, a.deviceId), uploadBytes(update.delta));
        lossSum += trainLoss * update.numSamples;
        lossWeight += update.numSamples;
        return update;
      },
    });
    global = outcome.global;

    const groups: SimGroupRecord[] = outcome.groups.map(({ plan: g, contributors }) => {
      const intraRounds: Contribution[][] = contributors.map((ids, k) =>
        ids.map((id) => ({ profile: byId.get(id)!.profile, uploadBytes: uploads.get(uploadKey(g.groupId, k, id))!, depth: g.memberDepths?.[id] ?? g.depth })),
      );
      computeMsTotal += groupComputeMs(intraRounds, g.depth, g.localSteps);
      for (const list of intraRounds) for (const c of list) bytesTotal += c.uploadBytes;
      for (const list of intraRounds) bytesDownTotal += list.length * downloadBytes;
      const hit = deadlineHit.get(g.groupId);
      const deadlines = contributors.map((_, k) => (hit?.has(k) ? g.deadlineMs : undefined));
      return {
        groupId: g.groupId,
        size: g.deviceIds.length,
        depth: g.depth,
        intraRounds: g.intraRounds,
        localSteps: g.localSteps,
        ms: groupRoundMs(intraRounds, g.depth, g.localSteps, overheads, deadlines),
        ...(predicted?.[g.groupId] !== undefined ? { predictedMs: predicted[g.groupId] } : {}),
      };
    });
    let resultBytes = 0;
    for (const g of outcome.groups) if (g.result) resultBytes += o.context.adapterBytes[g.plan.depth - 1] ?? 0;
    const roundMs = globalRoundMs(groups.map((g) => g.ms), resultBytes, overheads);
    clockMs += roundMs;
    const evaluation = await o.evaluate(global);
    yield {
      round,
      simulatedMs: clockMs,
      roundMs,
      accuracy: evaluation.accuracy,
      loss: evaluation.loss,
      trainLoss: lossWeight > 0 ? lossSum / lossWeight : Number.NaN,
      bytesUploaded: bytesTotal,
      bytesDownloaded: bytesDownTotal,
      dropped,
      computeSeconds: computeMsTotal / 1000,
      groups,
      replanned: choice.replanned,
      wallMs: now() - t0,
    };
  }
  return global;
}

function uploadKey(groupId: string, intraRound: number, deviceId: string): string {
  return `${groupId}\u0000${intraRound}\u0000${deviceId}`;
}
