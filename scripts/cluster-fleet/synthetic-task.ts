/**
 * A task with no model behind it, for fleets of simulated devices: an own-data classification
 * task whose LoRA adapter has the given block shapes (seeded initial values), no fleet partitions
 * and no evaluation. Used by the multi-node test and `bench:coordinator --nodes`.
 */
import type { FederatedTask } from '../../apps/coordinator/src/task';
import { initialAdapter } from '../../packages/lora-core/src/lora/init';
import { DEFAULT_LORA } from '../../packages/lora-core/src/lora/config';
import type { BlockSpec } from '../../packages/lora-core/src/model/family';

export interface SyntheticTaskSpec {
  readonly numBlocks: number;
  /** Width of every linear (in = out). */
  readonly width: number;
  readonly numClasses: number;
  readonly seed: number;
}

export function syntheticBlocks(spec: SyntheticTaskSpec): BlockSpec[] {
  return Array.from({ length: spec.numBlocks }, (_, index) => ({
    index,
    kind: index % 2 === 0 ? ('attention' as const) : ('ffn' as const),
    linears: index % 2 === 0 ? [{ target: 'qkv', inDim: spec.width, outDim: spec.width }] : [{ target: 'ffn_in', inDim: spec.width, outDim: spec.width }],
  }));
}

export function syntheticTask(spec: SyntheticTaskSpec): FederatedTask {
  const classNames = Array.from({ length: spec.numClasses }, (_, i) => `class${i}`);
  return {
    info: {
      name: 'synthetic',
      classNames,
      numBlocks: spec.numBlocks,
      lora: { rank: DEFAULT_LORA.rank, alpha: DEFAULT_LORA.alpha, targets: [...DEFAULT_LORA.targets] },
      batchSize: 16,
      seed: spec.seed,
    },
    initialAdapter: initialAdapter(syntheticBlocks(spec), spec.width, spec.numClasses, DEFAULT_LORA, spec.seed),
    fleet: {
      numPartitions: 0,
      partition: () => {
        throw new RangeError('own-data task: no fleet partitions');
      },
    },
  };
}
