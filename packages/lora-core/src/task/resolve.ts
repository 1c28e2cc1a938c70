/**
 * From a validated task and the rows its sources hold to the datasets a run uses: the label set
 * (given, or inferred from the training rows), the training set, and the evaluation set (the eval
 * file, else a seeded stratified holdout of the training rows, else none) with the sample the
 * coordinator scores each round. Pure: the node/ shell reads the rows.
 */
import { capPerClass, seededSplit, toDataset, UnknownLabelError } from '../data/dataset';
import type { LabeledDataset, LabeledText } from '../data/types';
import { inferLabels } from './labels';
import { TaskFileError } from './schema';
import type { TaskFile } from './schema';
import { stratifiedSample } from './split';

export type EvalSource = 'file' | 'holdout' | 'none';

export interface ResolveOptions {
  readonly seed: number;
  /** Overrides the task's maxPerClass. */
  readonly maxPerClass?: number;
  /** Overrides the task's evaluation.maxRows. */
  readonly evalRows?: number | 'all';
  /** Named in errors (the task file's path). */
  readonly source?: string;
}

export interface ResolvedTaskData {
  readonly classNames: string[];
  /** Training rows (after the per-label cap and the holdout), or null when the task has none. */
  readonly train: LabeledDataset | null;
  /** The whole evaluation set, or null. */
  readonly evalSet: LabeledDataset | null;
  /** What the coordinator scores each round: evalSet, or its stratified sample. */
  readonly evalSample: LabeledDataset | null;
  readonly evalSource: EvalSource;
}

function labeled(items: readonly LabeledText[], classNames: readonly string[], field: string, source: string): LabeledDataset {
  try {
    return toDataset(items, classNames);
  } catch (err) {
    if (err instanceof UnknownLabelError) {
      const list = err.unknown.map((u) => `"${u.label}" (${u.count} ${u.count === 1 ? 'row' : 'rows'})`).join(', ');
      throw new TaskFileError(source, [`${field}: labels not in the task's label set [${classNames.join(', ')}]: ${list}`]);
    }
    throw err;
  }
}

export function resolveTaskData(
  task: TaskFile,
  trainItems: readonly LabeledText[] | null,
  evalItems: readonly LabeledText[] | null,
  opts: ResolveOptions,
): ResolvedTaskData {
  const source = opts.source ?? `task "${task.name}"`;
  let classNames: string[];
  if (task.labels === 'from-train') {
    if (!trainItems) throw new TaskFileError(source, ['labels: "from-train" needs a "train" source; list the labels when the task has no training file']);
    classNames = inferLabels(trainItems);
    if (classNames.length < 2) throw new TaskFileError(source, [`train: needs at least 2 distinct labels, found ${classNames.length} (${classNames.join(', ')})`]);
  } else {
    classNames = [...task.labels];
  }
  let train = trainItems ? labeled(trainItems, classNames, 'train', source) : null;
  const maxPerClass = opts.maxPerClass ?? task.maxPerClass;
  if (train && maxPerClass !== undefined) train = capPerClass(train, maxPerClass, opts.seed);

  let evalSet: LabeledDataset | null = null;
  let evalSource: EvalSource = 'none';
  if (evalItems) {
    evalSet = labeled(evalItems, classNames, 'eval', source);
    evalSource = 'file';
  } else if (train) {
    if (train.texts.length < 2) throw new TaskFileError(source, ['train: a holdout needs at least 2 training rows (or give an "eval" file)']);
    const split = seededSplit(train, task.evaluation.holdoutFraction, opts.seed);
    train = split.train;
    evalSet = split.test;
    evalSource = 'holdout';
  }
  const maxRows = opts.evalRows ?? task.evaluation.maxRows;
  const evalSample = evalSet && maxRows !== 'all' ? stratifiedSample(evalSet, maxRows, opts.seed) : evalSet;
  return { classNames, train, evalSet, evalSample, evalSource };
}
