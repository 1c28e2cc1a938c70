/**
 * A Hugging Face checkpoint directory → a ready decoder and tokenizer. Reads config.json,
 * model.safetensors (or the sharded set + index), tokenizer.json, and tokenizer_config.json /
 * generation_config.json when present. Everything is validated before a tensor is built, so a bad
 * directory fails with the file and tensor named, before any training.
 */
import type { CausalDecoder } from '../family';
import { Gpt2Decoder, mapGpt2Weights } from '../gpt2';
import { LlamaDecoder, mapLlamaWeights } from '../llama';
import { Checkpoint } from './checkpoint';
import { parseDecoderConfig, type DecoderConfig } from './config';
import { readJson, type ReadFile } from './files';
import { HfTokenizer } from './tokenizer';

export interface HfModel {
  readonly config: DecoderConfig;
  readonly decoder: CausalDecoder;
  /** Absent only when loaded with `tokenizer: false`. */
  readonly tokenizer?: HfTokenizer;
  /** config.json's `_name_or_path` when present (PEFT's base_model_name_or_path). */
  readonly nameOrPath?: string;
}

export interface LoadHfOptions {
  /** Load tokenizer.json (default true; it is required then). */
  readonly tokenizer?: boolean;
  readonly onFile?: (file: string) => void;
}

export async function loadHfConfig(read: ReadFile): Promise<{ config: DecoderConfig; raw: Record<string, unknown> }> {
  const raw = await readJson(read, 'config.json');
  if (raw === null) throw new Error('config.json is missing from the model directory');
  return { config: parseDecoderConfig(raw), raw: raw as Record<string, unknown> };
}

export function buildDecoder(config: DecoderConfig, ckpt: Checkpoint): CausalDecoder {
  return config.family === 'gpt2' ? new Gpt2Decoder(config, mapGpt2Weights(ckpt, config)) : new LlamaDecoder(config, mapLlamaWeights(ckpt, config));
}

export async function loadHfModel(read: ReadFile, o: LoadHfOptions = {}): Promise<HfModel> {
  const { config, raw } = await loadHfConfig(read);
  let tokenizer: HfTokenizer | undefined;
  if (o.tokenizer ?? true) {
    const tj = await readJson(read, 'tokenizer.json');
    if (tj === null) throw new Error('tokenizer.json is missing from the model directory (only the tokenizers JSON format is read)');
    tokenizer = new HfTokenizer(tj, (await readJson(read, 'tokenizer_config.json')) ?? {}, (await readJson(read, 'generation_config.json')) ?? {});
    if (tokenizer.idBound > config.vocabSize) {
      throw new Error(`tokenizer.json produces ids up to ${tokenizer.idBound - 1} but config.json has vocab_size ${config.vocabSize}`);
    }
  }
  const ckpt = await Checkpoint.open(read, o.onFile);
  const decoder = buildDecoder(config, ckpt);
  const nameOrPath = typeof raw._name_or_path === 'string' && raw._name_or_path ? raw._name_or_path : undefined;
  return { config, decoder, ...(tokenizer ? { tokenizer } : {}), ...(nameOrPath ? { nameOrPath } : {}) };
}
