/** One contract, run against both CoordinatorState implementations (as Flower tests its LinkStates). */
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MemoryState, SqliteState, StateError } from '../src/state';
import type { CoordinatorState, RunRecord } from '../src/state';

const run = (id = 'run-1'): RunRecord => ({
  id,
  createdAt: 1000,
  strategy: 'fedlora',
  config: { rounds: 3, alpha: 0.5 },
  status: 'waiting',
  finishedAt: null,
});

const plan = { groups: [{ groupId: 'all', deviceIds: ['dev-aaaaaaaa', 'dev-bbbbbbbb'], depth: 4, intraRounds: 1, localSteps: 10 }] };

function completeRound(state: CoordinatorState, round: number, bytes: Uint8Array, accuracy = 0.5): void {
  state.completeRound(
    { runId: 'run-1', round, startedAt: 10 * round, finishedAt: 10 * round + 5, plan: round === 0 ? null : plan, participants: ['dev-aaaaaaaa'], bytesUp: 100 * round, bytesDown: 200 * round, timeline: round === 0 ? [] : [{ groupId: 'all', intraRound: 0, at: 10 * round + 4, contributors: 1, planned: 2 }] },
    { runId: 'run-1', round, accuracy, loss: 1 - accuracy, evaluatedAt: 10 * round + 5 },
    { runId: 'run-1', round, bytes },
  );
}

function contract(name: string, open: () => { state: CoordinatorState; cleanup: () => void }): void {
  describe(`${name} state`, () => {
    it('creates runs once and updates their status', () => {
      const { state, cleanup } = open();
      try {
        state.createRun(run());
        assert.throws(() => state.createRun(run()), StateError);
        state.setRunStatus('run-1', 'finished', 2000);
        assert.deepEqual(state.getRun('run-1'), { ...run(), status: 'finished', finishedAt: 2000 });
        assert.equal(state.getRun('nope'), undefined);
        assert.throws(() => state.setRunStatus('nope', 'running', null), /unknown run/);
        state.createRun({ ...run('run-0'), createdAt: 500 });
        assert.deepEqual(state.listRuns().map((r) => r.id), ['run-0', 'run-1']);
      } finally {
        cleanup();
      }
    });

    it('counts joins per device and keeps the latest report', () => {
      const { state, cleanup } = open();
      try {
        state.createRun(run());
        const first = state.recordJoin('run-1', 'dev-aaaaaaaa', 'wasm', { numSamples: 3 }, 100);
        assert.equal(first.joins, 1);
        const again = state.recordJoin('run-1', 'dev-aaaaaaaa', 'webgpu', { numSamples: 4 }, 200);
        assert.deepEqual(again, { runId: 'run-1', deviceId: 'dev-aaaaaaaa', firstSeen: 100, lastSeen: 200, joins: 2, backend: 'webgpu', report: { numSamples: 4 } });
        state.touchDevice('run-1', 'dev-aaaaaaaa', 300);
        assert.equal(state.getDevice('run-1', 'dev-aaaaaaaa')?.lastSeen, 300);
        state.recordJoin('run-1', 'dev-bbbbbbbb', 'cpu', {}, 150);
        assert.deepEqual(state.listDevices('run-1').map((d) => d.deviceId), ['dev-aaaaaaaa', 'dev-bbbbbbbb']);
        assert.throws(() => state.recordJoin('nope', 'dev-aaaaaaaa', 'cpu', {}, 1), /unknown run/);
      } finally {
        cleanup();
      }
    });

    it('gives each device one stable fleet slot and refuses when all are taken', () => {
      const { state, cleanup } = open();
      try {
        state.createRun(run());
        const a = state.claimFleetSlot('run-1', 'dev-aaaaaaaa', 2, 'key-a');
        const b = state.claimFleetSlot('run-1', 'dev-bbbbbbbb', 2, 'key-b');
        assert.deepEqual([a?.index, b?.index], [0, 1]);
        // Reclaiming keeps the original slot and key (a reloaded tab keeps its partition).
        assert.deepEqual(state.claimFleetSlot('run-1', 'dev-aaaaaaaa', 2, 'other-key'), { runId: 'run-1', deviceId: 'dev-aaaaaaaa', index: 0, key: 'key-a' });
        assert.equal(state.claimFleetSlot('run-1', 'dev-cccccccc', 2, 'key-c'), undefined);
        assert.equal(state.getFleetSlot('run-1', 'dev-bbbbbbbb')?.key, 'key-b');
        assert.deepEqual(state.listFleetSlots('run-1').map((s) => s.deviceId), ['dev-aaaaaaaa', 'dev-bbbbbbbb']);
      } finally {
        cleanup();
      }
    });

    it('stores rounds with their metric and checkpoint, once each', () => {
      const { state, cleanup } = open();
      try {
        state.createRun(run());
        completeRound(state, 0, new Uint8Array([1, 2, 3]), 0.1);
        completeRound(state, 1, new Uint8Array([4, 5, 6, 7]), 0.6);
        assert.throws(() => completeRound(state, 1, new Uint8Array([9])), /completed already/);
        assert.deepEqual(state.listRounds('run-1').map((r) => [r.round, r.plan, r.bytesUp]), [
          [0, null, 0],
          [1, plan, 100],
        ]);
        assert.deepEqual(state.listRounds('run-1')[1]?.timeline, [{ groupId: 'all', intraRound: 0, at: 14, contributors: 1, planned: 2 }]);
        assert.deepEqual(state.listMetrics('run-1').map((m) => m.accuracy), [0.1, 0.6]);
        assert.deepEqual([...(state.getCheckpoint('run-1', 0)?.bytes ?? [])], [1, 2, 3]);
        assert.deepEqual([...(state.latestCheckpoint('run-1')?.bytes ?? [])], [4, 5, 6, 7]);
        assert.equal(state.latestCheckpoint('run-1')?.round, 1);
        assert.throws(
          () =>
            state.completeRound(
              { runId: 'run-1', round: 2, startedAt: 0, finishedAt: 1, plan: null, participants: [], bytesUp: 0, bytesDown: 0, timeline: [] },
              { runId: 'run-1', round: 3, accuracy: 0, loss: 0, evaluatedAt: 1 },
              { runId: 'run-1', round: 2, bytes: new Uint8Array([1]) },
            ),
          /same run and round/,
        );
        assert.equal(state.listRounds('run-1').length, 2, 'a rejected round leaves nothing behind');
      } finally {
        cleanup();
      }
    });

    it('keeps a join token per run', () => {
      const { state, cleanup } = open();
      try {
        state.createRun(run());
        assert.equal(state.getJoinToken('run-1'), undefined);
        state.setJoinToken('run-1', 'tok-1');
        state.setJoinToken('run-1', 'tok-2');
        assert.equal(state.getJoinToken('run-1'), 'tok-2');
        assert.throws(() => state.setJoinToken('run-x', 't'), StateError);
      } finally {
        cleanup();
      }
    });

    it('returns copies, not views into its storage', () => {
      const { state, cleanup } = open();
      try {
        state.createRun(run());
        const bytes = new Uint8Array([1, 2, 3]);
        completeRound(state, 0, bytes);
        bytes[0] = 99;
        const cp = state.getCheckpoint('run-1', 0);
        assert.equal(cp?.bytes[0], 1);
        if (cp) cp.bytes[1] = 42;
        assert.equal(state.getCheckpoint('run-1', 0)?.bytes[1], 2);
      } finally {
        cleanup();
      }
    });
  });
}

contract('memory', () => ({ state: new MemoryState(), cleanup: () => {} }));
contract('sqlite', () => {
  const state = new SqliteState(':memory:');
  return { state, cleanup: () => state.close() };
});

describe('sqlite file', () => {
  it('keeps everything across close and reopen', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabfleet-state-'));
    try {
      const file = join(dir, 'nested', 'state.sqlite');
      const first = new SqliteState(file);
      first.createRun(run());
      first.recordJoin('run-1', 'dev-aaaaaaaa', 'wasm', { profile: { msPerStep: [1.5, 2.5] } }, 100);
      first.claimFleetSlot('run-1', 'dev-aaaaaaaa', 4, 'secret');
      const checkpoint = new Uint8Array(new Float32Array([0.25, -1, 3e-8]).buffer);
      completeRound(first, 0, checkpoint, 0.2);
      first.setRunStatus('run-1', 'running', null);
      first.setJoinToken('run-1', 'join-secret');
      first.close();

      const second = new SqliteState(file);
      try {
        assert.equal(second.getRun('run-1')?.status, 'running');
        assert.deepEqual(second.getRun('run-1')?.config, { rounds: 3, alpha: 0.5 });
        assert.deepEqual(second.getDevice('run-1', 'dev-aaaaaaaa')?.report, { profile: { msPerStep: [1.5, 2.5] } });
        assert.equal(second.getFleetSlot('run-1', 'dev-aaaaaaaa')?.key, 'secret');
        const cp = second.latestCheckpoint('run-1');
        assert.ok(cp);
        assert.deepEqual([...new Float32Array(cp.bytes.slice().buffer)], [...new Float32Array(checkpoint.buffer)]);
        assert.equal(second.listMetrics('run-1')[0]?.accuracy, 0.2);
        assert.equal(second.getJoinToken('run-1'), 'join-secret');
      } finally {
        second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sqlite schema upgrade', () => {
  it('opens a version-1 file (rounds without a timeline) and adds the column', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabfleet-state-v1-'));
    try {
      const file = join(dir, 'v1.sqlite');
      const v1 = new Database(file);
      v1.exec(`CREATE TABLE runs (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, strategy TEXT NOT NULL, config TEXT NOT NULL, status TEXT NOT NULL, finished_at INTEGER);
        CREATE TABLE rounds (run_id TEXT NOT NULL REFERENCES runs(id), round INTEGER NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL,
          plan TEXT, participants TEXT NOT NULL, bytes_up INTEGER NOT NULL, bytes_down INTEGER NOT NULL, PRIMARY KEY (run_id, round));
        INSERT INTO runs VALUES ('run-1', 1, 'fedlora', '{}', 'finished', 2);
        INSERT INTO rounds VALUES ('run-1', 0, 1, 2, NULL, '[]', 0, 0);
        PRAGMA user_version = 1;`);
      v1.close();
      const state = new SqliteState(file);
      try {
        assert.deepEqual(state.listRounds('run-1').map((r) => [r.round, r.timeline]), [[0, []]]);
        completeRound(state, 1, new Uint8Array([1]), 0.3);
        assert.equal(state.listRounds('run-1')[1]?.timeline.length, 1);
      } finally {
        state.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
