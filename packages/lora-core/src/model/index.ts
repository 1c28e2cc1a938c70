export type { BatchContext, BlockSpec, LinearAdapter, LinearSpec, LoraTarget, TextEncoder, TokenBatch } from './family';
export { ALL_LORA_TARGETS } from './family';
export { loadManifestWeights, parseModelJson } from './weights-manifest';
export type { FetchAsset, LoadedWeight, ModelJson } from './weights-manifest';
export * from './tokenizer';
export { USE_LITE_MODEL_JSON, USE_LITE_VOCAB, UseLiteEncoder, loadUseLiteModel, mapUseLiteWeights } from './use-lite';
