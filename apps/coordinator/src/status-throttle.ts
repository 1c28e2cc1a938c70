/**
 * Coalesces the run status broadcast to every device socket. Each broadcast costs one write per
 * connected socket, and a joining fleet changes the status on every hello, join and disconnect, so
 * unthrottled a fleet of n joining devices costs O(n²) writes. A status whose run state or round
 * differs from the last one sent goes out at once (devices act on those); otherwise at most one per
 * `minIntervalMs` goes out, always the latest, so nothing is lost but intermediate counts.
 */
import type { RunStatus } from './core';

export interface StatusThrottleOptions {
  /** Least time between two broadcasts of the same state and round (default 250 ms). */
  readonly minIntervalMs?: number;
  /**
   * Sockets the broadcast goes to; the interval grows with them (0.1 ms per socket beyond 2,500:
   * 1 s at 10,000), so count updates cost a bounded number of writes per second at any fleet size.
   */
  readonly audience?: () => number;
  readonly now?: () => number;
}

export class StatusThrottle {
  private last: RunStatus | undefined;
  private lastAt = Number.NEGATIVE_INFINITY;
  private pending: RunStatus | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly minIntervalMs: number;
  private readonly now: () => number;
  private readonly audience: () => number;

  constructor(
    private readonly send: (status: RunStatus) => void,
    opts: StatusThrottleOptions = {},
  ) {
    this.minIntervalMs = opts.minIntervalMs ?? 250;
    this.now = opts.now ?? Date.now;
    this.audience = opts.audience ?? (() => 0);
  }

  private interval(): number {
    return Math.max(this.minIntervalMs, 0.1 * this.audience());
  }

  push(status: RunStatus): void {
    const milestone = this.last === undefined || this.last.state !== status.state || this.last.round !== status.round || this.last.runId !== status.runId;
    const interval = this.interval();
    if (milestone || this.now() - this.lastAt >= interval) {
      this.flushNow(status);
      return;
    }
    this.pending = status;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      if (this.pending) this.flushNow(this.pending);
    }, Math.max(0, this.lastAt + interval - this.now()));
    this.timer.unref?.();
  }

  /** Drops a pending broadcast (the gateway is retired). */
  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private flushNow(status: RunStatus): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
    this.last = status;
    this.lastAt = this.now();
    this.send(status);
  }
}
