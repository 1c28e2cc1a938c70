/**
 * `npm run bench:decoder-tab`: ms per causal-LM training step at each depth for a Hugging Face
 * decoder, measured by the device page itself in headless Chromium (the per-depth profile a tab
 * sends the coordinator), once per backend. On a machine with a real GPU `--backends wasm,webgpu`
 * reports the WebGPU path too (here `--enable-unsafe-webgpu` gives only SwiftShader).
 *
 *   npm run bench:decoder-tab                                   # the tiny random GPT-2 of the decoder specs
 *   npm run bench:core -- --shape gpt2-small --save /tmp/g2s    # random weights of GPT-2-small's shape
 *   npm run bench:decoder-tab -- --model /tmp/g2s --backends wasm,webgpu
 *
 * The tab downloads the checkpoint from a real coordinator (Cache Storage), loads it, and times one
 * training step per depth after a warm-up step (batch and max tokens from --batch-size/--max-tokens).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg, availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startCoordinatorProcess } from './coordinator-process';
import { deviceUrl, launchBrowser, waitForFirstJoin } from './fleet-lib';
import { writeLmTask } from './lm-task';

const BACKENDS = ['wasm', 'webgpu', 'webgl'] as const;
type Backend = (typeof BACKENDS)[number];

interface TabReport {
  backend: string | undefined;
  msPerStep: number[];
  modelBytes: number;
  wasmThreads: number | undefined;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      backends: { type: 'string' },
      'batch-size': { type: 'string' },
      'max-tokens': { type: 'string' },
      timeout: { type: 'string' },
    },
  });
  const backends = (values.backends ?? 'wasm').split(',') as Backend[];
  const unknown = backends.filter((b) => !BACKENDS.includes(b));
  if (unknown.length > 0) throw new Error(`--backends: unknown ${unknown.join(', ')} (one of ${BACKENDS.join(', ')})`);
  const batchSize = Number(values['batch-size'] ?? 2);
  const maxTokens = Number(values['max-tokens'] ?? 64);
  const timeoutMs = Number(values.timeout ?? 900) * 1000;
  for (const [name, v] of [['--batch-size', batchSize], ['--max-tokens', maxTokens], ['--timeout', timeoutMs]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'tabfleet-decoder-bench-'));
  try {
    const extra: Record<string, unknown> = { maxTokens, defaults: { batchSize, learningRate: 0.001, localSteps: 1 } };
    // A user's checkpoint: its family's default LoRA targets (PEFT's), not the tiny GPT-2's four.
    if (values.model) Object.assign(extra, { model: { family: 'hf', dir: resolve(values.model) }, lora: { rank: 8, alpha: 16 } });
    const task = writeLmTask(dir, extra);
    const coordinator = await startCoordinatorProcess(['--task', task.taskFile, '--fresh', '--devices', String(backends.length + 1), '--rounds', '1'], { readyTimeoutMs: timeoutMs });
    const browser = await launchBrowser(backends.includes('webgpu'));
    const reports = new Map<Backend, TabReport | string>();
    try {
      console.log(`coordinator ${coordinator.url}; model ${values.model ?? task.modelDir}; batch ${batchSize} × ${maxTokens} tokens; ${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(2)}`);
      for (const backend of backends) {
        const page = await browser.newPage();
        try {
          await page.goto(deviceUrl(coordinator.url, coordinator.token, 'fleet', backend));
          await waitForFirstJoin(page, timeoutMs);
          const report = await page.evaluate(() => {
            const v = (globalThis as unknown as { __tabfleet: { view(): Record<string, unknown> } }).__tabfleet.view() as {
              backend?: { name: string };
              profile?: { msPerStep: number[] };
              modelDownload?: { totalBytes: number };
              wasmThreads?: number;
            };
            return { backend: v.backend?.name, msPerStep: v.profile?.msPerStep ?? [], modelBytes: v.modelDownload?.totalBytes ?? 0, wasmThreads: v.wasmThreads };
          });
          reports.set(backend, report);
          console.log(`  ${backend}: ran on ${report.backend}${report.backend === 'wasm' ? ` (${report.wasmThreads} threads)` : ''}, ${(report.modelBytes / 2 ** 20).toFixed(1)} MiB downloaded; ms/step ${report.msPerStep.map((m) => m.toFixed(0)).join(' / ')}`);
        } catch (err) {
          reports.set(backend, (err as Error).message.split('\n')[0]!);
          console.log(`  ${backend}: failed: ${reports.get(backend) as string}`);
        } finally {
          await page.close();
        }
      }
    } finally {
      await browser.close();
      await coordinator.stop();
    }
    const ok = [...reports.entries()].filter((e): e is [Backend, TabReport] => typeof e[1] !== 'string');
    if (ok.length === 0) throw new Error('no backend produced a profile');
    const depths = Math.max(...ok.map(([, r]) => r.msPerStep.length));
    console.log('');
    console.log(`ms per causal-LM training step in a headless tab (one timed step per depth after a warm-up), load ${loadavg()[0]!.toFixed(2)} at the end`);
    console.log(['depth', ...ok.map(([b]) => b)].map((h) => h.padStart(10)).join(''));
    for (let d = 0; d < depths; d++) console.log([String(d + 1), ...ok.map(([, r]) => r.msPerStep[d]?.toFixed(0) ?? '-')].map((c) => c.padStart(10)).join(''));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
