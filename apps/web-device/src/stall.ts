/**
 * Emulating a device that goes quiet before it can send (?stall=S, seconds): a phone that locks
 * its screen or loses signal after training. The page trains as usual, then holds each upload S
 * seconds. For testing round deadlines with real tabs; the wait costs no CPU.
 */

export const MAX_STALL_SECONDS = 3600;

/** The ?stall= value in ms: 0 when absent; throws on anything but a number of seconds in [0, 3600]. */
export function parseStallMs(raw: string | null): number {
  if (raw === null || raw === '') return 0;
  const s = Number(raw);
  if (!(Number.isFinite(s) && s >= 0 && s <= MAX_STALL_SECONDS)) throw new Error(`?stall=${raw} must be a number of seconds from 0 to ${MAX_STALL_SECONDS}`);
  return s * 1000;
}
