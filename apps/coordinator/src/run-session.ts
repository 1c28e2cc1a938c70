/**
 * One run inside a coordinator process: its record in the state, its live device registry, fleet
 * slots, device gateway and run loop. A new run is a new session; a session can also pick up a
 * run the state holds unfinished (after a crash or a restart), from its last completed round.
 */
import { randomBytes } from 'node:crypto';
import { createStrategy, DEFAULT_TRIM_FRACTION } from './core';
import type { RobustOptions, Strategy } from './core';
import { runParamsSchema } from './dashboard/contract';
import type { RunParams } from './dashboard/contract';
import type { AddressLimits, ConnectionLimits } from './connection-limits';
import { RunLoop } from './engine/run-loop';
import { workerPlanner } from './planning/planner';
import { workerAggregator } from './aggregation/aggregator';
import type { WorkerAggregator } from './aggregation/aggregator';
import type { RoundPlanner, StrategySpec } from './planning/planner';
import type { UploadGateOptions } from './engine/upload-gate';
import type { SendPacerOptions } from './engine/send-pacer';
import type { ClusterHooks } from './engine/run-loop';
import type { HelloAdmission } from './gateway';
import type { InviteBook } from './invites';
import { FleetSlots } from './fleet-slots';
import { DeviceGateway } from './gateway';
import type { CoordinatorServer } from './gateway';
import { DeviceRegistry } from './registry';
import type { RunConfig } from './server';
import { RESUMABLE_STATUSES } from './state';
import type { CoordinatorState, RunRecord, RunStatusName } from './state';
import type { FederatedTask } from './task';

export interface RunSession {
  readonly runId: string;
  readonly params: RunParams;
  readonly registry: DeviceRegistry;
  readonly fleet: FleetSlots;
  readonly gateway: DeviceGateway;
  readonly loop: RunLoop;
  /** Resolves when the run ends; start() must have been called. */
  readonly done: Promise<RunStatusName>;
  start(): void;
  /** Waiting for devices or training. */
  isActive(): boolean;
}

export interface OpenRunOptions {
  readonly io: CoordinatorServer;
  readonly params: RunParams;
  /** Overrides the strategy built from params (tests). */
  readonly strategy?: Strategy;
  /** Where rounds are planned; default: a worker planner for a strategy built from params, else in process. */
  readonly planner?: RoundPlanner;
  /** Where aggregations run; default: a worker thread for a strategy built from params, else in process. */
  readonly aggregator?: WorkerAggregator;
  /** Batching of the work sends (engine/send-pacer.ts defaults when absent). */
  readonly sendPacing?: SendPacerOptions;
  /** The window of offered uploads (engine/upload-gate.ts defaults when absent). */
  readonly uploadGate?: UploadGateOptions;
  readonly task: FederatedTask;
  readonly state: CoordinatorState;
  readonly joinToken: string;
  /** Recorded with the run; a restarted coordinator resumes the run only under the same task settings. */
  readonly taskSettings: Readonly<Record<string, unknown>>;
  readonly rejoinGraceMs: number;
  /** Devices disconnected this long leave the live registry (never sooner than the rejoin grace; default 10 min). */
  readonly evictAfterMs?: number;
  readonly normBoundFactor: number | null;
  /** Own-data weight cap, round retries, resume wait (RunSettings); defaults when absent. */
  readonly sampleWeightCap?: number | null;
  readonly maxRoundAttempts?: number;
  readonly resumeWaitMs?: number;
  /** Fleet slots of devices gone longer than this go to new tabs (default 10 min). */
  readonly slotGraceMs?: number;
  /** Connection and per-address limits (shared across the runs of a process). */
  readonly limits?: Partial<ConnectionLimits>;
  readonly addresses?: AddressLimits;
  readonly invites?: InviteBook;
  readonly invitesOnly?: boolean;
  /** Pick up this run from the state instead of creating one. */
  readonly resumeRunId?: string;
  /** The id of the run to create (a cluster's shared run); default: a new one. */
  readonly runId?: string;
  /**
   * A cluster node (cluster/node.ts): the loop counts and plans over every node, and it runs only
   * once this node holds the leader lease (until then the node serves its devices' groups).
   */
  readonly cluster?: ClusterHooks & { awaitLeadership(): Promise<'lead' | RunStatusName>; admission(runId: string): HelloAdmission };
  /** Called whenever the run's status changes (the dashboard refreshes on it). */
  readonly onStatus?: () => void;
  readonly log: (line: string) => void;
}

export const DEFAULT_EVICT_AFTER_MS = 10 * 60_000;

export function newRunId(now = new Date()): string {
  return `run-${now.toISOString().replace(/[-:T]/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`;
}

/** The run's strategy as a name and options (what the planning worker rebuilds it from). */
export function strategySpecFor(params: RunParams): StrategySpec {
  const robust = robustOptionsOf(params);
  return {
    name: params.strategy,
    options: {
      planner: {
        localSteps: params.localSteps,
        ...(params.budgetRule === undefined ? {} : { budgetRule: params.budgetRule }),
        ...(params.memberDepth === undefined ? {} : { memberDepth: params.memberDepth }),
      },
      ...(params.groups === undefined ? {} : { grouping: { numGroups: params.groups } }),
      ...(robust === undefined ? {} : { robust }),
      ...(params.weighting === undefined && params.loraAggregation === undefined
        ? {}
        : { aggregation: { ...(params.weighting === undefined ? {} : { weighting: params.weighting }), ...(params.loraAggregation === undefined ? {} : { lora: params.loraAggregation }) } }),
    },
  };
}

export function strategyFor(params: RunParams): Strategy {
  const spec = strategySpecFor(params);
  return createStrategy(spec.name, spec.options);
}

/** The strategy's robust-aggregation option from the flat run parameters; undefined = plain weighted mean. */
export function robustOptionsOf(params: RunParams): RobustOptions | undefined {
  if (params.robust === 'mean' && params.clipNorm === null) return undefined;
  return {
    rule: params.robust,
    ...(params.robust === 'trimmed-mean' ? { trimFraction: params.trimFraction } : {}),
    ...(params.clipNorm === null ? {} : { clipNorm: params.clipNorm }),
  };
}

export function openRun(opts: OpenRunOptions): RunSession {
  const { io, params, task, state, log } = opts;
  const strategy = opts.strategy ?? strategyFor(params);
  // A strategy object given by the caller cannot be rebuilt in a worker: it plans in process.
  const planner = opts.planner ?? (opts.strategy ? undefined : workerPlanner(strategy, strategySpecFor(params)));
  const aggregator = opts.aggregator ?? (opts.strategy ? undefined : workerAggregator(strategySpecFor(params)));
  let runId: string;
  if (opts.resumeRunId !== undefined) {
    runId = opts.resumeRunId;
    state.setRunStatus(runId, 'waiting', null);
  } else {
    runId = opts.runId ?? newRunId();
    state.createRun({
      id: runId,
      createdAt: Date.now(),
      strategy: strategy.name,
      config: { ...params, task: opts.taskSettings },
      status: 'waiting',
      finishedAt: null,
    });
  }
  state.setJoinToken(runId, opts.joinToken);

  const registry = new DeviceRegistry({
    get: (deviceId) => state.getDeviceKeyHash(runId, deviceId),
    set: (deviceId, keyHash) => state.setDeviceKeyHash(runId, deviceId, keyHash),
  });
  const openedAt = Date.now();
  const fleet = new FleetSlots(runId, state, task.fleet, {
    // Connected: not gone. Known to this process: since it was last seen. Else: since its last
    // join in the state, or (never joined) since this process opened the run.
    goneSince: (deviceId) => {
      const live = registry.get(deviceId);
      if (live?.socketId) return undefined;
      return live?.lastSeen ?? state.getDevice(runId, deviceId)?.lastSeen ?? openedAt;
    },
    graceMs: opts.slotGraceMs ?? 600_000,
    log,
  });
  const gateway = new DeviceGateway(io, {
    runId,
    token: opts.joinToken,
    task: task.info,
    registry,
    state,
    fleet,
    log,
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.addresses ? { addresses: opts.addresses } : {}),
    ...(opts.invites ? { invites: opts.invites } : {}),
    ...(opts.invitesOnly ? { invitesOnly: true } : {}),
    ...(opts.cluster ? { admission: opts.cluster.admission(runId) } : {}),
  });
  const loop = new RunLoop({
    runId,
    strategy,
    task,
    state,
    registry,
    channel: {
      sendWork: (deviceId, assignment, adapter) => gateway.sendWork(deviceId, assignment, adapter),
      grantUpload: (deviceId, grant) => gateway.grantUpload(deviceId, grant),
      broadcastStatus: (status) => {
        gateway.broadcastStatus(status);
        opts.onStatus?.();
      },
    },
    settings: {
      rounds: params.rounds,
      devicesExpected: params.devicesExpected,
      batchSize: params.batchSize,
      learningRate: params.learningRate,
      headLearningRate: params.headLearningRate,
      seed: params.seed,
      roundTimeoutMs: params.roundTimeoutS * 1000,
      minReportFraction: params.minReportFraction,
      rejoinGraceMs: opts.rejoinGraceMs,
      normBoundFactor: opts.normBoundFactor,
      ...(opts.sampleWeightCap === undefined ? {} : { sampleWeightCap: opts.sampleWeightCap }),
      ...(opts.maxRoundAttempts === undefined ? {} : { maxRoundAttempts: opts.maxRoundAttempts }),
      ...(opts.resumeWaitMs === undefined ? {} : { resumeWaitMs: opts.resumeWaitMs }),
    },
    ...(opts.cluster ? { cluster: opts.cluster } : {}),
    ...(planner ? { planner } : {}),
    ...(aggregator ? { aggregator } : {}),
    ...(opts.sendPacing ? { sendPacing: opts.sendPacing } : {}),
    ...(opts.uploadGate ? { uploadGate: opts.uploadGate } : {}),
    log,
  });
  gateway.attachEngine(loop);
  const evictAfterMs = Math.max(opts.rejoinGraceMs, opts.evictAfterMs ?? DEFAULT_EVICT_AFTER_MS);
  const evictTimer = setInterval(() => {
    const evicted = registry.evictGone(evictAfterMs, Date.now());
    if (evicted.length > 0) log(`evicted ${evicted.length} device(s) gone for over ${Math.round(evictAfterMs / 1000)} s from the live registry`);
  }, Math.min(60_000, Math.max(1_000, evictAfterMs / 4)));
  evictTimer.unref();

  let done: Promise<RunStatusName> | undefined;
  let ended = false;
  return {
    runId,
    params,
    registry,
    fleet,
    gateway,
    loop,
    get done() {
      if (!done) throw new Error(`run ${runId} has not been started`);
      return done;
    },
    start() {
      const cluster = opts.cluster;
      const run = cluster ? () => cluster.awaitLeadership().then((r) => (r === 'lead' ? loop.run() : r)) : () => loop.run();
      done ??= run()
        .then((status) => {
          ended = true;
          clearInterval(evictTimer);
          return status;
        })
        .finally(() => {
          void planner?.close();
          void aggregator?.close();
        });
    },
    isActive: () => done !== undefined && !ended,
  };
}

/** The run parameters a command line asks for (the first run of a process). */
export function runParamsFromConfig(config: RunConfig): RunParams {
  return {
    strategy: config.strategy ?? 'fedlora',
    rounds: config.rounds,
    devicesExpected: config.devicesExpected,
    ...(config.groups === undefined ? {} : { groups: config.groups }),
    localSteps: config.localSteps ?? 10,
    batchSize: config.batchSize,
    learningRate: config.learningRate,
    headLearningRate: config.headLearningRate,
    seed: config.seed,
    roundTimeoutS: config.roundTimeoutMs / 1000,
    minReportFraction: config.minReportFraction ?? 0.5,
    robust: config.robust?.rule ?? 'mean',
    trimFraction: config.robust?.trimFraction ?? DEFAULT_TRIM_FRACTION,
    clipNorm: config.robust?.clipNorm ?? null,
    ...config.method,
  };
}

/**
 * The run a restarted coordinator should pick up: the most recent run, if it did not end (waiting,
 * running or interrupted), was made for the same task settings, and its parameters still parse.
 */
export function findResumableRun(
  state: CoordinatorState,
  taskSettings: Readonly<Record<string, unknown>>,
): { run: RunRecord; params: RunParams } | undefined {
  const runs = state.listRuns();
  const latest = runs[runs.length - 1];
  if (!latest || !RESUMABLE_STATUSES.includes(latest.status)) return undefined;
  const { task, ...rest } = latest.config as { task?: unknown };
  if (JSON.stringify(task) !== JSON.stringify(taskSettings)) return undefined;
  const parsed = runParamsSchema.safeParse(rest);
  return parsed.success ? { run: latest, params: parsed.data } : undefined;
}

/** A run a restarted coordinator would resume, recorded for another task: `npm start` refuses it. */
export class TaskMismatchError extends Error {
  constructor(
    readonly runId: string,
    readonly recorded: Readonly<Record<string, unknown>>,
    readonly current: Readonly<Record<string, unknown>>,
  ) {
    const name = (t: Readonly<Record<string, unknown>>) => `"${String(t.task)}" (hash ${String(t.taskHash ?? 'none').slice(0, 12)})`;
    super(
      `refusing to resume run ${runId}: it was started on task ${name(recorded)}, and this coordinator was given task ${name(current)}. ` +
        'Start it again with the same task (same task file and data files) to resume, or pass --fresh to start a new run.',
    );
    this.name = 'TaskMismatchError';
  }
}

/**
 * Throws TaskMismatchError when the latest run is unfinished (it would be resumed) but was recorded
 * with another task content hash. Runs recorded before tasks had hashes are left alone.
 */
export function refuseResumeOnOtherTask(state: CoordinatorState, taskSettings: Readonly<Record<string, unknown>>): void {
  const runs = state.listRuns();
  const latest = runs[runs.length - 1];
  if (!latest || !RESUMABLE_STATUSES.includes(latest.status)) return;
  const recorded = (latest.config as { task?: unknown }).task;
  if (!recorded || typeof recorded !== 'object') return;
  const hash = (recorded as { taskHash?: unknown }).taskHash;
  if (typeof hash !== 'string' || typeof taskSettings.taskHash !== 'string') return;
  if (hash !== taskSettings.taskHash) throw new TaskMismatchError(latest.id, recorded as Record<string, unknown>, taskSettings);
}
