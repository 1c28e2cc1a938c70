/**
 * Drives MessageFuzzer against a live coordinator from Node (socket.io-client), next to a real run:
 * short sessions of bad messages on fresh sockets (anonymous or hello'd in own-data mode), joined
 * "worker" devices that answer each real assignment with bad uploads and then drop out of the round,
 * unparseable raw frames, payloads over maxHttpBufferSize, and floods. Every message is sent after
 * the previous one was answered, so each answer is matched to its message; the tally counts them.
 */
import { randomBytes } from 'node:crypto';
import { io as connect } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import { decodeAdapter } from '../../packages/lora-core/src/protocol/adapter-codec';
import { parseServerMessage, PROTOCOL_VERSION } from '../../packages/lora-core/src/protocol/messages';
import type { Assignment, ServerErrorCode } from '../../packages/lora-core/src/protocol/messages';
import { emptyTally, MessageFuzzer, WORKER_SAMPLES } from './fuzz-messages';
import type { CapturedUpload, FuzzCase, FuzzCategory, FuzzContext, Work } from './fuzz-messages';

type AnySocket = Socket & { emit(event: string, ...args: unknown[]): Socket };

export interface FuzzTally {
  /** Per category: messages sent, answered with an expected code, answered otherwise, not answered. */
  readonly sent: Record<FuzzCategory, number>;
  readonly answered: Record<FuzzCategory, number>;
  readonly wrong: Array<{ category: FuzzCategory; event: string; got: string }>;
  readonly unanswered: Array<{ category: FuzzCategory; event: string }>;
  readonly codes: Partial<Record<ServerErrorCode, number>>;
  /** Connections the server closed for unparseable frames / oversized payloads / floods, out of attempts. */
  rawClosed: number;
  rawAttempts: number;
  oversizedClosed: number;
  oversizedAttempts: number;
  floodClosed: number;
  floodAttempts: number;
  floodRateLimited: number;
  /** Work assignments the workers received (and answered with bad uploads only). */
  workerAssignments: number;
}

export interface FuzzerOptions {
  readonly url: string;
  readonly token: string;
  readonly runId: string;
  readonly numClasses: number;
  readonly numBlocks: number;
  readonly maxHttpBufferSize: number;
  readonly seed: number;
  /** Joined fuzz devices; each counts as a planned member of the rounds it joins. */
  readonly workers: number;
  /** A real device's upload to replay, once one was captured. */
  readonly replay: () => CapturedUpload | undefined;
}

export interface RunningFuzzer {
  readonly tally: FuzzTally;
  stop(): Promise<void>;
}

const ANSWER_TIMEOUT_MS = 30_000;
const MESSAGES_PER_SESSION = 20;
const WORKER_CASES_PER_WORK = 24;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fuzzId = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;

function open(url: string): AnySocket {
  return connect(url, { transports: ['websocket'], reconnection: false, forceNew: true }) as AnySocket;
}

function connected(socket: AnySocket): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve();
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
}

function closed(socket: AnySocket): Promise<string> {
  return new Promise((resolve) => {
    if (socket.disconnected && !socket.active) return resolve('already closed');
    socket.once('disconnect', (reason) => resolve(reason));
  });
}

type Answer = { kind: 'error'; code: ServerErrorCode; event: string | undefined } | { kind: 'accepted'; event: string } | { kind: 'timeout' } | { kind: 'closed' };

/** The next answer on `socket`: a serverError, an acceptance (which no fuzz message may get), or none. */
function nextAnswer(socket: AnySocket, timeoutMs = ANSWER_TIMEOUT_MS): Promise<Answer> {
  return new Promise((resolve) => {
    const done = (a: Answer) => {
      clearTimeout(timer);
      socket.off('serverError', onError);
      for (const e of ACCEPTANCES) socket.off(e, accepted[e]!);
      socket.off('disconnect', onClose);
      resolve(a);
    };
    const onError = (e: { code: ServerErrorCode; event?: string }) => done({ kind: 'error', code: e.code, event: e.event });
    const accepted = Object.fromEntries(ACCEPTANCES.map((e) => [e, () => done({ kind: 'accepted', event: e })]));
    const onClose = () => done({ kind: 'closed' });
    const timer = setTimeout(() => done({ kind: 'timeout' }), timeoutMs);
    socket.on('serverError', onError);
    for (const e of ACCEPTANCES) socket.on(e, accepted[e]!);
    socket.on('disconnect', onClose);
  });
}
const ACCEPTANCES = ['welcome', 'joined', 'uploadAccepted'] as const;

export function startFuzzer(o: FuzzerOptions): RunningFuzzer {
  const fuzzer = new MessageFuzzer(o.seed);
  const tally: FuzzTally = {
    sent: emptyTally(),
    answered: emptyTally(),
    wrong: [],
    unanswered: [],
    codes: {},
    rawClosed: 0,
    rawAttempts: 0,
    oversizedClosed: 0,
    oversizedAttempts: 0,
    floodClosed: 0,
    floodAttempts: 0,
    floodRateLimited: 0,
    workerAssignments: 0,
  };
  let stopping = false;
  const sockets = new Set<AnySocket>();
  const track = (s: AnySocket) => {
    sockets.add(s);
    s.on('disconnect', () => sockets.delete(s));
    return s;
  };
  const ctx = (deviceId: string): FuzzContext => ({ runId: o.runId, token: o.token, deviceId, numClasses: o.numClasses, numBlocks: o.numBlocks });

  /** Sends one case and records its answer; false when the connection is gone afterwards. */
  async function send(socket: AnySocket, c: FuzzCase): Promise<boolean> {
    tally.sent[c.category] += 1;
    const answer = nextAnswer(socket);
    if (c.payload === undefined) socket.emit(c.event);
    else socket.emit(c.event, c.payload);
    const a = await answer;
    if (a.kind === 'error') {
      tally.codes[a.code] = (tally.codes[a.code] ?? 0) + 1;
      if (c.expect.includes(a.code)) tally.answered[c.category] += 1;
      else tally.wrong.push({ category: c.category, event: c.event.slice(0, 40), got: a.code });
    } else if (a.kind === 'accepted') {
      tally.wrong.push({ category: c.category, event: c.event.slice(0, 40), got: `accepted: ${a.event}` });
    } else {
      tally.unanswered.push({ category: c.category, event: c.event.slice(0, 40) });
    }
    if (c.closes) await Promise.race([closed(socket), sleep(5_000)]);
    return socket.connected;
  }

  async function hello(socket: AnySocket, deviceId: string): Promise<boolean> {
    const welcome = nextAnswer(socket);
    socket.emit('hello', { protocolVersion: PROTOCOL_VERSION, token: o.token, deviceId, dataMode: 'own' });
    return (await welcome).kind === 'accepted';
  }

  async function session(): Promise<void> {
    const socket = track(open(o.url));
    try {
      await connected(socket);
      const introduced = fuzzer.pick([true, false]);
      const deviceId = fuzzId('fuzz');
      if (introduced && !(await hello(socket, deviceId))) throw new Error('a fuzz hello was refused');
      for (let i = 0; i < MESSAGES_PER_SESSION && !stopping; i++) {
        if (!(await send(socket, fuzzer.general(ctx(deviceId), introduced)))) break;
      }
    } finally {
      socket.close();
    }
  }

  async function rawFrames(): Promise<void> {
    tally.rawAttempts += 1;
    const socket = track(open(o.url));
    await connected(socket);
    const gone = closed(socket);
    for (const frame of fuzzer.rawFrames()) socket.io.engine.send(frame);
    if ((await Promise.race([gone, sleep(5_000).then(() => 'still open')])) !== 'still open') tally.rawClosed += 1;
    socket.close();
  }

  async function oversized(): Promise<void> {
    tally.oversizedAttempts += 1;
    const socket = track(open(o.url));
    await connected(socket);
    const deviceId = fuzzId('fuzz-big');
    await hello(socket, deviceId);
    const answer = nextAnswer(socket);
    socket.emit('upload', { runId: o.runId, round: 1, intraRound: 0, groupId: 'all', numSamples: 1, payload: new Uint8Array(o.maxHttpBufferSize + 4096) });
    if ((await answer).kind === 'closed') tally.oversizedClosed += 1;
    socket.close();
  }

  async function flood(): Promise<void> {
    tally.floodAttempts += 1;
    const socket = track(open(o.url));
    await connected(socket);
    let rateLimited = 0;
    let tooMany = false;
    socket.on('serverError', (e: { code: string }) => {
      if (e.code === 'rate-limited') rateLimited += 1;
      if (e.code === 'too-many-errors') tooMany = true;
    });
    const gone = closed(socket);
    // Valid hellos: only the rate limit refuses them (invalid messages would trip the refusal count first).
    const deviceId = fuzzId('fuzz-flood');
    for (let i = 0; i < 200; i++) socket.emit('hello', { protocolVersion: PROTOCOL_VERSION, token: o.token, deviceId, dataMode: 'own' });
    const reason = await Promise.race([gone, sleep(10_000).then(() => 'still open')]);
    if (reason === 'io server disconnect' && tooMany) tally.floodClosed += 1;
    tally.floodRateLimited += rateLimited;
    socket.close();
  }

  /**
   * A joined own-data device: it joins once the run is running (never before round 1 is planned,
   * so it cannot stand in for a real tab), answers each assignment with bad uploads only, then
   * disconnects — the round drops its work — and joins again for the next round.
   */
  async function worker(index: number): Promise<void> {
    const deviceId = fuzzId(`fuzz-worker${index}`);
    let running = false;
    while (!stopping) {
      const socket = track(open(o.url));
      try {
        await connected(socket);
        let assignment: Assignment | undefined;
        let work: Work | undefined;
        let workArrived: () => void = () => {};
        socket.on('runStatus', (s: { state: string }) => {
          if (s.state === 'running') running = true;
        });
        socket.on('assignment', (raw: unknown) => {
          const p = parseServerMessage('assignment', raw);
          if (p.ok) assignment = p.value;
        });
        socket.on('globalAdapter', (raw: unknown) => {
          const p = parseServerMessage('globalAdapter', raw);
          if (p.ok && assignment) {
            work = { assignment, global: decodeAdapter(p.value.payload, { copy: true }) };
            workArrived();
          }
        });
        const arrived = new Promise<void>((resolve) => (workArrived = resolve));
        if (!(await hello(socket, deviceId))) throw new Error('a worker hello was refused');
        while (!running && !stopping && socket.connected) await sleep(200);
        if (stopping || !socket.connected) return;
        const joined = nextAnswer(socket);
        socket.emit('join', fuzzer.validJoin(ctx(deviceId), WORKER_SAMPLES));
        if ((await joined).kind !== 'accepted') throw new Error('a worker join was refused');
        if (!(await send(socket, fuzzer.workerCase(ctx(deviceId), undefined, o.replay())))) continue;
        await Promise.race([arrived, closed(socket), waitFor(() => stopping)]);
        if (!work || stopping) continue;
        tally.workerAssignments += 1;
        for (let i = 0; i < WORKER_CASES_PER_WORK && !stopping; i++) {
          // An over-norm upload costs the device its work in the round (nothing is left to answer
          // after it), so it is sent last: the other cases before it, one over-norm to close.
          const last = i === WORKER_CASES_PER_WORK - 1;
          let c = fuzzer.workerCase(ctx(deviceId), work, o.replay());
          for (let draw = 0; draw < 500 && (c.category === 'over-norm') !== last; draw++) c = fuzzer.workerCase(ctx(deviceId), work, o.replay());
          if (!(await send(socket, c))) break;
          if (c.category === 'over-norm') break;
        }
      } finally {
        socket.close();
      }
      // Let the coordinator drop the work of this connection before the device joins again.
      await sleep(500);
    }
  }

  const waitFor = async (cond: () => boolean) => {
    while (!cond()) await sleep(200);
  };

  const loops: Promise<void>[] = [];
  const every = (ms: number, job: () => Promise<void>) =>
    loops.push(
      (async () => {
        while (!stopping) {
          await job().catch((err: unknown) => {
            if (!stopping) throw err;
          });
          await sleep(ms);
        }
      })(),
    );
  every(1_000, session);
  every(1_500, session);
  every(7_000, rawFrames);
  every(20_000, oversized);
  every(30_000, flood);
  for (let w = 0; w < o.workers; w++) loops.push(worker(w));

  return {
    tally,
    async stop() {
      stopping = true;
      const results = await Promise.allSettled(loops);
      for (const s of sockets) s.close();
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
