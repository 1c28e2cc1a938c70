/**
 * Issue 11, own data on a decoder: a causal-LM task without a category field asks for 3 topic
 * clusters, which the coordinator computes from its evaluation rows (USE-lite + seeded k-means in
 * its LM worker) and ships with the task. A real tab in own-data mode refuses a JSONL file with bad
 * rows, naming each line, then trains on a good one next to a fleet tab and uploads; the histogram
 * it reports is over the 3 topic clusters (its rows embedded in the tab, only the counts sent), and
 * the status and the dashboard name the grouping statistic.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { startCoordinatorProcess, type CoordinatorProcess } from '../scripts/coordinator-process';
import { writeLmTask } from '../scripts/lm-task';
import { coordinatorStatus, openDevice, readView, waitForJoins, type DeviceTab } from './support/device-page';

interface StatusJson {
  task: { classNames: string[]; lm?: { grouping: string; topics?: { k: number; evalRowsPerTopic: number[] } } };
  rounds: Array<{ round: number; participants: number; loss: number | null }>;
  devices: Array<{ deviceId: string; labelHistogram: number[] | null; numSamples: number | null }>;
}

const OWN_ROWS = [
  { prompt: 'capital of norway', response: 'oslo' },
  { prompt: 'colour of the night sky', response: 'black' },
  { text: 'the opposite of light is heavy' },
  { prompt: 'capital of greece', response: 'athens' },
  { prompt: 'colour of a lemon', response: 'yellow' },
  { text: 'the opposite of near is far' },
  { prompt: 'capital of poland', response: 'warsaw' },
  { prompt: 'colour of milk', response: 'white' },
];

test('own JSONL rows on a topic-cluster decoder task: bad lines named, good file trains and uploads a topic histogram', async ({ browser }) => {
  test.setTimeout(4 * 60_000);
  const dir = mkdtempSync(join(tmpdir(), 'tabfleet-decoder-own-'));
  const files = writeLmTask(dir, { objective: { type: 'causal-lm', template: { prompt: 'Q: {prompt}\nA: ', appendEos: true }, topics: 3 } });
  let coordinator: CoordinatorProcess | undefined;
  const tabs: DeviceTab[] = [];
  try {
    coordinator = await startCoordinatorProcess(['--task', files.taskFile, '--strategy', 'hierfedlora', '--devices', '2', '--groups', '1', '--rounds', '1', '--local-steps', '2']);
    const { url, token, adminToken } = coordinator;
    const before = await coordinatorStatus<StatusJson>(url);
    expect(before.task.classNames).toEqual(['topic 1', 'topic 2', 'topic 3']);
    expect(before.task.lm?.grouping).toBe('3 topic clusters');
    expect(before.task.lm?.topics?.k).toBe(3);
    expect(coordinator.output()).toContain('near-IID grouping: 3 topic clusters');

    tabs.push(await openDevice(browser, { url, token, mode: 'fleet', backend: 'wasm' }));
    const own = await openDevice(browser, { url, token, mode: 'own', backend: 'wasm' });
    tabs.push(own);
    await expect(own.page.getByTestId('file-input')).toBeVisible({ timeout: 120_000 });

    // Lines 2 and 4 are bad: the file is refused naming both, nothing trained.
    const bad = [JSON.stringify(OWN_ROWS[0]), '{"prompt": "no response"}', JSON.stringify(OWN_ROWS[1]), 'not json'].join('\n');
    await own.page.getByTestId('file-input').setInputFiles({ name: 'bad.jsonl', mimeType: 'application/json', buffer: Buffer.from(bad) });
    await expect(own.page.getByTestId('error')).toContainText('bad.jsonl: 2 bad rows (the file is refused; fix them): bad.jsonl:2: a row needs {"prompt", "response"} or {"text"} strings; bad.jsonl:4: not valid JSON');
    expect((await readView(own.page)).joins).toBe(0);

    await own.page.getByTestId('file-input').setInputFiles({ name: 'mine.jsonl', mimeType: 'application/json', buffer: Buffer.from(OWN_ROWS.map((r) => JSON.stringify(r)).join('\n')) });
    const [fleetView, ownView] = await Promise.all(tabs.map((t) => waitForJoins(t.page, 1)));
    expect(ownView!.mode).toBe('own');
    expect(ownView!.error).toBeUndefined();
    expect(ownView!.numSamples).toBe(OWN_ROWS.length);
    // A histogram over the 3 topic clusters, of every own row.
    expect(ownView!.labelHistogram).toHaveLength(3);
    expect(ownView!.labelHistogram!.reduce((a, b) => a + b, 0)).toBe(OWN_ROWS.length);
    expect(fleetView!.labelHistogram).toHaveLength(3);
    expect(fleetView!.labelHistogram!.reduce((a, b) => a + b, 0)).toBe(fleetView!.numSamples);
    console.log(`topic histograms: own ${ownView!.labelHistogram!.join(', ')}; fleet ${fleetView!.labelHistogram!.join(', ')}; eval rows per topic ${before.task.lm?.topics?.evalRowsPerTopic.join(', ')}`);

    // The coordinator got exactly those histograms (admin status), and the round used both tabs.
    const devices = (await coordinatorStatus<StatusJson>(url, adminToken)).devices;
    expect(devices.map((d) => d.labelHistogram).sort()).toEqual([ownView!.labelHistogram, fleetView!.labelHistogram].sort());
    await expect.poll(async () => (await readView(own.page)).uploads, { timeout: 2 * 60_000, intervals: [1_000] }).toBeGreaterThanOrEqual(1);
    await expect
      .poll(async () => (await coordinatorStatus<StatusJson>(url)).rounds.find((r) => r.round === 1)?.participants ?? 0, { timeout: 2 * 60_000, intervals: [1_000] })
      .toBe(2);
    const s = await coordinatorStatus<StatusJson>(url);
    console.log(`held-out loss: ${s.rounds.map((r) => `${r.round}:${r.loss?.toFixed(4)}`).join(' ')}`);
    expect((await readView(own.page)).error).toBeUndefined();

    // The dashboard names the grouping statistic.
    const dash = await browser.newPage();
    await dash.goto(`${url}/dashboard/`);
    await expect(dash.getByTestId('lm-grouping')).toHaveText('near-IID grouping statistic: 3 topic clusters');
    await dash.close();
  } finally {
    for (const t of tabs) await t.context.close().catch(() => {});
    await coordinator?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
