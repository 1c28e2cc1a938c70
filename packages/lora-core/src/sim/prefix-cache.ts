/**
 * Frozen-prefix cache for the simulation: the embedding and the blocks below a device's depth are
 * a fixed function of (row, the LoRA values of those blocks), so their output per row is kept and
 * reused across local steps, rounds and strategies for as long as those blocks' values do not
 * change. Blocks below every group's depth are never trained, so for shallow plans the prefix
 * stays valid for a whole run; a strategy that trains a block changes its fingerprint and the old
 * entries simply stop matching (and age out).
 *
 * Entries are per row: the row's real positions of the prefix output, [length, width]. A batch is
 * served from the cache only when all its rows are present; it is re-assembled right-padded with
 * zeros. That is exact because positions only interact through attention, where padded keys get a
 * −1e9 bias (exp underflows to 0) and pooling masks padded queries, so real positions never see
 * padded values — test/sim-speedups.test.ts checks bit-identical training and evaluation.
 *
 * Bounded by bytes, least recently used evicted first.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AdapterState, BlockKey } from '../lora/adapter-state';
import { blockKey } from '../lora/adapter-state';
import type { TokenBatch } from '../model/family';

export interface PrefixCacheStats {
  hits: number;
  misses: number;
  bytes: number;
  entries: number;
}

export class PrefixCache {
  private readonly entries = new Map<string, Float32Array>();
  private readonly widths = new Map<string, number>();
  private bytes = 0;
  readonly stats: PrefixCacheStats = { hits: 0, misses: 0, bytes: 0, entries: 0 };

  constructor(readonly maxBytes: number) {
    if (!(Number.isFinite(maxBytes) && maxBytes >= 0)) throw new RangeError(`prefix cache budget must be a non-negative number of bytes, got ${maxBytes}`);
  }

  /**
   * The prefix output for a batch whose row ids are `rowIds` (in batch order), from the cache when
   * every row is there, else `compute()` (whose rows are then stored). The caller owns the tensor.
   */
  batch(level: string, rowIds: readonly string[], tokens: TokenBatch, compute: () => tf.Tensor3D): tf.Tensor3D {
    if (this.maxBytes === 0) return compute();
    const found: Float32Array[] = [];
    for (const id of rowIds) {
      const e = this.entries.get(`${level}|${id}`);
      if (e === undefined) break;
      found.push(e);
    }
    if (found.length === rowIds.length && found.length > 0) {
      this.stats.hits++;
      const width = this.widths.get(level)!;
      const out = new Float32Array(tokens.batch * tokens.seqLen * width);
      found.forEach((e, b) => {
        out.set(e, b * tokens.seqLen * width);
        this.touch(`${level}|${rowIds[b]}`, e);
      });
      return tf.tensor3d(out, [tokens.batch, tokens.seqLen, width]);
    }
    this.stats.misses++;
    const x = compute();
    const width = x.shape[2];
    this.widths.set(level, width);
    const data = x.dataSync() as Float32Array;
    rowIds.forEach((id, b) => {
      const start = b * tokens.seqLen * width;
      this.put(`${level}|${id}`, data.slice(start, start + tokens.lengths[b]! * width));
    });
    return x;
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
