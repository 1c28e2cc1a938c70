/**
 * Dashboard frame-time benchmark: the built page (apps/coordinator/dashboard/dist) in headless
 * Chromium against a real `/dashboard` namespace fed by a synthetic fleet whose every device makes
 * progress every tick, for 50 and for 500 devices. For each, 10 s watching and 10 s scrolling the
 * device table: requestAnimationFrame intervals (p50 / p95 / max, frames over 50 ms), long tasks,
 * state pushes received, dashboard bytes received per second (state pushes and device patches) and
 * device rows in the DOM. Prints numbers; asserts nothing.
 *
 *   npm run bench:dashboard [-- --seconds 10 --devices 50,500 --active 1 --screenshot .cache/dashboard.png]
 *
 * --active F: the fraction of groups training (default 1: every device changes every tick, the
 * worst case for device deltas); the other groups wait, as in a HierFedLoRA global round.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Server } from 'socket.io';
import { attachDashboardNamespace } from '../apps/coordinator/src/dashboard/namespace';
import { resolveInside, sendFile } from '../apps/coordinator/src/http/static-files';
import { launchBrowser } from './fleet-lib';
import { SyntheticDashboardSource } from './synthetic-dashboard-source';

const DIST = fileURLToPath(new URL('../apps/coordinator/dashboard/dist/', import.meta.url));
const TICK_MS = 100;

interface FrameStats {
  kibPerSec: number;
  frames: number;
  p50: number;
  p95: number;
  max: number;
  over50: number;
  longTasks: number;
  longTaskMs: number;
  pushes: number;
  rowsInDom: number;
}

/** The browser globals the in-page functions use (this file is type-checked without the DOM lib). */
interface PageElement {
  scrollTop: number;
  readonly clientHeight: number;
  readonly scrollHeight: number;
}
interface PageGlobals {
  __benchPushes?: number;
  __benchBytes?: number;
  requestAnimationFrame(callback: (t: number) => void): number;
  performance: { now(): number };
  PerformanceObserver: new (callback: (list: { getEntries(): Array<{ duration: number }> }) => void) => { observe(o: { type: string }): void; disconnect(): void };
  document: { querySelector(selector: string): PageElement | null; querySelectorAll(selector: string): { length: number } };
  WebSocket: new (...args: never[]) => { addEventListener(type: 'message', listener: (e: { data: unknown }) => void): void };
}

interface PageMeasurement {
  bytes: number;
  intervals: number[];
  longTasks: number;
  longTaskMs: number;
  pushes: number;
  rowsInDom: number;
}

/** Runs in the page: records rAF intervals and long tasks for `ms`, optionally scrolling the table. */
function measureInPage(args: { ms: number; scroll: boolean }): Promise<PageMeasurement> {
  const g = globalThis as unknown as PageGlobals;
  return new Promise((resolve) => {
    const intervals: number[] = [];
    let longTasks = 0;
    let longTaskMs = 0;
    const observer = new g.PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        longTasks++;
        longTaskMs += e.duration;
      }
    });
    observer.observe({ type: 'longtask' });
    const pushesBefore = g.__benchPushes ?? 0;
    const bytesBefore = g.__benchBytes ?? 0;
    const scroller = g.document.querySelector('.device-scroll');
    let direction = 1;
    const start = g.performance.now();
    let last = start;
    const frame = (t: number) => {
      intervals.push(t - last);
      last = t;
      if (args.scroll && scroller) {
        if (scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 1) direction = -1;
        else if (scroller.scrollTop <= 0) direction = 1;
        scroller.scrollTop += direction * 34;
      }
      if (t - start < args.ms) g.requestAnimationFrame(frame);
      else {
        observer.disconnect();
        resolve({
          intervals: intervals.slice(1),
          longTasks,
          longTaskMs,
          pushes: (g.__benchPushes ?? 0) - pushesBefore,
          bytes: (g.__benchBytes ?? 0) - bytesBefore,
          rowsInDom: g.document.querySelectorAll('[data-testid="device-row"]').length,
        });
      }
    };
    g.requestAnimationFrame(frame);
  });
}

/** Runs in the page before its scripts: counts the `state` pushes and the dashboard's bytes arriving on any websocket. */
function countStatePushes(): void {
  const g = globalThis as unknown as PageGlobals;
  g.__benchPushes = 0;
  g.__benchBytes = 0;
  const Original = g.WebSocket;
  g.WebSocket = class extends Original {
    constructor(...args: never[]) {
      super(...args);
      this.addEventListener('message', (e) => {
        if (typeof e.data !== 'string' || !e.data.startsWith('42/dashboard,')) return;
        g.__benchBytes = (g.__benchBytes ?? 0) + e.data.length;
        if (e.data.startsWith('42/dashboard,["state"')) g.__benchPushes = (g.__benchPushes ?? 0) + 1;
      });
    }
  };
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

async function benchOne(devices: number, seconds: number, screenshot: string | undefined, active: number): Promise<Record<'watching' | 'scrolling', FrameStats>> {
  const source = new SyntheticDashboardSource(devices, active);
  const http = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const rel = path === '/dashboard' || path === '/dashboard/' ? 'index.html' : path.startsWith('/dashboard/') ? path.slice('/dashboard/'.length) : undefined;
    const file = rel === undefined ? undefined : resolveInside(DIST, rel);
    void (file ? sendFile(req, res, file, 'no-cache') : Promise.resolve(false)).then((sent) => {
      if (!sent) res.writeHead(404).end();
    });
  });
  const io = new Server(http, { transports: ['websocket'], serveClient: false });
  const dashboard = attachDashboardNamespace(io, source);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/dashboard/?admin=bench`;
  const ticker = setInterval(() => source.tick(), TICK_MS);
  const browser = await launchBrowser(false);
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    // tsx (esbuild keepNames) wraps named functions in __name(); give the page a no-op one.
    await page.addInitScript('globalThis.__name = (fn) => fn;');
    await page.addInitScript(countStatePushes);
    await page.goto(url);
    await page.waitForSelector('[data-testid="device-row"]', { timeout: 60_000 });
    await page.waitForTimeout(2_000);
    const result = {} as Record<'watching' | 'scrolling', FrameStats>;
    for (const phase of ['watching', 'scrolling'] as const) {
      const raw = await page.evaluate(measureInPage, { ms: seconds * 1000, scroll: phase === 'scrolling' });
      const sorted = [...raw.intervals].sort((a, b) => a - b);
      result[phase] = {
        kibPerSec: raw.bytes / 1024 / seconds,
        frames: sorted.length,
        p50: quantile(sorted, 0.5),
        p95: quantile(sorted, 0.95),
        max: sorted[sorted.length - 1] ?? NaN,
        over50: sorted.filter((x) => x > 50).length,
        longTasks: raw.longTasks,
        longTaskMs: raw.longTaskMs,
        pushes: raw.pushes,
        rowsInDom: raw.rowsInDom,
      };
    }
    if (screenshot) await page.screenshot({ path: screenshot.replace(/(\.png)?$/, `-${devices}.png`), fullPage: true });
    return result;
  } finally {
    clearInterval(ticker);
    await browser.close();
    dashboard.detach();
    await new Promise<void>((resolve) => io.close(() => resolve()));
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, devices: { type: 'string', default: '50,500' }, active: { type: 'string', default: '1' }, screenshot: { type: 'string' } } });
  const active = Number(values.active);
  if (!(active > 0 && active <= 1)) throw new Error('--active must be a fraction in (0, 1]');
  const seconds = Number(values.seconds);
  const sizes = (values.devices ?? '').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
  if (!existsSync(`${DIST}index.html`)) throw new Error(`no built dashboard in ${DIST}: run npm run build first`);
  console.log(`dashboard frame times: ${seconds} s per phase, fleet tick every ${TICK_MS} ms, state pushed ≤ 2/s, ${active * 100}% of groups training`);
  const rows: string[] = [];
  for (const n of sizes) {
    const r = await benchOne(n, seconds, values.screenshot, active);
    for (const phase of ['watching', 'scrolling'] as const) {
      const s = r[phase];
      rows.push(
        [
          String(n).padStart(7),
          phase.padEnd(9),
          String(s.frames).padStart(6),
          s.p50.toFixed(1).padStart(7),
          s.p95.toFixed(1).padStart(7),
          s.max.toFixed(1).padStart(7),
          String(s.over50).padStart(7),
          `${s.longTasks} / ${s.longTaskMs.toFixed(0)} ms`.padStart(16),
          String(s.pushes).padStart(6),
          String(s.rowsInDom).padStart(9),
          s.kibPerSec.toFixed(0).padStart(8),
        ].join(' '),
      );
    }
  }
  console.log('devices phase     frames  p50 ms  p95 ms  max ms  >50 ms  long tasks (sum)  pushes  DOM rows   KiB/s');
  for (const row of rows) console.log(row);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
