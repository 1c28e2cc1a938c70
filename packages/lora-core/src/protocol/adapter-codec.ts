/**
 * Binary wire format for an AdapterState: one ArrayBuffer, binary end to end.
 *
 * Layout (all integers little-endian):
 *   0  magic  "TFAD" (4 bytes)
 *   4  u16    format version (1)
 *   6  u16    reserved, must be 0
 *   8  u32    header byte length H
 *   12 H bytes of UTF-8 JSON header, zero-padded to a multiple of 4
 *   P  payload (P = align4(12 + H)); every tensor at P + offset, offset a multiple of 4
 *
 * Header: { dtype: "float32" | "float16", payloadBytes, blocks: [{ key, tensors: [{ name, shape,
 * offset, length }] }] }; tensors are laid out in header order without overlap, and the buffer ends
 * exactly at P + payloadBytes. float32 payloads decode as views into the input buffer when the
 * host is little-endian and the absolute offset is 4-byte aligned (copied otherwise, only to fix
 * alignment); float16 payloads always decode into fresh Float32Arrays.
 */
import type { AdapterState, BlockKey, NamedArray } from '../lora/adapter-state';
import { sizeOf } from '../lora/adapter-state';
import { decodeFloat16, encodeFloat16 } from './float16';

export const ADAPTER_CODEC_MAGIC = 'TFAD';
export const ADAPTER_CODEC_VERSION = 1;
const PREAMBLE_BYTES = 12;

export type AdapterDtype = 'float32' | 'float16';
const BYTES_PER_ELEMENT: Record<AdapterDtype, number> = { float32: 4, float16: 2 };

export class AdapterCodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdapterCodecError';
  }
}

export interface EncodeOptions {
  /** Payload precision; float16 halves the upload at ~3 significant digits. Default float32. */
  readonly dtype?: AdapterDtype;
}

export interface DecodeOptions {
  /** Reject inputs larger than this, and headers declaring more decoded float32 bytes than this. */
  readonly maxBytes?: number;
  /** Always copy float32 payloads instead of viewing the input buffer (the input may then be reused). */
  readonly copy?: boolean;
}

interface TensorEntry {
  readonly name: string;
  readonly shape: number[];
  readonly offset: number;
  readonly length: number;
}

interface BlockEntry {
  readonly key: BlockKey;
  readonly tensors: TensorEntry[];
}

interface Header {
  readonly dtype: AdapterDtype;
  readonly payloadBytes: number;
  readonly blocks: BlockEntry[];
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const align4 = (n: number): number => (n + 3) & ~3;

export function isBlockKey(value: unknown): value is BlockKey {
  return value === 'head' || (typeof value === 'string' && /^(0|[1-9][0-9]{0,8})$/.test(value));
}

export function encodeAdapter(state: AdapterState, options: EncodeOptions = {}): ArrayBuffer {
  const dtype = options.dtype ?? 'float32';
  const bytesPerElement = BYTES_PER_ELEMENT[dtype];
  if (bytesPerElement === undefined) throw new AdapterCodecError(`unknown dtype "${String(dtype)}"`);

  const blocks: BlockEntry[] = [];
  const payloadParts: Array<{ offset: number; data: Float32Array }> = [];
  let cursor = 0;
  for (const [key, tensors] of state) {
    if (!isBlockKey(key)) throw new AdapterCodecError(`invalid block key "${String(key)}"`);
    const entries: TensorEntry[] = [];
    for (const [name, tensor] of tensors) {
      checkShape(tensor.shape, `${key}/${name}`);
      if (tensor.data.length !== sizeOf(tensor.shape)) {
        throw new AdapterCodecError(
          `${key}/${name}: data length ${tensor.data.length} does not match shape [${tensor.shape.join(', ')}]`,
        );
      }
      entries.push({ name, shape: [...tensor.shape], offset: cursor, length: tensor.data.length });
      payloadParts.push({ offset: cursor, data: tensor.data });
      cursor = align4(cursor + tensor.data.length * bytesPerElement);
    }
    blocks.push({ key, tensors: entries });
  }

  const header: Header = { dtype, payloadBytes: cursor, blocks };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const payloadStart = align4(PREAMBLE_BYTES + headerBytes.length);
  const buffer = new ArrayBuffer(payloadStart + cursor);
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  for (let i = 0; i < 4; i++) bytes[i] = ADAPTER_CODEC_MAGIC.charCodeAt(i);
  view.setUint16(4, ADAPTER_CODEC_VERSION, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, headerBytes.length, true);
  bytes.set(headerBytes, PREAMBLE_BYTES);

  for (const { offset, data } of payloadParts) {
    const at = payloadStart + offset;
    if (dtype === 'float32') {
      if (LITTLE_ENDIAN_HOST) new Float32Array(buffer, at, data.length).set(data);
      else for (let i = 0; i < data.length; i++) view.setFloat32(at + 4 * i, data[i]!, true);
    } else {
      const halves = encodeFloat16(data);
      if (LITTLE_ENDIAN_HOST) new Uint16Array(buffer, at, halves.length).set(halves);
      else for (let i = 0; i < halves.length; i++) view.setUint16(at + 2 * i, halves[i]!, true);
    }
  }
  return buffer;
}

export function decodeAdapter(input: ArrayBuffer | ArrayBufferView, options: DecodeOptions = {}): AdapterState {
  const bytes =
    input instanceof ArrayBuffer
      ? new Uint8Array(input)
      : ArrayBuffer.isView(input)
        ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
        : undefined;
  if (bytes === undefined) throw new AdapterCodecError('input is neither an ArrayBuffer nor an ArrayBufferView');
  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  if (bytes.byteLength > maxBytes) {
    throw new AdapterCodecError(`buffer of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes} bytes`);
  }
  if (bytes.byteLength < PREAMBLE_BYTES) {
    throw new AdapterCodecError(`truncated buffer: ${bytes.byteLength} bytes, the preamble alone needs ${PREAMBLE_BYTES}`);
  }
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== ADAPTER_CODEC_MAGIC.charCodeAt(i)) throw new AdapterCodecError('bad magic: not an adapter buffer');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4, true);
  if (version !== ADAPTER_CODEC_VERSION) {
    throw new AdapterCodecError(`unsupported format version ${version} (this decoder reads ${ADAPTER_CODEC_VERSION})`);
  }
  if (view.getUint16(6, true) !== 0) throw new AdapterCodecError('reserved preamble field is not zero');
  const headerLength = view.getUint32(8, true);
  if (headerLength > bytes.byteLength - PREAMBLE_BYTES) {
    throw new AdapterCodecError(
      `header length ${headerLength} runs past the end of the ${bytes.byteLength}-byte buffer`,
    );
  }
  const header = parseHeader(bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength));
  const payloadStart = align4(PREAMBLE_BYTES + headerLength);
  if (payloadStart + header.payloadBytes !== bytes.byteLength) {
    throw new AdapterCodecError(
      `buffer is ${bytes.byteLength} bytes but header and payload declare ${payloadStart + header.payloadBytes}` +
        (payloadStart + header.payloadBytes > bytes.byteLength ? ' (truncated)' : ' (trailing bytes)'),
    );
  }
  checkLayout(header, maxBytes);

  const state: AdapterState = new Map();
  for (const block of header.blocks) {
    const tensors = new Map<string, NamedArray>();
    for (const t of block.tensors) {
      const at = payloadStart + t.offset;
      const data =
        header.dtype === 'float32'
          ? readFloat32(bytes, at, t.length, options.copy === true)
          : decodeFloat16(readUint16(bytes, at, t.length));
      tensors.set(t.name, { shape: t.shape, data });
    }
    state.set(block.key, tensors);
  }
  return state;
}

function readFloat32(bytes: Uint8Array, at: number, length: number, forceCopy: boolean): Float32Array {
  const absolute = bytes.byteOffset + at;
  if (LITTLE_ENDIAN_HOST) {
    if (!forceCopy && absolute % 4 === 0) return new Float32Array(bytes.buffer, absolute, length);
    return new Float32Array(bytes.slice(at, at + 4 * length).buffer);
  }
  const view = new DataView(bytes.buffer, absolute, 4 * length);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

function readUint16(bytes: Uint8Array, at: number, length: number): Uint16Array {
  const absolute = bytes.byteOffset + at;
  if (LITTLE_ENDIAN_HOST) {
    if (absolute % 2 === 0) return new Uint16Array(bytes.buffer, absolute, length);
    return new Uint16Array(bytes.slice(at, at + 2 * length).buffer);
  }
  const view = new DataView(bytes.buffer, absolute, 2 * length);
  const out = new Uint16Array(length);
  for (let i = 0; i < length; i++) out[i] = view.getUint16(2 * i, true);
  return out;
}

function parseHeader(headerBytes: Uint8Array): Header {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new AdapterCodecError(`malformed header JSON: ${(e as Error).message}`);
  }
  if (!isRecord(raw)) throw new AdapterCodecError('malformed header: not a JSON object');
  const { dtype, payloadBytes, blocks } = raw;
  if (dtype !== 'float32' && dtype !== 'float16') throw new AdapterCodecError(`unknown dtype ${JSON.stringify(dtype)}`);
  if (!isNonNegativeSafeInteger(payloadBytes)) throw new AdapterCodecError('malformed header: payloadBytes');
  if (!Array.isArray(blocks)) throw new AdapterCodecError('malformed header: blocks is not an array');

  const seenKeys = new Set<string>();
  const parsedBlocks: BlockEntry[] = blocks.map((block: unknown, b) => {
    if (!isRecord(block)) throw new AdapterCodecError(`malformed header: block #${b} is not an object`);
    const { key, tensors } = block;
    if (!isBlockKey(key)) throw new AdapterCodecError(`malformed header: invalid block key ${JSON.stringify(key)}`);
    if (seenKeys.has(key)) throw new AdapterCodecError(`malformed header: duplicate block key "${key}"`);
    seenKeys.add(key);
    if (!Array.isArray(tensors)) throw new AdapterCodecError(`malformed header: block "${key}" tensors is not an array`);
    const seenNames = new Set<string>();
    const parsedTensors: TensorEntry[] = tensors.map((tensor: unknown, i) => {
      const where = `block "${key}" tensor #${i}`;
      if (!isRecord(tensor)) throw new AdapterCodecError(`malformed header: ${where} is not an object`);
      const { name, shape, offset, length } = tensor;
      if (typeof name !== 'string' || name.length === 0) throw new AdapterCodecError(`malformed header: ${where} name`);
      if (seenNames.has(name)) throw new AdapterCodecError(`malformed header: duplicate tensor "${key}/${name}"`);
      seenNames.add(name);
      if (!Array.isArray(shape)) throw new AdapterCodecError(`malformed header: ${key}/${name} shape is not an array`);
      checkShape(shape, `${key}/${name}`);
      if (!isNonNegativeSafeInteger(offset)) throw new AdapterCodecError(`malformed header: ${key}/${name} offset`);
      if (!isNonNegativeSafeInteger(length)) throw new AdapterCodecError(`malformed header: ${key}/${name} length`);
      const expected = checkedSize(shape as number[], `${key}/${name}`);
      if (expected !== length) {
        throw new AdapterCodecError(
          `shape/size mismatch for ${key}/${name}: shape [${shape.join(', ')}] has ${expected} elements, header says ${length}`,
        );
      }
      return { name, shape: [...(shape as number[])], offset, length };
    });
    return { key, tensors: parsedTensors };
  });
  return { dtype, payloadBytes, blocks: parsedBlocks };
}

/** Tensors must sit in header order, 4-byte aligned, without overlap, inside the payload, within maxBytes once decoded. */
function checkLayout(header: Header, maxBytes: number): void {
  const bytesPerElement = BYTES_PER_ELEMENT[header.dtype];
  let cursor = 0;
  let decodedBytes = 0;
  for (const block of header.blocks) {
    for (const t of block.tensors) {
      const where = `${block.key}/${t.name}`;
      if (t.offset % 4 !== 0) throw new AdapterCodecError(`${where}: payload offset ${t.offset} is not 4-byte aligned`);
      if (t.offset < cursor) throw new AdapterCodecError(`${where}: payload offset ${t.offset} overlaps the previous tensor`);
      const end = t.offset + t.length * bytesPerElement;
      if (end > header.payloadBytes) {
        throw new AdapterCodecError(`${where}: declares ${t.length} elements, running past the ${header.payloadBytes}-byte payload`);
      }
      decodedBytes += 4 * t.length;
      if (decodedBytes > maxBytes) {
        throw new AdapterCodecError(`declared tensors decode to more than the limit of ${maxBytes} bytes`);
      }
      cursor = end;
    }
  }
}

function checkShape(shape: readonly unknown[], where: string): void {
  for (const dim of shape) {
    if (!isNonNegativeSafeInteger(dim)) throw new AdapterCodecError(`${where}: invalid shape dimension ${JSON.stringify(dim)}`);
  }
}

function checkedSize(shape: readonly number[], where: string): number {
  let size = 1;
  for (const dim of shape) {
    size *= dim;
    if (size > Number.MAX_SAFE_INTEGER) throw new AdapterCodecError(`${where}: declared size is absurdly large`);
  }
  return size;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonNegativeSafeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
