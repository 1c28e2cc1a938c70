/**
 * Trained measurement of the planner's accuracy proxy U(d, τ) = (d/D)^α · τ^γ: one near-IID group
 * of the compare CLI's quick setting (Dirichlet(0.1) partition, speed-free near-IID grouping, groups
 * of 5) trains R global rounds at every (depth d, intra-group rounds τ) — intra-group FedAvg of
 * I local steps per intra-round, sample-weighted — and the accuracy gain over the initial adapter
 * on fixed test rows is fitted by least squares in logs:
 *     log gain = c + α log(d/D) + γ log τ.
 * The fitted exponents are what the planner's defaults should be (they are printed; the run is
 * deterministic given the seed). Several groups (--groups) and seeds average out one group's luck.
 *
 *   npx tsx packages/lora-core/bin/sweep-proxy.ts [--rounds 3] [--groups 2] [--seeds 42] [--eval-count 500]
 */
import { parseArgs } from 'node:util';
import { DirichletPartitioner, applyDelta, initialAdapter, labelHistogram, nearIidGroups, weightedMeanByBlock } from '../src';
import type { AdapterState, DeviceInfo } from '../src';
import { loadTask } from './compare/setup';
import { num } from './format-table';

const { values: a } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    groups: { type: 'string', default: '2' },
    seeds: { type: 'string', default: '42' },
    'eval-count': { type: 'string', default: '500' },
    'local-steps': { type: 'string', default: '2' },
    depths: { type: 'string', default: '1,2,4' },
    taus: { type: 'string', default: '1,2,4' },
  },
  strict: true,
});
const rounds = num('rounds', a.rounds);
const localSteps = num('local-steps', a['local-steps']);
const depths = a.depths.split(',').map((x) => num('depths', x));
const taus = a.taus.split(',').map((x) => num('taus', x));
const seeds = a.seeds.split(',').map((x) => num('seeds', x));
const task = await loadTask({ backend: 'wasm', topK: 20, maxPerClass: 250, testFraction: 0.2, maxLen: 24, rank: 8, learningRate: 3e-3, headLearningRate: 0.1, batchSize: 8, evalCount: num('eval-count', a['eval-count']), seed: 42 });
const { train, numClasses, encoder, trainer } = task;
const D = encoder.blocks.length;
const points: { d: number; tau: number; gain: number }[] = [];
for (const seed of seeds) {
  const parts = new DirichletPartitioner({ numPartitions: 16, alpha: 0.1, seed, minPerPartition: 8 }).partition(train.labels, numClasses);
  const devices: DeviceInfo[] = parts.map((p, i) => ({ id: `d${i}`, numSamples: p.length, labelHistogram: labelHistogram(train.labels, p, numClasses), profile: { msPerStep: [1, 1, 1, 1], uploadBytesPerSec: 1e6, memoryBytes: 1e12 } }));
  const groups = nearIidGroups(devices, { targetGroupSize: 5, seed }).slice(0, num('groups', a.groups));
  const init = initialAdapter(encoder.blocks, encoder.featureDim, numClasses, trainer.config.lora, seed);
  const base = await trainer.evaluate(init);
  for (const group of groups) {
    for (const d of depths) {
      for (const tau of taus) {
        let adapter: AdapterState = init;
        const steps = new Map<string, number>();
        for (let r = 0; r < rounds * tau; r++) {
          const updates = [];
          for (const id of group.deviceIds) {
            const i = Number(id.slice(1));
            const first = steps.get(id) ?? 0;
            steps.set(id, first + localSteps);
            const { delta } = await trainer.train({ deviceId: id, rows: parts[i]!, depth: d, localSteps, firstStep: first, adapter });
            updates.push({ deviceId: id, numSamples: parts[i]!.length, delta });
          }
          adapter = applyDelta(adapter, weightedMeanByBlock(updates));
        }
        const e = await trainer.evaluate(adapter);
        const gain = e.accuracy - base.accuracy;
        points.push({ d, tau, gain });
        console.log(`seed ${seed} ${group.groupId} d${d} τ${tau}: acc ${(100 * e.accuracy).toFixed(1)}% (gain ${(100 * gain).toFixed(1)} pt over ${(100 * base.accuracy).toFixed(1)}%) after ${rounds} global rounds`);
      }
    }
  }
}
// Least squares on log gain = c + α x + γ y over positive gains.
const usable = points.filter((p) => p.gain > 0);
const rows = usable.map((p) => [1, Math.log(p.d / D), Math.log(p.tau)]);
const ys = usable.map((p) => Math.log(p.gain));
const ata = [0, 1, 2].map((i) => [0, 1, 2].map((j) => rows.reduce((s, r) => s + r[i]! * r[j]!, 0)));
const aty = [0, 1, 2].map((i) => rows.reduce((s, r, k) => s + r[i]! * ys[k]!, 0));
const [, alpha, gamma] = solve3(ata, aty);
console.log(`fit over ${usable.length}/${points.length} points: depth exponent α = ${alpha!.toFixed(3)}, frequency exponent γ = ${gamma!.toFixed(3)}`);

function solve3(m: number[][], v: number[]): number[] {
  const A = m.map((r, i) => [...r, v[i]!]);
  for (let c = 0; c < 3; c++) {
    let p = c;
    for (let r = c + 1; r < 3; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[p]![c]!)) p = r;
    [A[c], A[p]] = [A[p]!, A[c]!];
    for (let r = 0; r < 3; r++) {
      if (r === c) continue;
      const f = A[r]![c]! / A[c]![c]!;
      for (let k = c; k < 4; k++) A[r]![k]! -= f * A[c]![k]!;
    }
  }
  return A.map((r, i) => r[3]! / r[i]!);
}
