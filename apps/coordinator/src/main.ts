/**
 * `npm start`: the coordinator for real devices. Prints the device URL (with the join token, once)
 * and the dashboard URL, then a line `TABFLEET_READY {json}` that scripts and tests parse.
 */
import { ConfigError, parseCoordinatorArgs, USAGE } from './config';
import { startCoordinator } from './server';
import { openState } from './state';
import { createWordNetTask } from './wordnet-task';

const stamp = () => new Date().toISOString().slice(11, 19);
const log = (line: string) => console.log(`[coordinator ${stamp()}] ${line}`);

async function main(): Promise<number> {
  if (process.argv.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  let config;
  try {
    config = parseCoordinatorArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  log(`loading the WordNet task (top ${config.topK} classes${config.maxPerClass ? `, ≤ ${config.maxPerClass} per class` : ''}) and the model…`);
  const task = await createWordNetTask({
    partitions: config.partitions,
    dirichletAlpha: config.alpha,
    seed: config.seed,
    topK: config.topK,
    rank: config.rank,
    batchSize: config.batchSize,
    ...(config.maxPerClass === undefined ? {} : { maxPerClass: config.maxPerClass }),
  });
  if (config.robust) log(`robust aggregation: ${JSON.stringify(config.robust)}`);
  const state = openState(config.db);
  const coordinator = await startCoordinator({ config, task, state, log });
  // The tokens appear here once, on the console of whoever started the process; logs never carry them.
  const tokenQuery = `?token=${encodeURIComponent(coordinator.joinToken)}`;
  console.log('');
  console.log(`  device URL:    ${coordinator.lanUrl}/${tokenQuery}`);
  if (coordinator.lanUrl !== coordinator.localUrl) console.log(`  on this host:  ${coordinator.localUrl}/${tokenQuery}`);
  console.log(`  fleet URL:     ${coordinator.localUrl}/${tokenQuery}&mode=fleet`);
  console.log(`  dashboard:     ${coordinator.lanUrl}/dashboard/ (read-only)`);
  console.log(`  admin:         ${coordinator.lanUrl}/dashboard/?admin=${encodeURIComponent(config.adminToken)}`);
  if (coordinator.joinToken !== config.token) console.log('  (join token: the resumed run\'s stored one)');
  if (config.tokenGenerated || config.adminTokenGenerated) console.log('  (generated tokens are not shown again)');
  console.log('');
  console.log(`TABFLEET_READY ${JSON.stringify({ url: coordinator.localUrl, runId: coordinator.runId, resumed: coordinator.resumed })}`);

  let shuttingDown = false;
  const shutdown = async (signal: string) => {
    shuttingDown = true;
    log(`${signal}: shutting down (the run is left resumable)`);
    await coordinator.close();
    state.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));

  const result = await coordinator.done;
  if (shuttingDown) return new Promise<number>(() => {});
  if (!config.exitWhenDone) {
    log(`run ${result}; still serving the dashboard (Ctrl-C to stop)`);
    return new Promise<number>(() => {});
  }
  // Give devices a moment to receive the final run status before the sockets close.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await coordinator.close();
  state.close();
  return result === 'finished' ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
