/**
 * The tensors of a checkpoint directory: `model.safetensors`, or shards listed by
 * `model.safetensors.index.json` ({"weight_map": {tensor: shard file}}). Every shard is parsed and
 * validated on open; tensors are converted to float32 only when taken, and a shape disagreeing
 * with what the config implies fails naming the file and the tensor.
 */
import { z } from 'zod';
import { SafetensorsFile } from '../safetensors';
import { readJson, type ReadFile } from './files';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

const indexSchema = z.object({ weight_map: z.record(z.string(), z.string()) });

export class Checkpoint {
  private constructor(
    private readonly where: ReadonlyMap<string, SafetensorsFile>,
    readonly files: readonly string[],
  ) {}

  static fromFiles(files: readonly SafetensorsFile[]): Checkpoint {
    const where = new Map<string, SafetensorsFile>();
    for (const f of files) {
      for (const name of f.tensors.keys()) {
        const prev = where.get(name);
        if (prev) throw new Error(`tensor "${name}" is stored twice: in ${prev.file} and ${f.file}`);
        where.set(name, f);
      }
    }
    return new Checkpoint(where, files.map((f) => f.file));
  }

  static async open(read: ReadFile, onFile?: (file: string) => void): Promise<Checkpoint> {
    const index = await readJson(read, INDEX_FILE);
    if (index === null) {
      const bytes = await read(SINGLE_FILE);
      if (bytes === null) {
        const bin = (await read('pytorch_model.bin')) !== null;
        throw new Error(
          `the model directory has neither ${SINGLE_FILE} nor ${INDEX_FILE}` +
            (bin ? ' (only pytorch_model.bin, a pickle we do not read: convert it to safetensors first)' : ''),
        );
      }
      onFile?.(SINGLE_FILE);
      return Checkpoint.fromFiles([new SafetensorsFile(bytes, SINGLE_FILE)]);
    }
    const parsed = indexSchema.safeParse(index);
    if (!parsed.success) throw new Error(`${INDEX_FILE} has no valid "weight_map" of tensor → file`);
    const map = parsed.data.weight_map;
    const shardNames = [...new Set(Object.values(map))].sort();
    const shards = new Map<string, SafetensorsFile>();
    for (const shard of shardNames) {
      if (shard.includes('..') || shard.startsWith('/')) throw new Error(`${INDEX_FILE} names a shard outside the directory: ${shard}`);
      const bytes = await read(shard);
      if (bytes === null) throw new Error(`${INDEX_FILE} lists shard ${shard}, which is missing from the model directory`);
      onFile?.(shard);
      shards.set(shard, new SafetensorsFile(bytes, shard));
    }
    for (const [tensor, shard] of Object.entries(map)) {
      if (!shards.get(shard)!.has(tensor)) throw new Error(`${INDEX_FILE} puts tensor "${tensor}" in ${shard}, but ${shard} does not contain it`);
    }
    return Checkpoint.fromFiles([...shards.values()]);
  }

  get names(): string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  fileOf(name: string): string | undefined {
    return this.where.get(name)?.file;
  }

  shapeOf(name: string): readonly number[] | undefined {
    return this.where.get(name)?.info(name).shape;
  }

  /** float32 values of `name`, checked against `shape` (what the config implies). */
  take(name: string, shape: readonly number[], why = 'config.json'): Float32Array {
    const f = this.where.get(name);
    if (!f) throw new Error(`tensor "${name}" is missing from the checkpoint (${this.files.join(', ')})`);
    const actual = f.info(name).shape;
    if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
      throw new Error(`${f.file}: tensor "${name}" has shape [${actual.join(', ')}], ${why} implies [${shape.join(', ')}]`);
    }
    return f.float32(name);
  }
}

/** [rows, cols] row-major → [cols, rows] (PyTorch Linear weights are [out, in]; we multiply x·W with W [in, out]). */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[base + c]!;
  }
  return out;
}
