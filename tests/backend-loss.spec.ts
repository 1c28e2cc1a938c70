/**
 * A lost GPU context mid-run, for real: the tab trains on tfjs's webgl backend (headless
 * Chromium's SwiftShader WebGL 2), the spec loses that WebGL context through the standard
 * WEBGL_lose_context extension while a round is under way, and the page must notice, tell the
 * coordinator (deviceError backend-failed), fall back to the next backend (wasm), rejoin with it,
 * and go on training the work it had. A second test loses the context while the page is still
 * measuring its per-depth profile (before it joined): it must measure again on wasm and join once.
 */
import { expect, test } from '@playwright/test';
import type { Page } from '@playwright/test';
import { startCoordinatorProcess } from '../scripts/coordinator-process';
import type { CoordinatorProcess } from '../scripts/coordinator-process';
import { deviceUrl } from '../scripts/fleet-lib';
import { coordinatorStatus, readView, waitForJoins } from './support/device-page';

/** The part of a WebGL context the spec uses (this file is type-checked without the DOM lib). */
interface GlContext {
  isContextLost(): boolean;
  getExtension(name: 'WEBGL_lose_context'): { loseContext(): void } | null;
}

let coordinator: CoordinatorProcess;

test.afterEach(async () => {
  await coordinator?.stop();
});

interface StatusRow {
  deviceId: string;
  backend: string | null;
  lastError: string | null;
}

/** The device's row in /api/status, read with the admin token (errors are not public). */
async function statusDevice(deviceId: string): Promise<StatusRow | undefined> {
  const status = await coordinatorStatus<{ devices: StatusRow[] }>(coordinator.url, coordinator.adminToken);
  return status.devices.find((d) => d.deviceId === deviceId);
}

/** Waits for a training step beyond `after` on the tab and returns it with the backend tfjs runs. */
async function waitForStep(page: Page, after: number, timeout: number): Promise<{ step: number; round: number }> {
  const handle = await page.waitForFunction(
    (n) => {
      const v = (globalThis as unknown as { __tabfleet: { view(): { phase: string; error?: string; work?: { step: number; round: number } } } }).__tabfleet.view();
      if (v.phase === 'error') throw new Error(`device error: ${v.error}`);
      return v.phase === 'training' && (v.work?.step ?? 0) > n ? { step: v.work?.step, round: v.work?.round } : false;
    },
    after,
    { timeout, polling: 200 },
  );
  return (await handle.jsonValue()) as { step: number; round: number };
}

/** Keeps a handle on every WebGL context the page creates (tfjs makes its own canvas), to lose it later. */
function recordGlContexts(): void {
  const g = globalThis as unknown as { __glContexts: GlContext[]; OffscreenCanvas?: { prototype: { getContext: unknown } }; HTMLCanvasElement: { prototype: { getContext: unknown } } };
  g.__glContexts = [];
  for (const proto of [g.OffscreenCanvas?.prototype, g.HTMLCanvasElement.prototype]) {
    if (!proto) continue;
    const original = proto.getContext as (this: unknown, type: string, ...rest: unknown[]) => unknown;
    proto.getContext = function getContext(this: unknown, type: string, ...rest: unknown[]) {
      const ctx = original.call(this, type, ...rest);
      if (ctx && type.startsWith('webgl')) g.__glContexts.push(ctx as GlContext);
      return ctx;
    };
  }
}

/** Loses every live WebGL context of the page through WEBGL_lose_context; returns how many. */
async function loseGlContexts(page: Page): Promise<number> {
  return page.evaluate(() => {
    const g = globalThis as unknown as { __glContexts: GlContext[] };
    let n = 0;
    for (const gl of g.__glContexts) {
      const ext = gl.isContextLost() ? null : gl.getExtension('WEBGL_lose_context');
      if (ext) {
        ext.loseContext();
        n++;
      }
    }
    return n;
  });
}

const uploads = (page: Page, n: number, timeout: number) =>
  page.waitForFunction((k) => ((globalThis as unknown as { __tabfleet: { view(): { uploads: number } } }).__tabfleet.view().uploads ?? 0) >= k, n, { timeout });

test('a WebGL context lost mid-round: the page tells the coordinator, falls back to wasm, rejoins and keeps training', async ({ browser }) => {
  // Enough local steps that the loss lands inside the round (webgl on SwiftShader takes seconds per step).
  coordinator = await startCoordinatorProcess(['--devices', '1', '--rounds', '30', '--max-per-class', '10', '--local-steps', '12', '--batch-size', '4']);
  const t0 = Date.now();
  const mark = (what: string) => console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const context = await browser.newContext();
  try {
    await context.addInitScript(recordGlContexts);
    const page = await context.newPage();
    await page.goto(deviceUrl(coordinator.url, coordinator.token, 'fleet', 'webgl', undefined, undefined, 1));
    const first = await waitForJoins(page, 1, 120_000);
    mark('joined on webgl');
    expect(first.backend?.name).toBe('webgl');
    expect((await statusDevice(first.deviceId))?.backend).toBe('webgl');
    // The round's work is under way on webgl (training started) when the context goes.
    const before = await waitForStep(page, -1, 60_000);

    const lost = await loseGlContexts(page);
    mark(`training on webgl; lost ${lost} context(s)`);
    expect(lost).toBeGreaterThan(0);

    // The page falls back to wasm (not the forced webgl, which is gone), measures it, and joins again.
    const again = await waitForJoins(page, 2, 120_000);
    mark('rejoined on wasm');
    expect(again.backend?.name).toBe('wasm');
    const tf = await page.evaluate(() => (globalThis as unknown as { __tabfleet: { tfState(): Promise<{ backend?: string }> } }).__tabfleet.tfState());
    expect(tf.backend).toBe('wasm');
    // The coordinator was told, and sees the device's new backend.
    await expect
      .poll(async () => statusDevice(first.deviceId), { timeout: 10_000 })
      .toMatchObject({ backend: 'wasm', lastError: expect.stringMatching(/^backend-failed: webgl lost: WebGL context lost/) });
    expect(coordinator.output()).toMatch(/reports backend-failed: webgl lost: WebGL context lost/);

    // It keeps training: the coordinator resends the open work after the rejoin, and the page trains it on wasm to an upload.
    await expect.poll(() => coordinator.output(), { timeout: 10_000 }).toMatch(new RegExp(`${first.deviceId} is back: resent its work for round ${before.round}\\.`));
    // On a fast machine wasm can finish the resent round before a poll sees a step, so the
    // round is read from the page's upload record, not from a step caught in flight.
    await uploads(page, 1, 120_000);
    mark('uploaded');
    const final = await readView(page);
    expect(final.uploadedRounds[0]).toBe(before.round);
    expect(final.phase).not.toBe('error');
    expect(final.backend?.name).toBe('wasm');
  } finally {
    await context.close();
  }
});

test('a WebGL context lost while the page measures its profile: it measures again on wasm, joins once on wasm, and trains', async ({ browser }) => {
  coordinator = await startCoordinatorProcess(['--devices', '1', '--rounds', '30', '--max-per-class', '10', '--local-steps', '4', '--batch-size', '4']);
  const context = await browser.newContext();
  try {
    await context.addInitScript(recordGlContexts);
    const page = await context.newPage();
    // Two data-parallel workers wanted: they train on wasm only, so they start once the page is on wasm.
    const url = new URL(deviceUrl(coordinator.url, coordinator.token, 'fleet', 'webgl', undefined, undefined, 1));
    url.searchParams.set('workers', '2');
    await page.goto(url.toString());
    // The per-depth profile is being measured on webgl (before any join).
    await page.waitForFunction(
      () => {
        const v = (globalThis as unknown as { __tabfleet?: { view(): { phase: string; backend?: { name: string } } } }).__tabfleet?.view();
        return v?.phase === 'profiling' && v.backend?.name === 'webgl';
      },
      undefined,
      { timeout: 60_000, polling: 100 },
    );
    expect(await loseGlContexts(page)).toBeGreaterThan(0);
    const joined = await waitForJoins(page, 1, 120_000);
    expect(joined.backend?.name).toBe('wasm');
    expect(joined.profile?.msPerStep.length).toBe(4);
    expect(joined).toMatchObject({ dataParallelWorkers: 2, backend: { name: 'wasm', dataParallelWorkers: 2 } });
    expect(page.workers().filter((w) => w.url().includes('shard-worker'))).toHaveLength(2);
    await uploads(page, 1, 120_000);
    // The coordinator heard about the loss, and the device never joined on the lost backend.
    expect(coordinator.output()).toMatch(/reports backend-failed: webgl lost: WebGL context lost/);
    expect(coordinator.output()).not.toMatch(/joined: webgl/);
    const final = await readView(page);
    expect(final.phase).not.toBe('error');
    expect(final.joins).toBe(1);
  } finally {
    await context.close();
  }
});
