/** Task files: validation names every bad field; labels inferred; holdout and evaluation sample are seeded and stratified. */
import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadTask, loadTaskFromFiles } from '../node/task-files';
import { toDataset } from '../src/data';
import {
  BUILTIN_TASKS,
  checkLabels,
  DEFAULT_EVAL_ROWS,
  describeUnknownLabels,
  inferLabels,
  parseTaskFile,
  parseTaskJson,
  resolveTaskData,
  stratifiedSample,
  TaskFileError,
} from '../src/task';

function problems(raw: unknown): string[] {
  try {
    parseTaskFile(raw);
  } catch (err) {
    assert.ok(err instanceof TaskFileError, String(err));
    return [...err.problems];
  }
  assert.fail('expected a TaskFileError');
}

function assertProblem(raw: unknown, field: string, pattern: RegExp): void {
  const found = problems(raw);
  assert.ok(
    found.some((p) => p.startsWith(`${field}:`) && pattern.test(p)),
    `expected a problem on ${field} matching ${pattern}, got:\n${found.join('\n')}`,
  );
}

test('a minimal task file gets every default', () => {
  const t = parseTaskFile({ name: 'reviews', train: 'train.jsonl' });
  assert.equal(t.version, 1);
  assert.equal(t.labels, 'from-train');
  assert.deepEqual(t.train, { path: 'train.jsonl', textField: 'text', labelField: 'label' });
  assert.equal(t.eval, undefined);
  assert.deepEqual(t.model, { family: 'use-lite' });
  assert.deepEqual(t.objective, { type: 'classification' });
  assert.equal(t.lora.rank, 8);
  assert.equal(t.maxTokens, 64);
  assert.deepEqual(t.defaults, {});
  assert.deepEqual(t.evaluation, { maxRows: DEFAULT_EVAL_ROWS, holdoutFraction: 0.1 });
});

test('a full task file keeps what it says; objective may be written as a string', () => {
  const t = parseTaskFile({
    name: 'tickets v2',
    labels: ['bug', 'question', 'feature'],
    train: { path: 'data/train.csv', format: 'csv', textField: 'body', labelField: 'kind', delimiter: ';' },
    eval: 'data/test.jsonl',
    maxPerClass: 500,
    model: { family: 'use-lite' },
    objective: 'classification',
    lora: { rank: 4, alpha: 8, targets: ['qkv', 'ffn_out'] },
    maxTokens: 48,
    defaults: { batchSize: 8, learningRate: 0.002, headLearningRate: 0.05, localSteps: 6 },
    evaluation: { maxRows: 'all', holdoutFraction: 0.2 },
  });
  assert.deepEqual(t.labels, ['bug', 'question', 'feature']);
  assert.deepEqual(t.objective, { type: 'classification' });
  assert.deepEqual(t.lora, { rank: 4, alpha: 8, targets: ['qkv', 'ffn_out'] });
  assert.equal(t.evaluation.maxRows, 'all');
  assert.equal((t.train as { delimiter?: string }).delimiter, ';');
});

test('every field has its own error, named by its path', () => {
  assertProblem({}, 'name', /expected string|Invalid/i);
  assertProblem({ name: '' }, 'name', /must not be empty/);
  assertProblem({ name: '../evil' }, 'name', /must start with a letter or digit/);
  assertProblem({ name: 'x', version: 2 }, 'version', /must be 1/);
  assertProblem({ name: 'x', description: 5 }, 'description', /string/);
  assertProblem({ name: 'x', labels: ['only'] }, 'labels', /at least 2 labels|from-train/);
  assertProblem({ name: 'x', labels: ['a', 'a'] }, 'labels', /twice|from-train/);
  assertProblem({ name: 'x', labels: 'guess' }, 'labels', /from-train/);
  assertProblem({ name: 'x', train: 42 }, 'train', /file path|builtin/);
  assertProblem({ name: 'x', train: { path: '' } }, 'train.path', /must not be empty/);
  assertProblem({ name: 'x', eval: { path: 'a.txt', format: 'xml' } }, 'eval', /jsonl|csv|file path/);
  assertProblem({ name: 'x', train: { builtin: 'imagenet' } }, 'train', /wordnet|file path/);
  assertProblem({ name: 'x', maxPerClass: 0 }, 'maxPerClass', />=\s*1|too small/i);
  assertProblem({ name: 'x', model: { family: 'gpt7' } }, 'model.family', /use-lite/);
  assertProblem({ name: 'x', model: { family: 'use-lite', dir: '/m' } }, 'model', /unknown field\(s\) "dir"/);
  assertProblem({ name: 'x', objective: 'regression' }, 'objective.type', /classification, causal-lm/);
  assertProblem({ name: 'x', objective: 'causal-lm' }, 'model', /Hugging Face decoder/);
  assertProblem({ name: 'x', model: { family: 'hf', dir: 'm' } }, 'objective', /causal-lm/);
  assertProblem({ name: 'x', lora: { targets: ['attn.c_attn'] } }, 'lora.targets', /decoder modules/);
  assertProblem({ name: 'x', lora: { rank: 0 } }, 'lora.rank', /too small|>=/i);
  assertProblem({ name: 'x', lora: { alpha: -1 } }, 'lora.alpha', /too small|>|positive/i);
  assertProblem({ name: 'x', lora: { targets: ['wq'] } }, 'lora.targets[0]', /qkv/);
  assertProblem({ name: 'x', lora: { targets: [] } }, 'lora.targets', /at least one/);
  assertProblem({ name: 'x', maxTokens: 1.5 }, 'maxTokens', /int/i);
  assertProblem({ name: 'x', defaults: { batchSize: 0 } }, 'defaults.batchSize', /too small|>=/i);
  assertProblem({ name: 'x', defaults: { learningRate: 0 } }, 'defaults.learningRate', /too small|>|positive/i);
  assertProblem({ name: 'x', defaults: { headLearningRate: 'fast' } }, 'defaults.headLearningRate', /number/);
  assertProblem({ name: 'x', defaults: { localSteps: -3 } }, 'defaults.localSteps', /too small|>=/i);
  assertProblem({ name: 'x', evaluation: { maxRows: 0 } }, 'evaluation.maxRows', /too small|positive integer or "all"/i);
  assertProblem({ name: 'x', evaluation: { holdoutFraction: 1 } }, 'evaluation.holdoutFraction', /too big|</i);
  assertProblem({ name: 'x', colour: 'blue' }, '(task)', /unknown field\(s\) "colour"$/);
  assertProblem({ name: 'x', trian: 'a.jsonl' }, '(task)', /unknown field\(s\) "trian" \(did you mean "train"\?\)/);
  // Every problem at once, not the first only.
  assert.ok(problems({ name: '', lora: { rank: 0 }, maxTokens: 0 }).length >= 3);
});

test('bad JSON is a TaskFileError naming the file', () => {
  assert.throws(() => parseTaskJson('{"name": ', '/tmp/t.json'), (err: unknown) => err instanceof TaskFileError && /\/tmp\/t\.json/.test(err.message) && /not valid JSON/.test(err.message));
});

test('the built-in WordNet task is a valid task file', () => {
  const t = parseTaskFile(BUILTIN_TASKS.wordnet);
  assert.equal(t.name, 'wordnet-lexnames');
  assert.deepEqual(t.train, { builtin: 'wordnet', topK: 20 });
});

const rows = (spec: string) =>
  spec.split(' ').map((pair, i) => {
    const [label, n] = pair.split(':') as [string, string];
    return Array.from({ length: Number(n) }, (_, j) => ({ text: `${label} row ${i}.${j}`, label }));
  }).flat();

test('labels are inferred from the training rows in code-unit order', () => {
  assert.deepEqual(inferLabels(rows('beta:2 alpha:3 Gamma:1 beta:1')), ['Gamma', 'alpha', 'beta']);
  const t = parseTaskFile({ name: 'x', train: 'a.jsonl' });
  const r = resolveTaskData(t, rows('b:5 a:5'), null, { seed: 1 });
  assert.deepEqual(r.classNames, ['a', 'b']);
});

test('"from-train" without a training file, and rows outside a given label set, are refused clearly', () => {
  assert.throws(() => resolveTaskData(parseTaskFile({ name: 'x', eval: 'e.jsonl' }), null, rows('a:3 b:3'), { seed: 1 }), /labels: "from-train" needs a "train" source/);
  const given = parseTaskFile({ name: 'x', labels: ['a', 'b'], train: 't.jsonl' });
  assert.throws(() => resolveTaskData(given, rows('a:3 b:3 c:2 d:1'), null, { seed: 1 }), /train: labels not in the task's label set \[a, b\]: "c" \(2 rows\), "d" \(1 row\)/);
  assert.throws(() => resolveTaskData(given, rows('a:3 b:3'), rows('a:1 z:4'), { seed: 1 }), /eval: labels not in .*"z" \(4 rows\)/);
});

test('no eval file: a seeded stratified holdout, the same for the same seed, different for another', () => {
  const t = parseTaskFile({ name: 'x', train: 't.jsonl', evaluation: { holdoutFraction: 0.2 } });
  const items = rows('a:50 b:30 c:20');
  const r1 = resolveTaskData(t, items, null, { seed: 7 });
  const r2 = resolveTaskData(t, items, null, { seed: 7 });
  const r3 = resolveTaskData(t, items, null, { seed: 8 });
  assert.equal(r1.evalSource, 'holdout');
  assert.deepEqual(r1.evalSet?.texts, r2.evalSet?.texts);
  assert.deepEqual(r1.train?.texts, r2.train?.texts);
  assert.notDeepEqual(r1.evalSet?.texts, r3.evalSet?.texts);
  // Stratified: 20% of each label.
  const count = (ds: typeof r1.evalSet, c: number) => Array.from(ds?.labels ?? []).filter((l) => l === c).length;
  assert.deepEqual([0, 1, 2].map((c) => count(r1.evalSet, c)), [10, 6, 4]);
  // Disjoint and complete.
  const all = new Set([...(r1.train?.texts ?? []), ...(r1.evalSet?.texts ?? [])]);
  assert.equal(all.size, items.length);
  assert.equal((r1.train?.texts.length ?? 0) + (r1.evalSet?.texts.length ?? 0), items.length);
});

test('no training file and no eval file: no evaluation set (pure own-data fleet)', () => {
  const r = resolveTaskData(parseTaskFile({ name: 'x', labels: ['a', 'b'] }), null, null, { seed: 1 });
  assert.equal(r.evalSource, 'none');
  assert.equal(r.train, null);
  assert.equal(r.evalSample, null);
});

test('the evaluation sample: at most maxRows, stratified, seeded; "all" keeps everything', () => {
  const ds = toDataset(rows('a:700 b:200 c:90 d:10'));
  const s1 = stratifiedSample(ds, 100, 3);
  const s2 = stratifiedSample(ds, 100, 3);
  assert.equal(s1.texts.length, 100);
  assert.deepEqual(s1.texts, s2.texts);
  const per = (c: number) => Array.from(s1.labels).filter((l) => l === c).length;
  assert.deepEqual([0, 1, 2, 3].map(per), [70, 20, 9, 1]);
  assert.equal(stratifiedSample(ds, 5000, 3), ds);
  const t = parseTaskFile({ name: 'x', train: 't.jsonl', eval: 'e.jsonl', evaluation: { maxRows: 50 } });
  const r = resolveTaskData(t, rows('a:10 b:10'), rows('a:300 b:100'), { seed: 1 });
  assert.equal(r.evalSet?.texts.length, 400);
  assert.equal(r.evalSample?.texts.length, 50);
  assert.equal(resolveTaskData(t, rows('a:10 b:10'), rows('a:300 b:100'), { seed: 1, evalRows: 'all' }).evalSample?.texts.length, 400);
});

test('checkLabels splits known rows from unknown ones and says which labels and how many', () => {
  const check = checkLabels(rows('a:3 x:2 b:1 y:1 x:1'), ['a', 'b', 'c']);
  assert.equal(check.known.length, 4);
  assert.deepEqual(check.unknown, [{ label: 'x', count: 3 }, { label: 'y', count: 1 }]);
  assert.equal(check.unknownRows, 4);
  assert.equal(describeUnknownLabels(check, ['a', 'b', 'c']), `4 of 8 rows have labels outside this task's label set [a, b, c]: "x" (3 rows), "y" (1 row)`);
});

test('task files on disk: paths relative to the task file, content hash follows the files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tabfleet-task-'));
  const jsonl = (r: Array<{ text: string; label: string }>) => r.map((x) => JSON.stringify(x)).join('\n');
  writeFileSync(join(dir, 'train.jsonl'), jsonl(rows('pos:20 neg:20')));
  writeFileSync(join(dir, 'eval.csv'), `text,label\n${rows('pos:5 neg:5').map((r) => `${r.text},${r.label}`).join('\n')}\n`);
  writeFileSync(join(dir, 'task.json'), JSON.stringify({ name: 'sentiment', train: 'train.jsonl', eval: 'eval.csv' }));
  const a = loadTask(join(dir, 'task.json'), { seed: 1 });
  assert.deepEqual(a.data.classNames, ['neg', 'pos']);
  assert.equal(a.data.train?.texts.length, 40);
  assert.equal(a.data.evalSet?.texts.length, 10);
  assert.equal(a.data.evalSource, 'file');
  assert.match(a.hash, /^[0-9a-f]{64}$/);
  assert.equal(loadTask(join(dir, 'task.json'), { seed: 2 }).hash, a.hash, 'the seed is not part of the task');
  assert.equal(loadTask(join(dir, 'task.json'), { seed: 1, evalRows: 3 }).hash, a.hash, 'nor how many evaluation rows are scored');
  // The shorthand reads the same files as a task of its own name.
  const b = loadTaskFromFiles({ train: join(dir, 'train.jsonl'), eval: join(dir, 'eval.csv') }, { seed: 1 });
  assert.equal(b.spec.name, 'train');
  assert.equal(b.data.train?.texts.length, 40);
  // A changed data file is a different task.
  writeFileSync(join(dir, 'train.jsonl'), jsonl(rows('pos:21 neg:20')));
  assert.notEqual(loadTask(join(dir, 'task.json'), { seed: 1 }).hash, a.hash);
  // Overrides that change the data change the hash.
  assert.notEqual(loadTask(join(dir, 'task.json'), { seed: 1, maxPerClass: 3 }).hash, loadTask(join(dir, 'task.json'), { seed: 1 }).hash);
  // Missing files and bad rows name the field and the file.
  writeFileSync(join(dir, 'missing.json'), JSON.stringify({ name: 'm', train: 'nope.jsonl' }));
  assert.throws(() => loadTask(join(dir, 'missing.json'), { seed: 1 }), /train\.path: no such file: .*nope\.jsonl/);
  writeFileSync(join(dir, 'bad.jsonl'), '{"text": "ok", "label": "a"}\n{"text": 3}\n');
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ name: 'b', train: 'bad.jsonl' }));
  assert.throws(() => loadTask(join(dir, 'bad.json'), { seed: 1 }), /train \(.*bad\.jsonl\): .*line 2/s);
  assert.throws(() => loadTask(join(dir, 'nothing-here.json'), { seed: 1 }), /not a built-in task \(built-in: wordnet\)/);
});
