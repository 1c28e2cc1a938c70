/**
 * Small seeded PRNG (mulberry32, seeded through a splitmix32 step so that nearby seeds give unrelated streams).
 * Everything that must be reproducible in the data layer draws from here, never from Math.random.
 */
export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Fisher–Yates shuffle in place; returns the same array. */
  shuffle<T extends { length: number; [i: number]: unknown }>(arr: T): T;
  /** Standard normal draw (Box–Muller). */
  normal(): number;
  /** Gamma(shape, scale 1) draw (Marsaglia–Tsang); shape > 0. */
  gamma(shape: number): number;
  /** One draw from Dirichlet(alphas); all alphas > 0. Sums to 1. */
  dirichlet(alphas: readonly number[]): number[];
}

function splitmix32(seed: number): number {
  let z = (seed + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  let state = splitmix32(Math.trunc(seed) | 0);

  const next = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  const int = (n: number): number => {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`int(n) needs a positive integer, got ${n}`);
    return Math.floor(next() * n);
  };

  const normal = (): number => {
    // 1 - next() is in (0, 1], so the log is finite.
    const u = 1 - next();
    const v = next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };

  const gamma = (shape: number): number => {
    if (!(shape > 0) || !Number.isFinite(shape)) throw new RangeError(`gamma shape must be > 0, got ${shape}`);
    if (shape < 1) {
      // Boost: Gamma(a) = Gamma(a + 1) * U^(1/a).
      const u = 1 - next();
      return gamma(shape + 1) * Math.pow(u, 1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = 1 - next();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  };

  const dirichlet = (alphas: readonly number[]): number[] => {
    if (alphas.length === 0) throw new RangeError('dirichlet needs at least one alpha');
    const draws = alphas.map((a) => gamma(a));
    const sum = draws.reduce((s, x) => s + x, 0);
    // With tiny alphas every gamma draw can underflow to 0; fall back to a one-hot on a random component.
    if (!(sum > 0)) {
      const out = new Array<number>(alphas.length).fill(0);
      out[int(alphas.length)] = 1;
      return out;
    }
    return draws.map((x) => x / sum);
  };

  const shuffle = <T extends { length: number; [i: number]: unknown }>(arr: T): T => {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = int(i + 1);
      const tmp = arr[i];
      arr[i] = arr[j];
      arr[j] = tmp;
    }
    return arr;
  };

  return { next, int, shuffle, normal, gamma, dirichlet };
}
