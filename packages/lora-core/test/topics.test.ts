/** Topic clusters for causal-LM grouping: seeded k-means is deterministic and finds separated clusters; the histogram counts nearest centroids; real USE-lite embeddings of rows. */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { createRng } from '../src/data/random';
import { embedRowsForTopics, kMeans, topicHistogram, topicNames, topicText, type Embeddings } from '../src/objective/causal-lm';
import { realEncoder } from './helpers';

/** `perCluster` noisy points around each of `centres` (unit-normalised like the encoder's output). */
function blobs(centres: number[][], perCluster: number, noise: number, seed: number): { e: Embeddings; truth: number[] } {
  const rng = createRng(seed);
  const dim = centres[0]!.length;
  const values = new Float32Array(centres.length * perCluster * dim);
  const truth: number[] = [];
  let i = 0;
  for (const [c, centre] of centres.entries()) {
    for (let p = 0; p < perCluster; p++, i++) {
      let s = 0;
      for (let j = 0; j < dim; j++) {
        const v = centre[j]! + noise * rng.normal();
        values[i * dim + j] = v;
        s += v * v;
      }
      for (let j = 0; j < dim; j++) values[i * dim + j]! /= Math.sqrt(s);
      truth.push(c);
    }
  }
  return { e: { values, count: i, dim }, truth };
}

const CENTRES = [
  [1, 0, 0, 0, 0, 0],
  [0, 0, 1, 0, 0, 0],
  [0, 0, 0, 0, 1, 0],
];

test('seeded k-means: the same centroids for the same seed, bit for bit; each separated cluster found', () => {
  const { e, truth } = blobs(CENTRES, 30, 0.15, 7);
  const a = kMeans(e, 3, 11);
  const b = kMeans(e, 3, 11);
  assert.deepEqual(a, b);
  assert.equal(a.length, 3);
  assert.ok(a.every((c) => c.length === 6));
  // Every true cluster lands in one k-means cluster, and different ones in different clusters.
  const h = topicHistogram(e, a);
  assert.deepEqual([...h].sort(), [30, 30, 30]);
  const nearestOf = (i: number) => topicHistogram({ values: e.values.subarray(i * 6, (i + 1) * 6), count: 1, dim: 6 }, a).indexOf(1);
  const label = new Map<number, number>();
  truth.forEach((t, i) => {
    const c = nearestOf(i);
    if (!label.has(t)) label.set(t, c);
    assert.equal(c, label.get(t), `point ${i} of cluster ${t}`);
  });
  assert.equal(new Set(label.values()).size, 3);
  // Another seed: the same partition (cluster order may differ).
  assert.deepEqual([...topicHistogram(e, kMeans(e, 3, 12))].sort(), [30, 30, 30]);
});

test('the histogram counts rows at their nearest centroid (ties to the lower index) and refuses mismatched dimensions', () => {
  const e: Embeddings = { values: Float32Array.from([1, 0, 0.9, 0.1, 0, 1, 0.7071, 0.7071]), count: 4, dim: 2 };
  assert.deepEqual(topicHistogram(e, [[1, 0], [0, 1]]), [3, 1]);
  // The last row is equally near both: it goes to centroid 1 in either order.
  assert.deepEqual(topicHistogram(e, [[0, 1], [1, 0]]), [2, 2]);
  assert.throws(() => topicHistogram(e, [[1, 0, 0], [0, 1, 0]]), /topic centroid 1 has 3 dimensions, the embeddings 2/);
  assert.throws(() => kMeans(e, 5, 1), /needs at least 5 rows, got 4/);
  assert.throws(() => kMeans(e, 1, 1), /k >= 2/);
  assert.deepEqual(topicNames(3), ['topic 1', 'topic 2', 'topic 3']);
});

test('USE-lite embeddings of rows: unit vectors, deterministic; clusters of a topical mix; own rows histogrammed against them', async () => {
  const encoder = await realEncoder();
  const topics = {
    food: ['how do I bake bread at home', 'a recipe for tomato soup', 'what spices go well with chicken curry', 'how long should pasta boil', 'the best way to roast vegetables', 'how to make pancakes fluffy'],
    code: ['how do I reverse a linked list in python', 'explain recursion in javascript', 'what is a null pointer exception', 'how to write a unit test for a function', 'sort an array of integers in C', 'what does a compiler do'],
    sport: ['who won the football world cup', 'how many players are on a basketball team', 'the rules of tennis scoring', 'how to train for a marathon', 'what is offside in soccer', 'the history of the olympic games'],
  };
  const rows = Object.values(topics).flatMap((qs) => qs.map((q, i) => (i % 2 === 0 ? { prompt: q, response: 'here is an answer' } : { text: q })));
  assert.equal(topicText({ prompt: 'p', response: 'r' }), 'p\nr');
  const e = await embedRowsForTopics(encoder, rows, 32);
  assert.equal(e.count, rows.length);
  for (let i = 0; i < e.count; i++) {
    const n = Math.hypot(...e.values.subarray(i * e.dim, (i + 1) * e.dim));
    assert.ok(Math.abs(n - 1) < 1e-4, `row ${i}: norm ${n}`);
  }
  const again = await embedRowsForTopics(encoder, rows, 32);
  assert.deepEqual(again.values, e.values);
  const centroids = kMeans(e, 3, 5);
  assert.deepEqual(kMeans(again, 3, 5), centroids);
  const h = topicHistogram(e, centroids);
  assert.equal(h.reduce((a, b) => a + b, 0), rows.length);
  assert.ok(h.every((n) => n > 0), `every cluster has rows: ${h.join(', ')}`);
  // A device's rows about food only: counted against the shipped centroids, concentrated.
  const own = await embedRowsForTopics(encoder, topics.food.map((text) => ({ text })), 32);
  const ownH = topicHistogram(own, centroids);
  assert.equal(ownH.reduce((a, b) => a + b, 0), 6);
  console.log(`eval clusters ${h.join(', ')}; food-only device ${ownH.join(', ')}`);
});
