/**
 * Turning labeled texts into integer-labeled datasets, and deterministic class selection, capping and splitting.
 */
import { createRng } from './random';
import type { LabeledDataset, LabeledText } from './types';

export const DEFAULT_TOP_K = 20;
export const DEFAULT_TEST_FRACTION = 0.1;
export const DEFAULT_SEED = 42;

export class UnknownLabelError extends Error {
  constructor(
    /** Each unknown label with how many items carry it, in order of first appearance. */
    readonly unknown: ReadonlyArray<{ label: string; count: number }>,
    readonly classNames: readonly string[],
  ) {
    const list = unknown.map((u) => `"${u.label}" (${u.count}×)`).join(', ');
    super(`labels not in the class list [${classNames.join(', ')}]: ${list}`);
    this.name = 'UnknownLabelError';
  }
}

/** Plain code-unit order, so results do not depend on the host's locale. */
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Map labels to ids. With `classNames` given, ids follow that list and a label outside it is an error
 * (UnknownLabelError lists every unknown label). Without it, the classes are the distinct labels sorted by name,
 * so two devices holding the same label set agree on ids.
 */
export function toDataset(items: readonly LabeledText[], classNames?: readonly string[]): LabeledDataset {
  let names: string[];
  if (classNames) {
    names = [...classNames];
    const seen = new Set<string>();
    for (const n of names) {
      if (seen.has(n)) throw new Error(`class list names "${n}" twice`);
      seen.add(n);
    }
  } else {
    names = [...new Set(items.map((it) => it.label))].sort(compareNames);
  }
  const idOf = new Map(names.map((n, i) => [n, i] as const));
  const labels = new Int32Array(items.length);
  const unknown = new Map<string, number>();
  items.forEach((it, i) => {
    const id = idOf.get(it.label);
    if (id === undefined) unknown.set(it.label, (unknown.get(it.label) ?? 0) + 1);
    else labels[i] = id;
  });
  if (unknown.size > 0) {
    throw new UnknownLabelError([...unknown].map(([label, count]) => ({ label, count })), names);
  }
  return { texts: items.map((it) => it.text), labels, classNames: names };
}

/** counts[c] = number of samples with label c. */
export function classCounts(labels: Int32Array, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (const l of labels) {
    if (l < 0 || l >= numClasses) throw new RangeError(`label ${l} outside [0, ${numClasses})`);
    counts[l] = (counts[l] as number) + 1;
  }
  return counts;
}

/** The samples at `indices` (in that order), keeping the class list. */
export function subsetDataset(dataset: LabeledDataset, indices: ArrayLike<number>): LabeledDataset {
  const texts = new Array<string>(indices.length);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const src = indices[i] as number;
    texts[i] = dataset.texts[src] as string;
    labels[i] = dataset.labels[src] as number;
  }
  return { texts, labels, classNames: dataset.classNames };
}

/**
 * Keep the items of the K most frequent labels. Ties in frequency are broken by label name; class id 0 is the most
 * frequent class. Items keep their input order. If there are fewer than K labels, all are kept.
 */
export function selectTopKClasses(items: readonly LabeledText[], k: number): LabeledDataset {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
  const freq = new Map<string, number>();
  for (const it of items) freq.set(it.label, (freq.get(it.label) ?? 0) + 1);
  const ranked = [...freq].sort((a, b) => b[1] - a[1] || compareNames(a[0], b[0]));
  const classNames = ranked.slice(0, k).map(([name]) => name);
  const chosen = new Set(classNames);
  return toDataset(
    items.filter((it) => chosen.has(it.label)),
    classNames,
  );
}

/**
 * At most `maxPerClass` samples per class, chosen by a seeded shuffle within each class; survivors keep their
 * original relative order. Classes already under the cap are untouched.
 */
export function capPerClass(dataset: LabeledDataset, maxPerClass: number, seed: number = DEFAULT_SEED): LabeledDataset {
  if (!Number.isInteger(maxPerClass) || maxPerClass < 1) {
    throw new RangeError(`maxPerClass must be a positive integer, got ${maxPerClass}`);
  }
  const rng = createRng(seed);
  const keep: number[] = [];
  for (const members of indicesByClass(dataset.labels, dataset.classNames.length)) {
    if (members.length > maxPerClass) rng.shuffle(members);
    keep.push(...members.slice(0, maxPerClass));
  }
  keep.sort((a, b) => a - b);
  return subsetDataset(dataset, keep);
}

/** byClass[c] = indices of class c, ascending. */
export function indicesByClass(labels: Int32Array, numClasses: number): number[][] {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  labels.forEach((l, i) => {
    const bucket = byClass[l];
    if (!bucket) throw new RangeError(`label ${l} at index ${i} outside [0, ${numClasses})`);
    bucket.push(i);
  });
  return byClass;
}

export interface DatasetSplit {
  readonly train: LabeledDataset;
  readonly test: LabeledDataset;
}

/**
 * Deterministic stratified split. Per class of n samples, round(n * testFraction) go to test, but at least one when
 * testFraction > 0 and n >= 2, and never all n (every class keeps a training sample). Both halves keep input order.
 */
export function seededSplit(
  dataset: LabeledDataset,
  testFraction: number = DEFAULT_TEST_FRACTION,
  seed: number = DEFAULT_SEED,
): DatasetSplit {
  if (!(testFraction >= 0 && testFraction < 1)) throw new RangeError(`testFraction must be in [0, 1), got ${testFraction}`);
  const rng = createRng(seed);
  const train: number[] = [];
  const test: number[] = [];
  for (const members of indicesByClass(dataset.labels, dataset.classNames.length)) {
    const n = members.length;
    if (n === 0) continue;
    let nTest = Math.round(n * testFraction);
    if (testFraction > 0 && n >= 2) nTest = Math.max(1, nTest);
    nTest = Math.min(nTest, n - 1);
    rng.shuffle(members);
    test.push(...members.slice(0, nTest));
    train.push(...members.slice(nTest));
  }
  train.sort((a, b) => a - b);
  test.sort((a, b) => a - b);
  return { train: subsetDataset(dataset, train), test: subsetDataset(dataset, test) };
}

export interface PrepareOptions {
  /** Keep the K most frequent classes (default 20). */
  readonly topK?: number;
  /** Optional cap on samples per class, applied after class selection (ranking uses the uncapped counts). */
  readonly maxPerClass?: number;
  readonly seed?: number;
}

/** selectTopKClasses followed by the optional per-class cap. */
export function prepareDataset(items: readonly LabeledText[], opts: PrepareOptions = {}): LabeledDataset {
  const selected = selectTopKClasses(items, opts.topK ?? DEFAULT_TOP_K);
  return opts.maxPerClass === undefined ? selected : capPerClass(selected, opts.maxPerClass, opts.seed ?? DEFAULT_SEED);
}
