import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_HEADER_BYTES, SafetensorsFile, float32ToBfloat16Bits, writeSafetensors } from '../src/model/safetensors';

function file(header: unknown, data: Uint8Array = new Uint8Array(0), headerLen?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen ?? json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

test('round trip F32, F16, BF16 and F64 with metadata; header padded to 8 bytes', () => {
  const values = Float32Array.of(0, 1, -2.5, 3.140625, 65504, 1e-3, -0);
  const bytes = writeSafetensors(
    [
      { name: 'a', shape: [7], data: values },
      { name: 'b.f16', shape: [7, 1], data: values, dtype: 'F16' },
      { name: 'c.bf16', shape: [1, 7], data: values, dtype: 'BF16' },
      { name: 'd', shape: [7], data: values, dtype: 'F64' },
      { name: 'empty', shape: [0, 3], data: new Float32Array(0) },
    ],
    { format: 'pt' },
  );
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLen % 8, 0);
  const f = new SafetensorsFile(bytes, 'x.safetensors');
  assert.deepEqual(f.metadata, { format: 'pt' });
  assert.deepEqual(f.float32('a'), values);
  assert.deepEqual(f.float32('d'), values);
  assert.deepEqual(f.info('b.f16').shape, [7, 1]);
  const f16 = f.float32('b.f16');
  for (let i = 0; i < values.length; i++) assert.ok(Math.abs(f16[i]! - values[i]!) <= Math.abs(values[i]!) * 1e-3, `f16 ${i}`);
  const bf = f.float32('c.bf16');
  for (let i = 0; i < values.length; i++) assert.ok(Math.abs(bf[i]! - values[i]!) <= Math.abs(values[i]!) * 8e-3, `bf16 ${i}`);
  assert.equal(f.float32('empty').length, 0);
});

test('bfloat16 rounds to nearest even and keeps NaN / infinities', () => {
  assert.equal(float32ToBfloat16Bits(1), 0x3f80);
  assert.equal(float32ToBfloat16Bits(-2), 0xc000);
  // 1 + 2^-8 is exactly halfway between 1 and 1 + 2^-7: ties to even (1).
  assert.equal(float32ToBfloat16Bits(1 + 2 ** -8), 0x3f80);
  assert.equal(float32ToBfloat16Bits(1 + 3 * 2 ** -8), 0x3f82);
  assert.equal(float32ToBfloat16Bits(Infinity), 0x7f80);
  assert.equal(float32ToBfloat16Bits(NaN) & 0x7fc0, 0x7fc0);
});

test('refuses malformed files with the file name and the reason', () => {
  const ok = { t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const eight = new Uint8Array(8);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['shorter than the length field', new Uint8Array(5), /m\.st: truncated: 5 bytes/],
    ['header length over the bound', file(ok, eight, MAX_HEADER_BYTES + 1), /exceeds the 100000000-byte limit/],
    ['header past the end', file(ok, eight, 4096), /truncated: header says 4096 bytes/],
    ['header not JSON', file('{"t": ', eight), /not valid UTF-8 JSON/],
    ['header an array', file([1, 2]), /not a JSON object/],
    ['unknown dtype', file({ t: { dtype: 'F12', shape: [2], data_offsets: [0, 8] } }, eight), /"t": unknown dtype "F12"/],
    ['size does not match the dtype', file({ t: { dtype: 'F16', shape: [2], data_offsets: [0, 8] } }, eight), /8 bytes stored but shape \[2\] of F16 needs 4/],
    ['bad shape', file({ t: { dtype: 'F32', shape: [-1], data_offsets: [0, 8] } }, eight), /shape \[-1\] is not a list/],
    ['reversed offsets', file({ t: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, eight), /data_offsets \[8,0\]/],
    [
      'gap between tensors',
      file({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, new Uint8Array(12)),
      /"b" starts at byte 8, leaving a gap after byte 4/,
    ],
    [
      'overlapping tensors',
      file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, eight),
      /"b" overlaps/,
    ],
    ['truncated data', file(ok, new Uint8Array(6)), /truncated: tensor "t" ends at data byte 8 but the file holds only 6/],
    ['bytes after the last tensor', file(ok, new Uint8Array(12)), /4 bytes after the last tensor/],
    ['metadata not strings', file({ ...ok, __metadata__: { a: 1 } }, eight), /"__metadata__"\.a is not a string/],
  ];
  for (const [what, bytes, re] of cases) assert.throws(() => new SafetensorsFile(bytes, 'm.st'), re, what);
  const ints = new SafetensorsFile(file({ t: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, eight), 'm.st');
  assert.throws(() => ints.float32('t'), /m\.st: tensor "t" has dtype I64/);
  assert.throws(() => ints.float32('nope'), /m\.st: no tensor "nope"/);
});

test('the writer refuses bad input', () => {
  assert.throws(() => writeSafetensors([{ name: 'a', shape: [3], data: new Float32Array(2) }]), /needs 3 values, got 2/);
  assert.throws(() => writeSafetensors([{ name: 'a', shape: [1], data: new Float32Array(1) }, { name: 'a', shape: [1], data: new Float32Array(1) }]), /given twice/);
  assert.throws(() => writeSafetensors([{ name: '__metadata__', shape: [1], data: new Float32Array(1) }]), /invalid tensor name/);
});

test('reads from a Node Buffer inside a larger pool (views, not copies, of the input)', () => {
  const bytes = writeSafetensors([{ name: 'x', shape: [3], data: Float32Array.of(1, 2, 3) }, { name: 'y', shape: [2], data: Float32Array.of(4, 5) }]);
  const pool = Buffer.alloc(bytes.byteLength + 13);
  pool.set(bytes, 5);
  const f = new SafetensorsFile(pool.subarray(5, 5 + bytes.byteLength));
  assert.deepEqual(f.float32('x'), Float32Array.of(1, 2, 3));
  assert.deepEqual(f.float32('y'), Float32Array.of(4, 5));
});
