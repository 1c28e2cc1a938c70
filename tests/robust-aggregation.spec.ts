/**
 * Robust aggregation against one poisoning tab (issue 5): five real tabs, FedLoRA, one seed, three
 * runs against fresh coordinators:
 *   (a) clean: the same five devices (partitions), all honest, plain mean;
 *   (b) tab 0 poisons (?poison=scale:100: it trains honestly, then uploads 100 × its delta),
 *       --robust cosine-mean --clip-norm auto (the default): final accuracy not more than 2 points below (a);
 *   (c) the same poisoning with the plain mean: clearly damaged (so the check in (b) can fail).
 * The coordinator's upload norm check (--norm-bound) would refuse a ×100 upload before it reaches
 * aggregation (the fuzz spec sends such uploads); it is off in (b) and (c) so that they test the
 * aggregation rule itself, the defence for poisoning that stays under the norm bound.
 * "Clean" is the issue's: the same N devices, all honest. The robust run also loses the poisoner's
 * partition, so it is compared with a run that had one more honest device than it has.
 * The poisoner is opened first and holds fleet slot 0 in every run, so (b) and (c) lose the same partition.
 */
import { expect, test, type Browser } from '@playwright/test';
import { startCoordinatorProcess, type CoordinatorProcess } from '../scripts/coordinator-process';
import { coordinatorStatus, openDevice, readView, waitForJoins, type DeviceTab } from './support/device-page';

const DEVICES = 5;
const ROUNDS = 3;
const POISON = 'scale:100';
// The coordinator's default combiner since issue 13 (cosine-mean with clipping to the round's median
// norm), spelled out so the test names what it measures.
const ROBUST = ['--robust', 'cosine-mean', '--clip-norm', 'auto'];
const NO_NORM_CHECK = ['--norm-bound', 'off'];
const MAX_DROP = 0.02;

interface StatusJson {
  rounds: Array<{ round: number; participants: number; accuracy: number | null }>;
}

interface RunResult {
  readonly accuracyByRound: number[];
  readonly final: number;
  /** L2 norms of each tab's last upload; index 0 is the poisoner in (b) and (c). */
  readonly uploadNorms: number[];
}

async function runFleet(browser: Browser, label: string, poison: string | undefined, extraArgs: readonly string[]): Promise<RunResult> {
  let coordinator: CoordinatorProcess | undefined;
  const tabs: DeviceTab[] = [];
  const t0 = Date.now();
  try {
    coordinator = await startCoordinatorProcess([
      '--strategy', 'fedlora',
      '--devices', String(DEVICES),
      '--rounds', String(ROUNDS),
      '--alpha', '0.5',
      '--seed', '42',
      '--max-per-class', '200',
      '--local-steps', '6',
      '--batch-size', '8',
      '--head-lr', '0.03',
      ...extraArgs,
    ]);
    const { url, token } = coordinator;
    const first = await openDevice(browser, { url, token, mode: 'fleet', backend: 'wasm', ...(poison ? { poison } : {}) });
    tabs.push(first);
    await first.page.waitForFunction(() => (globalThis as unknown as { __tabfleet?: { view(): { partitionIndex?: number } } }).__tabfleet?.view().partitionIndex !== undefined, null, { timeout: 60_000 });
    for (let i = 1; i < DEVICES; i++) tabs.push(await openDevice(browser, { url, token, mode: 'fleet', backend: 'wasm' }));
    const views = await Promise.all(tabs.map((t) => waitForJoins(t.page, 1)));
    expect(views[0]?.partitionIndex).toBe(0);
    expect(views[0]?.poison).toEqual(poison ? { kind: poison.split(':')[0], factor: Number(poison.split(':')[1]) } : undefined);
    if (poison) await expect(first.page.getByTestId('poison-warning')).toBeVisible();
    else await expect(first.page.getByTestId('poison-warning')).toHaveCount(0);

    await expect
      .poll(async () => (await coordinatorStatus<StatusJson>(url)).rounds.filter((r) => r.round >= 1 && r.accuracy !== null).length, {
        timeout: 8 * 60_000,
        intervals: [2_000],
      })
      .toBe(ROUNDS);
    const s = await coordinatorStatus<StatusJson>(url);
    for (let r = 1; r <= ROUNDS; r++) expect(s.rounds.find((x) => x.round === r)?.participants).toBe(DEVICES);
    const accuracyByRound = [...s.rounds].sort((a, b) => a.round - b.round).map((r) => r.accuracy as number);
    const uploadNorms = await Promise.all(tabs.map(async (t) => (await readView(t.page)).lastUploadNorm as number));
    console.log(
      `${label}: accuracy by round ${accuracyByRound.map((a) => a.toFixed(3)).join(' → ')}; ` +
        `last upload norms ${uploadNorms.map((n) => n.toFixed(3)).join(', ')}; ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
    return { accuracyByRound, final: accuracyByRound[ROUNDS] as number, uploadNorms };
  } finally {
    for (const t of tabs) await t.context.close();
    await coordinator?.stop();
  }
}

test.describe.serial('one poisoning tab among five', () => {
  let clean: RunResult | undefined;

  test('(a) clean run: five honest tabs, plain mean', async ({ browser }) => {
    test.setTimeout(10 * 60_000);
    clean = await runFleet(browser, 'clean', undefined, ['--robust', 'mean', '--clip-norm', 'off']);
    expect(clean.final).toBeGreaterThan((clean.accuracyByRound[0] as number) + 0.1);
  });

  test(`(b) ${POISON} poisoner, ${ROBUST.join(' ')}: final accuracy within 2 points of the clean run`, async ({ browser }) => {
    test.setTimeout(10 * 60_000);
    const run = await runFleet(browser, 'poisoned, robust', POISON, [...ROBUST, ...NO_NORM_CHECK]);
    const [poisoner, ...honest] = run.uploadNorms as [number, ...number[]];
    // The attack really happened: the poisoner's upload is far longer than any honest one.
    expect(poisoner).toBeGreaterThan(5 * Math.max(...honest));
    console.log(`robust ${run.final.toFixed(3)} vs clean ${clean!.final.toFixed(3)}: ${((run.final - clean!.final) * 100).toFixed(1)} points`);
    expect(run.final).toBeGreaterThanOrEqual(clean!.final - MAX_DROP);
  });

  test(`(c) ${POISON} poisoner, plain mean: clearly damaged`, async ({ browser }) => {
    test.setTimeout(10 * 60_000);
    const run = await runFleet(browser, 'poisoned, plain mean', POISON, [...NO_NORM_CHECK, '--robust', 'mean', '--clip-norm', 'off']);
    console.log(`plain mean ${run.final.toFixed(3)} vs clean ${clean!.final.toFixed(3)}`);
    expect(run.final).toBeLessThan(clean!.final - 0.1);
  });
});
