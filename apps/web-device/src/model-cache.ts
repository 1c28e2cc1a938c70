/**
 * A checkpoint directory served by the coordinator, kept in the browser's Cache Storage: the first
 * load downloads each file with progress, a reload reads the cache and downloads nothing, and a
 * changed checkpoint is noticed because cache entries are keyed by the manifest's sha256 (entries of
 * older versions of a file are deleted). Downloads are checked against the manifest's size, and its
 * sha256 where the page has WebCrypto (secure contexts only: not on http://<LAN IP>).
 *
 * Everything the browser provides is passed in (`caches`, `fetch`, `subtle`), so the logic runs and
 * is tested in Node too.
 */
import { manifestBytes, type ModelManifest, type ReadFile } from './core';

export const MODEL_CACHE_NAME = 'tabfleet-models-v1';

export interface ModelCacheProgress {
  readonly file: string;
  /** Bytes available so far over all files (cached ones count at once). */
  readonly loadedBytes: number;
  readonly totalBytes: number;
  readonly fromCache: boolean;
}

/** The parts of Cache Storage used here (structural, so the module also type-checks without DOM types). */
export interface CacheLike {
  match(url: string): Promise<Response | undefined>;
  put(url: string, res: Response): Promise<void>;
  keys(): Promise<ReadonlyArray<{ readonly url: string }>>;
  delete(req: { readonly url: string }): Promise<boolean>;
}
export interface CacheStorageLike {
  open(name: string): Promise<CacheLike>;
}
export interface DigestLike {
  digest(algorithm: 'SHA-256', data: Uint8Array): Promise<ArrayBuffer>;
}

export interface ModelCacheOptions {
  /** URL of the directory, e.g. `${origin}/hf-model/` (a trailing slash is added if missing). */
  readonly baseUrl: string;
  readonly manifest: ModelManifest;
  readonly caches?: CacheStorageLike;
  readonly fetch?: typeof fetch;
  readonly subtle?: DigestLike;
  readonly onProgress?: (p: ModelCacheProgress) => void;
}

export interface CachedModel {
  /** Reads through the cache; files outside the manifest read as missing (null). */
  readonly read: ReadFile;
  /** Files that had to be downloaded during `ensure`. */
  readonly downloaded: readonly string[];
}

function hex(buf: ArrayBuffer): string {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Makes every manifest file available (cache or download), then serves them from memory-light cache reads. */
export async function ensureCachedModel(o: ModelCacheOptions): Promise<CachedModel> {
  const base = o.baseUrl.endsWith('/') ? o.baseUrl : `${o.baseUrl}/`;
  const doFetch = o.fetch ?? globalThis.fetch.bind(globalThis);
  const g = globalThis as unknown as { crypto?: { subtle?: DigestLike }; caches?: CacheStorageLike };
  const subtle = o.subtle ?? g.crypto?.subtle;
  const storage = o.caches ?? g.caches;
  const cache = storage ? await storage.open(MODEL_CACHE_NAME) : undefined;
  const total = manifestBytes(o.manifest);
  const key = (path: string, sha: string) => `${base}${path}?sha256=${sha}`;
  const memory = new Map<string, ArrayBuffer>();
  const downloaded: string[] = [];
  let loaded = 0;
  for (const f of o.manifest.files) {
    const hit = await cache?.match(key(f.path, f.sha256));
    if (hit) {
      loaded += f.bytes;
      o.onProgress?.({ file: f.path, loadedBytes: loaded, totalBytes: total, fromCache: true });
      continue;
    }
    const res = await doFetch(`${base}${f.path}`);
    if (!res.ok) throw new Error(`downloading ${f.path}: HTTP ${res.status}`);
    const parts: Uint8Array[] = [];
    let got = 0;
    const reader = res.body?.getReader();
    if (reader) {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        got += value.byteLength;
        if (got > f.bytes) throw new Error(`downloading ${f.path}: more than the ${f.bytes} bytes the manifest lists`);
        o.onProgress?.({ file: f.path, loadedBytes: loaded + got, totalBytes: total, fromCache: false });
      }
    } else {
      const b = new Uint8Array(await res.arrayBuffer());
      parts.push(b);
      got = b.byteLength;
    }
    if (got !== f.bytes) throw new Error(`downloading ${f.path}: got ${got} bytes, the manifest lists ${f.bytes} (truncated download?)`);
    const bytes = new Uint8Array(got);
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.byteLength;
    }
    if (subtle) {
      const sha = hex(await subtle.digest('SHA-256', bytes));
      if (sha !== f.sha256) throw new Error(`downloading ${f.path}: sha256 ${sha} does not match the manifest (${f.sha256})`);
    }
    loaded += got;
    downloaded.push(f.path);
    if (cache) {
      // Drop older versions of this file, then store this one under its hash.
      for (const req of await cache.keys()) if (req.url.startsWith(`${base}${f.path}?sha256=`)) await cache.delete(req);
      await cache.put(key(f.path, f.sha256), new Response(bytes, { headers: { 'content-length': String(got) } }));
    } else {
      memory.set(f.path, bytes.buffer);
    }
  }
  const byPath = new Map(o.manifest.files.map((f) => [f.path, f]));
  const read: ReadFile = async (rel) => {
    const f = byPath.get(rel);
    if (!f) return null;
    const m = memory.get(rel);
    if (m) return m;
    const hit = await cache?.match(key(f.path, f.sha256));
    if (!hit) throw new Error(`${rel} vanished from the browser cache (storage cleared?): reload the page`);
    return hit.arrayBuffer();
  };
  return { read, downloaded };
}
