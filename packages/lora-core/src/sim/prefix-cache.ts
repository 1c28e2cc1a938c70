/**
 * Frozen-prefix cache for the simulation: the embedding and the blocks below a device's depth are
 * a fixed function of (row, the LoRA values of those blocks), so their output per row is kept and
 * reused across local steps, rounds and strategies for as long as those blocks' values do not
 * change. Blocks below every group's depth are never trained, so for shallow plans the prefix
 * stays valid for a whole run; a strategy that trains a block changes its fingerprint and the old
 * entries simply stop matching (and age out).
 *
 * Entries are per row and per padded batch length: the row's real positions of the prefix output,
 * [length, width], valid for batches padded to the same seqLen. A batch is re-assembled from its
 * rows, right-padded with zeros; rows not in the cache are computed as one sub-batch at the same
 * padded length. Padded keys get a −1e9 attention bias (exp underflows to 0) and pooling masks padded
 * queries, so the padding's values never reach a real position; the padded *length* does (the
 * attention matMul's reduction runs over it and its kernels group terms by length: a row re-batched
 * at another length differed by ~1e-8 in a quick run), hence the seqLen in the key. Results are
 * bit-identical with and without the cache (test/prefix-cache.test.ts, compared on a quick run).
 *
 * Bounded by bytes, least recently used evicted first.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AdapterState, BlockKey } from '../lora/adapter-state';
import { blockKey } from '../lora/adapter-state';
import type { TokenBatch } from '../model/family';

export interface PrefixCacheStats {
  /** Batches served wholly from the cache / partly (the missing rows computed as a sub-batch) / computed. */
  hits: number;
  partial: number;
  misses: number;
  bytes: number;
  entries: number;
}

export class PrefixCache {
  private readonly entries = new Map<string, Float32Array>();
  private readonly widths = new Map<string, number>();
  private bytes = 0;
  readonly stats: PrefixCacheStats = { hits: 0, partial: 0, misses: 0, bytes: 0, entries: 0 };

  constructor(readonly maxBytes: number) {
    if (!(Number.isFinite(maxBytes) && maxBytes >= 0)) throw new RangeError(`prefix cache budget must be a non-negative number of bytes, got ${maxBytes}`);
  }

  /**
   * The prefix output for a batch whose row ids are `rowIds` (in batch order): rows in the cache
   * are served from it, the others computed together by `compute` (on the sub-batch of those rows,
   * or on the whole batch when none is cached) and stored. The caller owns the tensor.
   */
  batch(level: string, rowIds: readonly string[], tokens: TokenBatch, compute: (tokens: TokenBatch) => tf.Tensor3D): tf.Tensor3D {
    if (this.maxBytes === 0) return compute(tokens);
    const found = rowIds.map((id) => this.entries.get(`${level}|${tokens.seqLen}|${id}`));
    const missing = found.flatMap((e, b) => (e === undefined ? [b] : []));
    if (missing.length === rowIds.length) {
      this.stats.misses++;
      const x = compute(tokens);
      this.store(level, rowIds, tokens, x);
      return x;
    }
    if (missing.length === 0) this.stats.hits++;
    else this.stats.partial++;
    if (missing.length > 0) {
      const sub = subBatch(tokens, missing);
      const x = compute(sub);
      const computed = this.store(
        level,
        missing.map((b) => rowIds[b]!),
        sub,
        x,
      );
      x.dispose();
      missing.forEach((b, i) => (found[b] = computed[i]));
    }
    const width = this.widths.get(level)!;
    const out = new Float32Array(tokens.batch * tokens.seqLen * width);
    found.forEach((e, b) => {
      out.set(e!, b * tokens.seqLen * width);
      if (!missing.includes(b)) this.touch(`${level}|${tokens.seqLen}|${rowIds[b]}`, e!);
    });
    return tf.tensor3d(out, [tokens.batch, tokens.seqLen, width]);
  }

  /** Stores each row's real positions of `x`; returns them in order (also those the budget could not hold). */
  private store(level: string, rowIds: readonly string[], tokens: TokenBatch, x: tf.Tensor3D): Float32Array[] {
    const width = x.shape[2];
    this.widths.set(level, width);
    const data = x.dataSync() as Float32Array;
    return rowIds.map((id, b) => {
      const start = b * tokens.seqLen * width;
      const e = data.slice(start, start + tokens.lengths[b]! * width);
      this.put(`${level}|${tokens.seqLen}|${id}`, e);
      return e;
    });
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
    this.sync();
  }

  private touch(key: string, e: Float32Array): void {
    this.entries.delete(key);
    this.entries.set(key, e);
  }

  private put(key: string, e: Float32Array): void {
    if (e.byteLength > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.entries.delete(key);
      this.bytes -= old.byteLength;
    }
    while (this.bytes + e.byteLength > this.maxBytes) {
      const [k, v] = this.entries.entries().next().value!;
      this.entries.delete(k);
      this.bytes -= v.byteLength;
    }
    this.entries.set(key, e);
    this.bytes += e.byteLength;
    this.sync();
  }

  private sync(): void {
    this.stats.bytes = this.bytes;
    this.stats.entries = this.entries.size;
  }
}

/** Rows `picked` of a token batch, at the batch's padded length (see the file comment). */
function subBatch(tokens: TokenBatch, picked: readonly number[]): TokenBatch {
  const lengths = Int32Array.from(picked, (b) => tokens.lengths[b]!);
  const seqLen = tokens.seqLen;
  const ids = new Int32Array(picked.length * seqLen);
  picked.forEach((b, i) => ids.set(tokens.ids.subarray(b * tokens.seqLen, b * tokens.seqLen + seqLen), i * seqLen));
  return { ids, lengths, batch: picked.length, seqLen };
}

/**
 * Fingerprints of the adapter's blocks 0..L−1 for L = 1..numBlocks−1 (index L−1): two 32-bit
 * hashes over every present tensor's name, shape and float bits, chained block by block. Absent
 * blocks (plain pretrained weights) hash differently from present ones.
 */
export function prefixFingerprints(adapter: AdapterState, numBlocks: number): string[] {
  const out: string[] = [];
  let h1 = 0x811c9dc5;
  let h2 = 0x9e3779b9;
  const mix = (x: number) => {
    h1 = Math.imul(h1 ^ x, 0x01000193);
    h2 = Math.imul(h2 ^ x, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  };
  const text = (s: string) => {
    for (let i = 0; i < s.length; i++) mix(s.charCodeAt(i));
  };
  for (let i = 0; i < numBlocks - 1; i++) {
    const key: BlockKey = blockKey(i);
    const tensors = adapter.get(key);
    text(`|${key}:`);
    if (tensors !== undefined) {
      for (const name of [...tensors.keys()].sort()) {
        const t = tensors.get(name)!;
        text(`${name}[${t.shape.join(',')}]`);
        const words = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
        for (let j = 0; j < words.length; j++) mix(words[j]!);
      }
    } else {
      text('-');
    }
    out.push(`${i + 1}:${(h1 >>> 0).toString(16)}${(h2 >>> 0).toString(16)}`);
  }
  return out;
}
