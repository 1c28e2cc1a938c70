/**
 * One device's life, independent of React: choose a backend, connect, get the task (and the fleet
 * slot), load data, measure the resource profile, join, then train each assignment and upload its
 * delta. The UI subscribes to `view`; tests read it from `window.__tabfleet`.
 */
import { classCounts, decodeAdapter, deltaNorm, describeUnknownLabels, encodeAdapter, PROTOCOL_VERSION, scaleDelta, toDataset } from './core';
import type {
  AdapterState,
  BackendName,
  Assignment,
  BackendReport,
  DeviceToServerWire,
  ShardRunner,
  DataMode,
  GlobalAdapter,
  LabeledDataset,
  ResourceProfile,
  PauseReason,
  RunStatus,
  ServerMessage,
  TaskInfo,
  UploadGrant,
} from './core';
import type { BackendTrial } from './backend/choose';
import { environmentKey, fnv1a, MeasurementCache, profileKey } from './backend/profile-cache';
import { WASM_PATH } from './backend/register';
import { selectBackend } from './backend/select';
import { chooseThreadCount, threadsPossible } from './backend/threads';
import { watchBackendLoss } from './backend/loss';
import { Connection } from './connection';
import type { ConnectionState } from './connection';
import { fetchFleetPartition } from './data/fleet';
import { readOwnFile } from './data/own-file';
import type { Identity } from './identity';
import { claimDeviceTab, watchCharging, WakeLockKeeper } from './lifecycle';
import type { WakeLockState } from './lifecycle';
import { poisonMultiplier } from './poison';
import type { Poison } from './poison';
import { startShardWorkers } from './parallel/worker-pool';
import { chooseWorkerCount } from './parallel/worker-count';
import { measureUploadBytesPerSec, usableMemoryBytes } from './profile';
import { benchmarkCurrentBackend, cachedModelFetch, LocalTrainer } from './trainer';
import type { LocalResult } from './trainer';
import { LmLocalTrainer, OutOfMemoryError } from './lm-trainer';
import { fetchLmPartition, readOwnLmFile } from './data/lm-fleet';
import type { EncodedRow } from './core';

export type Phase =
  | 'starting'
  | 'choosing-backend'
  | 'connecting'
  | 'choosing-data'
  | 'loading-data'
  | 'profiling'
  | 'joining'
  | 'ready'
  | 'training'
  | 'uploading'
  | 'finished'
  | 'other-tab'
  | 'error';

export interface WorkView {
  readonly round: number;
  readonly intraRound: number;
  readonly groupId: string;
  readonly depth: number;
  readonly step: number;
  readonly localSteps: number;
  readonly loss: number | null;
}

export interface DeviceView {
  readonly deviceId: string;
  readonly connection: ConnectionState;
  readonly phase: Phase;
  readonly message: string;
  readonly mode: DataMode | undefined;
  /** Emulated slowdown factor from ?slowdown= (1 = none). */
  readonly slowdown: number;
  /** Attack emulation from ?poison= (undefined = an honest tab). */
  readonly poison: Poison | undefined;
  /** L2 norm of the last delta uploaded (after any poisoning). */
  readonly lastUploadNorm: number | null;
  readonly trials: readonly BackendTrial[];
  readonly backend: BackendReport | undefined;
  readonly profile: ResourceProfile | undefined;
  readonly task: TaskInfo | undefined;
  readonly partitionIndex: number | undefined;
  readonly numSamples: number | undefined;
  readonly labelHistogram: readonly number[] | undefined;
  readonly run: RunStatus | undefined;
  readonly joins: number;
  readonly rejoin: boolean | undefined;
  readonly work: WorkView | undefined;
  readonly lastRoundLoss: number | null;
  readonly uploads: number;
  /** The rounds of this visit's uploads, oldest first (the latest 20). */
  readonly uploadedRounds: readonly number[];
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly error: string | undefined;
  /** isSecureContext: false on plain http://<LAN address> (no WebGPU, no threads, no wake lock). */
  readonly secureContext: boolean;
  /** crossOriginIsolated: needed for SharedArrayBuffer, hence multi-threaded wasm. */
  readonly isolated: boolean;
  /** Threads the wasm backend runs with (undefined until wasm was initialised). */
  readonly wasmThreads: number | undefined;
  /** Threads this page asked for. */
  readonly wasmThreadsWanted: number;
  /** Data-parallel Web Workers this page wants for classifier steps (1 = none: the page's own step). */
  readonly dataParallelWanted: number;
  /** Data-parallel workers each training step actually runs on (wasm only; undefined until the model is loaded). */
  readonly dataParallelWorkers: number | undefined;
  /** Why there are fewer data-parallel workers than wanted (memory, another backend, a worker that failed). */
  readonly dataParallelNote: string | undefined;
  /** The backend choice came from this browser's cache (no benchmark this visit). */
  readonly backendCached: boolean;
  /** The per-depth profile came from the cache (no step timing this visit). */
  readonly profileCached: boolean;
  /** Why part of the profile is a default, not a measurement (e.g. the bandwidth probe was rate-limited). */
  readonly profileNote: string | undefined;
  /** Why training is held now; empty while it may run. */
  readonly paused: readonly PauseReason[];
  readonly wakeLock: WakeLockState;
  /** The person asked to train only while the device charges. */
  readonly chargingOnly: boolean;
  /** Battery Status API: charging now; undefined where the browser has no such API. */
  readonly charging: boolean | undefined;
  readonly hidden: boolean;
  /** Step times of the latest local training (ms), for the person and for tests. */
  readonly recentStepMs: readonly number[];
  /** Own file with some labels outside the task's set: waiting for the person to train on the known rows or pick another file. */
  readonly labelMismatch: LabelMismatch | undefined;
  /** Causal-LM tasks: the checkpoint download (undefined for the built-in encoder). */
  readonly modelDownload?: ModelDownloadView;
}

export interface ModelDownloadView {
  readonly totalBytes: number;
  readonly loadedBytes: number;
  readonly file: string;
  /** Files fetched over the network this visit (the rest came from Cache Storage); set once done. */
  readonly downloaded?: readonly string[];
}

/** Work of one assignment, whatever the objective. */
interface LocalJob {
  readonly numSamples: number;
  train(a: Assignment, start: AdapterState, onStep: (step: number, loss: number) => void, betweenSteps: () => Promise<void>): Promise<LocalResult>;
}

export interface LabelMismatch {
  readonly fileName: string;
  readonly knownRows: number;
  readonly unknownRows: number;
  readonly unknown: ReadonlyArray<{ readonly label: string; readonly count: number }>;
  readonly message: string;
}

type Listener = (view: DeviceView) => void;

const CHARGING_ONLY_KEY = 'tabfleet.chargingOnly';

export class DeviceSession {
  private v: DeviceView;
  private readonly listeners = new Set<Listener>();
  private readonly fetchAsset = cachedModelFetch();
  private connection: Connection | undefined;
  private trainer: LocalTrainer | undefined;
  /** Causal-LM tasks: the decoder trainer and this device's encoded rows (trainer/data stay unset). */
  private lm: { trainer: LmLocalTrainer; rows: EncodedRow[] } | undefined;
  private data: LabeledDataset | undefined;
  private fleetDataUrl: string | undefined;
  private pendingAssignment: Assignment | undefined;
  private queue: Promise<void> = Promise.resolve();
  private fileWaiter: ((file: File) => void) | undefined;
  private knownRowsWaiter: (() => void) | undefined;
  private preparing: Promise<void> | undefined;
  private runId: string | undefined;
  /** The work being trained or uploaded now (workKey), so that the same work sent again is not trained twice. */
  private inFlight: string | undefined;
  /** The last upload, kept to send it again if the coordinator resends that work (it never arrived). */
  /** The last upload, kept until the coordinator grants it (upload window) and to send again after a reconnect. */
  private lastUpload: { key: string; msg: DeviceToServerWire['upload']; sent: boolean } | undefined;
  private readonly cache = new MeasurementCache(safeLocalStorage());
  private envKey = '';
  private readonly wakeLock: WakeLockKeeper;
  private userPaused = false;
  /** Resolvers of training steps waiting for the pause to end. */
  private resumeWaiters: Array<() => void> = [];
  /** Set while the backend is being replaced after a lost WebGL context / WebGPU device. */
  private recovering: Promise<void> | undefined;
  private readonly lostBackends: BackendName[] = [];
  /** The data-parallel workers, started once per visit (empty: none). */
  private pool: Promise<ShardRunner[]> | undefined;
  /** The backend the pool was started (or declined) for: a recovery onto wasm starts the workers then. */
  private poolBackend: string | undefined;
  /** Aborted when the active backend is lost: work under way on it is given up (its reads may never settle). */
  private backendAlive = new AbortController();

  constructor(private readonly identity: Identity) {
    this.v = {
      deviceId: identity.deviceId,
      connection: 'offline',
      phase: 'starting',
      message: '',
      mode: identity.mode,
      slowdown: identity.slowdown,
      poison: identity.poison,
      lastUploadNorm: null,
      trials: [],
      backend: undefined,
      profile: undefined,
      task: undefined,
      partitionIndex: undefined,
      numSamples: undefined,
      labelHistogram: undefined,
      run: undefined,
      joins: 0,
      rejoin: undefined,
      work: undefined,
      lastRoundLoss: null,
      uploads: 0,
      uploadedRounds: [],
      bytesSent: 0,
      bytesReceived: 0,
      error: undefined,
      labelMismatch: undefined,
      secureContext: globalThis.isSecureContext === true,
      isolated: globalThis.crossOriginIsolated === true,
      wasmThreads: undefined,
      wasmThreadsWanted: threadsPossible() ? chooseThreadCount(navigator.hardwareConcurrency, identity.threads) : 1,
      ...(() => {
        const choice = chooseWorkerCount(navigator.hardwareConcurrency, usableMemoryBytes(), { workers: identity.workers, threads: identity.threads });
        return { dataParallelWanted: choice.workers, dataParallelNote: choice.note };
      })(),
      dataParallelWorkers: undefined,
      backendCached: false,
      profileCached: false,
      profileNote: undefined,
      paused: [],
      wakeLock: 'off',
      chargingOnly: safeLocalStorage()?.getItem(CHARGING_ONLY_KEY) === '1',
      charging: undefined,
      hidden: typeof document !== 'undefined' && document.visibilityState === 'hidden',
      recentStepMs: [],
    };
    this.wakeLock = new WakeLockKeeper((wakeLock, detail) => this.update({ wakeLock, ...(detail ? { error: `wake lock: ${detail}` } : {}) }));
  }

  /** The pause button. */
  togglePause(): void {
    this.userPaused = !this.userPaused;
    this.refreshPause();
  }

  /** "Train only while charging". */
  setChargingOnly(on: boolean): void {
    try {
      safeLocalStorage()?.setItem(CHARGING_ONLY_KEY, on ? '1' : '0');
    } catch {
      // not persisted: it still applies to this visit
    }
    this.update({ chargingOnly: on });
    this.refreshPause();
  }

  private refreshPause(): void {
    const reasons: PauseReason[] = [];
    if (this.userPaused) reasons.push('user');
    if (this.v.hidden) reasons.push('hidden');
    if (this.v.chargingOnly && this.v.charging === false) reasons.push('battery');
    const changed = reasons.join() !== this.v.paused.join();
    if (changed) this.update({ paused: reasons });
    this.wakeLock.want(reasons.length === 0 && (this.v.phase === 'training' || this.v.phase === 'uploading'));
    if (reasons.length === 0) {
      const waiters = this.resumeWaiters;
      this.resumeWaiters = [];
      for (const w of waiters) w();
    }
    if (changed) this.sendDeviceState();
  }

  private sendDeviceState(): void {
    if (this.v.joins === 0) return;
    this.connection?.send('deviceState', { paused: this.v.paused.length > 0, reasons: [...this.v.paused] });
  }

  /** Awaited between training steps: returns at once unless the device is paused. */
  private untilResumed(): Promise<void> {
    if (this.v.paused.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.resumeWaiters.push(resolve));
  }

  private watchLifecycle(): void {
    document.addEventListener('visibilitychange', () => {
      this.update({ hidden: document.visibilityState === 'hidden' });
      this.refreshPause();
    });
    void watchCharging((charging) => {
      this.update({ charging });
      this.refreshPause();
    });
    this.refreshPause();
  }

  get view(): DeviceView {
    return this.v;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Own-data mode (or before a mode is chosen): the person picked a file. */
  chooseMode(mode: DataMode): void {
    if (this.v.mode !== undefined) return;
    this.update({ mode });
    if (this.connection?.connected) this.sayHello();
    else this.connection?.reconnect();
  }

  /** Test hook: one training step's loss on a given batch (see LocalTrainer.probeStepLoss). */
  async probeStepLoss(texts: readonly string[], labels: readonly number[], depth: number, steps?: number): Promise<number> {
    if (!this.trainer) throw new Error('the model is not loaded yet');
    return this.trainer.probeStepLoss(texts, labels, depth, steps);
  }

  provideFile(file: File): void {
    this.fileWaiter?.(file);
  }

  /** After a label mismatch: train on the rows whose labels the task knows (the person chose so). */
  useKnownRows(): void {
    this.knownRowsWaiter?.();
  }

  async start(): Promise<void> {
    if (!this.identity.token) {
      this.fail('No join token. Open the device URL the coordinator printed (it ends in ?token=…).');
      return;
    }
    if (!(await claimDeviceTab(this.identity.deviceId))) {
      this.update({
        phase: 'other-tab',
        message: 'this device is already training in another tab of this browser',
        error: `Device ${this.identity.deviceId} is already training in another tab of this browser. Close this tab, or close the other one and reload this.`,
      });
      return;
    }
    this.watchLifecycle();
    try {
      await this.chooseBackend();
      this.update({ phase: 'connecting' });
      this.connection = new Connection(window.location.origin, {
        onConnect: () => this.sayHello(),
        onMessage: (m) => this.onMessage(m),
        onState: (connection, detail) => this.update({ connection, ...(detail ? { message: detail } : {}) }),
        onInvalid: (event, error) => {
          this.update({ error: `ignored an invalid "${event}" message: ${error}` });
          this.connection?.send('deviceError', { code: 'invalid-message', message: error.slice(0, 2000) });
        },
      });
    } catch (err) {
      this.fail((err as Error).message);
    }
  }

  /** Backend choice: the cached one for this browser, model and thread count, else measure each. */
  private async chooseBackend(exclude: readonly BackendName[] = []): Promise<void> {
    // A forced backend (?backend=) decides the first choice only: once it is lost, the page falls back like any other.
    const forced = exclude.length === 0 ? this.identity.forcedBackend : undefined;
    const manifest = new Uint8Array(await this.fetchAsset('model.json'));
    this.envKey = environmentKey({
      userAgent: navigator.userAgent,
      modelHash: fnv1a(manifest),
      wasmThreads: this.v.wasmThreadsWanted,
      crossOriginIsolated: this.v.isolated,
      dataParallelWorkers: this.v.dataParallelWanted,
    });
    const cached = forced ? undefined : this.cache.backend(this.envKey);
    this.update({ phase: 'choosing-backend', trials: [], message: cached ? `using ${cached.name} (measured on an earlier visit)` : 'measuring a training step on each tfjs backend' });
    const { report, trials } = await selectBackend((name) => this.benchmarkStep(name), {
      forced,
      wasmThreads: this.v.wasmThreadsWanted,
      cached,
      exclude,
      onTrial: (trial) => this.update({ trials: [...this.v.trials, trial] }),
    });
    // Started for the wasm trial, which lost (a later recovery onto wasm starts them again), or not for a decoder task.
    if (report.name !== 'wasm' || this.v.task?.causalLm) this.releasePool();
    if (!report.cached && !report.forced) this.cache.saveBackend(this.envKey, report);
    this.update({
      backend: report,
      trials: report.cached ? [] : trials,
      backendCached: report.cached === true,
      wasmThreads: report.wasmThreads,
      message: `using ${report.name}${report.wasmThreads ? ` with ${report.wasmThreads} thread${report.wasmThreads === 1 ? '' : 's'}` : ''}${report.cached ? ' (cached choice)' : ''}`,
    });
    this.backendAlive = new AbortController();
    watchBackendLoss(report.name, (why) => this.onBackendLost(report.name, why));
  }

  /**
   * A backend trial's step: on wasm with data-parallel workers wanted, the data-parallel step (the
   * pool is started for it, and kept if wasm wins), so the choice compares what would train.
   */
  private async benchmarkStep(name: BackendName): Promise<{ ms: number; dataParallelWorkers?: number }> {
    if (name !== 'wasm' || this.v.dataParallelWanted <= 1) return { ms: await benchmarkCurrentBackend(this.fetchAsset) };
    if (this.pool === undefined || this.poolBackend !== 'wasm') {
      this.poolBackend = 'wasm';
      this.pool = this.startPool('wasm');
    }
    const runners = await this.pool;
    const ms = await benchmarkCurrentBackend(this.fetchAsset, 8, runners);
    return runners.length > 1 ? { ms, dataParallelWorkers: runners.length } : { ms };
  }

  /**
   * The WebGL context or WebGPU device is gone: every tensor on it is lost. Tell the coordinator,
   * forget that choice, switch to the next backend, reload the model there, and join again.
   */
  private onBackendLost(name: BackendName, why: string): void {
    if (this.recovering) return;
    this.lostBackends.push(name);
    this.backendAlive.abort(new BackendLostError(`${name} was lost (${why}); the work under way on it is given up`));
    this.cache.dropBackend();
    this.connection?.send('deviceError', { code: 'backend-failed', message: `${name} lost: ${why}; switching backend`.slice(0, 2000) });
    this.update({ error: `${name} was lost (${why}); switching to the next backend` });
    this.recovering = (async () => {
      try {
        await this.chooseBackend(this.lostBackends);
        if (this.v.task?.causalLm && this.lm) {
          const rows = this.lm.rows;
          this.lm.trainer.dispose();
          this.lm = { trainer: await this.loadLmTrainer(this.v.task), rows };
          await this.measureProfile(this.v.task);
          this.sendJoin();
        } else if (this.v.task) {
          this.trainer?.dispose();
          this.trainer = undefined;
          if (this.data) {
            this.trainer = await LocalTrainer.load(this.fetchAsset, this.v.task, this.identity.slowdown, this.shardRunners(), (err) => this.onShardFailure(err));
            await this.measureProfile(this.v.task);
          } else {
            // Lost before the data was read: the whole preparation, on the new backend.
            await this.prepare(this.v.task);
          }
          // A preparation that hung on the lost backend must not hold later (re)joins.
          this.preparing = Promise.resolve();
          // Rejoining makes the coordinator send the open work again, which is then trained here.
          this.sendJoin();
        }
      } catch (err) {
        this.fail(`no backend left after ${name} was lost: ${(err as Error).message}`);
      } finally {
        this.recovering = undefined;
      }
    })();
  }

  private sayHello(): void {
    const mode = this.v.mode;
    if (mode === undefined || !this.identity.token) {
      this.update({ phase: 'choosing-data', message: 'choose simulated fleet data or your own file' });
      return;
    }
    this.connection?.send('hello', {
      protocolVersion: PROTOCOL_VERSION,
      token: this.identity.token,
      deviceId: this.identity.deviceId,
      deviceKey: this.identity.deviceKey,
      dataMode: mode,
    });
  }

  private onMessage(m: ServerMessage): void {
    switch (m.event) {
      case 'welcome':
        if (this.runId !== undefined && this.runId !== m.msg.runId) {
          // The coordinator started another run (restart): its fleet slots and task may differ, so start over.
          window.location.reload();
          return;
        }
        this.runId = m.msg.runId;
        void this.onWelcome(m.msg.task, m.msg.fleet?.dataUrl, m.msg.fleet?.index);
        return;
      case 'joined':
        this.update({ phase: 'ready', joins: this.v.joins + 1, rejoin: m.msg.rejoin, run: m.msg.status, message: m.msg.rejoin ? 'rejoined the run' : 'joined the run' });
        if (this.v.paused.length > 0) this.sendDeviceState();
        return;
      case 'runStatus':
        this.update({ run: m.msg, ...(m.msg.state === 'finished' && this.v.phase === 'ready' ? { phase: 'finished' as const, message: 'run finished' } : {}) });
        return;
      case 'assignment':
        this.pendingAssignment = m.msg;
        return;
      case 'globalAdapter':
        this.update({ bytesReceived: this.v.bytesReceived + m.msg.payload.byteLength });
        this.enqueueWork(m.msg);
        return;
      case 'uploadGrant':
        this.sendGrantedUpload(m.msg);
        return;
      case 'uploadAccepted':
        if (this.v.phase === 'uploading') this.update({ phase: 'ready', message: `round ${m.msg.round} upload accepted` });
        return;
      case 'serverError': {
        const text = `${m.msg.code}: ${m.msg.message}`;
        // The coordinator's per-connection rate limit dropped the offer (or the upload): offer it
        // again once the limit's window has passed, or the device would wait for a grant forever.
        const last = this.lastUpload;
        if (m.msg.code === 'rate-limited' && (m.msg.event === 'uploadOffer' || m.msg.event === 'upload') && last) {
          this.update({ message: 'the coordinator dropped the upload offer (rate limit); offering it again in 1 s' });
          setTimeout(() => {
            if (this.lastUpload === last) this.offerUpload(last.msg);
          }, 1000);
          return;
        }
        if (m.msg.code === 'bad-token' || m.msg.code === 'protocol-mismatch' || m.msg.code === 'no-partition' || m.msg.code === 'revoked') this.fail(text);
        else this.update({ error: text });
        return;
      }
    }
  }

  /** First welcome: load model, data and profile, then join. Later welcomes (reconnects): join again. */
  private async onWelcome(task: TaskInfo, dataUrl: string | undefined, partitionIndex: number | undefined): Promise<void> {
    this.update({ task, ...(partitionIndex === undefined ? {} : { partitionIndex }) });
    this.fleetDataUrl = dataUrl;
    this.preparing ??= this.prepare(task);
    try {
      await untilAborted(this.preparing, this.backendAlive.signal);
    } catch (err) {
      // The backend went away while preparing: the recovery prepares on the next one and joins.
      if (err instanceof BackendLostError) return;
      this.preparing = undefined;
      const message = (err as Error).message;
      // Said to the coordinator too: a device that cannot hold the model is not silently absent.
      if (err instanceof OutOfMemoryError) this.connection?.send('deviceError', { code: 'training-failed', message: message.slice(0, 2000) });
      this.fail(message);
      return;
    }
    this.sendJoin();
  }

  private async prepare(task: TaskInfo): Promise<void> {
    if (task.causalLm) return this.prepareLm(task);
    // A backend lost part-way: this preparation stops at its next step, the recovery loads and measures again.
    const alive = this.backendAlive.signal;
    this.update({ phase: 'loading-data', message: 'loading the model' });
    const trainer = await LocalTrainer.load(this.fetchAsset, task, this.identity.slowdown, this.shardRunners(), (err) => this.onShardFailure(err));
    if (alive.aborted) {
      trainer.dispose();
      throw alive.reason as Error;
    }
    this.trainer = trainer;
    if (this.trainer.numBlocks !== task.numBlocks) throw new Error(`model has ${this.trainer.numBlocks} blocks; the task says ${task.numBlocks}`);
    this.data = await this.loadData(task);
    if (alive.aborted) throw alive.reason as Error;
    const labelHistogram = classCounts(this.data.labels, task.classNames.length);
    this.update({ numSamples: this.data.texts.length, labelHistogram });
    await this.measureProfile(task);
  }

  /**
   * The data-parallel workers for classifier steps (wasm only; the decoder trainer runs on the
   * page's own tfjs), started on first use; what the device got goes into the view and the
   * backend report the coordinator receives.
   */
  private async shardRunners(): Promise<ShardRunner[]> {
    const name = this.v.backend?.name;
    if (this.pool === undefined || (name === 'wasm' && this.poolBackend !== 'wasm')) {
      this.poolBackend = name;
      this.pool = this.startPool();
    }
    const runners = await this.pool;
    const b = this.v.backend;
    if (b?.name !== 'wasm') return [];
    const workers = Math.max(runners.length, 1);
    this.update({ backend: { ...b, dataParallelWorkers: workers }, dataParallelWorkers: workers });
    return runners;
  }

  /** Stops the data-parallel workers, if any were started, so that a later shardRunners() starts them afresh. */
  private releasePool(): void {
    const old = this.pool;
    this.pool = undefined;
    this.poolBackend = undefined;
    void old?.then((runners) => runners.forEach((r) => r.dispose()));
  }

  /** A data-parallel worker failed: the trainer steps in the page from now on; the workers are stopped. */
  private onShardFailure(err: Error): void {
    const old = this.pool;
    this.pool = Promise.resolve([]);
    void old?.then((runners) => runners.forEach((r) => r.dispose()));
    const b = this.v.backend;
    this.update({
      dataParallelWorkers: 1,
      dataParallelNote: `${err.message}; training steps run in the page from now on`,
      ...(b?.name === 'wasm' ? { backend: { ...b, dataParallelWorkers: 1 } } : {}),
    });
  }

  private async startPool(backend = this.v.backend?.name): Promise<ShardRunner[]> {
    const wanted = this.v.dataParallelWanted;
    if (wanted <= 1) return [];
    if (backend !== 'wasm') {
      this.update({ dataParallelNote: `data-parallel workers train on wasm; this device uses ${backend ?? 'no backend'}, so each step runs in the page` });
      return [];
    }
    this.update({ message: `starting ${wanted} data-parallel workers (a model replica each)` });
    try {
      const runners = await startShardWorkers(wanted, this.fetchAsset, new URL(WASM_PATH, window.location.href).href);
      const warmUpS = Math.max(...runners.map((r) => r.warmUpMs)) / 1000;
      this.update({ message: `${wanted} data-parallel workers ready (warm-up steps ${warmUpS.toFixed(1)} s)`, dataParallelNote: undefined });
      return runners;
    } catch (err) {
      this.update({ dataParallelNote: `${(err as Error).message}; each step runs in the page` });
      return [];
    }
  }

  /** Causal-LM task: download (or read from the cache) and load the checkpoint, get the rows, measure the profile. */
  private async prepareLm(task: TaskInfo): Promise<void> {
    // Replicas of USE-lite from the backend trial: the decoder trains on the page's own tfjs.
    this.releasePool();
    const trainer = await this.loadLmTrainer(task);
    const data = this.v.mode === 'fleet' ? await this.lmFleetRows(task) : await this.lmOwnRows(task);
    const encoded = trainer.encode(data.rows);
    this.lm = { trainer, rows: encoded.rows };
    const lm = task.causalLm;
    const grouping = lm?.categoryField !== undefined ? `category field "${lm.categoryField}"` : lm?.topicCentroids ? `${lm.topicCentroids.length} topic clusters` : 'resources only (this task has no grouping statistic)';
    const dropped = encoded.dropped > 0 ? `; ${encoded.dropped} rows keep no response token within ${task.maxTokens} tokens and are not trained on` : '';
    this.update({
      // The histogram counts every row; so does numSamples (the coordinator checks they agree).
      numSamples: data.rows.length,
      labelHistogram: data.histogram,
      message: `${encoded.rows.length} rows; grouping statistic: ${grouping} [${data.histogram.join(', ')}]${dropped}`,
    });
    await this.measureProfile(task);
  }

  private async loadLmTrainer(task: TaskInfo): Promise<LmLocalTrainer> {
    const mib = (b: number) => (b / 2 ** 20).toFixed(1);
    this.update({ phase: 'loading-data', message: `downloading the model (${mib(task.causalLm?.modelBytes ?? 0)} MiB)` });
    const trainer = await LmLocalTrainer.load(task, {
      memoryBytes: usableMemoryBytes(),
      slowdown: this.identity.slowdown,
      onProgress: (p) =>
        this.update({
          modelDownload: { totalBytes: p.totalBytes, loadedBytes: p.loadedBytes, file: p.file },
          message: `${p.fromCache ? 'reading the model from the browser cache' : 'downloading the model'}: ${mib(p.loadedBytes)} / ${mib(p.totalBytes)} MiB (${p.file})`,
        }),
    });
    const d = this.v.modelDownload;
    this.update({
      modelDownload: { totalBytes: d?.totalBytes ?? 0, loadedBytes: d?.loadedBytes ?? 0, file: d?.file ?? '', downloaded: trainer.downloaded },
      message: `model loaded (${trainer.downloaded.length === 0 ? 'from the browser cache' : `${trainer.downloaded.length} files downloaded`})`,
    });
    return trainer;
  }

  private async lmFleetRows(task: TaskInfo) {
    if (!this.fleetDataUrl) throw new Error('the coordinator gave no fleet partition');
    this.update({ message: `downloading partition ${this.v.partitionIndex}` });
    return fetchLmPartition(this.fleetDataUrl, task, this.fetchAsset);
  }

  private async lmOwnRows(task: TaskInfo) {
    const field = task.causalLm?.categoryField;
    for (;;) {
      const topics = task.causalLm?.topicCentroids ? ` (sorted into ${task.classNames.length} topic clusters here; only the counts are sent)` : '';
      this.update({ phase: 'choosing-data', message: `pick a JSONL file of {"prompt", "response"} or {"text"} rows${field ? ` with "${field}" (one of ${task.classNames.join(', ')})` : topics}` });
      const file = await this.nextFile();
      this.update({ phase: 'loading-data', message: `reading ${file.name} (it stays on this device)` });
      try {
        const data = await readOwnLmFile(file, task, this.fetchAsset);
        this.update({ error: undefined });
        return data;
      } catch (err) {
        this.update({ error: (err as Error).message });
      }
    }
  }

  /** Per-depth step times (cached per backend + task + data), upload bandwidth, memory. */
  private async measureProfile(task: TaskInfo): Promise<void> {
    const alive = this.backendAlive.signal;
    const trainer = this.lm?.trainer ?? this.trainer;
    const data = this.data;
    const backend = this.v.backend;
    if (!trainer || (!data && !this.lm) || !backend) throw new Error('profile before the model, data and backend are ready');
    const sample = this.lm ? this.lm.rows.slice(0, 64).map((r) => r.ids.join(',')) : (data as LabeledDataset).texts.slice(0, 64);
    const count = this.lm ? this.lm.rows.length : (data as LabeledDataset).texts.length;
    const dataKey = this.v.mode === 'fleet' ? `fleet:${this.v.partitionIndex}` : `own:${count}:${fnv1a(new TextEncoder().encode(sample.join('\n')))}`;
    // Step times depend on how many workers split each step, not only on the backend.
    const workers = this.lm ? 1 : (trainer as LocalTrainer).dataParallelShards;
    const key = profileKey(this.envKey, workers > 1 ? `${backend.name}×${workers}` : backend.name, task, dataKey);
    let msPerStep = this.cache.profile(key);
    const profileCached = msPerStep !== undefined && msPerStep.length === trainer.numBlocks;
    if (!profileCached) {
      this.update({ phase: 'profiling', message: 'measuring step times per depth' });
      const onDepth = (depth: number, ms: number) => this.update({ message: `depth ${depth}: ${ms.toFixed(0)} ms/step` });
      msPerStep = this.lm ? await this.lm.trainer.measureStepTimes(this.lm.rows, onDepth) : await (trainer as LocalTrainer).measureStepTimes(data as LabeledDataset, onDepth);
      this.cache.saveProfile(key, msPerStep);
    }
    const upload = await measureUploadBytesPerSec();
    // Timings taken while the backend went away are not this device's: the recovery measures again.
    if (alive.aborted) throw alive.reason as Error;
    this.update({
      profileCached,
      profileNote: upload.note,
      profile: { msPerStep: msPerStep as number[], uploadBytesPerSec: upload.bytesPerSec, memoryBytes: usableMemoryBytes() },
    });
  }

  private async loadData(task: TaskInfo): Promise<LabeledDataset> {
    if (this.v.mode === 'fleet') {
      if (!this.fleetDataUrl) throw new Error('the coordinator gave no fleet partition');
      this.update({ message: `downloading partition ${this.v.partitionIndex}` });
      return fetchFleetPartition(this.fleetDataUrl, task.classNames);
    }
    let next: File | undefined;
    for (;;) {
      this.update({ phase: 'choosing-data', message: `pick a JSONL or CSV file with "text" and "label" (${task.classNames.length} labels: ${task.classNames.join(', ')})` });
      const file = next ?? (await this.nextFile());
      next = undefined;
      this.update({ phase: 'loading-data', message: `reading ${file.name} (it stays on this device)`, labelMismatch: undefined });
      let own;
      try {
        own = await readOwnFile(file, task.classNames);
      } catch (err) {
        this.update({ error: (err as Error).message });
        continue;
      }
      const { check } = own;
      if (check.unknownRows === 0) {
        this.update({ error: undefined });
        return toDataset(check.known, task.classNames);
      }
      const message = `${file.name}: ${describeUnknownLabels(check, task.classNames)}`;
      if (check.known.length === 0) {
        this.update({ phase: 'choosing-data', error: `${message}. None of its rows can be used: pick a file labeled with this task's labels.` });
        continue;
      }
      this.update({
        phase: 'choosing-data',
        error: message,
        labelMismatch: { fileName: file.name, knownRows: check.known.length, unknownRows: check.unknownRows, unknown: check.unknown, message },
      });
      const choice = await new Promise<File | 'known'>((resolve) => {
        this.fileWaiter = resolve;
        this.knownRowsWaiter = () => resolve('known');
      });
      this.fileWaiter = undefined;
      this.knownRowsWaiter = undefined;
      if (choice === 'known') {
        this.update({ labelMismatch: undefined, error: undefined, message: `training on the ${check.known.length} rows of ${file.name} with known labels (${check.unknownRows} left out, as chosen)` });
        return toDataset(check.known, task.classNames);
      }
      next = choice;
    }
  }

  private nextFile(): Promise<File> {
    return new Promise<File>((resolve) => {
      this.fileWaiter = (file) => {
        this.fileWaiter = undefined;
        resolve(file);
      };
    });
  }

  private sendJoin(): void {
    const { backend, profile, labelHistogram, numSamples, mode, partitionIndex } = this.v;
    if (!this.identity.token || !backend || !profile || !labelHistogram || numSamples === undefined || mode === undefined) return;
    this.update({ phase: 'joining', message: 'joining the run', error: undefined });
    this.connection?.send('join', {
      protocolVersion: PROTOCOL_VERSION,
      token: this.identity.token,
      deviceId: this.identity.deviceId,
      dataMode: mode,
      ...(mode === 'fleet' && partitionIndex !== undefined ? { partitionIndex } : {}),
      backend,
      profile: { ...profile, msPerStep: [...profile.msPerStep] },
      labelHistogram: [...labelHistogram],
      numSamples,
      userAgent: navigator.userAgent.slice(0, 400),
    });
  }

  /** Work runs one at a time, in arrival order. */
  private enqueueWork(adapter: GlobalAdapter): void {
    const assignment = this.pendingAssignment;
    // After a reconnect the coordinator sends open work again: train it only if nothing is on its way.
    const key = assignment ? workKey(assignment) : undefined;
    if (key !== undefined && key === this.inFlight) return;
    if (key !== undefined && key === this.lastUpload?.key) {
      if (this.offerUpload(this.lastUpload.msg)) this.update({ message: `round ${assignment?.round}: upload offered again` });
      return;
    }
    this.queue = this.queue.then(() => this.work(assignment, adapter)).catch((err: unknown) => {
      const message = (err as Error).message;
      if (err instanceof BackendLostError) {
        // Already reported as backend-failed; the rejoin after recovery brings this work back.
        this.update({ phase: 'ready', message });
        return;
      }
      this.update({ error: `training failed: ${message}`, phase: 'ready' });
      this.connection?.send('deviceError', { code: 'training-failed', message: message.slice(0, 2000), ...(assignment ? { runId: assignment.runId, round: assignment.round } : {}) });
    });
  }

  private async work(a: Assignment | undefined, adapter: GlobalAdapter): Promise<void> {
    if (!a || a.runId !== adapter.runId || a.round !== adapter.round || a.intraRound !== adapter.intraRound) {
      throw new Error(`adapter for round ${adapter.round}.${adapter.intraRound} came without its assignment`);
    }
    if (this.recovering) await this.recovering;
    this.inFlight = workKey(a);
    try {
      await untilAborted(this.train(a, adapter, this.job()), this.backendAlive.signal);
    } finally {
      this.inFlight = undefined;
    }
  }

  /** What trains an assignment: the decoder on this device's rows, or the classifier on its dataset. */
  private job(): LocalJob {
    const { lm, trainer, data } = this;
    if (lm) return { numSamples: lm.rows.length, train: (a, start, onStep, between) => lm.trainer.train(a, start, lm.rows, onStep, between) };
    if (!trainer || !data) throw new Error('assignment before the device was ready');
    return { numSamples: data.texts.length, train: (a, start, onStep, between) => trainer.train(a, start, data, onStep, between) };
  }

  private async train(a: Assignment, adapter: GlobalAdapter, job: LocalJob): Promise<void> {
    const start: AdapterState = decodeAdapter(adapter.payload, { copy: true });
    const view = (step: number, loss: number | null): WorkView => ({
      round: a.round,
      intraRound: a.intraRound,
      groupId: a.groupId,
      depth: a.depth,
      step,
      localSteps: a.localSteps,
      loss,
    });
    this.update({ phase: 'training', work: view(0, null), recentStepMs: [], message: `round ${a.round}: ${a.localSteps} steps at depth ${a.depth}` });
    this.refreshPause();
    let last = performance.now();
    // Progress goes to the coordinator for the first and last step and at most every 250 ms between:
    // a fast device's every step would spend the connection's rate limit (20 messages per second).
    let progressSentAt = Number.NEGATIVE_INFINITY;
    let result;
    try {
      result = await job.train(
        a,
        start,
        (step, loss) => {
          const now = performance.now();
          this.update({ work: view(step, loss), recentStepMs: [...this.v.recentStepMs, now - last].slice(-50) });
          if (step === 1 || step === a.localSteps || now - progressSentAt >= PROGRESS_INTERVAL_MS) {
            progressSentAt = now;
            this.connection?.send('progress', { runId: a.runId, round: a.round, intraRound: a.intraRound, step, localSteps: a.localSteps, loss });
          }
        },
        async () => {
          if (this.v.paused.length > 0) this.update({ message: `round ${a.round}: paused at step ${this.v.work?.step ?? 0} of ${a.localSteps}` });
          await this.untilResumed();
          last = performance.now();
        },
      );
    } finally {
      if (this.v.phase === 'training') this.update({ phase: 'ready' });
      this.refreshPause();
    }
    const poison = this.identity.poison;
    const delta = poison ? scaleDelta(result.delta, poisonMultiplier(poison)) : result.delta;
    const payload = encodeAdapter(delta);
    this.update({ phase: 'uploading', lastRoundLoss: result.meanLoss, lastUploadNorm: deltaNorm(delta), message: `uploading ${payload.byteLength} bytes` });
    if (this.identity.stallMs > 0) {
      this.update({ message: `holding the upload ${this.identity.stallMs / 1000} s (?stall=)` });
      await new Promise<void>((resolve) => setTimeout(resolve, this.identity.stallMs));
    }
    const msg: DeviceToServerWire['upload'] = {
      runId: a.runId,
      round: a.round,
      intraRound: a.intraRound,
      groupId: a.groupId,
      numSamples: job.numSamples,
      payload,
      loss: result.meanLoss,
      trainMs: result.trainMs,
    };
    this.lastUpload = { key: workKey(a), msg, sent: false };
    if (!this.offerUpload(msg)) {
      this.update({ phase: 'ready', message: `round ${a.round}: offline; the upload waits for the coordinator to ask again` });
      return;
    }
    this.update({ message: `round ${a.round}: ${payload.byteLength} bytes ready; waiting for the coordinator's go` });
    this.refreshPause();
  }

  /** Offers the upload; the coordinator answers uploadGrant when its upload window has room. False when offline. */
  private offerUpload(msg: DeviceToServerWire['upload']): boolean {
    const { runId, round, intraRound, groupId, payload } = msg;
    return this.connection?.send('uploadOffer', { runId, round, intraRound, groupId, bytes: payload.byteLength }) ?? false;
  }

  private sendGrantedUpload(grant: UploadGrant): void {
    const last = this.lastUpload;
    if (!last || last.key !== `${grant.runId}/${grant.round}/${grant.intraRound}/${last.msg.groupId}`) return;
    if (!this.connection?.send('upload', last.msg)) return;
    this.update({ message: `uploading ${last.msg.payload.byteLength} bytes` });
    if (last.sent) return;
    last.sent = true;
    this.update({ uploads: this.v.uploads + 1, uploadedRounds: [...this.v.uploadedRounds, last.msg.round].slice(-20), bytesSent: this.v.bytesSent + last.msg.payload.byteLength });
  }

  private fail(message: string): void {
    this.update({ phase: 'error', error: message, message });
  }

  private update(patch: Partial<DeviceView>): void {
    this.v = { ...this.v, ...patch };
    for (const l of this.listeners) l(this.v);
  }
}

function safeLocalStorage(): Storage | undefined {
  try {
    return typeof window === 'undefined' ? undefined : window.localStorage;
  } catch {
    return undefined;
  }
}

/** Identifies one piece of work: a member's intra-group round of a global round of a run. */
const PROGRESS_INTERVAL_MS = 250;

function workKey(a: Pick<Assignment, 'runId' | 'round' | 'intraRound' | 'groupId'>): string {
  return `${a.runId}/${a.round}/${a.intraRound}/${a.groupId}`;
}

class BackendLostError extends Error {}

/** `work`, or the abort reason as soon as `signal` aborts (the work is left to settle unobserved). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}
