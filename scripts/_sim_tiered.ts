// Temporary investigation (not part of the deliverable): HierFedLoRA with speed-homogeneous near-IID groups.
import { DirichletPartitioner, encodeAdapter, initialAdapter, labelHistogram, trainedBlockKeys, nearIidGroups, planGroups, createStrategy } from '../packages/lora-core/src';
import type { DeviceInfo, PlanContext, RoundPlan, StrategyName } from '../packages/lora-core/src';
import { BlockwiseFedAvgStrategy } from '../packages/lora-core/src/federated/strategies/blockwise-fedavg';
import { bindMembers, buildVirtualFleet, simulate } from '../packages/lora-core/src/sim';
import { WorkerPool } from '../packages/lora-core/bin/compare/backends';
import { loadTask, type TaskSetting } from '../packages/lora-core/bin/compare/setup';

class Tiered extends BlockwiseFedAvgStrategy {
  readonly name = 'hierfedlora' as const;
  constructor(private readonly classOf: Map<string, string>, private readonly planner: object) { super(); }
  plan(devices: readonly DeviceInfo[], ctx: PlanContext): RoundPlan {
    const tiers = [...new Set(devices.map((d) => this.classOf.get(d.id)!))].sort();
    const groups = tiers.flatMap((t) => {
      const members = devices.filter((d) => this.classOf.get(d.id) === t);
      return nearIidGroups(members, { targetGroupSize: 5, seed: ctx.seed }).map((g) => ({ ...g, groupId: `${t}:${g.groupId}` }));
    });
    return planGroups(groups, devices, ctx, this.planner).plan;
  }
}

const [msArg, which] = [process.argv[2]!, (process.argv[3] ?? 'tiered').split(',')];
const base = msArg.split(',').map(Number);
const s: TaskSetting = { backend: 'wasm', topK: 20, maxPerClass: 100, testFraction: 0.2, maxLen: 24, rank: 8, learningRate: 3e-3, headLearningRate: 0.1, batchSize: 8, evalCount: 128, seed: 42 };
const task = await loadTask(s);
const pool = await WorkerPool.start(2, s);
const nb = 4;
const init = initialAdapter(task.encoder.blocks, task.encoder.featureDim, task.numClasses, task.trainer.config.lora, 42);
const adapterBytes = Array.from({ length: nb }, (_, d) => { const k = trainedBlockKeys(nb, d + 1); return encodeAdapter(new Map([...init].filter(([x]) => k.includes(x)))).byteLength; });
const planner = { localSteps: 2, maxIntraRounds: 4 };
for (const alpha of [0.1, 0.5]) {
  const parts = new DirichletPartitioner({ numPartitions: 16, alpha, seed: 42, minPerPartition: 8 }).partition(task.train.labels, task.numClasses);
  const fleet = buildVirtualFleet({ labelHistograms: parts.map((p) => labelHistogram(task.train.labels, p, task.numClasses)), baseMsPerStep: base, seed: 42 });
  const devices = fleet.map((d) => d.info);
  const classOf = new Map(fleet.map((d) => [d.info.id, d.className]));
  const ctx = { numBlocks: nb, adapterBytes, seed: 42 };
  const H = 4 * Math.max(...Object.values(createStrategy('fedlora', { planner }).plan(devices, { ...ctx, round: 1 }).predictedGroupMs!));
  for (const w of which) {
    const strategy = w === 'tiered' ? new Tiered(classOf, planner) : createStrategy(w as StrategyName, { grouping: { targetGroupSize: 5 }, planner });
    console.log(`α=${alpha} ${w}`);
    for await (const r of simulate({ strategy, devices, context: ctx, initialAdapter: init, trainMember: bindMembers(pool, new Map(devices.map((d, i) => [d.id, parts[i]!]))), evaluate: (a) => pool.evaluate(a), maxRounds: 40, maxSimulatedMs: H })) {
      if (r.round === 1) console.log('   plan', r.groups.map((g) => `${g.groupId}(${g.size}) d${g.depth} τ${g.intraRounds} ${(g.ms / 1000).toFixed(1)}s`).join(' | '));
      if (r.round > 0) console.log(`   r${r.round} t ${(r.simulatedMs / 1000).toFixed(1)} acc ${(r.accuracy * 100).toFixed(1)} loss ${r.loss.toFixed(3)} up ${(r.bytesUploaded / 1e6).toFixed(1)} compute ${r.computeSeconds.toFixed(0)}`);
    }
  }
}
await pool.close();
task.trainer.dispose();
