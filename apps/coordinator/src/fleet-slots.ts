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

export class FleetSlots {
  constructor(
    private readonly runId: string,
    private readonly state: CoordinatorState,
    private readonly fleet: FleetData,
  ) {}

  get numPartitions(): number {
    return this.fleet.numPartitions;
  }

  /** The device's slot (existing or newly claimed), or undefined when all slots are taken. */
  claim(deviceId: string): FleetSlot | undefined {
    const slot = this.state.claimFleetSlot(this.runId, deviceId, this.fleet.numPartitions, randomBytes(18).toString('base64url'));
    if (!slot) return undefined;
    const query = new URLSearchParams({ deviceId, key: slot.key });
    return { index: slot.index, numPartitions: this.fleet.numPartitions, dataUrl: `${PARTITION_PATH}?${query.toString()}` };
  }

  indexOf(deviceId: string): number | undefined {
    return this.state.getFleetSlot(this.runId, deviceId)?.index;
  }

  partitionFor(deviceId: string, key: string): PartitionData | undefined {
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
