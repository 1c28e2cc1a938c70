/**
 * The default task: classify WordNet glosses by lexicographer file with USE-lite + LoRA. The
 * coordinator holds the held-out test split and evaluates each global adapter on it with tfjs
 * (wasm backend in Node); the training split is cut into one Dirichlet-skewed partition per
 * simulated fleet device.
 */
import { createPartitioner, DEFAULT_LORA, initialAdapter, lengthSortedBatches, LoraClassifier, loadUseLiteModel, seededSplit, subsetDataset } from './core';
import type { AdapterState, LabeledDataset, LoraConfig, TaskInfo } from './core';
import { fetchUseLiteAsset, loadWordNetGlosses, useBackend } from './core-node';
import type { FederatedTask, PartitionData } from './task';

export interface WordNetTaskOptions {
  /** Fleet partitions (one per simulated device). */
  readonly partitions: number;
  readonly dirichletAlpha: number;
  readonly seed: number;
  readonly topK: number;
  readonly maxPerClass?: number;
  readonly rank: number;
  readonly batchSize: number;
  readonly testFraction?: number;
  readonly evalBatchSize?: number;
}

export async function createWordNetTask(o: WordNetTaskOptions): Promise<FederatedTask> {
  await useBackend('wasm');
  const encoder = await loadUseLiteModel(fetchUseLiteAsset);
  const dataset = loadWordNetGlosses({ topK: o.topK, seed: o.seed, ...(o.maxPerClass === undefined ? {} : { maxPerClass: o.maxPerClass }) });
  const { train, test } = seededSplit(dataset, o.testFraction ?? 0.1, o.seed);
  const numClasses = dataset.classNames.length;
  const parts = createPartitioner({ scheme: 'dirichlet', numPartitions: o.partitions, alpha: o.dirichletAlpha, seed: o.seed }).partition(
    train.labels,
    numClasses,
  );
  const lora: LoraConfig = { ...DEFAULT_LORA, rank: o.rank };
  const numBlocks = encoder.blocks.length;
  const evaluator = new LoraClassifier(encoder, {
    numClasses,
    depth: numBlocks,
    lora,
    learningRate: 1e-3,
    headLearningRate: 1e-2,
    seed: o.seed,
  });
  const info: TaskInfo = {
    name: 'wordnet-lexnames',
    classNames: dataset.classNames,
    numBlocks,
    lora: { rank: lora.rank, alpha: lora.alpha, targets: [...lora.targets] },
    batchSize: o.batchSize,
    seed: o.seed,
  };
  const partitionData = (index: number): PartitionData => {
    const rows = parts[index];
    if (!rows) throw new RangeError(`partition ${index} outside 0..${parts.length - 1}`);
    const part: LabeledDataset = subsetDataset(train, rows);
    return { index, classNames: dataset.classNames, texts: part.texts, labels: Array.from(part.labels) };
  };
  return {
    info,
    initialAdapter: initialAdapter(encoder.blocks, encoder.featureDim, numClasses, lora, o.seed),
    fleet: { numPartitions: parts.length, partition: partitionData },
    evaluate: async (adapter: AdapterState) => {
      evaluator.setAdapter(adapter);
      const r = await evaluator.evaluate(lengthSortedBatches(encoder, test, o.evalBatchSize ?? 64));
      return { accuracy: r.accuracy, loss: r.loss };
    },
    dispose: () => {
      evaluator.dispose();
      encoder.dispose();
    },
  };
}
