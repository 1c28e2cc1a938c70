/**
 * The aggregation worker thread: a group's robust rule (cosine-mean's pairwise agreement and
 * coordinate-wise medians) takes tens of milliseconds for five uploads and seconds for fifty, and
 * a 10,000-device round's global mean folds hundreds of MiB; on the coordinator's loop either
 * would stall every socket. The strategy is rebuilt from its spec, so the results are the same
 * functions' on the same values.
 */
import type { AdapterState, RobustReport } from '../core';
import { serveStrategyRequests } from '../strategy-worker';
import type { AggregateRequest } from './protocol';

serveStrategyRequests<AggregateRequest, { delta: AdapterState; robust?: RobustReport }>('aggregation', (strategy, req) => {
  if (req.kind === 'global') return { delta: strategy.aggregateGlobal(req.groups, req.base) };
  const out = strategy.aggregateGroupWithReport ? strategy.aggregateGroupWithReport(req.updates, req.base) : { delta: strategy.aggregateGroup(req.updates, req.base) };
  return { delta: out.delta, ...(out.robust ? { robust: out.robust } : {}) };
});
