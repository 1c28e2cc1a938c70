/** Seeded randomness for planning, drawn from the project's one PRNG so every plan is reproducible from PlanContext.seed. */
import { createRng } from '../data/random';

export type Random = () => number;

export function seededRandom(seed: number): Random {
  const rng = createRng(seed);
  return () => rng.next();
}

/** Fisher–Yates on a copy. */
export function shuffled<T>(items: readonly T[], random: Random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
