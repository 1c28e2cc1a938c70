/**
 * Simulated devices for a cluster of coordinators (socket.io-client, no tfjs), run as a child
 * process: each device connects to one of the given nodes (round-robin by index), says hello and
 * joins with a seeded label histogram and resource profile, and answers every assignment after its
 * simulated compute (a timer) with a synthetic delta that depends only on the device and the work
 * (seed, device index, round, intra-round, depth) — so two runs over the same devices produce the
 * same uploads whatever node or order they land in. A `redirect` is followed (reconnect to the
 * group's owner, hello + join again); a lost connection is retried on the other nodes it knows.
 *
 * Settings as JSON in argv[2]; reports to the parent over IPC (DevicesReport).
 */
import { io as connect } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import { decodeAdapter, encodeAdapter } from '../../packages/lora-core/src/protocol/adapter-codec';
import { PROTOCOL_VERSION, parseServerMessage } from '../../packages/lora-core/src/protocol/messages';
import type { Assignment } from '../../packages/lora-core/src/protocol/messages';
import { HEAD, trainedBlockKeys } from '../../packages/lora-core/src/lora/adapter-state';
import type { AdapterState, NamedArray } from '../../packages/lora-core/src/lora/adapter-state';
import { seededRandom } from '../../packages/lora-core/src/federated/random';
import { OfferedUpload } from '../simulated-upload';

export interface DevicesSettings {
  readonly nodes: readonly string[];
  readonly token: string;
  /** Devices [first, first + count) of the fleet. */
  readonly first: number;
  readonly count: number;
  readonly numClasses: number;
  readonly numBlocks: number;
  readonly seed: number;
  readonly msPerStep: number;
  readonly concurrency: number;
  /** Distinct deltas per (depth, round, intra-round): device i uses variant i % variants (0: one per device). */
  readonly variants: number;
}

export interface DevicesReport {
  readonly type: 'status';
  readonly joined: number;
  readonly failed: number;
  readonly uploads: number;
  readonly accepted: number;
  readonly refused: number;
  readonly redirects: number;
  readonly reconnects: number;
  readonly computeMs: number;
  readonly firstError?: string;
}

type AnySocket = Socket & { emit(event: string, ...args: unknown[]): Socket };

/** The delta a device uploads for one piece of work (values within the Adam bounds of its steps). */
export function syntheticDelta(global: AdapterState, numBlocks: number, depth: number, seed: number, lr: number, headLr: number): AdapterState {
  const random = seededRandom(seed);
  const delta: AdapterState = new Map();
  for (const block of trainedBlockKeys(numBlocks, depth)) {
    const tensors = new Map<string, NamedArray>();
    const scale = 0.5 * (block === HEAD ? headLr : lr);
    for (const [name, t] of global.get(block) ?? []) {
      const data = new Float32Array(t.data.length);
      for (let i = 0; i < data.length; i++) data[i] = (2 * random() - 1) * scale;
      tensors.set(name, { shape: [...t.shape], data });
    }
    delta.set(block, tensors);
  }
  return delta;
}

function main(): void {
  const s = JSON.parse(process.argv[2] ?? '{}') as DevicesSettings;
  const stats = { joined: 0, failed: 0, uploads: 0, accepted: 0, refused: 0, redirects: 0, reconnects: 0, computeMs: 0, firstError: undefined as string | undefined };
  const report = () => process.send?.({ type: 'status', ...stats, ...(stats.firstError ? { firstError: stats.firstError } : {}) } satisfies DevicesReport);
  const cache = new Map<string, Uint8Array>();
  const all: Array<{ close(): void }> = [];
  let stopping = false;

  function device(index: number): Promise<boolean> {
    const deviceId = `sim-${String(index).padStart(6, '0')}`;
    const random = seededRandom(s.seed * 7919 + index);
    const numSamples = 20 + Math.floor(random() * 200);
    const labelHistogram = new Array<number>(s.numClasses).fill(0);
    for (let i = 0; i < numSamples; i++) {
      const c = random() < 0.7 ? (index + Math.floor(random() * 2)) % s.numClasses : Math.floor(random() * s.numClasses);
      labelHistogram[c] = (labelHistogram[c] ?? 0) + 1;
    }
    const speed = 0.5 + random();
    const msPerStep = Array.from({ length: s.numBlocks }, (_, d) => Math.max(1, Math.round(s.msPerStep * speed * (d + 1))));
    let nodes = [...s.nodes];
    let url = nodes[index % nodes.length]!;
    let socket: AnySocket | undefined;
    let joinedOnce = false;
    let failures = 0;
    let resolveFirst: (ok: boolean) => void = () => {};
    const first = new Promise<boolean>((r) => (resolveFirst = r));
    const firstTimer = setTimeout(() => resolveFirst(false), 60_000);

    const open = (reason: 'start' | 'redirect' | 'lost') => {
      if (stopping) return;
      if (reason === 'redirect') stats.redirects += 1;
      if (reason === 'lost') stats.reconnects += 1;
      socket?.removeAllListeners();
      socket?.close();
      const sock = connect(url, { transports: ['websocket'], reconnection: false, forceNew: true }) as AnySocket;
      socket = sock;
      let assignment: Assignment | undefined;
      let moving = false;
      sock.on('connect', () => sock.emit('hello', { protocolVersion: PROTOCOL_VERSION, token: s.token, deviceId, dataMode: 'own' }));
      sock.on('welcome', () =>
        sock.emit('join', {
          protocolVersion: PROTOCOL_VERSION,
          token: s.token,
          deviceId,
          dataMode: 'own',
          backend: { name: 'cpu', forced: true, benchmarkMs: { cpu: msPerStep[0] } },
          profile: { msPerStep, uploadBytesPerSec: 1e7, memoryBytes: 8e9 },
          labelHistogram,
          numSamples,
        }),
      );
      sock.on('joined', () => {
        failures = 0;
        if (!joinedOnce) {
          joinedOnce = true;
          clearTimeout(firstTimer);
          resolveFirst(true);
        }
      });
      sock.on('redirect', (raw: unknown) => {
        const p = parseServerMessage('redirect', raw);
        if (!p.ok) return;
        moving = true;
        if (p.value.nodes.length > 0) nodes = [...p.value.nodes];
        url = p.value.url;
        open('redirect');
      });
      sock.on('assignment', (raw: unknown) => {
        const p = parseServerMessage('assignment', raw);
        if (p.ok) assignment = p.value;
      });
      sock.on('globalAdapter', (raw: unknown) => {
        const p = parseServerMessage('globalAdapter', raw);
        const a = assignment;
        if (!p.ok || !a || p.value.round !== a.round || p.value.intraRound !== a.intraRound) return;
        const ms = a.localSteps * (msPerStep[a.depth - 1] ?? s.msPerStep);
        const variant = s.variants > 0 ? index % s.variants : index;
        const key = `${variant}:${a.depth}:${a.round}:${a.intraRound}`;
        let payload = cache.get(key);
        if (!payload) {
          const global = decodeAdapter(p.value.payload);
          payload = new Uint8Array(encodeAdapter(syntheticDelta(global, s.numBlocks, a.depth, s.seed * 1_000_003 + variant * 7_919 + a.round * 101 + a.intraRound * 13 + a.depth, a.learningRate, a.headLearningRate)));
          cache.set(key, payload);
        }
        const bytes = payload;
        setTimeout(() => {
          if (socket !== sock || !sock.connected) return;
          stats.computeMs += ms;
          stats.uploads += 1;
          // The upload goes when the node grants it (its upload window, as for the page).
          offered.offer({ runId: a.runId, round: a.round, intraRound: a.intraRound, groupId: a.groupId, numSamples, payload: bytes, trainMs: ms });
        }, ms);
      });
      const offered = new OfferedUpload(sock);
      sock.on('uploadAccepted', () => {
        stats.accepted += 1;
      });
      sock.on('serverError', (e: { code: string; message: string; event?: string }) => {
        if (e.event === 'upload' || e.event === 'uploadOffer') stats.refused += 1;
        stats.firstError ??= `${deviceId}: ${e.code}: ${e.message}`;
      });
      const lost = () => {
        if (moving || socket !== sock || stopping) return;
        // The node is gone (or refused us): try the next node this device knows, with a backoff.
        failures += 1;
        const others = nodes.filter((n) => n !== url);
        if (others.length > 0) url = others[(index + failures) % others.length]!;
        const t = setTimeout(() => open('lost'), Math.min(2000, 100 * failures));
        t.unref?.();
      };
      sock.on('connect_error', lost);
      sock.on('disconnect', lost);
    };
    all.push({ close: () => socket?.close() });
    open('start');
    return first;
  }

  void (async () => {
    let next = 0;
    const lanes = Array.from({ length: Math.max(1, s.concurrency) }, async () => {
      while (next < s.count) {
        const i = s.first + next++;
        if (await device(i)) stats.joined += 1;
        else stats.failed += 1;
      }
    });
    await Promise.all(lanes);
    report();
  })();
  setInterval(report, 250).unref();
  process.on('message', (m: { type: string }) => {
    if (m.type !== 'stop') return;
    stopping = true;
    for (const d of all) d.close();
    report();
    setTimeout(() => process.exit(0), 100);
  });
  process.on('disconnect', () => process.exit(0));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\u0000')) main();
