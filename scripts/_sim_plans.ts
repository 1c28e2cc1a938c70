import { loadWordNetGlosses } from '../packages/lora-core/node/wordnet';
import { seededSplit } from '../packages/lora-core/src/data/dataset';
import { DirichletPartitioner, labelHistogram } from '../packages/lora-core/src/data/partition';
import { createStrategy } from '../packages/lora-core/src/federated/strategies';
import { groupDivergences } from '../packages/lora-core/src/federated/grouping';
import { buildVirtualFleet } from '../packages/lora-core/src/sim';
const [n, mpc, tol, q] = [Number(process.argv[2] ?? 16), Number(process.argv[3] ?? 100), process.argv[4], process.argv[5]];
const ds = loadWordNetGlosses({ topK: 20, maxPerClass: mpc, seed: 42 });
const { train } = seededSplit(ds, 0.2, 42);
const adapterBytes = [172608, 271196, 402564, 460192];
const base = [293, 296, 438, 606];
for (const alpha of [0.1, 0.5]) {
  const parts = new DirichletPartitioner({ numPartitions: n, alpha, seed: 42, minPerPartition: 8 }).partition(train.labels, 20);
  const fleet = buildVirtualFleet({ labelHistograms: parts.map((p) => labelHistogram(train.labels, p, 20)), baseMsPerStep: base, seed: 42 });
  const devices = fleet.map((d) => d.info);
  const cls = new Map(fleet.map((d) => [d.info.id, d.className[0]]));
  for (const name of ['hierfedlora', 'random-groups'] as const) {
    const opts = { grouping: { targetGroupSize: 5, ...(tol ? { capabilityTieTolerance: Number(tol) } : {}) }, planner: { localSteps: 2, maxIntraRounds: 4, ...(q ? { budgetQuantile: Number(q) } : {}) } };
    const plan = createStrategy(name, opts).plan(devices, { round: 1, numBlocks: 4, adapterBytes, seed: 42 });
    const js = groupDivergences(devices, plan.groups);
    console.log(`α=${alpha} ${name} tol=${tol ?? 'default'} q=${q ?? 0.5}`);
    plan.groups.forEach((g, i) => console.log(`   ${g.groupId} [${g.deviceIds.map((id) => cls.get(id)).join('')}] d=${g.depth} τ=${g.intraRounds} ms=${plan.predictedGroupMs![g.groupId]!.toFixed(0)} JS=${js[i]!.toFixed(3)}`));
  }
}
