/**
 * Which checkpoints a run keeps: the last `keepLast` rounds, and (with `keepBest`) the round with
 * the highest evaluated accuracy (the earliest among equals), so that a long run neither fills the
 * disk nor loses its best adapter. Applied by both stores inside the transaction that completes a
 * round, so a crash never leaves a round pruned without its successor stored.
 */
export interface CheckpointRetention {
  /** Most recent checkpoints kept; Infinity keeps every one. At least 1 (resume needs the latest). */
  readonly keepLast: number;
  /** Also keep the checkpoint of the best-scoring round. */
  readonly keepBest: boolean;
}

export const KEEP_ALL_CHECKPOINTS: CheckpointRetention = { keepLast: Number.POSITIVE_INFINITY, keepBest: true };
/** The command line's default. */
export const DEFAULT_CHECKPOINT_RETENTION: CheckpointRetention = { keepLast: 5, keepBest: true };

export function validateRetention(r: CheckpointRetention): CheckpointRetention {
  if (!(r.keepLast === Number.POSITIVE_INFINITY || (Number.isInteger(r.keepLast) && r.keepLast >= 1))) {
    throw new RangeError(`checkpoint retention: keepLast must be an integer >= 1 or Infinity, got ${r.keepLast}`);
  }
  return r;
}

/** Rounds (of `stored`) whose checkpoints go; `accuracy` holds the evaluated rounds' accuracy. */
export function checkpointsToPrune(
  stored: readonly number[],
  accuracy: ReadonlyMap<number, number>,
  retention: CheckpointRetention,
): number[] {
  if (retention.keepLast === Number.POSITIVE_INFINITY) return [];
  const rounds = [...stored].sort((a, b) => a - b);
  const keep = new Set(rounds.slice(Math.max(0, rounds.length - retention.keepLast)));
  if (retention.keepBest) {
    let best: { round: number; accuracy: number } | undefined;
    for (const round of rounds) {
      const a = accuracy.get(round);
      if (a !== undefined && Number.isFinite(a) && (best === undefined || a > best.accuracy)) best = { round, accuracy: a };
    }
    if (best) keep.add(best.round);
  }
  return rounds.filter((r) => !keep.has(r));
}
