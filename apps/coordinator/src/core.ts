/** The coordinator's one door into @tabfleet/lora-core (the protocol module whole, the rest by name). */
export * from '../../../packages/lora-core/src/protocol/messages';
export { chooseRoundPlan, isDegeneratePlan, maxFeasibleDepth, runGlobalRound, RoundContractError } from '@tabfleet/lora-core';
export type { GlobalRoundInput, GlobalRoundOutcome, GroupAggregation, GroupOutcome, MemberAssignment, PlanChoice, RoundAggregator, StrategyOptions } from '@tabfleet/lora-core';
export { PlanningError } from '@tabfleet/lora-core';
export {
  AdapterCodecError,
  adamCoordinateBound,
  adamDeltaNormBound,
  checkDeltaValues,
  coordinateBoundProblems,
  normBoundProblems,
  jensenShannon,
  normalize,
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
  adapterTrainedKeys,
  validateAdapter,
  validateRoundPlan,
  withMaxTokens,
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
  NonFiniteValue,
  ValueBounds,
  PlanContext,
  ResourceProfile,
  RoundPlan,
  Strategy,
  StrategyName,
  TextEncoder,
} from '@tabfleet/lora-core';
export { capDeclaredSamples, DEFAULT_TRIM_FRACTION, formatRobustReport, isRobustRule, ROBUST_RULES } from '@tabfleet/lora-core';
export type { RobustOptions, RobustReport, RobustRule } from '@tabfleet/lora-core';
// Causal-LM tasks on Hugging Face decoders (issue 11).
export { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, categoryHistogram, decoderMemoryBytesByDepth, embedRowsForTopics, encodeRows, exportPeft, lmBatches, kMeans, loadPeftAdapter, LoraCausalLm, topicHistogram, topicNames } from '@tabfleet/lora-core';
export type { CausalDecoder, CausalLmRow, DecoderConfig, SftTemplate } from '@tabfleet/lora-core';
