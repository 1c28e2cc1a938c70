/**
 * The dashboard's protocol: what the coordinator pushes on the read-only `/dashboard` Socket.IO
 * namespace, and the admin actions it accepts there (only from a socket that presented the admin
 * token in its handshake `auth: { adminToken }`). Shared by the server and the React page, so it
 * imports nothing from Node.
 */
import { z } from 'zod';
import type { RunStatus } from '../../../../packages/lora-core/src/protocol/messages';
import { STRATEGY_NAMES } from '../../../../packages/lora-core/src/federated/strategy';
import type { StrategyName } from '../../../../packages/lora-core/src/federated/strategy';
import type { DevicesPatch } from './devices-patch';

export const DASHBOARD_NAMESPACE = '/dashboard';

/** Server → dashboard events. */
export interface DashboardServerEvents {
  /**
   * The picture without the device list, at connect and then at most a few times a second while
   * anything changes. The device list comes as `devicesPatch` deltas (devices-patch.ts), each sent
   * just before the `state` it belongs to.
   */
  state: (state: DashboardPush) => void;
  /** Rows added or changed and ids removed since the last patch; a full snapshot at connect and on `resyncDevices`. */
  devicesPatch: (patch: DevicesPatch) => void;
}

/** What a `state` push carries: everything but the devices, which travel as patches. */
export type DashboardPush = Omit<DashboardState, 'devices'>;

export type AdminAck = (result: { ok: true; runId?: string } | { ok: false; error: string }) => void;

/** Dashboard → server events. Every one answers through its ack. */
export interface DashboardClientEvents {
  /** Past runs with their metric curves (comparison overlay). Allowed without the admin token. */
  listRuns: (ack: (runs: RunSummary[]) => void) => void;
  startRun: (params: unknown, ack: AdminAck) => void;
  stopRun: (ack: AdminAck) => void;
  revokeDevice: (deviceId: unknown, ack: AdminAck) => void;
  /** The page lost track of the device list (a patch it cannot apply): the server answers with a snapshot. */
  resyncDevices: () => void;
}

/** Parameters of a run the admin starts from the dashboard (the task — data, model — is the process's). */
export const runParamsSchema = z.strictObject({
  strategy: z.enum(STRATEGY_NAMES as unknown as readonly [StrategyName, ...StrategyName[]]),
  rounds: z.number().int().min(1).max(10_000),
  /** Joined devices to wait for before round 1. */
  devicesExpected: z.number().int().min(1).max(100_000),
  /** Fixed number of groups for grouping strategies; omitted = automatic. */
  groups: z.number().int().min(1).max(1000).optional(),
  localSteps: z.number().int().min(1).max(10_000),
  batchSize: z.number().int().min(1).max(4096),
  learningRate: z.number().positive().max(10),
  headLearningRate: z.number().positive().max(10),
  seed: z.number().int().min(0).max(2 ** 31 - 1),
  /** Seconds one member's work may take before the round goes on without it. */
  roundTimeoutS: z.number().positive().max(86_400),
  /** A round aggregates only when at least this fraction of its planned devices reported; else it is retried. */
  minReportFraction: z.number().min(0).max(1),
  robust: z.enum(['mean', 'median', 'trimmed-mean', 'cosine-mean']),
  trimFraction: z.number().min(0).max(0.49),
  /** L2 bound each device delta is clipped to; 'auto' = from the round's median norm; null = none. */
  clipNorm: z.union([z.number().positive(), z.literal('auto'), z.null()]),
  /** HierFedLoRA's choices (config.ts MethodOptions); omitted: the strategy's defaults. */
  budgetRule: z.enum(['floor', 'rate', 'group', 'device']).optional(),
  memberDepth: z.enum(['group', 'member']).optional(),
  weighting: z.enum(['samples', 'work']).optional(),
  loraAggregation: z.enum(['separate', 'exact']).optional(),
});
export type RunParams = z.infer<typeof runParamsSchema>;

export type DeviceActivity = 'idle' | 'training' | 'gone';

export interface DeviceRowView {
  readonly deviceId: string;
  readonly activity: DeviceActivity;
  readonly connected: boolean;
  readonly revoked: boolean;
  readonly joins: number;
  readonly dataMode: string;
  readonly backend: string | null;
  /** GPU adapter description (WebGPU), when the device has one. */
  readonly gpuAdapter: string | null;
  readonly fallbackAdapter: boolean | null;
  /** Measured ms per local step at depth 1..numBlocks. */
  readonly msPerStep: readonly number[] | null;
  readonly uploadBytesPerSec: number | null;
  readonly memoryBytes: number | null;
  readonly numSamples: number | null;
  readonly groupId: string | null;
  readonly depth: number | null;
  readonly localSteps: number | null;
  /** Progress in the current work: step of localSteps, and the last loss. */
  readonly progress: { round: number; intraRound: number; step: number; localSteps: number; loss: number } | null;
  readonly lastSeen: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly lastError: string | null;
  /** Why the device holds its training (hidden page, pause button, not charging); null when active. */
  readonly paused?: readonly string[] | null;
}

export interface GroupView {
  readonly groupId: string;
  readonly depth: number;
  /** Intra-group aggregations per global round (τ_g). */
  readonly intraRounds: number;
  readonly localSteps: number;
  readonly deviceIds: readonly string[];
  /** The members' pooled label distribution (sums to 1; all zeros when no member reported labels). */
  readonly labelDistribution: readonly number[];
  /** Jensen–Shannon divergence (base 2) between labelDistribution and the global one. */
  readonly divergence: number;
}

/** One group aggregation: group `groupId` finished intra-group round `intraRound` of `round` at `at`. */
export interface TimelineEvent {
  readonly round: number;
  readonly groupId: string;
  readonly intraRound: number;
  readonly at: number;
  readonly contributors: number;
  readonly planned: number;
}

export interface RoundView {
  readonly round: number;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly participants: number;
  readonly groups: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly accuracy: number | null;
  readonly loss: number | null;
}

export interface RunView {
  readonly id: string;
  readonly strategy: string;
  readonly status: string;
  readonly createdAt: number;
  readonly finishedAt: number | null;
  /** The run's settings (RunParams plus the task's settings), as recorded. */
  readonly config: Readonly<Record<string, unknown>>;
}

export interface TaskView {
  readonly name: string;
  readonly origin: string;
  readonly hash: string;
  readonly classNames: readonly string[];
  readonly model: string;
  readonly objective: string;
  readonly trainRows: number;
  /** 'none': no evaluation set, rounds are not scored. */
  readonly evalSource: 'file' | 'holdout' | 'none';
  readonly evalRows: number;
  readonly evalScoredRows: number;
  /** Causal-LM tasks: the checkpoint (see TaskSummary.lm). */
  readonly lm?: { readonly modelType: string; readonly modelDir: string; readonly layers: number; readonly modelBytes: number; readonly modelHash: string; readonly categoryField?: string; readonly topics?: { readonly k: number; readonly evalRowsPerTopic: readonly number[]; readonly ms: number }; readonly grouping: string; readonly initAdapter?: string };
}

export interface DashboardState {
  readonly serverTime: number;
  /** True when this socket presented the admin token. */
  readonly admin: boolean;
  /** Device page URL for phones; it carries the join token only for admin sockets. */
  readonly deviceUrl: string;
  readonly deviceUrlHasToken: boolean;
  /** SHA-256 fingerprint of the coordinator's HTTPS certificate (compare it on the phone before trusting it); null on plain HTTP. */
  readonly tlsFingerprint: string | null;
  readonly strategies: readonly string[];
  /** Defaults for the start-run form (the current run's parameters, or the command line's). */
  readonly defaultParams: RunParams;
  readonly classNames: readonly string[];
  readonly numBlocks: number;
  /** The process's task: name, labels, sizes, evaluation set (absent with test fakes). */
  readonly task?: TaskView | null;
  readonly run: RunView | null;
  readonly status: RunStatus | null;
  /** Pooled label distribution of every joined device (sums to 1). */
  readonly globalDistribution: readonly number[];
  readonly devices: readonly DeviceRowView[];
  readonly groups: readonly GroupView[];
  readonly rounds: readonly RoundView[];
  /** Group aggregations of the current run, completed rounds and the round in progress. */
  readonly timeline: readonly TimelineEvent[];
}

export interface RunSummary {
  readonly run: RunView;
  readonly rounds: readonly RoundView[];
}
