import { indicesByClass } from '../dataset';
import { createRng } from '../random';
import { checkPartitionCount, toSortedIndexArrays } from './types';
import type { Partitioner } from './types';

export interface DirichletPartitionerOptions {
  readonly numPartitions: number;
  /** Concentration; small alpha = strong label skew, large alpha approaches IID. */
  readonly alpha: number;
  readonly seed?: number;
  /** Every device ends up with at least this many samples (default 1). */
  readonly minPerPartition?: number;
}

/**
 * Label-skewed split (Hsu et al. 2019, Flower's DirichletPartitioner): for each class, device shares are drawn from
 * Dir(alpha, ..., alpha) and the class's shuffled samples are dealt out in those proportions (largest-remainder
 * rounding, so every sample is placed exactly once).
 *
 * Minimum size guarantee: instead of resampling until lucky (which may never end for tiny alpha), a deterministic
 * repair moves samples one at a time to any device below `minPerPartition` from the currently largest device, taking a
 * sample of that donor's most plentiful class. Because the total is at least numPartitions * minPerPartition, the
 * largest device always has more than the minimum, so the repair ends and never pushes a donor under the minimum.
 */
export class DirichletPartitioner implements Partitioner {
  readonly numPartitions: number;
  readonly alpha: number;
  private readonly seed: number;
  private readonly minPerPartition: number;

  constructor(opts: DirichletPartitionerOptions) {
    checkPartitionCount(opts.numPartitions);
    if (!(opts.alpha > 0) || !Number.isFinite(opts.alpha)) throw new RangeError(`alpha must be > 0, got ${opts.alpha}`);
    const min = opts.minPerPartition ?? 1;
    if (!Number.isInteger(min) || min < 1) throw new RangeError(`minPerPartition must be a positive integer, got ${min}`);
    this.numPartitions = opts.numPartitions;
    this.alpha = opts.alpha;
    this.seed = opts.seed ?? 42;
    this.minPerPartition = min;
  }

  partition(labels: Int32Array, numClasses: number): Int32Array[] {
    const parts = this.numPartitions;
    const min = this.minPerPartition;
    const byClass = indicesByClass(labels, numClasses);
    if (labels.length < parts * min) {
      throw new RangeError(`${labels.length} samples cannot give ${parts} devices at least ${min} sample(s) each`);
    }
    const rng = createRng(this.seed);
    // held[d][c] = samples of class c on device d.
    const held: number[][][] = Array.from({ length: parts }, () => Array.from({ length: numClasses }, () => []));
    const sizes = new Array<number>(parts).fill(0);
    const shares = new Array<number>(parts).fill(this.alpha);

    byClass.forEach((members, c) => {
      if (members.length === 0) return;
      rng.shuffle(members);
      const counts = largestRemainder(rng.dirichlet(shares), members.length);
      let start = 0;
      counts.forEach((count, d) => {
        (held[d] as number[][])[c] = members.slice(start, start + count);
        sizes[d] = (sizes[d] as number) + count;
        start += count;
      });
    });

    for (let d = 0; d < parts; d++) {
      while ((sizes[d] as number) < min) {
        const donor = argMax(sizes);
        const donorClasses = held[donor] as number[][];
        const cls = argMax(donorClasses.map((list) => list.length));
        const moved = (donorClasses[cls] as number[]).pop() as number;
        ((held[d] as number[][])[cls] as number[]).push(moved);
        sizes[donor] = (sizes[donor] as number) - 1;
        sizes[d] = (sizes[d] as number) + 1;
      }
    }
    return toSortedIndexArrays(held.map((perClass) => perClass.flat()));
  }
}

/** Integer counts summing to total, proportional to p (ties for the remainder go to the lower index). */
export function largestRemainder(p: readonly number[], total: number): number[] {
  const exact = p.map((x) => x * total);
  const counts = exact.map(Math.floor);
  let left = total - counts.reduce((s, x) => s + x, 0);
  const order = exact.map((x, i) => ({ i, frac: x - Math.floor(x) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let j = 0; left > 0; j = (j + 1) % order.length, left--) {
    const i = (order[j] as { i: number }).i;
    counts[i] = (counts[i] as number) + 1;
  }
  return counts;
}

/** Index of the largest value; lowest index wins ties. */
function argMax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}
