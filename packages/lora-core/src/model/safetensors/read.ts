/**
 * safetensors reader: 8-byte little-endian header length N, N bytes of JSON header, then the data
 * buffer. The header maps tensor names to {dtype, shape, data_offsets: [begin, end)} relative to the
 * data buffer, plus an optional "__metadata__" string map. We validate what the format promises
 * before reading a value: a bounded header, known dtypes, byte sizes that match shape × dtype, and
 * offsets that tile the data buffer exactly (no gaps, no overlaps, nothing past the end), so a
 * truncated or corrupted file fails here with its name instead of producing garbage weights.
 */
import { DTYPE_BYTES, FLOAT_DTYPES, isDtype, toFloat32, type FloatDtype, type SafetensorsDtype } from './dtype';

/** Same bound as the reference implementation: a larger header is refused unread. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Byte range inside the data buffer. */
  readonly begin: number;
  readonly end: number;
}

export class SafetensorsError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

export class SafetensorsFile {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
  private readonly data: Uint8Array;

  /** Parses and validates; `file` names the source in every error. */
  constructor(
    bytes: ArrayBuffer | Uint8Array,
    readonly file = 'safetensors',
  ) {
    // A plain view even for a Node Buffer (whose slice/subarray semantics differ).
    const u8 = bytes instanceof Uint8Array ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
    const fail = (m: string): never => {
      throw new SafetensorsError(file, m);
    };
    if (u8.byteLength < 8) fail(`truncated: ${u8.byteLength} bytes, fewer than the 8-byte header length`);
    const n = new DataView(u8.buffer, u8.byteOffset, 8).getBigUint64(0, true);
    if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
    const headerLen = Number(n);
    if (8 + headerLen > u8.byteLength) fail(`truncated: header says ${headerLen} bytes but only ${u8.byteLength - 8} follow`);
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(u8.subarray(8, 8 + headerLen)));
    } catch (e) {
      fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
    this.data = u8.subarray(8 + headerLen);
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        metadata = parseMetadata(raw, fail);
        continue;
      }
      tensors.set(name, parseTensorInfo(name, raw, fail));
    }
    // Offsets must tile [0, data length) exactly, in some order.
    const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
    let at = 0;
    for (const t of sorted) {
      if (t.begin !== at) {
        fail(t.begin > at ? `tensor "${t.name}" starts at byte ${t.begin}, leaving a gap after byte ${at}` : `tensor "${t.name}" overlaps the tensor before it (starts at ${t.begin}, previous ends at ${at})`);
      }
      at = t.end;
    }
    if (at > this.data.byteLength) {
      const last = sorted[sorted.length - 1]!;
      fail(`truncated: tensor "${last.name}" ends at data byte ${at} but the file holds only ${this.data.byteLength} data bytes`);
    }
    if (at < this.data.byteLength) fail(`${this.data.byteLength - at} bytes after the last tensor (offsets do not cover the data)`);
    this.tensors = tensors;
    this.metadata = metadata;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(this.file, `no tensor "${name}"`);
    return t;
  }

  /** Raw little-endian bytes of a tensor (a view, not a copy). */
  bytes(name: string): Uint8Array {
    const t = this.info(name);
    return this.data.subarray(t.begin, t.end);
  }

  /** A floating tensor's values as float32 (F32, F16, BF16, F64). */
  float32(name: string): Float32Array {
    const t = this.info(name);
    if (!(FLOAT_DTYPES as readonly string[]).includes(t.dtype)) {
      throw new SafetensorsError(this.file, `tensor "${name}" has dtype ${t.dtype}; only ${FLOAT_DTYPES.join(', ')} can be read as float32`);
    }
    return toFloat32(this.bytes(name), t.dtype as FloatDtype, numel(t.shape));
  }
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function parseMetadata(raw: unknown, fail: (m: string) => never): Record<string, string> {
  if (raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) fail('"__metadata__" is not an object of strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string') fail(`"__metadata__".${k} is not a string`);
    out[k] = v as string;
  }
  return out;
}

function parseTensorInfo(name: string, raw: unknown, fail: (m: string) => never): TensorInfo {
  if (typeof raw !== 'object' || raw === null) fail(`tensor "${name}": entry is not an object`);
  const r = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof r.dtype !== 'string' || !isDtype(r.dtype)) fail(`tensor "${name}": unknown dtype ${JSON.stringify(r.dtype)}`);
  const dtype = r.dtype as SafetensorsDtype;
  if (!Array.isArray(r.shape) || !r.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor "${name}": shape ${JSON.stringify(r.shape)} is not a list of non-negative integers`);
  const shape = r.shape as number[];
  const off = r.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[0] > off[1]) {
    fail(`tensor "${name}": data_offsets ${JSON.stringify(off)} is not [begin, end] with 0 <= begin <= end`);
  }
  const [begin, end] = off as [number, number];
  const expected = numel(shape) * DTYPE_BYTES[dtype];
  if (end - begin !== expected) fail(`tensor "${name}": ${end - begin} bytes stored but shape [${shape}] of ${dtype} needs ${expected}`);
  return { name, dtype, shape, begin, end };
}
