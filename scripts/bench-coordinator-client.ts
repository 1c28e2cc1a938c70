/**
 * One client process of `npm run bench:coordinator`: drives many simulated devices over
 * socket.io-client (no tfjs) against a coordinator on loopback. Each device says hello, joins with
 * a seeded label histogram and a resource profile, and answers every assignment after its simulated
 * compute (localSteps × msPerStep of its depth, a timer) with a seeded synthetic delta of the
 * assigned blocks' real shapes. Started by bench-coordinator.ts with its settings as JSON in argv[2];
 * reports to the parent over IPC.
 */
import { io as connect } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import { decodeAdapter, encodeAdapter } from '../packages/lora-core/src/protocol/adapter-codec';
import { PROTOCOL_VERSION, parseServerMessage } from '../packages/lora-core/src/protocol/messages';
import type { Assignment } from '../packages/lora-core/src/protocol/messages';
import { HEAD, trainedBlockKeys } from '../packages/lora-core/src/lora/adapter-state';
import type { AdapterState, NamedArray } from '../packages/lora-core/src/lora/adapter-state';
import { seededRandom } from '../packages/lora-core/src/federated/random';
import { OfferedUpload } from './simulated-upload';
import { assignDeviceClasses, DEFAULT_DEVICE_CLASSES, profileFor } from '../packages/lora-core/src/sim/device-classes';
import type { ResourceProfile } from '../packages/lora-core/src/federated/types';

export interface ClientSettings {
  readonly url: string;
  readonly token: string;
  /** Global indices of the devices this process drives: [first, first + count). */
  readonly first: number;
  readonly count: number;
  readonly numClasses: number;
  readonly numBlocks: number;
  readonly seed: number;
  /**
   * Uniform simulated compute: ms per local step at depth 1 (× a per-device speed in [0.5, 1.5)),
   * deeper costs proportionally more. Null: the simulation's device classes (sim/device-classes.ts:
   * new laptop 1×, old laptop 2×, phone 4× of `classTable`, 25 / 35 / 40 % of the fleet, jittered).
   */
  readonly msPerStep: number | null;
  /** ms per local step at depth 1…numBlocks of the new-laptop class (with msPerStep null). */
  readonly classTable: readonly number[];
  /** Devices in the whole bench (the class shares are over all of them). */
  readonly total: number;
  /** Connections opened at once (each waits for its join before the next starts). */
  readonly concurrency: number;
  /** Source addresses 127.0.0.1 … 127.0.0.<addresses>, round-robin over devices. */
  readonly addresses: number;
  /** Distinct synthetic deltas per depth (devices share them round-robin; encoding is the cost). */
  readonly variants: number;
  /** Offer each upload and send it when granted (the page's way); false: send it at once, unoffered. */
  readonly offerUploads: boolean;
}

export type ClientReport =
  | { type: 'joined'; joined: number; failed: number; firstError?: string }
  | { type: 'uploaded'; uploads: number; computeMs: number; refused: number; firstError?: string }
  | { type: 'done' };

type AnySocket = Socket & { emit(event: string, ...args: unknown[]): Socket };

const s = JSON.parse(process.argv[2] ?? '{}') as ClientSettings;
const send = (m: ClientReport) => process.send?.(m);
const sockets: AnySocket[] = [];
let uploads = 0;
let refused = 0;
let computeMs = 0;
let firstError: string | undefined;
const payloadCache = new Map<string, Uint8Array>();
const classOf = s.msPerStep === null ? assignDeviceClasses(s.total, DEFAULT_DEVICE_CLASSES, s.seed) : [];

/** The device's resource profile: its class's (jittered), or the uniform one. */
function profileOf(index: number, random: () => number): ResourceProfile {
  if (s.msPerStep === null) return profileFor(DEFAULT_DEVICE_CLASSES[classOf[index]!]!, s.classTable, random);
  const speed = 0.5 + random();
  const ms = s.msPerStep;
  return { msPerStep: Array.from({ length: s.numBlocks }, (_, d) => Math.round(ms * speed * (d + 1))), uploadBytesPerSec: 1e7, memoryBytes: 8e9 };
}

function synthetic(global: AdapterState, depth: number, variant: number, lr: number, headLr: number): Uint8Array {
  const key = `${depth}:${variant}`;
  const cached = payloadCache.get(key);
  if (cached) return cached;
  const random = seededRandom(s.seed * 1009 + depth * 97 + variant);
  const delta: AdapterState = new Map();
  for (const block of trainedBlockKeys(s.numBlocks, depth)) {
    const tensors = new Map<string, NamedArray>();
    const scale = 0.5 * (block === HEAD ? headLr : lr);
    for (const [name, t] of global.get(block) ?? []) {
      const data = new Float32Array(t.data.length);
      for (let i = 0; i < data.length; i++) data[i] = (2 * random() - 1) * scale;
      tensors.set(name, { shape: [...t.shape], data });
    }
    delta.set(block, tensors);
  }
  const bytes = new Uint8Array(encodeAdapter(delta));
  payloadCache.set(key, bytes);
  return bytes;
}

function device(index: number): Promise<boolean> {
  const deviceId = `bench-${String(index).padStart(6, '0')}`;
  const random = seededRandom(s.seed + index);
  const numSamples = 50 + Math.floor(random() * 200);
  const labelHistogram = new Array<number>(s.numClasses).fill(0);
  // Label skew: most samples in two classes, the rest spread.
  for (let i = 0; i < numSamples; i++) {
    const c = random() < 0.7 ? (index + Math.floor(random() * 2)) % s.numClasses : Math.floor(random() * s.numClasses);
    labelHistogram[c] = (labelHistogram[c] ?? 0) + 1;
  }
  const profile = profileOf(index, random);
  const msPerStep = profile.msPerStep;
  const localAddress = s.addresses > 1 ? `127.0.0.${1 + (index % s.addresses)}` : undefined;
  const socket = connect(s.url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    ...(localAddress ? { localAddress } : {}),
  } as Parameters<typeof connect>[1]) as AnySocket;
  sockets.push(socket);
  let assignment: Assignment | undefined;
  socket.on('assignment', (raw: unknown) => {
    const p = parseServerMessage('assignment', raw);
    if (p.ok) assignment = p.value;
  });
  socket.on('globalAdapter', (raw: unknown) => {
    const p = parseServerMessage('globalAdapter', raw);
    const a = assignment;
    if (!p.ok || !a || p.value.round !== a.round || p.value.intraRound !== a.intraRound) return;
    const global = decodeAdapter(p.value.payload);
    const ms = a.localSteps * msPerStep[a.depth - 1]!;
    setTimeout(() => {
      computeMs += ms;
      const payload = synthetic(global, a.depth, index % s.variants, a.learningRate, a.headLearningRate);
      const upload = { runId: a.runId, round: a.round, intraRound: a.intraRound, groupId: a.groupId, numSamples, payload, trainMs: ms };
      if (s.offerUploads) offered.offer(upload);
      else socket.emit('upload', upload);
    }, ms);
  });
  const offered = new OfferedUpload(socket);
  socket.on('uploadAccepted', () => {
    uploads += 1;
    if (uploads % 50 === 0) send({ type: 'uploaded', uploads, computeMs, refused });
  });
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => fail('no "joined" within 60 s'), 60_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      firstError ??= `${deviceId}: ${why}`;
      resolve(false);
    };
    socket.on('serverError', (e: { code: string; message: string; event?: string }) => {
      if (e.event === 'upload' || e.event === 'uploadOffer') {
        refused += 1;
        firstError ??= `${deviceId} upload: ${e.code}: ${e.message}`;
      } else fail(`${e.code}: ${e.message}`);
    });
    socket.once('connect_error', (err) => fail(`connect: ${err.message}`));
    socket.once('connect', () => socket.emit('hello', { protocolVersion: PROTOCOL_VERSION, token: s.token, deviceId, dataMode: 'own' }));
    socket.once('welcome', () =>
      socket.emit('join', {
        protocolVersion: PROTOCOL_VERSION,
        token: s.token,
        deviceId,
        dataMode: 'own',
        backend: { name: 'cpu', forced: true, benchmarkMs: { cpu: msPerStep[0] } },
        profile,
        labelHistogram,
        numSamples,
      }),
    );
    socket.once('joined', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function main(): Promise<void> {
  let next = 0;
  let joined = 0;
  let failed = 0;
  const lanes = Array.from({ length: Math.max(1, s.concurrency) }, async () => {
    while (next < s.count) {
      const i = s.first + next++;
      if (await device(i)) joined += 1;
      else failed += 1;
      if ((joined + failed) % 100 === 0) send({ type: 'joined', joined, failed, ...(firstError ? { firstError } : {}) });
    }
  });
  await Promise.all(lanes);
  send({ type: 'joined', joined, failed, ...(firstError ? { firstError } : {}) });
  setInterval(() => send({ type: 'uploaded', uploads, computeMs, refused, ...(firstError ? { firstError } : {}) }), 500).unref();
}

process.on('message', (m: { type: string }) => {
  if (m.type === 'stop') {
    for (const socket of sockets) socket.close();
    send({ type: 'uploaded', uploads, computeMs, refused, ...(firstError ? { firstError } : {}) });
    send({ type: 'done' });
    setTimeout(() => process.exit(0), 200);
  }
});
process.on('disconnect', () => process.exit(0));
void main();
