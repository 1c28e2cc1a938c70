/** Strategies by name, for CLIs, configs and the coordinator. */
import type { Strategy, StrategyName } from '../strategy';
import type { StrategyOptions } from './blockwise-fedavg';
import { DepthOnlyStrategy } from './depth-only';
import { FedLoraStrategy } from './fedlora';
import { FedLoraDeadlineStrategy, FedLoraDepth1Strategy } from './fedlora-variants';
import { GroupingOnlyStrategy } from './grouping-only';
import { HierFedLoraStrategy } from './hierfedlora';
import { RandomGroupsStrategy } from './random-groups';

const FACTORIES: Record<StrategyName, (options: StrategyOptions) => Strategy> = {
  fedlora: (o) => new FedLoraStrategy(o),
  hierfedlora: (o) => new HierFedLoraStrategy(o),
  'grouping-only': (o) => new GroupingOnlyStrategy(o),
  'depth-only': (o) => new DepthOnlyStrategy(o),
  'random-groups': (o) => new RandomGroupsStrategy(o),
  'fedlora-depth1': (o) => new FedLoraDepth1Strategy(o),
  'fedlora-deadline': (o) => new FedLoraDeadlineStrategy(o),
};

export function createStrategy(name: StrategyName, options: StrategyOptions = {}): Strategy {
  const factory = FACTORIES[name] as ((options: StrategyOptions) => Strategy) | undefined;
  if (factory === undefined) throw new Error(`unknown strategy "${String(name)}"; known: ${Object.keys(FACTORIES).join(', ')}`);
  return factory(options);
}
