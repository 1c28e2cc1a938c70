/**
 * `npm run demo`: the main job. Starts a real coordinator and a fleet of headless Chromium tabs
 * (one browser context each) that fine-tune USE-lite with LoRA on a Dirichlet label-skewed split
 * of the WordNet glosses, printing the global test accuracy after every round; exits 0 when the
 * run has finished (non-zero if it failed).
 *
 *   npm run demo -- [--devices 4] [--rounds 8] [--strategy hierfedlora|fedlora|…] [--groups 2] [--alpha 0.5] [--backend wasm]
 */
import { execSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { startCoordinatorProcess } from './coordinator-process';
import { launchFleet, type BackendName } from './fleet-lib';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '8' },
    strategy: { type: 'string', default: 'hierfedlora' },
    groups: { type: 'string', default: '2' },
    alpha: { type: 'string', default: '0.5' },
    'max-per-class': { type: 'string', default: '60' },
    'local-steps': { type: 'string', default: '8' },
    backend: { type: 'string' },
    db: { type: 'string', default: '.data/tabfleet.sqlite' },
  },
});

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;

console.log('[demo] building the device page…');
execSync('npm run --silent build', { stdio: ['ignore', 'ignore', 'inherit'] });

const coordinator = await startCoordinatorProcess(
  [
    '--strategy', values.strategy as string,
    '--devices', values.devices as string,
    '--rounds', values.rounds as string,
    ...(values.strategy === 'fedlora' || values.strategy === 'depth-only' ? [] : ['--groups', values.groups as string]),
    '--alpha', values.alpha as string,
    '--max-per-class', values['max-per-class'] as string,
    '--local-steps', values['local-steps'] as string,
    '--batch-size', '8',
    '--head-lr', '0.03',
    '--exit-when-done',
    // The demo's tabs are new devices every time: never pick up an earlier demo's unfinished run.
    '--fresh',
  ],
  { db: values.db as string, onOutput: (text) => process.stdout.write(text) },
);
const fleet = await launchFleet({
  url: coordinator.url,
  token: coordinator.token,
  devices: Number(values.devices),
  mode: 'fleet',
  ...(values.backend ? { backend: values.backend as BackendName } : {}),
});
console.log(`[demo] ${values.devices} tabs joining ${coordinator.url} (dashboard: ${coordinator.url}/dashboard/?admin=${encodeURIComponent(coordinator.adminToken)})`);

const stop = async (code: number) => {
  await fleet.close().catch(() => undefined);
  await coordinator.stop();
  process.exit(code);
};
process.once('SIGINT', () => void stop(130));
process.once('SIGTERM', () => void stop(143));

const code = await coordinator.exited;
const finished = /run \S+ finished/.test(coordinator.output());
console.log(`[demo] ${finished ? 'run finished' : 'run did not finish'} · wall time ${elapsed()}`);
await stop(code === 0 && finished ? 0 : 1);
