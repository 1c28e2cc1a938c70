/** The dashboard page's pure modules: table sort/filter, the start-run form, structural sharing, the admin token. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { takeAdminTokenFromUrl } from '../dashboard/src/admin-token';
import type { PageHistory, TokenStorage } from '../dashboard/src/admin-token';
import { visibleDevices } from '../dashboard/src/device-rows';
import { formFromParams, paramsFromForm } from '../dashboard/src/run-form';
import { byRound, byWallClock } from '../dashboard/src/run-series';
import { shareUnchanged } from '../dashboard/src/structural-sharing';
import type { DeviceRowView, RoundView, RunParams } from '../src/dashboard/contract';

function device(deviceId: string, over: Partial<DeviceRowView> = {}): DeviceRowView {
  return {
    deviceId,
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
    memoryBytes: null,
    numSamples: 10,
    groupId: 'g0',
    depth: 2,
    localSteps: 4,
    progress: null,
    lastSeen: 0,
    bytesUp: 0,
    bytesDown: 0,
    lastError: null,
    ...over,
  };
}

const PARAMS: RunParams = {
  strategy: 'hierfedlora',
  rounds: 3,
  devicesExpected: 2,
  groups: 2,
  localSteps: 4,
  batchSize: 8,
  learningRate: 0.01,
  headLearningRate: 0.03,
  seed: 1,
  roundTimeoutS: 120,
  minReportFraction: 0.5,
  robust: 'mean',
  trimFraction: 0.1,
  clipNorm: 'auto',
};

const ids = (rows: readonly DeviceRowView[]) => rows.map((d) => d.deviceId);

describe('device table rows', () => {
  const devices = [
    device('dev-c', { activity: 'training', backend: 'webgpu', gpuAdapter: 'SwiftShader', bytesUp: 30, progress: { round: 1, intraRound: 1, step: 3, localSteps: 4, loss: 1 } }),
    device('dev-a', { activity: 'gone', backend: 'cpu', groupId: 'g1', bytesUp: 10 }),
    device('dev-b', { activity: 'training', backend: 'wasm', bytesUp: 20, progress: { round: 1, intraRound: 1, step: 1, localSteps: 4, loss: 1 } }),
    device('dev-d', { backend: null, groupId: null, msPerStep: null, bytesUp: 20 }),
  ];

  it('sorts by the chosen column both ways, ties by id, missing values last', () => {
    const filter = { text: '', activity: 'all' as const };
    assert.deepEqual(ids(visibleDevices(devices, { key: 'deviceId', descending: false }, filter)), ['dev-a', 'dev-b', 'dev-c', 'dev-d']);
    assert.deepEqual(ids(visibleDevices(devices, { key: 'bytesUp', descending: true }, filter)), ['dev-c', 'dev-b', 'dev-d', 'dev-a']);
    assert.deepEqual(ids(visibleDevices(devices, { key: 'progress', descending: false }, filter)), ['dev-b', 'dev-c', 'dev-a', 'dev-d']);
    assert.deepEqual(ids(visibleDevices(devices, { key: 'progress', descending: true }, filter)), ['dev-c', 'dev-b', 'dev-a', 'dev-d']);
    assert.deepEqual(ids(visibleDevices(devices, { key: 'activity', descending: false }, filter)), ['dev-b', 'dev-c', 'dev-d', 'dev-a']);
    assert.deepEqual(ids(visibleDevices(devices, { key: 'backend', descending: true }, filter)).at(-1), 'dev-d');
  });

  it('filters by status and by text in id, backend, GPU adapter or group', () => {
    const sort = { key: 'deviceId' as const, descending: false };
    assert.deepEqual(ids(visibleDevices(devices, sort, { text: '', activity: 'training' })), ['dev-b', 'dev-c']);
    assert.deepEqual(ids(visibleDevices(devices, sort, { text: 'swift', activity: 'all' })), ['dev-c']);
    assert.deepEqual(ids(visibleDevices(devices, sort, { text: ' G1 ', activity: 'all' })), ['dev-a']);
    assert.deepEqual(ids(visibleDevices(devices, sort, { text: 'wasm', activity: 'gone' })), []);
  });

  it('leaves the pushed array untouched', () => {
    const before = ids(devices);
    visibleDevices(devices, { key: 'bytesUp', descending: true }, { text: '', activity: 'all' });
    assert.deepEqual(ids(devices), before);
  });
});

describe('start-run form', () => {
  it('round-trips the parameters through the text fields', () => {
    assert.deepEqual(paramsFromForm(formFromParams(PARAMS)), { ok: true, params: PARAMS });
    const noGroups = { ...PARAMS, groups: undefined, clipNorm: null };
    const form = formFromParams(noGroups);
    assert.equal(form.groups, '');
    assert.equal(form.clipNorm, '');
    const parsed = paramsFromForm(form);
    assert.ok(parsed.ok);
    assert.equal(parsed.params.groups, undefined, 'an empty group count means automatic');
    assert.equal(parsed.params.clipNorm, null);
  });

  it('names each invalid field', () => {
    const parsed = paramsFromForm({ ...formFromParams(PARAMS), rounds: 'ten', batchSize: '0', clipNorm: '-1' });
    assert.equal(parsed.ok, false);
    if (parsed.ok) return;
    assert.deepEqual(Object.keys(parsed.errors).sort(), ['batchSize', 'clipNorm', 'rounds']);
  });
});

describe('structural sharing of pushed states', () => {
  it('keeps the previous objects for the parts that did not change', () => {
    const prev = { devices: [{ id: 'a', step: 1 }, { id: 'b', step: 1 }], groups: [{ id: 'g', dist: [0.5, 0.5] }], time: 1 };
    const next = { devices: [{ id: 'a', step: 2 }, { id: 'b', step: 1 }], groups: [{ id: 'g', dist: [0.5, 0.5] }], time: 2 };
    const shared = shareUnchanged(prev, next);
    assert.deepEqual(shared, next);
    assert.equal(shared.groups, prev.groups);
    assert.equal(shared.devices[1], prev.devices[1]);
    assert.notEqual(shared.devices, prev.devices);
    assert.notEqual(shared.devices[0], prev.devices[0]);
    assert.equal(shareUnchanged(prev, structuredClone(prev)), prev);
  });

  it('sees added, removed and retyped parts', () => {
    assert.deepEqual(shareUnchanged({ a: [1, 2] }, { a: [1, 2, 3] }), { a: [1, 2, 3] });
    assert.deepEqual(shareUnchanged<Record<string, unknown>>({ a: 1, b: 2 }, { a: 1 }), { a: 1 });
    assert.deepEqual(shareUnchanged<unknown>({ a: [1] }, { a: { 0: 1 } }), { a: { 0: 1 } });
    assert.deepEqual(shareUnchanged<unknown>({ a: null }, { a: 0 }), { a: 0 });
  });
});

describe('chart series', () => {
  const rounds: RoundView[] = [
    { round: 1, startedAt: 1_000, finishedAt: 61_000, participants: 2, groups: 2, bytesUp: 1, bytesDown: 1, accuracy: 0.2, loss: 2 },
    { round: 0, startedAt: 0, finishedAt: 1_000, participants: 0, groups: 0, bytesUp: 0, bytesDown: 0, accuracy: 0.05, loss: 3 },
    { round: 2, startedAt: 61_000, finishedAt: 121_000, participants: 2, groups: 2, bytesUp: 1, bytesDown: 1, accuracy: null, loss: null },
  ];
  it('orders points by round and skips rounds without the metric', () => {
    assert.deepEqual(byRound(rounds, 'accuracy'), [
      { x: 0, y: 0.05 },
      { x: 1, y: 0.2 },
    ]);
    assert.deepEqual(byWallClock(rounds, 'loss', 1_000), [
      { x: 0, y: 3 },
      { x: 1, y: 2 },
    ]);
  });
});

describe('admin token from the address', () => {
  function fakes(href: string) {
    const store = new Map<string, string>();
    const storage: TokenStorage = {
      getItem: (k) => store.get(k) ?? null,
      setItem: (k, v) => void store.set(k, v),
      removeItem: (k) => void store.delete(k),
    };
    const replaced: string[] = [];
    const history: PageHistory = { state: null, replaceState: (_s, _t, url) => void replaced.push(url) };
    return { location: { href }, history, storage, replaced };
  }

  it('takes ?admin=, keeps it for the session and removes it from the address bar', () => {
    const f = fakes('http://h:8080/dashboard/?admin=s3cret&x=1#top');
    assert.equal(takeAdminTokenFromUrl(f.location, f.history, f.storage), 's3cret');
    assert.deepEqual(f.replaced, ['/dashboard/?x=1#top']);
    const later = { ...fakes('http://h:8080/dashboard/'), storage: f.storage };
    assert.equal(takeAdminTokenFromUrl(later.location, later.history, later.storage), 's3cret', 'a reload keeps the token');
    assert.deepEqual(later.replaced, []);
  });

  it('is read-only without one', () => {
    const f = fakes('http://h:8080/dashboard/');
    assert.equal(takeAdminTokenFromUrl(f.location, f.history, f.storage), null);
  });
});
