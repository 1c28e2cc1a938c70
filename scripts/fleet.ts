/**
 * `npm run fleet -- --devices N [--url http://127.0.0.1:8080] [--token T] [--backend wasm] [--webgpu K]`
 * Opens N headless Chromium tabs against a running coordinator and keeps them open until the run
 * ends (or Ctrl-C), printing each tab's identity, backend and step times.
 */
import { parseArgs } from 'node:util';
import { launchFleet } from './fleet-lib';
import type { BackendName } from './fleet-lib';

interface TabView {
  deviceId: string;
  phase: string;
  backend?: { name: string };
  profile?: { msPerStep: number[] };
  partitionIndex?: number;
  error?: string;
}

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '4' },
    url: { type: 'string', default: process.env.TABFLEET_URL ?? 'http://127.0.0.1:8080' },
    token: { type: 'string', default: process.env.TABFLEET_TOKEN },
    backend: { type: 'string' },
    webgpu: { type: 'string', default: '0' },
    mode: { type: 'string', default: 'fleet' },
    verbose: { type: 'boolean', default: false },
  },
});

const devices = Number(values.devices);
if (!Number.isInteger(devices) || devices < 1) throw new Error(`--devices must be a positive integer, got ${values.devices}`);
const url = new URL(values.url);
const token = values.token ?? url.searchParams.get('token');
if (!token) throw new Error('give the join token: --token T (or a --url with ?token=…, or TABFLEET_TOKEN)');
const backend = values.backend as BackendName | undefined;
if (backend && !['webgpu', 'webgl', 'wasm', 'cpu'].includes(backend)) throw new Error(`--backend ${backend} is not webgpu|webgl|wasm|cpu`);
const mode = values.mode === 'own' ? 'own' : 'fleet';

const fleet = await launchFleet({
  url: url.origin,
  token,
  devices,
  mode,
  webgpuTabs: Number(values.webgpu),
  ...(backend ? { backend } : {}),
  ...(values.verbose ? { onConsole: (tab: number, line: string) => console.log(`[tab ${tab}] ${line}`) } : {}),
});
console.log(`[fleet] ${devices} tabs open against ${url.origin}`);

let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  await fleet.close();
  process.exit(code);
};
process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));

const reported = new Set<number>();
for (;;) {
  for (const tab of fleet.tabs) {
    const view = (await tab.page.evaluate(() => (globalThis as unknown as { __tabfleet?: { view(): unknown } }).__tabfleet?.view()).catch(() => undefined)) as TabView | undefined;
    if (!view) continue;
    if (view.error && view.phase === 'error') console.log(`[tab ${tab.index}] error: ${view.error}`);
    if (!reported.has(tab.index) && view.profile) {
      reported.add(tab.index);
      console.log(
        `[tab ${tab.index}] ${view.deviceId} · ${view.backend?.name} · partition ${view.partitionIndex ?? '–'} · ms/step by depth ${view.profile.msPerStep.map((m) => m.toFixed(0)).join('/')}`,
      );
    }
  }
  const status = (await fetch(new URL('/api/status', url.origin)).then((r) => r.json()).catch(() => undefined)) as
    | { status: { state: string; round: number; totalRounds: number } }
    | undefined;
  if (status && (status.status.state === 'finished' || status.status.state === 'failed')) {
    console.log(`[fleet] run ${status.status.state} after round ${status.status.round}/${status.status.totalRounds}`);
    await stop(status.status.state === 'finished' ? 0 : 1);
  }
  await new Promise((r) => setTimeout(r, 2000));
}
