/**
 * PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) → our block-keyed state for a
 * decoder, with the LoRA config it implies. Every key must be a lora_A / lora_B of a linear we
 * adapt; shapes must match the model; anything else (DoRA magnitudes, embedding LoRA, biases,
 * modules_to_save) is refused by name.
 */
import type { CausalDecoder, LoraTarget } from '../../model/family';
import { transpose2d } from '../../model/hf/checkpoint';
import { readJson, type ReadFile } from '../../model/hf/files';
import { SafetensorsFile } from '../../model/safetensors';
import type { AdapterState, NamedArray } from '../adapter-state';
import { blockKey } from '../adapter-state';
import type { LoraConfig } from '../config';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, parsePeftConfig, type ImportedPeftConfig } from './config';

export interface PeftImport {
  readonly lora: LoraConfig;
  readonly state: AdapterState;
  readonly layers: readonly number[];
  readonly peft: ImportedPeftConfig;
}

export function importPeft(decoder: CausalDecoder, configJson: unknown, weights: ArrayBuffer | Uint8Array): PeftImport {
  const peft = parsePeftConfig(configJson);
  const file = new SafetensorsFile(weights, ADAPTER_WEIGHTS_FILE);
  const byKey = new Map<string, { layer: number; target: LoraTarget; which: 'A' | 'B' }>();
  for (const block of decoder.blocks) {
    for (const l of block.linears) {
      const base = `base_model.model.${decoder.modulePath(block.index, l.target)}`;
      byKey.set(`${base}.lora_A.weight`, { layer: block.index, target: l.target, which: 'A' });
      byKey.set(`${base}.lora_B.weight`, { layer: block.index, target: l.target, which: 'B' });
    }
  }
  const state: AdapterState = new Map();
  const targets = new Set<LoraTarget>();
  for (const name of file.tensors.keys()) {
    const m = byKey.get(name) ?? byKey.get(name.replace('.default.weight', '.weight'));
    if (!m) {
      const why = /lora_magnitude_vector/.test(name) ? ' (DoRA)' : /lora_embedding/.test(name) ? ' (LoRA on embeddings)' : /\.bias$/.test(name) ? ' (a bias)' : '';
      throw new Error(`${ADAPTER_WEIGHTS_FILE}: tensor "${name}" is not a LoRA matrix of a ${decoder.family} linear we adapt${why}`);
    }
    const spec = decoder.blocks[m.layer]!.linears.find((l) => l.target === m.target)!;
    const expected = m.which === 'A' ? [peft.r, spec.inDim] : [spec.outDim, peft.r];
    const shape = file.info(name).shape;
    if (shape.length !== 2 || shape[0] !== expected[0] || shape[1] !== expected[1]) {
      throw new Error(`${ADAPTER_WEIGHTS_FILE}: tensor "${name}" has shape [${shape}], the model and r=${peft.r} imply [${expected}]`);
    }
    const data = file.float32(name);
    const ours: NamedArray =
      m.which === 'A'
        ? { shape: [spec.inDim, peft.r], data: transpose2d(data, peft.r, spec.inDim) }
        : { shape: [peft.r, spec.outDim], data: transpose2d(data, spec.outDim, peft.r) };
    const key = blockKey(m.layer);
    if (!state.has(key)) state.set(key, new Map());
    state.get(key)!.set(`${m.target}.${m.which}`, ours);
    targets.add(m.target);
  }
  if (state.size === 0) throw new Error(`${ADAPTER_WEIGHTS_FILE} holds no LoRA matrices`);
  for (const [key, tensors] of state) {
    for (const t of targets) {
      if (!tensors.has(`${t}.A`) || !tensors.has(`${t}.B`)) throw new Error(`${ADAPTER_WEIGHTS_FILE}: layer ${key} lacks ${t}'s lora_${tensors.has(`${t}.A`) ? 'B' : 'A'} (every adapted layer needs the same targets)`);
    }
  }
  const gpt2 = decoder.family === 'gpt2';
  if (peft.fanInFanOut !== gpt2 && [...targets].length > 0) {
    // PEFT sets fan_in_fan_out from the module type; a mismatch means the adapter was made for another architecture.
    throw new Error(`${ADAPTER_CONFIG_FILE}: fan_in_fan_out=${peft.fanInFanOut} does not fit ${decoder.family} (${gpt2 ? 'Conv1D needs true' : 'Linear needs false'})`);
  }
  const layers = [...state.keys()].map(Number).sort((a, b) => a - b);
  if (peft.layersToTransform) {
    const allowed = new Set(peft.layersToTransform);
    const extra = layers.filter((l) => !allowed.has(l));
    if (extra.length) throw new Error(`${ADAPTER_WEIGHTS_FILE} has layers ${extra.join(', ')} outside layers_to_transform`);
  }
  const lora: LoraConfig = { rank: peft.r, alpha: peft.alpha, targets: [...targets].sort(), dropout: peft.dropout };
  return { lora, state, layers, peft };
}

/** Reads adapter_config.json and adapter_model.safetensors through `read` and imports them. */
export async function loadPeftAdapter(decoder: CausalDecoder, read: ReadFile): Promise<PeftImport> {
  const config = await readJson(read, ADAPTER_CONFIG_FILE);
  if (config === null) throw new Error(`${ADAPTER_CONFIG_FILE} is missing from the adapter directory`);
  const weights = await read(ADAPTER_WEIGHTS_FILE);
  if (weights === null) {
    const bin = (await read('adapter_model.bin')) !== null;
    throw new Error(`${ADAPTER_WEIGHTS_FILE} is missing from the adapter directory${bin ? ' (only adapter_model.bin, a pickle we do not read)' : ''}`);
  }
  return importPeft(decoder, config, weights);
}
