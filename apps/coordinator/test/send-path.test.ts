/** The round's hot path at fleet scale: paced work sends, the one-pass upload value checks, the status broadcast during rounds. */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { adamCoordinateBound, adamDeltaNormBound, coordinateBoundProblems, createStrategy, findNonFinite, normBoundProblems } from '../src/core';
import type { AdapterState, BlockKey, NamedArray, RunStatus } from '../src/core';
import { SendPacer } from '../src/engine/send-pacer';
import { checkDeltaValues } from '../src/core';
import type { ValueBounds } from '../src/core';
import { startCoordinator } from '../src/server';
import type { RunningCoordinator } from '../src/server';
import { MemoryState } from '../src/state';
import { StatusThrottle } from '../src/status-throttle';
import { fakeTask, startFakeDevice } from './support/fakes';
import type { FakeDevice } from './support/fakes';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('SendPacer', () => {
  it('sends at once while the batch has room, then one bounded batch per turn of the event loop, in order', async () => {
    const pacer = new SendPacer({ maxBytesPerBatch: 8, maxSendsPerBatch: 64 });
    const sent: number[] = [];
    for (let i = 0; i < 20; i++) pacer.submit(`d${i}`, 3, () => sent.push(i));
    // 3 + 3 + 3 bytes: the third send fills the batch of 8.
    assert.deepEqual(sent, [0, 1, 2]);
    assert.equal(pacer.queued, 17);
    const perTurn: number[] = [];
    while (pacer.queued > 0) {
      const before = sent.length;
      await turn();
      perTurn.push(sent.length - before);
    }
    assert.deepEqual(perTurn, [3, 3, 3, 3, 3, 2]);
    assert.deepEqual(sent, Array.from({ length: 20 }, (_, i) => i));
  });

  it('bounds the sends per batch however small, sends one oversized send alone, and keeps only the latest send per key', async () => {
    const pacer = new SendPacer({ maxBytesPerBatch: 100, maxSendsPerBatch: 2 });
    const sent: string[] = [];
    pacer.submit('big', 1_000, () => sent.push('big'));
    pacer.submit('a', 1, () => sent.push('a1'));
    pacer.submit('b', 1, () => sent.push('b'));
    pacer.submit('a', 1, () => sent.push('a2'));
    assert.deepEqual(sent, ['big']);
    await turn();
    assert.deepEqual(sent, ['big', 'b', 'a2'], 'the second send for "a" replaced the first and went to the back');
    pacer.submit('c', 1, () => sent.push('c'));
    pacer.submit('d', 1, () => sent.push('d'));
    pacer.clear();
    await turn();
    await turn();
    assert.deepEqual(sent, ['big', 'b', 'a2'], 'a full batch queued c and d; clear dropped them');
  });
});

/** A seeded adapter of three blocks with values uniform in ±scale. */
function randomDelta(seed: number, scale: number): AdapterState {
  let x = seed >>> 0 || 1;
  const rand = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  const t = (shape: number[]): NamedArray => ({
    shape,
    data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (rand() * 2 - 1) * scale),
  });
  return new Map([
    ['0', new Map([['qkv.A', t([16, 4])], ['qkv.B', t([4, 16])]])],
    ['1', new Map([['qkv.A', t([16, 4])], ['qkv.B', t([4, 16])]])],
    ['head', new Map([['W', t([16, 3])], ['b', t([3])]])],
  ]) as AdapterState;
}

describe('checkDeltaValues', () => {
  const lrOf = (key: BlockKey) => (key === 'head' ? 0.01 : 0.001);
  const steps = 3;
  const bounds: ValueBounds = {
    normOf: (key, n) => 1.01 * adamDeltaNormBound(lrOf(key), steps, n),
    valueOf: (key) => 1.01 * adamCoordinateBound(lrOf(key), steps),
  };
  /** What the three separate passes (lora-core) say, in the order the run loop asked them. */
  const threePasses = (delta: AdapterState) => {
    const nonFinite = findNonFinite(delta);
    if (nonFinite.length > 0) return { kind: 'non-finite', first: nonFinite[0] };
    const norm = normBoundProblems(delta, bounds.normOf);
    if (norm.length > 0) return { kind: 'norm', problems: norm };
    const value = coordinateBoundProblems(delta, bounds.valueOf);
    if (value.length > 0) return { kind: 'value', problems: value };
    return { kind: 'ok' };
  };
  const set = (delta: AdapterState, key: string, name: string, index: number, value: number) => {
    delta.get(key as BlockKey)!.get(name)!.data[index] = value;
    return delta;
  };

  it('says what the three passes said, on honest, non-finite, too-large and concentrated deltas', () => {
    const coord = adamCoordinateBound(0.001, steps);
    const cases: Array<[string, AdapterState]> = [
      ['honest', randomDelta(1, coord * 0.5)],
      ['NaN late', set(randomDelta(2, coord * 0.5), 'head', 'b', 2, Number.NaN)],
      ['Infinity in a block over its norm bound', set(randomDelta(3, coord * 50), '1', 'qkv.B', 7, Number.NEGATIVE_INFINITY)],
      ['every block over its norm bound', randomDelta(4, coord * 50)],
      ['one value over its bound, norms fine', set(set(randomDelta(5, coord * 0.1), '0', 'qkv.B', 9, -coord * 3), '0', 'qkv.A', 1, coord * 2)],
      ['over the per-value bound in two blocks', set(set(randomDelta(6, coord * 0.1), '0', 'qkv.A', 0, coord * 2), 'head', 'W', 5, 0.1)],
    ];
    const kinds: string[] = [];
    for (const [what, delta] of cases) {
      const fused = checkDeltaValues(delta, bounds);
      assert.deepEqual(fused, threePasses(delta), what);
      kinds.push(fused.kind);
    }
    assert.deepEqual(kinds, ['ok', 'non-finite', 'non-finite', 'norm', 'value', 'value'], 'every refusal is exercised');
  });

  it('checks finiteness only when the bounds are off', () => {
    assert.deepEqual(checkDeltaValues(randomDelta(7, 1e6), null), { kind: 'ok' });
    const bad = set(randomDelta(8, 1), '0', 'qkv.A', 3, Number.POSITIVE_INFINITY);
    assert.deepEqual(checkDeltaValues(bad, null), { kind: 'non-finite', first: findNonFinite(bad)[0] });
  });
});

const status = (over: Partial<RunStatus> = {}): RunStatus => ({
  runId: 'run-1',
  state: 'running',
  strategy: 'fedlora',
  round: 0,
  totalRounds: 3,
  devicesJoined: 10,
  devicesExpected: 10,
  lastAccuracy: null,
  message: 'round 1: planning',
  ...over,
});

describe('StatusThrottle during rounds', () => {
  it('never sends a status equal to the last one sent, and drops a pending change that was undone', async () => {
    const sent: RunStatus[] = [];
    const throttle = new StatusThrottle((s) => sent.push(s), { minIntervalMs: 20 });
    throttle.push(status());
    for (let i = 0; i < 50; i++) throttle.push(status());
    assert.equal(sent.length, 1, 'fifty pushes of the same status (one per group aggregation): sent once');
    throttle.push(status({ devicesJoined: 9 }));
    throttle.push(status());
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(sent.length, 1, 'a device left and came back before the trailing broadcast: nothing to send');
    throttle.push(status({ round: 1 }));
    assert.equal(sent.length, 2, 'a new round still goes out at once');
  });

  it('spaces count updates by 0.5 ms per socket while running (5 s at 10,000), 0.1 ms otherwise', () => {
    let t = 0;
    const sent: RunStatus[] = [];
    const throttle = new StatusThrottle((s) => sent.push(s), { audience: () => 10_000, now: () => t });
    throttle.push(status());
    t = 4_000;
    throttle.push(status({ devicesJoined: 9 }));
    assert.equal(sent.length, 1, '4 s into a round: a device count change waits');
    t = 5_000;
    throttle.push(status({ devicesJoined: 8 }));
    assert.equal(sent.length, 2);
    throttle.push(status({ state: 'waiting', devicesJoined: 8 }));
    t = 6_000;
    throttle.push(status({ state: 'waiting', devicesJoined: 7 }));
    assert.equal(sent.length, 4, 'waiting: the 1 s interval of 10,000 sockets');
    throttle.cancel();
  });
});

describe('paced work sends over real sockets', () => {
  let coordinator: RunningCoordinator | undefined;
  let devices: FakeDevice[] = [];
  afterEach(async () => {
    for (const d of devices) d.close();
    devices = [];
    await coordinator?.close();
    coordinator = undefined;
  });

  it('one send per turn of the event loop: every member gets its work, the rounds aggregate as unpaced', async () => {
    const TOKEN = 'test-token';
    coordinator = await startCoordinator({
      config: { port: 0, host: '127.0.0.1', token: TOKEN, rounds: 2, devicesExpected: 4, seed: 1, batchSize: 4, learningRate: 0.01, headLearningRate: 0.05, roundTimeoutMs: 10_000, rejoinGraceMs: 100, normBoundFactor: null },
      strategy: createStrategy('fedlora', { planner: { localSteps: 3 } }),
      task: fakeTask([2, 2, 2, 2]),
      state: new MemoryState(),
      sendPacing: { maxSendsPerBatch: 1 },
    });
    for (const [i, value] of [1, 2, 3, 4].entries()) {
      devices.push(await startFakeDevice(coordinator.localUrl, TOKEN, `dev-paced-${i}`, { numSamples: 2, value }));
    }
    assert.equal(await coordinator.done, 'finished');
    // Equal weights: (1 + 2 + 3 + 4) / 4 = 2.5 per round on every trained block.
    for (const [key, tensors] of coordinator.loop.globalAdapter) {
      for (const [name, t] of tensors) assert.ok(t.data.every((v) => Math.abs(v - 5) < 1e-6), `${key}/${name} = ${[...t.data]}`);
    }
    for (const d of devices) assert.deepEqual(d.assignments.map((a) => [a.round, a.intraRound]), [[1, 0], [2, 0]]);
  });
});
