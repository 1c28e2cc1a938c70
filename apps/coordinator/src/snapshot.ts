/** One JSON-friendly picture of the run (for /api/status, the dashboard and tests). */
import type { RunStatus } from './core';
import type { DeviceRegistry } from './registry';
import type { CoordinatorState, RunRecord } from './state';
import type { TaskSummary } from './task';

export interface DeviceRow {
  readonly deviceId: string;
  readonly connected: boolean;
  readonly activity: string;
  readonly joins: number;
  readonly dataMode: string;
  readonly backend: string | null;
  readonly backendForced: boolean | null;
  readonly gpuAdapter: string | null;
  readonly fallbackAdapter: boolean | null;
  readonly benchmarkMs: Readonly<Record<string, number | null>> | null;
  readonly msPerStep: readonly number[] | null;
  readonly uploadBytesPerSec: number | null;
  readonly memoryBytes: number | null;
  readonly numSamples: number | null;
  readonly labelHistogram: readonly number[] | null;
  readonly partitionIndex: number | null;
  readonly groupId: string | null;
  readonly depth: number | null;
  /** The latest upload the coordinator accepted from this device: its block keys and size. */
  readonly lastUpload: { round: number; intraRound: number; groupId: string; blockKeys: readonly string[]; bytes: number } | null;
  readonly progress: { round: number; intraRound: number; step: number; localSteps: number; loss: number } | null;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly lastSeen: number;
  readonly lastError: string | null;
  /** Why the device holds its training ('user', 'hidden', 'battery'); null when it is active. */
  readonly paused: readonly string[] | null;
  /** wasm threads the device runs with (null for other backends or old clients). */
  readonly wasmThreads: number | null;
  /** Data-parallel Web Workers the device splits each step across (null for other backends or old clients). */
  readonly dataParallelWorkers: number | null;
}

export interface RoundRow {
  readonly round: number;
  readonly participants: number;
  readonly groups: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly durationMs: number;
  readonly accuracy: number | null;
  readonly loss: number | null;
  /** Causal-LM tasks: exp(loss), the held-out perplexity. */
  readonly perplexity?: number | null;
}

export interface Snapshot {
  /** The process's task (added by the server; absent with test fakes). */
  readonly task?: TaskSummary | null;
  readonly run: RunRecord;
  readonly status: RunStatus;
  readonly devices: DeviceRow[];
  readonly rounds: RoundRow[];
}

/**
 * `admin` false (the default of /api/status without the admin token): no per-device label
 * histogram, sample count or resource profile — a histogram summarises a person's private data.
 */
export function takeSnapshot(runId: string, status: RunStatus, registry: DeviceRegistry, state: CoordinatorState, admin = true): Snapshot {
  const run = state.getRun(runId);
  if (!run) throw new Error(`unknown run ${runId}`);
  const devices = registry
    .list()
    .map((d): DeviceRow => {
      const r = d.report;
      const adapter = r?.backend.gpuAdapter;
      return {
        deviceId: d.deviceId,
        connected: d.socketId !== null,
        activity: d.activity,
        joins: d.joins,
        dataMode: d.dataMode,
        backend: r?.backend.name ?? null,
        backendForced: r?.backend.forced ?? null,
        gpuAdapter: adapter ? [adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' / ') || null : null,
        fallbackAdapter: adapter?.isFallbackAdapter ?? null,
        benchmarkMs: r?.backend.benchmarkMs ?? null,
        msPerStep: r?.profile.msPerStep ?? null,
        uploadBytesPerSec: r?.profile.uploadBytesPerSec ?? null,
        memoryBytes: r?.profile.memoryBytes ?? null,
        numSamples: r?.numSamples ?? null,
        labelHistogram: r?.labelHistogram ?? null,
        partitionIndex: r?.partitionIndex ?? null,
        groupId: d.groupId ?? null,
        depth: d.depth ?? null,
        lastUpload: d.lastUpload ?? null,
        progress: d.progress ?? null,
        bytesUp: d.bytesUp,
        bytesDown: d.bytesDown,
        lastSeen: d.lastSeen,
        lastError: d.lastError ?? null,
        paused: d.paused ? [...d.paused.reasons] : null,
        wasmThreads: r?.backend.wasmThreads ?? null,
        dataParallelWorkers: r?.backend.dataParallelWorkers ?? null,
      };
    })
    .map((row): DeviceRow => (admin ? row : withoutPrivateFields(row)))
    .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  const metrics = new Map(state.listMetrics(runId).map((m) => [m.round, m]));
  const rounds = state.listRounds(runId).map(
    (r): RoundRow => ({
      round: r.round,
      participants: r.participants.length,
      groups: r.plan?.groups.length ?? 0,
      bytesUp: r.bytesUp,
      bytesDown: r.bytesDown,
      durationMs: r.finishedAt - r.startedAt,
      accuracy: metrics.get(r.round)?.accuracy ?? null,
      loss: metrics.get(r.round)?.loss ?? null,
    }),
  );
  return { run, status, devices, rounds };
}

/** A device row as anyone may see it: activity and traffic, not its data or its machine. */
export function withoutPrivateFields(row: DeviceRow): DeviceRow {
  return {
    ...row,
    gpuAdapter: null,
    fallbackAdapter: null,
    benchmarkMs: null,
    msPerStep: null,
    uploadBytesPerSec: null,
    memoryBytes: null,
    numSamples: null,
    labelHistogram: null,
    lastError: null,
  };
}
