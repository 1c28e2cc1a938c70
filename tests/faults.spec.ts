/**
 * Faults with real processes, real sockets and real tabs (issue 5):
 * - a round deadline leaves a straggler out while the round still aggregates, and a tab whose
 *   network drops mid-round gets its work again when it comes back;
 * - the coordinator killed with SIGKILL mid-round and restarted on the same database, without any
 *   token flag, resumes the run from its last completed round with its stored join token; the tabs
 *   reconnect by themselves and nothing is lost.
 */
import { expect, test } from '@playwright/test';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeAdapter } from '../packages/lora-core/src/protocol/adapter-codec';
import { startCoordinatorProcess, type CoordinatorProcess } from '../scripts/coordinator-process';
import { openFlakyLink, type FlakyLink } from './support/flaky-link';
import { coordinatorStatus, openDevice, readView, waitForJoins, type DeviceTab, type TabView } from './support/device-page';

interface StatusJson {
  status: { state: string; round: number; devicesJoined: number };
  rounds: Array<{ round: number; participants: number; accuracy: number | null }>;
  devices: Array<{ deviceId: string; progress: { round: number; step: number } | null }>;
}

interface DbRound {
  round: number;
  participants: string[];
  accuracy: number;
  evaluatedAt: number;
  checkpoint: Buffer;
}

/** Everything the database holds about a run's completed rounds, read the way an auditor would. */
function readRounds(file: string, runId: string): { integrity: string; status: string; rounds: DbRound[] } {
  const db = new Database(file, { readonly: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    const status = (db.prepare('SELECT status FROM runs WHERE id = ?').get(runId) as { status: string }).status;
    const rows = db
      .prepare(
        `SELECT r.round, r.participants, m.accuracy, m.evaluated_at, c.bytes FROM rounds r
         JOIN metrics m ON m.run_id = r.run_id AND m.round = r.round
         JOIN checkpoints c ON c.run_id = r.run_id AND c.round = r.round
         WHERE r.run_id = ? ORDER BY r.round`,
      )
      .all(runId) as Array<{ round: number; participants: string; accuracy: number; evaluated_at: number; bytes: Buffer }>;
    const rounds = rows.map((r) => ({
      round: r.round,
      participants: JSON.parse(r.participants) as string[],
      accuracy: r.accuracy,
      evaluatedAt: r.evaluated_at,
      checkpoint: r.bytes,
    }));
    return { integrity, status, rounds };
  } finally {
    db.close();
  }
}

const status = (url: string) => coordinatorStatus<StatusJson>(url);

/**
 * The device's training progress as the coordinator last heard it. Watched from the coordinator:
 * a tab's page is unresponsive to the test while it runs wasm training steps.
 */
async function progressOf(url: string, deviceId: string): Promise<{ round: number; step: number } | null> {
  return (await status(url)).devices.find((d) => d.deviceId === deviceId)?.progress ?? null;
}

const COMMON = ['--strategy', 'fedlora', '--alpha', '0.5', '--max-per-class', '40', '--batch-size', '8', '--head-lr', '0.03'];
/** TABFLEET_E2E_VERBOSE=1 streams the coordinator's output into the test log. */
const verbose = process.env.TABFLEET_E2E_VERBOSE ? { onOutput: (text: string) => process.stdout.write(text) } : {};

test('a straggler misses the deadline and is left out; a tab that drops mid-round gets its work again', async ({ browser }) => {
  test.setTimeout(12 * 60_000);
  const dir = mkdtempSync(join(tmpdir(), 'tabfleet-faults-'));
  const db = join(dir, 'state.sqlite');
  let coordinator: CoordinatorProcess | undefined;
  let link: FlakyLink | undefined;
  const tabs: DeviceTab[] = [];
  try {
    coordinator = await startCoordinatorProcess(
      [...COMMON, '--devices', '3', '--rounds', '2', '--local-steps', '6', '--round-timeout', '30', '--min-report', '0.5', '--rejoin-grace', '60'],
      { db, ...verbose },
    );
    const { url, token, runId, adminToken } = coordinator;
    const steady = await openDevice(browser, { url, token, mode: 'fleet', backend: 'wasm' });
    link = await openFlakyLink(url);
    const flaky = await openDevice(browser, { url: link.url, token, mode: 'fleet', backend: 'wasm' });
    // Holds every upload 45 s, past the 30 s deadline: a phone that went quiet after training.
    const straggler = await openDevice(browser, { url, token, mode: 'fleet', backend: 'wasm', stall: 45 });
    tabs.push(steady, flaky, straggler);
    const [steadyView, flakyView, stragglerView] = (await Promise.all(tabs.map((t) => waitForJoins(t.page, 1)))) as [TabView, TabView, TabView];

    // The flaky tab loses its network for 8 s in the middle of round 2's training. (Round 2: while
    // round 1 starts, this test is still waiting for the busy pages to report their joins.)
    await expect
      .poll(async () => {
        const p = await progressOf(url, flakyView.deviceId);
        return p !== null && p.round === 2 && p.step >= 1;
      }, { timeout: 180_000, intervals: [100] })
      .toBe(true);
    link.drop(8_000);
    expect(link.cut).toBeGreaterThan(0);

    await expect.poll(async () => (await status(url)).status.state, { timeout: 8 * 60_000, intervals: [2_000] }).toBe('finished');
    // The straggler's late upload is refused, by name, not silently taken into a later round.
    await expect
      .poll(async () => (await readView(straggler.page)).error ?? '', { timeout: 90_000, intervals: [1_000] })
      .toMatch(/stale-round|unexpected-upload/);

    const flakyAfter = await readView(flaky.page);
    expect(flakyAfter.joins).toBeGreaterThanOrEqual(2);
    expect(coordinator.output()).toContain(`device ${flakyView.deviceId} is back: resent its work for round 2.0`);
    // Tokens appear in the start-up banner only (device URL and fleet URL; the admin link), never in the log.
    const out = coordinator.output();
    expect(out.split(token).length - 1, 'join token occurrences').toBe(2);
    expect(out.split(adminToken).length - 1, 'admin token occurrences').toBe(1);
    await coordinator.stop();
    const { rounds } = readRounds(db, runId);
    expect(rounds.map((r) => r.round)).toEqual([0, 1, 2]);
    for (const r of rounds.slice(1)) {
      expect(r.participants, `round ${r.round}`).toEqual([steadyView.deviceId, flakyView.deviceId].sort());
      expect(r.participants).not.toContain(stragglerView.deviceId);
    }
    console.log(`accuracy by round: ${rounds.map((r) => `${r.round}:${r.accuracy.toFixed(3)}`).join(' ')}`);
  } finally {
    for (const t of tabs) await t.context.close();
    await link?.close();
    await coordinator?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGKILL mid-round, restart on the same database: the run resumes and loses nothing', async ({ browser }) => {
  test.setTimeout(12 * 60_000);
  const dir = mkdtempSync(join(tmpdir(), 'tabfleet-restart-'));
  const db = join(dir, 'state.sqlite');
  const ROUNDS = 3;
  const args = [...COMMON, '--devices', '2', '--rounds', String(ROUNDS), '--local-steps', '6', '--round-timeout', '120', '--rejoin-grace', '60'];
  let coordinator: CoordinatorProcess | undefined;
  const tabs: DeviceTab[] = [];
  try {
    coordinator = await startCoordinatorProcess(args, { db, ...verbose });
    const { url, token, runId, port, adminToken } = coordinator;
    for (let i = 0; i < 2; i++) tabs.push(await openDevice(browser, { url, token, mode: 'fleet', backend: 'wasm' }));
    const views = await Promise.all(tabs.map((t) => waitForJoins(t.page, 1)));

    // Kill while round 2 is being trained: round 1 is complete, round 2 is in flight.
    await expect.poll(async () => (await status(url)).status.round, { timeout: 6 * 60_000, intervals: [500] }).toBeGreaterThanOrEqual(1);
    await expect
      .poll(async () => ((await progressOf(url, views[0]!.deviceId))?.round ?? 0) >= 2, { timeout: 180_000, intervals: [100] })
      .toBe(true);
    await coordinator.crash();
    const before = readRounds(db, runId);
    expect(before.integrity).toBe('ok');
    expect(before.status).toBe('running');
    const completedBefore = before.rounds.length - 1;
    expect(completedBefore).toBeGreaterThanOrEqual(1);
    expect(completedBefore).toBeLessThan(ROUNDS);

    // Same command, same database and port, and no --token flag (issue 13): the process resumes
    // with the run's stored join token, so the tabs find it again by themselves.
    coordinator = await startCoordinatorProcess(args, { db, port, token: null, adminToken, ...verbose });
    expect(coordinator.resumed).toBe(true);
    expect(coordinator.token).toBe(token);
    expect(coordinator.output()).toContain('resuming with its stored join token');
    expect(coordinator.runId).toBe(runId);
    expect(coordinator.output()).toContain(`resuming run ${runId} after round ${completedBefore}`);
    await expect.poll(async () => (await status(url)).status.state, { timeout: 8 * 60_000, intervals: [2_000] }).toBe('finished');
    for (const t of tabs) expect((await readView(t.page)).joins).toBeGreaterThanOrEqual(2);
    await coordinator.stop();

    const after = readRounds(db, runId);
    expect(after.integrity).toBe('ok');
    expect(after.status).toBe('finished');
    expect(after.rounds.map((r) => r.round)).toEqual([0, 1, 2, 3]);
    for (const r of before.rounds) {
      const same = after.rounds[r.round]!;
      expect(same.accuracy, `round ${r.round} metric kept`).toBe(r.accuracy);
      expect(same.evaluatedAt).toBe(r.evaluatedAt);
      expect(Buffer.compare(same.checkpoint, r.checkpoint), `round ${r.round} checkpoint kept byte for byte`).toBe(0);
    }
    for (const r of after.rounds) {
      expect(decodeAdapter(r.checkpoint).size, `checkpoint of round ${r.round} decodes`).toBeGreaterThan(0);
      if (r.round > 0) expect(r.participants).toEqual(views.map((v) => v.deviceId).sort());
    }
    console.log(`crashed after round ${completedBefore}; accuracy by round: ${after.rounds.map((r) => `${r.round}:${r.accuracy.toFixed(3)}`).join(' ')}`);
  } finally {
    for (const t of tabs) await t.context.close();
    await coordinator?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
