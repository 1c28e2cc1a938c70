/**
 * Real tabs against a real coordinator: each tab joins with a backend it chose (or was forced to)
 * and a measured resource profile, keeps its identity across a reload, and in own-data mode never
 * sends its file anywhere.
 */
import { expect, test } from '@playwright/test';
import type { Page } from '@playwright/test';
import { coordinatorDevices, openDevice, readView, waitForJoins } from './support/device-page';
import type { DeviceTab } from './support/device-page';

const url = process.env.TABFLEET_URL as string;
const token = process.env.TABFLEET_TOKEN as string;
const adminToken = process.env.TABFLEET_ADMIN_TOKEN as string;

test.describe.configure({ mode: 'serial' });

test('tabs join with a backend and a resource profile, and keep their identity across a reload', async ({ browser }) => {
  const tabs: DeviceTab[] = [];
  try {
    // Tab 0 measures every backend and picks; tab 1 is forced to wasm.
    tabs.push(await openDevice(browser, { url, token, mode: 'fleet' }));
    tabs.push(await openDevice(browser, { url, token, mode: 'fleet', backend: 'wasm' }));
    const views = await Promise.all(tabs.map((t) => waitForJoins(t.page, 1)));

    for (const v of views) {
      expect(v.backend).toBeDefined();
      expect(['webgpu', 'webgl', 'wasm', 'cpu']).toContain(v.backend?.name);
      expect(v.profile?.msPerStep).toHaveLength(v.task?.numBlocks ?? -1);
      for (const ms of v.profile?.msPerStep ?? []) expect(ms).toBeGreaterThan(0);
      expect(v.profile?.uploadBytesPerSec).toBeGreaterThan(0);
      expect(v.profile?.memoryBytes).toBeGreaterThan(0);
      expect(v.labelHistogram?.reduce((a, b) => a + b, 0)).toBe(v.numSamples);
    }
    expect(new Set(views.map((v) => v.deviceId)).size).toBe(2);
    expect(new Set(views.map((v) => v.partitionIndex)).size).toBe(2);

    const [auto, forced] = views as [NonNullable<(typeof views)[0]>, NonNullable<(typeof views)[1]>];
    expect(auto.backend?.forced).toBe(false);
    // cpu is measured only when both wasm and webgl fail.
    expect(auto.trials.map((t) => t.name)).toEqual(['webgpu', 'webgl', 'wasm']);
    const measured = auto.trials.filter((t) => t.ms !== null) as Array<{ name: string; ms: number }>;
    const wasm = measured.find((t) => t.name === 'wasm');
    // Whatever won must not be slower than wasm (a software WebGPU adapter must not beat a faster wasm).
    if (wasm) expect(measured.find((t) => t.name === auto.backend?.name)?.ms ?? Infinity).toBeLessThanOrEqual(wasm.ms);
    expect(forced.backend).toMatchObject({ name: 'wasm', forced: true });
    expect(forced.trials.map((t) => t.name)).toEqual(['wasm']);

    // The coordinator saw what the tabs reported.
    const devices = await coordinatorDevices(url, adminToken);
    for (const v of views) {
      const d = devices.find((x) => x.deviceId === v.deviceId);
      expect(d, `coordinator knows ${v.deviceId}`).toBeDefined();
      expect(d).toMatchObject({ connected: true, backend: v.backend?.name, msPerStep: v.profile?.msPerStep, partitionIndex: v.partitionIndex, numSamples: v.numSamples });
    }

    // Reload tab 1 (the run is under way): same identity, same partition, a rejoin.
    const page = tabs[1]!.page;
    await page.reload();
    const again = await waitForJoins(page, 1);
    expect(again.deviceId).toBe(forced.deviceId);
    expect(again.partitionIndex).toBe(forced.partitionIndex);
    expect(again.rejoin).toBe(true);
    await expect(page.getByTestId('device-id')).toHaveText(forced.deviceId);
    const after = await coordinatorDevices(url, adminToken);
    expect(after.find((d) => d.deviceId === forced.deviceId)?.joins).toBe(2);
    expect(after.filter((d) => views.some((v) => v.deviceId === d.deviceId))).toHaveLength(2);
  } finally {
    for (const t of tabs) await t.context.close();
  }
});

test('own-data mode reads the file in the page and never sends it', async ({ browser }) => {
  const marker = `private-note-${Date.now()}`;
  const leaks: string[] = [];
  // Watch every request and websocket frame from the first byte on.
  const watch = (page: Page) => {
    page.on('request', (req) => {
      if (req.url().includes(marker) || (req.postData() ?? '').includes(marker)) leaks.push(`request ${req.url()}`);
    });
    page.on('websocket', (ws) =>
      ws.on('framesent', (frame) => {
        const text = typeof frame.payload === 'string' ? frame.payload : frame.payload.toString('latin1');
        if (text.includes(marker)) leaks.push(`websocket frame to ${ws.url()}`);
      }),
    );
  };
  const { context, page } = await openDevice(browser, { url, token, mode: 'own', backend: 'wasm', beforeLoad: watch });
  try {
    await expect(page.getByTestId('file-input')).toBeVisible({ timeout: 120_000 });
    const classNames = (await readView(page)).task?.classNames ?? [];
    expect(classNames.length).toBeGreaterThan(2);
    const rows = Array.from({ length: 12 }, (_, i) => JSON.stringify({ text: `${marker} sentence number ${i}`, label: classNames[i % 3] }));
    await page.getByTestId('file-input').setInputFiles({ name: 'mine.jsonl', mimeType: 'application/json', buffer: Buffer.from(rows.join('\n')) });
    const joined = await waitForJoins(page, 1);
    expect(joined.mode).toBe('own');
    expect(joined.numSamples).toBe(12);
    expect(joined.labelHistogram?.slice(0, 3)).toEqual([4, 4, 4]);
    expect(leaks).toEqual([]);
  } finally {
    await context.close();
  }
});
