/**
 * The coordinator's one door into @tabfleet/lora-core. The protocol messages are imported by path
 * until lora-core's protocol index re-exports them; everything else comes from the package.
 */
export * from '../../../packages/lora-core/src/protocol/messages';
// The engine contract's round (shared with the simulation engine); not re-exported by the package index yet.
export { chooseRoundPlan, runGlobalRound, RoundContractError } from '../../../packages/lora-core/src/federated/round';
export type { GlobalRoundOutcome, MemberAssignment } from '../../../packages/lora-core/src/federated/round';
export {
  AdapterCodecError,
  AggregationError,
  applyDelta,
  cloneAdapterState,
  createPartitioner,
  createStrategy,
  decodeAdapter,
  DEFAULT_LORA,
  encodeAdapter,
  findNonFinite,
  HEAD,
  initialAdapter,
  isStrategyName,
  lengthSortedBatches,
  LoraClassifier,
  loadUseLiteModel,
  seededSplit,
  shapesOf,
  STRATEGY_NAMES,
  subsetDataset,
  subtractAdapters,
  trainedBlockKeys,
  validateAdapter,
  validateRoundPlan,
  weightedMeanByBlock,
} from '@tabfleet/lora-core';
export type {
  AdapterState,
  BlockKey,
  ClientUpdate,
  DeviceInfo,
  GroupPlan,
  GroupResult,
  LabeledDataset,
  LoraConfig,
  NamedArray,
  PlanContext,
  ResourceProfile,
  RoundPlan,
  Strategy,
  StrategyName,
  TextEncoder,
} from '@tabfleet/lora-core';
