/**
 * Real phones and laptops: a coordinator started with --https (a self-signed certificate it makes
 * itself), a laptop tab that is a secure, cross-origin isolated context training on threaded wasm,
 * and an emulated phone (mobile viewport and user agent, CPU throttled through the DevTools
 * protocol) that holds the wake lock while training, pauses and resumes from its button, pauses
 * while hidden or unplugged with "train only while charging" (the coordinator sees it paused), keeps its backend choice across a reload, and
 * refuses to be the same device in a second tab.
 */
import { devices, expect, request, test } from '@playwright/test';
import type { APIRequestContext, Page } from '@playwright/test';
import { startCoordinatorProcess } from '../scripts/coordinator-process';
import type { CoordinatorProcess } from '../scripts/coordinator-process';
import { deviceUrl } from '../scripts/fleet-lib';
import { readView, waitForJoins } from './support/device-page';

test.describe.configure({ mode: 'serial' });

let coordinator: CoordinatorProcess;
let api: APIRequestContext;

interface StatusRow {
  deviceId: string;
  paused: string[] | null;
  wasmThreads: number | null;
  backend: string | null;
}

async function statusDevice(deviceId: string): Promise<StatusRow | undefined> {
  const res = await api.get('/api/status');
  expect(res.ok()).toBe(true);
  return ((await res.json()) as { devices: StatusRow[] }).devices.find((d) => d.deviceId === deviceId);
}

async function viewField<T>(page: Page, pick: string): Promise<T> {
  return page.evaluate((k) => (globalThis as unknown as { __tabfleet: { view(): Record<string, unknown> } }).__tabfleet.view()[k], pick) as Promise<T>;
}

/** Waits until the tab trains (a step of local work done) and returns that step. */
async function waitForTrainingStep(page: Page, after = 0, timeout = 120_000): Promise<number> {
  const handle = await page.waitForFunction(
    (n) => {
      const v = (globalThis as unknown as { __tabfleet: { view(): { phase: string; error?: string; work?: { step: number } } } }).__tabfleet.view();
      if (v.phase === 'error') throw new Error(`device error: ${v.error}`);
      return v.phase === 'training' && (v.work?.step ?? 0) > n ? v.work?.step : false;
    },
    after,
    { timeout, polling: 200 },
  );
  return (await handle.jsonValue()) as number;
}

async function setHidden(page: Page, hidden: boolean): Promise<void> {
  // The page's own view of visibility, as a phone's browser reports it when the person switches apps.
  await page.evaluate((h) => {
    const doc = (globalThis as unknown as { document: EventTarget }).document;
    Object.defineProperty(doc, 'visibilityState', { value: h ? 'hidden' : 'visible', configurable: true });
    Object.defineProperty(doc, 'hidden', { value: h, configurable: true });
    doc.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

/** One coordinator per test, one device each. */
async function startHttpsCoordinator(localSteps: number): Promise<void> {
  coordinator = await startCoordinatorProcess(['--https', '--devices', '1', '--rounds', '30', '--max-per-class', '40', '--local-steps', String(localSteps), '--batch-size', '8']);
  api = await request.newContext({ baseURL: coordinator.url, ignoreHTTPSErrors: true });
}

test.afterEach(async () => {
  await api?.dispose();
  await coordinator?.stop();
});

test('over --https the page is a secure, cross-origin isolated context on threaded wasm, and trains a round', async ({ browser }) => {
  await startHttpsCoordinator(2);
  expect(coordinator.url).toMatch(/^https:\/\//);
  expect(coordinator.output()).toMatch(/SHA-256: {7}([0-9A-F]{2}:){31}[0-9A-F]{2}/);
  const page0 = await api.get('/');
  expect(page0.headers()['cross-origin-opener-policy']).toBe('same-origin');
  expect(page0.headers()['cross-origin-embedder-policy']).toBe('require-corp');

  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  try {
    const page = await context.newPage();
    await page.goto(deviceUrl(coordinator.url, coordinator.token, 'fleet', 'wasm'));
    const view = await waitForJoins(page, 1);
    const env = await page.evaluate(() => {
      const g = globalThis as unknown as { isSecureContext: boolean; crossOriginIsolated: boolean; navigator: { hardwareConcurrency: number } };
      return { secure: g.isSecureContext, isolated: g.crossOriginIsolated, cores: g.navigator.hardwareConcurrency };
    });
    expect(env).toMatchObject({ secure: true, isolated: true });
    expect(await page.getByTestId('insecure-warning').count()).toBe(0);
    expect(await page.getByTestId('isolation-warning').count()).toBe(0);
    const tf = await page.evaluate(() => (globalThis as unknown as { __tabfleet: { tfState(): Promise<{ backend?: string; wasmThreads?: number }> } }).__tabfleet.tfState());
    const wanted = Math.min(env.cores <= 2 ? env.cores : env.cores - 1, 4);
    expect(tf).toEqual({ backend: 'wasm', wasmThreads: wanted });
    expect(view).toMatchObject({ wasmThreads: wanted, wasmThreadsWanted: wanted });
    await expect(page.getByTestId('wasm-threads')).toContainText(`${wanted} thread`);
    expect((await statusDevice(view.deviceId))?.wasmThreads).toBe(wanted);

    // It trains and uploads a round, over wss.
    await page.waitForFunction(() => ((globalThis as unknown as { __tabfleet: { view(): { uploads: number } } }).__tabfleet.view().uploads ?? 0) >= 1, undefined, {
      timeout: 180_000,
    });
  } finally {
    await context.close();
  }
});

test('an emulated phone: usable, progress, wake lock, pause/resume, hidden and shown, reload without re-benchmark, no second tab', async ({ browser }) => {
  // Long local work, so that the phone stays inside one assignment (no round-end evaluation waits) while the spec pokes it.
  await startHttpsCoordinator(60);
  const context = await browser.newContext({ ...devices['Pixel 7'], ignoreHTTPSErrors: true });
  try {
    // A battery whose charging state the spec controls (headless Chromium always reports "charging").
    await context.addInitScript(() => {
      const battery = new EventTarget() as EventTarget & { charging: boolean; level: number };
      battery.charging = true;
      battery.level = 0.5;
      const g = globalThis as unknown as { navigator: object; __setCharging: (c: boolean) => void };
      Object.defineProperty(g.navigator, 'getBattery', { value: () => Promise.resolve(battery), configurable: true });
      g.__setCharging = (c: boolean) => {
        battery.charging = c;
        battery.dispatchEvent(new Event('chargingchange'));
      };
    });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    // Its own backend choice (not forced), so that the cache has something to keep.
    await page.goto(deviceUrl(coordinator.url, coordinator.token, 'fleet'));
    const first = await waitForJoins(page, 1);
    // A phone's slower CPU from here on (the backend benchmark above ran unthrottled, to keep the spec short).
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 2 });
    expect(first.trials.length).toBeGreaterThan(0);
    expect(await viewField<boolean>(page, 'backendCached')).toBe(false);

    // Usable on a small screen: nothing wider than the viewport, the controls visible.
    const width = await page.evaluate(() => {
      const g = globalThis as unknown as { document: { documentElement: { scrollWidth: number } }; innerWidth: number };
      return { scroll: g.document.documentElement.scrollWidth, inner: g.innerWidth };
    });
    expect(width.scroll).toBeLessThanOrEqual(width.inner);
    await expect(page.getByTestId('pause-button')).toBeVisible();

    // Progress and the wake lock while training.
    const step = await waitForTrainingStep(page);
    await expect(page.getByTestId('steps')).toHaveAttribute('value', /[1-9]/);
    await expect.poll(() => viewField<string>(page, 'wakeLock'), { timeout: 10_000 }).toBe('held');
    expect(step).toBeGreaterThan(0);

    // Pause from the button: training holds, the coordinator sees "paused", the wake lock goes.
    await page.getByTestId('pause-button').click();
    await expect.poll(() => viewField<string[]>(page, 'paused')).toEqual(['user']);
    await expect.poll(async () => (await statusDevice(first.deviceId))?.paused, { timeout: 10_000 }).toEqual(['user']);
    await expect(page.getByTestId('paused-notice')).toContainText('you paused it');
    await expect.poll(() => viewField<string>(page, 'wakeLock')).toBe('off');
    const heldAt = (await readView(page)).work?.step ?? 0;
    await page.waitForTimeout(4_000);
    expect((await readView(page)).work?.step ?? 0).toBeLessThanOrEqual(heldAt + 1); // at most the step under way finishes
    await page.getByTestId('pause-button').click();
    await expect.poll(async () => (await statusDevice(first.deviceId))?.paused ?? null, { timeout: 10_000 }).toBeNull();
    await waitForTrainingStep(page, 0);

    // Hidden: paused with the reason shown and sent; shown again: it resumes and takes the wake lock again.
    await setHidden(page, true);
    await expect.poll(() => viewField<string[]>(page, 'paused')).toEqual(['hidden']);
    await expect(page.getByTestId('paused-notice')).toContainText('hidden');
    await expect.poll(async () => (await statusDevice(first.deviceId))?.paused, { timeout: 10_000 }).toEqual(['hidden']);
    await setHidden(page, false);
    await expect.poll(() => viewField<string[]>(page, 'paused')).toEqual([]);
    const resumedStep = await waitForTrainingStep(page, 0);
    await expect.poll(() => viewField<string>(page, 'wakeLock'), { timeout: 10_000 }).toBe('held');

    // Train only while charging: unplugged → paused ('battery'), plugged in → it goes on.
    await page.getByTestId('charging-only').check();
    await page.evaluate(() => (globalThis as unknown as { __setCharging: (c: boolean) => void }).__setCharging(false));
    await expect.poll(() => viewField<string[]>(page, 'paused')).toEqual(['battery']);
    await expect.poll(async () => (await statusDevice(first.deviceId))?.paused, { timeout: 10_000 }).toEqual(['battery']);
    await page.evaluate(() => (globalThis as unknown as { __setCharging: (c: boolean) => void }).__setCharging(true));
    await expect.poll(() => viewField<string[]>(page, 'paused')).toEqual([]);
    await waitForTrainingStep(page, 0);

    const stepMs = await viewField<number[]>(page, 'recentStepMs');
    console.log(`emulated phone (Pixel 7, CPU ×2 throttled, ${first.backend?.name}): step ms ${stepMs.map((m) => m.toFixed(0)).join(', ')} (resumed at step ${resumedStep})`);

    // A reload mid-run uses the cached backend choice and profile: no benchmark.
    await page.reload();
    const again = await waitForJoins(page, 1);
    expect(again.deviceId).toBe(first.deviceId);
    expect(again.trials).toEqual([]);
    expect(await viewField<boolean>(page, 'backendCached')).toBe(true);
    expect(await viewField<boolean>(page, 'profileCached')).toBe(true);
    expect(again.backend?.name).toBe(first.backend?.name);
    expect(again.profile?.msPerStep).toEqual(first.profile?.msPerStep);

    // A second tab of the same browser is told, and does not take over.
    const second = await context.newPage();
    await second.goto(deviceUrl(coordinator.url, coordinator.token, 'fleet'));
    await expect(second.getByTestId('error')).toContainText('already training in another tab', { timeout: 30_000 });
    expect(await viewField<string>(second, 'phase')).toBe('other-tab');
    expect(await viewField<number>(page, 'joins')).toBeGreaterThanOrEqual(1);
    await waitForTrainingStep(page, 0);
  } finally {
    await context.close();
  }
});
