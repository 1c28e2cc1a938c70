/**
 * Limits on the HTTP side a stranger can reach without any token: the upload-bandwidth probe is
 * rate-limited per client address, and the large downloads (model weights, wasm binaries) run at
 * most `maxConcurrent` at a time, with a bounded queue behind them; past it a request gets 503.
 */
import { TokenBucket } from '../connection-limits';

export class ConcurrencyGate {
  private running = 0;
  private readonly queue: Array<() => void> = [];

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueued: number,
  ) {}

  /** Runs `job` when a slot is free; undefined (job not run) when the queue is full. */
  async run<T>(job: () => Promise<T>): Promise<T | undefined> {
    if (this.running >= this.maxConcurrent) {
      if (this.queue.length >= this.maxQueued) return undefined;
      await new Promise<void>((resolve) => this.queue.push(resolve));
    } else {
      this.running += 1;
    }
    try {
      return await job();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.running -= 1;
    }
  }

  get active(): number {
    return this.running;
  }

  get waiting(): number {
    return this.queue.length;
  }
}

/** A token bucket per address; addresses whose bucket is full again are forgotten. */
export class PerAddressRate {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    readonly burst: number,
    readonly perMinute: number,
    private readonly maxAddresses = 100_000,
  ) {}

  take(address: string, now: number): boolean {
    let b = this.buckets.get(address);
    if (!b) {
      if (this.buckets.size >= this.maxAddresses) this.buckets.clear();
      b = new TokenBucket(this.burst, this.perMinute / 60, now);
      this.buckets.set(address, b);
    }
    return b.take(now);
  }
}

export const DOWNLOAD_CONCURRENCY = 16;
export const DOWNLOAD_QUEUE = 256;
/** A page probes its upload bandwidth once per join: 30 at once and 30 a minute leave room for reloads and many tabs on one host. */
export const PROBE_BURST = 30;
export const PROBE_PER_MINUTE = 30;
