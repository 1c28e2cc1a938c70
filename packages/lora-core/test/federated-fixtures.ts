/** Synthetic fleets for the federated tests: Dirichlet label skew and tiered device speeds. */
import type { AdapterState, BlockKey, NamedArray } from '../src/lora/adapter-state';
import type { DeviceInfo, GroupPlan, PlanContext, RoundPlan } from '../src/federated/types';
import { BlockwiseFedAvgStrategy } from '../src/federated/strategies/blockwise-fedavg';
import type { Random } from '../src/federated/random';
import { seededRandom } from '../src/federated/random';

export function state(blocks: Record<string, Record<string, number[]>>): AdapterState {
  const out: AdapterState = new Map();
  for (const [key, tensors] of Object.entries(blocks)) {
    const m = new Map<string, NamedArray>();
    for (const [name, values] of Object.entries(tensors)) m.set(name, { shape: [values.length], data: Float32Array.from(values) });
    out.set(key as BlockKey, m);
  }
  return out;
}

export function toPlain(s: AdapterState): Record<string, Record<string, number[]>> {
  const out: Record<string, Record<string, number[]>> = {};
  for (const [key, tensors] of s) {
    out[key] = {};
    for (const [name, t] of tensors) out[key][name] = [...t.data];
  }
  return out;
}

function gaussian(random: Random): number {
  const u = Math.max(random(), 1e-300);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Marsaglia–Tsang, with the α < 1 boost. */
function gamma(alpha: number, random: Random): number {
  if (alpha < 1) return gamma(alpha + 1, random) * Math.pow(Math.max(random(), 1e-300), 1 / alpha);
  const d = alpha - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = gaussian(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = random();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

export function dirichlet(alpha: number, k: number, random: Random): number[] {
  const g = Array.from({ length: k }, () => gamma(alpha, random));
  const s = g.reduce((a, b) => a + b, 0);
  return s > 0 ? g.map((x) => x / s) : g.map((_, i) => (i === 0 ? 1 : 0));
}

export interface FleetOptions {
  readonly numDevices: number;
  readonly numClasses: number;
  readonly alpha: number;
  readonly numBlocks: number;
  readonly seed: number;
  /** Speed multipliers to cycle through (1 = fastest). */
  readonly tiers?: readonly number[];
  readonly memoryBytes?: (index: number) => number;
}

/** Device i: Dirichlet(α) label mix over 50–250 samples; step time s·(20 + 10·d) ms; 1 MB/s / s upload. */
export function syntheticFleet(o: FleetOptions): DeviceInfo[] {
  const random = seededRandom(o.seed);
  const tiers = o.tiers ?? [1];
  return Array.from({ length: o.numDevices }, (_, i) => {
    const n = 50 + Math.floor(random() * 200);
    const p = dirichlet(o.alpha, o.numClasses, random);
    const labelHistogram = p.map((x) => Math.round(x * n));
    if (labelHistogram.reduce((a, b) => a + b, 0) === 0) labelHistogram[0] = n;
    const s = tiers[i % tiers.length]!;
    return {
      id: `dev-${String(i).padStart(3, '0')}`,
      numSamples: labelHistogram.reduce((a, b) => a + b, 0),
      labelHistogram,
      profile: {
        msPerStep: Array.from({ length: o.numBlocks }, (_, d) => s * (20 + 10 * (d + 1))),
        uploadBytesPerSec: 1_000_000 / s,
        memoryBytes: o.memoryBytes?.(i) ?? 8e9,
      },
    };
  });
}

/** adapterBytes grow linearly with depth (plus the head); memory 100 MB + 50 MB per trained block. */
export function planContext(numBlocks: number, extra: Partial<PlanContext> = {}): PlanContext {
  return {
    round: 0,
    numBlocks,
    adapterBytes: Array.from({ length: numBlocks }, (_, d) => 20_000 + 40_000 * (d + 1)),
    seed: 1,
    ...extra,
  };
}

/** Carries out a fixed plan with the shared block-by-block aggregation (engine and clock tests). */
export class FixedPlanStrategy extends BlockwiseFedAvgStrategy {
  readonly name = 'hierfedlora' as const;
  constructor(private readonly groups: readonly GroupPlan[]) {
    super();
  }
  plan(_devices: readonly DeviceInfo[], _ctx: PlanContext): RoundPlan {
    return { groups: this.groups };
  }
}
