/** A virtual fleet: one DeviceInfo per data partition, with a seeded device class and profile. */
import { seededRandom } from '../federated/random';
import type { DeviceInfo } from '../federated/types';
import { assignDeviceClasses, DEFAULT_DEVICE_CLASSES, profileFor, type DeviceClass, type JitterOptions } from './device-classes';

export interface VirtualDevice {
  readonly info: DeviceInfo;
  readonly className: string;
}

export interface VirtualFleetOptions {
  /** labelHistograms[i] = device i's local label counts (from its real data partition). */
  readonly labelHistograms: readonly (readonly number[])[];
  /** Measured ms per local step at depth d (index d - 1) on the simulating machine. */
  readonly baseMsPerStep: readonly number[];
  readonly classes?: readonly DeviceClass[];
  readonly jitter?: JitterOptions;
  readonly seed: number;
}

/** Device i gets id dev-000, dev-001, … (ids sort in index order). */
export function deviceId(index: number): string {
  return `dev-${String(index).padStart(3, '0')}`;
}

export function buildVirtualFleet(o: VirtualFleetOptions): VirtualDevice[] {
  const classes = o.classes ?? DEFAULT_DEVICE_CLASSES;
  const n = o.labelHistograms.length;
  const classOf = assignDeviceClasses(n, classes, o.seed);
  const random = seededRandom(o.seed + 1);
  return o.labelHistograms.map((histogram, i) => {
    const cls = classes[classOf[i]!]!;
    const numSamples = histogram.reduce((a, b) => a + b, 0);
    if (!(numSamples > 0)) throw new RangeError(`device ${i} has no samples`);
    return {
      className: cls.name,
      info: { id: deviceId(i), numSamples, labelHistogram: [...histogram], profile: profileFor(cls, o.baseMsPerStep, random, o.jitter) },
    };
  });
}
