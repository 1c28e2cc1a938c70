import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AdapterState } from '../src/lora/adapter-state';
import { intraRoundMs } from '../src/federated/planner';
import { BlockwiseFedAvgStrategy } from '../src/federated/strategies/blockwise-fedavg';
import type { DeviceInfo, GroupPlan, PlanContext, RoundPlan } from '../src/federated/types';
import { assignDeviceClasses, buildVirtualFleet, DEFAULT_DEVICE_CLASSES, simulate, type SimRoundRecord } from '../src/sim';
import { state } from './federated-fixtures';

/** A strategy whose plan is given, with the planner's own prediction per group. */
class FixedPlanStrategy extends BlockwiseFedAvgStrategy {
  readonly name = 'hierfedlora' as const;
  constructor(private readonly groups: readonly GroupPlan[]) {
    super();
  }
  plan(devices: readonly DeviceInfo[], ctx: PlanContext): RoundPlan {
    const byId = new Map(devices.map((d) => [d.id, d]));
    const predictedGroupMs = Object.fromEntries(
      this.groups.map((g) => [g.groupId, g.intraRounds * intraRoundMs(g.deviceIds.map((id) => byId.get(id)!), g.depth, ctx, g.localSteps)]),
    );
    return { groups: this.groups, predictedGroupMs };
  }
}

const device = (id: string, msPerStep: number[], uploadBytesPerSec: number): DeviceInfo => ({
  id,
  numSamples: 10,
  labelHistogram: [5, 5],
  profile: { msPerStep, uploadBytesPerSec, memoryBytes: 1e9 },
});

const numBlocks = 2;
const zero = state({ '0': { a: [0] }, '1': { a: [0] }, head: { w: [0] } });
const devices = [device('d0', [10, 20], 1000), device('d1', [30, 50], 2000), device('d2', [100, 200], 500)];
const groups: GroupPlan[] = [
  { groupId: 'A', deviceIds: ['d0', 'd1'], depth: 2, intraRounds: 2, localSteps: 3 },
  { groupId: 'B', deviceIds: ['d2'], depth: 1, intraRounds: 3, localSteps: 2 },
];
// Upload size = 100 bytes per block carried, which is what ctx.adapterBytes says too.
const uploadBytes = (delta: AdapterState) => 100 * delta.size;
const context = { numBlocks, adapterBytes: [200, 300], seed: 1 };

async function run(maxSimulatedMs?: number): Promise<SimRoundRecord[]> {
  const records: SimRoundRecord[] = [];
  for await (const r of simulate({
    strategy: new FixedPlanStrategy(groups),
    devices,
    context,
    initialAdapter: zero,
    trainMember: async (a) => ({
      update: { deviceId: a.deviceId, numSamples: 10, delta: new Map(a.blockKeys.map((k) => [k, new Map(zero.get(k)!)])) },
      trainLoss: 1,
    }),
    evaluate: async () => ({ accuracy: 0.5, loss: 1 }),
    maxRounds: 5,
    uploadBytes,
    ...(maxSimulatedMs !== undefined ? { maxSimulatedMs } : {}),
  })) {
    records.push(r);
  }
  return records;
}

describe('simulated clock', () => {
  it('follows the resource model: Σ over intra rounds of the slowest member, max over groups (hand-checked)', async () => {
    const [r0, r1] = await run();
    assert.deepEqual([r0!.round, r0!.simulatedMs, r0!.bytesUploaded, r0!.computeSeconds], [0, 0, 0, 0]);
    // A, depth 2, I = 3: d0 3·20 + 300 B / 1000 B/s = 360 ms; d1 3·50 + 300/2000 s = 300 ms → 2 × 360 = 720.
    // B, depth 1, I = 2: d2 2·100 + 200 B / 500 B/s = 600 ms → 3 × 600 = 1800. Round = max = 1800.
    const byId = Object.fromEntries(r1!.groups.map((g) => [g.groupId, g]));
    assert.equal(byId['A']!.ms, 720);
    assert.equal(byId['B']!.ms, 1800);
    assert.equal(r1!.roundMs, 1800);
    assert.equal(r1!.simulatedMs, 1800);
    // The plan's prediction (planner.intraRoundMs) agrees when the uploads have the planned size.
    assert.equal(byId['A']!.predictedMs, 720);
    assert.equal(byId['B']!.predictedMs, 1800);
    // Compute: A 2 × (3·20 + 3·50) = 420 ms, B 3 × 2·100 = 600 ms. Bytes: A 2 × 2 × 300, B 3 × 200.
    assert.equal(r1!.computeSeconds, 1.02);
    assert.equal(r1!.bytesUploaded, 1800);
  });

  it('accumulates per round and stops before a round that would end past the time budget', async () => {
    const records = await run(4000);
    assert.deepEqual(records.map((r) => r.round), [0, 1, 2]);
    assert.deepEqual(records.map((r) => r.simulatedMs), [0, 1800, 3600]);
    assert.deepEqual(records.map((r) => r.bytesUploaded), [0, 1800, 3600]);
    assert.equal(records[2]!.computeSeconds, 2.04);
    assert.deepEqual(records.map((r) => r.replanned), [false, true, false], 'membership is fixed, so the first plan is kept');
  });
});

describe('virtual fleet', () => {
  it('assigns classes by share (largest remainder), seeded', () => {
    const classes = assignDeviceClasses(80, DEFAULT_DEVICE_CLASSES, 7);
    const counts = DEFAULT_DEVICE_CLASSES.map((_, i) => classes.filter((c) => c === i).length);
    assert.deepEqual(counts, [20, 28, 32]);
    assert.deepEqual(assignDeviceClasses(80, DEFAULT_DEVICE_CLASSES, 7), classes);
    assert.notDeepEqual(assignDeviceClasses(80, DEFAULT_DEVICE_CLASSES, 8), classes);
  });

  it("scales the measured table by the class's ratio (within jitter) and keeps its shape across depths", () => {
    const base = [100, 150, 210, 260];
    const fleet = buildVirtualFleet({ labelHistograms: Array.from({ length: 40 }, () => [3, 4]), baseMsPerStep: base, seed: 3 });
    assert.equal(fleet.length, 40);
    for (const { info, className } of fleet) {
      const cls = DEFAULT_DEVICE_CLASSES.find((c) => c.name === className)!;
      const factor = info.profile.msPerStep[0]! / base[0]!;
      assert.ok(factor > cls.stepTimeRatio * 0.6 && factor < cls.stepTimeRatio / 0.6, `${info.id} ${className} ×${factor}`);
      info.profile.msPerStep.forEach((ms, d) => assert.ok(Math.abs(ms / base[d]! - factor) < 1e-9));
      assert.equal(info.numSamples, 7);
    }
    const mean = (name: string) => {
      const xs = fleet.filter((d) => d.className === name).map((d) => d.info.profile.msPerStep[3]!);
      return xs.reduce((s, x) => s + x, 0) / xs.length;
    };
    assert.ok(mean('new-laptop') < mean('old-laptop') && mean('old-laptop') < mean('phone'));
  });
});
