/**
 * The coordinator and its task: --task/--train/--eval flags and task defaults, a run records its
 * task's content hash and a resume on another task is refused, a task without an evaluation set
 * runs unscored, and the coordinator answers HTTP while a real evaluation worker scores a large
 * evaluation set.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, it } from 'node:test';
import { writeSyntheticTask } from '../../../scripts/synthetic-task';
import { parseCoordinatorArgs, withTaskDefaults } from '../src/config';
import { loadTask } from '../src/core-node';
import { createFederatedTask } from '../src/federated-task';
import type { RunConfig, RunningCoordinator } from '../src/server';
import { startCoordinator, TaskMismatchError } from '../src/server';
import { MemoryState, SqliteState } from '../src/state';
import type { FederatedTask, TaskSummary } from '../src/task';
import { fakeTask } from './support/fakes';

const config = (overrides: Partial<RunConfig> = {}): RunConfig => ({
  port: 0,
  host: '127.0.0.1',
  token: 'test-token',
  adminToken: 'admin-token-1',
  rounds: 1,
  devicesExpected: 2,
  seed: 1,
  batchSize: 4,
  learningRate: 0.01,
  headLearningRate: 0.05,
  roundTimeoutMs: 10_000,
  ...overrides,
});

const summary = (hash: string, evalSource: TaskSummary['evalSource'] = 'file'): TaskSummary => ({
  name: 'tiny',
  origin: 'test',
  hash,
  classNames: ['neg', 'pos'],
  model: 'use-lite',
  objective: 'classification',
  trainRows: 4,
  evalSource,
  evalRows: evalSource === 'none' ? 0 : 10,
  evalScoredRows: evalSource === 'none' ? 0 : 10,
});

const withSummary = (task: FederatedTask, s: TaskSummary): FederatedTask => ({ ...task, summary: s });

const waitFor = async (what: string, ok: () => boolean, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('task flags', () => {
  it('reads --task, the --train/--eval shorthand and --eval-rows, and refuses mixing them', () => {
    assert.equal(parseCoordinatorArgs([]).task, 'wordnet');
    assert.equal(parseCoordinatorArgs(['--task', 'my/task.json']).task, 'my/task.json');
    const c = parseCoordinatorArgs(['--train', 't.jsonl', '--eval', 'e.csv', '--eval-rows', 'all']);
    assert.deepEqual([c.task, c.trainFile, c.evalFile, c.evalRows], [undefined, 't.jsonl', 'e.csv', 'all']);
    assert.equal(parseCoordinatorArgs(['--eval-rows', '500']).evalRows, 500);
    assert.throws(() => parseCoordinatorArgs(['--eval-rows', '0']), /--eval-rows must be an integer >= 1/);
    assert.throws(() => parseCoordinatorArgs(['--task', 'wordnet', '--train', 't.jsonl']), /either --task or --train\/--eval/);
    assert.throws(() => parseCoordinatorArgs(['--eval', 'e.jsonl']), /--eval needs --train/);
  });

  it("fills the task's defaults only into flags not given", () => {
    const defaults = { batchSize: 8, learningRate: 0.002, headLearningRate: 0.05, localSteps: 4 };
    const c = withTaskDefaults(parseCoordinatorArgs(['--lr', '0.01']), defaults);
    assert.deepEqual([c.batchSize, c.learningRate, c.headLearningRate, c.localSteps], [8, 0.01, 0.05, 4]);
    const plain = withTaskDefaults(parseCoordinatorArgs([]), {});
    assert.deepEqual([plain.batchSize, plain.learningRate, plain.headLearningRate, plain.localSteps], [16, 0.001, 0.01, 10]);
  });
});

describe('runs and their task', () => {
  let coordinator: RunningCoordinator | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await coordinator?.close();
    coordinator = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('records the task hash; a resume on a different task is refused with a clear message, the same task resumes', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tabfleet-task-'));
    const dbPath = join(dir, 'state.sqlite');
    let state = new SqliteState(dbPath);
    coordinator = await startCoordinator({ config: config(), task: withSummary(fakeTask(), summary('a'.repeat(64))), state });
    const runId = coordinator.runId;
    await waitFor('round 0', () => state.listRounds(runId).length === 1);
    assert.equal((state.getRun(runId)?.config.task as { taskHash?: string }).taskHash, 'a'.repeat(64));
    await coordinator.close();
    coordinator = undefined;
    state.close();

    state = new SqliteState(dbPath);
    await assert.rejects(
      startCoordinator({ config: config(), task: withSummary(fakeTask(), summary('b'.repeat(64))), state }),
      (err: unknown) =>
        err instanceof TaskMismatchError &&
        err.runId === runId &&
        /refusing to resume run .* started on task "tiny" \(hash aaaaaaaaaaaa\).*given task "tiny" \(hash bbbbbbbbbbbb\).*--fresh/.test(err.message),
    );
    assert.equal(state.getRun(runId)?.status, 'interrupted', 'the refused run is left as it was');

    coordinator = await startCoordinator({ config: config(), task: withSummary(fakeTask(), summary('a'.repeat(64))), state });
    assert.equal(coordinator.resumed, true);
    assert.equal(coordinator.runId, runId);
    await coordinator.close();
    coordinator = undefined;

    // --fresh: a new run on the other task.
    coordinator = await startCoordinator({ config: config({ resume: false }), task: withSummary(fakeTask(), summary('b'.repeat(64))), state });
    assert.equal(coordinator.resumed, false);
    assert.notEqual(coordinator.runId, runId);
    await coordinator.close();
    coordinator = undefined;
    state.close();
  });

  it('a task without an evaluation set runs unscored, and /api/status says so', async () => {
    const { evaluate: _unused, ...noEval } = fakeTask();
    const state = new MemoryState();
    coordinator = await startCoordinator({ config: config(), task: withSummary(noEval, summary('c'.repeat(64), 'none')), state });
    const runId = coordinator.runId;
    await waitFor('round 0', () => state.listRounds(runId).length === 1);
    assert.deepEqual(state.listMetrics(runId), []);
    const s = (await (await fetch(`${coordinator.localUrl}/api/status`)).json()) as { task: TaskSummary; rounds: Array<{ round: number; accuracy: number | null }> };
    assert.equal(s.task.evalSource, 'none');
    assert.deepEqual(s.rounds.map((r) => [r.round, r.accuracy]), [[0, null]]);
  });

  it('answers HTTP while its evaluation worker scores a large evaluation set', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tabfleet-eval-'));
    const files = writeSyntheticTask(dir, { trainRows: 60, evalRows: 4000, extra: { evaluation: { maxRows: 'all' } } });
    const loaded = loadTask(files.taskFile, { seed: 1 });
    assert.equal(loaded.data.evalSample?.texts.length, 4000);
    const task = await createFederatedTask(loaded, { partitions: 2, dirichletAlpha: 1, seed: 1, batchSize: 4 });
    const state = new MemoryState();
    coordinator = await startCoordinator({ config: config(), task, state });
    const runId = coordinator.runId;
    const url = `${coordinator.localUrl}/api/status`;
    let answered = 0;
    let answeredWhileEvaluating = 0;
    let worstMs = 0;
    while (state.listRounds(runId).length === 0) {
      const t0 = performance.now();
      const res = await fetch(url);
      const body = (await res.json()) as { status: { message?: string }; task: TaskSummary };
      worstMs = Math.max(worstMs, performance.now() - t0);
      assert.equal(res.status, 200);
      assert.equal(body.task.name, 'synthetic-topics');
      answered++;
      if (body.status.message === 'round 0: evaluating') answeredWhileEvaluating++;
      await new Promise((r) => setTimeout(r, 20));
    }
    const metric = state.listMetrics(runId)[0];
    assert.ok(metric && metric.accuracy >= 0 && metric.accuracy <= 1, 'round 0 was scored');
    assert.ok(answeredWhileEvaluating >= 3, `answered ${answeredWhileEvaluating} requests while evaluating (${answered} in all, worst ${worstMs.toFixed(0)} ms)`);
  });
});
