/**
 * Emulating a slower device (?slowdown=S, S ≥ 1): after every training step the page waits
 * (S − 1) × that step's own duration, so each step really takes S times as long. The wait applies
 * to the profile's timed steps and to training alike, so the profile the device reports stays true
 * to how it trains. For testing heterogeneous fleets on one machine; the wait costs no CPU.
 */

export const MAX_SLOWDOWN = 100;

/** The ?slowdown= value: 1 (no slowdown) when absent; throws on anything but a number in [1, 100]. */
export function parseSlowdown(raw: string | null): number {
  if (raw === null || raw === '') return 1;
  const s = Number(raw);
  if (!(Number.isFinite(s) && s >= 1 && s <= MAX_SLOWDOWN)) throw new Error(`?slowdown=${raw} must be a number from 1 to ${MAX_SLOWDOWN}`);
  return s;
}

/** Waits (factor − 1) × stepMs; resolves with the ms actually waited. */
export async function waitAfterStep(stepMs: number, factor: number): Promise<number> {
  const ms = (factor - 1) * stepMs;
  if (!(ms > 0)) return 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => setTimeout(resolve, ms));
  return performance.now() - t0;
}
