/**
 * Device classes of the virtual fleet and the resource profiles they give. A class scales one
 * measured table — ms per local step at each depth on the machine running the simulation — by a
 * step-time ratio, and fixes an upload bandwidth and a memory ceiling. Every device of a class
 * gets its own small seeded log-normal jitter, so a class is a cluster, not a single point.
 *
 * Default classes (assumptions, not measurements; change them with evidence):
 *   new-laptop  1×   step time, 2.5 MB/s up (20 Mbit/s broadband), 8 GiB — the reference: our
 *               measured table is wasm on one core of a current x86 machine.
 *   old-laptop  2×   step time, 1 MB/s up (8 Mbit/s), 4 GiB — several-year-old mobile CPU, wasm SIMD.
 *   phone       4×   step time, 0.5 MB/s up (4 Mbit/s LTE uplink), 3 GiB — mid-range Android
 *               Chrome; single-thread wasm there runs about 3–5× slower than a laptop core.
 * The ratio applies to every depth alike: how much a shallower depth saves comes from the
 * measured table, i.e. from this model, not from the class.
 * Fleet shares 25 / 35 / 40 %: browser fleets are mostly phones and ageing laptops.
 */
import type { Random } from '../federated/random';
import { seededRandom, shuffled } from '../federated/random';
import type { ResourceProfile } from '../federated/types';

export interface DeviceClass {
  readonly name: string;
  /** Step time relative to the measured table (1 = as measured). */
  readonly stepTimeRatio: number;
  readonly uploadBytesPerSec: number;
  readonly memoryBytes: number;
  /** Relative share of the fleet (normalized over the classes). */
  readonly share: number;
}

const GIB = 1024 ** 3;

export const DEFAULT_DEVICE_CLASSES: readonly DeviceClass[] = [
  { name: 'new-laptop', stepTimeRatio: 1, uploadBytesPerSec: 2_500_000, memoryBytes: 8 * GIB, share: 0.25 },
  { name: 'old-laptop', stepTimeRatio: 2, uploadBytesPerSec: 1_000_000, memoryBytes: 4 * GIB, share: 0.35 },
  { name: 'phone', stepTimeRatio: 4, uploadBytesPerSec: 500_000, memoryBytes: 3 * GIB, share: 0.4 },
];

export interface JitterOptions {
  /** σ of the log-normal factor on a device's step times. Default 0.1. */
  readonly stepTime?: number;
  /** σ of the log-normal factor on a device's bandwidth. Default 0.2. */
  readonly bandwidth?: number;
}

/**
 * Class index of each of n devices: counts by largest remainder on the shares (so 80 devices at
 * 25/35/40 % are exactly 20/28/32), in a seeded random order.
 */
export function assignDeviceClasses(n: number, classes: readonly DeviceClass[], seed: number): number[] {
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`device count must be a positive integer, got ${n}`);
  checkClasses(classes);
  const total = classes.reduce((s, c) => s + c.share, 0);
  const exact = classes.map((c) => (c.share / total) * n);
  const counts = exact.map(Math.floor);
  const order = exact.map((x, i) => ({ i, frac: x - Math.floor(x) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let left = n - counts.reduce((a, b) => a + b, 0), j = 0; left > 0; left--, j++) counts[order[j % order.length]!.i]! += 1;
  const slots = counts.flatMap((c, i) => new Array<number>(c).fill(i));
  return shuffled(slots, seededRandom(seed));
}

/** The class's profile for one device: the base table × ratio × jitter, bandwidth × jitter. */
export function profileFor(cls: DeviceClass, baseMsPerStep: readonly number[], random: Random, jitter: JitterOptions = {}): ResourceProfile {
  if (baseMsPerStep.length === 0 || baseMsPerStep.some((ms) => !(Number.isFinite(ms) && ms > 0))) {
    throw new RangeError(`base ms-per-step table must hold positive numbers, got [${baseMsPerStep.join(', ')}]`);
  }
  const speed = cls.stepTimeRatio * logNormal(random, jitter.stepTime ?? 0.1);
  const bandwidth = cls.uploadBytesPerSec * logNormal(random, jitter.bandwidth ?? 0.2);
  return { msPerStep: baseMsPerStep.map((ms) => ms * speed), uploadBytesPerSec: bandwidth, memoryBytes: cls.memoryBytes };
}

function logNormal(random: Random, sigma: number): number {
  if (!(sigma >= 0)) throw new RangeError(`jitter σ must be ≥ 0, got ${sigma}`);
  if (sigma === 0) return 1;
  const u = Math.max(random(), Number.MIN_VALUE);
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  return Math.exp(sigma * z);
}

function checkClasses(classes: readonly DeviceClass[]): void {
  if (classes.length === 0) throw new RangeError('no device classes');
  for (const c of classes) {
    if (!(c.stepTimeRatio > 0 && c.uploadBytesPerSec > 0 && c.memoryBytes > 0 && c.share >= 0)) {
      throw new RangeError(`device class ${c.name} needs positive ratio, bandwidth and memory and a non-negative share`);
    }
  }
  if (!(classes.reduce((s, c) => s + c.share, 0) > 0)) throw new RangeError('device class shares sum to zero');
}
