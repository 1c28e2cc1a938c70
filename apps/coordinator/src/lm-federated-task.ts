/**
 * A loaded causal-LM task (issue 11) made into what the run loop needs: the task description for
 * tabs (TaskInfo.causalLm: where the checkpoint is served, its hash and size, the SFT template),
 * the initial adapter (fresh, or a PEFT adapter given with --init-adapter), one partition of the
 * training rows per simulated fleet device (category-skewed with the task's categorical field,
 * uniform without), the checkpoint served to tabs under /hf-model/, held-out loss / perplexity per
 * round and PEFT export, both in a worker thread (evaluation/lm-worker.ts).
 */
import { createPartitioner } from './core';
import type { TaskInfo } from './core';
import { modelDirectoryHandler } from './core-node';
import type { LoadedTask } from './core-node';
import { startLmEvaluationWorker } from './evaluation/lm-evaluator';
import type { FederatedTaskOptions } from './federated-task';
import type { FederatedTask, PartitionData, TaskSummary } from './task';

/** Where tabs download the checkpoint (the USE-lite encoder keeps /model/). */
export const HF_MODEL_PREFIX = '/hf-model/';

export interface LmFederatedTaskOptions extends FederatedTaskOptions {
  /** A PEFT LoRA adapter directory the run starts from. */
  readonly initAdapter?: string;
}

export async function createLmFederatedTask(loaded: LoadedTask, o: LmFederatedTaskOptions): Promise<FederatedTask> {
  const lm = loaded.lm;
  if (!lm) throw new Error('createLmFederatedTask: not a causal-LM task');
  const { rank, alpha, targets } = loaded.spec.lora;
  const worker = await startLmEvaluationWorker({
    modelDir: lm.modelDir,
    lora: { rank, alpha: alpha ?? 2 * rank, ...(targets ? { targets } : {}) },
    seed: o.seed,
    maxTokens: loaded.spec.maxTokens,
    batchSize: o.evalBatchSize ?? 16,
    trainBatchSize: o.batchSize,
    template: lm.template,
    rows: lm.evalSample ?? [],
    ...(o.initAdapter === undefined ? {} : { initAdapterDir: o.initAdapter }),
    ...(lm.topics === undefined ? {} : { topics: lm.topics, trainRows: lm.train ?? [] }),
  });
  const grouping = groupingOf(lm.categoryField, worker.topics?.centroids.length);
  const files = await modelDirectoryHandler(lm.modelDir, HF_MODEL_PREFIX);
  const categories = [...lm.categories];
  const train = lm.train ?? [];
  const categoryOf = new Map(categories.map((c, i) => [c, i]));
  // Topic tasks: each training row's nearest topic (found by the worker) is its category, so fleet
  // partitions are topic-skewed and a fleet tab reports (and is checked against) their histogram.
  const topicOf = worker.topics?.trainTopics;
  const labels = Int32Array.from(train, (r, i) => (topicOf ? (topicOf[i] as number) : lm.categoryField === undefined ? 0 : (categoryOf.get(r.category as string) as number)));
  const grouped = lm.categoryField !== undefined || topicOf !== undefined;
  const parts: ArrayLike<number>[] =
    train.length === 0
      ? []
      : !grouped
        ? createPartitioner({ scheme: 'iid', numPartitions: o.partitions, seed: o.seed }).partition(labels, 1)
        : createPartitioner({ scheme: 'dirichlet', numPartitions: o.partitions, alpha: o.dirichletAlpha, seed: o.seed }).partition(labels, categories.length);
  const info: TaskInfo = {
    name: loaded.spec.name,
    classNames: categories,
    numBlocks: worker.numBlocks,
    lora: { rank: worker.lora.rank, alpha: worker.lora.alpha, targets: [...worker.lora.targets] },
    batchSize: o.batchSize,
    seed: o.seed,
    maxTokens: loaded.spec.maxTokens,
    causalLm: {
      modelUrl: HF_MODEL_PREFIX,
      modelHash: lm.modelHash,
      modelBytes: lm.modelBytes,
      modelType: lm.modelType,
      template: { prompt: lm.template.prompt, appendEos: lm.template.appendEos },
      ...(lm.categoryField === undefined ? {} : { categoryField: lm.categoryField }),
      ...(worker.topics ? { topicCentroids: worker.topics.centroids } : {}),
    },
  };
  const partition = (index: number): PartitionData => {
    const rows = parts[index];
    if (!rows) throw new RangeError(parts.length === 0 ? 'this task has no training file: fleet devices have no data' : `partition ${index} outside 0..${parts.length - 1}`);
    const picked = Array.from(rows, (i) => (topicOf ? { ...train[i]!, category: categories[labels[i]!]! } : train[i]!));
    return { index, classNames: categories, texts: [], labels: Array.from(rows, (i) => labels[i]!), rows: picked };
  };
  const summary: TaskSummary = {
    name: loaded.spec.name,
    origin: loaded.origin,
    hash: loaded.hash,
    classNames: categories,
    model: `hf:${lm.modelType}`,
    objective: 'causal-lm',
    trainRows: train.length,
    evalSource: lm.evalSource,
    evalRows: lm.evalSet?.length ?? 0,
    evalScoredRows: lm.evalSample?.length ?? 0,
    lm: {
      modelType: lm.modelType,
      modelDir: lm.modelDir,
      layers: worker.numBlocks,
      modelBytes: lm.modelBytes,
      modelHash: lm.modelHash,
      ...(lm.categoryField === undefined ? {} : { categoryField: lm.categoryField }),
      ...(worker.topics ? { topics: { k: worker.topics.centroids.length, evalRowsPerTopic: worker.topics.sizes, ms: Math.round(worker.topics.ms) } } : {}),
      grouping,
      ...(o.initAdapter === undefined ? {} : { initAdapter: o.initAdapter }),
    },
  };
  const hasEval = (lm.evalSample?.length ?? 0) > 0;
  return {
    info,
    summary,
    initialAdapter: worker.initialAdapter,
    fleet: { numPartitions: parts.length, partition },
    memoryBytesByDepth: worker.memoryBytesByDepth,
    serveFiles: (req, res) => files.handle(req, res),
    exportPeft: (adapter) => worker.exportPeft(adapter, lm.modelDir),
    ...(hasEval
      ? {
          evaluate: async (adapter) => {
            const r = await worker.evaluate(adapter);
            return { accuracy: r.accuracy, loss: r.loss, perplexity: r.perplexity };
          },
        }
      : {}),
    dispose: () => void worker.close(),
  };
}

/** The statistic near-IID grouping uses, as the status and dashboard name it. */
export function groupingOf(categoryField: string | undefined, topics: number | undefined): string {
  if (categoryField !== undefined) return `category field "${categoryField}"`;
  if (topics !== undefined) return `${topics} topic clusters`;
  return 'resources only (the rows have no category field and the task asks for no topic clusters)';
}
