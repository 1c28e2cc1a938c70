/** Where the coordinator finds what it serves: the built device page, the model files, tfjs wasm binaries. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useLiteAssetDir } from '../core-node';

export interface AssetDirs {
  /** apps/web-device/dist (vite build output). */
  readonly devicePage: string;
  /** apps/coordinator/dashboard/dist (vite build output), served under /dashboard/. */
  readonly dashboard: string;
  /** USE-lite: model.json, group1-shard*of7, vocab.json. */
  readonly model: string;
  /** tfjs-backend-wasm's *.wasm binaries. */
  readonly tfjsWasm: string;
  /** tfjs-backend-wasm's emscripten output: the threaded module's script, loaded by its pthread workers. */
  readonly tfjsWasmOut: string;
}

export function defaultAssetDirs(): AssetDirs {
  const appDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const require = createRequire(import.meta.url);
  return {
    devicePage: join(appDir, '..', 'web-device', 'dist'),
    dashboard: join(appDir, 'dashboard', 'dist'),
    model: useLiteAssetDir(),
    tfjsWasm: dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')),
    tfjsWasmOut: join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')), '..', 'wasm-out'),
  };
}

/** Only these model files are served (the package's dist also holds its JS entry). */
export function isModelFile(name: string): boolean {
  return name === 'model.json' || name === 'vocab.json' || /^group\d+-shard\d+of\d+$/.test(name);
}

/** Only the wasm binaries are served from tfjs-backend-wasm's dist. */
export function isWasmFile(name: string): boolean {
  return /^[A-Za-z0-9_.-]+\.wasm$/.test(name);
}

/**
 * The one script served from tfjs-backend-wasm's wasm-out: the threaded module as emscripten
 * wrote it. Its pthread workers load it (see web-device backend/threads.ts): the copy inside the
 * page bundle is minified and no longer runs on its own in a worker.
 */
export const THREADED_MODULE_SCRIPT = 'tfjs-backend-wasm-threaded-simd.js';
