/**
 * The coordinator's one door into @tabfleet/lora-core. Until the package's index lands, the
 * modules are imported by path; switching to `from '@tabfleet/lora-core'` happens here only.
 */
export * from '../../../packages/lora-core/src/protocol/messages';
export { encodeAdapter, decodeAdapter, AdapterCodecError } from '../../../packages/lora-core/src/protocol/adapter-codec';
export { validateAdapter, findNonFinite, shapesOf } from '../../../packages/lora-core/src/protocol/adapter-validation';
export {
  weightedMeanByBlock,
  applyDelta,
  subtractAdapters,
  AggregationError,
  createStrategy,
  isStrategyName,
  STRATEGY_NAMES,
  validateRoundPlan,
} from '../../../packages/lora-core/src/federated';
export type { GroupResult, Strategy, StrategyName } from '../../../packages/lora-core/src/federated';
export { trainedBlockKeys, cloneAdapterState, HEAD } from '../../../packages/lora-core/src/lora/adapter-state';
export type { AdapterState, BlockKey, NamedArray } from '../../../packages/lora-core/src/lora/adapter-state';
export type {
  ClientUpdate,
  DeviceInfo,
  GroupPlan,
  PlanContext,
  ResourceProfile,
  RoundPlan,
} from '../../../packages/lora-core/src/federated';

// Model, LoRA and data (the WordNet task; evaluation on the coordinator).
export { loadUseLiteModel } from '../../../packages/lora-core/src/model/use-lite';
export type { TextEncoder } from '../../../packages/lora-core/src/model/family';
export { LoraClassifier } from '../../../packages/lora-core/src/lora/classifier';
export { evaluationBatches } from '../../../packages/lora-core/src/lora/batching';
export { initialAdapter } from '../../../packages/lora-core/src/lora/init';
export { DEFAULT_LORA } from '../../../packages/lora-core/src/lora/config';
export type { LoraConfig } from '../../../packages/lora-core/src/lora/config';
export { createPartitioner, seededSplit, subsetDataset } from '../../../packages/lora-core/src/data';
export type { LabeledDataset } from '../../../packages/lora-core/src/data';
