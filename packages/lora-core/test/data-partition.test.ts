import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createPartitioner,
  DirichletPartitioner,
  IidPartitioner,
  jsDivergence,
  KClassPartitioner,
  labelHistogram,
  largestRemainder,
  meanLabelSkew,
} from '../src/data/partition';
import type { Partitioner } from '../src/data/partition';
import { createRng } from '../src/data/random';

/** Imbalanced synthetic labels: class c has roughly (numClasses - c) shares, shuffled. */
function syntheticLabels(n: number, numClasses: number, seed = 1): Int32Array {
  const weights = Array.from({ length: numClasses }, (_, c) => numClasses - c);
  const counts = largestRemainder(weights.map((w) => w / weights.reduce((s, x) => s + x, 0)), n);
  const labels: number[] = [];
  counts.forEach((k, c) => labels.push(...new Array<number>(k).fill(c)));
  return Int32Array.from(createRng(seed).shuffle(labels));
}

function checkInvariants(parts: Int32Array[], p: Partitioner, n: number, expectAll: boolean) {
  assert.equal(parts.length, p.numPartitions);
  const seen = new Uint8Array(n);
  for (const part of parts) {
    assert.ok(part.length > 0, 'empty device');
    for (let i = 0; i < part.length; i++) {
      const idx = part[i] as number;
      assert.ok(idx >= 0 && idx < n);
      assert.equal(seen[idx], 0, `sample ${idx} assigned twice`);
      seen[idx] = 1;
      if (i > 0) assert.ok(idx > (part[i - 1] as number), 'indices ascending');
    }
  }
  if (expectAll) assert.ok(seen.every((s) => s === 1), 'every sample assigned');
}

const labels = syntheticLabels(2000, 10);

test('labelHistogram counts labels of the given indices', () => {
  const l = Int32Array.from([0, 2, 2, 1, 2, 0]);
  assert.deepEqual(labelHistogram(l, [1, 2, 5], 3), [1, 0, 2]);
  assert.deepEqual(labelHistogram(l, Int32Array.from([]), 3), [0, 0, 0]);
  assert.throws(() => labelHistogram(l, [6], 3), RangeError);
  assert.throws(() => labelHistogram(l, [1], 2), RangeError);
});

test('jsDivergence: 0 for equal distributions, 1 bit for disjoint ones, symmetric', () => {
  assert.equal(jsDivergence([1, 2, 3], [2, 4, 6]), 0);
  assert.ok(Math.abs(jsDivergence([1, 0], [0, 5]) - 1) < 1e-12);
  assert.equal(jsDivergence([1, 3, 0], [2, 1, 1]), jsDivergence([2, 1, 1], [1, 3, 0]));
});

test('largestRemainder sums exactly and rounds proportionally', () => {
  assert.deepEqual(largestRemainder([0.5, 0.25, 0.25], 7), [3, 2, 2]); // 3.5, 1.75, 1.75: the .75s win
  assert.deepEqual(largestRemainder([1 / 3, 1 / 3, 1 / 3], 10), [4, 3, 3]);
  assert.equal(largestRemainder([0.1, 0.7, 0.2], 1).reduce((s, x) => s + x, 0), 1);
});

test('IidPartitioner: balanced sizes, full coverage, deterministic, near-global label mix', () => {
  const p = new IidPartitioner({ numPartitions: 7, seed: 3 });
  const parts = p.partition(labels, 10);
  checkInvariants(parts, p, labels.length, true);
  const sizes = parts.map((x) => x.length);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
  assert.deepEqual(p.partition(labels, 10), parts);
  assert.notDeepEqual(new IidPartitioner({ numPartitions: 7, seed: 4 }).partition(labels, 10), parts);
  assert.ok(meanLabelSkew(labels, parts, 10) < 0.02);
  assert.throws(() => new IidPartitioner({ numPartitions: 5 }).partition(Int32Array.from([0, 1]), 2), RangeError);
});

test('DirichletPartitioner: coverage, determinism, and skew that grows as alpha falls', () => {
  const skews: number[] = [];
  for (const alpha of [100, 1, 0.3, 0.05]) {
    const p = new DirichletPartitioner({ numPartitions: 20, alpha, seed: 42 });
    const parts = p.partition(labels, 10);
    checkInvariants(parts, p, labels.length, true);
    assert.deepEqual(new DirichletPartitioner({ numPartitions: 20, alpha, seed: 42 }).partition(labels, 10), parts);
    skews.push(meanLabelSkew(labels, parts, 10));
  }
  console.log(`mean JS divergence from global, alpha 100/1/0.3/0.05: ${skews.map((s) => s.toFixed(3)).join(' / ')}`);
  for (let i = 1; i < skews.length; i++) assert.ok((skews[i] as number) > (skews[i - 1] as number), skews.join(' < '));
  assert.ok((skews[0] as number) < 0.05 && (skews[3] as number) > 0.4);
});

test('DirichletPartitioner: tiny alpha and many devices still leave no device under the minimum', () => {
  const few = syntheticLabels(60, 3, 5);
  for (const seed of [1, 2, 3]) {
    const p = new DirichletPartitioner({ numPartitions: 30, alpha: 0.01, seed });
    const parts = p.partition(few, 3);
    checkInvariants(parts, p, few.length, true);
    const p2 = new DirichletPartitioner({ numPartitions: 12, alpha: 0.01, seed, minPerPartition: 5 });
    const parts2 = p2.partition(few, 3);
    checkInvariants(parts2, p2, few.length, true);
    assert.ok(parts2.every((x) => x.length >= 5), parts2.map((x) => x.length).join(','));
  }
  assert.throws(() => new DirichletPartitioner({ numPartitions: 61, alpha: 1 }).partition(few, 3), RangeError);
  assert.throws(() => new DirichletPartitioner({ numPartitions: 2, alpha: 0 }), RangeError);
});

test('KClassPartitioner: every device holds exactly k classes, all classes used, samples split evenly', () => {
  for (const [numPartitions, k] of [
    [10, 2],
    [7, 3],
    [25, 1],
  ] as const) {
    const p = new KClassPartitioner({ numPartitions, classesPerPartition: k, seed: 42 });
    const parts = p.partition(labels, 10);
    checkInvariants(parts, p, labels.length, numPartitions * k >= 10);
    const holders = new Array<number>(10).fill(0);
    for (const part of parts) {
      const hist = labelHistogram(labels, part, 10);
      assert.equal(hist.filter((h) => h > 0).length, k);
      hist.forEach((h, c) => (holders[c] = (holders[c] as number) + (h > 0 ? 1 : 0)));
    }
    // Classes are shared as evenly as possible among devices.
    assert.ok(Math.max(...holders) - Math.min(...holders) <= 1, holders.join(','));
    assert.deepEqual(p.partition(labels, 10), parts);
  }
  const p = new KClassPartitioner({ numPartitions: 10, classesPerPartition: 2, seed: 42 });
  assert.ok(meanLabelSkew(labels, p.partition(labels, 10), 10) > 0.4);
});

test('KClassPartitioner: fewer slots than classes leaves whole classes out; impossible layouts throw', () => {
  const p = new KClassPartitioner({ numPartitions: 3, classesPerPartition: 2, seed: 1 });
  const parts = p.partition(labels, 10);
  checkInvariants(parts, p, labels.length, false);
  const used = labelHistogram(labels, parts.flatMap((x) => Array.from(x)), 10).filter((h) => h > 0).length;
  assert.equal(used, 6);
  // Class 3 is absent: only 9 classes present.
  const gappy = Int32Array.from([0, 1, 2, 4, 5, 6, 7, 8, 9, 0]);
  assert.throws(() => new KClassPartitioner({ numPartitions: 2, classesPerPartition: 10 }).partition(gappy, 10), /9 classes present/);
  // 5 devices each holding the only class: the class has 2 samples.
  assert.throws(() => new KClassPartitioner({ numPartitions: 5, classesPerPartition: 1 }).partition(Int32Array.from([0, 0]), 1), /2 sample/);
});

test('createPartitioner builds each scheme from a plain spec', () => {
  const a = createPartitioner({ scheme: 'dirichlet', numPartitions: 5, alpha: 0.5, seed: 9 });
  assert.ok(a instanceof DirichletPartitioner);
  assert.deepEqual(a.partition(labels, 10), new DirichletPartitioner({ numPartitions: 5, alpha: 0.5, seed: 9 }).partition(labels, 10));
  assert.ok(createPartitioner({ scheme: 'iid', numPartitions: 3 }) instanceof IidPartitioner);
  assert.ok(createPartitioner({ scheme: 'k-class', numPartitions: 3, classesPerPartition: 2 }) instanceof KClassPartitioner);
});
