/**
 * The dashboard's device deltas: whatever the sequence of device lists, a page that applies the
 * patches holds exactly the server's list; a snapshot replaces everything; a missed or malformed
 * patch is refused (the page then asks for a snapshot), never applied onto the wrong list. And the
 * rounds part of the view is read from the state once per recorded round.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeviceRowView } from '../src/dashboard/contract';
import { applyDevicesPatch, DevicesPatcher, parseDevicesPatch, sortedRows } from '../src/dashboard/devices-patch';
import type { DeviceList } from '../src/dashboard/devices-patch';
import { RoundsCache } from '../src/dashboard/view';
import type { CoordinatorState, MetricRecord, RoundRecord } from '../src/state';

function row(id: string, over: Partial<DeviceRowView> = {}): DeviceRowView {
  return {
    deviceId: id,
    activity: 'idle',
    connected: true,
    revoked: false,
    joins: 1,
    dataMode: 'fleet',
    backend: 'wasm',
    gpuAdapter: null,
    fallbackAdapter: null,
    msPerStep: [10, 20],
    uploadBytesPerSec: 1e6,
    memoryBytes: 1e9,
    numSamples: 40,
    groupId: 'g0',
    depth: 2,
    localSteps: 4,
    progress: null,
    lastSeen: 1,
    bytesUp: 0,
    bytesDown: 0,
    lastError: null,
    paused: null,
    ...over,
  };
}

/** Seeded xorshift, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

const ids = (list: DeviceList) => sortedRows(list);

describe('devicesPatch', () => {
  it('patches carry only what changed, and applying them reproduces the list (seeded random fleets)', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rand = rng(seed);
      const patcher = new DevicesPatcher();
      let page: DeviceList | null = null;
      let current = new Map<string, DeviceRowView>();
      for (let tick = 0; tick < 300; tick++) {
        const next = new Map(current);
        const changes = Math.floor(rand() * 6);
        for (let c = 0; c < changes; c++) {
          const id = `dev-${String(Math.floor(rand() * 40)).padStart(3, '0')}`;
          const r = rand();
          if (r < 0.15) next.delete(id);
          else if (r < 0.5) next.set(id, row(id, { progress: { round: tick, intraRound: 0, step: Math.floor(rand() * 10), localSteps: 10, loss: rand() } }));
          else if (r < 0.7) next.set(id, row(id, { paused: rand() < 0.5 ? ['user'] : null, msPerStep: [Math.floor(rand() * 100)] }));
          else next.set(id, row(id, { lastSeen: tick, activity: rand() < 0.5 ? 'training' : 'gone' }));
        }
        const rows = [...next.values()];
        const patch = patcher.next(rows);
        // Rows are sent again only when they differ from what was sent before.
        const changed = rows.filter((r) => JSON.stringify(current.get(r.deviceId)) !== JSON.stringify(r));
        const removed = [...current.keys()].filter((id) => !next.has(id));
        if (changed.length === 0 && removed.length === 0) {
          assert.equal(patch, undefined, `seed ${seed} tick ${tick}: nothing changed, nothing sent`);
        } else {
          assert.ok(patch);
          assert.deepEqual(new Set(patch.upserts.map((r) => r.deviceId)), new Set(changed.map((r) => r.deviceId)));
          assert.deepEqual(new Set(patch.removed), new Set(removed));
          // Over the wire: the page parses what JSON carried.
          const wire = parseDevicesPatch(JSON.parse(JSON.stringify(patch)));
          assert.ok(wire);
          const applied = applyDevicesPatch(page ?? { seq: 0, rows: new Map() }, wire);
          assert.ok(applied.ok, `seed ${seed} tick ${tick}`);
          page = applied.list;
        }
        current = next;
        if (page) assert.deepEqual(ids(page), sortedRows({ seq: 0, rows: current }), `seed ${seed} tick ${tick}: page holds the server's list`);
        // A page connecting now gets a snapshot equal to the list, at the current seq.
        if (tick % 50 === 0) {
          const snap = patcher.snapshot();
          assert.equal(snap.base, null);
          const fresh = applyDevicesPatch(null, snap);
          assert.ok(fresh.ok);
          assert.deepEqual(ids(fresh.list), sortedRows({ seq: 0, rows: current }));
          if (page) assert.equal(fresh.list.seq, page.seq);
        }
      }
    }
  });

  it('a page that missed a patch refuses the next one, and a snapshot puts it right', () => {
    const patcher = new DevicesPatcher();
    const p1 = patcher.next([row('a'), row('b')]);
    const p2 = patcher.next([row('a', { joins: 2 }), row('b')]);
    const p3 = patcher.next([row('a', { joins: 2 })]);
    assert.ok(p1 && p2 && p3);
    assert.deepEqual(p2.upserts.map((r) => r.deviceId), ['a']);
    assert.deepEqual(p3.removed, ['b']);
    const start = applyDevicesPatch({ seq: 0, rows: new Map() }, p1);
    assert.ok(start.ok);
    const skipped = applyDevicesPatch(start.list, p3);
    assert.deepEqual(skipped, { ok: false, reason: 'patch 3 applies on 2, the page holds 1' });
    assert.equal(applyDevicesPatch(null, p2).ok, false, 'a delta before any snapshot is refused');
    const resync = applyDevicesPatch(start.list, patcher.snapshot());
    assert.ok(resync.ok);
    assert.deepEqual(ids(resync.list), [row('a', { joins: 2 })]);
    assert.equal(resync.list.seq, 3);
  });

  it('malformed patches are refused by the page', () => {
    for (const bad of [null, 'x', {}, { seq: 1, base: 0, upserts: [{}], removed: [] }, { seq: 5, base: 1, upserts: [], removed: [] }, { seq: -1, base: null, upserts: [], removed: [] }, { seq: 1, base: 0, upserts: [], removed: [3] }]) {
      assert.equal(parseDevicesPatch(bad), undefined, JSON.stringify(bad));
    }
    assert.ok(parseDevicesPatch({ seq: 1, base: 0, upserts: [row('a')], removed: ['b'] }));
  });
});

describe('RoundsCache (dashboard views between pushes)', () => {
  it('reads the rounds from the state once per recorded round, not on every push', () => {
    const rounds: RoundRecord[] = [];
    const metrics: MetricRecord[] = [];
    let reads = 0;
    const state = {
      listRounds: () => {
        reads++;
        return [...rounds];
      },
      listMetrics: () => [...metrics],
    } as unknown as CoordinatorState;
    const cache = new RoundsCache();
    const record = (round: number) => {
      rounds.push({ runId: 'r1', round, startedAt: round, finishedAt: round + 1, plan: null, participants: ['a'], bytesUp: 1, bytesDown: 2, timeline: [{ groupId: 'g', intraRound: 0, at: round, contributors: 1, planned: 1 }] });
      metrics.push({ runId: 'r1', round, accuracy: round / 10, loss: 1, evaluatedAt: round });
    };
    record(0);
    for (let push = 0; push < 20; push++) assert.deepEqual(cache.get('r1', 1, state).rounds.map((r) => r.accuracy), [0]);
    assert.equal(reads, 1);
    record(1);
    const after = cache.get('r1', 2, state);
    assert.deepEqual(after.rounds.map((r) => [r.round, r.accuracy]), [[0, 0], [1, 0.1]]);
    assert.deepEqual(after.timeline.map((e) => e.round), [0, 1]);
    assert.equal(cache.get('r1', 2, state), after);
    assert.equal(reads, 2);
    cache.get('r2', 2, state);
    assert.equal(reads, 3, 'another run is read afresh');
  });
});
