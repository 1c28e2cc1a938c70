import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  capPerClass,
  classCounts,
  prepareDataset,
  seededSplit,
  selectTopKClasses,
  toDataset,
  UnknownLabelError,
} from '../src/data/dataset';
import type { LabeledDataset, LabeledText } from '../src/data/types';

function items(spec: Record<string, number>): LabeledText[] {
  // Interleave labels so that class members are not contiguous.
  const out: LabeledText[] = [];
  const left = { ...spec };
  for (let round = 0; Object.values(left).some((n) => n > 0); round++) {
    for (const label of Object.keys(left)) {
      if ((left[label] as number) > 0) {
        out.push({ text: `${label} #${round}`, label });
        left[label] = (left[label] as number) - 1;
      }
    }
  }
  return out;
}

test('toDataset without a class list sorts label names and maps ids', () => {
  const ds = toDataset([
    { text: 'a', label: 'zeta' },
    { text: 'b', label: 'alpha' },
    { text: 'c', label: 'Beta' },
    { text: 'd', label: 'alpha' },
  ]);
  assert.deepEqual(ds.classNames, ['Beta', 'alpha', 'zeta']);
  assert.deepEqual(Array.from(ds.labels), [2, 1, 0, 1]);
  assert.deepEqual(ds.texts, ['a', 'b', 'c', 'd']);
});

test('toDataset with a class list follows its order and reports every unknown label', () => {
  const ds = toDataset([{ text: 'x', label: 'neg' }, { text: 'y', label: 'pos' }], ['pos', 'neg', 'neutral']);
  assert.deepEqual(Array.from(ds.labels), [1, 0]);
  assert.deepEqual(ds.classNames, ['pos', 'neg', 'neutral']);
  assert.throws(
    () =>
      toDataset(
        [
          { text: 'a', label: 'pos' },
          { text: 'b', label: 'spam' },
          { text: 'c', label: 'ham' },
          { text: 'd', label: 'spam' },
        ],
        ['pos', 'neg'],
      ),
    (e: unknown) =>
      e instanceof UnknownLabelError &&
      JSON.stringify(e.unknown) === JSON.stringify([{ label: 'spam', count: 2 }, { label: 'ham', count: 1 }]) &&
      /"spam" \(2×\)/.test(e.message),
  );
  assert.throws(() => toDataset([], ['a', 'a']), /twice/);
});

test('selectTopKClasses keeps the K most frequent classes, ties broken by name, ids in frequency order', () => {
  const data = items({ d: 5, b: 3, c: 3, a: 1, e: 3 });
  const ds = selectTopKClasses(data, 3);
  assert.deepEqual(ds.classNames, ['d', 'b', 'c']);
  assert.deepEqual(classCounts(ds.labels, 3), [5, 3, 3]);
  // Input order is kept among the survivors.
  assert.deepEqual(ds.texts, data.filter((it) => ['d', 'b', 'c'].includes(it.label)).map((it) => it.text));
  ds.texts.forEach((t, i) => assert.equal(ds.classNames[ds.labels[i] as number], t.split(' ')[0]));
  // Fewer classes than K: all kept.
  assert.equal(selectTopKClasses(data, 10).classNames.length, 5);
  assert.throws(() => selectTopKClasses(data, 0), RangeError);
});

test('capPerClass keeps at most N per class, seeded, in original order', () => {
  const ds = toDataset(items({ a: 50, b: 8, c: 30 }));
  const capped = capPerClass(ds, 10, 1);
  assert.deepEqual(classCounts(capped.labels, 3), [10, 8, 10]);
  assert.deepEqual(capped.texts, capPerClass(ds, 10, 1).texts);
  assert.notDeepEqual(capped.texts, capPerClass(ds, 10, 2).texts);
  const positions = capped.texts.map((t) => ds.texts.indexOf(t));
  assert.deepEqual(positions, [...positions].sort((x, y) => x - y));
  // Not simply the first 10 of each class.
  const firstTenOfA = ds.texts.filter((t) => t.startsWith('a ')).slice(0, 10);
  assert.notDeepEqual(capped.texts.filter((t) => t.startsWith('a ')), firstTenOfA);
});

test('prepareDataset ranks classes before capping', () => {
  const ds = prepareDataset(items({ big: 40, mid: 20, small: 5 }), { topK: 2, maxPerClass: 3, seed: 9 });
  assert.deepEqual(ds.classNames, ['big', 'mid']);
  assert.deepEqual(classCounts(ds.labels, 2), [3, 3]);
});

function checkSplit(ds: LabeledDataset, testFraction: number, seed: number) {
  const { train, test: held } = seededSplit(ds, testFraction, seed);
  assert.equal(train.texts.length + held.texts.length, ds.texts.length);
  const trainSet = new Set(train.texts);
  for (const t of held.texts) assert.ok(!trainSet.has(t), `${t} in both halves`);
  assert.deepEqual([...train.texts, ...held.texts].sort(), [...ds.texts].sort());
  assert.equal(train.classNames, ds.classNames);
  return { train, held };
}

test('seededSplit is stratified, disjoint, complete and deterministic', () => {
  const ds = toDataset(items({ a: 100, b: 40, c: 10, d: 2, e: 1 }));
  const { train, held } = checkSplit(ds, 0.1, 42);
  // round(n * 0.1), at least 1 when n >= 2, never the whole class.
  assert.deepEqual(classCounts(held.labels, 5), [10, 4, 1, 1, 0]);
  assert.deepEqual(classCounts(train.labels, 5), [90, 36, 9, 1, 1]);
  const again = seededSplit(ds, 0.1, 42);
  assert.deepEqual(again.test.texts, held.texts);
  assert.notDeepEqual(seededSplit(ds, 0.1, 43).test.texts, held.texts);
  // Labels still match their texts after subsetting.
  held.texts.forEach((t, i) => assert.equal(held.classNames[held.labels[i] as number], t.split(' ')[0]));
  const none = checkSplit(ds, 0, 42);
  assert.equal(none.held.texts.length, 0);
  assert.throws(() => seededSplit(ds, 1, 42), RangeError);
});
