/**
 * Backend selection: try webgpu, webgl and wasm in turn (cpu only when wasm and webgl both fail:
 * it is some 30x slower than wasm), measure a short training step on each that can be set, and
 * keep the fastest (see chooseBackend). `setBackend` can fail quietly, so every switch is checked
 * with `getBackend()`. A forced backend (?backend=x) is the only one tried; if it cannot be set
 * the page says so instead of falling back. A cached choice (backend-cache.ts) is used as is when
 * it can still be set.
 */
import * as tf from '@tensorflow/tfjs-core';
import './register';
import type { BackendName, BackendReport, GpuAdapterInfo } from '../core';
import { chooseBackend } from './choose';
import type { BackendTrial } from './choose';
import { readGpuAdapterInfo } from './gpu-adapter';
import { initWasmWithThreads, wasmThreadsInUse } from './threads';

/** ms of the step the device would train with on `backend`; with data-parallel workers, how many split it. */
export type StepBenchmark = (backend: BackendName) => Promise<{ readonly ms: number; readonly dataParallelWorkers?: number }>;

const MEASURED_FIRST: readonly BackendName[] = ['webgpu', 'webgl', 'wasm'];

/** Switches tfjs to `name`; `wasmThreads` applies to the first switch to wasm only (threads.ts). */
export async function switchBackend(name: BackendName, wasmThreads = 1): Promise<void> {
  let ok: boolean;
  try {
    const set = async () => {
      const r = await tf.setBackend(name);
      await tf.ready();
      return r;
    };
    ok = name === 'wasm' ? await initWasmWithThreads(wasmThreads, set) : await set();
  } catch (err) {
    throw new Error(`tfjs backend ${name} failed to initialise: ${(err as Error).message}`, { cause: err });
  }
  const actual = tf.getBackend();
  if (!ok || actual !== name) throw new Error(`tfjs backend ${name} is not available (active: ${actual ?? 'none'})`);
}

export interface SelectionResult {
  readonly report: BackendReport;
  readonly trials: readonly BackendTrial[];
}

export interface SelectOptions {
  readonly forced?: BackendName | undefined;
  /** Threads for wasm (chooseThreadCount). */
  readonly wasmThreads: number;
  /** A choice remembered from an earlier visit: used without benchmarking when it can still be set. */
  readonly cached?: BackendReport | undefined;
  /** Backends not to try (e.g. one whose context was lost this visit). */
  readonly exclude?: readonly BackendName[];
  readonly onTrial?: (trial: BackendTrial) => void;
}

function withThreads(report: BackendReport): BackendReport {
  const threads = report.name === 'wasm' ? wasmThreadsInUse() : undefined;
  const { wasmThreads: _old, ...rest } = report;
  return threads === undefined ? rest : { ...rest, wasmThreads: threads };
}

export async function selectBackend(benchmark: StepBenchmark, opts: SelectOptions): Promise<SelectionResult> {
  const { forced, wasmThreads, cached, exclude = [], onTrial = () => {} } = opts;
  if (cached && !forced && !exclude.includes(cached.name)) {
    try {
      await switchBackend(cached.name, wasmThreads);
      return { trials: [], report: withThreads({ ...cached, cached: true }) };
    } catch {
      // The remembered backend no longer works here: measure again.
    }
  }
  const gpuAdapter: GpuAdapterInfo | undefined = await readGpuAdapterInfo();
  const trials: BackendTrial[] = [];
  const tryOne = async (name: BackendName) => {
    const fallbackAdapter = name === 'webgpu' ? gpuAdapter?.isFallbackAdapter : undefined;
    let trial: BackendTrial;
    if (exclude.includes(name)) {
      trial = { name, ms: null, error: 'failed earlier on this visit' };
    } else {
      try {
        await switchBackend(name, wasmThreads);
        const { ms, dataParallelWorkers } = await benchmark(name);
        trial = { name, ms, ...(dataParallelWorkers === undefined ? {} : { dataParallelWorkers }), ...(fallbackAdapter === undefined ? {} : { fallbackAdapter }) };
      } catch (err) {
        trial = { name, ms: null, error: (err as Error).message };
      }
    }
    trials.push(trial);
    onTrial(trial);
  };
  if (forced) {
    await tryOne(forced);
    if (trials[0]?.ms == null) throw new Error(`forced backend ${forced} does not work here: ${trials[0]?.error ?? 'unknown error'}`);
  } else {
    for (const name of MEASURED_FIRST) await tryOne(name);
    const usable = (n: BackendName) => trials.some((t) => t.name === n && t.ms !== null);
    if (!usable('wasm') && !usable('webgl')) await tryOne('cpu');
  }
  const chosen = chooseBackend(trials);
  await switchBackend(chosen, wasmThreads);
  const benchmarkMs: Partial<Record<BackendName, number | null>> = {};
  for (const t of trials) benchmarkMs[t.name] = t.ms;
  return {
    trials,
    report: withThreads({
      name: chosen,
      forced: forced !== undefined,
      ...(gpuAdapter ? { gpuAdapter } : {}),
      benchmarkMs,
    }),
  };
}
