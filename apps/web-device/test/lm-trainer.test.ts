/**
 * The page's causal-LM trainer against a real HTTP server serving a tiny GPT-2 as the coordinator
 * does (/hf-model/): it loads the checkpoint the task names (and refuses another one, or one larger
 * than the page may use), reports timings per depth, and trains an assignment into a delta of the
 * assigned layers only, with falling loss; memory errors read as such.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { modelDirectoryHandler, useBackend } from '../../../packages/lora-core/node';
import { writeTinyCheckpoints } from '../../../packages/lora-core/test/hf/tiny';
import { LoraCausalLm, manifestKey } from '../src/core';
import type { Assignment, TaskInfo } from '../src/core';
import { asMemoryError, LmLocalTrainer, OutOfMemoryError } from '../src/lm-trainer';

let server: Server;
let base: string;
let task: TaskInfo;

before(async () => {
  await useBackend('cpu');
  const dir = writeTinyCheckpoints(join(mkdtempSync(join(tmpdir(), 'tabfleet-lm-trainer-')), 'm'), ['gpt2-tied']).get('gpt2-tied')!;
  const files = await modelDirectoryHandler(dir);
  server = createServer((req, res) => {
    if (!files.handle(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hf-model/`;
  task = {
    name: 'lm',
    classNames: ['all rows'],
    numBlocks: 3,
    lora: { rank: 2, alpha: 4, targets: ['attn.c_attn', 'mlp.c_fc'] },
    batchSize: 4,
    seed: 5,
    maxTokens: 24,
    causalLm: {
      modelUrl: base,
      modelHash: createHash('sha256').update(manifestKey(files.manifest)).digest('hex'),
      modelBytes: files.manifest.files.reduce((n, f) => n + f.bytes, 0),
      modelType: 'gpt2',
      template: { prompt: 'Q: {prompt}\nA: ', appendEos: true },
    },
  };
});

after(() => new Promise<void>((r) => server.close(() => r())));

const rows = [
  { prompt: 'capital of france', response: 'paris' },
  { prompt: 'capital of italy', response: 'rome' },
  { prompt: 'colour of grass', response: 'green' },
  { text: 'the cat sat on the mat' },
];

test('loads the named checkpoint, times each depth, trains the assigned layers only', async () => {
  const progress: number[] = [];
  const t = await LmLocalTrainer.load(task, { onProgress: (p) => progress.push(p.loadedBytes) });
  try {
    assert.equal(t.numBlocks, 3);
    assert.equal(progress.at(-1), task.causalLm!.modelBytes);
    const { rows: encoded, dropped } = t.encode(rows);
    assert.equal(dropped, 0);
    const ms = await t.measureStepTimes(encoded);
    assert.equal(ms.length, 3);
    assert.ok(ms.every((x) => x > 0));
    const a: Assignment = { runId: 'r', round: 1, intraRound: 0, groupId: 'g', depth: 2, rank: 2, localSteps: 12, batchSize: 4, learningRate: 0.02, headLearningRate: 0.01 };
    const losses: number[] = [];
    // Start from an all-layer adapter (as the coordinator sends): B = 0 everywhere.
    const full = new LoraCausalLm(t.model.decoder, { depth: 3, lora: { rank: 2, alpha: 4, targets: ['attn.c_attn', 'mlp.c_fc'], dropout: 0 }, learningRate: 1e-3, seed: 5 });
    const start = full.getAdapter();
    full.dispose();
    assert.deepEqual([...start.keys()].sort(), ['0', '1', '2']);
    const r = await t.train(a, start, encoded, (_s, l) => losses.push(l));
    assert.deepEqual([...r.delta.keys()].sort(), ['1', '2']);
    assert.equal(losses.length, 12);
    assert.ok(losses.at(-1)! < losses[0]!, `loss ${losses[0]} → ${losses.at(-1)}`);
    assert.ok(Number.isFinite(r.meanLoss) && r.trainMs > 0);
  } finally {
    t.dispose();
  }
});

test('refuses another checkpoint than the task names, and one larger than the page may use', async () => {
  await assert.rejects(LmLocalTrainer.load({ ...task, causalLm: { ...task.causalLm!, modelHash: '0'.repeat(64) } }), /serves another checkpoint than its task names/);
  await assert.rejects(LmLocalTrainer.load(task, { memoryBytes: 1000 }), (e: unknown) => e instanceof OutOfMemoryError && /this page may use about 0 MiB/.test(e.message));
});

test('memory exhaustion reads as a clear OutOfMemoryError; other errors pass through', () => {
  const oom = asMemoryError('training at depth 2', new RangeError('Array buffer allocation failed'));
  assert.ok(oom instanceof OutOfMemoryError);
  assert.match((oom as Error).message, /^out of memory while training at depth 2 .*close other tabs/);
  assert.ok(asMemoryError('x', new Error('Aborted(OOM)')) instanceof OutOfMemoryError);
  const other = new Error('shape mismatch');
  assert.equal(asMemoryError('x', other), other);
});
