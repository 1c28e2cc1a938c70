/**
 * The issue-4 acceptance run with real tabs: six headless tabs on a Dirichlet(0.5) label-skewed
 * split train under `--strategy hierfedlora` against a real coordinator. All tabs share one
 * machine, so device heterogeneity is emulated with ?slowdown= (each training step, profile
 * included, really takes that many times as long): four tabs at full speed, one at 3×, one at 6×.
 * Whichever group holds the 6× tab is planned shallower than the all-fast groups, and the fast groups
 * aggregate several times per global round (τ > 1). Checks that the coordinator formed several
 * groups, that its plans carry τ > 1 and several depths, that devices of different groups trained different depths
 * (the block keys and sizes of the uploads the coordinator accepted), and that global accuracy rises.
 */
import { expect, test } from '@playwright/test';
import { trainedBlockKeys } from '../packages/lora-core/src/lora/adapter-state';
import { startCoordinatorProcess, type CoordinatorProcess } from '../scripts/coordinator-process';
import { coordinatorStatus, openDevice, waitForJoins, type DeviceTab, type TabView } from './support/device-page';

const SLOWDOWNS = [1, 1, 1, 1, 3, 6];
const DEVICES = SLOWDOWNS.length;
const GROUPS = 3;
const ROUNDS = 3;
const NUM_BLOCKS = 4;

interface DeviceRow {
  deviceId: string;
  backend: string | null;
  groupId: string | null;
  depth: number | null;
  bytesUp: number;
  lastUpload: { round: number; groupId: string; blockKeys: string[]; bytes: number } | null;
}

interface StatusJson {
  rounds: Array<{ round: number; participants: number; groups: number; accuracy: number | null; bytesUp: number }>;
  devices: DeviceRow[];
}

const status = (url: string) => coordinatorStatus<StatusJson>(url);

test('6 heterogeneous tabs run HierFedLoRA: several groups, different depths per group, accuracy rises', async ({ browser }) => {
  test.setTimeout(15 * 60_000);
  let coordinator: CoordinatorProcess | undefined;
  const tabs: DeviceTab[] = [];
  try {
    coordinator = await startCoordinatorProcess([
      '--strategy', 'hierfedlora',
      '--devices', String(DEVICES),
      '--groups', String(GROUPS),
      '--rounds', String(ROUNDS),
      '--alpha', '0.5',
      '--max-per-class', '40',
      '--local-steps', '4',
      '--batch-size', '8',
      '--head-lr', '0.03',
    ]);
    const { url, token } = coordinator;
    // One tab at a time: each measures its profile while the others sit idle, as separate phones
    // would, instead of six tabs timing steps against each other on two cores.
    const views: TabView[] = [];
    for (const slowdown of SLOWDOWNS) {
      const tab = await openDevice(browser, { url, token, mode: 'fleet', backend: 'wasm', slowdown });
      tabs.push(tab);
      views.push(await waitForJoins(tab.page, 1));
    }
    expect(new Set(views.map((v) => v.partitionIndex)).size).toBe(DEVICES);
    expect(views.map((v) => v.slowdown)).toEqual(SLOWDOWNS);
    for (const v of views) expect(v.profile?.msPerStep).toHaveLength(NUM_BLOCKS);

    await expect
      .poll(async () => (await status(url)).rounds.filter((r) => r.round >= 1 && r.accuracy !== null).length, {
        timeout: 12 * 60_000,
        intervals: [2_000],
      })
      .toBe(ROUNDS);

    const s = await status(url);
    const planLines = coordinator.output().split('\n').filter((l) => / plan/.test(l));
    console.log(planLines.join('\n'));
    // The plans the coordinator carried out: per group (depth, τ) jointly — the fast groups aggregate
    // several times per global round (τ > 1) while the group with the slowest tab does not, and the
    // groups train different depths. No degenerate-plan warning.
    const planned = planLines.flatMap((l) => [...l.matchAll(/group (\S+) depth (\d+) τ (\d+)/g)].map((m) => ({ groupId: m[1]!, depth: Number(m[2]), tau: Number(m[3]) })));
    expect(planned.length).toBeGreaterThanOrEqual(GROUPS);
    expect(Math.max(...planned.map((p) => p.tau))).toBeGreaterThan(1);
    expect(new Set(planned.map((p) => p.depth)).size).toBeGreaterThan(1);
    expect(planLines.some((l) => /degenerate plan/.test(l))).toBe(false);
    const byRound = new Map(s.rounds.map((r) => [r.round, r]));
    for (let r = 1; r <= ROUNDS; r++) {
      expect(byRound.get(r)?.groups).toBe(GROUPS);
      expect(byRound.get(r)?.participants).toBe(DEVICES);
    }

    // (1) groups formed, (2) different groups trained different depths — as the coordinator
    // accepted them: each device's last upload carries exactly the blocks of its depth.
    const rows = views.map((v, i) => {
      const d = s.devices.find((x) => x.deviceId === v.deviceId);
      expect(d?.backend).toBe('wasm');
      expect(d?.groupId).not.toBeNull();
      expect(d?.lastUpload).not.toBeNull();
      return { slowdown: SLOWDOWNS[i] as number, ...(d as DeviceRow), lastUpload: d?.lastUpload as NonNullable<DeviceRow['lastUpload']> };
    });
    console.log(rows.map((r, i) => `${r.deviceId} ×${r.slowdown} profile ${views[i]?.profile?.msPerStep.map((m) => m.toFixed(0)).join('/')} ms`).join('\n'));
    console.log(rows.map((r) => `${r.deviceId} ×${r.slowdown} ${r.groupId} depth ${r.depth} [${r.lastUpload.blockKeys.join(',')}] ${r.lastUpload.bytes} B`).join('\n'));
    const depthOfGroup = new Map<string, number>();
    for (const r of rows) {
      const depth = r.lastUpload.blockKeys.length - 1;
      expect([...r.lastUpload.blockKeys].sort()).toEqual([...trainedBlockKeys(NUM_BLOCKS, depth)].sort());
      expect(r.depth).toBe(depth);
      expect(r.lastUpload.groupId).toBe(r.groupId);
      // Members of one group train one depth.
      expect(depthOfGroup.get(r.lastUpload.groupId) ?? depth).toBe(depth);
      depthOfGroup.set(r.lastUpload.groupId, depth);
    }
    expect(depthOfGroup.size).toBe(GROUPS);
    expect(new Set(depthOfGroup.values()).size).toBeGreaterThan(1);
    // The group holding the slowest tab trains shallower than the deepest group.
    const slowest = rows.find((r) => r.slowdown === Math.max(...SLOWDOWNS)) as (typeof rows)[number];
    expect(depthOfGroup.get(slowest.groupId as string) as number).toBeLessThan(Math.max(...depthOfGroup.values()));
    // Uploads at different depths differ in size; at one depth they are equal.
    const bytesByDepth = new Map<number, Set<number>>();
    for (const r of rows) {
      const depth = r.lastUpload.blockKeys.length - 1;
      bytesByDepth.set(depth, (bytesByDepth.get(depth) ?? new Set()).add(r.lastUpload.bytes));
    }
    const sizes = [...bytesByDepth.entries()].sort((a, b) => a[0] - b[0]).map(([, set]) => {
      expect(set.size).toBe(1);
      return [...set][0] as number;
    });
    for (let i = 1; i < sizes.length; i++) expect(sizes[i] as number).toBeGreaterThan(sizes[i - 1] as number);

    // (3) global accuracy rises over the global rounds.
    const first = byRound.get(0)?.accuracy;
    const last = byRound.get(ROUNDS)?.accuracy;
    console.log(`accuracy by round: ${s.rounds.map((r) => `${r.round}:${r.accuracy?.toFixed(3)}`).join(' ')}`);
    expect(first).not.toBeNull();
    expect(last).not.toBeNull();
    expect(last as number).toBeGreaterThan((first as number) + 0.1);
  } finally {
    for (const t of tabs) await t.context.close();
    await coordinator?.stop();
  }
});
