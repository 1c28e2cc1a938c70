/** The page's one door into @tabfleet/lora-core (the protocol module whole, the rest by name). */
export * from '../../../packages/lora-core/src/protocol/messages';
export {
  bucketedTrainingBatches,
  checkLabels,
  describeUnknownLabels,
  classCounts,
  DataParallelClassifier,
  DEFAULT_LORA,
  decodeAdapter,
  deltaNorm,
  detectFormat,
  encodeAdapter,
  LabeledFileError,
  LoraClassifier,
  loadUseLiteModel,
  makeBatch,
  median,
  parseLabeledFile,
  ReplicaShardRunner,
  scaleDelta,
  subtractAdapters,
  timeRuns,
  toDataset,
  trainingLoop,
  UnknownLabelError,
  withMaxTokens,
} from '@tabfleet/lora-core';
export type { LabelCheck } from '@tabfleet/lora-core';
export type { ClassifierConfig, LabeledBatch, ShardGradients, ShardRunner, StepModel } from '@tabfleet/lora-core';
export type { AdapterState, LabeledDataset, LoraConfig, LoraTarget, ResourceProfile, TextEncoder } from '@tabfleet/lora-core';
// Hugging Face decoders (issue 11): checkpoint manifests and the loader the model cache feeds.
export { loadHfModel, manifestBytes, modelManifestSchema, modelMemoryShortfall } from '@tabfleet/lora-core';
export type { HfModel, ModelManifest, ReadFile } from '@tabfleet/lora-core';
// Causal-LM fine-tuning in the tab (issue 11).
export { categoryHistogram, embedRowsForTopics, encodeRows, topicHistogram, LoraCausalLm, makeLmBatch, manifestKey, parseCausalLmJsonl } from '@tabfleet/lora-core';
export type { CausalLmRow, EncodedRow } from '@tabfleet/lora-core';
