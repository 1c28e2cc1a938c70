/**
 * Static files: MIME types by extension (tfjs weight shards have none and are binary), cache
 * headers by kind of content, ETag revalidation, and paths that cannot leave their folder.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

const MIME_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.bin': 'application/octet-stream',
};

/** Content type for a file name; anything unknown (e.g. "group1-shard1of7") is opaque binary. */
export function mimeTypeFor(fileName: string): string {
  return MIME_TYPES[extname(fileName).toLowerCase()] ?? 'application/octet-stream';
}

export type CachePolicy = 'no-cache' | 'day' | 'immutable';

const CACHE_CONTROL: Readonly<Record<CachePolicy, string>> = {
  'no-cache': 'no-cache',
  day: 'public, max-age=86400',
  immutable: 'public, max-age=31536000, immutable',
};

/**
 * Absolute path of `relPath` inside `root`, or undefined when it would escape it (`..`, absolute
 * paths, NUL bytes, backslashes).
 */
export function resolveInside(root: string, relPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(relPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const base = normalize(root.endsWith(sep) ? root : root + sep);
  const full = normalize(join(base, decoded));
  return full.startsWith(base) && full.length > base.length ? full : undefined;
}

/**
 * Serves one file with its MIME type, cache policy and a weak ETag (size + mtime). Returns false
 * when the file does not exist (the caller answers 404).
 */
export async function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  file: string,
  cache: CachePolicy,
  extraHeaders: Readonly<Record<string, string>> = {},
): Promise<boolean> {
  let info;
  try {
    info = await stat(file);
  } catch {
    return false;
  }
  if (!info.isFile()) return false;
  const etag = `W/"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  const headers: Record<string, string> = {
    'Content-Type': mimeTypeFor(file),
    'Cache-Control': CACHE_CONTROL[cache],
    ETag: etag,
    'X-Content-Type-Options': 'nosniff',
    ...extraHeaders,
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return true;
  }
  res.writeHead(200, { ...headers, 'Content-Length': String(info.size) });
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  await new Promise<void>((resolve, reject) => {
    const stream = createReadStream(file);
    stream.on('error', reject);
    res.on('close', resolve);
    stream.pipe(res);
  });
  return true;
}
