/**
 * Real tabs across a cluster: two coordinator processes on one real redis-server share one
 * HierFedLoRA run; four headless Chromium tabs in fleet mode open node A or node B (two each).
 * Checks that the tabs got four different fleet partitions (slots are claimed in Redis, not per
 * node), that tabs were redirected to their groups' owners (they joined more than once), and that
 * the leader completes two global rounds.
 */
import { expect, test } from '@playwright/test';
import { startRedis, type RedisProcess } from '../scripts/cluster-fleet/harness';
import { startCoordinatorProcess, type CoordinatorProcess } from '../scripts/coordinator-process';
import { coordinatorStatus, openDevice, readView, waitForJoins, type DeviceTab, type TabView } from './support/device-page';

const ROUNDS = 2;
const DEVICES = 4;

interface StatusJson {
  rounds: Array<{ round: number; participants: number; groups: number; accuracy: number | null }>;
}

test('4 tabs on 2 coordinator nodes sharing one Redis complete a 2-round HierFedLoRA run', async ({ browser }) => {
  test.setTimeout(5 * 60_000);
  let redis: RedisProcess | undefined;
  const nodes: CoordinatorProcess[] = [];
  const tabs: DeviceTab[] = [];
  try {
    redis = await startRedis();
    const token = 'cluster-spec-token';
    const args = (id: string) => [
      '--redis', redis!.url, '--cluster', 'spec', '--node-id', id,
      '--strategy', 'hierfedlora', '--devices', String(DEVICES), '--groups', '2', '--rounds', String(ROUNDS),
      '--max-per-class', '12', '--local-steps', '2', '--batch-size', '8', '--rejoin-grace', '20',
    ];
    nodes.push(await startCoordinatorProcess(args('a'), { token }));
    nodes.push(await startCoordinatorProcess(args('b'), { token }));
    const views: TabView[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const tab = await openDevice(browser, { url: nodes[i % 2]!.url, token, mode: 'fleet', backend: 'wasm' });
      tabs.push(tab);
      views.push(await waitForJoins(tab.page, 1));
    }
    expect(new Set(views.map((v) => v.partitionIndex)).size, 'each tab its own fleet partition across both nodes').toBe(DEVICES);

    const completed = async () => {
      let best = 0;
      for (const n of nodes) {
        const s = await coordinatorStatus<StatusJson>(n.url, n.adminToken).catch(() => undefined);
        best = Math.max(best, s?.rounds.filter((r) => r.round >= 1 && r.accuracy !== null).length ?? 0);
      }
      return best;
    };
    await expect.poll(completed, { timeout: 4 * 60_000, intervals: [2_000] }).toBeGreaterThanOrEqual(ROUNDS);

    const after = await Promise.all(tabs.map((t) => readView(t.page)));
    for (const v of after) expect(v.error ?? '', `tab ${v.deviceId}`).toBe('');
    expect(after.some((v) => v.joins > 1), 'some tab was redirected to its group\'s owner and joined there').toBe(true);
    const out = nodes.map((n) => n.output()).join('\n');
    expect(out).toMatch(/group \S+ → node [ab]/);
    expect(out).toMatch(/running group \S+ here/);
  } finally {
    for (const t of tabs) await t.context.close().catch(() => {});
    for (const n of nodes) await n.stop().catch(() => {});
    await redis?.stop();
  }
});
