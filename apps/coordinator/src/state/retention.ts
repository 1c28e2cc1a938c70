/**
 * Which checkpoints a run keeps: the last `keepLast` rounds, and (with `keepBest`) the best evaluated
 * round (the earliest among equals): the highest accuracy for classification, the lowest held-out
 * loss for causal-LM runs (their "accuracy" is top-1 next-token accuracy, not what fine-tuning
 * optimises), so that a long run neither fills the
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

/** What "best" means for a run's checkpoints. */
export type BestBy = 'accuracy' | 'loss';

/**
 * Causal-LM runs are kept by loss. Their task settings (taskSettingsOf in server.ts) carry the
 * checkpoint's `model` (what export and generate need); classification runs' do not.
 */
export function bestByOf(run: { readonly config: Readonly<Record<string, unknown>> } | undefined): BestBy {
  const task = run?.config.task as { model?: unknown } | undefined;
  return task !== null && typeof task === 'object' && task.model !== undefined && task.model !== null ? 'loss' : 'accuracy';
}

/** The score map checkpointsToPrune reads: accuracy (higher is better) or the negated loss. */
export function retentionScores(metrics: ReadonlyArray<{ readonly round: number; readonly accuracy: number; readonly loss: number }>, by: BestBy): Map<number, number> {
  return new Map(metrics.map((m) => [m.round, by === 'loss' ? -m.loss : m.accuracy]));
}

/** Rounds (of `stored`) whose checkpoints go; `accuracy` holds the evaluated rounds' scores (higher is better, see retentionScores). */
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
