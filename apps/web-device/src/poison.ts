/**
 * Attack emulation (?poison=scale:K or ?poison=signflip:K): the tab trains honestly, then uploads
 * its delta multiplied by K (scale) or by −K (signflip), the two poisonings robust aggregation
 * (lora-core federated/robust.ts) is tested against. For tests and demos only; the page says so.
 */

export interface Poison {
  readonly kind: 'scale' | 'signflip';
  readonly factor: number;
}

export const MAX_POISON_FACTOR = 1e4;

/** The ?poison= value: undefined when absent; throws on anything but scale:K or signflip:K with K in (0, 1e4]. */
export function parsePoison(raw: string | null): Poison | undefined {
  if (raw === null || raw === '') return undefined;
  const m = /^(scale|signflip):(.+)$/.exec(raw);
  const factor = Number(m?.[2]);
  if (!m || !(Number.isFinite(factor) && factor > 0 && factor <= MAX_POISON_FACTOR)) {
    throw new Error(`?poison=${raw} must be scale:K or signflip:K with K a number in (0, ${MAX_POISON_FACTOR}]`);
  }
  return { kind: m[1] as Poison['kind'], factor };
}

/** What the honest delta is multiplied by before upload. */
export function poisonMultiplier(p: Poison): number {
  return p.kind === 'scale' ? p.factor : -p.factor;
}
