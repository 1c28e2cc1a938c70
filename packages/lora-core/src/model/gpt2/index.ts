export { Gpt2Decoder, activation } from './model';
export { gpt2Prefix, mapGpt2Weights } from './weights';
export type { Gpt2LayerWeights, Gpt2Weights } from './weights';
