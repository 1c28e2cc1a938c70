/**
 * A loaded task (lora-core's node/ shell reads the files) made into what the run loop needs: the
 * task description for devices, the initial adapter, one label-skewed partition of the training
 * rows per simulated fleet device, and evaluation of global adapters, which runs in a worker
 * thread (evaluation/worker.ts) so the event loop keeps answering devices and the dashboard.
 */
import { createPartitioner, DEFAULT_LORA, subsetDataset } from './core';
import type { LabeledDataset, LoraConfig, TaskInfo } from './core';
import type { LoadedTask } from './core-node';
import { startEvaluationWorker } from './evaluation/evaluator';
import type { FederatedTask, PartitionData, TaskSummary } from './task';

export interface FederatedTaskOptions {
  /** Fleet partitions (one per simulated device). */
  readonly partitions: number;
  readonly dirichletAlpha: number;
  readonly seed: number;
  readonly batchSize: number;
  readonly evalBatchSize?: number;
}

export function loraConfigOf(task: LoadedTask): LoraConfig {
  const { rank, alpha, targets } = task.spec.lora;
  return { ...DEFAULT_LORA, rank, alpha: alpha ?? 2 * rank, ...(targets ? { targets } : {}) };
}

export function taskSummaryOf(task: LoadedTask): TaskSummary {
  const d = task.data;
  return {
    name: task.spec.name,
    origin: task.origin,
    hash: task.hash,
    classNames: [...d.classNames],
    model: task.spec.model.family,
    objective: task.spec.objective.type,
    trainRows: d.train?.texts.length ?? 0,
    evalSource: d.evalSource,
    evalRows: d.evalSet?.texts.length ?? 0,
    evalScoredRows: d.evalSample?.texts.length ?? 0,
  };
}

export async function createFederatedTask(loaded: LoadedTask, o: FederatedTaskOptions): Promise<FederatedTask> {
  const { classNames, train, evalSample } = loaded.data;
  const numClasses = classNames.length;
  const lora = loraConfigOf(loaded);
  const worker = await startEvaluationWorker({
    numClasses,
    lora,
    seed: o.seed,
    maxTokens: loaded.spec.maxTokens,
    rows: evalSample,
    ...(o.evalBatchSize === undefined ? {} : { batchSize: o.evalBatchSize }),
  });
  const parts: ArrayLike<number>[] =
    train && train.texts.length > 0
      ? createPartitioner({ scheme: 'dirichlet', numPartitions: o.partitions, alpha: o.dirichletAlpha, seed: o.seed }).partition(train.labels, numClasses)
      : [];
  const info: TaskInfo = {
    name: loaded.spec.name,
    classNames,
    numBlocks: worker.numBlocks,
    lora: { rank: lora.rank, alpha: lora.alpha, targets: [...lora.targets] },
    batchSize: o.batchSize,
    seed: o.seed,
    maxTokens: loaded.spec.maxTokens,
  };
  const partitionData = (index: number): PartitionData => {
    const rows = parts[index];
    if (!rows || !train) throw new RangeError(parts.length === 0 ? 'this task has no training file: fleet devices have no data' : `partition ${index} outside 0..${parts.length - 1}`);
    const part: LabeledDataset = subsetDataset(train, rows);
    return { index, classNames, texts: part.texts, labels: Array.from(part.labels) };
  };
  const hasEval = evalSample !== null && evalSample.texts.length > 0;
  return {
    info,
    summary: taskSummaryOf(loaded),
    initialAdapter: worker.initialAdapter,
    fleet: { numPartitions: parts.length, partition: partitionData },
    ...(hasEval
      ? {
          evaluate: async (adapter) => {
            const r = await worker.evaluate(adapter);
            return { accuracy: r.accuracy, loss: r.loss };
          },
        }
      : {}),
    dispose: () => void worker.close(),
  };
}
