/** Checkpoint retention: the pure rule, and both stores pruning as rounds complete. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseCoordinatorArgs } from '../src/config';
import { checkpointsToPrune, MemoryState, SqliteState } from '../src/state';
import type { CheckpointRetention, CoordinatorState } from '../src/state';

const acc = (entries: Array<[number, number]>) => new Map(entries);

describe('checkpointsToPrune', () => {
  it('keeps the last K and the best-scoring round', () => {
    const rounds = [0, 1, 2, 3, 4, 5, 6];
    const accuracy = acc([[0, 0.1], [1, 0.4], [2, 0.9], [3, 0.5], [4, 0.6], [5, 0.7], [6, 0.65]]);
    assert.deepEqual(checkpointsToPrune(rounds, accuracy, { keepLast: 3, keepBest: true }), [0, 1, 3]);
    assert.deepEqual(checkpointsToPrune(rounds, accuracy, { keepLast: 3, keepBest: false }), [0, 1, 2, 3]);
    assert.deepEqual(checkpointsToPrune(rounds, accuracy, { keepLast: Number.POSITIVE_INFINITY, keepBest: false }), []);
  });

  it('keeps the earliest of equal bests, ignores rounds without a metric, and never prunes below K', () => {
    assert.deepEqual(checkpointsToPrune([1, 2, 3, 4], acc([[1, 0.8], [3, 0.8]]), { keepLast: 1, keepBest: true }), [2, 3]);
    assert.deepEqual(checkpointsToPrune([1, 2, 3], new Map(), { keepLast: 2, keepBest: true }), [1]);
    assert.deepEqual(checkpointsToPrune([4, 2], new Map(), { keepLast: 5, keepBest: true }), []);
  });
});

function stores(retention: CheckpointRetention): Array<{ name: string; state: CoordinatorState; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'tabfleet-retention-'));
  return [
    { name: 'memory', state: new MemoryState({ retention }), cleanup: () => {} },
    { name: 'sqlite', state: new SqliteState(join(dir, 'r.sqlite'), { retention }), cleanup: () => rmSync(dir, { recursive: true, force: true }) },
  ];
}

describe('stores prune checkpoints when a round completes', () => {
  for (const { name, state, cleanup } of stores({ keepLast: 2, keepBest: true })) {
    it(name, () => {
      try {
        state.createRun({ id: 'r', createdAt: 0, strategy: 'fedlora', config: {}, status: 'running', finishedAt: null });
        const accuracies = [0.1, 0.3, 0.8, 0.4, 0.5, 0.6];
        accuracies.forEach((accuracy, round) => {
          state.completeRound(
            { runId: 'r', round, startedAt: round, finishedAt: round + 1, plan: null, participants: [], bytesUp: 0, bytesDown: 0, timeline: [] },
            { runId: 'r', round, accuracy, loss: 1 - accuracy, evaluatedAt: round + 1 },
            { runId: 'r', round, bytes: new Uint8Array([round]) },
          );
        });
        const kept = accuracies.map((_, round) => round).filter((round) => state.getCheckpoint('r', round) !== undefined);
        assert.deepEqual(kept, [2, 4, 5]);
        assert.equal(state.latestCheckpoint('r')?.round, 5);
        assert.deepEqual([...state.getCheckpoint('r', 2)!.bytes], [2]);
        // Rounds and metrics are history: never pruned.
        assert.equal(state.listRounds('r').length, 6);
        assert.equal(state.listMetrics('r').length, 6);
      } finally {
        state.close();
        cleanup();
      }
    });
  }

  // A causal-LM run (its task settings name the checkpoint's model): best = lowest held-out loss,
  // whatever its next-token accuracy says.
  for (const { name, state, cleanup } of stores({ keepLast: 1, keepBest: true })) {
    it(`${name}: a causal-LM run keeps its lowest-loss round`, () => {
      try {
        const lmConfig = { task: { task: 'lm', model: { dir: '/ckpt', lora: { rank: 4 }, template: null } } };
        state.createRun({ id: 'lm', createdAt: 0, strategy: 'hierfedlora', config: lmConfig, status: 'running', finishedAt: null });
        state.createRun({ id: 'cls', createdAt: 0, strategy: 'fedlora', config: { task: { task: 'wordnet' } }, status: 'running', finishedAt: null });
        // Round 1: best accuracy; round 2: lowest loss.
        const metrics = [
          { accuracy: 0.2, loss: 3.0 },
          { accuracy: 0.9, loss: 2.5 },
          { accuracy: 0.3, loss: 1.2 },
          { accuracy: 0.4, loss: 1.9 },
        ];
        for (const runId of ['lm', 'cls']) {
          metrics.forEach((m, round) => {
            state.completeRound(
              { runId, round, startedAt: round, finishedAt: round + 1, plan: null, participants: [], bytesUp: 0, bytesDown: 0, timeline: [] },
              { runId, round, ...m, evaluatedAt: round + 1 },
              { runId, round, bytes: new Uint8Array([round]) },
            );
          });
        }
        const kept = (runId: string) => metrics.map((_, round) => round).filter((round) => state.getCheckpoint(runId, round) !== undefined);
        assert.deepEqual(kept('lm'), [2, 3]);
        assert.deepEqual(kept('cls'), [1, 3]);
      } finally {
        state.close();
        cleanup();
      }
    });
  }

  it('refuses a retention that would drop the latest checkpoint', () => {
    assert.throws(() => new MemoryState({ retention: { keepLast: 0, keepBest: true } }), /keepLast/);
  });
});

describe('--keep-checkpoints and --keep-best-checkpoint', () => {
  it('default to the last 5 and the best; accept all, a count, and off', () => {
    assert.deepEqual(parseCoordinatorArgs([]).checkpointRetention, { keepLast: 5, keepBest: true });
    assert.deepEqual(parseCoordinatorArgs(['--keep-checkpoints', 'all']).checkpointRetention, { keepLast: Number.POSITIVE_INFINITY, keepBest: true });
    assert.deepEqual(parseCoordinatorArgs(['--keep-checkpoints', '2', '--keep-best-checkpoint', 'off']).checkpointRetention, { keepLast: 2, keepBest: false });
    assert.throws(() => parseCoordinatorArgs(['--keep-checkpoints', '0']), /--keep-checkpoints/);
    assert.throws(() => parseCoordinatorArgs(['--keep-best-checkpoint', 'maybe']), /--keep-best-checkpoint/);
  });
});
