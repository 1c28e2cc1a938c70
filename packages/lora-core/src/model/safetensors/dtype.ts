/** safetensors dtypes: byte sizes and conversion of the floating ones to float32 (tfjs has no half type). */
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../protocol/float16';

export const DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;

export type SafetensorsDtype = keyof typeof DTYPE_BYTES;
/** The dtypes we read into float32 and write from float32. */
export type FloatDtype = 'F32' | 'F16' | 'BF16' | 'F64';
export const FLOAT_DTYPES: readonly FloatDtype[] = ['F32', 'F16', 'BF16', 'F64'];

export function isDtype(s: string): s is SafetensorsDtype {
  return Object.hasOwn(DTYPE_BYTES, s);
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Little-endian bytes of `count` values of `dtype` → float32 (a copy). */
export function toFloat32(bytes: Uint8Array, dtype: FloatDtype, count: number): Float32Array {
  // A plain Uint8Array view first: Node's Buffer.slice would share memory instead of copying.
  if (dtype === 'F32' && LITTLE_ENDIAN) return new Float32Array(new Uint8Array(bytes.buffer, bytes.byteOffset, 4 * count).slice().buffer);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = float16BitsToFloat32(view.getUint16(2 * i, true));
      break;
    case 'BF16': {
      // bfloat16 is the top half of a float32: shift the bits up.
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      break;
    }
  }
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → bfloat16 bits, round to nearest even (NaN stays NaN). */
export function float32ToBfloat16Bits(v: number): number {
  f32[0] = v;
  const bits = u32[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return (bits >>> 16) | 0x40;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 values → little-endian bytes of `dtype`. */
export function fromFloat32(data: Float32Array, dtype: FloatDtype): Uint8Array {
  const out = new Uint8Array(data.length * DTYPE_BYTES[dtype]);
  const view = new DataView(out.buffer);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i]!, true);
      break;
    case 'F64':
      for (let i = 0; i < data.length; i++) view.setFloat64(8 * i, data[i]!, true);
      break;
    case 'F16':
      for (let i = 0; i < data.length; i++) view.setUint16(2 * i, float32ToFloat16Bits(data[i]!), true);
      break;
    case 'BF16':
      for (let i = 0; i < data.length; i++) view.setUint16(2 * i, float32ToBfloat16Bits(data[i]!), true);
      break;
  }
  return out;
}
