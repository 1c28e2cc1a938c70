/**
 * IEEE 754 binary16 <-> binary32 conversion on raw bits (no Float16Array / Math.f16round in our
 * runtimes). float32 -> float16 rounds to nearest, ties to even; overflow goes to ±Infinity,
 * values below half the smallest subnormal go to ±0, subnormals are produced and read exactly,
 * NaN stays NaN (payload truncated, quiet bit set).
 */
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

export function float32ToFloat16Bits(value: number): number {
  scratchF32[0] = value;
  const bits = scratchU32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;

  if (exponent === 0xff) return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);

  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;

  if (halfExponent <= 0) {
    // Result is a half subnormal (or zero): value = m * 2^-24 with m = significand >> shift.
    if (halfExponent < -10) return sign; // below 2^-25: rounds to zero
    const significand = mantissa | 0x800000;
    const shift = 14 - halfExponent; // 14..24
    let half = significand >>> shift;
    const remainder = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && (half & 1) === 1)) half++; // may carry into the smallest normal: correct
    return sign | half;
  }

  let half = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  if (remainder > 0x1000 || (remainder === 0x1000 && (half & 1) === 1)) half++; // carry may reach 0x7c00 = Infinity: correct
  return sign | half;
}

export function float16BitsToFloat32(half: number): number {
  const sign = (half & 0x8000) << 16;
  const exponent = (half >>> 10) & 0x1f;
  let mantissa = half & 0x3ff;
  let bits: number;
  if (exponent === 0x1f) {
    bits = sign | 0x7f800000 | (mantissa << 13);
  } else if (exponent !== 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa === 0) {
    bits = sign;
  } else {
    // Subnormal half: normalize into a float32 normal.
    let e = 113;
    while ((mantissa & 0x400) === 0) {
      mantissa <<= 1;
      e--;
    }
    bits = sign | (e << 23) | ((mantissa & 0x3ff) << 13);
  }
  scratchU32[0] = bits >>> 0;
  return scratchF32[0]!;
}

export function encodeFloat16(values: Float32Array, out: Uint16Array = new Uint16Array(values.length)): Uint16Array {
  for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i]!);
  return out;
}

export function decodeFloat16(halves: Uint16Array, out: Float32Array = new Float32Array(halves.length)): Float32Array {
  for (let i = 0; i < halves.length; i++) out[i] = float16BitsToFloat32(halves[i]!);
  return out;
}
