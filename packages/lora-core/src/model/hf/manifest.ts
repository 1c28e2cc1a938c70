/**
 * What a coordinator publishes about a checkpoint directory so tabs can download it once, show the
 * size and progress, cache it, and notice when it changes: every file the loader reads, with its
 * byte length and sha256.
 */
import { z } from 'zod';

export const modelManifestSchema = z.object({
  files: z
    .array(
      z.object({
        path: z.string().regex(/^[A-Za-z0-9._-]+$/, 'a plain file name inside the model directory'),
        bytes: z.number().int().nonnegative(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        /**
         * Bytes the file takes in memory once loaded: its floating tensors as float32 (F16 / BF16
         * files double; tfjs has no half type), everything else as stored. Absent: `bytes`.
         */
        float32Bytes: z.number().int().nonnegative().optional(),
      }),
    )
    .min(1),
});

export type ModelManifest = z.infer<typeof modelManifestSchema>;

/** The files of a checkpoint directory the HF loader may read. */
export function isModelFile(name: string): boolean {
  return (
    name === 'config.json' ||
    name === 'tokenizer.json' ||
    name === 'tokenizer_config.json' ||
    name === 'generation_config.json' ||
    name === 'model.safetensors' ||
    name === 'model.safetensors.index.json' ||
    /^model-\d+-of-\d+\.safetensors$/.test(name)
  );
}

export function manifestBytes(m: ModelManifest): number {
  return m.files.reduce((n, f) => n + f.bytes, 0);
}

/** Bytes of the checkpoint's weights once converted to float32 (what a device must hold). */
export function manifestFloat32Bytes(m: ModelManifest): number {
  return m.files.reduce((n, f) => n + (f.float32Bytes ?? f.bytes), 0);
}

/** Why a device with `memoryBytes` cannot load the checkpoint (its float32 size, not its download size), or undefined. */
export function modelMemoryShortfall(m: ModelManifest, memoryBytes: number): string | undefined {
  const need = manifestFloat32Bytes(m);
  if (need <= memoryBytes) return undefined;
  const mib = (b: number) => (b / 2 ** 20).toFixed(0);
  const disk = manifestBytes(m);
  return `the checkpoint takes ${mib(need)} MiB as float32${need !== disk ? ` (${mib(disk)} MiB to download)` : ''}, this page may use about ${mib(memoryBytes)} MiB`;
}

/** Identity of the whole checkpoint (changes when any file does). */
export function manifestKey(m: ModelManifest): string {
  return [...m.files]
    .sort((a, b) => (a.path < b.path ? -1 : 1))
    .map((f) => `${f.path}:${f.sha256}`)
    .join(',');
}
