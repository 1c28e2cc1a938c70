/**
 * A tab forced to WebGPU (headless Chromium with --enable-unsafe-webgpu offers a SwiftShader
 * fallback adapter: slow but correct) trains on the same batch as a wasm tab, and the two losses
 * after two training steps agree within 1e-4.
 */
import { expect, test } from '@playwright/test';
import type { Page } from '@playwright/test';
import { launchBrowser } from '../scripts/fleet-lib';
import { startCoordinatorProcess, type CoordinatorProcess } from '../scripts/coordinator-process';
import { openDevice, readView, waitForJoins, type DeviceTab } from './support/device-page';

const TEXTS = [
  'a piece of furniture with a flat top and legs',
  'an achievement demonstrating great skill or mastery',
  'move so as to change position',
  'a person who is in charge',
];
const LABELS = [1, 0, 16, 2];
const DEPTH = 2;

async function lossAfterTwoSteps(page: Page): Promise<number> {
  return page.evaluate(async ([texts, labels, depth]) => {
    const hook = (globalThis as unknown as { __tabfleet: { probeStepLoss(t: string[], l: number[], d: number): Promise<number> } }).__tabfleet;
    return hook.probeStepLoss(texts as string[], labels as number[], depth as number);
  }, [TEXTS, LABELS, DEPTH] as const);
}

test('a tab forced to webgpu matches the wasm tab\'s training loss on the same batch within 1e-4', async ({ browser }) => {
  test.setTimeout(15 * 60_000);
  let coordinator: CoordinatorProcess | undefined;
  const gpuBrowser = await launchBrowser(true);
  const tabs: DeviceTab[] = [];
  try {
    coordinator = await startCoordinatorProcess(['--devices', '3', '--rounds', '1', '--max-per-class', '20', '--local-steps', '1', '--batch-size', '4']);
    const { url, token } = coordinator;
    const wasm = await openDevice(browser, { url, token, mode: 'fleet', backend: 'wasm' });
    const gpu = await openDevice(gpuBrowser, { url, token, mode: 'fleet', backend: 'webgpu' });
    tabs.push(wasm, gpu);

    // Probe once each tab has joined: its step-time profiling is over, and with three devices expected
    // and two tabs the run never starts a round, so nothing else runs on either backend meanwhile.
    await Promise.all([waitForJoins(wasm.page, 1, 10 * 60_000), waitForJoins(gpu.page, 1, 10 * 60_000)]);
    const wasmLoss = await lossAfterTwoSteps(wasm.page);
    const gpuLoss = await lossAfterTwoSteps(gpu.page);
    const [wv, gv] = [await readView(wasm.page), await readView(gpu.page)];
    expect(wv.backend).toMatchObject({ name: 'wasm', forced: true });
    expect(gv.backend).toMatchObject({ name: 'webgpu', forced: true });
    console.log(`loss after two steps: wasm ${wasmLoss}, webgpu ${gpuLoss}`);
    expect(Number.isFinite(wasmLoss)).toBe(true);
    expect(wasmLoss).toBeLessThan(Math.log(20)); // it trained: below the zero-head loss ln(classes)
    expect(Math.abs(gpuLoss - wasmLoss)).toBeLessThanOrEqual(1e-4);
  } finally {
    for (const t of tabs) await t.context.close();
    await gpuBrowser.close();
    await coordinator?.stop();
  }
});
