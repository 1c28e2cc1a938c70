/**
 * Plan-only sweep of the planner's accuracy-proxy exponents: which (depth, τ) each group gets for
 * (α, γ) on the compare CLI's virtual fleets (same device classes, pinned step-time table, adapter
 * sizes and clock overheads as `compare --quick`), without training. Identical plans mean identical
 * simulation results (runs are deterministic given the plan), so only distinct plans need training.
 *
 *   npx tsx packages/lora-core/bin/sweep-plans.ts [--devices 16,80] [--seed 42]
 */
import { parseArgs } from 'node:util';
import { createRng } from '../src/data/random';
import { createStrategy } from '../src';
import { buildVirtualFleet } from '../src/sim';
import { num } from './format-table';

const { values: a } = parseArgs({ options: { devices: { type: 'string', default: '16,80' }, seed: { type: 'string', default: '42' } }, strict: true });
const base = [311, 468, 743, 861];
const adapterBytes = [172_608, 271_196, 402_564, 460_192];
const context = { round: 1, numBlocks: 4, adapterBytes, seed: num('seed', a.seed), overheads: { downloadBytes: 460_192 } };
const pairs = [0.25, 0.5, 1].flatMap((de) => [0.25, 0.5, 1].map((fe) => [de, fe] as const));
for (const n of a.devices.split(',').map((x) => num('devices', x))) {
  const rng = createRng(context.seed);
  const labelHistograms = Array.from({ length: n }, () => rng.dirichlet(new Array<number>(20).fill(0.1)).map((p) => Math.round(p * 250) + (rng.next() < 0.05 ? 1 : 0)));
  for (const h of labelHistograms) if (!h.some((c) => c > 0)) h[0] = 1;
  const devices = buildVirtualFleet({ labelHistograms, baseMsPerStep: base, seed: context.seed }).map((d) => d.info);
  for (const tau of [4, 8]) {
    for (const [de, fe] of pairs) {
      const plan = createStrategy('hierfedlora', { grouping: { targetGroupSize: 5 }, planner: { localSteps: n <= 16 ? 2 : 3, maxIntraRounds: tau, depthExponent: de, frequencyExponent: fe } }).plan(devices, context);
      const tally = new Map<string, number>();
      for (const g of plan.groups) tally.set(`d${g.depth}·τ${g.intraRounds}`, (tally.get(`d${g.depth}·τ${g.intraRounds}`) ?? 0) + g.deviceIds.length);
      const round = Math.max(...Object.values(plan.predictedGroupMs ?? {}));
      console.log(`${n} devices, τ ≤ ${tau}, α ${de}, γ ${fe}: ${[...tally].sort().map(([k, v]) => `${k}:${v}`).join(' ')} · round ${(round / 1000).toFixed(1)} s`);
    }
  }
}
