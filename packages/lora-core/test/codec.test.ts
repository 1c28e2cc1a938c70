import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AdapterState, BlockKey, NamedArray } from '../src/lora/adapter-state';
import { trainedBlockKeys } from '../src/lora/adapter-state';
import {
  AdapterCodecError,
  decodeAdapter,
  encodeAdapter,
  findNonFinite,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  shapesOf,
  validateAdapter,
} from '../src/protocol';
import { seededRandom } from '../src/federated/random';

function tensor(shape: number[], fill: (i: number) => number): NamedArray {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from({ length: n }, (_, i) => fill(i)) };
}

/** Odd sizes on purpose, so fp16 payloads need padding to keep the next tensor aligned. */
function sampleState(seed = 1): AdapterState {
  const random = seededRandom(seed);
  const gauss = () => (random() - 0.5) * 0.2;
  return new Map<BlockKey, Map<string, NamedArray>>([
    ['2', new Map([['qkv.A', tensor([3, 5], gauss)], ['qkv.B', tensor([7, 3], gauss)]])],
    ['3', new Map([['ffn.A', tensor([1, 1], gauss)], ['ffn.B', tensor([0, 4], gauss)]])],
    ['head', new Map([['W', tensor([5, 3], gauss)], ['b', tensor([3], gauss)], ['scalar', tensor([], () => 42)]])],
  ]);
}

function assertSameStructure(a: AdapterState, b: AdapterState): void {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, tensors] of a) {
    const other = b.get(k)!;
    assert.deepEqual([...tensors.keys()], [...other.keys()]);
    for (const [n, t] of tensors) assert.deepEqual([...other.get(n)!.shape], [...t.shape], `${k}/${n}`);
  }
}

/** Exact IEEE reference for float32 -> float16 (RNE) using float64 arithmetic, independent of the bit tricks. */
function referenceHalf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a === 0 || a === Infinity) return x;
  let e = Math.max(-14, Math.floor(Math.log2(a)));
  if (e > -14) {
    while (2 ** e > a) e--;
    while (2 ** (e + 1) <= a) e++;
    e = Math.max(-14, e);
  }
  const ulp = 2 ** (e - 10);
  const q = a / ulp;
  const fl = Math.floor(q);
  const frac = q - fl;
  const rounded = frac > 0.5 || (frac === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  const value = rounded * ulp;
  return Math.sign(x) * (value > 65504 ? Infinity : value);
}

describe('float16 conversion', () => {
  it('every half bit pattern survives half -> float -> half (NaNs stay NaN)', () => {
    for (let h = 0; h < 0x10000; h++) {
      const f = float16BitsToFloat32(h);
      const isNaNPattern = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaNPattern) assert.ok(Number.isNaN(f), `0x${h.toString(16)}`);
      else assert.equal(float32ToFloat16Bits(f), h, `0x${h.toString(16)} -> ${f}`);
    }
  });

  it('known values: max, smallest subnormal, smallest normal, signed zero, overflow, underflow', () => {
    assert.equal(float16BitsToFloat32(0x7bff), 65504);
    assert.equal(float16BitsToFloat32(0x0001), 2 ** -24);
    assert.equal(float16BitsToFloat32(0x0400), 2 ** -14);
    assert.equal(float32ToFloat16Bits(-0), 0x8000);
    assert.equal(float32ToFloat16Bits(65520), 0x7c00); // halfway between max and 2^16 rounds to even = Infinity
    assert.equal(float32ToFloat16Bits(65519), 0x7bff);
    assert.equal(float32ToFloat16Bits(-1e10), 0xfc00);
    assert.equal(float32ToFloat16Bits(2 ** -25), 0x0000); // tie between 0 and 2^-24: even is 0
    assert.equal(float32ToFloat16Bits(2 ** -25 * 1.5), 0x0001);
    assert.equal(float32ToFloat16Bits(-Infinity), 0xfc00);
    assert.equal(float32ToFloat16Bits(NaN) & 0x7e00, 0x7e00);
    assert.equal(float32ToFloat16Bits(1 + 2 ** -11), 0x3c00); // tie, 1.0 is even
    assert.equal(float32ToFloat16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie, rounds up to even
  });

  it('matches an arithmetic round-to-nearest-even reference on random float32 bit patterns', () => {
    const random = seededRandom(7);
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    for (let i = 0; i < 200_000; i++) {
      // Bias exponents towards the half range so subnormals, ties and overflow all occur.
      const exponent = 127 - 30 + Math.floor(random() * 50);
      u32[0] = ((random() < 0.5 ? 1 : 0) << 31) | (exponent << 23) | Math.floor(random() * 0x800000);
      const x = f32[0]!;
      const got = float16BitsToFloat32(float32ToFloat16Bits(x));
      assert.ok(Object.is(got, referenceHalf(x)) || got === referenceHalf(x), `${x}: got ${got}, want ${referenceHalf(x)}`);
    }
  });
});

describe('adapter codec', () => {
  it('round-trips float32 exactly, including NaN, ±Infinity and -0, preserving order and shapes', () => {
    const state = sampleState();
    const head = state.get('head')!.get('W')!.data;
    head[0] = NaN;
    head[1] = Infinity;
    head[2] = -Infinity;
    head[3] = -0;
    const decoded = decodeAdapter(encodeAdapter(state));
    assertSameStructure(state, decoded);
    for (const [k, tensors] of state) {
      for (const [n, t] of tensors) {
        const d = decoded.get(k)!.get(n)!.data;
        assert.equal(d.length, t.data.length);
        for (let i = 0; i < d.length; i++) assert.ok(Object.is(d[i], t.data[i]), `${k}/${n}[${i}]`);
      }
    }
  });

  it('round-trips float16 within half precision and with half the payload', () => {
    const state = sampleState(3);
    const f32 = encodeAdapter(state);
    const f16 = encodeAdapter(state, { dtype: 'float16' });
    assert.ok(f16.byteLength < f32.byteLength);
    const decoded = decodeAdapter(f16);
    assertSameStructure(state, decoded);
    for (const [k, tensors] of state) {
      for (const [n, t] of tensors) {
        const d = decoded.get(k)!.get(n)!.data;
        for (let i = 0; i < d.length; i++) {
          const x = t.data[i]!;
          assert.ok(Math.abs(d[i]! - x) <= Math.max(Math.abs(x) * 2 ** -11, 2 ** -25), `${k}/${n}[${i}]: ${x} vs ${d[i]}`);
        }
      }
    }
  });

  it('views the input when aligned, copies when not, and decodes the same values both ways', () => {
    const buffer = encodeAdapter(sampleState());
    const aligned = decodeAdapter(buffer);
    assert.equal(aligned.get('2')!.get('qkv.A')!.data.buffer, buffer, 'aligned float32 decodes as a view');
    assert.notEqual(decodeAdapter(buffer, { copy: true }).get('2')!.get('qkv.A')!.data.buffer, buffer);

    const shifted = new Uint8Array(buffer.byteLength + 1);
    shifted.set(new Uint8Array(buffer), 1);
    const view = shifted.subarray(1);
    const unaligned = decodeAdapter(view);
    const t = unaligned.get('2')!.get('qkv.A')!.data;
    assert.notEqual(t.buffer, shifted.buffer);
    assert.deepEqual(t, aligned.get('2')!.get('qkv.A')!.data);
  });

  it('round-trips an empty state', () => {
    assert.equal(decodeAdapter(encodeAdapter(new Map())).size, 0);
  });

  it('refuses to encode a tensor whose data does not match its shape', () => {
    const bad: AdapterState = new Map([['head', new Map([['W', { shape: [2, 2], data: new Float32Array(3) }]])]]);
    assert.throws(() => encodeAdapter(bad), AdapterCodecError);
  });
});

/** Builds a buffer with a hand-written header, to reach each validation path. */
function craft(header: unknown, payloadBytes: number, opts: { magic?: string; version?: number; headerLength?: number } = {}): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const start = (12 + json.length + 3) & ~3;
  const out = new Uint8Array(start + payloadBytes);
  const view = new DataView(out.buffer);
  const magic = opts.magic ?? 'TFAD';
  for (let i = 0; i < 4; i++) out[i] = magic.charCodeAt(i);
  view.setUint16(4, opts.version ?? 1, true);
  view.setUint32(8, opts.headerLength ?? json.length, true);
  out.set(json, 12);
  return out;
}

const goodTensor = { name: 'W', shape: [2, 2], offset: 0, length: 4 };

describe('adapter codec validation', () => {
  const cases: Array<[string, () => Uint8Array, RegExp]> = [
    ['too short for the preamble', () => new Uint8Array(5), /truncated/],
    ['bad magic', () => craft({ dtype: 'float32', payloadBytes: 0, blocks: [] }, 0, { magic: 'NOPE' }), /bad magic/],
    ['unknown version', () => craft({ dtype: 'float32', payloadBytes: 0, blocks: [] }, 0, { version: 9 }), /version 9/],
    ['header length beyond buffer', () => craft({ dtype: 'float32', payloadBytes: 0, blocks: [] }, 0, { headerLength: 10_000 }), /header length/],
    ['malformed JSON', () => craft('{"dtype": "float32", ', 0), /malformed header JSON/],
    ['invalid UTF-8 in header', () => {
      const b = craft('{"x":1}', 0);
      b[13] = 0xff;
      return b;
    }, /malformed header JSON/],
    ['header is an array', () => craft([1, 2], 0), /not a JSON object/],
    ['unknown dtype', () => craft({ dtype: 'int8', payloadBytes: 0, blocks: [] }, 0), /unknown dtype/],
    ['shape/size mismatch', () => craft({ dtype: 'float32', payloadBytes: 16, blocks: [{ key: 'head', tensors: [{ ...goodTensor, length: 5 }] }] }, 16), /shape\/size mismatch/],
    ['negative dimension', () => craft({ dtype: 'float32', payloadBytes: 16, blocks: [{ key: 'head', tensors: [{ ...goodTensor, shape: [-2, -2] }] }] }, 16), /invalid shape dimension/],
    ['tensor past the payload', () => craft({ dtype: 'float32', payloadBytes: 8, blocks: [{ key: 'head', tensors: [goodTensor] }] }, 8), /running past/],
    ['truncated payload', () => craft({ dtype: 'float32', payloadBytes: 16, blocks: [{ key: 'head', tensors: [goodTensor] }] }, 12), /truncated/],
    ['trailing bytes', () => craft({ dtype: 'float32', payloadBytes: 16, blocks: [{ key: 'head', tensors: [goodTensor] }] }, 20), /trailing/],
    ['huge declared size', () => craft({ dtype: 'float32', payloadBytes: 16, blocks: [{ key: 'head', tensors: [{ name: 'W', shape: [2 ** 20, 2 ** 20], offset: 0, length: 2 ** 40 }] }] }, 16), /running past/],
    ['size beyond safe integers', () => craft({ dtype: 'float32', payloadBytes: 16, blocks: [{ key: 'head', tensors: [{ name: 'W', shape: [2 ** 30, 2 ** 30, 2 ** 30], offset: 0, length: 1 }] }] }, 16), /absurdly large/],
    ['unaligned offset', () => craft({ dtype: 'float32', payloadBytes: 20, blocks: [{ key: 'head', tensors: [{ ...goodTensor, offset: 2 }] }] }, 20), /aligned/],
    ['overlapping tensors', () => craft({ dtype: 'float32', payloadBytes: 16, blocks: [{ key: 'head', tensors: [goodTensor, { ...goodTensor, name: 'V' }] }] }, 16), /overlaps/],
    ['bad block key', () => craft({ dtype: 'float32', payloadBytes: 0, blocks: [{ key: '01', tensors: [] }] }, 0), /invalid block key/],
    ['duplicate block key', () => craft({ dtype: 'float32', payloadBytes: 0, blocks: [{ key: '1', tensors: [] }, { key: '1', tensors: [] }] }, 0), /duplicate block/],
    ['duplicate tensor', () => craft({ dtype: 'float32', payloadBytes: 32, blocks: [{ key: 'head', tensors: [goodTensor, { ...goodTensor, offset: 16 }] }] }, 32), /duplicate tensor/],
  ];
  for (const [name, build, reason] of cases) {
    it(`rejects: ${name}`, () => {
      assert.throws(() => decodeAdapter(build()), (e: unknown) => e instanceof AdapterCodecError && reason.test(e.message));
    });
  }

  it('the crafted header decodes when it is right (so the cases above fail for their stated reason)', () => {
    const b = craft({ dtype: 'float32', payloadBytes: 16, blocks: [{ key: 'head', tensors: [goodTensor] }] }, 16);
    assert.deepEqual([...decodeAdapter(b).get('head')!.get('W')!.shape], [2, 2]);
  });

  it('enforces maxBytes on the buffer and on the decoded size of float16 payloads', () => {
    const state = sampleState();
    const f32 = encodeAdapter(state);
    assert.throws(() => decodeAdapter(f32, { maxBytes: f32.byteLength - 1 }), /exceeds the limit/);
    assert.equal(decodeAdapter(f32, { maxBytes: f32.byteLength }).size, 3);
    const big: AdapterState = new Map([['head', new Map([['W', tensor([1000], () => 1)]])]]);
    const f16 = encodeAdapter(big, { dtype: 'float16' });
    assert.ok(f16.byteLength < 3000);
    assert.throws(() => decodeAdapter(f16, { maxBytes: 3000 }), /decode to more than/);
  });

  it('fuzz: random, truncated and bit-flipped buffers either decode or throw AdapterCodecError', () => {
    const random = seededRandom(11);
    const valid = [new Uint8Array(encodeAdapter(sampleState(5))), new Uint8Array(encodeAdapter(sampleState(6), { dtype: 'float16' }))];
    const inputs: Uint8Array[] = [];
    for (const v of valid) {
      for (let len = 0; len < v.length; len++) inputs.push(v.slice(0, len));
      for (let k = 0; k < 1500; k++) {
        const m = v.slice();
        const flips = 1 + Math.floor(random() * 4);
        for (let f = 0; f < flips; f++) m[Math.floor(random() * m.length)] = Math.floor(random() * 256);
        inputs.push(m);
      }
    }
    for (let k = 0; k < 1000; k++) {
      const m = new Uint8Array(Math.floor(random() * 300));
      for (let i = 0; i < m.length; i++) m[i] = Math.floor(random() * 256);
      if (random() < 0.5 && m.length >= 12) m.set([0x54, 0x46, 0x41, 0x44, 1, 0, 0, 0], 0); // get past the magic/version checks
      inputs.push(m);
    }
    let decoded = 0;
    let rejected = 0;
    for (const input of inputs) {
      try {
        decodeAdapter(input, { maxBytes: 1 << 20 });
        decoded++;
      } catch (e) {
        assert.ok(e instanceof AdapterCodecError, `unexpected ${String(e)}`);
        rejected++;
      }
    }
    assert.ok(decoded > 0 && rejected > inputs.length / 2, `decoded ${decoded}, rejected ${rejected}`);
  });
});

describe('adapter validation helpers', () => {
  const numBlocks = 4;
  const global: AdapterState = new Map<BlockKey, Map<string, NamedArray>>(
    (['0', '1', '2', '3', 'head'] as BlockKey[]).map((k) => [k, new Map([['A', tensor([2, 3], () => 0)], ['B', tensor([3, 2], () => 0)]])]),
  );
  const expectation = { blockKeys: trainedBlockKeys(numBlocks, 2), shapes: shapesOf(global) };
  const delta = (keys: BlockKey[]): AdapterState =>
    new Map(keys.map((k) => [k, new Map([['A', tensor([2, 3], (i) => i)], ['B', tensor([3, 2], (i) => -i)]])]));

  it('accepts a delta with exactly the blocks of its depth and the right shapes', () => {
    assert.deepEqual(validateAdapter(delta(['2', '3', 'head']), expectation), []);
  });

  it('reports missing and unexpected blocks, missing/unexpected tensors and wrong shapes', () => {
    assert.deepEqual(validateAdapter(delta(['3', 'head', '1']), expectation), ['missing block "2"', 'unexpected block "1"']);
    const d = delta(['2', '3', 'head']);
    d.get('2')!.delete('B');
    d.get('3')!.set('C', tensor([1], () => 0));
    d.get('head')!.set('A', tensor([3, 2], () => 0));
    assert.deepEqual(validateAdapter(d, expectation), [
      'missing tensor "2/B"',
      'unexpected tensor "3/C"',
      'shape of "head/A" is [3, 2], expected [2, 3]',
    ]);
    const lying = delta(['2', '3', 'head']);
    lying.get('2')!.set('A', { shape: [2, 3], data: new Float32Array(5) });
    assert.deepEqual(validateAdapter(lying, expectation), ['"2/A" holds 5 values, its shape needs 6']);
  });

  it('findNonFinite locates NaN and Infinity, and finds nothing in finite states', () => {
    const d = delta(['2', '3', 'head']);
    assert.deepEqual(findNonFinite(d), []);
    d.get('3')!.get('B')!.data[4] = NaN;
    d.get('head')!.get('A')!.data[1] = -Infinity;
    const first = findNonFinite(d);
    assert.equal(first.length, 1);
    assert.equal(first[0]!.blockKey, '3');
    assert.equal(first[0]!.name, 'B');
    assert.equal(first[0]!.index, 4);
    assert.deepEqual(findNonFinite(d, 10).map((x) => [x.blockKey, x.name, x.index, x.value]), [
      ['3', 'B', 4, NaN],
      ['head', 'A', 1, -Infinity],
    ]);
  });
});
