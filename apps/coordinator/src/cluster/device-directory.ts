/**
 * The cluster's view of its devices. Each node publishes its own joined, connected devices (what
 * the planner needs: histogram, profile, sample count, paused, data mode) into one Redis hash,
 * field deviceId -> "<nodeId>|<JSON>", plus its device count; the leader reads the hash when it
 * plans and sums the live nodes' counts while it waits for devices.
 *
 * A node writes only the changes since its last write (debounced after registry changes), rewrites
 * everything after Redis reconnects (a restarted Redis is empty), and removes a device only while
 * the entry still names this node (the device may already have joined another node). Between the
 * full comparisons (every 2 s, after a reconnect or a failed write) only the devices the registry
 * reported changed are looked at: comparing all of a node's devices every 100 ms while thousands
 * churned cost a node 11–13 s of a 250 s run at 30,000 devices.
 */
import { z } from 'zod';
import type { DataMode, DeviceInfo } from '../core';
import type { DeviceRegistry, LiveDevice } from '../registry';
import { toDeviceInfo } from '../registry';
import type { ClusterKeys } from './keys';
import type { RedisConnections } from './redis-client';

/** A device as the leader's planner sees it. */
export interface ClusterDevice {
  readonly nodeId: string;
  readonly info: DeviceInfo;
  readonly dataMode: DataMode;
  readonly paused: boolean;
}

const entrySchema = z.object({
  info: z.object({
    id: z.string(),
    numSamples: z.number(),
    labelHistogram: z.array(z.number()),
    profile: z.object({ msPerStep: z.array(z.number()), uploadBytesPerSec: z.number(), memoryBytes: z.number() }).passthrough(),
  }),
  dataMode: z.enum(['fleet', 'own']),
  paused: z.boolean(),
});

const DELETE_IF_MINE = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, string.len(ARGV[2])) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`;

export class DeviceDirectory {
  private written = new Map<string, string>();
  /**
   * Each joined device's entry, serialized once per join report (a rejoin brings a new report
   * object) and pause state: a write used to sort and stringify every device, every 100 ms while
   * a fleet joined (O(n) per join: 10,000 devices per node joined at 39/s).
   */
  private entries = new WeakMap<object, { readonly paused: boolean; readonly dataMode: DataMode; readonly value: string }>();
  /** Entries serialized so far (tests: only changed devices are). */
  serialized = 0;
  /** Devices looked at by writes so far (tests: between full comparisons only the changed ones are). */
  compared = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private periodic: ReturnType<typeof setInterval> | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private registry: DeviceRegistry | undefined;
  private runId: string | undefined;
  /** Devices changed since the last write; `full`: compare every device instead. */
  private dirty = new Set<string>();
  private full = true;

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: ClusterKeys,
    private readonly nodeId: string,
    private readonly log: (line: string) => void,
  ) {
    redis.onReady(() => {
      this.written = new Map();
      this.full = true;
      this.schedule();
    });
  }

  /** Publishes this registry's devices from now on (a new run's registry replaces the old one). */
  attach(runId: string, registry: DeviceRegistry): void {
    this.runId = runId;
    this.registry = registry;
    this.written = new Map();
    this.full = true;
    registry.onChange((ids) => {
      if (registry !== this.registry) return;
      if (ids.length === 0) this.full = true;
      for (const id of ids) this.dirty.add(id);
      this.schedule();
    });
    clearInterval(this.periodic);
    // A safety net against lost writes: a full comparison every 2 s.
    this.periodic = setInterval(() => {
      this.full = true;
      this.schedule();
    }, 2000);
    this.periodic.unref();
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    clearInterval(this.periodic);
  }

  /** Writes pending changes now (tests, shutdown). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.sync();
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sync();
    }, 100);
    this.timer.unref();
  }

  private async sync(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.write().catch((err: unknown) => {
      this.full = true;
      this.log(`cluster: device directory write failed: ${(err as Error).message}`);
    });
    await this.running;
    this.running = undefined;
    if (this.again) {
      this.again = false;
      this.schedule();
    }
  }

  private async write(): Promise<void> {
    const registry = this.registry;
    const runId = this.runId;
    if (!registry || !runId) return;
    const full = this.full;
    const ids = full ? undefined : [...this.dirty];
    this.full = false;
    this.dirty.clear();
    const changed: Record<string, string> = {};
    let nChanged = 0;
    let added = 0;
    const gone: string[] = [];
    let next: Map<string, string> | undefined;
    if (ids === undefined) {
      next = new Map<string, string>();
      for (const d of registry.list()) {
        const v = this.entryOf(d);
        if (v !== undefined) next.set(d.deviceId, v);
      }
      for (const [id, v] of next) {
        if (this.written.get(id) !== v) {
          changed[id] = v;
          nChanged += 1;
        }
      }
      for (const id of this.written.keys()) if (!next.has(id)) gone.push(id);
    } else {
      for (const id of ids) {
        const d = registry.get(id);
        const v = d === undefined ? undefined : this.entryOf(d);
        const was = this.written.get(id);
        if (v === undefined) {
          if (was !== undefined) gone.push(id);
        } else if (was !== v) {
          changed[id] = v;
          nChanged += 1;
          if (was === undefined) added += 1;
        }
      }
      if (nChanged === 0 && gone.length === 0) return;
    }
    const count = next?.size ?? this.written.size + added - gone.length;
    const key = this.keys.devices(runId);
    const multi = this.redis.cmd.multi();
    if (nChanged > 0) multi.hSet(key, changed);
    for (const id of gone) multi.eval(DELETE_IF_MINE, { keys: [key], arguments: [id, `${this.nodeId}|`] });
    multi.set(this.keys.deviceCount(runId, this.nodeId), String(count), { PX: 3_600_000 });
    await multi.exec();
    if (next !== undefined) {
      this.written = next;
      return;
    }
    for (const [id, v] of Object.entries(changed)) this.written.set(id, v);
    for (const id of gone) this.written.delete(id);
  }

  /** The directory value of a joined, connected device (serialized once per join report and pause state), else undefined. */
  private entryOf(d: LiveDevice): string | undefined {
    this.compared += 1;
    if (d.socketId === null || d.report === undefined) return undefined;
    const paused = d.paused !== undefined;
    let entry = this.entries.get(d.report);
    if (entry === undefined || entry.paused !== paused || entry.dataMode !== d.dataMode) {
      entry = { paused, dataMode: d.dataMode, value: `${this.nodeId}|${JSON.stringify({ info: toDeviceInfo(d), dataMode: d.dataMode, paused })}` };
      this.entries.set(d.report, entry);
      this.serialized += 1;
    }
    return entry.value;
  }
}

/** The leader's read of every live node's devices (a device listed by two nodes counts once: the live one seen last wins). */
export async function readClusterDevices(redis: RedisConnections, keys: ClusterKeys, runId: string, isLive: (nodeId: string) => boolean): Promise<ClusterDevice[]> {
  const all = await redis.cmd.hGetAll(keys.devices(runId));
  const out: ClusterDevice[] = [];
  for (const [id, v] of Object.entries(all)) {
    const bar = v.indexOf('|');
    const nodeId = v.slice(0, bar);
    if (bar < 0 || !isLive(nodeId)) continue;
    const parsed = entrySchema.safeParse(JSON.parse(v.slice(bar + 1)));
    if (!parsed.success || parsed.data.info.id !== id) continue;
    out.push({ nodeId, info: parsed.data.info as DeviceInfo, dataMode: parsed.data.dataMode, paused: parsed.data.paused });
  }
  return out.sort((a, b) => (a.info.id < b.info.id ? -1 : a.info.id > b.info.id ? 1 : 0));
}

/** Joined connected devices over the live nodes (each node's own count). */
export async function readClusterDeviceCount(redis: RedisConnections, keys: ClusterKeys, runId: string, nodeIds: readonly string[]): Promise<number> {
  if (nodeIds.length === 0) return 0;
  const counts = await redis.cmd.mGet(nodeIds.map((id) => keys.deviceCount(runId, id)));
  return counts.reduce((n, c) => n + (c === null ? 0 : Number(c) || 0), 0);
}
