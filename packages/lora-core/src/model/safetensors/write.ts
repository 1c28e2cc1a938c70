/**
 * safetensors writer (no maintained one exists on npm). Tensors are laid out in the order given,
 * the header is padded with spaces to a multiple of 8 bytes (as the reference implementation does)
 * so every tensor starts 8-byte aligned relative to the file start when sizes allow.
 */
import { fromFloat32, type FloatDtype } from './dtype';
import { numel } from './read';

export interface TensorToWrite {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
  /** Stored dtype (default F32); values are rounded to it. */
  readonly dtype?: FloatDtype;
}

export function writeSafetensors(tensors: readonly TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let at = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__' || t.name.length === 0) throw new Error(`invalid tensor name "${t.name}"`);
    if (seen.has(t.name)) throw new Error(`tensor "${t.name}" given twice`);
    seen.add(t.name);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`tensor "${t.name}": bad shape [${t.shape}]`);
    if (numel(t.shape) !== t.data.length) throw new Error(`tensor "${t.name}": shape [${t.shape}] needs ${numel(t.shape)} values, got ${t.data.length}`);
    const dtype = t.dtype ?? 'F32';
    const bytes = fromFloat32(t.data, dtype);
    header[t.name] = { dtype, shape: [...t.shape], data_offsets: [at, at + bytes.byteLength] };
    blobs.push(bytes);
    at += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  const raw = new TextEncoder().encode(json);
  json += ' '.repeat((8 - (raw.byteLength % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + at);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let p = 8 + headerBytes.byteLength;
  for (const b of blobs) {
    out.set(b, p);
    p += b.byteLength;
  }
  return out;
}
