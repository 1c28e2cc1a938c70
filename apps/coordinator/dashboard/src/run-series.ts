/** Chart points from round records (pure): metrics against round and against time since the run began. */
import type { RoundView } from '../../src/dashboard/contract';

export interface Point {
  readonly x: number;
  readonly y: number;
}

export function byRound(rounds: readonly RoundView[], metric: 'accuracy' | 'loss'): Point[] {
  const points: Point[] = [];
  for (const r of [...rounds].sort((a, b) => a.round - b.round)) {
    const y = r[metric];
    if (y !== null && Number.isFinite(y)) points.push({ x: r.round, y });
  }
  return points;
}

/** x in minutes since `startedAt` (the run's creation), at each round's end. */
export function byWallClock(rounds: readonly RoundView[], metric: 'accuracy' | 'loss', startedAt: number): Point[] {
  const points: Point[] = [];
  for (const r of [...rounds].sort((a, b) => a.finishedAt - b.finishedAt)) {
    const y = r[metric];
    if (y !== null && Number.isFinite(y)) points.push({ x: (r.finishedAt - startedAt) / 60_000, y });
  }
  return points;
}
