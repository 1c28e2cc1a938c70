/**
 * PEFT's adapter_config.json for LoRA: what we write, and what we accept on import. Import refuses
 * by name every PEFT feature that would change the function and that we do not implement.
 */
import { z } from 'zod';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

export interface PeftLoraConfig {
  readonly peft_type: 'LORA';
  readonly task_type: 'CAUSAL_LM';
  readonly r: number;
  readonly lora_alpha: number;
  readonly lora_dropout: number;
  readonly target_modules: string[];
  readonly layers_to_transform: number[];
  readonly layers_pattern: string;
  readonly fan_in_fan_out: boolean;
  readonly bias: 'none';
  readonly base_model_name_or_path: string | null;
  readonly inference_mode: boolean;
  readonly use_rslora: boolean;
  readonly use_dora: boolean;
  readonly modules_to_save: null;
  readonly init_lora_weights: boolean;
  readonly rank_pattern: Record<string, number>;
  readonly alpha_pattern: Record<string, number>;
  readonly revision: null;
}

const importSchema = z.object({
  peft_type: z.string(),
  task_type: z.string().nullish(),
  r: z.number().int().positive(),
  lora_alpha: z.number().positive(),
  lora_dropout: z.number().min(0).max(1).default(0),
  target_modules: z.union([z.array(z.string()), z.string()]).nullish(),
  layers_to_transform: z.union([z.array(z.number().int().nonnegative()), z.number().int().nonnegative()]).nullish(),
  layers_pattern: z.union([z.string(), z.array(z.string())]).nullish(),
  fan_in_fan_out: z.boolean().default(false),
  bias: z.string().default('none'),
  use_rslora: z.boolean().default(false),
  use_dora: z.boolean().default(false),
  lora_bias: z.boolean().default(false),
  modules_to_save: z.array(z.string()).nullish(),
  rank_pattern: z.record(z.string(), z.unknown()).nullish(),
  alpha_pattern: z.record(z.string(), z.unknown()).nullish(),
  base_model_name_or_path: z.string().nullish(),
});

export interface ImportedPeftConfig {
  readonly r: number;
  /** Scale alpha / r as we apply it (rsLoRA's alpha/√r folded in). */
  readonly alpha: number;
  readonly dropout: number;
  readonly targetModules: readonly string[] | 'all-linear' | null;
  readonly layersToTransform: readonly number[] | null;
  readonly fanInFanOut: boolean;
  readonly baseModel: string | null;
}

export function parsePeftConfig(raw: unknown, file = ADAPTER_CONFIG_FILE): ImportedPeftConfig {
  const r = importSchema.safeParse(raw);
  if (!r.success) throw new Error(`${file}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  const c = r.data;
  const refuse = (what: string) => {
    throw new Error(`${file}: ${what} is not supported`);
  };
  if (c.peft_type !== 'LORA') refuse(`peft_type "${c.peft_type}" (only LORA)`);
  if (c.task_type && c.task_type !== 'CAUSAL_LM') refuse(`task_type "${c.task_type}" (only CAUSAL_LM)`);
  if (c.use_dora) refuse('DoRA (use_dora: true)');
  if (c.lora_bias) refuse('lora_bias: true');
  if (c.bias !== 'none') refuse(`bias "${c.bias}" (only "none")`);
  if (c.rank_pattern && Object.keys(c.rank_pattern).length > 0) refuse('a rank_pattern (per-module ranks)');
  if (c.alpha_pattern && Object.keys(c.alpha_pattern).length > 0) refuse('an alpha_pattern (per-module alphas)');
  if (c.modules_to_save && c.modules_to_save.length > 0) refuse(`modules_to_save (${c.modules_to_save.join(', ')}: fully trained modules)`);
  let targetModules: ImportedPeftConfig['targetModules'] = null;
  if (typeof c.target_modules === 'string') {
    if (c.target_modules !== 'all-linear') refuse(`a regular-expression target_modules ("${c.target_modules}")`);
    targetModules = 'all-linear';
  } else if (c.target_modules) targetModules = c.target_modules;
  const layers = c.layers_to_transform;
  return {
    r: c.r,
    alpha: c.use_rslora ? c.lora_alpha * Math.sqrt(c.r) : c.lora_alpha,
    dropout: c.lora_dropout,
    targetModules,
    layersToTransform: layers === null || layers === undefined ? null : typeof layers === 'number' ? [layers] : layers,
    fanInFanOut: c.fan_in_fan_out,
    baseModel: c.base_model_name_or_path ?? null,
  };
}
