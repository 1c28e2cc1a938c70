export { BlockwiseFedAvgStrategy } from './blockwise-fedavg';
export type { StrategyOptions } from './blockwise-fedavg';
export { DepthOnlyStrategy } from './depth-only';
export { FedLoraStrategy } from './fedlora';
export { GroupingOnlyStrategy } from './grouping-only';
export { HierFedLoraStrategy } from './hierfedlora';
export { RandomGroupsStrategy } from './random-groups';
export { createStrategy } from './registry';
