/**
 * A global round over several nodes. The leader (LeaderRounds) stores the round's global adapter
 * once under a key, writes one job per group naming the group's owner (rendezvous hash over the
 * live nodes), and collects the owners' group results — the group's delta and weight, never the
 * members' deltas — then aggregates them block by block with the strategy, in plan order, exactly
 * as lora-core's runGlobalRound does on one node. A job whose owner dies is given to the next owner
 * (a new job id; the group runs again there from the same global adapter); a job that outlives its
 * bound counts as a group nobody reported in, so the run loop's report fraction decides whether the
 * round is kept or run again — never silently emptied.
 *
 * Every node (the leader too) runs a GroupExecutor: it runs the jobs it owns on its own run loop
 * (members must be connected to it: they are redirected here) and redirects the members of other
 * nodes' jobs that are connected to it. Jobs and results are polled from Redis (a few small reads
 * every 150-200 ms), so a lost notification or a Redis restart cannot lose a round: after a
 * restart the leader writes its jobs and the global adapter back. The jobs hash (one job per
 * group: 6,000 at 30,000 devices) is re-read and parsed only when the leader's version token
 * for it changed.
 */
import { randomUUID } from 'node:crypto';
import { applyDelta, decodeAdapter, encodeAdapter } from '../core';
import type { AdapterState, GlobalRoundInput, GlobalRoundOutcome, GroupOutcome, GroupPlan, GroupResult } from '../core';
import type { ClusterKeys } from './keys';
import type { Membership } from './membership';
import { rendezvousOwner } from './rendezvous';
import type { RedisConnections } from './redis-client';
import { asGroupPlan, groupJobSchema, groupResultMetaSchema, parseJson } from './jobs';
import type { GroupJob, GroupResultMeta } from './jobs';

const KEEP_MS = 6 * 3_600_000;
const POLL_MS = 150;
/** Reassignments of one group within one round before it counts as not reported. */
const MAX_REASSIGN = 5;
/** A device connected again to a node that is not its group's owner (a new connection) is redirected again after this long. */
const REDIRECT_AGAIN_MS = 3000;
/**
 * The connection that was told to move is told again only after this long: on a loaded machine
 * thousands of devices take more than REDIRECT_AGAIN_MS to reconnect, and telling a connection
 * that is already on its way made it start over (at 30,000 devices, 62,302 redirects for ~20,000 moves).
 */
const REDIRECT_SAME_CONNECTION_MS = 30_000;

export interface RoundTiming {
  /** How long an owner waits for a group's members to reach it before it starts without the missing ones. */
  readonly memberWaitMs: number;
  readonly roundTimeoutMs: number;
  readonly rejoinGraceMs: number;
}

export interface LeaderRoundContext {
  /** Own-data weight cap of the round (Infinity: none). */
  readonly weightCap: number;
  readonly traffic: { bytesUp: number; bytesDown: number };
  readonly stopped: () => boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/**
 * Runs `fn` until it succeeds: a Redis command in flight when the connection resets (a Redis
 * restart) fails with ECONNRESET or similar, and the client reconnects by itself, so the round
 * waits for it rather than failing. Gives up only when `stopped()` says so.
 */
export async function untilLanded<T>(what: string, fn: () => Promise<T>, stopped: () => boolean, log: (line: string) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (stopped()) throw err;
      if (attempt === 1 || attempt % 20 === 0) log(`cluster: ${what} failed (${(err as Error).message}); retrying until Redis answers`);
      await sleep(Math.min(1000, 100 * attempt));
    }
  }
}

export class LeaderRounds {
  private seq = 0;

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: ClusterKeys,
    private readonly membership: Membership,
    /** Random per lease term: a new leader's jobs never collide with a dead one's. */
    private readonly epoch: string,
    private readonly runId: string,
    private readonly timing: RoundTiming,
    private readonly log: (line: string) => void,
  ) {}

  async run(input: GlobalRoundInput, ctx: LeaderRoundContext): Promise<GlobalRoundOutcome> {
    const { round, plan, strategy, global } = input;
    const { cmd } = this.redis;
    const attempt = ++this.seq;
    const globalKey = this.keys.global(this.runId, round);
    const globalBytes = Buffer.from(encodeAdapter(global));
    const retry = <T>(what: string, fn: () => Promise<T>) => untilLanded(`round ${round}: ${what}`, fn, ctx.stopped, this.log);
    await retry('storing the global adapter', () => cmd.set(globalKey, globalBytes, { PX: KEEP_MS }));
    const jobs = new Map<string, GroupJob>();
    const reassigned = new Map<string, number>();
    const deadline = new Map<string, number>();
    const bound = (g: GroupPlan) => this.timing.memberWaitMs + g.intraRounds * (this.timing.roundTimeoutMs + this.timing.rejoinGraceMs) + 10_000;
    const assign = (g: GroupPlan, n: number): GroupJob | undefined => {
      const owner = rendezvousOwner(g.groupId, this.membership.liveNodes().map((x) => x.id));
      if (!owner) return undefined;
      deadline.set(g.groupId, Date.now() + bound(g));
      return {
        jobId: `${this.epoch}.${round}.${attempt}.${g.groupId}.${n}`,
        runId: this.runId,
        round,
        group: { ...g, deviceIds: [...g.deviceIds] },
        owner,
        weightCap: Number.isFinite(ctx.weightCap) ? ctx.weightCap : null,
        globalKey,
      };
    };
    for (const g of plan.groups) {
      const job = assign(g, 0);
      if (job) jobs.set(g.groupId, job);
    }
    const writeJobs = async () => {
      const fields: Record<string, string> = {};
      for (const [id, j] of jobs) fields[id] = JSON.stringify(j);
      const m = cmd.multi().del(this.keys.jobs(this.runId));
      if (jobs.size > 0) m.hSet(this.keys.jobs(this.runId), fields);
      m.set(this.keys.jobsVersion(this.runId), randomUUID(), { PX: KEEP_MS });
      await m.exec();
    };
    await retry('writing the jobs', writeJobs);
    this.log(`round ${round}: ${[...jobs.values()].map((j) => `group ${j.group.groupId} → node ${j.owner}`).join(', ')}`);

    const outcomes = new Map<string, GroupOutcome>();
    const byId = new Map(plan.groups.map((g) => [g.groupId, g]));
    const empty = (g: GroupPlan): GroupOutcome => ({ plan: g, contributors: Array.from({ length: g.intraRounds }, () => []) });
    for (const g of plan.groups) if (!jobs.has(g.groupId)) outcomes.set(g.groupId, empty(g));
    try {
      while (outcomes.size < plan.groups.length && !ctx.stopped()) {
        await sleep(POLL_MS);
        const pending = [...jobs.values()].filter((j) => !outcomes.has(j.group.groupId));
        let metas: (string | null)[];
        try {
          metas = await cmd.mGet(pending.map((j) => this.keys.resultMeta(this.runId, j.jobId)));
        } catch (err) {
          // Redis is restarting: poll again once it answers (its lost jobs are written back below).
          this.log(`round ${round}: reading group results failed (${(err as Error).message}); polling again`);
          await sleep(500);
          continue;
        }
        let rewrite = false;
        for (const [i, job] of pending.entries()) {
          const g = byId.get(job.group.groupId)!;
          const raw = metas[i];
          if (raw) {
            const meta = parseJson(groupResultMetaSchema, raw, `result of ${job.jobId}`);
            const outcome = await retry(`reading the result of ${job.jobId}`, () => this.readOutcome(g, job, meta));
            outcomes.set(g.groupId, outcome);
            ctx.traffic.bytesUp += meta.bytesUp;
            ctx.traffic.bytesDown += meta.bytesDown;
            meta.contributors.forEach((c, k) => input.onGroupAggregated?.({ groupId: g.groupId, intraRound: k, contributors: c.length, planned: g.deviceIds.length }));
          } else if (!this.membership.isLive(job.owner)) {
            const n = (reassigned.get(g.groupId) ?? 0) + 1;
            reassigned.set(g.groupId, n);
            const next = n <= MAX_REASSIGN ? assign(g, n) : undefined;
            if (next) {
              this.log(`round ${round}: node ${job.owner} is gone; group ${g.groupId} moves to node ${next.owner} and runs again there`);
              jobs.set(g.groupId, next);
              rewrite = true;
            } else {
              this.log(`round ${round}: group ${g.groupId} has no live owner left; it counts as not reported`);
              outcomes.set(g.groupId, empty(g));
            }
          } else if (Date.now() > (deadline.get(g.groupId) ?? Infinity)) {
            this.log(`round ${round}: no result for group ${g.groupId} from node ${job.owner} within ${bound(g)} ms; it counts as not reported`);
            outcomes.set(g.groupId, empty(g));
          }
        }
        // A restarted Redis has lost the jobs and/or the global adapter: write them back. Both are
        // checked: a SET issued just before the restart is lost while the jobs' write, queued in
        // the client while it reconnected, lands afterwards.
        const [jobsThere, globalThere] = await retry('checking the jobs', () => Promise.all([cmd.exists(this.keys.jobs(this.runId)), cmd.exists(globalKey)]));
        if (globalThere === 0) await retry('storing the global adapter again', () => cmd.set(globalKey, globalBytes, { PX: KEEP_MS }));
        if (rewrite || jobsThere === 0) await retry('writing the jobs again', writeJobs);
      }
    } finally {
      await cmd.del([this.keys.jobs(this.runId), this.keys.jobsVersion(this.runId)]).catch(() => {});
    }
    const groups = plan.groups.map((g) => outcomes.get(g.groupId) ?? empty(g));
    const results = groups.flatMap((g) => (g.result === undefined ? [] : [g.result]));
    if (results.length === 0) return { global, delta: new Map(), groups };
    const delta = strategy.aggregateGlobal(results, global);
    return { global: applyDelta(global, delta), delta, groups };
  }

  private async readOutcome(g: GroupPlan, job: GroupJob, meta: GroupResultMeta): Promise<GroupOutcome> {
    if (meta.numSamples === undefined) return { plan: g, contributors: meta.contributors };
    const bytes = await this.redis.getBuffer(this.keys.resultDelta(this.runId, job.jobId));
    if (!bytes) throw new Error(`group ${g.groupId}: result ${job.jobId} has no delta in Redis`);
    const delta = decodeAdapter(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { copy: true });
    const result: GroupResult = { groupId: g.groupId, numSamples: meta.numSamples, delta, ...(meta.steps === undefined ? {} : { steps: meta.steps }) };
    return { plan: g, contributors: meta.contributors, result };
  }
}

/** What an executor needs from its node's run loop, registry and gateway. */
export interface LocalGroupHost {
  runLocalGroup(round: number, group: GroupPlan, global: AdapterState, weightCap: number): Promise<{ outcome: GroupOutcome; traffic: { bytesUp: number; bytesDown: number } }>;
  /** Joined and connected to this node. */
  isHere(deviceId: string): boolean;
  /** The connection (socket id) of a device joined and connected here, else undefined. */
  connectionOf(deviceId: string): string | undefined;
  /** Sends the device to another node; false when it has no socket here. */
  redirect(deviceId: string, url: string, nodes: readonly string[], reason: string): boolean;
}

export class GroupExecutor {
  private timer: ReturnType<typeof setInterval> | undefined;
  private busy = false;
  private readonly started = new Set<string>();
  /** deviceId -> when it was last redirected, and on which connection (a device that lands here again is sent on again, not at once). */
  private readonly redirected = new Map<string, { readonly at: number; readonly connection: string }>();
  private readonly globals = new Map<string, AdapterState>();
  /** Results this node wrote, kept while their job is listed: a restarted Redis lost them, so they are written back. */
  private readonly written = new Map<string, { meta: string; delta: Buffer | undefined }>();
  private host: LocalGroupHost | undefined;
  private runId: string | undefined;
  /** The jobs as last read, by field, with the leader's version token of that read (null: none, so read again). */
  private jobsRead: { version: string | null; byField: Map<string, { raw: string; job: GroupJob | undefined }> } = { version: null, byField: new Map() };

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: ClusterKeys,
    private readonly membership: Membership,
    private readonly nodeId: string,
    private readonly timing: RoundTiming,
    private readonly log: (line: string) => void,
  ) {}

  attach(runId: string, host: LocalGroupHost): void {
    this.redis.onReady(() => void this.writeBack());
    this.runId = runId;
    this.host = host;
    this.jobsRead = { version: null, byField: new Map() };
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.tick(), 200);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    const host = this.host;
    const runId = this.runId;
    if (this.busy || !host || !runId) return;
    this.busy = true;
    try {
      const jobs = await this.readJobs(runId);
      const live = new Set(jobs.map((j) => j.jobId));
      for (const id of this.started) if (!live.has(id)) this.started.delete(id);
      // The leader deletes the jobs hash once the round is done; an empty read right after a
      // restart is not that, so results are dropped only when other jobs are listed.
      if (jobs.length > 0) for (const id of this.written.keys()) if (!live.has(id)) this.written.delete(id);
      const nodes = this.membership.liveNodes().map((n) => n.url);
      for (const job of jobs) {
        if (job.owner === this.nodeId) {
          if (!this.started.has(job.jobId)) {
            this.started.add(job.jobId);
            void this.execute(host, runId, job).catch((err: unknown) => {
              // E.g. Redis went away mid-job: the job is tried again while it is still listed (the
              // leader rewrites lost jobs); its members train again rather than the group going missing.
              this.started.delete(job.jobId);
              this.log(`cluster: job ${job.jobId} failed (it will be tried again): ${(err as Error).stack ?? String(err)}`);
            });
          }
          continue;
        }
        const url = this.membership.urlOf(job.owner);
        if (!url) continue;
        const now = Date.now();
        for (const deviceId of job.group.deviceIds) {
          const connection = host.connectionOf(deviceId);
          if (connection === undefined) continue;
          const last = this.redirected.get(deviceId);
          if (last && now - last.at < (last.connection === connection ? REDIRECT_SAME_CONNECTION_MS : REDIRECT_AGAIN_MS)) continue;
          if (host.redirect(deviceId, url, nodes, `group ${job.group.groupId} of round ${job.round} runs on node ${job.owner}`)) this.redirected.set(deviceId, { at: now, connection });
        }
      }
      if (jobs.length === 0) this.redirected.clear();
    } catch (err) {
      this.log(`cluster: reading jobs failed: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  /** The round's jobs: the last read while the leader's version token is unchanged, else read again (parsing only changed fields). */
  private async readJobs(runId: string): Promise<GroupJob[]> {
    const version = await this.redis.cmd.get(this.keys.jobsVersion(runId));
    const last = this.jobsRead;
    if (version === null || version !== last.version) {
      const raw = await this.redis.cmd.hGetAll(this.keys.jobs(runId));
      const byField = new Map<string, { raw: string; job: GroupJob | undefined }>();
      for (const [field, v] of Object.entries(raw)) {
        const seen = last.byField.get(field);
        if (seen?.raw === v) {
          byField.set(field, seen);
          continue;
        }
        let job: GroupJob | undefined;
        try {
          job = parseJson(groupJobSchema, v, `job for group ${field}`);
        } catch (err) {
          this.log(`cluster: ignoring ${(err as Error).message}`);
        }
        byField.set(field, { raw: v, job });
      }
      this.jobsRead = { version, byField };
    }
    const jobs: GroupJob[] = [];
    for (const { job } of this.jobsRead.byField.values()) if (job?.runId === runId) jobs.push(job);
    return jobs;
  }

  private async execute(host: LocalGroupHost, runId: string, job: GroupJob): Promise<void> {
    let global: AdapterState;
    try {
      global = await this.globalOf(job.globalKey);
    } catch (err) {
      // Nothing ran yet: the next tick tries the job again (the leader writes a lost adapter back).
      this.started.delete(job.jobId);
      throw err;
    }
    const group = asGroupPlan(job.group);
    // Members redirected here need a moment to reconnect and join: wait for them while they keep
    // arriving (each arrival extends the wait by memberWaitMs, three times that at most).
    const hardStop = Date.now() + 3 * this.timing.memberWaitMs;
    let until = Date.now() + this.timing.memberWaitMs;
    let arrived = -1;
    for (;;) {
      const n = group.deviceIds.filter((id) => host.isHere(id)).length;
      if (n === group.deviceIds.length || !this.started.has(job.jobId)) break;
      if (n > arrived) {
        arrived = n;
        until = Math.min(hardStop, Date.now() + this.timing.memberWaitMs);
      }
      if (Date.now() >= until) break;
      await sleep(100);
    }
    if (!this.started.has(job.jobId)) return;
    const here = group.deviceIds.filter((id) => host.isHere(id)).length;
    this.log(`round ${job.round}: running group ${group.groupId} here (${here}/${group.deviceIds.length} members connected)`);
    const { outcome, traffic } = await host.runLocalGroup(job.round, group, global, job.weightCap ?? Number.POSITIVE_INFINITY);
    const meta: GroupResultMeta = {
      jobId: job.jobId,
      groupId: group.groupId,
      node: this.nodeId,
      contributors: outcome.contributors.map((c) => [...c]),
      ...(outcome.result ? { numSamples: outcome.result.numSamples, ...(outcome.result.steps === undefined ? {} : { steps: outcome.result.steps }) } : {}),
      bytesUp: traffic.bytesUp,
      bytesDown: traffic.bytesDown,
    };
    const deltaBytes = outcome.result ? Buffer.from(encodeAdapter(outcome.result.delta)) : undefined;
    const record = { meta: JSON.stringify(meta), delta: deltaBytes };
    this.written.set(job.jobId, record);
    // A result already computed is not thrown away when Redis blips: its write is retried until it
    // lands (or the job is no longer listed), and written back after a reconnect (writeBack).
    await untilLanded(`writing the result of job ${job.jobId}`, () => this.writeResult(runId, job.jobId, record), () => !this.written.has(job.jobId), this.log);
  }

  private async writeResult(runId: string, jobId: string, r: { meta: string; delta: Buffer | undefined }): Promise<void> {
    const m = this.redis.cmd.multi();
    // The delta first, then the meta that says it is there (one MULTI: both or neither).
    if (r.delta) m.set(this.keys.resultDelta(runId, jobId), r.delta, { PX: KEEP_MS });
    m.set(this.keys.resultMeta(runId, jobId), r.meta, { PX: KEEP_MS });
    await m.exec();
  }

  private async writeBack(): Promise<void> {
    const runId = this.runId;
    if (!runId) return;
    for (const [jobId, r] of this.written) {
      await untilLanded(`writing back the result of job ${jobId}`, () => this.writeResult(runId, jobId, r), () => !this.written.has(jobId), this.log).catch(() => {});
      this.log(`cluster: wrote the result of job ${jobId} back after a Redis reconnect`);
    }
  }

  private async globalOf(key: string): Promise<AdapterState> {
    const cached = this.globals.get(key);
    if (cached) return cached;
    for (let i = 0; ; i++) {
      const bytes = await this.redis.getBuffer(key);
      if (bytes) {
        const adapter = decodeAdapter(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { copy: true });
        this.globals.clear();
        this.globals.set(key, adapter);
        return adapter;
      }
      if (i >= 50) throw new Error(`global adapter ${key} is not in Redis`);
      await sleep(200);
    }
  }
}
