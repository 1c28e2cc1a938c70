/**
 * What this device measured, remembered across reloads and runs (localStorage): the backend
 * choice per browser + model + threads, and the per-depth step times per backend + task. A
 * reload, or a new run of the same task, then starts training without benchmarking every backend
 * again; a new browser version, another model, another thread count or another task measures
 * afresh. Anything unreadable in storage is ignored (and overwritten), never trusted.
 */
import { z } from 'zod';
import { backendReportSchema } from '../core';
import type { BackendReport, TaskInfo } from '../core';

const STORAGE_KEY = 'tabfleet.measurements.v1';
/** Profiles kept (one per task/data setting); the oldest go first. */
const MAX_PROFILES = 8;

const storedSchema = z.object({
  backend: z.object({ envKey: z.string(), report: backendReportSchema }).optional(),
  profiles: z.array(z.object({ key: z.string(), msPerStep: z.array(z.number().positive()).min(1), at: z.number() })).default([]),
});
type Stored = z.output<typeof storedSchema>;

/** FNV-1a, 32 bit, as hex: enough to tell model files apart (crypto.subtle needs a secure context). */
export function fnv1a(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

export interface Environment {
  readonly userAgent: string;
  /** Hash of the model's manifest (model.json): another model means other step times. */
  readonly modelHash: string;
  readonly wasmThreads: number;
  readonly crossOriginIsolated: boolean;
  /** Data-parallel workers wanted: another count means other step times. */
  readonly dataParallelWorkers: number;
}

export function environmentKey(env: Environment): string {
  return JSON.stringify([env.userAgent, env.modelHash, env.wasmThreads, env.crossOriginIsolated, env.dataParallelWorkers]);
}

/** The settings of a task that change step times (model depth, batch size, LoRA shape, classes) and the data. */
export function profileKey(envKey: string, backend: string, task: TaskInfo, data: string): string {
  return JSON.stringify([envKey, backend, task.name, task.numBlocks, task.batchSize, task.lora, task.classNames.length, data]);
}

export class MeasurementCache {
  constructor(private readonly storage: Storage | undefined) {}

  private read(): Stored {
    try {
      const raw = this.storage?.getItem(STORAGE_KEY);
      if (!raw) return { profiles: [] };
      const parsed = storedSchema.safeParse(JSON.parse(raw));
      return parsed.success ? parsed.data : { profiles: [] };
    } catch {
      return { profiles: [] };
    }
  }

  private write(s: Stored): void {
    try {
      this.storage?.setItem(STORAGE_KEY, JSON.stringify(s));
    } catch {
      // Storage full or denied (private mode): measuring again next time is the only cost.
    }
  }

  backend(envKey: string): BackendReport | undefined {
    const b = this.read().backend;
    return b && b.envKey === envKey ? b.report : undefined;
  }

  saveBackend(envKey: string, report: BackendReport): void {
    const { cached: _c, wasmThreads: _t, dataParallelWorkers: _w, ...plain } = report;
    this.write({ ...this.read(), backend: { envKey, report: plain } });
  }

  /** Forgets the backend choice (its context was lost, or it failed). */
  dropBackend(): void {
    const { backend: _b, ...rest } = this.read();
    this.write(rest);
  }

  profile(key: string): number[] | undefined {
    return this.read().profiles.find((p) => p.key === key)?.msPerStep;
  }

  saveProfile(key: string, msPerStep: readonly number[]): void {
    const s = this.read();
    const profiles = [{ key, msPerStep: [...msPerStep], at: Date.now() }, ...s.profiles.filter((p) => p.key !== key)].slice(0, MAX_PROFILES);
    this.write({ ...s, profiles });
  }
}
