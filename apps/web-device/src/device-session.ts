/**
 * One device's life, independent of React: choose a backend, connect, get the task (and the fleet
 * slot), load data, measure the resource profile, join, then train each assignment and upload its
 * delta. The UI subscribes to `view`; tests read it from `window.__tabfleet`.
 */
import { classCounts, decodeAdapter, deltaNorm, describeUnknownLabels, encodeAdapter, PROTOCOL_VERSION, scaleDelta, toDataset } from './core';
import type {
  AdapterState,
  Assignment,
  BackendReport,
  DeviceToServerWire,
  DataMode,
  GlobalAdapter,
  LabeledDataset,
  ResourceProfile,
  RunStatus,
  ServerMessage,
  TaskInfo,
} from './core';
import type { BackendTrial } from './backend/choose';
import { selectBackend } from './backend/select';
import { Connection } from './connection';
import type { ConnectionState } from './connection';
import { fetchFleetPartition } from './data/fleet';
import { readOwnFile } from './data/own-file';
import type { Identity } from './identity';
import { poisonMultiplier } from './poison';
import type { Poison } from './poison';
import { measureUploadBytesPerSec, usableMemoryBytes } from './profile';
import { benchmarkCurrentBackend, cachedModelFetch, LocalTrainer } from './trainer';

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
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly error: string | undefined;
  /** Own file with some labels outside the task's set: waiting for the person to train on the known rows or pick another file. */
  readonly labelMismatch: LabelMismatch | undefined;
}

export interface LabelMismatch {
  readonly fileName: string;
  readonly knownRows: number;
  readonly unknownRows: number;
  readonly unknown: ReadonlyArray<{ readonly label: string; readonly count: number }>;
  readonly message: string;
}

type Listener = (view: DeviceView) => void;

export class DeviceSession {
  private v: DeviceView;
  private readonly listeners = new Set<Listener>();
  private readonly fetchAsset = cachedModelFetch();
  private connection: Connection | undefined;
  private trainer: LocalTrainer | undefined;
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
  private lastUpload: { key: string; msg: DeviceToServerWire['upload'] } | undefined;

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
      bytesSent: 0,
      bytesReceived: 0,
      error: undefined,
      labelMismatch: undefined,
    };
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
    try {
      this.update({ phase: 'choosing-backend', message: 'measuring a training step on each tfjs backend' });
      const { report, trials } = await selectBackend(
        () => benchmarkCurrentBackend(this.fetchAsset),
        this.identity.forcedBackend,
        (trial) => this.update({ trials: [...this.v.trials, trial] }),
      );
      this.update({ backend: report, trials, phase: 'connecting', message: `using ${report.name}` });
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
      case 'uploadAccepted':
        if (this.v.phase === 'uploading') this.update({ phase: 'ready', message: `round ${m.msg.round} upload accepted` });
        return;
      case 'serverError': {
        const text = `${m.msg.code}: ${m.msg.message}`;
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
      await this.preparing;
    } catch (err) {
      this.preparing = undefined;
      this.fail((err as Error).message);
      return;
    }
    this.sendJoin();
  }

  private async prepare(task: TaskInfo): Promise<void> {
    this.update({ phase: 'loading-data', message: 'loading the model' });
    this.trainer = await LocalTrainer.load(this.fetchAsset, task, this.identity.slowdown);
    if (this.trainer.numBlocks !== task.numBlocks) throw new Error(`model has ${this.trainer.numBlocks} blocks; the task says ${task.numBlocks}`);
    this.data = await this.loadData(task);
    const labelHistogram = classCounts(this.data.labels, task.classNames.length);
    this.update({ numSamples: this.data.texts.length, labelHistogram, phase: 'profiling', message: 'measuring step times per depth' });
    const msPerStep = await this.trainer.measureStepTimes(this.data, (depth, ms) => this.update({ message: `depth ${depth}: ${ms.toFixed(0)} ms/step` }));
    const uploadBytesPerSec = await measureUploadBytesPerSec();
    this.update({ profile: { msPerStep, uploadBytesPerSec, memoryBytes: usableMemoryBytes() } });
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
      if (this.connection?.send('upload', this.lastUpload.msg)) this.update({ message: `round ${assignment?.round}: upload sent again` });
      return;
    }
    this.queue = this.queue.then(() => this.work(assignment, adapter)).catch((err: unknown) => {
      const message = (err as Error).message;
      this.update({ error: `training failed: ${message}`, phase: 'ready' });
      this.connection?.send('deviceError', { code: 'training-failed', message: message.slice(0, 2000), ...(assignment ? { runId: assignment.runId, round: assignment.round } : {}) });
    });
  }

  private async work(a: Assignment | undefined, adapter: GlobalAdapter): Promise<void> {
    if (!a || a.runId !== adapter.runId || a.round !== adapter.round || a.intraRound !== adapter.intraRound) {
      throw new Error(`adapter for round ${adapter.round}.${adapter.intraRound} came without its assignment`);
    }
    if (!this.trainer || !this.data) throw new Error('assignment before the device was ready');
    this.inFlight = workKey(a);
    try {
      await this.train(a, adapter, this.trainer, this.data);
    } finally {
      this.inFlight = undefined;
    }
  }

  private async train(a: Assignment, adapter: GlobalAdapter, trainer: LocalTrainer, data: LabeledDataset): Promise<void> {
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
    this.update({ phase: 'training', work: view(0, null), message: `round ${a.round}: ${a.localSteps} steps at depth ${a.depth}` });
    const result = await trainer.train(a, start, data, (step, loss) => {
      this.update({ work: view(step, loss) });
      this.connection?.send('progress', { runId: a.runId, round: a.round, intraRound: a.intraRound, step, localSteps: a.localSteps, loss });
    });
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
      numSamples: data.texts.length,
      payload,
      loss: result.meanLoss,
      trainMs: result.trainMs,
    };
    this.lastUpload = { key: workKey(a), msg };
    if (!this.connection?.send('upload', msg)) {
      this.update({ phase: 'ready', message: `round ${a.round}: offline; the upload waits for the coordinator to ask again` });
      return;
    }
    this.update({ uploads: this.v.uploads + 1, bytesSent: this.v.bytesSent + payload.byteLength });
  }

  private fail(message: string): void {
    this.update({ phase: 'error', error: message, message });
  }

  private update(patch: Partial<DeviceView>): void {
    this.v = { ...this.v, ...patch };
    for (const l of this.listeners) l(this.v);
  }
}

/** Identifies one piece of work: a member's intra-group round of a global round of a run. */
function workKey(a: Pick<Assignment, 'runId' | 'round' | 'intraRound' | 'groupId'>): string {
  return `${a.runId}/${a.round}/${a.intraRound}/${a.groupId}`;
}
