/**
 * The planning worker thread: grouping and planning over thousands of devices takes hundreds of
 * milliseconds to seconds (bench:grouping), which on the coordinator's loop would stall every socket.
 */
import { chooseRoundPlan } from '../core';
import { serveStrategyRequests } from '../strategy-worker';
import type { PlanRequest } from './protocol';

serveStrategyRequests<PlanRequest, { choice: ReturnType<typeof chooseRoundPlan> }>('planning', (strategy, req) => ({
  choice: chooseRoundPlan(strategy, req.devices, req.ctx, req.previous, new Map(req.measured)),
}));
