/**
 * Causal-LM tasks on the coordinator (issue 11): the task made from a task file has a head-less
 * block-keyed adapter, category-skewed partitions covering the rows, held-out loss/perplexity from
 * the worker thread, the planner's memory per depth, the checkpoint under /hf-model/; PEFT export
 * leaves untrained layers out and `--init-adapter` starts from it; the admin route and `npm run
 * export -- --run` serve it; a HierFedLoRA round aggregates decoder adapters (no head).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeLmTask, type LmTaskFiles } from '../../../scripts/lm-task';
import { blockKey } from '@tabfleet/lora-core';
import { adapterTrainedKeys, cloneAdapterState, createStrategy, encodeAdapter, HEAD, runGlobalRound, taskInfoSchema } from '../src/core';
import type { AdapterState } from '../src/core';
import { loadTask } from '../src/core-node';
import { createLmFederatedTask } from '../src/lm-federated-task';
import { SqliteState } from '../src/state';
import type { FederatedTask } from '../src/task';
import { exportRunAdapter } from '../src/tools/run-adapter';
import { tarArchive } from '../src/http/tar';

let dir: string;
let files: LmTaskFiles;
let task: FederatedTask;

/** The adapter with layer `layer`'s B matrices set to `value` (others untouched). */
function withTrainedLayer(state: AdapterState, layer: number, value: number): AdapterState {
  const out = cloneAdapterState(state);
  for (const [name, t] of out.get(blockKey(layer))!) if (name.endsWith('.B')) t.data.fill(value);
  return out;
}

describe('causal-LM federated task', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tabfleet-coord-lm-'));
    files = writeLmTask(dir);
    task = await createLmFederatedTask(loadTask(files.taskFile, { seed: 3 }), { partitions: 3, dirichletAlpha: 1, seed: 3, batchSize: 8 });
  });
  after(() => {
    task?.dispose?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('describes the task to tabs and covers every training row once', () => {
    assert.deepEqual([...task.initialAdapter.keys()].sort(), ['0', '1', '2']);
    assert.equal(task.initialAdapter.has(HEAD), false);
    assert.equal(task.info.numBlocks, 3);
    assert.deepEqual(task.info.classNames, ['capital', 'colour', 'opposite']);
    assert.equal(task.info.causalLm?.modelUrl, '/hf-model/');
    assert.equal(task.info.causalLm?.categoryField, 'category');
    assert.equal(task.summary?.lm?.grouping, 'category field "category"');
    assert.equal(task.info.causalLm?.topicCentroids, undefined);
    assert.deepEqual(task.info.lora, { rank: 4, alpha: 8, targets: ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] });
    let total = 0;
    for (let i = 0; i < task.fleet.numPartitions; i++) {
      const p = task.fleet.partition(i);
      assert.equal(p.rows!.length, p.labels.length);
      p.rows!.forEach((r, k) => assert.equal(task.info.classNames[p.labels[k]!], r.category));
      total += p.rows!.length;
    }
    assert.equal(total, files.trainRows);
    assert.equal(task.memoryBytesByDepth?.length, 3);
    assert.ok(task.memoryBytesByDepth!.every((b, i) => b > 0 && (i === 0 || b >= task.memoryBytesByDepth![i - 1]!)));
  });

  it('scores held-out loss and perplexity off the event loop', async () => {
    const r = await task.evaluate!(task.initialAdapter);
    assert.ok(r.loss > 4 && r.loss < 12, `loss ${r.loss}`);
    assert.ok(Math.abs(r.perplexity! - Math.exp(r.loss)) < 1e-6 * r.perplexity!);
    assert.ok(r.accuracy >= 0 && r.accuracy <= 1);
    const moved = await task.evaluate!(withTrainedLayer(task.initialAdapter, 2, 0.05));
    assert.notEqual(moved.loss, r.loss);
  });

  it('a HierFedLoRA round aggregates head-less decoder adapters block by block', async () => {
    const strategy = createStrategy('fedlora');
    const plan = { groups: [{ groupId: 'g0', deviceIds: ['a', 'b'], depth: 2, intraRounds: 1, localSteps: 1 }] };
    assert.deepEqual(adapterTrainedKeys(task.initialAdapter, 3, 2), ['1', '2']);
    const out = await runGlobalRound({
      round: 1,
      strategy,
      plan: plan as never,
      global: task.initialAdapter,
      numBlocks: 3,
      trainMember: async (a) => {
        assert.deepEqual(a.blockKeys, ['1', '2']);
        const delta: AdapterState = new Map();
        for (const k of a.blockKeys) {
          const block = new Map();
          for (const [n, t] of task.initialAdapter.get(k)!) block.set(n, { shape: [...t.shape], data: new Float32Array(t.data.length).fill(0.01) });
          delta.set(k, block);
        }
        return { deviceId: a.deviceId, numSamples: 10, delta };
      },
    });
    assert.equal(out.global.has(HEAD), false);
    const b0 = out.global.get('0')!.get('attn.c_attn.B')!.data;
    assert.ok(b0.every((v) => v === 0), 'layer 0 was not trained');
    assert.ok(out.global.get('2')!.get('attn.c_attn.B')!.data.every((v) => Math.abs(v - 0.01) < 1e-6));
  });

  it('exports PEFT without untrained layers; --init-adapter and `export --run` read it back', async () => {
    const trained = withTrainedLayer(task.initialAdapter, 2, 0.03);
    const peft = await task.exportPeft!(trained);
    assert.deepEqual(peft.layers, [2]);
    const config = JSON.parse(peft.configJson) as Record<string, unknown>;
    assert.deepEqual(config.layers_to_transform, [2]);
    assert.equal(config.task_type, 'CAUSAL_LM');

    // The same round stored by a run, exported by the CLI's code path from the database.
    const db = join(dir, 'state.sqlite');
    const state = new SqliteState(db);
    state.createRun({ id: 'run-lm', strategy: 'fedlora', createdAt: 1, status: 'finished', finishedAt: 2, config: { task: { model: { dir: files.modelDir, lora: task.info.lora, template: files.template } } } });
    state.completeRound(
      { runId: 'run-lm', round: 1, startedAt: 1, finishedAt: 2, plan: null, participants: [], bytesUp: 0, bytesDown: 0, timeline: [] },
      null,
      { runId: 'run-lm', round: 1, bytes: new Uint8Array(encodeAdapter(trained)) },
    );
    state.close();
    const out = join(dir, 'peft-out');
    const r = await exportRunAdapter({ db, runId: 'run-lm', out });
    assert.equal(r.round, 1);
    assert.deepEqual(r.layers, [2]);
    assert.equal(r.template, files.template);
    assert.deepEqual(new Uint8Array(readFileSync(join(out, 'adapter_model.safetensors'))), peft.weights);
    await assert.rejects(exportRunAdapter({ db, runId: 'nope', out: join(dir, 'x') }), /run nope is not in/);
    await assert.rejects(exportRunAdapter({ db, runId: 'run-lm', round: 7, out: join(dir, 'y') }), /no checkpoint of round 7/);

    const resumed = await createLmFederatedTask(loadTask(files.taskFile, { seed: 3 }), { partitions: 3, dirichletAlpha: 1, seed: 3, batchSize: 8, initAdapter: out });
    try {
      assert.equal(resumed.summary?.lm?.initAdapter, out);
      const l2 = resumed.initialAdapter.get('2')!.get('mlp.c_fc.B')!.data;
      const expected = trained.get('2')!.get('mlp.c_fc.B')!.data;
      l2.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-7));
      assert.ok(resumed.initialAdapter.get('0')!.get('mlp.c_fc.B')!.data.every((v) => v === 0));
      const [a, b] = await Promise.all([resumed.evaluate!(resumed.initialAdapter), task.evaluate!(trained)]);
      assert.ok(Math.abs(a.loss - b.loss) < 1e-5);
    } finally {
      resumed.dispose?.();
    }
  });
});

describe('tar writer', () => {
  it('writes ustar headers with valid checksums, padded to 512-byte blocks', () => {
    const data = new TextEncoder().encode('hello');
    const tar = tarArchive([{ path: 'dir/a.txt', data }], 0);
    assert.equal(tar.byteLength, 512 + 512 + 1024);
    const header = tar.subarray(0, 512);
    assert.equal(new TextDecoder().decode(header.subarray(0, 9)), 'dir/a.txt');
    assert.equal(new TextDecoder().decode(header.subarray(257, 262)), 'ustar');
    const stored = parseInt(new TextDecoder().decode(header.subarray(148, 154)), 8);
    const sum = [...header].reduce((s, b, i) => s + (i >= 148 && i < 156 ? 32 : b), 0);
    assert.equal(stored, sum);
    assert.equal(parseInt(new TextDecoder().decode(header.subarray(124, 135)), 8), 5);
    assert.equal(new TextDecoder().decode(tar.subarray(512, 517)), 'hello');
  });
});

describe('causal-LM task with topic clusters (no category field)', () => {
  let tdir: string;
  const made: FederatedTask[] = [];
  before(() => {
    tdir = mkdtempSync(join(tmpdir(), 'tabfleet-coord-topics-'));
  });
  after(() => {
    for (const t of made) t.dispose?.();
    rmSync(tdir, { recursive: true, force: true });
  });

  it('computes k centroids from the evaluation rows in the worker, ships them to tabs, and names the grouping statistic', async () => {
    const f = writeLmTask(tdir, { objective: { type: 'causal-lm', template: { prompt: 'Q: {prompt}\nA: ', appendEos: true }, topics: 3 } });
    const make = async () => {
      const t = await createLmFederatedTask(loadTask(f.taskFile, { seed: 3 }), { partitions: 3, dirichletAlpha: 1, seed: 3, batchSize: 8 });
      made.push(t);
      return t;
    };
    const t = await make();
    assert.deepEqual(t.info.classNames, ['topic 1', 'topic 2', 'topic 3']);
    const centroids = t.info.causalLm?.topicCentroids;
    assert.ok(centroids, 'centroids in the task info');
    assert.equal(centroids.length, 3);
    for (const c of centroids) {
      assert.equal(c.length, centroids[0]!.length);
      assert.ok(c.length >= 64, `USE-lite feature width, got ${c.length}`);
    }
    assert.equal(t.summary?.lm?.grouping, '3 topic clusters');
    const sizes = t.summary?.lm?.topics?.evalRowsPerTopic ?? [];
    assert.equal(sizes.length, 3);
    assert.equal(sizes.reduce((a, b) => a + b, 0), t.summary?.evalScoredRows);
    assert.ok(sizes.every((n) => n > 0), `eval rows per topic: ${sizes.join(', ')}`);
    // Fleet partitions: every training row once, placed in its nearest topic (row category = label).
    let covered = 0;
    for (let i = 0; i < t.fleet.numPartitions; i++) {
      const p = t.fleet.partition(i);
      p.rows!.forEach((r, k) => assert.equal(r.category, t.info.classNames[p.labels[k]!]));
      covered += p.rows!.length;
    }
    assert.equal(covered, f.trainRows);
    // The task info a tab receives passes the protocol schema.
    assert.ok(taskInfoSchema.safeParse(t.info).success);
    // Seeded: the same task and seed give the same centroids.
    const again = await make();
    assert.deepEqual(again.info.causalLm?.topicCentroids, centroids);
    console.log(`topic clusters: eval rows per topic ${sizes.join(', ')} in ${t.summary?.lm?.topics?.ms} ms`);
  });

  it('a task with neither says resources only', async () => {
    const f = writeLmTask(join(tdir, 'plain'), { objective: { type: 'causal-lm', template: { prompt: 'Q: {prompt}\nA: ', appendEos: true } } });
    const t = await createLmFederatedTask(loadTask(f.taskFile, { seed: 3 }), { partitions: 2, dirichletAlpha: 1, seed: 3, batchSize: 8 });
    made.push(t);
    assert.match(t.summary?.lm?.grouping ?? '', /^resources only/);
    assert.deepEqual(t.info.classNames, ['all rows']);
  });
});
