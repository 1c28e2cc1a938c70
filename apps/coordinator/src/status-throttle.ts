/**
 * Coalesces the run status broadcast to every device socket. Each broadcast costs one write per
 * connected socket, and a joining fleet changes the status on every hello, join and disconnect, so
 * unthrottled a fleet of n joining devices costs O(n²) writes. A status whose run state or round
 * differs from the last one sent goes out at once (devices act on those); otherwise at most one per
 * `minIntervalMs` goes out, always the latest, so nothing is lost but intermediate counts. A status
 * equal to the last one sent is not sent again (a round pushes one per group aggregation, most of
 * them unchanged), and while a round runs, count updates are spaced further apart: devices are
 * busy with their work then, and each broadcast costs a write per socket.
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
  /** While the run state is 'running': ms per socket of the audience between two broadcasts (default 0.5: 5 s at 10,000). */
  readonly runningMsPerSocket?: number;
  /**
   * Count updates are spaced at least this many times the last broadcast's own duration apart
   * (default 20: broadcasts take at most ~5 % of the event loop). The per-socket intervals assume
   * a cost per socket; on a loaded machine a broadcast to 10,000 sockets took 400 ms, which at one
   * per second held the loop a third of the time while a fleet joined.
   */
  readonly costFactor?: number;
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
  private readonly runningMsPerSocket: number;
  private readonly costFactor: number;
  /** How long the last broadcast took (ms). */
  private lastCostMs = 0;

  constructor(
    /** `milestone`: the run state, round or run changed (a count-only update otherwise). */
    private readonly send: (status: RunStatus, milestone: boolean) => void,
    opts: StatusThrottleOptions = {},
  ) {
    this.minIntervalMs = opts.minIntervalMs ?? 250;
    this.now = opts.now ?? Date.now;
    this.audience = opts.audience ?? (() => 0);
    this.runningMsPerSocket = opts.runningMsPerSocket ?? 0.5;
    this.costFactor = opts.costFactor ?? 20;
  }

  private interval(state: RunStatus['state']): number {
    const perSocket = state === 'running' ? this.runningMsPerSocket : 0.1;
    return Math.max(this.minIntervalMs, perSocket * this.audience(), this.costFactor * this.lastCostMs);
  }

  push(status: RunStatus): void {
    if (this.last !== undefined && sameStatus(this.last, status)) {
      // Nothing new: a change waiting to go out was undone, so it need not go out either.
      this.pending = undefined;
      return;
    }
    const milestone = this.last === undefined || this.last.state !== status.state || this.last.round !== status.round || this.last.runId !== status.runId;
    const interval = this.interval(status.state);
    if (milestone || this.now() - this.lastAt >= interval) {
      this.flushNow(status, milestone);
      return;
    }
    this.pending = status;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      if (this.pending) this.flushNow(this.pending, false);
    }, Math.max(0, this.lastAt + interval - this.now()));
    this.timer.unref?.();
  }

  /** Drops a pending broadcast (the gateway is retired). */
  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private flushNow(status: RunStatus, milestone: boolean): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
    this.last = status;
    const t0 = this.now();
    this.send(status, milestone);
    this.lastAt = this.now();
    this.lastCostMs = this.lastAt - t0;
  }
}

function sameStatus(a: RunStatus, b: RunStatus): boolean {
  const keys = Object.keys(a) as Array<keyof RunStatus>;
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
