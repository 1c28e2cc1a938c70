/**
 * The coordinator's engine for one run. It decides WHEN: wait for devices, fix each round's
 * membership, send work, wait for uploads (or the deadline), evaluate, persist. The Strategy
 * decides WHAT, and the round itself (plan choice, groups and intra-group rounds, aggregation)
 * is lora-core's runGlobalRound — the same code the simulation engine runs; here a member's
 * training is "send the assignment and the group's adapter to its tab, await its upload".
 */
import {
  AdapterCodecError,
  chooseRoundPlan,
  decodeAdapter,
  encodeAdapter,
  findNonFinite,
  runGlobalRound,
  shapesOf,
  validateAdapter,
} from '../core';
import type {
  AdapterState,
  ClientUpdate,
  MemberAssignment,
  PlanContext,
  RoundPlan,
  RunStatus,
  ServerErrorCode,
  ServerToDeviceWire,
  Strategy,
  Upload,
} from '../core';
import type { DeviceRegistry } from '../registry';
import { toDeviceInfo } from '../registry';
import type { CoordinatorState, RunStatusName } from '../state';
import type { FederatedTask } from '../task';
import { fullAdapterBytes, uploadBytesByDepth } from './adapter-sizes';

export interface DeviceChannel {
  /** Sends the assignment, then the adapter to start from. False when the device has no live socket. */
  sendWork(deviceId: string, assignment: ServerToDeviceWire['assignment'], adapter: ServerToDeviceWire['globalAdapter']): boolean;
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
  /** How long one member's work may take before the round goes on without it. */
  readonly roundTimeoutMs: number;
}

export interface RunLoopDeps {
  readonly runId: string;
  readonly strategy: Strategy;
  readonly task: FederatedTask;
  readonly state: CoordinatorState;
  readonly registry: DeviceRegistry;
  readonly channel: DeviceChannel;
  readonly settings: RunSettings;
  readonly now?: () => number;
  readonly log?: (line: string) => void;
}

export type UploadVerdict = { readonly ok: true; readonly bytes: number } | { readonly ok: false; readonly code: ServerErrorCode; readonly message: string };

/** One member's work in flight: what it was asked, and how to end its wait. */
interface PendingWork {
  readonly assignment: MemberAssignment;
  readonly localSteps: number;
  /** Resolves the member's promise (undefined = dropped out); idempotent. */
  settle(update: ClientUpdate | undefined, uploadBytes?: number): void;
}

interface RoundTraffic {
  bytesUp: number;
  bytesDown: number;
}

export class RunStopped extends Error {
  constructor() {
    super('run stopped');
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
  /** Device id → measured ms per local step in its last upload (plan drift detection). */
  private readonly measuredMs = new Map<string, number>();
  private previousPlan: RoundPlan | undefined;
  private global: AdapterState;
  private runState: RunStatusName = 'waiting';
  private completedRound = 0;
  private lastAccuracy: number | null = null;
  private message: string | undefined;
  private stopped = false;
  private wakeWaiters: Array<() => void> = [];

  constructor(private readonly deps: RunLoopDeps) {
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? (() => {});
    this.numBlocks = deps.task.info.numBlocks;
    this.global = deps.task.initialAdapter;
    this.uploadBytes = uploadBytesByDepth(this.global, this.numBlocks);
    this.maxUploadBytes = Math.ceil(fullAdapterBytes(this.global) * 1.25) + 4096;
    deps.registry.onChange(() => this.wake());
  }

  /** Encoded bytes a device uploads at each depth (PlanContext.adapterBytes). */
  get adapterBytesByDepth(): readonly number[] {
    return this.uploadBytes;
  }

  get globalAdapter(): AdapterState {
    return this.global;
  }

  status(): RunStatus {
    const { settings } = this.deps;
    return {
      runId: this.deps.runId,
      state: this.runState,
      strategy: this.deps.strategy.name,
      round: this.completedRound,
      totalRounds: settings.rounds,
      devicesJoined: this.deps.registry.joinedConnected().length,
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
      while (round <= settings.rounds) {
        await this.waitForDevices(round === 1 ? settings.devicesExpected : (settings.minDevices ?? 1));
        if (this.runState !== 'running') state.setRunStatus(runId, 'running', null);
        this.setState('running', `round ${round}: planning`);
        if (await this.runRound(round)) round += 1;
        else this.log(`round ${round}: no group produced an update; repeating the round`);
      }
      this.finish('finished', `finished ${settings.rounds} rounds`);
    } catch (err) {
      if (err instanceof RunStopped) this.finish('failed', 'stopped before the last round');
      else {
        this.log(`run failed: ${(err as Error).stack ?? String(err)}`);
        this.finish('failed', (err as Error).message);
      }
    }
    return this.runState;
  }

  /** Ends the run: work in flight is dropped and no further round starts. */
  stop(): void {
    this.stopped = true;
    for (const work of [...this.pending.values()]) work.settle(undefined);
    this.wake();
  }

  /** An upload that passed schema validation; decides whether it enters aggregation. */
  acceptUpload(deviceId: string, upload: Upload): UploadVerdict {
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
      delta = decodeAdapter(upload.payload, { maxBytes: this.maxUploadBytes, copy: true });
    } catch (err) {
      if (err instanceof AdapterCodecError) return reject('bad-adapter', err.message);
      throw err;
    }
    const problems = validateAdapter(delta, { blockKeys: a.blockKeys, shapes: shapesOf(this.global) });
    if (problems.length > 0) return reject('bad-adapter', `delta does not match the assignment: ${problems.slice(0, 5).join('; ')}`);
    const nonFinite = findNonFinite(delta);
    if (nonFinite.length > 0) return reject('bad-adapter', `delta holds a non-finite value (${JSON.stringify(nonFinite[0])})`);
    if (upload.trainMs !== undefined) this.measuredMs.set(deviceId, upload.trainMs / work.localSteps);
    work.settle({ deviceId, numSamples: upload.numSamples, delta }, upload.payload.byteLength);
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

  /** The device's socket is gone: its in-flight work is lost and no longer awaited. */
  deviceLeft(deviceId: string): void {
    const work = this.pending.get(deviceId);
    if (!work) return;
    this.log(`device ${deviceId} left during round ${work.assignment.round}.${work.assignment.intraRound}; its work is dropped`);
    work.settle(undefined);
  }

  /** One global round; false when no group produced an update (the round is repeated). */
  private async runRound(round: number): Promise<boolean> {
    const devices = this.deps.registry.joinedConnected().map(toDeviceInfo);
    const ctx: PlanContext = {
      round,
      numBlocks: this.numBlocks,
      adapterBytes: this.uploadBytes,
      seed: this.deps.settings.seed,
      ...(this.deps.task.memoryBytesByDepth ? { memoryBytesByDepth: this.deps.task.memoryBytesByDepth } : {}),
    };
    const choice = chooseRoundPlan(this.deps.strategy, devices, ctx, this.previousPlan, this.measuredMs);
    const plan = choice.plan;
    this.previousPlan = plan;
    this.log(
      `round ${round}: ${choice.replanned ? `new plan (${choice.reasons.join('; ')})` : 'same plan'}: ` +
        plan.groups.map((g) => `group ${g.groupId} depth ${g.depth} τ ${g.intraRounds} I ${g.localSteps} [${g.deviceIds.length} devices]`).join(', '),
    );
    const traffic: RoundTraffic = { bytesUp: 0, bytesDown: 0 };
    const startedAt = this.now();
    this.encoded = new WeakMap();
    const outcome = await runGlobalRound({
      round,
      strategy: this.deps.strategy,
      plan,
      global: this.global,
      numBlocks: this.numBlocks,
      trainMember: (a) => this.trainMember(a, traffic),
    });
    this.throwIfStopped();
    if (outcome.groups.every((g) => g.result === undefined)) return false;
    this.global = outcome.global;
    const participants = [...new Set(outcome.groups.flatMap((g) => g.contributors.flat()))].sort();
    await this.evaluateAndPersist(round, plan, participants, traffic, startedAt);
    return true;
  }

  /** A member's training: send its work, resolve with its validated upload, or undefined if it drops out. */
  private trainMember(a: MemberAssignment, traffic: RoundTraffic): Promise<ClientUpdate | undefined> {
    const { registry, channel, runId, settings } = this.deps;
    if (this.stopped || !registry.isConnected(a.deviceId)) return Promise.resolve(undefined);
    let payload = this.encoded.get(a.adapter);
    if (!payload) {
      payload = new Uint8Array(encodeAdapter(a.adapter));
      this.encoded.set(a.adapter, payload);
    }
    return new Promise<ClientUpdate | undefined>((resolve) => {
      let settled = false;
      const timer = setTimeout(() => {
        this.log(`round ${a.round}.${a.intraRound} group ${a.groupId}: no upload from ${a.deviceId} within ${settings.roundTimeoutMs} ms`);
        work.settle(undefined);
      }, settings.roundTimeoutMs);
      timer.unref?.();
      const work: PendingWork = {
        assignment: a,
        localSteps: a.localSteps,
        settle: (update, uploadBytes = 0) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (this.pending.get(a.deviceId) === work) this.pending.delete(a.deviceId);
          traffic.bytesUp += uploadBytes;
          registry.setWork(a.deviceId, undefined);
          resolve(update);
        },
      };
      this.pending.get(a.deviceId)?.settle(undefined);
      this.pending.set(a.deviceId, work);
      const partitionIndex = registry.get(a.deviceId)?.report?.partitionIndex;
      const sent = channel.sendWork(
        a.deviceId,
        {
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
        { runId, round: a.round, intraRound: a.intraRound, payload },
      );
      if (!sent) {
        work.settle(undefined);
        return;
      }
      traffic.bytesDown += payload.byteLength;
      registry.addBytes(a.deviceId, 0, payload.byteLength);
      registry.setWork(a.deviceId, { groupId: a.groupId, depth: a.depth });
    });
  }

  private resumeFromCheckpoint(): void {
    const cp = this.deps.state.latestCheckpoint(this.deps.runId);
    if (!cp) return;
    this.global = decodeAdapter(cp.bytes, { copy: true });
    this.completedRound = cp.round;
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
    this.setState(this.runState, `round ${round}: evaluating`);
    const metric = await this.deps.task.evaluate(this.global);
    const finishedAt = this.now();
    state.completeRound(
      { runId, round, startedAt, finishedAt, plan, participants, bytesUp: traffic.bytesUp, bytesDown: traffic.bytesDown },
      { runId, round, accuracy: metric.accuracy, loss: metric.loss, evaluatedAt: finishedAt },
      { runId, round, bytes: new Uint8Array(encodeAdapter(this.global)) },
    );
    this.completedRound = round;
    this.lastAccuracy = metric.accuracy;
    this.log(
      `round ${round}: accuracy ${metric.accuracy.toFixed(4)} loss ${metric.loss.toFixed(4)} ` +
        `(${participants.length} devices, up ${traffic.bytesUp} B, down ${traffic.bytesDown} B, ${finishedAt - startedAt} ms)`,
    );
    this.setState(this.runState, undefined);
  }

  private async waitForDevices(needed: number): Promise<void> {
    while (this.deps.registry.joinedConnected().length < needed) {
      this.throwIfStopped();
      this.setState(this.runState, `waiting for devices: ${this.deps.registry.joinedConnected().length}/${needed} joined`);
      await new Promise<void>((resolve) => this.wakeWaiters.push(resolve));
    }
    this.throwIfStopped();
  }

  private wake(): void {
    const waiters = this.wakeWaiters;
    this.wakeWaiters = [];
    for (const w of waiters) w();
  }

  private throwIfStopped(): void {
    if (this.stopped) throw new RunStopped();
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

function reject(code: ServerErrorCode, message: string): UploadVerdict {
  return { ok: false, code, message };
}

