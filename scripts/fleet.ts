/**
 * `npm run fleet -- --devices N [--url http://127.0.0.1:8080] [--token T] [--backend wasm] [--webgpu K]`
 * Opens N headless Chromium tabs against a running coordinator and keeps them open until the run
 * ends (or Ctrl-C), printing each tab's identity, backend and step times.
 *
 * `npm run fleet -- --task T --devices N [--rounds R]` (no --url): starts its own coordinator on
 * that task (built-in name or task file) first. With --url as well, it checks that the running
 * coordinator has the same task (content hash) before opening tabs.
 */
import { parseArgs } from 'node:util';
import { loadTask } from '../packages/lora-core/node';
import { startCoordinatorProcess } from './coordinator-process';
import type { CoordinatorProcess } from './coordinator-process';
import { launchFleet } from './fleet-lib';
import type { BackendName } from './fleet-lib';

interface TabView {
  deviceId: string;
  phase: string;
  backend?: { name: string };
  profile?: { msPerStep: number[] };
  partitionIndex?: number;
  error?: string;
  trials?: Array<{ name: string; ms: number | null }>;
  run?: { state: string };
}

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '4' },
    url: { type: 'string' },
    task: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    token: { type: 'string', default: process.env.TABFLEET_TOKEN },
    backend: { type: 'string' },
    webgpu: { type: 'string', default: '0' },
    mode: { type: 'string', default: 'fleet' },
    verbose: { type: 'boolean', default: false },
  },
});

const devices = Number(values.devices);
if (!Number.isInteger(devices) || devices < 1) throw new Error(`--devices must be a positive integer, got ${values.devices}`);
let own: CoordinatorProcess | undefined;
if (values.task !== undefined && values.url === undefined) {
  own = await startCoordinatorProcess(['--task', values.task, '--devices', String(devices), '--rounds', values.rounds, '--exit-when-done', '--fresh'], {
    onOutput: (text) => process.stdout.write(text),
  });
}
const url = new URL(own ? `${own.url}/?token=${encodeURIComponent(own.token)}` : (values.url ?? process.env.TABFLEET_URL ?? 'http://127.0.0.1:8080'));
if (values.task !== undefined && !own) {
  const local = loadTask(values.task, { seed: 42 });
  const remote = (await fetch(new URL('/api/status', url.origin)).then((r) => r.json())) as { task?: { name: string; hash: string } | null };
  if (remote.task && remote.task.hash !== local.hash) {
    throw new Error(`the coordinator at ${url.origin} runs task "${remote.task.name}" (${remote.task.hash.slice(0, 12)}), not ${values.task} (${local.hash.slice(0, 12)})`);
  }
}
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
  await own?.stop();
  process.exit(code);
};
process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));

const reported = new Set<number>();
let lastRunState: string | undefined;
let unreachableSince: number | undefined;
for (;;) {
  for (const tab of fleet.tabs) {
    const view = (await tab.page.evaluate(() => (globalThis as unknown as { __tabfleet?: { view(): unknown } }).__tabfleet?.view()).catch(() => undefined)) as
      | TabView
      | undefined;
    if (!view) continue;
    if (view.run?.state === 'finished' || view.run?.state === 'failed') lastRunState = view.run.state;
    if (view.error && view.phase === 'error') console.log(`[tab ${tab.index}] error: ${view.error}`);
    if (!reported.has(tab.index) && view.profile) {
      reported.add(tab.index);
      const trials = (view.trials ?? []).map((t) => `${t.name} ${t.ms === null ? 'n/a' : `${t.ms.toFixed(0)} ms`}`).join(', ');
      console.log(
        `[tab ${tab.index}] ${view.deviceId} · ${view.backend?.name} (benchmark: ${trials}) · partition ${view.partitionIndex ?? '–'} · ms/step by depth ${view.profile.msPerStep.map((m) => m.toFixed(0)).join('/')}`,
      );
    }
  }
  const status = (await fetch(new URL('/api/status', url.origin))
    .then((r) => r.json())
    .catch(() => undefined)) as { status: { state: string; round: number; totalRounds: number } } | undefined;
  if (status) {
    unreachableSince = undefined;
    lastRunState = status.status.state;
  } else {
    unreachableSince ??= Date.now();
  }
  if (lastRunState === 'finished' || lastRunState === 'failed') {
    console.log(`[fleet] run ${lastRunState}${status ? ` after round ${status.status.round}/${status.status.totalRounds}` : ''}`);
    await stop(lastRunState === 'finished' ? 0 : 1);
  }
  if (unreachableSince !== undefined && Date.now() - unreachableSince > 15_000) {
    console.log('[fleet] the coordinator has been unreachable for 15 s; closing the tabs');
    await stop(1);
  }
  await new Promise((r) => setTimeout(r, 2000));
}
