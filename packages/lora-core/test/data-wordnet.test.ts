import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseLexnames, parseWordNetData, WordNetParseError } from '../src/data/wordnet';
import { WORDNET_LEXNAMES } from '../src/data/wordnet-lexnames';
import { classCounts, prepareDataset, seededSplit } from '../src/data/dataset';
import type { LabeledDataset, LabeledText } from '../src/data/types';
import { loadWordNetGlosses, readWordNetItems, WORDNET_DATA_FILES, wordNetDictDir } from '../node/wordnet';

const HEADER = [
  '  1 This software and database is being provided to you, the LICENSEE, by  ',
  '  2 Princeton University under the following license. | not a synset  ',
  '  3   ',
].join('\n');

const SAMPLE = [
  HEADER,
  '00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived or known  ',
  '00002137 03 n 02 abstraction 0 abstract_entity 0 000 | a general concept; "a b | c"  ',
  '00153809 29 v 01 breathe 0 001 @ 00002137 v 0000 01 + 02 00 | draw air into, and expel out of, the lungs  ',
  '',
].join('\n');

test('parseWordNetData skips the license header and labels each gloss by its lex_filenum', () => {
  const items = parseWordNetData(SAMPLE, WORDNET_LEXNAMES);
  assert.deepEqual(items, [
    { text: 'that which is perceived or known', label: 'noun.Tops' },
    // Only the first " | " separates the gloss; later ones belong to it.
    { text: 'a general concept; "a b | c"', label: 'noun.Tops' },
    { text: 'draw air into, and expel out of, the lungs', label: 'verb.body' },
  ]);
});

test('parseWordNetData tolerates CRLF line ends', () => {
  assert.deepEqual(parseWordNetData(SAMPLE.replace(/\n/g, '\r\n'), WORDNET_LEXNAMES), parseWordNetData(SAMPLE, WORDNET_LEXNAMES));
});

test('parseWordNetData rejects malformed lines, unknown lex files and missing glosses, naming the line', () => {
  const bad = (line: string, lexnames: readonly string[] = WORDNET_LEXNAMES) => () =>
    parseWordNetData(`${HEADER}\n${line}\n`, lexnames);
  assert.throws(bad('garbage line'), (e: unknown) => e instanceof WordNetParseError && e.line === 4);
  assert.throws(bad('00001740 45 n 01 x 0 000 | gloss'), /lex_filenum 45/);
  assert.throws(bad('00001740 03 n 01 x 0 000 | gloss', ['a', 'b']), /lex_filenum 03/);
  assert.throws(bad('00001740 03 n 01 x 0 000'), /no gloss/);
  assert.throws(bad('00001740 03 n 01 x 0 000 |   '), /empty gloss/);
});

test('parseLexnames reads "NN name category" lines and checks numbering', () => {
  assert.deepEqual(parseLexnames('00\tadj.all\t3\n01\tadj.pert\t3\n02\tadv.all\t4\n'), ['adj.all', 'adj.pert', 'adv.all']);
  assert.throws(() => parseLexnames('00 a 1\n02 b 1\n'), /file number 1 is missing/);
  assert.throws(() => parseLexnames('00 a 1\n00 b 1\n'), /appears twice/);
});

test('WORDNET_LEXNAMES has the 45 documented lexicographer files', () => {
  assert.equal(WORDNET_LEXNAMES.length, 45);
  assert.equal(new Set(WORDNET_LEXNAMES).size, 45);
  assert.equal(WORDNET_LEXNAMES[3], 'noun.Tops');
  assert.equal(WORDNET_LEXNAMES[29], 'verb.body');
  assert.equal(WORDNET_LEXNAMES[44], 'adj.ppl');
});

// ---- the real database (parsed once for this file) ----

let all: LabeledText[];
let loadMs = 0;
before(() => {
  const t0 = performance.now();
  all = readWordNetItems();
  loadMs = performance.now() - t0;
});

test('real WordNet 3.1: 117,791 glosses in 45 classes', () => {
  console.log(`read + parsed ${all.length} glosses in ${loadMs.toFixed(0)} ms`);
  assert.equal(all.length, 117_791);
  const labels = new Set(all.map((it) => it.label));
  assert.equal(labels.size, 45);
  assert.deepEqual([...labels].sort(), [...WORDNET_LEXNAMES].sort());
  assert.ok(all.every((it) => it.text.length > 0 && it.text === it.text.trim()));
});

test('real WordNet: synset count equals the non-header lines of the data files, and each file keeps to its part of speech', () => {
  const dir = wordNetDictDir();
  const prefixOf = { 'data.noun': 'noun.', 'data.verb': 'verb.', 'data.adj': 'adj.', 'data.adv': 'adv.' } as const;
  let start = 0;
  for (const name of WORDNET_DATA_FILES) {
    const lines = readFileSync(join(dir, name), 'utf8').split('\n');
    const synsets = lines.filter((l) => l.length > 0 && !l.startsWith('  ')).length;
    // readWordNetItems concatenates the files in WORDNET_DATA_FILES order.
    const slice = all.slice(start, start + synsets);
    assert.equal(slice.length, synsets);
    for (const it of slice) assert.ok(it.label.startsWith(prefixOf[name]), `${name} has ${it.label}`);
    start += synsets;
  }
  assert.equal(start, all.length);
});

test('loadWordNetGlosses (the one extra read): top-20 classes by frequency, ids in frequency order, ties by name', () => {
  const ds: LabeledDataset = loadWordNetGlosses();
  assert.equal(ds.classNames.length, 20);
  const counts = classCounts(ds.labels, 20);
  console.log(`top-20: ${ds.classNames.map((n, i) => `${n}=${counts[i]}`).join(', ')}`);
  const fullCounts = new Map<string, number>();
  for (const it of all) fullCounts.set(it.label, (fullCounts.get(it.label) ?? 0) + 1);
  const expectedOrder = [...fullCounts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 20);
  assert.deepEqual(ds.classNames, expectedOrder.map(([n]) => n));
  assert.deepEqual(counts, expectedOrder.map(([, c]) => c));
  assert.equal(ds.texts.length, counts.reduce((s, c) => s + c, 0));
  assert.equal(ds.classNames[0], 'adj.all');
  // With topK = 45 every gloss survives.
  assert.equal(prepareDataset(all, { topK: 45 }).texts.length, 117_791);
});

test('prepareDataset with a per-class cap is deterministic and small; the split is stratified', () => {
  const a = prepareDataset(all, { topK: 5, maxPerClass: 200, seed: 42 });
  const b = prepareDataset(all, { topK: 5, maxPerClass: 200, seed: 42 });
  const c = prepareDataset(all, { topK: 5, maxPerClass: 200, seed: 7 });
  assert.equal(a.texts.length, 1000);
  assert.deepEqual(classCounts(a.labels, 5), [200, 200, 200, 200, 200]);
  assert.deepEqual(a.texts, b.texts);
  assert.notDeepEqual(a.texts, c.texts);
  const { train, test: held } = seededSplit(a, 0.1, 42);
  assert.deepEqual(classCounts(held.labels, 5), [20, 20, 20, 20, 20]);
  assert.equal(train.texts.length, 900);
});
