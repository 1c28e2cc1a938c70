/** Picking the backend from measured step times (pure, unit-tested). */
import type { BackendName } from '../core';

export interface BackendTrial {
  readonly name: BackendName;
  /** Median ms of a benchmark training step; null when the backend could not be set or failed. */
  readonly ms: number | null;
  readonly error?: string;
  /** wasm only: the step was split across this many data-parallel workers, as training will be. */
  readonly dataParallelWorkers?: number;
  /** WebGPU only: the adapter is a software/fallback one (e.g. SwiftShader). */
  readonly fallbackAdapter?: boolean;
}

/**
 * A fallback (software) WebGPU adapter must be clearly faster than wasm to win: its timings are
 * noisy and its later steps tend to be slower than the warm benchmark suggests.
 */
export const FALLBACK_WEBGPU_MARGIN = 0.8;

/** The fastest available backend; throws when none worked. */
export function chooseBackend(trials: readonly BackendTrial[]): BackendName {
  const wasm = trials.find((t) => t.name === 'wasm' && t.ms !== null);
  const eligible = trials.filter((t): t is BackendTrial & { ms: number } => {
    if (t.ms === null || !Number.isFinite(t.ms)) return false;
    if (t.name === 'webgpu' && t.fallbackAdapter && wasm?.ms != null) return t.ms < wasm.ms * FALLBACK_WEBGPU_MARGIN;
    return true;
  });
  if (eligible.length === 0) {
    throw new Error(`no tfjs backend works here: ${trials.map((t) => `${t.name}: ${t.error ?? 'unavailable'}`).join('; ')}`);
  }
  return eligible.reduce((best, t) => (t.ms < best.ms ? t : best)).name;
}
