/**
 * The training loop as one async generator of progress events, nested rounds → epochs → batches
 * (DISCO's trainer structure, flattened): every batch yields a `batch` event, every epoch ends
 * with an `epoch` event (with a test evaluation when asked), every round with a `round` event.
 * A CLI prints epochs, a UI draws batches, a test reads losses; `break` stops training.
 *
 * The generator is lazy: nothing runs while the consumer handles an event, so between a `round`
 * event and the next `next()` call the consumer may, e.g., load a new global adapter.
 */
import type { EvalResult, LabeledBatch } from './classifier';

/** What the loop drives (LoraClassifier satisfies it). */
export interface StepModel {
  trainStep(batch: LabeledBatch): Promise<{ loss: number }>;
  evaluate(batches: Iterable<LabeledBatch>): Promise<EvalResult>;
}

export interface TrainingLoopOptions {
  /** Default 1 (a centralized run is one round). */
  readonly rounds?: number;
  readonly epochsPerRound: number;
  readonly batchesPerEpoch: number;
  /** Source of training batches, pulled `batchesPerEpoch` at a time (e.g. trainingBatches(...)). */
  readonly batches: Iterator<LabeledBatch>;
  /** When given, evaluated after every epoch (a fresh iterable each time). */
  readonly evaluationBatches?: () => Iterable<LabeledBatch>;
  /** Clock in ms; defaults to performance.now. */
  readonly now?: () => number;
}

interface Position {
  /** 0-based. */
  readonly round: number;
  /** 0-based within the round. */
  readonly epoch: number;
}

export interface BatchEvent extends Position {
  readonly kind: 'batch';
  /** 0-based within the epoch. */
  readonly batch: number;
  /** 1-based count of steps since the loop started. */
  readonly step: number;
  readonly loss: number;
  readonly size: number;
  /** Wall ms of this step (batch construction included). */
  readonly ms: number;
}

export interface EpochEvent extends Position {
  readonly kind: 'epoch';
  readonly steps: number;
  /** Sample-weighted mean training loss over the epoch. */
  readonly meanLoss: number;
  /** Wall ms of the epoch's steps (evaluation excluded). */
  readonly ms: number;
  readonly evaluation?: EvalResult;
  readonly evaluationMs?: number;
}

export interface RoundEvent {
  readonly kind: 'round';
  readonly round: number;
  readonly steps: number;
  readonly meanLoss: number;
  readonly ms: number;
}

export type TrainingEvent = BatchEvent | EpochEvent | RoundEvent;

export async function* trainingLoop(model: StepModel, o: TrainingLoopOptions): AsyncGenerator<TrainingEvent, void> {
  const rounds = o.rounds ?? 1;
  for (const [name, v] of [['rounds', rounds], ['epochsPerRound', o.epochsPerRound], ['batchesPerEpoch', o.batchesPerEpoch]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  }
  const now = o.now ?? (() => performance.now());
  let step = 0;
  for (let round = 0; round < rounds; round++) {
    const roundTotals = { loss: 0, samples: 0, steps: 0, ms: 0 };
    for (let epoch = 0; epoch < o.epochsPerRound; epoch++) {
      const totals = { loss: 0, samples: 0, ms: 0 };
      for (let batch = 0; batch < o.batchesPerEpoch; batch++) {
        const t0 = now();
        const next = o.batches.next();
        if (next.done) throw new Error(`the batch source ran dry in round ${round}, epoch ${epoch}, batch ${batch}`);
        const { loss } = await model.trainStep(next.value);
        const ms = now() - t0;
        const size = next.value.labels.length;
        step++;
        totals.loss += loss * size;
        totals.samples += size;
        totals.ms += ms;
        yield { kind: 'batch', round, epoch, batch, step, loss, size, ms };
      }
      const meanLoss = totals.loss / totals.samples;
      roundTotals.loss += totals.loss;
      roundTotals.samples += totals.samples;
      roundTotals.steps += o.batchesPerEpoch;
      roundTotals.ms += totals.ms;
      const base = { kind: 'epoch', round, epoch, steps: o.batchesPerEpoch, meanLoss, ms: totals.ms } as const;
      if (o.evaluationBatches) {
        const t0 = now();
        const evaluation = await model.evaluate(o.evaluationBatches());
        yield { ...base, evaluation, evaluationMs: now() - t0 };
      } else {
        yield base;
      }
    }
    yield { kind: 'round', round, steps: roundTotals.steps, meanLoss: roundTotals.loss / roundTotals.samples, ms: roundTotals.ms };
  }
}

/** ceil(rows / batchSize): batches in one pass over `rows` samples. */
export function batchesPerPass(rows: number, batchSize: number): number {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  return Math.ceil(rows / batchSize);
}
