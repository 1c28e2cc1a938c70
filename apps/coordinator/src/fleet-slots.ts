/**
 * Fleet mode: each tab is given one simulated device index (its slot, kept across reloads since it
 * is stored per deviceId) and a secret key; the partition endpoint serves a slot's data only to the
 * holder of that key, so a tab can fetch its own partition and no other.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FleetSlot } from './core';
import type { CoordinatorState } from './state';
import type { FleetData, PartitionData } from './task';

export const PARTITION_PATH = '/api/fleet/partition';

export interface FleetSlotOptions {
  /**
   * When the device holding a slot was last seen, or undefined while it is connected. A slot whose
   * device has been gone longer than `graceMs` is given to a new tab when no slot is free.
   */
  readonly goneSince?: (deviceId: string) => number | undefined;
  readonly graceMs?: number;
  readonly now?: () => number;
  readonly log?: (line: string) => void;
}

/** What a fleet partition really holds: the sample count and label histogram a device in its slot must report. */
export interface PartitionSummary {
  readonly numSamples: number;
  readonly labelHistogram: readonly number[];
}

export class FleetSlots {
  private readonly summaries = new Map<number, PartitionSummary>();
  /** In a cluster: slots claimed in Redis for every node at once (cluster/admission.ts); they win over local ones. */
  private readonly clusterSlots = new Map<string, { index: number; key: string }>();

  constructor(
    private readonly runId: string,
    private readonly state: CoordinatorState,
    private readonly fleet: FleetData,
    private readonly options: FleetSlotOptions = {},
  ) {}

  get numPartitions(): number {
    return this.fleet.numPartitions;
  }

  /** Records the slot the cluster gave `deviceId`; claim() then returns it. */
  adopt(deviceId: string, slot: { index: number; key: string }): void {
    if (!Number.isInteger(slot.index) || slot.index < 0 || slot.index >= this.fleet.numPartitions) throw new Error(`fleet slot ${slot.index} of device ${deviceId} is out of range 0..${this.fleet.numPartitions - 1}`);
    this.clusterSlots.set(deviceId, slot);
  }

  /** The device's slot (existing or newly claimed), or undefined when all slots are taken. */
  claim(deviceId: string): FleetSlot | undefined {
    const adopted = this.clusterSlots.get(deviceId);
    if (adopted) {
      const query = new URLSearchParams({ deviceId, key: adopted.key });
      return { index: adopted.index, numPartitions: this.fleet.numPartitions, dataUrl: `${PARTITION_PATH}?${query.toString()}` };
    }
    const key = randomBytes(18).toString('base64url');
    let slot = this.state.claimFleetSlot(this.runId, deviceId, this.fleet.numPartitions, key);
    if (!slot && this.freeLongGone(deviceId)) slot = this.state.claimFleetSlot(this.runId, deviceId, this.fleet.numPartitions, key);
    if (!slot) return undefined;
    const query = new URLSearchParams({ deviceId, key: slot.key });
    return { index: slot.index, numPartitions: this.fleet.numPartitions, dataUrl: `${PARTITION_PATH}?${query.toString()}` };
  }

  /** The real size and label histogram of partition `index` (computed once). */
  summary(index: number, numClasses: number): PartitionSummary {
    let s = this.summaries.get(index);
    if (!s) {
      const labels = this.fleet.partition(index).labels;
      const labelHistogram = new Array<number>(numClasses).fill(0);
      for (const l of labels) if (l >= 0 && l < numClasses) labelHistogram[l]! += 1;
      s = { numSamples: labels.length, labelHistogram };
      this.summaries.set(index, s);
    }
    return s;
  }

  /** Frees the slot of the device gone longest, if it has been gone longer than the grace. */
  private freeLongGone(claimant: string): boolean {
    const { goneSince, graceMs = 600_000, now = Date.now, log } = this.options;
    if (!goneSince) return false;
    const t = now();
    let oldest: { deviceId: string; since: number } | undefined;
    for (const s of this.state.listFleetSlots(this.runId)) {
      if (s.deviceId === claimant) continue;
      const since = goneSince(s.deviceId);
      if (since === undefined || t - since <= graceMs) continue;
      if (!oldest || since < oldest.since) oldest = { deviceId: s.deviceId, since };
    }
    if (!oldest) return false;
    this.state.releaseFleetSlot(this.runId, oldest.deviceId);
    log?.(`fleet slot of device ${oldest.deviceId} freed: gone for ${Math.round((t - oldest.since) / 1000)} s`);
    return true;
  }

  indexOf(deviceId: string): number | undefined {
    const adopted = this.clusterSlots.get(deviceId);
    if (adopted) return adopted.index;
    return this.state.getFleetSlot(this.runId, deviceId)?.index;
  }

  partitionFor(deviceId: string, key: string): PartitionData | undefined {
    const adopted = this.clusterSlots.get(deviceId);
    if (adopted) return sameSecret(adopted.key, key) ? this.fleet.partition(adopted.index) : undefined;
    const slot = this.state.getFleetSlot(this.runId, deviceId);
    if (!slot || !sameSecret(slot.key, key)) return undefined;
    return this.fleet.partition(slot.index);
  }
}

export function sameSecret(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
