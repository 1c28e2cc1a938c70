import { indicesByClass } from '../dataset';
import { createRng } from '../random';
import { checkPartitionCount, toSortedIndexArrays } from './types';
import type { Partitioner } from './types';

export interface KClassPartitionerOptions {
  readonly numPartitions: number;
  /** k: number of distinct classes on every device. */
  readonly classesPerPartition: number;
  readonly seed?: number;
}

/**
 * Pathological non-IID split (McMahan et al. 2017; Flower's PathologicalPartitioner): every device holds exactly k
 * classes. Classes present in the data are put in a seeded random order and device d takes the k consecutive classes
 * starting at slot d*k (wrapping), so each class is held by floor or ceil of numPartitions*k/numPresentClasses devices
 * and, when numPartitions*k >= numPresentClasses, every class is used. A class's shuffled samples are dealt evenly among
 * its holders. Samples of classes no device holds (only when numPartitions*k < numPresentClasses) are left unassigned.
 * Throws if a class has fewer samples than holders, since a holder would then miss one of its k classes.
 */
export class KClassPartitioner implements Partitioner {
  readonly numPartitions: number;
  readonly classesPerPartition: number;
  private readonly seed: number;

  constructor(opts: KClassPartitionerOptions) {
    checkPartitionCount(opts.numPartitions);
    const k = opts.classesPerPartition;
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`classesPerPartition must be a positive integer, got ${k}`);
    this.numPartitions = opts.numPartitions;
    this.classesPerPartition = k;
    this.seed = opts.seed ?? 42;
  }

  partition(labels: Int32Array, numClasses: number): Int32Array[] {
    const k = this.classesPerPartition;
    const parts = this.numPartitions;
    const byClass = indicesByClass(labels, numClasses);
    const rng = createRng(this.seed);
    const present = rng.shuffle(byClass.map((m, c) => (m.length > 0 ? c : -1)).filter((c) => c >= 0));
    if (k > present.length) {
      throw new RangeError(`classesPerPartition ${k} exceeds the ${present.length} classes present in the data`);
    }
    const holders: number[][] = Array.from({ length: numClasses }, () => []);
    for (let d = 0; d < parts; d++) {
      for (let j = 0; j < k; j++) (holders[present[(d * k + j) % present.length] as number] as number[]).push(d);
    }
    const out: number[][] = Array.from({ length: parts }, () => []);
    holders.forEach((devs, c) => {
      if (devs.length === 0) return;
      const members = byClass[c] as number[];
      if (members.length < devs.length) {
        throw new RangeError(`class ${c} has ${members.length} sample(s) but ${devs.length} devices must hold it`);
      }
      rng.shuffle(members);
      const base = Math.floor(members.length / devs.length);
      const extra = members.length % devs.length;
      let start = 0;
      devs.forEach((d, j) => {
        const size = base + (j < extra ? 1 : 0);
        (out[d] as number[]).push(...members.slice(start, start + size));
        start += size;
      });
    });
    return toSortedIndexArrays(out);
  }
}
