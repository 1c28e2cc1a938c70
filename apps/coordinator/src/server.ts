/**
 * Assembles one coordinator process: HTTP server (device page, model, wasm, dashboard, fleet data,
 * admin API), the device Socket.IO namespace, the dashboard namespace, the state, and the run of
 * the moment. A process keeps one task (data, model, fleet split) and runs one run at a time: the
 * first at start (or the unfinished one it finds in the state: resume), later ones when an admin
 * starts them. main.ts adds the CLI around it; tests start it directly with fakes for the task.
 */
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Server } from 'socket.io';
import type { CoordinatorConfig } from './config';
import { computeMaxHttpBufferSize } from './config';
import { AddressLimits, connectionLimits } from './connection-limits';
import { InviteBook } from './invites';
import type { ConnectionLimits } from './connection-limits';
import { decodeAdapter } from './core';
import type { Strategy } from './core';
import type { RoundPlanner } from './planning/planner';
import type { WorkerAggregator } from './aggregation/aggregator';
import type { UploadGateOptions } from './engine/upload-gate';
import type { SendPacerOptions } from './engine/send-pacer';
import { attachDashboardNamespace } from './dashboard/namespace';
import type { DashboardSource } from './dashboard/namespace';
import type { RunParams, RunSummary } from './dashboard/contract';
import { buildDashboardState, RoundsCache, runSummary } from './dashboard/view';
import { fullAdapterBytes } from './engine/adapter-sizes';
import type { DeviceRegistry } from './registry';
import type { CoordinatorServer } from './gateway';
import type { AssetDirs } from './http/asset-dirs';
import { defaultAssetDirs } from './http/asset-dirs';
import { createRequestHandler } from './http/routes';
import type { TlsMaterial } from './http/tls';
import { sameSecret } from './fleet-slots';
import { findResumableRun, openRun, refuseResumeOnOtherTask, runParamsFromConfig } from './run-session';
export { TaskMismatchError } from './run-session';
import type { RunSession } from './run-session';
import { takeSnapshot } from './snapshot';
import { withPerplexity } from './lm-status';
import type { Snapshot } from './snapshot';
import type { CoordinatorState, RunStatusName } from './state';
import type { FederatedTask } from './task';
import type { RunLoop } from './engine/run-loop';
import type { ClusterNode } from './cluster/node';

/** What shapes the process and its first run (tests build it directly; main.ts parses it from the CLI). */
export type RunConfig = Pick<
  CoordinatorConfig,
  'port' | 'host' | 'token' | 'rounds' | 'devicesExpected' | 'seed' | 'batchSize' | 'learningRate' | 'headLearningRate' | 'roundTimeoutMs'
> &
  Partial<CoordinatorConfig>;

export interface CoordinatorOptions {
  readonly config: RunConfig;
  /** The first run's strategy object (tests); by default it is built from the config. */
  readonly strategy?: Strategy;
  /** The first run's planner (benches); by default planning/planner.ts's worker planner. */
  readonly planner?: RoundPlanner;
  /** The first run's aggregator (benches); by default aggregation/aggregator.ts's worker, for a strategy built from the config. */
  readonly aggregator?: WorkerAggregator;
  /** Batching of each run's work sends (engine/send-pacer.ts; tests and benches); its defaults when absent. */
  readonly sendPacing?: SendPacerOptions;
  /** The window of offered uploads (engine/upload-gate.ts; tests and benches); its defaults when absent. */
  readonly uploadGate?: UploadGateOptions;
  readonly task: FederatedTask;
  readonly state: CoordinatorState;
  readonly assets?: AssetDirs;
  readonly log?: (line: string) => void;
  /** Serve HTTPS (and Socket.IO over TLS) with this certificate; plain HTTP when absent. */
  readonly tls?: TlsMaterial;
  /** A cluster node whose run (claimRun done) this process serves with the others (README "Scale out"). */
  readonly cluster?: ClusterNode;
}

export interface RunningCoordinator {
  /** The current run. */
  readonly runId: string;
  /** True when the current run was picked up from the state rather than created. */
  readonly resumed: boolean;
  /** http://127.0.0.1:PORT (or the bound host) — for this machine. */
  readonly localUrl: string;
  /** http://<LAN address>:PORT — for phones, when bound to all interfaces. */
  readonly lanUrl: string;
  readonly port: number;
  readonly maxHttpBufferSize: number;
  readonly adminToken: string;
  /** SHA-256 fingerprint of the TLS certificate; undefined when serving plain HTTP. */
  readonly tlsFingerprint: string | undefined;
  /** The join token devices present: --token, or the resumed run's stored one, or a generated one. */
  readonly joinToken: string;
  readonly registry: DeviceRegistry;
  readonly loop: RunLoop;
  /** Resolves when the current run ends. */
  readonly done: Promise<RunStatusName>;
  snapshot(): Snapshot;
  /** Starts a new run with these parameters; refused while a run is going. */
  startRun(params: RunParams): Promise<string>;
  /** Ends the current run ('stopped': it will not be resumed). */
  stopRun(): Promise<void>;
  revokeDevice(deviceId: string): void;
  /** Ends the current run as 'interrupted' (resumable) and closes everything. */
  close(): Promise<void>;
}

export class ControlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControlError';
  }
}

/** This machine's non-internal IPv4 addresses (what phones on the LAN reach it by). */
export function lanAddresses(): string[] {
  const out: string[] = [];
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) out.push(a.address);
  }
  return out;
}

/** Every host name a device may use for a coordinator bound to `host`: what its certificate must name. */
export function serviceHosts(host: string): string[] {
  const anyHost = host === '0.0.0.0' || host === '::';
  const hosts = ['localhost', '127.0.0.1', ...(anyHost ? lanAddresses() : []), ...(anyHost || host === 'localhost' ? [] : [host])];
  return [...new Set(hosts)];
}

export async function startCoordinator(opts: CoordinatorOptions): Promise<RunningCoordinator> {
  const { config, task, cluster } = opts;
  // In a cluster, every completed round's checkpoint also goes to Redis (for the next leader).
  const state = cluster ? cluster.wrapState(opts.state) : opts.state;
  const log = opts.log ?? (() => {});
  const assets = opts.assets ?? defaultAssetDirs();
  const adminToken = config.adminToken ?? '';
  const maxHttpBufferSize = computeMaxHttpBufferSize(fullAdapterBytes(task.initialAdapter));
  // Revocations are kept in the state: a revoked device stays out after a restart.
  const revoked = new Set<string>(state.listRevokedDevices());
  const limits: Partial<ConnectionLimits> = {
    ...(config.maxConnectionsPerAddress === undefined ? {} : { maxConnectionsPerAddress: config.maxConnectionsPerAddress }),
    ...(config.maxConnections === undefined ? {} : { maxConnections: config.maxConnections }),
    ...(config.maxDevicesPerAddress === undefined ? {} : { maxDevicesPerAddress: config.maxDevicesPerAddress }),
    ...(config.maxJoinsPerMinute === undefined ? {} : { maxJoinsPerMinute: config.maxJoinsPerMinute }),
    ...(config.trustedProxies === undefined ? {} : { trustedProxies: config.trustedProxies }),
  };
  const addresses = new AddressLimits(connectionLimits(limits));
  let joinToken = cluster ? cluster.run.joinToken : config.token;
  const invites = new InviteBook(state);
  const changeListeners = new Set<() => void>();
  const notify = () => {
    for (const l of changeListeners) l();
  };

  let publicDeviceUrl = '';
  let session: RunSession;
  let closing = false;

  const snapshot = (admin = true): Snapshot => withPerplexity({ task: task.summary ?? null, ...takeSnapshot(session.runId, session.loop.status(), session.registry, state, admin) });
  const exportAdapter = (runId: string, round: number | undefined): Uint8Array | undefined => {
    const cp = round === undefined ? state.latestCheckpoint(runId) : state.getCheckpoint(runId, round);
    return cp?.bytes;
  };
  const exportPeft = task.exportPeft;
  const handler = createRequestHandler({
      assets,
      ...(config.trustedProxies === undefined ? {} : { trustedProxies: config.trustedProxies }),
      ...(task.serveFiles ? { serveFiles: task.serveFiles } : {}),
      snapshot,
      publicDeviceUrl: () => publicDeviceUrl,
      partitionFor: (deviceId, key) => session.fleet.partitionFor(deviceId, key),
      admin: {
        isAdminToken: (t) => adminToken.length > 0 && sameSecret(adminToken, t),
        exportAdapter,
        ...(exportPeft
          ? {
              exportPeft: async (runId: string, round: number | undefined) => {
                const cp = round === undefined ? state.latestCheckpoint(runId) : state.getCheckpoint(runId, round);
                return cp ? { ...(await exportPeft(decodeAdapter(cp.bytes, { copy: true }))), round: cp.round } : undefined;
              },
            }
          : {}),
        currentRunId: () => session.runId,
        stopRun: () => control.stopRun(),
        startRun: (params) => control.startRun(params),
        revokeDevice: (id) => control.revokeDevice(id),
        issueInvites: (count) => invites.issue(count).map((invite) => ({ invite, url: `${publicDeviceUrl}?token=${encodeURIComponent(invite)}` })),
        inviteCounts: () => invites.counts(),
      },
    });
  const http = opts.tls ? createHttpsServer({ cert: opts.tls.certPem, key: opts.tls.keyPem }, handler) : createServer(handler);
  // Websocket only: Socket.IO's long-polling transport would carry binary attachments as base64.
  // pingTimeout: a slow device's training step (synchronous wasm kernels) can hold its page's event
  // loop for many seconds; it must not be dropped as dead for that.
  const io: CoordinatorServer = new Server(http, { maxHttpBufferSize, transports: ['websocket'], serveClient: false, pingTimeout: 60_000 });
  if (cluster) io.adapter(cluster.socketAdapter() as Parameters<CoordinatorServer['adapter']>[0]);

  const begin = (params: RunParams, strategy: Strategy | undefined, resumeId: string | undefined, newRunId?: string): RunSession => {
    const next = openRun({
      ...(newRunId === undefined ? {} : { runId: newRunId }),
      ...(cluster ? { cluster } : {}),
      io,
      params,
      ...(strategy ? { strategy } : {}),
      ...(strategy && strategy === opts.strategy && opts.planner ? { planner: opts.planner } : {}),
      ...(strategy && strategy === opts.strategy && opts.aggregator ? { aggregator: opts.aggregator } : {}),
      ...(opts.sendPacing ? { sendPacing: opts.sendPacing } : {}),
      ...(opts.uploadGate ? { uploadGate: opts.uploadGate } : {}),
      task,
      state,
      joinToken,
      taskSettings: taskSettingsOf(config, task),
      rejoinGraceMs: config.rejoinGraceMs ?? 30_000,
      ...(config.evictAfterMs === undefined ? {} : { evictAfterMs: config.evictAfterMs }),
      normBoundFactor: config.normBoundFactor === undefined ? 1.01 : config.normBoundFactor,
      ...(config.sampleWeightCap === undefined ? {} : { sampleWeightCap: config.sampleWeightCap }),
      ...(config.maxRoundAttempts === undefined ? {} : { maxRoundAttempts: config.maxRoundAttempts }),
      ...(config.resumeWaitMs === undefined ? {} : { resumeWaitMs: config.resumeWaitMs }),
      ...(config.slotGraceMs === undefined ? {} : { slotGraceMs: config.slotGraceMs }),
      limits,
      addresses,
      invites,
      ...(config.invitesOnly ? { invitesOnly: true } : {}),
      ...(resumeId ? { resumeRunId: resumeId } : {}),
      onStatus: notify,
      log,
    });
    for (const id of revoked) next.registry.revoke(id, Date.now());
    next.registry.onChange(notify);
    log(
      `run ${next.runId}${resumeId ? ' (resumed)' : ''}: ${params.strategy}, ${params.rounds} rounds, waiting for ${params.devicesExpected} devices; socket buffer ${maxHttpBufferSize} B`,
    );
    return next;
  };

  if (config.resume !== false && !cluster) refuseResumeOnOtherTask(state, taskSettingsOf(config, task));
  const resumable = config.resume === false || cluster ? undefined : findResumableRun(state, taskSettingsOf(config, task));
  if (resumable) {
    const storedToken = state.getJoinToken(resumable.run.id);
    if (storedToken !== undefined && config.tokenGenerated === true) {
      // Restarted without --token: the run's devices hold the stored token in their URLs.
      joinToken = storedToken;
      log(`run ${resumable.run.id}: resuming with its stored join token`);
    } else if (storedToken !== undefined && storedToken !== config.token) {
      log(`run ${resumable.run.id} was started with another join token; devices must rejoin with the new one`);
    }
  }
  if (cluster) {
    // The cluster's run, under its id and parameters; resumed when this node's state already holds it.
    const { runId, params } = cluster.run;
    const known = state.listRuns().some((r) => r.id === runId);
    session = begin(params, opts.strategy, known ? runId : undefined, runId);
  } else {
    session = begin(resumable?.params ?? runParamsFromConfig(config), resumable ? undefined : opts.strategy, resumable?.run.id);
  }
  const resumed = resumable !== undefined;

  const control = {
    async startRun(params: RunParams): Promise<string> {
      if (closing) throw new ControlError('the coordinator is shutting down');
      if (cluster) throw new ControlError('a cluster runs one run: start the nodes again with --cluster NAME (a new name) for another');
      if (session.isActive()) throw new ControlError(`run ${session.runId} is still going: stop it first`);
      const previous = session;
      session = begin(params, undefined, undefined);
      previous.gateway.retire(session.runId);
      session.start();
      void session.done.then(notify);
      notify();
      return session.runId;
    },
    async stopRun(): Promise<void> {
      if (!session.isActive()) throw new ControlError(`run ${session.runId} is not running`);
      session.loop.stop('stopped');
      await session.done;
    },
    revokeDevice(deviceId: string): void {
      revoked.add(deviceId);
      state.revokeDevice(deviceId, Date.now());
      session.gateway.revoke(deviceId);
      if (cluster) void cluster.revoke(deviceId).catch((err: unknown) => log(`could not record the revocation of ${deviceId} in Redis: ${(err as Error).message}`));
      notify();
    },
  };

  const roundsCache = new RoundsCache();
  const source: DashboardSource = {
    view: (admin) =>
      buildDashboardState({
        roundsCache,
        admin,
        session,
        state,
        task,
        revoked,
        deviceUrl: admin ? `${publicDeviceUrl}?token=${encodeURIComponent(joinToken)}` : publicDeviceUrl,
        deviceUrlHasToken: admin,
        tlsFingerprint: opts.tls?.fingerprint ?? null,
        now: Date.now(),
      }),
    onChange: (listener) => {
      changeListeners.add(listener);
      return () => changeListeners.delete(listener);
    },
    listRuns: (): RunSummary[] => state.listRuns().map((run) => runSummary(run, state)),
    startRun: (params) => control.startRun(params),
    stopRun: () => control.stopRun(),
    revokeDevice: (id) => control.revokeDevice(id),
    isAdminToken: (t) => adminToken.length > 0 && sameSecret(adminToken, t),
  };
  attachDashboardNamespace(io, source, { log });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.port, config.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const port = (http.address() as AddressInfo).port;
  const anyHost = config.host === '0.0.0.0' || config.host === '::';
  const scheme = opts.tls ? 'https' : 'http';
  const localUrl = `${scheme}://${anyHost ? '127.0.0.1' : config.host}:${port}`;
  const lan = anyHost ? lanAddresses()[0] : undefined;
  const lanUrl = lan ? `${scheme}://${lan}:${port}` : localUrl;
  publicDeviceUrl = `${lanUrl}/`;
  if (cluster) {
    const current = session;
    for (const id of revoked) await cluster.revoke(id);
    cluster.onRevoked((id) => {
      if (revoked.has(id)) return;
      revoked.add(id);
      state.revokeDevice(id, Date.now());
      session.gateway.revoke(id);
      notify();
    });
    const rejoinGraceMs = config.rejoinGraceMs ?? 30_000;
    await cluster.attach(
      { runId: current.runId, registry: current.registry, loop: current.loop, redirect: (id, to, nodes, reason) => current.gateway.redirect(id, to, nodes, reason) },
      config.publicUrl ?? lanUrl,
      { memberWaitMs: Math.max(5_000, Math.min(20_000, rejoinGraceMs)), roundTimeoutMs: current.params.roundTimeoutS * 1000, rejoinGraceMs },
      state,
    );
  }
  session.start();
  void session.done.then(notify);

  let closed = false;
  return {
    get runId() {
      return session.runId;
    },
    resumed,
    localUrl,
    lanUrl,
    port,
    maxHttpBufferSize,
    adminToken,
    tlsFingerprint: opts.tls?.fingerprint,
    joinToken,
    get registry() {
      return session.registry;
    },
    get loop() {
      return session.loop;
    },
    get done() {
      return session.done;
    },
    snapshot,
    startRun: (params) => control.startRun(params),
    stopRun: () => control.stopRun(),
    revokeDevice: (id) => control.revokeDevice(id),
    async close() {
      if (closed) return;
      closed = true;
      closing = true;
      session.loop.stop('interrupted');
      await cluster?.close();
      await session.done;
      await new Promise<void>((resolve) => {
        io.close(() => resolve());
      });
      http.closeAllConnections();
      task.dispose?.();
    },
  };
}

/** The settings that define the task (data split, model); a run is resumed only under the same ones. */
function taskSettingsOf(config: RunConfig, task: FederatedTask): Record<string, unknown> {
  return {
    task: task.info.name,
    taskHash: task.summary?.hash ?? null,
    classes: task.info.classNames.length,
    partitions: task.fleet.numPartitions,
    rank: task.info.lora.rank,
    alpha: config.alpha ?? null,
    topK: config.topK ?? null,
    maxPerClass: config.maxPerClass ?? null,
    dataSeed: config.seed,
    // Causal-LM runs: what `npm run export|generate -- --run ID` needs to turn a checkpoint into a PEFT adapter.
    ...(task.summary?.lm ? { model: { dir: task.summary.lm.modelDir, lora: task.info.lora, template: task.info.causalLm?.template.prompt ?? null } } : {}),
  };
}
