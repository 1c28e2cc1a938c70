/**
 * Grouping and planning cost at fleet scale, and grouping quality against the exhaustive search.
 *
 *   npm run bench:grouping
 *   npm run bench:grouping -- --devices 80,1000,10000 --classes 20 --alpha 0.1
 *
 * Synthetic fleets: Dirichlet(α) label mixes over 50–250 samples per device, three device classes
 * (1× / 2× / 4× step time, σ 0.1 jitter), 4 depths. For each size it times nearIidGroups (bounded
 * search, speed bound 2 and label-only) and planGroups, and prints the max-group JS divergence;
 * up to --exhaustive-max devices it also runs the exhaustive swap search for the side-by-side.
 * Timings include the greedy; the machine may be shared (the figures are then upper bounds).
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createRng } from '../src/data/random';
import { DEFAULT_MAX_SPEED_RATIO, groupDivergences, groupSpeedRatios, nearIidGroups, planGroups } from '../src';
import type { DeviceInfo, GroupingOptions } from '../src';
import { formatTable, num } from './format-table';

const { values: a } = parseArgs({
  options: {
    devices: { type: 'string', default: '80,1000,10000' },
    classes: { type: 'string', default: '20' },
    alpha: { type: 'string', default: '0.1' },
    'group-size': { type: 'string', default: '5' },
    'exhaustive-max': { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
  },
  strict: true,
});

function fleet(n: number, classes: number, alpha: number, seed: number): DeviceInfo[] {
  const rng = createRng(seed);
  const tiers = [1, 2, 4];
  return Array.from({ length: n }, (_, i) => {
    const samples = 50 + rng.int(200);
    const p = rng.dirichlet(new Array<number>(classes).fill(alpha));
    const labelHistogram: number[] = p.map((x) => Math.round(x * samples));
    if (!labelHistogram.some((c) => c > 0)) labelHistogram[0] = samples;
    const s = tiers[i % 3]! * Math.exp(0.1 * rng.normal());
    return {
      id: `dev-${String(i).padStart(5, '0')}`,
      numSamples: labelHistogram.reduce((x, y) => x + y, 0),
      labelHistogram,
      profile: { msPerStep: [300, 450, 700, 850].map((ms) => ms * s), uploadBytesPerSec: 1e6 / tiers[i % 3]!, memoryBytes: 8e9 },
    };
  });
}

const ctx = { round: 1, numBlocks: 4, adapterBytes: [173e3, 271e3, 403e3, 460e3], seed: 1, overheads: { downloadBytes: 460e3 } };
const rows: string[][] = [['devices', 'grouping', 'groups', 'group ms', 'plan ms', 'max JS (bits)', 'max speed ratio']];
const time = <T>(f: () => T): [T, number] => {
  const t0 = performance.now();
  const r = f();
  return [r, performance.now() - t0];
};
for (const n of a.devices.split(',').map((x) => num('devices', x))) {
  const devices = fleet(n, num('classes', a.classes), num('alpha', a.alpha, false), num('seed', a.seed));
  const variants: Array<[string, GroupingOptions]> = [
    [`bounded, speed ≤ ${DEFAULT_MAX_SPEED_RATIO}`, { maxSpeedRatio: DEFAULT_MAX_SPEED_RATIO }],
    ['bounded, label-only', {}],
  ];
  if (n <= num('exhaustive-max', a['exhaustive-max'])) variants.push(['exhaustive, label-only', { search: 'exhaustive', maxBandSize: Number.MAX_SAFE_INTEGER }]);
  if (n <= num('exhaustive-max', a['exhaustive-max']) && n <= 200) variants.push([`exhaustive, speed ≤ ${DEFAULT_MAX_SPEED_RATIO}`, { search: 'exhaustive', maxSpeedRatio: DEFAULT_MAX_SPEED_RATIO }]);
  for (const [label, o] of variants) {
    const [groups, gms] = time(() => nearIidGroups(devices, { targetGroupSize: num('group-size', a['group-size']), seed: 1, ...o }));
    const [, pms] = time(() => planGroups(groups, devices, ctx));
    rows.push([
      String(n),
      label,
      String(groups.length),
      gms.toFixed(0),
      pms.toFixed(0),
      Math.max(...groupDivergences(devices, groups)).toFixed(4),
      Math.max(...groupSpeedRatios(devices, groups)).toFixed(2),
    ]);
  }
}
console.log(`load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} (shared machine: timings are upper bounds)`);
console.log(formatTable(rows, 2));
