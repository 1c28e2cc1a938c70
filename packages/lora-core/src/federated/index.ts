export type { ClientUpdate, DeviceInfo, GroupPlan, PlanContext, ResourceProfile, RoundPlan } from './types';
export { AggregationError, applyDelta, productAggregationError, subtractAdapters, weightedMeanByBlock, workNormalizedMeanByBlock } from './aggregate';
export type { WeightedDelta, WorkedDelta } from './aggregate';
export { exactLoraBlocks, refactorize } from './exact-lora';
export { DEFAULT_OVERHEADS, aggregationMs, downloadMs, resolveOverheads } from './overheads';
export type { RoundOverheads } from './overheads';
export {
  AUTO_CLIP_FACTOR,
  DEFAULT_TRIM_FRACTION,
  ROBUST_RULES,
  capDeclaredSamples,
  clipBound,
  clipDelta,
  coordinateMedianByBlock,
  deltaNorm,
  isRobustRule,
  robustAggregateByBlock,
  robustAggregateWithReport,
  formatRobustReport,
  scaleDelta,
  trimCount,
  trimmedMeanByBlock,
  validateRobustOptions,
} from './robust';
export type { RobustOptions, RobustReport, RobustRule, RobustUpdateDecision } from './robust';
export { DEFAULT_MAX_SPEED_RATIO, groupDivergences, groupSpeedRatios, nearIidGroups, randomGroups, resolveGroupCount, speedBandsOf } from './grouping';
export type { DeviceGroup, GroupingOptions } from './grouping';
export { addHistograms, countsDivergence, jensenShannon, normalize } from './label-distribution';
export {
  PlanningError,
  accuracyProxy,
  deepestCommonDepth,
  intraRoundMs,
  isDegeneratePlan,
  maxFeasibleDepth,
  planGroups,
} from './planner';
export type { PlannerOptions, PlannerResult } from './planner';
export { validateRoundPlan } from './plan-validation';
export { seededRandom, shuffled } from './random';
export type { Random } from './random';
export { blendMeasuredProfiles, shouldReplan } from './replan';
export type { ReplanDecision, ReplanOptions } from './replan';
export { STRATEGY_NAMES, isStrategyName } from './strategy';
export type { GroupResult, Strategy, StrategyName } from './strategy';
export * from './strategies';
export { RoundContractError, chooseRoundPlan, runGlobalRound } from './round';
export type { GlobalRoundInput, GlobalRoundOutcome, GroupAggregation, GroupOutcome, MemberAssignment, PlanChoice, RoundAggregator, TrainMember } from './round';
