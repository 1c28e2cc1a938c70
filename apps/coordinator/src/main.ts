/**
 * `npm start`: the coordinator for real devices. Prints the device URL (with the join token, once)
 * and the dashboard URL, then a line `TABFLEET_READY {json}` that scripts and tests parse.
 */
import { ConfigError, parseCoordinatorArgs, USAGE, withTaskDefaults } from './config';
import type { CoordinatorConfig } from './config';
import { describeTask, loadTask, loadTaskFromFiles } from './core-node';
import type { LoadedTask, TaskOverrides } from './core-node';
import { createFederatedTask } from './federated-task';
import { createLmFederatedTask } from './lm-federated-task';
import { dirname } from 'node:path';
import { loadOperatorTls, selfSignedTls, TlsError } from './http/tls';
import type { TlsMaterial } from './http/tls';
import { serviceHosts, startCoordinator, TaskMismatchError } from './server';
import { openState } from './state';
import { ClusterError, ClusterNode } from './cluster/node';
import { newRunId, runParamsFromConfig } from './run-session';

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
  let tls: TlsMaterial | undefined;
  if (config.https) {
    try {
      tls =
        config.tlsCert !== undefined && config.tlsKey !== undefined
          ? loadOperatorTls(config.tlsCert, config.tlsKey)
          : selfSignedTls(config.db === 'memory' ? '.data' : dirname(config.db), serviceHosts(config.host));
    } catch (err) {
      if (err instanceof TlsError) {
        console.error(err.message);
        return 2;
      }
      throw err;
    }
    log(`HTTPS with ${tls.source === 'operator' ? 'the given certificate' : `a self-signed certificate (${tls.source === 'kept' ? 'kept from before' : 'made now'})`}: ${tls.certPath}`);
  }
  let loaded: LoadedTask;
  try {
    loaded = loadTaskFor(config);
  } catch (err) {
    if (err instanceof ConfigError || (err as Error).name === 'TaskFileError' || (err as Error).name === 'LabeledFileError') {
      console.error((err as Error).message);
      return 2;
    }
    throw err;
  }
  for (const line of describeTask(loaded)) log(line);
  config = withTaskDefaults(config, loaded.spec.defaults);
  log('starting the evaluation worker and loading the model…');
  if (config.initAdapter !== undefined && !loaded.lm) {
    console.error('--init-adapter applies to causal-lm tasks (a PEFT adapter of a Hugging Face decoder)');
    return 2;
  }
  const taskOptions = { partitions: config.partitions, dirichletAlpha: config.alpha, seed: config.seed, batchSize: config.batchSize };
  let task;
  try {
    task = loaded.lm
      ? await createLmFederatedTask(loaded, { ...taskOptions, ...(config.initAdapter === undefined ? {} : { initAdapter: config.initAdapter }) })
      : await createFederatedTask(loaded, taskOptions);
  } catch (err) {
    // A checkpoint that does not load or an adapter that does not fit: said once, clearly, before any device joins.
    if (!loaded.lm) throw err;
    console.error(`could not load the task's model: ${(err as Error).message}`);
    return 2;
  }
  const lmSummary = task.summary?.lm;
  if (lmSummary) {
    const t = lmSummary.topics;
    log(`near-IID grouping: ${lmSummary.grouping}${t ? ` (evaluation rows per topic: ${t.evalRowsPerTopic.join(', ')}; k-means in ${t.ms} ms)` : ''}`);
  }
  if (config.robust) log(`robust aggregation: ${JSON.stringify(config.robust)}`);
  const state = openState(config.db, { retention: config.checkpointRetention });
  let coordinator;
  let cluster: ClusterNode | undefined;
  try {
    if (config.redis !== undefined) {
      cluster = await ClusterNode.connect({ redisUrl: config.redis, cluster: config.cluster ?? 'default', ...(config.nodeId ? { nodeId: config.nodeId } : {}), log });
      const run = await cluster.claimRun({ runId: newRunId(), params: runParamsFromConfig(config), joinToken: config.token, createdAt: Date.now() }, !config.tokenGenerated);
      log(`cluster "${config.cluster ?? 'default'}" (${config.redis}): node ${cluster.nodeId}, run ${run.runId}`);
    }
    coordinator = await startCoordinator({ config, task, state, log, ...(tls ? { tls } : {}), ...(cluster ? { cluster } : {}) });
  } catch (err) {
    if (!(err instanceof TaskMismatchError) && !(err instanceof ClusterError) && !/--redis/.test((err as Error).message)) throw err;
    console.error((err as Error).message);
    await cluster?.close();
    task.dispose?.();
    state.close();
    return 2;
  }
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
  if (tls) {
    console.log(`  certificate:   ${tls.certPath}`);
    console.log(`  SHA-256:       ${tls.fingerprint}`);
    if (tls.source !== 'operator') console.log('  (self-signed: a phone must trust it first — see "Phones over HTTPS" in the README)');
  } else if (coordinator.lanUrl !== coordinator.localUrl) {
    console.log('  (plain HTTP: phones on the LAN get no WebGPU, no threads, no wake lock — start with --https)');
  }
  console.log('');
  console.log(`TABFLEET_READY ${JSON.stringify({ url: coordinator.localUrl, runId: coordinator.runId, resumed: coordinator.resumed, ...(tls ? { fingerprint: tls.fingerprint } : {}) })}`);

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

/** The task the command line names (--task, or --train/--eval), with its overrides. */
function loadTaskFor(config: CoordinatorConfig): LoadedTask {
  const given = (flag: string) => config.explicit.includes(flag);
  const overrides: TaskOverrides = {
    seed: config.seed,
    ...(given('top-k') ? { topK: config.topK } : {}),
    ...(config.maxPerClass === undefined ? {} : { maxPerClass: config.maxPerClass }),
    ...(given('rank') ? { rank: config.rank } : {}),
    ...(config.evalRows === undefined ? {} : { evalRows: config.evalRows }),
  };
  const loaded =
    config.trainFile !== undefined
      ? loadTaskFromFiles({ train: config.trainFile, ...(config.evalFile === undefined ? {} : { eval: config.evalFile }) }, overrides)
      : loadTask(config.task ?? 'wordnet', overrides);
  const builtin = [loaded.spec.train, loaded.spec.eval].some((s) => s !== undefined && 'builtin' in s);
  if (given('top-k') && !builtin) {
    // It applies to built-in data sources only; refused rather than ignored.
    throw new ConfigError('--top-k applies to built-in data sources only (e.g. --task wordnet); a task file takes its labels from "labels" or its training file');
  }
  return loaded;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
