/**
 * What the coordinator remembers: runs, devices, fleet slots, completed rounds with their metrics
 * and adapter checkpoints. One interface, two implementations (memory for tests, SQLite embedded
 * by default), the shape of Flower's LinkState. All methods are synchronous: better-sqlite3 is,
 * and it keeps "a round completes atomically" easy to reason about.
 */
import type { RoundPlan } from '../core';

/**
 * 'interrupted': the process was stopped (SIGTERM/SIGINT) or killed mid-run: resumable.
 * 'stopped': an admin ended it: not resumed.
 */
export type RunStatusName = 'waiting' | 'running' | 'finished' | 'failed' | 'interrupted' | 'stopped';

/** Statuses of a run that a restarted coordinator picks up again. */
export const RESUMABLE_STATUSES: readonly RunStatusName[] = ['waiting', 'running', 'interrupted'];

/** One group aggregation inside a global round (the dashboard's timeline). */
export interface GroupAggregationRecord {
  readonly groupId: string;
  readonly intraRound: number;
  readonly at: number;
  readonly contributors: number;
  readonly planned: number;
}

export interface RunRecord {
  readonly id: string;
  readonly createdAt: number;
  readonly strategy: string;
  /** The run's settings as given on the command line (JSON-serializable). */
  readonly config: Readonly<Record<string, unknown>>;
  readonly status: RunStatusName;
  readonly finishedAt: number | null;
}

export interface DeviceRecord {
  readonly runId: string;
  readonly deviceId: string;
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** How many times this device joined (1 = first join; more after reloads and reconnects). */
  readonly joins: number;
  readonly backend: string;
  /** Everything the device reported in its join message (JSON-serializable). */
  readonly report: Readonly<Record<string, unknown>>;
}

export interface FleetSlotRecord {
  readonly runId: string;
  readonly deviceId: string;
  readonly index: number;
  /** Secret the device presents to fetch its partition, so a tab gets only its own data. */
  readonly key: string;
}

export interface RoundRecord {
  readonly runId: string;
  /** 0 = the initial adapter (evaluation only); 1.. = trained global rounds. */
  readonly round: number;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly plan: RoundPlan | null;
  /** Devices whose upload reached aggregation in this round. */
  readonly participants: readonly string[];
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** When each group aggregated, in order. */
  readonly timeline: readonly GroupAggregationRecord[];
}

export interface MetricRecord {
  readonly runId: string;
  readonly round: number;
  readonly accuracy: number;
  readonly loss: number;
  readonly evaluatedAt: number;
}

export interface CheckpointRecord {
  readonly runId: string;
  readonly round: number;
  /** Encoded adapter (adapter codec). */
  readonly bytes: Uint8Array;
}

export interface CoordinatorState {
  createRun(run: RunRecord): void;
  setRunStatus(runId: string, status: RunStatusName, finishedAt: number | null): void;
  getRun(runId: string): RunRecord | undefined;
  listRuns(): RunRecord[];
  /** The run's join token, kept so that a restarted coordinator accepts the devices it had. */
  setJoinToken(runId: string, token: string): void;
  getJoinToken(runId: string): string | undefined;

  /** Insert or update a device's latest report; `joins` counts calls for that (run, device). */
  recordJoin(runId: string, deviceId: string, backend: string, report: Record<string, unknown>, at: number): DeviceRecord;
  touchDevice(runId: string, deviceId: string, at: number): void;
  getDevice(runId: string, deviceId: string): DeviceRecord | undefined;
  listDevices(runId: string): DeviceRecord[];

  /**
   * The device's fleet slot: its existing one, else the lowest free index below `numPartitions`
   * (stored with `key`), else undefined when every slot is taken. Atomic.
   */
  claimFleetSlot(runId: string, deviceId: string, numPartitions: number, key: string): FleetSlotRecord | undefined;
  getFleetSlot(runId: string, deviceId: string): FleetSlotRecord | undefined;
  listFleetSlots(runId: string): FleetSlotRecord[];
  /** Frees the device's fleet slot (its device was gone too long); its key no longer fetches data. */
  releaseFleetSlot(runId: string, deviceId: string): void;

  /**
   * Device-key bindings, as hashes of the key: a device id bound to a key stays bound across
   * restarts, so nobody else can claim a public id after one.
   */
  getDeviceKeyHash(runId: string, deviceId: string): string | undefined;
  setDeviceKeyHash(runId: string, deviceId: string, keyHash: string): void;
  /** Revoked device ids (for every run of this database), kept across restarts. */
  revokeDevice(deviceId: string, at: number): void;
  listRevokedDevices(): string[];
  /** Single-use invites (hashes): add, use (true when unused, then bound to deviceId, or already bound to it), count. */
  addInvites(hashes: readonly string[], at: number): void;
  useInvite(hash: string, deviceId: string): boolean;
  inviteCounts(): { issued: number; used: number };

  /** Round record, its metric (null: the task has no evaluation set) and its checkpoint, all or nothing. A round completes once. */
  completeRound(round: RoundRecord, metric: MetricRecord | null, checkpoint: CheckpointRecord): void;
  listRounds(runId: string): RoundRecord[];
  listMetrics(runId: string): MetricRecord[];
  getCheckpoint(runId: string, round: number): CheckpointRecord | undefined;
  latestCheckpoint(runId: string): CheckpointRecord | undefined;

  close(): void;
}

export class StateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateError';
  }
}
