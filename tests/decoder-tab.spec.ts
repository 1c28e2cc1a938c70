/**
 * A Hugging Face decoder in a real Chromium tab: the page downloads a tiny Llama-family checkpoint
 * (GQA, Llama-3 rope scaling, two BF16 shards) from a real HTTP server through its Cache Storage
 * model cache, loads it with @huggingface/tokenizers and our safetensors reader, greedy-decodes
 * exactly as Node does, and fine-tunes LoRA on wasm with falling loss and no tensor leaks. A reload
 * reads the cache and downloads nothing.
 */
import { expect, test, type Page } from '@playwright/test';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { build } from 'vite';
// Not node/index.ts: its tfjs backend set-up needs tsx's loader, and the Node-side decode runs in a child process.
import { modelDirectoryHandler } from '../packages/lora-core/node/hf-serve';
import { writeTinyCheckpoints } from '../packages/lora-core/test/hf/tiny';

const here = dirname(fileURLToPath(import.meta.url));
const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };

let server: Server;
let url: string;
let modelDir: string;
const hits: string[] = [];
/** Must equal the prompt of support/decoder-page/main.ts. */
const PROMPT = 'the cat sat on the';

test.beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'tabfleet-decoder-tab-'));
  modelDir = writeTinyCheckpoints(join(root, 'models'), ['llama-gqa-bf16-sharded']).get('llama-gqa-bf16-sharded')!;
  const out = join(root, 'page');
  await build({ root: join(here, 'support', 'decoder-page'), logLevel: 'warn', build: { outDir: out, emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 8192 } });
  const model = await modelDirectoryHandler(modelDir);
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path.startsWith('/hf-model/')) hits.push(path);
    if (model.handle(req, res)) return;
    const [base, rel] = path.startsWith('/tfjs-wasm/') ? [wasmDir, path.slice('/tfjs-wasm/'.length)] : [out, path === '/' ? 'index.html' : path.slice(1)];
    const file = normalize(join(base, rel));
    if (!file.startsWith(base + sep)) return void res.writeHead(404).end();
    try {
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`;
});

test.afterAll(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

type Check = { error?: string; backend: string; cacheStorage: boolean; downloaded: string[]; totalBytes: number; loadedBytes: number; base: Array<{ id: number; logProb: number }>; lossBefore: number; lossAfter: number; leaked: number };

async function check(page: Page): Promise<Check> {
  await page.goto(url);
  await page.waitForFunction(() => (globalThis as unknown as { __decoderCheck?: unknown }).__decoderCheck !== undefined, undefined, { timeout: 120_000 });
  const r = (await page.evaluate(() => (globalThis as unknown as { __decoderCheck: unknown }).__decoderCheck)) as Check;
  expect(r.error, r.error).toBeUndefined();
  return r;
}

test('a tab downloads, caches, loads, decodes and fine-tunes a tiny Llama-family checkpoint', async ({ page }) => {
  test.setTimeout(4 * 60_000);
  const first = await check(page);
  expect(first.backend).toBe('wasm');
  expect(first.cacheStorage).toBe(true);
  expect([...first.downloaded].sort()).toEqual(['config.json', 'generation_config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'tokenizer.json', 'tokenizer_config.json']);
  expect(first.loadedBytes).toBe(first.totalBytes);
  expect(first.lossAfter).toBeLessThan(first.lossBefore - 0.5);
  expect(first.leaked).toBe(0);

  // The tab's greedy decoding equals Node's (npm run generate, wasm) on the same checkpoint and prompt.
  const json = execFileSync(process.execPath, ['--import', 'tsx', join(here, '..', 'packages', 'lora-core', 'bin', 'generate.ts'), '--model', modelDir, '--prompt', PROMPT, '--max-new-tokens', '6', '--json'], { encoding: 'utf8' });
  const node = (JSON.parse(json) as { tokens: Array<{ id: number; logProb: number }> }).tokens;
  expect(first.base.length).toBeGreaterThan(0);
  expect(first.base.map((t) => t.id)).toEqual(node.map((t) => t.id));
  first.base.forEach((t, i) => expect(Math.abs(t.logProb - node[i]!.logProb)).toBeLessThan(1e-4));

  // A reload reads Cache Storage: only the manifest is fetched again.
  hits.length = 0;
  const second = await check(page);
  expect(second.downloaded).toEqual([]);
  expect(hits).toEqual(['/hf-model/manifest.json']);
  expect(second.base).toEqual(first.base);
});
