/**
 * The tab's checkpoint cache against a real HTTP server serving a tiny checkpoint, with an
 * in-memory stand-in for Cache Storage (same API subset): first load downloads with progress and
 * the model loads from it; a reload downloads nothing; a changed file is re-downloaded alone;
 * truncated or tampered downloads are refused.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildModelManifest, modelDirectoryHandler, useBackend } from '../../../packages/lora-core/node';
import { writeTinyCheckpoints } from '../../../packages/lora-core/test/hf/tiny';
import { loadHfModel } from '../src/core';
import { ensureCachedModel, type CacheLike, type ModelCacheProgress } from '../src/model-cache';

/** Cache Storage in memory: one named cache of Request URL → Response bytes. */
class MemoryCaches {
  readonly entries = new Map<string, ArrayBuffer>();
  async open(): Promise<CacheLike> {
    const entries = this.entries;
    return {
      async match(url: string) {
        const b = entries.get(url);
        return b ? new Response(b.slice(0)) : undefined;
      },
      async put(url: string, res: Response) {
        entries.set(url, await res.arrayBuffer());
      },
      async keys() {
        return [...entries.keys()].map((u) => new Request(u));
      },
      async delete(req: { url: string }) {
        return entries.delete(req.url);
      },
    };
  }
}

let dir: string;
let server: Server;
let base: string;
const requests: string[] = [];
let truncate = false;

before(async () => {
  await useBackend('cpu');
  dir = writeTinyCheckpoints(mkdtempSync(join(tmpdir(), 'tabfleet-cache-')), ['llama-gqa-bf16-sharded']).get('llama-gqa-bf16-sharded')!;
  server = createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').replace(/^\/hf-model\//, ''));
    requests.push(name);
    if (truncate) {
      res.writeHead(200).end(readFileSync(join(dir, name)).subarray(0, 10));
      return;
    }
    // The coordinator's handler, made per request so a changed file is served as it is now.
    void modelDirectoryHandler(dir).then((h) => {
      if (!h.handle(req, res)) res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hf-model/`;
});

after(() => server.close());

test('download once with progress, load the model from the cache, reload without downloading, refetch only a changed file', async () => {
  const caches = new MemoryCaches();
  const manifest = await buildModelManifest(dir);
  assert.ok(manifest.files.some((f) => f.path === 'model-00002-of-00002.safetensors'));
  const progress: ModelCacheProgress[] = [];
  requests.length = 0;
  const first = await ensureCachedModel({ baseUrl: base, manifest, caches, onProgress: (p) => progress.push(p) });
  assert.deepEqual([...first.downloaded].sort(), manifest.files.map((f) => f.path).sort());
  const total = manifest.files.reduce((n, f) => n + f.bytes, 0);
  assert.equal(progress.at(-1)!.loadedBytes, total);
  assert.ok(progress.every((p, i) => i === 0 || p.loadedBytes >= progress[i - 1]!.loadedBytes));
  const m = await loadHfModel(first.read);
  assert.equal(m.decoder.blocks.length, 3);
  m.decoder.dispose();

  requests.length = 0;
  const again = await ensureCachedModel({ baseUrl: base, manifest, caches });
  assert.deepEqual(again.downloaded, []);
  assert.deepEqual(requests, [], 'a reload downloads nothing');
  assert.equal(await again.read('pytorch_model.bin'), null);

  // A new checkpoint version: only the changed file comes again, and its old entry is gone.
  const cfgPath = join(dir, 'generation_config.json');
  writeFileSync(cfgPath, JSON.stringify({ eos_token_id: 271, max_new_tokens: 5 }));
  const changed = await buildModelManifest(dir);
  const before = caches.entries.size;
  const third = await ensureCachedModel({ baseUrl: base, manifest: changed, caches });
  assert.deepEqual(third.downloaded, ['generation_config.json']);
  assert.equal(caches.entries.size, before);
  assert.match(new TextDecoder().decode((await third.read('generation_config.json'))!), /max_new_tokens/);
});

test('the directory handler serves the manifest and the listed files only', async () => {
  const manifest = (await (await fetch(`${base}manifest.json`)).json()) as { files: Array<{ path: string }> };
  assert.deepEqual(manifest, await buildModelManifest(dir));
  const cfg = await fetch(`${base}config.json`);
  assert.equal(cfg.headers.get('etag'), `"${(await buildModelManifest(dir)).files.find((f) => f.path === 'config.json')!.sha256}"`);
  assert.equal((await fetch(`${base}..%2Fetc%2Fpasswd`)).status, 404);
  assert.equal((await fetch(`${base}tokenizer.json`, { method: 'POST' })).status, 405);
});

test('truncated and tampered downloads are refused with the file named', async () => {
  const manifest = await buildModelManifest(dir);
  truncate = true;
  try {
    await assert.rejects(ensureCachedModel({ baseUrl: base, manifest, caches: new MemoryCaches() }), /downloading config\.json: got \d+ bytes, the manifest lists \d+/);
  } finally {
    truncate = false;
  }
  const tampered = { files: manifest.files.map((f) => (f.path === 'config.json' ? { ...f, sha256: '0'.repeat(64) } : f)) };
  await assert.rejects(ensureCachedModel({ baseUrl: base, manifest: tampered, caches: new MemoryCaches() }), /config\.json: sha256 [0-9a-f]+ does not match/);
  await assert.rejects(ensureCachedModel({ baseUrl: base, manifest: { files: [{ path: 'missing.json', bytes: 1, sha256: '0'.repeat(64) }] }, caches: new MemoryCaches() }), /missing\.json: HTTP 404/);
});
