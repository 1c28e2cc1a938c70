/** Loading Hugging Face checkpoint directories from disk. */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, normalize, resolve, sep } from 'node:path';
import { FLOAT_DTYPES, SafetensorsFile } from '../src/model/safetensors';
import { isModelFile, loadHfModel, type HfModel, type LoadHfOptions, type ModelManifest, type ReadFile } from '../src/model/hf';

/** A ReadFile over a directory: null for a missing file, refusing paths that escape the directory. */
export function directoryReader(dir: string): ReadFile {
  const root = normalize(resolve(dir) + sep);
  return async (rel) => {
    const p = normalize(join(root, rel));
    if (!p.startsWith(root)) throw new Error(`path escapes ${dir}: ${rel}`);
    try {
      const b = await readFile(p);
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      if (code === 'EISDIR') throw new Error(`${p} is a directory, expected a file`, { cause: e });
      throw e;
    }
  };
}

/** loadHfModel on a local directory; errors are prefixed with the directory. */
export async function loadHfModelFromDir(dir: string, o: LoadHfOptions = {}): Promise<HfModel> {
  try {
    return await loadHfModel(directoryReader(dir), o);
  } catch (e) {
    throw new Error(`${dir}: ${(e as Error).message}`, { cause: e });
  }
}

/** In-memory bytes of a safetensors file once its floating tensors are float32 (the header is validated). */
export function safetensorsFloat32Bytes(bytes: Uint8Array, file: string): number {
  const st = new SafetensorsFile(bytes, file);
  let n = 0;
  for (const t of st.tensors.values()) n += (FLOAT_DTYPES as readonly string[]).includes(t.dtype) ? (t.shape.reduce((a, d) => a * d, 1) * 4) : t.end - t.begin;
  return n;
}

/** The manifest of a checkpoint directory (files the loader reads, sizes, sha256), for serving it to tabs. */
export async function buildModelManifest(dir: string): Promise<ModelManifest> {
  return buildModelManifestSync(dir);
}

/** buildModelManifest, synchronously (task loading at start-up). */
export function buildModelManifestSync(dir: string): ModelManifest {
  const names = readdirSync(dir).filter(isModelFile).sort();
  if (!names.includes('config.json')) throw new Error(`${dir} has no config.json`);
  const files = [];
  for (const path of names) {
    const b = readFileSync(join(dir, path));
    const entry = { path, bytes: b.byteLength, sha256: createHash('sha256').update(b).digest('hex') };
    files.push(path.endsWith('.safetensors') ? { ...entry, float32Bytes: safetensorsFloat32Bytes(b, join(dir, path)) } : entry);
  }
  return { files };
}
