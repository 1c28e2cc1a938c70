/**
 * The issue-3 acceptance run: four real tabs on a Dirichlet(0.5) label-skewed split complete three
 * FedLoRA global rounds against a real coordinator, and the global test accuracy the coordinator
 * measures after the last round clearly exceeds round 0.
 */
import { expect, test } from '@playwright/test';
import { startCoordinatorProcess, type CoordinatorProcess } from '../scripts/coordinator-process';
import { coordinatorStatus, openDevice, waitForJoins, type DeviceTab } from './support/device-page';

const DEVICES = 4;
const ROUNDS = 3;

interface StatusJson {
  status: { phase?: string; state?: string } & Record<string, unknown>;
  rounds: Array<{ round: number; participants: number; accuracy: number | null; bytesUp: number }>;
  devices: Array<{ deviceId: string; backend: string | null; bytesUp: number }>;
}

const status = (url: string) => coordinatorStatus<StatusJson>(url);

test('4 tabs complete 3 FedLoRA rounds on a Dirichlet(0.5) split and global accuracy rises clearly', async ({ browser }) => {
  test.setTimeout(15 * 60_000);
  let coordinator: CoordinatorProcess | undefined;
  const tabs: DeviceTab[] = [];
  try {
    coordinator = await startCoordinatorProcess([
      '--strategy', 'fedlora',
      '--devices', String(DEVICES),
      '--rounds', String(ROUNDS),
      '--alpha', '0.5',
      '--max-per-class', '60',
      '--local-steps', '8',
      '--batch-size', '8',
      '--head-lr', '0.03',
    ]);
    const { url, token } = coordinator;
    // wasm is forced here to keep the fleet quick; backend selection has its own spec.
    for (let i = 0; i < DEVICES; i++) tabs.push(await openDevice(browser, { url, token, mode: 'fleet', backend: 'wasm' }));
    const views = await Promise.all(tabs.map((t) => waitForJoins(t.page, 1)));
    expect(new Set(views.map((v) => v.partitionIndex)).size).toBe(DEVICES);
    for (const v of views) expect(v.backend?.name).toBe('wasm');

    await expect
      .poll(async () => (await status(url)).rounds.filter((r) => r.round >= 1 && r.accuracy !== null).length, {
        timeout: 12 * 60_000,
        intervals: [2_000],
      })
      .toBe(ROUNDS);

    const s = await status(url);
    const byRound = new Map(s.rounds.map((r) => [r.round, r]));
    const first = byRound.get(0)?.accuracy;
    const last = byRound.get(ROUNDS)?.accuracy;
    expect(first).not.toBeNull();
    expect(last).not.toBeNull();
    console.log(`accuracy by round: ${s.rounds.map((r) => `${r.round}:${r.accuracy?.toFixed(3)}`).join(' ')}`);
    expect(last as number).toBeGreaterThan((first as number) + 0.1);
    for (let r = 1; r <= ROUNDS; r++) {
      expect(byRound.get(r)?.participants).toBe(DEVICES);
      expect(byRound.get(r)?.bytesUp).toBeGreaterThan(0);
    }
    // Every tab reported its backend to the coordinator and uploaded deltas.
    for (const v of views) {
      const d = s.devices.find((x) => x.deviceId === v.deviceId);
      expect(d?.backend).toBe('wasm');
      expect(d?.bytesUp).toBeGreaterThan(0);
    }
  } finally {
    for (const t of tabs) await t.context.close();
    await coordinator?.stop();
  }
});
