/**
 * The page's one door into @tabfleet/lora-core. Until the package's index lands, the modules are
 * imported by path; switching to `from '@tabfleet/lora-core'` happens here only.
 */
export * from '../../../packages/lora-core/src/protocol/messages';
export { encodeAdapter, decodeAdapter } from '../../../packages/lora-core/src/protocol/adapter-codec';
export { subtractAdapters } from '../../../packages/lora-core/src/federated/aggregate';
export type { AdapterState } from '../../../packages/lora-core/src/lora/adapter-state';
export type { ResourceProfile } from '../../../packages/lora-core/src/federated/types';
export { parseLabeledFile, detectFormat, toDataset, classCounts, LabeledFileError, UnknownLabelError } from '../../../packages/lora-core/src/data';
export type { LabeledDataset } from '../../../packages/lora-core/src/data';

// Model and LoRA training (the page trains locally; nothing but deltas leaves it).
export { loadUseLiteModel } from '../../../packages/lora-core/src/model/use-lite';
export type { TextEncoder, LoraTarget } from '../../../packages/lora-core/src/model/family';
export { LoraClassifier } from '../../../packages/lora-core/src/lora/classifier';
export { makeBatch, trainingBatches } from '../../../packages/lora-core/src/lora/batching';
export { DEFAULT_LORA } from '../../../packages/lora-core/src/lora/config';
export type { LoraConfig } from '../../../packages/lora-core/src/lora/config';
