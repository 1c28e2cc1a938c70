/**
 * A decoder fine-tuned for causal-LM at a depth (decoder layers counted from the output), with LoRA
 * on the top `depth` layers. The adapter state is block-keyed (block = layer) with no head: the LM
 * head stays frozen (tied to the embedding in most checkpoints). Same life cycle as LoraClassifier:
 * setAdapter / getAdapter / trainStep / computeGradients / evaluate / resetOptimizerState.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { CausalDecoder } from '../../model/family';
import type { AdapterState, BlockKey } from '../../lora/adapter-state';
import type { LoraConfig } from '../../lora/config';
import { LoraStack } from '../../lora/stack';
import type { LmBatch } from './batch';
import { selection, tokenNll } from './loss';
import { matMul } from '../../ops/matmul';

export interface CausalLmConfig {
  /** Decoder layers trained, counted from the output (1..layers). */
  readonly depth: number;
  readonly lora: LoraConfig;
  readonly learningRate: number;
  readonly seed: number;
}

export interface LmEvalResult {
  /** Mean NLL per loss token (nats). */
  readonly loss: number;
  readonly perplexity: number;
  /** Share of loss tokens whose argmax next-token prediction is the target (greedy top-1). */
  readonly accuracy: number;
  readonly tokens: number;
}

/** Rows of the LM head computed at once when scoring top-1 accuracy ([chunk, vocab] logits). */
const ACCURACY_CHUNK_ROWS = 64;

export class LoraCausalLm {
  readonly stack: LoraStack;
  private optimizer: tf.AdamOptimizer;
  private steps = 0;

  constructor(
    readonly decoder: CausalDecoder,
    readonly config: CausalLmConfig,
  ) {
    this.stack = new LoraStack(decoder, config.depth, config.lora, config.seed);
    this.optimizer = tf.train.adam(config.learningRate);
  }

  get trainedBlocks(): readonly number[] {
    return this.stack.trainedBlocks;
  }

  get trainedKeys(): BlockKey[] {
    return this.stack.trainedKeys;
  }

  get trainableParameters(): number {
    return this.stack.parameterCount;
  }

  setAdapter(state: AdapterState): void {
    this.stack.setBlocks(state);
  }

  getAdapter(): AdapterState {
    return this.stack.getBlocks();
  }

  /** One Adam step on the mean token NLL of the batch. */
  async trainStep(batch: LmBatch): Promise<{ loss: number; tokens: number }> {
    checkBatch(batch);
    const seed = this.config.seed * 1_000_003 + this.steps++;
    const loss = tf.tidy(() => {
      const { value, grads } = this.lossAndGradients(batch, seed);
      this.optimizer.applyGradients(this.stack.variables.map((v) => ({ name: v.name, tensor: grads[v.name]! })));
      return value;
    });
    const [v] = await loss.data();
    loss.dispose();
    return { loss: v as number, tokens: batch.lossTokens };
  }

  /** Mean token NLL and its gradient w.r.t. every trained tensor (no dropout, no update). */
  async computeGradients(batch: LmBatch): Promise<{ loss: number; gradients: AdapterState }> {
    checkBatch(batch);
    const { value, grads } = tf.tidy(() => this.lossAndGradients(batch));
    const gradients = this.stack.gradientsByBlock(grads);
    const loss = (await value.data())[0] as number;
    tf.dispose([value, ...Object.values(grads)]);
    return { loss, gradients };
  }

  /** Mean token NLL of one batch (no dropout, no update). */
  async loss(batch: LmBatch): Promise<number> {
    checkBatch(batch);
    const t = tf.tidy(() => tf.mean(this.nll(batch)));
    const v = (await t.data())[0] as number;
    t.dispose();
    return v;
  }

  async evaluate(batches: Iterable<LmBatch>): Promise<LmEvalResult> {
    let sum = 0;
    let tokens = 0;
    let correct = 0;
    for (const batch of batches) {
      if (batch.lossTokens === 0) continue;
      const sel = selection(batch.targets);
      const rows = tf.tidy(() => {
        const ctx = this.decoder.prepare(batch.tokens);
        const x = this.stack.runTrained(this.stack.runFrozen(batch.tokens, ctx), ctx);
        const [b, t, d] = x.shape;
        return this.decoder.finalNorm(matMul(sel.select, tf.reshape(x, [b * t, d]) as tf.Tensor2D));
      });
      const nll = tf.tidy(() => tf.sum(this.decoder.lmHeadNll(rows, sel.ids)));
      sum += (await nll.data())[0] as number;
      nll.dispose();
      for (let r = 0; r < sel.ids.length; r += ACCURACY_CHUNK_ROWS) {
        const n = Math.min(ACCURACY_CHUNK_ROWS, sel.ids.length - r);
        const best = tf.tidy(() => tf.argMax(this.decoder.lmHead(tf.slice(rows, [r, 0], [n, -1])), 1));
        const ids = await best.data();
        best.dispose();
        for (let i = 0; i < n; i++) if (ids[i] === sel.ids[r + i]) correct++;
      }
      rows.dispose();
      sel.select.dispose();
      tokens += batch.lossTokens;
    }
    const loss = tokens ? sum / tokens : 0;
    return { loss, perplexity: Math.exp(loss), accuracy: tokens ? correct / tokens : 0, tokens };
  }

  /** Logits [b·t, vocab] of every position with the current adapter (for tests and tools; large). */
  logits(tokens: LmBatch['tokens']): tf.Tensor2D {
    return tf.tidy(() => {
      const ctx = this.decoder.prepare(tokens);
      const x = this.stack.runTrained(this.stack.runFrozen(tokens, ctx), ctx);
      return this.decoder.logits(tf.reshape(x, [tokens.batch * tokens.seqLen, this.decoder.hidden]) as tf.Tensor2D);
    });
  }

  resetOptimizerState(): void {
    this.optimizer.dispose();
    this.optimizer = tf.train.adam(this.config.learningRate);
  }

  dispose(): void {
    this.stack.dispose();
    this.optimizer.dispose();
  }

  private nll(batch: LmBatch, dropoutSeed?: number): tf.Tensor1D {
    const ctx = this.decoder.prepare(batch.tokens);
    const sel = selection(batch.targets);
    const x = this.stack.runTrained(this.stack.runFrozen(batch.tokens, ctx), ctx, dropoutSeed);
    return tokenNll(this.decoder, x, sel);
  }

  private lossAndGradients(batch: LmBatch, dropoutSeed?: number): { value: tf.Scalar; grads: tf.NamedTensorMap } {
    const ctx = this.decoder.prepare(batch.tokens);
    const sel = selection(batch.targets);
    const frozen = this.stack.runFrozen(batch.tokens, ctx);
    return tf.variableGrads(() => tf.mean(tokenNll(this.decoder, this.stack.runTrained(frozen, ctx, dropoutSeed), sel)) as tf.Scalar, this.stack.variables);
  }
}

function checkBatch(batch: LmBatch): void {
  if (batch.targets.length !== batch.tokens.batch * batch.tokens.seqLen) throw new Error('LM batch targets do not match batch × seqLen');
  if (batch.lossTokens < 1) throw new Error('LM batch has no loss tokens');
}
