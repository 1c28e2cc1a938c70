import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN_MAX_BYTES, createRequestHandler, PROBE_MAX_BYTES } from '../src/http/routes';
import type { RunParams } from '../src/dashboard/contract';
import { mimeTypeFor, resolveInside } from '../src/http/static-files';
import type { Snapshot } from '../src/snapshot';

describe('mimeTypeFor', () => {
  it('maps the types the page needs, and extension-less weight shards to octet-stream', () => {
    assert.equal(mimeTypeFor('tfjs-backend-wasm-simd.wasm'), 'application/wasm');
    assert.equal(mimeTypeFor('model.json'), 'application/json; charset=utf-8');
    assert.equal(mimeTypeFor('group1-shard3of7'), 'application/octet-stream');
    assert.equal(mimeTypeFor('index.HTML'), 'text/html; charset=utf-8');
    assert.equal(mimeTypeFor('assets/index-abc.js'), 'text/javascript; charset=utf-8');
    assert.equal(mimeTypeFor('style.css'), 'text/css; charset=utf-8');
  });
});

describe('resolveInside', () => {
  it('keeps paths inside the root', () => {
    assert.equal(resolveInside('/srv/page', 'assets/a.js'), '/srv/page/assets/a.js');
    for (const bad of ['../etc/passwd', 'assets/../../x', '%2e%2e/secret', '/etc/passwd/..', 'a\\..\\b', 'x%00y', '%E0%A4%A', '']) {
      const r = resolveInside('/srv/page', bad);
      assert.ok(r === undefined || r.startsWith('/srv/page/'), `${bad} resolved to ${r}`);
    }
    assert.equal(resolveInside('/srv/page', '../etc/passwd'), undefined);
    assert.equal(resolveInside('/srv/page', '%2e%2e/secret'), undefined);
  });
});

const snapshot: Snapshot = {
  run: { id: 'run-x', createdAt: 0, strategy: 'fedlora', config: {}, status: 'running', finishedAt: null },
  status: { runId: 'run-x', state: 'running', strategy: 'fedlora', round: 1, totalRounds: 3, devicesJoined: 1, devicesExpected: 2, lastAccuracy: 0.42 },
  devices: [],
  rounds: [
    { round: 0, participants: 0, groups: 0, bytesUp: 0, bytesDown: 0, durationMs: 10, accuracy: 0.1, loss: 2.9 },
    { round: 1, participants: 2, groups: 1, bytesUp: 2048, bytesDown: 4096, durationMs: 1500, accuracy: 0.42, loss: 2.1 },
  ],
};

const ADMIN = 'admin-secret-1';

describe('routes', () => {
  const started: RunParams[] = [];
  const revoked: string[] = [];
  let stopped = 0;
  let dir: string;
  let server: Server;
  let base: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tabfleet-http-'));
    const page = join(dir, 'page');
    const model = join(dir, 'model');
    const wasm = join(dir, 'wasm');
    const dashboard = join(dir, 'dashboard');
    for (const d of [join(page, 'assets'), model, wasm, join(dashboard, 'assets')]) mkdirSync(d, { recursive: true });
    writeFileSync(join(dashboard, 'index.html'), '<!doctype html><title>dashboard</title>');
    writeFileSync(join(dashboard, 'assets', 'index-d1.js'), 'console.log(2)');
    writeFileSync(join(page, 'index.html'), '<!doctype html><title>device</title>');
    writeFileSync(join(page, 'assets', 'index-abc123.js'), 'console.log(1)');
    writeFileSync(join(model, 'model.json'), '{"weightsManifest":[]}');
    writeFileSync(join(model, 'group1-shard1of7'), Buffer.from([1, 2, 3, 4]));
    writeFileSync(join(model, 'index.js'), 'module.exports = {}');
    writeFileSync(join(wasm, 'tfjs-backend-wasm-simd.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d]));
    writeFileSync(join(wasm, 'tfjs-backend-wasm-threaded-simd.js'), 'var WasmBackendModuleThreadedSimd = 1;');
    writeFileSync(join(wasm, 'tfjs-backend-wasm.js'), 'var notServed = 1;');
    writeFileSync(join(dir, 'secret.txt'), 'secret');
    server = createServer(
      createRequestHandler({
        assets: { devicePage: page, dashboard, model, tfjsWasm: wasm, tfjsWasmOut: wasm },
        snapshot: () => snapshot,
        publicDeviceUrl: () => 'http://192.0.2.1:8080/',
        partitionFor: (deviceId, key) =>
          deviceId === 'dev-aaaaaaaa' && key === 'k1' ? { index: 3, classNames: ['a', 'b'], texts: ['x'], labels: [1] } : undefined,
        admin: {
          isAdminToken: (t) => t === ADMIN,
          currentRunId: () => 'run-x',
          exportAdapter: (runId, round) => (runId === 'run-x' && (round === undefined || round === 1) ? new Uint8Array([84, 70, 65, 68, 9]) : undefined),
          startRun: async (params) => {
            if (stopped === 0) throw new Error('run run-x is still going: stop it first');
            started.push(params);
            return 'run-y';
          },
          stopRun: async () => {
            stopped += 1;
          },
          revokeDevice: (id) => revoked.push(id),
          issueInvites: (count) => Array.from({ length: count }, (_, i) => ({ invite: `inv-${i}`, url: `http://x/?token=inv-${i}` })),
        },
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends COOP/COEP/CORP on every response, so the device page is cross-origin isolated', async () => {
    for (const path of ['/', '/assets/index-abc123.js', '/model/model.json', '/tfjs-wasm/tfjs-backend-wasm-simd.wasm', '/api/status', '/dashboard/', '/nope']) {
      const res = await fetch(`${base}${path}`);
      await res.arrayBuffer();
      assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin', path);
      assert.equal(res.headers.get('cross-origin-embedder-policy'), 'require-corp', path);
      assert.equal(res.headers.get('cross-origin-resource-policy'), 'same-origin', path);
    }
  });

  it("serves the threaded wasm module's own script for pthread workers, and no other script of the package", async () => {
    const ok = await fetch(`${base}/tfjs-wasm/tfjs-backend-wasm-threaded-simd.js`);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(await ok.text(), /WasmBackendModuleThreadedSimd/);
    const other = await fetch(`${base}/tfjs-wasm/tfjs-backend-wasm.js`);
    await other.arrayBuffer();
    assert.equal(other.status, 404);
  });

  it('serves weight shards as cacheable binary and revalidates with ETag', async () => {
    const res = await fetch(`${base}/model/group1-shard1of7`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.match(res.headers.get('cache-control') ?? '', /public, max-age=\d+/);
    assert.deepEqual([...new Uint8Array(await res.arrayBuffer())], [1, 2, 3, 4]);
    const etag = res.headers.get('etag');
    assert.ok(etag);
    const again = await fetch(`${base}/model/group1-shard1of7`, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
  });

  it('serves model.json as JSON and the wasm binary as application/wasm', async () => {
    const json = await fetch(`${base}/model/model.json`);
    assert.equal(json.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.deepEqual(await json.json(), { weightsManifest: [] });
    const wasm = await fetch(`${base}/tfjs-wasm/tfjs-backend-wasm-simd.wasm`);
    assert.equal(wasm.status, 200);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
  });

  it('serves only model files from the model folder, and nothing outside the page folder', async () => {
    assert.equal((await fetch(`${base}/model/index.js`)).status, 404);
    assert.equal((await fetch(`${base}/model/..%2Fsecret.txt`)).status, 404);
    assert.equal((await fetch(`${base}/..%2Fsecret.txt`)).status, 404);
    assert.equal((await fetch(`${base}/%2e%2e/secret.txt`)).status, 404);
  });

  it('serves the device page: index revalidated, hashed assets immutable', async () => {
    const index = await fetch(`${base}/?token=abc`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const asset = await fetch(`${base}/assets/index-abc123.js`);
    assert.equal(asset.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
  });

  it('gives a partition only to the device holding its key', async () => {
    const ok = await fetch(`${base}/api/fleet/partition?deviceId=dev-aaaaaaaa&key=k1`);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { index: 3, classNames: ['a', 'b'], texts: ['x'], labels: [1] });
    assert.equal((await fetch(`${base}/api/fleet/partition?deviceId=dev-aaaaaaaa&key=k2`)).status, 403);
    assert.equal((await fetch(`${base}/api/fleet/partition?deviceId=dev-bbbbbbbb&key=k1`)).status, 403);
  });

  it('measures uploads on the probe and caps their size', async () => {
    const ok = await fetch(`${base}/api/probe/upload`, { method: 'POST', body: new Uint8Array(100_000) });
    assert.deepEqual(await ok.json(), { bytes: 100_000 });
    const big = await fetch(`${base}/api/probe/upload`, { method: 'POST', body: new Uint8Array(PROBE_MAX_BYTES + 1) }).catch(() => undefined);
    assert.ok(big === undefined || big.status === 413);
  });

  it('serves status JSON and the dashboard page under /dashboard/', async () => {
    const status = await fetch(`${base}/api/status`);
    assert.equal(((await status.json()) as Snapshot).status.round, 1);
    const redirect = await fetch(`${base}/dashboard?admin=x`, { redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), '/dashboard/?admin=x');
    const dash = await fetch(`${base}/dashboard/`);
    assert.equal(dash.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(await dash.text(), /<title>dashboard<\/title>/);
    const asset = await fetch(`${base}/dashboard/assets/index-d1.js`);
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
    assert.equal((await fetch(`${base}/dashboard/..%2Fsecret.txt`)).status, 404);
  });

  it('refuses the admin API without the admin token', async () => {
    for (const auth of [undefined, 'Bearer wrong', `Basic ${ADMIN}`, 'Bearer ']) {
      const res = await fetch(`${base}/api/admin/adapter`, auth ? { headers: { Authorization: auth } } : {});
      assert.equal(res.status, 401, String(auth));
      assert.match(res.headers.get('www-authenticate') ?? '', /Bearer/);
    }
    const post = await fetch(`${base}/api/admin/run/stop`, { method: 'POST', headers: { Authorization: 'Bearer nope' } });
    assert.equal(post.status, 401);
    assert.equal(stopped, 0);
  });

  it('exports the global adapter to the admin', async () => {
    const auth = { Authorization: `Bearer ${ADMIN}` };
    const res = await fetch(`${base}/api/admin/adapter`, { headers: auth });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="run-x\.tfad"/);
    assert.deepEqual([...new Uint8Array(await res.arrayBuffer())], [84, 70, 65, 68, 9]);
    assert.equal((await fetch(`${base}/api/admin/adapter?round=1`, { headers: auth })).status, 200);
    assert.equal((await fetch(`${base}/api/admin/adapter?round=7`, { headers: auth })).status, 404);
    assert.equal((await fetch(`${base}/api/admin/adapter?round=-1`, { headers: auth })).status, 400);
    assert.equal((await fetch(`${base}/api/admin/adapter?runId=run-zzz`, { headers: auth })).status, 404);
  });

  it('validates admin actions: start needs valid parameters, conflicts are 409', async () => {
    const auth = { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' };
    const params: RunParams = {
      strategy: 'hierfedlora', rounds: 3, devicesExpected: 2, groups: 2, localSteps: 4, batchSize: 8, learningRate: 0.001, headLearningRate: 0.03,
      seed: 5, roundTimeoutS: 60, minReportFraction: 0.5, robust: 'median', trimFraction: 0.2, clipNorm: 'auto',
    };
    const conflict = await fetch(`${base}/api/admin/run/start`, { method: 'POST', headers: auth, body: JSON.stringify(params) });
    assert.equal(conflict.status, 409);
    assert.match(((await conflict.json()) as { error: string }).error, /stop it first/);
    const bad = await fetch(`${base}/api/admin/run/start`, { method: 'POST', headers: auth, body: JSON.stringify({ ...params, strategy: 'fedsgd', rounds: 0 }) });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /strategy.*rounds|rounds.*strategy/s);
    assert.equal((await fetch(`${base}/api/admin/run/start`, { method: 'POST', headers: auth, body: '{not json' })).status, 400);
    assert.equal((await fetch(`${base}/api/admin/run/start`, { method: 'POST', headers: auth, body: 'x'.repeat(ADMIN_MAX_BYTES + 1) }).catch(() => undefined))?.status ?? 400, 400);
    assert.equal((await fetch(`${base}/api/admin/run/stop`, { method: 'POST', headers: auth })).status, 200);
    const ok = await fetch(`${base}/api/admin/run/start`, { method: 'POST', headers: auth, body: JSON.stringify(params) });
    assert.deepEqual(await ok.json(), { runId: 'run-y' });
    assert.deepEqual(started, [params]);
    assert.equal((await fetch(`${base}/api/admin/devices/revoke`, { method: 'POST', headers: auth, body: JSON.stringify({ deviceId: '../x' }) })).status, 400);
    assert.equal((await fetch(`${base}/api/admin/devices/revoke`, { method: 'POST', headers: auth, body: JSON.stringify({ deviceId: 'dev-aaaaaaaa' }) })).status, 200);
    assert.deepEqual(revoked, ['dev-aaaaaaaa']);
  });
});
