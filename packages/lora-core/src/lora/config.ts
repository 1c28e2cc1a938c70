import { ALL_LORA_TARGETS, KNOWN_LORA_TARGETS, type LoraTarget } from '../model/family';

export interface LoraConfig {
  readonly rank: number;
  /** Scale of the adapter output is alpha / rank. */
  readonly alpha: number;
  readonly targets: readonly LoraTarget[];
  /** Dropout on the adapter input during training (0 = off). */
  readonly dropout: number;
}

export const DEFAULT_LORA: LoraConfig = { rank: 8, alpha: 16, targets: ALL_LORA_TARGETS, dropout: 0 };

export function validateLoraConfig(c: LoraConfig): LoraConfig {
  if (!Number.isInteger(c.rank) || c.rank < 1) throw new Error(`LoRA rank must be a positive integer, got ${c.rank}`);
  if (!(c.alpha > 0)) throw new Error(`LoRA alpha must be > 0, got ${c.alpha}`);
  if (c.targets.length === 0) throw new Error('LoRA needs at least one target matrix');
  for (const t of c.targets) if (!KNOWN_LORA_TARGETS.includes(t)) throw new Error(`unknown LoRA target ${t}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`LoRA dropout must be in [0, 1), got ${c.dropout}`);
  return c;
}
