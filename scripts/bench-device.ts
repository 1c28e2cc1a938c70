/**
 * `npm run bench:device`: ms per training step at each depth on the device page's wasm backend
 * with 1, 2, … threads (up to this machine's cores), in headless Chromium against a real
 * coordinator over HTTPS (so the page is cross-origin isolated), and the speed-up over 1 thread.
 * Each thread count gets fresh tabs (tfjs fixes the count when wasm initialises); the counts are
 * interleaved and repeated, and each cell is the median over repeats.
 *
 * Besides the page's own quick profile (printed per run), each tab times `--steps` training steps
 * per depth itself (median; the table), and measures raw kernels: GFLOP/s of a 1024² matMul and of
 * the same product as a 1×1 conv2d (both XNNPACK), so "do the threads work at all?" can be told
 * apart from "is the training step parallel?". `--profile D` prints where one step at depth D
 * spends its time, per tfjs kernel, for each thread count.
 *
 * `--workers 1,2` adds the data-parallel dimension: tabs with ?workers=W split each step's batch
 * across W Web Workers (each its own single-threaded tfjs and model replica; apps/web-device/src/
 * parallel), at the first --threads count; a second table gives their ms/step and speed-up.
 * With --repeats ≥ 2 a last table gives the paired speed-ups: the ratio within each repeat, whose
 * tabs ran back to back, so a drift of the machine's speed between repeats does not enter.
 *
 * `--pairs N` makes tabs with W > 1 workers also alternate the page's own step and the workers'
 * step N times per depth, and a last table gives the median ratio of those back-to-back pairs:
 * other processes change this machine's speed within seconds, which even tabs run back to back
 * see. Its own bias: each step starts with the other's weights in the shared cache.
 *
 * Options: --threads 1,2  --workers 1,2  --repeats N (default 2)  --batch-size N (default 16)
 *          --steps N (default 5)  --matmul N (default 1024)  --profile D  --pairs N (default 0)
 */
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startCoordinatorProcess } from './coordinator-process';
import { deviceUrl, launchBrowser, waitForFirstJoin } from './fleet-lib';

interface PageReport {
  msPerStep: number[];
  benchMs: number[];
  rates: { op: string; gflops: number }[];
  profile?: { totalMs: number; kernels: { kernel: string; calls: number; ms: number }[] } | undefined;
  wasmThreads: number | undefined;
  wasmThreadsWanted: number;
  dataParallelWorkers: number | undefined;
  interleaved: { pageMs: number; parallelMs: number; speedup: number }[] | undefined;
  isolated: boolean;
  secureContext: boolean;
  backend: string | undefined;
}

interface Microbench {
  matMulRates(n: number, runs: number): Promise<{ op: string; gflops: number }[]>;
  trainingStepMs(maxDepth: number, runs: number, batchSize: number, workers: number): Promise<number[]>;
  trainingStepProfile(depth: number, batchSize: number): Promise<{ totalMs: number; kernels: { kernel: string; calls: number; ms: number }[] }>;
  interleavedStepMs(maxDepth: number, pairs: number, batchSize: number, workers: number): Promise<{ pageMs: number; parallelMs: number; speedup: number }[]>;
}

const loadText = () => loadavg().map((l) => l.toFixed(2)).join(' / ');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string' },
      workers: { type: 'string' },
      repeats: { type: 'string' },
      'batch-size': { type: 'string' },
      steps: { type: 'string' },
      matmul: { type: 'string' },
      profile: { type: 'string' },
      pairs: { type: 'string' },
    },
  });
  const cores = availableParallelism();
  const counts = values.threads
    ? values.threads.split(',').map((t) => Number(t))
    : Array.from({ length: Math.min(cores, 8) }, (_, i) => i + 1).filter((n) => n === 1 || n === 2 || n % 2 === 0);
  if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > 8)) throw new Error(`--threads must list integers from 1 to 8, got ${values.threads}`);
  const workerCounts = values.workers ? values.workers.split(',').map((w) => Number(w)) : [1];
  if (workerCounts.some((n) => !Number.isInteger(n) || n < 1 || n > 8)) throw new Error(`--workers must list integers from 1 to 8, got ${values.workers}`);
  const repeats = Number(values.repeats ?? 2);
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error('--repeats must be an integer >= 1');
  const steps = Number(values.steps ?? 5);
  if (!Number.isInteger(steps) || steps < 1) throw new Error('--steps must be an integer >= 1');
  const matmulN = Number(values.matmul ?? 1024);
  if (!Number.isInteger(matmulN) || matmulN < 16 || matmulN > 4096) throw new Error('--matmul must be an integer from 16 to 4096');
  const profileDepth = values.profile === undefined ? undefined : Number(values.profile);
  if (profileDepth !== undefined && (!Number.isInteger(profileDepth) || profileDepth < 1)) throw new Error('--profile must be a depth >= 1');
  const pairs = Number(values.pairs ?? 0);
  if (!Number.isInteger(pairs) || pairs < 0) throw new Error('--pairs must be an integer >= 0');
  const batchSize = Number(values['batch-size'] ?? 16);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error('--batch-size must be an integer >= 1');
  // Kernel threads without workers; workers at the first thread count (1 worker = the page's own step).
  const configs: Config[] = [
    ...counts.map((threads) => ({ threads, workers: 1 })),
    ...workerCounts.filter((w) => w > 1).map((workers) => ({ threads: counts[0] as number, workers })),
  ];
  const runs = Array.from({ length: repeats }, () => configs).flat();
  // One device more than tabs: the run never starts, so no tab trains a round while it is timed
  // (with exactly runs.length, the last tab got work the moment it joined, and its figures lost a core).
  const coordinator = await startCoordinatorProcess([
    '--https', '--fresh', '--devices', String(runs.length + 1), '--rounds', '1',
    '--max-per-class', '40', '--local-steps', '1', '--batch-size', String(batchSize),
  ]);
  const browser = await launchBrowser(false);
  const results = new Map<string, PageReport[]>();
  try {
    console.log(`coordinator ${coordinator.url}; ${cores} cores here; thread counts ${counts.join(', ')}, data-parallel workers ${workerCounts.join(', ')}, ${repeats} repeat(s); load average ${loadText()}`);
    for (const { threads, workers } of runs) {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      const url = new URL(deviceUrl(coordinator.url, coordinator.token, 'fleet', 'wasm'));
      url.searchParams.set('threads', String(threads));
      url.searchParams.set('workers', String(workers));
      await page.goto(url.toString());
      await waitForFirstJoin(page, 180_000);
      const report = await page.evaluate(async ({ steps, matmulN, profileDepth, batchSize, workers, pairs }) => {
        const hook = (globalThis as unknown as { __tabfleet: { view(): Record<string, unknown>; microbench(): Promise<Microbench> } }).__tabfleet;
        const v = hook.view() as {
          profile?: { msPerStep: number[] };
          wasmThreads?: number;
          wasmThreadsWanted: number;
          dataParallelWorkers?: number;
          isolated: boolean;
          secureContext: boolean;
          backend?: { name: string };
        };
        const mb = await hook.microbench();
        const depths = v.profile?.msPerStep.length ?? 0;
        const rates = await mb.matMulRates(matmulN, 5);
        const benchMs = await mb.trainingStepMs(depths, steps, batchSize, workers);
        const profile = profileDepth === undefined ? undefined : await mb.trainingStepProfile(Math.min(profileDepth, depths), batchSize);
        const interleaved = workers > 1 && pairs > 0 ? await mb.interleavedStepMs(depths, pairs, batchSize, workers) : undefined;
        return {
          msPerStep: v.profile?.msPerStep ?? [],
          benchMs,
          rates,
          profile,
          wasmThreads: v.wasmThreads,
          wasmThreadsWanted: v.wasmThreadsWanted,
          dataParallelWorkers: v.dataParallelWorkers,
          interleaved,
          isolated: v.isolated,
          secureContext: v.secureContext,
          backend: v.backend?.name,
        };
      }, { steps, matmulN, profileDepth, batchSize, workers, pairs });
      await context.close();
      const fmt = (xs: number[]) => xs.map((m) => m.toFixed(0)).join(' / ');
      console.log(
        `  asked ${threads} thread(s), ${workers} worker(s): got ${report.wasmThreads} × ${report.dataParallelWorkers} (${report.backend}, isolated ${report.isolated}); ` +
          `page profile ms/step ${fmt(report.msPerStep)}; bench ms/step ${fmt(report.benchMs)}; ` +
          report.rates.map((r) => `${r.op} ${matmulN}² ${r.gflops.toFixed(2)} GFLOP/s`).join(', '),
      );
      if (report.interleaved) {
        console.log(`    interleaved in this tab (page's ${threads}-thread step / ${workers} workers' step, ${pairs} pairs): ` + report.interleaved.map((x) => `${x.pageMs.toFixed(0)}/${x.parallelMs.toFixed(0)} ms ×${x.speedup.toFixed(2)}`).join(', '));
      }
      if (report.profile) {
        const top = report.profile.kernels.slice(0, 12);
        const covered = report.profile.kernels.reduce((a, k) => a + k.ms, 0);
        console.log(`    one step at depth ${profileDepth}: ${report.profile.totalMs.toFixed(0)} ms wall, ${covered.toFixed(0)} ms in ${report.profile.kernels.reduce((a, k) => a + k.calls, 0)} kernel calls`);
        for (const k of top) console.log(`      ${k.kernel.padEnd(22)} ${String(k.calls).padStart(5)} calls ${k.ms.toFixed(1).padStart(8)} ms`);
      }
      if (report.wasmThreads !== threads) throw new Error(`asked for ${threads} wasm threads, the page runs ${report.wasmThreads}`);
      if (report.dataParallelWorkers !== workers) throw new Error(`asked for ${workers} data-parallel workers, the page runs ${report.dataParallelWorkers}`);
      const key = configKey({ threads, workers });
      results.set(key, [...(results.get(key) ?? []), report]);
    }
  } finally {
    await browser.close();
    await coordinator.stop();
  }
  const t0 = counts[0] as number;
  const depths = results.get(configKey({ threads: t0, workers: 1 }))?.[0]?.benchMs.length ?? 0;
  const cellOf = (c: Config, d: number) => median((results.get(configKey(c)) ?? []).map((r) => r.benchMs[d] as number));
  const cell = (threads: number, d: number) => cellOf({ threads, workers: 1 }, d);
  const rate = (threads: number, op: string) => median((results.get(configKey({ threads, workers: 1 })) ?? []).map((r) => r.rates.find((x) => x.op === op)?.gflops ?? Number.NaN));
  console.log('');
  console.log(`load average at the end ${loadText()} (1 / 5 / 15 min) on ${cores} cores`);
  console.log(`raw kernels, ${matmulN}² float32 product, GFLOP/s (median of ${repeats} tabs × 5 runs)`);
  console.log(['op', ...counts.map((t) => `${t} thr`), ...counts.slice(1).map((t) => `×${t} vs 1`)].map((h) => h.padStart(9)).join(''));
  for (const op of ['matMul', 'conv1x1']) {
    const base = rate(counts[0] as number, op);
    console.log([op, ...counts.map((t) => rate(t, op).toFixed(2)), ...counts.slice(1).map((t) => (rate(t, op) / base).toFixed(2))].map((c) => c.padStart(9)).join(''));
  }
  console.log('');
  console.log(`wasm ms per training step (median of ${repeats} tabs × ${steps} steps), USE-lite, batch ${batchSize}, headless Chromium`);
  console.log(['depth', ...counts.map((t) => `${t} thr`), ...counts.slice(1).map((t) => `×${t} vs 1`)].map((h) => h.padStart(9)).join(''));
  for (let d = 0; d < depths; d++) {
    const base = cell(counts[0] as number, d);
    const row = [String(d + 1), ...counts.map((t) => cell(t, d).toFixed(0)), ...counts.slice(1).map((t) => (base / cell(t, d)).toFixed(2))];
    console.log(row.map((c) => c.padStart(9)).join(''));
  }
  const ws = [1, ...workerCounts.filter((w) => w > 1)];
  if (ws.length > 1) {
    console.log('');
    console.log(`data-parallel: ms per training step split across W Web Workers (each 1 wasm thread; W = 1: the page's own step at ${t0} thread(s)), same tabs × steps`);
    console.log(['depth', ...ws.map((w) => `${w} wkr`), ...ws.slice(1).map((w) => `×${w} vs 1`)].map((h) => h.padStart(9)).join(''));
    for (let d = 0; d < depths; d++) {
      const base = cellOf({ threads: t0, workers: 1 }, d);
      const row = [String(d + 1), ...ws.map((w) => cellOf({ threads: t0, workers: w }, d).toFixed(0)), ...ws.slice(1).map((w) => (base / cellOf({ threads: t0, workers: w }, d)).toFixed(2))];
      console.log(row.map((c) => c.padStart(9)).join(''));
    }
  }
  // The machine's speed drifts over a run; a ratio of two medians taken from tabs minutes apart
  // mixes that drift in. Each repeat runs every config's tab back to back, so ratios within a
  // repeat are paired.
  const others: Config[] = [...counts.slice(1).map((threads) => ({ threads, workers: 1 })), ...ws.slice(1).map((workers) => ({ threads: t0, workers }))];
  if (others.length > 0 && repeats > 1) {
    const base = results.get(configKey({ threads: t0, workers: 1 })) ?? [];
    const label = (c: Config) => (c.workers > 1 ? `×${c.workers} wkr` : `×${c.threads} thr`);
    console.log('');
    console.log(`paired speed-ups over ${t0} thread(s): ratio within each repeat (its tabs ran back to back), median (min–max) over ${repeats} repeats`);
    console.log(['depth'.padStart(9), ...others.map((c) => label(c).padStart(20))].join(''));
    for (let d = 0; d < depths; d++) {
      const cells = others.map((c) => {
        const xs = (results.get(configKey(c)) ?? []).map((r, i) => (base[i]?.benchMs[d] as number) / (r.benchMs[d] as number));
        return `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
      });
      console.log([String(d + 1).padStart(9), ...cells.map((c) => c.padStart(20))].join(''));
    }
  }
  const interleavedWs = ws.slice(1).filter((w) => (results.get(configKey({ threads: t0, workers: w })) ?? []).some((r) => r.interleaved));
  if (interleavedWs.length > 0) {
    console.log('');
    console.log(`interleaved in one tab: the page's ${t0}-thread step and the W workers' step alternated ${pairs} times (each pair back to back), median of the pairs' ratios; median (min–max) over ${repeats} tab(s)`);
    console.log(['depth'.padStart(9), ...interleavedWs.map((w) => `×${w} wkr`.padStart(20))].join(''));
    for (let d = 0; d < depths; d++) {
      const cells = interleavedWs.map((w) => {
        const xs = (results.get(configKey({ threads: t0, workers: w })) ?? []).flatMap((r) => { const x = r.interleaved?.[d]; return x ? [x.speedup] : []; });
        return `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
      });
      console.log([String(d + 1).padStart(9), ...cells.map((c) => c.padStart(20))].join(''));
    }
  }
}

interface Config {
  readonly threads: number;
  readonly workers: number;
}

const configKey = (c: Config) => `${c.threads}x${c.workers}`;

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
