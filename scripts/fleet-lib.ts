/**
 * Headless device fleets: N tabs of a system Chromium against a coordinator, one browser context
 * per tab (own localStorage, so own device identity). Tabs forced to WebGPU run in a second
 * browser started with --enable-unsafe-webgpu (headless Chromium then offers a SwiftShader adapter).
 */
import { availableParallelism } from 'node:os';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { findChromium } from './bootstrap.mjs';

export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
];

export const WEBGPU_FLAGS: readonly string[] = ['--enable-unsafe-webgpu'];

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

export interface FleetOptions {
  /** Coordinator origin, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly token: string;
  readonly devices: number;
  /** Force every tab to this backend (?backend=…); default: each tab measures and chooses. */
  readonly backend?: BackendName;
  /** How many of the tabs are forced to webgpu (they get the WebGPU-enabled browser). */
  readonly webgpuTabs?: number;
  readonly mode?: 'fleet' | 'own';
  /** Called with each page's console lines (for logs). */
  readonly onConsole?: (tab: number, line: string) => void;
}

export interface FleetTab {
  readonly index: number;
  readonly context: BrowserContext;
  readonly page: Page;
  readonly backend: BackendName | undefined;
}

export interface Fleet {
  readonly tabs: FleetTab[];
  /** Opens one more tab in its own context (e.g. to replace a closed one). */
  addTab(backend?: BackendName): Promise<FleetTab>;
  close(): Promise<void>;
}

export function requireChromium(): string {
  const path = findChromium();
  if (!path) throw new Error('No Chromium found: install Debian’s chromium (npm run bootstrap -- --browser) or set CHROMIUM_PATH.');
  return path;
}

export async function launchBrowser(webgpu: boolean): Promise<Browser> {
  return chromium.launch({
    executablePath: requireChromium(),
    headless: true,
    args: [...CHROMIUM_FLAGS, ...(webgpu ? WEBGPU_FLAGS : [])],
  });
}

/**
 * `slowdown` > 1 makes the tab emulate a device that many times slower (?slowdown=, see
 * apps/web-device/src/slowdown.ts); `poison` ("scale:K" | "signflip:K") makes it an attack-emulation
 * tab (apps/web-device/src/poison.ts).
 */
export function deviceUrl(base: string, token: string, mode: 'fleet' | 'own', backend?: BackendName, slowdown?: number, poison?: string, threads?: number): string {
  const u = new URL('/', base);
  if (threads !== undefined) u.searchParams.set('threads', String(threads));
  u.searchParams.set('token', token);
  u.searchParams.set('mode', mode);
  if (backend) u.searchParams.set('backend', backend);
  if (slowdown !== undefined && slowdown !== 1) u.searchParams.set('slowdown', String(slowdown));
  if (poison) u.searchParams.set('poison', poison);
  return u.toString();
}

export async function launchFleet(o: FleetOptions): Promise<Fleet> {
  const webgpuTabs = Math.min(o.webgpuTabs ?? 0, o.devices);
  // Tabs of one machine share its cores: each gets its share of wasm threads (a phone uses all of its own).
  const threads = Math.max(1, Math.floor(availableParallelism() / o.devices));
  const plain = await launchBrowser(o.backend === 'webgpu');
  const gpu = webgpuTabs > 0 && o.backend !== 'webgpu' ? await launchBrowser(true) : undefined;
  const tabs: FleetTab[] = [];
  const addTab = async (backend?: BackendName): Promise<FleetTab> => {
    const index = tabs.length;
    const browser = backend === 'webgpu' && gpu ? gpu : plain;
    const context = await browser.newContext();
    const page = await context.newPage();
    if (o.onConsole) page.on('console', (m) => o.onConsole?.(index, `${m.type()}: ${m.text()}`));
    await page.goto(deviceUrl(o.url, o.token, o.mode ?? 'fleet', backend, undefined, undefined, threads));
    const tab = { index, context, page, backend };
    tabs.push(tab);
    return tab;
  };
  for (let i = 0; i < o.devices; i++) await addTab(i < webgpuTabs ? 'webgpu' : o.backend);
  return {
    tabs,
    addTab,
    async close() {
      for (const t of tabs) await t.context.close().catch(() => {});
      await plain.close();
      await gpu?.close();
    },
  };
}

/** Waits until the device page in `page` has joined its coordinator once; a page error throws with its message. */
export async function waitForFirstJoin(page: Page, timeoutMs: number): Promise<void> {
  await page.waitForFunction(
    () => {
      const v = (globalThis as unknown as { __tabfleet?: { view(): { joins: number; phase: string; error?: string } } }).__tabfleet?.view();
      if (v?.phase === 'error') throw new Error(`device error: ${v.error}`);
      return (v?.joins ?? 0) >= 1;
    },
    undefined,
    { timeout: timeoutMs, polling: 500 },
  );
}
