/** Summaries of a simulated run for the comparison table. */
import type { SimRoundRecord } from './engine';

export interface RunSummary {
  readonly finalAccuracy: number;
  readonly finalLoss: number;
  /** Simulated ms of the first round whose accuracy reached the target; undefined if none did. */
  readonly timeToTargetMs?: number;
  readonly simulatedMs: number;
  readonly bytesUploaded: number;
  readonly bytesDownloaded: number;
  readonly computeSeconds: number;
  /** Global rounds run (round 0 not counted). */
  readonly rounds: number;
}

export function summarizeRun(records: readonly SimRoundRecord[], targetAccuracy: number): RunSummary {
  const last = records[records.length - 1];
  if (last === undefined) throw new Error('no records to summarize');
  const hit = records.find((r) => r.accuracy >= targetAccuracy);
  return {
    finalAccuracy: last.accuracy,
    finalLoss: last.loss,
    ...(hit !== undefined ? { timeToTargetMs: hit.simulatedMs } : {}),
    simulatedMs: last.simulatedMs,
    bytesUploaded: last.bytesUploaded,
    bytesDownloaded: last.bytesDownloaded,
    computeSeconds: last.computeSeconds,
    rounds: last.round,
  };
}

/** value / baseline, or undefined when either is missing or the baseline is 0. */
export function ratio(value: number | undefined, baseline: number | undefined): number | undefined {
  if (value === undefined || baseline === undefined || !(baseline !== 0) || !Number.isFinite(value) || !Number.isFinite(baseline)) return undefined;
  return value / baseline;
}
