/** Opening device tabs and reading their state (window.__tabfleet.view()) from specs. */
import type { Browser, BrowserContext, Page } from '@playwright/test';
import { deviceUrl } from '../../scripts/fleet-lib';
import type { BackendName } from '../../scripts/fleet-lib';

/** The part of the page's DeviceView that specs read. */
export interface TabView {
  deviceId: string;
  phase: string;
  connection: string;
  mode?: 'fleet' | 'own';
  slowdown?: number;
  poison?: { kind: 'scale' | 'signflip'; factor: number };
  lastUploadNorm?: number | null;
  backend?: { name: BackendName; forced: boolean; benchmarkMs: Partial<Record<BackendName, number | null>> };
  trials: Array<{ name: BackendName; ms: number | null; error?: string }>;
  profile?: { msPerStep: number[]; uploadBytesPerSec: number; memoryBytes: number };
  task?: { classNames: string[]; numBlocks: number };
  partitionIndex?: number;
  numSamples?: number;
  labelHistogram?: number[];
  joins: number;
  rejoin?: boolean;
  uploads: number;
  uploadedRounds: number[];
  bytesSent: number;
  error?: string;
  work?: { round: number; intraRound: number; step: number; localSteps: number };
}

export interface DeviceTab {
  readonly context: BrowserContext;
  readonly page: Page;
}

/** One tab in its own browser context (own localStorage, so its own device identity). */
export async function openDevice(
  browser: Browser,
  opts: {
    url: string;
    token: string;
    mode: 'fleet' | 'own';
    backend?: BackendName;
    slowdown?: number;
    poison?: string;
    /** Seconds the tab holds each upload (?stall=). */
    stall?: number;
    /** wasm threads (?threads=); default 1: the specs run several tabs on one small machine. */
    threads?: number;
    beforeLoad?: (page: Page) => void;
  },
): Promise<DeviceTab> {
  const context = await browser.newContext();
  const page = await context.newPage();
  opts.beforeLoad?.(page);
  const url = new URL(deviceUrl(opts.url, opts.token, opts.mode, opts.backend, opts.slowdown, opts.poison, opts.threads ?? 1));
  if (opts.stall !== undefined) url.searchParams.set('stall', String(opts.stall));
  await page.goto(url.toString());
  return { context, page };
}

export async function readView(page: Page): Promise<TabView> {
  const view = await page.evaluate(() => (globalThis as unknown as { __tabfleet?: { view(): unknown } }).__tabfleet?.view());
  if (!view) throw new Error('the page exposes no __tabfleet view');
  return view as TabView;
}

/** Waits until the tab has joined at least `joins` times (or fails fast when it shows an error). */
export async function waitForJoins(page: Page, joins: number, timeoutMs = 240_000): Promise<TabView> {
  await page.waitForFunction(
    (n) => {
      const v = (globalThis as unknown as { __tabfleet?: { view(): { joins: number; phase: string; error?: string } } }).__tabfleet?.view();
      if (v?.phase === 'error') throw new Error(`device error: ${v.error}`);
      return v !== undefined && v.joins >= n;
    },
    joins,
    { timeout: timeoutMs, polling: 500 },
  );
  return readView(page);
}

export interface StatusDevice {
  deviceId: string;
  connected: boolean;
  joins: number;
  backend: string | null;
  msPerStep: number[] | null;
  partitionIndex: number | null;
  numSamples: number | null;
}

/**
 * GET /api/status as JSON. A few retries: while the coordinator evaluates a round on its own event
 * loop, a kept-alive connection can be reset under load (seen as ECONNRESET on a busy 2-core box).
 */
export async function coordinatorStatus<T>(url: string, adminToken?: string, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      // Per-device histograms and profiles come only with the admin token (issue 13).
      const res = await fetch(new URL('/api/status', url), adminToken ? { headers: { Authorization: `Bearer ${adminToken}` } } : {});
      if (!res.ok) throw new Error(`/api/status answered ${res.status}`);
      return (await res.json()) as T;
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 1_000 * i));
    }
  }
}

export async function coordinatorDevices(url: string, adminToken?: string): Promise<StatusDevice[]> {
  return (await coordinatorStatus<{ devices: StatusDevice[] }>(url, adminToken)).devices;
}
