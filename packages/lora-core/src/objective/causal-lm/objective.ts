/**
 * The causal-LM objective as the task layer uses it: rows + tokenizer + limits in; seeded training
 * batches, evaluation batches, a trainer at a depth, and the planner's memory per depth out. A task
 * file with `objective: "causal-lm"` maps onto `CausalLmObjectiveOptions` one to one.
 */
import { createRng } from '../../data/random';
import { decoderMemoryBytesByDepth } from '../../model/decoder/memory';
import type { DecoderConfig } from '../../model/hf/config';
import type { CausalDecoder } from '../../model/family';
import type { LoraConfig } from '../../lora/config';
import { lmBatches, makeLmBatch, type LmBatch } from './batch';
import { DEFAULT_SFT_TEMPLATE, encodeRows, type CausalLmRow, type EncodedRow, type LmTokenizer, type SftTemplate } from './examples';
import { LoraCausalLm } from './trainer';

export interface CausalLmObjectiveOptions {
  /** Tokens kept per row (the first ones). */
  readonly maxTokens: number;
  readonly batchSize: number;
  readonly template?: SftTemplate;
}

export interface CausalLmObjective {
  readonly train: readonly EncodedRow[];
  readonly evaluation: readonly EncodedRow[];
  /** Rows skipped because truncation left them no loss token. */
  readonly dropped: number;
  /** Endless seeded batches over the training rows (reshuffled every pass). */
  trainingBatches(seed: number): Iterator<LmBatch>;
  evaluationBatches(): Iterable<LmBatch>;
  trainer(decoder: CausalDecoder, o: { depth: number; lora: LoraConfig; learningRate: number; seed: number }): LoraCausalLm;
  /** Estimated step memory at depths 1..layers for this batch shape (planner input). */
  memoryBytesByDepth(config: DecoderConfig, lora: LoraConfig): number[];
}

export function causalLmObjective(
  tokenizer: LmTokenizer,
  rows: { readonly train: readonly CausalLmRow[]; readonly evaluation?: readonly CausalLmRow[] },
  o: CausalLmObjectiveOptions,
): CausalLmObjective {
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${o.batchSize}`);
  const template = o.template ?? DEFAULT_SFT_TEMPLATE;
  const train = encodeRows(tokenizer, rows.train, o.maxTokens, template);
  const evaluation = encodeRows(tokenizer, rows.evaluation ?? [], o.maxTokens, template);
  if (train.rows.length === 0) throw new Error(`no training row keeps a loss token within ${o.maxTokens} tokens`);
  const padId = tokenizer.special.pad ?? 0;
  return {
    train: train.rows,
    evaluation: evaluation.rows,
    dropped: train.dropped + evaluation.dropped,
    *trainingBatches(seed: number) {
      const rng = createRng(seed);
      for (;;) {
        const order = rng.shuffle(train.rows.map((_, i) => i));
        for (let i = 0; i < order.length; i += o.batchSize) yield makeLmBatch(order.slice(i, i + o.batchSize).map((k) => train.rows[k]!), padId);
      }
    },
    evaluationBatches: () => lmBatches(evaluation.rows, o.batchSize, padId),
    trainer: (decoder, t) => new LoraCausalLm(decoder, t),
    memoryBytesByDepth: (config, lora) =>
      decoderMemoryBytesByDepth(config, { batch: o.batchSize, seqLen: o.maxTokens, rank: lora.rank, targetsPerLayer: lora.targets.length }),
  };
}
