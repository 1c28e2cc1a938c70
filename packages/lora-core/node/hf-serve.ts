/**
 * Serving a checkpoint directory to tabs over HTTP: `GET <prefix>manifest.json` (files, sizes,
 * sha256: what the page's model cache needs) and `GET <prefix><file>` for the files it lists,
 * streamed, with the sha256 as ETag. Anything else under the prefix is 404; other paths are left
 * to the caller (the handler returns false). The manifest is computed once, when the handler is made.
 */
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { buildModelManifest } from './hf';
import type { ModelManifest } from '../src/model/hf';

export interface ModelDirectoryHandler {
  readonly manifest: ModelManifest;
  /** Handles requests under the prefix (true) or leaves them (false). */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

export async function modelDirectoryHandler(dir: string, prefix = '/hf-model/'): Promise<ModelDirectoryHandler> {
  if (!prefix.startsWith('/') || !prefix.endsWith('/')) throw new Error(`prefix must start and end with "/", got "${prefix}"`);
  const manifest = await buildModelManifest(dir);
  const files = new Map(manifest.files.map((f) => [f.path, f]));
  const manifestJson = JSON.stringify(manifest);
  return {
    manifest,
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://x');
      if (!url.pathname.startsWith(prefix)) return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return true;
      }
      const name = decodeURIComponent(url.pathname.slice(prefix.length));
      if (name === 'manifest.json') {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
        res.end(req.method === 'HEAD' ? undefined : manifestJson);
        return true;
      }
      const f = files.get(name);
      if (!f) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`${name} is not a file of this model`);
        return true;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(f.bytes), etag: `"${f.sha256}"`, 'cache-control': 'no-cache' });
      if (req.method === 'HEAD') res.end();
      else createReadStream(join(dir, f.path)).on('error', (e) => res.destroy(e)).pipe(res);
      return true;
    },
  };
}
