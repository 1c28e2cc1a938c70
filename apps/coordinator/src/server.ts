/**
 * Assembles one coordinator: HTTP server (page, model, wasm, dashboard, fleet data), Socket.IO
 * gateway, device registry, state and the run loop for one run. main.ts adds the CLI around it;
 * tests start it directly with fakes for the task.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Server } from 'socket.io';
import type { CoordinatorConfig } from './config';
import { computeMaxHttpBufferSize } from './config';
import type { Strategy } from './core';
import { fullAdapterBytes } from './engine/adapter-sizes';
import { RunLoop } from './engine/run-loop';
import { FleetSlots } from './fleet-slots';
import type { CoordinatorServer } from './gateway';
import { DeviceGateway } from './gateway';
import type { AssetDirs } from './http/asset-dirs';
import { defaultAssetDirs } from './http/asset-dirs';
import { createRequestHandler } from './http/routes';
import { DeviceRegistry } from './registry';
import { takeSnapshot } from './snapshot';
import type { Snapshot } from './snapshot';
import type { CoordinatorState, RunStatusName } from './state';
import type { FederatedTask } from './task';

/** The run-shaping subset of CoordinatorConfig (tests build it directly). */
export type RunConfig = Pick<
  CoordinatorConfig,
  'port' | 'host' | 'token' | 'rounds' | 'devicesExpected' | 'seed' | 'batchSize' | 'learningRate' | 'headLearningRate' | 'roundTimeoutMs'
> &
  Partial<CoordinatorConfig>;

export interface CoordinatorOptions {
  readonly config: RunConfig;
  readonly strategy: Strategy;
  readonly task: FederatedTask;
  readonly state: CoordinatorState;
  readonly assets?: AssetDirs;
  readonly log?: (line: string) => void;
}

export interface RunningCoordinator {
  readonly runId: string;
  /** http://127.0.0.1:PORT (or the bound host) — for this machine. */
  readonly localUrl: string;
  /** http://<LAN address>:PORT — for phones, when bound to all interfaces. */
  readonly lanUrl: string;
  readonly port: number;
  readonly maxHttpBufferSize: number;
  readonly registry: DeviceRegistry;
  readonly loop: RunLoop;
  /** Resolves when the run ends ('finished' or 'failed'). */
  readonly done: Promise<RunStatusName>;
  snapshot(): Snapshot;
  close(): Promise<void>;
}

function lanAddress(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

export async function startCoordinator(opts: CoordinatorOptions): Promise<RunningCoordinator> {
  const { config, strategy, task, state } = opts;
  const log = opts.log ?? (() => {});
  const assets = opts.assets ?? defaultAssetDirs();
  const runId = `run-${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`;
  const { token: _token, ...publicConfig } = config;
  state.createRun({ id: runId, createdAt: Date.now(), strategy: strategy.name, config: publicConfig, status: 'waiting', finishedAt: null });

  const registry = new DeviceRegistry();
  const fleet = new FleetSlots(runId, state, task.fleet);
  const maxHttpBufferSize = computeMaxHttpBufferSize(fullAdapterBytes(task.initialAdapter));

  let publicDeviceUrl = '';
  // `loop` is created below; the HTTP handler only calls this once requests arrive.
  const snapshot = (): Snapshot => takeSnapshot(runId, loop.status(), registry, state);
  const http = createServer(
    createRequestHandler({
      assets,
      snapshot,
      publicDeviceUrl: () => publicDeviceUrl,
      partitionFor: (deviceId, key) => fleet.partitionFor(deviceId, key),
    }),
  );
  // Websocket only: Socket.IO's long-polling transport would carry binary attachments as base64.
  // pingTimeout: a slow device's training step (synchronous wasm kernels) can hold its page's event
  // loop for many seconds; it must not be dropped as dead for that.
  const io: CoordinatorServer = new Server(http, { maxHttpBufferSize, transports: ['websocket'], serveClient: false, pingTimeout: 60_000 });
  const gateway = new DeviceGateway(io, { runId, token: config.token, task: task.info, registry, state, fleet, log });
  const loop = new RunLoop({
    runId,
    strategy,
    task,
    state,
    registry,
    channel: gateway,
    settings: {
      rounds: config.rounds,
      devicesExpected: config.devicesExpected,
      batchSize: config.batchSize,
      learningRate: config.learningRate,
      headLearningRate: config.headLearningRate,
      seed: config.seed,
      roundTimeoutMs: config.roundTimeoutMs,
    },
    log,
  });
  gateway.attachEngine(loop);

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.port, config.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const port = (http.address() as AddressInfo).port;
  const anyHost = config.host === '0.0.0.0' || config.host === '::';
  const localUrl = `http://${anyHost ? '127.0.0.1' : config.host}:${port}`;
  const lan = anyHost ? lanAddress() : undefined;
  const lanUrl = lan ? `http://${lan}:${port}` : localUrl;
  publicDeviceUrl = `${lanUrl}/`;
  log(`run ${runId}: ${strategy.name}, ${config.rounds} rounds, waiting for ${config.devicesExpected} devices; socket buffer ${maxHttpBufferSize} B`);

  const done = loop.run();
  let closed = false;
  return {
    runId,
    localUrl,
    lanUrl,
    port,
    maxHttpBufferSize,
    registry,
    loop,
    done,
    snapshot,
    async close() {
      if (closed) return;
      closed = true;
      loop.stop();
      await done;
      await new Promise<void>((resolve) => {
        io.close(() => resolve());
      });
      http.closeAllConnections();
      task.dispose?.();
    },
  };
}
