/** Wall-clock timing of repeated async work (training steps, forward passes), warm-up excluded. */

export interface TimingOptions {
  /** Untimed runs first (kernel compilation, allocator warm-up). */
  readonly warmup: number;
  readonly runs: number;
  /** Clock in ms; defaults to performance.now. */
  readonly now?: () => number;
}

/** Runs `work` warmup + runs times and returns the ms of each timed run. `work` must finish its device work before resolving. */
export async function timeRuns(work: () => Promise<unknown>, o: TimingOptions): Promise<number[]> {
  if (!Number.isInteger(o.warmup) || o.warmup < 0) throw new RangeError(`warmup must be a non-negative integer, got ${o.warmup}`);
  if (!Number.isInteger(o.runs) || o.runs < 1) throw new RangeError(`runs must be a positive integer, got ${o.runs}`);
  const now = o.now ?? (() => performance.now());
  for (let i = 0; i < o.warmup; i++) await work();
  const ms: number[] = [];
  for (let i = 0; i < o.runs; i++) {
    const t0 = now();
    await work();
    ms.push(now() - t0);
  }
  return ms;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
