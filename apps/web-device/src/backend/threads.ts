/**
 * Multi-threaded tfjs wasm. Cross-origin isolation (COOP/COEP, served by the coordinator) gives
 * the page SharedArrayBuffer, so tfjs loads its threaded-SIMD binary — but that alone leaves
 * XNNPACK on one thread. Two things in tfjs-backend-wasm 4.22 decide the count:
 *
 * 1. `setThreadsCount(n)` is read once, when the backend is constructed (the first
 *    `tf.setBackend('wasm')`); calling it afterwards changes nothing, and `getThreadsCount()`
 *    keeps reporting what the constructor got.
 * 2. The C side (backend.cc, init_with_threads_count) caps the count at
 *    `emscripten_num_logical_cores() / 2`, i.e. navigator.hardwareConcurrency / 2, computed while
 *    the module instantiates ("many x86-64 processors have 2 threads per core"). On a 2-core
 *    machine, or a phone reporting 2, that cap is 1 whatever was asked.
 *
 * 3. With more than one thread, emscripten starts pthread workers that load the module's script
 *    from `mainScriptUrlOrBlob`, which tfjs builds as `factory.toString()`. Inside a minified page
 *    bundle that function refers to names of its enclosing scope (the minifier replaced
 *    `typeof _scriptDir !== "undefined" && _scriptDir` with a bare renamed variable), so every
 *    worker dies with "ReferenceError: e is not defined" and initialisation never finishes.
 *
 * So the page calls setThreadsCount before the first switch to wasm, during that one
 * initialisation shows emscripten a hardwareConcurrency of twice the wanted count (the real value
 * is restored right after), and has the workers load emscripten's own, unminified script, which
 * the coordinator serves next to the wasm binaries. The count actually obtained is read back with
 * getThreadsCount().
 */
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

/** Upper bound on threads: beyond 4, XNNPACK gains little on these matrix sizes and a phone stays usable. */
export const MAX_WASM_THREADS = 4;
/** tfjs preallocates this many pthread workers (PTHREAD_POOL_SIZE); asking for more makes new ones. */
export const WASM_PTHREAD_POOL = 8;

/**
 * Threads for a device with `hardwareConcurrency` logical cores: all of them on 1-2 cores, one
 * left for the page (UI, sockets) from 3 cores on, never more than MAX_WASM_THREADS. `requested`
 * (?threads=) overrides, within 1..WASM_PTHREAD_POOL.
 */
export function chooseThreadCount(hardwareConcurrency: number | undefined, requested?: number): number {
  if (requested !== undefined) return Math.min(Math.max(Math.floor(requested), 1), WASM_PTHREAD_POOL);
  const cores = Number.isFinite(hardwareConcurrency) && (hardwareConcurrency as number) >= 1 ? Math.floor(hardwareConcurrency as number) : 1;
  return Math.min(cores <= 2 ? cores : cores - 1, MAX_WASM_THREADS);
}

/** True when this page may run threaded wasm at all (SharedArrayBuffer needs cross-origin isolation). */
export function threadsPossible(): boolean {
  return globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function';
}

let initialised = false;

/** Emscripten's own threaded module script, served by the coordinator (apps/coordinator/src/http/asset-dirs.ts). */
export const THREADED_MODULE_SCRIPT = 'tfjs-backend-wasm-threaded-simd.js';

/**
 * Rewrites the "load" message emscripten posts to each pthread worker so that the worker imports
 * the module script by URL instead of the bundle's toString() copy (see point 3 above).
 */
function redirectPthreadWorkerScript(scriptUrl: string): void {
  if (typeof Worker !== 'function') return;
  const original = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function postMessage(this: Worker, message: unknown, ...rest: unknown[]) {
    const m = message as { cmd?: unknown; urlOrBlob?: unknown } | null;
    if (m && typeof m === 'object' && m.cmd === 'load' && m.urlOrBlob instanceof Blob && 'wasmModule' in m) {
      message = { ...m, urlOrBlob: scriptUrl };
    }
    return (original as (this: Worker, ...args: unknown[]) => void).call(this, message, ...rest);
  } as Worker['postMessage'];
}

/**
 * Runs `init` (the first tf.setBackend('wasm')) so that the backend comes up with `threads`
 * threads. Only the first call can change anything: tfjs reads the count once per page.
 */
export async function initWasmWithThreads<T>(threads: number, init: () => Promise<T>, wasmPath = '/tfjs-wasm/'): Promise<T> {
  if (initialised) return init();
  initialised = true;
  setThreadsCount(threads);
  // Even at 1 thread the threaded binary starts its pool of pthread workers: they all need the script.
  redirectPthreadWorkerScript(new URL(wasmPath + THREADED_MODULE_SCRIPT, globalThis.location.href).href);
  const nav = globalThis.navigator as Navigator & { hardwareConcurrency: number };
  // An own property on the navigator object shadows Navigator.prototype's getter; deleting it restores the real one.
  let shadowed = false;
  try {
    Object.defineProperty(nav, 'hardwareConcurrency', { value: threads * 2, configurable: true });
    shadowed = true;
  } catch {
    // A browser that refuses: threads stay capped at cores/2, and getThreadsCount() will say so.
  }
  try {
    return await init();
  } finally {
    if (shadowed) delete (nav as { hardwareConcurrency?: number }).hardwareConcurrency;
  }
}

/** Threads the wasm backend runs with; undefined before it was initialised. */
export function wasmThreadsInUse(): number | undefined {
  try {
    return getThreadsCount();
  } catch {
    return undefined;
  }
}
