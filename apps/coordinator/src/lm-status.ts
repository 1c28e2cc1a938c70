/** Status additions for causal-LM runs (issue 11). */
import type { Snapshot } from './snapshot';

/** /api/status of a causal-LM run: every scored round also gives its perplexity. */
export function withPerplexity(s: Snapshot): Snapshot {
  if (s.task?.objective !== 'causal-lm') return s;
  return { ...s, rounds: s.rounds.map((r) => ({ ...r, perplexity: r.loss === null ? null : Math.exp(r.loss) })) };
}
