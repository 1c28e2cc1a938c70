/**
 * A text classifier fine-tuned with LoRA at a chosen depth: frozen encoder blocks below the depth,
 * LoRA variables in the top `depth` blocks, and a linear head on the pooled features (always trained).
 *
 * Blocks below the depth carry no variables and no gradients. If the adapter loaded with
 * `setAdapter` holds LoRA values for them (e.g. the global adapter in a federated run), they are
 * applied as constants in the forward pass, so every device computes the same function of the
 * frozen part; otherwise those blocks run the plain pretrained weights.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BatchContext, LinearAdapter, LoraTarget, TextEncoder, TokenBatch } from '../model/family';
import { matMul } from '../ops/matmul';
import { FlatAdam } from './flat-adam';
import { HEAD, blockKey, trainedBlockKeys, type AdapterState, type BlockKey, type NamedArray } from './adapter-state';
import { validateLoraConfig, type LoraConfig } from './config';
import { adapterTensorShapes, initialAdapter } from './init';

export interface ClassifierConfig {
  readonly numClasses: number;
  /** Fine-tuning depth: trainable blocks counted from the output (1..encoder.blocks.length). */
  readonly depth: number;
  readonly lora: LoraConfig;
  readonly learningRate: number;
  /** The head sees L2-normalised features, so it wants a larger step than the adapters. */
  readonly headLearningRate: number;
  readonly seed: number;
}

export interface LabeledBatch {
  readonly tokens: TokenBatch;
  readonly labels: Int32Array;
}

export interface EvalResult {
  readonly accuracy: number;
  readonly loss: number;
  readonly count: number;
}

interface LoraPair<T extends tf.Tensor> {
  A: T;
  B: T;
}

export class LoraClassifier {
  readonly trainedBlocks: readonly number[];
  private readonly firstTrained: number;
  private readonly scale: number;
  private readonly trainable = new Map<number, Map<LoraTarget, LoraPair<tf.Variable>>>();
  private frozen = new Map<number, Map<LoraTarget, LoraPair<tf.Tensor>>>();
  private readonly headW: tf.Variable;
  private readonly headB: tf.Variable;
  // Adam over all LoRA matrices (and over the head) as one flat vector each: the same steps as
  // tf.train.adam, a fraction of the kernel calls (flat-adam.ts).
  private loraOptimizer: FlatAdam;
  private headOptimizer: FlatAdam;
  private steps = 0;

  constructor(
    readonly encoder: TextEncoder,
    readonly config: ClassifierConfig,
  ) {
    validateLoraConfig(config.lora);
    const numBlocks = encoder.blocks.length;
    if (!Number.isInteger(config.depth) || config.depth < 1 || config.depth > numBlocks) {
      throw new Error(`depth must be an integer in 1..${numBlocks}, got ${config.depth}`);
    }
    if (!Number.isInteger(config.numClasses) || config.numClasses < 2) throw new Error(`numClasses must be >= 2, got ${config.numClasses}`);
    this.firstTrained = numBlocks - config.depth;
    this.trainedBlocks = encoder.blocks.slice(this.firstTrained).map((b) => b.index);
    this.scale = config.lora.alpha / config.lora.rank;
    const init = initialAdapter(encoder.blocks, encoder.featureDim, config.numClasses, config.lora, config.seed);
    for (const index of this.trainedBlocks) {
      const pairs = new Map<LoraTarget, LoraPair<tf.Variable>>();
      const tensors = init.get(blockKey(index))!;
      for (const target of this.targetsOf(index)) {
        pairs.set(target, {
          A: variableFrom(tensors.get(`${target}.A`)!, `lora_${index}_${target}_A_${uid()}`),
          B: variableFrom(tensors.get(`${target}.B`)!, `lora_${index}_${target}_B_${uid()}`),
        });
      }
      this.trainable.set(index, pairs);
    }
    const head = init.get(HEAD)!;
    this.headW = variableFrom(head.get('W')!, `head_W_${uid()}`);
    this.headB = variableFrom(head.get('b')!, `head_b_${uid()}`);
    this.loraOptimizer = new FlatAdam(config.learningRate);
    this.headOptimizer = new FlatAdam(config.headLearningRate);
  }

  /** Block keys this classifier trains (its depth's blocks and the head). */
  get trainedKeys(): BlockKey[] {
    return trainedBlockKeys(this.encoder.blocks.length, this.config.depth);
  }

  /**
   * Loads adapter values. Blocks this classifier trains (and the head) must be complete in `state`
   * if present; blocks below the depth become frozen constants. Shapes are checked.
   */
  setAdapter(state: AdapterState): void {
    const expected = adapterTensorShapes(this.encoder.blocks, this.encoder.featureDim, this.config.numClasses, this.config.lora);
    for (const [key, tensors] of state) {
      const shapes = expected.get(key);
      if (!shapes) throw new Error(`adapter block ${key} does not exist in this model`);
      for (const [name, t] of tensors) {
        const shape = shapes.get(name);
        if (!shape) throw new Error(`adapter block ${key} has unexpected tensor ${name}`);
        if (!sameShape(shape, t.shape)) throw new Error(`adapter ${key}/${name} has shape [${t.shape}], expected [${shape}]`);
      }
    }
    const nextFrozen = new Map<number, Map<LoraTarget, LoraPair<tf.Tensor>>>();
    for (const [key, tensors] of state) {
      if (key === HEAD) {
        assignFrom(this.headW, required(tensors, 'W', key));
        assignFrom(this.headB, required(tensors, 'b', key));
        continue;
      }
      const index = Number(key);
      const pairs = this.trainable.get(index);
      for (const target of this.targetsOf(index)) {
        const A = required(tensors, `${target}.A`, key);
        const B = required(tensors, `${target}.B`, key);
        if (pairs) {
          const p = pairs.get(target)!;
          assignFrom(p.A, A);
          assignFrom(p.B, B);
        } else {
          if (!nextFrozen.has(index)) nextFrozen.set(index, new Map());
          nextFrozen.get(index)!.set(target, { A: toTensor(A), B: toTensor(B) });
        }
      }
    }
    for (const pairs of this.frozen.values()) for (const p of pairs.values()) tf.dispose([p.A, p.B]);
    this.frozen = nextFrozen;
  }

  /** Current values of the trained blocks and the head. */
  getAdapter(): AdapterState {
    const out: AdapterState = new Map();
    for (const [index, pairs] of this.trainable) {
      const tensors = new Map<string, NamedArray>();
      for (const [target, p] of pairs) {
        tensors.set(`${target}.A`, fromTensor(p.A));
        tensors.set(`${target}.B`, fromTensor(p.B));
      }
      out.set(blockKey(index), tensors);
    }
    out.set(HEAD, new Map([['W', fromTensor(this.headW)], ['b', fromTensor(this.headB)]]));
    return out;
  }

  /**
   * getAdapter with asynchronous reads (`data()`): on WebGL/WebGPU a synchronous read blocks the
   * page until the GPU queue drains; this one lets it keep drawing and answering its socket.
   */
  async readAdapter(): Promise<AdapterState> {
    const read = async (t: tf.Tensor): Promise<NamedArray> => ({ shape: [...t.shape], data: new Float32Array((await t.data()) as Float32Array) });
    const out: AdapterState = new Map();
    for (const [index, pairs] of this.trainable) {
      const tensors = new Map<string, NamedArray>();
      for (const [target, p] of pairs) {
        tensors.set(`${target}.A`, await read(p.A));
        tensors.set(`${target}.B`, await read(p.B));
      }
      out.set(blockKey(index), tensors);
    }
    out.set(HEAD, new Map([['W', await read(this.headW)], ['b', await read(this.headB)]]));
    return out;
  }

  /** Blocks below the depth (run frozen), counted from the input. */
  get frozenBlocks(): number {
    return this.firstTrained;
  }

  /** The embedding and the frozen blocks' output for a batch, [batch, seqLen, width]; the caller owns it. */
  frozenOutput(tokens: TokenBatch): tf.Tensor3D {
    return tf.tidy(() => this.runFrozen(tokens, this.encoder.prepare(tokens)));
  }

  /**
   * One step: forward, backward (through the trained blocks only), Adam. Returns the batch loss.
   * `frozenOut`, when given, stands for frozenOutput(batch.tokens) (e.g. from a cache) and is
   * disposed here.
   */
  async trainStep(batch: LabeledBatch, frozenOut?: tf.Tensor3D): Promise<{ loss: number }> {
    this.checkLabels(batch);
    const stepSeed = this.config.seed * 1_000_003 + this.steps++;
    const loss = tf.tidy(() => {
      const { value, grads } = this.lossAndGradients(batch, stepSeed, frozenOut);
      this.stepOptimizers((v) => grads[v.name]!);
      return value;
    });
    frozenOut?.dispose();
    const [v] = await loss.data();
    loss.dispose();
    return { loss: v as number };
  }

  /** Loss and its gradient w.r.t. every trained tensor (no dropout, no update), keyed like getAdapter(). */
  async computeGradients(batch: LabeledBatch): Promise<{ loss: number; gradients: AdapterState }> {
    this.checkLabels(batch);
    const { value, grads } = tf.tidy(() => this.lossAndGradients(batch));
    const gradients: AdapterState = new Map();
    for (const [index, pairs] of this.trainable) {
      const tensors = new Map<string, NamedArray>();
      for (const [target, p] of pairs) {
        tensors.set(`${target}.A`, fromTensor(grads[p.A.name]!));
        tensors.set(`${target}.B`, fromTensor(grads[p.B.name]!));
      }
      gradients.set(blockKey(index), tensors);
    }
    gradients.set(HEAD, new Map([['W', fromTensor(grads[this.headW.name]!)], ['b', fromTensor(grads[this.headB.name]!)]]));
    const loss = (await value.data())[0] as number;
    tf.dispose([value, ...Object.values(grads)]);
    return { loss, gradients };
  }

  /**
   * Sets the trained blocks and the head (exactly this classifier's trainedKeys) and leaves the
   * frozen blocks as they are: a replica kept in step with another classifier's values.
   */
  setTrainedValues(state: AdapterState): void {
    this.forTrained(state, 'values', (v, a) => assignFrom(v, a));
  }

  /**
   * One optimizer step with given gradients (keyed like computeGradients' result, e.g. the
   * combination of several shards' gradients): the update trainStep makes after its backward pass.
   */
  applyGradients(gradients: AdapterState): void {
    const byName = new Map<string, NamedArray>();
    this.forTrained(gradients, 'gradients', (v, a) => byName.set(v.name, a));
    this.steps++;
    tf.tidy(() => this.stepOptimizers((v) => toTensor(byName.get(v.name)!)));
  }

  /** Adam on the LoRA variables and on the head, each variable's gradient from `gradientOf` (call inside a tidy). */
  private stepOptimizers(gradientOf: (v: tf.Variable) => tf.Tensor): void {
    const lora = this.loraVariables();
    this.loraOptimizer.applyGradients(lora, lora.map(gradientOf));
    const head = [this.headW, this.headB];
    this.headOptimizer.applyGradients(head, head.map(gradientOf));
  }

  /** Calls `use` for every trained variable with its array in `state`, after checking keys, names and shapes. */
  private forTrained(state: AdapterState, what: string, use: (v: tf.Variable, a: NamedArray) => void): void {
    const expected = this.trainedKeys;
    const extra = [...state.keys()].filter((k) => !expected.includes(k));
    if (extra.length > 0) throw new Error(`${what} for block(s) ${extra.join(', ')}, which this classifier does not train (depth ${this.config.depth})`);
    const pairs: Array<[tf.Variable, NamedArray]> = [];
    const take = (key: BlockKey, name: string, v: tf.Variable) => {
      const tensors = state.get(key);
      if (!tensors) throw new Error(`${what} lack block ${key}`);
      const a = required(tensors, name, key);
      if (!sameShape(a.shape, v.shape)) throw new Error(`${what} ${key}/${name} have shape [${a.shape}], expected [${v.shape}]`);
      pairs.push([v, a]);
    };
    for (const [index, targets] of this.trainable) {
      for (const [target, p] of targets) {
        take(blockKey(index), `${target}.A`, p.A);
        take(blockKey(index), `${target}.B`, p.B);
      }
    }
    take(HEAD, 'W', this.headW);
    take(HEAD, 'b', this.headB);
    for (const [v, a] of pairs) use(v, a);
  }

  private lossAndGradients(batch: LabeledBatch, dropoutSeed?: number, given?: tf.Tensor3D): { value: tf.Scalar; grads: tf.NamedTensorMap } {
    const ctx = this.encoder.prepare(batch.tokens);
    const frozenOut = given ?? this.runFrozen(batch.tokens, ctx);
    const onehot = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), this.config.numClasses);
    return tf.variableGrads(
      () => crossEntropy(this.logitsFrom(frozenOut, ctx, dropoutSeed), onehot),
      [...this.loraVariables(), this.headW, this.headB],
    );
  }

  /** Loss of a batch without training (no dropout). */
  async loss(batch: LabeledBatch): Promise<number> {
    this.checkLabels(batch);
    const t = tf.tidy(() => {
      const ctx = this.encoder.prepare(batch.tokens);
      const onehot = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), this.config.numClasses);
      return crossEntropy(this.logitsFrom(this.runFrozen(batch.tokens, ctx), ctx), onehot);
    });
    const [v] = await t.data();
    t.dispose();
    return v as number;
  }

  /**
   * Accuracy and mean loss over the batches. `frozenFor`, when given, returns frozenOutput of a
   * batch (e.g. from a cache); its tensors are disposed here.
   */
  async evaluate(batches: Iterable<LabeledBatch>, frozenFor?: (batch: LabeledBatch) => tf.Tensor3D): Promise<EvalResult> {
    let correct = 0;
    let lossSum = 0;
    let count = 0;
    for (const batch of batches) {
      this.checkLabels(batch);
      const given = frozenFor?.(batch);
      const [pred, losses] = tf.tidy(() => {
        const ctx = this.encoder.prepare(batch.tokens);
        const logits = this.logitsFrom(given ?? this.runFrozen(batch.tokens, ctx), ctx);
        const onehot = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), this.config.numClasses);
        return [tf.argMax(logits, 1), tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))];
      });
      given?.dispose();
      const p = await pred.data();
      const l = await losses.data();
      tf.dispose([pred, losses]);
      for (let i = 0; i < batch.labels.length; i++) {
        if (p[i] === batch.labels[i]) correct++;
        lossSum += l[i] as number;
      }
      count += batch.labels.length;
    }
    return { accuracy: count ? correct / count : 0, loss: count ? lossSum / count : 0, count };
  }

  /** Trainable parameter count (LoRA in the trained blocks + head). */
  get trainableParameters(): number {
    return [...this.loraVariables(), this.headW, this.headB].reduce((n, v) => n + v.size, 0);
  }

  /** Forgets Adam's moments (e.g. at the start of a new federated round). */
  resetOptimizerState(): void {
    this.loraOptimizer.dispose();
    this.headOptimizer.dispose();
    this.loraOptimizer = new FlatAdam(this.config.learningRate);
    this.headOptimizer = new FlatAdam(this.config.headLearningRate);
  }

  dispose(): void {
    tf.dispose(this.loraVariables());
    tf.dispose([this.headW, this.headB]);
    for (const pairs of this.frozen.values()) for (const p of pairs.values()) tf.dispose([p.A, p.B]);
    this.loraOptimizer.dispose();
    this.headOptimizer.dispose();
  }

  private targetsOf(index: number): LoraTarget[] {
    const block = this.encoder.blocks[index];
    if (!block) throw new Error(`block ${index} does not exist`);
    return block.linears.map((l) => l.target).filter((t) => this.config.lora.targets.includes(t));
  }

  private loraVariables(): tf.Variable[] {
    const vars: tf.Variable[] = [];
    for (const pairs of this.trainable.values()) for (const p of pairs.values()) vars.push(p.A, p.B);
    return vars;
  }

  private checkLabels(batch: LabeledBatch): void {
    if (batch.labels.length !== batch.tokens.batch) throw new Error(`batch has ${batch.tokens.batch} rows but ${batch.labels.length} labels`);
    for (const y of batch.labels) {
      if (!Number.isInteger(y) || y < 0 || y >= this.config.numClasses) throw new Error(`label ${y} outside 0..${this.config.numClasses - 1}`);
    }
  }

  /** Embedding and the blocks below the depth: no variables touched, so nothing is taped. */
  private runFrozen(tokens: TokenBatch, ctx: BatchContext): tf.Tensor3D {
    let x = this.encoder.embed(tokens);
    for (let i = 0; i < this.firstTrained; i++) x = this.encoder.runBlock(i, x, ctx, this.adapterFor(this.frozen.get(i)));
    return x;
  }

  private logitsFrom(frozenOut: tf.Tensor3D, ctx: BatchContext, dropoutSeed?: number): tf.Tensor2D {
    let x = frozenOut;
    for (const index of this.trainedBlocks) x = this.encoder.runBlock(index, x, ctx, this.adapterFor(this.trainable.get(index), dropoutSeed));
    const features = this.encoder.pool(x, ctx);
    return tf.add(matMul(features, this.headW), this.headB) as tf.Tensor2D;
  }

  private adapterFor(pairs: Map<LoraTarget, LoraPair<tf.Tensor>> | undefined, dropoutSeed?: number): LinearAdapter | undefined {
    if (!pairs || pairs.size === 0) return undefined;
    const rate = this.config.lora.dropout;
    return (target, x) => {
      const p = pairs.get(target);
      if (!p) return null;
      // Distinct masks per matrix: the seed only has to differ between calls within a step.
      const seed = dropoutSeed === undefined ? undefined : dropoutSeed * 31 + x.size + p.A.size;
      const input = seed !== undefined && rate > 0 ? tf.dropout(x, rate, undefined, seed) : x;
      return tf.mul(matMul(matMul(input, p.A), p.B), this.scale) as tf.Tensor2D;
    };
  }
}

function crossEntropy(logits: tf.Tensor2D, onehot: tf.Tensor): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
}

function toTensor(a: NamedArray): tf.Tensor {
  return tf.tensor(a.data, [...a.shape], 'float32');
}

/** A trainable variable holding `a` (the tidy frees the source tensor, which a variable does not take over). */
function variableFrom(a: NamedArray, name: string): tf.Variable {
  return tf.tidy(() => tf.variable(toTensor(a), true, name));
}

function assignFrom(v: tf.Variable, a: NamedArray): void {
  const t = toTensor(a);
  v.assign(t);
  t.dispose();
}

function fromTensor(t: tf.Tensor): NamedArray {
  return { shape: [...t.shape], data: new Float32Array(t.dataSync() as Float32Array) };
}

function required(tensors: Map<string, NamedArray>, name: string, key: BlockKey): NamedArray {
  const t = tensors.get(name);
  if (!t) throw new Error(`adapter block ${key} lacks tensor ${name}`);
  return t;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

let counter = 0;
function uid(): number {
  return ++counter;
}
