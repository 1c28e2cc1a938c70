export { LlamaDecoder } from './model';
export { applyRope, inverseFrequencies, ropeTables } from './rope';
export { llamaPrefix, mapLlamaWeights } from './weights';
export type { LlamaLayerWeights, LlamaWeights } from './weights';
