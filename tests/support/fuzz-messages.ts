/**
 * Seeded bad messages for a live coordinator, each with the serverError codes that answer it
 * correctly. Three senders: an `anonymous` socket (no hello), an `introduced` one (hello'd in own-data
 * mode with the right token, never joined), and a `worker` (joined, holding — or between — real
 * assignments, declaring `WORKER_SAMPLES` samples). Every case is invalid by construction: none may
 * be accepted, so none can reach aggregation; a case the coordinator accepted would go unanswered
 * and fail the count. Fleet-mode hellos carry a bad token or version, so no fleet slot is ever claimed.
 */
import { encodeAdapter } from '../../packages/lora-core/src/protocol/adapter-codec';
import { PROTOCOL_VERSION } from '../../packages/lora-core/src/protocol/messages';
import type { Assignment, ServerErrorCode } from '../../packages/lora-core/src/protocol/messages';
import { seededRandom } from '../../packages/lora-core/src/federated/random';
import type { Random } from '../../packages/lora-core/src/federated/random';
import { trainedBlockKeys } from '../../packages/lora-core/src/lora/adapter-state';
import type { AdapterState, BlockKey, NamedArray } from '../../packages/lora-core/src/lora/adapter-state';

export const FUZZ_CATEGORIES = [
  'wrong-type',
  'missing-field',
  'extra-field',
  'huge-string',
  'bad-number',
  'binary-for-json',
  'not-an-object',
  'unknown-event',
  'out-of-turn',
  'bad-credentials',
  'bad-join',
  'wrong-run',
  'wrong-round',
  'no-work',
  'garbage-adapter',
  'wrong-tensors',
  'non-finite',
  'too-many-samples',
  'over-norm',
  'replay',
] as const;
export type FuzzCategory = (typeof FUZZ_CATEGORIES)[number];

export interface FuzzCase {
  readonly category: FuzzCategory;
  readonly event: string;
  /** The message; `undefined` sends the event with no argument. */
  readonly payload: unknown;
  /** serverError codes that answer it correctly. */
  readonly expect: readonly ServerErrorCode[];
  /** The coordinator closes the connection after answering (bad token, protocol mismatch). */
  readonly closes?: boolean;
}

export interface FuzzContext {
  readonly runId: string;
  readonly token: string;
  /** The sender's own device id (introduced and worker senders). */
  readonly deviceId: string;
  readonly numClasses: number;
  readonly numBlocks: number;
}

/** A worker's current assignment and the adapter it was sent (its shapes and keys). */
export interface Work {
  readonly assignment: Assignment;
  readonly global: AdapterState;
}

/** A real device's upload, captured off the wire, payload as bytes. */
export interface CapturedUpload {
  readonly msg: Record<string, unknown> & { payload: Uint8Array };
}

/** What a worker declares at join: uploads claiming more are refused. */
export const WORKER_SAMPLES = 1;

const HUGE = 100_000;
const DEVICE_EVENTS = ['hello', 'join', 'progress', 'upload', 'deviceError'] as const;
type Event = (typeof DEVICE_EVENTS)[number];

/** Required fields of each event (deleting one makes the message invalid). */
const REQUIRED: Record<Event, readonly string[]> = {
  hello: ['protocolVersion', 'token', 'deviceId', 'dataMode'],
  join: ['protocolVersion', 'token', 'deviceId', 'dataMode', 'backend', 'profile', 'labelHistogram', 'numSamples'],
  progress: ['runId', 'round', 'intraRound', 'step', 'localSteps', 'loss'],
  upload: ['runId', 'round', 'intraRound', 'groupId', 'numSamples', 'payload'],
  deviceError: ['code', 'message'],
};

/** Values each numeric field refuses (NaN and ±Infinity travel as JSON null). */
const BAD_NUMBERS: Record<string, readonly number[]> = {
  protocolVersion: [1.5, Number.NaN],
  round: [-1, 1.5, 2 ** 60, Number.NaN],
  intraRound: [-1, 0.5, Number.POSITIVE_INFINITY],
  step: [-3, Number.NaN],
  localSteps: [0, -1, 2.5],
  loss: [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
  numSamples: [0, -5, 1.5, 1e9],
  trainMs: [-1, Number.NaN],
};

const STRING_FIELDS = new Set(['token', 'deviceId', 'runId', 'groupId', 'message', 'userAgent']);

export class MessageFuzzer {
  private readonly random: Random;

  constructor(seed: number) {
    this.random = seededRandom(seed);
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  int(max: number): number {
    return Math.floor(this.random() * max);
  }

  /** A bad message for a socket that has not said hello (`introduced` false) or said it and never joined. */
  general(ctx: FuzzContext, introduced: boolean): FuzzCase {
    const kind = this.pick(['schema', 'schema', 'schema', 'schema', 'unknown', 'out-of-turn', 'credentials', 'join'] as const);
    if (kind === 'unknown') return this.unknownEvent();
    if (kind === 'out-of-turn') return this.outOfTurn(ctx, introduced);
    if (kind === 'credentials' && this.random() < 0.2) return this.badCredentials(ctx);
    if (kind === 'join' && introduced) return this.badJoin(ctx);
    const c = this.schemaViolation(ctx);
    // Before an accepted hello the coordinator reads nothing but hello: other events are refused unparsed.
    return !introduced && c.event !== 'hello' ? { ...c, expect: ['not-joined'] } : c;
  }

  /** A bad upload (or progress) for a joined worker; `work` undefined between assignments. */
  workerCase(ctx: FuzzContext, work: Work | undefined, replay: CapturedUpload | undefined): FuzzCase {
    if (replay && this.random() < 0.15) {
      return { category: 'replay', event: 'upload', payload: { ...replay.msg }, expect: ['stale-round', 'bad-adapter', 'unexpected-upload'] };
    }
    if (!work) {
      if (this.random() < 0.3) return { category: 'wrong-run', event: 'progress', payload: { ...this.validProgress(ctx), runId: 'run-elsewhere' }, expect: ['stale-round'] };
      // 'stale-round' too: an assignment may be on its way while this is sent (round 1 is never a worker's).
      return { category: 'no-work', event: 'upload', payload: this.validUpload(ctx), expect: ['unexpected-upload', 'stale-round'] };
    }
    const a = work.assignment;
    const keys = trainedBlockKeys(ctx.numBlocks, a.depth);
    const delta = () => zeroDelta(work.global, keys);
    const base = { runId: a.runId, round: a.round, intraRound: a.intraRound, groupId: a.groupId, numSamples: WORKER_SAMPLES };
    const bytes = (s: AdapterState, dtype: 'float32' | 'float16' = 'float32') => new Uint8Array(encodeAdapter(s, { dtype }));
    const pick = this.pick(['wrong-run', 'wrong-round', 'garbage-adapter', 'garbage-adapter', 'wrong-tensors', 'non-finite', 'too-many-samples', 'over-norm'] as const);
    switch (pick) {
      case 'wrong-run':
        return { category: pick, event: 'upload', payload: { ...base, runId: `${a.runId}-old`, payload: bytes(delta()) }, expect: ['stale-round'] };
      case 'wrong-round': {
        const change = this.pick([{ round: a.round + 1 }, { round: Math.max(0, a.round - 1) }, { intraRound: a.intraRound + 1 }, { groupId: `${a.groupId}-x` }]);
        return { category: pick, event: 'upload', payload: { ...base, ...change, payload: bytes(delta()) }, expect: ['stale-round'] };
      }
      case 'garbage-adapter':
        return { category: pick, event: 'upload', payload: { ...base, payload: this.garbageAdapter(bytes(delta())) }, expect: ['bad-adapter'] };
      case 'wrong-tensors': {
        const d = delta();
        const below = ctx.numBlocks - a.depth - 1;
        const how = this.int(4);
        if (how === 0 || (how === 1 && below < 0)) d.delete(keys[0]!);
        else if (how === 1) d.set(String(below) as BlockKey, d.get(keys[0]!)!);
        else if (how === 2) {
          const [name, t] = [...d.get(keys[0]!)!][0]!;
          const reversed = [...t.shape].reverse();
          const shape = reversed.every((dim, i) => dim === t.shape[i]) ? [...t.shape, 1] : reversed;
          d.get(keys[0]!)!.set(name, { shape, data: t.data });
        } else d.get('head' as BlockKey)!.set('extra', { shape: [1], data: new Float32Array(1) });
        return { category: pick, event: 'upload', payload: { ...base, payload: bytes(d) }, expect: ['bad-adapter'] };
      }
      case 'non-finite': {
        const d = delta();
        const [, t] = this.pick([...d.get(this.pick(keys))!]);
        t.data[this.int(t.data.length)] = this.pick([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
        return { category: pick, event: 'upload', payload: { ...base, payload: bytes(d, this.random() < 0.5 ? 'float32' : 'float16') }, expect: ['bad-adapter'] };
      }
      case 'over-norm': {
        // Well-formed and finite, but no amount of honest Adam steps moves a block this far: every
        // value of the block moved by ≥ 100, where an Adam step moves a value by about the learning rate.
        const d = delta();
        const value = this.pick([100, -1000, 5000]);
        for (const t of d.get(this.pick(keys))!.values()) t.data.fill(value);
        return { category: pick, event: 'upload', payload: { ...base, payload: bytes(d) }, expect: ['bad-adapter'] };
      }
      case 'too-many-samples':
        // A well-formed delta: only the sample count is wrong.
        return { category: pick, event: 'upload', payload: { ...base, numSamples: WORKER_SAMPLES + 1 + this.int(1000), payload: bytes(delta()) }, expect: ['bad-adapter'] };
    }
  }

  private schemaViolation(ctx: FuzzContext): FuzzCase {
    const event = this.pick(DEVICE_EVENTS);
    const valid = this.validMessage(event, ctx);
    const invalid: FuzzCase['expect'] = ['invalid-message'];
    const kind = this.pick(['wrong-type', 'missing-field', 'extra-field', 'huge-string', 'bad-number', 'binary-for-json', 'not-an-object'] as const);
    switch (kind) {
      case 'wrong-type': {
        const field = this.pick(Object.keys(valid));
        return { category: kind, event, payload: { ...valid, [field]: wrongType(valid[field], this.random) }, expect: invalid };
      }
      case 'missing-field': {
        const field = this.pick(REQUIRED[event]);
        const { [field]: _gone, ...rest } = valid;
        return { category: kind, event, payload: rest, expect: invalid };
      }
      case 'extra-field':
        if (event === 'join' && this.random() < 0.5) {
          return { category: kind, event, payload: { ...valid, profile: { ...(valid.profile as object), cores: 8 } }, expect: invalid };
        }
        return { category: kind, event, payload: { ...valid, [this.pick(['admin', '__proto__x', 'weight', 'isAdmin'])]: true }, expect: invalid };
      case 'huge-string': {
        const fields = Object.keys(valid).filter((k) => STRING_FIELDS.has(k));
        const field = this.pick(fields.length > 0 ? fields : ['deviceId']);
        return { category: kind, event, payload: { ...valid, [field]: 'x'.repeat(HUGE + this.int(HUGE)) }, expect: invalid };
      }
      case 'bad-number': {
        const fields = Object.keys(valid).filter((k) => k in BAD_NUMBERS);
        if (fields.length === 0) return { category: kind, event: 'progress', payload: { ...this.validProgress(ctx), step: -1 }, expect: invalid };
        const field = this.pick(fields);
        return { category: kind, event, payload: { ...valid, [field]: this.pick(BAD_NUMBERS[field]!) }, expect: invalid };
      }
      case 'binary-for-json': {
        const blob = randomBytes(this.random, 1 + this.int(512));
        if (this.random() < 0.5) return { category: kind, event, payload: blob, expect: invalid };
        const field = this.pick(REQUIRED[event].filter((f) => f !== 'payload'));
        return { category: kind, event, payload: { ...valid, [field]: blob }, expect: invalid };
      }
      case 'not-an-object':
        return { category: kind, event, payload: this.pick([null, undefined, 42, 'hello', [], [valid], true]), expect: invalid };
    }
  }

  private unknownEvent(): FuzzCase {
    const event = this.pick(['becomeAdmin', 'shutdown', 'assignment', 'welcome', 'serverError', '__proto__', 'constructor', 'hasOwnProperty', 'upload ', 'HELLO', 'x'.repeat(5000), '']);
    return { category: 'unknown-event', event, payload: { any: 'thing' }, expect: ['invalid-message'] };
  }

  /** Well-formed, but this socket may not send it yet. */
  private outOfTurn(ctx: FuzzContext, introduced: boolean): FuzzCase {
    const event = this.pick(introduced ? (['progress', 'upload'] as const) : (['progress', 'upload', 'deviceError', 'join'] as const));
    return { category: 'out-of-turn', event, payload: this.validMessage(event, ctx), expect: ['not-joined'] };
  }

  private badCredentials(ctx: FuzzContext): FuzzCase {
    const hello = { ...this.validHello(ctx), dataMode: 'fleet' };
    if (this.random() < 0.5) return { category: 'bad-credentials', event: 'hello', payload: { ...hello, token: `${ctx.token}x` }, expect: ['bad-token'], closes: true };
    return { category: 'bad-credentials', event: 'hello', payload: { ...hello, protocolVersion: PROTOCOL_VERSION + 1 + this.int(50) }, expect: ['protocol-mismatch'], closes: true };
  }

  /** Schema-valid joins the gateway must still refuse for an own-mode device that said hello. */
  private badJoin(ctx: FuzzContext): FuzzCase {
    const join = this.validJoin(ctx);
    switch (this.int(4)) {
      case 0:
        return { category: 'bad-join', event: 'join', payload: { ...join, labelHistogram: [1, ...new Array<number>(ctx.numClasses).fill(0)] }, expect: ['invalid-message'] };
      case 1:
        return { category: 'bad-join', event: 'join', payload: { ...join, profile: { ...join.profile, msPerStep: [5] } }, expect: ['invalid-message'] };
      case 2:
        return { category: 'bad-join', event: 'join', payload: { ...join, dataMode: 'fleet', partitionIndex: 0 }, expect: ['invalid-message'] };
      default:
        return { category: 'bad-join', event: 'join', payload: { ...join, deviceId: `${ctx.deviceId}-other` }, expect: ['not-joined'] };
    }
  }

  private validMessage(event: Event, ctx: FuzzContext): Record<string, unknown> {
    switch (event) {
      case 'hello':
        return this.validHello(ctx);
      case 'join':
        return this.validJoin(ctx);
      case 'progress':
        return this.validProgress(ctx);
      case 'upload':
        return this.validUpload(ctx);
      case 'deviceError':
        return { code: 'training-failed', message: 'fuzz', runId: ctx.runId, round: 1 };
    }
  }

  private validHello(ctx: FuzzContext) {
    return { protocolVersion: PROTOCOL_VERSION, token: ctx.token, deviceId: ctx.deviceId, dataMode: 'own' };
  }

  validJoin(ctx: FuzzContext, numSamples = WORKER_SAMPLES) {
    const labelHistogram = new Array<number>(ctx.numClasses).fill(0);
    labelHistogram[0] = numSamples;
    return {
      protocolVersion: PROTOCOL_VERSION,
      token: ctx.token,
      deviceId: ctx.deviceId,
      dataMode: 'own',
      backend: { name: 'cpu', forced: true, benchmarkMs: { cpu: 50 } },
      // Ample memory, so the planner's common depth never drops because of a fuzz device.
      profile: { msPerStep: new Array<number>(ctx.numBlocks).fill(50), uploadBytesPerSec: 1e7, memoryBytes: 64e9 },
      labelHistogram,
      numSamples,
    };
  }

  private validProgress(ctx: FuzzContext) {
    return { runId: ctx.runId, round: 1, intraRound: 0, step: 1, localSteps: 4, loss: 1.5 };
  }

  private validUpload(ctx: FuzzContext) {
    return { runId: ctx.runId, round: 1, intraRound: 0, groupId: 'all', numSamples: WORKER_SAMPLES, payload: randomBytes(this.random, 64) };
  }

  /** Bytes no decoder may accept: wrong magic, lying lengths, truncation, trailing bytes, bad header. */
  private garbageAdapter(valid: Uint8Array): Uint8Array {
    const out = (b: Uint8Array) => b;
    const preamble = (headerLength: number, version = 1, reserved = 0) => {
      const b = new Uint8Array(12);
      b.set([0x54, 0x46, 0x41, 0x44]);
      const v = new DataView(b.buffer);
      v.setUint16(4, version, true);
      v.setUint16(6, reserved, true);
      v.setUint32(8, headerLength, true);
      return b;
    };
    const withHeader = (header: unknown, payloadBytes = 0) => {
      const json = new TextEncoder().encode(JSON.stringify(header));
      const b = new Uint8Array(((12 + json.length + 3) & ~3) + payloadBytes);
      b.set(preamble(json.length));
      b.set(json, 12);
      return b;
    };
    switch (this.int(10)) {
      case 0:
        return out(randomBytes(this.random, 1 + 2 * this.int(300)));
      case 1:
        return concat(preamble(0xffffffff), randomBytes(this.random, 64));
      case 2:
        return valid.subarray(0, Math.max(1, valid.length - 1 - this.int(valid.length - 1)));
      case 3:
        return concat(valid, randomBytes(this.random, 1 + this.int(16)));
      case 4:
        return concat(preamble(8, 2), new TextEncoder().encode('{"a":1} '));
      case 5:
        return concat(preamble(8, 1, 7), new TextEncoder().encode('{"a":1} '));
      case 6:
        return concat(preamble(12), new TextEncoder().encode('not json :( '));
      case 7:
        return withHeader({ dtype: 'float32', payloadBytes: 2 ** 40, blocks: [] });
      case 8:
        return withHeader({ dtype: 'float32', payloadBytes: 8, blocks: [{ key: 'head', tensors: [{ name: 'W', shape: [1e6, 1e6], offset: 0, length: 1e12 }] }] }, 8);
      default:
        return withHeader({ dtype: 'bfloat16', payloadBytes: 4, blocks: [{ key: 'head', tensors: [{ name: 'b', shape: [1], offset: 0, length: 1 }] }] }, 4);
    }
  }

  /**
   * Raw Socket.IO packets (sent as engine.io messages) the server cannot parse: it must close that
   * connection and stay up. The last one announces a binary attachment and sends text instead.
   */
  rawFrames(): readonly string[] {
    return this.pick([
      ['garbage'],
      ['2['],
      ['2{"not":"an array"}'],
      ['2["disconnect",{}]'],
      ['9'],
      ['51-["upload",{"payload":{"_placeholder":true,"num":0}}]', '2["hello",{}]'],
    ]);
  }
}

/** Zero delta with the keys `keys` and the shapes the global adapter has there. */
function zeroDelta(global: AdapterState, keys: readonly BlockKey[]): AdapterState {
  const out: AdapterState = new Map();
  for (const key of keys) {
    const tensors = global.get(key);
    if (!tensors) throw new Error(`the global adapter has no block ${key}`);
    out.set(key, new Map([...tensors].map(([n, t]): [string, NamedArray] => [n, { shape: [...t.shape], data: new Float32Array(t.data.length) }])));
  }
  return out;
}

function wrongType(value: unknown, random: Random): unknown {
  if (typeof value === 'string') return random() < 0.5 ? 12345 : { value };
  if (typeof value === 'number') return random() < 0.5 ? String(value) : [value];
  if (typeof value === 'boolean') return 'true';
  if (Array.isArray(value)) return { 0: value[0] };
  if (value instanceof Uint8Array) return Array.from(value.subarray(0, 16));
  return 'not an object';
}

function randomBytes(random: Random, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export function emptyTally(): Record<FuzzCategory, number> {
  return Object.fromEntries(FUZZ_CATEGORIES.map((c) => [c, 0])) as Record<FuzzCategory, number>;
}
