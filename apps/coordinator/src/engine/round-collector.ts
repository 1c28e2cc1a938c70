/**
 * Collects the uploads of one intra-group round from an explicit member list. Membership is fixed
 * when the round starts (DISCO #1221: implicit membership broke rounds when clients left): a member
 * that leaves is dropped and no longer awaited; nobody is added mid-round. `done` resolves when
 * every member has either uploaded or been dropped, or when the deadline passes.
 */
import type { ClientUpdate } from '../core';

export type CollectorOutcome = 'complete' | 'deadline';

export interface CollectedRound {
  readonly updates: ClientUpdate[];
  readonly outcome: CollectorOutcome;
  /** Members that neither uploaded nor left before the deadline. */
  readonly missing: string[];
  readonly dropped: string[];
}

export class RoundCollector {
  private readonly waiting: Set<string>;
  private readonly updates: ClientUpdate[] = [];
  private readonly dropped: string[] = [];
  private settled = false;
  private resolveDone!: (r: CollectedRound) => void;
  private timer: ReturnType<typeof setTimeout> | undefined;
  readonly done: Promise<CollectedRound>;

  constructor(members: Iterable<string>, deadlineMs?: number) {
    this.waiting = new Set(members);
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    if (deadlineMs !== undefined) {
      this.timer = setTimeout(() => this.finish('deadline'), deadlineMs);
      this.timer.unref?.();
    }
    this.checkComplete();
  }

  isAwaiting(deviceId: string): boolean {
    return !this.settled && this.waiting.has(deviceId);
  }

  /** Returns false when the device is not awaited (not a member, already uploaded or dropped, round over). */
  accept(update: ClientUpdate): boolean {
    if (!this.isAwaiting(update.deviceId)) return false;
    this.waiting.delete(update.deviceId);
    this.updates.push(update);
    this.checkComplete();
    return true;
  }

  drop(deviceId: string): void {
    if (!this.isAwaiting(deviceId)) return;
    this.waiting.delete(deviceId);
    this.dropped.push(deviceId);
    this.checkComplete();
  }

  /** Ends the round now with whatever arrived (shutdown). */
  abort(): void {
    this.finish('deadline');
  }

  private checkComplete(): void {
    if (this.waiting.size === 0) this.finish('complete');
  }

  private finish(outcome: CollectorOutcome): void {
    if (this.settled) return;
    this.settled = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    // Sorted so aggregation order (and float rounding) does not depend on arrival order.
    const updates = [...this.updates].sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
    this.resolveDone({ updates, outcome, missing: [...this.waiting].sort(), dropped: [...this.dropped] });
  }
}
