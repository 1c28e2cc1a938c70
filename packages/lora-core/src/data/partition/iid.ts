import { indicesByClass } from '../dataset';
import { createRng } from '../random';
import { checkPartitionCount, toSortedIndexArrays } from './types';
import type { Partitioner } from './types';

export interface IidPartitionerOptions {
  readonly numPartitions: number;
  readonly seed?: number;
}

/**
 * Uniform random split: a seeded shuffle of all samples dealt into contiguous chunks whose sizes differ by at most one.
 * Needs at least one sample per device.
 */
export class IidPartitioner implements Partitioner {
  readonly numPartitions: number;
  private readonly seed: number;

  constructor(opts: IidPartitionerOptions) {
    checkPartitionCount(opts.numPartitions);
    this.numPartitions = opts.numPartitions;
    this.seed = opts.seed ?? 42;
  }

  partition(labels: Int32Array, numClasses: number): Int32Array[] {
    indicesByClass(labels, numClasses); // validates the label range
    const n = labels.length;
    const parts = this.numPartitions;
    if (n < parts) throw new RangeError(`${n} samples cannot fill ${parts} devices with at least one sample each`);
    const order = createRng(this.seed).shuffle(Array.from({ length: n }, (_, i) => i));
    const base = Math.floor(n / parts);
    const extra = n % parts;
    const out: number[][] = [];
    let start = 0;
    for (let d = 0; d < parts; d++) {
      const size = base + (d < extra ? 1 : 0);
      out.push(order.slice(start, start + size));
      start += size;
    }
    return toSortedIndexArrays(out);
  }
}
