/**
 * The coordinator's engine for one run. It decides WHEN: wait for devices, fix each round's
 * membership, send work, wait for uploads (or the deadline), evaluate, persist. The Strategy
 * decides WHAT, and the round itself (plan choice, groups and intra-group rounds, aggregation)
 * is lora-core's runGlobalRound — the same code the simulation engine runs; here a member's
 * training is "send the assignment and the group's adapter to its tab, await its upload".
 */
import {
  AdapterCodecError,
  adamCoordinateBound,
  adamDeltaNormBound,
  capDeclaredSamples,
  checkDeltaValues,
  HEAD,
  chooseRoundPlan,
  isDegeneratePlan,
  decodeAdapter,
  encodeAdapter,
  formatRobustReport,
  maxFeasibleDepth,
  runGlobalRound,
  shapesOf,
  validateAdapter,
} from '../core';
import type {
  AdapterState,
  ClientUpdate,
  DataMode,
  DeviceInfo,
  GlobalRoundInput,
  GlobalRoundOutcome,
  GroupOutcome,
  GroupPlan,
  MemberAssignment,
  PlanContext,
  RoundAggregator,
  RoundPlan,
  RunStatus,
  ServerErrorCode,
  ServerToDeviceWire,
  Strategy,
  Upload,
  UploadOffer,
} from '../core';
import type { RoundPlanner } from '../planning/planner';
import type { DeviceRegistry } from '../registry';
import { toDeviceInfo } from '../registry';
import type { CoordinatorState, GroupAggregationRecord, RunStatusName } from '../state';
import type { FederatedTask } from '../task';
import { fullAdapterBytes, uploadBytesByDepth } from './adapter-sizes';
import { SendPacer } from './send-pacer';
import { decodeUpload } from './upload-decode';
import type { SendPacerOptions } from './send-pacer';
import { UploadGate } from './upload-gate';
import type { UploadGateOptions } from './upload-gate';

export interface DeviceChannel {
  /** Sends the assignment, then the adapter to start from. False when the device has no live socket. */
  sendWork(deviceId: string, assignment: ServerToDeviceWire['assignment'], adapter: ServerToDeviceWire['globalAdapter']): boolean;
  /** Tells the device to send the upload it offered (upload-gate.ts). */
  grantUpload(deviceId: string, grant: ServerToDeviceWire['uploadGrant']): void;
  broadcastStatus(status: RunStatus): void;
}

export interface RunSettings {
  readonly rounds: number;
  /** Joined devices to wait for before round 1. */
  readonly devicesExpected: number;
  /** Joined devices needed to start a later round (default 1). */
  readonly minDevices?: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly headLearningRate: number;
  readonly seed: number;
  /** How long one member's work may take before the round goes on without it (the deadline). */
  readonly roundTimeoutMs: number;
  /**
   * A global round is kept only when at least this fraction of the devices in its plan delivered
   * an update that reached aggregation; otherwise it is discarded and run again (default 0.5).
   */
  readonly minReportFraction?: number;
  /** A member that disconnects mid-work has this long to come back and get its work again (default 30 s). */
  readonly rejoinGraceMs?: number;
  /**
   * Uploads whose block norm exceeds this multiple of what the assigned Adam steps can move it
   * (adamDeltaNormBound) are refused; null turns the check off. Default 1.01.
   */
  readonly normBoundFactor?: number | null;
  /**
   * Own-data devices weigh at most this multiple of the median sample count declared by the
   * round's devices (a declared count is only the device's claim); null: the declared count.
   * Fleet devices weigh their partition's real size (checked at join). Default 2.
   */
  readonly sampleWeightCap?: number | null;
  /** Attempts in a row a round may miss its report fraction before the run fails (default 5). */
  readonly maxRoundAttempts?: number;
  /** Wait before the k-th retry of a round: min(retryBackoffMs × 2^(k−1), 60 s) (default 2 s). */
  readonly retryBackoffMs?: number;
  /**
   * A resumed run waits this long for its expected devices, then goes on with those present (at
   * least minDevices). Default 120 s.
   */
  readonly resumeWaitMs?: number;
}

export const DEFAULT_SAMPLE_WEIGHT_CAP = 2;
export const DEFAULT_MAX_ROUND_ATTEMPTS = 5;
const MAX_RETRY_BACKOFF_MS = 60_000;
// A 10,000-device plan's log line would otherwise list 2,000 groups and every joined id.
const MAX_LOGGED_GROUPS = 64;
const clip = (s: string) => (s.length > 400 ? `${s.slice(0, 400)}…` : s);

/** A device as a round's planner sees it (on one node: the registry's; in a cluster: every node's). */
export interface PlanDevice {
  readonly info: DeviceInfo;
  readonly dataMode: DataMode;
  readonly paused: boolean;
}

/**
 * What the loop needs from a cluster of coordinators (cluster/node.ts). Absent: one node, exactly
 * as before. Present: this loop runs on the leader only; devices are counted and planned over
 * every live node, and the round's groups run on their owner nodes.
 */
export interface ClusterHooks {
  /** Joined, connected devices over all live nodes. */
  joinedCount(): number;
  planDevices(): Promise<readonly PlanDevice[]>;
  /** runGlobalRound with each group run on its owner node; same aggregation, same order. */
  runGlobalRound(input: GlobalRoundInput, ctx: { weightCap: number; traffic: RoundTraffic; stopped: () => boolean }): Promise<GlobalRoundOutcome>;
  /** The leader's status while this node is not the leader (its devices see the cluster's run). */
  leaderStatus(): RunStatus | undefined;
  /** Called when the device count changes. */
  onChange(listener: () => void): void;
}

export interface RunLoopDeps {
  readonly runId: string;
  readonly strategy: Strategy;
  readonly task: FederatedTask;
  readonly state: CoordinatorState;
  readonly registry: DeviceRegistry;
  readonly channel: DeviceChannel;
  readonly settings: RunSettings;
  readonly cluster?: ClusterHooks;
  /** Where rounds are planned (planning/planner.ts); default: in process with `strategy`. */
  readonly planner?: RoundPlanner;
  /** Where the strategy's aggregations run (aggregation/aggregator.ts); default: in process with `strategy`. */
  readonly aggregator?: RoundAggregator;
  /** Batching of the work sends (send-pacer.ts defaults). */
  readonly sendPacing?: SendPacerOptions;
  /** The window of offered uploads (upload-gate.ts defaults). */
  readonly uploadGate?: UploadGateOptions;
  readonly now?: () => number;
  readonly log?: (line: string) => void;
}

export type UploadVerdict = { readonly ok: true; readonly bytes: number } | { readonly ok: false; readonly code: ServerErrorCode; readonly message: string };

/** One member's work in flight: what it was asked, and how to end its wait. */
interface PendingWork {
  readonly assignment: MemberAssignment;
  readonly localSteps: number;
  /** The messages that carry the work, kept to send them again when the device comes back. */
  readonly wire: { assignment: ServerToDeviceWire['assignment']; adapter: ServerToDeviceWire['globalAdapter'] };
  /**
   * The connection the work was sent on before that connection's join (a reconnect says hello,
   * then joins): the join completing it does not get the work twice. A later join on a joined
   * connection (the page reset itself, e.g. after losing its GPU backend) gets the work again.
   */
  sentBeforeJoinOn: string | null;
  /** Its send went out (or would have, had the device not left while the send waited for its batch). */
  dispatched: boolean;
  /** Running while the device is disconnected: it ends the work unless the device rejoins first. */
  graceTimer: ReturnType<typeof setTimeout> | undefined;
  /** Resolves the member's promise (undefined = dropped out); idempotent. */
  settle(update: ClientUpdate | undefined, uploadBytes?: number): void;
}

/** How a run ended when stop() was called: by an admin ('stopped') or by the process going down ('interrupted'). */
export type StopReason = 'stopped' | 'interrupted';

export interface RoundTraffic {
  bytesUp: number;
  bytesDown: number;
}

export class RunStopped extends Error {
  constructor(readonly reason: StopReason) {
    super(`run ${reason}`);
    this.name = 'RunStopped';
  }
}

export class RunLoop {
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly numBlocks: number;
  private readonly uploadBytes: number[];
  /** Decoding limit for uploads: the full adapter with a margin. */
  private readonly maxUploadBytes: number;
  private readonly pending = new Map<string, PendingWork>();
  /** The encoded form of each adapter sent this round (one encoding per group and intra-round). */
  private encoded = new WeakMap<AdapterState, Uint8Array>();
  private shapes: { readonly of: AdapterState; readonly table: ReturnType<typeof shapesOf> } | undefined;
  /** Work sends, in bounded batches per turn of the event loop (send-pacer.ts). */
  private readonly sender: SendPacer;
  /** Offered uploads, admitted a bounded number of bytes at a time (upload-gate.ts). */
  private readonly uploads: UploadGate;
  /** Device id → measured ms per local step in its last upload (plan drift detection). */
  private readonly measuredMs = new Map<string, number>();
  private previousPlan: RoundPlan | undefined;
  /** Group aggregations of the round in progress (moved into its RoundRecord when it completes). */
  private liveTimeline: GroupAggregationRecord[] = [];
  private retries = 0;
  /** Failed attempts in a row of the round in progress. */
  private failedAttempts = 0;
  /** The round's weight cap for own-data devices (samples); Infinity when off. */
  private ownDataWeightCap = Number.POSITIVE_INFINITY;
  private resumed = false;
  private global: AdapterState;
  private runState: RunStatusName = 'waiting';
  private completedRound = 0;
  private recorded = 0;
  private lastAccuracy: number | null = null;
  private message: string | undefined;
  private stopReason: StopReason | undefined;
  private wakeWaiters: Array<() => void> = [];

  constructor(private readonly deps: RunLoopDeps) {
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? (() => {});
    this.numBlocks = deps.task.info.numBlocks;
    this.global = deps.task.initialAdapter;
    this.uploadBytes = uploadBytesByDepth(this.global, this.numBlocks);
    this.maxUploadBytes = Math.ceil(fullAdapterBytes(this.global) * 1.25) + 4096;
    this.sender = new SendPacer(deps.sendPacing);
    this.uploads = new UploadGate(deps.uploadGate);
    deps.registry.onChange(() => this.wake());
    deps.cluster?.onChange(() => this.wake());
  }

  /** Encoded bytes a device uploads at each depth (PlanContext.adapterBytes). */
  get adapterBytesByDepth(): readonly number[] {
    return this.uploadBytes;
  }

  get globalAdapter(): AdapterState {
    return this.global;
  }

  /** The plan of the round in progress (or the last one). */
  get plan(): RoundPlan | undefined {
    return this.previousPlan;
  }

  /** Group aggregations so far in the round in progress. */
  /** Rounds this loop recorded in the state (round 0 included): readers cache what they derive from them on it. */
  get roundsRecorded(): number {
    return this.recorded;
  }

  get roundTimeline(): readonly GroupAggregationRecord[] {
    return this.liveTimeline;
  }

  /** Rounds discarded and run again so far (too few reports). */
  get retriedRounds(): number {
    return this.retries;
  }

  status(): RunStatus {
    const remote = this.deps.cluster?.leaderStatus();
    if (remote) return remote;
    const { settings } = this.deps;
    return {
      runId: this.deps.runId,
      state: this.runState,
      strategy: this.deps.strategy.name,
      round: this.completedRound,
      totalRounds: settings.rounds,
      devicesJoined: this.joinedCount(),
      devicesExpected: settings.devicesExpected,
      lastAccuracy: this.lastAccuracy,
      ...(this.message === undefined ? {} : { message: this.message }),
    };
  }

  /** Runs every round; resolves with the final state. Never rejects: failures end in 'failed'. */
  async run(): Promise<RunStatusName> {
    const { state, runId, settings } = this.deps;
    try {
      this.resumeFromCheckpoint();
      if (this.completedRound === 0 && state.listRounds(runId).length === 0) {
        await this.evaluateAndPersist(0, null, [], { bytesUp: 0, bytesDown: 0 }, this.now());
      }
      let round = this.completedRound + 1;
      // The first round this process runs (round 1, or the next one after a resume) waits for the
      // whole expected fleet; later rounds go on with whoever is there.
      const firstRound = round;
      while (round <= settings.rounds) {
        const minDevices = settings.minDevices ?? 1;
        if (round === firstRound && this.resumed) {
          // A resumed run's devices may be gone for good: wait a bounded time for them, then go on.
          await this.waitForDevices(settings.devicesExpected, settings.resumeWaitMs ?? 120_000, minDevices);
        } else {
          await this.waitForDevices(round === firstRound ? settings.devicesExpected : minDevices);
        }
        if (this.runState !== 'running') state.setRunStatus(runId, 'running', null);
        this.setState('running', `round ${round}: planning`);
        if (await this.runRound(round)) {
          round += 1;
          this.failedAttempts = 0;
        } else {
          this.failedAttempts += 1;
          const maxAttempts = settings.maxRoundAttempts ?? DEFAULT_MAX_ROUND_ATTEMPTS;
          if (this.failedAttempts >= maxAttempts) {
            throw new Error(`round ${round}: ${this.failedAttempts} attempts in a row had too few reports; the run is given up (${this.message ?? ''})`);
          }
          const backoff = Math.min((settings.retryBackoffMs ?? 2_000) * 2 ** (this.failedAttempts - 1), MAX_RETRY_BACKOFF_MS);
          this.setState(this.runState, `${this.message ?? `round ${round} discarded`}; attempt ${this.failedAttempts + 1} of ${maxAttempts} in ${backoff} ms`);
          await this.sleep(backoff);
        }
      }
      this.finish('finished', `finished ${settings.rounds} rounds`);
    } catch (err) {
      if (err instanceof RunStopped) this.finish(err.reason, `${err.reason} after round ${this.completedRound}`);
      else {
        this.log(`run failed: ${(err as Error).stack ?? String(err)}`);
        this.finish('failed', (err as Error).message);
      }
    }
    return this.runState;
  }

  /** Ends the run: work in flight is dropped and no further round starts. */
  stop(reason: StopReason = 'stopped'): void {
    this.stopReason ??= reason;
    for (const work of [...this.pending.values()]) work.settle(undefined);
    this.sender.clear();
    this.uploads.clear();
    this.wake();
  }

  /**
   * A device offers the upload of its open work (`bytes` long); it is granted when the upload
   * window has room (upload-gate.ts). Refused when there is no such work, or more bytes are
   * offered than the assigned depth's largest honest upload.
   */
  offerUpload(deviceId: string, offer: UploadOffer): UploadVerdict {
    if (offer.runId !== this.deps.runId) return reject('stale-round', `upload offer is for run ${offer.runId}; this run is ${this.deps.runId}`);
    const work = this.pending.get(deviceId);
    if (!work) return reject('unexpected-upload', `device ${deviceId} has no work in progress`);
    const a = work.assignment;
    if (offer.round !== a.round || offer.intraRound !== a.intraRound || offer.groupId !== a.groupId) {
      return reject('stale-round', `upload offer is for round ${offer.round}.${offer.intraRound} of group ${offer.groupId}; expected ${a.round}.${a.intraRound} of group ${a.groupId}`);
    }
    const maxBytes = this.maxUploadBytesAt(a.depth);
    if (offer.bytes > maxBytes) return reject('bad-adapter', `offered upload of ${offer.bytes} bytes exceeds the ${maxBytes} bytes of the assigned depth ${a.depth}`);
    this.uploads.offer(deviceId, offer.bytes, () => this.deps.channel.grantUpload(deviceId, { runId: offer.runId, round: a.round, intraRound: a.intraRound }));
    return { ok: true, bytes: offer.bytes };
  }

  /** Bytes of uploads granted and not yet received, and offers waiting (for status and benches). */
  get uploadWindow(): { readonly inFlightBytes: number; readonly queued: number } {
    return { inFlightBytes: this.uploads.inFlightBytes, queued: this.uploads.queued };
  }

  /** The f32 encoding of the depth is the largest honest upload (f16 is smaller); 1 KiB of margin. */
  private maxUploadBytesAt(depth: number): number {
    return (this.uploadBytes[depth - 1] ?? this.maxUploadBytes) + 1024;
  }

  /** An upload that passed schema validation; decides whether it enters aggregation. */
  acceptUpload(deviceId: string, upload: Upload): UploadVerdict {
    // Whatever the verdict, the upload is no longer on its way: its grant frees the window.
    this.uploads.received(deviceId);
    if (upload.runId !== this.deps.runId) return reject('stale-round', `upload is for run ${upload.runId}; this run is ${this.deps.runId}`);
    const work = this.pending.get(deviceId);
    if (!work) return reject('unexpected-upload', `device ${deviceId} has no work in progress`);
    const a = work.assignment;
    if (upload.round !== a.round || upload.intraRound !== a.intraRound || upload.groupId !== a.groupId) {
      return reject(
        'stale-round',
        `upload is for round ${upload.round}.${upload.intraRound} of group ${upload.groupId}; expected ${a.round}.${a.intraRound} of group ${a.groupId}`,
      );
    }
    const declared = this.deps.registry.get(deviceId)?.report?.numSamples ?? 0;
    if (upload.numSamples > declared) {
      return reject('bad-adapter', `numSamples ${upload.numSamples} exceeds the ${declared} samples the device declared at join`);
    }
    let delta: AdapterState;
    try {
      delta = decodeUpload(upload.payload, this.maxUploadBytesAt(a.depth));
    } catch (err) {
      if (err instanceof AdapterCodecError) return reject('bad-adapter', err.message);
      throw err;
    }
    const problems = validateAdapter(delta, { blockKeys: a.blockKeys, shapes: this.globalShapes() });
    if (problems.length > 0) return reject('bad-adapter', `delta does not match the assignment: ${problems.slice(0, 5).join('; ')}`);
    const normFactor = this.deps.settings.normBoundFactor === undefined ? 1.01 : this.deps.settings.normBoundFactor;
    const { learningRate, headLearningRate } = this.deps.settings;
    const lrOf = (key: string) => (key === HEAD ? headLearningRate : learningRate);
    const values = checkDeltaValues(
      delta,
      normFactor === null
        ? null
        : {
            normOf: (key, n) => normFactor * adamDeltaNormBound(lrOf(key), a.localSteps, n),
            valueOf: (key) => normFactor * adamCoordinateBound(lrOf(key), a.localSteps),
          },
    );
    if (values.kind === 'non-finite') return reject('bad-adapter', `delta holds a non-finite value (${JSON.stringify(values.first)})`);
    // An upload no honest training can produce: refused, and the device's work in this round is
    // dropped (the round does not wait for a second try, and the bound cannot be probed for free).
    if (values.kind === 'norm') {
      work.settle(undefined);
      return reject('bad-adapter', `delta is larger than ${a.localSteps} Adam steps can move it: ${values.problems.slice(0, 3).join('; ')}; its work in this round is dropped`);
    }
    if (values.kind === 'value') {
      work.settle(undefined);
      return reject('bad-adapter', `delta moves a value further than ${a.localSteps} Adam steps can: ${values.problems.slice(0, 3).join('; ')}; its work in this round is dropped`);
    }
    if (upload.trainMs !== undefined) this.measuredMs.set(deviceId, upload.trainMs / work.localSteps);
    const own = this.deps.registry.get(deviceId)?.dataMode !== 'fleet';
    const weight = own ? Math.min(upload.numSamples, this.ownDataWeightCap) : upload.numSamples;
    work.settle({ deviceId, numSamples: weight, delta }, upload.payload.byteLength);
    this.deps.registry.addBytes(deviceId, upload.payload.byteLength, 0);
    this.deps.registry.recordUpload(deviceId, {
      round: a.round,
      intraRound: a.intraRound,
      groupId: a.groupId,
      blockKeys: [...delta.keys()].sort(),
      bytes: upload.payload.byteLength,
    });
    return { ok: true, bytes: upload.payload.byteLength };
  }

  /** The shape table uploads are checked against, built once per global adapter (not per upload). */
  private globalShapes(): ReturnType<typeof shapesOf> {
    if (this.shapes?.of !== this.global) this.shapes = { of: this.global, table: shapesOf(this.global) };
    return this.shapes.table;
  }

  /**
   * The device's socket is gone. Its work stays open for the rejoin grace (it gets it again if it
   * comes back in time), then is dropped from the round.
   */
  deviceLeft(deviceId: string): void {
    const work = this.pending.get(deviceId);
    if (!work || work.graceTimer !== undefined) return;
    if (this.deps.registry.isRevoked(deviceId)) {
      work.settle(undefined);
      return;
    }
    const graceMs = this.deps.settings.rejoinGraceMs ?? 30_000;
    const { round, intraRound } = work.assignment;
    this.log(`device ${deviceId} left during round ${round}.${intraRound}; waiting ${graceMs} ms for it to come back`);
    work.graceTimer = setTimeout(() => {
      this.log(`device ${deviceId} did not come back; its work in round ${round}.${intraRound} is dropped`);
      work.settle(undefined);
    }, graceMs);
    work.graceTimer.unref?.();
  }

  /** The device joined again: if its work is still open, it gets that work (and the adapter) again. */
  deviceRejoined(deviceId: string): void {
    const work = this.pending.get(deviceId);
    if (!work) return;
    clearTimeout(work.graceTimer);
    work.graceTimer = undefined;
    // Its paced send has not gone out yet: it will, on this connection.
    if (!work.dispatched) return;
    const socketId = this.deps.registry.get(deviceId)?.socketId ?? null;
    if (socketId !== null && socketId === work.sentBeforeJoinOn) {
      work.sentBeforeJoinOn = null;
      return;
    }
    work.sentBeforeJoinOn = null;
    if (this.deps.channel.sendWork(deviceId, work.wire.assignment, work.wire.adapter)) {
      this.log(`device ${deviceId} is back: resent its work for round ${work.assignment.round}.${work.assignment.intraRound}`);
      this.deps.registry.addBytes(deviceId, 0, work.wire.adapter.payload.byteLength);
      this.deps.registry.setWork(deviceId, { groupId: work.assignment.groupId, depth: work.assignment.depth, localSteps: work.assignment.localSteps });
    }
  }

  /** One global round; false when no group produced an update (the round is repeated). */
  private async runRound(round: number): Promise<boolean> {
    // Paused devices (hidden page, pause button, not charging) sit out new plans until they resume,
    // unless every device is paused: then they are planned anyway and the deadline bounds the wait.
    const joined: readonly PlanDevice[] = this.deps.cluster
      ? await this.deps.cluster.planDevices()
      : this.deps.registry.joinedConnected().map((d) => ({ info: toDeviceInfo(d), dataMode: d.dataMode, paused: d.paused !== undefined }));
    this.throwIfStopped();
    const active = joined.filter((d) => !d.paused);
    const ctx: PlanContext = {
      round,
      numBlocks: this.numBlocks,
      adapterBytes: this.uploadBytes,
      seed: this.deps.settings.seed,
      ...(this.deps.task.memoryBytesByDepth ? { memoryBytesByDepth: this.deps.task.memoryBytesByDepth } : {}),
    };
    // A device whose declared memory holds no depth at all cannot train; planned, it would make
    // every strategy's planning throw (one claim would stop the run). It sits the round out.
    const trainable = (active.length > 0 ? active : joined).filter((d) => {
      const ok = maxFeasibleDepth(d.info.profile, ctx) >= 1;
      if (!ok) this.log(`round ${round}: device ${d.info.id} left out: its declared memory holds no depth of this model`);
      return ok;
    });
    if (trainable.length === 0) {
      this.setState(this.runState, `round ${round}: no joined device can train at depth 1 of this model (declared memory)`);
      return false;
    }
    const planDevices = trainable;
    this.ownDataWeightCap = sampleWeightCap(planDevices.map((d) => d.info.numSamples), this.deps.settings.sampleWeightCap);
    // An own-data device's count and histogram are its claim: the planner (grouping, the fleet's
    // label distribution) sees them capped like its weight. Fleet devices' were checked at join.
    const devices = planDevices.map((d) => (d.dataMode === 'fleet' ? d.info : capDeclaredSamples(d.info, this.ownDataWeightCap)));
    const choice = this.deps.planner
      ? await this.deps.planner.plan(devices, ctx, this.previousPlan, this.measuredMs)
      : chooseRoundPlan(this.deps.strategy, devices, ctx, this.previousPlan, this.measuredMs);
    this.throwIfStopped();
    const plan = choice.plan;
    this.previousPlan = plan;
    this.log(
      `round ${round}: ${choice.replanned ? `new plan (${choice.reasons.map(clip).join('; ')})` : 'same plan'}: ` +
        plan.groups
          .slice(0, MAX_LOGGED_GROUPS)
          .map((g) => `group ${g.groupId} depth ${g.depth} τ ${g.intraRounds} I ${g.localSteps} [${g.deviceIds.length} devices${memberDepthsText(g)}]`)
          .join(', ') +
        (plan.groups.length > MAX_LOGGED_GROUPS ? `, … (${plan.groups.length} groups)` : ''),
    );
    if (choice.replanned && isDegeneratePlan(plan)) {
      this.log(
        `warning: round ${round}: degenerate plan — all ${plan.groups.length} groups at depth ${plan.groups[0]!.depth} and τ ${plan.groups[0]!.intraRounds}; ` +
          'the two-level mean equals the flat mean (homogeneous fleet, or grouping/budget options leave no room)',
      );
    }
    const traffic: RoundTraffic = { bytesUp: 0, bytesDown: 0 };
    const startedAt = this.now();
    this.encoded = new WeakMap();
    this.liveTimeline = [];
    const input: GlobalRoundInput = {
      round,
      strategy: this.deps.strategy,
      plan,
      global: this.global,
      numBlocks: this.numBlocks,
      trainMember: (a) => this.trainMember(a, traffic),
      ...(this.deps.aggregator ? { aggregator: this.deps.aggregator } : {}),
      onGroupAggregated: ({ robust, ...e }) => {
        // One line per aggregation: which uploads the robust rule kept or dropped, their cosines, the clip bound.
        if (robust) this.log(`aggregation round ${round}.${e.intraRound} group ${e.groupId}: ${formatRobustReport(robust)}`);
        this.liveTimeline.push({ ...e, at: this.now() });
        this.deps.channel.broadcastStatus(this.status());
      },
    };
    const outcome = this.deps.cluster
      ? await this.deps.cluster.runGlobalRound(input, { weightCap: this.ownDataWeightCap, traffic, stopped: () => this.stopReason !== undefined })
      : await runGlobalRound(input);
    this.throwIfStopped();
    const planned = plan.groups.reduce((n, g) => n + g.deviceIds.length, 0);
    const participants = [...new Set(outcome.groups.flatMap((g) => g.contributors.flat()))].sort();
    const needed = Math.max(1, Math.ceil((this.deps.settings.minReportFraction ?? 0.5) * planned - 1e-9));
    if (outcome.groups.every((g) => g.result === undefined) || participants.length < needed) {
      this.retries += 1;
      const why = `round ${round}: ${participants.length} of ${planned} devices reported (${needed} needed); the round is discarded and run again`;
      this.log(why);
      this.setState(this.runState, why);
      return false;
    }
    this.global = outcome.global;
    await this.evaluateAndPersist(round, plan, participants, traffic, startedAt);
    return true;
  }

  /**
   * Cluster: runs one group of the leader's round on this node, whose members are connected here
   * (the same runGlobalRound, over a plan of this one group; its delta is the group's result).
   */
  async runLocalGroup(round: number, group: GroupPlan, global: AdapterState, weightCap: number): Promise<{ outcome: GroupOutcome; traffic: RoundTraffic }> {
    this.ownDataWeightCap = weightCap;
    const traffic: RoundTraffic = { bytesUp: 0, bytesDown: 0 };
    const result = await runGlobalRound({
      round,
      strategy: this.deps.strategy,
      plan: { groups: [group] },
      global,
      numBlocks: this.numBlocks,
      // Members may still be on their way here (redirected): they get their work when they join.
      trainMember: (a) => this.trainMember(a, traffic, true),
      // The group's result goes on to the leader: its "global" step (over this one group) stays
      // here, where the aggregator would move the result away.
      ...(this.deps.aggregator ? { aggregator: localGlobal(this.deps.aggregator, this.deps.strategy) } : {}),
    });
    return { outcome: result.groups[0]!, traffic };
  }

  private joinedCount(): number {
    return this.deps.cluster ? this.deps.cluster.joinedCount() : this.deps.registry.joinedConnectedCount();
  }

  /** A member's training: send its work, resolve with its validated upload, or undefined if it drops out. */
  private trainMember(a: MemberAssignment, traffic: RoundTraffic, awaitAbsent = false): Promise<ClientUpdate | undefined> {
    const { registry, channel, runId, settings } = this.deps;
    if (this.stopReason !== undefined || (!awaitAbsent && !registry.isConnected(a.deviceId))) return Promise.resolve(undefined);
    // One encoding per adapter object: every member of intra-round 0 (all groups) shares the
    // global's bytes, every member of a later intra-round its group's.
    let payload = this.encoded.get(a.adapter);
    if (!payload) {
      payload = new Uint8Array(encodeAdapter(a.adapter));
      this.encoded.set(a.adapter, payload);
    }
    const bytes = payload.byteLength;
    return new Promise<ClientUpdate | undefined>((resolve) => {
      let settled = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      // The strategy's straggler deadline (fedlora-deadline) binds when it is shorter than the run's timeout.
      const byDeadline = a.deadlineMs !== undefined && a.deadlineMs < settings.roundTimeoutMs;
      const waitMs = byDeadline ? Math.max(0, a.deadlineMs!) : settings.roundTimeoutMs;
      // The wait runs from the work's dispatch (a paced send may go out a few batches later).
      const startTimer = () => {
        timer = setTimeout(() => {
          const paused = registry.get(a.deviceId)?.paused;
          this.log(
            `round ${a.round}.${a.intraRound} group ${a.groupId}: no upload from ${a.deviceId} within ${waitMs} ms` +
              `${byDeadline ? " (the strategy's round deadline: dropped from this round as a straggler)" : ''}${paused ? ` (paused: ${paused.reasons.join(', ')})` : ''}`,
          );
          work.settle(undefined);
        }, waitMs);
        timer.unref?.();
      };
      const partitionIndex = registry.get(a.deviceId)?.report?.partitionIndex;
      const wire: PendingWork['wire'] = {
        assignment: {
          runId,
          round: a.round,
          intraRound: a.intraRound,
          groupId: a.groupId,
          depth: a.depth,
          rank: this.deps.task.info.lora.rank,
          localSteps: a.localSteps,
          batchSize: settings.batchSize,
          learningRate: settings.learningRate,
          headLearningRate: settings.headLearningRate,
          ...(partitionIndex === undefined ? {} : { partitionIndex }),
        },
        adapter: { runId, round: a.round, intraRound: a.intraRound, payload },
      };
      const work: PendingWork = {
        assignment: a,
        localSteps: a.localSteps,
        wire,
        sentBeforeJoinOn: null,
        dispatched: false,
        graceTimer: undefined,
        settle: (update, uploadBytes = 0) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          clearTimeout(work.graceTimer);
          if (this.pending.get(a.deviceId) === work) {
            this.pending.delete(a.deviceId);
            this.uploads.cancel(a.deviceId);
          }
          traffic.bytesUp += uploadBytes;
          registry.setWork(a.deviceId, undefined);
          resolve(update);
        },
      };
      this.pending.get(a.deviceId)?.settle(undefined);
      this.pending.set(a.deviceId, work);
      const here = registry.get(a.deviceId);
      if (awaitAbsent && !(here?.socketId && here.report)) {
        // Not joined here yet: the work waits for its join (deviceRejoined sends it), as long as a
        // device that left mid-work would be waited for.
        work.dispatched = true;
        startTimer();
        work.graceTimer = setTimeout(() => {
          this.log(`device ${a.deviceId} did not reach this node; its work in round ${a.round}.${a.intraRound} is dropped`);
          work.settle(undefined);
        }, settings.rejoinGraceMs ?? 30_000);
        work.graceTimer.unref?.();
        return;
      }
      this.sender.submit(a.deviceId, bytes, () => {
        // Dropped while it waited for its batch (stopped, revoked, replaced): nothing to send.
        if (settled) return;
        work.dispatched = true;
        if (work.graceTimer !== undefined) {
          // The device left while its send waited: as if sent on the lost connection, a rejoin
          // within the grace gets it (deviceRejoined).
          startTimer();
          return;
        }
        work.sentBeforeJoinOn = notYetJoinedSocket(registry.get(a.deviceId));
        startTimer();
        let sent: boolean;
        try {
          sent = channel.sendWork(a.deviceId, wire.assignment, wire.adapter);
        } catch (err) {
          this.log(`round ${a.round}.${a.intraRound} group ${a.groupId}: sending work to ${a.deviceId} failed: ${(err as Error).message}`);
          sent = false;
        }
        if (!sent) {
          work.settle(undefined);
          return;
        }
        traffic.bytesDown += bytes;
        registry.addBytes(a.deviceId, 0, bytes);
        registry.setWork(a.deviceId, { groupId: a.groupId, depth: a.depth, localSteps: a.localSteps });
      });
    });
  }

  private resumeFromCheckpoint(): void {
    const cp = this.deps.state.latestCheckpoint(this.deps.runId);
    if (!cp) return;
    this.global = decodeAdapter(cp.bytes, { copy: true });
    this.completedRound = cp.round;
    this.resumed = true;
    this.lastAccuracy = this.deps.state.listMetrics(this.deps.runId).find((m) => m.round === cp.round)?.accuracy ?? null;
    this.log(`resuming run ${this.deps.runId} after round ${cp.round}`);
  }

  private async evaluateAndPersist(
    round: number,
    plan: RoundPlan | null,
    participants: readonly string[],
    traffic: RoundTraffic,
    startedAt: number,
  ): Promise<void> {
    const { state, runId } = this.deps;
    const evaluate = this.deps.task.evaluate;
    if (evaluate) this.setState(this.runState, `round ${round}: evaluating`);
    const metric = evaluate ? await evaluate(this.global) : null;
    const finishedAt = this.now();
    state.completeRound(
      { runId, round, startedAt, finishedAt, plan, participants, bytesUp: traffic.bytesUp, bytesDown: traffic.bytesDown, timeline: this.liveTimeline },
      metric ? { runId, round, accuracy: metric.accuracy, loss: metric.loss, evaluatedAt: finishedAt } : null,
      { runId, round, bytes: new Uint8Array(encodeAdapter(this.global)) },
    );
    this.completedRound = round;
    this.recorded += 1;
    this.lastAccuracy = metric ? metric.accuracy : null;
    this.log(
      `round ${round}: ${metric ? `accuracy ${metric.accuracy.toFixed(4)} loss ${metric.loss.toFixed(4)}${metric.perplexity === undefined ? '' : ` perplexity ${metric.perplexity.toFixed(3)}`}` : 'no evaluation set'} ` +
        `(${participants.length} devices, up ${traffic.bytesUp} B, down ${traffic.bytesDown} B, ${finishedAt - startedAt} ms)`,
    );
    this.setState(this.runState, undefined);
  }

  /**
   * Waits until `needed` devices have joined; with `timeoutMs`, at most that long, after which
   * `atLeast` devices are enough.
   */
  private async waitForDevices(needed: number, timeoutMs?: number, atLeast = needed): Promise<void> {
    const deadline = timeoutMs === undefined ? undefined : this.now() + timeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => this.wake(), timeoutMs);
      timer.unref?.();
    }
    try {
      for (;;) {
        const joined = this.joinedCount();
        const timedOut = deadline !== undefined && this.now() >= deadline;
        if (joined >= needed || (timedOut && joined >= atLeast)) break;
        this.throwIfStopped();
        this.setState(
          this.runState,
          timedOut
            ? `waiting for devices: ${joined}/${atLeast} joined (gave up waiting for all ${needed})`
            : `waiting for devices: ${joined}/${needed} joined${deadline === undefined ? '' : ` (or ${atLeast} after ${Math.ceil((deadline - this.now()) / 1000)} s)`}`,
        );
        await new Promise<void>((resolve) => this.wakeWaiters.push(resolve));
      }
    } finally {
      clearTimeout(timer);
    }
    this.throwIfStopped();
  }

  /** Waits `ms` (or until the run is stopped). */
  private async sleep(ms: number): Promise<void> {
    const until = this.now() + ms;
    while (this.stopReason === undefined && this.now() < until) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, until - this.now()));
        t.unref?.();
        this.wakeWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.throwIfStopped();
  }

  private wake(): void {
    const waiters = this.wakeWaiters;
    this.wakeWaiters = [];
    for (const w of waiters) w();
  }

  private throwIfStopped(): void {
    if (this.stopReason !== undefined) throw new RunStopped(this.stopReason);
  }

  private setState(next: RunStatusName, message: string | undefined): void {
    this.runState = next;
    this.message = message;
    this.deps.channel.broadcastStatus(this.status());
  }

  private finish(next: RunStatusName, message: string): void {
    for (const work of [...this.pending.values()]) work.settle(undefined);
    this.deps.state.setRunStatus(this.deps.runId, next, this.now());
    this.setState(next, message);
    this.log(`run ${this.deps.runId} ${next}: ${message}`);
  }
}

/** The most an own-data device's update may weigh: `factor` × the median declared count; Infinity when off or empty. */
export function sampleWeightCap(declared: readonly number[], factor: number | null | undefined): number {
  const f = factor === undefined ? DEFAULT_SAMPLE_WEIGHT_CAP : factor;
  if (f === null || declared.length === 0) return Number.POSITIVE_INFINITY;
  const sorted = [...declared].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return Math.max(1, f * median);
}

function reject(code: ServerErrorCode, message: string): UploadVerdict {
  return { ok: false, code, message };
}

/** The device's current connection when it has said hello there but not joined yet; else null. */
function notYetJoinedSocket(d: { socketId: string | null; joinedOn: string | null } | undefined): string | null {
  return d?.socketId != null && d.joinedOn !== d.socketId ? d.socketId : null;
}

/** The aggregator for groups, the strategy in process for the global step. */
function localGlobal(aggregator: RoundAggregator, strategy: Strategy): RoundAggregator {
  return {
    group: (updates, base) => aggregator.group(updates, base),
    global: (groups, base) => Promise.resolve().then(() => strategy.aggregateGlobal(groups, base)),
  };
}

/** '; member depths 3/1/2' for a plan with per-member depths that differ; '' otherwise. */
function memberDepthsText(g: GroupPlan): string {
  if (g.memberDepths === undefined) return '';
  const depths = g.deviceIds.map((id) => g.memberDepths![id] ?? g.depth);
  return depths.every((d) => d === g.depth) ? '' : `; member depths ${depths.join('/')}`;
}
