/**
 * A block-keyed LoRA adapter of a decoder → PEFT's on-disk adapter: adapter_config.json and
 * adapter_model.safetensors with keys `base_model.model.<module path>.lora_A.weight` [r, in] and
 * `….lora_B.weight` [out, r] (ours are A [in, r], B [r, out]: both transposed) and
 * `__metadata__ {"format": "pt"}`. PEFT applies W·x + (alpha/r)·B·A·x, as we do; for GPT-2's
 * Conv1D (weight [in, out]) `fan_in_fan_out` is true and PEFT transposes the merged delta itself.
 * Blocks absent from the state, or whose B matrices are all zero (never trained), are not exported.
 */
import type { CausalDecoder, LoraTarget } from '../../model/family';
import { transpose2d } from '../../model/hf/checkpoint';
import { writeSafetensors, type TensorToWrite } from '../../model/safetensors';
import type { AdapterState } from '../adapter-state';
import type { LoraConfig } from '../config';
import type { PeftLoraConfig } from './config';

export interface PeftExport {
  readonly config: PeftLoraConfig;
  readonly weights: Uint8Array;
  readonly layers: readonly number[];
}

export interface PeftExportOptions {
  readonly baseModelNameOrPath?: string;
}

export function peftKey(decoder: CausalDecoder, layer: number, target: LoraTarget, which: 'A' | 'B'): string {
  return `base_model.model.${decoder.modulePath(layer, target)}.lora_${which}.weight`;
}

export function exportPeft(decoder: CausalDecoder, lora: LoraConfig, state: AdapterState, o: PeftExportOptions = {}): PeftExport {
  const tensors: TensorToWrite[] = [];
  const layers: number[] = [];
  const targets = new Set<string>();
  const keys = [...state.keys()].filter((k) => k !== 'head').map(Number).sort((a, b) => a - b);
  for (const layer of keys) {
    const block = decoder.blocks[layer];
    if (!block) throw new Error(`adapter block ${layer} does not exist in ${decoder.family} (${decoder.blocks.length} layers)`);
    const t = state.get(`${layer}`)!;
    const present = block.linears.filter((l) => t.has(`${l.target}.A`));
    if (present.length === 0) continue;
    if (present.every((l) => t.get(`${l.target}.B`)?.data.every((v) => v === 0) ?? true)) continue;
    layers.push(layer);
    for (const l of present) {
      const A = t.get(`${l.target}.A`)!;
      const B = t.get(`${l.target}.B`);
      if (!B) throw new Error(`adapter block ${layer} has ${l.target}.A but no ${l.target}.B`);
      if (A.shape[0] !== l.inDim || A.shape[1] !== lora.rank) throw new Error(`adapter ${layer}/${l.target}.A has shape [${A.shape}], expected [${l.inDim}, ${lora.rank}]`);
      if (B.shape[0] !== lora.rank || B.shape[1] !== l.outDim) throw new Error(`adapter ${layer}/${l.target}.B has shape [${B.shape}], expected [${lora.rank}, ${l.outDim}]`);
      targets.add(l.target);
      tensors.push({ name: peftKey(decoder, layer, l.target, 'A'), shape: [lora.rank, l.inDim], data: transpose2d(A.data, l.inDim, lora.rank) });
      tensors.push({ name: peftKey(decoder, layer, l.target, 'B'), shape: [l.outDim, lora.rank], data: transpose2d(B.data, lora.rank, l.outDim) });
    }
  }
  if (layers.length === 0) throw new Error('the adapter has no trained layer to export (every B matrix is zero or no block is present)');
  const gpt2 = decoder.family === 'gpt2';
  const config: PeftLoraConfig = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: lora.rank,
    lora_alpha: lora.alpha,
    lora_dropout: lora.dropout,
    target_modules: [...targets].sort(),
    layers_to_transform: layers,
    layers_pattern: gpt2 ? 'h' : 'layers',
    fan_in_fan_out: gpt2,
    bias: 'none',
    base_model_name_or_path: o.baseModelNameOrPath ?? null,
    inference_mode: true,
    use_rslora: false,
    use_dora: false,
    modules_to_save: null,
    init_lora_weights: true,
    rank_pattern: {},
    alpha_pattern: {},
    revision: null,
  };
  return { config, weights: writeSafetensors(tensors, { format: 'pt' }), layers };
}
