/**
 * Data-parallel training in a real tab (apps/web-device/src/parallel): with ?workers=2 the page
 * starts two Web Workers, each with its own single-threaded wasm tfjs and model replica, splits
 * every training step's batch between them, says so (status, backend report, the coordinator's
 * /api/status), and its round's delta is accepted. The second test opens the page as a phone on
 * the LAN would, http://<LAN address>: not a secure context, not cross-origin isolated (no threaded
 * wasm), and the workers, which need neither, still train on two cores.
 */
import { networkInterfaces } from 'node:os';
import { expect, request, test } from '@playwright/test';
import type { APIRequestContext, BrowserContext, Page } from '@playwright/test';
import { startCoordinatorProcess } from '../scripts/coordinator-process';
import type { CoordinatorProcess } from '../scripts/coordinator-process';
import { deviceUrl } from '../scripts/fleet-lib';
import { readView, waitForJoins } from './support/device-page';

test.describe.configure({ mode: 'serial' });

let coordinator: CoordinatorProcess;
let api: APIRequestContext;

interface StatusRow {
  deviceId: string;
  backend: string | null;
  dataParallelWorkers: number | null;
  lastUpload: { round: number; blockKeys: string[]; bytes: number } | null;
}

interface ParallelView {
  deviceId: string;
  isolated: boolean;
  secureContext: boolean;
  uploads: number;
  uploadedRounds: number[];
  lastUploadNorm: number | null;
  dataParallelWanted: number;
  dataParallelWorkers?: number;
  dataParallelNote?: string;
  backend?: { name: string; dataParallelWorkers?: number };
  profile?: { msPerStep: number[] };
  recentStepMs: number[];
  trials: Array<{ name: string; ms: number | null; dataParallelWorkers?: number }>;
}

async function startCoordinator(extra: readonly string[] = []): Promise<void> {
  coordinator = await startCoordinatorProcess(['--devices', '1', '--rounds', '1', '--max-per-class', '40', '--local-steps', '3', '--batch-size', '8', ...extra]);
  api = await request.newContext({ baseURL: coordinator.url });
}

/** This machine's first non-loopback IPv4 address, if it has one. */
function lanAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

test.afterEach(async () => {
  await api?.dispose();
  await coordinator?.stop();
});

async function statusDevice(deviceId: string): Promise<StatusRow | undefined> {
  const res = await api.get('/api/status');
  expect(res.ok()).toBe(true);
  return ((await res.json()) as { devices: StatusRow[] }).devices.find((d) => d.deviceId === deviceId);
}

/** Opens a tab with ?workers=2, waits for its first upload, and checks what it and the coordinator report. */
async function trainWithTwoWorkers(context: BrowserContext, base = coordinator.url): Promise<{ page: Page; view: ParallelView }> {
  const page = await context.newPage();
  const url = new URL(deviceUrl(base, coordinator.token, 'fleet', 'wasm'));
  url.searchParams.set('workers', '2');
  await page.goto(url.toString());
  await waitForJoins(page, 1);
  const joined = (await readView(page)) as unknown as ParallelView;
  expect(joined).toMatchObject({ dataParallelWanted: 2, dataParallelWorkers: 2, backend: { name: 'wasm', dataParallelWorkers: 2 } });
  expect(joined.dataParallelNote).toBeUndefined();
  await expect(page.getByTestId('data-parallel')).toContainText('2 data-parallel workers × 1 thread');
  // The backend trial timed the data-parallel step the device trains with, not the page's own one.
  expect(joined.trials).toEqual([expect.objectContaining({ name: 'wasm', dataParallelWorkers: 2 })]);
  // The page runs two shard workers of its own (the trial's, kept; besides any pthread workers of threaded wasm).
  expect(page.workers().filter((w) => w.url().includes('shard-worker'))).toHaveLength(2);
  // The per-depth profile was measured on the data-parallel step, and the coordinator got the count.
  expect(joined.profile?.msPerStep).toHaveLength(4);
  expect((await statusDevice(joined.deviceId))?.dataParallelWorkers).toBe(2);

  await page.waitForFunction(() => ((globalThis as unknown as { __tabfleet: { view(): { uploads: number; phase: string; error?: string } } }).__tabfleet.view().uploads ?? 0) >= 1, undefined, {
    timeout: 180_000,
  });
  const view = (await readView(page)) as unknown as ParallelView;
  expect(view.recentStepMs.length).toBeGreaterThanOrEqual(3);
  expect(view.lastUploadNorm ?? 0).toBeGreaterThan(0);
  // Accepted: the coordinator records the round's upload with the trained blocks.
  expect(view.uploadedRounds).toHaveLength(1);
  await expect.poll(async () => (await statusDevice(view.deviceId))?.lastUpload?.round, { timeout: 60_000 }).toBe(view.uploadedRounds[0]);
  const row = await statusDevice(view.deviceId);
  expect(row?.lastUpload?.blockKeys.length ?? 0).toBeGreaterThan(0);
  expect(row?.lastUpload?.bytes ?? 0).toBeGreaterThan(0);
  return { page, view };
}

test('a tab with ?workers=2 splits each step across two Web Workers, reports it, and its delta is accepted', async ({ browser }) => {
  await startCoordinator();
  const context = await browser.newContext();
  try {
    const { view } = await trainWithTwoWorkers(context);
    expect(view.isolated).toBe(true);
  } finally {
    await context.close();
  }
});

test('on http://<LAN address> (no secure context, no isolation) the data-parallel workers still train on two cores', async ({ browser }) => {
  const lan = lanAddress();
  test.skip(lan === undefined, 'this machine has no LAN address');
  await startCoordinator(['--host', '0.0.0.0']);
  const context = await browser.newContext();
  try {
    const { page, view } = await trainWithTwoWorkers(context, coordinator.url.replace('127.0.0.1', lan as string));
    expect(view).toMatchObject({ secureContext: false, isolated: false });
    await expect(page.getByTestId('insecure-warning')).toContainText('It still trains on 2 CPU cores');
  } finally {
    await context.close();
  }
});

test('a shard worker that goes silent mid-run is stopped at its answer deadline; the page says so and trains on in the page', async ({ browser }) => {
  await startCoordinator(['--rounds', '2']);
  const context = await browser.newContext();
  try {
    const { page } = await trainWithTwoWorkers(context);
    // A worker that closes itself fires no error event: only the answer deadline can tell.
    const shard = page.workers().find((w) => w.url().includes('shard-worker'));
    expect(shard).toBeDefined();
    await shard?.evaluate(() => (globalThis as unknown as { close(): void }).close());
    const readUploads = () => page.evaluate(() => (globalThis as unknown as { __tabfleet: { view(): { uploads: number } } }).__tabfleet.view().uploads);
    await expect.poll(async () => ((await readView(page)) as unknown as ParallelView).dataParallelNote, { timeout: 120_000 }).toMatch(/data-parallel worker \d gave no answer in 30 s; training steps run in the page from now on/);
    await expect.poll(readUploads, { timeout: 180_000 }).toBeGreaterThanOrEqual(2);
    const view = (await readView(page)) as unknown as ParallelView;
    expect(view.dataParallelWorkers).toBe(1);
    expect(view.uploadedRounds).toHaveLength(2);
    await expect.poll(async () => (await statusDevice(view.deviceId))?.lastUpload?.round, { timeout: 60_000 }).toBe(view.uploadedRounds[1]);
    await expect.poll(() => page.workers().filter((w) => w.url().includes('shard-worker')).length).toBe(0);
  } finally {
    await context.close();
  }
});
