/**
 * `npm run bench:device`: ms per training step at each depth on the device page's wasm backend
 * with 1, 2, … threads (up to this machine's cores), in headless Chromium against a real
 * coordinator over HTTPS (so the page is cross-origin isolated), and the speed-up over 1 thread.
 * Each thread count gets fresh tabs (tfjs fixes the count when wasm initialises); the counts are
 * interleaved and repeated, and each cell is the median over repeats.
 *
 * Options: --threads 1,2  --repeats N (default 2)  --batch-size N (default 16)
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { startCoordinatorProcess } from './coordinator-process';
import { deviceUrl, launchBrowser } from './fleet-lib';

interface PageReport {
  msPerStep: number[];
  wasmThreads: number | undefined;
  wasmThreadsWanted: number;
  isolated: boolean;
  secureContext: boolean;
  backend: string | undefined;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { threads: { type: 'string' }, repeats: { type: 'string' }, 'batch-size': { type: 'string' } } });
  const cores = availableParallelism();
  const counts = values.threads
    ? values.threads.split(',').map((t) => Number(t))
    : Array.from({ length: Math.min(cores, 8) }, (_, i) => i + 1).filter((n) => n === 1 || n === 2 || n % 2 === 0);
  if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > 8)) throw new Error(`--threads must list integers from 1 to 8, got ${values.threads}`);
  const repeats = Number(values.repeats ?? 2);
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error('--repeats must be an integer >= 1');
  const runs = Array.from({ length: repeats }, () => counts).flat();
  const coordinator = await startCoordinatorProcess([
    '--https', '--fresh', '--devices', String(runs.length), '--rounds', '1',
    '--max-per-class', '40', '--local-steps', '1', '--batch-size', values['batch-size'] ?? '16',
  ]);
  const browser = await launchBrowser(false);
  const results = new Map<number, PageReport[]>();
  try {
    console.log(`coordinator ${coordinator.url}; ${cores} cores here; thread counts ${counts.join(', ')}, ${repeats} repeat(s)`);
    for (const threads of runs) {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      const url = new URL(deviceUrl(coordinator.url, coordinator.token, 'fleet', 'wasm'));
      url.searchParams.set('threads', String(threads));
      await page.goto(url.toString());
      await page.waitForFunction(
        () => {
          const v = (globalThis as unknown as { __tabfleet?: { view(): { joins: number; phase: string; error?: string } } }).__tabfleet?.view();
          if (v?.phase === 'error') throw new Error(`device error: ${v.error}`);
          return (v?.joins ?? 0) >= 1;
        },
        undefined,
        { timeout: 180_000, polling: 500 },
      );
      const report = await page.evaluate(() => {
        const v = (globalThis as unknown as { __tabfleet: { view(): Record<string, unknown> } }).__tabfleet.view() as {
          profile?: { msPerStep: number[] };
          wasmThreads?: number;
          wasmThreadsWanted: number;
          isolated: boolean;
          secureContext: boolean;
          backend?: { name: string };
        };
        return {
          msPerStep: v.profile?.msPerStep ?? [],
          wasmThreads: v.wasmThreads,
          wasmThreadsWanted: v.wasmThreadsWanted,
          isolated: v.isolated,
          secureContext: v.secureContext,
          backend: v.backend?.name,
        };
      });
      await context.close();
      console.log(`  asked ${threads} thread(s): got ${report.wasmThreads} (${report.backend}, isolated ${report.isolated}); ms/step by depth ${report.msPerStep.map((m) => m.toFixed(0)).join(' / ')}`);
      if (report.wasmThreads !== threads) throw new Error(`asked for ${threads} wasm threads, the page runs ${report.wasmThreads}`);
      results.set(threads, [...(results.get(threads) ?? []), report]);
    }
  } finally {
    await browser.close();
    await coordinator.stop();
  }
  const depths = results.get(counts[0] as number)?.[0]?.msPerStep.length ?? 0;
  const cell = (threads: number, d: number) => median((results.get(threads) ?? []).map((r) => r.msPerStep[d] as number));
  console.log('');
  console.log(`wasm ms per training step (median of ${repeats}), USE-lite, batch ${values['batch-size'] ?? 16}, headless Chromium`);
  console.log(['depth', ...counts.map((t) => `${t} thr`), ...counts.slice(1).map((t) => `×${t} vs 1`)].map((h) => h.padStart(9)).join(''));
  for (let d = 0; d < depths; d++) {
    const base = cell(counts[0] as number, d);
    const row = [String(d + 1), ...counts.map((t) => cell(t, d).toFixed(0)), ...counts.slice(1).map((t) => (base / cell(t, d)).toFixed(2))];
    console.log(row.map((c) => c.padStart(9)).join(''));
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
