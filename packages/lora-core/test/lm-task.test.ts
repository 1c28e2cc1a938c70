/** Causal-LM task files (issue 11): a Hugging Face checkpoint + JSONL rows, categories, holdout, hash over the checkpoint, clear errors. */
import { strict as assert } from 'node:assert';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ALL_ROWS_CATEGORY } from '../node/lm-task';
import { describeTask, loadTask } from '../node/task-files';
import { TaskFileError } from '../src/task';
import { writeTinyCheckpoints } from './hf/tiny';

const root = mkdtempSync(join(tmpdir(), 'tabfleet-lm-task-'));
const modelDir = writeTinyCheckpoints(join(root, 'models'), ['gpt2-tied']).get('gpt2-tied')!;

function rows(n: number, withCategory = true): string {
  const cats = ['geo', 'math'];
  return Array.from({ length: n }, (_, i) => JSON.stringify(i % 5 === 4 ? { text: `plain text ${i}`, ...(withCategory ? { category: cats[i % 2] } : {}) } : { prompt: `q${i}`, response: `a${i}`, ...(withCategory ? { category: cats[i % 2] } : {}) })).join('\n') + '\n';
}

function taskDir(task: Record<string, unknown>, trainText = rows(40)): string {
  const dir = mkdtempSync(join(root, 't-'));
  writeFileSync(join(dir, 'train.jsonl'), trainText);
  writeFileSync(join(dir, 'task.json'), JSON.stringify({ name: 'lm', model: { family: 'hf', dir: modelDir }, objective: { type: 'causal-lm', categoryField: 'category' }, train: 'train.jsonl', ...task }));
  return join(dir, 'task.json');
}

function problemsOf(f: () => unknown): string[] {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof TaskFileError, String(err));
    return [...err.problems];
  }
  assert.fail('expected a TaskFileError');
}

test('a causal-lm task loads the checkpoint manifest, the rows, their categories and a seeded holdout', () => {
  const t = loadTask(taskDir({}), { seed: 1 });
  assert.ok(t.lm);
  assert.equal(t.lm.modelType, 'gpt2');
  assert.equal(t.lm.config.layers, 3);
  assert.deepEqual(t.lm.categories, ['geo', 'math']);
  assert.deepEqual(t.data.classNames, ['geo', 'math']);
  assert.equal(t.lm.evalSource, 'holdout');
  assert.equal(t.lm.evalSet!.length, 4);
  assert.equal(t.lm.train!.length, 36);
  assert.ok(t.lm.train!.some((r) => 'text' in r) && t.lm.train!.some((r) => 'prompt' in r));
  assert.match(t.lm.modelHash, /^[0-9a-f]{64}$/);
  assert.equal(t.lm.modelBytes, t.lm.manifest.files.reduce((n, f) => n + f.bytes, 0));
  assert.deepEqual(t.lm.template, { prompt: '### Instruction:\n{prompt}\n\n### Response:\n', appendEos: true });
  assert.deepEqual(loadTask(taskDir({}), { seed: 1 }).lm!.evalSet, t.lm.evalSet, 'same seed, same holdout');
  assert.ok(describeTask(t).some((l) => /categories \(2, field "category"\)/.test(l)));
});

test('without a category field the task says so and has one histogram bin', () => {
  const path = taskDir({ objective: { type: 'causal-lm', template: { prompt: 'Q: {prompt}\nA: ' } } }, rows(20, false));
  const t = loadTask(path, { seed: 1 });
  assert.deepEqual(t.lm!.categories, [ALL_ROWS_CATEGORY]);
  assert.equal(t.lm!.categoryField, undefined);
  assert.deepEqual(t.lm!.template, { prompt: 'Q: {prompt}\nA: ', appendEos: true });
  assert.ok(describeTask(t).some((l) => /grouped by their resources only/.test(l)));
});

test('the task hash covers the checkpoint by content, not by where it lies', () => {
  const a = loadTask(taskDir({}), { seed: 1 });
  const moved = join(root, 'moved-model');
  cpSync(modelDir, moved, { recursive: true });
  const b = loadTask(taskDir({ model: { family: 'hf', dir: moved } }), { seed: 1 });
  assert.equal(b.hash, a.hash);
  const changed = join(root, 'changed-model');
  cpSync(modelDir, changed, { recursive: true });
  writeFileSync(join(changed, 'generation_config.json'), '{"eos_token_id": 1}');
  const c = loadTask(taskDir({ model: { family: 'hf', dir: changed } }), { seed: 1 });
  assert.notEqual(c.hash, a.hash);
  assert.notEqual(c.lm!.modelHash, a.lm!.modelHash);
  rmSync(moved, { recursive: true });
});

test('bad causal-lm tasks are refused, naming the field', () => {
  assert.match(problemsOf(() => loadTask(taskDir({ model: { family: 'hf', dir: join(root, 'nope') } }), { seed: 1 }))[0]!, /^model\.dir: no such directory/);
  const noTok = join(root, 'no-tokenizer');
  cpSync(modelDir, noTok, { recursive: true });
  rmSync(join(noTok, 'tokenizer.json'));
  assert.match(problemsOf(() => loadTask(taskDir({ model: { family: 'hf', dir: noTok } }), { seed: 1 }))[0]!, /no tokenizer\.json/);
  assert.match(problemsOf(() => loadTask(taskDir({}, rows(6) + '{"prompt": "x", "response": "y"}\n'), { seed: 1 }))[0]!, /^train: .*train\.jsonl:7: field "category" must be a string or number/);
  assert.match(problemsOf(() => loadTask(taskDir({}, '{"question": "x"}\n'), { seed: 1 }))[0]!, /train\.jsonl:1: a row needs/);
  assert.ok(problemsOf(() => loadTask(taskDir({ labels: ['a', 'b'] }), { seed: 1 })).some((p) => /^labels: a causal-lm task has no labels/.test(p)));
  assert.ok(problemsOf(() => loadTask(taskDir({ train: { builtin: 'wordnet' } }), { seed: 1 })).some((p) => /^train: a causal-lm task reads JSONL/.test(p)));
  assert.ok(problemsOf(() => loadTask(taskDir({ train: 'train.csv' }), { seed: 1 })).some((p) => /^train\.format: a causal-lm task reads JSONL/.test(p)));
  assert.ok(problemsOf(() => loadTask(taskDir({ objective: { type: 'causal-lm', template: { prompt: 'no placeholder' } } }), { seed: 1 })).some((p) => /^objective\.template\.prompt: must contain "\{prompt\}"/.test(p)));
  assert.ok(problemsOf(() => loadTask(taskDir({ objective: 'classification' }), { seed: 1 })).some((p) => /^objective: an "hf" decoder model is fine-tuned with "causal-lm"/.test(p)));
});

test('topics: k topic clusters become the histogram bins; refused with a category field, outside 2..32, or with too few eval rows', () => {
  const path = taskDir({ objective: { type: 'causal-lm', topics: 3 } }, rows(40, false));
  const t = loadTask(path, { seed: 1 });
  assert.equal(t.lm!.topics, 3);
  assert.deepEqual(t.lm!.categories, ['topic 1', 'topic 2', 'topic 3']);
  assert.ok(describeTask(t).some((l) => /grouping statistic: 3 topic clusters/.test(l)));
  const both = problemsOf(() => loadTask(taskDir({ objective: { type: 'causal-lm', topics: 3, categoryField: 'category' } }), { seed: 1 }));
  assert.ok(both.some((p) => /"categoryField" and "topics" are two ways of grouping devices; name one/.test(p)), both.join('\n'));
  for (const [k, re] of [[1, /objective\.topics: needs at least 2 topic clusters/], [33, /objective\.topics: at most 32 topic clusters/], [2.5, /objective\.topics: must be a whole number/], ['3', /objective\.topics: must be a whole number/]] as const) {
    const p = problemsOf(() => loadTask(taskDir({ objective: { type: 'causal-lm', topics: k } }, rows(40, false)), { seed: 1 }));
    assert.ok(p.some((x) => re.test(x)), `${k}: ${p.join('\n')}`);
  }
  // A 10% holdout of 40 rows is 4 rows: not enough for 5 clusters.
  const few = problemsOf(() => loadTask(taskDir({ objective: { type: 'causal-lm', topics: 5 }, evaluation: { holdoutFraction: 0.1 } }, rows(40, false)), { seed: 1 }));
  assert.ok(few.some((x) => /objective\.topics: 5 topic clusters are computed from the evaluation set, which has 4 rows/.test(x)), few.join('\n'));
});
