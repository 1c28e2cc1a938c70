/**
 * One coordinator node over the synthetic task (no model, no evaluation): the real server, gateway,
 * registry, run loop and strategy, an in-memory state, and — with `redisUrl` — the cluster node.
 * Run as a child process by the multi-node test and `bench:coordinator --nodes`; settings as JSON
 * in argv[2]. Prints `NODE_READY {"url","nodeId"}` once listening, `NODE_DONE {"status"}` when the
 * run ends, and `NODE_STATS {...}` (RSS, event-loop lag) every second (an IPC message when forked). SIGTERM closes it cleanly;
 * SIGKILL is the node-kill fault.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { ClusterNode } from '../../apps/coordinator/src/cluster/node';
import type { RunParams } from '../../apps/coordinator/src/dashboard/contract';
import { startCoordinator } from '../../apps/coordinator/src/server';
import type { RunConfig } from '../../apps/coordinator/src/server';
import { MemoryState } from '../../apps/coordinator/src/state';
import { runParamsFromConfig, strategyFor, strategySpecFor } from '../../apps/coordinator/src/run-session';
import { workerPlanner } from '../../apps/coordinator/src/planning/planner';
import { lagFigures, newTiming, PhaseMeters, timedPlanner, timedStrategy } from '../bench-instruments';
import type { LagFigures } from '../bench-instruments';
import { syntheticTask } from './synthetic-task';
import type { SyntheticTaskSpec } from './synthetic-task';

export interface NodeSettings {
  readonly redisUrl?: string;
  readonly cluster?: string;
  readonly nodeId?: string;
  readonly port?: number;
  readonly token: string;
  readonly task: SyntheticTaskSpec;
  readonly run: Pick<RunParams, 'strategy' | 'rounds' | 'devicesExpected' | 'localSteps' | 'roundTimeoutS' | 'robust' | 'clipNorm' | 'seed'> & { groups?: number; minReportFraction?: number };
  readonly rejoinGraceS?: number;
  readonly quiet?: boolean;
}

/** What a node reports every second (NODE_STATS). */
export interface NodeStats {
  readonly rssBytes: number;
  readonly rssAtStartBytes: number;
  /** The most RSS seen while devices joined here. */
  readonly rssJoinedBytes: number;
  /** Over the node's whole life (10 ms resolution). */
  readonly lagP50Ms: number;
  readonly lagP99Ms: number;
  readonly lagMaxMs: number;
  readonly lagJoins: LagFigures;
  readonly lagRounds: LagFigures;
  /** Joined and connected here now, and the most at any time. */
  readonly devices: number;
  readonly mostJoined: number;
  /** ms from the node's start to the first and the last time its joined count grew. */
  readonly firstJoinMs: number | null;
  readonly lastJoinMs: number | null;
  readonly planMs: readonly number[];
  readonly aggMs: number;
  readonly aggBytes: number;
  readonly roundsCpuS: number;
  readonly leader: boolean;
}

export function nodeConfig(s: NodeSettings): RunConfig {
  const n = s.run.devicesExpected + 1000;
  return {
    port: s.port ?? 0,
    host: '127.0.0.1',
    token: s.token,
    tokenGenerated: false,
    adminToken: 'cluster-admin-token',
    rounds: s.run.rounds,
    devicesExpected: s.run.devicesExpected,
    seed: s.run.seed,
    batchSize: 16,
    learningRate: 1e-3,
    headLearningRate: 1e-2,
    roundTimeoutMs: s.run.roundTimeoutS * 1000,
    strategy: s.run.strategy,
    localSteps: s.run.localSteps,
    ...(s.run.groups === undefined ? {} : { groups: s.run.groups }),
    minReportFraction: s.run.minReportFraction ?? 0.5,
    rejoinGraceMs: (s.rejoinGraceS ?? 10) * 1000,
    robust: s.run.robust === 'mean' && s.run.clipNorm === null ? undefined : { rule: s.run.robust, ...(s.run.clipNorm === null ? {} : { clipNorm: s.run.clipNorm }) },
    // Loopback fleets: every device comes from 127.0.0.1.
    maxDevicesPerAddress: n,
    maxJoinsPerMinute: n * 60,
    maxConnectionsPerAddress: n,
    maxConnections: n,
    exitWhenDone: false,
  };
}

async function main(): Promise<void> {
  const s = JSON.parse(process.argv[2] ?? '{}') as NodeSettings;
  const log = s.quiet ? () => {} : (line: string) => console.log(`[${s.nodeId ?? 'node'} ${new Date().toISOString().slice(11, 23)}] ${line}`);
  const config = nodeConfig(s);
  let cluster: ClusterNode | undefined;
  if (s.redisUrl) {
    cluster = await ClusterNode.connect({ redisUrl: s.redisUrl, cluster: s.cluster ?? 'test', ...(s.nodeId ? { nodeId: s.nodeId } : {}), log });
    const { newRunId } = await import('../../apps/coordinator/src/run-session');
    await cluster.claimRun({ runId: newRunId(), params: runParamsFromConfig(config), joinToken: s.token, createdAt: Date.now() }, true);
  }
  // The run's own strategy and worker planner, timed (bench-instruments.ts).
  const params = runParamsFromConfig(config);
  const timing = newTiming();
  const inner = strategyFor(params);
  const strategy = timedStrategy(inner, timing);
  const planner = timedPlanner(workerPlanner(inner, strategySpecFor(params)), timing);
  const rssAtStart = process.memoryUsage().rss;
  const coordinator = await startCoordinator({ config, task: syntheticTask(s.task), state: new MemoryState(), log, strategy, planner, ...(cluster ? { cluster } : {}) });
  console.log(`NODE_READY ${JSON.stringify({ url: coordinator.localUrl, nodeId: cluster?.nodeId ?? 'single', runId: coordinator.runId })}`);
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  // Phases: joins from the first device joined here until the run starts its rounds, then rounds.
  const meters = new PhaseMeters();
  const started = performance.now();
  let firstJoinMs: number | undefined;
  let lastJoinMs: number | undefined;
  let mostJoined = 0;
  let rssJoined = rssAtStart;
  const phase = () => {
    const joined = coordinator.registry.joinedConnectedCount();
    if (joined > mostJoined) {
      mostJoined = joined;
      lastJoinMs = performance.now() - started;
      firstJoinMs ??= lastJoinMs;
      rssJoined = Math.max(rssJoined, process.memoryUsage.rss());
    }
    const state = coordinator.loop.status().state;
    meters.enter(state === 'running' ? 'rounds' : state === 'waiting' && joined > 0 ? 'joins' : meters.phase === 'rounds' ? 'idle' : meters.phase);
  };
  coordinator.registry.onChange(phase);
  setInterval(phase, 100).unref();
  setInterval(() => {
    const stats: NodeStats = {
      rssBytes: process.memoryUsage().rss,
      rssAtStartBytes: rssAtStart,
      rssJoinedBytes: rssJoined,
      lagP50Ms: lag.percentile(50) / 1e6,
      lagP99Ms: lag.percentile(99) / 1e6,
      lagMaxMs: lag.max / 1e6,
      lagJoins: lagFigures(meters.lag.joins),
      lagRounds: lagFigures(meters.lag.rounds),
      devices: coordinator.registry.joinedConnectedCount(),
      mostJoined,
      firstJoinMs: firstJoinMs ?? null,
      lastJoinMs: lastJoinMs ?? null,
      planMs: timing.planMs,
      aggMs: timing.aggMs,
      aggBytes: timing.aggBytes,
      roundsCpuS: meters.roundsCpuSeconds(),
      leader: cluster?.isLeader ?? true,
    };
    // Over the IPC channel when there is one (asynchronous); a pipe to a slow reader would block
    // this process on every write (Node writes to pipes synchronously on Linux).
    if (process.send) process.send({ type: 'NODE_STATS', stats });
    else console.log(`NODE_STATS ${JSON.stringify(stats)}`);
  }, 1000).unref();
  void coordinator.done.then((status) => console.log(`NODE_DONE ${JSON.stringify({ status, leader: cluster?.isLeader ?? true })}`));
  process.once('SIGTERM', () => {
    void coordinator.close().then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
