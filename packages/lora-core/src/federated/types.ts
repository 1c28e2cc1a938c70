/**
 * Shared vocabulary of the federated layer: what a device reports, what a strategy plans,
 * what comes back from training. Pure data; the engines (coordinator, simulation) carry plans out.
 */
import type { AdapterState } from '../lora/adapter-state';
import type { RoundOverheads } from './overheads';

/** Measured at join on the device itself. */
export interface ResourceProfile {
  /** msPerStep[d - 1] = wall ms of one local training step at fine-tuning depth d (d = 1..numBlocks). */
  readonly msPerStep: readonly number[];
  /** Measured (or declared) upload bandwidth, bytes per second. */
  readonly uploadBytesPerSec: number;
  /** Download bandwidth, bytes per second; default: a multiple of the upload's (overheads.ts). */
  readonly downloadBytesPerSec?: number;
  /** Memory the device may use for training, bytes (navigator.deviceMemory-derived in a page). */
  readonly memoryBytes: number;
}

export interface DeviceInfo {
  readonly id: string;
  /** Number of local training samples. */
  readonly numSamples: number;
  /** labelHistogram[c] = local samples of class c (length = number of classes). Never the data. */
  readonly labelHistogram: readonly number[];
  readonly profile: ResourceProfile;
}

/** Work for one group during one global round. All members share the schedule (τ_g, I); depth is the group's unless memberDepths says otherwise. */
export interface GroupPlan {
  readonly groupId: string;
  readonly deviceIds: readonly string[];
  /** Fine-tuning depth d_g: LoRA + gradients in the top d_g blocks (plus the head). */
  readonly depth: number;
  /**
   * Per-member depth (planner option memberDepth: 'member'): each member's own d_m ≤ depth, where
   * depth is then the deepest of them. Absent: every member trains at depth.
   */
  readonly memberDepths?: Readonly<Record<string, number>>;
  /** τ_g: intra-group aggregations per global round. */
  readonly intraRounds: number;
  /** I: local steps between two intra-group aggregations. */
  readonly localSteps: number;
  /**
   * Straggler deadline, ms per intra-group round: a member whose predicted intra-round time exceeds
   * it is dropped from that round (its update does not count). Absent: wait for everyone.
   */
  readonly deadlineMs?: number;
}

export interface RoundPlan {
  readonly groups: readonly GroupPlan[];
  /** Simulated/predicted wall ms each group needs for the whole global round (for dashboards and checks). */
  readonly predictedGroupMs?: Readonly<Record<string, number>>;
}

/** One device's result of one intra-group round: the change it made to the adapter, and its weight. */
export interface ClientUpdate {
  readonly deviceId: string;
  readonly numSamples: number;
  /** Only the blocks this device trained (its depth's blocks + head). */
  readonly delta: AdapterState;
}

export interface PlanContext {
  readonly round: number;
  /** Number of transformer blocks (attention and FFN sub-blocks counted separately). */
  readonly numBlocks: number;
  /** adapterBytes[d - 1] = bytes a device uploads at depth d. */
  readonly adapterBytes: readonly number[];
  /**
   * Optional: memoryBytesByDepth[d - 1] = peak training memory at depth d (model + LoRA + optimizer
   * state + activations kept for the backward pass). When present, the planner gives a device only
   * depths whose estimate fits its profile.memoryBytes; when absent, memory is not checked.
   */
  readonly memoryBytesByDepth?: readonly number[];
  readonly seed: number;
  /** Download, synchronisation and aggregation costs (overheads.ts); absent: not modelled. */
  readonly overheads?: RoundOverheads;
}
