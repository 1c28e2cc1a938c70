/** What the compare CLI and its workers both build from one serializable setting: model, data split, local trainer. */
import { fetchUseLiteAsset, loadTask as loadTaskFile, loadWordNetGlosses, useBackend } from '../../node';
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
  /** Frozen-prefix cache budget per trainer (each worker has its own), MB; 0 = off. */
  readonly prefixCacheMb?: number;
  /** --task: a built-in task name or a task file; undefined = WordNet (top-K, per-class cap, 20% holdout). */
  readonly task?: string;
}

export interface LoadedTask {
  /** The task's name (a task file's spec name; 'wordnet' for the built-in split). */
  readonly name: string;
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
  const { train, test, name } = s.task === undefined ? { ...wordNetSplit(s), name: 'wordnet' } : taskSplit(s.task, s);
  const numClasses = train.classNames.length;
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
    prefixCacheBytes: (s.prefixCacheMb ?? 0) * 1e6,
  });
  return { name, encoder, train, test, evaluation, numClasses, trainer };
}

function wordNetSplit(s: TaskSetting): { train: LabeledDataset; test: LabeledDataset } {
  return seededSplit(loadWordNetGlosses({ topK: s.topK, maxPerClass: s.maxPerClass, seed: s.seed }), s.testFraction, s.seed);
}

/** A task's training rows and its whole evaluation set (the eval file, or its holdout). */
function taskSplit(ref: string, s: TaskSetting): { train: LabeledDataset; test: LabeledDataset; name: string } {
  const { data, spec } = loadTaskFile(ref, { seed: s.seed, maxPerClass: s.maxPerClass, evalRows: 'all' });
  if (!data.train || !data.evalSet) throw new Error(`task "${spec.name}" needs training rows and an evaluation set for a simulation`);
  return { train: data.train, test: data.evalSet, name: spec.name };
}
