export { Checkpoint, INDEX_FILE, SINGLE_FILE, transpose2d } from './checkpoint';
export { SUPPORTED_MODEL_TYPES, parseDecoderConfig } from './config';
export type { DecoderConfig, Gpt2Activation, Gpt2Config, LlamaConfig, RopeScaling } from './config';
export { readJson, readRequired } from './files';
export type { ReadFile } from './files';
export { buildDecoder, loadHfConfig, loadHfModel } from './load';
export type { HfModel, LoadHfOptions } from './load';
export { HfTokenizer } from './tokenizer';
export type { SpecialTokens } from './tokenizer';
