/**
 * Splits a labeled dataset across simulated devices. Implementations are deterministic for a given seed, assign
 * every sample to at most one device, and never return an empty device (they throw instead).
 */
export interface Partitioner {
  readonly numPartitions: number;
  /** result[d] = ascending sample indices held by device d; result.length === numPartitions. */
  partition(labels: Int32Array, numClasses: number): Int32Array[];
}

export function checkPartitionCount(numPartitions: number): void {
  if (!Number.isInteger(numPartitions) || numPartitions < 1) {
    throw new RangeError(`numPartitions must be a positive integer, got ${numPartitions}`);
  }
}

export function toSortedIndexArrays(parts: readonly number[][]): Int32Array[] {
  return parts.map((p) => Int32Array.from(p).sort());
}
