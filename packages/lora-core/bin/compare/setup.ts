/** What the compare CLI and its workers both build from one serializable setting: model, data split, local trainer. */
import { fetchUseLiteAsset, loadWordNetGlosses, useBackend } from '../../node';
import type { NodeBackend } from '../../node';
import { DEFAULT_LORA, loadUseLiteModel, seededSplit, withMaxTokens } from '../../src';
import type { LabeledDataset, TextEncoder } from '../../src';
import { LocalTrainer, lengthSortedSubset } from '../../src/sim';

/** Plain data, sent to every worker. */
export interface TaskSetting {
  readonly backend: NodeBackend;
  readonly topK: number;
  readonly maxPerClass: number;
  readonly testFraction: number;
  readonly maxLen: number;
  readonly rank: number;
  readonly learningRate: number;
  readonly headLearningRate: number;
  readonly batchSize: number;
  readonly evalCount: number;
  readonly seed: number;
}

export interface LoadedTask {
  readonly encoder: TextEncoder;
  readonly train: LabeledDataset;
  readonly test: LabeledDataset;
  readonly evaluation: LabeledDataset;
  readonly numClasses: number;
  readonly trainer: LocalTrainer;
}

export async function loadTask(s: TaskSetting): Promise<LoadedTask> {
  await useBackend(s.backend);
  const encoder = withMaxTokens(await loadUseLiteModel(fetchUseLiteAsset), s.maxLen);
  const dataset = loadWordNetGlosses({ topK: s.topK, maxPerClass: s.maxPerClass, seed: s.seed });
  const { train, test } = seededSplit(dataset, s.testFraction, s.seed);
  const numClasses = dataset.classNames.length;
  const evaluation = lengthSortedSubset(encoder, test, s.evalCount, s.seed);
  const trainer = new LocalTrainer({
    encoder,
    train,
    numClasses,
    lora: { ...DEFAULT_LORA, rank: s.rank, alpha: 2 * s.rank },
    learningRate: s.learningRate,
    headLearningRate: s.headLearningRate,
    batchSize: s.batchSize,
    seed: s.seed,
    evaluation,
    evaluationBatchSize: 64,
  });
  return { encoder, train, test, evaluation, numClasses, trainer };
}
