/**
 * A lost GPU context mid-run, for real: the tab trains on tfjs's webgl backend (headless
 * Chromium's SwiftShader WebGL 2), the spec loses that WebGL context through the standard
 * WEBGL_lose_context extension while a round is under way, and the page must notice, tell the
 * coordinator (deviceError backend-failed), fall back to the next backend (wasm), rejoin with it,
 * and go on training the work it had.
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

test('a WebGL context lost mid-round: the page tells the coordinator, falls back to wasm, rejoins and keeps training', async ({ browser }) => {
  // Enough local steps that the loss lands inside the round (webgl on SwiftShader takes seconds per step).
  coordinator = await startCoordinatorProcess(['--devices', '1', '--rounds', '30', '--max-per-class', '10', '--local-steps', '12', '--batch-size', '4']);
  const t0 = Date.now();
  const mark = (what: string) => console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const context = await browser.newContext();
  try {
    // Keep a handle on every WebGL context the page creates (tfjs makes its own canvas), to lose it later.
    await context.addInitScript(() => {
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
    });
    const page = await context.newPage();
    await page.goto(deviceUrl(coordinator.url, coordinator.token, 'fleet', 'webgl', undefined, undefined, 1));
    const first = await waitForJoins(page, 1, 120_000);
    mark('joined on webgl');
    expect(first.backend?.name).toBe('webgl');
    expect((await statusDevice(first.deviceId))?.backend).toBe('webgl');
    // The round's work is under way on webgl (training started) when the context goes.
    const before = await waitForStep(page, -1, 60_000);

    const lost = await page.evaluate(() => {
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
    const after = await waitForStep(page, 0, 60_000);
    expect(after.round).toBe(before.round);
    await page.waitForFunction(() => ((globalThis as unknown as { __tabfleet: { view(): { uploads: number } } }).__tabfleet.view().uploads ?? 0) >= 1, undefined, {
      timeout: 120_000,
    });
    mark('uploaded');
    const final = await readView(page);
    expect(final.phase).not.toBe('error');
    expect(final.backend?.name).toBe('wasm');
  } finally {
    await context.close();
  }
});
