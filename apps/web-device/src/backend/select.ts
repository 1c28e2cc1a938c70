/**
 * Backend selection: try webgpu, webgl, wasm and cpu in turn, measure a short training step on
 * each that can be set, and keep the fastest (see chooseBackend). `setBackend` can fail quietly,
 * so every switch is checked with `getBackend()`. A forced backend (?backend=x) is the only one
 * tried; if it cannot be set the page says so instead of falling back.
 */
import * as tf from '@tensorflow/tfjs-core';
import './register';
import { BACKEND_NAMES } from '../core';
import type { BackendName, BackendReport, GpuAdapterInfo } from '../core';
import { chooseBackend } from './choose';
import type { BackendTrial } from './choose';
import { readGpuAdapterInfo } from './gpu-adapter';

export type StepBenchmark = (backend: BackendName) => Promise<number>;

export async function switchBackend(name: BackendName): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
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

export async function selectBackend(
  benchmark: StepBenchmark,
  forced: BackendName | undefined,
  onTrial: (trial: BackendTrial) => void = () => {},
): Promise<SelectionResult> {
  const gpuAdapter: GpuAdapterInfo | undefined = await readGpuAdapterInfo();
  const candidates: readonly BackendName[] = forced ? [forced] : BACKEND_NAMES;
  const trials: BackendTrial[] = [];
  for (const name of candidates) {
    const fallbackAdapter = name === 'webgpu' ? gpuAdapter?.isFallbackAdapter : undefined;
    let trial: BackendTrial;
    try {
      await switchBackend(name);
      trial = { name, ms: await benchmark(name), ...(fallbackAdapter === undefined ? {} : { fallbackAdapter }) };
    } catch (err) {
      trial = { name, ms: null, error: (err as Error).message };
    }
    trials.push(trial);
    onTrial(trial);
  }
  if (forced && trials[0]?.ms == null) throw new Error(`forced backend ${forced} does not work here: ${trials[0]?.error ?? 'unknown error'}`);
  const chosen = chooseBackend(trials);
  await switchBackend(chosen);
  const benchmarkMs: Partial<Record<BackendName, number | null>> = {};
  for (const t of trials) benchmarkMs[t.name] = t.ms;
  return {
    trials,
    report: {
      name: chosen,
      forced: forced !== undefined,
      ...(gpuAdapter ? { gpuAdapter } : {}),
      benchmarkMs,
    },
  };
}
