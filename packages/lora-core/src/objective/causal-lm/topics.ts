/**
 * Topic clusters for near-IID grouping of causal-LM tasks without a categorical field (issue 11):
 * the coordinator embeds its evaluation rows with the built-in sentence encoder (USE-lite, frozen,
 * no LoRA), runs seeded k-means on the unit-normalised embeddings and ships the centroids with the
 * task; a device embeds its own rows the same way and reports only how many fall nearest to each
 * centroid. Both sides go through `embedRowsForTopics`, so they see the same truncation.
 */
import { createRng } from '../../data/random';
import { extractFeatures } from '../../lora/features';
import { withMaxTokens } from '../../lora/max-tokens';
import type { TextEncoder } from '../../model/family';
import type { CausalLmRow } from './examples';

/** Histogram bin names of a task with `k` topic clusters (TaskInfo.classNames). */
export function topicNames(k: number): string[] {
  return Array.from({ length: k }, (_, i) => `topic ${i + 1}`);
}

/** The text a row is embedded as: its prompt and response, or its text. */
export function topicText(row: CausalLmRow): string {
  return 'text' in row ? row.text : `${row.prompt}\n${row.response}`;
}

/** Row-major [count, dim] unit vectors. */
export interface Embeddings {
  readonly values: Float32Array;
  readonly count: number;
  readonly dim: number;
}

function normalizeRows(values: Float32Array, count: number, dim: number): void {
  for (let i = 0; i < count; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += values[i * dim + j]! ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) values[i * dim + j]! *= inv;
  }
}

/** USE-lite embeddings of `rows` (pooled output, truncated to `maxTokens`), unit-normalised. */
export async function embedRowsForTopics(encoder: TextEncoder, rows: readonly CausalLmRow[], maxTokens: number | undefined, batchSize = 32): Promise<Embeddings> {
  const enc = maxTokens === undefined ? encoder : withMaxTokens(encoder, maxTokens);
  const texts = rows.map(topicText);
  const f = await extractFeatures(enc, { texts, labels: new Int32Array(texts.length), classNames: ['x'] }, batchSize);
  const values = new Float32Array(f.features);
  normalizeRows(values, f.count, f.dim);
  return { values, count: f.count, dim: f.dim };
}

function sqDist(a: Float32Array, ai: number, c: Float32Array, ci: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) {
    const d = a[ai * dim + j]! - c[ci * dim + j]!;
    s += d * d;
  }
  return s;
}

function nearest(points: Float32Array, i: number, centroids: Float32Array, k: number, dim: number): number {
  let best = 0;
  let bestD = Number.POSITIVE_INFINITY;
  for (let c = 0; c < k; c++) {
    const d = sqDist(points, i, centroids, c, dim);
    // Strict: ties go to the lower index, on every machine.
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

/**
 * Seeded k-means (k-means++ initialisation, Lloyd iterations until no point moves or `maxIterations`).
 * Deterministic for the same points, k and seed. An empty cluster is re-seeded on the point
 * farthest from its centroid. Returns k centroids as row arrays.
 */
export function kMeans(e: Embeddings, k: number, seed: number, maxIterations = 50): number[][] {
  const { values, count, dim } = e;
  if (!Number.isInteger(k) || k < 2) throw new RangeError(`k-means needs k >= 2, got ${k}`);
  if (count < k) throw new RangeError(`k-means with k = ${k} needs at least ${k} rows, got ${count}`);
  const rng = createRng(seed);
  const centroids = new Float32Array(k * dim);
  const take = (c: number, i: number) => centroids.set(values.subarray(i * dim, (i + 1) * dim), c * dim);
  take(0, rng.int(count));
  const d2 = new Float64Array(count).fill(Number.POSITIVE_INFINITY);
  for (let c = 1; c < k; c++) {
    let total = 0;
    for (let i = 0; i < count; i++) {
      d2[i] = Math.min(d2[i]!, sqDist(values, i, centroids, c - 1, dim));
      total += d2[i]!;
    }
    let pick = count - 1;
    if (total > 0) {
      let r = rng.next() * total;
      for (let i = 0; i < count; i++) {
        r -= d2[i]!;
        if (r < 0) {
          pick = i;
          break;
        }
      }
    } else pick = rng.int(count);
    take(c, pick);
  }
  const assign = new Int32Array(count).fill(-1);
  for (let it = 0; it < maxIterations; it++) {
    let moved = 0;
    for (let i = 0; i < count; i++) {
      const c = nearest(values, i, centroids, k, dim);
      if (c !== assign[i]) moved++;
      assign[i] = c;
    }
    if (moved === 0 && it > 0) break;
    const sums = new Float64Array(k * dim);
    const sizes = new Int32Array(k);
    for (let i = 0; i < count; i++) {
      const c = assign[i]!;
      sizes[c]!++;
      for (let j = 0; j < dim; j++) sums[c * dim + j]! += values[i * dim + j]!;
    }
    for (let c = 0; c < k; c++) {
      if (sizes[c] === 0) {
        let far = 0;
        let farD = -1;
        for (let i = 0; i < count; i++) {
          const d = sqDist(values, i, centroids, assign[i]!, dim);
          if (d > farD) {
            farD = d;
            far = i;
          }
        }
        take(c, far);
        assign[far] = c;
        continue;
      }
      for (let j = 0; j < dim; j++) centroids[c * dim + j] = sums[c * dim + j]! / sizes[c]!;
    }
  }
  return Array.from({ length: k }, (_, c) => Array.from(centroids.subarray(c * dim, (c + 1) * dim)));
}

/** How many of the embedded rows fall nearest to each centroid (what a device reports; the rows stay). */
export function topicHistogram(e: Embeddings, centroids: readonly (readonly number[])[]): number[] {
  const k = centroids.length;
  if (k === 0) throw new RangeError('no topic centroids');
  for (const [c, row] of centroids.entries()) {
    if (row.length !== e.dim) throw new RangeError(`topic centroid ${c + 1} has ${row.length} dimensions, the embeddings ${e.dim}`);
  }
  const flat = new Float32Array(k * e.dim);
  centroids.forEach((row, c) => flat.set(row, c * e.dim));
  const h = new Array<number>(k).fill(0);
  for (let i = 0; i < e.count; i++) h[nearest(e.values, i, flat, k, e.dim)]!++;
  return h;
}
