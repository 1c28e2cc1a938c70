import { strict as assert } from 'node:assert';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { chooseRoundPlan, createRng, createStrategy } from '@tabfleet/lora-core';
import type { DeviceInfo, PlanContext } from '@tabfleet/lora-core';
import { workerPlanner } from '../src/planning/planner';
import type { StrategySpec } from '../src/planning/planner';

function fleet(n: number, seed: number): DeviceInfo[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, (_, i) => {
    const samples = 50 + rng.int(200);
    const p = rng.dirichlet(new Array<number>(20).fill(0.1));
    const labelHistogram = p.map((x) => Math.round(x * samples));
    if (!labelHistogram.some((c) => c > 0)) labelHistogram[0] = samples;
    const s = [1, 2, 4][i % 3]! * Math.exp(0.1 * rng.normal());
    return {
      id: `dev-${String(i).padStart(5, '0')}`,
      numSamples: labelHistogram.reduce((x, y) => x + y, 0),
      labelHistogram,
      profile: { msPerStep: [300, 450, 700, 850].map((ms) => ms * s), uploadBytesPerSec: 1e6, memoryBytes: 8e9 },
    };
  });
}

const ctx: PlanContext = { round: 1, numBlocks: 4, adapterBytes: [173e3, 271e3, 403e3, 460e3], seed: 3 };
const spec: StrategySpec = { name: 'hierfedlora', options: { planner: { localSteps: 5 } } };

test('the worker planner plans as the strategy does in process, without holding the event loop', async () => {
  const devices = fleet(3000, 11);
  const strategy = createStrategy(spec.name, spec.options);
  const planner = workerPlanner(strategy, spec, { workerFrom: 1000 });
  try {
    // Start the worker (and its module graph) before measuring.
    await planner.plan(fleet(1000, 1), ctx, undefined, new Map());
    let maxGap = 0;
    let last = performance.now();
    const tick = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 5);
    const t0 = performance.now();
    const choice = await planner.plan(devices, ctx, undefined, new Map());
    const workerMs = performance.now() - t0;
    clearInterval(tick);
    const t1 = performance.now();
    const local = chooseRoundPlan(strategy, devices, ctx, undefined, new Map());
    const localMs = performance.now() - t1;
    assert.deepEqual(choice.plan, local.plan);
    assert.equal(choice.replanned, true);
    assert.equal(choice.plan.groups.reduce((n, g) => n + g.deviceIds.length, 0), 3000);
    // In process the loop is held for the whole plan; through the worker only for the message copy.
    assert.ok(maxGap < Math.max(100, localMs / 2), `loop held ${maxGap.toFixed(0)} ms (worker plan ${workerMs.toFixed(0)} ms, in process ${localMs.toFixed(0)} ms)`);

    // The same membership again: the previous plan is kept, and measured drift makes a new one.
    const same = await planner.plan(devices, ctx, choice.plan, new Map());
    assert.equal(same.replanned, false);
    assert.deepEqual(same.plan, choice.plan);
    const id = choice.plan.groups[0]!.deviceIds[0]!;
    const drift = await planner.plan(devices, ctx, choice.plan, new Map([[id, 10_000]]));
    assert.equal(drift.replanned, true);
    assert.match(drift.reasons.join('; '), new RegExp(id));
  } finally {
    await planner.close();
  }
});

test('below workerFrom the planner plans in process', async () => {
  const strategy = createStrategy(spec.name, spec.options);
  const planner = workerPlanner(strategy, spec, { workerFrom: 300 });
  const devices = fleet(40, 2);
  const choice = await planner.plan(devices, ctx, undefined, new Map());
  assert.deepEqual(choice.plan, chooseRoundPlan(strategy, devices, ctx).plan);
  await planner.close();
});

test('a planning error in the worker comes back as the same error class', async () => {
  const strategy = createStrategy(spec.name, spec.options);
  const planner = workerPlanner(strategy, spec, { workerFrom: 1 });
  try {
    const bad = fleet(5, 3).map((d) => ({ ...d, profile: { ...d.profile, memoryBytes: 1 } }));
    const small = { ...ctx, memoryBytesByDepth: [1e9, 2e9, 3e9, 4e9] };
    const inProcess = (() => {
      try {
        chooseRoundPlan(strategy, bad, small);
        return undefined;
      } catch (e) {
        return e as Error;
      }
    })();
    assert.ok(inProcess, 'the in-process plan throws for devices with no feasible depth');
    await assert.rejects(planner.plan(bad, small, undefined, new Map()), (e: Error) => e.name === inProcess.name && e.message === inProcess.message);
  } finally {
    await planner.close();
  }
});
