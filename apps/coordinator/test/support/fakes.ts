/** Small stand-ins for the ML side and for devices, so the engine and the gateway can be tested over real sockets. */
import { io as connect } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import { decodeAdapter, encodeAdapter, parseServerMessage, PROTOCOL_VERSION, trainedBlockKeys } from '../../src/core';
import type {
  AdapterState,
  Assignment,
  DeviceToServerEvents,
  DeviceToServerWire,
  NamedArray,
  ServerEvent,
  ServerToDevice,
  ServerToDeviceEvents,
} from '../../src/core';
import type { FederatedTask } from '../../src/task';

/** A 2-block adapter (rank 1, width 2) with a 2-class head; every value starts at `start`. */
export function tinyAdapter(start = 0): AdapterState {
  const t = (shape: number[]): NamedArray => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(start) });
  const block = () => new Map([['qkv.A', t([2, 1])], ['qkv.B', t([1, 2])]]);
  return new Map([
    ['0', block()],
    ['1', block()],
    ['head', new Map([['W', t([2, 2])], ['b', t([2])]])],
  ]) as AdapterState;
}

/** Adds `value` to every entry of the given blocks (a device's "training"). */
export function constantDelta(keys: readonly string[], value: number, template = tinyAdapter()): AdapterState {
  const out: AdapterState = new Map();
  for (const key of keys) {
    const tensors = template.get(key as never);
    if (!tensors) throw new Error(`no block ${key}`);
    out.set(key as never, new Map([...tensors].map(([n, v]) => [n, { shape: [...v.shape], data: new Float32Array(v.data.length).fill(value) }])));
  }
  return out;
}

export interface FakeTaskLog {
  readonly evaluated: AdapterState[];
}

/** Accuracy = mean of the head bias, clamped to [0, 1]: visible in metrics, deterministic. */
export function fakeTask(partitionSizes: readonly number[] = [1, 3]): FederatedTask & FakeTaskLog {
  const evaluated: AdapterState[] = [];
  return {
    evaluated,
    info: { name: 'tiny', classNames: ['neg', 'pos'], numBlocks: 2, lora: { rank: 1, alpha: 1, targets: ['qkv'] }, batchSize: 4, seed: 7 },
    initialAdapter: tinyAdapter(0),
    fleet: {
      numPartitions: partitionSizes.length,
      partition: (index) => ({
        index,
        classNames: ['neg', 'pos'],
        texts: Array.from({ length: partitionSizes[index] ?? 0 }, (_, i) => `text ${index}.${i}`),
        labels: Array.from({ length: partitionSizes[index] ?? 0 }, (_, i) => i % 2),
      }),
    },
    evaluate: async (adapter) => {
      evaluated.push(adapter);
      const b = adapter.get('head')?.get('b')?.data ?? new Float32Array([0]);
      const mean = b.reduce((s, x) => s + x, 0) / b.length;
      return { accuracy: Math.min(1, Math.max(0, mean / 10)), loss: 1 / (1 + Math.abs(mean)) };
    },
  };
}

export type DeviceClient = Socket<ServerToDeviceEvents, DeviceToServerEvents>;

export function openSocket(url: string): DeviceClient {
  return connect(url, { transports: ['websocket'], reconnection: false, forceNew: true });
}

/** Next message of `event`, validated as the page would validate it. */
export function next<E extends ServerEvent>(socket: DeviceClient, event: E, timeoutMs = 5000): Promise<ServerToDevice[E]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${timeoutMs} ms`)), timeoutMs);
    socket.once(event as never, ((raw: unknown) => {
      clearTimeout(timer);
      const parsed = parseServerMessage(event, raw);
      if (parsed.ok) resolve(parsed.value);
      else reject(new Error(parsed.error));
    }) as never);
  });
}

export function joinMessage(deviceId: string, token: string, partitionIndex: number, numSamples: number): DeviceToServerWire['join'] {
  return {
    protocolVersion: PROTOCOL_VERSION,
    token,
    deviceId,
    dataMode: 'fleet',
    partitionIndex,
    backend: { name: 'cpu', forced: false, benchmarkMs: { cpu: 20, webgpu: null } },
    profile: { msPerStep: [10, 20], uploadBytesPerSec: 5e6, memoryBytes: 1e9 },
    labelHistogram: [numSamples - Math.floor(numSamples / 2), Math.floor(numSamples / 2)],
    numSamples,
  };
}

export interface FakeDevice {
  readonly socket: DeviceClient;
  readonly deviceId: string;
  readonly partitionIndex: number;
  readonly assignments: Assignment[];
  close(): void;
}

/**
 * Connects, says hello (fleet mode), joins with the partition it was given, and answers every
 * assignment by uploading `delta(assignment)` (default: +`value` on each trained block), except
 * the first `ignoreFirst` ones (a straggler); `uploadDelayMs` makes it a slow one.
 */
export async function startFakeDevice(
  url: string,
  token: string,
  deviceId: string,
  opts: { numSamples: number; value: number; autoTrain?: boolean; ignoreFirst?: number; uploadDelayMs?: number },
): Promise<FakeDevice> {
  const socket = openSocket(url);
  const assignments: Assignment[] = [];
  const welcome = next(socket, 'welcome');
  socket.emit('hello', { protocolVersion: PROTOCOL_VERSION, token, deviceId, dataMode: 'fleet' });
  const w = await welcome;
  if (!w.fleet) throw new Error('no fleet slot');
  const partitionIndex = w.fleet.index;
  let pending: Assignment | undefined;
  socket.on('assignment', (raw) => {
    const parsed = parseServerMessage('assignment', raw);
    if (!parsed.ok) throw new Error(parsed.error);
    pending = parsed.value;
    assignments.push(parsed.value);
  });
  socket.on('globalAdapter', (raw) => {
    const parsed = parseServerMessage('globalAdapter', raw);
    if (!parsed.ok) throw new Error(parsed.error);
    const a = pending;
    if (!a || opts.autoTrain === false) return;
    if (assignments.length <= (opts.ignoreFirst ?? 0)) return;
    const start = decodeAdapter(parsed.value.payload);
    const keys = trainedBlockKeys(w.task.numBlocks, a.depth);
    const payload = new Uint8Array(encodeAdapter(constantDelta(keys, opts.value, start)));
    const send = () => {
      socket.emit('progress', { runId: a.runId, round: a.round, intraRound: a.intraRound, step: a.localSteps, localSteps: a.localSteps, loss: 0.5 });
      socket.emit('upload', { runId: a.runId, round: a.round, intraRound: a.intraRound, groupId: a.groupId, numSamples: opts.numSamples, payload });
    };
    if (opts.uploadDelayMs === undefined) send();
    else setTimeout(send, opts.uploadDelayMs);
  });
  const joined = next(socket, 'joined');
  socket.emit('join', joinMessage(deviceId, token, partitionIndex, opts.numSamples));
  await joined;
  return { socket, deviceId, partitionIndex, assignments, close: () => socket.close() };
}
