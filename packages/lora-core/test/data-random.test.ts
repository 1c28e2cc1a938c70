import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../src/data/random';

function draws(seed: number, count: number): number[] {
  const rng = createRng(seed);
  return Array.from({ length: count }, () => rng.next());
}

test('same seed gives the same stream, different seeds differ', () => {
  assert.deepEqual(draws(42, 50), draws(42, 50));
  assert.notDeepEqual(draws(42, 50), draws(43, 50));
  assert.notDeepEqual(draws(0, 50), draws(1, 50));
});

test('next() stays in [0, 1) and is roughly uniform', () => {
  const xs = draws(7, 20000);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
  const buckets = new Array<number>(10).fill(0);
  for (const x of xs) buckets[Math.floor(x * 10)]!++;
  for (const b of buckets) assert.ok(Math.abs(b - 2000) < 200, `bucket ${b}`);
});

test('int(n) covers exactly 0..n-1 and rejects bad n', () => {
  const rng = createRng(3);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) seen.add(rng.int(7));
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4, 5, 6]);
  assert.throws(() => rng.int(0), RangeError);
  assert.throws(() => rng.int(2.5), RangeError);
});

test('shuffle permutes in place, deterministically, and works on typed arrays', () => {
  const a = Array.from({ length: 100 }, (_, i) => i);
  const shuffled = createRng(5).shuffle([...a]);
  assert.notDeepEqual(shuffled, a);
  assert.deepEqual([...shuffled].sort((x, y) => x - y), a);
  assert.deepEqual(createRng(5).shuffle([...a]), shuffled);
  const typed = createRng(5).shuffle(Int32Array.from(a));
  assert.deepEqual(Array.from(typed), shuffled);
});

test('gamma(shape) has mean ≈ shape and variance ≈ shape, for shapes below and above 1', () => {
  const rng = createRng(11);
  for (const shape of [0.1, 0.5, 1, 3, 20]) {
    const n = 20000;
    const xs = Array.from({ length: n }, () => rng.gamma(shape));
    assert.ok(xs.every((x) => x >= 0 && Number.isFinite(x)));
    const mean = xs.reduce((s, x) => s + x, 0) / n;
    const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / n;
    assert.ok(Math.abs(mean - shape) < 0.05 * shape + 0.01, `shape ${shape}: mean ${mean}`);
    assert.ok(Math.abs(variance - shape) < 0.15 * shape + 0.01, `shape ${shape}: variance ${variance}`);
  }
  assert.throws(() => rng.gamma(0), RangeError);
});

test('dirichlet draws sum to 1 and concentrate more as alpha grows', () => {
  const rng = createRng(2);
  const maxShare = (alpha: number): number => {
    let total = 0;
    for (let i = 0; i < 500; i++) {
      const p = rng.dirichlet(new Array<number>(10).fill(alpha));
      assert.ok(Math.abs(p.reduce((s, x) => s + x, 0) - 1) < 1e-9);
      total += Math.max(...p);
    }
    return total / 500;
  };
  const small = maxShare(0.01);
  const mid = maxShare(1);
  const large = maxShare(100);
  assert.ok(small > 0.9, `alpha 0.01: mean max share ${small}`);
  assert.ok(small > mid && mid > large, `${small} > ${mid} > ${large}`);
  assert.ok(large < 0.2, `alpha 100: mean max share ${large}`);
});
