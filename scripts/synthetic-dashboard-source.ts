/**
 * A DashboardSource over an invented fleet, for the dashboard benchmark: `devices` devices in groups
 * of about 25 with skewed label distributions; every tick each training device takes a step, and a
 * group aggregates when all its members finished their local steps. `activeFraction` < 1 keeps the
 * other groups waiting (their rows do not change), as groups do while others finish a global round.
 */
import type { DashboardState, DeviceRowView, GroupView, RoundView, RunParams, RunSummary, TimelineEvent } from '../apps/coordinator/src/dashboard/contract';
import type { DashboardSource } from '../apps/coordinator/src/dashboard/namespace';
import { createRng } from '../packages/lora-core/src/data/random';

const CLASSES = 20;
const NUM_BLOCKS = 4;
const BACKENDS = ['wasm', 'webgpu', 'webgl', 'cpu'] as const;

const PARAMS: RunParams = {
  strategy: 'hierfedlora',
  rounds: 50,
  devicesExpected: 500,
  localSteps: 8,
  batchSize: 8,
  learningRate: 0.01,
  headLearningRate: 0.03,
  seed: 1,
  roundTimeoutS: 120,
  minReportFraction: 0.5,
  robust: 'mean',
  trimFraction: 0.1,
  clipNorm: null,
};

interface SyntheticDevice {
  row: DeviceRowView;
  histogram: number[];
  step: number;
}

function normalize(v: readonly number[]): number[] {
  const sum = v.reduce((a, b) => a + b, 0);
  return sum > 0 ? v.map((x) => x / sum) : v.map(() => 0);
}

export class SyntheticDashboardSource implements DashboardSource {
  private readonly listeners = new Set<() => void>();
  private readonly devices: SyntheticDevice[] = [];
  private readonly groups: Array<{ groupId: string; depth: number; members: number[] }> = [];
  private readonly rounds: RoundView[] = [];
  private readonly timeline: TimelineEvent[] = [];
  private readonly createdAt = Date.now();
  private round = 1;
  private intraRound: number[] = [];
  private readonly rng = createRng(7);
  private readonly rand = () => this.rng.next();

  private readonly activeGroups: number;

  constructor(deviceCount: number, activeFraction = 1) {
    const groupCount = Math.max(1, Math.min(20, Math.round(deviceCount / 25)));
    this.activeGroups = Math.max(1, Math.ceil(groupCount * Math.min(Math.max(activeFraction, 0), 1)));
    for (let g = 0; g < groupCount; g++) this.groups.push({ groupId: `g${g}`, depth: 1 + (g % NUM_BLOCKS), members: [] });
    for (let i = 0; i < deviceCount; i++) {
      const g = i % groupCount;
      const group = this.groups[g] as (typeof this.groups)[number];
      group.members.push(i);
      const histogram = Array.from({ length: CLASSES }, (_, c) => Math.round(this.rand() * 10 + ((c + i) % 5 === 0 ? 30 : 0)));
      const base = 40 + this.rand() * 400;
      const row: DeviceRowView = {
        deviceId: `dev-${i.toString(16).padStart(8, '0')}-${Math.floor(this.rand() * 1e8).toString(36)}`,
        activity: 'training',
        connected: true,
        revoked: false,
        joins: 1,
        dataMode: 'fleet',
        backend: BACKENDS[i % BACKENDS.length] as string,
        gpuAdapter: i % BACKENDS.length === 1 ? 'Google SwiftShader' : null,
        fallbackAdapter: i % BACKENDS.length === 1 ? true : null,
        msPerStep: Array.from({ length: NUM_BLOCKS }, (_, d) => base * (0.45 + 0.55 * (d / (NUM_BLOCKS - 1)))),
        uploadBytesPerSec: 2e5 + this.rand() * 5e6,
        memoryBytes: 2 ** 31,
        numSamples: histogram.reduce((a, b) => a + b, 0),
        groupId: group.groupId,
        depth: group.depth,
        localSteps: PARAMS.localSteps,
        progress: null,
        lastSeen: Date.now(),
        bytesUp: 0,
        bytesDown: 0,
        lastError: null,
      };
      this.devices.push({ row, histogram, step: Math.floor(this.rand() * PARAMS.localSteps) });
    }
    this.intraRound = this.groups.map(() => 1);
    this.rounds.push({ round: 0, startedAt: this.createdAt, finishedAt: this.createdAt, participants: 0, groups: 0, bytesUp: 0, bytesDown: 0, accuracy: 0.05, loss: 3 });
  }

  /** One step for every training device; groups whose members all finished aggregate. */
  tick(): void {
    const now = Date.now();
    for (const d of this.devices) {
      if (this.groupIndex(d.row.groupId) >= this.activeGroups) continue;
      d.step = Math.min(PARAMS.localSteps, d.step + (this.rand() < 0.6 ? 1 : 0));
      const row = d.row;
      d.row = {
        ...row,
        activity: d.step < PARAMS.localSteps ? 'training' : 'idle',
        progress: { round: this.round, intraRound: this.intraRound[this.groupIndex(row.groupId)] ?? 1, step: d.step, localSteps: PARAMS.localSteps, loss: 3 / (1 + this.round + d.step / 8) },
        lastSeen: now,
        bytesUp: row.bytesUp + (d.step === PARAMS.localSteps ? 0 : 1200),
      };
    }
    this.groups.forEach((g, gi) => {
      if (gi >= this.activeGroups) return;
      if (!g.members.every((i) => (this.devices[i] as SyntheticDevice).step >= PARAMS.localSteps)) return;
      this.timeline.push({ round: this.round, groupId: g.groupId, intraRound: this.intraRound[gi] as number, at: now, contributors: g.members.length, planned: g.members.length });
      this.intraRound[gi] = (this.intraRound[gi] as number) + 1;
      for (const i of g.members) (this.devices[i] as SyntheticDevice).step = 0;
    });
    if (this.intraRound.slice(0, this.activeGroups).every((n) => n > 2)) {
      const previous = this.rounds[this.rounds.length - 1] as RoundView;
      this.rounds.push({
        round: this.round,
        startedAt: previous.finishedAt,
        finishedAt: now,
        participants: this.devices.length,
        groups: this.groups.length,
        bytesUp: this.devices.length * 300_000,
        bytesDown: this.devices.length * 460_000,
        accuracy: Math.min(0.9, 0.05 + 0.8 * (1 - Math.exp(-this.round / 6))),
        loss: 3 * Math.exp(-this.round / 8),
      });
      this.round++;
      this.intraRound = this.groups.map(() => 1);
    }
    for (const l of this.listeners) l();
  }

  private groupIndex(groupId: string | null): number {
    return this.groups.findIndex((g) => g.groupId === groupId);
  }

  view(admin: boolean): DashboardState {
    const global = normalize(this.devices.reduce((acc, d) => acc.map((x, c) => x + (d.histogram[c] as number)), new Array<number>(CLASSES).fill(0)));
    const groups: GroupView[] = this.groups.map((g, gi) => ({
      groupId: g.groupId,
      depth: g.depth,
      intraRounds: 2,
      localSteps: PARAMS.localSteps,
      deviceIds: g.members.map((i) => (this.devices[i] as SyntheticDevice).row.deviceId),
      labelDistribution: normalize(g.members.reduce((acc, i) => acc.map((x, c) => x + ((this.devices[i] as SyntheticDevice).histogram[c] as number)), new Array<number>(CLASSES).fill(0))),
      divergence: 0.01 + 0.002 * gi,
    }));
    return {
      serverTime: Date.now(),
      admin,
      deviceUrl: admin ? 'http://192.0.2.10:8080/?token=synthetic' : 'http://192.0.2.10:8080/',
      deviceUrlHasToken: admin,
      tlsFingerprint: null,
      strategies: ['fedlora', 'hierfedlora', 'grouping-only', 'depth-only', 'random-groups'],
      defaultParams: { ...PARAMS, devicesExpected: this.devices.length },
      classNames: Array.from({ length: CLASSES }, (_, c) => `class-${c}`),
      numBlocks: NUM_BLOCKS,
      run: { id: 'run-synthetic', strategy: PARAMS.strategy, status: 'running', createdAt: this.createdAt, finishedAt: null, config: { ...PARAMS } },
      status: {
        runId: 'run-synthetic',
        state: 'running',
        strategy: PARAMS.strategy,
        round: this.round - 1,
        totalRounds: PARAMS.rounds,
        devicesJoined: this.devices.length,
        devicesExpected: this.devices.length,
        lastAccuracy: this.rounds[this.rounds.length - 1]?.accuracy ?? null,
      },
      globalDistribution: global,
      devices: this.devices.map((d) => d.row),
      groups,
      rounds: [...this.rounds],
      timeline: [...this.timeline],
    };
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  listRuns(): RunSummary[] {
    return [];
  }
  async startRun(): Promise<string> {
    throw new Error('the synthetic fleet cannot start runs');
  }
  async stopRun(): Promise<void> {}
  revokeDevice(): void {}
  isAdminToken(token: string): boolean {
    return token === 'bench';
  }
}
