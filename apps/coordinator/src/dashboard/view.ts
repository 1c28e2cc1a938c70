/** Builds what the dashboard shows (contract.ts) from the run of the moment and the state. */
import { jensenShannon, normalize } from '../core';
import type { FederatedTask } from '../task';
import type { LiveDevice } from '../registry';
import type { RunSession } from '../run-session';
import type { CoordinatorState, RunRecord } from '../state';
import type { DashboardState, DeviceRowView, GroupView, RoundView, RunSummary, RunView, TimelineEvent } from './contract';
import { STRATEGY_NAMES } from '../core';

export interface ViewInputs {
  readonly admin: boolean;
  readonly session: RunSession;
  readonly state: CoordinatorState;
  readonly task: FederatedTask;
  readonly revoked: ReadonlySet<string>;
  readonly deviceUrl: string;
  readonly deviceUrlHasToken: boolean;
  /** SHA-256 fingerprint of the HTTPS certificate; null on plain HTTP. */
  readonly tlsFingerprint: string | null;
  readonly now: number;
  /** Keeps the rounds between pushes (re-read only when the run records one); without it every call reads them. */
  readonly roundsCache?: RoundsCache;
}

/**
 * The run's rounds, metrics and completed-round timeline as the dashboard shows them, read from the
 * state once per recorded round instead of on every push (a push is ≤ 2/s; a round is seconds to minutes).
 */
export class RoundsCache {
  private key: string | undefined;
  private value: { rounds: RoundView[]; timeline: TimelineEvent[] } = { rounds: [], timeline: [] };

  get(runId: string, roundsRecorded: number, state: CoordinatorState): { rounds: RoundView[]; timeline: TimelineEvent[] } {
    const key = `${runId}\n${roundsRecorded}`;
    if (key !== this.key) {
      this.value = readRounds(runId, state);
      this.key = key;
    }
    return this.value;
  }
}

function readRounds(runId: string, state: CoordinatorState): { rounds: RoundView[]; timeline: TimelineEvent[] } {
  const completed = state.listRounds(runId);
  return {
    rounds: roundViews(runId, state, completed),
    timeline: completed.flatMap((r) => r.timeline.map((e) => ({ round: r.round, ...e }))),
  };
}

/** Fewest devices a group must pool before a read-only viewer sees its label distribution. */
export const MIN_POOLED_DEVICES = 3;

export function buildDashboardState(v: ViewInputs): DashboardState {
  const { session, state, task } = v;
  const runId = session.runId;
  const record = state.getRun(runId);
  const devices = session.registry.list();
  const numClasses = task.info.classNames.length;
  const joined = devices.filter((d) => d.report !== undefined);
  const globalCounts = pooledCounts(joined, numClasses);
  const globalDistribution = v.admin || joined.length >= MIN_POOLED_DEVICES ? distribution(globalCounts) : globalCounts.map(() => 0);
  const byId = new Map(devices.map((d) => [d.deviceId, d]));
  const plan = session.loop.plan;
  const groups: GroupView[] = (plan?.groups ?? []).map((g) => {
    const members = g.deviceIds.flatMap((id) => {
      const d = byId.get(id);
      return d ? [d] : [];
    });
    // Viewers see a group's pooled distribution only when it pools enough devices to say little about any one.
    const shown = v.admin || members.length >= MIN_POOLED_DEVICES;
    const labelDistribution = shown ? distribution(pooledCounts(members, numClasses)) : [];
    return {
      groupId: g.groupId,
      depth: g.depth,
      intraRounds: g.intraRounds,
      localSteps: g.localSteps,
      deviceIds: [...g.deviceIds],
      labelDistribution,
      divergence: !shown || !labelDistribution.some((x) => x > 0) || !globalDistribution.some((x) => x > 0) ? 0 : jensenShannon(labelDistribution, globalDistribution),
    };
  });
  const recorded = v.roundsCache ? v.roundsCache.get(runId, session.loop.roundsRecorded, state) : readRounds(runId, state);
  const timeline: TimelineEvent[] = [...recorded.timeline];
  const status = session.loop.status();
  if (status.state === 'running') {
    const inProgress = status.round + 1;
    timeline.push(...session.loop.roundTimeline.map((e) => ({ round: inProgress, ...e })));
  }
  return {
    serverTime: v.now,
    admin: v.admin,
    deviceUrl: v.deviceUrl,
    deviceUrlHasToken: v.deviceUrlHasToken,
    tlsFingerprint: v.tlsFingerprint,
    strategies: [...STRATEGY_NAMES],
    defaultParams: session.params,
    classNames: [...task.info.classNames],
    numBlocks: task.info.numBlocks,
    task: task.summary ? { ...task.summary, classNames: [...task.summary.classNames] } : null,
    run: record ? runView(record) : null,
    status,
    globalDistribution,
    devices: devices.map((d) => deviceRow(d, v.revoked, v.admin)).sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0)),
    groups,
    rounds: recorded.rounds,
    timeline,
  };
}

export function runSummary(run: RunRecord, state: CoordinatorState): RunSummary {
  return { run: runView(run), rounds: roundViews(run.id, state) };
}

function runView(r: RunRecord): RunView {
  return { id: r.id, strategy: r.strategy, status: r.status, createdAt: r.createdAt, finishedAt: r.finishedAt, config: r.config };
}

function roundViews(runId: string, state: CoordinatorState, rounds = state.listRounds(runId)): RoundView[] {
  const metrics = new Map(state.listMetrics(runId).map((m) => [m.round, m]));
  return rounds.map((r) => ({
    round: r.round,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    participants: r.participants.length,
    groups: r.plan?.groups.length ?? 0,
    bytesUp: r.bytesUp,
    bytesDown: r.bytesDown,
    accuracy: metrics.get(r.round)?.accuracy ?? null,
    loss: metrics.get(r.round)?.loss ?? null,
  }));
}

/** Counts as a distribution; all zeros when there are no samples. */
function distribution(counts: readonly number[]): number[] {
  return counts.some((c) => c > 0) ? normalize(counts) : counts.map(() => 0);
}

function pooledCounts(devices: readonly LiveDevice[], numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (const d of devices) {
    const h = d.report?.labelHistogram;
    if (!h) continue;
    for (let c = 0; c < numClasses; c++) counts[c]! += h[c] ?? 0;
  }
  return counts;
}

function deviceRow(d: LiveDevice, revoked: ReadonlySet<string>, admin: boolean): DeviceRowView {
  const r = admin ? d.report : undefined;
  const adapter = r?.backend.gpuAdapter;
  return {
    deviceId: d.deviceId,
    activity: d.activity,
    connected: d.socketId !== null,
    revoked: revoked.has(d.deviceId),
    joins: d.joins,
    dataMode: d.dataMode,
    backend: d.report?.backend.name ?? null,
    gpuAdapter: adapter ? [adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' / ') || null : null,
    fallbackAdapter: adapter?.isFallbackAdapter ?? null,
    msPerStep: r?.profile.msPerStep ?? null,
    uploadBytesPerSec: r?.profile.uploadBytesPerSec ?? null,
    memoryBytes: r?.profile.memoryBytes ?? null,
    numSamples: r?.numSamples ?? null,
    groupId: d.groupId ?? null,
    depth: d.depth ?? null,
    localSteps: d.localSteps ?? null,
    progress: d.progress ?? null,
    lastSeen: d.lastSeen,
    bytesUp: d.bytesUp,
    bytesDown: d.bytesDown,
    lastError: d.lastError ?? null,
    paused: d.paused ? [...d.paused.reasons] : null,
  };
}
