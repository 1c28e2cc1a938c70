/**
 * Reads weights stored in the TensorFlow.js "weights manifest" format (model.json + binary shards):
 * each manifest group lists shard paths and, in order, the tensors packed back to back across them.
 * Pure: the caller supplies the bytes (fs in Node, fetch in a page).
 */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: unknown;
}
export interface WeightsManifestGroup {
  paths: string[];
  weights: WeightSpec[];
}
export interface ModelJson {
  modelTopology?: unknown;
  weightsManifest: WeightsManifestGroup[];
}
export interface LoadedWeight {
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}

export type FetchAsset = (relativePath: string) => Promise<ArrayBuffer>;

export function parseModelJson(text: string | ArrayBuffer): ModelJson {
  const raw = typeof text === 'string' ? text : new TextDecoder().decode(text);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    throw new Error(`model.json is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  const manifest = (json as { weightsManifest?: unknown }).weightsManifest;
  if (!Array.isArray(manifest) || manifest.length === 0) throw new Error('model.json has no weightsManifest');
  for (const g of manifest as WeightsManifestGroup[]) {
    if (!Array.isArray(g.paths) || !Array.isArray(g.weights)) throw new Error('weightsManifest group needs paths[] and weights[]');
  }
  return json as ModelJson;
}

export async function loadManifestWeights(model: ModelJson, fetchAsset: FetchAsset): Promise<Map<string, LoadedWeight>> {
  const out = new Map<string, LoadedWeight>();
  for (const group of model.weightsManifest) {
    const shards = await Promise.all(group.paths.map((p) => fetchAsset(p)));
    const total = shards.reduce((n, s) => n + s.byteLength, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const s of shards) {
      bytes.set(new Uint8Array(s), at);
      at += s.byteLength;
    }
    let offset = 0;
    for (const spec of group.weights) {
      if (spec.quantization) throw new Error(`weight ${spec.name}: quantized weights are not supported`);
      if (spec.dtype !== 'float32' && spec.dtype !== 'int32') throw new Error(`weight ${spec.name}: unsupported dtype ${spec.dtype}`);
      const n = spec.shape.reduce((a, b) => a * b, 1);
      const byteLength = n * 4;
      if (offset + byteLength > total) {
        throw new Error(`weight ${spec.name} needs bytes ${offset}..${offset + byteLength} but the shards hold ${total}`);
      }
      // Copy out: the slice is 4-byte aligned in a fresh buffer, and callers may keep it.
      const buf = bytes.slice(offset, offset + byteLength).buffer;
      out.set(spec.name, {
        shape: spec.shape,
        dtype: spec.dtype,
        data: spec.dtype === 'float32' ? new Float32Array(buf) : new Int32Array(buf),
      });
      offset += byteLength;
    }
    if (offset !== total) throw new Error(`weights manifest covers ${offset} bytes but the shards hold ${total}`);
  }
  return out;
}
