/**
 * The coordinator's engine for one run: it decides WHEN (wait for devices, start a round, wait for
 * uploads, evaluate, persist); the Strategy decides WHAT (groups, depth, τ, local steps, how updates
 * combine). Follows the engine contract in lora-core's federated/strategy.ts:
 *   membership fixed per round → plan → groups run concurrently, each τ_g intra-group rounds of
 *   (send adapter + assignment → collect deltas → aggregateGroup → apply) → aggregateGlobal over
 *   the groups that produced updates → apply → evaluate → persist round + metric + checkpoint.
 */
import {
  applyDelta,
  AdapterCodecError,
  decodeAdapter,
  encodeAdapter,
  findNonFinite,
  shapesOf,
  subtractAdapters,
  trainedBlockKeys,
  validateAdapter,
  validateRoundPlan,
} from '../core';
import type {
  AdapterState,
  BlockKey,
  ClientUpdate,
  GroupPlan,
  GroupResult,
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
import { RoundCollector } from './round-collector';

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

interface PendingWork {
  readonly round: number;
  readonly intraRound: number;
  readonly groupId: string;
  readonly depth: number;
  readonly blockKeys: readonly BlockKey[];
  readonly collector: RoundCollector;
  readonly onBytes: (bytes: number) => void;
}

interface RoundTraffic {
  bytesUp: number;
  bytesDown: number;
  participants: Set<string>;
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
  private readonly collectors = new Set<RoundCollector>();
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
        const startedAt = this.now();
        await this.evaluateAndPersist(0, null, { bytesUp: 0, bytesDown: 0, participants: new Set() }, startedAt);
      }
      let round = this.completedRound + 1;
      while (round <= settings.rounds) {
        const needed = round === 1 ? settings.devicesExpected : (settings.minDevices ?? 1);
        await this.waitForDevices(needed);
        if (this.runState !== 'running') state.setRunStatus(runId, 'running', null);
        this.setState('running', `round ${round}: planning`);
        const traffic: RoundTraffic = { bytesUp: 0, bytesDown: 0, participants: new Set() };
        const startedAt = this.now();
        const plan = this.plan(round);
        const results = await Promise.all(plan.groups.map((g) => this.runGroup(round, g, traffic)));
        this.throwIfStopped();
        const produced = results.filter((r): r is GroupResult => r !== undefined);
        if (produced.length === 0) {
          this.log(`round ${round}: no group produced an update; repeating the round`);
          continue;
        }
        this.global = applyDelta(this.global, this.deps.strategy.aggregateGlobal(produced));
        await this.evaluateAndPersist(round, plan, traffic, startedAt);
        round += 1;
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

  /** Ends the run at the next step boundary (pending rounds resolve with what arrived). */
  stop(): void {
    this.stopped = true;
    for (const c of this.collectors) c.abort();
    this.wake();
  }

  /** An upload that passed schema validation; decides whether it enters aggregation. */
  acceptUpload(deviceId: string, upload: Upload): UploadVerdict {
    const work = this.pending.get(deviceId);
    if (upload.runId !== this.deps.runId) return reject('stale-round', `upload is for run ${upload.runId}; this run is ${this.deps.runId}`);
    if (!work) return reject('unexpected-upload', `device ${deviceId} has no work in progress`);
    if (upload.round !== work.round || upload.intraRound !== work.intraRound || upload.groupId !== work.groupId) {
      return reject(
        'stale-round',
        `upload is for round ${upload.round}.${upload.intraRound} of group ${upload.groupId}; expected ${work.round}.${work.intraRound} of group ${work.groupId}`,
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
    const problems = validateAdapter(delta, { blockKeys: work.blockKeys, shapes: shapesOf(this.global) });
    if (problems.length > 0) return reject('bad-adapter', `delta does not match the assignment: ${problems.slice(0, 5).join('; ')}`);
    const nonFinite = findNonFinite(delta);
    if (nonFinite.length > 0) return reject('bad-adapter', `delta holds a non-finite value (${JSON.stringify(nonFinite[0])})`);
    const update: ClientUpdate = { deviceId, numSamples: upload.numSamples, delta };
    if (!work.collector.accept(update)) return reject('stale-round', 'the round no longer waits for this device');
    this.pending.delete(deviceId);
    work.onBytes(upload.payload.byteLength);
    this.deps.registry.addBytes(deviceId, upload.payload.byteLength, 0);
    this.deps.registry.setWork(deviceId, undefined);
    return { ok: true, bytes: upload.payload.byteLength };
  }

  /** The device's socket is gone: its in-flight work is lost and no longer awaited. */
  deviceLeft(deviceId: string): void {
    const work = this.pending.get(deviceId);
    if (!work) return;
    this.pending.delete(deviceId);
    work.collector.drop(deviceId);
    this.log(`device ${deviceId} left during round ${work.round}.${work.intraRound}; its work is dropped`);
  }

  private resumeFromCheckpoint(): void {
    const cp = this.deps.state.latestCheckpoint(this.deps.runId);
    if (!cp) return;
    this.global = decodeAdapter(cp.bytes, { copy: true });
    this.completedRound = cp.round;
    this.lastAccuracy = this.deps.state.listMetrics(this.deps.runId).find((m) => m.round === cp.round)?.accuracy ?? null;
    this.log(`resuming run ${this.deps.runId} after round ${cp.round}`);
  }

  private plan(round: number): RoundPlan {
    const members = this.deps.registry.joinedConnected();
    const devices = members.map(toDeviceInfo);
    const ctx: PlanContext = {
      round,
      numBlocks: this.numBlocks,
      adapterBytes: this.uploadBytes,
      seed: this.deps.settings.seed,
      ...(this.deps.task.memoryBytesByDepth ? { memoryBytesByDepth: this.deps.task.memoryBytesByDepth } : {}),
    };
    const plan = this.deps.strategy.plan(devices, ctx);
    const problems = validateRoundPlan(plan, devices, this.numBlocks);
    if (problems.length > 0) throw new Error(`strategy ${this.deps.strategy.name} made an invalid plan: ${problems.join('; ')}`);
    this.log(
      `round ${round}: ${plan.groups.map((g) => `group ${g.groupId} depth ${g.depth} τ ${g.intraRounds} I ${g.localSteps} [${g.deviceIds.length} devices]`).join(', ')}`,
    );
    return plan;
  }

  /** τ_g intra-group rounds; undefined when no member contributed anything. */
  private async runGroup(round: number, group: GroupPlan, traffic: RoundTraffic): Promise<GroupResult | undefined> {
    const blockKeys = trainedBlockKeys(this.numBlocks, group.depth);
    const start = this.global;
    let adapter = start;
    const contributors = new Map<string, number>();
    for (let intraRound = 0; intraRound < group.intraRounds; intraRound++) {
      this.throwIfStopped();
      const updates = await this.runIntraRound(round, intraRound, group, blockKeys, adapter, traffic);
      if (updates.length === 0) continue;
      for (const u of updates) contributors.set(u.deviceId, u.numSamples);
      adapter = applyDelta(adapter, this.deps.strategy.aggregateGroup(updates));
    }
    if (contributors.size === 0) return undefined;
    for (const id of contributors.keys()) traffic.participants.add(id);
    const numSamples = [...contributors.values()].reduce((a, b) => a + b, 0);
    return { groupId: group.groupId, numSamples, delta: subtractAdapters(adapter, start, blockKeys) };
  }

  private async runIntraRound(
    round: number,
    intraRound: number,
    group: GroupPlan,
    blockKeys: readonly BlockKey[],
    adapter: AdapterState,
    traffic: RoundTraffic,
  ): Promise<ClientUpdate[]> {
    const { registry, channel, runId, settings } = this.deps;
    const members = group.deviceIds.filter((id) => registry.isConnected(id));
    const collector = new RoundCollector(members, settings.roundTimeoutMs);
    this.collectors.add(collector);
    const payload = new Uint8Array(encodeAdapter(adapter));
    for (const deviceId of members) {
      const work: PendingWork = {
        round,
        intraRound,
        groupId: group.groupId,
        depth: group.depth,
        blockKeys,
        collector,
        onBytes: (bytes) => {
          traffic.bytesUp += bytes;
        },
      };
      this.pending.set(deviceId, work);
      const partitionIndex = registry.get(deviceId)?.report?.partitionIndex;
      const sent = channel.sendWork(
        deviceId,
        {
          runId,
          round,
          intraRound,
          groupId: group.groupId,
          depth: group.depth,
          rank: this.deps.task.info.lora.rank,
          localSteps: group.localSteps,
          batchSize: settings.batchSize,
          learningRate: settings.learningRate,
          headLearningRate: settings.headLearningRate,
          ...(partitionIndex === undefined ? {} : { partitionIndex }),
        },
        { runId, round, intraRound, payload },
      );
      if (sent) {
        traffic.bytesDown += payload.byteLength;
        registry.addBytes(deviceId, 0, payload.byteLength);
        registry.setWork(deviceId, { groupId: group.groupId, depth: group.depth });
      } else {
        this.pending.delete(deviceId);
        collector.drop(deviceId);
      }
    }
    const result = await collector.done;
    this.collectors.delete(collector);
    for (const id of [...result.missing, ...result.dropped]) {
      if (this.pending.get(id)?.collector === collector) this.pending.delete(id);
      registry.setWork(id, undefined);
    }
    if (result.missing.length > 0) {
      this.log(`round ${round}.${intraRound} group ${group.groupId}: no upload from ${result.missing.join(', ')} before the deadline`);
    }
    return result.updates;
  }

  private async evaluateAndPersist(round: number, plan: RoundPlan | null, traffic: RoundTraffic, startedAt: number): Promise<void> {
    const { state, runId } = this.deps;
    this.setState(this.runState === 'waiting' && round === 0 ? 'waiting' : 'running', `round ${round}: evaluating`);
    const metric = await this.deps.task.evaluate(this.global);
    const finishedAt = this.now();
    state.completeRound(
      {
        runId,
        round,
        startedAt,
        finishedAt,
        plan,
        participants: [...traffic.participants].sort(),
        bytesUp: traffic.bytesUp,
        bytesDown: traffic.bytesDown,
      },
      { runId, round, accuracy: metric.accuracy, loss: metric.loss, evaluatedAt: finishedAt },
      { runId, round, bytes: new Uint8Array(encodeAdapter(this.global)) },
    );
    this.completedRound = round;
    this.lastAccuracy = metric.accuracy;
    this.log(
      `round ${round}: accuracy ${metric.accuracy.toFixed(4)} loss ${metric.loss.toFixed(4)} ` +
        `(${traffic.participants.size} devices, up ${traffic.bytesUp} B, down ${traffic.bytesDown} B, ${finishedAt - startedAt} ms)`,
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
    for (const [deviceId] of this.pending) this.deps.registry.setWork(deviceId, undefined);
    this.pending.clear();
    this.deps.state.setRunStatus(this.deps.runId, next, this.now());
    this.setState(next, message);
    this.log(`run ${this.deps.runId} ${next}: ${message}`);
  }
}

function reject(code: ServerErrorCode, message: string): UploadVerdict {
  return { ok: false, code, message };
}
