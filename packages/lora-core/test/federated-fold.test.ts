import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addScaled, scaledCopy, sortSmall, sumOfSquares, trimmedMeanOfColumns } from '../src/federated/fold';
import { seededRandom } from '../src/federated/random';
import { agreementWith, leaveOneOutAgreement, pairwiseAgreement } from '../src/federated/robust';
import { HEAD } from '../src/lora/adapter-state';
import type { AdapterState } from '../src/lora/adapter-state';

const bits = (a: Float64Array) => [...new BigUint64Array(a.buffer, a.byteOffset, a.length)];

describe('fold kernels', () => {
  it('sortSmall orders exactly as Float64Array.prototype.sort (ties, -0 before +0, NaN last, large counts)', () => {
    const random = seededRandom(5);
    const pool = [0, -0, 1, -1, 1e-30, -1e-30, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0.5];
    for (let trial = 0; trial < 2000; trial++) {
      const n = trial < 1800 ? 1 + (trial % 12) : 33 + (trial % 20);
      const values = Float64Array.from({ length: n }, () => (random() < 0.6 ? pool[Math.floor(random() * pool.length)]! : random() - 0.5));
      const expected = values.slice().sort();
      // Extra slots past n must be left alone.
      const padded = new Float64Array(n + 2).fill(7);
      padded.set(values);
      sortSmall(padded, n);
      assert.deepEqual(bits(padded.subarray(0, n)), bits(expected), `trial ${trial}: [${[...values].join(', ')}]`);
      assert.deepEqual([...padded.subarray(n)], [7, 7]);
    }
  });

  it('addScaled, sumOfSquares and scaledCopy compute what their one-line loops do', () => {
    const x = Float32Array.from([1.5, -2, 3.25, 1e-8]);
    const acc = Float64Array.from([1, 1, 1, 1]);
    addScaled(acc, 0.25, x);
    assert.deepEqual([...acc], [1 + 0.25 * 1.5, 1 - 0.5, 1 + 0.25 * 3.25, 1 + 0.25 * x[3]!]);
    assert.equal(sumOfSquares(x, 2), 2 + 1.5 ** 2 + 4 + 3.25 ** 2 + x[3]! * x[3]!);
    assert.deepEqual([...scaledCopy(x, 0.1)], [...x.map((v) => v * 0.1)]);
  });

  it('trimmedMeanOfColumns gives the bits of sort-then-sum for every count and trim (the five-member median network included)', () => {
    const random = seededRandom(8);
    const pool = [0, -0, 1, -1, 0.25, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
    for (const n of [1, 2, 3, 4, 5, 6, 7, 9, 40]) {
      for (let trim = 0; 2 * trim < n; trim++) {
        const len = 3000;
        const columns = Array.from({ length: n }, () => Float32Array.from({ length: len }, () => (random() < 0.5 ? pool[Math.floor(random() * pool.length)]! : random() - 0.5)));
        const out = new Float32Array(len);
        trimmedMeanOfColumns(columns, trim, out);
        const expected = new Float32Array(len);
        for (let i = 0; i < len; i++) {
          const sorted = Float64Array.from(columns, (c) => c[i]!).sort();
          let sum = 0;
          for (let j = trim; j < n - trim; j++) sum += sorted[j]!;
          expected[i] = sum / (n - 2 * trim);
        }
        assert.deepEqual([...new Uint32Array(out.buffer)], [...new Uint32Array(expected.buffer)], `n ${n}, trim ${trim}`);
      }
    }
  });

  it('leave-one-out agreement of 2–8 uploads (the sorting networks and the general loop) has the bits of its definition, ties and ±0 included', () => {
    const random = seededRandom(21);
    const pool = [0, -0, 0.5, -0.5, 1e-3];
    for (const m of [2, 3, 4, 5, 6, 7, 8]) {
      const len = 4000;
      const updates = Array.from({ length: m }, (_, j) => ({
        deviceId: `u${j}`,
        numSamples: 1,
        delta: new Map([[HEAD, new Map([['W', { shape: [len], data: Float32Array.from({ length: len }, () => (random() < 0.4 ? pool[Math.floor(random() * pool.length)]! : random() - 0.45)) }]])]]) as AdapterState,
      }));
      // The definition: per coordinate, each value against the median of the other m - 1.
      const sums = updates.map(() => ({ dot: 0, self: 0, ref: 0, cross: 0 }));
      for (let i = 0; i < len; i++) {
        for (let j = 0; j < m; j++) {
          const x = updates[j]!.delta.get('head')!.get('W')!.data[i]!;
          const others = Float64Array.from(updates.filter((_, k) => k !== j), (u) => u.delta.get('head')!.get('W')!.data[i]!).sort();
          const h = others.length >> 1;
          const r = others.length % 2 === 1 ? others[h]! : (others[h - 1]! + others[h]!) / 2;
          const acc = sums[j]!;
          acc.dot += x * r;
          acc.self += x * x;
          acc.ref += r * r;
          acc.cross += x * x * r * r;
        }
      }
      const expected = sums.map((a) => ({ cosine: a.dot / Math.sqrt(a.self * a.ref), sigma: Math.sqrt(a.cross) / Math.sqrt(a.self * a.ref) }));
      assert.deepEqual(leaveOneOutAgreement(updates), expected, `${m} uploads`);
    }
  });

  it('pairwise agreement of same-layout uploads (Σx² once per upload) has the bits of agreementWith, pair by pair', () => {
    const random = seededRandom(33);
    const make = (blocks: readonly string[]): AdapterState =>
      new Map(blocks.map((k) => [k, new Map(['A', 'B'].map((n) => [n, { shape: [700], data: Float32Array.from({ length: 700 }, () => random() - 0.5) }]))])) as AdapterState;
    const updates = [['0', 'head'], ['0', 'head'], ['head'], ['0', 'head'], ['head', '0']].map((blocks, i) => ({ deviceId: `p${i}`, numSamples: 1, delta: make(blocks) }));
    const pairs = pairwiseAgreement(updates);
    for (let i = 0; i < updates.length; i++) {
      for (let j = 0; j < updates.length; j++) {
        if (i !== j) assert.deepEqual(pairs[i]![j], agreementWith(updates[Math.min(i, j)]!.delta, updates[Math.max(i, j)]!.delta), `pair ${i}, ${j}`);
      }
    }
  });
});

