/**
 * CoordinatorState in an embedded SQLite file (better-sqlite3: synchronous, transactions, WAL).
 * A completed round (record + metric + checkpoint) is one transaction, so a crash never leaves a
 * round without its checkpoint or a half-written checkpoint.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type {
  CheckpointRecord,
  CoordinatorState,
  DeviceRecord,
  FleetSlotRecord,
  MetricRecord,
  RoundRecord,
  RunRecord,
  RunStatusName,
} from './types';
import { StateError } from './types';
import { bestByOf, checkpointsToPrune, KEEP_ALL_CHECKPOINTS, retentionScores, validateRetention } from './retention';
import type { CheckpointRetention } from './retention';

const SCHEMA_VERSION = 3;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  strategy TEXT NOT NULL,
  config TEXT NOT NULL,
  status TEXT NOT NULL,
  finished_at INTEGER
);
CREATE TABLE IF NOT EXISTS devices (
  run_id TEXT NOT NULL REFERENCES runs(id),
  device_id TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  joins INTEGER NOT NULL,
  backend TEXT NOT NULL,
  report TEXT NOT NULL,
  PRIMARY KEY (run_id, device_id)
);
CREATE TABLE IF NOT EXISTS fleet_slots (
  run_id TEXT NOT NULL REFERENCES runs(id),
  device_id TEXT NOT NULL,
  slot_index INTEGER NOT NULL,
  slot_key TEXT NOT NULL,
  PRIMARY KEY (run_id, device_id),
  UNIQUE (run_id, slot_index)
);
CREATE TABLE IF NOT EXISTS rounds (
  run_id TEXT NOT NULL REFERENCES runs(id),
  round INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL,
  plan TEXT,
  participants TEXT NOT NULL,
  bytes_up INTEGER NOT NULL,
  bytes_down INTEGER NOT NULL,
  timeline TEXT NOT NULL DEFAULT '[]',
  PRIMARY KEY (run_id, round)
);
CREATE TABLE IF NOT EXISTS metrics (
  run_id TEXT NOT NULL REFERENCES runs(id),
  round INTEGER NOT NULL,
  accuracy REAL NOT NULL,
  loss REAL NOT NULL,
  evaluated_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, round)
);
CREATE TABLE IF NOT EXISTS run_secrets (
  run_id TEXT PRIMARY KEY REFERENCES runs(id),
  join_token TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS device_keys (
  run_id TEXT NOT NULL REFERENCES runs(id),
  device_id TEXT NOT NULL,
  key_hash TEXT NOT NULL,
  PRIMARY KEY (run_id, device_id)
);
CREATE TABLE IF NOT EXISTS revoked_devices (
  device_id TEXT PRIMARY KEY,
  revoked_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS invites (
  invite_hash TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  device_id TEXT
);
CREATE TABLE IF NOT EXISTS checkpoints (
  run_id TEXT NOT NULL REFERENCES runs(id),
  round INTEGER NOT NULL,
  bytes BLOB NOT NULL,
  PRIMARY KEY (run_id, round)
);
`;

interface RunRow {
  id: string;
  created_at: number;
  strategy: string;
  config: string;
  status: string;
  finished_at: number | null;
}
interface DeviceRow {
  run_id: string;
  device_id: string;
  first_seen: number;
  last_seen: number;
  joins: number;
  backend: string;
  report: string;
}
interface SlotRow {
  run_id: string;
  device_id: string;
  slot_index: number;
  slot_key: string;
}
interface RoundRow {
  run_id: string;
  round: number;
  started_at: number;
  finished_at: number;
  plan: string | null;
  participants: string;
  bytes_up: number;
  bytes_down: number;
  timeline: string;
}
interface MetricRow {
  run_id: string;
  round: number;
  accuracy: number;
  loss: number;
  evaluated_at: number;
}
interface CheckpointRow {
  run_id: string;
  round: number;
  bytes: Buffer;
}

const toRun = (r: RunRow): RunRecord => ({
  id: r.id,
  createdAt: r.created_at,
  strategy: r.strategy,
  config: JSON.parse(r.config) as Record<string, unknown>,
  status: r.status as RunStatusName,
  finishedAt: r.finished_at,
});
const toDevice = (r: DeviceRow): DeviceRecord => ({
  runId: r.run_id,
  deviceId: r.device_id,
  firstSeen: r.first_seen,
  lastSeen: r.last_seen,
  joins: r.joins,
  backend: r.backend,
  report: JSON.parse(r.report) as Record<string, unknown>,
});
const toSlot = (r: SlotRow): FleetSlotRecord => ({ runId: r.run_id, deviceId: r.device_id, index: r.slot_index, key: r.slot_key });
const toRound = (r: RoundRow): RoundRecord => ({
  runId: r.run_id,
  round: r.round,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  plan: r.plan === null ? null : (JSON.parse(r.plan) as RoundRecord['plan']),
  participants: JSON.parse(r.participants) as string[],
  bytesUp: r.bytes_up,
  bytesDown: r.bytes_down,
  timeline: JSON.parse(r.timeline) as RoundRecord['timeline'],
});
const toMetric = (r: MetricRow): MetricRecord => ({
  runId: r.run_id,
  round: r.round,
  accuracy: r.accuracy,
  loss: r.loss,
  evaluatedAt: r.evaluated_at,
});
const toCheckpoint = (r: CheckpointRow): CheckpointRecord => ({
  runId: r.run_id,
  round: r.round,
  bytes: new Uint8Array(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength),
});

export class SqliteState implements CoordinatorState {
  private readonly db: Database.Database;

  /** `file` is a path (created with its folder) or ':memory:'. */
  private readonly retention: CheckpointRetention;

  constructor(file: string, options: { readonly retention?: CheckpointRetention } = {}) {
    this.retention = validateRetention(options.retention ?? KEEP_ALL_CHECKPOINTS);
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // FULL: a completed round is on disk before the next starts (one fsync per round, cheap); a
    // SIGKILL cannot lose a commit even with NORMAL, a power cut could.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version !== 0 && version !== 1 && version !== 2 && version !== SCHEMA_VERSION) {
      throw new StateError(`${file} has schema version ${version}; this coordinator reads versions 1-${SCHEMA_VERSION}`);
    }
    if (version === 1) this.db.exec("ALTER TABLE rounds ADD COLUMN timeline TEXT NOT NULL DEFAULT '[]'");
    this.db.exec(SCHEMA);
    this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }

  createRun(run: RunRecord): void {
    if (this.getRun(run.id)) throw new StateError(`run ${run.id} exists already`);
    this.db
      .prepare('INSERT INTO runs (id, created_at, strategy, config, status, finished_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(run.id, run.createdAt, run.strategy, JSON.stringify(run.config), run.status, run.finishedAt);
  }

  setRunStatus(runId: string, status: RunStatusName, finishedAt: number | null): void {
    const info = this.db.prepare('UPDATE runs SET status = ?, finished_at = ? WHERE id = ?').run(status, finishedAt, runId);
    if (info.changes === 0) throw new StateError(`unknown run ${runId}`);
  }

  getRun(runId: string): RunRecord | undefined {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(runId) as RunRow | undefined;
    return row && toRun(row);
  }

  listRuns(): RunRecord[] {
    return (this.db.prepare('SELECT * FROM runs ORDER BY created_at, id').all() as RunRow[]).map(toRun);
  }

  setJoinToken(runId: string, token: string): void {
    this.requireRun(runId);
    this.db
      .prepare('INSERT INTO run_secrets (run_id, join_token) VALUES (?, ?) ON CONFLICT (run_id) DO UPDATE SET join_token = excluded.join_token')
      .run(runId, token);
  }

  getJoinToken(runId: string): string | undefined {
    const row = this.db.prepare('SELECT join_token FROM run_secrets WHERE run_id = ?').get(runId) as { join_token: string } | undefined;
    return row?.join_token;
  }

  recordJoin(runId: string, deviceId: string, backend: string, report: Record<string, unknown>, at: number): DeviceRecord {
    this.requireRun(runId);
    this.db
      .prepare(
        `INSERT INTO devices (run_id, device_id, first_seen, last_seen, joins, backend, report) VALUES (?, ?, ?, ?, 1, ?, ?)
         ON CONFLICT (run_id, device_id) DO UPDATE SET last_seen = excluded.last_seen, joins = joins + 1,
           backend = excluded.backend, report = excluded.report`,
      )
      .run(runId, deviceId, at, at, backend, JSON.stringify(report));
    return this.getDevice(runId, deviceId) as DeviceRecord;
  }

  touchDevice(runId: string, deviceId: string, at: number): void {
    this.db.prepare('UPDATE devices SET last_seen = ? WHERE run_id = ? AND device_id = ?').run(at, runId, deviceId);
  }

  getDevice(runId: string, deviceId: string): DeviceRecord | undefined {
    const row = this.db.prepare('SELECT * FROM devices WHERE run_id = ? AND device_id = ?').get(runId, deviceId) as DeviceRow | undefined;
    return row && toDevice(row);
  }

  listDevices(runId: string): DeviceRecord[] {
    return (this.db.prepare('SELECT * FROM devices WHERE run_id = ? ORDER BY first_seen, device_id').all(runId) as DeviceRow[]).map(
      toDevice,
    );
  }

  claimFleetSlot(runId: string, deviceId: string, numPartitions: number, key: string): FleetSlotRecord | undefined {
    this.requireRun(runId);
    const claim = this.db.transaction((): FleetSlotRecord | undefined => {
      const existing = this.getFleetSlot(runId, deviceId);
      if (existing) return existing;
      const taken = new Set(
        (this.db.prepare('SELECT slot_index FROM fleet_slots WHERE run_id = ?').all(runId) as { slot_index: number }[]).map(
          (r) => r.slot_index,
        ),
      );
      for (let index = 0; index < numPartitions; index++) {
        if (taken.has(index)) continue;
        this.db
          .prepare('INSERT INTO fleet_slots (run_id, device_id, slot_index, slot_key) VALUES (?, ?, ?, ?)')
          .run(runId, deviceId, index, key);
        return { runId, deviceId, index, key };
      }
      return undefined;
    });
    return claim.immediate();
  }

  getFleetSlot(runId: string, deviceId: string): FleetSlotRecord | undefined {
    const row = this.db.prepare('SELECT * FROM fleet_slots WHERE run_id = ? AND device_id = ?').get(runId, deviceId) as
      | SlotRow
      | undefined;
    return row && toSlot(row);
  }

  listFleetSlots(runId: string): FleetSlotRecord[] {
    return (this.db.prepare('SELECT * FROM fleet_slots WHERE run_id = ? ORDER BY slot_index').all(runId) as SlotRow[]).map(toSlot);
  }

  releaseFleetSlot(runId: string, deviceId: string): void {
    this.db.prepare('DELETE FROM fleet_slots WHERE run_id = ? AND device_id = ?').run(runId, deviceId);
  }

  getDeviceKeyHash(runId: string, deviceId: string): string | undefined {
    const row = this.db.prepare('SELECT key_hash FROM device_keys WHERE run_id = ? AND device_id = ?').get(runId, deviceId) as { key_hash: string } | undefined;
    return row?.key_hash;
  }

  setDeviceKeyHash(runId: string, deviceId: string, keyHash: string): void {
    this.requireRun(runId);
    this.db
      .prepare('INSERT INTO device_keys (run_id, device_id, key_hash) VALUES (?, ?, ?) ON CONFLICT (run_id, device_id) DO UPDATE SET key_hash = excluded.key_hash')
      .run(runId, deviceId, keyHash);
  }

  revokeDevice(deviceId: string, at: number): void {
    this.db.prepare('INSERT INTO revoked_devices (device_id, revoked_at) VALUES (?, ?) ON CONFLICT (device_id) DO NOTHING').run(deviceId, at);
  }

  listRevokedDevices(): string[] {
    return (this.db.prepare('SELECT device_id FROM revoked_devices ORDER BY device_id').all() as { device_id: string }[]).map((r) => r.device_id);
  }

  addInvites(hashes: readonly string[], at: number): void {
    const insert = this.db.prepare('INSERT INTO invites (invite_hash, created_at, device_id) VALUES (?, ?, NULL) ON CONFLICT (invite_hash) DO NOTHING');
    this.db.transaction(() => {
      for (const h of hashes) insert.run(h, at);
    })();
  }

  useInvite(hash: string, deviceId: string): boolean {
    const use = this.db.transaction((): boolean => {
      const row = this.db.prepare('SELECT device_id FROM invites WHERE invite_hash = ?').get(hash) as { device_id: string | null } | undefined;
      if (!row) return false;
      if (row.device_id === null) {
        this.db.prepare('UPDATE invites SET device_id = ? WHERE invite_hash = ?').run(deviceId, hash);
        return true;
      }
      return row.device_id === deviceId;
    });
    return use.immediate();
  }

  inviteCounts(): { issued: number; used: number } {
    const row = this.db.prepare('SELECT COUNT(*) AS issued, COUNT(device_id) AS used FROM invites').get() as { issued: number; used: number };
    return { issued: row.issued, used: row.used };
  }

  completeRound(round: RoundRecord, metric: MetricRecord | null, checkpoint: CheckpointRecord): void {
    if ((metric && (metric.runId !== round.runId || metric.round !== round.round)) || checkpoint.runId !== round.runId || checkpoint.round !== round.round) {
      throw new StateError('round, metric and checkpoint must name the same run and round');
    }
    this.requireRun(round.runId);
    const write = this.db.transaction(() => {
      const exists = this.db.prepare('SELECT 1 FROM rounds WHERE run_id = ? AND round = ?').get(round.runId, round.round);
      if (exists) throw new StateError(`round ${round.round} of run ${round.runId} completed already`);
      this.db
        .prepare(
          'INSERT INTO rounds (run_id, round, started_at, finished_at, plan, participants, bytes_up, bytes_down, timeline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          round.runId,
          round.round,
          round.startedAt,
          round.finishedAt,
          round.plan === null ? null : JSON.stringify(round.plan),
          JSON.stringify(round.participants),
          round.bytesUp,
          round.bytesDown,
          JSON.stringify(round.timeline),
        );
      if (metric) {
        this.db
          .prepare('INSERT INTO metrics (run_id, round, accuracy, loss, evaluated_at) VALUES (?, ?, ?, ?, ?)')
          .run(metric.runId, metric.round, metric.accuracy, metric.loss, metric.evaluatedAt);
      }
      this.db
        .prepare('INSERT INTO checkpoints (run_id, round, bytes) VALUES (?, ?, ?)')
        .run(checkpoint.runId, checkpoint.round, Buffer.from(checkpoint.bytes.buffer, checkpoint.bytes.byteOffset, checkpoint.bytes.byteLength));
      this.pruneCheckpoints(round.runId);
    });
    write.immediate();
  }

  /** Inside completeRound's transaction: the checkpoints the retention no longer keeps go. */
  private pruneCheckpoints(runId: string): void {
    if (this.retention.keepLast === Number.POSITIVE_INFINITY) return;
    const stored = (this.db.prepare('SELECT round FROM checkpoints WHERE run_id = ?').all(runId) as Array<{ round: number }>).map((r) => r.round);
    const metrics = this.db.prepare('SELECT round, accuracy, loss FROM metrics WHERE run_id = ?').all(runId) as Array<{ round: number; accuracy: number; loss: number }>;
    const accuracy = retentionScores(metrics, bestByOf(this.getRun(runId)));
    const drop = this.db.prepare('DELETE FROM checkpoints WHERE run_id = ? AND round = ?');
    for (const round of checkpointsToPrune(stored, accuracy, this.retention)) drop.run(runId, round);
  }

  listRounds(runId: string): RoundRecord[] {
    return (this.db.prepare('SELECT * FROM rounds WHERE run_id = ? ORDER BY round').all(runId) as RoundRow[]).map(toRound);
  }

  listMetrics(runId: string): MetricRecord[] {
    return (this.db.prepare('SELECT * FROM metrics WHERE run_id = ? ORDER BY round').all(runId) as MetricRow[]).map(toMetric);
  }

  getCheckpoint(runId: string, round: number): CheckpointRecord | undefined {
    const row = this.db.prepare('SELECT * FROM checkpoints WHERE run_id = ? AND round = ?').get(runId, round) as
      | CheckpointRow
      | undefined;
    return row && toCheckpoint(row);
  }

  latestCheckpoint(runId: string): CheckpointRecord | undefined {
    const row = this.db.prepare('SELECT * FROM checkpoints WHERE run_id = ? ORDER BY round DESC LIMIT 1').get(runId) as
      | CheckpointRow
      | undefined;
    return row && toCheckpoint(row);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private requireRun(runId: string): void {
    if (!this.db.prepare('SELECT 1 FROM runs WHERE id = ?').get(runId)) throw new StateError(`unknown run ${runId}`);
  }
}
