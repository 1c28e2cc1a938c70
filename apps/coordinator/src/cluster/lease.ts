/**
 * The leader lease: a Redis key holding the leader's node id with a TTL (SET NX PX semantics, in
 * one script with the renewal). The holder renews it every `renewMs`; when it dies the key expires
 * and the next node to try takes it. A holder that cannot renew within the TTL (Redis unreachable)
 * stops acting as leader, because by then another node may hold the lease.
 *
 * After a Redis restart the key is gone: the old leader re-takes it on its first tick, while a
 * follower only tries once it has seen the key missing on two ticks in a row, and while the last
 * holder it saw still heartbeats, only once the key has been missing for a whole TTL — so a restart does not move the lease away from the node
 * that holds the run's latest state in memory (and rewrites the checkpoint a new leader would
 * resume from; a follower that took over an emptied Redis would find none and start at round 0).
 */
import type { ClusterKeys } from './keys';
import type { RedisConnections } from './redis-client';

const TAKE_OR_RENEW = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if (not v) and ARGV[3] == '1' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export interface LeaseOptions {
  readonly renewMs: number;
  readonly ttlMs: number;
}

export class LeaderLease {
  private held = false;
  private lastRenewed = 0;
  private missingTicks = 0;
  private missingSince: number | undefined;
  private lastHolder: string | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private busy = false;
  private readonly acquired = new Set<() => void>();
  private readonly lost = new Set<() => void>();

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: ClusterKeys,
    private readonly nodeId: string,
    private readonly opts: LeaseOptions,
    private readonly log: (line: string) => void,
    /** Whether a node still heartbeats (membership); a live last holder gets a TTL to re-take a vanished key. */
    private readonly holderAlive?: (nodeId: string) => boolean,
  ) {}

  get isLeader(): boolean {
    return this.held;
  }

  onAcquired(l: () => void): void {
    this.acquired.add(l);
  }

  onLost(l: () => void): void {
    this.lost.add(l);
  }

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.opts.renewMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (this.held) await this.redis.cmd.eval(RELEASE, { keys: [this.keys.leader], arguments: [this.nodeId] }).catch(() => {});
    this.held = false;
  }

  /** The current holder's id, or null. */
  async holder(): Promise<string | null> {
    return this.redis.cmd.get(this.keys.leader);
  }

  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    const now = Date.now();
    try {
      let mayTake = this.held;
      if (!this.held) {
        const current = await this.redis.cmd.get(this.keys.leader);
        if (current === null) {
          this.missingTicks++;
          this.missingSince ??= now;
        } else {
          this.missingTicks = 0;
          this.missingSince = undefined;
          this.lastHolder = current;
        }
        const holderAlive = this.lastHolder !== undefined && this.lastHolder !== this.nodeId && (this.holderAlive?.(this.lastHolder) ?? false);
        mayTake = this.missingTicks >= 2 && (!holderAlive || now - (this.missingSince ?? now) >= this.opts.ttlMs);
      }
      const ok = Number(await this.redis.cmd.eval(TAKE_OR_RENEW, { keys: [this.keys.leader], arguments: [this.nodeId, String(this.opts.ttlMs), mayTake ? '1' : '0'] })) === 1;
      if (ok) {
        this.lastRenewed = now;
        if (!this.held) {
          this.held = true;
          this.log(`cluster: this node (${this.nodeId}) is the leader`);
          for (const l of this.acquired) l();
        }
      } else if (this.held) this.lose('another node holds the lease');
    } catch (err) {
      if (this.held && Date.now() - this.lastRenewed > this.opts.ttlMs) this.lose(`could not renew it for ${this.opts.ttlMs} ms (${(err as Error).message})`);
    } finally {
      this.busy = false;
    }
  }

  private lose(why: string): void {
    this.held = false;
    this.log(`cluster: this node lost the leader lease: ${why}`);
    for (const l of this.lost) l();
  }
}
