/** Sorting and filtering of the device table (pure, so it is unit-tested without a browser). */
import type { DeviceActivity, DeviceRowView } from '../../src/dashboard/contract';

export type DeviceSortKey = 'deviceId' | 'activity' | 'backend' | 'speed' | 'group' | 'depth' | 'localSteps' | 'progress' | 'lastSeen' | 'bytesUp';

export interface DeviceSort {
  readonly key: DeviceSortKey;
  readonly descending: boolean;
}

export interface DeviceFilter {
  /** Case-insensitive substring of id, backend, GPU adapter or group. */
  readonly text: string;
  readonly activity: DeviceActivity | 'all';
}

/** The fraction of the current local work done, 0..1 (null when the device has none). */
export function progressFraction(d: DeviceRowView): number | null {
  if (!d.progress || d.progress.localSteps <= 0) return null;
  return Math.min(1, d.progress.step / d.progress.localSteps);
}

/** Measured ms per step at the deepest depth: the device's slowest training configuration. */
export function fullDepthMsPerStep(d: DeviceRowView): number | null {
  return d.msPerStep && d.msPerStep.length > 0 ? (d.msPerStep[d.msPerStep.length - 1] as number) : null;
}

const ACTIVITY_ORDER: Record<DeviceActivity, number> = { training: 0, idle: 1, gone: 2 };

function sortValue(d: DeviceRowView, key: DeviceSortKey): string | number | null {
  switch (key) {
    case 'deviceId':
      return d.deviceId;
    case 'activity':
      return ACTIVITY_ORDER[d.activity];
    case 'backend':
      return d.backend;
    case 'speed':
      return fullDepthMsPerStep(d);
    case 'group':
      return d.groupId;
    case 'depth':
      return d.depth;
    case 'localSteps':
      return d.localSteps;
    case 'progress':
      return progressFraction(d);
    case 'lastSeen':
      return d.lastSeen;
    case 'bytesUp':
      return d.bytesUp;
  }
}

function compareValues(a: string | number | null, b: string | number | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

export function matchesFilter(d: DeviceRowView, filter: DeviceFilter): boolean {
  if (filter.activity !== 'all' && d.activity !== filter.activity) return false;
  const text = filter.text.trim().toLowerCase();
  if (text === '') return true;
  return [d.deviceId, d.backend, d.gpuAdapter, d.groupId].some((field) => field !== null && field.toLowerCase().includes(text));
}

/** Filtered rows in sort order; devices without a value for the key go last either way, ties by id. */
export function visibleDevices(devices: readonly DeviceRowView[], sort: DeviceSort, filter: DeviceFilter): DeviceRowView[] {
  const rows = devices.filter((d) => matchesFilter(d, filter));
  return rows.sort((a, b) => {
    const va = sortValue(a, sort.key);
    const vb = sortValue(b, sort.key);
    if (va === null || vb === null) return compareValues(va, vb) || a.deviceId.localeCompare(b.deviceId);
    const c = compareValues(va, vb);
    return (sort.descending ? -c : c) || a.deviceId.localeCompare(b.deviceId);
  });
}
