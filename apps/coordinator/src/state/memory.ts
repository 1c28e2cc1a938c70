/** In-memory CoordinatorState, for unit tests and throwaway runs. Returns copies, like the SQL store. */
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

const deviceKey = (runId: string, deviceId: string) => `${runId}\u0000${deviceId}`;

export class MemoryState implements CoordinatorState {
  private readonly runs = new Map<string, RunRecord>();
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly slots = new Map<string, FleetSlotRecord>();
  private readonly rounds = new Map<string, RoundRecord[]>();
  private readonly metrics = new Map<string, MetricRecord[]>();
  private readonly checkpoints = new Map<string, CheckpointRecord[]>();
  private readonly joinTokens = new Map<string, string>();
  private readonly retention: CheckpointRetention;

  constructor(options: { readonly retention?: CheckpointRetention } = {}) {
    this.retention = validateRetention(options.retention ?? KEEP_ALL_CHECKPOINTS);
  }

  private readonly keyHashes = new Map<string, string>();
  private readonly revoked = new Set<string>();

  releaseFleetSlot(runId: string, deviceId: string): void {
    this.slots.delete(deviceKey(runId, deviceId));
  }

  getDeviceKeyHash(runId: string, deviceId: string): string | undefined {
    return this.keyHashes.get(deviceKey(runId, deviceId));
  }

  setDeviceKeyHash(runId: string, deviceId: string, keyHash: string): void {
    this.requireRun(runId);
    this.keyHashes.set(deviceKey(runId, deviceId), keyHash);
  }

  revokeDevice(deviceId: string): void {
    this.revoked.add(deviceId);
  }

  listRevokedDevices(): string[] {
    return [...this.revoked].sort();
  }

  private readonly invites = new Map<string, string | null>();

  addInvites(hashes: readonly string[]): void {
    for (const h of hashes) if (!this.invites.has(h)) this.invites.set(h, null);
  }

  useInvite(hash: string, deviceId: string): boolean {
    if (!this.invites.has(hash)) return false;
    const bound = this.invites.get(hash);
    if (bound === null) {
      this.invites.set(hash, deviceId);
      return true;
    }
    return bound === deviceId;
  }

  inviteCounts(): { issued: number; used: number } {
    return { issued: this.invites.size, used: [...this.invites.values()].filter((v) => v !== null).length };
  }

  createRun(run: RunRecord): void {
    if (this.runs.has(run.id)) throw new StateError(`run ${run.id} exists already`);
    this.runs.set(run.id, structuredClone(run));
  }

  setRunStatus(runId: string, status: RunStatusName, finishedAt: number | null): void {
    const run = this.requireRun(runId);
    this.runs.set(runId, { ...run, status, finishedAt });
  }

  getRun(runId: string): RunRecord | undefined {
    const run = this.runs.get(runId);
    return run && structuredClone(run);
  }

  listRuns(): RunRecord[] {
    return [...this.runs.values()].sort((a, b) => a.createdAt - b.createdAt).map((r) => structuredClone(r));
  }

  setJoinToken(runId: string, token: string): void {
    this.requireRun(runId);
    this.joinTokens.set(runId, token);
  }

  getJoinToken(runId: string): string | undefined {
    return this.joinTokens.get(runId);
  }

  recordJoin(runId: string, deviceId: string, backend: string, report: Record<string, unknown>, at: number): DeviceRecord {
    this.requireRun(runId);
    const key = deviceKey(runId, deviceId);
    const prev = this.devices.get(key);
    const rec: DeviceRecord = {
      runId,
      deviceId,
      firstSeen: prev?.firstSeen ?? at,
      lastSeen: at,
      joins: (prev?.joins ?? 0) + 1,
      backend,
      report: structuredClone(report),
    };
    this.devices.set(key, rec);
    return structuredClone(rec);
  }

  touchDevice(runId: string, deviceId: string, at: number): void {
    const key = deviceKey(runId, deviceId);
    const prev = this.devices.get(key);
    if (prev) this.devices.set(key, { ...prev, lastSeen: at });
  }

  getDevice(runId: string, deviceId: string): DeviceRecord | undefined {
    const rec = this.devices.get(deviceKey(runId, deviceId));
    return rec && structuredClone(rec);
  }

  listDevices(runId: string): DeviceRecord[] {
    return [...this.devices.values()]
      .filter((d) => d.runId === runId)
      .sort((a, b) => a.firstSeen - b.firstSeen || (a.deviceId < b.deviceId ? -1 : 1))
      .map((d) => structuredClone(d));
  }

  claimFleetSlot(runId: string, deviceId: string, numPartitions: number, key: string): FleetSlotRecord | undefined {
    this.requireRun(runId);
    const existing = this.slots.get(deviceKey(runId, deviceId));
    if (existing) return { ...existing };
    const taken = new Set(this.listFleetSlots(runId).map((s) => s.index));
    for (let index = 0; index < numPartitions; index++) {
      if (taken.has(index)) continue;
      const slot: FleetSlotRecord = { runId, deviceId, index, key };
      this.slots.set(deviceKey(runId, deviceId), slot);
      return { ...slot };
    }
    return undefined;
  }

  getFleetSlot(runId: string, deviceId: string): FleetSlotRecord | undefined {
    const slot = this.slots.get(deviceKey(runId, deviceId));
    return slot && { ...slot };
  }

  listFleetSlots(runId: string): FleetSlotRecord[] {
    return [...this.slots.values()].filter((s) => s.runId === runId).sort((a, b) => a.index - b.index).map((s) => ({ ...s }));
  }

  completeRound(round: RoundRecord, metric: MetricRecord | null, checkpoint: CheckpointRecord): void {
    this.requireRun(round.runId);
    if ((metric && (metric.runId !== round.runId || metric.round !== round.round)) || checkpoint.runId !== round.runId || checkpoint.round !== round.round) {
      throw new StateError('round, metric and checkpoint must name the same run and round');
    }
    const rounds = this.rounds.get(round.runId) ?? [];
    if (rounds.some((r) => r.round === round.round)) throw new StateError(`round ${round.round} of run ${round.runId} completed already`);
    rounds.push(structuredClone(round));
    this.rounds.set(round.runId, rounds);
    if (metric) this.metrics.set(round.runId, [...(this.metrics.get(round.runId) ?? []), { ...metric }]);
    const checkpoints = [...(this.checkpoints.get(round.runId) ?? []), { ...checkpoint, bytes: new Uint8Array(checkpoint.bytes) }];
    const accuracy = retentionScores(this.metrics.get(round.runId) ?? [], bestByOf(this.runs.get(round.runId)));
    const prune = new Set(checkpointsToPrune(checkpoints.map((c) => c.round), accuracy, this.retention));
    this.checkpoints.set(round.runId, checkpoints.filter((c) => !prune.has(c.round)));
  }

  listRounds(runId: string): RoundRecord[] {
    return (this.rounds.get(runId) ?? []).map((r) => structuredClone(r)).sort((a, b) => a.round - b.round);
  }

  listMetrics(runId: string): MetricRecord[] {
    return (this.metrics.get(runId) ?? []).map((m) => ({ ...m })).sort((a, b) => a.round - b.round);
  }

  getCheckpoint(runId: string, round: number): CheckpointRecord | undefined {
    const cp = (this.checkpoints.get(runId) ?? []).find((c) => c.round === round);
    return cp && { ...cp, bytes: new Uint8Array(cp.bytes) };
  }

  latestCheckpoint(runId: string): CheckpointRecord | undefined {
    const all = this.checkpoints.get(runId) ?? [];
    const latest = all.reduce<CheckpointRecord | undefined>((best, c) => (best === undefined || c.round > best.round ? c : best), undefined);
    return latest && { ...latest, bytes: new Uint8Array(latest.bytes) };
  }

  close(): void {
    // nothing to release
  }

  private requireRun(runId: string): RunRecord {
    const run = this.runs.get(runId);
    if (!run) throw new StateError(`unknown run ${runId}`);
    return run;
  }
}
