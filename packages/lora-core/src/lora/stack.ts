/**
 * LoRA over any Backbone at a fine-tuning depth: variables in the top `depth` blocks, frozen
 * constants (from `setBlocks`) or plain pretrained weights below. The objective-specific trainers
 * (causal LM) build their loss on top of `runFrozen` + `runTrained`; blocks below the depth never
 * touch a variable, so nothing below the depth is taped.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Backbone, BatchContext, LinearAdapter, LoraTarget, TokenBatch } from '../model/family';
import { matMul } from '../ops/matmul';
import { blockKey, type AdapterState, type BlockKey, type NamedArray } from './adapter-state';
import { validateLoraConfig, type LoraConfig } from './config';
import { blockTensorShapes, initialBlockAdapter } from './init';

interface Pair<T extends tf.Tensor> {
  A: T;
  B: T;
}

let counter = 0;

export class LoraStack {
  readonly trainedBlocks: readonly number[];
  readonly firstTrained: number;
  readonly scale: number;
  private readonly trainable = new Map<number, Map<LoraTarget, Pair<tf.Variable>>>();
  private frozen = new Map<number, Map<LoraTarget, Pair<tf.Tensor>>>();
  private readonly shapes: Map<BlockKey, Map<string, number[]>>;

  constructor(
    readonly backbone: Backbone,
    readonly depth: number,
    readonly lora: LoraConfig,
    seed: number,
  ) {
    validateLoraConfig(lora);
    const n = backbone.blocks.length;
    if (!Number.isInteger(depth) || depth < 1 || depth > n) throw new Error(`depth must be an integer in 1..${n}, got ${depth}`);
    const available = new Set(backbone.blocks.flatMap((b) => b.linears.map((l) => l.target)));
    for (const t of lora.targets) {
      if (!available.has(t)) throw new Error(`LoRA target ${t} does not exist in ${backbone.family} (targets: ${[...available].join(', ')})`);
    }
    this.firstTrained = n - depth;
    this.trainedBlocks = backbone.blocks.slice(this.firstTrained).map((b) => b.index);
    this.scale = lora.alpha / lora.rank;
    this.shapes = blockTensorShapes(backbone.blocks, lora);
    const init = initialBlockAdapter(backbone.blocks, lora, seed);
    const id = ++counter;
    for (const index of this.trainedBlocks) {
      const pairs = new Map<LoraTarget, Pair<tf.Variable>>();
      const tensors = init.get(blockKey(index))!;
      for (const target of this.targetsOf(index)) {
        pairs.set(target, {
          A: tf.variable(toTensor(tensors.get(`${target}.A`)!), true, `lora${id}_${index}_${target}_A`),
          B: tf.variable(toTensor(tensors.get(`${target}.B`)!), true, `lora${id}_${index}_${target}_B`),
        });
      }
      this.trainable.set(index, pairs);
    }
  }

  get variables(): tf.Variable[] {
    const vars: tf.Variable[] = [];
    for (const pairs of this.trainable.values()) for (const p of pairs.values()) vars.push(p.A, p.B);
    return vars;
  }

  get trainedKeys(): BlockKey[] {
    return this.trainedBlocks.map(blockKey);
  }

  get parameterCount(): number {
    return this.variables.reduce((n, v) => n + v.size, 0);
  }

  /** Expected tensor shapes per block key. */
  get tensorShapes(): ReadonlyMap<BlockKey, ReadonlyMap<string, number[]>> {
    return this.shapes;
  }

  /**
   * Loads LoRA values (block-keyed; other keys are refused). Trained blocks present in `state` must
   * be complete; blocks below the depth become frozen constants. Blocks absent keep their values
   * (trained) or run the plain weights (frozen).
   */
  setBlocks(state: AdapterState): void {
    for (const [key, tensors] of state) {
      const shapes = this.shapes.get(key);
      if (!shapes) throw new Error(`adapter block ${key} does not exist in this model`);
      for (const [name, t] of tensors) {
        const shape = shapes.get(name);
        if (!shape) throw new Error(`adapter block ${key} has unexpected tensor ${name}`);
        if (shape.length !== t.shape.length || shape.some((d, i) => d !== t.shape[i])) throw new Error(`adapter ${key}/${name} has shape [${t.shape}], expected [${shape}]`);
      }
    }
    const next = new Map<number, Map<LoraTarget, Pair<tf.Tensor>>>();
    for (const [key, tensors] of state) {
      const index = Number(key);
      const pairs = this.trainable.get(index);
      for (const target of this.targetsOf(index)) {
        const A = tensors.get(`${target}.A`);
        const B = tensors.get(`${target}.B`);
        if (!A || !B) throw new Error(`adapter block ${key} lacks ${target}.${A ? 'B' : 'A'}`);
        if (pairs) {
          const p = pairs.get(target)!;
          assignFrom(p.A, A);
          assignFrom(p.B, B);
        } else {
          if (!next.has(index)) next.set(index, new Map());
          next.get(index)!.set(target, { A: toTensor(A), B: toTensor(B) });
        }
      }
    }
    this.disposeFrozen();
    this.frozen = next;
  }

  /** Current values of the trained blocks. */
  getBlocks(): AdapterState {
    const out: AdapterState = new Map();
    for (const [index, pairs] of this.trainable) {
      const tensors = new Map<string, NamedArray>();
      for (const [target, p] of pairs) {
        tensors.set(`${target}.A`, fromTensor(p.A));
        tensors.set(`${target}.B`, fromTensor(p.B));
      }
      out.set(blockKey(index), tensors);
    }
    return out;
  }

  /** Gradients (by variable name) re-keyed like getBlocks(). */
  gradientsByBlock(grads: tf.NamedTensorMap): AdapterState {
    const out: AdapterState = new Map();
    for (const [index, pairs] of this.trainable) {
      const tensors = new Map<string, NamedArray>();
      for (const [target, p] of pairs) {
        tensors.set(`${target}.A`, fromTensor(grads[p.A.name]!));
        tensors.set(`${target}.B`, fromTensor(grads[p.B.name]!));
      }
      out.set(blockKey(index), tensors);
    }
    return out;
  }

  /**
   * Embedding and the blocks below the depth (no variables: nothing is taped). Each block runs in
   * its own tidy and its input is freed, so the frozen part holds one layer's activations at a time
   * even inside a caller's tidy.
   */
  runFrozen(tokens: TokenBatch, ctx: BatchContext): tf.Tensor3D {
    let x = this.backbone.embed(tokens);
    for (let i = 0; i < this.firstTrained; i++) {
      const input = x;
      x = tf.tidy(() => this.backbone.runBlock(i, input, ctx, this.adapterFor(this.frozen.get(i))));
      input.dispose();
    }
    return x;
  }

  /** The trained blocks on the frozen part's output (dropout on the adapter inputs when seeded). */
  runTrained(x: tf.Tensor3D, ctx: BatchContext, dropoutSeed?: number): tf.Tensor3D {
    for (const index of this.trainedBlocks) x = this.backbone.runBlock(index, x, ctx, this.adapterFor(this.trainable.get(index), dropoutSeed));
    return x;
  }

  /** The LoRA term of block `index` as currently loaded (trained or frozen values; no dropout), for inference. */
  blockAdapter(index: number): LinearAdapter | undefined {
    return this.adapterFor(this.trainable.get(index) ?? this.frozen.get(index));
  }

  dispose(): void {
    tf.dispose(this.variables);
    this.disposeFrozen();
  }

  private disposeFrozen(): void {
    for (const pairs of this.frozen.values()) for (const p of pairs.values()) tf.dispose([p.A, p.B]);
    this.frozen = new Map();
  }

  private targetsOf(index: number): LoraTarget[] {
    const block = this.backbone.blocks[index];
    if (!block) throw new Error(`block ${index} does not exist`);
    return block.linears.map((l) => l.target).filter((t) => this.lora.targets.includes(t));
  }

  private adapterFor(pairs: Map<LoraTarget, Pair<tf.Tensor>> | undefined, dropoutSeed?: number): LinearAdapter | undefined {
    if (!pairs || pairs.size === 0) return undefined;
    const rate = this.lora.dropout;
    return (target, x) => {
      const p = pairs.get(target);
      if (!p) return null;
      const seed = dropoutSeed === undefined ? undefined : dropoutSeed * 31 + x.size + p.A.size + hash(target);
      const input = seed !== undefined && rate > 0 ? tf.dropout(x, rate, undefined, seed) : x;
      return tf.mul(matMul(matMul(input, p.A), p.B), this.scale) as tf.Tensor2D;
    };
  }
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 131 + s.charCodeAt(i)) % 1_000_003;
  return h;
}

function toTensor(a: NamedArray): tf.Tensor {
  return tf.tensor(a.data, [...a.shape], 'float32');
}

function assignFrom(v: tf.Variable, a: NamedArray): void {
  const t = toTensor(a);
  v.assign(t);
  t.dispose();
}

function fromTensor(t: tf.Tensor): NamedArray {
  return { shape: [...t.shape], data: new Float32Array(t.dataSync() as Float32Array) };
}
