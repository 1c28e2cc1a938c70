/**
 * Crafted devices for the attack suite (issue 13): Node socket.io clients that hold the join token,
 * as anyone who was sent the device URL does, and speak the protocol correctly while lying.
 *   inflate      declares 9,999,999 samples (all of one class: a histogram lie too) and answers
 *                every assignment with random-sign deltas at 0.9 of each block's L2 bound (every
 *                value at 0.9 of the per-value bound, so both bounds pass).
 *   concentrate  pours 0.9 of each block's L2 bound into one value per block (refused, and its
 *                work in the round dropped, so the round does not wait for it).
 * sybilFlood opens many device ids from one address and reports how each hello was answered.
 */
import { randomBytes } from 'node:crypto';
import { io as connect } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import { decodeAdapter, encodeAdapter } from '../../packages/lora-core/src/protocol/adapter-codec';
import { adamCoordinateBound, adamDeltaNormBound } from '../../packages/lora-core/src/protocol/adapter-validation';
import { parseServerMessage, PROTOCOL_VERSION } from '../../packages/lora-core/src/protocol/messages';
import type { Assignment } from '../../packages/lora-core/src/protocol/messages';
import type { AdapterState, NamedArray } from '../../packages/lora-core/src/lora/adapter-state';
import { trainedBlockKeys } from '../../packages/lora-core/src/lora/adapter-state';
import { seededRandom } from '../../packages/lora-core/src/federated/random';

type AnySocket = Socket & { emit(event: string, ...args: unknown[]): Socket };

export type AttackKind = 'inflate' | 'concentrate';

export interface Attacker {
  readonly deviceId: string;
  /** Uploads the coordinator accepted, and the refusals it sent (code: message). */
  readonly accepted: number;
  readonly refusals: readonly string[];
  close(): void;
}

const open = (url: string) => connect(url, { transports: ['websocket'], reconnection: false, forceNew: true }) as AnySocket;

function once<T>(socket: AnySocket, event: string, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${timeoutMs} ms`)), timeoutMs);
    socket.once(event, (v: T) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

function isHead(key: string): boolean {
  return key === 'head';
}

/** The attack's delta for this assignment, shaped like the global adapter's trained blocks. */
function craft(kind: AttackKind, a: Assignment, global: AdapterState, numBlocks: number, random: () => number): AdapterState {
  const out: AdapterState = new Map();
  for (const key of trainedBlockKeys(numBlocks, a.depth)) {
    const tensors = global.get(key)!;
    const lr = isHead(key) ? a.headLearningRate : a.learningRate;
    let n = 0;
    for (const t of tensors.values()) n += t.data.length;
    const block = new Map<string, NamedArray>();
    let first = true;
    for (const [name, t] of tensors) {
      const data = new Float32Array(t.data.length);
      if (kind === 'inflate') {
        const v = 0.9 * adamCoordinateBound(lr, a.localSteps);
        for (let i = 0; i < data.length; i++) data[i] = random() < 0.5 ? -v : v;
      } else if (first) {
        data[0] = 0.9 * adamDeltaNormBound(lr, a.localSteps, n);
        first = false;
      }
      block.set(name, { shape: [...t.shape], data });
    }
    out.set(key, block);
  }
  return out;
}

export async function startAttacker(
  url: string,
  token: string,
  kind: AttackKind,
  task: { numClasses: number; numBlocks: number; seed: number },
): Promise<Attacker> {
  const deviceId = `attack-${kind}-${randomBytes(4).toString('hex')}`;
  const socket = open(url);
  const random = seededRandom(task.seed);
  const refusals: string[] = [];
  let accepted = 0;
  socket.on('serverError', (e: { code: string; message: string }) => refusals.push(`${e.code}: ${e.message}`));
  socket.on('uploadAccepted', () => (accepted += 1));
  let assignment: Assignment | undefined;
  socket.on('assignment', (raw: unknown) => {
    const p = parseServerMessage('assignment', raw);
    if (p.ok) assignment = p.value;
  });
  socket.on('globalAdapter', (raw: unknown) => {
    const p = parseServerMessage('globalAdapter', raw);
    const a = assignment;
    if (!p.ok || !a) return;
    const delta = craft(kind, a, decodeAdapter(p.value.payload, { copy: true }), task.numBlocks, random);
    const msg = { runId: a.runId, round: a.round, intraRound: a.intraRound, groupId: a.groupId, numSamples: samples };
    socket.emit('upload', { ...msg, payload: new Uint8Array(encodeAdapter(delta)) });
  });
  await once(socket, 'connect');
  const welcome = once<{ deviceId: string }>(socket, 'welcome');
  socket.emit('hello', { protocolVersion: PROTOCOL_VERSION, token, deviceId, deviceKey: randomBytes(16).toString('base64url'), dataMode: 'own' });
  await welcome;
  const samples = kind === 'inflate' ? 9_999_999 : 100;
  const labelHistogram = new Array<number>(task.numClasses).fill(0);
  labelHistogram[0] = samples; // one class only: a lie about the data as well
  const joined = once(socket, 'joined');
  socket.emit('join', {
    protocolVersion: PROTOCOL_VERSION,
    token,
    deviceId,
    dataMode: 'own',
    backend: { name: 'wasm', forced: true, benchmarkMs: { wasm: 50 } },
    profile: { msPerStep: Array.from({ length: task.numBlocks }, (_, d) => 40 + 10 * d), uploadBytesPerSec: 5e6, memoryBytes: 4e9 },
    labelHistogram,
    numSamples: samples,
  });
  await joined;
  return {
    deviceId,
    get accepted() {
      return accepted;
    },
    refusals,
    close: () => socket.close(),
  };
}

/** Opens `count` device ids from this address at once; returns how each hello was answered (welcome or the error code). */
export async function sybilFlood(url: string, token: string, count: number): Promise<string[]> {
  const sockets: AnySocket[] = [];
  try {
    const answers = await Promise.all(
      Array.from({ length: count }, async () => {
        const socket = open(url);
        sockets.push(socket);
        await once(socket, 'connect');
        const answer = Promise.race([
          once(socket, 'welcome').then(() => 'welcome'),
          once<{ code: string }>(socket, 'serverError').then((e) => e.code),
        ]);
        socket.emit('hello', { protocolVersion: PROTOCOL_VERSION, token, deviceId: `sybil-${randomBytes(5).toString('hex')}`, dataMode: 'own' });
        return answer;
      }),
    );
    return answers;
  } finally {
    for (const s of sockets) s.close();
  }
}
