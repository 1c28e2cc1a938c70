import { DirichletPartitioner } from './dirichlet';
import { IidPartitioner } from './iid';
import { KClassPartitioner } from './k-class';
import type { Partitioner } from './types';

export type { Partitioner } from './types';
export { IidPartitioner } from './iid';
export type { IidPartitionerOptions } from './iid';
export { DirichletPartitioner, largestRemainder } from './dirichlet';
export type { DirichletPartitionerOptions } from './dirichlet';
export { KClassPartitioner } from './k-class';
export type { KClassPartitionerOptions } from './k-class';
export { labelHistogram, jsDivergence, meanLabelSkew } from './histogram';

/** Serializable description of a partitioning scheme (for configs and run records). */
export type PartitionSpec =
  | { readonly scheme: 'iid'; readonly numPartitions: number; readonly seed?: number }
  | {
      readonly scheme: 'dirichlet';
      readonly numPartitions: number;
      readonly alpha: number;
      readonly seed?: number;
      readonly minPerPartition?: number;
    }
  | { readonly scheme: 'k-class'; readonly numPartitions: number; readonly classesPerPartition: number; readonly seed?: number };

export function createPartitioner(spec: PartitionSpec): Partitioner {
  switch (spec.scheme) {
    case 'iid':
      return new IidPartitioner(spec);
    case 'dirichlet':
      return new DirichletPartitioner(spec);
    case 'k-class':
      return new KClassPartitioner(spec);
  }
}
