/**
 * Node liveness: each node keeps a heartbeat key with a TTL (renewed every `beatMs`); a node whose
 * key expired is dead. The live set is read from Redis on every tick and cached; every node acts on
 * the same Redis view, so group ownership (rendezvous.ts) agrees across nodes.
 */
import { z } from 'zod';
import type { ClusterKeys } from './keys';
import type { RedisConnections } from './redis-client';

export interface NodeInfo {
  readonly id: string;
  /** Where devices reach this node (its Socket.IO origin). */
  readonly url: string;
  readonly startedAt: number;
}

const nodeInfoSchema = z.object({ id: z.string().min(1), url: z.string().min(1), startedAt: z.number() });

export interface MembershipOptions {
  readonly beatMs: number;
  /** Heartbeat TTL: how long a killed node still counts as live. */
  readonly ttlMs: number;
}

export class Membership {
  private live: NodeInfo[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private busy = false;
  private readonly lastLive = new Map<string, number>();
  private readonly listeners = new Set<(live: readonly NodeInfo[]) => void>();

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: ClusterKeys,
    readonly self: NodeInfo,
    private readonly opts: MembershipOptions,
    private readonly log: (line: string) => void,
  ) {}

  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.opts.beatMs);
    this.timer.unref();
  }

  /** Live nodes, sorted by id (the last tick's view; always includes this node while it runs). */
  liveNodes(): readonly NodeInfo[] {
    return this.live;
  }

  isLive(nodeId: string): boolean {
    return this.live.some((n) => n.id === nodeId);
  }

  /** Live now, or seen live within the last three beats (a restarted Redis lacks heartbeats until each node beats again). */
  recentlyLive(nodeId: string): boolean {
    return this.isLive(nodeId) || Date.now() - (this.lastLive.get(nodeId) ?? -Infinity) < 3 * this.opts.beatMs;
  }

  urlOf(nodeId: string): string | undefined {
    return this.live.find((n) => n.id === nodeId)?.url;
  }

  onChange(listener: (live: readonly NodeInfo[]) => void): void {
    this.listeners.add(listener);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    // A clean shutdown leaves at once instead of after the TTL.
    await this.redis.cmd.del(this.keys.node(this.self.id)).catch(() => {});
  }

  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const { cmd } = this.redis;
      await cmd.multi().set(this.keys.node(this.self.id), JSON.stringify(this.self), { PX: this.opts.ttlMs }).sAdd(this.keys.nodes, this.self.id).exec();
      const ids = (await cmd.sMembers(this.keys.nodes)).sort();
      const values = ids.length === 0 ? [] : await cmd.mGet(ids.map((id) => this.keys.node(id)));
      const live: NodeInfo[] = [];
      const dead: string[] = [];
      values.forEach((v, i) => {
        const parsed = v === null ? undefined : nodeInfoSchema.safeParse(JSON.parse(v));
        if (parsed?.success) live.push(parsed.data);
        else dead.push(ids[i]!);
      });
      if (dead.length > 0) await cmd.sRem(this.keys.nodes, dead);
      const changed = live.map((n) => n.id).join(',') !== this.live.map((n) => n.id).join(',');
      if (changed) this.log(`cluster: live nodes ${live.map((n) => `${n.id} (${n.url})`).join(', ')}`);
      this.live = live;
      for (const n of live) this.lastLive.set(n.id, Date.now());
      if (changed) for (const l of this.listeners) l(live);
    } catch (err) {
      this.log(`cluster: heartbeat failed: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }
}
