/**
 * Hostile devices with default flags (issue 13). Real tabs, FedLoRA, one seed, two runs against
 * fresh coordinators that split the data into the same 4 fleet partitions:
 *   clean     3 honest tabs (partitions 0-2);
 *   attacked  the same 3 honest tabs, plus every attack of the issue at once:
 *             - sign-flipped honest deltas: a real tab on partition 3 that trains honestly and
 *               uploads its delta sign-flipped (?poison=signflip:1);
 *             - weight inflation and a label-histogram lie: a crafted client declaring 9,999,999
 *               samples of one class that uploads random-sign deltas at 0.9 of each block's L2
 *               bound (the issue's attack; every value inside the per-value bound);
 *             - coordinate-concentrated deltas inside the L2 bound: a crafted client that pours
 *               each block's L2 budget into one value (refused by name);
 *             - a sybil flood of 40 device ids from one address (refused by name past the cap).
 *             Two accepted attackers among five uploads (40 %).
 * Asserted: both runs finish; the honest tabs' round-1 uploads are the same as in the clean run
 * (the attackers change nothing in the honest devices' plan or training); the robust rule drops
 * both accepted attackers' uploads by name in every aggregation (the coordinator logs one line per
 * aggregation) and keeps a majority of the honest ones; the attacked run's final accuracy is
 * within 2 points of the clean run (the issue's target); the refusals are named; the status
 * without the admin token carries no per-device histogram or profile. 300 evaluation rows (--max-per-class 150:
 * a 10 % holdout of 3,000), so one sample is 0.33 points.
 * TABFLEET_HONEST_COST=1 adds a run of the clean fleet with the defences off (--robust mean
 * --clip-norm off --weight-cap off: the plain sample-weighted mean), to measure what the defaults
 * cost an honest run.
 */
import { expect, test, type Browser } from '@playwright/test';
import { startCoordinatorProcess, type CoordinatorProcess } from '../scripts/coordinator-process';
import { startAttacker, sybilFlood, type Attacker } from './support/attackers';
import { coordinatorStatus, openDevice, waitForJoins, type DeviceTab } from './support/device-page';

const HONEST = 3;
const PARTITIONS = 4;
const ROUNDS = 3;
/** The issue's bound: an attack that is not refused costs at most 2 points against the same-seed clean run. */
const MAX_DROP_ATTACKED = 0.02;
/** TABFLEET_E2E_VERBOSE=1 streams the coordinators' output (plans, refusals) into the test log. */
const verbose = process.env.TABFLEET_E2E_VERBOSE ? { onOutput: (text: string) => process.stdout.write(text) } : {};
const SYBILS = 40;
const DEVICES_PER_ADDRESS = 32;

interface StatusJson {
  status: { state: string; message?: string };
  rounds: Array<{ round: number; participants: number; accuracy: number | null }>;
  devices: Array<{ deviceId: string; labelHistogram: number[] | null; msPerStep: number[] | null; numSamples: number | null }>;
}

interface RunResult {
  readonly accuracyByRound: number[];
  readonly final: number;
  readonly attackers: Attacker[];
  readonly sybilAnswers: string[];
  /** Device ids of the honest tabs (partitions 0-2) and of the sign-flipping tab. */
  readonly honestIds: string[];
  readonly flipId: string | undefined;
  /** The coordinator's aggregation log lines, in order. */
  readonly aggregations: Aggregation[];
}

interface Aggregation {
  readonly round: number;
  /** Device id → upload norm as logged, for the kept and for the dropped updates. */
  readonly kept: Map<string, string>;
  readonly dropped: Map<string, string>;
}

/** `aggregation round 1.0 group all: cosine-mean clip 8.3: kept a (cos 0.5, norm 8.3), …; dropped x (cos -0.1, norm 8.0)` */
function parseAggregations(output: string): Aggregation[] {
  const entries = (list: string) => new Map([...list.matchAll(/([\w-]+) \((?:cos [-\d.]+, )?norm ([\d.e+-]+)/g)].map((m) => [m[1]!, m[2]!]));
  return [...output.matchAll(/aggregation round (\d+)\.\d+ group \S+: .*?: kept (.*?); dropped (.*)$/gm)].map((m) => ({
    round: Number(m[1]),
    kept: entries(m[2]!),
    dropped: entries(m[3]!),
  }));
}

const deviceIdOf = (tab: DeviceTab) =>
  tab.page.evaluate(() => (globalThis as unknown as { __tabfleet: { view(): { deviceId: string } } }).__tabfleet.view().deviceId);

type Attack = 'none' | 'all';

async function runFleet(browser: Browser, attack: Attack, extraArgs: readonly string[] = []): Promise<RunResult> {
  const extra = attack === 'all' ? 3 : 0;
  let coordinator: CoordinatorProcess | undefined;
  const tabs: DeviceTab[] = [];
  const attackers: Attacker[] = [];
  const t0 = Date.now();
  try {
    coordinator = await startCoordinatorProcess([
      '--strategy', 'fedlora',
      '--devices', String(HONEST + extra),
      '--partitions', String(PARTITIONS),
      '--rounds', String(ROUNDS),
      '--alpha', '0.5',
      '--seed', '42',
      '--max-per-class', '150',
      '--local-steps', '4',
      '--batch-size', '8',
      '--head-lr', '0.03',
      ...extraArgs,
    ], verbose);
    const { url, token } = coordinator;
    // Honest tabs first, one by one, so they hold fleet slots 0-2 in every run.
    for (let i = 0; i < HONEST; i++) {
      const tab = await openDevice(browser, { url, token, mode: 'fleet', backend: 'wasm' });
      tabs.push(tab);
      await tab.page.waitForFunction(() => (globalThis as unknown as { __tabfleet?: { view(): { partitionIndex?: number } } }).__tabfleet?.view().partitionIndex !== undefined, null, { timeout: 60_000 });
    }
    if (attack === 'all') tabs.push(await openDevice(browser, { url, token, mode: 'fleet', backend: 'wasm', poison: 'signflip:1' }));
    const views = await Promise.all(tabs.map((t) => waitForJoins(t.page, 1)));
    expect(views.map((v) => v.partitionIndex)).toEqual(attack === 'all' ? [0, 1, 2, 3] : [0, 1, 2]);
    const task = { numClasses: views[0]!.task!.classNames.length, numBlocks: views[0]!.task!.numBlocks, seed: 7 };
    let sybilAnswers: string[] = [];
    if (attack === 'all') {
      attackers.push(await startAttacker(url, token, 'inflate', task));
      attackers.push(await startAttacker(url, token, 'concentrate', task));
      sybilAnswers = await sybilFlood(url, token, SYBILS);
    }

    await expect
      .poll(async () => (await coordinatorStatus<StatusJson>(url)).status.state, { timeout: 6 * 60_000, intervals: [2_000] })
      .toBe('finished');
    const s = await coordinatorStatus<StatusJson>(url);
    for (const d of s.devices) expect([d.labelHistogram, d.msPerStep, d.numSamples], `no private data of ${d.deviceId} without the admin token`).toEqual([null, null, null]);
    const admin = await coordinatorStatus<StatusJson>(url, coordinator.adminToken);
    expect(admin.devices.filter((d) => d.labelHistogram !== null).length).toBe(tabs.length + attackers.length);
    const accuracyByRound = [...s.rounds].sort((a, b) => a.round - b.round).map((r) => r.accuracy as number);
    console.log(`${attack}${extraArgs.length ? ` ${extraArgs.join(' ')}` : ''}: accuracy by round ${accuracyByRound.map((a) => a.toFixed(3)).join(' → ')}; ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const ids = await Promise.all(tabs.map(deviceIdOf));
    return {
      accuracyByRound,
      final: accuracyByRound[ROUNDS] as number,
      attackers,
      sybilAnswers,
      honestIds: ids.slice(0, HONEST),
      flipId: ids[HONEST],
      aggregations: parseAggregations(coordinator.output()),
    };
  } finally {
    for (const a of attackers) a.close();
    for (const t of tabs) await t.context.close();
    await coordinator?.stop();
  }
}

test.describe.serial('hostile devices, default flags', () => {
  let clean: RunResult | undefined;
  const report = (label: string, run: RunResult) =>
    console.log(`${label} ${run.final.toFixed(3)} vs clean ${clean!.final.toFixed(3)}: ${((run.final - clean!.final) * 100).toFixed(1)} points`);
  /** Round 1 starts from the same adapter everywhere: each honest tab uploads what it uploaded in the clean run. */
  const expectSameHonestRoundOne = (run: RunResult) => {
    const norms = (r: RunResult) => r.honestIds.map((id) => r.aggregations.find((a) => a.round === 1)?.kept.get(id));
    expect(norms(run), 'honest round-1 uploads (norms) as in the clean run').toEqual(norms(clean!));
  };
  /** Every aggregation dropped the attacker by name and kept a majority of the honest uploads. */
  const expectDroppedEveryRound = (run: RunResult, attackerId: string) => {
    expect(run.aggregations.map((a) => a.round)).toEqual(Array.from({ length: ROUNDS }, (_, i) => i + 1));
    for (const a of run.aggregations) {
      expect([...a.dropped.keys()], `round ${a.round}: dropped`).toContain(attackerId);
      expect([...a.kept.keys()].filter((id) => run.honestIds.includes(id)).length, `round ${a.round}: honest kept`).toBeGreaterThanOrEqual(2);
    }
  };

  test('clean run: three honest tabs', async ({ browser }) => {
    test.setTimeout(8 * 60_000);
    clean = await runFleet(browser, 'none');
    expect(clean.final).toBeGreaterThan((clean.accuracyByRound[0] as number) + 0.05);
    // The defaults keep a majority of the honest uploads in every aggregation (what they drop is the cost of the defaults).
    expect(clean.aggregations.length).toBe(ROUNDS);
    for (const a of clean.aggregations) expect(a.kept.size, `round ${a.round}: kept ${[...a.kept.keys()].join(', ')}`).toBeGreaterThanOrEqual(2);
  });

  test('sign flip, weight inflation with a histogram lie, concentrated deltas and a sybil flood at once: accepted attackers dropped by name, within 2 points; refusals named', async ({ browser }) => {
    test.setTimeout(8 * 60_000);
    const run = await runFleet(browser, 'all');
    const [inflate, concentrate] = run.attackers as [Attacker, Attacker];
    // Every concentrated upload was refused, naming the per-value bound.
    expect(concentrate.refusals.length).toBe(ROUNDS);
    for (const r of concentrate.refusals) expect(r).toMatch(/^bad-adapter: delta moves a value further than 4 Adam steps can: block ".*" has 1 value\(s\) above the per-value bound/);
    // The flood: welcomed up to the per-address device cap (6 devices already held), refused by name past it.
    const welcomed = run.sybilAnswers.filter((a) => a === 'welcome').length;
    expect(welcomed).toBe(DEVICES_PER_ADDRESS - (HONEST + 3));
    expect(run.sybilAnswers.filter((a) => a === 'too-many-devices').length).toBe(SYBILS - welcomed);
    // The inflated uploads passed both bounds and reached aggregation, where they were dropped.
    expect(inflate.accepted).toBe(ROUNDS);
    expect(inflate.refusals).toEqual([]);
    report('attacked', run);
    expectSameHonestRoundOne(run);
    expectDroppedEveryRound(run, run.flipId!);
    expectDroppedEveryRound(run, inflate.deviceId);
    const sameAsClean = run.aggregations.every((a, i) => run.honestIds.every((id, k) => a.kept.get(id) === clean!.aggregations[i]?.kept.get(clean!.honestIds[k]!)));
    console.log(`attacked: every aggregation kept the clean run's honest uploads: ${sameAsClean}`);
    expect(run.final).toBeGreaterThanOrEqual(clean!.final - MAX_DROP_ATTACKED);
  });

  test('cost of the defaults on the honest run (measurement, TABFLEET_HONEST_COST=1)', async ({ browser }) => {
    test.skip(!process.env.TABFLEET_HONEST_COST, 'measurement only');
    test.setTimeout(8 * 60_000);
    const off = await runFleet(browser, 'none', ['--robust', 'mean', '--clip-norm', 'off', '--weight-cap', 'off']);
    report('defences off (plain mean), honest', off);
  });
});
