/**
 * One coordinator node of a cluster sharing one run through Redis (`npm start -- --redis URL`).
 *
 * Topology: N coordinator processes, one Redis. Devices connect to any node (websocket only, so no
 * sticky sessions); Socket.IO's sharded Redis adapter carries cross-node events (the leader's
 * runStatus reaches every node's devices). Every node heartbeats (membership.ts). One node holds
 * the leader lease (lease.ts) and runs the run loop: waiting for devices (the count over live
 * nodes), planning over every node's devices (device-directory.ts), the global aggregation,
 * evaluation and persistence. Each group of a round is owned by one node (rendezvous hash of the
 * group id over the live nodes); its members are redirected there, so intra-group aggregation —
 * robust rules included — runs exactly as on one node, and only group results cross (rounds.ts).
 *
 * Persistence: the leader keeps its own state (SQLite or memory) as on one node, and after every
 * completed round it also writes the checkpoint (round, metric, adapter bytes) to Redis. A node
 * that takes the lease seeds its state from that checkpoint and resumes from the last completed
 * round. Redis (not a shared SQLite file) because nodes may run on different machines; the
 * leader writes the checkpoint back after a Redis restart (Redis runs without persistence here).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { z } from 'zod';
import { serverToDeviceSchemas } from '../core';
import type { GlobalRoundInput, GlobalRoundOutcome, RunStatus } from '../core';
import { runParamsSchema } from '../dashboard/contract';
import type { RunParams } from '../dashboard/contract';
import type { ClusterHooks, PlanDevice, RunLoop } from '../engine/run-loop';
import type { CoordinatorState, RunStatusName } from '../state';
import { DeviceDirectory, readClusterDeviceCount, readClusterDevices } from './device-directory';
import { ClusterAdmission } from './admission';
import { ClusterKeys } from './keys';
import { LeaderLease } from './lease';
import { Membership } from './membership';
import { connectRedis } from './redis-client';
import type { RedisConnections } from './redis-client';
import { GroupExecutor, LeaderRounds, untilLanded } from './rounds';
import type { LeaderRoundContext, LocalGroupHost, RoundTiming } from './rounds';
import type { DeviceRegistry } from '../registry';

export interface ClusterOptions {
  readonly redisUrl: string;
  /** Several clusters may share one Redis (key prefix). */
  readonly cluster: string;
  /** Stable node id (default: host name + random suffix). */
  readonly nodeId?: string;
  readonly heartbeatMs?: number;
  readonly heartbeatTtlMs?: number;
  readonly leaseTtlMs?: number;
  readonly log: (line: string) => void;
}

export interface ClusterRun {
  readonly runId: string;
  readonly params: RunParams;
  readonly joinToken: string;
  readonly createdAt: number;
}

const clusterRunSchema = z.object({ runId: z.string().min(1), params: runParamsSchema, joinToken: z.string().min(1), createdAt: z.number() });
const TERMINAL: readonly RunStatusName[] = ['finished', 'failed', 'stopped'];

export class ClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterError';
  }
}

/** What the node needs of the run session it serves. */
export interface ClusterSession {
  readonly runId: string;
  readonly registry: DeviceRegistry;
  readonly loop: RunLoop;
  redirect(deviceId: string, url: string, nodes: readonly string[], reason: string): boolean;
}

export class ClusterNode implements ClusterHooks {
  readonly nodeId: string;
  readonly keys: ClusterKeys;
  private membership: Membership | undefined;
  private lease: LeaderLease | undefined;
  private directory: DeviceDirectory | undefined;
  private executor: GroupExecutor | undefined;
  private leaderRounds: LeaderRounds | undefined;
  private session: ClusterSession | undefined;
  private clusterRun: ClusterRun | undefined;
  private count = 0;
  private remoteStatus: RunStatus | undefined;
  private lastCheckpoint: { round: number; accuracy: number | null; loss: number | null; bytes: Uint8Array } | undefined;
  private readonly changeListeners = new Set<() => void>();
  private readonly revokedListeners = new Set<(deviceId: string) => void>();
  private readonly knownRevoked = new Set<string>();
  private pollCount = 0;
  private closed = false;
  private poller: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  private leadWaiters: Array<(r: 'lead' | RunStatusName) => void> = [];
  private timing: RoundTiming = { memberWaitMs: 20_000, roundTimeoutMs: 120_000, rejoinGraceMs: 30_000 };
  private readonly log: (line: string) => void;

  private constructor(
    private readonly redis: RedisConnections,
    private readonly opts: ClusterOptions,
  ) {
    this.nodeId = opts.nodeId ?? `${hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 32)}-${randomBytes(3).toString('hex')}`;
    this.keys = new ClusterKeys(opts.cluster);
    this.log = (line) => opts.log(`[node ${this.nodeId}] ${line}`);
  }

  static async connect(opts: ClusterOptions): Promise<ClusterNode> {
    const redis = await connectRedis(opts.redisUrl, opts.log);
    return new ClusterNode(redis, opts);
  }

  get run(): ClusterRun {
    if (!this.clusterRun) throw new Error('claimRun first');
    return this.clusterRun;
  }

  get isLeader(): boolean {
    return this.lease?.isLeader ?? false;
  }

  /**
   * The cluster's run: the one in Redis, or this proposal if there is none yet (the first node
   * creates it). Later nodes adopt its parameters and join token; a node given another --token
   * is refused (its devices could not join the others).
   */
  async claimRun(proposal: ClusterRun, tokenGiven: boolean): Promise<ClusterRun> {
    await this.redis.cmd.set(this.keys.run, JSON.stringify(proposal), { NX: true });
    const raw = await this.redis.cmd.get(this.keys.run);
    if (raw === null) throw new ClusterError('the cluster run vanished from Redis while joining');
    const parsed = clusterRunSchema.safeParse(JSON.parse(raw));
    if (!parsed.success) throw new ClusterError(`cluster "${this.opts.cluster}": the run record in Redis does not parse (${parsed.error.issues[0]?.message ?? ''}); delete key ${this.keys.run} to start over`);
    const run = parsed.data;
    if (tokenGiven && run.joinToken !== proposal.joinToken) {
      throw new ClusterError(`cluster "${this.opts.cluster}" runs ${run.runId} with another join token: start this node without --token (it adopts the cluster's) or with the same one`);
    }
    if (run.runId !== proposal.runId) {
      const differs = Object.keys(proposal.params).filter((k) => JSON.stringify((proposal.params as Record<string, unknown>)[k]) !== JSON.stringify((run.params as Record<string, unknown>)[k]));
      if (differs.length > 0) this.log(`joining run ${run.runId}: its parameters win over this node's flags (${differs.join(', ')} differ)`);
    }
    this.clusterRun = run;
    // A restarted Redis is empty: write the run back (first writer wins, all hold the same record).
    this.redis.onReady(() => void this.redis.cmd.set(this.keys.run, JSON.stringify(run), { NX: true }).catch(() => {}));
    return run;
  }

  /** Cluster-wide revocations, key bindings and fleet slots of the run (one Lua script per hello). */
  admission(runId: string): ClusterAdmission {
    return new ClusterAdmission(this.redis, this.keys, runId);
  }

  /** Revokes a device on every node: later hellos anywhere are refused, and its sockets on other nodes are closed within a poll. */
  async revoke(deviceId: string): Promise<void> {
    this.knownRevoked.add(deviceId);
    await this.redis.cmd.sAdd(this.keys.revoked, deviceId);
  }

  /** Called with each device revoked on another node (this node closes its sockets). */
  onRevoked(listener: (deviceId: string) => void): void {
    this.revokedListeners.add(listener);
  }

  /** Socket.IO's sharded Redis adapter for the device namespace. */
  socketAdapter(): unknown {
    return createShardedAdapter(this.redis.pub, this.redis.sub, { channelPrefix: `${this.keys.prefix}socket.io` });
  }

  /**
   * The state the leader persists through: the node's own, with every completed round's
   * checkpoint also written to Redis for the next leader.
   */
  wrapState(state: CoordinatorState): CoordinatorState {
    return new Proxy(state, {
      get: (target, prop, receiver) => {
        if (prop === 'completeRound') {
          return (...args: Parameters<CoordinatorState['completeRound']>) => {
            target.completeRound(...args);
            const [round, metric, checkpoint] = args;
            this.lastCheckpoint = { round: round.round, accuracy: metric?.accuracy ?? null, loss: metric?.loss ?? null, bytes: checkpoint.bytes };
            void this.saveCheckpoint();
          };
        }
        const v: unknown = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  /** Starts heartbeats, the lease, the device directory and the group executor for this session. */
  async attach(session: ClusterSession, url: string, timing: RoundTiming, state: CoordinatorState): Promise<void> {
    this.session = session;
    this.timing = timing;
    const self = { id: this.nodeId, url, startedAt: Date.now() };
    this.membership = new Membership(this.redis, this.keys, self, { beatMs: this.opts.heartbeatMs ?? 1000, ttlMs: this.opts.heartbeatTtlMs ?? 10_000 }, this.log);
    await this.membership.start();
    this.directory = new DeviceDirectory(this.redis, this.keys, this.nodeId, this.log);
    this.directory.attach(session.runId, session.registry);
    this.executor = new GroupExecutor(this.redis, this.keys, this.membership, this.nodeId, timing, this.log);
    /** The socket id of a device joined and connected here. */
    const connectionOf = (id: string): string | undefined => {
      const d = session.registry.get(id);
      return d !== undefined && d.socketId !== null && d.report !== undefined ? d.socketId : undefined;
    };
    const host: LocalGroupHost = {
      runLocalGroup: (round, group, global, weightCap) => session.loop.runLocalGroup(round, group, global, weightCap),
      isHere: (id) => connectionOf(id) !== undefined,
      connectionOf,
      redirect: (id, to, nodes, reason) => session.redirect(id, to, nodes, reason),
    };
    this.executor.attach(session.runId, host);
    const renewMs = Math.max(200, Math.floor((this.opts.leaseTtlMs ?? 10_000) / 5));
    this.lease = new LeaderLease(this.redis, this.keys, this.nodeId, { renewMs, ttlMs: this.opts.leaseTtlMs ?? 10_000 }, this.log, (id) => this.membership?.recentlyLive(id) ?? false);
    this.lease.onAcquired(() => void this.becomeLeader(state));
    this.lease.onLost(() => {
      this.leaderRounds = undefined;
      // Another node may already run the rounds: this one must not persist a round of its own.
      session.loop.stop('interrupted');
    });
    this.redis.onReady(() => {
      // A restarted Redis is empty: every node writes back the revocations it knows.
      if (this.knownRevoked.size > 0) void this.redis.cmd.sAdd(this.keys.revoked, [...this.knownRevoked]).catch(() => {});
      if (this.isLeader) void this.saveCheckpoint();
      void this.lease?.tick();
    });
    this.poller = setInterval(() => void this.poll(), 250);
    this.poller.unref();
    await this.poll();
    this.lease.start();
  }

  /** Resolves 'lead' once this node holds the lease (state seeded), or with the run's end when another node finished it. */
  awaitLeadership(): Promise<'lead' | RunStatusName> {
    return new Promise((resolve) => this.leadWaiters.push(resolve));
  }

  // ---- ClusterHooks (the leader's run loop) ----------------------------------------------------

  joinedCount(): number {
    return this.count;
  }

  async planDevices(): Promise<readonly PlanDevice[]> {
    const m = this.requireMembership();
    return untilLanded(
      'reading the cluster\'s devices',
      async () => {
        await this.directory?.flush();
        return readClusterDevices(this.redis, this.keys, this.run.runId, (id) => m.isLive(id));
      },
      () => this.closed || !this.isLeader,
      this.log,
    );
  }

  runGlobalRound(input: GlobalRoundInput, ctx: LeaderRoundContext): Promise<GlobalRoundOutcome> {
    if (!this.leaderRounds) throw new ClusterError('this node is not the leader');
    return this.leaderRounds.run(input, ctx);
  }

  leaderStatus(): RunStatus | undefined {
    return this.isLeader ? undefined : this.remoteStatus;
  }

  onChange(listener: () => void): void {
    this.changeListeners.add(listener);
  }

  liveNodeUrls(): string[] {
    return (this.membership?.liveNodes() ?? []).map((n) => n.url);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poller);
    this.executor?.stop();
    this.directory?.stop();
    await this.lease?.stop();
    await this.membership?.stop();
    for (const w of this.leadWaiters) w('interrupted');
    this.leadWaiters = [];
    await this.redis.close();
  }

  // ----------------------------------------------------------------------------------------------

  private requireMembership(): Membership {
    if (!this.membership) throw new Error('attach first');
    return this.membership;
  }

  private async becomeLeader(state: CoordinatorState): Promise<void> {
    const runId = this.run.runId;
    try {
      const [rawMeta, bytes] = await Promise.all([this.redis.cmd.get(this.keys.checkpointMeta(runId)), this.redis.getBuffer(this.keys.checkpointBytes(runId))]);
      const local = state.latestCheckpoint(runId);
      if (rawMeta && bytes) {
        const meta = z.object({ round: z.number().int().nonnegative(), accuracy: z.number().nullable(), loss: z.number().nullable() }).parse(JSON.parse(rawMeta));
        if (!local || local.round < meta.round) {
          const now = Date.now();
          state.completeRound(
            { runId, round: meta.round, startedAt: now, finishedAt: now, plan: null, participants: [], bytesUp: 0, bytesDown: 0, timeline: [] },
            meta.accuracy === null || meta.loss === null ? null : { runId, round: meta.round, accuracy: meta.accuracy, loss: meta.loss, evaluatedAt: now },
            { runId, round: meta.round, bytes: new Uint8Array(bytes) },
          );
          this.log(`took over run ${runId} at its last completed round ${meta.round} (checkpoint from Redis)`);
        }
      }
    } catch (err) {
      this.log(`could not read the run's checkpoint from Redis: ${(err as Error).message}; resuming from this node's own state`);
    }
    this.leaderRounds = new LeaderRounds(this.redis, this.keys, this.requireMembership(), randomBytes(4).toString('hex'), runId, this.timing, this.log);
    const waiters = this.leadWaiters;
    this.leadWaiters = [];
    for (const w of waiters) w('lead');
  }

  /** Writes the last checkpoint to Redis, retrying until it lands (a newer checkpoint, the lease's loss or close() ends the tries). */
  private async saveCheckpoint(): Promise<void> {
    const cp = this.lastCheckpoint;
    if (!cp || !this.clusterRun) return;
    const runId = this.clusterRun.runId;
    const superseded = () => this.closed || !this.isLeader || this.lastCheckpoint !== cp;
    await untilLanded(
      `writing round ${cp.round}'s checkpoint`,
      () =>
        this.redis.cmd
          .multi()
          .set(this.keys.checkpointBytes(runId), Buffer.from(cp.bytes))
          .set(this.keys.checkpointMeta(runId), JSON.stringify({ round: cp.round, accuracy: cp.accuracy, loss: cp.loss }))
          .exec(),
      superseded,
      this.log,
    ).then(
      () => this.log(`round ${cp.round}: checkpoint written to Redis`),
      (err: unknown) => this.log(`round ${cp.round}'s checkpoint was not written to Redis: ${(err as Error).message}`),
    );
  }

  /** Every 250 ms: the cluster's device count, and the leader's status (written by the leader, read by the others). */
  private async poll(): Promise<void> {
    if (this.polling || !this.membership || !this.session) return;
    this.polling = true;
    try {
      const runId = this.run.runId;
      const count = await readClusterDeviceCount(this.redis, this.keys, runId, this.membership.liveNodes().map((n) => n.id));
      const statusKey = this.keys.status(runId);
      if (this.isLeader) {
        await this.redis.cmd.set(statusKey, JSON.stringify(this.session.loop.status()), { PX: 3_600_000 });
      } else {
        const raw = await this.redis.cmd.get(statusKey);
        if (raw) {
          const parsed = serverToDeviceSchemas.runStatus.safeParse(JSON.parse(raw));
          if (!parsed.success) throw new Error(`the leader's status in Redis does not parse: ${parsed.error.issues[0]?.message ?? ''}`);
          const status = parsed.data;
          this.remoteStatus = { ...status, devicesJoined: count };
          if (TERMINAL.includes(status.state as RunStatusName) && this.leadWaiters.length > 0) {
            const waiters = this.leadWaiters;
            this.leadWaiters = [];
            for (const w of waiters) w(status.state as RunStatusName);
          }
        }
      }
      if (++this.pollCount % 8 === 0) {
        for (const id of await this.redis.cmd.sMembers(this.keys.revoked)) {
          if (this.knownRevoked.has(id)) continue;
          this.knownRevoked.add(id);
          for (const l of this.revokedListeners) l(id);
        }
      }
      if (count !== this.count) {
        this.count = count;
        for (const l of this.changeListeners) l();
      }
    } catch (err) {
      this.log(`cluster poll failed: ${(err as Error).message}`);
    } finally {
      this.polling = false;
    }
  }
}
